//! The route table: public endpoints (health, OAuth token, login, signed
//! downloads) and the authenticated API families.

mod admin;
mod audit;
mod health;
mod login;
mod money;
mod oauth;
pub(crate) mod usage;
mod workforce;

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
        .merge(usage::public_routes())
        .merge(workforce::public_routes());
    let api = Router::new()
        .merge(admin::routes())
        .merge(audit::routes())
        .merge(usage::routes())
        .merge(money::routes())
        .merge(workforce::routes())
        .route_layer(from_fn_with_state(state.clone(), auth::authenticate));
    public
        .merge(api)
        .merge(crate::ui::routes(state.clone()))
        .with_state(state)
}
