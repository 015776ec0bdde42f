//! What `/metrics` reports (SPEC §12) and how it is counted. Everything lives in
//! [`Metrics`], one per [`crate::AppState`] (no process-wide statics, so test
//! servers in one process count apart), as atomics:
//!
//! - requests per route (the router's pattern, never the raw path), method and
//!   status, with their latency, recorded by [`record_request`] around the whole
//!   application; [`tag_route`] hands the matched pattern out to it;
//! - ingested items per kind and outcome, counted by the ingest handlers;
//! - rate-limit refusals per limiter, counted by [`crate::auth`];
//! - on each scrape, what the store reports of itself (database size, live
//!   dashboard sessions, the embedded writer's queue and group commits, the
//!   PostgreSQL pool).
//!
//! [`text`] writes the Prometheus text format; [`serve_metrics`] serves it on the
//! separate `--metrics-listen` address (no credential there); the main listener
//! serves it to credentials with scope `metrics.read` (`routes::metrics`).

pub mod text;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rollcall_core::fxhash::FxHashMap;
use rollcall_core::histogram::Histogram;
use rollcall_store::now_ms;

use crate::AppState;
use text::{Exposition, Kind};

/// Latency histogram bounds, in microseconds (1 ms to 10 s).
const LATENCY_BOUNDS_US: [u64; 13] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

/// The route label of requests no route matched (their raw paths are never labels).
pub const UNMATCHED: &str = "unmatched";

/// What an ingest endpoint takes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestKind {
    /// Usage events of connected apps.
    Usage,
    /// Provisioned users (licences) of connected apps.
    Provisioned,
    /// People of org charts (JSON pages and CSV uploads).
    Org,
    /// Agents' activity records.
    Activity,
    /// Spend records (the finance API and spend CSV).
    Spend,
    /// Contracts (CSV).
    Contracts,
    /// Messages of the Segment-compatible tracking API (`/v1/*`): accepted are
    /// the usage events they stored, duplicates retries and known events,
    /// rejected the messages of refused requests.
    Tracking,
}

impl IngestKind {
    const ALL: [IngestKind; 7] = [
        IngestKind::Usage,
        IngestKind::Provisioned,
        IngestKind::Org,
        IngestKind::Activity,
        IngestKind::Spend,
        IngestKind::Contracts,
        IngestKind::Tracking,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IngestKind::Usage => "usage",
            IngestKind::Provisioned => "provisioned",
            IngestKind::Org => "org",
            IngestKind::Activity => "activity",
            IngestKind::Spend => "spend",
            IngestKind::Contracts => "contracts",
            IngestKind::Tracking => "tracking",
        }
    }
}

/// What became of an ingested item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored (new, or a new version of one already there).
    Accepted,
    /// Already stored; nothing changed.
    Duplicate,
    /// In a batch refused as invalid (nothing of such a batch is stored).
    Rejected,
}

impl Outcome {
    const ALL: [Outcome; 3] = [Outcome::Accepted, Outcome::Duplicate, Outcome::Rejected];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::Rejected => "rejected",
        }
    }
}

/// Which rate limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitedBy {
    /// A credential's (or dashboard session's) token bucket.
    Credential,
    /// A client address's bucket on the public credential endpoints.
    Address,
    /// The back-off after failed logins (per email and per address).
    Login,
}

impl LimitedBy {
    const ALL: [LimitedBy; 3] = [LimitedBy::Credential, LimitedBy::Address, LimitedBy::Login];

    fn as_str(self) -> &'static str {
        match self {
            LimitedBy::Credential => "credential",
            LimitedBy::Address => "address",
            LimitedBy::Login => "login",
        }
    }
}

/// One (method, status) of a route.
struct RequestSeries {
    method: &'static str,
    status: u16,
    latency: Histogram,
}

/// Every counter of one server.
pub struct Metrics {
    /// Route pattern → its series. Looked up under the read lock; the write lock
    /// is taken only the first time a (route, method, status) is seen.
    requests: RwLock<FxHashMap<Box<str>, Vec<RequestSeries>>>,
    ingested: [[AtomicU64; 3]; IngestKind::ALL.len()],
    rate_limited: [AtomicU64; LimitedBy::ALL.len()],
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: RwLock::new(FxHashMap::default()),
            ingested: Default::default(),
            rate_limited: Default::default(),
        }
    }
}

impl Metrics {
    /// Records one answered request.
    pub fn observe_request(&self, route: &str, method: &Method, status: u16, took: Duration) {
        let method = method_label(method);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        {
            let requests = self.requests.read().unwrap_or_else(|p| p.into_inner());
            if let Some(series) = requests
                .get(route)
                .and_then(|s| s.iter().find(|s| s.method == method && s.status == status))
            {
                series.latency.observe(micros);
                return;
            }
        }
        let mut requests = self.requests.write().unwrap_or_else(|p| p.into_inner());
        let series = requests.entry(route.into()).or_default();
        match series
            .iter()
            .find(|s| s.method == method && s.status == status)
        {
            Some(s) => s.latency.observe(micros),
            None => {
                let latency = Histogram::new(&LATENCY_BOUNDS_US);
                latency.observe(micros);
                series.push(RequestSeries {
                    method,
                    status,
                    latency,
                });
            }
        }
    }

