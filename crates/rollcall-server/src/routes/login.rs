//! `POST /ui/login`: dashboard login with email and password (records `LoggedIn`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_json, NoQuery};
use crate::{passwords, AppState};

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
    let refused = || ApiError::unauthorized("wrong email or password");
    let candidates = state.store.login_candidates(&form.email).await?;
    for candidate in candidates
        .into_iter()
        .filter(|c| form.account_id.is_none_or(|a| a == c.account_id))
    {
        if passwords::verify(form.password.clone(), candidate.password_hash.clone()).await {
            state
                .store
                .record_login(candidate.account_id, &candidate.email)
                .await?;
            return Ok(axum::Json(json!({
                "success": true,
                "accountId": candidate.account_id,
                "userId": candidate.consumer_id,
                "email": candidate.email,
            })));
        }
    }
    Err(refused())
}
