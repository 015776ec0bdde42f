//! `GET /ui`: the overview (SPEC §9.1). Every app the user may see with its
//! provisioned seats, active users over 30 days, engagement, annual spend and
//! potential savings (the licence cost of provisioned users inactive for 30
//! days), a 30-day DAU sparkline each, and the totals.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;
use maud::html;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::NoQuery;
use crate::reports::usage::{self as report, OverviewApp};
use crate::reports::Money;
use crate::ui::charts::{number, sparkline};
use crate::ui::layout::{money, page as shell, percent, Nav};
use crate::AppState;

/// Sums amounts per currency (apps may be billed in different ones).
fn add(totals: &mut BTreeMap<String, f64>, m: &Money) {
    *totals.entry(m.currency.clone()).or_default() += m.amount;
}

fn money_list(totals: &BTreeMap<String, f64>) -> String {
    if totals.is_empty() {
        return "—".into();
    }
    totals
        .iter()
        .map(|(c, a)| money(*a, c))
        .collect::<Vec<_>>()
        .join(" + ")
}

pub async fn page(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
) -> ApiResult<Response> {
    // Every app's summary, trend and savings from one read of its data.
    let overview = report::overview(&state, &caller).await?;
    let mut spend = BTreeMap::new();
    let mut savings = BTreeMap::new();
    let (mut seats, mut active) = (0u64, 0u64);
    for app in &overview.apps {
        seats += app.summary.provisioned_users;
        active += app.summary.active_users;
        if let Some(cost) = &app.summary.annual_cost {
            add(&mut spend, cost);
        }
        if let Some(s) = &app.potential_savings {
            add(&mut savings, s);
        }
    }
    let body = html! {
        p class="muted" { "Thirty days up to " (overview.as_of_date) ", the apps you may see." }
        div class="cards" {
            div class="card" { div class="v" { (overview.apps.len()) } div class="k" { "apps" } }
            div class="card" { div class="v" { (seats) } div class="k" { "provisioned seats" } }
            div class="card" { div class="v" { (money_list(&spend)) } div class="k" { "annual spend" } }
            div class="card" { div class="v" { (money_list(&savings)) } div class="k" { "potential savings" } }
        }
        @if overview.apps.is_empty() {
            p { "No apps yet. An administrator adds them under Admin, or with the API." }
        } @else {
            table id="apps" {
                caption class="visually-hidden" { "Apps, their seats, use and spend" }
                thead { tr {
                    th scope="col" { "App" }
                    th scope="col" class="num" { "Provisioned seats" }
                    th scope="col" class="num" { "Active users (30 d)" }
                    th scope="col" class="num" { "Engagement" }
                    th scope="col" class="num" { "Annual spend" }
                    th scope="col" class="num" { "Potential savings" }
                    th scope="col" { "Daily active users (30 d)" }
                } }
                tbody {
                    @for OverviewApp { summary: app, daily_active_users, potential_savings } in &overview.apps {
                        tr data-app=(app.app_id) {
                            td { a href={"/ui/apps/" (app.app_id)} { (app.name) } }
                            td class="num" { (app.provisioned_users) }
                            td class="num" { (app.active_users) }
                            td class="num engagement" { (app.utilization.map(percent).unwrap_or_else(|| "—".into())) }
                            td class="num" { (app.annual_cost.as_ref().map(|m| money(m.amount, &m.currency)).unwrap_or_else(|| "—".into())) }
                            td class="num" { (potential_savings.as_ref().map(|s| money(s.amount, &s.currency)).unwrap_or_else(|| "—".into())) }
                            td {
                                @let dau: Vec<f64> = daily_active_users.iter().map(|&n| n as f64).collect();
                                @let low = dau.iter().copied().fold(f64::INFINITY, f64::min);
                                @let high = dau.iter().copied().fold(0.0, f64::max);
                                (sparkline(&format!("{}: daily active users from {} to {}, between {} and {} a day", app.name, overview.from_date, overview.as_of_date, number(if low.is_finite() { low } else { 0.0 }), number(high)), &dau))
                            }
                        }
                    }
                }
                tfoot { tr {
                    td { "Total" }
                    td class="num" { (seats) }
                    td class="num" { (active) }
                    td class="num" { "" }
                    td class="num" { (money_list(&spend)) }
                    td class="num" { (money_list(&savings)) }
                    td { "" }
                } }
            }
            p class="muted" { "Engagement is the share of provisioned users active in the 30 days. Potential savings is the licence cost of provisioned users without activity in them." }
        }
    };
    Ok(shell("Overview", &caller, Nav::Overview, body))
}
