//! Usage reports (SPEC §4 "pull"): app summaries and details, per-user usage,
//! engagement by an org field, inactive users, the DAU/WAU/MAU trend and licence
//! right-sizing. Every figure comes from the per-(event, day) activity bitmaps
//! through `rollcall_core::usage_bits` and `usage_trend`, counted per person
//! (aliases resolved by email id); days are local days of the account's time zone.
//!
//! Each report checks the caller once ([`super::access`]) and computes from data
//! already cut down to the people the caller may see.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use jiff::tz::TimeZone;
use rollcall_core::fxhash::FxHashMap;
use rollcall_core::usage::{self, AppDefinition, ROLLING_WINDOWS};
use rollcall_core::usage_bits::{self, DailyPeople, Member, Resolver, SlotSet, Who};
use rollcall_core::usage_report::{
    self, group_last_ms, licence_cost, round2, Directory, Employee, EventFilter, FieldValues,
    Segment, Total, ORG_FIELDS,
};
use rollcall_core::usage_trend::{self, DailyIds};
use rollcall_core::{time, token, Scope};
use rollcall_store::access_records::AccessKind;
use rollcall_store::money::ContractSummary;
use rollcall_store::now_ms;
use rollcall_store::usage::{
    AppRecord, EventSel, InsightData, InsightQuery, ProvisionedUser, NO_PERSON,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::access;

mod licences;
mod listing;
mod populations;
mod users;
use super::{account_zone, Money};
use crate::access_log::Subject;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
pub use licences::LicenceCache;
use licences::Licences;
pub use listing::ListingCache;
pub use populations::PopulationCache;
pub use users::{users, users_among, GroupActivity, UserRow, UsersQuery, UsersReport};

const PAGE_PURPOSE: &str = "usage-insights-page";
const MAX_TREND_DAYS: i32 = 366;

fn today(tz: &TimeZone) -> i32 {
    time::day_number(time::local_date(now_ms(), tz))
}

/// `YYYY-MM-DD` of a day number.
pub fn date_text(day: i32) -> String {
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

/// What a report on one app needs, after the caller's one check: scope, the
/// app's visibility, then only the people of the caller's groups.
async fn load(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
    app_id: &str,
    query: InsightQuery,
) -> ApiResult<InsightData> {
    access::check(caller, scope, Some(app_id))?;
    let query = with_restriction(caller, query);
    let (data, visible) = tokio::try_join!(
        async {
            Ok::<_, ApiError>(
                state
                    .store
                    .insight_data(caller.account_id, app_id, query)
                    .await?,
            )
        },
        access::visible_people(state, caller),
    )?;
    Ok(visible.restrict(&state.restrictions, caller.account_id, data))
}

/// `query` as a caller's view needs it: a viewer limited to groups recounts the
/// provisioned users it may see, so it reads the list itself.
fn with_restriction(caller: &Caller, mut query: InsightQuery) -> InsightQuery {
    query.provisioned |= caller.viewable_groups.is_some();
    query
}

/// Several reads of one app for the reports of one page, after the caller's
/// check for `scope`: queries over the same events are merged into one read (the
/// union of their days and of what else they ask), and every read happens in one
/// store call. Entry `i` of the answer is the data for `queries[i]`; a report
/// given more days than it asked for only looks at its own ([`daily`] and
/// [`active_between`] take explicit days), so its answer is the same.
async fn load_many(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
    app_id: &str,
    queries: &[InsightQuery],
) -> ApiResult<Vec<Arc<InsightData>>> {
    access::check(caller, scope, Some(app_id))?;
    let (merged, index) = merge(queries);
    let merged = merged
        .into_iter()
        .map(|q| with_restriction(caller, q))
        .collect();
    let (data, visible) = tokio::try_join!(
        async {
            Ok::<_, ApiError>(
                state
                    .store
                    .insight_data_many(caller.account_id, app_id, merged)
                    .await?,
            )
        },
        access::visible_people(state, caller),
    )?;
    let data: Vec<Arc<InsightData>> = visible
        .restrict_all(&state.restrictions, caller.account_id, data)
        .into_iter()
        .map(Arc::new)
        .collect();
    Ok(index.into_iter().map(|i| Arc::clone(&data[i])).collect())
}

/// `queries` with those over the same events merged: the merged queries, and
/// for each query the index of the one that answers it.
fn merge(queries: &[InsightQuery]) -> (Vec<InsightQuery>, Vec<usize>) {
    let mut merged: Vec<InsightQuery> = Vec::new();
    let mut index = Vec::with_capacity(queries.len());
    for q in queries {
        match merged.iter().position(|m| m.events == q.events) {
            Some(i) => {
                let m = &mut merged[i];
                m.from_day = m.from_day.min(q.from_day);
                m.to_day = m.to_day.max(q.to_day);
                m.last_activity |= q.last_activity;
                m.provisioned |= q.provisioned;
                m.provisioned_summary |= q.provisioned_summary;
                index.push(i);
            }
            None => {
                index.push(merged.len());
                merged.push(q.clone());
            }
        }
    }
    (merged, index)
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
        b.or_into(&mut bits);
    }
    data.resolver.persons(&bits)
}

/// Per day of `from..=to`, the people active that day on the events `filter` keeps.
fn daily(data: &InsightData, filter: &EventFilter, from: i32, to: i32) -> DailyPeople {
    let mut per_day: BTreeMap<i32, Vec<u8>> = BTreeMap::new();
    for b in data.days.iter().filter(|b| {
        (from..=to).contains(&b.day) && (b.event.is_empty() || filter.matches(&b.event))
    }) {
        b.or_into(per_day.entry(b.day).or_default());
    }
    per_day
        .into_iter()
        .map(|(d, bits)| (d, data.resolver.persons(&bits)))
        .collect()
}

/// Per day of `from..=to`, the email ids active that day on any event (people
/// are counted from them by `usage_trend`, without resolving each id).
fn daily_ids(data: &InsightData, from: i32, to: i32) -> DailyIds {
    let mut daily = DailyIds::new(from, to);
    for b in &data.days {
        b.add_to(&mut daily);
    }
    daily
}

/// The email ids of `slots`' people, as (id, index in `slots`).
fn ids_of_slots(data: &InsightData, dir: &Directory, slots: &[Option<usize>]) -> Vec<(u32, usize)> {
    let mut ids = Vec::new();
    for (i, slot) in slots.iter().enumerate() {
        if let Some(s) = slot {
            ids.extend(
                data.resolver
                    .ids_of(*s, dir, &data.emails)
                    .into_iter()
                    .map(|id| (id, i)),
            );
        }
    }
    ids
}

/// Per slot of `slots`, the latest day up to `to` on which a loaded bitmap
/// holds one of its emails: a bit test per (bitmap, email) of these people
/// only, instead of resolving everyone on every day.
fn last_days_of(
    data: &InsightData,
    dir: &Directory,
    to: i32,
    slots: &[Option<usize>],
) -> Vec<Option<i32>> {
    let ids = ids_of_slots(data, dir, slots);
    let mut last = vec![None::<i32>; slots.len()];
    for b in data.days.iter().filter(|b| b.day <= to) {
        for &(id, i) in &ids {
            if b.contains(id) {
                last[i] = Some(last[i].map_or(b.day, |d| d.max(b.day)));
            }
        }
    }
    last
}

/// Per person (slot), the latest event timestamp.
fn person_last_ms(data: &InsightData) -> SlotTimes {
    let mut out = SlotTimes(Vec::new());
    for (id, ms) in data.last_ms.iter() {
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

/// `last` without any time after `as_of`: the store keeps each email's latest
/// timestamp ever, so for a past `as_of` a later one is replaced by the start of
/// the person's last active day up to `as_of` (from the loaded bitmaps), or
/// dropped when there is none (issue 19 #12).
/// `from` is the first day the report reads.
fn bounded_last(
    data: &InsightData,
    mut last: SlotTimes,
    from: i32,
    as_of: i32,
    tz: &TimeZone,
) -> SlotTimes {
    let end_ms = time::start_of_day_ms(time::date_of_day_number(as_of + 1), tz);
    if last.0.iter().all(|&ms| ms < end_ms) {
        return last;
    }
    let days = usage_bits::last_days(&daily(data, &EventFilter::Any, from, as_of));
    for (slot, ms) in last.0.iter_mut().enumerate() {
        if *ms >= end_ms {
            *ms = days.get(slot).map_or(i64::MIN, |d| {
                time::start_of_day_ms(time::date_of_day_number(d), tz)
            });
        }
    }
    last
}

/// The oldest local day that can hold usage: events older than the account's
/// usage retention are refused, so "whole history" starts there.
async fn oldest_day(state: &AppState, caller: &Caller, tz: &TimeZone) -> ApiResult<i32> {
    let settings = state.store.settings(caller.account_id).await?;
    Ok(today(tz) - settings.usage_retention_days.min(100_000) as i32 - 1)
}

/// The index in `dir` (the data's org chart) of the person of the `i`th
/// provisioned user: as the store resolved it when it could, else looked up.
fn provisioned_person(data: &InsightData, dir: &Directory, i: usize) -> Option<usize> {
    let people = &data.provisioned_people;
    if people.len() == data.provisioned.len() {
        return people
            .get(i)
            .filter(|&&p| p != NO_PERSON)
            .map(|&p| p as usize);
    }
    dir.index_of(&data.provisioned.get(i)?.email)
}

/// Who the `i`th provisioned user is, found without reading their person's
/// entry (at 100,000 users, reading each entry cost most of a report that
/// needs only slots): a person of the data's org chart, by index, or an email
/// outside it, with its slot when it had usage.
#[derive(Debug, Clone, Copy)]
enum ProvisionedWho<'a> {
    Person(usize),
    Outside(&'a str, Option<usize>),
}

impl<'a> ProvisionedWho<'a> {
    fn slot(self) -> Option<usize> {
        match self {
            ProvisionedWho::Person(p) => Some(p),
            ProvisionedWho::Outside(_, slot) => slot,
        }
    }

    /// The report key: the person's primary email, or the email.
    fn key(self, dir: &'a Directory) -> &'a str {
        match self {
            ProvisionedWho::Person(p) => dir.people.get(p).map_or("", |e| e.email.as_str()),
            ProvisionedWho::Outside(email, _) => email,
        }
    }
}

fn provisioned_who<'a>(data: &'a InsightData, dir: &Directory, i: usize) -> ProvisionedWho<'a> {
    match provisioned_person(data, dir, i) {
        Some(p) => ProvisionedWho::Person(p),
        None => {
            let email = data.provisioned[i].email.as_str();
            let slot = data.emails.id(email).map(|id| data.resolver.slot_of_id(id));
            ProvisionedWho::Outside(email, slot)
        }
    }
}

/// The report key and slot of the `i`th provisioned user, and its person.
fn provisioned_member<'a>(
    data: &'a InsightData,
    dir: &'a Directory,
    i: usize,
) -> (&'a str, Option<usize>, Option<&'a Employee>) {
    let who = provisioned_who(data, dir, i);
    let person = match who {
        ProvisionedWho::Person(p) => dir.people.get(p),
        ProvisionedWho::Outside(..) => None,
    };
    (who.key(dir), who.slot(), person)
}

fn directory(data: &InsightData) -> Arc<Directory> {
    data.org
        .as_ref()
        .map(|o| Arc::clone(&o.directory))
        .unwrap_or_default()
}

// ---------------------------------------------------------------- summaries and details

/// One app's headline figures over the 30 days up to the report's day.
#[derive(Debug, Clone)]
pub struct AppSummary {
    pub app_id: String,
    pub name: String,
    /// `connected` or `disconnected`.
    pub status: String,
    pub category: Option<String>,
    pub description: Option<String>,
    pub sso: bool,
    /// Distinct people holding a provisioned account.
    pub provisioned_users: u64,
    /// Distinct people active in the 30 days (provisioned or not).
    pub active_users: u64,
    /// Provisioned people active in the 30 days.
    pub active_provisioned_users: u64,
    /// People active in the 30 days without a provisioned account.
    pub unlicensed_active_users: u64,
    pub licenses_purchased: Option<i64>,
    /// Active provisioned users over provisioned users, in percent; `None`
    /// without provisioned users.
    pub utilization: Option<f64>,
    pub annual_cost: Option<Money>,
    /// The contract in force on the report's day.
    pub contract: Option<ContractSummary>,
}

/// `/pull/v3/apps`: every app the caller may see.
#[derive(Debug, Clone)]
pub struct AppSummaries {
    /// `YYYY-MM-DD`, the last day of the 30 counted.
    pub as_of_date: String,
    pub apps: Vec<AppSummary>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SummariesQuery {
    /// `YYYY-MM-DD`; today by default, as every usage report.
    #[param(format = Date)]
    pub as_of_date: Option<String>,
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

fn summarise(data: &InsightData, contract: Option<ContractSummary>, as_of: i32) -> AppSummary {
    let app: &AppRecord = &data.app;
    let def = &app.definition;
    let ps = &data.provisioned_summary;
    let active = active_between(data, as_of - 29, as_of);
    // The summary holds the provisioned people as slots; only the few emails
    // that had no usage when it was made are resolved here.
    let dir = directory(data);
    let active_provisioned = ps
        .slots
        .iter()
        .filter(|&&s| active.contains(s as usize))
        .count()
        + ps.unresolved
            .iter()
            .filter_map(|e| data.resolver.slot_of_email(&dir, &data.emails, e))
            .filter(|&s| active.contains(s))
            .count();
    let active_provisioned = active_provisioned as u64;
    let active_users = active.count();
    let tier_cost: f64 = ps
        .per_license
        .iter()
        .filter_map(|(l, &n)| licence_cost(def, Some(l)).map(|c| c * n as f64))
        .sum();
    let has_tier_costs = def.license_tiers.iter().any(|t| t.annual_cost.is_some());
    let annual_cost = match &contract {
        Some(c) => Some(Money {
            amount: c.annual_cost,
            currency: c.currency.clone(),
        }),
        None if has_tier_costs => Some(Money {
            amount: round2(tier_cost),
            currency: def.currency(),
        }),
        None => None,
    };
    AppSummary {
        app_id: app.app_id.clone(),
        name: def.name.clone(),
        status: app.status.clone(),
        category: def.category.clone(),
        description: def.description.clone(),
        sso: def.sso,
        provisioned_users: ps.people,
        active_users,
        active_provisioned_users: active_provisioned,
        unlicensed_active_users: active_users.saturating_sub(active_provisioned),
        licenses_purchased: contract.as_ref().map(|c| c.licenses_purchased),
        utilization: usage_report::utilization(active_provisioned, ps.people),
        annual_cost,
        contract,
    }
}

pub async fn app_summaries(
    state: &AppState,
    caller: &Caller,
    q: SummariesQuery,
) -> ApiResult<AppSummaries> {
    access::check(caller, Scope::AppsRead, None)?;
    let tz = account_zone(state, caller.account_id).await?;
    // Today by default, as every other usage report (issue 19 #12).
    let as_of = parse_day(q.as_of_date.as_deref(), "asOfDate", today(&tz))?;
    let app_ids: Vec<String> = state
        .store
        .list_apps(caller.account_id)
        .await?
        .into_iter()
        .map(|app| app.app_id)
        .filter(|app_id| caller.may_see_app(app_id))
        .collect();
    // Every app's bitmaps and contract, each kind in one store call.
    let as_of_text = date_text(as_of);
    let ids = app_ids.clone();
    let (data, contracts, visible) = tokio::try_join!(
        async {
            Ok::<_, ApiError>(
                state
                    .store
                    .insight_data_of_apps(
                        caller.account_id,
                        ids,
                        with_restriction(caller, summary_query(as_of)),
                    )
                    .await?,
            )
        },
        async {
            Ok::<_, ApiError>(
                state
                    .store
                    .contract_summaries(caller.account_id, app_ids.clone(), &as_of_text)
                    .await?,
            )
        },
        access::visible_people(state, caller),
    )?;
    let apps = visible
        .restrict_all(&state.restrictions, caller.account_id, data)
        .into_iter()
        .zip(contracts)
        .map(|(data, contract)| summarise(&data, contract, as_of))
        .collect();
    Ok(AppSummaries {
        as_of_date: as_of_text,
        apps,
    })
}

/// DAU, WAU and MAU on one day, and DAU over MAU in percent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Activity {
    pub dau: u64,
    pub wau: u64,
    pub mau: u64,
    pub stickiness: f64,
}

/// A licence tier with how many provisioned users hold it.
#[derive(Debug, Clone)]
pub struct TierRow {
    pub tier: usage::LicenseTier,
    pub provisioned_users: u64,
}

/// `/pull/v2/apps/{appId}`.
#[derive(Debug, Clone)]
pub struct AppDetails {
    pub summary: AppSummary,
    pub as_of_date: String,
    pub activity: Activity,
    /// Spend from the start of the report day's year until now, per currency.
    pub fiscal_spend: Vec<Money>,
    pub license_tiers: Vec<TierRow>,
    /// The app's feature groups.
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DetailsQuery {
    /// `YYYY-MM-DD`; today by default.
    #[param(format = Date)]
    pub as_of_date: Option<String>,
}

pub async fn app_details(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    q: DetailsQuery,
) -> ApiResult<AppDetails> {
    access::check(caller, Scope::AppsRead, None)?;
    let tz = account_zone(state, caller.account_id).await?;
    let as_of = parse_day(q.as_of_date.as_deref(), "asOfDate", today(&tz))?;
    let (data, extras) = tokio::try_join!(
        load(state, caller, Scope::AppsRead, app_id, summary_query(as_of)),
        details_extras(state, caller, app_id, as_of, &tz),
    )?;
    Ok(details_of(&data, extras, as_of))
}

/// What the app details read beside the bitmaps: the contract in force on
/// `as_of` and the spend of its year until now.
struct DetailsExtras {
    contract: Option<ContractSummary>,
    spend: Vec<Money>,
}

async fn details_extras(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    as_of: i32,
    tz: &TimeZone,
) -> ApiResult<DetailsExtras> {
    let year_start = time::start_of_day_ms(time::date_of_day_number(as_of).first_of_year(), tz);
    let as_of_text = date_text(as_of);
    let (contract, spend) = tokio::try_join!(
        state
            .store
            .contract_summary(caller.account_id, app_id, &as_of_text),
        state
            .store
            .spend_totals(caller.account_id, app_id, year_start, now_ms()),
    )?;
    Ok(DetailsExtras {
        contract,
        spend: spend
            .into_iter()
            .map(|x| Money {
                amount: x.amount,
                currency: x.currency,
            })
            .collect(),
    })
}

/// The app details from data holding at least [`summary_query`]'s.
fn details_of(data: &InsightData, extras: DetailsExtras, as_of: i32) -> AppDetails {
    let summary = summarise(data, extras.contract, as_of);
    let a = usage_trend::activity_on(&daily_ids(data, as_of - 29, as_of), &data.resolver, as_of);
    let def = &data.app.definition;
    let per_tier = &data.provisioned_summary.per_license;
    AppDetails {
        summary,
        as_of_date: date_text(as_of),
        activity: Activity {
            dau: a.dau,
            wau: a.wau,
            mau: a.mau,
            stickiness: usage::percent(a.dau, a.mau),
        },
        fiscal_spend: extras.spend,
        license_tiers: def
            .license_tiers
            .iter()
            .map(|t| TierRow {
                tier: t.clone(),
                provisioned_users: per_tier.get(t.name.as_str()).copied().unwrap_or(0),
            })
            .collect(),
        groups: def.groups(),
    }
}

// ---------------------------------------------------------------- dashboard pages

/// The Overview's figures of one app (SPEC §9.1).
#[derive(Debug, Clone)]
pub struct OverviewApp {
    pub summary: AppSummary,
    /// The daily active users of the 30 days up to the report's day (first to
    /// last): the DAU of what [`trend`] answers by default.
    pub daily_active_users: Vec<u64>,
    /// The licence cost of the provisioned users without activity in the 30
    /// days, as [`inactive_users`] answers by default; `None` when the caller
    /// may not read users.
    pub potential_savings: Option<Money>,
}

/// `/ui`: every app the caller may see.
#[derive(Debug, Clone)]
pub struct Overview {
    /// `YYYY-MM-DD`: the first of the 30 days, and the last.
    pub from_date: String,
    pub as_of_date: String,
    pub apps: Vec<OverviewApp>,
}

/// The app summaries, each app's daily active users and potential savings,
/// from one read of each app's 30 days: the same figures as [`app_summaries`],
/// [`trend`] and [`inactive_users`] with their defaults, without reading each
/// app three times (the page showed 40 report calls on top of the summaries).
pub async fn overview(state: &AppState, caller: &Caller) -> ApiResult<Overview> {
    access::check(caller, Scope::AppsRead, None)?;
    let tz = account_zone(state, caller.account_id).await?;
    let as_of = today(&tz);
    let users_read = access::check(caller, Scope::UsersRead, None).is_ok();
    let app_ids: Vec<String> = state
        .store
        .list_apps(caller.account_id)
        .await?
        .into_iter()
        .map(|app| app.app_id)
        .filter(|app_id| caller.may_see_app(app_id))
        .collect();
    // The savings need the provisioned users and the 30 days; not each
    // email's latest activity, which only the report's rows show.
    let mut query = summary_query(as_of);
    query.provisioned |= users_read;
    let as_of_text = date_text(as_of);
    let ids = app_ids.clone();
    let (data, contracts, visible) = tokio::try_join!(
        async {
            Ok::<_, ApiError>(
                state
                    .store
                    .insight_data_of_apps(caller.account_id, ids, with_restriction(caller, query))
                    .await?,
            )
        },
        async {
            Ok::<_, ApiError>(
                state
                    .store
                    .contract_summaries(caller.account_id, app_ids.clone(), &as_of_text)
                    .await?,
            )
        },
        access::visible_people(state, caller),
    )?;
    let mut apps = Vec::with_capacity(data.len());
    for (data, contract) in visible
        .restrict_all(&state.restrictions, caller.account_id, data)
        .into_iter()
        .zip(contracts)
    {
        let summary = summarise(&data, contract, as_of);
        // A day's DAU counts its people (an alias counts for its person).
        let days = daily_ids(&data, as_of - 29, as_of);
        let daily_active_users = (as_of - 29..=as_of)
            .map(|d| days.people_on(d, &data.resolver))
            .collect();
        let potential_savings = users_read.then(|| {
            let dir = directory(&data);
            let active = active_between(&data, as_of - 29, as_of);
            let (_, _, savings) = inactive_members(&data, &dir, true, &active);
            Money {
                amount: round2(savings),
                currency: data.app.definition.currency(),
            }
        });
        apps.push(OverviewApp {
            summary,
            daily_active_users,
            potential_savings,
        });
    }
    Ok(Overview {
        from_date: date_text(as_of - 29),
        as_of_date: as_of_text,
        apps,
    })
}

/// The App page's choices (SPEC §9.2).
#[derive(Debug, Clone)]
pub struct AppPageQuery {
    /// A feature group; every event when `None`.
    pub group: Option<String>,
    /// The rolling window of engagement, inactive users and right-sizing.
    pub window: u32,
    /// The org field engagement is broken down by.
    pub by: String,
    /// Inactive users on the page (the first of the report's pages).
    pub inactive_rows: u32,
}

/// The App page's reports on one app.
#[derive(Debug, Clone)]
pub struct AppPage {
    pub details: AppDetails,
    pub engagement: EngagementReport,
    /// The 30 days up to the details' day.
    pub trend: TrendReport,
    /// `None` when the caller may not read users.
    pub inactive: Option<InactiveReport>,
    /// `None` when the caller may not read users.
    pub rightsizing: Option<RightsizingReport>,
}

/// The details, engagement, trend, inactive users and right-sizing of one app
/// for the page's choices: each the same answer as its own report, from one
/// store read of the app (each kind of bitmaps read once, for the union of the
/// reports' days).
pub async fn app_page(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    q: AppPageQuery,
) -> ApiResult<AppPage> {
    access::check(caller, Scope::AppsRead, None)?;
    let tz = account_zone(state, caller.account_id).await?;
    let as_of = today(&tz);
    let engagement = engagement_plan(
        EngagementQuery {
            group: q.group.clone(),
            rolling_window: Some(q.window),
            by: Some(q.by),
            ..EngagementQuery::default()
        },
        &tz,
    )?;
    let trend = trend_plan(
        TrendQuery {
            group: q.group.clone(),
            from: None,
            to: Some(date_text(as_of)),
        },
        &tz,
    )?;
    let users_read = access::check(caller, Scope::UsersRead, None).is_ok();
    let inactive = if users_read {
        Some(
            inactive_plan(
                state,
                caller,
                app_id,
                InactiveQuery {
                    group: q.group.clone(),
                    rolling_window: Some(q.window),
                    page_size: Some(q.inactive_rows),
                    ..InactiveQuery::default()
                },
                false,
                &tz,
            )
            .await?,
        )
    } else {
        None
    };
    let rightsizing = if users_read {
        Some(rightsizing_plan(
            RightsizingQuery {
                rolling_window: Some(q.window),
                ..RightsizingQuery::default()
            },
            &tz,
        )?)
    } else {
        None
    };
    let mut queries = vec![
        summary_query(as_of),
        engagement.query.clone(),
        trend.query.clone(),
    ];
    queries.extend(inactive.iter().map(|p| p.query.clone()));
    queries.extend(rightsizing.iter().map(|p| p.query.clone()));
    let (data, extras) = tokio::try_join!(
        load_many(state, caller, Scope::AppsRead, app_id, &queries),
        details_extras(state, caller, app_id, as_of, &tz),
    )?;
    let details = details_of(&data[0], extras, as_of);
    let engagement = engagement_of(state, app_id, engagement, &data[1])?;
    let trend = trend_of(app_id, trend, &data[2])?;
    let mut rest = data[3..].iter();
    let inactive = match (inactive, rest.next()) {
        (Some(plan), Some(d)) => Some(inactive_of(state, caller, app_id, plan, d, &tz).await?),
        _ => None,
    };
    let rightsizing = match (rightsizing, rest.next()) {
        (Some(plan), Some(d)) => Some(rightsizing_of(
            app_id,
            plan,
            d,
            &state.licences.of(&d.provisioned),
        )),
        _ => None,
    };
    Ok(AppPage {
        details,
        engagement,
        trend,
        inactive,
        rightsizing,
    })
}

// ---------------------------------------------------------------- page tokens

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

// ---------------------------------------------------------------- engagement

/// The population members, their slots and their value of `by`.
/// The members of a population with their value among `by`'s values (the
/// directory's people by `by`).
fn population<'a>(
    data: &'a InsightData,
    dir: &'a Directory,
    which: &str,
    by: &FieldValues,
) -> Vec<Member<'a>> {
    match which {
        "provisioned" => (0..data.provisioned.len())
            .map(|i| match provisioned_who(data, dir, i) {
                // A person's slot is their index in the directory.
                ProvisionedWho::Person(p) => Member {
                    who: Who::Slot(p),
                    value: by.value_of(p),
                },
                ProvisionedWho::Outside(key, slot) => Member {
                    who: slot.map_or(Who::Key(key), Who::Slot),
                    value: None,
                },
            })
            .collect(),
        _ => (0..dir.people.len())
            .map(|i| Member {
                who: Who::Slot(i),
                value: by.value_of(i),
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

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EngagementQuery {
    /// A feature group; every event by default.
    pub group: Option<String>,
    #[param(schema_with = crate::openapi::answers::rolling_window)]
    pub rolling_window: Option<u32>,
    #[param(format = Date)]
    pub as_of_date: Option<String>,
    /// An org field or custom field; `team` by default.
    pub by: Option<String>,
    /// `employees` (default) or `provisioned`.
    #[param(schema_with = crate::openapi::answers::population)]
    pub population: Option<String>,
}

/// `/pull/v1/apps/{appId}/engagement`: active share per value of an org field.
#[derive(Debug, Clone)]
pub struct EngagementReport {
    pub app_id: String,
    pub group: Option<String>,
    pub rolling_window: i32,
    pub as_of_date: String,
    pub by: String,
    pub population: String,
    pub total: Total,
    /// Ordered by value; the segment without a value comes last.
    pub segments: Vec<Segment>,
}

pub async fn engagement(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    q: EngagementQuery,
) -> ApiResult<EngagementReport> {
    access::check(caller, Scope::AppsRead, None)?;
    let tz = account_zone(state, caller.account_id).await?;
    let plan = engagement_plan(q, &tz)?;
    let data = load(state, caller, Scope::AppsRead, app_id, plan.query.clone()).await?;
    engagement_of(state, app_id, plan, &data)
}

/// An engagement report's checked parameters and its read.
struct EngagementPlan {
    group: Option<String>,
    as_of: i32,
    window: i32,
    from: i32,
    by: String,
    population: String,
    query: InsightQuery,
}

fn engagement_plan(q: EngagementQuery, tz: &TimeZone) -> ApiResult<EngagementPlan> {
    let as_of = parse_day(q.as_of_date.as_deref(), "asOfDate", today(tz))?;
    let w = window(q.rolling_window, 30)?;
    let which = check_population(q.population.as_deref(), "employees")?;
    let by = q.by.clone().unwrap_or_else(|| "team".to_string());
    let from = as_of - w + 1;
    let query = InsightQuery {
        from_day: from,
        to_day: as_of,
        events: sel(q.group.as_deref()),
        last_activity: false,
        provisioned: which == "provisioned",
        provisioned_summary: false,
    };
    Ok(EngagementPlan {
        group: q.group,
        as_of,
        window: w,
        from,
        by,
        population: which,
        query,
    })
}

fn engagement_of(
    state: &AppState,
    app_id: &str,
    plan: EngagementPlan,
    data: &InsightData,
) -> ApiResult<EngagementReport> {
    let by = plan.by;
    let custom: &[String] = data.org.as_ref().map_or(&[], |o| &o.custom_fields);
    if !ORG_FIELDS.contains(&by.as_str()) && !custom.contains(&by) {
        return Err(ApiError::bad_request(format!(
            "by must be one of team, location, title, managerEmail, costCenter{}",
            custom.iter().map(|c| format!(", {c}")).collect::<String>()
        )));
    }
    group_filter(&data.app.definition, plan.group.as_deref())?;
    let dir = directory(data);
    let values = dir.field_values(&by);
    let population = state
        .populations
        .of(data, &dir, &plan.population, (&by, &values));
    let e = population.engagement(&values.values, &active_between(data, plan.from, plan.as_of));
    Ok(EngagementReport {
        app_id: app_id.to_string(),
        group: plan.group,
        rolling_window: plan.window,
        as_of_date: date_text(plan.as_of),
        by,
        population: plan.population,
        total: e.total,
        segments: e.segments,
    })
}

// ---------------------------------------------------------------- inactive users

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InactiveQuery {
    pub group: Option<String>,
    #[param(schema_with = crate::openapi::answers::rolling_window)]
    pub rolling_window: Option<u32>,
    #[param(format = Date)]
    pub as_of_date: Option<String>,
    /// `provisioned` (default) or `employees`.
    #[param(schema_with = crate::openapi::answers::population)]
    pub population: Option<String>,
    pub page_token: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    pub page_size: Option<u32>,
}

/// One row of the inactive-users report (JSON and CSV).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InactiveUser {
    pub email: String,
    pub app_user_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub team: Option<String>,
    pub license: Option<String>,
    pub last_activity: Option<String>,
    pub annual_cost: Option<f64>,
}

/// `/pull/v1/apps/{appId}/inactive-users`.
#[derive(Debug, Clone)]
pub struct InactiveReport {
    pub app_id: String,
    /// The app's name (the download's audit entry names it).
    pub app_name: String,
    pub group: Option<String>,
    pub rolling_window: i32,
    pub as_of_date: String,
    pub population: String,
    /// Users of the whole report (all pages).
    pub num_users: usize,
    pub users: Vec<InactiveUser>,
    /// The licence cost of every inactive user (all pages).
    pub potential_savings: Money,
    pub next_page_token: Option<String>,
}

/// Someone who may be reported inactive: a member of the population, resolved
/// against the org chart once.
struct Candidate<'a> {
    /// The person's primary email, or the email itself outside the org chart.
    key: &'a str,
    slot: Option<usize>,
    person: Option<&'a Employee>,
    licence: Option<&'a ProvisionedUser>,
}

/// The population's members without activity in `active`, in its order: the
/// provisioned users (each with its own licence), or every employee with the
/// licence of their first provisioned user. An active member costs a bit test
/// (their person's entry is not read).
fn inactive_candidates<'a>(
    data: &'a InsightData,
    dir: &'a Directory,
    provisioned: bool,
    active: &SlotSet,
) -> Vec<Candidate<'a>> {
    let is_active = |slot: Option<usize>| slot.is_some_and(|s| active.contains(s));
    if provisioned {
        return data
            .provisioned
            .iter()
            .enumerate()
            .filter_map(|(i, u)| {
                let who = provisioned_who(data, dir, i);
                if is_active(who.slot()) {
                    return None;
                }
                let person = match who {
                    ProvisionedWho::Person(p) => dir.people.get(p),
                    ProvisionedWho::Outside(..) => None,
                };
                Some(Candidate {
                    key: who.key(dir),
                    slot: who.slot(),
                    person,
                    licence: Some(u),
                })
            })
            .collect();
    }
    // Each person's first provisioned user, by person index: a provisioned
    // user outside the org chart is nobody's.
    let mut licences: Vec<Option<&ProvisionedUser>> = vec![None; dir.people.len()];
    for (i, u) in data.provisioned.iter().enumerate() {
        if let Some(first) = provisioned_person(data, dir, i).and_then(|p| licences.get_mut(p)) {
            first.get_or_insert(u);
        }
    }
    licences
        .into_iter()
        .enumerate()
        .filter(|&(i, _)| !is_active(Some(i)))
        .filter_map(|(i, licence)| {
            let p = dir.people.get(i)?;
            Some(Candidate {
                key: p.email.as_str(),
                slot: Some(i),
                person: Some(p),
                licence,
            })
        })
        .collect()
}

/// The population's members without activity in `active`, one per key (the
/// first in the population's order), sorted by key; with each one's licence
/// cost and their sum (added in that order).
fn inactive_members<'a>(
    data: &'a InsightData,
    dir: &'a Directory,
    provisioned: bool,
    active: &SlotSet,
) -> (Vec<Candidate<'a>>, Vec<Option<f64>>, f64) {
    let def = &data.app.definition;
    let mut candidates = inactive_candidates(data, dir, provisioned, active);
    // By key for paging; the stable sort keeps a key's first candidate first.
    candidates.sort_by(|a, b| a.key.cmp(b.key));
    candidates.dedup_by(|later, first| later.key == first.key);
    let mut savings = 0.0;
    let mut costs = Vec::with_capacity(candidates.len());
    for c in &candidates {
        let cost = licence_cost(def, c.licence.and_then(|u| u.license.as_deref()));
        savings += cost.unwrap_or(0.0);
        costs.push(cost);
    }
    (candidates, costs, savings)
}

