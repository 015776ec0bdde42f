//! Groups and their members (`wf_groups`, `wf_group_members`), and the check
//! that group overrides name groups that exist, and the employee emails of
//! a viewer's groups.

use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::json;

use super::scope::{KIND_CLIENT, KIND_COMPUTER};
use crate::audit::{Actor, AuditAction};
use crate::error::ItemError;
use crate::sqlite::audit;
use crate::workforce::member_emails::{email_set, group_key, EmailSet, MemberEmailsCache};
use crate::workforce::{sees_group, Group, GroupPatch};
use crate::{now_ms, StoreError, StoreResult};

pub(super) fn load_group(conn: &Connection, account_id: i64, id: i64) -> StoreResult<Group> {
    let name: String = conn
        .prepare_cached("SELECT name FROM wf_groups WHERE account_id = ?1 AND id = ?2")?
        .query_row([account_id, id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("group {id} does not exist")))?;
    let mut stmt = conn.prepare_cached(
        "SELECT kind, member_id FROM wf_group_members WHERE group_id = ?1 ORDER BY kind, member_id",
    )?;
    let mut clients = Vec::new();
    let mut computers = Vec::new();
    for row in stmt.query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (kind, member) = row?;
        if kind == KIND_CLIENT {
            clients.push(member);
        } else {
            computers.push(member);
        }
    }
    Ok(Group {
        id,
        name,
        clients,
        computers,
    })
}

/// Replaces a group's members of one kind after checking they exist in the account.
fn set_members(
    conn: &Connection,
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
    let mut items = Vec::new();
    {
        let mut exists = conn.prepare_cached(&format!(
            "SELECT count(*) FROM {table} WHERE account_id = ?1 AND id = ?2
                 AND merged_into IS NULL"
        ))?;
        for (index, id) in ids.iter().enumerate() {
            if exists.query_row([account_id, *id], |r| r.get::<_, i64>(0))? == 0 {
                items.push(ItemError {
                    index: Some(index),
                    field: Some(field.into()),
                    message: format!("{field} id {id} does not exist"),
                });
            }
        }
    }
    if !items.is_empty() {
        return Err(StoreError::Invalid {
            message: format!("the group names {field} that do not exist"),
            items,
        });
    }
    conn.prepare_cached("DELETE FROM wf_group_members WHERE group_id = ?1 AND kind = ?2")?
        .execute(params![group_id, kind])?;
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO wf_group_members (account_id, group_id, kind, member_id)
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    for id in ids {
        insert.execute(params![account_id, group_id, kind, id])?;
    }
    Ok(())
}

fn check_group_name(
    conn: &Connection,
    account_id: i64,
    name: &str,
    except: i64,
) -> StoreResult<()> {
    let taken: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM wf_groups WHERE account_id = ?1 AND name = ?2 AND id <> ?3",
        )?
        .query_row(params![account_id, name, except], |r| r.get(0))?;
    if taken > 0 {
        return Err(StoreError::Conflict(format!(
            "a group named '{name}' already exists"
        )));
    }
    Ok(())
}

/// Refuses group overrides (of classifications or of the privacy policy) that
/// name groups the account does not have, naming each by its index.
pub(in crate::sqlite) fn overridden_groups_exist(
    conn: &Connection,
    account_id: i64,
    group_ids: impl Iterator<Item = i64>,
) -> StoreResult<()> {
    let mut items = Vec::new();
    let mut exists =
        conn.prepare_cached("SELECT count(*) FROM wf_groups WHERE account_id = ?1 AND id = ?2")?;
    for (index, group_id) in group_ids.enumerate() {
        if exists.query_row([account_id, group_id], |r| r.get::<_, i64>(0))? == 0 {
            items.push(ItemError {
                index: Some(index),
                field: Some("groupOverrides.groupId".into()),
                message: format!("group {group_id} does not exist"),
            });
        }
    }
    if items.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            message: "group overrides name groups that do not exist".into(),
            items,
        })
    }
}

