//! The org chart (SPEC §4): snapshots pushed in pages (`POST` then `PUT …{id}` until
//! `hasMore: false`), the one-shot CSV upload, and the signed, expiring CSV download
//! link (served without a credential: the link's signature is the credential).
//!
//! An upload replaces the chart, or with `mode=merge` updates and adds the people it
//! names; either way its answer says how many people were added, removed and
//! changed. The account's last completed snapshots are listed
//! (`GET …/org-chart/snapshots`) and any of them can be made current again
//! (`POST …/org-chart/{id}/activate`), so an upload by mistake is never final.

use std::collections::{BTreeMap, HashSet};

use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use rollcall_core::usage::MAX_BATCH;
use rollcall_core::usage_report::{Employee, ORG_FIELDS};
use rollcall_core::{time, token, Email, Scope};
use rollcall_store::audit::{Actor, AuditAction};
use rollcall_store::now_ms;
use rollcall_store::usage::{OrgChanges, OrgMode, ORG_SNAPSHOTS_KEPT};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::opt_text;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorList, FieldError};
use crate::extract::{BoundedJson, NoQuery, Path, Query};
use crate::upload::CsvUpload;
use crate::AppState;

const MAX_CUSTOM_FIELDS: usize = 5;
const LINK_PURPOSE: &str = "org-chart-download";
const LINK_TTL_MS: i64 = 15 * 60 * 1000;
const DOWNLOAD_PATH: &str = "/services/push/v1/customer/org-chart/download";
/// Every standard column, in CSV order.
const STANDARD: [&str; 9] = [
    "email",
    "firstName",
    "lastName",
    "team",
    "location",
    "title",
    "managerEmail",
    "costCenter",
    "additionalEmails",
];

/// This module's operations in the OpenAPI document.
pub(crate) fn doc() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(
        start_snapshot,
        put_users,
        upload_csv,
        list_snapshots,
        activate,
        download_link,
        download
    ))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/services/push/v1/customer/org-chart",
            post(start_snapshot).get(download_link),
        )
        .route("/services/push/v1/customer/org-chart/{id}", put(put_users))
        .route("/services/push/v1/customer/org-chart/csv", post(upload_csv))
        .route(
            "/services/push/v1/customer/org-chart/snapshots",
            get(list_snapshots),
        )
        .route(
            "/services/push/v1/customer/org-chart/{id}/activate",
            post(activate),
        )
}

pub fn public_routes() -> Router<AppState> {
    Router::new().route(DOWNLOAD_PATH, get(download))
}

/// `customFieldsConfig`: names as strings or `{"name": …}` objects, at most 5.
fn custom_fields(config: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let items = match config {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ApiError::unprocessable(
                "customFieldsConfig must be an array of field names",
            ))
        }
    };
    let mut names = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let name = match item {
            Value::String(s) => Some(s.trim().to_string()),
            Value::Object(o) => o
                .get("name")
                .or_else(|| o.get("fieldName"))
                .and_then(Value::as_str)
                .map(|s| s.trim().to_string()),
            _ => None,
        };
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return Err(ApiError::invalid_items(
                "customFieldsConfig is not valid",
                vec![FieldError::item(
                    i,
                    "customFieldsConfig",
                    "each custom field needs a name",
                )],
            ));
        };
        if STANDARD.contains(&name.as_str()) || names.contains(&name) {
            return Err(ApiError::invalid_items(
                "customFieldsConfig is not valid",
                vec![FieldError::item(
                    i,
                    "customFieldsConfig",
                    format!("'{name}' is a standard field or named twice"),
                )],
            ));
        }
        names.push(name);
    }
    if names.len() > MAX_CUSTOM_FIELDS {
        return Err(ApiError::unprocessable(format!(
            "{} custom fields; an org chart has at most {MAX_CUSTOM_FIELDS}",
            names.len()
        )));
    }
    Ok(names)
}

