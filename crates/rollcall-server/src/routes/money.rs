//! Money endpoints (SPEC §4): finance records, spend and contract CSVs, contract PDFs.

use axum::Router;

use crate::AppState;

/// Authenticated routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
