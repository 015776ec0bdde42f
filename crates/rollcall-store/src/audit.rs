//! The audit log (SPEC §6): an append-only, hash-chained stream per account.

use async_trait::async_trait;
use rollcall_core::audit_chain::{link_hash, Link, GENESIS};
use rollcall_core::workforce::ClassificationSet;
use rollcall_core::{Role, ScopeSet};
use serde_json::json;

use crate::usage::{OrgMode, OrgSwitch};
use crate::workforce::{Member, MoveOutcome, WfClient, WfComputer};

use crate::StoreResult;

/// One recorded administrative action.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// Position in the account's chain (1, 2, ...); also the paging key.
    pub seq: i64,
    pub id: String,
    pub ts_ms: i64,
    pub event_type: String,
    pub user_id: String,
    pub properties: Option<serde_json::Value>,
}

/// A place in an account's audit stream; pages resume after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditPosition {
    pub ts_ms: i64,
    pub seq: i64,
}

impl AuditPosition {
    /// Just before the first event at or after `ts_ms` (chain positions start at 1).
    pub fn before(ts_ms: i64) -> Self {
        AuditPosition { ts_ms, seq: 0 }
    }
}

/// An action as the chain stores it: the event type and its `eventProperties`.
/// Built only by [`AuditAction::entry`], so both backends and the server write
/// every event type with the same properties.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub(crate) event_type: &'static str,
    pub(crate) properties: Option<serde_json::Value>,
}

impl AuditEntry {
    pub fn event_type(&self) -> &'static str {
        self.event_type
    }
    pub fn properties(&self) -> Option<&serde_json::Value> {
        self.properties.as_ref()
    }
}

/// Who acted: the web user (the log's `userId`) and the credential they used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub email: String,
    /// `None` when no credential acted (`rollcall admin init`, a password login).
    pub credential_id: Option<i64>,
}

impl Actor {
    pub fn new(email: impl Into<String>, credential_id: Option<i64>) -> Actor {
        Actor {
            email: email.into(),
            credential_id,
        }
    }
}

/// One field of a change: its API name, the value before and after.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub field: &'static str,
    pub old: serde_json::Value,
    pub new: serde_json::Value,
}

impl Change {
    /// The change of `field`, or none when the value stayed the same.
    pub fn of<T: serde::Serialize + PartialEq>(
        field: &'static str,
        old: &T,
        new: &T,
    ) -> Option<Change> {
        (old != new).then(|| Change {
            field,
            old: serde_json::to_value(old).unwrap_or_default(),
            new: serde_json::to_value(new).unwrap_or_default(),
        })
    }
}

/// What a web user may see: the part of a user whose change is
/// `AdminUpdatedUserRole`.
#[derive(Debug, Clone, PartialEq)]
pub struct UserAccess {
    pub role: Role,
    pub viewable_groups: Vec<i64>,
    pub allowed_apps: Option<Vec<String>>,
    /// An employee's agent logins (what of the workforce data is theirs).
    pub logins: Vec<String>,
}

/// Which action on a connected app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppAction {
    Connected,
    Updated,
    Disconnected,
    Removed,
}

