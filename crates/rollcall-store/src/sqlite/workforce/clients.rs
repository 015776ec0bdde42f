//! Clients (users) and computers: listing them with their groups and the
//! identities merged into them, and their alias and employee email.

use std::collections::HashMap;

use rollcall_core::fxhash::FxHashMap;
use rusqlite::{params, Connection};

use super::scope::{KIND_CLIENT, KIND_COMPUTER};
use crate::audit::{Actor, AuditAction};
use crate::sqlite::audit;
use crate::workforce::{sees_member, ClientPatch, ComputerPatch, Scoping, WfClient, WfComputer};
use crate::{StoreError, StoreResult};

/// Group ids by member, ascending.
type MemberGroups = FxHashMap<i64, Vec<i64>>;

/// The groups of every member of `kind` (or of member `id` alone), in one query:
/// a listing used to ask once per client or computer.
fn member_groups_of(
    conn: &Connection,
    account_id: i64,
    kind: &str,
    id: Option<i64>,
) -> StoreResult<MemberGroups> {
    let mut stmt = conn.prepare_cached(
        "SELECT member_id, group_id FROM wf_group_members
         WHERE account_id = ?1 AND kind = ?2 AND (?3 IS NULL OR member_id = ?3)
         ORDER BY member_id, group_id",
    )?;
    let mut groups = MemberGroups::default();
    let mut rows = stmt.query(params![account_id, kind, id])?;
    while let Some(r) = rows.next()? {
        groups.entry(r.get(0)?).or_default().push(r.get(1)?);
    }
    Ok(groups)
}

fn client_row(
    r: &rusqlite::Row<'_>,
    groups: &mut MemberGroups,
    merged: &mut MergedNames,
) -> StoreResult<WfClient> {
    let id: i64 = r.get(0)?;
    Ok(WfClient {
        id,
        login_domain: r.get(1)?,
        name: r.get(2)?,
        alias: r.get(3)?,
        employee_email: r.get(4)?,
        first_log_ms: r.get(5)?,
        last_log_ms: r.get(6)?,
        groups: groups.remove(&id).unwrap_or_default(),
        merged: merged.remove(&id).unwrap_or_default(),
    })
}

const CLIENT_SQL: &str = "SELECT id, login_domain, name, alias, employee_email, first_log_ms,
    last_log_ms FROM wf_clients WHERE account_id = ?1 AND merged_into IS NULL";

/// Per row of `table`, the identities merged into it: (id, domain, name), by id.
type MergedNames = HashMap<i64, Vec<(i64, String, String)>>;

/// [`MergedNames`] of an account's rows of `table`, read at once (one query per
/// row scanned the whole table for each, since `merged_into` has no index).
fn merged_names(
    conn: &Connection,
    table: &str,
    domain: &str,
    account_id: i64,
) -> StoreResult<MergedNames> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT merged_into, id, {domain}, name FROM {table}
         WHERE account_id = ?1 AND merged_into IS NOT NULL ORDER BY id"
    ))?;
    let mut out = MergedNames::new();
    let mut rows = stmt.query([account_id])?;
    while let Some(r) = rows.next()? {
        out.entry(r.get(0)?)
            .or_default()
            .push((r.get(1)?, r.get(2)?, r.get(3)?));
    }
    Ok(out)
}

pub(super) fn list_clients(
    conn: &Connection,
    account_id: i64,
    id: Option<i64>,
) -> StoreResult<Vec<WfClient>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{CLIENT_SQL} AND (?2 IS NULL OR id = ?2) ORDER BY id"
    ))?;
    let mut merged = merged_names(conn, "wf_clients", "login_domain", account_id)?;
    let mut groups = member_groups_of(conn, account_id, KIND_CLIENT, id)?;
    let mut rows = stmt.query(params![account_id, id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(client_row(r, &mut groups, &mut merged)?);
    }
    Ok(out)
}

const COMPUTER_SQL: &str = "SELECT id, name, primary_domain, alias, os, time_zone, private_ip,
    public_ip, first_log_ms, last_log_ms FROM wf_computers
    WHERE account_id = ?1 AND merged_into IS NULL";

