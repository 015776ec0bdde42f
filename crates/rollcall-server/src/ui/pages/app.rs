//! `GET /ui/apps/{appId}`: one app (SPEC §9.2). Engagement by team (or any org
//! field) for a chosen feature group and window as bars with their sentences,
//! the DAU/WAU/MAU trend, inactive users with a CSV download, right-sizing, and
//! the contract and spend. The choices live in the query string, so a view can
//! be bookmarked and shared; the form works without JavaScript.

use axum::extract::State;
use axum::response::Response;
use maud::{html, Markup};
use rollcall_core::usage_report::ORG_FIELDS;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{Path, Query};
use crate::reports::usage::{self as report, AppPageQuery, EngagementReport, InactiveQuery};
use crate::routes::usage::insights::inactive_users_csv;
use crate::ui::charts::{bars, lines, number, Bar, Series};
use crate::ui::layout::{money, page as shell, percent, Nav};
use crate::ui::pages::{chosen, window, WINDOWS};
use crate::AppState;

/// The page's choices.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppQuery {
    /// A feature group; empty or absent = every event.
    group: Option<String>,
    /// 7, 30 or 90 days.
    window: Option<u32>,
    /// The org field to break engagement down by (`team` by default).
    by: Option<String>,
}

/// Inactive users shown on the page; the CSV has them all.
const INACTIVE_ROWS: u32 = 50;

/// How a segment reads: "83% of Sales" (the value, or "people without a team").
fn segment_name(value: Option<&str>, by: &str) -> String {
    match value {
        Some(v) => v.to_string(),
        None => format!("people without a {by}"),
    }
}

