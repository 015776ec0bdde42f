//! The one error body of every API (SPEC §2):
//! `{"code": "<status>", "message": "…", "success": false, "errors"?: [...]}`.
//! Handlers return [`ApiError`]; responses that the framework produced itself
//! (unknown path, wrong method, body too large, a panic) are rewritten into the same
//! body by [`normalize_errors`].

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rollcall_store::error::ItemError;
use rollcall_store::StoreError;
use serde::Serialize;

/// One problem with one field or item.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    pub message: String,
}

impl FieldError {
    pub fn item(index: usize, field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: Some(field.into()),
            index: Some(index),
            message: message.into(),
        }
    }
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: Some(field.into()),
            index: None,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub errors: Vec<FieldError>,
    /// Extra response headers (`Retry-After`, `WWW-Authenticate`).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

/// Marks a response whose body is already the spec's error body.
#[derive(Clone, Copy)]
struct ErrorBodyWritten;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            errors: Vec::new(),
            headers: Vec::new(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
    /// 422 naming every bad item.
    pub fn invalid_items(message: impl Into<String>, errors: Vec<FieldError>) -> Self {
        ApiError {
            errors,
            ..Self::unprocessable(message)
        }
    }
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "an unexpected error occurred; the request id in x-request-id identifies it in the server log",
        )
    }
    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "code": self.status.as_u16().to_string(),
            "message": self.message,
            "success": false,
        });
        if !self.errors.is_empty() {
            body["errors"] = serde_json::to_value(&self.errors).unwrap_or_default();
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response.extensions_mut().insert(ErrorBodyWritten);
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ApiError::not_found(m),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            StoreError::Invalid { message, items } => {
                ApiError::invalid_items(message, items.into_iter().map(item_error).collect())
            }
            StoreError::Unavailable(m) => {
                tracing::warn!(error = %m, "database unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database is unavailable right now; retry shortly",
                )
                .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
            }
            StoreError::Internal(m) => ApiError::internal(m),
        }
    }
}

fn item_error(e: ItemError) -> FieldError {
    FieldError {
        field: e.field,
        index: e.index,
        message: e.message,
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// At most this many problems are listed in one 422; the message gives the total.
pub const MAX_LISTED_ERRORS: usize = 100;

/// The problems of an upload, bounded while they are found: the first
/// [`MAX_LISTED_ERRORS`] are kept, the rest only counted, so a file of a million bad
/// rows costs a hundred errors, not a million.
#[derive(Debug, Default)]
pub struct ErrorList {
    listed: Vec<FieldError>,
    total: usize,
}

impl ErrorList {
    pub fn push(&mut self, e: FieldError) {
        self.total += 1;
        if self.listed.len() < MAX_LISTED_ERRORS {
            self.listed.push(e);
        }
    }
    pub fn extend(&mut self, errors: impl IntoIterator<Item = FieldError>) {
        for e in errors {
            self.push(e);
        }
    }
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
    /// How many problems were found, listed or not.
    pub fn total(&self) -> usize {
        self.total
    }
    /// The first problem's message, if any.
    pub fn first_message(&self) -> Option<&str> {
        self.listed.first().map(|e| e.message.as_str())
    }
    /// A 422 with `message`, saying how many problems there were when not all are listed.
    pub fn into_error(self, message: impl Into<String>) -> ApiError {
        let message = message.into();
        if self.total > self.listed.len() {
            ApiError::invalid_items(
                format!(
                    "{message} ({} problems; the first {} are listed)",
                    self.total,
                    self.listed.len()
                ),
                self.listed,
            )
        } else {
            ApiError::invalid_items(message, self.listed)
        }
    }
}

/// Marks a hand-built error response as already carrying the spec's body.
pub fn mark_error_body(response: &mut Response) {
    response.extensions_mut().insert(ErrorBodyWritten);
}

/// Rewrites error responses that did not come from an [`ApiError`] into the spec's body.
pub async fn normalize_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let limits = request
        .extensions()
        .get::<crate::conn::BodyLimits>()
        .copied();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.extensions().get::<ErrorBodyWritten>().is_some()
    {
        return response;
    }
    let message = match status {
        StatusCode::NOT_FOUND => format!("there is no endpoint at {path}"),
        StatusCode::METHOD_NOT_ALLOWED => format!("{method} is not allowed on {path}"),
        StatusCode::PAYLOAD_TOO_LARGE => match limits {
            Some(l) => l.too_large().message,
            None => "the request body is larger than this server accepts".into(),
        },
        StatusCode::INTERNAL_SERVER_ERROR => {
            tracing::error!(%method, %path, "request failed without an error body");
            "an unexpected error occurred; the request id in x-request-id identifies it in the server log".into()
        }
        other => other
            .canonical_reason()
            .unwrap_or("the request failed")
            .to_string(),
    };
    let mut fixed = ApiError::new(status, message).into_response();
    if let Some(tag) = response.extensions().get::<crate::metrics::RouteTag>() {
        fixed.extensions_mut().insert(tag.clone());
    }
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(value) = response.headers().get(&name) {
            fixed.headers_mut().insert(name, value.clone());
        }
    }
    fixed
}
