//! Agent ingest, workforce administration, working hours and the activity log (SPEC §5).
//!
//! - `POST /agent/v1/activity` (`activity.write`): a batch is validated whole (422
//!   naming each bad record), clock skew is corrected from `sentAt`, and the store
//!   writes records and rollups in one transaction.
//! - `/admin/v1/clients`, `/computers`, `/groups`, `/classifications`: reads need
//!   `report.read` (or `admin`), changes need `admin`.
//! - `/reports/v2/workinghours/{users,computers}` (JSON, or CSV on `Accept:
//!   text/csv`) and `/reports/v2/activitylog` (`report.read`) with the Live Data
//!   API's parameters and JSON models, computed in [`crate::reports::workforce`].
//!
//! A viewer's `viewableGroups` scope every read here.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use rollcall_core::workforce::{website_domain, ClassificationSet, SplitSeconds, MAX_DURATION_S};
use rollcall_core::{time, Email, Scope};
use rollcall_store::now_ms;
use rollcall_store::workforce::{
    ActivityBatch, ClientInfo, ClientPatch, ComputerInfo, ComputerPatch, Group, GroupPatch,
    IngestOutcome, NewRecord, Perspective, Scoping, WfClient, WfComputer, WorkingHoursRow,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::extract::{double_option, parse_json_shaped, Json, NoQuery, Path, Query};
use crate::reports::csv;
use crate::reports::workforce::{self as wf_report, ActivityLogParams, WorkingHoursParams};
use crate::AppState;
use axum::http::HeaderMap;
use axum::response::Response;

mod directory;
mod log_body;

/// Most records one agent request may carry.
pub const MAX_RECORDS: usize = 5_000;
/// Longest `idleOffsetSeconds` accepted: 31 days.
const MAX_IDLE_OFFSET_S: i64 = 31 * 86_400;
/// Clock skew tolerated before records are shifted.
const SKEW_TOLERANCE_MS: i64 = 60_000;

type JsonValue = axum::Json<Value>;

/// This module's operations in the OpenAPI document (and its submodule's).
pub(crate) fn docs() -> Vec<utoipa::openapi::OpenApi> {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(
        ingest,
        list_clients,
        get_client,
        patch_client,
        directory::delete_client,
        list_computers,
        get_computer,
        patch_computer,
        directory::delete_computer,
        list_groups,
        create_group,
        get_group,
        patch_group,
        delete_group,
        get_classifications,
        put_classifications,
        working_hours_users,
        working_hours_computers,
        activity_log
    ))]
    struct Doc;
    vec![<Doc as utoipa::OpenApi>::openapi(), directory::doc()]
}

/// Authenticated routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/agent/v1/activity", post(ingest))
        .route("/admin/v1/clients", get(list_clients))
        .route(
            "/admin/v1/clients/{id}",
            get(get_client)
                .patch(patch_client)
                .delete(directory::delete_client),
        )
        .route("/admin/v1/computers", get(list_computers))
        .route(
            "/admin/v1/computers/{id}",
            get(get_computer)
                .patch(patch_computer)
                .delete(directory::delete_computer),
        )
        .route("/admin/v1/groups", get(list_groups).post(create_group))
        .route(
            "/admin/v1/groups/{id}",
            get(get_group).patch(patch_group).delete(delete_group),
        )
        .route(
            "/admin/v1/classifications",
            get(get_classifications).put(put_classifications),
        )
        .route("/reports/v2/workinghours/users", get(working_hours_users))
        .route(
            "/reports/v2/workinghours/computers",
            get(working_hours_computers),
        )
        .route("/reports/v2/activitylog", get(activity_log))
        .merge(directory::routes())
}

/// Routes that authenticate themselves (none in this family yet).
pub fn public_routes() -> Router<AppState> {
    Router::new()
}

fn require_read(caller: &Caller) -> ApiResult<()> {
    if caller.scopes.contains(Scope::Admin) {
        return Ok(());
    }
    caller.require(Scope::ReportRead)
}

fn viewer_scoping(caller: &Caller) -> Scoping {
    Scoping {
        viewable_groups: caller.viewable_groups.clone(),
        ..Scoping::default()
    }
}

// ---------------------------------------------------------------- ingest

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AgentComputer {
    name: String,
    #[serde(default)]
    primary_domain: Option<String>,
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    private_ip: Option<String>,
    #[serde(default)]
    public_ip: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AgentClient {
    #[serde(default)]
    login_domain: Option<String>,
    name: String,
}

/// The agent's body; `R` is [`TypedRecord`] on the fast path and `Value` when
/// some record is of the wrong shape and every problem must be named.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AgentBody<R> {
    #[serde(default)]
    sent_at: Option<String>,
    computer: AgentComputer,
    client: AgentClient,
    session: i64,
    #[serde(
        deserialize_with = "rollcall_core::bounded::vec::<_, _, MAX_RECORDS>",
        bound(deserialize = "R: Deserialize<'de>")
    )]
    records: Vec<R>,
}

