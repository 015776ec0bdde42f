//! Custom-app usage (SPEC §4): connected apps, usage events, provisioned users, the
//! org chart, and the rollup data the insights are computed from.
//!
//! The maths of the insights lives in `rollcall_core::usage_bits`; a backend only
//! hands over the per-(event, day) activity bitmaps of one app, the account's email
//! table and the org chart's resolver ([`InsightData`]), so every backend computes
//! the same figures. `kept_day_bits` holds the bitmaps both backends keep in
//! memory between reports.

use crate::audit::{Actor, AppAction, AuditAction};
use async_trait::async_trait;
use rollcall_core::usage::AppDefinition;
use std::sync::Arc;

use rollcall_core::fxhash::FxHashMap;
use rollcall_core::usage_bits::{self, EmailTable, Resolver};
use rollcall_core::usage_report::{Directory, Employee};
use rollcall_core::usage_trend::DailyIds;
use rollcall_core::Email;

use crate::StoreResult;

pub(crate) mod kept_day_bits;

/// A connected app as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AppRecord {
    pub app_id: String,
    /// `connected` or `disconnected`.
    pub status: String,
    pub definition: AppDefinition,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl AppRecord {
    /// The audit action of a change of this app (`AppConnected`, ...).
    pub fn audit_action(&self, action: AppAction) -> AuditAction {
        AuditAction::App {
            action,
            app_id: self.app_id.clone(),
            name: self.definition.name.clone(),
        }
    }

    pub fn is_connected(&self) -> bool {
        self.status == "connected"
    }
}

/// One validated usage event of a push; `index` is its place in the request.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub index: usize,
    pub ts_ms: i64,
    pub email: Email,
    pub event_name: String,
    /// The local day number (account time zone) of `ts_ms`.
    pub day: i32,
}

/// Refuses the whole batch when an event names no event the app defines
/// (`is_defined` answers for one name), naming each such event; `events` are the
/// (request index, eventName) of the batch's events.
pub fn check_event_names<'a>(
    events: impl Iterator<Item = (usize, &'a str)>,
    is_defined: impl Fn(&str) -> bool,
) -> StoreResult<()> {
    let unknown: Vec<crate::error::ItemError> = events
        .filter(|(_, name)| !is_defined(name))
        .map(|(index, name)| crate::error::ItemError {
            index: Some(index),
            field: Some("eventName".into()),
            message: format!("'{name}' is not an event of this app"),
        })
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(crate::StoreError::Invalid {
        message: "some events name an eventName the app does not define; nothing was stored".into(),
        items: unknown,
    })
}

/// What a push stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PushOutcome {
    pub accepted: u64,
    pub duplicates: u64,
}

/// A user holding access to an app.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvisionedUser {
    pub app_user_id: String,
    /// Lower-cased.
    pub email: String,
    pub username: Option<String>,
    pub license: Option<String>,
    /// What the tracking API's identify calls said of the user (SPEC §10.1).
    pub profile: Option<rollcall_core::segment::Profile>,
}

/// Which provisioned users a DELETE removes.
#[derive(Debug, Clone, Default)]
pub struct UserSelection {
    pub app_user_ids: Vec<String>,
    pub emails: Vec<String>,
}

/// The account's current org chart.
#[derive(Debug, Clone)]
pub struct OrgChart {
    pub id: i64,
    pub name: String,
    pub custom_fields: Vec<String>,
    /// The people, indexed by every email; shared, since a completed snapshot never changes.
    pub directory: Arc<Directory>,
    pub completed_ms: i64,
}

/// What a PUT of org-chart users did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgPage {
    /// People in the snapshot after this page.
    pub people: u64,
    /// Whether the snapshot is now the current org chart.
    pub current: bool,
    /// How the current org chart changed (when this page completed the snapshot).
    pub changes: Option<OrgChanges>,
}

