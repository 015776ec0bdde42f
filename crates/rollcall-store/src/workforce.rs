//! Workforce activity (SPEC §5): agent ingest, clients, computers, groups,
//! classifications, working hours and the activity log. `day_keys` holds the
//! kept day walks of working hours under a group filter, which both backends
//! use; `member_emails` the kept emails a viewer limited to groups sees;
//! `record_runs` what both stores' runs of records share.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use rollcall_core::workforce::{ClassificationSet, Split, SplitSeconds};

use crate::audit::Actor;
use crate::{now_ms, StoreError, StoreResult};

pub(crate) mod day_keys;
pub mod member_emails;
pub(crate) mod record_runs;

/// The computer an agent runs on, as it describes itself.
#[derive(Debug, Clone)]
pub struct ComputerInfo {
    pub name: String,
    pub primary_domain: String,
    pub os: String,
    /// Validated IANA zone; `None` = the account's.
    pub time_zone: Option<String>,
    pub private_ip: String,
    pub public_ip: String,
}

/// The OS login (`loginDomain\name`) an agent reports.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub login_domain: String,
    pub name: String,
}

/// One validated foreground-window interval.
#[derive(Debug, Clone)]
pub struct NewRecord {
    /// After clock-skew correction.
    pub start_ms: i64,
    /// As sent; with (computer, session, executable) the record's identity.
    pub raw_start_ms: i64,
    pub duration_s: i64,
    pub executable: String,
    pub description: String,
    pub url: Option<String>,
    /// Domain of `url`, when it has one.
    pub website: Option<String>,
    pub idle: bool,
    /// Seconds of the record's idle stretch already elapsed when it starts
    /// (`idleOffsetSeconds`; 0 when not given).
    pub idle_offset_s: i64,
    /// Bit `i`: redaction rule `i` of the batch's `redaction_keys` changed the
    /// title or URL (0 when none did).
    pub redacted_by: u32,
}

#[derive(Debug, Clone)]
pub struct ActivityBatch {
    pub computer: ComputerInfo,
    pub client: ClientInfo,
    pub session: i64,
    pub records: Vec<NewRecord>,
    /// The counter key of each redaction rule the records' `redacted_by` bits
    /// name (empty when none ran).
    pub redaction_keys: Vec<String>,
}

impl ActivityBatch {
    /// The first start and the last end of the batch's records (now for an
    /// empty batch, which the stores do not register).
    pub fn span(&self) -> (i64, i64) {
        let first = self
            .records
            .iter()
            .map(|r| r.start_ms)
            .min()
            .unwrap_or_else(now_ms);
        let last = self
            .records
            .iter()
            .map(|r| r.start_ms + r.duration_s * 1000)
            .max()
            .unwrap_or(first);
        (first, last)
    }
}

/// Which directory an administrative change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member {
    Computer,
    Client,
}

impl Member {
    /// The noun in messages.
    pub fn noun(self) -> &'static str {
        match self {
            Member::Computer => "computer",
            Member::Client => "client",
        }
    }
}

/// Where a kind of member lives in both backends' schemas (the same table and
/// column names in each).
pub(crate) struct MemberSide {
    pub table: &'static str,
    /// Its column in the records and rollups, and the other party's.
    pub col: &'static str,
    pub other: &'static str,
    pub kind: &'static str,
    pub domain: &'static str,
}

pub(crate) fn member_side(kind: Member) -> MemberSide {
    match kind {
        Member::Computer => MemberSide {
            table: "wf_computers",
            col: "computer_id",
            other: "client_id",
            kind: "m",
            domain: "primary_domain",
        },
        Member::Client => MemberSide {
            table: "wf_clients",
            col: "client_id",
            other: "computer_id",
            kind: "c",
            domain: "login_domain",
        },
    }
}

/// What merging moved: records moved to the surviving computer or client, and
/// those dropped as duplicates of a record it already had.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MoveOutcome {
    pub records: u64,
    pub duplicates: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IngestOutcome {
    pub accepted: u64,
    pub duplicates: u64,
    /// Of the records accepted, how many each redaction rule changed.
    pub redacted: crate::privacy::RedactionTally,
}