/// The population's members without activity in the window. With `whole`,
/// every one of them (the CSV form), without paging.
pub async fn inactive_users(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    q: InactiveQuery,
    whole: bool,
) -> ApiResult<InactiveReport> {
    access::check(caller, Scope::UsersRead, None)?;
    let tz = account_zone(state, caller.account_id).await?;
    let plan = inactive_plan(state, caller, app_id, q, whole, &tz).await?;
    let data = load(state, caller, Scope::UsersRead, app_id, plan.query.clone()).await?;
    inactive_of(state, caller, app_id, plan, &data, &tz).await
}

/// An inactive-users report's checked parameters and its read.
struct InactivePlan {
    group: Option<String>,
    as_of: i32,
    window: i32,
    from: i32,
    population: String,
    size: u32,
    whole: bool,
    fingerprint: String,
    after: Option<String>,
    query: InsightQuery,
}

async fn inactive_plan(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    q: InactiveQuery,
    whole: bool,
    tz: &TimeZone,
) -> ApiResult<InactivePlan> {
    let as_of = parse_day(q.as_of_date.as_deref(), "asOfDate", today(tz))?;
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
        state,
        caller,
        app_id,
        &fingerprint,
        q.page_token.as_deref(),
        "pageToken",
    )?;
    // Whole history of the group: its lastActivity may be older than the window.
    // Without a group the exact per-email latest timestamps suffice (read for
    // the page's people only, see `inactive_of`), unless the report's day is
    // past: then a later timestamp is replaced from the bitmaps.
    let whole_history = q.group.is_some() || as_of < today(tz);
    let query = InsightQuery {
        from_day: if whole_history {
            oldest_day(state, caller, tz).await?
        } else {
            from
        },
        to_day: as_of,
        events: sel(q.group.as_deref()),
        last_activity: false,
        provisioned: true,
        provisioned_summary: false,
    };
    Ok(InactivePlan {
        group: q.group,
        as_of,
        window: w,
        from,
        population: which,
        size,
        whole,
        fingerprint,
        after,
        query,
    })
}

