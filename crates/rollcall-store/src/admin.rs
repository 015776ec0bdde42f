//! Accounts, their settings, web users (consumers) and credentials.

use async_trait::async_trait;
use rollcall_core::{Email, Role, ScopeSet};

use crate::audit::{Actor, AuditAction, Change, UserAccess};
use crate::error::ItemError;
use crate::{StoreError, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

/// An account's settings (SPEC §3 `/admin/v1/settings`).
#[derive(Debug, Clone, PartialEq)]
pub struct AccountSettings {
    pub time_zone: String,
    /// `None` = unlimited passive time.
    pub passive_limit_minutes: Option<u32>,
    pub activity_retention_days: u32,
    pub usage_retention_days: u32,
    pub rate_limit: RateLimit,
}

/// A change of settings; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct SettingsPatch {
    pub time_zone: Option<String>,
    pub passive_limit_minutes: Option<Option<u32>>,
    pub activity_retention_days: Option<u32>,
    pub usage_retention_days: Option<u32>,
    pub rate_limit: Option<RateLimit>,
}

impl SettingsPatch {
    /// Applies the patch to `settings`; returns the fields that changed, named as
    /// in the API with their old and new values, for `SettingsChanged`.
    pub fn apply(self, settings: &mut AccountSettings) -> Vec<Change> {
        let before = settings.clone();
        if let Some(tz) = self.time_zone {
            settings.time_zone = tz;
        }
        if let Some(limit) = self.passive_limit_minutes {
            settings.passive_limit_minutes = limit;
        }
        if let Some(days) = self.activity_retention_days {
            settings.activity_retention_days = days;
        }
        if let Some(days) = self.usage_retention_days {
            settings.usage_retention_days = days;
        }
        if let Some(rate) = self.rate_limit {
            settings.rate_limit = rate;
        }
        [
            Change::of("timeZone", &before.time_zone, &settings.time_zone),
            Change::of(
                "passiveLimitMinutes",
                &before.passive_limit_minutes,
                &settings.passive_limit_minutes,
            ),
            Change::of(
                "activityRetentionDays",
                &before.activity_retention_days,
                &settings.activity_retention_days,
            ),
            Change::of(
                "usageRetentionDays",
                &before.usage_retention_days,
                &settings.usage_retention_days,
            ),
            Change::of("rateLimit", &before.rate_limit, &settings.rate_limit),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

#[derive(Debug, Clone)]
pub struct Consumer {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// `[-1]` = all groups.
    pub viewable_groups: Vec<i64>,
    /// `None` = all apps.
    pub allowed_apps: Option<Vec<String>>,
    /// An employee's agent logins (`DOMAIN\\name`, lower-case): whose working
    /// hours and activity are theirs (SPEC §11).
    pub logins: Vec<String>,
    pub created_ms: i64,
}

#[derive(Debug, Clone)]
pub struct NewConsumer {
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub password_hash: Option<String>,
    pub viewable_groups: Vec<i64>,
    pub allowed_apps: Option<Vec<String>>,
    /// An employee's agent logins (lower-case); empty for other roles.
    pub logins: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ConsumerPatch {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub password_hash: Option<String>,
    pub viewable_groups: Option<Vec<i64>>,
    pub allowed_apps: Option<Option<Vec<String>>>,
    pub logins: Option<Vec<String>>,
}

impl Consumer {
    pub fn access(&self) -> UserAccess {
        UserAccess {
            role: self.role,
            viewable_groups: self.viewable_groups.clone(),
            allowed_apps: self.allowed_apps.clone(),
            logins: self.logins.clone(),
        }
    }
}

impl NewConsumer {
    pub fn access(&self) -> UserAccess {
        UserAccess {
            role: self.role,
            viewable_groups: self.viewable_groups.clone(),
            allowed_apps: self.allowed_apps.clone(),
            logins: self.logins.clone(),
        }
    }
}

/// What adding employees in bulk did: who was added, and how many of the
/// people were web users already (left as they are).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmployeesAdded {
    pub added: Vec<(i64, String)>,
    pub existing: usize,
}

impl ConsumerPatch {
    /// Applies the patch (all but the password) to `consumer`; returns the audit
    /// action (`AdminUpdatedUserRole` or `UserUpdated`) with what changed.
    pub fn apply(&self, consumer: &mut Consumer) -> AuditAction {
        let before = consumer.access();
        let old_name = consumer.name.clone();
        if let Some(name) = &self.name {
            consumer.name = name.clone();
        }
        if let Some(role) = self.role {
            consumer.role = role;
        }
        if let Some(groups) = &self.viewable_groups {
            consumer.viewable_groups = groups.clone();
        }
        if let Some(apps) = &self.allowed_apps {
            consumer.allowed_apps = apps.clone();
        }
        if let Some(logins) = &self.logins {
            consumer.logins = logins.clone();
        }
        // Logins belong to employees: a user who leaves the role loses them
        // (decided here, inside each backend's transaction).
        if consumer.role != Role::Employee {
            consumer.logins.clear();
        }
        AuditAction::UserUpdated {
            email: consumer.email.clone(),
            before,
            after: consumer.access(),
            changes: Change::of("name", &old_name, &consumer.name)
                .into_iter()
                .collect(),
            password_changed: self.password_hash.is_some(),
        }
    }
}

/// Whether a change to a web user ends their dashboard sessions: a new password,
/// or a role that sees less than before (superadmin > admin > viewer > employee).
pub fn ends_sessions(old_role: Role, patch: &ConsumerPatch) -> bool {
    patch.password_hash.is_some() || patch.role.is_some_and(|new| new.rank() < old_role.rank())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    ApiKey,
    OAuthClient,
    /// A Segment write key (SPEC §10.1): pushes to one app, nothing else.
    WriteKey,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::ApiKey => "apiKey",
            CredentialKind::OAuthClient => "oauthClient",
            CredentialKind::WriteKey => "writeKey",
        }
    }
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "apiKey" => Some(CredentialKind::ApiKey),
            "oauthClient" => Some(CredentialKind::OAuthClient),
            "writeKey" => Some(CredentialKind::WriteKey),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Credential {
    pub id: i64,
    pub kind: CredentialKind,
    pub name: String,
    pub consumer_id: Option<i64>,
    pub client_id: Option<String>,
    /// What the credential may do now: an API key's narrowed scopes (or its
    /// user's role's) within that role; an OAuth client's within its owner's role.
    pub scopes: ScopeSet,
    pub created_by: String,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
    /// A write key's app (public id).
    pub app_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewCredential {
    pub kind: CredentialKind,
    pub name: String,
    /// API keys act as this web user.
    pub consumer_id: Option<i64>,
    pub client_id: Option<String>,
    pub secret_hash: String,
    /// An OAuth client's scopes; for an API key, a narrowing of its user's role
    /// (empty = everything the role allows, now and after a role change).
    pub scopes: ScopeSet,
    /// OAuth clients only: the web user who creates the client, to whom it
    /// belongs; it never exceeds their role and stops when they are removed.
    pub owner_id: Option<i64>,
    /// Write keys only: the app (public id) it pushes to.
    pub app_id: Option<String>,
}

impl NewCredential {
    /// The owner as stored: only OAuth clients have one (an API key acts as its
    /// user and must outlive the admin who made it).
    pub fn owner(&self) -> Option<i64> {
        match self.kind {
            CredentialKind::OAuthClient => self.owner_id,
            CredentialKind::ApiKey | CredentialKind::WriteKey => None,
        }
    }

    /// The scopes the new credential will carry, after checking they stay within
    /// what the user behind it may do: an API key within its user's role, an
    /// OAuth client within its owner's.
    pub fn checked_scopes(
        &self,
        user: Option<&Consumer>,
        owner: Option<&Consumer>,
    ) -> StoreResult<ScopeSet> {
        let bound = match self.kind {
            CredentialKind::ApiKey => user,
            CredentialKind::OAuthClient => owner,
            // A write key carries no scope: it is accepted by the tracking API only.
            CredentialKind::WriteKey => return Ok(ScopeSet::default()),
        };
        let Some(bound) = bound else {
            return Err(StoreError::invalid(match self.kind {
                CredentialKind::ApiKey => "an API key must act as a web user (consumerId)",
                CredentialKind::OAuthClient => "an OAuth client must belong to a web user",
                CredentialKind::WriteKey => "a write key needs no web user",
            }));
        };
        let allowed = bound.role.scopes();
        if !self.scopes.is_subset_of(allowed) {
            let beyond: Vec<String> = self
                .scopes
                .iter()
                .filter(|s| !allowed.contains(*s))
                .map(|s| s.as_str().to_string())
                .collect();
            return Err(StoreError::invalid(format!(
                "scopes {} are beyond what {} ({}) may do",
                beyond.join(", "),
                bound.email,
                bound.role.as_str()
            )));
        }
        Ok(match self.kind {
            CredentialKind::ApiKey => effective_scopes(self.scopes, bound.role),
            CredentialKind::OAuthClient | CredentialKind::WriteKey => self.scopes,
        })
    }
}

/// The scopes a credential carries now: `stored` (empty = all) within what the
/// role of the user behind it allows.
pub fn effective_scopes(stored: ScopeSet, role: Role) -> ScopeSet {
    if stored.is_empty() {
        role.scopes()
    } else {
        stored.intersection(role.scopes())
    }
}

/// Refuses a change that would leave the account without a superadmin (nobody
/// could administer it any more). `superadmins` counts them before the change.
pub fn keep_a_superadmin(before: Role, after: Option<Role>, superadmins: i64) -> StoreResult<()> {
    let loses_one = before == Role::Superadmin && after != Some(Role::Superadmin);
    if loses_one && superadmins <= 1 {
        return Err(StoreError::Conflict(
            "this is the account's last superadmin: make another web user superadmin first".into(),
        ));
    }
    Ok(())
}

/// Refuses `viewableGroups` or `allowedApps` naming groups or apps that do not
/// exist in the account (a typo would otherwise silently hide everything).
pub fn check_access_refs(
    groups: &[i64],
    apps: Option<&[String]>,
    known_groups: &[i64],
    known_apps: &[String],
) -> StoreResult<()> {
    let mut items = Vec::new();
    for (index, g) in groups.iter().enumerate().filter(|(_, g)| **g != -1) {
        if !known_groups.contains(g) {
            items.push(ItemError {
                index: Some(index),
                field: Some("viewableGroups".into()),
                message: format!("group {g} does not exist"),
            });
        }
    }
    for (index, a) in apps.unwrap_or_default().iter().enumerate() {
        if !known_apps.contains(a) {
            items.push(ItemError {
                index: Some(index),
                field: Some("allowedApps".into()),
                message: format!("app {a} does not exist"),
            });
        }
    }
    if items.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            message: "viewableGroups and allowedApps must name existing groups and apps".into(),
            items,
        })
    }
}