/// A record of the wrong shape, kept loosely to name its problems: a record has
/// seven fields, so a budget of 64 values is ample and bounds what one can cost.
type LooseRecord = rollcall_core::bounded::BoundedValue<64>;

/// What an agent body must be, said when its top level is wrong.
const AGENT_BODY_SHAPE: &str =
    "the body must be an object with computer, client, session and records";

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TypedRecord {
    start: String,
    duration: i64,
    executable: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    idle: Option<bool>,
    #[serde(default, rename = "idleOffsetSeconds")]
    idle_offset_seconds: Option<i64>,
}

fn idle_offset_problem() -> String {
    format!(
        "idleOffsetSeconds must be whole seconds between 0 and {MAX_IDLE_OFFSET_S}: how long \
         the idle stretch had lasted when this record starts"
    )
}

/// Checks the values of a well-formed record.
fn check_record(
    index: usize,
    r: TypedRecord,
    shift_ms: i64,
    errors: &mut Vec<FieldError>,
) -> Option<NewRecord> {
    let before = errors.len();
    let raw_start_ms = time::parse_instant_ms(&r.start)
        .map_err(|m| errors.push(FieldError::item(index, "start", m)))
        .ok();
    if !(0..=MAX_DURATION_S).contains(&r.duration) {
        errors.push(FieldError::item(
            index,
            "duration",
            format!("duration must be whole seconds between 0 and {MAX_DURATION_S}"),
        ));
    }
    let executable = r.executable.trim();
    if executable.is_empty() || executable.chars().count() > 260 {
        errors.push(FieldError::item(
            index,
            "executable",
            "executable must be a string of 1 to 260 characters",
        ));
    }
    let description = r.description.unwrap_or_default();
    if description.chars().count() > 2_000 {
        errors.push(FieldError::item(
            index,
            "description",
            "description must be a string of at most 2000 characters",
        ));
    }
    let (url, website) = match r.url {
        Some(u) if !u.trim().is_empty() => {
            if u.chars().count() > 4_000 {
                errors.push(FieldError::item(
                    index,
                    "url",
                    "url must be a string of at most 4000 characters, or null",
                ));
                (None, None)
            } else {
                match website_domain(&u) {
                    Some(domain) => (Some(u), Some(domain)),
                    None => {
                        errors.push(FieldError::item(index, "url", "url has no host name"));
                        (None, None)
                    }
                }
            }
        }
        _ => (None, None),
    };
    let idle_offset_s = r.idle_offset_seconds.unwrap_or(0);
    if !(0..=MAX_IDLE_OFFSET_S).contains(&idle_offset_s) {
        errors.push(FieldError::item(
            index,
            "idleOffsetSeconds",
            idle_offset_problem(),
        ));
    }
    if errors.len() > before {
        return None;
    }
    let raw_start_ms = raw_start_ms?;
    Some(NewRecord {
        start_ms: raw_start_ms.saturating_add(shift_ms),
        raw_start_ms,
        duration_s: r.duration,
        executable: executable.to_string(),
        description,
        url,
        website,
        idle: r.idle.unwrap_or(false),
        idle_offset_s,
        redacted_by: 0,
    })
}

impl<R> AgentBody<R> {
    fn without_records(self) -> AgentBody<()> {
        AgentBody {
            sent_at: self.sent_at,
            computer: self.computer,
            client: self.client,
            session: self.session,
            records: Vec::new(),
        }
    }
}

fn text(value: Option<String>, field: &str, max: usize, errors: &mut Vec<FieldError>) -> String {
    let v = value.unwrap_or_default().trim().to_string();
    if v.chars().count() > max {
        errors.push(FieldError::field(
            field,
            format!("must have at most {max} characters"),
        ));
    }
    v
}

const RECORD_FIELDS: [&str; 7] = [
    "start",
    "duration",
    "executable",
    "description",
    "url",
    "idle",
    "idleOffsetSeconds",
];