async fn inactive_of(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    plan: InactivePlan,
    data: &InsightData,
    tz: &TimeZone,
) -> ApiResult<InactiveReport> {
    let (as_of, whole) = (plan.as_of, plan.whole);
    let def = &data.app.definition;
    group_filter(def, plan.group.as_deref())?;
    let dir = directory(data);
    let active = active_between(data, plan.from, as_of);
    let (candidates, costs, savings) =
        inactive_members(data, &dir, plan.population == "provisioned", &active);
    let num_users = candidates.len();
    let start = match &plan.after {
        Some(a) if !whole => candidates.partition_point(|c| c.key <= a.as_str()),
        _ => 0,
    };
    let end = if whole {
        num_users
    } else {
        num_users.min(start + plan.size as usize)
    };
    let page = &candidates[start..end];
    let slots: Vec<Option<usize>> = page.iter().map(|c| c.slot).collect();
    let overall = page_last_ms(state, caller, app_id, data, &dir, &slots).await?;
    // The latest day (of the days read: the group's only, with one) of the
    // page's people up to the report's day: the group's last activity, and
    // what replaces a latest time after the report's day.
    let end_ms = time::start_of_day_ms(time::date_of_day_number(as_of + 1), tz);
    let needs_days = plan.group.is_some() || overall.iter().flatten().any(|&ms| ms >= end_ms);
    let page_days = if needs_days {
        last_days_of(data, &dir, as_of, &slots)
    } else {
        Vec::new()
    };
    let users: Vec<InactiveUser> = page
        .iter()
        .zip(&costs[start..end])
        .enumerate()
        .map(|(row, (c, &annual_cost))| {
            let overall = overall[row].and_then(|ms| {
                if ms < end_ms {
                    Some(ms)
                } else {
                    let day = page_days[row]?;
                    Some(time::start_of_day_ms(time::date_of_day_number(day), tz))
                }
            });
            let last_ms = match plan.group {
                Some(_) => group_last_ms(page_days[row], overall, tz),
                None => overall,
            };
            InactiveUser {
                email: c.key.to_string(),
                app_user_id: c.licence.map(|u| u.app_user_id.clone()),
                first_name: c.person.and_then(|p| p.first_name.clone()),
                last_name: c.person.and_then(|p| p.last_name.clone()),
                team: c.person.and_then(|p| p.team.clone()),
                license: c.licence.and_then(|u| u.license.clone()),
                last_activity: last_ms.map(time::format_ms),
                annual_cost,
            }
        })
        .collect();
    let next_page_token = match users.last() {
        Some(last) if end < num_users => Some(seal_page(
            state,
            caller,
            app_id,
            &plan.fingerprint,
            &last.email,
        )),
        _ => None,
    };
    // Each listed person's last activity and licence is their individual data.
    state.access_log.note(
        caller,
        AccessKind::Usage,
        users.iter().map(|u| Subject::Email(u.email.clone())),
    );
    Ok(InactiveReport {
        app_id: app_id.to_string(),
        app_name: def.name.clone(),
        group: plan.group,
        rolling_window: plan.window,
        as_of_date: date_text(as_of),
        population: plan.population,
        num_users,
        users,
        potential_savings: Money {
            amount: round2(savings),
            currency: def.currency(),
        },
        next_page_token,
    })
}

