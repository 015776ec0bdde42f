//! Request extractors that turn bad input into the spec's error body: JSON bodies
//! (400 for malformed JSON, 422 for the wrong shape), query strings where an
//! unknown parameter is an error, and path ids.
//!
//! Errors name the field or parameter in the user's words ([`crate::wording`]): the
//! fast path parses without tracking, and only a failed parse is run again with
//! `serde_path_to_error` to learn where it failed. Loosely typed bodies go through
//! [`BoundedJson`], which never builds more than [`MAX_BODY_VALUES`] JSON values.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::conn::{BodyLimits, TooSlow};
use crate::error::ApiError;

/// A JSON body, whatever its content type. Every typed body is a JSON object:
/// serde would also read a struct from an array of its fields in order
/// (`[null, null]` as an empty patch), which no client means.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let BoundedJson(value) = BoundedJson::from_request(req, state).await?;
        if !value.is_object() {
            return Err(ApiError::unprocessable("the body must be a JSON object"));
        }
        from_value(&value, "the body").map(Json)
    }
}

/// Reads a typed body out of an already bounded JSON value: any list or object in
/// `T` is then bounded too, whatever `T` declares.
pub fn from_value<'a, T: Deserialize<'a>>(
    value: &'a serde_json::Value,
    whole: &str,
) -> Result<T, ApiError> {
    T::deserialize(value).map_err(|e| {
        // Again, tracking the path, only to name the field.
        let path = match serde_path_to_error::deserialize::<_, T>(value) {
            Err(tracked) => tracked.path().to_string(),
            Ok(_) => String::new(),
        };
        let path = if path == "." { "" } else { &path };
        if (path.is_empty() || path.starts_with('[')) && !value.is_object() {
            return ApiError::unprocessable(format!("{whole} must be a JSON object"));
        }
        ApiError::unprocessable(crate::wording::describe(path, &e.to_string(), whole))
    })
}

/// Most JSON values (each scalar, list and object counts one) a loosely typed body
/// may hold. The largest legitimate bodies (1,000 provisioned users or org-chart
/// people of ~15 fields) stay well under it; 16 MiB of `[0,0,…]` stops here instead
/// of becoming seven million values.
pub const MAX_BODY_VALUES: usize = 100_000;

/// A JSON body kept as a `serde_json::Value`, with at most [`MAX_BODY_VALUES`] values.
pub struct BoundedJson(pub serde_json::Value);

impl<S: Send + Sync> FromRequest<S> for BoundedJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let BodyBytes(bytes) = BodyBytes::from_request(req, state).await?;
        rollcall_core::bounded::value_from_slice(&bytes, MAX_BODY_VALUES)
            .map(BoundedJson)
            .map_err(|e| {
                json_error(
                    e,
                    "",
                    &format!("the body holds more than {MAX_BODY_VALUES} JSON values, more than this endpoint accepts in one request"),
                )
            })
    }
}

/// The raw request body, for a handler that parses it borrowing from it.
pub struct BodyBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for BodyBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let limits = req.extensions().get::<BodyLimits>().copied();
        Bytes::from_request(req, state)
            .await
            .map(BodyBytes)
            .map_err(|e| body_rejection(e, limits))
    }
}

/// A body that could not be read, in words: over the size limit (413, naming the
/// limit and its flag), too slow (408), or cut off.
pub fn body_rejection(e: BytesRejection, limits: Option<BodyLimits>) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if s.downcast_ref::<TooSlow>().is_some() {
            if let Some(l) = limits {
                return l.too_slow();
            }
        }
        source = s.source();
    }
    match limits {
        Some(l) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => l.too_large(),
        _ => ApiError::new(
            e.status(),
            format!("cannot read the request body: {}", e.body_text()),
        ),
    }
}

/// Parses JSON: syntax errors are 400, well-formed JSON of the wrong shape is 422
/// naming the field.
pub fn parse_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, ApiError> {
    parse_json_shaped(bytes, "the body")
}

