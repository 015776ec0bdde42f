//! `POST /ui/login`: dashboard login with email and password (records `LoggedIn`);
//! the password check and its back-off are [`crate::login_guard`]'s.
//!
//! A JSON body (an API client) gets the JSON answer; a browser's form post gets a
//! session cookie and a redirect to `/ui`, or the form again with 401.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use serde_json::json;

use crate::client_addr::ClientAddr;
use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_json, NoQuery};
use crate::ui::pages::login::form as login_form;
use crate::ui::session::{self, ServedOverTls};
use crate::{login_guard, AppState};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LoginForm {
    email: String,
    password: String,
    /// Needed only when the same email administers several accounts.
    #[serde(default)]
    account_id: Option<i64>,
}

/// This module's operations in the OpenAPI document.
pub(crate) fn doc() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(login, crate::ui::pages::login::form_page))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

/// Dashboard login. A JSON body gets the JSON answer; a form post
/// (`application/x-www-form-urlencoded`) gets a session cookie and a redirect to
/// `/ui`, or the form again with 401.
#[utoipa::path(post, path = "/ui/login", tag = "authentication", security(()),
    request_body(content(
        (LoginForm = "application/json"),
        (LoginForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Logged in", body = crate::openapi::answers::LoginAnswer),
        (status = 303, description = "Form login: session cookie set, redirect to /ui"),
        (status = 401, description = "Wrong email or password: the error body, or the form again for a form post",
            content((crate::openapi::answers::ErrorBody = "application/json"), (String = "text/html"))),
    ))]
pub async fn login(
    State(state): State<AppState>,
    _: NoQuery,
    ClientAddr(addr): ClientAddr,
    tls: Option<Extension<ServedOverTls>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form: LoginForm = if is_form {
        serde_urlencoded::from_bytes(&body)
            .map_err(|e| ApiError::unprocessable(format!("invalid login form: {e}")))?
    } else {
        parse_json(&body)?
    };
    let checked =
        login_guard::check_password(&state, &form.email, &form.password, form.account_id, addr)
            .await;
    let candidate = match checked {
        Ok(candidate) => candidate,
        Err(e) if is_form && e.status == StatusCode::UNAUTHORIZED => {
            return Ok(login_form(
                StatusCode::UNAUTHORIZED,
                Some("Wrong email or password."),
                &form.email,
            ));
        }
        Err(e) => return Err(e),
    };
    if is_form {
        return session::start(
            &state,
            candidate.account_id,
            candidate.consumer_id,
            &candidate.email,
            tls.is_some(),
        )
        .await;
    }
    state
        .store
        .record_login(candidate.account_id, &candidate.email)
        .await?;
    Ok(axum::Json(json!({
        "success": true,
        "accountId": candidate.account_id,
        "userId": candidate.consumer_id,
        "email": candidate.email,
    }))
    .into_response())
}
