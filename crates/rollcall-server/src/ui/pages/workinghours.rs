//! `GET /ui/workinghours`: working hours (SPEC §9.3) per user (or, with
//! `view=computers`, per computer) and day as stacked bars of productive,
//! unproductive and undefined active time and passive time, with filters by
//! group, user, computer and date range. Each row links to that day's detail in
//! the activity log. The numbers are the report layer's (the API's
//! `/api/v1/workinghours`), classified at query time, so a classification change
//! shows here at once.

use axum::extract::State;
use axum::response::Response;
use maud::html;
use rollcall_core::{time, Scope};
use rollcall_store::now_ms;
use rollcall_store::workforce::Perspective;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::reports::workforce::{working_hours, WorkingHoursParams};
use crate::ui::charts::{stacked_bars, Stack};
use crate::ui::layout::{local_time, page as shell, Nav};
use crate::ui::pages::chosen;
use crate::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoursQuery {
    /// `YYYY-MM-DD`; six days before `to` by default.
    from: Option<String>,
    /// `YYYY-MM-DD`; today (the account's zone) by default.
    to: Option<String>,
    group: Option<String>,
    user: Option<String>,
    computer: Option<String>,
    /// `users` (default) or `computers`.
    view: Option<String>,
    page: Option<String>,
}

/// Rows per page.
const ROWS_PER_PAGE: &str = "50";

pub const SERIES: [&str; 4] = ["Productive", "Unproductive", "Undefined", "Passive"];

fn hours(seconds: i64) -> f64 {
    seconds as f64 / 3600.0
}

/// Hours and minutes, as people read durations.
pub fn duration(h: f64) -> String {
    let minutes = (h * 60.0).round() as i64;
    format!("{}h{:02}", minutes / 60, minutes % 60)
}

pub async fn page(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<HoursQuery>,
) -> ApiResult<Response> {
    caller.require(Scope::ReportRead)?;
    let perspective = match q.view.as_deref() {
        None | Some("") | Some("users") => Perspective::Users,
        Some("computers") => Perspective::Computers,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "view must be users or computers, got '{other}'"
            )))
        }
    };
    let tz = crate::reports::account_zone(&state, caller.account_id).await?;
    let today = time::day_number(time::local_date(now_ms(), &tz));
    let to = chosen(q.to).unwrap_or_else(|| time::date_of_day_number(today).to_string());
    let from = match chosen(q.from) {
        Some(f) => f,
        None => time::parse_date(&to)
            .map(|d| time::date_of_day_number(time::day_number(d) - 6).to_string())
            .map_err(|m| ApiError::bad_request(format!("to: {m}")))?,
    };
    let (group, user, computer) = (chosen(q.group), chosen(q.user), chosen(q.computer));
    let groups = state
        .store
        .groups(caller.account_id, caller.viewable_groups.clone())
        .await?;
    let report = working_hours(
        &state,
        &caller,
        perspective,
        WorkingHoursParams {
            from: Some(from.clone()),
            to: Some(to.clone()),
            page: chosen(q.page),
            // 50 rows keep a page (chart, its table, the rows) within 200 KB with assets.
            page_size: Some(ROWS_PER_PAGE.into()),
            user_id: user.clone(),
            group_id: group.clone(),
            computer_id: computer.clone(),
            ..WorkingHoursParams::default()
        },
    )
    .await?;
    let computers_view = perspective == Perspective::Computers;
    let rows: Vec<Stack> = report
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
    let view_value = if computers_view { "computers" } else { "users" };
    let pages = report.total.div_ceil(u64::from(report.page_size.max(1)));
    let link = |page: u32| {
        let mut params = vec![
            ("from", from.clone()),
            ("to", to.clone()),
            ("view", view_value.to_string()),
            ("page", page.to_string()),
        ];
        for (k, v) in [("group", &group), ("user", &user), ("computer", &computer)] {
            if let Some(v) = v {
                params.push((k, v.clone()));
            }
        }
        format!(
            "/ui/workinghours?{}",
            serde_urlencoded::to_string(&params).unwrap_or_default()
        )
    };
    let body = html! {
        form class="filters" method="get" action="/ui/workinghours" {
            label { "From" input type="date" name="from" value=(from); }
            label { "To" input type="date" name="to" value=(to); }
            label { "Group"
                select name="group" {
                    option value="" selected[group.is_none()] { "Every group you may see" }
                    @for g in &groups { option value=(g.id) selected[group.as_deref() == Some(g.id.to_string().as_str())] { (g.name) } }
                }
            }
            label { "User id" input type="number" name="user" min="1" value=(user.clone().unwrap_or_default()); }
            label { "Computer id" input type="number" name="computer" min="1" value=(computer.clone().unwrap_or_default()); }
            label { "View"
                select name="view" {
                    option value="users" selected[!computers_view] { "Users" }
                    option value="computers" selected[computers_view] { "Computers" }
                }
            }
            button class="primary" type="submit" { "Show" }
        }
        p class="muted" { (report.total) " rows from " (from) " to " (to) " (the account's local days)." }
        (stacked_bars("hours", &format!("Working hours per {} and day", if computers_view { "computer" } else { "user" }), "Hours", &SERIES, &rows, &duration))
        table id="hours" {
            thead { tr {
                th scope="col" { (if computers_view { "Computer" } else { "User" }) }
                th scope="col" { "Day" }
                th scope="col" class="num" { "Productive" }
                th scope="col" class="num" { "Unproductive" }
                th scope="col" class="num" { "Undefined" }
                th scope="col" class="num" { "Passive" }
                th scope="col" { "First – last activity" }
                th scope="col" { "Detail" }
            } }
            tbody { @for r in &report.rows {
                @let day = time::date_of_day_number(r.day).to_string();
                tr data-id=(r.id) data-day=(day) data-productive=(r.active.productive) {
                    td { (r.name) }
                    td { (day) }
                    td class="num" { (duration(hours(r.active.productive))) }
                    td class="num" { (duration(hours(r.active.unproductive))) }
                    td class="num" { (duration(hours(r.active.undefined))) }
                    td class="num" { (duration(hours(r.passive.total))) }
                    td { (r.first_activity_ms.map(|m| local_time(m, &tz)).unwrap_or_default()) " – " (r.last_activity_ms.map(|m| local_time(m, &tz)).unwrap_or_default()) }
                    td { a href={"/ui/activity?" (if computers_view { "computer" } else { "user" }) "=" (r.id) "&date=" (day)} { "Day detail" } }
                }
            } }
        }
        @if pages > 1 {
            nav aria-label="Pages" { p {
                @if report.page > 1 { a href=(link(report.page - 1)) { "Previous page" } " " }
                "Page " (report.page) " of " (pages)
                @if u64::from(report.page) < pages { " " a href=(link(report.page + 1)) { "Next page" } }
            } }
        }
    };
    Ok(shell("Working hours", &caller, Nav::WorkingHours, body))
}
