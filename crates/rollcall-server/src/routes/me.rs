//! `/me/v1`: an employee's own data (SPEC §11), scope `me.read`, for web users
//! of role `employee` only. Every answer is computed in
//! [`crate::reports::me`] by the admin API's report functions with the
//! employee's own filters; no parameter here names a person. Each endpoint
//! answers JSON, or CSV with `format=csv` (or `Accept: text/csv`).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rollcall_core::time;
use rollcall_store::access_records::{AccessKind, AccessRecordRow};
use rollcall_store::workforce::Perspective;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::reports::csv;
use crate::reports::me::{self, Me, MyAppUsage, MyHours};
use crate::reports::workforce::WorkingHoursReport;
use crate::routes::usage::insights::user_json;
use crate::routes::workforce::{hours_csv, hours_rows_json, log_rows_json};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/me/v1/workinghours", get(working_hours))
        .route("/me/v1/activitylog", get(activity_log))
        .route("/me/v1/usage", get(usage))
        .route("/me/v1/access-records", get(access_records))
        .route("/me/v1/export", get(export))
}

/// This module's operations in the OpenAPI document.
pub(crate) fn doc() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(working_hours, activity_log, usage, access_records, export))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

/// How an answer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

fn format(param: Option<&str>, headers: &HeaderMap) -> ApiResult<Format> {
    match param {
        Some("csv") => Ok(Format::Csv),
        Some("json") => Ok(Format::Json),
        None if csv::wanted(headers) => Ok(Format::Csv),
        None => Ok(Format::Json),
        Some(other) => Err(ApiError::bad_request(format!(
            "format must be json or csv, got '{other}'"
        ))),
    }
}

// ---------------------------------------------------------------- working hours

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct HoursQuery {
    /// `YYYY-MM-DD`, required.
    #[param(format = Date)]
    from: Option<String>,
    /// `YYYY-MM-DD`, inclusive, required.
    #[param(format = Date)]
    to: Option<String>,
    #[param(schema_with = crate::openapi::me_answers::format)]
    format: Option<String>,
}

fn hours_download(h: MyHours) -> Response {
    hours_csv(WorkingHoursReport {
        perspective: Perspective::Users,
        from_day: h.from_day,
        to_day: h.to_day,
        total: h.rows.len() as u64,
        page: 1,
        page_size: h.rows.len().max(1) as u32,
        rows: h.rows,
    })
}

/// The employee's working hours per login and day (scope `me.read`, role
/// `employee`): the rows `/reports/v2/workinghours/users` has for their logins.
#[utoipa::path(get, path = "/me/v1/workinghours", tag = "me",
    params(HoursQuery, ("accept" = Option<String>, Header, description = "`text/csv` for a CSV download")),
    responses((status = 200, description = "The employee's rows",
        content((crate::openapi::me_answers::MyWorkingHours = "application/json"), (String = "text/csv")))))]
async fn working_hours(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<HoursQuery>,
) -> ApiResult<Response> {
    let me = me::me(&state, &caller).await?;
    let format = format(q.format.as_deref(), &headers)?;
    let h = me::working_hours(&state, &me, q.from, q.to).await?;
    if format == Format::Csv {
        return Ok(hours_download(h));
    }
    Ok(axum::Json(json!({
        "success": true,
        "from": h.from,
        "to": h.to,
        "activity": hours_rows_json(&h.rows),
    }))
    .into_response())
}

// ---------------------------------------------------------------- activity log

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LogQuery {
    /// `YYYY-MM-DD`; today (the account's zone) by default.
    #[param(format = Date)]
    start_date: Option<String>,
    /// `YYYY-MM-DD`, inclusive; `startDate` by default; at most 366 days after it.
    #[param(format = Date)]
    end_date: Option<String>,
    #[param(schema_with = crate::openapi::me_answers::format)]
    format: Option<String>,
}

/// The employee's activity log between two days (scope `me.read`, role
/// `employee`): the rows `/reports/v2/activitylog` has for their logins.
#[utoipa::path(get, path = "/me/v1/activitylog", tag = "me",
    params(LogQuery, ("accept" = Option<String>, Header, description = "`text/csv` for a CSV download")),
    responses((status = 200, description = "The employee's records",
        content((crate::openapi::me_answers::MyActivityLog = "application/json"), (String = "text/csv")))))]
