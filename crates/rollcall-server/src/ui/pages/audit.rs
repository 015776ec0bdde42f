//! `GET /ui/audit`: the audit log (SPEC §9.5) with filters (type, actor, time
//! range), each event's detail, and on request the result of verifying the
//! hash chain. The same scope as the API's audit events (`report.read`).
//!
//! Events are read from the store in chain order, 500 at a time; the type and
//! actor filters apply to each batch, and "Next page" resumes after its last
//! event (a position, so nothing is skipped or repeated).

use axum::extract::State;
use axum::response::Response;
use maud::html;
use rollcall_core::{time, Scope};
use rollcall_store::audit::{AuditFilter, AuditPosition, ChainReport};
use rollcall_store::now_ms;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::ui::layout::{local_datetime, page as shell, Nav};
use crate::ui::pages::chosen;
use crate::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// `YYYY-MM-DD`, the account's local day; seven days ago by default.
    from: Option<String>,
    /// `YYYY-MM-DD`, inclusive; today by default.
    to: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    actor: Option<String>,
    /// `ts.seq` of the last event of the previous page.
    after: Option<String>,
    /// Any value: verify the chain.
    verify: Option<String>,
}

/// Events a page shows: 100 with their details stay well within the 200 KB page
/// budget (500 made 298 KB on the benchmark's account); "Next" pages on.
const BATCH: usize = 100;
const DAY_MS: i64 = 24 * 3600 * 1000;

fn parse_after(text: &str) -> ApiResult<AuditPosition> {
    text.split_once('.')
        .and_then(|(ts, seq)| {
            Some(AuditPosition {
                ts_ms: ts.parse().ok()?,
                seq: seq.parse().ok()?,
            })
        })
        .ok_or_else(|| ApiError::bad_request("after must be the position a Next link carries"))
}

pub async fn page(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Response> {
    caller.require(Scope::ReportRead)?;
    let tz = crate::reports::account_zone(&state, caller.account_id).await?;
    let today = time::day_number(time::local_date(now_ms(), &tz));
    let day = |name: &str, v: Option<String>, default: i32| -> ApiResult<i32> {
        match chosen(v) {
            None => Ok(default),
            Some(v) => time::parse_date(&v)
                .map(time::day_number)
                .map_err(|m| ApiError::bad_request(format!("{name}: {m}"))),
        }
    };
    let to = day("to", q.to, today)?;
    let from = day("from", q.from, to - 6)?;
    if to < from {
        return Err(ApiError::bad_request("to must not be before from"));
    }
    let start_ms = time::start_of_day_ms(time::date_of_day_number(from), &tz);
    let end_ms =
        time::start_of_day_ms(time::date_of_day_number(to + 1), &tz).max(start_ms + DAY_MS / 24);
    let after = match chosen(q.after) {
        Some(a) => parse_after(&a)?,
        None => AuditPosition::before(start_ms),
    };
    let (event_type, actor) = (chosen(q.event_type), chosen(q.actor));
    // The same filters as the API's, applied by the store, so every page of
    // the result is full.
    let filter = AuditFilter {
        event_type: event_type.clone(),
        user_id: actor.as_deref().map(str::to_lowercase),
    };
    let events = state
        .store
        .audit_events(caller.account_id, after, end_ms, &filter, BATCH)
        .await?;
    let shown: Vec<_> = events.iter().collect();
    let verification = match q.verify {
        None => None,
        Some(_) => Some(state.store.verify_audit_chain().await?),
    };
    let (from_text, to_text) = (
        time::date_of_day_number(from).to_string(),
        time::date_of_day_number(to).to_string(),
    );
    let link = |extra: (&'static str, String)| {
        let mut params = vec![("from", from_text.clone()), ("to", to_text.clone()), extra];
        for (k, v) in [("type", &event_type), ("actor", &actor)] {
            if let Some(v) = v {
                params.push((k, v.clone()));
            }
        }
        format!(
            "/ui/audit?{}",
            serde_urlencoded::to_string(&params).unwrap_or_default()
        )
    };
    let next = events
        .last()
        .filter(|_| events.len() == BATCH)
        .map(|e| link(("after", format!("{}.{}", e.ts_ms, e.seq))));
    let body = html! {
        form class="filters" method="get" action="/ui/audit" {
            label { "From" input type="date" name="from" value=(from_text); }
            label { "To" input type="date" name="to" value=(to_text); }
            label { "Event type" input type="text" name="type" value=(event_type.clone().unwrap_or_default()) placeholder="LoggedIn"; }
            label { "Actor" input type="text" name="actor" value=(actor.clone().unwrap_or_default()) placeholder="email"; }
            button class="primary" type="submit" { "Show" }
        }
        section aria-labelledby="chain" {
            h2 id="chain" { "Hash chain" }
            @match &verification {
                None => p { "The log is hash-chained: altering or deleting an event breaks the chain. "
                    a href=(link(("verify", "1".into()))) { "Verify the chain now" } },
                Some(ChainReport::Intact { events, .. }) => p id="verification" class="ok" { "Verified: the chain is intact (" (events) " events checked)." },
                Some(ChainReport::Broken { account_id, seq, id, reason }) if *account_id == caller.account_id =>
                    p id="verification" class="error" role="alert" { "Broken at event " (seq) @if let Some(id) = id { " (" (id) ")" } ": " (reason) },
                Some(ChainReport::Broken { .. }) => p id="verification" class="error" role="alert" {
                    "Verification stopped at another account's broken chain before reaching this one; the operator should run rollcall audit verify." },
            }
        }
        h2 { "Events" }
        p class="muted" { (shown.len()) " events shown, " (from_text) " to " (to_text) "." }
        table id="audit" {
            thead { tr { th scope="col" { "Time" } th scope="col" { "Type" } th scope="col" { "Actor" } th scope="col" { "Detail" } } }
            tbody { @for e in &shown { tr data-type=(e.event_type) {
                td { (local_datetime(e.ts_ms, &tz)) }
                td { (e.event_type) }
                td { (e.user_id) }
                td {
                    details {
                        summary { "Event " (e.id) }
                        dl {
                            dt { "Recorded" } dd { (time::format_ms(e.ts_ms)) }
                            dt { "Position in chain" } dd { (e.seq) }
                            @if let Some(p) = &e.properties {
                                dt { "Properties" } dd { pre { (serde_json::to_string_pretty(p).unwrap_or_default()) } }
                            }
                        }
                    }
                }
            } } }
        }
        @if let Some(n) = next { p { a href=(n) rel="next" { "Next page" } } }
    };
    Ok(shell("Audit log", &caller, Nav::Audit, body))
}
