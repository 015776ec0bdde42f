//! Clients, computers, groups and the classification set. Each read is one
//! query (members and groups come back as arrays). Writes that read before they
//! write lock what they read: a group being changed or deleted is locked
//! `FOR UPDATE`, and the groups a classification set overrides are locked
//! `FOR SHARE` until it is stored, so no write is lost to, or refers to a group
//! removed by, a concurrent one on another process. The employee emails of a
//! viewer's groups are kept at the account's membership version.

use std::collections::HashSet;
use std::sync::Arc;

use deadpool_postgres::GenericClient;
use rollcall_core::workforce::ClassificationSet;
use tokio_postgres::Row;

use super::super::audit;
use super::sql::{KIND_CLIENT, KIND_COMPUTER};
use crate::audit::{Actor, AuditAction};
use crate::error::ItemError;
use crate::workforce::member_emails::{email_set, group_key, EmailSet, MemberEmailsCache};
use crate::workforce::{ClientPatch, ComputerPatch, Group, GroupPatch, WfClient, WfComputer};
use crate::{now_ms, StoreError, StoreResult};

fn client_row(r: &Row) -> WfClient {
    WfClient {
        id: r.get(0),
        login_domain: r.get(1),
        name: r.get(2),
        alias: r.get(3),
        employee_email: r.get(4),
        first_log_ms: r.get(5),
        last_log_ms: r.get(6),
        groups: r.get(7),
        merged: merged_of(r, 8),
    }
}

/// The identities merged into a row: columns `at` (ids), `at + 1` (domains),
/// `at + 2` (names).
fn merged_of(r: &Row, at: usize) -> Vec<(i64, String, String)> {
    let ids: Vec<i64> = r.get(at);
    let domains: Vec<String> = r.get(at + 1);
    let names: Vec<String> = r.get(at + 2);
    ids.into_iter()
        .zip(domains)
        .zip(names)
        .map(|((id, d), n)| (id, d, n))
        .collect()
}

/// The account's clients (or the one with `id`), by id, with their groups.
pub(super) async fn list_clients(
    client: &impl GenericClient,
    account_id: i64,
    id: Option<i64>,
) -> StoreResult<Vec<WfClient>> {
    let filter = if id.is_some() { "AND c.id = $2" } else { "" };
    let stmt = client
        .prepare_cached(&format!(
            "SELECT c.id, c.login_domain, c.name, c.alias, c.employee_email, c.first_log_ms,
                    c.last_log_ms,
                    ARRAY(SELECT g.group_id FROM wf_group_members g
                          WHERE g.account_id = c.account_id AND g.kind = 'c'
                            AND g.member_id = c.id ORDER BY g.group_id),
                    ARRAY(SELECT m.id FROM wf_clients m WHERE m.merged_into = c.id ORDER BY m.id),
                    ARRAY(SELECT m.login_domain FROM wf_clients m WHERE m.merged_into = c.id
                          ORDER BY m.id),
                    ARRAY(SELECT m.name FROM wf_clients m WHERE m.merged_into = c.id ORDER BY m.id)
             FROM wf_clients c WHERE c.account_id = $1 AND c.merged_into IS NULL {filter}
             ORDER BY c.id"
        ))
        .await?;
    let rows = match &id {
        Some(id) => client.query(&stmt, &[&account_id, id]).await?,
        None => client.query(&stmt, &[&account_id]).await?,
    };
    Ok(rows.iter().map(client_row).collect())
}

fn computer_row(r: &Row) -> WfComputer {
    WfComputer {
        id: r.get(0),
        name: r.get(1),
        primary_domain: r.get(2),
        alias: r.get(3),
        os: r.get(4),
        time_zone: r.get(5),
        private_ip: r.get(6),
        public_ip: r.get(7),
        first_log_ms: r.get(8),
        last_log_ms: r.get(9),
        groups: r.get(10),
        merged: merged_of(r, 11),
    }
}

