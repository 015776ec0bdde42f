//! The dashboard at `/ui` (SPEC §9): server-rendered pages over the report layer.
//!
//! - [`session`]: the session cookie, login and logout, and the middleware that
//!   makes a session the same [`crate::auth::Caller`] as an API key of its user;
//! - [`csrf`]: the same-origin guard on every state-changing request;
//! - [`layout`]: the page shell and its security headers (strict CSP);
//! - [`assets`]: the embedded stylesheet and vendored htmx;
//! - [`charts`]: the SVG charts;
//! - [`pages`]: one module per page; each parses its query, calls the report
//!   layer (the same functions and permission checks as the JSON API), renders.

pub mod assets;
pub mod charts;
pub mod csrf;
pub mod layout;
pub mod pages;
pub mod session;

use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use axum::Router;

use crate::AppState;

/// Every `/ui` route but `POST /ui/login` (which lives with the other credential
/// endpoints, behind their rate limit, and carries the same-origin guard itself).
pub fn routes(state: AppState) -> Router<AppState> {
    let pages = Router::new()
        .route("/ui", get(pages::overview::page))
        .route("/ui/apps/{app_id}", get(pages::app::page))
        .route("/ui/workinghours", get(pages::workinghours::page))
        .route("/ui/activity", get(pages::activity::page))
        .route("/ui/audit", get(pages::audit::page))
        .route("/ui/me", get(pages::me::page))
        .route("/ui/me/export", get(pages::me::export))
        .route("/ui/admin", get(pages::admin::page))
        .route("/ui/admin/users", post(pages::admin::add_user))
        .route("/ui/admin/users/{id}/role", post(pages::admin::set_role))
        .route(
            "/ui/admin/users/{id}/remove",
            post(pages::admin::remove_user),
        )
        .route(
            "/ui/admin/credentials",
            post(pages::admin::create_credential),
        )
        .route(
            "/ui/admin/credentials/{id}/revoke",
            post(pages::admin::revoke_credential),
        )
        .route("/ui/admin/apps", post(pages::admin::add_app))
        .route("/ui/admin/groups", post(pages::admin::add_group))
        .route(
            "/ui/admin/groups/{id}/remove",
            post(pages::admin::remove_group),
        )
        .route("/ui/admin/classifications", post(pages::admin::classify))
        .route("/ui/admin/settings", post(pages::admin::save_settings))
        .route("/ui/admin/privacy", post(pages::admin::save_privacy))
        .route(
            "/ui/apps/{app_id}/inactive-users.csv",
            get(pages::app::inactive_csv),
        )
        .route_layer(from_fn_with_state(state, session::require_session));
    Router::new()
        .route("/ui/login", get(pages::login::form_page))
        .route("/ui/logout", post(session::logout))
        .route("/ui/assets/{name}", get(assets::serve))
        .merge(pages)
        .route_layer(from_fn(csrf::same_origin))
}