/// The latest event time of each of `slots`' people (the latest of their
/// emails'), read for these people only.
async fn page_last_ms(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    data: &InsightData,
    dir: &Directory,
    slots: &[Option<usize>],
) -> ApiResult<Vec<Option<i64>>> {
    let ids = ids_of_slots(data, dir, slots);
    let mut last = vec![None::<i64>; slots.len()];
    if ids.is_empty() {
        return Ok(last);
    }
    let stored = state
        .store
        .last_activity_of(
            caller.account_id,
            app_id,
            ids.iter().map(|&(id, _)| id).collect(),
        )
        .await?;
    for (id, row) in ids {
        if let Some(&ms) = stored.get(&id) {
            last[row] = Some(last[row].map_or(ms, |l: i64| l.max(ms)));
        }
    }
    Ok(last)
}

// ---------------------------------------------------------------- trend

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrendQuery {
    pub group: Option<String>,
    /// `YYYY-MM-DD`; 29 days before `to` by default.
    #[param(format = Date)]
    pub from: Option<String>,
    /// `YYYY-MM-DD`; today by default.
    #[param(format = Date)]
    pub to: Option<String>,
}

/// One day of the trend.
#[derive(Debug, Clone)]
pub struct TrendPoint {
    pub date: String,
    pub dau: u64,
    pub wau: u64,
    pub mau: u64,
}