/// The account's computers (or the one with `id`), by id, with their groups.
pub(super) async fn list_computers(
    client: &impl GenericClient,
    account_id: i64,
    id: Option<i64>,
) -> StoreResult<Vec<WfComputer>> {
    let filter = if id.is_some() { "AND c.id = $2" } else { "" };
    let stmt = client
        .prepare_cached(&format!(
            "SELECT c.id, c.name, c.primary_domain, c.alias, c.os, c.time_zone, c.private_ip,
                    c.public_ip, c.first_log_ms, c.last_log_ms,
                    ARRAY(SELECT g.group_id FROM wf_group_members g
                          WHERE g.account_id = c.account_id AND g.kind = 'm'
                            AND g.member_id = c.id ORDER BY g.group_id),
                    ARRAY(SELECT m.id FROM wf_computers m WHERE m.merged_into = c.id ORDER BY m.id),
                    ARRAY(SELECT m.primary_domain FROM wf_computers m WHERE m.merged_into = c.id
                          ORDER BY m.id),
                    ARRAY(SELECT m.name FROM wf_computers m WHERE m.merged_into = c.id
                          ORDER BY m.id)
             FROM wf_computers c WHERE c.account_id = $1 AND c.merged_into IS NULL {filter}
             ORDER BY c.id"
        ))
        .await?;
    let rows = match &id {
        Some(id) => client.query(&stmt, &[&account_id, id]).await?,
        None => client.query(&stmt, &[&account_id]).await?,
    };
    Ok(rows.iter().map(computer_row).collect())
}

fn client_not_found(id: i64) -> StoreError {
    StoreError::NotFound(format!("client {id} does not exist"))
}

fn computer_not_found(id: i64) -> StoreError {
    StoreError::NotFound(format!("computer {id} does not exist"))
}

/// Applies a patch in one statement (absent fields keep their value) and
/// records `ClientUpdated` when something changed; in a transaction.
pub(super) async fn update_client(
    client: &impl GenericClient,
    account_id: i64,
    actor: &Actor,
    id: i64,
    patch: &ClientPatch,
) -> StoreResult<WfClient> {
    lock_row(client, "wf_clients", account_id, id).await?;
    let before = list_clients(client, account_id, Some(id))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| client_not_found(id))?;
    let stmt = client
        .prepare_cached(
            "UPDATE wf_clients SET
                 alias = CASE WHEN $3::boolean THEN $4::text ELSE alias END,
                 employee_email = CASE WHEN $5::boolean THEN $6::text ELSE employee_email END
             WHERE account_id = $1 AND id = $2 AND merged_into IS NULL",
        )
        .await?;
    let updated = client
        .execute(
            &stmt,
            &[
                &account_id,
                &id,
                &patch.alias.is_some(),
                &patch.alias.clone().flatten(),
                &patch.employee_email.is_some(),
                &patch.employee_email.clone().flatten(),
            ],
        )
        .await?;
    if updated == 0 {
        return Err(client_not_found(id));
    }
    let after = list_clients(client, account_id, Some(id))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| client_not_found(id))?;
    let action = AuditAction::client_updated(&before, &after);
    audit::append(client, account_id, actor, &action).await?;
    Ok(after)
}

/// Locks one row of a directory table until the transaction ends, so that the
/// audit event's old values are the ones the change replaced.
async fn lock_row(
    client: &impl GenericClient,
    table: &str,
    account_id: i64,
    id: i64,
) -> StoreResult<()> {
    client
        .execute(
            &format!("SELECT 1 FROM {table} WHERE account_id = $1 AND id = $2 FOR UPDATE"),
            &[&account_id, &id],
        )
        .await?;
    Ok(())
}

/// Applies a patch and records `ComputerUpdated` when something changed; in a
/// transaction.
pub(super) async fn update_computer(
    client: &impl GenericClient,
    account_id: i64,
    actor: &Actor,
    id: i64,
    patch: &ComputerPatch,
) -> StoreResult<WfComputer> {
    lock_row(client, "wf_computers", account_id, id).await?;
    let before = list_computers(client, account_id, Some(id))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| computer_not_found(id))?;
    let stmt = client
        .prepare_cached(
            "UPDATE wf_computers SET alias = CASE WHEN $3::boolean THEN $4::text ELSE alias END
             WHERE account_id = $1 AND id = $2 AND merged_into IS NULL",
        )
        .await?;
    let updated = client
        .execute(
            &stmt,
            &[
                &account_id,
                &id,
                &patch.alias.is_some(),
                &patch.alias.clone().flatten(),
            ],
        )
        .await?;
    if updated == 0 {
        return Err(computer_not_found(id));
    }
    let after = list_computers(client, account_id, Some(id))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| computer_not_found(id))?;
    let action = AuditAction::computer_updated(&before, &after);
    audit::append(client, account_id, actor, &action).await?;
    Ok(after)
}