fn engagement_section(e: &EngagementReport, window: u32) -> Markup {
    let rows: Vec<Bar> = e
        .segments
        .iter()
        .map(|s| Bar {
            label: s.value.clone().unwrap_or_else(|| "(none)".into()),
            value: s.percent,
            note: format!(
                "{} of {} ({} of {})",
                percent(s.percent),
                segment_name(s.value.as_deref(), &e.by),
                s.active,
                s.population
            ),
        })
        .collect();
    html! {
        p class="sentence total" {
            strong { (percent(e.total.percent)) } " of the " (e.population) " used it in the last " (window) " days ("
            (e.total.active) " of " (e.total.population) ")"
            @if e.total.outside_population > 0 { "; " (e.total.outside_population) " more people outside the population used it" }
            "."
        }
        (bars("engagement", &format!("Active share by {} over {} days", e.by, window), "Active %", Some(100.0), &rows, &|v| format!("{}%", number(v))))
        ul class="sentences" {
            @for s in &e.segments {
                li class="sentence" data-percent=(s.percent) {
                    (percent(s.percent)) " of " (segment_name(s.value.as_deref(), &e.by)) " used it (" (s.active) " of " (s.population) ")"
                }
            }
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Query(q): Query<AppQuery>,
) -> ApiResult<Response> {
    let w = window(q.window)?;
    let group = chosen(q.group);
    let by = chosen(q.by).unwrap_or_else(|| "team".into());
    // One read of the app for the page's five reports.
    let report::AppPage {
        details,
        engagement,
        trend,
        inactive,
        rightsizing,
    } = report::app_page(
        &state,
        &caller,
        &app_id,
        AppPageQuery {
            group: group.clone(),
            window: w,
            by: by.clone(),
            inactive_rows: INACTIVE_ROWS,
        },
    )
    .await?;
    let s = &details.summary;
    let csv_href = {
        let mut params = vec![("window", w.to_string())];
        if let Some(g) = &group {
            params.push(("group", g.clone()));
        }
        format!(
            "/ui/apps/{}/inactive-users.csv?{}",
            app_id,
            serde_urlencoded::to_string(&params).unwrap_or_default()
        )
    };
    let x_labels: Vec<String> = trend.series.iter().map(|p| p.date.clone()).collect();
    let series = vec![
        Series {
            name: "DAU".into(),
            values: trend.series.iter().map(|p| p.dau as f64).collect(),
        },
        Series {
            name: "WAU".into(),
            values: trend.series.iter().map(|p| p.wau as f64).collect(),
        },
        Series {
            name: "MAU".into(),
            values: trend.series.iter().map(|p| p.mau as f64).collect(),
        },
    ];
    let body = html! {
        @if let Some(d) = &s.description { p class="muted" { (d) } }
        div class="cards" {
            div class="card" { div class="v" { (s.provisioned_users) } div class="k" { "provisioned seats" } }
            div class="card" { div class="v" { (s.active_users) } div class="k" { "active users (30 d)" } }
            div class="card" { div class="v" { (s.utilization.map(percent).unwrap_or_else(|| "—".into())) } div class="k" { "seats in use" } }
            div class="card" { div class="v" { (details.activity.dau) " / " (details.activity.wau) " / " (details.activity.mau) } div class="k" { "DAU / WAU / MAU on " (details.as_of_date) } }
            div class="card" { div class="v" { (s.annual_cost.as_ref().map(|m| money(m.amount, &m.currency)).unwrap_or_else(|| "—".into())) } div class="k" { "annual spend" } }
        }
        form class="filters" method="get" action={"/ui/apps/" (app_id)} {
            label { "Feature group"
                select name="group" {
                    option value="" selected[group.is_none()] { "Every event" }
                    @for g in &details.groups { option value=(g) selected[group.as_deref() == Some(g.as_str())] { (g) } }
                }
            }
            label { "Window"
                select name="window" {
                    @for d in WINDOWS { option value=(d) selected[d == w] { (d) " days" } }
                }
            }
            label { "Break down by"
                select name="by" {
                    @for f in ORG_FIELDS { option value=(f) selected[by == f] { (f) } }
                    @if !ORG_FIELDS.contains(&by.as_str()) { option value=(by) selected { (by) } }
                }
            }
            button class="primary" type="submit" { "Show" }
        }

        h2 { "Engagement" }
        (engagement_section(&engagement, w))

        h2 { "Daily, weekly and monthly active users" }
        (lines("trend", &format!("Active users per day, {} to {}", trend.from, trend.to), "People", &x_labels, &series))

        h2 { "Inactive users" }
        @match &inactive {
            None => p class="muted" { "Your role may not read the users of this app." },
            Some(r) => {
                p {
                    (r.num_users) " " (r.population) " users without activity in the last " (w) " days; their licences cost "
                    strong { (money(r.potential_savings.amount, &r.potential_savings.currency)) } " a year. "
                    a href=(csv_href) download { "Download all as CSV" }
                }
                @if !r.users.is_empty() {
                    table id="inactive" {
                        thead { tr { th scope="col" { "Email" } th scope="col" { "Name" } th scope="col" { "Team" } th scope="col" { "Licence" } th scope="col" { "Last activity" } th scope="col" class="num" { "Annual cost" } } }
                        tbody { @for u in &r.users { tr {
                            td { (u.email) }
                            td { (u.first_name.as_deref().unwrap_or("")) " " (u.last_name.as_deref().unwrap_or("")) }
                            td { (u.team.as_deref().unwrap_or("")) }
                            td { (u.license.as_deref().unwrap_or("")) }
                            td { (u.last_activity.as_deref().unwrap_or("never")) }
                            td class="num" { (u.annual_cost.map(number).unwrap_or_default()) }
                        } } }
                    }
                    @if r.num_users > r.users.len() { p class="muted" { "The first " (r.users.len()) " of " (r.num_users) "; the CSV has them all." } }
                }
            }
        }

        h2 { "Right-sizing" }
        @match &rightsizing {
            None => p class="muted" { "Your role may not read the users of this app." },
            Some(r) if r.users.is_empty() => p { "Every licence matches what its holder used in the last " (w) " days." },
            Some(r) => {
                p { (r.users.len()) " people hold a licence above what they used; moving them saves "
                    strong { (money(r.potential_savings.amount, &r.potential_savings.currency)) } " a year." }
                table id="rightsizing" {
                    thead { tr { th scope="col" { "Email" } th scope="col" { "Licence" } th scope="col" { "Suggested" } th scope="col" { "Features used" } th scope="col" class="num" { "Saving a year" } } }
                    tbody { @for u in &r.users { tr {
                        td { (u.email) } td { (u.license) } td { (u.recommended_license) }
                        td { (u.used_events.join(", ")) }
                        td class="num" { (u.savings.map(number).unwrap_or_default()) }
                    } } }
                }
            }
        }

        h2 { "Contract and spend" }
        @match &s.contract {
            None => p { "No contract in force on " (details.as_of_date) "." },
            Some(c) => table id="contract" { tbody {
                tr { th scope="row" { "Contract" } td { (c.contract_id) @if let Some(v) = &c.vendor { " with " (v) } } }
                tr { th scope="row" { "Term" } td { (c.start_date) " to " (c.end_date) } }
                tr { th scope="row" { "Licences purchased" } td { (c.licenses_purchased) " (" (s.provisioned_users) " provisioned)" } }
                tr { th scope="row" { "Annual cost" } td { (money(c.annual_cost, &c.currency)) } }
            } },
        }
        p { "Spent this year: "
            @if details.fiscal_spend.is_empty() { "nothing recorded" }
            @for (i, m) in details.fiscal_spend.iter().enumerate() { @if i > 0 { " + " } (money(m.amount, &m.currency)) }
            "." }
        @if !details.license_tiers.is_empty() {
            table id="tiers" {
                thead { tr { th scope="col" { "Licence tier" } th scope="col" class="num" { "Holders" } th scope="col" class="num" { "Annual cost each" } } }
                tbody { @for t in &details.license_tiers { tr {
                    td { (t.tier.name) } td class="num" { (t.provisioned_users) }
                    td class="num" { (t.tier.annual_cost.map(|c| money(c, t.tier.currency.as_deref().unwrap_or(""))).unwrap_or_else(|| "—".into())) }
                } } }
            }
        }
    };
    Ok(shell(&s.name, &caller, Nav::None, body))
}

/// `GET /ui/apps/{appId}/inactive-users.csv`: the same download as the API's
/// `Accept: text/csv` (recorded as `DownloadedUsersList`).
pub async fn inactive_csv(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Query(q): Query<AppQuery>,
) -> ApiResult<Response> {
    let w = window(q.window)?;
    inactive_users_csv(
        &state,
        &caller,
        &app_id,
        InactiveQuery {
            group: chosen(q.group),
            rolling_window: Some(w),
            ..InactiveQuery::default()
        },
    )
    .await
}
