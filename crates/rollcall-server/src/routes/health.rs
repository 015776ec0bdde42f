//! `/healthz` (the process is up) and `/readyz` (it can serve: the database answers).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use crate::error::ApiError;
use crate::AppState;

/// This module's operations in the OpenAPI document.
pub(crate) fn doc() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(healthz, readyz))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, description = "Up", body = crate::openapi::answers::Health)))]
pub async fn healthz() -> impl IntoResponse {
    axum::Json(json!({"success": true, "status": "ok"}))
}

/// The process can serve: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses((status = 200, description = "Ready", body = crate::openapi::answers::Health)))]
pub async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    state.store.ping().await.map_err(|e| {
        // The database's own words stay in the log: /readyz is public.
        tracing::warn!(error = %e, "readiness check failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the database does not answer",
        )
    })?;
    Ok(axum::Json(json!({"success": true, "status": "ready"})))
}
