//! `POST /oauth2/token`: the OAuth2 client-credentials grant (RFC 6749 §4.4).
//! Errors carry both the OAuth2 form (`error`, `error_description`) and the
//! spec's error body, so OAuth libraries and Rollcall clients both understand them.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rollcall_core::{secret, Scope, ScopeSet};
use rollcall_store::now_ms;
use serde_json::json;

use crate::error::{mark_error_body, ApiError};
use crate::AppState;

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (
        status,
        axum::Json(json!({
            "error": error,
            "error_description": description,
            "code": status.as_u16().to_string(),
            "message": description,
            "success": false,
        })),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
    }
    mark_error_body(&mut response);
    response
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// This module's operations in the OpenAPI document.
pub(crate) fn doc() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(token))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

/// The OAuth2 client-credentials grant: the client authenticates with
/// `client_id`/`client_secret` in the form or with HTTP Basic.
#[utoipa::path(post, path = "/oauth2/token", tag = "authentication", security(()),
    request_body(content = crate::openapi::answers::TokenRequest,
        content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "An access token", body = crate::openapi::answers::TokenAnswer),
        (status = 400, description = "invalid_request, unsupported_grant_type or invalid_scope", body = crate::openapi::answers::OAuthError),
        (status = 401, description = "invalid_client", body = crate::openapi::answers::OAuthError),
    ))]
pub async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let form: Result<HashMap<String, String>, String> = if is_json {
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    } else {
        serde_urlencoded::from_bytes(&body).map_err(|e| e.to_string())
    };
    let form = match form {
        Ok(f) => f,
        Err(e) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("the body is not a form: {e}"),
            )
        }
    };
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(other) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("grant_type '{other}' is not supported; use client_credentials"),
            )
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required (client_credentials)",
            )
        }
    }
    let (client_id, client_secret) =
        match basic_credentials(&headers) {
            Some(pair) => pair,
            None => match (form.get("client_id"), form.get("client_secret")) {
                (Some(id), Some(secret)) => (id.clone(), secret.clone()),
                _ => return oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "client authentication is required: client_id and client_secret, or HTTP Basic",
                ),
            },
        };
    let client = match state.store.oauth_client(&client_id).await {
        // A client whose owner may no longer do anything it was given (demoted
        // to a role without those scopes) is as good as unknown.
        Ok(Some(c))
            if secret::constant_time_eq(
                c.secret_hash.as_bytes(),
                secret::hash(&client_secret).as_bytes(),
            ) && !c.scopes.is_empty() =>
        {
            c
        }
        Ok(_) => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "unknown client or wrong secret",
            )
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    let granted = match form
        .get("scope")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        None => client.scopes,
        Some(requested) => {
            let mut set = Vec::new();
            for name in requested.split_whitespace() {
                match Scope::parse(name) {
                    Some(scope) if client.scopes.contains(scope) => set.push(scope),
                    _ => {
                        return oauth_error(
                            StatusCode::BAD_REQUEST,
                            "invalid_scope",
                            &format!("this client may not request the scope '{name}'"),
                        )
                    }
                }
            }
            set.into_iter().collect::<ScopeSet>()
        }
    };
    let access_token = secret::generate("rt_");
    let ttl = state.config.access_token_ttl;
    let expires_ms = now_ms() + ttl.as_millis() as i64;
    if let Err(e) = state
        .store
        .issue_access_token(
            client.credential_id,
            &secret::hash(&access_token),
            granted,
            expires_ms,
        )
        .await
    {
        return ApiError::from(e).into_response();
    }
    let mut response = axum::Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ttl.as_secs(),
        "scope": granted.to_oauth_string(),
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