/// `/pull/v1/apps/{appId}/trend`: DAU, WAU and MAU per day.
#[derive(Debug, Clone)]
pub struct TrendReport {
    pub app_id: String,
    pub group: Option<String>,
    pub from: String,
    pub to: String,
    pub series: Vec<TrendPoint>,
}

pub async fn trend(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    q: TrendQuery,
) -> ApiResult<TrendReport> {
    access::check(caller, Scope::AppsRead, None)?;
    let tz = account_zone(state, caller.account_id).await?;
    let plan = trend_plan(q, &tz)?;
    let data = load(state, caller, Scope::AppsRead, app_id, plan.query.clone()).await?;
    trend_of(app_id, plan, &data)
}

/// A trend's checked parameters and its read (30 days before `from` too, for
/// the first days' MAU).
struct TrendPlan {
    group: Option<String>,
    from: i32,
    to: i32,
    query: InsightQuery,
}

fn trend_plan(q: TrendQuery, tz: &TimeZone) -> ApiResult<TrendPlan> {
    let to = parse_day(q.to.as_deref(), "to", today(tz))?;
    let from = parse_day(q.from.as_deref(), "from", to - 29)?;
    if from > to {
        return Err(ApiError::bad_request("from must not be after to"));
    }
    if to - from + 1 > MAX_TREND_DAYS {
        return Err(ApiError::bad_request(format!(
            "from..to spans more than {MAX_TREND_DAYS} days; ask for a shorter range"
        )));
    }
    let query = InsightQuery {
        from_day: from - 29,
        to_day: to,
        events: sel(q.group.as_deref()),
        last_activity: false,
        provisioned: false,
        provisioned_summary: false,
    };
    Ok(TrendPlan {
        group: q.group,
        from,
        to,
        query,
    })
}

