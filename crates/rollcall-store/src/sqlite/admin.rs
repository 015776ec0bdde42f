//! Accounts, settings, web users and credentials in SQLite.

use async_trait::async_trait;
use rollcall_core::ScopeSet;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::auth::{parse_role, parse_scopes};
use super::{audit, SqliteStore};
use crate::admin::{
    check_access_refs, effective_scopes, keep_a_superadmin, AccountSettings, AdminStore, Consumer,
    ConsumerPatch, Credential, CredentialKind, EmployeesAdded, NewAccount, NewConsumer,
    NewCredential, RateLimit, SettingsPatch,
};
use crate::audit::{Actor, AuditAction};
use crate::{now_ms, StoreError, StoreResult};

/// 422 unless the groups and apps a web user may see exist in the account.
fn check_refs(
    conn: &Connection,
    account_id: i64,
    groups: &[i64],
    apps: Option<&[String]>,
) -> StoreResult<()> {
    let known_groups: Vec<i64> = conn
        .prepare_cached("SELECT id FROM wf_groups WHERE account_id = ?1")?
        .query_map([account_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let known_apps: Vec<String> = conn
        .prepare_cached("SELECT app_id FROM usage_apps WHERE account_id = ?1")?
        .query_map([account_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    check_access_refs(groups, apps, &known_groups, &known_apps)
}

fn superadmins(conn: &Connection, account_id: i64) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM consumers WHERE account_id = ?1 AND role = 'superadmin'",
        )?
        .query_row([account_id], |r| r.get(0))?)
}

pub(crate) fn load_settings(conn: &Connection, account_id: i64) -> StoreResult<AccountSettings> {
    conn.prepare_cached(
        "SELECT time_zone, passive_limit_minutes, activity_retention_days, usage_retention_days,
                rate_per_second, rate_burst FROM accounts WHERE id = ?1",
    )?
    .query_row([account_id], |r| {
        Ok(AccountSettings {
            time_zone: r.get(0)?,
            passive_limit_minutes: r.get(1)?,
            activity_retention_days: r.get(2)?,
            usage_retention_days: r.get(3)?,
            rate_limit: RateLimit {
                per_second: r.get(4)?,
                burst: r.get(5)?,
            },
        })
    })
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("account {account_id} does not exist")))
}

fn consumer_row(r: &Row<'_>) -> rusqlite::Result<Consumer> {
    let groups: String = r.get(4)?;
    let apps: Option<String> = r.get(5)?;
    Ok(Consumer {
        id: r.get(0)?,
        email: r.get(1)?,
        name: r.get(2)?,
        role: parse_role(&r.get::<_, String>(3)?)?,
        viewable_groups: serde_json::from_str(&groups).unwrap_or_default(),
        allowed_apps: apps.and_then(|a| serde_json::from_str(&a).ok()),
        created_ms: r.get(6)?,
        logins: serde_json::from_str(&r.get::<_, String>(7)?).unwrap_or_default(),
    })
}

const CONSUMER_COLUMNS: &str =
    "id, email, name, role, viewable_groups, allowed_apps, created_ms, logins FROM consumers";

fn find_consumer(conn: &Connection, account_id: i64, id: i64) -> StoreResult<Consumer> {
    conn.prepare_cached(&format!(
        "SELECT {CONSUMER_COLUMNS} WHERE account_id = ?1 AND id = ?2"
    ))?
    .query_row([account_id, id], consumer_row)
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("web user {id} does not exist")))
}

fn insert_consumer(
    conn: &Connection,
    account_id: i64,
    actor: &Actor,
    new: &NewConsumer,
) -> StoreResult<i64> {
    let Some(id) = insert_consumer_row(conn, account_id, new)? else {
        return Err(StoreError::Conflict(format!(
            "a web user with email {} already exists",
            new.email
        )));
    };
    audit::append(
        conn,
        account_id,
        actor,
        &AuditAction::AdminAddedUser {
            email: new.email.as_str().to_string(),
            access: new.access(),
        },
    )?;
    Ok(id)
}

