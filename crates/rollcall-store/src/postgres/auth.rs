//! Credential look-ups for every request, OAuth tokens and logins. Each request
//! reads its credential from the database (an API key and an access token in one
//! statement, so a request costs one round trip whichever it carries), so a
//! revocation made through any process is refused by every process on its next
//! request.

use async_trait::async_trait;
use rollcall_core::{Role, ScopeSet};
use tokio_postgres::Row;

use super::{audit, PgStore};
use crate::admin::{effective_scopes, RateLimit};
use crate::audit::{Actor, AuditAction};
use crate::auth::{
    session_bucket, AuthStore, LoginCandidate, NewSession, OAuthClient, Principal, SESSION_TOUCH_MS,
};
use crate::sqlite::auth::parse_scopes;
use crate::{StoreError, StoreResult};

pub(crate) fn parse_role(text: &str) -> StoreResult<Role> {
    Role::parse(text).ok_or_else(|| StoreError::Internal(format!("unknown stored role {text}")))
}

pub(crate) fn rate_limit(r: &Row, per_second: usize, burst: usize) -> RateLimit {
    RateLimit {
        per_second: r.get::<_, i64>(per_second) as u32,
        burst: r.get::<_, i64>(burst) as u32,
    }
}

/// The principal of a row of [`PRINCIPAL_SQL`]: an API key acts as its user; an
/// access token as its client's owner, within the owner's current role.
fn principal_row(r: &Row) -> StoreResult<Principal> {
    let oauth = r.get::<_, i32>(0) == 1;
    let role = parse_role(r.get(4))?;
    let groups: Vec<i64> = serde_json::from_str(r.get(5)).unwrap_or_default();
    let apps: Option<Vec<String>> = r
        .get::<_, Option<&str>>(6)
        .and_then(|a| serde_json::from_str(a).ok());
    let (viewable_groups, allowed_apps) = crate::auth::restrictions(role, groups, apps);
    let stored = parse_scopes(r.get(7));
    // A token carries the scopes it was granted (never empty = "all").
    let scopes = if oauth {
        stored.intersection(role.scopes())
    } else {
        effective_scopes(stored, role)
    };
    Ok(Principal {
        account_id: r.get(2),
        credential_id: r.get(1),
        actor_email: r.get(3),
        role,
        scopes,
        viewable_groups,
        allowed_apps,
        rate_limit: rate_limit(r, 8, 9),
        consumer_id: Some(r.get(10)),
        via_oauth_client: oauth,
    })
}

/// A secret as an API key and as an OAuth access token, in one round trip: at
/// most one row of each kind (both are unique hashes), the API key's first, as
/// the two look-ups were made in turn before. Columns: kind, credential id,
/// account, user email, role, viewable groups, allowed apps, stored scopes,
/// rate per second, burst, user id. A token whose client's owner was removed
/// has no row.
const PRINCIPAL_SQL: &str = "
    SELECT 0 AS k, c.id, c.account_id, u.email, u.role, u.viewable_groups, u.allowed_apps,
           c.scopes, a.rate_per_second, a.rate_burst, u.id
    FROM credentials c
    JOIN consumers u ON u.id = c.consumer_id
    JOIN accounts a ON a.id = c.account_id
    WHERE c.secret_hash = $1 AND c.kind = 'apiKey' AND c.revoked_ms IS NULL
    UNION ALL
    SELECT 1, c.id, c.account_id, o.email, o.role, o.viewable_groups, o.allowed_apps,
           t.scopes, a.rate_per_second, a.rate_burst, o.id
    FROM access_tokens t
    JOIN credentials c ON c.id = t.credential_id
    JOIN consumers o ON o.id = c.owner_id AND o.account_id = c.account_id
    JOIN accounts a ON a.id = c.account_id
    WHERE t.token_hash = $1 AND t.expires_ms > $2 AND c.revoked_ms IS NULL
    ORDER BY 1 LIMIT 1";