fn trend_of(app_id: &str, plan: TrendPlan, data: &InsightData) -> ApiResult<TrendReport> {
    let (from, to) = (plan.from, plan.to);
    group_filter(&data.app.definition, plan.group.as_deref())?;
    let d = daily_ids(data, from - 29, to);
    Ok(TrendReport {
        app_id: app_id.to_string(),
        group: plan.group,
        from: date_text(from),
        to: date_text(to),
        series: usage_trend::trend(&d, &data.resolver, from, to)
            .into_iter()
            .map(|d| TrendPoint {
                date: date_text(d.day),
                dau: d.dau,
                wau: d.wau,
                mau: d.mau,
            })
            .collect(),
    })
}

// ---------------------------------------------------------------- right-sizing

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RightsizingQuery {
    #[param(schema_with = crate::openapi::answers::rolling_window)]
    pub rolling_window: Option<u32>,
    #[param(format = Date)]
    pub as_of_date: Option<String>,
}

/// A provisioned user whose licence is above what their usage needs.
#[derive(Debug, Clone)]
pub struct RightsizingUser {
    pub email: String,
    pub app_user_id: String,
    pub license: String,
    pub recommended_license: String,
    /// The events used in the window, sorted.
    pub used_events: Vec<String>,
    pub annual_cost: Option<f64>,
    pub recommended_annual_cost: Option<f64>,
    pub savings: Option<f64>,
}

