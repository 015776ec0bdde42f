//! Who is calling: credentials, OAuth access tokens and dashboard logins.

use async_trait::async_trait;
use rollcall_core::{Role, ScopeSet};

use crate::admin::RateLimit;
use crate::audit::Actor;
use crate::StoreResult;

/// The authenticated caller of a request, as resolved from its credential.
#[derive(Debug, Clone)]
pub struct Principal {
    pub account_id: i64,
    pub credential_id: i64,
    /// The web user acting (for an OAuth client: the user who created it); the
    /// audit log's `userId`.
    pub actor_email: String,
    pub role: Role,
    pub scopes: ScopeSet,
    /// `None` = every group (`-1`).
    pub viewable_groups: Option<Vec<i64>>,
    /// `None` = every app.
    pub allowed_apps: Option<Vec<String>>,
    pub rate_limit: RateLimit,
    /// The web user behind the credential: an API key's user, an OAuth
    /// client's owner. `None` only for callers that are no web user.
    pub consumer_id: Option<i64>,
    /// Whether the caller is an OAuth client's access token (a program acting
    /// for its owner) rather than the user's own key: only the latter may
    /// manage the user's own keys without the `admin` scope.
    pub via_oauth_client: bool,
}

impl Principal {
    /// Who the audit log names for this caller's actions.
    pub fn actor(&self) -> Actor {
        Actor::new(self.actor_email.clone(), Some(self.credential_id))
    }

    /// Whether the caller sees every group and app (audit events, for one, are
    /// only for such readers).
    pub fn is_unrestricted(&self) -> bool {
        self.viewable_groups.is_none() && self.allowed_apps.is_none()
    }

    pub fn may_see_app(&self, app_id: &str) -> bool {
        self.allowed_apps
            .as_ref()
            .is_none_or(|apps| apps.iter().any(|a| a == app_id))
    }
}

/// What a web user of `role` with stored `groups` and `apps` sees in the
/// report APIs: admins everything; a viewer their groups (`-1` = all) and apps;
/// an employee no group and no app (their own data is reached only under
/// `/me`, never through a report's filters).
pub fn restrictions(
    role: Role,
    groups: Vec<i64>,
    apps: Option<Vec<String>>,
) -> (Option<Vec<i64>>, Option<Vec<String>>) {
    match role {
        Role::Superadmin | Role::Admin => (None, None),
        Role::Employee => (Some(Vec::new()), Some(Vec::new())),
        Role::Viewer if groups.contains(&-1) => (None, apps),
        Role::Viewer => (Some(groups), apps),
    }
}

/// An OAuth client as the token endpoint needs it.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub credential_id: i64,
    pub account_id: i64,
    pub secret_hash: String,
    /// The client's scopes within what its owner's role allows now.
    pub scopes: ScopeSet,
}

/// A web user who may log in with a password.
#[derive(Debug, Clone)]
pub struct LoginCandidate {
    pub account_id: i64,
    pub consumer_id: i64,
    pub email: String,
    pub password_hash: String,
}

#[async_trait]
pub trait AuthStore: Send + Sync {
    /// Resolves an API key or access token (by its hash) that is neither revoked nor expired.
    async fn principal(&self, secret_hash: &str, now_ms: i64) -> StoreResult<Option<Principal>>;
    async fn oauth_client(&self, client_id: &str) -> StoreResult<Option<OAuthClient>>;
    async fn issue_access_token(
        &self,
        credential_id: i64,
        token_hash: &str,
        scopes: ScopeSet,
        expires_ms: i64,
    ) -> StoreResult<()>;
    /// Web users with this email that have a password, in every account.
    async fn login_candidates(&self, email: &str) -> StoreResult<Vec<LoginCandidate>>;
    /// Whether a credential of the account still works (signed links die with
    /// the credential that asked for them).
    async fn credential_active(&self, account_id: i64, credential_id: i64) -> StoreResult<bool>;
    /// Records `LoggedIn`.
    async fn record_login(&self, account_id: i64, email: &str) -> StoreResult<()>;

    /// Starts a dashboard session for a web user (by the hash of its token) and
    /// records `LoggedIn` in the same transaction.
    async fn create_session(&self, session: NewSession) -> StoreResult<()>;
    /// The web user behind a live session, resolved exactly as an API key of that
    /// user would be (role, groups, apps read now). A session idle for longer than
    /// `idle_ms` is deleted and answers `None`; a live one has its last use moved
    /// forward (at most once a minute, to spare the writer).
    async fn session_principal(
        &self,
        token_hash: &str,
        now_ms: i64,
        idle_ms: i64,
    ) -> StoreResult<Option<Principal>>;
    /// Ends a session and records `LoggedOut`; `false` when there was none.
    async fn end_session(&self, token_hash: &str) -> StoreResult<bool>;
}

/// A dashboard session about to start.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub account_id: i64,
    pub consumer_id: i64,
    pub email: String,
    pub token_hash: String,
    pub now_ms: i64,
}

/// How long a session may go unused before it ends (SPEC §9: 12 h idle).
pub const SESSION_IDLE_MS: i64 = 12 * 3600 * 1000;

/// A session's last use is written at most this often.
pub const SESSION_TOUCH_MS: i64 = 60 * 1000;

/// Sessions get rate-limit buckets apart from credentials' (whose ids are positive).
pub fn session_bucket(session_id: i64) -> i64 {
    -session_id
}