/// One employee from a JSON object; `custom` are the snapshot's custom field names.
fn employee(obj: &Map<String, Value>, custom: &[String]) -> Result<Employee, (String, String)> {
    let text = |field: &str| {
        opt_text(obj.get(field)).map_err(|m| (field.to_string(), format!("{field} {m}")))
    };
    let email =
        text("email")?.ok_or_else(|| ("email".to_string(), "email is required".to_string()))?;
    let email = Email::parse(&email).map_err(|m| ("email".to_string(), m.to_string()))?;
    let manager = match text("managerEmail")? {
        None => None,
        Some(m) => Some(
            Email::parse(&m)
                .map_err(|e| ("managerEmail".to_string(), format!("managerEmail: {e}")))?
                .into_string(),
        ),
    };
    let aliases: Vec<String> = match obj.get("additionalEmails") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s
            .split([';', ',', '|'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(String::from))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                (
                    "additionalEmails".to_string(),
                    "additionalEmails must be an array of emails".to_string(),
                )
            })?,
        Some(_) => {
            return Err((
                "additionalEmails".into(),
                "additionalEmails must be an array of emails".into(),
            ))
        }
    };
    let mut additional = Vec::new();
    for a in aliases {
        let a = Email::parse(&a)
            .map_err(|m| ("additionalEmails".to_string(), format!("'{a}': {m}")))?
            .into_string();
        if a != email.as_str() && !additional.contains(&a) {
            additional.push(a);
        }
    }
    let mut custom_fields = BTreeMap::new();
    if let Some(extra) = obj.get("customFields") {
        let Some(extra) = extra.as_object() else {
            return Err((
                "customFields".into(),
                "customFields must be an object".into(),
            ));
        };
        for (k, v) in extra {
            if !custom.contains(k) {
                return Err((
                    "customFields".into(),
                    format!("'{k}' is not a custom field of this org chart (declare it in customFieldsConfig)"),
                ));
            }
            if let Some(v) = opt_text(Some(v)).map_err(|m| (k.clone(), format!("{k} {m}")))? {
                custom_fields.insert(k.clone(), v);
            }
        }
    }
    for (k, v) in obj {
        if STANDARD.contains(&k.as_str()) || k == "customFields" {
            continue;
        }
        if !custom.contains(k) {
            return Err((
                k.clone(),
                format!(
                    "unknown field '{k}'; custom fields must be declared in customFieldsConfig"
                ),
            ));
        }
        if let Some(v) = opt_text(Some(v)).map_err(|m| (k.clone(), format!("{k} {m}")))? {
            custom_fields.insert(k.clone(), v);
        }
    }
    Ok(Employee {
        email: email.into_string(),
        first_name: text("firstName")?,
        last_name: text("lastName")?,
        team: text("team")?,
        location: text("location")?,
        title: text("title")?,
        manager_email: manager,
        cost_center: text("costCenter")?,
        additional_emails: additional,
        custom_fields,
    })
}

/// `mode`, on the snapshot start and the CSV upload.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ModeQuery {
    /// `replace` (the default: the upload is the whole org chart) or `merge`.
    #[param(schema_with = crate::openapi::answers::org_mode)]
    mode: Option<String>,
}

fn org_mode(mode: Option<&str>) -> ApiResult<OrgMode> {
    match mode {
        None | Some("replace") => Ok(OrgMode::Replace),
        Some("merge") => Ok(OrgMode::Merge),
        Some(other) => Err(ApiError::bad_request(format!(
            "mode must be 'replace' (the upload is the whole org chart; the default) or 'merge' (the upload updates and adds people, nobody is removed), not '{other}'"
        ))),
    }
}

/// The counts an upload or activation answers with.
fn changes_json(c: &OrgChanges) -> Value {
    json!({"added": c.added, "removed": c.removed, "changed": c.changed})
}

