//! `GET /services/pull/v1/customer/audit-events` (seed 002): a time range
//! (`startTime` inclusive, `endTime` exclusive), optionally narrowed to one
//! `eventType` and one acting `userId`, paged `pageSize` (at most 500) events at a
//! time with a page token bound to the account, the range and the filters.
//! Only readers who see every group and app may read it: the log names people
//! and apps beyond any viewer's restriction.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rollcall_core::{time, token, Scope};
use rollcall_store::audit::{AuditFilter, AuditPosition, EVENT_TYPES};
use rollcall_store::now_ms;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::AppState;

const MAX_PAGE_SIZE: usize = 500;
const DAY_MS: i64 = 24 * 3600 * 1000;
const OLDEST_START_MS: i64 = 180 * DAY_MS;
const LONGEST_RANGE_MS: i64 = 30 * DAY_MS;
const TOKEN_PURPOSE: &str = "audit-events";

/// This module's operations in the OpenAPI document.
pub(crate) fn doc() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(audit_events))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/services/pull/v1/customer/audit-events", get(audit_events))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AuditQuery {
    /// RFC 3339, inclusive.
    #[param(format = DateTime)]
    start_time: Option<String>,
    /// RFC 3339, exclusive.
    #[param(format = DateTime)]
    end_time: Option<String>,
    page_token: Option<String>,
    event_type: Option<String>,
    user_id: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    page_size: Option<String>,
}

/// What a page token carries: the query it belongs to and where the last page ended.
#[derive(Serialize, Deserialize)]
struct PageToken {
    account: i64,
    start: i64,
    end: i64,
    /// Absent in tokens issued before filters existed: those had none.
    #[serde(default)]
    filter: AuditFilter,
    after: AuditPosition,
}

/// A query value, with an empty one (`pageToken=`, as a client's first call in
/// a loop sends it) meaning none.
fn given(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

fn page_size(value: Option<String>) -> ApiResult<usize> {
    let Some(text) = given(value) else {
        return Ok(MAX_PAGE_SIZE);
    };
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "pageSize must be a whole number between 1 and {MAX_PAGE_SIZE}"
            ))
        })
}

fn required_instant(value: Option<&str>, name: &str) -> ApiResult<i64> {
    let value = value.ok_or_else(|| ApiError::bad_request(format!("{name} is required")))?;
    time::parse_instant_ms(value).map_err(|m| ApiError::bad_request(format!("{name}: {m}")))
}

/// Audit events of the account, oldest first, paged (scope `report.read`, a
/// reader who sees every group and app).
#[utoipa::path(get, path = "/services/pull/v1/customer/audit-events", tag = "audit",
    params(AuditQuery),
    responses((status = 200, description = "A page of events", body = PageJson<'static>)))]
async fn audit_events(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Response> {
    caller.require(Scope::ReportRead)?;
    if !caller.is_unrestricted() {
        return Err(ApiError::forbidden(
            "audit events are for readers who see every group and app; this web user's view is restricted",
        ));
    }
    let event_type = given(q.event_type).map(|t| t.trim().to_string());
    if let Some(t) = &event_type {
        if !EVENT_TYPES.contains(&t.as_str()) {
            return Err(ApiError::bad_request(format!(
                "eventType '{t}' is not an event type; known types: {}",
                EVENT_TYPES.join(", ")
            )));
        }
    }
    let filter = AuditFilter {
        event_type,
        user_id: given(q.user_id).map(|u| u.trim().to_lowercase()),
    };
    let limit = page_size(q.page_size)?;
    let start = required_instant(q.start_time.as_deref(), "startTime")?;
    let end = required_instant(q.end_time.as_deref(), "endTime")?;
    if end <= start {
        return Err(ApiError::bad_request(
            "endTime must be later than startTime",
        ));
    }
    if start < now_ms() - OLDEST_START_MS {
        return Err(ApiError::bad_request(
            "startTime may be at most 180 days ago",
        ));
    }
    if end - start > LONGEST_RANGE_MS {
        return Err(ApiError::bad_request(
            "the range from startTime to endTime may be at most 30 days",
        ));
    }
    let key = state.store.token_key();
    let after = match given(q.page_token).as_deref() {
        None => AuditPosition::before(start),
        Some(text) => {
            let t: PageToken = token::open(key, TOKEN_PURPOSE, text)
                .map_err(|e| ApiError::bad_request(format!("pageToken: {e}")))?;
            if t.account != caller.account_id || t.start != start || t.end != end {
                return Err(ApiError::bad_request(
                    "pageToken was issued for another startTime/endTime; repeat the original range",
                ));
            }
            if t.filter != filter {
                return Err(ApiError::bad_request(
                    "pageToken was issued for another eventType/userId; repeat the original filters",
                ));
            }
            t.after
        }
    };
    let mut events = state
        .store
        .audit_events(caller.account_id, after, end, &filter, limit + 1)
        .await?;
    let more = events.len() > limit;
    events.truncate(limit);
    let next_page_token = match (more, events.last()) {
        (true, Some(last)) => Some(token::seal(
            key,
            TOKEN_PURPOSE,
            &PageToken {
                account: caller.account_id,
                start,
                end,
                filter,
                after: AuditPosition {
                    ts_ms: last.ts_ms,
                    seq: last.seq,
                },
            },
        )),
        _ => None,
    };
    Ok(axum::Json(PageJson {
        success: true,
        events: events
            .iter()
            .map(|e| EventJson {
                id: &e.id,
                ts: time::format_ms_fixed(e.ts_ms),
                event_type: &e.event_type,
                user_id: &e.user_id,
                event_properties: e.properties.as_ref(),
            })
            .collect(),
        next_page_token,
    })
    .into_response())
}

/// A page of audit events, as the seed shows it.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AuditEventsPage)]
#[serde(rename_all = "camelCase")]
struct PageJson<'a> {
    success: bool,
    events: Vec<EventJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AuditEvent)]
#[serde(rename_all = "camelCase")]
struct EventJson<'a> {
    id: &'a str,
    ts: String,
    event_type: &'a str,
    user_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_properties: Option<&'a Value>,
}
