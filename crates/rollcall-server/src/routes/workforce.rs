//! Agent ingest, workforce administration, working hours and the activity log (SPEC §5).

use axum::Router;

use crate::AppState;

/// Authenticated routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}

/// Routes that authenticate themselves.
pub fn public_routes() -> Router<AppState> {
    Router::new()
}