/// Starts an org-chart snapshot (scope `connector.write`).
#[utoipa::path(post, path = "/services/push/v1/customer/org-chart", tag = "org chart",
    params(ModeQuery),
    request_body = crate::openapi::answers::OrgChartStart,
    responses((status = 200, description = "Started", body = crate::openapi::answers::Created)))]
async fn start_snapshot(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ModeQuery>,
    BoundedJson(body): BoundedJson,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Scope::ConnectorWrite)?;
    let name = match body.get("orgChartName") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        _ => {
            return Err(ApiError::unprocessable(
                "orgChartName (a non-empty string) is required",
            ))
        }
    };
    if let Some(obj) = body.as_object() {
        if let Some(k) = obj
            .keys()
            .find(|k| !["orgChartName", "customFieldsConfig"].contains(&k.as_str()))
        {
            return Err(ApiError::unprocessable(format!(
                "unknown field '{k}' (expected orgChartName, customFieldsConfig)"
            )));
        }
    }
    let fields = custom_fields(body.get("customFieldsConfig"))?;
    let mode = org_mode(q.mode.as_deref())?;
    let id = state
        .store
        .start_org_chart(caller.account_id, name, fields, mode)
        .await?;
    Ok(axum::Json(json!({"success": true, "id": id})))
}

/// Adds up to 1,000 people to a snapshot; `hasMore: false` makes it current
/// (records `UploadedOrgData`).
#[utoipa::path(put, path = "/services/push/v1/customer/org-chart/{id}", tag = "org chart",
    params(("id" = i64, Path, description = "the snapshot id")),
    request_body = crate::openapi::answers::OrgChartPage,
    responses((status = 200, description = "Stored", body = crate::openapi::answers::OrgChartPageStored),
        (status = 409, description = "The snapshot is already complete", body = crate::openapi::answers::ErrorBody)))]
async fn put_users(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    _: NoQuery,
    BoundedJson(body): BoundedJson,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Scope::ConnectorWrite)?;
    let Some(has_more) = body.get("hasMore").and_then(Value::as_bool) else {
        return Err(ApiError::unprocessable(
            "hasMore (true or false) is required",
        ));
    };
    let Some(items) = body.get("users").and_then(Value::as_array) else {
        return Err(ApiError::unprocessable("users (an array) is required"));
    };
    if items.len() > MAX_BATCH {
        return Err(ApiError::unprocessable(format!(
            "{} users in one request; send at most {MAX_BATCH}",
            items.len()
        )));
    }
    let custom = state
        .store
        .open_org_chart_fields(caller.account_id, id)
        .await?;
    let mut errors = Vec::new();
    let mut people = Vec::with_capacity(items.len());
    let mut seen = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let Some(obj) = item.as_object() else {
            errors.push(FieldError::item(
                i,
                "user",
                "each user must be a JSON object",
            ));
            continue;
        };
        match employee(obj, &custom) {
            Ok(p) => {
                if !seen.insert(p.email.clone()) {
                    errors.push(FieldError::item(
                        i,
                        "email",
                        format!("{} appears twice in this request", p.email),
                    ));
                }
                people.push(p);
            }
            Err((field, message)) => errors.push(FieldError::item(i, field, message)),
        }
    }
    if !errors.is_empty() {
        state.metrics.ingested(
            crate::metrics::IngestKind::Org,
            crate::metrics::Outcome::Rejected,
            items.len() as u64,
        );
        return Err(ApiError::invalid_items(
            "some users are invalid; nothing of this request was stored",
            errors,
        ));
    }
    let sent = people.len() as u64;
    let page = state
        .store
        .add_org_people(caller.account_id, &caller.actor(), id, people, has_more)
        .await?;
    state
        .metrics
        .stored(crate::metrics::IngestKind::Org, sent, 0);
    let mut answer = json!({
        "success": true,
        "id": id,
        "numUsers": page.people,
        "current": page.current,
    });
    if let Some(changes) = &page.changes {
        answer["changes"] = changes_json(changes);
    }
    Ok(axum::Json(answer))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CsvQuery {
    org_chart_name: Option<String>,
    #[param(schema_with = crate::openapi::answers::org_mode)]
    mode: Option<String>,
}