/// Inserts a web user unless their email is taken (`None` then); no audit event.
fn insert_consumer_row(
    conn: &Connection,
    account_id: i64,
    new: &NewConsumer,
) -> StoreResult<Option<i64>> {
    check_refs(
        conn,
        account_id,
        &new.viewable_groups,
        new.allowed_apps.as_deref(),
    )?;
    let exists: bool = conn
        .prepare_cached("SELECT count(*) FROM consumers WHERE account_id = ?1 AND email = ?2")?
        .query_row(params![account_id, new.email.as_str()], |r| {
            r.get::<_, i64>(0)
        })?
        > 0;
    if exists {
        return Ok(None);
    }
    conn.prepare_cached(
        "INSERT INTO consumers (account_id, email, name, role, password_hash, viewable_groups, allowed_apps, created_ms, logins)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        account_id,
        new.email.as_str(),
        new.name,
        new.role.as_str(),
        new.password_hash,
        serde_json::to_string(&new.viewable_groups)?,
        new.allowed_apps.as_ref().map(serde_json::to_string).transpose()?,
        now_ms(),
        serde_json::to_string(&new.logins)?
    ])?;
    Ok(Some(conn.last_insert_rowid()))
}

fn insert_credential(
    conn: &Connection,
    account_id: i64,
    actor: &Actor,
    new: &NewCredential,
) -> StoreResult<i64> {
    let user = new
        .consumer_id
        .map(|id| find_consumer(conn, account_id, id))
        .transpose()?;
    let owner = new
        .owner()
        .map(|id| find_consumer(conn, account_id, id))
        .transpose()?;
    let scopes = new.checked_scopes(user.as_ref(), owner.as_ref())?;
    conn.prepare_cached(
        "INSERT INTO credentials (account_id, kind, name, consumer_id, created_by, client_id, secret_hash, scopes, created_ms, owner_id, app_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        account_id,
        new.kind.as_str(),
        new.name,
        new.consumer_id,
        actor.email,
        new.client_id,
        new.secret_hash,
        new.scopes.to_oauth_string(),
        now_ms(),
        new.owner(),
        new.app_id
    ])?;
    let id = conn.last_insert_rowid();
    audit::append(
        conn,
        account_id,
        actor,
        &AuditAction::CredentialCreated {
            credential_id: id,
            kind: new.kind.as_str(),
            name: new.name.clone(),
            scopes,
            acts_as: user.map(|u| (u.id, u.email)),
            app_id: new.app_id.clone(),
        },
    )?;
    Ok(id)
}

#[async_trait]
impl AdminStore for SqliteStore {
    async fn create_account(&self, new: NewAccount) -> StoreResult<(i64, i64)> {
        self.db
            .write(move |conn| {
                conn.prepare_cached("INSERT INTO accounts (name, created_ms) VALUES (?1, ?2)")?
                    .execute(params![new.name, now_ms()])?;
                let account_id = conn.last_insert_rowid();
                let actor = Actor::new(new.superadmin.email.as_str(), None);
                let user_id = insert_consumer(conn, account_id, &actor, &new.superadmin)?;
                insert_credential(
                    conn,
                    account_id,
                    &actor,
                    &NewCredential {
                        kind: CredentialKind::ApiKey,
                        name: "initial API key".into(),
                        consumer_id: Some(user_id),
                        client_id: None,
                        secret_hash: new.api_key_hash.clone(),
                        scopes: ScopeSet::all(),
                        owner_id: None,
                        app_id: None,
                    },
                )?;
                insert_credential(
                    conn,
                    account_id,
                    &actor,
                    &NewCredential {
                        kind: CredentialKind::OAuthClient,
                        name: "initial OAuth client".into(),
                        consumer_id: None,
                        client_id: Some(new.client_id.clone()),
                        secret_hash: new.client_secret_hash.clone(),
                        scopes: ScopeSet::all(),
                        owner_id: Some(user_id),
                        app_id: None,
                    },
                )?;
                Ok((account_id, user_id))
            })
            .await
    }

    async fn settings(&self, account_id: i64) -> StoreResult<AccountSettings> {
        self.db
            .read(move |conn| load_settings(conn, account_id))
            .await
    }

    async fn update_settings(
        &self,
        account_id: i64,
        actor: &Actor,
        patch: SettingsPatch,
    ) -> StoreResult<AccountSettings> {
        let actor = actor.clone();
        self.db
            .write(move |conn| {
                let mut s = load_settings(conn, account_id)?;
                let changes = patch.apply(&mut s);
                conn.prepare_cached(
                    "UPDATE accounts SET time_zone = ?2, passive_limit_minutes = ?3,
                        activity_retention_days = ?4, usage_retention_days = ?5,
                        rate_per_second = ?6, rate_burst = ?7 WHERE id = ?1",
                )?
                .execute(params![
                    account_id,
                    s.time_zone,
                    s.passive_limit_minutes,
                    s.activity_retention_days,
                    s.usage_retention_days,
                    s.rate_limit.per_second,
                    s.rate_limit.burst
                ])?;
                audit::append(
                    conn,
                    account_id,
                    &actor,
                    &AuditAction::SettingsChanged { changes },
                )?;
                Ok(s)
            })
            .await
    }