fn group_not_found(id: i64) -> StoreError {
    StoreError::NotFound(format!("group {id} does not exist"))
}

const GROUP_SQL: &str = "SELECT g.id, g.name,
        ARRAY(SELECT m.member_id FROM wf_group_members m
              WHERE m.group_id = g.id AND m.kind = 'c' ORDER BY m.member_id),
        ARRAY(SELECT m.member_id FROM wf_group_members m
              WHERE m.group_id = g.id AND m.kind = 'm' ORDER BY m.member_id)
    FROM wf_groups g WHERE g.account_id = $1";

fn group_row(r: &Row) -> Group {
    Group {
        id: r.get(0),
        name: r.get(1),
        clients: r.get(2),
        computers: r.get(3),
    }
}

/// The account's groups, by id.
pub(super) async fn list_groups(
    client: &impl GenericClient,
    account_id: i64,
) -> StoreResult<Vec<Group>> {
    let stmt = client
        .prepare_cached(&format!("{GROUP_SQL} ORDER BY g.id"))
        .await?;
    Ok(client
        .query(&stmt, &[&account_id])
        .await?
        .iter()
        .map(group_row)
        .collect())
}

pub(super) async fn load_group(
    client: &impl GenericClient,
    account_id: i64,
    id: i64,
) -> StoreResult<Group> {
    let stmt = client
        .prepare_cached(&format!("{GROUP_SQL} AND g.id = $2"))
        .await?;
    client
        .query_opt(&stmt, &[&account_id, &id])
        .await?
        .map(|r| group_row(&r))
        .ok_or_else(|| group_not_found(id))
}

/// Locks a group row until the transaction ends; its name, or NotFound.
async fn lock_group(tx: &impl GenericClient, account_id: i64, id: i64) -> StoreResult<String> {
    let stmt = tx
        .prepare_cached("SELECT name FROM wf_groups WHERE account_id = $1 AND id = $2 FOR UPDATE")
        .await?;
    Ok(tx
        .query_opt(&stmt, &[&account_id, &id])
        .await?
        .ok_or_else(|| group_not_found(id))?
        .get(0))
}

fn name_taken(name: &str) -> StoreError {
    StoreError::Conflict(format!("a group named '{name}' already exists"))
}

/// Creates a group with its members and records `GroupChanged`; in `tx`.
pub(super) async fn create_group(
    tx: &impl GenericClient,
    account_id: i64,
    actor: &Actor,
    name: &str,
    clients: &[i64],
    computers: &[i64],
) -> StoreResult<i64> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO wf_groups (account_id, name, created_ms) VALUES ($1, $2, $3)
             ON CONFLICT (account_id, name) DO NOTHING RETURNING id",
        )
        .await?;
    let id: i64 = tx
        .query_opt(&stmt, &[&account_id, &name, &now_ms()])
        .await?
        .ok_or_else(|| name_taken(name))?
        .get(0);
    set_members(tx, account_id, id, KIND_CLIENT, clients).await?;
    set_members(tx, account_id, id, KIND_COMPUTER, computers).await?;
    audit::append(
        tx,
        account_id,
        actor,
        &AuditAction::GroupCreated {
            group_id: id,
            name: name.to_string(),
            clients: clients.to_vec(),
            computers: computers.to_vec(),
        },
    )
    .await?;
    Ok(id)
}

/// Renames a group (locked by the caller); a name another group has is a Conflict.
async fn rename_group(
    tx: &impl GenericClient,
    account_id: i64,
    id: i64,
    name: &str,
) -> StoreResult<()> {
    let stmt = tx
        .prepare_cached(
            "UPDATE wf_groups SET name = $3 WHERE account_id = $1 AND id = $2
               AND NOT EXISTS (SELECT 1 FROM wf_groups
                               WHERE account_id = $1 AND name = $3 AND id <> $2)",
        )
        .await?;
    if tx.execute(&stmt, &[&account_id, &id, &name]).await? == 0 {
        return Err(name_taken(name));
    }
    Ok(())
}