async fn activity_log(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<LogQuery>,
) -> ApiResult<Response> {
    let me = me::me(&state, &caller).await?;
    let format = format(q.format.as_deref(), &headers)?;
    let log = me::activity_log(&state, &me, q.start_date, q.end_date).await?;
    let rows = log_rows_json(&log.pages)?;
    if format == Format::Csv {
        return Ok(values_csv("activitylog.csv", rows));
    }
    Ok(axum::Json(json!({
        "success": true,
        "startDate": log.start_date,
        "endDate": log.end_date,
        "truncated": log.truncated,
        "activity": rows,
    }))
    .into_response())
}

// ---------------------------------------------------------------- usage

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UsageQuery {
    /// `YYYY-MM-DD`; today (the account's zone) by default.
    #[param(format = Date)]
    as_of_date: Option<String>,
    #[param(schema_with = crate::openapi::answers::rolling_window)]
    rolling_window: Option<u32>,
    #[param(schema_with = crate::openapi::me_answers::format)]
    format: Option<String>,
}

fn usage_json(u: &MyAppUsage) -> Value {
    json!({
        "appId": u.app_id,
        "appName": u.app_name,
        "asOfDate": u.as_of_date,
        "rollingWindow": u.rolling_window,
        "user": user_json(&u.row),
    })
}

/// One CSV line per app: the app, then the fields of the employee's row.
fn usage_rows(usage: &[MyAppUsage]) -> Vec<Value> {
    usage
        .iter()
        .map(|u| {
            let mut row = Map::new();
            row.insert("appId".into(), json!(u.app_id));
            row.insert("appName".into(), json!(u.app_name));
            row.insert("asOfDate".into(), json!(u.as_of_date));
            row.insert("rollingWindow".into(), json!(u.rolling_window));
            if let Value::Object(user) = user_json(&u.row) {
                row.extend(user);
            }
            Value::Object(row)
        })
        .collect()
}

/// The employee's usage of each app (scope `me.read`, role `employee`): their
/// row of `/pull/v1/apps/{appId}/users` for every app they are provisioned in
/// or have events of.
#[utoipa::path(get, path = "/me/v1/usage", tag = "me",
    params(UsageQuery, ("accept" = Option<String>, Header, description = "`text/csv` for a CSV download")),
    responses((status = 200, description = "The employee's usage per app",
        content((crate::openapi::me_answers::MyUsage = "application/json"), (String = "text/csv")))))]
async fn usage(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<UsageQuery>,
) -> ApiResult<Response> {
    let me = me::me(&state, &caller).await?;
    let format = format(q.format.as_deref(), &headers)?;
    let usage = me::usage(&state, &me, q.as_of_date, q.rolling_window).await?;
    if format == Format::Csv {
        return Ok(values_csv("usage.csv", usage_rows(&usage)));
    }
    Ok(axum::Json(json!({
        "success": true,
        "apps": usage.iter().map(usage_json).collect::<Vec<_>>(),
    }))
    .into_response())
}

// ---------------------------------------------------------------- access records

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RecordsQuery {
    #[param(schema_with = crate::openapi::me_answers::format)]
    format: Option<String>,
}

pub(crate) fn record_json(r: &AccessRecordRow) -> Value {
    json!({
        "viewer": r.viewer,
        "date": time::date_of_day_number(r.day).to_string(),
        "firstViewed": time::format_ms(r.first_ms),
        "kinds": AccessKind::of_bits(r.kinds).iter().map(|k| k.as_str()).collect::<Vec<_>>(),
    })
}

/// Who viewed the employee's individual data (working hours, activity log,
/// usage) and on which day, newest first: one record per viewer and day
/// (scope `me.read`, role `employee`).
#[utoipa::path(get, path = "/me/v1/access-records", tag = "me",
    params(RecordsQuery, ("accept" = Option<String>, Header, description = "`text/csv` for a CSV download")),
    responses((status = 200, description = "The access records",
        content((crate::openapi::me_answers::MyAccessRecords = "application/json"), (String = "text/csv")))))]
async fn access_records(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<RecordsQuery>,
) -> ApiResult<Response> {
    let me = me::me(&state, &caller).await?;
    let format = format(q.format.as_deref(), &headers)?;
    let records: Vec<Value> = me::access_records(&state, &me)
        .await?
        .iter()
        .map(record_json)
        .collect();
    if format == Format::Csv {
        return Ok(values_csv("access-records.csv", records));
    }
    Ok(axum::Json(json!({"success": true, "accessRecords": records})).into_response())
}

// ---------------------------------------------------------------- export

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExportQuery {
    /// `YYYY-MM-DD`; 30 days before `to` by default.
    #[param(format = Date)]
    from: Option<String>,
    /// `YYYY-MM-DD`, inclusive; today (the account's zone) by default.
    #[param(format = Date)]
    to: Option<String>,
    #[param(schema_with = crate::openapi::me_answers::format)]
    format: Option<String>,
}

