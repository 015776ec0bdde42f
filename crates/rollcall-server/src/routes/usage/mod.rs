//! Developer API and insights of custom-app usage (SPEC §4).
//!
//! - [`apps`]: app definitions, usage events and provisioned users (push side);
//! - [`org`]: org-chart snapshots, the CSV upload and the signed CSV download;
//! - [`insights`]: the `/pull/...` reports (computed in [`crate::reports::usage`]).

mod apps;
pub(crate) mod insights;
pub(super) mod org;
pub(super) mod pushed;

use axum::Router;
use serde_json::Value;

use crate::AppState;

/// Authenticated routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(apps::routes())
        .merge(org::routes())
        .merge(insights::routes())
}

/// The operations of this family in the OpenAPI document.
pub(crate) fn docs() -> Vec<utoipa::openapi::OpenApi> {
    vec![apps::doc(), org::doc(), insights::doc()]
}

/// Routes authenticated by their own signature (download links).
pub fn public_routes() -> Router<AppState> {
    org::public_routes()
}

/// A JSON value as an optional trimmed string (numbers become their text).
fn opt_text(v: Option<&Value>) -> Result<Option<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            Ok((!s.is_empty()).then(|| s.to_string()))
        }
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err("must be a string".into()),
    }
}
