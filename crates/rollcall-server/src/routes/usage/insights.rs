//! Insights (SPEC §4 "pull"): app summaries and details, per-user usage, engagement
//! by an org field, inactive users (JSON or CSV), the DAU/WAU/MAU trend and licence
//! right-sizing. Every figure comes from the per-(event, day) activity bitmaps through
//! `rollcall_core::usage_bits`, counted per person (aliases resolved by email id);
//! days are local days of the account's time zone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use jiff::tz::TimeZone;
use rollcall_core::fxhash::FxHashMap;
use rollcall_core::usage::{self, AppDefinition, ROLLING_WINDOWS};
use rollcall_core::usage_bits::{self, DailyPeople, Member, SlotSet};
use rollcall_core::usage_report::{self, Directory, EventFilter, ORG_FIELDS};
use rollcall_core::{time, token, Scope};
use rollcall_store::audit::AuditAction;
use rollcall_store::now_ms;
use rollcall_store::usage::{AppRecord, EventSel, InsightData, InsightQuery, ProvisionedUser};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::account_zone;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{NoQuery, Path, Query};
use crate::AppState;

const PAGE_PURPOSE: &str = "usage-insights-page";
const MAX_TREND_DAYS: i32 = 366;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/pull/v3/apps", get(app_summaries))
        .route("/pull/v2/apps/{app_id}", get(app_details))
        .route("/pull/v1/apps/{app_id}/users", get(users))
        .route("/pull/v1/apps/{app_id}/engagement", get(engagement))
        .route("/pull/v1/apps/{app_id}/inactive-users", get(inactive_users))
        .route("/pull/v1/apps/{app_id}/trend", get(trend))
        .route("/pull/v1/apps/{app_id}/rightsizing", get(rightsizing))
}

fn today(tz: &TimeZone) -> i32 {
    time::day_number(time::local_date(now_ms(), tz))
}

fn date_text(day: i32) -> String {
    time::date_of_day_number(day).to_string()
}

fn parse_day(value: Option<&str>, name: &str, default: i32) -> ApiResult<i32> {
    match value {
        None => Ok(default),
        Some(v) => time::parse_date(v)
            .map(time::day_number)
            .map_err(|m| ApiError::bad_request(format!("{name}: {m}"))),
    }
}

fn window(value: Option<u32>, default: u32) -> ApiResult<i32> {
    let w = value.unwrap_or(default);
    if ROLLING_WINDOWS.contains(&w) {
        Ok(w as i32)
    } else {
        Err(ApiError::bad_request(format!(
            "rollingWindow must be one of 1, 7, 30, 60, 90 (got {w})"
        )))
    }
}

fn group_filter(def: &AppDefinition, group: Option<&str>) -> ApiResult<EventFilter> {
    EventFilter::for_group(def, group).map_err(ApiError::bad_request)
}

/// Far enough in the future to cover any stored day ("whole history" reads).
const LAST_DAY: i32 = i32::MAX / 2;

/// What an insight needs of the app, after the caller's checks.
async fn load(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    query: InsightQuery,
) -> ApiResult<InsightData> {
    caller.require_app(app_id)?;
    Ok(state
        .store
        .insight_data(caller.account_id, app_id, query)
        .await?)
}

/// The bitmaps of the group's events (every event when `group` is `None`).
fn sel(group: Option<&str>) -> EventSel {
    match group {
        Some(g) => EventSel::Group(g.to_string()),
        None => EventSel::Any,
    }
}

/// The people active on at least one day of `from..=to` (of the loaded events).
fn active_between(data: &InsightData, from: i32, to: i32) -> SlotSet {
    let mut bits = Vec::new();
    for b in data.days.iter().filter(|b| (from..=to).contains(&b.day)) {
        usage_bits::or_into(&mut bits, &b.bits);
    }
    data.resolver.persons(&bits)
}

/// Per day of `from..=to`, the people active that day on the events `filter` keeps.
fn daily(data: &InsightData, filter: &EventFilter, from: i32, to: i32) -> DailyPeople {
    let mut per_day: BTreeMap<i32, Vec<u8>> = BTreeMap::new();
    for b in data.days.iter().filter(|b| {
        (from..=to).contains(&b.day) && (b.event.is_empty() || filter.matches(&b.event))
    }) {
        usage_bits::or_into(per_day.entry(b.day).or_default(), &b.bits);
    }
    per_day
        .into_iter()
        .map(|(d, bits)| (d, data.resolver.persons(&bits)))
        .collect()
}

