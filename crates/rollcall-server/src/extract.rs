//! Request extractors that turn bad input into the spec's error body: JSON bodies
//! (400 for malformed JSON, 422 for the wrong shape), query strings where an
//! unknown parameter is an error, and path ids.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::ApiError;

/// A JSON body, whatever its content type.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let BodyBytes(bytes) = BodyBytes::from_request(req, state).await?;
        parse_json(&bytes).map(Json)
    }
}

/// The raw request body, for a handler that parses it borrowing from it.
pub struct BodyBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for BodyBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(req, state)
            .await
            .map(BodyBytes)
            .map_err(|e| {
                ApiError::new(
                    e.status(),
                    format!("cannot read the request body: {}", e.body_text()),
                )
            })
    }
}

/// Parses JSON: syntax errors are 400, well-formed JSON of the wrong shape is 422.
pub fn parse_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            ApiError::unprocessable(format!("the JSON body is not valid for this endpoint: {e}"))
        }
        _ => ApiError::bad_request(format!("the request body is not valid JSON: {e}")),
    })
}

/// Query parameters; the target type denies unknown fields, so any unexpected
/// parameter is a 400.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query)
            .map(Query)
            .map_err(|e| ApiError::bad_request(format!("invalid query parameters: {e}")))
    }
}

/// For endpoints that take no query parameters: any parameter is a 400.
pub struct NoQuery;

impl<S: Send + Sync> FromRequestParts<S> for NoQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        match parts.uri.query() {
            None | Some("") => Ok(NoQuery),
            Some(q) => Err(ApiError::bad_request(format!(
                "this endpoint takes no query parameters, got '{q}'"
            ))),
        }
    }
}

/// Path parameters, with a readable 404 when an id is not even of the right form.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|e| ApiError::not_found(format!("no such resource: {}", e.body_text())))
    }
}

/// Deserializes a field that may be absent, `null`, or a value, keeping the three apart:
/// use with `#[serde(default, deserialize_with = "double_option")]` on `Option<Option<T>>`.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    use serde::Deserialize;
    Option::<T>::deserialize(deserializer).map(Some)
}
