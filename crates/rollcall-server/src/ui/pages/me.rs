//! `GET /ui/me` (SPEC §9.7, §11): where an employee lands after login. Their
//! working hours (stacked bars and table), activity log, app usage, who viewed
//! their data (access records), and downloads of everything (JSON, CSV) at
//! `GET /ui/me/export`. Every number comes from [`crate::reports::me`], the
//! same functions as `/me/v1`, and so the admin API's report functions.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use maud::html;
use rollcall_core::time;
use rollcall_store::access_records::AccessKind;
use rollcall_store::now_ms;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::reports::me;
use crate::ui::charts::{stacked_bars, Stack};
use crate::ui::layout::{local_datetime, local_time, page as shell, Nav};
use crate::ui::pages::activity::productivity_name;
use crate::ui::pages::chosen;
use crate::ui::pages::workinghours::{duration, SERIES};
use crate::AppState;

/// Activity-log rows the page shows (the downloads hold them all): keeps the
/// page within its size budget.
const LOG_ROWS_SHOWN: usize = 100;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeQuery {
    /// `YYYY-MM-DD`; six days before `to` by default.
    from: Option<String>,
    /// `YYYY-MM-DD`; today (the account's zone) by default.
    to: Option<String>,
}

fn hours(seconds: i64) -> f64 {
    seconds as f64 / 3600.0
}

/// The page's date range: `to` today by default, `from` six days before it.
fn range(q: MeQuery, today: i32) -> ApiResult<(String, String)> {
    let to = chosen(q.to).unwrap_or_else(|| time::date_of_day_number(today).to_string());
    let from = match chosen(q.from) {
        Some(f) => f,
        None => time::parse_date(&to)
            .map(|d| time::date_of_day_number(time::day_number(d) - 6).to_string())
            .map_err(|m| ApiError::bad_request(format!("to: {m}")))?,
    };
    Ok((from, to))
}