/// Validates one record; `shift_ms` is the clock-skew correction.
fn parse_record(
    index: usize,
    value: &Value,
    shift_ms: i64,
    errors: &mut Vec<FieldError>,
) -> Option<NewRecord> {
    let before = errors.len();
    let Some(obj) = value.as_object() else {
        errors.push(FieldError::item(index, "record", "must be a JSON object"));
        return None;
    };
    for key in obj.keys() {
        if !RECORD_FIELDS.contains(&key.as_str()) {
            errors.push(FieldError::item(
                index,
                key.clone(),
                format!("unknown field; a record has {}", RECORD_FIELDS.join(", ")),
            ));
        }
    }
    let raw_start_ms = match obj.get("start").and_then(Value::as_str) {
        Some(s) => time::parse_instant_ms(s)
            .map_err(|m| errors.push(FieldError::item(index, "start", m)))
            .ok(),
        None => {
            errors.push(FieldError::item(
                index,
                "start",
                "start is required: an RFC 3339 instant such as 2026-11-20T08:01:00Z",
            ));
            None
        }
    };
    let duration_s = match obj.get("duration").and_then(Value::as_i64) {
        Some(d) if (0..=MAX_DURATION_S).contains(&d) => Some(d),
        _ => {
            errors.push(FieldError::item(
                index,
                "duration",
                format!("duration must be whole seconds between 0 and {MAX_DURATION_S}"),
            ));
            None
        }
    };
    let executable = match obj.get("executable").and_then(Value::as_str).map(str::trim) {
        Some(e) if !e.is_empty() && e.chars().count() <= 260 => Some(e.to_string()),
        _ => {
            errors.push(FieldError::item(
                index,
                "executable",
                "executable must be a string of 1 to 260 characters",
            ));
            None
        }
    };
    let description = match obj.get("description") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) if s.chars().count() <= 2_000 => s.clone(),
        Some(_) => {
            errors.push(FieldError::item(
                index,
                "description",
                "description must be a string of at most 2000 characters",
            ));
            String::new()
        }
    };
    let (url, website) = match obj.get("url") {
        None | Some(Value::Null) => (None, None),
        Some(Value::String(s)) if s.trim().is_empty() => (None, None),
        Some(Value::String(s)) if s.chars().count() <= 4_000 => match website_domain(s) {
            Some(domain) => (Some(s.clone()), Some(domain)),
            None => {
                errors.push(FieldError::item(index, "url", "url has no host name"));
                (None, None)
            }
        },
        Some(_) => {
            errors.push(FieldError::item(
                index,
                "url",
                "url must be a string of at most 4000 characters, or null",
            ));
            (None, None)
        }
    };
    let idle = match obj.get("idle") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push(FieldError::item(
                index,
                "idle",
                "idle must be true or false",
            ));
            false
        }
    };
    let idle_offset_s = match obj.get("idleOffsetSeconds") {
        None | Some(Value::Null) => 0,
        Some(v) => match v.as_i64() {
            Some(o) if (0..=MAX_IDLE_OFFSET_S).contains(&o) => o,
            _ => {
                errors.push(FieldError::item(
                    index,
                    "idleOffsetSeconds",
                    idle_offset_problem(),
                ));
                0
            }
        },
    };
    if errors.len() > before {
        return None;
    }
    let (raw_start_ms, duration_s, executable) = (raw_start_ms?, duration_s?, executable?);
    Some(NewRecord {
        start_ms: raw_start_ms.saturating_add(shift_ms),
        raw_start_ms,
        duration_s,
        executable,
        description,
        url,
        website,
        idle,
        idle_offset_s,
        redacted_by: 0,
    })
}

enum Incoming {
    Typed(Vec<TypedRecord>),
    Loose(Vec<Value>),
}

/// An agent's activity records (scope `activity.write`), idempotent per record.
#[utoipa::path(post, path = "/agent/v1/activity", tag = "workforce",
    request_body = AgentBody<TypedRecord>,
    responses((status = 200, description = "Stored", body = crate::openapi::answers::ActivityAccepted)))]