#[derive(Debug, Clone)]
pub struct WfClient {
    pub id: i64,
    pub login_domain: String,
    pub name: String,
    pub alias: Option<String>,
    pub employee_email: Option<String>,
    pub groups: Vec<i64>,
    pub first_log_ms: i64,
    pub last_log_ms: i64,
    /// Clients merged into this one: (id, login domain, name).
    pub merged: Vec<(i64, String, String)>,
}

#[derive(Debug, Clone)]
pub struct WfComputer {
    pub id: i64,
    pub name: String,
    pub primary_domain: String,
    pub alias: Option<String>,
    pub os: String,
    pub time_zone: Option<String>,
    pub private_ip: String,
    pub public_ip: String,
    pub groups: Vec<i64>,
    pub first_log_ms: i64,
    pub last_log_ms: i64,
    /// Computers merged into this one: (id, name, primary domain).
    pub merged: Vec<(i64, String, String)>,
}

/// `None` leaves a field as it is; `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ClientPatch {
    pub alias: Option<Option<String>>,
    pub employee_email: Option<Option<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct ComputerPatch {
    pub alias: Option<Option<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: i64,
    pub name: String,
    pub clients: Vec<i64>,
    pub computers: Vec<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct GroupPatch {
    pub name: Option<String>,
    pub clients: Option<Vec<i64>>,
    pub computers: Option<Vec<i64>>,
}

/// Which rows a report covers: the request's filter and the caller's groups.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Scoping {
    pub client_id: Option<i64>,
    pub computer_id: Option<i64>,
    pub group_id: Option<i64>,
    /// A viewer's groups; `None` = every group.
    #[serde(skip)]
    pub viewable_groups: Option<Vec<i64>>,
}

/// Whether a caller limited to `viewable` groups (`None` = every group) sees a
/// client or computer that belongs to `groups`.
pub fn sees_member(viewable: &Option<Vec<i64>>, groups: &[i64]) -> bool {
    viewable
        .as_ref()
        .is_none_or(|v| groups.iter().any(|g| v.contains(g)))
}