/// Applies a patch to a group (locked for the transaction) and records
/// `GroupChanged` with the result; in `tx`.
pub(super) async fn update_group(
    tx: &impl GenericClient,
    account_id: i64,
    actor: &Actor,
    id: i64,
    patch: &GroupPatch,
) -> StoreResult<Group> {
    lock_group(tx, account_id, id).await?;
    if let Some(name) = &patch.name {
        rename_group(tx, account_id, id, name).await?;
    }
    if let Some(clients) = &patch.clients {
        set_members(tx, account_id, id, KIND_CLIENT, clients).await?;
    }
    if let Some(computers) = &patch.computers {
        set_members(tx, account_id, id, KIND_COMPUTER, computers).await?;
    }
    let group = load_group(tx, account_id, id).await?;
    audit::append(
        tx,
        account_id,
        actor,
        &AuditAction::GroupUpdated {
            group_id: id,
            name: group.name.clone(),
            clients: group.clients.clone(),
            computers: group.computers.clone(),
        },
    )
    .await?;
    Ok(group)
}

/// Deletes a group (its members go with it) and records `GroupChanged`; in `tx`.
pub(super) async fn delete_group(
    tx: &impl GenericClient,
    account_id: i64,
    actor: &Actor,
    id: i64,
) -> StoreResult<()> {
    let name = lock_group(tx, account_id, id).await?;
    let stmt = tx
        .prepare_cached("DELETE FROM wf_groups WHERE account_id = $1 AND id = $2")
        .await?;
    tx.execute(&stmt, &[&account_id, &id]).await?;
    audit::append(
        tx,
        account_id,
        actor,
        &AuditAction::GroupDeleted { group_id: id, name },
    )
    .await?;
    Ok(())
}

/// Replaces a group's members of one kind after checking they exist in the
/// account: one query to check, one to delete, one to insert.
async fn set_members(
    tx: &impl GenericClient,
    account_id: i64,
    group_id: i64,
    kind: &str,
    ids: &[i64],
) -> StoreResult<()> {
    let (table, field) = if kind == KIND_CLIENT {
        ("wf_clients", "clients")
    } else {
        ("wf_computers", "computers")
    };
    let wanted: Vec<i64> = ids.to_vec();
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT id FROM {table} WHERE account_id = $1 AND id = ANY($2)
                 AND merged_into IS NULL"
        ))
        .await?;
    let found: HashSet<i64> = tx
        .query(&stmt, &[&account_id, &wanted])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let items: Vec<ItemError> = ids
        .iter()
        .enumerate()
        .filter(|(_, id)| !found.contains(*id))
        .map(|(index, id)| ItemError {
            index: Some(index),
            field: Some(field.into()),
            message: format!("{field} id {id} does not exist"),
        })
        .collect();
    if !items.is_empty() {
        return Err(StoreError::Invalid {
            message: format!("the group names {field} that do not exist"),
            items,
        });
    }
    let delete = tx
        .prepare_cached("DELETE FROM wf_group_members WHERE group_id = $1 AND kind = $2")
        .await?;
    tx.execute(&delete, &[&group_id, &kind]).await?;
    if wanted.is_empty() {
        return Ok(());
    }
    let insert = tx
        .prepare_cached(
            "INSERT INTO wf_group_members (account_id, group_id, kind, member_id)
             SELECT $1, $2, $3, m FROM unnest($4::bigint[]) AS m
             ON CONFLICT DO NOTHING",
        )
        .await?;
    tx.execute(&insert, &[&account_id, &group_id, &kind, &wanted])
        .await?;
    Ok(())
}

