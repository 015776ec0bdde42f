//! Accounts, their settings, web users (consumers) and credentials.

use async_trait::async_trait;
use rollcall_core::{Email, Role, ScopeSet};

use crate::StoreResult;

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
    /// Applies the patch to `settings`; returns the changed fields, named as in the
    /// API, for the `SettingsChanged` audit event.
    pub fn apply(self, settings: &mut AccountSettings) -> serde_json::Value {
        use serde_json::json;
        let mut changed = serde_json::Map::new();
        if let Some(tz) = self.time_zone {
            changed.insert("timeZone".into(), json!(tz));
            settings.time_zone = tz;
        }
        if let Some(limit) = self.passive_limit_minutes {
            changed.insert("passiveLimitMinutes".into(), json!(limit));
            settings.passive_limit_minutes = limit;
        }
        if let Some(days) = self.activity_retention_days {
            changed.insert("activityRetentionDays".into(), json!(days));
            settings.activity_retention_days = days;
        }
        if let Some(days) = self.usage_retention_days {
            changed.insert("usageRetentionDays".into(), json!(days));
            settings.usage_retention_days = days;
        }
        if let Some(rate) = self.rate_limit {
            changed.insert("rateLimit".into(), json!(rate));
            settings.rate_limit = rate;
        }
        serde_json::Value::Object(changed)
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
}

#[derive(Debug, Clone, Default)]
pub struct ConsumerPatch {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub password_hash: Option<String>,
    pub viewable_groups: Option<Vec<i64>>,
    pub allowed_apps: Option<Option<Vec<String>>>,
}

impl ConsumerPatch {
    /// Applies the patch (all but the password) to `consumer`; returns the
    /// `AdminUpdatedUserRole` audit properties when the user's access changed.
    pub fn apply(&self, consumer: &mut Consumer) -> Option<serde_json::Value> {
        let access_changed = self.role.is_some_and(|r| r != consumer.role)
            || self.viewable_groups.is_some()
            || self.allowed_apps.is_some();
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
        access_changed.then(|| {
            serde_json::json!({
                "provisionedUserId": consumer.email,
                "roles": [consumer.role.as_str()],
                "viewableGroups": consumer.viewable_groups,
                "allowedApps": consumer.allowed_apps.clone().unwrap_or_default(),
            })
        })
    }
}

/// Whether a change to a web user ends their dashboard sessions: a new password,
/// or a role that sees less than before (superadmin > admin > viewer).
pub fn ends_sessions(old_role: Role, patch: &ConsumerPatch) -> bool {
    let rank = |r: Role| match r {
        Role::Superadmin => 2,
        Role::Admin => 1,
        Role::Viewer => 0,
    };
    patch.password_hash.is_some() || patch.role.is_some_and(|new| rank(new) < rank(old_role))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    ApiKey,
    OAuthClient,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::ApiKey => "apiKey",
            CredentialKind::OAuthClient => "oauthClient",
        }
    }
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "apiKey" => Some(CredentialKind::ApiKey),
            "oauthClient" => Some(CredentialKind::OAuthClient),
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
    /// For an API key: the scopes of its user's role at the time of listing.
    pub scopes: ScopeSet,
    pub created_by: String,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewCredential {
    pub kind: CredentialKind,
    pub name: String,
    /// API keys act as this web user.
    pub consumer_id: Option<i64>,
    pub client_id: Option<String>,
    pub secret_hash: String,
    /// OAuth clients only; an API key takes its user's role's scopes.
    pub scopes: ScopeSet,
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
        actor: &str,
        patch: SettingsPatch,
    ) -> StoreResult<AccountSettings>;

    async fn consumers(&self, account_id: i64) -> StoreResult<Vec<Consumer>>;
    async fn consumer(&self, account_id: i64, id: i64) -> StoreResult<Consumer>;
    /// Records `AdminAddedUser`.
    async fn create_consumer(
        &self,
        account_id: i64,
        actor: &str,
        new: NewConsumer,
    ) -> StoreResult<i64>;
    /// Records `AdminUpdatedUserRole` when the role, groups or apps change.
    async fn update_consumer(
        &self,
        account_id: i64,
        actor: &str,
        id: i64,
        patch: ConsumerPatch,
    ) -> StoreResult<()>;
    /// Records `AdminRemovedUser` and revokes the user's API keys.
    async fn delete_consumer(&self, account_id: i64, actor: &str, id: i64) -> StoreResult<()>;

    async fn credentials(&self, account_id: i64) -> StoreResult<Vec<Credential>>;
    /// Records `CredentialCreated`.
    async fn create_credential(
        &self,
        account_id: i64,
        actor: &str,
        new: NewCredential,
    ) -> StoreResult<i64>;
    /// Records `CredentialRevoked`; the credential and its access tokens stop working at once.
    async fn revoke_credential(&self, account_id: i64, actor: &str, id: i64) -> StoreResult<()>;

    /// Periodic clean-up (expired access tokens, data past retention).
    async fn maintenance(&self, now_ms: i64) -> StoreResult<()>;
}