/// How many completed org charts an account keeps (the current one included):
/// making one more current drops, of the others, the one that stopped being
/// current the longest ago (so the chart just replaced is always restorable).
pub const ORG_SNAPSHOTS_KEPT: i64 = 10;

/// How an uploaded snapshot relates to the org chart current when it completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrgMode {
    /// The upload is the whole chart: people it does not name are removed.
    #[default]
    Replace,
    /// The upload adds people and replaces the records of the people it names;
    /// everyone else in the current chart is kept (a partial update).
    Merge,
}

impl OrgMode {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgMode::Replace => "replace",
            OrgMode::Merge => "merge",
        }
    }
}

/// How the current org chart changed, per person (by primary email).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OrgChanges {
    pub added: u64,
    pub removed: u64,
    /// People in both charts whose record differs.
    pub changed: u64,
}

/// The outcome of making a snapshot current (an upload completing, or an activation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgSwitch {
    pub id: i64,
    /// People in the (now current) snapshot.
    pub people: u64,
    /// The snapshot that was current before, if any.
    pub previous: Option<i64>,
    pub changes: OrgChanges,
}

/// At most this many custom fields in an org chart (SPEC §3).
pub const ORG_MAX_CUSTOM_FIELDS: usize = 5;

/// The custom fields of a snapshot merged into a chart with `current`'s: the
/// current ones first, then the upload's new ones; `Invalid` past the limit.
pub fn merged_custom_fields(current: &[String], upload: &[String]) -> StoreResult<Vec<String>> {
    let mut fields = current.to_vec();
    for f in upload {
        if !fields.contains(f) {
            fields.push(f.clone());
        }
    }
    if fields.len() > ORG_MAX_CUSTOM_FIELDS {
        return Err(crate::StoreError::invalid(format!(
            "merging gives {} custom fields ({}); an org chart has at most {ORG_MAX_CUSTOM_FIELDS}",
            fields.len(),
            fields.join(", ")
        )));
    }
    Ok(fields)
}

impl std::str::FromStr for OrgMode {
    type Err = crate::StoreError;
    fn from_str(s: &str) -> StoreResult<OrgMode> {
        match s {
            "replace" => Ok(OrgMode::Replace),
            "merge" => Ok(OrgMode::Merge),
            other => Err(crate::StoreError::Internal(format!(
                "unknown org-chart mode '{other}' in the database"
            ))),
        }
    }
}

/// A completed org-chart snapshot, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgSnapshotInfo {
    pub id: i64,
    pub name: String,
    pub mode: OrgMode,
    pub created_ms: i64,
    pub completed_ms: i64,
    pub people: u64,
    /// Whether it is the current org chart.
    pub active: bool,
}

/// Which events' bitmaps an insight needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSel {
    /// The per-day OR of all events (one bitmap per day).
    Any,
    /// Every event's own bitmaps.
    All,
    /// The bitmaps of the events of one feature group.
    Group(String),
}

/// What an insight asks of the store.
#[derive(Debug, Clone)]
pub struct InsightQuery {
    /// Local days `from_day..=to_day`.
    pub from_day: i32,
    pub to_day: i32,
    pub events: EventSel,
    /// Whether to load the exact latest timestamp per email.
    pub last_activity: bool,
    /// Whether to load the provisioned users.
    pub provisioned: bool,
    /// Whether to summarise the provisioned users ([`ProvisionedSummary`]).
    pub provisioned_summary: bool,
}

/// Counts over an app's provisioned users (cached until they or the org chart change).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProvisionedSummary {
    /// Distinct people (aliases resolved through the org chart).
    pub people: u64,
    /// Users per licence name (users without a licence are not counted).
    pub per_license: std::collections::BTreeMap<String, u64>,
    /// The people holding an account as report slots of the summary's org chart
    /// (a person's index in it; org size + email id for an email outside it), so a
    /// report counts the active ones without resolving every user again.
    pub slots: Vec<u32>,
    /// Emails outside the org chart without usage (so without an email id) when
    /// the summary was made: a report resolves these few itself, since they may
    /// have gained an id since.
    pub unresolved: Vec<String>,
}

