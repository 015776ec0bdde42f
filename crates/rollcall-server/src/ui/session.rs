//! Dashboard sessions (SPEC §9): the cookie, starting a session at login, ending
//! it at logout, and the middleware that turns a session into the same
//! [`Caller`] an API key of that user would be.
//!
//! The cookie holds a random token; the store keeps only its SHA-256, so a copy
//! of the database cannot be replayed as a login. Every request looks the session
//! up in the store (no per-process cache), so a logout, a removed or demoted user
//! or a new password ends the session in every server process at once.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use rollcall_core::{secret, Role};
use rollcall_store::auth::{NewSession, SESSION_IDLE_MS};
use rollcall_store::now_ms;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "rollcall_session";

/// Marks a request that arrived over TLS (inserted by [`crate::serve`]), so the
/// cookie gets `Secure`.
#[derive(Debug, Clone, Copy)]
pub struct ServedOverTls;

/// The session token a request presents, if any.
pub fn presented_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

fn cookie(value: &str, max_age: Option<i64>, tls: bool) -> ApiResult<HeaderValue> {
    let mut text = format!("{COOKIE}={value}; Path=/ui; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        text.push_str(&format!("; Max-Age={age}"));
    }
    if tls {
        text.push_str("; Secure");
    }
    HeaderValue::from_str(&text).map_err(ApiError::internal)
}

/// Starts a session for a web user who just proved their password: stores the
/// token's hash (recording `LoggedIn`), sets the cookie and sends them to `/ui`.
pub async fn start(
    state: &AppState,
    account_id: i64,
    consumer_id: i64,
    email: &str,
    tls: bool,
) -> ApiResult<Response> {
    let token = secret::random_hex(32);
    state
        .store
        .create_session(NewSession {
            account_id,
            consumer_id,
            email: email.to_string(),
            token_hash: secret::hash(&token),
            now_ms: now_ms(),
        })
        .await?;
    let mut response = Redirect::to("/ui").into_response();
    // No Max-Age: the browser forgets the cookie when it closes; the store ends
    // the session after 12 h idle in any case.
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie(&token, None, tls)?);
    Ok(response)
}

/// `POST /ui/logout`: ends the session (recording `LoggedOut`), clears the cookie.
pub async fn logout(
    State(state): State<AppState>,
    tls: Option<axum::Extension<ServedOverTls>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(token) = presented_token(&headers) {
        state.store.end_session(&secret::hash(token)).await?;
    }
    let mut response = Redirect::to("/ui/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie("", Some(0), tls.is_some())?);
    Ok(response)
}

/// In front of every dashboard page: a live session becomes the request's
/// [`Caller`] (rate-limited like a credential); without one, a page request is
/// sent to the login form.
pub async fn require_session(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let principal = match presented_token(request.headers()) {
        None => None,
        Some(token) => match state
            .store
            .session_principal(&secret::hash(token), now_ms(), SESSION_IDLE_MS)
            .await
        {
            Ok(p) => p,
            Err(e) => return ApiError::from(e).into_response(),
        },
    };
    let Some(principal) = principal else {
        return to_login();
    };
    let decision = state.limiter.check(
        principal.credential_id,
        principal.rate_limit.per_second,
        principal.rate_limit.burst,
    );
    if !decision.allowed {
        state
            .metrics
            .rate_limited(crate::metrics::LimitedBy::Credential);
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many requests in this session; retry in {} s",
                decision.retry_after_secs
            ),
        )
        .with_header(
            header::RETRY_AFTER,
            HeaderValue::from(decision.retry_after_secs),
        )
        .into_response();
    }
    if principal.role == Role::Employee {
        // An employee's dashboard is their own data (SPEC §11).
        let path = request.uri().path();
        if path == "/ui" || path == "/ui/" {
            return Redirect::to("/ui/me").into_response();
        }
        if path != "/ui/me" && !path.starts_with("/ui/me/") {
            return ApiError::forbidden("an employee's dashboard is their own data, at /ui/me")
                .into_response();
        }
    }
    request.extensions_mut().insert(Caller(principal));
    next.run(request).await
}

/// 303 to the login form (a GET also works for a form post that lost its session).
fn to_login() -> Response {
    Redirect::to("/ui/login").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_session_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; rollcall_session=abc123 ; x=y"),
        );
        assert_eq!(presented_token(&headers), Some("abc123"));
        let mut empty = HeaderMap::new();
        empty.append(
            header::COOKIE,
            HeaderValue::from_static("rollcall_session="),
        );
        assert_eq!(presented_token(&empty), None);
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_only_under_tls() {
        let plain = cookie("t", None, false).unwrap();
        let plain = plain.to_str().unwrap();
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Strict"));
        assert!(!plain.contains("Secure"));
        let tls = cookie("t", Some(0), true).unwrap();
        assert!(tls.to_str().unwrap().ends_with("; Max-Age=0; Secure"));
    }
}