/// Every state-changing action Rollcall records (SPEC §6 and §13). The one place
/// an event's type and properties are decided: backends and handlers describe
/// what happened with one of these, [`AuditAction::entry`] writes the event.
#[derive(Debug, Clone)]
pub enum AuditAction {
    LoggedIn,
    /// A dashboard session ended by its user (logout).
    LoggedOut,
    /// A computer or client merged into another: `records` moved, `duplicates`
    /// dropped as copies of records the survivor had.
    MemberMerged {
        kind: Member,
        from: i64,
        into: i64,
        outcome: MoveOutcome,
    },
    /// A computer or client deleted with its `records`.
    MemberDeleted {
        kind: Member,
        id: i64,
        name: String,
        records: u64,
    },
    /// A dashboard login that failed: the email tried and the client's address.
    LoginFailed {
        email: String,
        address: String,
    },
    AdminAddedUser {
        email: String,
        access: UserAccess,
    },
    AdminRemovedUser {
        email: String,
    },
    /// Employees added in bulk from the org chart: how many were added, and
    /// how many of the chart's people were web users already.
    EmployeesAdded {
        added: usize,
        existing: usize,
    },
    /// A change of a web user: `AdminUpdatedUserRole` when their access changed,
    /// else `UserUpdated` (name or password). `changes` holds old and new values.
    UserUpdated {
        email: String,
        before: UserAccess,
        after: UserAccess,
        changes: Vec<Change>,
        password_changed: bool,
    },
    CredentialCreated {
        credential_id: i64,
        kind: &'static str,
        name: String,
        /// The scopes it carries now.
        scopes: ScopeSet,
        /// The web user an API key acts as (id, email).
        acts_as: Option<(i64, String)>,
        /// The app a write key pushes to.
        app_id: Option<String>,
    },
    CredentialRevoked {
        credential_id: i64,
        name: String,
    },
    SettingsChanged {
        changes: Vec<Change>,
    },
    ClassificationChanged {
        before: ClassificationSet,
        after: ClassificationSet,
    },
    /// The privacy policy changed: the old and new policy (settings only, never
    /// captured data).
    PrivacyChanged {
        before: Box<rollcall_core::privacy::PrivacyPolicy>,
        after: Box<rollcall_core::privacy::PrivacyPolicy>,
    },
    /// One person's data was erased: the email (the subject) and how many rows
    /// of each kind went, never the data itself.
    PersonErased {
        email: String,
        counts: crate::erasure::ErasedCounts,
    },
    GroupCreated {
        group_id: i64,
        name: String,
        clients: Vec<i64>,
        computers: Vec<i64>,
    },
    GroupUpdated {
        group_id: i64,
        name: String,
        clients: Vec<i64>,
        computers: Vec<i64>,
    },
    GroupDeleted {
        group_id: i64,
        name: String,
    },
    /// A tracked login's alias or employee mapping changed.
    ClientUpdated {
        client_id: i64,
        changes: Vec<Change>,
    },
    /// A computer's alias changed.
    ComputerUpdated {
        computer_id: i64,
        changes: Vec<Change>,
    },
    App {
        action: AppAction,
        app_id: String,
        name: String,
    },
    /// An org-chart upload completed and became current (`mode` for a CSV upload).
    UploadedOrgData {
        switch: OrgSwitch,
        mode: Option<OrgMode>,
    },
    /// A kept org-chart snapshot became current again.
    ActivatedOrgChart {
        switch: OrgSwitch,
    },
    UploadedSpendCsv {
        rows: usize,
        accepted: usize,
        duplicates: usize,
    },
    UploadedContractCsv {
        rows: usize,
        accepted: usize,
        duplicates: usize,
    },
    UploadedContractFile {
        contract_id: String,
        app_id: String,
        file_id: String,
        name: String,
        size: usize,
    },
    DownloadedOrgData {
        org_chart_id: i64,
        users: usize,
    },
    DownloadedUsersList {
        app_id: String,
        app: String,
        report: &'static str,
        users: usize,
    },
    DownloadedSpendCsv {
        rows: usize,
        app_id: Option<String>,
    },
    DownloadedContractCsv {
        rows: usize,
        app_id: Option<String>,
    },
    DownloadedContractFile {
        contract_id: String,
        app_id: String,
        file_id: String,
        name: String,
    },
}

/// Every event type [`AuditAction::entry`] writes (a new variant adds its type
/// here, so the audit API's `eventType` filter accepts it).
pub const EVENT_TYPES: &[&str] = &[
    "LoggedIn",
    "LoggedOut",
    "LoginFailed",
    "AdminAddedUser",
    "AdminRemovedUser",
    "EmployeesAdded",
    "AdminUpdatedUserRole",
    "UserUpdated",
    "CredentialCreated",
    "CredentialRevoked",
    "SettingsChanged",
    "ClassificationChanged",
    "PrivacyChanged",
    "PersonErased",
    "GroupChanged",
    "ClientUpdated",
    "ComputerUpdated",
    "ComputerMerged",
    "ClientMerged",
    "ComputerDeleted",
    "ClientDeleted",
    "AppConnected",
    "AppUpdated",
    "AppDisconnected",
    "AppRemoved",
    "UploadedOrgData",
    "ActivatedOrgChart",
    "UploadedSpendCsv",
    "UploadedContractCsv",
    "UploadedContractFile",
    "DownloadedOrgData",
    "DownloadedUsersList",
    "DownloadedSpendCsv",
    "DownloadedContractCsv",
    "DownloadedContractFile",
];

