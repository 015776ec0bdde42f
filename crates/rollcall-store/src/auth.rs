//! Who is calling: credentials, OAuth access tokens and dashboard logins.

use async_trait::async_trait;
use rollcall_core::{Role, ScopeSet};

use crate::admin::RateLimit;
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
}

impl Principal {
    pub fn may_see_app(&self, app_id: &str) -> bool {
        self.allowed_apps
            .as_ref()
            .is_none_or(|apps| apps.iter().any(|a| a == app_id))
    }
}

/// An OAuth client as the token endpoint needs it.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub credential_id: i64,
    pub account_id: i64,
    pub secret_hash: String,
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
    /// Records `LoggedIn`.
    async fn record_login(&self, account_id: i64, email: &str) -> StoreResult<()>;
}