/// The account's groups a viewer sees, by id.
pub(super) fn list(
    conn: &Connection,
    account_id: i64,
    viewable: &Option<Vec<i64>>,
) -> StoreResult<Vec<Group>> {
    let ids: Vec<i64> = conn
        .prepare_cached("SELECT id FROM wf_groups WHERE account_id = ?1 ORDER BY id")?
        .query_map([account_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    ids.into_iter()
        .filter(|id| sees_group(viewable, *id))
        .map(|id| load_group(conn, account_id, id))
        .collect()
}

/// Creates a group with its members, audited; returns its id.
pub(super) fn create(
    conn: &Connection,
    account_id: i64,
    actor: &Actor,
    name: String,
    clients: Vec<i64>,
    computers: Vec<i64>,
) -> StoreResult<i64> {
    check_group_name(conn, account_id, &name, 0)?;
    let id: i64 = conn
        .prepare_cached(
            "INSERT INTO wf_groups (account_id, name, created_ms) VALUES (?1, ?2, ?3)
             RETURNING id",
        )?
        .query_row(params![account_id, name, now_ms()], |r| r.get(0))?;
    set_members(conn, account_id, id, KIND_CLIENT, &clients)?;
    set_members(conn, account_id, id, KIND_COMPUTER, &computers)?;
    audit::append(
        conn,
        account_id,
        actor,
        &AuditAction::GroupCreated {
            group_id: id,
            name,
            clients,
            computers,
        },
    )?;
    Ok(id)
}

/// Renames a group or replaces its members, audited.
pub(super) fn update(
    conn: &Connection,
    account_id: i64,
    actor: &Actor,
    id: i64,
    patch: &GroupPatch,
) -> StoreResult<Group> {
    load_group(conn, account_id, id)?;
    if let Some(name) = &patch.name {
        check_group_name(conn, account_id, name, id)?;
        conn.prepare_cached("UPDATE wf_groups SET name = ?1 WHERE id = ?2")?
            .execute(params![name, id])?;
    }
    if let Some(clients) = &patch.clients {
        set_members(conn, account_id, id, KIND_CLIENT, clients)?;
    }
    if let Some(computers) = &patch.computers {
        set_members(conn, account_id, id, KIND_COMPUTER, computers)?;
    }
    let group = load_group(conn, account_id, id)?;
    audit::append(
        conn,
        account_id,
        actor,
        &AuditAction::GroupUpdated {
            group_id: id,
            name: group.name.clone(),
            clients: group.clients.clone(),
            computers: group.computers.clone(),
        },
    )?;
    Ok(group)
}

/// Deletes a group and its memberships, audited.
pub(super) fn delete(
    conn: &Connection,
    account_id: i64,
    actor: &Actor,
    id: i64,
) -> StoreResult<()> {
    let group = load_group(conn, account_id, id)?;
    conn.prepare_cached("DELETE FROM wf_group_members WHERE group_id = ?1")?
        .execute([id])?;
    conn.prepare_cached("DELETE FROM wf_groups WHERE id = ?1")?
        .execute([id])?;
    audit::append(
        conn,
        account_id,
        actor,
        &AuditAction::GroupDeleted {
            group_id: id,
            name: group.name,
        },
    )?;
    Ok(())
}

/// The employee emails of the (unmerged) clients in `groups`: the kept set
/// while the account's membership version (migration 0023's triggers) is the
/// one this snapshot holds, else read and kept.
pub(super) fn employee_emails(
    conn: &Connection,
    cache: &MemberEmailsCache,
    account_id: i64,
    groups: Vec<i64>,
) -> StoreResult<EmailSet> {
    let groups = group_key(groups);
    let version: i64 = conn
        .prepare_cached("SELECT version FROM wf_member_versions WHERE account_id = ?1")?
        .query_row([account_id], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    if let Some(emails) = cache.find(account_id, &groups, version) {
        return Ok(emails);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT c.employee_email FROM wf_group_members g
         JOIN wf_clients c ON c.id = g.member_id
         WHERE g.group_id IN (SELECT value FROM json_each(?2)) AND g.kind = ?3
           AND g.account_id = ?1 AND c.account_id = ?1
           AND c.merged_into IS NULL AND c.employee_email IS NOT NULL",
    )?;
    let emails = stmt
        .query_map(
            params![account_id, json!(groups).to_string(), KIND_CLIENT],
            |r| r.get(0),
        )?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    let emails = Arc::new(email_set(emails));
    cache.keep(account_id, groups, version, Arc::clone(&emails));
    Ok(emails)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The triggers move an account's membership version with every change a
    /// viewer's people depend on, and not when ingest only widens a client's
    /// seen times; the kept set is used only at its version.
    #[test]
    fn the_membership_version_moves_with_the_groups_people_only() {
        let conn = Connection::open_in_memory().unwrap();
        crate::sqlite::migrations::run(&conn).unwrap();
        let version = || -> i64 {
            conn.query_row(
                "SELECT coalesce((SELECT version FROM wf_member_versions WHERE account_id = 1), 0)",
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        let cache = MemberEmailsCache::default();
        let emails = |groups: Vec<i64>| {
            let mut e: Vec<String> = employee_emails(&conn, &cache, 1, groups)
                .unwrap()
                .iter()
                .cloned()
                .collect();
            e.sort();
            e
        };
        let client =
            "INSERT INTO wf_clients (account_id, login_domain, name, first_log_ms, last_log_ms)
                      VALUES (1, 'corp', ?1, 0, 0)
                      ON CONFLICT (account_id, login_domain, name) DO UPDATE SET
                          last_log_ms = max(last_log_ms, excluded.last_log_ms)";
        conn.execute(client, ["ana"]).unwrap();
        conn.execute(client, ["di"]).unwrap();
        let v = version();
        conn.execute(client, ["ana"]).unwrap();
        assert_eq!(version(), v, "a known client seen again");
        conn.execute(
            "UPDATE wf_clients SET alias = 'A', first_log_ms = 1 WHERE name = 'ana'",
            [],
        )
        .unwrap();
        conn.execute(
            "UPDATE wf_clients SET employee_email = NULL WHERE name = 'ana'",
            [],
        )
        .unwrap();
        assert_eq!(version(), v, "an alias, a seen time, an unchanged email");

        conn.execute(
            "UPDATE wf_clients SET employee_email = 'Ana@Corp.com' WHERE name = 'ana'",
            [],
        )
        .unwrap();
        conn.execute(
            "UPDATE wf_clients SET employee_email = 'di@corp.com' WHERE name = 'di'",
            [],
        )
        .unwrap();
        assert_eq!(version(), v + 2, "two employee emails");
        conn.execute(
            "INSERT INTO wf_group_members (account_id, group_id, kind, member_id)
             SELECT 1, 5, 'c', id FROM wf_clients WHERE name = 'ana'",
            [],
        )
        .unwrap();
        assert_eq!(emails(vec![5]), ["ana@corp.com"]);
        let kept = employee_emails(&conn, &cache, 1, vec![5, 5]).unwrap();
        assert!(
            Arc::ptr_eq(&kept, &employee_emails(&conn, &cache, 1, vec![5]).unwrap()),
            "the same set while nothing changed"
        );

        conn.execute(
            "INSERT INTO wf_group_members (account_id, group_id, kind, member_id)
             SELECT 1, 5, 'c', id FROM wf_clients WHERE name = 'di'",
            [],
        )
        .unwrap();
        assert_eq!(emails(vec![5]), ["ana@corp.com", "di@corp.com"]);
        conn.execute(
            "UPDATE wf_clients SET employee_email = 'bo@corp.com' WHERE name = 'di'",
            [],
        )
        .unwrap();
        assert_eq!(emails(vec![5]), ["ana@corp.com", "bo@corp.com"]);
        conn.execute(
            "UPDATE wf_clients SET merged_into = (SELECT id FROM wf_clients WHERE name = 'ana')
             WHERE name = 'di'",
            [],
        )
        .unwrap();
        assert_eq!(emails(vec![5]), ["ana@corp.com"]);
        conn.execute("DELETE FROM wf_group_members WHERE group_id = 5", [])
            .unwrap();
        assert!(emails(vec![5]).is_empty());
        let v = version();
        conn.execute(
            "INSERT INTO wf_group_members (account_id, group_id, kind, member_id)
             SELECT 1, 6, 'c', id FROM wf_clients WHERE name = 'ana'",
            [],
        )
        .unwrap();
        assert_eq!(version(), v + 1, "a membership");
        conn.execute("DELETE FROM wf_clients WHERE name = 'ana'", [])
            .unwrap();
        assert_eq!(version(), v + 2, "a client gone");
        assert!(emails(vec![6]).is_empty(), "a deleted client");
        conn.execute("UPDATE wf_clients SET account_id = 2 WHERE name = 'di'", [])
            .unwrap();
        assert_eq!(version(), v + 3, "a client leaving the account");
        let other: i64 = conn
            .query_row(
                "SELECT version FROM wf_member_versions WHERE account_id = 2",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(other, 1, "and joining another");
    }
}