/// Per person (slot), the latest event timestamp.
fn person_last_ms(data: &InsightData) -> SlotTimes {
    let mut out = SlotTimes(Vec::new());
    for (&id, &ms) in &data.last_ms {
        let slot = data.resolver.slot_of_id(id);
        if out.0.len() <= slot {
            out.0.resize(slot + 1, i64::MIN);
        }
        out.0[slot] = out.0[slot].max(ms);
    }
    out
}

/// A timestamp per slot (slots are dense: people, then emails outside the org chart).
struct SlotTimes(Vec<i64>);

impl SlotTimes {
    fn get(&self, slot: usize) -> Option<i64> {
        self.0.get(slot).copied().filter(|&ms| ms != i64::MIN)
    }

    /// The slots that have a timestamp.
    fn slots(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.0.len()).filter(|&s| self.0[s] != i64::MIN)
    }
}

/// The latest activity of a person on a feature group: the group's last active day
/// comes from the bitmaps; the timestamp is the person's exact latest one when it
/// falls on that day, else the start of that day (the store keeps exact timestamps
/// per (app, email), not per event).
fn group_last_ms(last_day: Option<i32>, overall_ms: Option<i64>, tz: &TimeZone) -> Option<i64> {
    let day = last_day?;
    match overall_ms {
        Some(ms) if time::day_number(time::local_date(ms, tz)) == day => Some(ms),
        _ => Some(time::start_of_day_ms(time::date_of_day_number(day), tz)),
    }
}

/// The oldest local day that can hold usage: events older than the account's
/// usage retention are refused, so "whole history" starts there.
async fn oldest_day(state: &AppState, caller: &Caller, tz: &TimeZone) -> ApiResult<i32> {
    let settings = state.store.settings(caller.account_id).await?;
    Ok(today(tz) - settings.usage_retention_days.min(100_000) as i32 - 1)
}

fn directory(data: &InsightData) -> Arc<Directory> {
    data.org
        .as_ref()
        .map(|o| Arc::clone(&o.directory))
        .unwrap_or_default()
}