fn changes_json(changes: &[Change]) -> serde_json::Value {
    serde_json::Value::Object(
        changes
            .iter()
            .map(|c| (c.field.to_string(), json!({"old": c.old, "new": c.new})))
            .collect(),
    )
}

/// Entries of `before` and `after` whose productivity differs (or that were added
/// or removed: `null` on the missing side).
fn productivity_changes<'a>(
    key: &str,
    before: impl Iterator<Item = (&'a str, i8)>,
    after: impl Iterator<Item = (&'a str, i8)>,
) -> Vec<serde_json::Value> {
    let before: std::collections::BTreeMap<&str, i8> = before.collect();
    let after: std::collections::BTreeMap<&str, i8> = after.collect();
    let names: std::collections::BTreeSet<&str> =
        before.keys().chain(after.keys()).copied().collect();
    names
        .into_iter()
        .filter(|n| before.get(n) != after.get(n))
        .map(|n| json!({key: n, "old": before.get(n), "new": after.get(n)}))
        .collect()
}

impl AuditAction {
    /// The change of a tracked login (alias, employee mapping).
    pub fn client_updated(before: &WfClient, after: &WfClient) -> AuditAction {
        AuditAction::ClientUpdated {
            client_id: after.id,
            changes: [
                Change::of("alias", &before.alias, &after.alias),
                Change::of(
                    "employeeEmail",
                    &before.employee_email,
                    &after.employee_email,
                ),
            ]
            .into_iter()
            .flatten()
            .collect(),
        }
    }

    /// The change of a computer (alias).
    pub fn computer_updated(before: &WfComputer, after: &WfComputer) -> AuditAction {
        AuditAction::ComputerUpdated {
            computer_id: after.id,
            changes: Change::of("alias", &before.alias, &after.alias)
                .into_iter()
                .collect(),
        }
    }

    /// Whether the action changed anything; an action that did not is not recorded.
    pub fn changes_anything(&self) -> bool {
        match self {
            AuditAction::UserUpdated {
                changes,
                password_changed,
                before,
                after,
                ..
            } => !changes.is_empty() || *password_changed || before != after,
            AuditAction::SettingsChanged { changes }
            | AuditAction::ClientUpdated { changes, .. }
            | AuditAction::ComputerUpdated { changes, .. } => !changes.is_empty(),
            AuditAction::PrivacyChanged { before, after } => before != after,
            _ => true,
        }
    }

    /// The event type and `eventProperties` of this action by `actor`.
    pub fn entry(&self, actor: &Actor) -> AuditEntry {
        let (event_type, properties) = match self {
            AuditAction::LoggedIn => ("LoggedIn", None),
            AuditAction::LoggedOut => ("LoggedOut", None),
            AuditAction::MemberMerged {
                kind,
                from,
                into,
                outcome,
            } => {
                let (event, key) = match kind {
                    Member::Computer => ("ComputerMerged", "computerId"),
                    Member::Client => ("ClientMerged", "clientId"),
                };
                let props = json!({key: into, "mergedId": from, "records": outcome.records,
                                   "duplicates": outcome.duplicates});
                (event, Some(props))
            }
            AuditAction::MemberDeleted {
                kind,
                id,
                name,
                records,
            } => {
                let (event, key) = match kind {
                    Member::Computer => ("ComputerDeleted", "computerId"),
                    Member::Client => ("ClientDeleted", "clientId"),
                };
                (
                    event,
                    Some(json!({key: id, "name": name, "records": records})),
                )
            }
            AuditAction::LoginFailed { email, address } => (
                "LoginFailed",
                Some(json!({"email": email, "address": address})),
            ),
            AuditAction::AdminAddedUser { email, access } => {
                let mut p = json!({
                    "provisionedUserId": email,
                    "roles": [access.role.as_str()],
                    "viewableGroups": access.viewable_groups,
                    "allowedApps": access.allowed_apps.clone().unwrap_or_default(),
                });
                if !access.logins.is_empty() {
                    p["logins"] = json!(access.logins);
                }
                ("AdminAddedUser", Some(p))
            }
            AuditAction::EmployeesAdded { added, existing } => (
                "EmployeesAdded",
                Some(json!({"added": added, "existing": existing, "source": "orgChart"})),
            ),
            AuditAction::AdminRemovedUser { email } => (
                "AdminRemovedUser",
                Some(json!({"deprovisionedUserId": email})),
            ),
            AuditAction::UserUpdated {
                email,
                before,
                after,
                changes,
                password_changed,
            } => {
                let mut changes = changes.clone();
                changes.extend(Change::of(
                    "role",
                    &before.role.as_str(),
                    &after.role.as_str(),
                ));
                changes.extend(Change::of(
                    "viewableGroups",
                    &before.viewable_groups,
                    &after.viewable_groups,
                ));
                changes.extend(Change::of(
                    "allowedApps",
                    &before.allowed_apps,
                    &after.allowed_apps,
                ));
                changes.extend(Change::of("logins", &before.logins, &after.logins));
                let mut p = json!({
                    "provisionedUserId": email,
                    "changes": changes_json(&changes),
                    "passwordChanged": password_changed,
                });
                if before == after {
                    ("UserUpdated", Some(p))
                } else {
                    // The seed's fields: the user's access after the change.
                    p["roles"] = json!([after.role.as_str()]);
                    p["viewableGroups"] = json!(after.viewable_groups);
                    p["allowedApps"] = json!(after.allowed_apps.clone().unwrap_or_default());
                    ("AdminUpdatedUserRole", Some(p))
                }
            }
            AuditAction::CredentialCreated {
                credential_id,
                kind,
                name,
                scopes,
                acts_as,
                app_id,
            } => {
                let mut p = json!({"credentialId": credential_id, "type": kind, "name": name,
                                   "scopes": scopes.names()});
                if let Some(app_id) = app_id {
                    p["appId"] = json!(app_id);
                }
                if let Some((id, email)) = acts_as {
                    p["consumerId"] = json!(id);
                    p["actsAs"] = json!(email);
                }
                ("CredentialCreated", Some(p))
            }
            AuditAction::CredentialRevoked {
                credential_id,
                name,
            } => (
                "CredentialRevoked",
                Some(json!({"credentialId": credential_id, "name": name})),
            ),
            AuditAction::SettingsChanged { changes } => {
                ("SettingsChanged", Some(changes_json(changes)))
            }
            AuditAction::PrivacyChanged { before, after } => {
                ("PrivacyChanged", Some(json!({"old": before, "new": after})))
            }
            AuditAction::PersonErased { email, counts } => (
                "PersonErased",
                Some(json!({"email": email, "erased": counts})),
            ),
            AuditAction::ClassificationChanged { before, after } => {
                let mut p = json!({
                    "applications": productivity_changes(
                        "executable",
                        before.applications.iter().map(|a| (a.executable.as_str(), a.productivity)),
                        after.applications.iter().map(|a| (a.executable.as_str(), a.productivity)),
                    ),
                    "websites": productivity_changes(
                        "domain",
                        before.websites.iter().map(|w| (w.domain.as_str(), w.productivity)),
                        after.websites.iter().map(|w| (w.domain.as_str(), w.productivity)),
                    ),
                });
                if before.rules != after.rules {
                    p["rules"] = json!({"old": before.rules, "new": after.rules});
                }
                if before.group_overrides != after.group_overrides {
                    p["groupOverrides"] =
                        json!({"old": before.group_overrides, "new": after.group_overrides});
                }
                ("ClassificationChanged", Some(p))
            }
            AuditAction::GroupCreated {
                group_id,
                name,
                clients,
                computers,
            } => (
                "GroupChanged",
                Some(
                    json!({"action": "created", "groupId": group_id, "name": name,
                            "clients": clients, "computers": computers}),
                ),
            ),
            AuditAction::GroupUpdated {
                group_id,
                name,
                clients,
                computers,
            } => (
                "GroupChanged",
                Some(
                    json!({"action": "updated", "groupId": group_id, "name": name,
                            "clients": clients, "computers": computers}),
                ),
            ),
            AuditAction::GroupDeleted { group_id, name } => (
                "GroupChanged",
                Some(json!({"action": "deleted", "groupId": group_id, "name": name})),
            ),
            AuditAction::ClientUpdated { client_id, changes } => (
                "ClientUpdated",
                Some(json!({"clientId": client_id, "changes": changes_json(changes)})),
            ),
            AuditAction::ComputerUpdated {
                computer_id,
                changes,
            } => (
                "ComputerUpdated",
                Some(json!({"computerId": computer_id, "changes": changes_json(changes)})),
            ),
            AuditAction::App {
                action,
                app_id,
                name,
            } => (
                match action {
                    AppAction::Connected => "AppConnected",
                    AppAction::Updated => "AppUpdated",
                    AppAction::Disconnected => "AppDisconnected",
                    AppAction::Removed => "AppRemoved",
                },
                Some(json!({"app": name, "appId": app_id})),
            ),
            AuditAction::UploadedOrgData { switch, mode } => {
                ("UploadedOrgData", Some(org_switch_json(switch, *mode)))
            }
            AuditAction::ActivatedOrgChart { switch } => {
                ("ActivatedOrgChart", Some(org_switch_json(switch, None)))
            }
            AuditAction::UploadedSpendCsv {
                rows,
                accepted,
                duplicates,
            } => (
                "UploadedSpendCsv",
                Some(json!({"rows": rows, "accepted": accepted, "duplicates": duplicates})),
            ),
            AuditAction::UploadedContractCsv {
                rows,
                accepted,
                duplicates,
            } => (
                "UploadedContractCsv",
                Some(json!({"rows": rows, "accepted": accepted, "duplicates": duplicates})),
            ),
            AuditAction::UploadedContractFile {
                contract_id,
                app_id,
                file_id,
                name,
                size,
            } => (
                "UploadedContractFile",
                Some(json!({"contractId": contract_id, "appId": app_id,
                            "fileId": file_id, "name": name, "size": size})),
            ),
            AuditAction::DownloadedOrgData {
                org_chart_id,
                users,
            } => (
                "DownloadedOrgData",
                Some(json!({"orgChartId": org_chart_id, "users": users})),
            ),
            AuditAction::DownloadedUsersList {
                app_id,
                app,
                report,
                users,
            } => (
                "DownloadedUsersList",
                Some(json!({"appId": app_id, "app": app, "report": report, "users": users})),
            ),
            AuditAction::DownloadedSpendCsv { rows, app_id } => {
                ("DownloadedSpendCsv", Some(download_json(*rows, app_id)))
            }
            AuditAction::DownloadedContractCsv { rows, app_id } => {
                ("DownloadedContractCsv", Some(download_json(*rows, app_id)))
            }
            AuditAction::DownloadedContractFile {
                contract_id,
                app_id,
                file_id,
                name,
            } => (
                "DownloadedContractFile",
                Some(json!({"contractId": contract_id, "appId": app_id,
                            "fileId": file_id, "name": name})),
            ),
        };
        debug_assert!(EVENT_TYPES.contains(&event_type), "{event_type} not listed");
        AuditEntry {
            event_type,
            properties: with_credential(properties, actor.credential_id),
        }
    }
}

/// The properties of an org chart becoming current: its size and how it changed.
fn org_switch_json(switch: &OrgSwitch, mode: Option<OrgMode>) -> serde_json::Value {
    let mut props = json!({
        "orgChartId": switch.id,
        "users": switch.people,
        "added": switch.changes.added,
        "removed": switch.changes.removed,
        "changed": switch.changes.changed,
    });
    if let Some(previous) = switch.previous {
        props["previousOrgChartId"] = previous.into();
    }
    if let Some(mode) = mode {
        props["mode"] = mode.as_str().into();
    }
    props
}

fn download_json(rows: usize, app_id: &Option<String>) -> serde_json::Value {
    let mut p = json!({"rows": rows});
    if let Some(app) = app_id {
        p["appId"] = json!(app);
    }
    p
}

/// Adds the acting credential to an event's properties (an event without
/// properties gets them only when a credential acted).
fn with_credential(
    properties: Option<serde_json::Value>,
    credential_id: Option<i64>,
) -> Option<serde_json::Value> {
    let Some(id) = credential_id else {
        return properties;
    };
    let mut p = properties.unwrap_or_else(|| json!({}));
    if let serde_json::Value::Object(map) = &mut p {
        // Not `credentialId`: events about a credential already name it so.
        map.insert("actorCredentialId".to_string(), json!(id));
    }
    Some(p)
}

/// Which events a page holds (`eventType`, `userId`; `None` = any).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditFilter {
    pub event_type: Option<String>,
    /// The acting web user's email, compared in lower case.
    pub user_id: Option<String>,
}