impl ProvisionedSummary {
    /// The summary of `users` ((email, licence) of each) under the org chart `dir`,
    /// with `emails` for those outside it: the one computation of both backends.
    pub fn of<'a>(
        users: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
        dir: &Directory,
        emails: &EmailTable,
    ) -> ProvisionedSummary {
        let n_people = dir.people.len();
        let mut slots = std::collections::HashSet::new();
        let mut unresolved = std::collections::BTreeSet::new();
        let mut per_license = std::collections::BTreeMap::new();
        for (email, license) in users {
            let slot = dir
                .index_of(email)
                .or_else(|| emails.id(email).map(|id| n_people + id as usize));
            match slot {
                Some(slot) => {
                    slots.insert(slot as u32);
                }
                None => {
                    unresolved.insert(email.to_string());
                }
            }
            if let Some(l) = license {
                *per_license.entry(l.to_string()).or_insert(0) += 1;
            }
        }
        let mut slots: Vec<u32> = slots.into_iter().collect();
        slots.sort_unstable();
        ProvisionedSummary {
            people: (slots.len() + unresolved.len()) as u64,
            per_license,
            slots,
            unresolved: unresolved.into_iter().collect(),
        }
    }
}

/// [`InsightData::provisioned_people`] of a user outside the org chart.
pub const NO_PERSON: u32 = u32::MAX;

/// [`InsightData::provisioned_people`] of `users` under `dir`.
pub fn provisioned_people(users: &[ProvisionedUser], dir: &Directory) -> Vec<u32> {
    users
        .iter()
        .map(|u| dir.index_of(&u.email).map_or(NO_PERSON, |i| i as u32))
        .collect()
}

/// Each email id's latest event time in one app, dense by id (a report reads
/// every id's; a map cost a hash per email at 100,000 people).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastTimes(Vec<i64>);

/// No event yet (an id past the end has none either).
const NO_TIME: i64 = i64::MIN;

impl LastTimes {
    /// The times of `(email id, time)` pairs (the latest of an id's).
    pub fn of(pairs: impl IntoIterator<Item = (u32, i64)>) -> LastTimes {
        let mut t = LastTimes::default();
        for (id, ms) in pairs {
            t.raise(id, ms);
        }
        t
    }

    pub fn get(&self, id: u32) -> Option<i64> {
        self.0.get(id as usize).copied().filter(|&ms| ms != NO_TIME)
    }

    /// Keeps `ms` as the id's time when it is later than the one held.
    pub fn raise(&mut self, id: u32, ms: i64) {
        let at = id as usize;
        if self.0.len() <= at {
            self.0.resize(at + 1, NO_TIME);
        }
        self.0[at] = self.0[at].max(ms);
    }

    /// The ids with a time, in id order, with it.
    pub fn iter(&self) -> impl Iterator<Item = (u32, i64)> + '_ {
        (0u32..)
            .zip(&self.0)
            .filter(|&(_, &ms)| ms != NO_TIME)
            .map(|(id, &ms)| (id, ms))
    }

    /// Only the ids `keep` accepts.
    pub fn only(&self, keep: impl Fn(u32) -> bool) -> LastTimes {
        LastTimes(
            (0u32..)
                .zip(&self.0)
                .map(|(id, &ms)| if keep(id) { ms } else { NO_TIME })
                .collect(),
        )
    }

    /// The heap bytes it holds.
    pub fn capacity_bytes(&self) -> usize {
        self.0.capacity() * size_of::<i64>()
    }
}

/// The bitmap of the email ids that did `event` on local day `day` (`event` is
/// empty for [`EventSel::Any`]).
///
/// The bitmap is shared (the embedded store keeps it between reports), so a
/// viewer's cut does not change it: it carries the mask of the ids the viewer
/// may see, and every way of reading the bits applies that mask.
#[derive(Debug, Clone)]
pub struct DayBits {
    pub event: String,
    pub day: i32,
    bits: Arc<[u8]>,
    mask: Option<Arc<[u8]>>,
}