/// A licence's annual cost, when the licence names a tier with a cost.
fn licence_cost(def: &AppDefinition, license: Option<&str>) -> Option<f64> {
    license
        .and_then(|l| def.tier(l))
        .and_then(|t| t.annual_cost)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// What the app summaries and the app details read: the 30 days up to `as_of`.
fn summary_query(as_of: i32) -> InsightQuery {
    InsightQuery {
        from_day: as_of - 29,
        to_day: as_of,
        events: EventSel::Any,
        last_activity: false,
        provisioned: false,
        provisioned_summary: true,
    }
}

/// Figures shared by the app summaries and the app details.
struct Summary {
    provisioned: u64,
    active: u64,
    licenses_purchased: Option<i64>,
    annual_cost: Option<f64>,
    currency: String,
    contract: Option<rollcall_store::money::ContractSummary>,
}

fn summarise(
    data: &InsightData,
    contract: Option<rollcall_store::money::ContractSummary>,
    as_of: i32,
) -> Summary {
    let def = &data.app.definition;
    let ps = &data.provisioned_summary;
    let active = active_between(data, as_of - 29, as_of).count();
    let tier_cost: f64 = ps
        .per_license
        .iter()
        .filter_map(|(l, &n)| licence_cost(def, Some(l)).map(|c| c * n as f64))
        .sum();
    let has_tier_costs = def.license_tiers.iter().any(|t| t.annual_cost.is_some());
    let (annual_cost, currency) = match &contract {
        Some(c) => (Some(c.annual_cost), c.currency.clone()),
        None if has_tier_costs => (Some(round2(tier_cost)), def.currency()),
        None => (None, def.currency()),
    };
    Summary {
        provisioned: ps.people,
        active,
        licenses_purchased: contract.as_ref().map(|c| c.licenses_purchased),
        annual_cost,
        currency,
        contract,
    }
}

fn summary_json(app: &AppRecord, s: &Summary) -> Value {
    let d = &app.definition;
    // Utilisation: active users over licences purchased, else over provisioned users.
    let base = s
        .licenses_purchased
        .filter(|&n| n > 0)
        .map(|n| n as u64)
        .unwrap_or(s.provisioned);
    json!({
        "appId": app.app_id,
        "name": d.name,
        "status": app.status,
        "category": d.category,
        "description": d.description,
        "sso": d.sso,
        "provisionedUsers": s.provisioned,
        "activeUsers": s.active,
        "licensesPurchased": s.licenses_purchased,
        "utilization": if base == 0 { Value::Null } else { json!(usage::percent(s.active, base)) },
        "annualCost": s.annual_cost.map(|a| json!({"amount": a, "currency": s.currency})),
    })
}

async fn app_summaries(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Scope::AppsRead)?;
    let tz = account_zone(&state, caller.account_id).await?;
    // The latest complete day.
    let as_of = today(&tz) - 1;
    let app_ids: Vec<String> = state
        .store
        .list_apps(caller.account_id)
        .await?
        .into_iter()
        .map(|app| app.app_id)
        .filter(|app_id| caller.may_see_app(app_id))
        .collect();
    // Every app's bitmaps and contract, each kind in one store call.
    let query = summary_query(as_of);
    let as_of_text = date_text(as_of);
    let (data, contracts) = tokio::try_join!(
        state
            .store
            .insight_data_of_apps(caller.account_id, app_ids.clone(), query),
        state
            .store
            .contract_summaries(caller.account_id, app_ids, &as_of_text),
    )?;
    let apps: Vec<Value> = data
        .iter()
        .zip(contracts)
        .map(|(data, contract)| summary_json(&data.app, &summarise(data, contract, as_of)))
        .collect();
    Ok(axum::Json(json!({
        "success": true,
        "AsOfDate": as_of_text,
        "asOfDate": as_of_text,
        "apps": apps,
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DetailsQuery {
    as_of_date: Option<String>,
}

async fn app_details(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Query(q): Query<DetailsQuery>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Scope::AppsRead)?;
    let tz = account_zone(&state, caller.account_id).await?;
    let as_of = parse_day(q.as_of_date.as_deref(), "asOfDate", today(&tz) - 1)?;
    let data = load(&state, &caller, &app_id, summary_query(as_of)).await?;
    let contract = state
        .store
        .contract_summary(caller.account_id, &app_id, &date_text(as_of))
        .await?;
    let s = summarise(&data, contract, as_of);
    let activity =
        usage_bits::activity_on(&daily(&data, &EventFilter::Any, as_of - 29, as_of), as_of);
    let year_start = time::start_of_day_ms(time::date_of_day_number(as_of).first_of_year(), &tz);
    let spend = state
        .store
        .spend_totals(caller.account_id, &app_id, year_start, now_ms())
        .await?;
    let def = &data.app.definition;
    let mut body = summary_json(&data.app, &s);
    body["success"] = json!(true);
    body["AsOfDate"] = json!(date_text(as_of));
    body["asOfDate"] = json!(date_text(as_of));
    body["activity"] = json!({
        "dau": activity.dau,
        "wau": activity.wau,
        "mau": activity.mau,
        "stickiness": usage::percent(activity.dau, activity.mau),
    });
    body["contract"] = match &s.contract {
        None => Value::Null,
        Some(c) => json!({
            "contractId": c.contract_id,
            "vendor": c.vendor,
            "startDate": c.start_date,
            "endDate": c.end_date,
            "licensesPurchased": c.licenses_purchased,
            "annualCost": c.annual_cost,
            "currency": c.currency,
        }),
    };
    body["fiscalSpend"] = json!(spend
        .iter()
        .map(|x| json!({"amount": x.amount, "currency": x.currency}))
        .collect::<Vec<_>>());
    let per_tier = &data.provisioned_summary.per_license;
    body["licenseTiers"] = json!(def
        .license_tiers
        .iter()
        .map(|t| json!({
            "name": t.name,
            "tier": t.tier,
            "features": t.features,
            "annualCost": t.annual_cost,
            "currency": t.currency,
            "provisionedUsers": per_tier.get(t.name.as_str()).copied().unwrap_or(0),
        }))
        .collect::<Vec<_>>());
    body["groups"] = json!(def.groups());
    Ok(axum::Json(body))
}

/// A sealed page position, bound to the query it came from.
#[derive(Serialize, Deserialize)]
struct Page {
    account: i64,
    app: String,
    query: String,
    after: String,
}

fn query_fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..8])
}

fn open_page(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    fingerprint: &str,
    token_text: Option<&str>,
    name: &str,
) -> ApiResult<Option<String>> {
    let Some(t) = token_text else {
        return Ok(None);
    };
    let page: Page = token::open(state.store.token_key(), PAGE_PURPOSE, t)
        .map_err(|e| ApiError::bad_request(format!("{name}: {e}")))?;
    if page.account != caller.account_id || page.app != app_id || page.query != fingerprint {
        return Err(ApiError::bad_request(format!(
            "{name} belongs to a different query; repeat the query's parameters unchanged"
        )));
    }
    Ok(Some(page.after))
}

fn seal_page(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    fingerprint: &str,
    after: &str,
) -> String {
    token::seal(
        state.store.token_key(),
        PAGE_PURPOSE,
        &Page {
            account: caller.account_id,
            app: app_id.to_string(),
            query: fingerprint.to_string(),
            after: after.to_string(),
        },
    )
}

fn org_json(p: Option<&usage_report::Employee>) -> Value {
    match p {
        None => json!({"firstName": null, "lastName": null, "team": null, "location": null,
                       "title": null, "managerEmail": null, "costCenter": null, "customFields": {}}),
        Some(p) => json!({"firstName": p.first_name, "lastName": p.last_name, "team": p.team,
                          "location": p.location, "title": p.title, "managerEmail": p.manager_email,
                          "costCenter": p.cost_center, "customFields": p.custom_fields}),
    }
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UsersQuery {
    as_of_date: Option<String>,
    rolling_window: Option<u32>,
    data_source: Option<String>,
    after: Option<String>,
    page_size: Option<u32>,
}

/// `/pull/v1/apps/{appId}/users`: per user of the app, status and activity.
/// `dataSource`: `all` (provisioned users and everyone with events, the default),
/// `provisioned`, `events`, or `employees` (the whole org chart).
async fn users(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Query(q): Query<UsersQuery>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Scope::UsersRead)?;
    let tz = account_zone(&state, caller.account_id).await?;
    let as_of = parse_day(q.as_of_date.as_deref(), "asOfDate", today(&tz))?;
    let w = window(q.rolling_window, 30)?;
    let source = q.data_source.as_deref().unwrap_or("all");
    if !["all", "provisioned", "events", "employees"].contains(&source) {
        return Err(ApiError::bad_request(
            "dataSource must be all, provisioned, events or employees",
        ));
    }
    let size = q.page_size.unwrap_or(100);
    if !(1..=1000).contains(&size) {
        return Err(ApiError::bad_request("pageSize must be between 1 and 1000"));
    }
    let from = as_of - w + 1;
    let fingerprint = query_fingerprint(&[&as_of.to_string(), &w.to_string(), source]);
    let after = open_page(
        &state,
        &caller,
        &app_id,
        &fingerprint,
        q.after.as_deref(),
        "after",
    )?;
    // Whole history, so that Inactive and NeverUsed can be told apart and each
    // group's last activity found.
    let data = load(
        &state,
        &caller,
        &app_id,
        InsightQuery {
            from_day: oldest_day(&state, &caller, &tz).await?,
            to_day: LAST_DAY,
            events: EventSel::All,
            last_activity: true,
            provisioned: true,
            provisioned_summary: false,
        },
    )
    .await?;
    let def = &data.app.definition;
    let dir = directory(&data);
    let (emails, resolver) = (&data.emails, &data.resolver);
    let last = person_last_ms(&data);
    let all = daily(&data, &EventFilter::Any, from, as_of);
    let per_group: Vec<(String, DailyPeople)> = def
        .groups()
        .into_iter()
        .map(|g| {
            let f = EventFilter::for_group(def, Some(&g)).unwrap_or(EventFilter::Any);
            let d = daily(&data, &f, i32::MIN, LAST_DAY);
            (g, d)
        })
        .collect();
    let mut provisioned: FxHashMap<&str, &ProvisionedUser> = FxHashMap::default();
    for u in data.provisioned.iter() {
        provisioned.entry(dir.resolve(&u.email)).or_insert(u);
    }
    let mut keys: Vec<&str> = match source {
        "provisioned" => provisioned.keys().copied().collect(),
        "events" => last
            .slots()
            .map(|s| resolver.key(s, &dir, emails))
            .collect(),
        "employees" => dir.people.iter().map(|p| p.email.as_str()).collect(),
        _ => provisioned
            .keys()
            .copied()
            .chain(last.slots().map(|s| resolver.key(s, &dir, emails)))
            .collect(),
    };
    keys.sort_unstable();
    keys.dedup();
    let start = match &after {
        Some(a) => keys.partition_point(|k| *k <= a.as_str()),
        None => 0,
    };
    let page: Vec<&str> = keys
        .iter()
        .skip(start)
        .take(size as usize)
        .copied()
        .collect();
    let mut out = Vec::with_capacity(page.len());
    for key in &page {
        let slot = resolver.slot_of_email(&dir, emails, key);
        let last_ms = slot.and_then(|s| last.get(s));
        let days = |d: &DailyPeople| slot.map_or(0, |s| usage_bits::active_days(d, from, as_of, s));
        let status = match last_ms {
            _ if days(&all) > 0 => "Active",
            Some(_) => "Inactive",
            None => "NeverUsed",
        };
        let p = provisioned.get(*key);
        let mut u = json!({
            "email": key,
            "appUserId": p.map(|u| u.app_user_id.clone()),
            "username": p.and_then(|u| u.username.clone()),
            "license": p.and_then(|u| u.license.clone()),
            "provisioned": p.is_some(),
            "status": status,
            "lastActivity": last_ms.map(time::format_ms),
            "activeDays": days(&all),
            "groups": per_group.iter().map(|(g, d)| {
                let last_day = slot.and_then(|s| {
                    d.iter().rev().find(|(_, set)| set.contains(s)).map(|(&day, _)| day)
                });
                json!({
                    "group": g,
                    "activeDays": days(d),
                    "lastActivity": group_last_ms(last_day, last_ms, &tz).map(time::format_ms),
                })
            }).collect::<Vec<_>>(),
        });
        merge(&mut u, org_json(dir.person(key)));
        out.push(u);
    }
    let mut body = json!({
        "success": true,
        "appId": app_id,
        "asOfDate": date_text(as_of),
        "rollingWindow": w,
        "dataSource": source,
        "numUsers": keys.len(),
        "users": out,
    });
    if start + page.len() < keys.len() {
        if let Some(last) = page.last() {
            body["nextPageToken"] = json!(seal_page(&state, &caller, &app_id, &fingerprint, last));
        }
    }
    Ok(axum::Json(body))
}

/// The population members, their slots and their value of `by`.
fn population<'a>(
    data: &'a InsightData,
    dir: &'a Directory,
    which: &str,
    by: &str,
) -> Vec<Member<'a>> {
    match which {
        "provisioned" => data
            .provisioned
            .iter()
            .map(|u| {
                let key = dir.resolve(&u.email);
                Member {
                    key,
                    slot: data.resolver.slot_of_email(dir, &data.emails, key),
                    value: dir.person(key).and_then(|p| p.field(by)),
                }
            })
            .collect(),
        _ => dir
            .people
            .iter()
            .enumerate()
            .map(|(i, p)| Member {
                key: p.email.as_str(),
                slot: Some(i),
                value: p.field(by),
            })
            .collect(),
    }
}