/// Parses an org-chart CSV: the header names the fields (standard names, any
/// other column is a custom field); a bad row is reported with its line number.
pub(crate) fn parse_csv(bytes: &[u8]) -> ApiResult<(Vec<String>, Vec<Employee>)> {
    // Spreadsheet exports often start with a byte-order mark.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| {
            ApiError::unprocessable(format!("line 1: the header row cannot be read: {e}"))
        })?
        .clone();
    let mut columns = Vec::with_capacity(headers.len());
    let mut custom = Vec::new();
    for h in headers.iter() {
        let known = STANDARD.iter().find(|s| s.eq_ignore_ascii_case(h));
        let name = match known {
            Some(s) => s.to_string(),
            None if h.is_empty() => {
                return Err(ApiError::unprocessable("line 1: a column has no name"))
            }
            None => {
                custom.push(h.to_string());
                h.to_string()
            }
        };
        if columns.contains(&name) {
            return Err(ApiError::unprocessable(format!(
                "line 1: the column '{name}' appears twice"
            )));
        }
        columns.push(name);
    }
    if !columns.iter().any(|c| c == "email") {
        return Err(ApiError::unprocessable(
            "line 1: the header row needs an 'email' column",
        ));
    }
    if custom.len() > MAX_CUSTOM_FIELDS {
        return Err(ApiError::unprocessable(format!(
            "line 1: {} custom columns ({}); an org chart has at most {MAX_CUSTOM_FIELDS}",
            custom.len(),
            custom.join(", ")
        )));
    }
    // Both lists are bounded while reading: at most MAX_ORG_ROWS people, and the
    // first MAX_LISTED_ERRORS problems (the rest are only counted).
    let mut errors = ErrorList::default();
    let mut people = Vec::new();
    let mut seen = HashSet::new();
    let mut rows = 0usize;
    for (row_index, record) in reader.records().enumerate() {
        // Line numbers count the header as line 1.
        let fallback_line = row_index + 2;
        rows += 1;
        if rows > MAX_ORG_ROWS {
            return Err(ApiError::unprocessable(format!(
                "the CSV has more than {MAX_ORG_ROWS} rows; an org chart has at most {MAX_ORG_ROWS} people"
            )));
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(fallback_line, |p| p.line() as usize);
                errors.push(FieldError {
                    field: Some(format!("line {line}")),
                    index: Some(line),
                    message: format!("line {line}: {}", csv_problem(&e)),
                });
                continue;
            }
        };
        let line = record
            .position()
            .map_or(fallback_line, |p| p.line() as usize);
        if record.iter().all(str::is_empty) {
            continue;
        }
        let mut obj = Map::new();
        for (name, value) in columns.iter().zip(record.iter()) {
            if !value.is_empty() {
                obj.insert(name.clone(), Value::String(value.to_string()));
            }
        }
        match employee(&obj, &custom) {
            Ok(p) => {
                if !seen.insert(p.email.clone()) {
                    errors.push(FieldError {
                        field: Some("email".into()),
                        index: Some(line),
                        message: format!("line {line}: {} appears twice", p.email),
                    });
                }
                people.push(p);
            }
            Err((field, message)) => errors.push(FieldError {
                field: Some(field),
                index: Some(line),
                message: format!("line {line}: {message}"),
            }),
        }
    }
    if !errors.is_empty() {
        let first = errors.first_message().unwrap_or_default().to_string();
        return Err(errors.into_error(format!(
            "the CSV has invalid rows (index = line number), nothing was stored; first: {first}"
        )));
    }
    Ok((custom, people))
}

