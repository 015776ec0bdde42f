//! Authentication, scope checks and per-credential rate limits.
//!
//! [`authenticate`] is the middleware in front of every API route: it resolves the
//! credential (API key or OAuth access token, as `Authorization: Bearer` or
//! `x-api-key`), applies the credential's token bucket, stores the [`Caller`] in the
//! request and writes the `RateLimit-*` headers. Credentials are looked up on every
//! request, so a revocation is refused at once by every server process.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::Mutex;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rollcall_core::rate::{Decision, TokenBucket};
use rollcall_core::{secret, Scope};
use rollcall_store::auth::Principal;
use rollcall_store::now_ms;

use crate::error::ApiError;
use crate::metrics::LimitedBy;
use crate::{client_addr, AppState};

/// The authenticated caller, available to every handler behind [`authenticate`].
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl std::ops::Deref for Caller {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl Caller {
    /// 403 unless the credential carries `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(scope) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this credential does not have the scope '{scope}' that this endpoint requires"
            )))
        }
    }

    /// 404 (not 403, so existence does not leak) unless the caller may see the app.
    pub fn require_app(&self, app_id: &str) -> Result<(), ApiError> {
        if self.may_see_app(app_id) {
            Ok(())
        } else {
            Err(ApiError::not_found(format!("app {app_id} does not exist")))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("a credential is required"))
    }
}

/// The secret a request presents, if any.
fn presented_secret(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(secret) = presented_secret(request.headers()) else {
        return ApiError::unauthorized(
            "missing credential: send 'Authorization: Bearer <token>' or 'x-api-key: <key>'",
        )
        .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
        .into_response();
    };
    let principal = match state.store.principal(&secret::hash(secret), now_ms()).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return ApiError::unauthorized("Invalid access_token: unknown, expired or revoked")
                .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
                .into_response()
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    let decision = state.limiter.check(
        principal.credential_id,
        principal.rate_limit.per_second,
        principal.rate_limit.burst,
    );
    let mut response = if decision.allowed {
        request.extensions_mut().insert(Caller(principal));
        next.run(request).await
    } else {
        state.metrics.rate_limited(LimitedBy::Credential);
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "rate limit exceeded for this credential; retry in {} s",
                decision.retry_after_secs
            ),
        )
        .with_header(
            header::RETRY_AFTER,
            HeaderValue::from(decision.retry_after_secs),
        )
        .into_response()
    };
    write_rate_headers(response.headers_mut(), &decision);
    response
}

/// Requests per second (and burst) one client address may make to the
/// unauthenticated credential endpoints (token, login): slows password guessing.
const PUBLIC_PER_SECOND: u32 = 10;
const PUBLIC_BURST: u32 = 30;

/// Rate-limits the public credential endpoints by client address.
/// The address is the client's as [`crate::client_addr`] resolves it (behind a
/// trusted proxy, from `X-Forwarded-For`).
pub async fn limit_by_address(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let client = client_addr::resolve(peer.ip(), request.headers(), &state.config.trusted_proxies);
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    client.hash(&mut hasher);
    let decision =
        state
            .address_limiter
            .check(hasher.finish() as i64, PUBLIC_PER_SECOND, PUBLIC_BURST);
    let mut response = if decision.allowed {
        next.run(request).await
    } else {
        state.metrics.rate_limited(LimitedBy::Address);
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many attempts from this address; retry in {} s",
                decision.retry_after_secs
            ),
        )
        .with_header(
            header::RETRY_AFTER,
            HeaderValue::from(decision.retry_after_secs),
        )
        .into_response()
    };
    write_rate_headers(response.headers_mut(), &decision);
    response
}

fn write_rate_headers(headers: &mut HeaderMap, d: &Decision) {
    for (name, value) in [
        ("ratelimit-limit", u64::from(d.limit)),
        ("ratelimit-remaining", u64::from(d.remaining)),
        ("ratelimit-reset", d.reset_secs),
    ] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
}

/// Token buckets per credential (or per client address). They live in this process: with N processes
/// behind a load balancer, a credential may reach up to N times its rate.
#[derive(Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<i64, TokenBucket>>,
}

impl Limiter {
    pub fn check(&self, credential_id: i64, per_second: u32, burst: u32) -> Decision {
        let now = now_ms();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 10_000 {
            // A bucket idle for a minute has refilled whenever burst ≤ 60 × perSecond;
            // forgetting one at worst hands its credential a full burst again.
            buckets.retain(|_, b| now - b.last_used_ms() < 60_000);
        }
        buckets
            .entry(credential_id)
            .or_insert_with(|| TokenBucket::new(burst, now))
            .take(per_second, burst, now)
    }
}