impl DayBits {
    pub fn new(event: String, day: i32, bits: Arc<[u8]>) -> DayBits {
        DayBits {
            event,
            day,
            bits,
            mask: None,
        }
    }

    /// Keeps only the ids set in `mask` in each of `days`, on top of any mask
    /// they carried (each distinct one and-ed with it once: a cut of a cut
    /// shares one mask, not one per bitmap).
    pub fn restrict_all(days: &mut [DayBits], mask: &Arc<[u8]>) {
        // (mask before, it and `mask`)
        let mut combined: Vec<[Arc<[u8]>; 2]> = Vec::new();
        for day in days {
            day.mask = Some(match day.mask.take() {
                None => Arc::clone(mask),
                Some(before) => match combined.iter().find(|[b, _]| Arc::ptr_eq(b, &before)) {
                    Some([_, both]) => Arc::clone(both),
                    None => {
                        let both: Arc<[u8]> =
                            before.iter().zip(mask.iter()).map(|(a, b)| a & b).collect();
                        combined.push([before, Arc::clone(&both)]);
                        both
                    }
                },
            });
        }
    }

    /// Whether email id `id` is set.
    pub fn contains(&self, id: u32) -> bool {
        usage_bits::get(&self.bits, id) && self.mask.as_ref().is_none_or(|m| usage_bits::get(m, id))
    }

    /// Sets in `acc` every id set here.
    pub fn or_into(&self, acc: &mut Vec<u8>) {
        match &self.mask {
            None => usage_bits::or_into(acc, &self.bits),
            Some(m) => usage_bits::or_masked_into(acc, &self.bits, m),
        }
    }

    /// The bitmap as shared, without the mask (to tell whether it was kept).
    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Arc<[u8]> {
        &self.bits
    }

    /// Adds the ids to `daily`'s day.
    pub fn add_to(&self, daily: &mut DailyIds) {
        daily.add(self.day, &self.bits, self.mask.as_deref());
    }
}

/// Everything the insights of one app are computed from.
#[derive(Debug, Clone)]
pub struct InsightData {
    pub app: AppRecord,
    pub days: Vec<DayBits>,
    /// The account's emails (at least every id the bitmaps hold).
    pub emails: Arc<EmailTable>,
    /// Email id -> person of `org` (everyone is their own person without one).
    pub resolver: Arc<Resolver>,
    /// Each email id's latest event timestamp in the app (when asked for).
    pub last_ms: Arc<LastTimes>,
    /// Ordered by `appUserId`; shared (cached until the users change).
    pub provisioned: Arc<Vec<ProvisionedUser>>,
    /// For each of `provisioned`, its person's index in `org`'s directory
    /// ([`NO_PERSON`] outside it), so reports need not look every user up again;
    /// empty when the store did not resolve them (a report then does).
    pub provisioned_people: Arc<Vec<u32>>,
    /// When asked for.
    pub provisioned_summary: Arc<ProvisionedSummary>,
    pub org: Option<OrgChart>,
}

#[async_trait]
pub trait UsageStore: Send + Sync {
    /// Defines an app; records `AppConnected`.
    async fn create_app(
        &self,
        account_id: i64,
        actor: &Actor,
        definition: AppDefinition,
    ) -> StoreResult<AppRecord>;
    async fn list_apps(&self, account_id: i64) -> StoreResult<Vec<AppRecord>>;
    /// `NotFound` for an unknown app or another account's.
    async fn app(&self, account_id: i64, app_id: &str) -> StoreResult<AppRecord>;
    /// Replaces the definition (pushed data is kept); records `AppUpdated`.
    async fn update_app(
        &self,
        account_id: i64,
        actor: &Actor,
        app_id: &str,
        definition: AppDefinition,
    ) -> StoreResult<AppRecord>;
    /// Stops accepting data; records `AppDisconnected`.
    async fn disconnect_app(
        &self,
        account_id: i64,
        actor: &Actor,
        app_id: &str,
    ) -> StoreResult<AppRecord>;
    /// Removes the app and its usage data; records `AppRemoved`.
    async fn delete_app(&self, account_id: i64, actor: &Actor, app_id: &str) -> StoreResult<()>;

