//! Credential look-ups for every request, OAuth tokens and logins.

use async_trait::async_trait;
use rollcall_core::{Role, ScopeSet};
use rusqlite::{params, OptionalExtension, Row};

use super::{audit, SqliteStore};
use crate::admin::{effective_scopes, RateLimit};
use crate::audit::{Actor, AuditAction};
use crate::auth::{
    session_bucket, AuthStore, LoginCandidate, NewSession, OAuthClient, Principal, SESSION_TOUCH_MS,
};
use crate::{StoreError, StoreResult};

pub(crate) fn parse_scopes(text: &str) -> ScopeSet {
    ScopeSet::parse_names(text.split_whitespace()).unwrap_or_default()
}

pub(crate) fn parse_role(text: &str) -> rusqlite::Result<Role> {
    Role::parse(text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, "role".into())
    })
}

/// The principal of a credential row: the API key's own user, or the OAuth
/// client's owner, whose role and restrictions bound what it may do.
/// Columns: credential id, account, user email, role, viewable groups, allowed
/// apps, rate per second, burst, stored scopes, user id.
fn principal_row(r: &Row<'_>, oauth: bool) -> rusqlite::Result<Principal> {
    let role = parse_role(&r.get::<_, String>(3)?)?;
    let groups: String = r.get(4)?;
    let apps: Option<String> = r.get(5)?;
    let groups: Vec<i64> = serde_json::from_str(&groups).unwrap_or_default();
    let apps: Option<Vec<String>> = apps.and_then(|a| serde_json::from_str(&a).ok());
    let (viewable_groups, allowed_apps) = crate::auth::restrictions(role, groups, apps);
    let stored = parse_scopes(&r.get::<_, String>(8)?);
    // A token carries the scopes it was granted (never empty = "all").
    let scopes = if oauth {
        stored.intersection(role.scopes())
    } else {
        effective_scopes(stored, role)
    };
    Ok(Principal {
        account_id: r.get(1)?,
        credential_id: r.get(0)?,
        actor_email: r.get(2)?,
        role,
        scopes,
        viewable_groups,
        allowed_apps,
        rate_limit: RateLimit {
            per_second: r.get(6)?,
            burst: r.get(7)?,
        },
        consumer_id: Some(r.get(9)?),
        via_oauth_client: oauth,
    })
}

#[async_trait]
impl AuthStore for SqliteStore {
    async fn principal(&self, secret_hash: &str, now_ms: i64) -> StoreResult<Option<Principal>> {
        let hash = secret_hash.to_string();
        // Every request waits for this lookup before anything else.
        self.db
            .read_in_place(move |conn| {
                let by_key = conn
                    .prepare_cached(
                        "SELECT c.id, c.account_id, u.email, u.role, u.viewable_groups, u.allowed_apps,
                                a.rate_per_second, a.rate_burst, c.scopes, u.id
                         FROM credentials c
                         JOIN consumers u ON u.id = c.consumer_id
                         JOIN accounts a ON a.id = c.account_id
                         WHERE c.secret_hash = ?1 AND c.kind = 'apiKey' AND c.revoked_ms IS NULL",
                    )?
                    .query_row([&hash], |r| principal_row(r, false))
                    .optional()?;
                if by_key.is_some() {
                    return Ok(by_key);
                }
                // An access token acts as its client's owner, within the owner's
                // current role: a removed owner (no row) ends it.
                Ok(conn
                    .prepare_cached(
                        "SELECT c.id, c.account_id, o.email, o.role, o.viewable_groups, o.allowed_apps,
                                a.rate_per_second, a.rate_burst, t.scopes, o.id
                         FROM access_tokens t
                         JOIN credentials c ON c.id = t.credential_id
                         JOIN consumers o ON o.id = c.owner_id AND o.account_id = c.account_id
                         JOIN accounts a ON a.id = c.account_id
                         WHERE t.token_hash = ?1 AND t.expires_ms > ?2 AND c.revoked_ms IS NULL",
                    )?
                    .query_row(params![hash, now_ms], |r| principal_row(r, true))
                    .optional()?)
            })
            .await
    }