/// `/pull/v1/apps/{appId}/rightsizing`.
#[derive(Debug, Clone)]
pub struct RightsizingReport {
    pub app_id: String,
    pub rolling_window: i32,
    pub as_of_date: String,
    pub users: Vec<RightsizingUser>,
    pub potential_savings: Money,
}

pub async fn rightsizing(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    q: RightsizingQuery,
) -> ApiResult<RightsizingReport> {
    access::check(caller, Scope::UsersRead, None)?;
    let tz = account_zone(state, caller.account_id).await?;
    let plan = rightsizing_plan(q, &tz)?;
    let data = load(state, caller, Scope::UsersRead, app_id, plan.query.clone()).await?;
    let licences = state.licences.of(&data.provisioned);
    Ok(rightsizing_of(app_id, plan, &data, &licences))
}

/// A right-sizing report's checked parameters and its read.
struct RightsizingPlan {
    as_of: i32,
    window: i32,
    from: i32,
    query: InsightQuery,
}

fn rightsizing_plan(q: RightsizingQuery, tz: &TimeZone) -> ApiResult<RightsizingPlan> {
    let as_of = parse_day(q.as_of_date.as_deref(), "asOfDate", today(tz))?;
    let w = window(q.rolling_window, 90)?;
    let from = as_of - w + 1;
    let query = InsightQuery {
        from_day: from,
        to_day: as_of,
        events: EventSel::All,
        last_activity: false,
        provisioned: true,
        provisioned_summary: false,
    };
    Ok(RightsizingPlan {
        as_of,
        window: w,
        from,
        query,
    })
}