    /// Counts `n` items of `kind` with `outcome`.
    pub fn ingested(&self, kind: IngestKind, outcome: Outcome, n: u64) {
        self.ingested[kind as usize][outcome as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Counts what a stored batch came to: `accepted` new items, `duplicates` known ones.
    pub fn stored(&self, kind: IngestKind, accepted: u64, duplicates: u64) {
        self.ingested(kind, Outcome::Accepted, accepted);
        self.ingested(kind, Outcome::Duplicate, duplicates);
    }

    /// Counts one refusal by a rate limit.
    pub fn rate_limited(&self, limiter: LimitedBy) {
        self.rate_limited[limiter as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The in-process counters as text (the store's figures are added by [`render`]).
    fn write_counters(&self, out: &mut Exposition) {
        let requests = self.requests.read().unwrap_or_else(|p| p.into_inner());
        // Copied out, so the lock is not held while the text is written.
        let mut snapshots: Vec<_> = requests
            .iter()
            .flat_map(|(route, series)| {
                series.iter().map(move |s| {
                    (
                        route.to_string(),
                        s.method,
                        s.status.to_string(),
                        s.latency.snapshot(),
                    )
                })
            })
            .collect();
        drop(requests);
        snapshots.sort_by(|a, b| (&a.0, a.1, &a.2).cmp(&(&b.0, b.1, &b.2)));
        out.family(
            "rollcall_http_requests_total",
            Kind::Counter,
            "Requests answered, per route pattern, method and status.",
        );
        for (route, method, status, snapshot) in &snapshots {
            out.sample(
                "rollcall_http_requests_total",
                &[
                    ("route", route.as_str()),
                    ("method", *method),
                    ("status", status.as_str()),
                ],
                snapshot.count,
            );
        }
        out.family(
            "rollcall_http_request_duration_seconds",
            Kind::Histogram,
            "Time from a request's arrival to its response head, per route pattern, method and status.",
        );
        for (route, method, status, snapshot) in &snapshots {
            out.histogram(
                "rollcall_http_request_duration_seconds",
                &[
                    ("route", route.as_str()),
                    ("method", *method),
                    ("status", status.as_str()),
                ],
                snapshot,
                1e6,
            );
        }
        out.family(
            "rollcall_ingested_items_total",
            Kind::Counter,
            "Items taken in by the ingest APIs, per kind and outcome (rejected: in a batch refused as invalid).",
        );
        for kind in IngestKind::ALL {
            for outcome in Outcome::ALL {
                out.sample(
                    "rollcall_ingested_items_total",
                    &[("kind", kind.as_str()), ("outcome", outcome.as_str())],
                    self.ingested[kind as usize][outcome as usize].load(Ordering::Relaxed),
                );
            }
        }
        out.family(
            "rollcall_rate_limited_total",
            Kind::Counter,
            "Requests refused with 429 by a rate limit, per limiter.",
        );
        for limiter in LimitedBy::ALL {
            out.sample(
                "rollcall_rate_limited_total",
                &[("limiter", limiter.as_str())],
                self.rate_limited[limiter as usize].load(Ordering::Relaxed),
            );
        }
    }
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The pattern of the route that answered, carried on the response from
/// [`tag_route`] (inside the router) to [`record_request`] (outside it).
#[derive(Clone)]
pub struct RouteTag(pub MatchedPath);

/// Route layer: tags the response with the matched route pattern.
pub async fn tag_route(request: Request, next: Next) -> Response {
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    if let Some(path) = matched {
        response.extensions_mut().insert(RouteTag(path));
    }
    response
}

/// Outermost layer: counts every request with its route, status and latency.
pub async fn record_request(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<RouteTag>()
        .map_or(UNMATCHED, |t| t.0.as_str());
    state.metrics.observe_request(
        route,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// The whole scrape: the server's counters and the store's figures. A store
/// that cannot answer leaves its families out (and says so in the log) rather
/// than failing the scrape.
pub async fn render(state: &AppState) -> String {
    let mut out = Exposition::default();
    state.metrics.write_counters(&mut out);
    match state.store.stats(now_ms()).await {
        Ok(stats) => write_store_stats(&mut out, &stats),
        Err(e) => tracing::warn!(error = %e, "metrics: the store's figures are unavailable"),
    }
    out.finish()
}

fn write_store_stats(out: &mut Exposition, stats: &rollcall_store::stats::StoreStats) {
    out.family(
        "rollcall_database_size_bytes",
        Kind::Gauge,
        "Bytes the database takes (embedded: file and write-ahead log; PostgreSQL: pg_database_size).",
    );
    out.sample("rollcall_database_size_bytes", &[], stats.database_bytes);
    out.family(
        "rollcall_dashboard_sessions_active",
        Kind::Gauge,
        "Dashboard sessions used within the idle limit (12 h), in every process on this database.",
    );
    out.sample(
        "rollcall_dashboard_sessions_active",
        &[],
        stats.active_sessions,
    );
    if let Some(writer) = &stats.writer {
        out.family(
            "rollcall_writer_queue_depth",
            Kind::Gauge,
            "Writes waiting for the embedded store's writer thread.",
        );
        out.sample("rollcall_writer_queue_depth", &[], writer.queue_depth);
        out.family(
            "rollcall_writer_group_commit_size",
            Kind::Histogram,
            "Writes committed together per transaction by the embedded store's writer (group commit).",
        );
        out.histogram(
            "rollcall_writer_group_commit_size",
            &[],
            &writer.group_size,
            1.0,
        );
    }
    if let Some(pool) = &stats.pool {
        out.family(
            "rollcall_db_pool_connections",
            Kind::Gauge,
            "PostgreSQL connections of this process, by state.",
        );
        out.sample(
            "rollcall_db_pool_connections",
            &[("state", "in_use")],
            pool.in_use,
        );
        out.sample(
            "rollcall_db_pool_connections",
            &[("state", "idle")],
            pool.idle,
        );
        out.family(
            "rollcall_db_pool_max_connections",
            Kind::Gauge,
            "The most PostgreSQL connections this process opens (--database-pool-size).",
        );
        out.sample("rollcall_db_pool_max_connections", &[], pool.max);
        out.family(
            "rollcall_db_pool_waiting",
            Kind::Gauge,
            "Requests waiting for a PostgreSQL connection.",
        );
        out.sample("rollcall_db_pool_waiting", &[], pool.waiting);
    }
}

/// A scrape as an HTTP answer.
pub async fn scrape_response(state: &AppState) -> Response {
    (
        [(header::CONTENT_TYPE, text::CONTENT_TYPE)],
        render(state).await,
    )
        .into_response()
}

async fn scrape_unauthenticated(State(state): State<AppState>) -> Response {
    scrape_response(&state).await
}

/// Serves `GET /metrics` without a credential on its own listener
/// (`--metrics-listen`, meant for an address only the monitoring system reaches)
/// until `shutdown` resolves. Anything else there is 404.
pub async fn serve_metrics(
    state: AppState,
    listener: std::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(scrape_unauthenticated))
        .fallback(|| async { (StatusCode::NOT_FOUND, "only /metrics is served here\n") })
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_per_route_method_and_status() {
        let m = Metrics::default();
        for _ in 0..3 {
            m.observe_request("/a/{id}", &Method::GET, 200, Duration::from_millis(2));
        }
        m.observe_request("/a/{id}", &Method::GET, 404, Duration::from_secs(20));
        m.observe_request("/a/{id}", &Method::POST, 200, Duration::from_micros(10));
        m.ingested(IngestKind::Activity, Outcome::Rejected, 7);
        m.stored(IngestKind::Usage, 5, 2);
        m.rate_limited(LimitedBy::Address);
        let mut out = Exposition::default();
        m.write_counters(&mut out);
        let text = out.finish();
        for line in [
            "rollcall_http_requests_total{route=\"/a/{id}\",method=\"GET\",status=\"200\"} 3",
            "rollcall_http_requests_total{route=\"/a/{id}\",method=\"GET\",status=\"404\"} 1",
            "rollcall_http_requests_total{route=\"/a/{id}\",method=\"POST\",status=\"200\"} 1",
            "rollcall_http_request_duration_seconds_bucket{route=\"/a/{id}\",method=\"GET\",status=\"200\",le=\"0.001\"} 0",
            "rollcall_http_request_duration_seconds_bucket{route=\"/a/{id}\",method=\"GET\",status=\"200\",le=\"0.0025\"} 3",
            "rollcall_http_request_duration_seconds_bucket{route=\"/a/{id}\",method=\"GET\",status=\"404\",le=\"10.0\"} 0",
            "rollcall_http_request_duration_seconds_bucket{route=\"/a/{id}\",method=\"GET\",status=\"404\",le=\"+Inf\"} 1",
            "rollcall_ingested_items_total{kind=\"activity\",outcome=\"rejected\"} 7",
            "rollcall_ingested_items_total{kind=\"usage\",outcome=\"accepted\"} 5",
            "rollcall_ingested_items_total{kind=\"usage\",outcome=\"duplicate\"} 2",
            "rollcall_ingested_items_total{kind=\"org\",outcome=\"accepted\"} 0",
            "rollcall_rate_limited_total{limiter=\"address\"} 1",
            "rollcall_rate_limited_total{limiter=\"credential\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }
}