    async fn consumers(&self, account_id: i64) -> StoreResult<Vec<Consumer>> {
        self.db
            .read(move |conn| {
                let rows = conn
                    .prepare_cached(&format!(
                        "SELECT {CONSUMER_COLUMNS} WHERE account_id = ?1 ORDER BY id"
                    ))?
                    .query_map([account_id], consumer_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }

    async fn consumer(&self, account_id: i64, id: i64) -> StoreResult<Consumer> {
        self.db
            .read(move |conn| find_consumer(conn, account_id, id))
            .await
    }

    async fn create_consumer(
        &self,
        account_id: i64,
        actor: &Actor,
        new: NewConsumer,
    ) -> StoreResult<i64> {
        let actor = actor.clone();
        self.db
            .write(move |conn| insert_consumer(conn, account_id, &actor, &new))
            .await
    }

    async fn update_consumer(
        &self,
        account_id: i64,
        actor: &Actor,
        id: i64,
        patch: ConsumerPatch,
    ) -> StoreResult<()> {
        let actor = actor.clone();
        self.db
            .write(move |conn| {
                let mut c = find_consumer(conn, account_id, id)?;
                let before = c.role;
                let action = patch.apply(&mut c);
                keep_a_superadmin(before, Some(c.role), superadmins(conn, account_id)?)?;
                if patch.viewable_groups.is_some() || patch.allowed_apps.is_some() {
                    check_refs(conn, account_id, &c.viewable_groups, c.allowed_apps.as_deref())?;
                }
                // A demotion or a new password ends every dashboard session of the
                // user (SPEC §9), here where every process's change passes.
                if crate::admin::ends_sessions(before, &patch) {
                    conn.prepare_cached(
                        "DELETE FROM ui_sessions WHERE account_id = ?1 AND consumer_id = ?2",
                    )?
                    .execute(params![account_id, id])?;
                }
                conn.prepare_cached(
                    "UPDATE consumers SET name = ?3, role = ?4, viewable_groups = ?5, allowed_apps = ?6,
                        password_hash = COALESCE(?7, password_hash), logins = ?8
                     WHERE account_id = ?1 AND id = ?2",
                )?
                .execute(params![
                    account_id,
                    id,
                    c.name,
                    c.role.as_str(),
                    serde_json::to_string(&c.viewable_groups)?,
                    c.allowed_apps.as_ref().map(serde_json::to_string).transpose()?,
                    patch.password_hash,
                    serde_json::to_string(&c.logins)?
                ])?;
                audit::append(conn, account_id, &actor, &action)
            })
            .await
    }

    async fn create_employees(
        &self,
        account_id: i64,
        actor: &Actor,
        people: Vec<NewConsumer>,
    ) -> StoreResult<EmployeesAdded> {
        let actor = actor.clone();
        self.db
            .write(move |conn| {
                let mut outcome = EmployeesAdded::default();
                for new in &people {
                    match insert_consumer_row(conn, account_id, new)? {
                        Some(id) => outcome.added.push((id, new.email.as_str().to_string())),
                        None => outcome.existing += 1,
                    }
                }
                if !outcome.added.is_empty() {
                    audit::append(
                        conn,
                        account_id,
                        &actor,
                        &AuditAction::EmployeesAdded {
                            added: outcome.added.len(),
                            existing: outcome.existing,
                        },
                    )?;
                }
                Ok(outcome)
            })
            .await
    }

    async fn delete_consumer(&self, account_id: i64, actor: &Actor, id: i64) -> StoreResult<()> {
        let actor = actor.clone();
        self.db
            .write(move |conn| {
                let c = find_consumer(conn, account_id, id)?;
                keep_a_superadmin(c.role, None, superadmins(conn, account_id)?)?;
                // Their keys, and the OAuth clients they own, stop at once.
                conn.prepare_cached(
                    "DELETE FROM access_tokens WHERE credential_id IN
                        (SELECT id FROM credentials WHERE account_id = ?1 AND owner_id = ?2)",
                )?
                .execute(params![account_id, id])?;
                conn.prepare_cached(
                    "UPDATE credentials SET revoked_ms = ?3
                     WHERE account_id = ?1 AND revoked_ms IS NULL
                       AND (consumer_id = ?2 OR (kind = 'oauthClient' AND owner_id = ?2))",
                )?
                .execute(params![account_id, id, now_ms()])?;
                // No dangling ids: SQLite may give a removed user's id to a new one.
                conn.prepare_cached(
                    "UPDATE credentials SET consumer_id = NULL WHERE account_id = ?1 AND consumer_id = ?2",
                )?
                .execute(params![account_id, id])?;
                conn.prepare_cached(
                    "UPDATE credentials SET owner_id = NULL WHERE account_id = ?1 AND owner_id = ?2",
                )?
                .execute(params![account_id, id])?;
                conn.prepare_cached(
                    "DELETE FROM ui_sessions WHERE account_id = ?1 AND consumer_id = ?2",
                )?
                .execute(params![account_id, id])?;
                conn.prepare_cached("DELETE FROM consumers WHERE account_id = ?1 AND id = ?2")?
                    .execute(params![account_id, id])?;
                audit::append(
                    conn,
                    account_id,
                    &actor,
                    &AuditAction::AdminRemovedUser { email: c.email },
                )
            })
            .await
    }

    async fn credentials(&self, account_id: i64) -> StoreResult<Vec<Credential>> {
        self.db
            .read(move |conn| {
                let rows = conn
                    .prepare_cached(
                        "SELECT c.id, c.kind, c.name, c.consumer_id, c.client_id, c.scopes, c.created_by,
                                c.created_ms, c.revoked_ms, coalesce(u.role, o.role), c.app_id
                         FROM credentials c LEFT JOIN consumers u ON u.id = c.consumer_id
                         LEFT JOIN consumers o ON o.id = c.owner_id
                         WHERE c.account_id = ?1 ORDER BY c.id",
                    )?
                    .query_map([account_id], |r| {
                        let kind = CredentialKind::parse(&r.get::<_, String>(1)?)
                            .unwrap_or(CredentialKind::ApiKey);
                        let role: Option<String> = r.get(9)?;
                        let stored = parse_scopes(&r.get::<_, String>(5)?);
                        let scopes = match (kind, role) {
                            (CredentialKind::ApiKey, Some(role)) => {
                                effective_scopes(stored, parse_role(&role)?)
                            }
                            (CredentialKind::OAuthClient, Some(role)) => {
                                stored.intersection(parse_role(&role)?.scopes())
                            }
                            _ => ScopeSet::default(),
                        };
                        Ok(Credential {
                            id: r.get(0)?,
                            kind,
                            name: r.get(2)?,
                            consumer_id: r.get(3)?,
                            client_id: r.get(4)?,
                            scopes,
                            created_by: r.get(6)?,
                            created_ms: r.get(7)?,
                            revoked_ms: r.get(8)?,
                            app_id: r.get(10)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }

    async fn create_credential(
        &self,
        account_id: i64,
        actor: &Actor,
        new: NewCredential,
    ) -> StoreResult<i64> {
        let actor = actor.clone();
        self.db
            .write(move |conn| insert_credential(conn, account_id, &actor, &new))
            .await
    }

    async fn revoke_credential(&self, account_id: i64, actor: &Actor, id: i64) -> StoreResult<()> {
        let actor = actor.clone();
        self.db
            .write(move |conn| {
                let name: String = conn
                    .prepare_cached(
                        "SELECT name FROM credentials WHERE account_id = ?1 AND id = ?2 AND revoked_ms IS NULL",
                    )?
                    .query_row([account_id, id], |r| r.get(0))
                    .optional()?
                    .ok_or_else(|| StoreError::NotFound(format!("credential {id} does not exist")))?;
                conn.prepare_cached("UPDATE credentials SET revoked_ms = ?3 WHERE account_id = ?1 AND id = ?2")?
                    .execute(params![account_id, id, now_ms()])?;
                conn.prepare_cached("DELETE FROM access_tokens WHERE credential_id = ?1")?
                    .execute([id])?;
                audit::append(
                    conn,
                    account_id,
                    &actor,
                    &AuditAction::CredentialRevoked { credential_id: id, name },
                )
            })
            .await
    }

    async fn maintenance(&self, now_ms: i64) -> StoreResult<()> {
        self.db
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM access_tokens WHERE expires_ms <= ?1")?
                    .execute([now_ms])?;
                super::workforce::apply_retention(conn, now_ms)?;
                super::privacy::apply_title_retention(conn, now_ms)?;
                super::segment::prune_message_ids(conn, now_ms)?;
                Ok(())
            })
            .await
    }
}
