//! The Segment-compatible tracking API (SPEC §10.1): `POST /v1/batch` and the
//! single-message `/v1/track`, `/v1/identify`, `/v1/page`, `/v1/screen`,
//! `/v1/group`, `/v1/alias`, authenticated by a connected app's write key.
//!
//! - [`body`]: the body, gzip or not, bounded before and after inflating;
//! - [`message`]: one message as sent and its mapping to what Rollcall keeps;
//! - here: the write key (HTTP Basic user name, or `writeKey` in the body), the
//!   credential's rate limit (the token buckets of the native APIs), the
//!   batch's shape and limits, and the answer, exactly `{"success": true}`
//!   (rudder-sdk-python takes any other 2xx body as a failure).

mod body;
mod message;

use std::ops::Range;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use rollcall_core::json_spans::{array_items, object_members};
use rollcall_core::segment::MAX_MESSAGE_BYTES;
use rollcall_core::{secret, time};
use rollcall_store::now_ms;
use rollcall_store::segment::WriteKey;
use serde::de::IgnoredAny;
use serde_json::json;

use crate::conn::BodyLimits;
use crate::error::{ApiError, ErrorList, FieldError};
use crate::metrics::{IngestKind, LimitedBy, Outcome};
use crate::AppState;
use message::{Clock, Kind, RawMessage};

/// Most messages one batch may hold (4 MB of the smallest messages).
const MAX_MESSAGES: usize = 20_000;

const DAY_MS: i64 = 86_400_000;

/// The tracking API's routes; they authenticate their own callers.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/batch", post(batch))
        .route("/v1/track", post(track))
        .route("/v1/identify", post(identify))
        .route("/v1/page", post(page))
        .route("/v1/screen", post(screen))
        .route("/v1/group", post(group))
        .route("/v1/alias", post(alias))
}

/// This family's operations in the OpenAPI document.
pub(crate) fn doc() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(batch, track, identify, page, screen, group, alias))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

/// A batch of messages (schema only; the handler reads the body itself).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct SegmentBatch {
    /// The messages, each with its `type`.
    batch: Vec<SegmentMessage>,
    /// When the client sent the batch (ISO 8601): corrects the messages' clock skew.
    #[schema(rename = "sentAt")]
    sent_at: Option<String>,
    /// The write key, when not sent as the HTTP Basic user name.
    #[schema(rename = "writeKey")]
    write_key: Option<String>,
}

/// One message (schema only: Segment's fields that Rollcall reads; any other
/// field is accepted and ignored).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct SegmentMessage {
    /// `track`, `identify`, `page`, `screen`, `group` or `alias` (in a batch).
    #[schema(rename = "type")]
    kind: Option<String>,
    #[schema(rename = "messageId")]
    message_id: Option<String>,
    #[schema(rename = "userId")]
    user_id: Option<String>,
    #[schema(rename = "anonymousId")]
    anonymous_id: Option<String>,
    /// `alias` only.
    #[schema(rename = "previousId")]
    previous_id: Option<String>,
    /// `track` only: the event's name.
    event: Option<String>,
    /// ISO 8601.
    timestamp: Option<String>,
    #[schema(rename = "sentAt")]
    sent_at: Option<String>,
    properties: Option<serde_json::Map<String, serde_json::Value>>,
    traits: Option<serde_json::Map<String, serde_json::Value>>,
    context: Option<serde_json::Map<String, serde_json::Value>>,
    #[schema(rename = "writeKey")]
    write_key: Option<String>,
}

macro_rules! single_message_endpoint {
    ($name:ident, $path:literal, $kind:expr, $what:literal) => {
        #[doc = $what]
        #[utoipa::path(post, path = $path, tag = "tracking (Segment-compatible)",
            security(("writeKey" = [])),
            request_body = SegmentMessage,
            responses((status = 200, description = "Stored", body = crate::openapi::answers::Success)))]
        async fn $name(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
            ingest(state, Some($kind), headers, body).await
        }
    };
}