async fn ingest(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    bytes: axum::body::Bytes,
) -> ApiResult<JsonValue> {
    caller.require(Scope::ActivityWrite)?;
    // Fast path: typed records. When that fails on a record's shape, the body is
    // read again with loose records so that each bad one is named.
    let (body, incoming) = match serde_json::from_slice::<AgentBody<TypedRecord>>(&bytes) {
        Ok(mut b) => {
            let records = std::mem::take(&mut b.records);
            (b.without_records(), Incoming::Typed(records))
        }
        Err(_) => {
            let mut b: AgentBody<LooseRecord> = parse_json_shaped(&bytes, AGENT_BODY_SHAPE)?;
            let records = std::mem::take(&mut b.records);
            (
                b.without_records(),
                Incoming::Loose(records.into_iter().map(|r| r.0).collect()),
            )
        }
    };
    let now = now_ms();
    let mut errors = Vec::new();
    let shift_ms = match &body.sent_at {
        None => 0,
        Some(s) => match time::parse_instant_ms(s) {
            Ok(sent) if (now - sent).abs() > SKEW_TOLERANCE_MS => now - sent,
            Ok(_) => 0,
            Err(m) => {
                errors.push(FieldError::field("sentAt", m));
                0
            }
        },
    };
    let c = body.computer;
    let name = text(Some(c.name), "computer.name", 200, &mut errors);
    if name.is_empty() {
        errors.push(FieldError::field("computer.name", "must not be empty"));
    }
    let time_zone = match c.time_zone.map(|t| t.trim().to_string()) {
        Some(tz) if !tz.is_empty() => match time::parse_time_zone(&tz) {
            Ok(_) => Some(tz),
            Err(m) => {
                errors.push(FieldError::field("computer.timeZone", m));
                None
            }
        },
        _ => None,
    };
    let computer = ComputerInfo {
        name,
        primary_domain: text(c.primary_domain, "computer.primaryDomain", 200, &mut errors),
        os: text(c.os, "computer.os", 200, &mut errors),
        time_zone,
        private_ip: text(c.private_ip, "computer.privateIp", 64, &mut errors),
        public_ip: text(c.public_ip, "computer.publicIp", 64, &mut errors),
    };
    let client = ClientInfo {
        login_domain: text(
            body.client.login_domain,
            "client.loginDomain",
            200,
            &mut errors,
        ),
        name: text(Some(body.client.name), "client.name", 200, &mut errors),
    };
    if client.name.is_empty() {
        errors.push(FieldError::field("client.name", "must not be empty"));
    }
    if body.session < 0 {
        errors.push(FieldError::field("session", "must be 0 or more"));
    }
    let count = match &incoming {
        Incoming::Typed(r) => r.len(),
        Incoming::Loose(r) => r.len(),
    };
    if count > MAX_RECORDS {
        return Err(ApiError::unprocessable(format!(
            "a request carries at most {MAX_RECORDS} records; this one has {count}: split it"
        )));
    }
    let settings = state.store.settings(caller.account_id).await?;
    let oldest_ms = now - i64::from(settings.activity_retention_days) * 86_400_000;
    let newest_ms = now + 86_400_000;
    let parsed: Vec<(usize, Option<NewRecord>)> = match incoming {
        Incoming::Typed(typed) => typed
            .into_iter()
            .enumerate()
            .map(|(i, r)| (i, check_record(i, r, shift_ms, &mut errors)))
            .collect(),
        Incoming::Loose(values) => values
            .iter()
            .enumerate()
            .map(|(i, v)| (i, parse_record(i, v, shift_ms, &mut errors)))
            .collect(),
    };
    let mut records = Vec::with_capacity(count);
    for (index, record) in parsed {
        if let Some(r) = record {
            if r.start_ms < oldest_ms {
                errors.push(FieldError::item(
                    index,
                    "start",
                    format!(
                        "older than the account's activity retention of {} days",
                        settings.activity_retention_days
                    ),
                ));
            } else if r.start_ms > newest_ms {
                errors.push(FieldError::item(
                    index,
                    "start",
                    "more than one day in the future",
                ));
            } else {
                records.push(r);
            }
        }
    }
    if !errors.is_empty() {
        state.metrics.ingested(
            crate::metrics::IngestKind::Activity,
            crate::metrics::Outcome::Rejected,
            count as u64,
        );
        return Err(ApiError::invalid_items(
            format!(
                "the batch is not valid ({} problem(s)); nothing was stored",
                errors.len()
            ),
            errors,
        ));
    }
    let captured =
        super::privacy::capture_batch(&state, caller.account_id, &client, records, now).await?;
    let outcome = if captured.records.is_empty() {
        IngestOutcome::default()
    } else {
        state
            .store
            .ingest_activity(
                caller.account_id,
                ActivityBatch {
                    computer,
                    client,
                    session: body.session,
                    records: captured.records,
                    redaction_keys: captured.redaction_keys,
                },
            )
            .await?
    };
    state.metrics.stored(
        crate::metrics::IngestKind::Activity,
        outcome.accepted,
        outcome.duplicates,
    );
    Ok(axum::Json(json!({
        "success": true,
        "accepted": outcome.accepted,
        "duplicates": outcome.duplicates,
        "skewCorrectionSeconds": shift_ms / 1000,
        "notCaptured": captured.not_captured,
    })))
}

// ---------------------------------------------------------------- clients and computers

fn client_json(c: &WfClient) -> Value {
    let merged: Vec<Value> = c
        .merged
        .iter()
        .map(|(id, domain, name)| json!({"id": id, "loginDomain": domain, "name": name}))
        .collect();
    json!({
        "id": c.id,
        "loginDomain": c.login_domain,
        "name": c.name,
        "alias": c.alias,
        "email": c.employee_email,
        "groups": c.groups,
        "firstLog": time::format_ms(c.first_log_ms),
        "lastLog": time::format_ms(c.last_log_ms),
        "merged": merged,
    })
}