/// Most rows one org-chart CSV may carry.
pub(crate) const MAX_ORG_ROWS: usize = 100_000;
/// A CSV reading problem in words (the csv crate's texts name Rust's notions).
fn csv_problem(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("this row has {len} fields where the header row has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "this row is not valid UTF-8 text".to_string(),
        _ => e.to_string(),
    }
}

/// The whole org chart as one CSV file (header row = field names); records `UploadedOrgData`.
#[utoipa::path(post, path = "/services/push/v1/customer/org-chart/csv", tag = "org chart",
    params(CsvQuery),
    request_body(content = String, content_type = "text/csv", description = "the org chart, a header row then one person a row (or one file of a multipart/form-data body)"),
    responses((status = 200, description = "Stored and current", body = crate::openapi::answers::OrgChartUploaded)))]
async fn upload_csv(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<CsvQuery>,
    CsvUpload(body): CsvUpload,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Scope::ConnectorWrite)?;
    let mode = org_mode(q.mode.as_deref())?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::unprocessable(
            "the body is empty; send the org chart as CSV with a header row",
        ));
    }
    let (custom, people) = parse_csv(&body)?;
    let n = people.len();
    let name = q
        .org_chart_name
        .unwrap_or_else(|| format!("CSV upload {}", time::format_ms(now_ms())));
    let switch = state
        .store
        .replace_org_chart(
            caller.account_id,
            &caller.actor(),
            name,
            custom,
            people,
            mode,
        )
        .await?;
    state
        .metrics
        .stored(crate::metrics::IngestKind::Org, n as u64, 0);
    Ok(axum::Json(json!({
        "success": true,
        "id": switch.id,
        "numUsers": n,
        "mode": mode.as_str(),
        "orgChartUsers": switch.people,
        "changes": changes_json(&switch.changes),
    })))
}

/// The kept snapshots, newest first, the current one marked `active`.
#[utoipa::path(get, path = "/services/push/v1/customer/org-chart/snapshots", tag = "org chart",
    responses((status = 200, description = "The kept snapshots, newest first", body = crate::openapi::answers::OrgSnapshots)))]
async fn list_snapshots(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
) -> ApiResult<axum::Json<Value>> {
    // Whoever may read reports or upload a chart may see which charts exist.
    if !caller.scopes.contains(Scope::ConnectorWrite) {
        caller.require(Scope::ReportRead)?;
    }
    let snapshots: Vec<Value> = state
        .store
        .org_snapshots(caller.account_id)
        .await?
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "name": s.name,
                "mode": s.mode.as_str(),
                "created": time::format_ms(s.created_ms),
                "completed": time::format_ms(s.completed_ms),
                "numUsers": s.people,
                "active": s.active,
            })
        })
        .collect();
    Ok(axum::Json(json!({
        "success": true,
        "kept": ORG_SNAPSHOTS_KEPT,
        "snapshots": snapshots,
    })))
}

/// Makes a kept snapshot the current org chart again (audited as `ActivatedOrgChart`).
#[utoipa::path(post, path = "/services/push/v1/customer/org-chart/{id}/activate", tag = "org chart",
    params(("id" = i64, Path, description = "the snapshot id")),
    responses((status = 200, description = "Now current", body = crate::openapi::answers::OrgChartActivated)))]
async fn activate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    _: NoQuery,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Scope::ConnectorWrite)?;
    let switch = state
        .store
        .activate_org_chart(caller.account_id, &caller.actor(), id)
        .await?;
    Ok(axum::Json(json!({
        "success": true,
        "id": switch.id,
        "numUsers": switch.people,
        "previousId": switch.previous,
        "changes": changes_json(&switch.changes),
    })))
}

/// What a download link carries: it is bound to the credential that asked for
/// it (revoking that credential kills the link) and names who downloads.
#[derive(Serialize, Deserialize)]
struct Link {
    account: i64,
    actor: String,
    credential: i64,
    expires: i64,
    /// The maker's viewable groups: a viewer's link downloads only their people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<i64>>,
}

