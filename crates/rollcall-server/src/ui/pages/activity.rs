//! `GET /ui/activity`: the activity log (SPEC §9.4) with filters (user,
//! computer, group, date, productivity) and paging over the report layer's
//! sealed cursor: "Next page" carries the cursor, so a page never skips or
//! repeats a record even while agents upload.
//!
//! The productivity filter is applied to each page the cursor delivers (the
//! report has no such filter), so a filtered page may hold fewer rows.

use axum::extract::State;
use axum::response::Response;
use maud::html;
use rollcall_core::Scope;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::reports::workforce::{activity_log, ActivityLogParams};
use crate::ui::layout::{local_datetime, page as shell, Nav};
use crate::ui::pages::chosen;
use crate::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityQuery {
    user: Option<String>,
    computer: Option<String>,
    group: Option<String>,
    /// `YYYY-MM-DD`: one local day; today by default.
    date: Option<String>,
    /// `productive`, `unproductive` or `undefined`.
    productivity: Option<String>,
    cursor: Option<String>,
}

const PAGE_SIZE: &str = "100";

pub(crate) fn productivity_name(p: i8) -> &'static str {
    match p {
        1 => "productive",
        -1 => "unproductive",
        _ => "undefined",
    }
}

pub async fn page(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ActivityQuery>,
) -> ApiResult<Response> {
    caller.require(Scope::ReportRead)?;
    let wanted: Option<i8> = match chosen(q.productivity.clone()).as_deref() {
        None => None,
        Some("productive") => Some(1),
        Some("unproductive") => Some(-1),
        Some("undefined") => Some(0),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "productivity must be productive, unproductive or undefined, got '{other}'"
            )))
        }
    };
    let (user, computer, group, date) = (
        chosen(q.user),
        chosen(q.computer),
        chosen(q.group),
        chosen(q.date),
    );
    let tz = crate::reports::account_zone(&state, caller.account_id).await?;
    let groups = state
        .store
        .groups(caller.account_id, caller.viewable_groups.clone())
        .await?;
    let report = activity_log(
        &state,
        &caller,
        ActivityLogParams {
            start_date: date.clone(),
            end_date: date.clone(),
            cursor: chosen(q.cursor.clone()),
            page_size: Some(PAGE_SIZE.into()),
            user_id: user.clone(),
            group_id: group.clone(),
            computer_id: computer.clone(),
            ..ActivityLogParams::default()
        },
    )
    .await?;
    let shown: Vec<_> = report
        .rows
        .iter()
        .filter(|r| wanted.is_none_or(|w| w == r.productivity))
        .collect();
    let next = {
        let mut params = vec![("cursor", report.cursor.clone())];
        for (k, v) in [
            ("user", &user),
            ("computer", &computer),
            ("group", &group),
            ("date", &date),
            ("productivity", &q.productivity),
        ] {
            if let Some(v) = v {
                params.push((k, v.clone()));
            }
        }
        format!(
            "/ui/activity?{}",
            serde_urlencoded::to_string(&params).unwrap_or_default()
        )
    };
    let body = html! {
        form class="filters" method="get" action="/ui/activity" {
            label { "Day" input type="date" name="date" value=(date.clone().unwrap_or_else(|| report.start_date.clone())); }
            label { "User id" input type="number" name="user" min="1" value=(user.clone().unwrap_or_default()); }
            label { "Computer id" input type="number" name="computer" min="1" value=(computer.clone().unwrap_or_default()); }
            label { "Group"
                select name="group" {
                    option value="" selected[group.is_none()] { "Every group you may see" }
                    @for g in &groups { option value=(g.id) selected[group.as_deref() == Some(g.id.to_string().as_str())] { (g.name) } }
                }
            }
            label { "Productivity"
                select name="productivity" {
                    option value="" selected[wanted.is_none()] { "Any" }
                    @for (v, name) in [(1i8, "productive"), (-1, "unproductive"), (0, "undefined")] {
                        option value=(name) selected[wanted == Some(v)] { (name) }
                    }
                }
            }
            button class="primary" type="submit" { "Show" }
        }
        p class="muted" { "Records from " (report.start_date) @if let Some(e) = &report.end_date { " to " (e) } ", in the order they were received; " (shown.len()) " on this page." }
        table id="activity" {
            thead { tr {
                th scope="col" { "Start" } th scope="col" { "User" } th scope="col" { "Computer" }
                th scope="col" { "Application" } th scope="col" { "Title / URL" }
                th scope="col" class="num" { "Seconds" } th scope="col" { "Input" } th scope="col" { "Productivity" }
            } }
            tbody { @for r in &shown { tr data-log=(r.log_id) {
                td { (local_datetime(r.start_ms, &tz)) }
                td { (r.user.name) }
                td { (r.computer.name) }
                td { (report.text.get(r.executable)) }
                td { (report.text.get(r.description)) @if let Some(u) = r.url { br; span class="muted" { (report.text.get(u)) } } }
                td class="num" { (r.duration_s) }
                td { @if r.idle { "passive" } @else { "active" } }
                td { (productivity_name(r.productivity)) }
            } } }
        }
        @if report.rows.len() as u64 >= PAGE_SIZE.parse::<u64>().unwrap_or(100) {
            p { a href=(next) rel="next" { "Next page" } }
        } @else {
            p class="muted" { "End of the log for now; " a href=(next) { "check for newer records" } "." }
        }
    };
    Ok(shell("Activity log", &caller, Nav::Activity, body))
}