/// Stores a batch of messages (Segment's `/v1/batch`): all or nothing.
#[utoipa::path(post, path = "/v1/batch", tag = "tracking (Segment-compatible)",
    security(("writeKey" = [])),
    request_body = SegmentBatch,
    responses((status = 200, description = "Stored", body = crate::openapi::answers::Success)))]
async fn batch(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    ingest(state, None, headers, body).await
}

single_message_endpoint!(
    track,
    "/v1/track",
    Kind::Track,
    "A `track` call: a usage event named `event`."
);
single_message_endpoint!(
    identify,
    "/v1/identify",
    Kind::Identify,
    "An `identify` call: who a userId is (email, name, title, team)."
);
single_message_endpoint!(
    page,
    "/v1/page",
    Kind::Page,
    "A `page` call: a `Page Viewed` event."
);
single_message_endpoint!(
    screen,
    "/v1/screen",
    Kind::Screen,
    "A `screen` call: a `Screen Viewed` event."
);
single_message_endpoint!(
    group,
    "/v1/group",
    Kind::Group,
    "A `group` call: accepted, nothing kept."
);
single_message_endpoint!(
    alias,
    "/v1/alias",
    Kind::Alias,
    "An `alias` call: `previousId` and `userId` are one person."
);

async fn ingest(state: AppState, kind: Option<Kind>, headers: HeaderMap, body: Body) -> Response {
    match ingest_result(&state, kind, &headers, body).await {
        Ok(()) => (StatusCode::OK, axum::Json(json!({"success": true}))).into_response(),
        Err(e) => e.into_response(),
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::unauthorized(message.to_string()).with_header(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"write key\""),
    )
}

/// The write key of an `Authorization: Basic` header (the user name; the
/// password is empty); `Err` for another scheme or a malformed header.
fn basic_write_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed =
        || unauthorized("the Authorization header must be 'Basic base64(<write key>:)'");
    let text = value.to_str().map_err(|_| malformed())?;
    let (scheme, encoded) = text.split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(unauthorized(
            "this API takes a write key as the HTTP Basic user name (or writeKey in the body), not a bearer token",
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let user = decoded.split_once(':').map_or(decoded.as_str(), |(u, _)| u);
    Ok((!user.is_empty()).then(|| user.to_string()))
}

/// Resolves a write key and takes a token from its rate limit.
async fn admit(state: &AppState, key: &str) -> Result<WriteKey, ApiError> {
    let write_key = state
        .store
        .write_key(&secret::hash(key))
        .await?
        .ok_or_else(|| unauthorized("unknown or revoked write key"))?;
    let decision = state.limiter.check(
        write_key.credential_id,
        write_key.rate_limit.per_second,
        write_key.rate_limit.burst,
    );
    if !decision.allowed {
        state.metrics.rate_limited(LimitedBy::Credential);
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "rate limit exceeded for this write key; retry in {} s",
                decision.retry_after_secs
            ),
        )
        .with_header(
            header::RETRY_AFTER,
            HeaderValue::from(decision.retry_after_secs),
        ));
    }
    Ok(write_key)
}

/// The top-level members of the body that matter here.
struct Members {
    batch: Option<Range<usize>>,
    sent_at: Option<Range<usize>>,
    write_key: Option<Range<usize>>,
}

fn members(text: &[u8]) -> Result<Members, ApiError> {
    let all = object_members(text)
        .ok_or_else(|| ApiError::bad_request("the body must be a JSON object"))?;
    let mut m = Members {
        batch: None,
        sent_at: None,
        write_key: None,
    };
    for (key, value) in all {
        match &text[key] {
            b"batch" => m.batch = Some(value),
            b"sentAt" => m.sent_at = Some(value),
            b"writeKey" => m.write_key = Some(value),
            _ => {}
        }
    }
    Ok(m)
}

/// A top-level string member (`None` when absent or null).
fn string_member(
    text: &[u8],
    range: Option<Range<usize>>,
    name: &str,
) -> Result<Option<String>, ApiError> {
    let Some(range) = range else {
        return Ok(None);
    };
    serde_json::from_slice::<Option<String>>(&text[range])
        .map_err(|_| ApiError::bad_request(format!("{name} must be a string")))
}