fn computer_json(c: &WfComputer) -> Value {
    let merged: Vec<Value> = c
        .merged
        .iter()
        .map(|(id, domain, name)| json!({"id": id, "name": name, "primaryDomain": domain}))
        .collect();
    json!({
        "id": c.id,
        "name": c.name,
        "primaryDomain": c.primary_domain,
        "alias": c.alias,
        "os": c.os,
        "timeZone": c.time_zone,
        "privateIp": c.private_ip,
        "publicIp": c.public_ip,
        "groups": c.groups,
        "firstLog": time::format_ms(c.first_log_ms),
        "lastLog": time::format_ms(c.last_log_ms),
        "merged": merged,
    })
}

#[utoipa::path(get, path = "/admin/v1/clients", tag = "workforce",
    responses((status = 200, description = "Tracked logins", body = crate::openapi::answers::ClientList)))]
async fn list_clients(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
) -> ApiResult<JsonValue> {
    require_read(&caller)?;
    let clients = state
        .store
        .wf_clients(caller.account_id, viewer_scoping(&caller))
        .await?;
    let clients: Vec<Value> = clients.iter().map(client_json).collect();
    Ok(axum::Json(json!({"success": true, "clients": clients})))
}

#[utoipa::path(get, path = "/admin/v1/clients/{id}", tag = "workforce",
    params(("id" = i64, Path, description = "the client id")),
    responses((status = 200, description = "The login", body = crate::openapi::answers::OneClient)))]
async fn get_client(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Path(id): Path<i64>,
) -> ApiResult<JsonValue> {
    require_read(&caller)?;
    let c = state
        .store
        .wf_client(caller.account_id, viewer_scoping(&caller), id)
        .await?;
    Ok(axum::Json(
        json!({"success": true, "client": client_json(&c)}),
    ))
}

fn clean_alias(alias: Option<Option<String>>) -> ApiResult<Option<Option<String>>> {
    Ok(match alias {
        Some(Some(a)) => {
            let a = a.trim().to_string();
            if a.chars().count() > 200 {
                return Err(ApiError::unprocessable(
                    "alias must have at most 200 characters",
                ));
            }
            Some((!a.is_empty()).then_some(a))
        }
        other => other,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ClientPatchBody {
    #[serde(default, deserialize_with = "double_option")]
    alias: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    email: Option<Option<String>>,
}

/// Sets a login's alias or employee mapping (scope `admin`).
#[utoipa::path(patch, path = "/admin/v1/clients/{id}", tag = "workforce",
    params(("id" = i64, Path, description = "the client id")),
    request_body = ClientPatchBody,
    responses((status = 200, description = "The login", body = crate::openapi::answers::OneClient)))]
async fn patch_client(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Path(id): Path<i64>,
    Json(body): Json<ClientPatchBody>,
) -> ApiResult<JsonValue> {
    caller.require(Scope::Admin)?;
    let employee_email = match body.email {
        Some(Some(e)) => Some(Some(
            Email::parse(&e)
                .map_err(|m| {
                    ApiError::invalid_items(
                        "the email is not valid",
                        vec![FieldError::field("email", m)],
                    )
                })?
                .as_str()
                .to_string(),
        )),
        Some(None) => Some(None),
        None => None,
    };
    let c = state
        .store
        .update_wf_client(
            caller.account_id,
            &caller.actor(),
            id,
            ClientPatch {
                alias: clean_alias(body.alias)?,
                employee_email,
            },
        )
        .await?;
    Ok(axum::Json(
        json!({"success": true, "client": client_json(&c)}),
    ))
}

#[utoipa::path(get, path = "/admin/v1/computers", tag = "workforce",
    responses((status = 200, description = "Computers", body = crate::openapi::answers::ComputerList)))]
async fn list_computers(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
) -> ApiResult<JsonValue> {
    require_read(&caller)?;
    let computers = state
        .store
        .wf_computers(caller.account_id, viewer_scoping(&caller))
        .await?;
    let computers: Vec<Value> = computers.iter().map(computer_json).collect();
    Ok(axum::Json(json!({"success": true, "computers": computers})))
}

#[utoipa::path(get, path = "/admin/v1/computers/{id}", tag = "workforce",
    params(("id" = i64, Path, description = "the computer id")),
    responses((status = 200, description = "The computer", body = crate::openapi::answers::OneComputer)))]