fn check_population(value: Option<&str>, default: &'static str) -> ApiResult<String> {
    let p = value.unwrap_or(default);
    if p == "employees" || p == "provisioned" {
        Ok(p.to_string())
    } else {
        Err(ApiError::bad_request(
            "population must be employees or provisioned",
        ))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EngagementQuery {
    group: Option<String>,
    rolling_window: Option<u32>,
    as_of_date: Option<String>,
    by: Option<String>,
    population: Option<String>,
}

async fn engagement(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Query(q): Query<EngagementQuery>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Scope::AppsRead)?;
    let tz = account_zone(&state, caller.account_id).await?;
    let as_of = parse_day(q.as_of_date.as_deref(), "asOfDate", today(&tz))?;
    let w = window(q.rolling_window, 30)?;
    let which = check_population(q.population.as_deref(), "employees")?;
    let by = q.by.clone().unwrap_or_else(|| "team".to_string());
    let from = as_of - w + 1;
    let data = load(
        &state,
        &caller,
        &app_id,
        InsightQuery {
            from_day: from,
            to_day: as_of,
            events: sel(q.group.as_deref()),
            last_activity: false,
            provisioned: which == "provisioned",
            provisioned_summary: false,
        },
    )
    .await?;
    let custom = data
        .org
        .as_ref()
        .map(|o| o.custom_fields.clone())
        .unwrap_or_default();
    if !ORG_FIELDS.contains(&by.as_str()) && !custom.contains(&by) {
        return Err(ApiError::bad_request(format!(
            "by must be one of team, location, title, managerEmail, costCenter{}",
            custom.iter().map(|c| format!(", {c}")).collect::<String>()
        )));
    }
    group_filter(&data.app.definition, q.group.as_deref())?;
    let dir = directory(&data);
    let members = population(&data, &dir, &which, &by);
    let e = usage_bits::engagement(&members, &active_between(&data, from, as_of));
    Ok(axum::Json(json!({
        "success": true,
        "appId": app_id,
        "group": q.group,
        "rollingWindow": w,
        "asOfDate": date_text(as_of),
        "by": by,
        "population": which,
        "total": e.total,
        "segments": e.segments,
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InactiveQuery {
    group: Option<String>,
    rolling_window: Option<u32>,
    as_of_date: Option<String>,
    population: Option<String>,
    page_token: Option<String>,
    page_size: Option<u32>,
}

fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"))
}

async fn inactive_users(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<InactiveQuery>,
) -> ApiResult<Response> {
    caller.require(Scope::UsersRead)?;
    let tz = account_zone(&state, caller.account_id).await?;
    let as_of = parse_day(q.as_of_date.as_deref(), "asOfDate", today(&tz))?;
    let w = window(q.rolling_window, 30)?;
    let which = check_population(q.population.as_deref(), "provisioned")?;
    let size = q.page_size.unwrap_or(1000);
    if !(1..=1000).contains(&size) {
        return Err(ApiError::bad_request("pageSize must be between 1 and 1000"));
    }
    let from = as_of - w + 1;
    let fingerprint = query_fingerprint(&[
        &as_of.to_string(),
        &w.to_string(),
        &which,
        q.group.as_deref().unwrap_or("\u{1}"),
    ]);
    let after = open_page(
        &state,
        &caller,
        &app_id,
        &fingerprint,
        q.page_token.as_deref(),
        "pageToken",
    )?;
    // Whole history of the group: its lastActivity may be older than the window.
    // Without a group the exact per-email latest timestamps suffice.
    let data = load(
        &state,
        &caller,
        &app_id,
        InsightQuery {
            from_day: if q.group.is_some() {
                oldest_day(&state, &caller, &tz).await?
            } else {
                from
            },
            to_day: if q.group.is_some() { LAST_DAY } else { as_of },
            events: sel(q.group.as_deref()),
            last_activity: true,
            provisioned: true,
            provisioned_summary: false,
        },
    )
    .await?;
    let def = &data.app.definition;
    group_filter(def, q.group.as_deref())?;
    let dir = directory(&data);
    let active = active_between(&data, from, as_of);
    let last = person_last_ms(&data);
    // The group's last active day per person (only needed with a group).
    let group_days = if q.group.is_some() {
        usage_bits::last_days(&daily(&data, &EventFilter::Any, i32::MIN, LAST_DAY))
    } else {
        HashMap::new()
    };
    let mut candidates = inactive_candidates(&data, &dir, which == "provisioned");
    candidates.retain(|c| !c.slot.is_some_and(|s| active.contains(s)));
    // By key for paging; the stable sort keeps a key's first candidate first.
    candidates.sort_by(|a, b| a.key.cmp(b.key));
    candidates.dedup_by(|later, first| later.key == first.key);
    let mut savings = 0.0;
    let rows: Vec<InactiveUser<'_>> = candidates
        .into_iter()
        .map(|c| {
            let overall = c.slot.and_then(|s| last.get(s));
            let last_ms = if q.group.is_some() {
                let day = c.slot.and_then(|s| group_days.get(&s).copied());
                group_last_ms(day, overall, &tz)
            } else {
                overall
            };
            let cost = licence_cost(def, c.licence.and_then(|u| u.license.as_deref()));
            savings += cost.unwrap_or(0.0);
            InactiveUser::new(c, last_ms, cost)
        })
        .collect();
    if wants_csv(&headers) {
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record([
            "email",
            "firstName",
            "lastName",
            "team",
            "license",
            "lastActivity",
            "annualCost",
        ])
        .map_err(ApiError::internal)?;
        for u in &rows {
            out.write_record([
                u.email,
                u.first_name.unwrap_or_default(),
                u.last_name.unwrap_or_default(),
                u.team.unwrap_or_default(),
                u.license.unwrap_or_default(),
                u.last_activity.as_deref().unwrap_or_default(),
                &u.annual_cost
                    .map(|c| Value::from(c).to_string())
                    .unwrap_or_default(),
            ])
            .map_err(ApiError::internal)?;
        }
        let bytes = out.into_inner().map_err(ApiError::internal)?;
        state
            .store
            .record_audit(
                caller.account_id,
                &caller.actor(),
                AuditAction::DownloadedUsersList {
                    app_id: app_id.clone(),
                    app: def.name.clone(),
                    report: "inactive-users",
                    users: rows.len(),
                },
            )
            .await?;
        let mut response = bytes.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        response.headers_mut().insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"inactive-users.csv\""),
        );
        return Ok(response);
    }
    let rest = match &after {
        Some(a) => &rows[rows.partition_point(|u| u.email <= a.as_str())..],
        None => &rows[..],
    };
    let page = &rest[..rest.len().min(size as usize)];
    let next_page_token = match page.last() {
        Some(last) if rest.len() > page.len() => Some(seal_page(
            &state,
            &caller,
            &app_id,
            &fingerprint,
            last.email,
        )),
        _ => None,
    };
    // Serialized straight from structs: a page holds up to 1,000 users.
    let body = serde_json::to_vec(&InactivePage {
        success: true,
        app_id: &app_id,
        group: q.group.as_deref(),
        rolling_window: w,
        as_of_date: date_text(as_of),
        population: &which,
        num_users: rows.len(),
        users: page,
        potential_savings: Savings {
            amount: round2(savings),
            currency: def.currency(),
        },
        next_page_token,
    })
    .map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Someone who may be reported inactive: a member of the population, resolved
/// against the org chart once.
struct Candidate<'a> {
    /// The person's primary email, or the email itself outside the org chart.
    key: &'a str,
    slot: Option<usize>,
    person: Option<&'a usage_report::Employee>,
    licence: Option<&'a ProvisionedUser>,
}

/// The population's members in its order: the provisioned users (each with its
/// own licence), or every employee with the licence of their first provisioned user.
fn inactive_candidates<'a>(
    data: &'a InsightData,
    dir: &'a Directory,
    provisioned: bool,
) -> Vec<Candidate<'a>> {
    let users = data
        .provisioned
        .iter()
        .map(|u| match dir.index_of(&u.email) {
            Some(i) => Candidate {
                key: dir.people[i].email.as_str(),
                slot: Some(i),
                person: Some(&dir.people[i]),
                licence: Some(u),
            },
            None => Candidate {
                key: u.email.as_str(),
                slot: data
                    .emails
                    .id(&u.email)
                    .map(|id| data.resolver.slot_of_id(id)),
                person: None,
                licence: Some(u),
            },
        });
    if provisioned {
        return users.collect();
    }
    let mut licences: FxHashMap<&str, &ProvisionedUser> = FxHashMap::default();
    for c in users {
        if let Some(u) = c.licence {
            licences.entry(c.key).or_insert(u);
        }
    }
    dir.people
        .iter()
        .enumerate()
        .map(|(i, p)| Candidate {
            key: p.email.as_str(),
            slot: Some(i),
            person: Some(p),
            licence: licences.get(p.email.as_str()).copied(),
        })
        .collect()
}

/// One row of the inactive-users report (JSON and CSV).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InactiveUser<'a> {
    email: &'a str,
    app_user_id: Option<&'a str>,
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    team: Option<&'a str>,
    license: Option<&'a str>,
    last_activity: Option<String>,
    annual_cost: Option<f64>,
}