async fn ingest_result(
    state: &AppState,
    kind: Option<Kind>,
    headers: &HeaderMap,
    body: Body,
) -> Result<(), ApiError> {
    let received_ms = now_ms();
    // A key in the header is checked before the body is read.
    let from_header = match basic_write_key(headers)? {
        Some(key) => Some(admit(state, &key).await?),
        None => None,
    };
    let limits = Some(BodyLimits {
        max_bytes: rollcall_core::segment::MAX_BATCH_BYTES,
        min_rate: state.config.body_min_rate,
    });
    let text = body::read(headers, body, limits).await?;
    serde_json::from_slice::<IgnoredAny>(&text)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    let top = members(&text)?;
    let write_key = match from_header {
        Some(k) => k,
        None => {
            let key = string_member(&text, top.write_key.clone(), "writeKey")?.ok_or_else(|| {
                unauthorized("missing write key: send it as the HTTP Basic user name, or writeKey in the body")
            })?;
            admit(state, &key).await?
        }
    };
    let batch_sent_at = string_member(&text, top.sent_at.clone(), "sentAt")?
        .map(|s| time::parse_instant_ms(&s).map_err(ApiError::bad_request))
        .transpose()?;
    let spans: Vec<Range<usize>> = match kind {
        Some(_) => std::iter::once(0..text.len()).collect(),
        None => {
            let range = top
                .batch
                .ok_or_else(|| ApiError::bad_request("the body must be {\"batch\": [...]}"))?;
            let items = array_items(&text[range.clone()], MAX_MESSAGES).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "batch must be an array of at most {MAX_MESSAGES} messages"
                ))
            })?;
            if items.is_empty() {
                return Err(ApiError::bad_request(
                    "batch is empty; send at least one message",
                ));
            }
            items
                .into_iter()
                .map(|r| range.start + r.start..range.start + r.end)
                .collect()
        }
    };
    let tz = time::parse_time_zone(&write_key.time_zone).map_err(ApiError::internal)?;
    let clock = Clock {
        received_ms,
        batch_sent_at,
        oldest_ms: received_ms - i64::from(write_key.usage_retention_days) * DAY_MS,
        newest_ms: received_ms + DAY_MS,
        tz: &tz,
    };
    let mut errors = ErrorList::default();
    let received = spans.len() as u64;
    let mut messages = Vec::with_capacity(spans.len());
    for (index, span) in spans.into_iter().enumerate() {
        let bytes = &text[span];
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "message {index} is {} bytes; a message may have at most {MAX_MESSAGE_BYTES} (32 KB)",
                    bytes.len()
                ),
            ));
        }
        let raw: RawMessage<'_> = match serde_json::from_slice(bytes) {
            Ok(raw) => raw,
            Err(e) => {
                errors.push(FieldError {
                    field: None,
                    index: Some(index),
                    message: format!("the message is not a valid Segment message: {e}"),
                });
                continue;
            }
        };
        match raw.kind(kind).and_then(|k| raw.map(k, &clock)) {
            Ok(m) => messages.push(m),
            Err(r) => errors.push(FieldError::item(index, r.field, r.message)),
        }
    }
    if !errors.is_empty() {
        state
            .metrics
            .ingested(IngestKind::Tracking, Outcome::Rejected, received);
        let mut e = errors.into_error("some messages are invalid; nothing was stored");
        e.status = StatusCode::BAD_REQUEST;
        if let (Some(first), true) = (e.errors.first(), kind.is_some()) {
            // A single message: the reason itself is the message.
            e.message = first.message.clone();
        }
        return Err(e);
    }
    let outcome = state
        .store
        .ingest_segment(write_key.account_id, &write_key.app_id, messages)
        .await?;
    state
        .metrics
        .stored(IngestKind::Tracking, outcome.accepted, outcome.duplicates);
    Ok(())
}