pub async fn page(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<MeQuery>,
) -> ApiResult<Response> {
    let me = me::me(&state, &caller).await?;
    let tz = crate::reports::account_zone(&state, caller.account_id).await?;
    let today = time::day_number(time::local_date(now_ms(), &tz));
    let (from, to) = range(q, today)?;
    let hours_report = me::working_hours(&state, &me, Some(from.clone()), Some(to.clone())).await?;
    let log = me::activity_log(&state, &me, Some(from.clone()), Some(to.clone())).await?;
    let usage = me::usage(&state, &me, Some(to.clone()), None).await?;
    let records = me::access_records(&state, &me).await?;
    let bars: Vec<Stack> = hours_report
        .rows
        .iter()
        .map(|r| Stack {
            label: format!("{} · {}", r.name, time::date_of_day_number(r.day)),
            values: vec![
                hours(r.active.productive),
                hours(r.active.unproductive),
                hours(r.active.undefined),
                hours(r.passive.total),
            ],
        })
        .collect();
    let log_rows: Vec<_> = log
        .pages
        .iter()
        .flat_map(|p| p.rows.iter().map(move |r| (p, r)))
        .take(LOG_ROWS_SHOWN)
        .collect();
    let range_query =
        serde_urlencoded::to_string(vec![("from", &from), ("to", &to)]).unwrap_or_default();
    let body = html! {
        p { "What Rollcall holds about you, " strong { (me.consumer.email) } ", exactly as an administrator sees it." }
        @if me.consumer.logins.is_empty() {
            p class="muted" { "No computer login is linked to you, so there are no working hours or activity records to show." }
        } @else {
            p class="muted" { "Your computer logins: " (me.consumer.logins.join(", ")) }
        }
        form class="filters" method="get" action="/ui/me" {
            label { "From" input type="date" name="from" value=(from); }
            label { "To" input type="date" name="to" value=(to); }
            button class="primary" type="submit" { "Show" }
        }
        section aria-labelledby="downloads" {
            h2 id="downloads" { "Download everything" }
            p {
                a href={"/ui/me/export?format=json&" (range_query)} download { "All your data (JSON)" }
                " · "
                a href={"/ui/me/export?format=csv&" (range_query)} download { "All your data (CSV)" }
            }
        }
        section aria-labelledby="hours-title" {
            h2 id="hours-title" { "Working hours" }
            (stacked_bars("hours", "Your working hours per day", "Hours", &SERIES, &bars, &duration))
            table id="my-hours" {
                thead { tr {
                    th scope="col" { "Login" } th scope="col" { "Day" }
                    th scope="col" class="num" { "Productive" } th scope="col" class="num" { "Unproductive" }
                    th scope="col" class="num" { "Undefined" } th scope="col" class="num" { "Passive" }
                    th scope="col" { "First – last activity" }
                } }
                tbody { @for r in &hours_report.rows {
                    tr data-id=(r.id) data-day=(time::date_of_day_number(r.day)) data-productive=(r.active.productive) {
                        td { (r.name) }
                        td { (time::date_of_day_number(r.day)) }
                        td class="num" { (duration(hours(r.active.productive))) }
                        td class="num" { (duration(hours(r.active.unproductive))) }
                        td class="num" { (duration(hours(r.active.undefined))) }
                        td class="num" { (duration(hours(r.passive.total))) }
                        td { (r.first_activity_ms.map(|m| local_time(m, &tz)).unwrap_or_default()) " – " (r.last_activity_ms.map(|m| local_time(m, &tz)).unwrap_or_default()) }
                    }
                } }
            }
        }
        section aria-labelledby="log-title" {
            h2 id="log-title" { "Activity log" }
            p class="muted" {
                (log.row_count()) " records from " (log.start_date) " to " (log.end_date)
                @if log.row_count() > LOG_ROWS_SHOWN { "; the first " (LOG_ROWS_SHOWN) " are shown here, the downloads hold them all" }
                "."
            }
            table id="my-activity" {
                thead { tr {
                    th scope="col" { "Start" } th scope="col" { "Computer" } th scope="col" { "Application" }
                    th scope="col" { "Title / URL" } th scope="col" class="num" { "Seconds" }
                    th scope="col" { "Input" } th scope="col" { "Productivity" }
                } }
                tbody { @for (p, r) in &log_rows { tr data-log=(r.log_id) {
                    td { (local_datetime(r.start_ms, &tz)) }
                    td { (r.computer.name) }
                    td { (p.text.get(r.executable)) }
                    td { (p.text.get(r.description)) @if let Some(u) = r.url { br; span class="muted" { (p.text.get(u)) } } }
                    td class="num" { (r.duration_s) }
                    td { @if r.idle { "passive" } @else { "active" } }
                    td { (productivity_name(r.productivity)) }
                } } }
            }
        }
        section aria-labelledby="usage-title" {
            h2 id="usage-title" { "App usage" }
            table id="my-usage" {
                thead { tr {
                    th scope="col" { "App" } th scope="col" { "Status" }
                    th scope="col" class="num" { "Active days" } th scope="col" { "Last activity" }
                    th scope="col" { "Licence" }
                } }
                tbody { @for u in &usage { tr data-app=(u.app_id) {
                    td { (u.app_name) }
                    td { (u.row.status) }
                    td class="num" { (u.row.active_days) " of " (u.rolling_window) }
                    td { (u.row.last_activity.clone().unwrap_or_default()) }
                    td { (u.row.license.clone().unwrap_or_default()) }
                } } }
            }
        }
        section aria-labelledby="records-title" {
            h2 id="records-title" { "Who viewed your data" }
            p class="muted" { "Each person who looked at your working hours, activity log or app usage, once per day they did." }
            table id="access-records" {
                thead { tr {
                    th scope="col" { "Viewer" } th scope="col" { "Day" }
                    th scope="col" { "First view" } th scope="col" { "What" }
                } }
                tbody { @for r in &records { tr {
                    td { (r.viewer) }
                    td { (time::date_of_day_number(r.day)) }
                    td { (local_datetime(r.first_ms, &tz)) }
                    td { (AccessKind::of_bits(r.kinds).iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")) }
                } } }
            }
        }
    };
    Ok(shell("My data", &caller, Nav::Me, body))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    from: Option<String>,
    to: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// `GET /ui/me/export`: the `/me/v1/export` download for the session's employee.
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Response> {
    let me = me::me(&state, &caller).await?;
    let csv = match q.format.as_deref() {
        None | Some("") | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format must be json or csv, got '{other}'"
            )))
        }
    };
    let doc = crate::routes::me_export(&state, &me, chosen(q.from), chosen(q.to)).await?;
    if csv {
        return Ok(crate::routes::me_export_csv(doc));
    }
    let mut response = axum::Json(doc).into_response();
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"rollcall-export.json\""),
    );
    Ok(response)
}
