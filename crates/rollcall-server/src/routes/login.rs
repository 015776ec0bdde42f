//! `POST /ui/login`: dashboard login with email and password (records `LoggedIn`);
//! the password check and its back-off are [`crate::login_guard`]'s.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::client_addr::ClientAddr;
use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_json, NoQuery};
use crate::{login_guard, AppState};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LoginForm {
    email: String,
    password: String,
    /// Needed only when the same email administers several accounts.
    #[serde(default)]
    account_id: Option<i64>,
}

pub async fn login(
    State(state): State<AppState>,
    _: NoQuery,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<Value>> {
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
    let candidate =
        login_guard::check_password(&state, &form.email, &form.password, form.account_id, addr)
            .await?;
    state
        .store
        .record_login(candidate.account_id, &candidate.email)
        .await?;
    Ok(axum::Json(json!({
        "success": true,
        "accountId": candidate.account_id,
        "userId": candidate.consumer_id,
        "email": candidate.email,
    })))
}
