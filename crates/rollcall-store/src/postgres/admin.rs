//! Accounts, settings, web users and credentials in PostgreSQL.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use rollcall_core::ScopeSet;
use tokio_postgres::Row;

use super::auth::{parse_role, rate_limit};
use super::{audit, PgStore};
use crate::admin::{
    check_access_refs, effective_scopes, keep_a_superadmin, AccountSettings, AdminStore, Consumer,
    ConsumerPatch, Credential, CredentialKind, EmployeesAdded, NewAccount, NewConsumer,
    NewCredential, SettingsPatch,
};
use crate::audit::{Actor, AuditAction};
use crate::sqlite::auth::parse_scopes;
use crate::{now_ms, StoreError, StoreResult};

/// 422 unless the groups and apps a web user may see exist in the account.
async fn check_refs(
    tx: &impl GenericClient,
    account_id: i64,
    groups: &[i64],
    apps: Option<&[String]>,
) -> StoreResult<()> {
    let known_groups: Vec<i64> = tx
        .query(
            "SELECT id FROM wf_groups WHERE account_id = $1",
            &[&account_id],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let known_apps: Vec<String> = tx
        .query(
            "SELECT app_id FROM usage_apps WHERE account_id = $1",
            &[&account_id],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    check_access_refs(groups, apps, &known_groups, &known_apps)
}

/// The account's superadmins, locked until the transaction ends so that two
/// concurrent demotions cannot both see another superadmin left. Taken before
/// any other web user's row, in id order, so that such transactions queue
/// instead of deadlocking.
async fn superadmins(tx: &impl GenericClient, account_id: i64) -> StoreResult<i64> {
    Ok(tx
        .query(
            "SELECT id FROM consumers WHERE account_id = $1 AND role = 'superadmin'
             ORDER BY id FOR UPDATE",
            &[&account_id],
        )
        .await?
        .len() as i64)
}

pub(crate) async fn load_settings(
    client: &impl GenericClient,
    account_id: i64,
) -> StoreResult<AccountSettings> {
    // A cached statement: every report reads the settings, and an unnamed one
    // would cost a round trip of its own to parse.
    let stmt = client
        .prepare_cached(
            "SELECT time_zone, passive_limit_minutes, activity_retention_days, usage_retention_days,
                    rate_per_second, rate_burst FROM accounts WHERE id = $1",
        )
        .await?;
    let row = client
        .query_opt(&stmt, &[&account_id])
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("account {account_id} does not exist")))?;
    Ok(AccountSettings {
        time_zone: row.get(0),
        passive_limit_minutes: row.get::<_, Option<i64>>(1).map(|m| m as u32),
        activity_retention_days: row.get::<_, i64>(2) as u32,
        usage_retention_days: row.get::<_, i64>(3) as u32,
        rate_limit: rate_limit(&row, 4, 5),
    })
}

fn consumer_row(r: &Row) -> StoreResult<Consumer> {
    Ok(Consumer {
        id: r.get(0),
        email: r.get(1),
        name: r.get(2),
        role: parse_role(r.get(3))?,
        viewable_groups: serde_json::from_str(r.get(4)).unwrap_or_default(),
        allowed_apps: r
            .get::<_, Option<&str>>(5)
            .and_then(|a| serde_json::from_str(a).ok()),
        created_ms: r.get(6),
        logins: serde_json::from_str(r.get(7)).unwrap_or_default(),
    })
}

const CONSUMER_COLUMNS: &str =
    "id, email, name, role, viewable_groups, allowed_apps, created_ms, logins FROM consumers";

async fn find_consumer(
    client: &impl GenericClient,
    account_id: i64,
    id: i64,
) -> StoreResult<Consumer> {
    let row = client
        .query_opt(
            &format!("SELECT {CONSUMER_COLUMNS} WHERE account_id = $1 AND id = $2"),
            &[&account_id, &id],
        )
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("web user {id} does not exist")))?;
    consumer_row(&row)
}

async fn insert_consumer(
    tx: &impl GenericClient,
    account_id: i64,
    actor: &Actor,
    new: &NewConsumer,
) -> StoreResult<i64> {
    let Some(id) = insert_consumer_row(tx, account_id, new).await? else {
        return Err(StoreError::Conflict(format!(
            "a web user with email {} already exists",
            new.email
        )));
    };
    audit::append(
        tx,
        account_id,
        actor,
        &AuditAction::AdminAddedUser {
            email: new.email.as_str().to_string(),
            access: new.access(),
        },
    )
    .await?;
    Ok(id)
}