/// [`parse_json`], where `whole` says what the body must be when its top level is
/// wrong (e.g. "the body must be an object with computer, client, session and records").
pub fn parse_json_shaped<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
    whole: &str,
) -> Result<T, ApiError> {
    match serde_json::from_slice(bytes) {
        Ok(v) => Ok(v),
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            // Parse again, tracking the path, only to name the field.
            let mut d = serde_json::Deserializer::from_slice(bytes);
            let path = match serde_path_to_error::deserialize::<_, T>(&mut d) {
                Err(tracked) => tracked.path().to_string(),
                Ok(_) => String::new(),
            };
            Err(json_error(e, &path, whole))
        }
        Err(e) => Err(json_error(e, "", whole)),
    }
}

/// The message of a serde_json error without its " at line L column C" suffix.
fn bare_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_string()
}

fn json_error(e: serde_json::Error, path: &str, whole: &str) -> ApiError {
    match e.classify() {
        serde_json::error::Category::Data => {
            let path = if path == "." { "" } else { path };
            let message = bare_message(&e);
            // Every body of this API is an object: an array at the top (which serde
            // would read as a struct's fields in order) or a scalar is a wrong shape.
            let top = path.is_empty() || path.starts_with('[');
            let about_fields =
                message.starts_with("missing field") || message.starts_with("unknown field");
            if top && !about_fields {
                return ApiError::unprocessable(if whole.contains(" must ") {
                    whole.to_string()
                } else {
                    format!("{whole} must be a JSON object")
                });
            }
            // A body cut off by a limit says so in full, without a field.
            if message.starts_with("holds more values than") {
                return ApiError::unprocessable(whole.to_string());
            }
            ApiError::unprocessable(crate::wording::describe(path, &message, whole))
        }
        serde_json::error::Category::Eof => ApiError::bad_request(format!(
            "the request body is not valid JSON: it ends early ({})",
            bare_message(&e)
        )),
        _ => ApiError::bad_request(format!("the request body is not valid JSON: {e}")),
    }
}

/// Query parameters; the target type denies unknown fields, so any unexpected
/// parameter is a 400.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        match serde_urlencoded::from_str(query) {
            Ok(v) => Ok(Query(v)),
            Err(e) => {
                let d =
                    serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
                let path = match serde_path_to_error::deserialize::<_, T>(d) {
                    Err(tracked) => tracked.path().to_string(),
                    Ok(_) => String::new(),
                };
                let path = if path == "." { "" } else { &path };
                let message = e.to_string();
                let message = if let Some(rest) = message.strip_prefix("unknown field `") {
                    // An unexpected parameter: name it and the ones this endpoint takes.
                    crate::wording::describe("", &format!("unknown field `{rest}"), "")
                        .replace(
                            "is not a field of this body; the fields are",
                            "is not a parameter of this endpoint; the parameters are",
                        )
                        .replace(
                            "is not a field this endpoint accepts",
                            "is not a parameter of this endpoint",
                        )
                } else {
                    crate::wording::describe(path, &message, "the query string")
                };
                Err(ApiError::bad_request(format!(
                    "invalid query parameters: {message}"
                )))
            }
        }
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
            .map_err(|e| ApiError::not_found(path_problem(&e)))
    }
}

/// A path that does not even have the form of an id, in words (axum says
/// "Cannot parse `abc` to a `i64`").
fn path_problem(e: &axum::extract::rejection::PathRejection) -> String {
    use axum::extract::path::ErrorKind;
    use axum::extract::rejection::PathRejection;
    if let PathRejection::FailedToDeserializePathParams(inner) = e {
        match inner.kind() {
            ErrorKind::ParseErrorAtKey { key, value, .. } => {
                return format!("no such resource: {key} '{value}' is not an id of the right form")
            }
            ErrorKind::ParseError { value, .. } | ErrorKind::ParseErrorAtIndex { value, .. } => {
                return format!("no such resource: '{value}' is not an id of the right form")
            }
            _ => {}
        }
    }
    format!("no such resource: {}", e.body_text())
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
