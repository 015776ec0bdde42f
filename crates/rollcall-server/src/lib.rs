//! Rollcall's HTTP API. One router module per API family under [`routes`]; the
//! error body, extractors, authentication and rate limits are shared by all.
//!
//! [`serve`] takes a bound listener and a shutdown future, so the binary and the
//! tests start servers the same way (tests bind port 0).

pub mod access_log;
pub mod auth;
pub mod client_addr;
pub mod conn;
pub mod demo;
pub mod error;
pub mod extract;
pub mod jobs;
pub mod login_guard;
pub mod metrics;
pub mod openapi;
pub mod passwords;
pub mod reports;
pub mod routes;
pub mod security_headers;
pub mod segment;
pub mod setup;
pub mod tls;
pub mod ui;
pub mod upload;
pub mod wording;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Request};
use axum::Router;
use rollcall_store::Store;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

/// Server settings that are not account settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body accepted (413 above).
    pub max_body_bytes: usize,
    /// Lifetime of OAuth access tokens.
    pub access_token_ttl: Duration,
    /// How often the maintenance job (token clean-up, retention) runs.
    pub maintenance_every: Duration,
    /// A connection must send a whole request head within this time, counted from
    /// when it starts waiting for one (so it also bounds idle keep-alive).
    pub header_read_timeout: Duration,
    /// A connection with no byte read or written for this long is closed.
    pub idle_timeout: Duration,
    /// Most connections served at once; more are closed on accept.
    pub max_connections: usize,
    /// Slowest body accepted, in bytes per second after [`Self::body_grace`] (0: off).
    pub body_min_rate: u64,
    /// Time a body may take before the minimum rate applies.
    pub body_grace: Duration,
    /// Time budget of a report query (503 with `Retry-After` past it).
    pub report_timeout: Duration,
    /// The server's address as clients reach it (`https://rollcall.example.com`),
    /// from which signed links are built; `None` gives links relative to the server.
    pub public_url: Option<String>,
    /// Peers whose `X-Forwarded-For` names the client (`--trusted-proxy`).
    pub trusted_proxies: Vec<client_addr::TrustedProxy>,
    /// How failed logins slow down further tries.
    pub login_backoff: login_guard::LoginBackoff,
    /// Whether views of one person's data by someone else are recorded
    /// (SPEC §11); off only to measure what recording costs.
    pub record_access: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 16 * 1024 * 1024,
            access_token_ttl: Duration::from_secs(3600),
            maintenance_every: Duration::from_secs(3600),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
            body_min_rate: 1024,
            body_grace: Duration::from_secs(10),
            report_timeout: Duration::from_secs(30),
            public_url: None,
            trusted_proxies: Vec::new(),
            login_backoff: login_guard::LoginBackoff::default(),
            record_access: true,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Arc<dyn Store>,
    pub limiter: auth::Limiter,
    pub address_limiter: auth::Limiter,
    pub login_guard: login_guard::LoginGuard,
    /// Views of people's data noted for the access records (stored in the background).
    pub access_log: access_log::AccessLog,
    pub config: ServerConfig,
    /// What `/metrics` reports.
    pub metrics: metrics::Metrics,
    /// Each account's compiled privacy policy (SPEC §11), checked against the
    /// stored one with every agent batch.
    pub privacy: routes::privacy::PolicyCache,
    /// Viewers' cuts of the usage data, reused while the data stay the same.
    pub restrictions: reports::RestrictionCache,
    /// The users report's listings, reused while the data stay the same.
    pub users_listings: reports::usage::ListingCache,
    /// Each provisioned list's licences as a column (right-sizing).
    pub licences: reports::usage::LicenceCache,
    /// Populations grouped by a field (engagement).
    pub populations: reports::usage::PopulationCache,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: ServerConfig) -> Self {
        AppState(Arc::new(Inner {
            store,
            limiter: auth::Limiter::default(),
            address_limiter: auth::Limiter::default(),
            login_guard: login_guard::LoginGuard::default(),
            access_log: access_log::AccessLog::new(config.record_access),
            config,
            metrics: metrics::Metrics::default(),
            privacy: routes::privacy::PolicyCache::default(),
            restrictions: reports::RestrictionCache::default(),
            users_listings: reports::usage::ListingCache::default(),
            licences: reports::usage::LicenceCache::default(),
            populations: reports::usage::PopulationCache::default(),
        }))
    }
}

#[derive(Clone, Default)]
struct RequestIds(Arc<AtomicU64>);

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}-{n}", rollcall_core::secret::random_hex(4));
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// The whole application: every route, the error normaliser, request ids, tracing,
/// and the request metrics around it all.
pub fn app(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    let metrics_state = state.clone();
    routes::router(state.clone())
        .layer(DefaultBodyLimit::max(max_body))
        .layer(CatchPanicLayer::new())
        .layer(axum::middleware::from_fn(error::normalize_errors))
        .layer(axum::middleware::from_fn_with_state(state, conn::guard_body))
        .layer(axum::middleware::map_response(security_headers::add))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
            }),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(RequestIds::default()))
        .layer(axum::middleware::from_fn_with_state(
            metrics_state,
            metrics::record_request,
        ))
}

/// Serves `state` on `listener` (over TLS when `tls` is given) until `shutdown`
/// resolves, then lets requests in flight finish.
pub async fn serve(
    state: AppState,
    listener: std::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let maintenance = tokio::spawn(jobs::maintenance_loop(state.clone()));
    let recorder = tokio::spawn(access_log::flush_loop(state.clone()));
    let last_flush = state.clone();
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    let limits = state.config.clone();
    let mut router = app(state);
    if tls.is_some() {
        router = router.layer(axum::middleware::map_response(security_headers::add_hsts));
        // Tells the dashboard to mark its session cookie `Secure`.
        router = router.layer(axum::Extension(ui::session::ServedOverTls));
    }
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    let guard = |inner| conn::Guard::new(inner, limits.max_connections, limits.idle_timeout);
    let mut server = axum_server::from_tcp(listener);
    // hyper's header read timeout needs a timer; without one it is silently off.
    server
        .http_builder()
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let result = match tls {
        Some(config) => {
            let tls = axum_server::tls_rustls::RustlsAcceptor::new(
                axum_server::tls_rustls::RustlsConfig::from_config(config),
            )
            .handshake_timeout(limits.header_read_timeout)
            .acceptor(guard(axum_server::accept::DefaultAcceptor));
            server.acceptor(tls).handle(handle).serve(service).await
        }
        None => {
            server
                .acceptor(guard(axum_server::accept::DefaultAcceptor))
                .handle(handle)
                .serve(service)
                .await
        }
    };
    maintenance.abort();
    recorder.abort();
    // Views noted by the last requests are stored before the process ends.
    if let Err(e) = last_flush.access_log.flush(last_flush.store.as_ref()).await {
        tracing::warn!(error = %e, "storing the last access records failed");
    }
    result
}