/// Inserts a web user unless their email is taken (`None` then); no audit event.
async fn insert_consumer_row(
    tx: &impl GenericClient,
    account_id: i64,
    new: &NewConsumer,
) -> StoreResult<Option<i64>> {
    check_refs(
        tx,
        account_id,
        &new.viewable_groups,
        new.allowed_apps.as_deref(),
    )
    .await?;
    let row = tx
        .query_opt(
            "INSERT INTO consumers (account_id, email, name, role, password_hash, viewable_groups, allowed_apps, created_ms, logins)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (account_id, email) DO NOTHING RETURNING id",
            &[
                &account_id,
                &new.email.as_str(),
                &new.name,
                &new.role.as_str(),
                &new.password_hash,
                &serde_json::to_string(&new.viewable_groups)?,
                &new.allowed_apps.as_ref().map(serde_json::to_string).transpose()?,
                &now_ms(),
                &serde_json::to_string(&new.logins)?,
            ],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

async fn insert_credential(
    tx: &impl GenericClient,
    account_id: i64,
    actor: &Actor,
    new: &NewCredential,
) -> StoreResult<i64> {
    let user = match new.consumer_id {
        Some(id) => Some(find_consumer(tx, account_id, id).await?),
        None => None,
    };
    let owner = match new.owner() {
        Some(id) => Some(find_consumer(tx, account_id, id).await?),
        None => None,
    };
    let scopes = new.checked_scopes(user.as_ref(), owner.as_ref())?;
    let row = tx
        .query_one(
            "INSERT INTO credentials (account_id, kind, name, consumer_id, created_by, client_id, secret_hash, scopes, created_ms, owner_id, app_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            &[
                &account_id,
                &new.kind.as_str(),
                &new.name,
                &new.consumer_id,
                &actor.email,
                &new.client_id,
                &new.secret_hash,
                &new.scopes.to_oauth_string(),
                &now_ms(),
                &new.owner(),
                &new.app_id,
            ],
        )
        .await?;
    let id: i64 = row.get(0);
    audit::append(
        tx,
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
    )
    .await?;
    Ok(id)
}

#[async_trait]
impl AdminStore for PgStore {
    async fn create_account(&self, new: NewAccount) -> StoreResult<(i64, i64)> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let account_id: i64 = tx
            .query_one(
                "INSERT INTO accounts (name, created_ms) VALUES ($1, $2) RETURNING id",
                &[&new.name, &now_ms()],
            )
            .await?
            .get(0);
        let actor = Actor::new(new.superadmin.email.as_str(), None);
        let user_id = insert_consumer(&tx, account_id, &actor, &new.superadmin).await?;
        for credential in [
            NewCredential {
                kind: CredentialKind::ApiKey,
                name: "initial API key".into(),
                consumer_id: Some(user_id),
                client_id: None,
                secret_hash: new.api_key_hash.clone(),
                scopes: ScopeSet::all(),
                owner_id: None,
                app_id: None,
            },
            NewCredential {
                kind: CredentialKind::OAuthClient,
                name: "initial OAuth client".into(),
                consumer_id: None,
                client_id: Some(new.client_id.clone()),
                secret_hash: new.client_secret_hash.clone(),
                scopes: ScopeSet::all(),
                owner_id: Some(user_id),
                app_id: None,
            },
        ] {
            insert_credential(&tx, account_id, &actor, &credential).await?;
        }
        tx.commit().await?;
        Ok((account_id, user_id))
    }

    async fn settings(&self, account_id: i64) -> StoreResult<AccountSettings> {
        load_settings(&self.client().await?, account_id).await
    }

    async fn update_settings(
        &self,
        account_id: i64,
        actor: &Actor,
        patch: SettingsPatch,
    ) -> StoreResult<AccountSettings> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Lock the account row so two concurrent patches do not undo each other.
        tx.execute(
            "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE",
            &[&account_id],
        )
        .await?;
        let mut s = load_settings(&tx, account_id).await?;
        let changes = patch.apply(&mut s);
        tx.execute(
            "UPDATE accounts SET time_zone = $2, passive_limit_minutes = $3,
                activity_retention_days = $4, usage_retention_days = $5,
                rate_per_second = $6, rate_burst = $7 WHERE id = $1",
            &[
                &account_id,
                &s.time_zone,
                &s.passive_limit_minutes.map(i64::from),
                &i64::from(s.activity_retention_days),
                &i64::from(s.usage_retention_days),
                &i64::from(s.rate_limit.per_second),
                &i64::from(s.rate_limit.burst),
            ],
        )
        .await?;
        audit::append(
            &tx,
            account_id,
            actor,
            &AuditAction::SettingsChanged { changes },
        )
        .await?;
        tx.commit().await?;
        Ok(s)
    }

    async fn consumers(&self, account_id: i64) -> StoreResult<Vec<Consumer>> {
        let client = self.client().await?;
        client
            .query(
                &format!("SELECT {CONSUMER_COLUMNS} WHERE account_id = $1 ORDER BY id"),
                &[&account_id],
            )
            .await?
            .iter()
            .map(consumer_row)
            .collect()
    }

    async fn consumer(&self, account_id: i64, id: i64) -> StoreResult<Consumer> {
        find_consumer(&self.client().await?, account_id, id).await
    }

    async fn create_consumer(
        &self,
        account_id: i64,
        actor: &Actor,
        new: NewConsumer,
    ) -> StoreResult<i64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let id = insert_consumer(&tx, account_id, actor, &new).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn update_consumer(
        &self,
        account_id: i64,
        actor: &Actor,
        id: i64,
        patch: ConsumerPatch,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let superadmins = superadmins(&tx, account_id).await?;
        tx.execute(
            "SELECT 1 FROM consumers WHERE account_id = $1 AND id = $2 FOR UPDATE",
            &[&account_id, &id],
        )
        .await?;
        let mut c = find_consumer(&tx, account_id, id).await?;
        let before = c.role;
        let action = patch.apply(&mut c);
        keep_a_superadmin(before, Some(c.role), superadmins)?;
        if patch.viewable_groups.is_some() || patch.allowed_apps.is_some() {
            check_refs(
                &tx,
                account_id,
                &c.viewable_groups,
                c.allowed_apps.as_deref(),
            )
            .await?;
        }
        // A demotion or a new password ends every dashboard session of the user
        // (SPEC §9), in the same transaction, so every process sees it at once.
        if crate::admin::ends_sessions(before, &patch) {
            tx.execute(
                "DELETE FROM ui_sessions WHERE account_id = $1 AND consumer_id = $2",
                &[&account_id, &id],
            )
            .await?;
        }
        tx.execute(
            "UPDATE consumers SET name = $3, role = $4, viewable_groups = $5, allowed_apps = $6,
                password_hash = COALESCE($7, password_hash), logins = $8
             WHERE account_id = $1 AND id = $2",
            &[
                &account_id,
                &id,
                &c.name,
                &c.role.as_str(),
                &serde_json::to_string(&c.viewable_groups)?,
                &c.allowed_apps
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()?,
                &patch.password_hash,
                &serde_json::to_string(&c.logins)?,
            ],
        )
        .await?;
        audit::append(&tx, account_id, actor, &action).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_employees(
        &self,
        account_id: i64,
        actor: &Actor,
        people: Vec<NewConsumer>,
    ) -> StoreResult<EmployeesAdded> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut outcome = EmployeesAdded::default();
        for new in &people {
            match insert_consumer_row(&tx, account_id, new).await? {
                Some(id) => outcome.added.push((id, new.email.as_str().to_string())),
                None => outcome.existing += 1,
            }
        }
        if !outcome.added.is_empty() {
            audit::append(
                &tx,
                account_id,
                actor,
                &AuditAction::EmployeesAdded {
                    added: outcome.added.len(),
                    existing: outcome.existing,
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }

    async fn delete_consumer(&self, account_id: i64, actor: &Actor, id: i64) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let superadmins = superadmins(&tx, account_id).await?;
        let c = find_consumer(&tx, account_id, id).await?;
        keep_a_superadmin(c.role, None, superadmins)?;
        // Their keys, and the OAuth clients they own, stop at once.
        tx.execute(
            "DELETE FROM access_tokens WHERE credential_id IN
                (SELECT id FROM credentials WHERE account_id = $1 AND owner_id = $2)",
            &[&account_id, &id],
        )
        .await?;
        tx.execute(
            "UPDATE credentials SET revoked_ms = $3
             WHERE account_id = $1 AND revoked_ms IS NULL
               AND (consumer_id = $2 OR (kind = 'oauthClient' AND owner_id = $2))",
            &[&account_id, &id, &now_ms()],
        )
        .await?;
        for sql in [
            "UPDATE credentials SET consumer_id = NULL WHERE account_id = $1 AND consumer_id = $2",
            "UPDATE credentials SET owner_id = NULL WHERE account_id = $1 AND owner_id = $2",
        ] {
            tx.execute(sql, &[&account_id, &id]).await?;
        }
        tx.execute(
            "DELETE FROM ui_sessions WHERE account_id = $1 AND consumer_id = $2",
            &[&account_id, &id],
        )
        .await?;
        let deleted = tx
            .execute(
                "DELETE FROM consumers WHERE account_id = $1 AND id = $2",
                &[&account_id, &id],
            )
            .await?;
        if deleted == 0 {
            return Err(StoreError::NotFound(format!(
                "web user {id} does not exist"
            )));
        }
        audit::append(
            &tx,
            account_id,
            actor,
            &AuditAction::AdminRemovedUser { email: c.email },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn credentials(&self, account_id: i64) -> StoreResult<Vec<Credential>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT c.id, c.kind, c.name, c.consumer_id, c.client_id, c.scopes, c.created_by,
                        c.created_ms, c.revoked_ms, coalesce(u.role, o.role), c.app_id
                 FROM credentials c LEFT JOIN consumers u ON u.id = c.consumer_id
                 LEFT JOIN consumers o ON o.id = c.owner_id
                 WHERE c.account_id = $1 ORDER BY c.id",
                &[&account_id],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let kind = CredentialKind::parse(r.get(1)).unwrap_or(CredentialKind::ApiKey);
                let stored = parse_scopes(r.get(5));
                let scopes = match (kind, r.get::<_, Option<&str>>(9)) {
                    (CredentialKind::ApiKey, Some(role)) => {
                        effective_scopes(stored, parse_role(role)?)
                    }
                    (CredentialKind::OAuthClient, Some(role)) => {
                        stored.intersection(parse_role(role)?.scopes())
                    }
                    _ => ScopeSet::default(),
                };
                Ok(Credential {
                    id: r.get(0),
                    kind,
                    name: r.get(2),
                    consumer_id: r.get(3),
                    client_id: r.get(4),
                    scopes,
                    created_by: r.get(6),
                    created_ms: r.get(7),
                    revoked_ms: r.get(8),
                    app_id: r.get(10),
                })
            })
            .collect()
    }

    async fn create_credential(
        &self,
        account_id: i64,
        actor: &Actor,
        new: NewCredential,
    ) -> StoreResult<i64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let id = insert_credential(&tx, account_id, actor, &new).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn revoke_credential(&self, account_id: i64, actor: &Actor, id: i64) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let name: String = tx
            .query_opt(
                "UPDATE credentials SET revoked_ms = $3
                 WHERE account_id = $1 AND id = $2 AND revoked_ms IS NULL RETURNING name",
                &[&account_id, &id, &now_ms()],
            )
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("credential {id} does not exist")))?
            .get(0);
        tx.execute("DELETE FROM access_tokens WHERE credential_id = $1", &[&id])
            .await?;
        audit::append(
            &tx,
            account_id,
            actor,
            &AuditAction::CredentialRevoked {
                credential_id: id,
                name,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn maintenance(&self, now_ms: i64) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM access_tokens WHERE expires_ms <= $1",
                &[&now_ms],
            )
            .await?;
        // The tracking API's messageIds, app by app (each app's key starts with time).
        client
            .execute(
                "DELETE FROM seg_messages s USING usage_apps a
                 WHERE s.app = a.id AND s.ts_ms < $1",
                &[&(now_ms - crate::segment::MESSAGE_IDS_KEPT_MS)],
            )
            .await?;
        super::workforce::apply_retention(&client, now_ms).await?;
        super::privacy::apply_title_retention(&client, now_ms).await
    }
}