#[async_trait]
impl AuthStore for PgStore {
    async fn principal(&self, secret_hash: &str, now_ms: i64) -> StoreResult<Option<Principal>> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(PRINCIPAL_SQL).await?;
        client
            .query_opt(&stmt, &[&secret_hash, &now_ms])
            .await?
            .map(|r| principal_row(&r))
            .transpose()
    }

    async fn oauth_client(&self, client_id: &str) -> StoreResult<Option<OAuthClient>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT c.id, c.account_id, c.secret_hash, c.scopes, o.role FROM credentials c
                 JOIN consumers o ON o.id = c.owner_id AND o.account_id = c.account_id
                 WHERE c.client_id = $1 AND c.kind = 'oauthClient' AND c.revoked_ms IS NULL",
                &[&client_id],
            )
            .await?;
        row.map(|r| {
            Ok(OAuthClient {
                credential_id: r.get(0),
                account_id: r.get(1),
                secret_hash: r.get(2),
                scopes: parse_scopes(r.get(3)).intersection(parse_role(r.get(4))?.scopes()),
            })
        })
        .transpose()
    }

    async fn issue_access_token(
        &self,
        credential_id: i64,
        token_hash: &str,
        scopes: ScopeSet,
        expires_ms: i64,
    ) -> StoreResult<()> {
        let client = self.client().await?;
        // One statement: the token is stored only while the client is not revoked,
        // so a revocation racing the token endpoint cannot leave a live token.
        let inserted = client
            .execute(
                "INSERT INTO access_tokens (token_hash, credential_id, scopes, expires_ms)
                 SELECT $1, id, $3, $4 FROM credentials WHERE id = $2 AND revoked_ms IS NULL",
                &[
                    &token_hash,
                    &credential_id,
                    &scopes.to_oauth_string(),
                    &expires_ms,
                ],
            )
            .await?;
        if inserted == 0 {
            return Err(StoreError::NotFound("the client was revoked".into()));
        }
        Ok(())
    }

    async fn login_candidates(&self, email: &str) -> StoreResult<Vec<LoginCandidate>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT account_id, id, email, password_hash FROM consumers
                 WHERE email = $1 AND password_hash IS NOT NULL ORDER BY account_id",
                &[&email.to_lowercase()],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| LoginCandidate {
                account_id: r.get(0),
                consumer_id: r.get(1),
                email: r.get(2),
                password_hash: r.get(3),
            })
            .collect())
    }

    async fn credential_active(&self, account_id: i64, credential_id: i64) -> StoreResult<bool> {
        let client = self.client().await?;
        Ok(client
            .query_opt(
                "SELECT 1 FROM credentials WHERE account_id = $1 AND id = $2 AND revoked_ms IS NULL",
                &[&account_id, &credential_id],
            )
            .await?
            .is_some())
    }

    async fn record_login(&self, account_id: i64, email: &str) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let actor = Actor::new(email, None);
        audit::append(&tx, account_id, &actor, &AuditAction::LoggedIn).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_session(&self, session: NewSession) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "INSERT INTO ui_sessions (token_hash, account_id, consumer_id, created_ms, last_seen_ms)
             VALUES ($1, $2, $3, $4, $4)",
            &[
                &session.token_hash,
                &session.account_id,
                &session.consumer_id,
                &session.now_ms,
            ],
        )
        .await?;
        audit::append(
            &tx,
            session.account_id,
            &Actor::new(session.email, None),
            &AuditAction::LoggedIn,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session_principal(
        &self,
        token_hash: &str,
        now_ms: i64,
        idle_ms: i64,
    ) -> StoreResult<Option<Principal>> {
        let client = self.client().await?;
        // The columns of an API key's row of PRINCIPAL_SQL, so a session resolves
        // through the same code as that user's key.
        let stmt = client
            .prepare_cached(
                "SELECT 0 AS k, s.id, s.account_id, u.email, u.role, u.viewable_groups,
                        u.allowed_apps, ''::text, a.rate_per_second, a.rate_burst, u.id, s.last_seen_ms
                 FROM ui_sessions s
                 JOIN consumers u ON u.id = s.consumer_id AND u.account_id = s.account_id
                 JOIN accounts a ON a.id = s.account_id
                 WHERE s.token_hash = $1",
            )
            .await?;
        let Some(row) = client.query_opt(&stmt, &[&token_hash]).await? else {
            return Ok(None);
        };
        let mut principal = principal_row(&row)?;
        let session_id = principal.credential_id;
        principal.credential_id = session_bucket(session_id);
        let last_seen: i64 = row.get(11);
        if now_ms - last_seen > idle_ms {
            client
                .execute("DELETE FROM ui_sessions WHERE id = $1", &[&session_id])
                .await?;
            return Ok(None);
        }
        if now_ms - last_seen > SESSION_TOUCH_MS {
            client
                .execute(
                    "UPDATE ui_sessions SET last_seen_ms = GREATEST(last_seen_ms, $2) WHERE id = $1",
                    &[&session_id, &now_ms],
                )
                .await?;
        }
        Ok(Some(principal))
    }

    async fn end_session(&self, token_hash: &str) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some(row) = tx
            .query_opt(
                "DELETE FROM ui_sessions s USING consumers u
                 WHERE s.token_hash = $1 AND u.id = s.consumer_id
                 RETURNING s.account_id, u.email",
                &[&token_hash],
            )
            .await?
        else {
            return Ok(false);
        };
        let account_id: i64 = row.get(0);
        let email: String = row.get(1);
        audit::append(
            &tx,
            account_id,
            &Actor::new(email, None),
            &AuditAction::LoggedOut,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