/// Someone holding tier `h` can go lower only when they used no event that
/// needs `h` or more: per tier asked, the people who used such an event, from
/// one union of those events' bitmaps, so a person's own events are worked out
/// only for who can go lower.
struct NeedingTier<'a> {
    /// Per event (the data's event names, in order): its bitmap and the
    /// highest tier number its definitions need.
    events: Vec<(&'a [u8], Option<i64>)>,
    resolver: &'a Resolver,
    made: FxHashMap<i64, SlotSet>,
}

impl<'a> NeedingTier<'a> {
    fn new(
        def: &AppDefinition,
        per_event: &'a BTreeMap<&str, Vec<u8>>,
        resolver: &'a Resolver,
    ) -> NeedingTier<'a> {
        let events = per_event
            .iter()
            .map(|(&name, bits)| {
                let tier = def
                    .events
                    .iter()
                    .filter(|e| e.event_name == name)
                    .filter_map(|e| e.min_license_tier.as_deref().and_then(|n| def.tier(n)))
                    .map(|t| t.tier)
                    .max();
                (bits.as_slice(), tier)
            })
            .collect();
        NeedingTier {
            events,
            resolver,
            made: FxHashMap::default(),
        }
    }

    /// Whether `slot` used an event needing tier `tier` or more.
    fn used(&mut self, tier: i64, slot: usize) -> bool {
        let (events, resolver) = (&self.events, self.resolver);
        self.made
            .entry(tier)
            .or_insert_with(|| {
                let mut bits = Vec::new();
                for (event_bits, needs) in events {
                    if needs.is_some_and(|t| t >= tier) {
                        usage_bits::or_into(&mut bits, event_bits);
                    }
                }
                resolver.persons(&bits)
            })
            .contains(slot)
    }
}

fn rightsizing_of(
    app_id: &str,
    plan: RightsizingPlan,
    data: &InsightData,
    licences: &Licences,
) -> RightsizingReport {
    let (as_of, w, from) = (plan.as_of, plan.window, plan.from);
    let def = &data.app.definition;
    let dir = directory(data);
    // Per event, the email ids that did it in the window.
    let mut per_event: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    for b in data.days.iter().filter(|b| (from..=as_of).contains(&b.day)) {
        b.or_into(per_event.entry(b.event.as_str()).or_default());
    }
    let names: Vec<&str> = per_event.keys().copied().collect();
    let lowest = def.license_tiers.iter().map(|t| t.tier).min();
    let mut needing = NeedingTier::new(def, &per_event, &data.resolver);
    // A person's events as a bit mask (`width` words), found by bit tests of
    // their own email ids; people with the same events share one set of
    // names and the tier it needs, made once.
    let width = names.len().div_ceil(64).max(1);
    let events_of = |slot: Option<usize>| -> Vec<u64> {
        let mut mask = vec![0u64; width];
        if let Some(s) = slot {
            let ids = data.resolver.ids_of(s, &dir, &data.emails);
            for (k, bits) in per_event.values().enumerate() {
                if ids.iter().any(|&id| usage_bits::get(bits, id)) {
                    mask[k / 64] |= 1 << (k % 64);
                }
            }
        }
        mask
    };
    let mut sets: FxHashMap<Vec<u64>, (Vec<String>, Option<&usage::LicenseTier>)> =
        FxHashMap::default();
    let mut users = Vec::new();
    let mut savings = 0.0;
    // Each person once: by slot, or by key for users without one.
    let mut seen_slots: Vec<bool> = Vec::new();
    let mut seen_keys: FxHashMap<&str, ()> = FxHashMap::default();
    // The tier each distinct licence holds; then each user's by its index.
    let held_tiers: Vec<Option<&usage::LicenseTier>> =
        licences.names.iter().map(|n| def.tier(n)).collect();
    for (i, &licence) in licences.of_user.iter().enumerate() {
        let Some(held) = held_tiers.get(usize::from(licence)).copied().flatten() else {
            continue;
        };
        let who = provisioned_who(data, &dir, i);
        let slot = who.slot();
        let first = match slot {
            Some(s) => {
                if s >= seen_slots.len() {
                    seen_slots.resize(s + 1, false);
                }
                !std::mem::replace(&mut seen_slots[s], true)
            }
            None => seen_keys.insert(who.key(&dir), ()).is_none(),
        };
        if !first || lowest.is_none_or(|l| l >= held.tier) {
            continue;
        }
        if slot.is_some_and(|s| needing.used(held.tier, s)) {
            continue;
        }
        let (used_events, needed) = sets.entry(events_of(slot)).or_insert_with_key(|mask| {
            let events: HashSet<String> = (0..names.len())
                .filter(|k| mask[k / 64] & (1 << (k % 64)) != 0)
                .map(|k| names[k].to_string())
                .collect();
            let needed = usage_report::needed_tier(def, &events);
            let mut sorted: Vec<String> = events.into_iter().collect();
            sorted.sort();
            (sorted, needed)
        });
        let Some(needed) = *needed else {
            continue;
        };
        if needed.tier >= held.tier {
            continue;
        }
        let saving = usage_report::downgrade_saving(held, needed);
        savings += saving.unwrap_or(0.0);
        users.push(RightsizingUser {
            email: who.key(&dir).to_string(),
            app_user_id: data.provisioned[i].app_user_id.clone(),
            license: held.name.clone(),
            recommended_license: needed.name.clone(),
            used_events: used_events.clone(),
            annual_cost: held.annual_cost,
            recommended_annual_cost: needed.annual_cost,
            savings: saving,
        });
    }
    RightsizingReport {
        app_id: app_id.to_string(),
        rolling_window: w,
        as_of_date: date_text(as_of),
        users,
        potential_savings: Money {
            amount: round2(savings),
            currency: def.currency(),
        },
    }
}