/// Whether a caller limited to `viewable` groups sees group `id`.
pub fn sees_group(viewable: &Option<Vec<i64>>, id: i64) -> bool {
    viewable.as_ref().is_none_or(|v| v.contains(&id))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perspective {
    Users,
    Computers,
}

#[derive(Debug, Clone)]
pub struct WorkingHoursQuery {
    pub perspective: Perspective,
    pub from_day: i32,
    pub to_day: i32,
    pub page: u32,
    pub page_size: u32,
    pub scoping: Scoping,
}

/// One working-hours row: one (user, date) or (computer, date).
#[derive(Debug, Clone)]
pub struct WorkingHoursRow {
    pub day: i32,
    /// The client (users view) or computer (computers view).
    pub id: i64,
    pub name: String,
    pub groups: Vec<i64>,
    /// Computers used (users view) or users seen (computers view).
    pub others: Vec<i64>,
    pub first_activity_ms: Option<i64>,
    pub last_activity_ms: Option<i64>,
    pub last_activity_log_ms: i64,
    pub active: SplitSeconds,
    pub passive: SplitSeconds,
}

/// One working-hours row being summed from the rollups (span rows, then active
/// and passive time already classified); both stores build rows with it.
#[derive(Debug, Default)]
pub struct HoursAcc {
    others: BTreeSet<i64>,
    first_active: Option<i64>,
    last_active: Option<i64>,
    last_any: i64,
    active: Split,
    passive: Split,
}

impl HoursAcc {
    /// A span rollup row: the other party of its (client, computer) pair, the
    /// first and last active instants (none on a day without active time) and
    /// the end of its last record.
    pub fn add_span(
        &mut self,
        other: i64,
        first_active: Option<i64>,
        last_active: Option<i64>,
        last_any: i64,
    ) {
        self.others.insert(other);
        if let Some(fa) = first_active {
            self.first_active = Some(self.first_active.map_or(fa, |x| x.min(fa)));
        }
        if let Some(la) = last_active {
            self.last_active = Some(self.last_active.map_or(la, |x| x.max(la)));
        }
        self.last_any = self.last_any.max(last_any);
    }

    pub fn add_active(&mut self, productivity: i8, ms: i64) {
        self.active.add(productivity, ms);
    }

    pub fn add_passive(&mut self, productivity: i8, ms: i64) {
        self.passive.add(productivity, ms);
    }

    pub fn into_row(self, day: i32, id: i64, name: String, groups: Vec<i64>) -> WorkingHoursRow {
        WorkingHoursRow {
            day,
            id,
            name,
            groups,
            others: self.others.into_iter().collect(),
            first_activity_ms: self.first_active,
            last_activity_ms: self.last_active,
            last_activity_log_ms: self.last_any,
            active: self.active.seconds(),
            passive: self.passive.seconds(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct WorkingHoursPage {
    pub rows: Vec<WorkingHoursRow>,
    pub total: u64,
}

/// Where an activity-log read resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogPosition {
    /// Last delivered log id.
    pub after: i64,
    /// Rows up to this id were visible at the first request and are bounded by
    /// its dates; later rows are delivered whatever their date.
    pub watermark: i64,
    pub from_day: i32,
    pub to_day: Option<i32>,
}

impl LogPosition {
    /// Where the next page starts after one whose last row is `last_log_id`. An
    /// empty page keeps the position, except that a first request (no cursor
    /// given) moves to the watermark, since nothing at or below it matched the
    /// dates.
    pub fn after_page(self, last_log_id: Option<i64>, first_request: bool) -> LogPosition {
        match last_log_id {
            Some(after) => LogPosition { after, ..self },
            None if first_request => LogPosition {
                after: self.watermark,
                ..self
            },
            None => self,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ActivityLogQuery {
    /// `None`: a first request; the store sets the watermark.
    pub position: Option<LogPosition>,
    pub from_day: i32,
    pub to_day: Option<i32>,
    pub limit: u32,
    pub min_duration: Option<i64>,
    pub max_duration: Option<i64>,
    pub scoping: Scoping,
}

/// One activity-log record. Its computer and user are shared by every row of
/// the page that names them (a page has few distinct ones); its strings are
/// spans of the page's [`LogText`].
#[derive(Debug, Clone)]
pub struct LogRow {
    pub log_id: i64,
    pub productivity: i8,
    pub start_ms: i64,
    pub computer: Arc<LogComputer>,
    pub user: Arc<LogUser>,
    pub session: i64,
    pub duration_s: i64,
    pub application_id: i64,
    pub website_id: Option<i64>,
    pub executable: TextSpan,
    pub description: TextSpan,
    pub url: Option<TextSpan>,
    pub idle: bool,
}

/// The strings of a page of the log, one after another in one buffer: a page
/// of 1,000 rows costs one allocation, not three a row.
#[derive(Debug, Clone, Default)]
pub struct LogText(String);

/// Where one string of a [`LogText`] lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextSpan {
    start: usize,
    end: usize,
}

impl LogText {
    pub fn with_capacity(bytes: usize) -> LogText {
        LogText(String::with_capacity(bytes))
    }

    /// Appends `s`; the span to read it back with.
    pub fn push(&mut self, s: &str) -> TextSpan {
        let start = self.0.len();
        self.0.push_str(s);
        TextSpan {
            start,
            end: self.0.len(),
        }
    }

    /// The string at `span` (one this text returned).
    pub fn get(&self, span: TextSpan) -> &str {
        &self.0[span.start..span.end]
    }
}

/// The computer fields of an activity-log row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogComputer {
    pub id: i64,
    pub name: String,
    pub primary_domain: String,
    pub private_ip: String,
    pub public_ip: String,
}

/// The user (agent client) fields of an activity-log row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogUser {
    pub id: i64,
    pub login_domain: String,
    pub name: String,
}

/// The computers and users a page of the log names, each built once and
/// shared by the page's rows.
#[derive(Default)]
pub struct LogNames {
    computers: HashMap<i64, Arc<LogComputer>>,
    users: HashMap<i64, Arc<LogUser>>,
}

impl LogNames {
    pub fn add_computer(&mut self, computer: LogComputer) {
        self.computers.insert(computer.id, Arc::new(computer));
    }

    pub fn add_user(&mut self, user: LogUser) {
        self.users.insert(user.id, Arc::new(user));
    }

    pub fn knows_computer(&self, id: i64) -> bool {
        self.computers.contains_key(&id)
    }

    pub fn knows_user(&self, id: i64) -> bool {
        self.users.contains_key(&id)
    }

    /// The computer and user of record `log_id`.
    pub fn of(
        &self,
        log_id: i64,
        computer_id: i64,
        client_id: i64,
    ) -> StoreResult<(Arc<LogComputer>, Arc<LogUser>)> {
        let unknown = |what: &str, id: i64| {
            StoreError::Internal(format!("log record {log_id} names {what} {id}, unknown"))
        };
        let computer = self
            .computers
            .get(&computer_id)
            .ok_or_else(|| unknown("computer", computer_id))?;
        let user = self
            .users
            .get(&client_id)
            .ok_or_else(|| unknown("client", client_id))?;
        Ok((Arc::clone(computer), Arc::clone(user)))
    }
}

#[derive(Debug, Clone)]
pub struct ActivityLogPage {
    pub rows: Vec<LogRow>,
    /// The rows' strings.
    pub text: LogText,
    /// The position after this page (the same as the request's when it is empty).
    pub position: LogPosition,
}

#[async_trait]
pub trait WorkforceStore: Send + Sync {
    /// Stores a validated batch with its rollups; registers the computer and client.
    async fn ingest_activity(
        &self,
        account_id: i64,
        batch: ActivityBatch,
    ) -> StoreResult<IngestOutcome>;

    async fn wf_clients(&self, account_id: i64, scoping: Scoping) -> StoreResult<Vec<WfClient>>;
    async fn wf_client(&self, account_id: i64, scoping: Scoping, id: i64) -> StoreResult<WfClient>;
    /// Records `ClientUpdated` when something changed.
    async fn update_wf_client(
        &self,
        account_id: i64,
        actor: &Actor,
        id: i64,
        patch: ClientPatch,
    ) -> StoreResult<WfClient>;
    async fn wf_computers(&self, account_id: i64, scoping: Scoping)
        -> StoreResult<Vec<WfComputer>>;
    async fn wf_computer(
        &self,
        account_id: i64,
        scoping: Scoping,
        id: i64,
    ) -> StoreResult<WfComputer>;
    /// Records `ComputerUpdated` when something changed.
    async fn update_wf_computer(
        &self,
        account_id: i64,
        actor: &Actor,
        id: i64,
        patch: ComputerPatch,
    ) -> StoreResult<WfComputer>;

    /// Merges computer or client `from` into `into`: its records (re-counted
    /// under `into`, as if its agent had sent them; duplicates of `into`'s own
    /// records dropped), its groups, its alias or email where `into` has none;
    /// its identity stays an alias of `into`, so its agent's later batches land
    /// there. Records `ComputerMerged` / `ClientMerged`.
    async fn merge_wf(
        &self,
        account_id: i64,
        actor: &Actor,
        kind: Member,
        from: i64,
        into: i64,
    ) -> StoreResult<MoveOutcome>;

    /// Deletes a computer or client with all its activity (records, rollups,
    /// stretches, group memberships, and the identities merged into it).
    /// Records `ComputerDeleted` / `ClientDeleted`; returns the records deleted.
    async fn delete_wf(
        &self,
        account_id: i64,
        actor: &Actor,
        kind: Member,
        id: i64,
    ) -> StoreResult<u64>;

    /// The employee emails (lower-cased) of the clients, not merged into
    /// another, that are members of one of `groups`: the people a viewer
    /// limited to those groups sees in the usage reports. The embedded store
    /// hands out the same set while the account's memberships stay as they
    /// are (see [`member_emails`]).
    async fn group_employee_emails(
        &self,
        account_id: i64,
        groups: Vec<i64>,
    ) -> StoreResult<member_emails::EmailSet>;

    /// Groups the caller may see (`viewable` `None` = all).
    async fn groups(&self, account_id: i64, viewable: Option<Vec<i64>>) -> StoreResult<Vec<Group>>;
    async fn group(
        &self,
        account_id: i64,
        viewable: Option<Vec<i64>>,
        id: i64,
    ) -> StoreResult<Group>;
    /// Records `GroupChanged`.
    async fn create_group(
        &self,
        account_id: i64,
        actor: &Actor,
        name: String,
        clients: Vec<i64>,
        computers: Vec<i64>,
    ) -> StoreResult<i64>;
    /// Records `GroupChanged`.
    async fn update_group(
        &self,
        account_id: i64,
        actor: &Actor,
        id: i64,
        patch: GroupPatch,
    ) -> StoreResult<Group>;
    /// Records `GroupChanged`.
    async fn delete_group(&self, account_id: i64, actor: &Actor, id: i64) -> StoreResult<()>;

    async fn classifications(&self, account_id: i64) -> StoreResult<ClassificationSet>;
    /// Replaces the whole set (already normalized); records `ClassificationChanged`.
    async fn put_classifications(
        &self,
        account_id: i64,
        actor: &Actor,
        set: ClassificationSet,
    ) -> StoreResult<()>;

    async fn working_hours(
        &self,
        account_id: i64,
        query: WorkingHoursQuery,
    ) -> StoreResult<WorkingHoursPage>;
    async fn activity_log(
        &self,
        account_id: i64,
        query: ActivityLogQuery,
    ) -> StoreResult<ActivityLogPage>;
}

/// Records and batches for the stores' tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::{ActivityBatch, ClientInfo, ComputerInfo, NewRecord};

    /// A minute of `exe` from `start_ms` (as sent), untitled, on a page of
    /// `website` when one is given.
    pub(crate) fn record(start_ms: i64, exe: &str, website: Option<&str>, idle: bool) -> NewRecord {
        NewRecord {
            start_ms,
            raw_start_ms: start_ms,
            duration_s: 60,
            executable: exe.into(),
            description: String::new(),
            url: website.map(|w| format!("https://{w}/")),
            website: website.map(Into::into),
            idle,
            idle_offset_s: 0,
            redacted_by: 0,
        }
    }

    /// `records` of user `CORP\u` on computer `PC` of `corp`, session 1.
    pub(crate) fn batch(records: Vec<NewRecord>) -> ActivityBatch {
        ActivityBatch {
            computer: ComputerInfo {
                name: "PC".into(),
                primary_domain: "corp".into(),
                os: String::new(),
                time_zone: None,
                private_ip: String::new(),
                public_ip: String::new(),
            },
            client: ClientInfo {
                login_domain: "CORP".into(),
                name: "u".into(),
            },
            session: 1,
            records,
            redaction_keys: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_viewer_sees_members_of_its_groups_only() {
        assert!(sees_member(&None, &[]));
        assert!(!sees_member(&Some(vec![1]), &[]));
        assert!(sees_member(&Some(vec![1]), &[2, 1]));
        assert!(!sees_member(&Some(vec![]), &[2]));
        assert!(sees_group(&None, 3));
        assert!(sees_group(&Some(vec![3]), 3));
        assert!(!sees_group(&Some(vec![1]), 3));
    }

    #[test]
    fn a_page_text_gives_back_each_string_it_was_given() {
        let mut text = LogText::with_capacity(4);
        let a = text.push("chrome.exe");
        let empty = text.push("");
        let b = text.push("Inbox – Mail");
        assert_eq!(text.get(a), "chrome.exe");
        assert_eq!(text.get(empty), "");
        assert_eq!(text.get(b), "Inbox – Mail");
    }
}