async fn get_computer(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Path(id): Path<i64>,
) -> ApiResult<JsonValue> {
    require_read(&caller)?;
    let c = state
        .store
        .wf_computer(caller.account_id, viewer_scoping(&caller), id)
        .await?;
    Ok(axum::Json(
        json!({"success": true, "computer": computer_json(&c)}),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ComputerPatchBody {
    #[serde(default, deserialize_with = "double_option")]
    alias: Option<Option<String>>,
}

/// Sets a computer's alias (scope `admin`).
#[utoipa::path(patch, path = "/admin/v1/computers/{id}", tag = "workforce",
    params(("id" = i64, Path, description = "the computer id")),
    request_body = ComputerPatchBody,
    responses((status = 200, description = "The computer", body = crate::openapi::answers::OneComputer)))]
async fn patch_computer(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Path(id): Path<i64>,
    Json(body): Json<ComputerPatchBody>,
) -> ApiResult<JsonValue> {
    caller.require(Scope::Admin)?;
    let c = state
        .store
        .update_wf_computer(
            caller.account_id,
            &caller.actor(),
            id,
            ComputerPatch {
                alias: clean_alias(body.alias)?,
            },
        )
        .await?;
    Ok(axum::Json(
        json!({"success": true, "computer": computer_json(&c)}),
    ))
}

// ---------------------------------------------------------------- groups

fn group_json(g: &Group) -> Value {
    json!({"id": g.id, "name": g.name, "clients": g.clients, "computers": g.computers})
}

fn group_name(name: &str) -> ApiResult<String> {
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid_items(
            "the group is not valid",
            vec![FieldError::field(
                "name",
                "name must have 1 to 200 characters",
            )],
        ));
    }
    Ok(name)
}

#[utoipa::path(get, path = "/admin/v1/groups", tag = "workforce",
    responses((status = 200, description = "Groups", body = crate::openapi::answers::GroupList)))]
async fn list_groups(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
) -> ApiResult<JsonValue> {
    require_read(&caller)?;
    let groups = state
        .store
        .groups(caller.account_id, caller.viewable_groups.clone())
        .await?;
    let groups: Vec<Value> = groups.iter().map(group_json).collect();
    Ok(axum::Json(json!({"success": true, "groups": groups})))
}

#[utoipa::path(get, path = "/admin/v1/groups/{id}", tag = "workforce",
    params(("id" = i64, Path, description = "the group id")),
    responses((status = 200, description = "The group", body = crate::openapi::answers::OneGroup)))]
async fn get_group(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Path(id): Path<i64>,
) -> ApiResult<JsonValue> {
    require_read(&caller)?;
    let g = state
        .store
        .group(caller.account_id, caller.viewable_groups.clone(), id)
        .await?;
    Ok(axum::Json(
        json!({"success": true, "group": group_json(&g)}),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewGroupBody {
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    #[serde(
        default,
        deserialize_with = "rollcall_core::bounded::vec::<_, _, MAX_GROUP_MEMBERS>"
    )]
    clients: Vec<i64>,
    #[serde(
        default,
        deserialize_with = "rollcall_core::bounded::vec::<_, _, MAX_GROUP_MEMBERS>"
    )]
    computers: Vec<i64>,
}

/// Most clients (and most computers) one group request may name; counted while parsing.
const MAX_GROUP_MEMBERS: usize = 10_000;

#[utoipa::path(post, path = "/admin/v1/groups", tag = "workforce",
    request_body = NewGroupBody,
    responses((status = 200, description = "Created", body = crate::openapi::answers::Created),
        (status = 409, description = "A group of that name exists", body = crate::openapi::answers::ErrorBody)))]
async fn create_group(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Json(body): Json<NewGroupBody>,
) -> ApiResult<JsonValue> {
    caller.require(Scope::Admin)?;
    let name = group_name(&body.name)?;
    let id = state
        .store
        .create_group(
            caller.account_id,
            &caller.actor(),
            name,
            body.clients,
            body.computers,
        )
        .await?;
    Ok(axum::Json(json!({"success": true, "id": id})))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GroupPatchBody {
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    #[serde(
        default,
        deserialize_with = "rollcall_core::bounded::opt_vec::<_, _, MAX_GROUP_MEMBERS>"
    )]
    clients: Option<Vec<i64>>,
    #[serde(
        default,
        deserialize_with = "rollcall_core::bounded::opt_vec::<_, _, MAX_GROUP_MEMBERS>"
    )]
    computers: Option<Vec<i64>>,
}

#[utoipa::path(patch, path = "/admin/v1/groups/{id}", tag = "workforce",
    params(("id" = i64, Path, description = "the group id")),
    request_body = GroupPatchBody,
    responses((status = 200, description = "The group", body = crate::openapi::answers::OneGroup),
        (status = 409, description = "A group of that name exists", body = crate::openapi::answers::ErrorBody)))]