    async fn oauth_client(&self, client_id: &str) -> StoreResult<Option<OAuthClient>> {
        let client_id = client_id.to_string();
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT c.id, c.account_id, c.secret_hash, c.scopes, o.role FROM credentials c
                         JOIN consumers o ON o.id = c.owner_id AND o.account_id = c.account_id
                         WHERE c.client_id = ?1 AND c.kind = 'oauthClient' AND c.revoked_ms IS NULL",
                    )?
                    .query_row([client_id], |r| {
                        let owner_role = parse_role(&r.get::<_, String>(4)?)?;
                        Ok(OAuthClient {
                            credential_id: r.get(0)?,
                            account_id: r.get(1)?,
                            secret_hash: r.get(2)?,
                            scopes: parse_scopes(&r.get::<_, String>(3)?)
                                .intersection(owner_role.scopes()),
                        })
                    })
                    .optional()?)
            })
            .await
    }

    async fn issue_access_token(
        &self,
        credential_id: i64,
        token_hash: &str,
        scopes: ScopeSet,
        expires_ms: i64,
    ) -> StoreResult<()> {
        let hash = token_hash.to_string();
        self.db
            .write(move |conn| {
                let live: bool = conn
                    .prepare_cached(
                        "SELECT count(*) FROM credentials WHERE id = ?1 AND revoked_ms IS NULL",
                    )?
                    .query_row([credential_id], |r| r.get::<_, i64>(0))?
                    > 0;
                if !live {
                    return Err(StoreError::NotFound("the client was revoked".into()));
                }
                conn.prepare_cached(
                    "INSERT INTO access_tokens (token_hash, credential_id, scopes, expires_ms)
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![
                    hash,
                    credential_id,
                    scopes.to_oauth_string(),
                    expires_ms
                ])?;
                Ok(())
            })
            .await
    }

    async fn login_candidates(&self, email: &str) -> StoreResult<Vec<LoginCandidate>> {
        let email = email.to_lowercase();
        self.db
            .read(move |conn| {
                let rows = conn
                    .prepare_cached(
                        "SELECT account_id, id, email, password_hash FROM consumers
                         WHERE email = ?1 AND password_hash IS NOT NULL ORDER BY account_id",
                    )?
                    .query_map([email], |r| {
                        Ok(LoginCandidate {
                            account_id: r.get(0)?,
                            consumer_id: r.get(1)?,
                            email: r.get(2)?,
                            password_hash: r.get(3)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }

    async fn credential_active(&self, account_id: i64, credential_id: i64) -> StoreResult<bool> {
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT count(*) FROM credentials
                         WHERE account_id = ?1 AND id = ?2 AND revoked_ms IS NULL",
                    )?
                    .query_row([account_id, credential_id], |r| r.get::<_, i64>(0))?
                    > 0)
            })
            .await
    }

    async fn record_login(&self, account_id: i64, email: &str) -> StoreResult<()> {
        let actor = Actor::new(email, None);
        self.db
            .write(move |conn| audit::append(conn, account_id, &actor, &AuditAction::LoggedIn))
            .await
    }

    async fn create_session(&self, session: NewSession) -> StoreResult<()> {
        self.db
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO ui_sessions (token_hash, account_id, consumer_id, created_ms, last_seen_ms)
                     VALUES (?1, ?2, ?3, ?4, ?4)",
                )?
                .execute(params![
                    session.token_hash,
                    session.account_id,
                    session.consumer_id,
                    session.now_ms
                ])?;
                audit::append(
                    conn,
                    session.account_id,
                    &Actor::new(session.email, None),
                    &AuditAction::LoggedIn,
                )
            })
            .await
    }

    async fn session_principal(
        &self,
        token_hash: &str,
        now_ms: i64,
        idle_ms: i64,
    ) -> StoreResult<Option<Principal>> {
        let hash = token_hash.to_string();
        // The same columns as an API key's look-up, so the same code builds the
        // principal and every permission check sees a session as that user's key.
        let found = self
            .db
            .read_in_place({
                let hash = hash.clone();
                move |conn| {
                    Ok(conn
                        .prepare_cached(
                            "SELECT s.id, s.account_id, u.email, u.role, u.viewable_groups, u.allowed_apps,
                                    a.rate_per_second, a.rate_burst, '', u.id, s.last_seen_ms
                             FROM ui_sessions s
                             JOIN consumers u ON u.id = s.consumer_id AND u.account_id = s.account_id
                             JOIN accounts a ON a.id = s.account_id
                             WHERE s.token_hash = ?1",
                        )?
                        .query_row([&hash], |r| {
                            Ok((principal_row(r, false)?, r.get::<_, i64>(10)?))
                        })
                        .optional()?)
                }
            })
            .await?;
        let Some((mut principal, last_seen)) = found else {
            return Ok(None);
        };
        let session_id = principal.credential_id;
        principal.credential_id = session_bucket(session_id);
        if now_ms - last_seen > idle_ms {
            self.db
                .write(move |conn| {
                    conn.prepare_cached("DELETE FROM ui_sessions WHERE id = ?1")?
                        .execute([session_id])?;
                    Ok(())
                })
                .await?;
            return Ok(None);
        }
        if now_ms - last_seen > SESSION_TOUCH_MS {
            self.db
                .write(move |conn| {
                    conn.prepare_cached(
                        "UPDATE ui_sessions SET last_seen_ms = max(last_seen_ms, ?2) WHERE id = ?1",
                    )?
                    .execute(params![session_id, now_ms])?;
                    Ok(())
                })
                .await?;
        }
        Ok(Some(principal))
    }

    async fn end_session(&self, token_hash: &str) -> StoreResult<bool> {
        let hash = token_hash.to_string();
        self.db
            .write(move |conn| {
                let found = conn
                    .prepare_cached(
                        "SELECT s.id, s.account_id, u.email FROM ui_sessions s
                         JOIN consumers u ON u.id = s.consumer_id WHERE s.token_hash = ?1",
                    )?
                    .query_row([&hash], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, String>(2)?,
                        ))
                    })
                    .optional()?;
                let Some((id, account_id, email)) = found else {
                    return Ok(false);
                };
                conn.prepare_cached("DELETE FROM ui_sessions WHERE id = ?1")?
                    .execute([id])?;
                audit::append(
                    conn,
                    account_id,
                    &Actor::new(email, None),
                    &AuditAction::LoggedOut,
                )?;
                Ok(true)
            })
            .await
    }
}