    /// Stores events (ignoring ones already stored) and their rollups, all or nothing.
    /// Unknown event names or a disconnected app: `Invalid`.
    async fn push_events(
        &self,
        account_id: i64,
        app_id: &str,
        events: Vec<NewEvent>,
    ) -> StoreResult<PushOutcome>;

    /// Inserts or replaces provisioned users by `appUserId`; returns how many were written.
    async fn upsert_provisioned(
        &self,
        account_id: i64,
        app_id: &str,
        users: Vec<ProvisionedUser>,
    ) -> StoreResult<u64>;
    /// Users ordered by `appUserId`, after `after`, and the total count.
    async fn provisioned_page(
        &self,
        account_id: i64,
        app_id: &str,
        after: Option<String>,
        limit: usize,
    ) -> StoreResult<(Vec<ProvisionedUser>, u64)>;
    /// Removes the selected users (all when `None`); returns how many.
    async fn delete_provisioned(
        &self,
        account_id: i64,
        app_id: &str,
        selection: Option<UserSelection>,
    ) -> StoreResult<u64>;

    /// Starts an org-chart snapshot; returns its id.
    async fn start_org_chart(
        &self,
        account_id: i64,
        name: String,
        custom_fields: Vec<String>,
        mode: OrgMode,
    ) -> StoreResult<i64>;
    /// Adds people to an open snapshot; `has_more == false` makes it current (the
    /// previous one is kept, see [`ORG_SNAPSHOTS_KEPT`]) and records `UploadedOrgData`.
    async fn add_org_people(
        &self,
        account_id: i64,
        actor: &Actor,
        snapshot_id: i64,
        people: Vec<Employee>,
        has_more: bool,
    ) -> StoreResult<OrgPage>;
    /// A whole snapshot in one step (CSV upload), made current; records `UploadedOrgData`.
    async fn replace_org_chart(
        &self,
        account_id: i64,
        actor: &Actor,
        name: String,
        custom_fields: Vec<String>,
        people: Vec<Employee>,
        mode: OrgMode,
    ) -> StoreResult<OrgSwitch>;
    /// The custom fields a snapshot was started with (`NotFound` unless it is open).
    async fn open_org_chart_fields(
        &self,
        account_id: i64,
        snapshot_id: i64,
    ) -> StoreResult<Vec<String>>;
    /// The account's completed snapshots, newest first.
    async fn org_snapshots(&self, account_id: i64) -> StoreResult<Vec<OrgSnapshotInfo>>;
    /// Makes a kept snapshot current again; records `ActivatedOrgChart` unless it
    /// already was. `NotFound` for an unknown (or another account's, or dropped)
    /// snapshot, `Conflict` for one still open.
    async fn activate_org_chart(
        &self,
        account_id: i64,
        actor: &Actor,
        snapshot_id: i64,
    ) -> StoreResult<OrgSwitch>;
    async fn org_chart(&self, account_id: i64) -> StoreResult<Option<OrgChart>>;

    /// The activity bitmaps, email table, resolver, provisioned users and org chart
    /// an insight of an app needs.
    async fn insight_data(
        &self,
        account_id: i64,
        app_id: &str,
        query: InsightQuery,
    ) -> StoreResult<InsightData>;