async fn patch_group(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Path(id): Path<i64>,
    Json(body): Json<GroupPatchBody>,
) -> ApiResult<JsonValue> {
    caller.require(Scope::Admin)?;
    let name = body.name.as_deref().map(group_name).transpose()?;
    let g = state
        .store
        .update_group(
            caller.account_id,
            &caller.actor(),
            id,
            GroupPatch {
                name,
                clients: body.clients,
                computers: body.computers,
            },
        )
        .await?;
    Ok(axum::Json(
        json!({"success": true, "group": group_json(&g)}),
    ))
}

#[utoipa::path(delete, path = "/admin/v1/groups/{id}", tag = "workforce",
    params(("id" = i64, Path, description = "the group id")),
    responses((status = 200, description = "Removed", body = crate::openapi::answers::Success)))]
async fn delete_group(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Path(id): Path<i64>,
) -> ApiResult<JsonValue> {
    caller.require(Scope::Admin)?;
    state
        .store
        .delete_group(caller.account_id, &caller.actor(), id)
        .await?;
    Ok(axum::Json(json!({"success": true})))
}

// ---------------------------------------------------------------- classifications

#[utoipa::path(get, path = "/admin/v1/classifications", tag = "workforce",
    responses((status = 200, description = "Productivity of applications and websites", body = crate::openapi::answers::Classifications)))]
async fn get_classifications(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
) -> ApiResult<JsonValue> {
    require_read(&caller)?;
    let set = state.store.classifications(caller.account_id).await?;
    let mut body = serde_json::to_value(&set).map_err(ApiError::internal)?;
    body["success"] = json!(true);
    Ok(axum::Json(body))
}

/// Replaces the classifications (scope `admin`).
#[utoipa::path(put, path = "/admin/v1/classifications", tag = "workforce",
    request_body = ClassificationSet,
    responses((status = 200, description = "Replaced", body = crate::openapi::answers::Success)))]
async fn put_classifications(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Json(mut set): Json<ClassificationSet>,
) -> ApiResult<JsonValue> {
    caller.require(Scope::Admin)?;
    let problems = set.normalize();
    if !problems.is_empty() {
        return Err(ApiError::invalid_items(
            "the classifications are not valid; nothing was changed",
            problems
                .into_iter()
                .map(|(field, message)| FieldError::field(field, message))
                .collect(),
        ));
    }
    state
        .store
        .put_classifications(caller.account_id, &caller.actor(), set)
        .await?;
    Ok(axum::Json(json!({"success": true})))
}

// ---------------------------------------------------------------- working hours

/// One working-hours row: the seed's fields, in its order; `userid`, `user` and
/// `computers` (users view) or `computerid`, `computer` and `users` (computers view).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HoursRowJson<'a> {
    date: String,
    #[serde(rename = "userid", skip_serializing_if = "Option::is_none")]
    user_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    computers: Option<&'a [i64]>,
    #[serde(rename = "computerid", skip_serializing_if = "Option::is_none")]
    computer_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    computer: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    users: Option<&'a [i64]>,
    groups: &'a [i64],
    first_activity: Option<String>,
    last_activity: Option<String>,
    last_activity_log: String,
    active_time: SplitSeconds,
    passive_time: SplitSeconds,
    total_time: i64,
}