/// What `rollcall audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainReport {
    Intact {
        accounts: u64,
        events: u64,
    },
    Broken {
        account_id: i64,
        seq: i64,
        id: Option<String>,
        reason: String,
    },
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Events after `after` (in `(ts, seq)` order) with `ts < end_ms` that match
    /// `filter`, in chain order.
    async fn audit_events(
        &self,
        account_id: i64,
        after: AuditPosition,
        end_ms: i64,
        filter: &AuditFilter,
        limit: usize,
    ) -> StoreResult<Vec<AuditEvent>>;
    /// Records an action that is not itself a write (a download, say).
    async fn record_audit(
        &self,
        account_id: i64,
        actor: &Actor,
        action: AuditAction,
    ) -> StoreResult<()>;
    /// Walks every account's chain and reports the first broken link.
    async fn verify_audit_chain(&self) -> StoreResult<ChainReport>;
}

/// Where an account's chain ends: the link the next event attaches to.
#[derive(Debug, Clone)]
pub struct ChainHead {
    pub seq: i64,
    pub ts_ms: i64,
    pub hash: String,
}

impl ChainHead {
    /// The head of an empty chain.
    pub fn genesis() -> ChainHead {
        ChainHead {
            seq: 0,
            ts_ms: i64::MIN,
            hash: GENESIS.to_string(),
        }
    }
}