    /// [`UsageStore::insight_data`] of several apps, in their order (by
    /// default concurrently, each on its own; a store may read them together).
    async fn insight_data_of_apps(
        &self,
        account_id: i64,
        app_ids: Vec<String>,
        query: InsightQuery,
    ) -> StoreResult<Vec<InsightData>> {
        futures_util::future::try_join_all(
            app_ids
                .iter()
                .map(|app_id| self.insight_data(account_id, app_id, query.clone())),
        )
        .await
    }

    /// The latest event timestamp in the app of each of `email_ids` that has
    /// one: what a report prints for the few people of its page, without
    /// reading every email's ([`InsightQuery::last_activity`]).
    async fn last_activity_of(
        &self,
        account_id: i64,
        app_id: &str,
        email_ids: Vec<u32>,
    ) -> StoreResult<FxHashMap<u32, i64>>;

    /// [`UsageStore::insight_data`] of several queries on one app, in their order
    /// (by default each on its own; the embedded store reads them in one
    /// transaction, so a page's reports see one state of the data).
    async fn insight_data_many(
        &self,
        account_id: i64,
        app_id: &str,
        queries: Vec<InsightQuery>,
    ) -> StoreResult<Vec<InsightData>> {
        futures_util::future::try_join_all(
            queries
                .into_iter()
                .map(|query| self.insight_data(account_id, app_id, query)),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(email: &str, aliases: &[&str]) -> Employee {
        Employee {
            email: email.into(),
            additional_emails: aliases.iter().map(|a| a.to_string()).collect(),
            ..Employee::default()
        }
    }

    #[test]
    fn a_summary_holds_each_person_once_as_the_resolvers_slot() {
        let dir = Directory::new(vec![
            person("ana@x.com", &["ana.d@x.com"]),
            person("bo@x.com", &[]),
        ]);
        // Ids 0 and 1: an alias of a person and an email outside the chart.
        let emails = EmailTable::default()
            .with_more(vec![(0, "ana.d@x.com".into()), (1, "out@y.com".into())]);
        let users = [
            ("ana@x.com", Some("Pro")),
            ("ana.d@x.com", Some("Basic")),
            ("out@y.com", None),
            ("new@y.com", Some("Pro")),
        ];
        let s = ProvisionedSummary::of(users, &dir, &emails);
        let resolver = Resolver::new(&dir, &emails);
        let out = resolver.slot_of_email(&dir, &emails, "out@y.com").unwrap() as u32;
        assert_eq!(s.slots, vec![0, out], "Ana once, under her index");
        assert_eq!(s.unresolved, vec!["new@y.com".to_string()]);
        assert_eq!(s.people, 3);
        assert_eq!(s.per_license.get("Pro"), Some(&2));
        assert_eq!(s.per_license.get("Basic"), Some(&1));
    }

    #[test]
    fn a_cut_of_a_cut_keeps_the_ids_of_both_masks_in_one_shared_mask() {
        let bits = |ids: &[u32]| -> Arc<[u8]> {
            let mut b = Vec::new();
            ids.iter().for_each(|&id| usage_bits::set(&mut b, id));
            b.into()
        };
        let mut days: Vec<DayBits> = (0..3)
            .map(|day| DayBits::new(String::new(), day, bits(&[1, 2, 3, 20])))
            .collect();
        DayBits::restrict_all(&mut days, &bits(&[1, 2, 20]));
        DayBits::restrict_all(&mut days, &bits(&[2, 3, 4]));
        for d in &days {
            let ids: Vec<u32> = (0..40).filter(|&id| d.contains(id)).collect();
            assert_eq!(ids, [2]);
            let mut acc = Vec::new();
            d.or_into(&mut acc);
            let mut from_union = Vec::new();
            usage_bits::for_each(&acc, |id| from_union.push(id));
            assert_eq!(from_union, [2]);
        }
        let mask = |d: &DayBits| d.mask.clone().expect("a mask");
        assert!(
            Arc::ptr_eq(&mask(&days[0]), &mask(&days[2])),
            "one mask for all"
        );
    }
}