/// Everything `rollcall admin init` creates, in one transaction.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub name: String,
    pub superadmin: NewConsumer,
    pub api_key_hash: String,
    pub client_id: String,
    pub client_secret_hash: String,
}

#[async_trait]
pub trait AdminStore: Send + Sync {
    /// Creates an account with its superadmin, an API key and an OAuth client
    /// carrying every scope. Returns (account id, superadmin id).
    async fn create_account(&self, new: NewAccount) -> StoreResult<(i64, i64)>;
    async fn settings(&self, account_id: i64) -> StoreResult<AccountSettings>;
    /// Records `SettingsChanged`.
    async fn update_settings(
        &self,
        account_id: i64,
        actor: &Actor,
        patch: SettingsPatch,
    ) -> StoreResult<AccountSettings>;

    async fn consumers(&self, account_id: i64) -> StoreResult<Vec<Consumer>>;
    async fn consumer(&self, account_id: i64, id: i64) -> StoreResult<Consumer>;
    /// Records `AdminAddedUser`.
    async fn create_consumer(
        &self,
        account_id: i64,
        actor: &Actor,
        new: NewConsumer,
    ) -> StoreResult<i64>;
    /// Records `AdminUpdatedUserRole` when the role, groups or apps change.
    async fn update_consumer(
        &self,
        account_id: i64,
        actor: &Actor,
        id: i64,
        patch: ConsumerPatch,
    ) -> StoreResult<()>;
    /// Adds each of `people` (role employee) whose email is no web user yet;
    /// the others are left as they are. Records one `EmployeesAdded` with the
    /// counts (nothing when nobody is added).
    async fn create_employees(
        &self,
        account_id: i64,
        actor: &Actor,
        people: Vec<NewConsumer>,
    ) -> StoreResult<EmployeesAdded>;
    /// Records `AdminRemovedUser` and revokes the user's API keys.
    async fn delete_consumer(&self, account_id: i64, actor: &Actor, id: i64) -> StoreResult<()>;

