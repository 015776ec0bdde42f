//! `GET /ui`: the overview (SPEC §9.1). Every app the user may see with its
//! provisioned seats, active users over 30 days, engagement, annual spend and
//! potential savings (the licence cost of provisioned users inactive for 30
//! days), a 30-day DAU sparkline each, and the totals.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;
use futures_util::future::try_join_all;
use maud::html;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::NoQuery;
use crate::reports::usage::{self as report, InactiveQuery, SummariesQuery, TrendQuery};
use crate::reports::Money;
use crate::ui::charts::{number, sparkline};
use crate::ui::layout::{money, page as shell, percent, Nav};
use crate::ui::pages::permitted;
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
    let summaries = report::app_summaries(&state, &caller, SummariesQuery::default()).await?;
    let (state_ref, caller_ref) = (&state, &caller);
    // Each app's trend and savings, all apps at once.
    let extras = try_join_all(summaries.apps.iter().map(|app| async move {
        let trend = permitted(
            report::trend(state_ref, caller_ref, &app.app_id, TrendQuery::default()).await,
        )?;
        let inactive = permitted(
            report::inactive_users(
                state_ref,
                caller_ref,
                &app.app_id,
                InactiveQuery {
                    page_size: Some(1),
                    ..InactiveQuery::default()
                },
                false,
            )
            .await,
        )?;
        ApiResult::Ok((trend, inactive))
    }))
    .await?;

    let mut spend = BTreeMap::new();
    let mut savings = BTreeMap::new();
    let (mut seats, mut active) = (0u64, 0u64);
    for (app, (_, inactive)) in summaries.apps.iter().zip(&extras) {
        seats += app.provisioned_users;
        active += app.active_users;
        if let Some(cost) = &app.annual_cost {
            add(&mut spend, cost);
        }
        if let Some(i) = inactive {
            add(&mut savings, &i.potential_savings);
        }
    }
    let body = html! {
        p class="muted" { "Thirty days up to " (summaries.as_of_date) ", the apps you may see." }
        div class="cards" {
            div class="card" { div class="v" { (summaries.apps.len()) } div class="k" { "apps" } }
            div class="card" { div class="v" { (seats) } div class="k" { "provisioned seats" } }
            div class="card" { div class="v" { (money_list(&spend)) } div class="k" { "annual spend" } }
            div class="card" { div class="v" { (money_list(&savings)) } div class="k" { "potential savings" } }
        }
        @if summaries.apps.is_empty() {
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
                    @for (app, (trend, inactive)) in summaries.apps.iter().zip(&extras) {
                        tr data-app=(app.app_id) {
                            td { a href={"/ui/apps/" (app.app_id)} { (app.name) } }
                            td class="num" { (app.provisioned_users) }
                            td class="num" { (app.active_users) }
                            td class="num engagement" { (app.utilization.map(percent).unwrap_or_else(|| "—".into())) }
                            td class="num" { (app.annual_cost.as_ref().map(|m| money(m.amount, &m.currency)).unwrap_or_else(|| "—".into())) }
                            td class="num" { (inactive.as_ref().map(|i| money(i.potential_savings.amount, &i.potential_savings.currency)).unwrap_or_else(|| "—".into())) }
                            td {
                                @if let Some(t) = trend {
                                    @let dau: Vec<f64> = t.series.iter().map(|p| p.dau as f64).collect();
                                    @let low = dau.iter().copied().fold(f64::INFINITY, f64::min);
                                    @let high = dau.iter().copied().fold(0.0, f64::max);
                                    (sparkline(&format!("{}: daily active users from {} to {}, between {} and {} a day", app.name, t.from, t.to, number(if low.is_finite() { low } else { 0.0 }), number(high)), &dau))
                                } @else { "—" }
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