/// An event as stored: the next link after a head.
#[derive(Debug, Clone)]
pub struct NewLink {
    pub seq: i64,
    pub id: String,
    pub ts_ms: i64,
    /// `eventProperties` as JSON text ("" for none).
    pub properties: String,
    pub hash: String,
}

impl NewLink {
    /// The link that records `entry` after `head`. Timestamps never go backwards
    /// within an account, so chain order and time order agree and page tokens can
    /// follow `(ts, seq)`.
    pub fn after(
        head: &ChainHead,
        account_id: i64,
        actor: &str,
        entry: &AuditEntry,
        now_ms: i64,
    ) -> NewLink {
        let seq = head.seq + 1;
        let ts_ms = now_ms.max(head.ts_ms);
        let id = rollcall_core::secret::random_hex(16);
        let properties = entry
            .properties
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let hash = link_hash(
            &head.hash,
            &Link {
                account_id,
                seq,
                id: &id,
                ts_ms,
                event_type: entry.event_type,
                user_id: actor,
                properties: &properties,
            },
        );
        NewLink {
            seq,
            id,
            ts_ms,
            properties,
            hash,
        }
    }
}

/// One stored event, as `audit verify` reads it.
pub struct StoredLink<'a> {
    pub seq: i64,
    pub id: &'a str,
    pub ts_ms: i64,
    pub event_type: &'a str,
    pub user_id: &'a str,
    pub properties: &'a str,
    pub hash: &'a str,
}