impl<'a> HoursRowJson<'a> {
    fn new(r: &'a WorkingHoursRow, perspective: Perspective) -> Self {
        let users_view = perspective == Perspective::Users;
        let (key, other) = (Some(r.id), Some(r.others.as_slice()));
        HoursRowJson {
            date: wf_report::local_midnight(r.day),
            user_id: key.filter(|_| users_view),
            user: Some(r.name.as_str()).filter(|_| users_view),
            computers: other.filter(|_| users_view),
            computer_id: key.filter(|_| !users_view),
            computer: Some(r.name.as_str()).filter(|_| !users_view),
            users: other.filter(|_| !users_view),
            groups: &r.groups,
            first_activity: r.first_activity_ms.map(time::format_ms),
            last_activity: r.last_activity_ms.map(time::format_ms),
            last_activity_log: time::format_ms(r.last_activity_log_ms),
            active_time: r.active,
            passive_time: r.passive,
            total_time: r.active.total + r.passive.total,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HoursPageJson<'a> {
    success: bool,
    activity: Vec<HoursRowJson<'a>>,
    total: u64,
    page: u32,
    page_size: u32,
}

/// Working-hours rows of the users view as the API answers them (also an
/// employee's own rows under `/me/v1`).
pub(crate) fn hours_rows_json(rows: &[WorkingHoursRow]) -> Vec<Value> {
    rows.iter()
        .map(|r| serde_json::to_value(HoursRowJson::new(r, Perspective::Users)).unwrap_or_default())
        .collect()
}

/// Activity-log rows of several pages as the API answers them: the same
/// writer as `/reports/v2/activitylog`, read back as values.
pub(crate) fn log_rows_json(pages: &[wf_report::ActivityLogReport]) -> ApiResult<Vec<Value>> {
    let mut out = Vec::new();
    for p in pages {
        let body = log_body::page(&p.rows, &p.text, "", &p.start_date);
        let mut page: Value = serde_json::from_slice(&body).map_err(ApiError::internal)?;
        if let Some(Value::Array(rows)) = page.get_mut("activity").map(Value::take) {
            out.extend(rows);
        }
    }
    Ok(out)
}

/// The page's rows as CSV: one line per (user or computer, day), the seconds
/// of each part in its own column.
pub(crate) fn hours_csv(r: wf_report::WorkingHoursReport) -> Response {
    let users_view = r.perspective == Perspective::Users;
    let (id, name, others) = if users_view {
        ("userid", "user", "computers")
    } else {
        ("computerid", "computer", "users")
    };
    let header = csv::header(&[
        "date",
        id,
        name,
        others,
        "groups",
        "firstActivity",
        "lastActivity",
        "lastActivityLog",
        "activeProductive",
        "activeUnproductive",
        "activeUndefined",
        "activeTotal",
        "passiveProductive",
        "passiveUnproductive",
        "passiveUndefined",
        "passiveTotal",
        "totalTime",
    ]);
    let ids = |v: &[i64]| v.iter().map(i64::to_string).collect::<Vec<_>>().join(";");
    let rows = r.rows.into_iter().map(move |row| {
        let (a, p) = (row.active, row.passive);
        vec![
            wf_report::local_midnight(row.day),
            row.id.to_string(),
            row.name.clone(),
            ids(&row.others),
            ids(&row.groups),
            row.first_activity_ms
                .map(time::format_ms)
                .unwrap_or_default(),
            row.last_activity_ms
                .map(time::format_ms)
                .unwrap_or_default(),
            time::format_ms(row.last_activity_log_ms),
            a.productive.to_string(),
            a.unproductive.to_string(),
            a.undefined.to_string(),
            a.total.to_string(),
            p.productive.to_string(),
            p.unproductive.to_string(),
            p.undefined.to_string(),
            p.total.to_string(),
            (a.total + p.total).to_string(),
        ]
    });
    let file_name = if users_view {
        "workinghours-users.csv"
    } else {
        "workinghours-computers.csv"
    };
    csv::attachment(file_name, header, rows)
}

async fn working_hours(
    state: AppState,
    caller: Caller,
    headers: HeaderMap,
    p: WorkingHoursParams,
    perspective: Perspective,
) -> ApiResult<Response> {
    let r = wf_report::working_hours(&state, &caller, perspective, p).await?;
    if csv::wanted(&headers) {
        return Ok(hours_csv(r));
    }
    Ok(axum::Json(HoursPageJson {
        success: true,
        activity: r
            .rows
            .iter()
            .map(|row| HoursRowJson::new(row, perspective))
            .collect(),
        total: r.total,
        page: r.page,
        page_size: r.page_size,
    })
    .into_response())
}

/// Working hours per user and day (scope `report.read`).
#[utoipa::path(get, path = "/reports/v2/workinghours/users", tag = "workforce",
    params(WorkingHoursParams, ("accept" = Option<String>, Header, description = "`text/csv` for a CSV download")),
    responses((status = 200, description = "A page of rows",
        content((crate::openapi::answers::WorkingHours = "application/json"), (String = "text/csv")))))]
async fn working_hours_users(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(p): Query<WorkingHoursParams>,
) -> ApiResult<Response> {
    working_hours(state, caller, headers, p, Perspective::Users).await
}

/// Working hours per computer and day (scope `report.read`).
#[utoipa::path(get, path = "/reports/v2/workinghours/computers", tag = "workforce",
    params(WorkingHoursParams, ("accept" = Option<String>, Header, description = "`text/csv` for a CSV download")),
    responses((status = 200, description = "A page of rows",
        content((crate::openapi::answers::WorkingHours = "application/json"), (String = "text/csv")))))]
async fn working_hours_computers(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(p): Query<WorkingHoursParams>,
) -> ApiResult<Response> {
    working_hours(state, caller, headers, p, Perspective::Computers).await
}

// ---------------------------------------------------------------- activity log

/// The activity log, paged by cursor (scope `report.read`).
#[utoipa::path(get, path = "/reports/v2/activitylog", tag = "workforce",
    params(ActivityLogParams),
    responses((status = 200, description = "A page of records", body = crate::openapi::answers::ActivityLog)))]
async fn activity_log(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<ActivityLogParams>,
) -> ApiResult<Response> {
    let r = wf_report::activity_log(&state, &caller, p).await?;
    let body = log_body::page(&r.rows, &r.text, &r.cursor, &r.start_date);
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}