pub(super) fn list_computers(
    conn: &Connection,
    account_id: i64,
    id: Option<i64>,
) -> StoreResult<Vec<WfComputer>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{COMPUTER_SQL} AND (?2 IS NULL OR id = ?2) ORDER BY id"
    ))?;
    let mut merged = merged_names(conn, "wf_computers", "primary_domain", account_id)?;
    let mut groups = member_groups_of(conn, account_id, KIND_COMPUTER, id)?;
    let mut rows = stmt.query(params![account_id, id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        out.push(WfComputer {
            id,
            name: r.get(1)?,
            primary_domain: r.get(2)?,
            alias: r.get(3)?,
            os: r.get(4)?,
            time_zone: r.get(5)?,
            private_ip: r.get(6)?,
            public_ip: r.get(7)?,
            first_log_ms: r.get(8)?,
            last_log_ms: r.get(9)?,
            groups: groups.remove(&id).unwrap_or_default(),
            merged: merged.remove(&id).unwrap_or_default(),
        });
    }
    Ok(out)
}

/// The clients a scoping's viewer sees.
pub(super) fn clients(
    conn: &Connection,
    account_id: i64,
    scoping: &Scoping,
) -> StoreResult<Vec<WfClient>> {
    Ok(list_clients(conn, account_id, None)?
        .into_iter()
        .filter(|c| sees_member(&scoping.viewable_groups, &c.groups))
        .collect())
}

/// Client `id`, if the scoping's viewer sees it.
pub(super) fn client(
    conn: &Connection,
    account_id: i64,
    scoping: &Scoping,
    id: i64,
) -> StoreResult<WfClient> {
    list_clients(conn, account_id, Some(id))?
        .into_iter()
        .find(|c| sees_member(&scoping.viewable_groups, &c.groups))
        .ok_or_else(|| StoreError::NotFound(format!("client {id} does not exist")))
}

/// Sets a client's alias and employee email, audited.
pub(super) fn update_client(
    conn: &Connection,
    account_id: i64,
    actor: &Actor,
    id: i64,
    patch: &ClientPatch,
) -> StoreResult<WfClient> {
    let Some(before) = list_clients(conn, account_id, Some(id))?.into_iter().next() else {
        return Err(StoreError::NotFound(format!("client {id} does not exist")));
    };
    if let Some(alias) = &patch.alias {
        conn.prepare_cached("UPDATE wf_clients SET alias = ?1 WHERE id = ?2")?
            .execute(params![alias, id])?;
    }
    if let Some(email) = &patch.employee_email {
        conn.prepare_cached("UPDATE wf_clients SET employee_email = ?1 WHERE id = ?2")?
            .execute(params![email, id])?;
    }
    let after = list_clients(conn, account_id, Some(id))?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::NotFound(format!("client {id} does not exist")))?;
    let action = AuditAction::client_updated(&before, &after);
    audit::append(conn, account_id, actor, &action)?;
    Ok(after)
}

/// The computers a scoping's viewer sees.
pub(super) fn computers(
    conn: &Connection,
    account_id: i64,
    scoping: &Scoping,
) -> StoreResult<Vec<WfComputer>> {
    Ok(list_computers(conn, account_id, None)?
        .into_iter()
        .filter(|c| sees_member(&scoping.viewable_groups, &c.groups))
        .collect())
}

/// Computer `id`, if the scoping's viewer sees it.
pub(super) fn computer(
    conn: &Connection,
    account_id: i64,
    scoping: &Scoping,
    id: i64,
) -> StoreResult<WfComputer> {
    list_computers(conn, account_id, Some(id))?
        .into_iter()
        .find(|c| sees_member(&scoping.viewable_groups, &c.groups))
        .ok_or_else(|| StoreError::NotFound(format!("computer {id} does not exist")))
}

/// Sets a computer's alias, audited.
pub(super) fn update_computer(
    conn: &Connection,
    account_id: i64,
    actor: &Actor,
    id: i64,
    patch: &ComputerPatch,
) -> StoreResult<WfComputer> {
    let Some(before) = list_computers(conn, account_id, Some(id))?
        .into_iter()
        .next()
    else {
        return Err(StoreError::NotFound(format!(
            "computer {id} does not exist"
        )));
    };
    if let Some(alias) = &patch.alias {
        conn.prepare_cached("UPDATE wf_computers SET alias = ?1 WHERE id = ?2")?
            .execute(params![alias, id])?;
    }
    let after = list_computers(conn, account_id, Some(id))?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::NotFound(format!("computer {id} does not exist")))?;
    let action = AuditAction::computer_updated(&before, &after);
    audit::append(conn, account_id, actor, &action)?;
    Ok(after)
}