/// Checks one account's chain, fed its events in `seq` order.
pub struct ChainWalk {
    account_id: i64,
    prev: String,
    expected_seq: i64,
}

impl ChainWalk {
    pub fn new(account_id: i64) -> ChainWalk {
        ChainWalk {
            account_id,
            prev: GENESIS.to_string(),
            expected_seq: 1,
        }
    }

    /// The next stored event: a missing or altered one is the chain's break.
    pub fn check(&mut self, link: &StoredLink<'_>) -> Result<(), ChainReport> {
        if link.seq != self.expected_seq {
            return Err(ChainReport::Broken {
                account_id: self.account_id,
                seq: self.expected_seq,
                id: None,
                reason: format!(
                    "event {} is missing (next present is {})",
                    self.expected_seq, link.seq
                ),
            });
        }
        let computed = link_hash(
            &self.prev,
            &Link {
                account_id: self.account_id,
                seq: link.seq,
                id: link.id,
                ts_ms: link.ts_ms,
                event_type: link.event_type,
                user_id: link.user_id,
                properties: link.properties,
            },
        );
        if computed != link.hash {
            return Err(ChainReport::Broken {
                account_id: self.account_id,
                seq: link.seq,
                id: Some(link.id.to_string()),
                reason: "its contents do not match its hash (altered)".to_string(),
            });
        }
        self.prev = link.hash.to_string();
        self.expected_seq += 1;
        Ok(())
    }

