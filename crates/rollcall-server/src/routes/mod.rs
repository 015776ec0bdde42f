//! The route table: public endpoints (health, OAuth token, login, signed
//! downloads) and the authenticated API families.

mod admin;
mod audit;
pub mod checks;
mod employees;
pub mod erasure;
mod health;
mod login;
mod me;
mod metrics;
mod money;
mod oauth;
pub mod policy;
pub mod privacy;
pub(crate) mod usage;
pub(crate) mod workforce;

use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::Router;

use crate::{auth, AppState};

pub fn router(state: AppState) -> Router {
    let credential_endpoints = Router::new()
        .route("/oauth2/token", post(oauth::token))
        .route(
            "/ui/login",
            post(login::login).layer(axum::middleware::from_fn(crate::ui::csrf::same_origin)),
        )
        .route_layer(from_fn_with_state(state.clone(), auth::limit_by_address));
    let public = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .merge(credential_endpoints)
        .merge(crate::openapi::routes())
        .merge(usage::public_routes())
        .merge(workforce::public_routes())
        // The tracking API authenticates its write keys itself.
        .merge(crate::segment::routes());
    let api = api_routes()
        // Runs after authentication, before any body is read.
        .route_layer(axum::middleware::from_fn(policy::scope_first))
        .route_layer(from_fn_with_state(state.clone(), auth::authenticate))
        .route_layer(from_fn_with_state(state.clone(), policy::report_budget));
    public
        .merge(api)
        .merge(crate::ui::routes(state.clone()))
        // Outermost of the route layers: the metrics see every matched route's pattern.
        .route_layer(axum::middleware::from_fn(crate::metrics::tag_route))
        .with_state(state)
}

/// Everything held about an employee, as `/me/v1/export` answers it (the
/// dashboard's `/ui/me` downloads it too).
pub(crate) use me::{export_csv as me_export_csv, export_document as me_export};

/// Every routes module's operations, for [`crate::openapi::document`]: a module
/// that adds routes adds its `doc()` here (the coverage test in
/// tests/api/openapi.rs fails for a route missing from the document).
pub(crate) fn docs() -> Vec<utoipa::openapi::OpenApi> {
    let mut docs = vec![
        health::doc(),
        crate::openapi::doc(),
        oauth::doc(),
        login::doc(),
        admin::doc(),
        audit::doc(),
        money::doc(),
        employees::doc(),
        me::doc(),
        metrics::doc(),
        privacy::doc(),
        erasure::doc(),
        crate::segment::doc(),
    ];
    docs.extend(usage::docs());
    docs.extend(workforce::docs());
    docs
}

/// The authenticated API families, without their authentication layer. The
/// dashboard's admin forms run through these with the session's `Caller` already
/// in the request, so a form gets exactly the API's validation, permission
/// checks and audit events.
pub(crate) fn api_routes() -> Router<AppState> {
    Router::new()
        .merge(admin::routes())
        .merge(audit::routes())
        .merge(usage::routes())
        .merge(money::routes())
        .merge(privacy::routes())
        .merge(erasure::routes())
        .merge(workforce::routes())
        .merge(employees::routes())
        .merge(me::routes())
        .merge(metrics::routes())
}