/// Everything held about the employee as one JSON document, or as CSV with
/// one line per value: `section,row,field,value`.
pub(crate) async fn export_document(
    state: &AppState,
    me: &Me,
    from: Option<String>,
    to: Option<String>,
) -> ApiResult<Value> {
    let tz = crate::reports::account_zone(state, me.account_id()).await?;
    let today = time::day_number(time::local_date(rollcall_store::now_ms(), &tz));
    let to = to.unwrap_or_else(|| time::date_of_day_number(today).to_string());
    let from = match from {
        Some(f) => f,
        None => time::parse_date(&to)
            .map(|d| time::date_of_day_number(time::day_number(d) - 30).to_string())
            .map_err(|m| ApiError::bad_request(format!("to: {m}")))?,
    };
    let hours = me::working_hours(state, me, Some(from.clone()), Some(to.clone())).await?;
    let log = me::activity_log(state, me, Some(from.clone()), Some(to.clone())).await?;
    let usage = me::usage(state, me, Some(to.clone()), None).await?;
    let records = me::access_records(state, me).await?;
    Ok(json!({
        "success": true,
        "person": {
            "email": me.consumer.email,
            "name": me.consumer.name,
            "logins": me.consumer.logins,
        },
        "from": hours.from,
        "to": hours.to,
        "workingHours": hours_rows_json(&hours.rows),
        "activityLog": log_rows_json(&log.pages)?,
        "activityLogTruncated": log.truncated,
        "usage": usage.iter().map(usage_json).collect::<Vec<_>>(),
        "accessRecords": records.iter().map(record_json).collect::<Vec<_>>(),
    }))
}

/// Everything held about the employee (scope `me.read`, role `employee`):
/// who they are, their working hours and activity log between `from` and
/// `to`, their usage of each app as of `to`, and their access records.
#[utoipa::path(get, path = "/me/v1/export", tag = "me",
    params(ExportQuery, ("accept" = Option<String>, Header, description = "`text/csv` for a CSV download")),
    responses((status = 200, description = "The export",
        content((crate::openapi::me_answers::MyExport = "application/json"), (String = "text/csv")))))]
async fn export(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Response> {
    let me = me::me(&state, &caller).await?;
    let format = format(q.format.as_deref(), &headers)?;
    let doc = export_document(&state, &me, q.from, q.to).await?;
    if format == Format::Csv {
        return Ok(export_csv(doc));
    }
    Ok(axum::Json(doc).into_response())
}

/// The export as one line per value: each list of the document is a section,
/// each of its items a row; the person is the section `person` of one row.
pub(crate) fn export_csv(doc: Value) -> Response {
    let mut lines: Vec<Vec<String>> = Vec::new();
    let mut add = |section: &str, row: usize, item: &Value| match item {
        Value::Object(fields) => {
            for (field, value) in fields {
                lines.push(vec![
                    section.into(),
                    row.to_string(),
                    field.clone(),
                    cell(value),
                ]);
            }
        }
        other => lines.push(vec![
            section.into(),
            row.to_string(),
            String::new(),
            cell(other),
        ]),
    };
    if let Value::Object(top) = &doc {
        if let Some(person) = top.get("person") {
            add("person", 0, person);
        }
        for section in ["workingHours", "activityLog", "usage", "accessRecords"] {
            if let Some(Value::Array(items)) = top.get(section) {
                for (i, item) in items.iter().enumerate() {
                    add(section, i, item);
                }
            }
        }
    }
    csv::attachment(
        "rollcall-export.csv",
        csv::header(&["section", "row", "field", "value"]),
        lines,
    )
}

/// A value as one CSV cell: strings as they are, `null` empty, anything else
/// as its JSON.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Rows of JSON objects as CSV: one column per field (in the order fields
/// first appear), one line per row.
fn values_csv(file_name: &str, rows: Vec<Value>) -> Response {
    let mut columns: Vec<String> = Vec::new();
    for row in &rows {
        if let Value::Object(fields) = row {
            for name in fields.keys() {
                if !columns.contains(name) {
                    columns.push(name.clone());
                }
            }
        }
    }
    let header = columns.clone();
    let lines = rows.into_iter().map(move |row| {
        columns
            .iter()
            .map(|c| row.get(c).map(cell).unwrap_or_default())
            .collect::<Vec<String>>()
    });
    csv::attachment(file_name, header, lines)
}