    async fn credentials(&self, account_id: i64) -> StoreResult<Vec<Credential>>;
    /// Records `CredentialCreated`.
    async fn create_credential(
        &self,
        account_id: i64,
        actor: &Actor,
        new: NewCredential,
    ) -> StoreResult<i64>;
    /// Records `CredentialRevoked`; the credential and its access tokens stop working at once.
    async fn revoke_credential(&self, account_id: i64, actor: &Actor, id: i64) -> StoreResult<()>;

    /// Periodic clean-up (expired access tokens, data past retention).
    async fn maintenance(&self, now_ms: i64) -> StoreResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollcall_core::Scope;

    #[test]
    fn a_narrowed_key_stays_within_its_role() {
        let agent: ScopeSet = [Scope::ActivityWrite].into_iter().collect();
        assert_eq!(effective_scopes(agent, Role::Admin), agent);
        assert!(effective_scopes(agent, Role::Viewer).is_empty());
        assert_eq!(
            effective_scopes(ScopeSet::default(), Role::Viewer),
            Role::Viewer.scopes()
        );
    }

    #[test]
    fn only_the_last_superadmin_is_kept() {
        assert!(keep_a_superadmin(Role::Superadmin, None, 1).is_err());
        assert!(keep_a_superadmin(Role::Superadmin, Some(Role::Admin), 1).is_err());
        assert!(keep_a_superadmin(Role::Superadmin, Some(Role::Superadmin), 1).is_ok());
        assert!(keep_a_superadmin(Role::Superadmin, None, 2).is_ok());
        assert!(keep_a_superadmin(Role::Admin, None, 1).is_ok());
    }

    #[test]
    fn unknown_groups_and_apps_are_named_by_index() {
        let err = check_access_refs(&[-1, 4, 5], Some(&["x".to_string()]), &[4], &[]).unwrap_err();
        let StoreError::Invalid { items, .. } = err else {
            panic!("{err:?}")
        };
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].index, Some(2));
        assert_eq!(items[1].field.as_deref(), Some("allowedApps"));
        assert!(check_access_refs(&[-1], None, &[], &[]).is_ok());
    }
}
