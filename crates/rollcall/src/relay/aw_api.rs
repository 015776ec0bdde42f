//! The part of aw-server's REST API (`/api/0/...`) that ActivityWatch watchers
//! and `aw-client` use, in the JSON shapes `aw-client` parses: info, buckets,
//! events, event count and heartbeats with `pulsetime`. Every write is in the
//! journal (fsynced) before the answer. Requests whose `Host` is not a
//! loopback name are refused, so a web page cannot write through the
//! browser (DNS rebinding).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use tokio::sync::Notify;

use super::event::{pulsetime_us, Event};
use super::store::{meta_json, BucketMeta, Store, StoreError};

pub struct Shared {
    pub store: Mutex<Store>,
    pub hostname: String,
    pub device_id: String,
    /// Woken after every write: the sealer looks whether records are due.
    pub written: Notify,
}

type AppState = Arc<Shared>;

/// An error answer in aw-server's shape, `{"message": ...}`.
pub struct AwError(StatusCode, String);

impl IntoResponse for AwError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"message": self.1}))).into_response()
    }
}

impl From<StoreError> for AwError {
    fn from(e: StoreError) -> AwError {
        let status = match &e {
            StoreError::NoBucket(_) | StoreError::NoEvent(..) => StatusCode::NOT_FOUND,
            StoreError::Exists(_) => StatusCode::NOT_MODIFIED,
            StoreError::Io { .. } => {
                tracing::error!("{e}");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        AwError(status, e.to_string())
    }
}

fn bad(message: impl Into<String>) -> AwError {
    AwError(StatusCode::BAD_REQUEST, message.into())
}

fn lock(state: &Shared) -> Result<std::sync::MutexGuard<'_, Store>, AwError> {
    state.store.lock().map_err(|_| {
        AwError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the relay's store is unusable".into(),
        )
    })
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/0/info", get(info))
        .route("/api/0/buckets", get(buckets))
        .route("/api/0/buckets/", get(buckets))
        .route(
            "/api/0/buckets/{bucket}",
            get(bucket_get).post(bucket_create).delete(bucket_delete),
        )
        .route(
            "/api/0/buckets/{bucket}/events",
            get(events_list).post(events_insert),
        )
        .route("/api/0/buckets/{bucket}/events/count", get(events_count))
        .route(
            "/api/0/buckets/{bucket}/events/{id}",
            get(event_get).delete(event_delete),
        )
        .route("/api/0/buckets/{bucket}/heartbeat", post(heartbeat))
        .fallback(|| async {
            AwError(
                StatusCode::NOT_FOUND,
                "no such endpoint in the relay".into(),
            )
        })
        .layer(axum::middleware::from_fn(loopback_host_only))
        .with_state(state)
}

async fn loopback_host_only(request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    if matches!(name, "localhost" | "127.0.0.1" | "::1") {
        next.run(request).await
    } else {
        AwError(
            StatusCode::FORBIDDEN,
            format!("the relay answers only requests to localhost, not to {host}"),
        )
        .into_response()
    }
}

// ---------------------------------------------------------------- JSON shapes

fn format_us(us: i64) -> String {
    match jiff::Timestamp::from_microsecond(us) {
        Ok(t) => t.to_string(),
        Err(_) => String::new(),
    }
}

fn parse_time(text: &str) -> Result<i64, AwError> {
    let ts = match text.parse::<jiff::Timestamp>() {
        Ok(t) => t,
        // Without an offset aw-server reads UTC.
        Err(_) => text
            .parse::<jiff::civil::DateTime>()
            .ok()
            .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC).ok())
            .map(|z| z.timestamp())
            .ok_or_else(|| bad(format!("{text:?} is not an RFC 3339 timestamp")))?,
    };
    Ok(ts.as_microsecond())
}

pub fn event_json(e: &Event) -> Value {
    json!({"id": e.id, "timestamp": format_us(e.start_us),
           "duration": e.duration_us as f64 / 1e6, "data": e.data})
}

fn event_from_json(v: &Value) -> Result<Event, AwError> {
    let timestamp = v["timestamp"]
        .as_str()
        .ok_or_else(|| bad("an event needs a timestamp"))?;
    let duration = match &v["duration"] {
        Value::Null => 0.0,
        d => d
            .as_f64()
            .filter(|d| d.is_finite() && *d >= 0.0 && *d < 1e9)
            .ok_or_else(|| bad("an event's duration is a number of seconds, 0 or more"))?,
    };
    let data = match &v["data"] {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        _ => return Err(bad("an event's data must be an object")),
    };
    Ok(Event {
        id: v["id"].as_i64().unwrap_or(0),
        start_us: parse_time(timestamp)?,
        duration_us: (duration * 1e6).round() as i64,
        data,
    })
}

fn bucket_json(store: &Store, id: &str) -> Result<Value, AwError> {
    let b = store.bucket(id)?;
    let mut v = meta_json(&b.meta);
    let start = b.events.values().map(|e| e.start_us).min();
    v["metadata"] = json!({"start": start.map(format_us), "end": b.end_us.map(format_us)});
    v["last_updated"] = json!(b.end_us.map(format_us));
    Ok(v)
}

fn json_body(bytes: &[u8]) -> Result<Value, AwError> {
    serde_json::from_slice(bytes).map_err(|e| bad(format!("the body is not JSON: {e}")))
}

// ---------------------------------------------------------------- handlers

async fn info(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "hostname": state.hostname,
        "version": format!("v{} (rollcall relay)", env!("CARGO_PKG_VERSION")),
        "testing": false,
        "device_id": state.device_id,
    }))
}

