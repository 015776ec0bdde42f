//! `GET /metrics` on the main listener, for credentials with scope
//! `metrics.read` (SPEC §12). The same text is served without a credential on
//! the separate `--metrics-listen` address ([`crate::metrics::serve_metrics`]).

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use rollcall_core::Scope;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::NoQuery;
use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

/// This module's operations in the OpenAPI document.
pub(crate) fn doc() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(scrape))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

/// The server's metrics in the Prometheus text format (scope `metrics.read`):
/// requests and latency per route and status, ingested items per kind and
/// outcome, rate-limit refusals, database size, dashboard sessions, and the
/// embedded writer's queue and group commits or the PostgreSQL pool.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4",
        content_type = "text/plain", body = String)))]
async fn scrape(State(state): State<AppState>, caller: Caller, _: NoQuery) -> ApiResult<Response> {
    caller.require(Scope::MetricsRead)?;
    Ok(crate::metrics::scrape_response(&state).await)
}
