//! Insights (SPEC §4 "pull"): app summaries and details, per-user usage, engagement
//! by an org field, inactive users (JSON or CSV), the DAU/WAU/MAU trend and licence
//! right-sizing. Every figure comes from the rollups through
//! `rollcall_core::usage_report`; days are local days of the account's time zone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use jiff::tz::TimeZone;
use rollcall_core::usage::{self, AppDefinition, ROLLING_WINDOWS};
use rollcall_core::usage_report::{self, Directory, EventFilter, Member, Timeline, ORG_FIELDS};
use rollcall_core::{time, token, Scope};
use rollcall_store::audit::AuditEntry;
use rollcall_store::now_ms;
use rollcall_store::usage::{AppRecord, InsightData, ProvisionedUser};
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

/// The app's rollups from `from_day` on, after the caller's checks.
async fn load(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    from_day: i32,
    group: Option<&str>,
) -> ApiResult<InsightData> {
    caller.require_app(app_id)?;
    let (period, _) = usage::period_of(from_day);
    Ok(state
        .store
        .insight_data(caller.account_id, app_id, period, group.map(String::from))
        .await?)
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

/// Figures shared by the app summaries and the app details.
struct Summary {
    provisioned: u64,
    active: u64,
    licenses_purchased: Option<i64>,
    annual_cost: Option<f64>,
    currency: String,
    contract: Option<rollcall_store::money::ContractSummary>,
}

async fn summarise(
    state: &AppState,
    account_id: i64,
    data: &InsightData,
    timelines: &HashMap<String, Timeline>,
    as_of: i32,
) -> ApiResult<Summary> {
    let def = &data.app.definition;
    let dir = directory(data);
    let provisioned: HashSet<&str> = data
        .provisioned
        .iter()
        .map(|u| dir.resolve(&u.email))
        .collect();
    let active = timelines
        .values()
        .filter(|t| t.active(as_of - 29, as_of))
        .count() as u64;
    let contract = state
        .store
        .contract_summary(account_id, &data.app.app_id, &date_text(as_of))
        .await?;
    let tier_cost: f64 = data
        .provisioned
        .iter()
        .filter_map(|u| licence_cost(def, u.license.as_deref()))
        .sum();
    let has_tier_costs = def.license_tiers.iter().any(|t| t.annual_cost.is_some());
    let (annual_cost, currency) = match &contract {
        Some(c) => (Some(c.annual_cost), c.currency.clone()),
        None if has_tier_costs => (Some(round2(tier_cost)), def.currency()),
        None => (None, def.currency()),
    };
    Ok(Summary {
        provisioned: provisioned.len() as u64,
        active,
        licenses_purchased: contract.as_ref().map(|c| c.licenses_purchased),
        annual_cost,
        currency,
        contract,
    })
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
    let mut apps = Vec::new();
    for app in state.store.list_apps(caller.account_id).await? {
        if !caller.may_see_app(&app.app_id) {
            continue;
        }
        let data = load(&state, &caller, &app.app_id, as_of - 29, None).await?;
        let dir = directory(&data);
        let t = usage_report::timelines(&data.rows, &dir, &EventFilter::Any);
        let s = summarise(&state, caller.account_id, &data, &t, as_of).await?;
        apps.push(summary_json(&data.app, &s));
    }
    Ok(axum::Json(json!({
        "success": true,
        "AsOfDate": date_text(as_of),
        "asOfDate": date_text(as_of),
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
    let data = load(&state, &caller, &app_id, as_of - 29, None).await?;
    let dir = directory(&data);
    let t = usage_report::timelines(&data.rows, &dir, &EventFilter::Any);
    let s = summarise(&state, caller.account_id, &data, &t, as_of).await?;
    let activity = usage_report::activity_on(&t, as_of);
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
    let mut per_tier: HashMap<&str, u64> = HashMap::new();
    for u in &data.provisioned {
        if let Some(l) = u.license.as_deref() {
            *per_tier.entry(l).or_default() += 1;
        }
    }
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
    // Whole history, so that Inactive and NeverUsed can be told apart.
    let data = load(
        &state,
        &caller,
        &app_id,
        oldest_day(&state, &caller, &tz).await?,
        None,
    )
    .await?;
    let def = &data.app.definition;
    let dir = directory(&data);
    let all = usage_report::timelines(&data.rows, &dir, &EventFilter::Any);
    let groups = def.groups();
    let per_group: Vec<(String, HashMap<String, Timeline>)> = groups
        .iter()
        .map(|g| {
            let f = EventFilter::for_group(def, Some(g)).unwrap_or(EventFilter::Any);
            (g.clone(), usage_report::timelines(&data.rows, &dir, &f))
        })
        .collect();
    let mut provisioned: HashMap<String, &ProvisionedUser> = HashMap::new();
    for u in &data.provisioned {
        provisioned
            .entry(dir.resolve(&u.email).to_string())
            .or_insert(u);
    }
    let mut keys: Vec<String> = match source {
        "provisioned" => provisioned.keys().cloned().collect(),
        "events" => all.keys().cloned().collect(),
        "employees" => dir.people.iter().map(|p| p.email.clone()).collect(),
        _ => provisioned.keys().chain(all.keys()).cloned().collect(),
    };
    keys.sort_unstable();
    keys.dedup();
    let start = match &after {
        Some(a) => keys.partition_point(|k| k <= a),
        None => 0,
    };
    let page: Vec<&String> = keys.iter().skip(start).take(size as usize).collect();
    let mut out = Vec::with_capacity(page.len());
    for key in &page {
        let t = all.get(*key);
        let status = match t {
            Some(t) if t.active(from, as_of) => "Active",
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
            "lastActivity": t.and_then(|t| t.last_ms).map(time::format_ms),
            "activeDays": t.map_or(0, |t| t.days(from, as_of)),
            "groups": per_group.iter().map(|(g, tl)| {
                let t = tl.get(*key);
                json!({
                    "group": g,
                    "activeDays": t.map_or(0, |t| t.days(from, as_of)),
                    "lastActivity": t.and_then(|t| t.last_ms).map(time::format_ms),
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

/// The population members and their value of `by`.
fn population(data: &InsightData, dir: &Directory, which: &str, by: &str) -> Vec<Member> {
    let value = |key: &str| dir.person(key).and_then(|p| p.field(by)).map(String::from);
    match which {
        "provisioned" => data
            .provisioned
            .iter()
            .map(|u| {
                let key = dir.resolve(&u.email).to_string();
                Member {
                    value: value(&key),
                    key,
                }
            })
            .collect(),
        _ => dir
            .people
            .iter()
            .map(|p| Member {
                key: p.email.clone(),
                value: p.field(by).map(String::from),
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
    let data = load(&state, &caller, &app_id, from, q.group.as_deref()).await?;
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
    let filter = group_filter(&data.app.definition, q.group.as_deref())?;
    let dir = directory(&data);
    let t = usage_report::timelines(&data.rows, &dir, &filter);
    let members = population(&data, &dir, &which, &by);
    let e = usage_report::engagement(&members, &t, from, as_of);
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
    // Whole history: lastActivity may be older than the window.
    let data = load(
        &state,
        &caller,
        &app_id,
        oldest_day(&state, &caller, &tz).await?,
        q.group.as_deref(),
    )
    .await?;
    let def = &data.app.definition;
    let filter = group_filter(def, q.group.as_deref())?;
    let dir = directory(&data);
    let t = usage_report::timelines(&data.rows, &dir, &filter);
    let mut licences: HashMap<String, &ProvisionedUser> = HashMap::new();
    for u in &data.provisioned {
        licences
            .entry(dir.resolve(&u.email).to_string())
            .or_insert(u);
    }
    let mut inactive: BTreeMap<String, Value> = BTreeMap::new();
    let mut savings = 0.0;
    for m in population(&data, &dir, &which, "team") {
        if inactive.contains_key(&m.key) || t.get(&m.key).is_some_and(|t| t.active(from, as_of)) {
            continue;
        }
        let p = dir.person(&m.key);
        let pu = licences.get(&m.key);
        let license = pu.and_then(|u| u.license.clone());
        let cost = licence_cost(def, license.as_deref());
        savings += cost.unwrap_or(0.0);
        inactive.insert(
            m.key.clone(),
            json!({
                "email": m.key,
                "appUserId": pu.map(|u| u.app_user_id.clone()),
                "firstName": p.and_then(|p| p.first_name.clone()),
                "lastName": p.and_then(|p| p.last_name.clone()),
                "team": p.and_then(|p| p.team.clone()),
                "license": license,
                "lastActivity": t.get(&m.key).and_then(|t| t.last_ms).map(time::format_ms),
                "annualCost": cost,
            }),
        );
    }
    let currency = def.currency();
    if wants_csv(&headers) {
        let mut out = csv::Writer::from_writer(Vec::new());
        let cols = [
            "email",
            "firstName",
            "lastName",
            "team",
            "license",
            "lastActivity",
            "annualCost",
        ];
        out.write_record(cols).map_err(ApiError::internal)?;
        for u in inactive.values() {
            let row: Vec<String> = cols
                .iter()
                .map(|c| match &u[*c] {
                    Value::Null => String::new(),
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            out.write_record(&row).map_err(ApiError::internal)?;
        }
        let bytes = out.into_inner().map_err(ApiError::internal)?;
        state
            .store
            .record_audit(
                caller.account_id,
                &caller.actor_email,
                AuditEntry::with(
                    "DownloadedUsersList",
                    json!({"appId": app_id, "app": def.name, "report": "inactive-users", "users": inactive.len()}),
                ),
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
    let total = inactive.len();
    let rest: Vec<(&String, &Value)> = match &after {
        Some(a) => inactive
            .range::<String, _>((
                std::ops::Bound::Excluded(a.clone()),
                std::ops::Bound::Unbounded,
            ))
            .collect(),
        None => inactive.iter().collect(),
    };
    let page: Vec<(&String, &Value)> = rest.iter().take(size as usize).cloned().collect();
    let mut body = json!({
        "success": true,
        "appId": app_id,
        "group": q.group,
        "rollingWindow": w,
        "asOfDate": date_text(as_of),
        "population": which,
        "numUsers": total,
        "users": page.iter().map(|(_, v)| (*v).clone()).collect::<Vec<_>>(),
        "potentialSavings": {"amount": round2(savings), "currency": currency},
    });
    if rest.len() > page.len() {
        if let Some((last, _)) = page.last() {
            body["nextPageToken"] = json!(seal_page(&state, &caller, &app_id, &fingerprint, last));
        }
    }
    Ok(axum::Json(body).into_response())
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
    let data = load(&state, &caller, &app_id, from - 29, q.group.as_deref()).await?;
    let filter = group_filter(&data.app.definition, q.group.as_deref())?;
    let dir = directory(&data);
    let t = usage_report::timelines(&data.rows, &dir, &filter);
    let series: Vec<Value> = usage_report::trend(&t, from, to)
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
    let data = load(&state, &caller, &app_id, from, None).await?;
    let def = &data.app.definition;
    let dir = directory(&data);
    // Per person, the events used in the window.
    let mut used: HashMap<String, HashSet<String>> = HashMap::new();
    for r in &data.rows {
        if usage::active_in(r.period, r.bits, from, as_of) {
            used.entry(dir.resolve(&r.email).to_string())
                .or_default()
                .insert(r.event.clone());
        }
    }
    let empty = HashSet::new();
    let mut users = Vec::new();
    let mut savings = 0.0;
    let mut seen = HashSet::new();
    for u in &data.provisioned {
        let key = dir.resolve(&u.email).to_string();
        let Some(held) = u.license.as_deref().and_then(|l| def.tier(l)) else {
            continue;
        };
        if !seen.insert(key.clone()) {
            continue;
        }
        let events = used.get(&key).unwrap_or(&empty);
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