async fn buckets(State(state): State<AppState>) -> Result<Json<Value>, AwError> {
    let store = lock(&state)?;
    let mut out = Map::new();
    for id in store.buckets().keys() {
        out.insert(id.clone(), bucket_json(&store, id)?);
    }
    Ok(Json(Value::Object(out)))
}

async fn bucket_get(
    State(state): State<AppState>,
    Path(bucket): Path<String>,
) -> Result<Json<Value>, AwError> {
    let store = lock(&state)?;
    Ok(Json(bucket_json(&store, &bucket)?))
}

async fn bucket_create(
    State(state): State<AppState>,
    Path(bucket): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, AwError> {
    let v = json_body(&body)?;
    let kind = v["type"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad("a bucket needs a type"))?;
    let hostname = match v["hostname"].as_str().unwrap_or_default() {
        "!local" => state.hostname.clone(),
        h => h.to_string(),
    };
    let meta = BucketMeta {
        id: bucket,
        kind: kind.to_string(),
        client: v["client"].as_str().unwrap_or_default().to_string(),
        hostname,
        created: jiff::Timestamp::now().to_string(),
        data: v["data"].as_object().cloned().unwrap_or_default(),
    };
    lock(&state)?.create_bucket(meta)?;
    Ok(StatusCode::OK.into_response())
}

async fn bucket_delete(
    State(state): State<AppState>,
    Path(bucket): Path<String>,
) -> Result<Response, AwError> {
    lock(&state)?.delete_bucket(&bucket)?;
    Ok(StatusCode::OK.into_response())
}

/// The events a list or count asks for: overlapping `start`..`end` (microseconds), at most `limit`.
struct Range {
    start: Option<i64>,
    end: Option<i64>,
    limit: Option<usize>,
}

/// `start`, `end` (RFC 3339) and `limit` (negative: all), as aw-server reads them.
fn range(params: &HashMap<String, String>) -> Result<Range, AwError> {
    for key in params.keys() {
        if !matches!(key.as_str(), "start" | "end" | "limit") {
            return Err(bad(format!("unknown query parameter {key}")));
        }
    }
    let start = params.get("start").map(|s| parse_time(s)).transpose()?;
    let end = params.get("end").map(|s| parse_time(s)).transpose()?;
    let limit = match params.get("limit") {
        None => None,
        Some(l) => {
            let n: i64 = l.parse().map_err(|_| bad("limit must be an integer"))?;
            usize::try_from(n).ok()
        }
    };
    Ok(Range { start, end, limit })
}

fn select<'a>(
    store: &'a Store,
    bucket: &str,
    params: &HashMap<String, String>,
) -> Result<Vec<&'a Event>, AwError> {
    let Range { start, end, limit } = range(params)?;
    let b = store.bucket(bucket)?;
    let mut events: Vec<&Event> = b
        .events
        .values()
        .filter(|e| start.is_none_or(|s| e.end_us() > s) && end.is_none_or(|t| e.start_us < t))
        .collect();
    // Newest first, as aw-server answers.
    events.sort_by_key(|e| std::cmp::Reverse((e.start_us, e.id)));
    if let Some(limit) = limit {
        events.truncate(limit);
    }
    Ok(events)
}

async fn events_list(
    State(state): State<AppState>,
    Path(bucket): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, AwError> {
    let store = lock(&state)?;
    let events = select(&store, &bucket, &params)?;
    Ok(Json(Value::Array(
        events.into_iter().map(event_json).collect(),
    )))
}

async fn events_count(
    State(state): State<AppState>,
    Path(bucket): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, AwError> {
    let store = lock(&state)?;
    Ok(Json(json!(select(&store, &bucket, &params)?.len())))
}

async fn event_get(
    State(state): State<AppState>,
    Path((bucket, id)): Path<(String, i64)>,
) -> Result<Json<Value>, AwError> {
    let store = lock(&state)?;
    let event = store
        .bucket(&bucket)?
        .events
        .get(&id)
        .ok_or(StoreError::NoEvent(bucket, id))?;
    Ok(Json(event_json(event)))
}

async fn event_delete(
    State(state): State<AppState>,
    Path((bucket, id)): Path<(String, i64)>,
) -> Result<Response, AwError> {
    lock(&state)?.delete_event(&bucket, id)?;
    state.written.notify_one();
    Ok(StatusCode::OK.into_response())
}

async fn events_insert(
    State(state): State<AppState>,
    Path(bucket): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, AwError> {
    let events = match json_body(&body)? {
        Value::Array(list) => list
            .iter()
            .map(event_from_json)
            .collect::<Result<Vec<_>, _>>()?,
        single @ Value::Object(_) => vec![event_from_json(&single)?],
        _ => return Err(bad("the body must be an event or a list of events")),
    };
    let stored = lock(&state)?.insert(&bucket, events)?;
    state.written.notify_one();
    Ok(Json(Value::Array(stored.iter().map(event_json).collect())))
}

async fn heartbeat(
    State(state): State<AppState>,
    Path(bucket): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, AwError> {
    let pulsetime = params
        .get("pulsetime")
        .ok_or_else(|| bad("a heartbeat needs ?pulsetime= (seconds)"))?;
    let pulsetime = pulsetime
        .parse::<f64>()
        .ok()
        .and_then(pulsetime_us)
        .ok_or_else(|| bad("pulsetime must be a number of seconds, 0 or more"))?;
    let mut event = event_from_json(&json_body(&body)?)?;
    event.id = 0;
    let merged = lock(&state)?.heartbeat(&bucket, event, pulsetime)?;
    state.written.notify_one();
    Ok(Json(event_json(&merged)))
}
