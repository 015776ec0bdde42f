//! `GET /ui/login`: the login form (also shown again, with 401, after a failed
//! form login).

use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use crate::extract::NoQuery;
use crate::ui::layout::{document, respond};

/// The form, with an error line when a login just failed.
pub fn form(status: StatusCode, error: Option<&str>, email: &str) -> Response {
    respond(
        status,
        document(
            "Log in",
            html! {
                body {
                    main id="main" class="login" {
                        h1 { "Rollcall" }
                        @if let Some(e) = error {
                            p class="error" role="alert" { (e) }
                        }
                        form method="post" action="/ui/login" {
                            label for="email" { "Email" }
                            input id="email" name="email" type="email" autocomplete="username" required value=(email);
                            label for="password" { "Password" }
                            input id="password" name="password" type="password" autocomplete="current-password" required;
                            button class="primary" type="submit" { "Log in" }
                        }
                    }
                }
            },
        ),
    )
}

/// The dashboard's login form (HTML). In the API document because it shares
/// its path with `POST /ui/login`.
#[utoipa::path(get, path = "/ui/login", tag = "authentication", security(()),
    responses((status = 200, description = "The login form", content_type = "text/html", body = String)))]
pub async fn form_page(_: NoQuery) -> Response {
    form(StatusCode::OK, None, "")
}