/// Stores a classification set after checking (and share-locking, so a
/// concurrent delete waits) the groups its overrides name; records
/// `ClassificationChanged`. In `tx`.
pub(super) async fn put_classifications(
    tx: &impl GenericClient,
    account_id: i64,
    actor: &Actor,
    set: &ClassificationSet,
) -> StoreResult<()> {
    let body = serde_json::to_string(set)
        .map_err(|e| StoreError::Internal(format!("cannot encode classifications: {e}")))?;
    overridden_groups_exist(
        tx,
        account_id,
        set.group_overrides.iter().map(|o| o.group_id).collect(),
    )
    .await?;
    // The set before, for the audit event's old values. The account's row is
    // locked first so that two concurrent replacements each see the other's result.
    tx.execute(
        "SELECT 1 FROM wf_classifications WHERE account_id = $1 FOR UPDATE",
        &[&account_id],
    )
    .await?;
    let before = super::sql::load_classifications(tx, account_id).await?;
    let stmt = tx
        .prepare_cached(
            "INSERT INTO wf_classifications (account_id, body, updated_ms) VALUES ($1, $2, $3)
             ON CONFLICT (account_id) DO UPDATE SET body = excluded.body,
                 updated_ms = excluded.updated_ms",
        )
        .await?;
    tx.execute(&stmt, &[&account_id, &body, &now_ms()]).await?;
    audit::append(
        tx,
        account_id,
        actor,
        &AuditAction::ClassificationChanged {
            before,
            after: set.clone(),
        },
    )
    .await?;
    Ok(())
}

/// Refuses group overrides (of classifications or of the privacy policy) that
/// name groups the account does not have, naming each by its index; the
/// groups named are share-locked, so a concurrent delete waits. In `tx`.
pub(crate) async fn overridden_groups_exist(
    tx: &impl GenericClient,
    account_id: i64,
    named: Vec<i64>,
) -> StoreResult<()> {
    let stmt = tx
        .prepare_cached(
            "SELECT id FROM wf_groups WHERE account_id = $1 AND id = ANY($2)
             ORDER BY id FOR SHARE",
        )
        .await?;
    let found: HashSet<i64> = tx
        .query(&stmt, &[&account_id, &named])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let items: Vec<ItemError> = named
        .iter()
        .enumerate()
        .filter(|(_, id)| !found.contains(id))
        .map(|(index, id)| ItemError {
            index: Some(index),
            field: Some("groupOverrides.groupId".into()),
            message: format!("group {id} does not exist"),
        })
        .collect();
    if items.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            message: "group overrides name groups that do not exist".into(),
            items,
        })
    }
}