/// A short-lived signed link to a CSV of the current org chart (scope `report.read`).
#[utoipa::path(get, path = "/services/push/v1/customer/org-chart", tag = "org chart",
    responses((status = 200, description = "The link", body = crate::openapi::answers::DownloadLink)))]
async fn download_link(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Scope::ReportRead)?;
    if state.store.org_chart(caller.account_id).await?.is_none() {
        return Err(ApiError::not_found("no org chart has been uploaded yet"));
    }
    let expires = now_ms() + LINK_TTL_MS;
    let token = token::seal(
        state.store.token_key(),
        LINK_PURPOSE,
        &Link {
            account: caller.account_id,
            actor: caller.actor_email.clone(),
            credential: caller.credential_id,
            expires,
            groups: caller.viewable_groups.clone(),
        },
    );
    // From the configured public URL, never from the request's Host header (a
    // forged Host would otherwise send the link, and its token, elsewhere).
    let url = format!(
        "{}{DOWNLOAD_PATH}?token={token}",
        state.config.public_url.as_deref().unwrap_or_default()
    );
    Ok(axum::Json(json!({
        "success": true,
        "downloadUrl": url,
        "expiresAt": time::format_ms(expires),
    })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct DownloadQuery {
    token: String,
}

/// Downloads the org chart as CSV through a signed link (records `DownloadedOrgData`).
#[utoipa::path(get, path = "/services/push/v1/customer/org-chart/download", tag = "org chart",
    security(()),
    params(DownloadQuery),
    responses((status = 200, description = "The org chart", content_type = "text/csv", body = String),
        (status = 401, description = "Invalid, expired or revoked link", body = crate::openapi::answers::ErrorBody)))]
async fn download(
    State(state): State<AppState>,
    Query(q): Query<DownloadQuery>,
) -> ApiResult<Response> {
    let link: Link = token::open(state.store.token_key(), LINK_PURPOSE, &q.token)
        .map_err(|e| ApiError::unauthorized(format!("this download link is not valid: {e}")))?;
    if link.expires < now_ms() {
        return Err(ApiError::unauthorized(
            "this download link has expired; ask for a new one with GET /services/push/v1/customer/org-chart",
        ));
    }
    if !state
        .store
        .credential_active(link.account, link.credential)
        .await?
    {
        return Err(ApiError::unauthorized(
            "this download link was asked for by a credential that has since been revoked",
        ));
    }
    let Some(org) = state.store.org_chart(link.account).await? else {
        return Err(ApiError::not_found("no org chart has been uploaded yet"));
    };
    let visible = crate::reports::visible_people_in(&state, link.account, link.groups).await?;
    // Positions, not copies: the rows are built from `org` as the body is sent.
    let people: Vec<usize> = org
        .directory
        .people
        .iter()
        .enumerate()
        .filter(|(_, p)| visible.sees(&org.directory, &p.email))
        .map(|(i, _)| i)
        .collect();
    let mut header: Vec<&str> = STANDARD.to_vec();
    header.extend(org.custom_fields.iter().map(String::as_str));
    let header = crate::reports::csv::header(&header);
    state
        .store
        .record_audit(
            link.account,
            &Actor::new(link.actor, Some(link.credential)),
            AuditAction::DownloadedOrgData {
                org_chart_id: org.id,
                users: people.len(),
            },
        )
        .await?;
    let rows = people.into_iter().filter_map(move |i| {
        let p = org.directory.people.get(i)?;
        let mut row = vec![p.email.clone()];
        for f in ["firstName", "lastName"].into_iter().chain(ORG_FIELDS) {
            row.push(p.field(f).unwrap_or_default().to_string());
        }
        row.push(p.additional_emails.join(";"));
        for c in &org.custom_fields {
            row.push(p.custom_fields.get(c).cloned().unwrap_or_default());
        }
        Some(row)
    });
    Ok(crate::reports::csv::attachment(
        "org-chart.csv",
        header,
        rows,
    ))
}
