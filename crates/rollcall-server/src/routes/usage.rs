//! Developer API and insights of custom-app usage (SPEC §4).

use axum::Router;

use crate::AppState;

/// Authenticated routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}

/// Routes authenticated by their own signature (download links).
pub fn public_routes() -> Router<AppState> {
    Router::new()
}