    /// After the last stored event: the chain must end where its head says
    /// (else events were deleted from the end). Returns how many events it holds.
    pub fn finish(self, head_seq: i64, head_hash: &str) -> Result<u64, ChainReport> {
        let events = self.expected_seq - 1;
        if events != head_seq || self.prev != head_hash {
            return Err(ChainReport::Broken {
                account_id: self.account_id,
                seq: self.expected_seq,
                id: None,
                reason: format!(
                    "the chain ends at event {events} but {head_seq} events were written (deleted from the end)"
                ),
            });
        }
        Ok(events as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(role: Role) -> UserAccess {
        UserAccess {
            role,
            viewable_groups: vec![-1],
            allowed_apps: None,
            logins: Vec::new(),
        }
    }

    #[test]
    fn every_event_names_the_acting_credential() {
        let by_key = Actor::new("a@example.com", Some(7));
        let e = AuditAction::LoggedIn.entry(&by_key);
        assert_eq!(e.event_type(), "LoggedIn");
        assert_eq!(e.properties(), Some(&json!({"actorCredentialId": 7})));
        let e = AuditAction::LoggedIn.entry(&Actor::new("a@example.com", None));
        assert_eq!(e.properties(), None);
        let e = AuditAction::CredentialRevoked {
            credential_id: 3,
            name: "k".into(),
        }
        .entry(&by_key);
        assert_eq!(
            e.properties(),
            Some(&json!({"credentialId": 3, "name": "k", "actorCredentialId": 7}))
        );
    }

    #[test]
    fn a_user_change_is_a_role_change_only_when_access_changed() {
        let actor = Actor::new("a@example.com", None);
        let renamed = AuditAction::UserUpdated {
            email: "u@example.com".into(),
            before: access(Role::Viewer),
            after: access(Role::Viewer),
            changes: Change::of("name", &"A", &"B").into_iter().collect(),
            password_changed: false,
        };
        assert!(renamed.changes_anything());
        let e = renamed.entry(&actor);
        assert_eq!(e.event_type(), "UserUpdated");
        assert_eq!(
            e.properties().unwrap()["changes"],
            json!({"name": {"old": "A", "new": "B"}})
        );
        let promoted = AuditAction::UserUpdated {
            email: "u@example.com".into(),
            before: access(Role::Viewer),
            after: access(Role::Admin),
            changes: Vec::new(),
            password_changed: false,
        };
        let e = promoted.entry(&actor);
        assert_eq!(e.event_type(), "AdminUpdatedUserRole");
        assert_eq!(e.properties().unwrap()["roles"], json!(["admin"]));
        assert_eq!(
            e.properties().unwrap()["changes"]["role"],
            json!({"old": "viewer", "new": "admin"})
        );
        let nothing = AuditAction::UserUpdated {
            email: "u@example.com".into(),
            before: access(Role::Viewer),
            after: access(Role::Viewer),
            changes: Vec::new(),
            password_changed: false,
        };
        assert!(!nothing.changes_anything());
    }

    #[test]
    fn classification_changes_list_old_and_new_productivity() {
        let set = |apps: &[(&str, i8)]| ClassificationSet {
            applications: apps
                .iter()
                .map(|(e, p)| rollcall_core::workforce::AppClass {
                    executable: e.to_string(),
                    productivity: *p,
                })
                .collect(),
            ..ClassificationSet::default()
        };
        let e = AuditAction::ClassificationChanged {
            before: set(&[("a.exe", 1), ("b.exe", 0), ("c.exe", -1)]),
            after: set(&[("a.exe", 1), ("b.exe", -1), ("d.exe", 1)]),
        }
        .entry(&Actor::new("a@example.com", None));
        assert_eq!(
            e.properties().unwrap()["applications"],
            json!([
                {"executable": "b.exe", "old": 0, "new": -1},
                {"executable": "c.exe", "old": -1, "new": null},
                {"executable": "d.exe", "old": null, "new": 1},
            ])
        );
        assert!(e.properties().unwrap().get("rules").is_none());
    }
}