impl<'a> InactiveUser<'a> {
    fn new(c: Candidate<'a>, last_ms: Option<i64>, annual_cost: Option<f64>) -> Self {
        InactiveUser {
            email: c.key,
            app_user_id: c.licence.map(|u| u.app_user_id.as_str()),
            first_name: c.person.and_then(|p| p.first_name.as_deref()),
            last_name: c.person.and_then(|p| p.last_name.as_deref()),
            team: c.person.and_then(|p| p.team.as_deref()),
            license: c.licence.and_then(|u| u.license.as_deref()),
            last_activity: last_ms.map(time::format_ms),
            annual_cost,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InactivePage<'a> {
    success: bool,
    app_id: &'a str,
    group: Option<&'a str>,
    rolling_window: i32,
    as_of_date: String,
    population: &'a str,
    num_users: usize,
    users: &'a [InactiveUser<'a>],
    potential_savings: Savings,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

#[derive(Serialize)]
struct Savings {
    amount: f64,
    currency: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TrendQuery {
    group: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

async fn trend(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Query(q): Query<TrendQuery>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Scope::AppsRead)?;
    let tz = account_zone(&state, caller.account_id).await?;
    let to = parse_day(q.to.as_deref(), "to", today(&tz))?;
    let from = parse_day(q.from.as_deref(), "from", to - 29)?;
    if from > to {
        return Err(ApiError::bad_request("from must not be after to"));
    }
    if to - from + 1 > MAX_TREND_DAYS {
        return Err(ApiError::bad_request(format!(
            "from..to spans more than {MAX_TREND_DAYS} days; ask for a shorter range"
        )));
    }
    let data = load(
        &state,
        &caller,
        &app_id,
        InsightQuery {
            from_day: from - 29,
            to_day: to,
            events: sel(q.group.as_deref()),
            last_activity: false,
            provisioned: false,
            provisioned_summary: false,
        },
    )
    .await?;
    group_filter(&data.app.definition, q.group.as_deref())?;
    let d = daily(&data, &EventFilter::Any, from - 29, to);
    let series: Vec<Value> = usage_bits::trend(&d, from, to)
        .into_iter()
        .map(|d| json!({"date": date_text(d.day), "dau": d.dau, "wau": d.wau, "mau": d.mau}))
        .collect();
    Ok(axum::Json(json!({
        "success": true,
        "appId": app_id,
        "group": q.group,
        "from": date_text(from),
        "to": date_text(to),
        "series": series,
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RightsizingQuery {
    rolling_window: Option<u32>,
    as_of_date: Option<String>,
}

async fn rightsizing(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Query(q): Query<RightsizingQuery>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Scope::UsersRead)?;
    let tz = account_zone(&state, caller.account_id).await?;
    let as_of = parse_day(q.as_of_date.as_deref(), "asOfDate", today(&tz))?;
    let w = window(q.rolling_window, 90)?;
    let from = as_of - w + 1;
    let data = load(
        &state,
        &caller,
        &app_id,
        InsightQuery {
            from_day: from,
            to_day: as_of,
            events: EventSel::All,
            last_activity: false,
            provisioned: true,
            provisioned_summary: false,
        },
    )
    .await?;
    let def = &data.app.definition;
    let dir = directory(&data);
    // Per event, the email ids that did it in the window; then per person, the events.
    let mut per_event: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    for b in data.days.iter().filter(|b| (from..=as_of).contains(&b.day)) {
        usage_bits::or_into(per_event.entry(b.event.as_str()).or_default(), &b.bits);
    }
    let mut used: HashMap<usize, HashSet<String>> = HashMap::new();
    for (event, bits) in &per_event {
        for slot in data.resolver.persons(bits).iter() {
            used.entry(slot).or_default().insert(event.to_string());
        }
    }
    let empty = HashSet::new();
    let mut users = Vec::new();
    let mut savings = 0.0;
    let mut seen = HashSet::new();
    for u in data.provisioned.iter() {
        let key = dir.resolve(&u.email).to_string();
        let Some(held) = u.license.as_deref().and_then(|l| def.tier(l)) else {
            continue;
        };
        if !seen.insert(key.clone()) {
            continue;
        }
        let events = data
            .resolver
            .slot_of_email(&dir, &data.emails, &key)
            .and_then(|s| used.get(&s))
            .unwrap_or(&empty);
        let Some(needed) = usage_report::needed_tier(def, events) else {
            continue;
        };
        if needed.tier >= held.tier {
            continue;
        }
        let saving = match (held.annual_cost, needed.annual_cost) {
            (Some(h), Some(n)) => Some(round2(h - n)),
            (Some(h), None) => Some(h),
            _ => None,
        };
        savings += saving.unwrap_or(0.0);
        let mut events: Vec<&String> = events.iter().collect();
        events.sort();
        users.push(json!({
            "email": key,
            "appUserId": u.app_user_id,
            "license": held.name,
            "recommendedLicense": needed.name,
            "usedEvents": events,
            "annualCost": held.annual_cost,
            "recommendedAnnualCost": needed.annual_cost,
            "savings": saving,
        }));
    }
    Ok(axum::Json(json!({
        "success": true,
        "appId": app_id,
        "rollingWindow": w,
        "asOfDate": date_text(as_of),
        "users": users,
        "potentialSavings": {"amount": round2(savings), "currency": def.currency()},
    })))
}