/// The employee emails of the (unmerged) clients in `groups`: the kept set
/// while the account's membership version (migration 21's triggers) is the one
/// read first, else read and kept. Read at READ COMMITTED, the emails may be
/// newer than the version they are kept at, never older: a reader that sees
/// that version again gets the newer set, and one that sees the next version
/// reads again.
pub(super) async fn employee_emails(
    client: &impl GenericClient,
    cache: &MemberEmailsCache,
    account_id: i64,
    groups: Vec<i64>,
) -> StoreResult<EmailSet> {
    let groups = group_key(groups);
    let stmt = client
        .prepare_cached("SELECT version FROM wf_member_versions WHERE account_id = $1")
        .await?;
    let version: i64 = client
        .query_opt(&stmt, &[&account_id])
        .await?
        .map_or(0, |r| r.get(0));
    if let Some(emails) = cache.find(account_id, &groups, version) {
        return Ok(emails);
    }
    let stmt = client
        .prepare_cached(
            "SELECT DISTINCT c.employee_email FROM wf_group_members g
             JOIN wf_clients c ON c.id = g.member_id
             WHERE g.group_id = ANY($2) AND g.kind = 'c'
               AND g.account_id = $1 AND c.account_id = $1
               AND c.merged_into IS NULL AND c.employee_email IS NOT NULL",
        )
        .await?;
    let rows = client.query(&stmt, &[&account_id, &groups]).await?;
    let emails = Arc::new(email_set(rows.iter().map(|r| r.get(0))));
    cache.keep(account_id, groups, version, Arc::clone(&emails));
    Ok(emails)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::test_db::fresh_store;

    /// The triggers move an account's membership version with every change a
    /// viewer's people depend on, and not when ingest's upsert only widens a
    /// client's seen times; the kept set is used only at its version.
    #[tokio::test]
    #[ignore = "needs PostgreSQL: scripts/test.sh runs it under scripts/with-postgres.sh"]
    async fn the_membership_version_moves_with_the_groups_people_only() {
        let store = fresh_store("member_versions").await;
        let db = store.client().await.unwrap();
        let db = &db;
        let exec = |sql: &'static str| async move { db.execute(sql, &[]).await.unwrap() };
        let account: i64 = db
            .query_one(
                "INSERT INTO accounts (name, created_ms) VALUES ('a', 0) RETURNING id",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        let version = || async move {
            db.query_opt(
                "SELECT version FROM wf_member_versions WHERE account_id = $1",
                &[&account],
            )
            .await
            .unwrap()
            .map_or(0, |r| r.get::<_, i64>(0))
        };
        let cache = MemberEmailsCache::default();
        let cache = &cache;
        let emails = |groups: Vec<i64>| async move {
            let mut e: Vec<String> = employee_emails(db, cache, account, groups)
                .await
                .unwrap()
                .iter()
                .cloned()
                .collect();
            e.sort();
            e
        };
        let upsert_client = |name: &'static str| async move {
            db.execute(
                "INSERT INTO wf_clients (account_id, login_domain, name, first_log_ms, last_log_ms)
                 VALUES ($1, 'corp', $2, 0, 0)
                 ON CONFLICT (account_id, lower(login_domain), lower(name)) DO UPDATE SET
                     last_log_ms = GREATEST(wf_clients.last_log_ms, excluded.last_log_ms)",
                &[&account, &name],
            )
            .await
            .unwrap()
        };
        upsert_client("ana").await;
        upsert_client("di").await;
        let group: i64 = db
            .query_one(
                "INSERT INTO wf_groups (account_id, name, created_ms) VALUES ($1, 'g', 0)
                 RETURNING id",
                &[&account],
            )
            .await
            .unwrap()
            .get(0);
        let v = version().await;
        upsert_client("ana").await;
        exec("UPDATE wf_clients SET alias = 'A', first_log_ms = 1 WHERE name = 'ana'").await;
        exec("UPDATE wf_clients SET employee_email = NULL WHERE name = 'ana'").await;
        assert_eq!(
            version().await,
            v,
            "seen again, an alias, an unchanged email"
        );

        exec("UPDATE wf_clients SET employee_email = 'Ana@Corp.com' WHERE name = 'ana'").await;
        exec("UPDATE wf_clients SET employee_email = 'di@corp.com' WHERE name = 'di'").await;
        assert_eq!(version().await, v + 2, "two employee emails");
        let join = |name: &'static str| async move {
            db.execute(
                "INSERT INTO wf_group_members (account_id, group_id, kind, member_id)
                 SELECT account_id, $1, 'c', id FROM wf_clients WHERE name = $2",
                &[&group, &name],
            )
            .await
            .unwrap()
        };
        join("ana").await;
        assert_eq!(emails(vec![group]).await, ["ana@corp.com"]);
        let kept = employee_emails(db, cache, account, vec![group, group])
            .await
            .unwrap();
        let again = employee_emails(db, cache, account, vec![group])
            .await
            .unwrap();
        assert!(
            Arc::ptr_eq(&kept, &again),
            "the same set while nothing changed"
        );

        join("di").await;
        assert_eq!(emails(vec![group]).await, ["ana@corp.com", "di@corp.com"]);
        exec("UPDATE wf_clients SET employee_email = 'bo@corp.com' WHERE name = 'di'").await;
        assert_eq!(emails(vec![group]).await, ["ana@corp.com", "bo@corp.com"]);
        exec(
            "UPDATE wf_clients SET merged_into = (SELECT id FROM wf_clients WHERE name = 'ana')
             WHERE name = 'di'",
        )
        .await;
        assert_eq!(emails(vec![group]).await, ["ana@corp.com"]);
        let v = version().await;
        exec("DELETE FROM wf_group_members").await;
        assert_eq!(version().await, v + 1, "one bump for the statement");
        assert!(emails(vec![group]).await.is_empty());
        join("ana").await;
        exec("DELETE FROM wf_clients WHERE name = 'ana'").await;
        assert_eq!(version().await, v + 3, "a membership, a client gone");
        assert!(emails(vec![group]).await.is_empty(), "a deleted client");
    }
}
