//! Org-chart snapshots (`usage_org_snapshots`, `usage_org_people`): uploads
//! in pages or at once, switching the current chart (the previous ones kept up
//! to [`ORG_SNAPSHOTS_KEPT`]) with its changes, and the current chart read
//! with its directory cached per snapshot.

use std::sync::Arc;

use rollcall_core::usage_report::{Directory, Employee};
use rusqlite::{params, Connection, OptionalExtension};

use super::report_cache::{OrgId, ReportCaches};
use crate::audit::{Actor, AuditAction};
use crate::sqlite::audit::append;
use crate::usage::{
    merged_custom_fields, OrgChanges, OrgChart, OrgMode, OrgPage, OrgSnapshotInfo, OrgSwitch,
    ORG_SNAPSHOTS_KEPT,
};
use crate::{now_ms, StoreError, StoreResult};

/// The account's current org chart; its directory from `caches` when the same
/// snapshot (id and completion) was read before, since a completed snapshot
/// never changes.
pub(super) fn load_org(
    conn: &Connection,
    caches: &ReportCaches,
    account_id: i64,
) -> StoreResult<Option<OrgChart>> {
    let head: Option<(i64, String, String, Option<i64>)> = conn
        .prepare_cached(
            "SELECT id, name, custom_fields, completed_ms FROM usage_org_snapshots
             WHERE account_id = ?1 AND status = 'current' ORDER BY id DESC LIMIT 1",
        )?
        .query_row([account_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let Some((id, name, fields, completed)) = head else {
        return Ok(None);
    };
    let completed_ms = completed.unwrap_or(0);
    let org_id: OrgId = (id, completed_ms);
    let cached = caches.with(account_id, |a| {
        a.org
            .as_ref()
            .filter(|(k, _)| *k == org_id)
            .map(|(_, d)| Arc::clone(d))
    });
    let directory = match cached {
        Some(d) => d,
        None => {
            let mut stmt = conn.prepare_cached(
                "SELECT person FROM usage_org_people WHERE account_id = ?1 AND snapshot = ?2 ORDER BY email",
            )?;
            let mut people = Vec::new();
            let mut rows = stmt.query(params![account_id, id])?;
            while let Some(row) = rows.next()? {
                let text: String = row.get(0)?;
                people.push(serde_json::from_str::<Employee>(&text)?);
            }
            // Kept: without the growth's spare room (up to half the list).
            people.shrink_to_fit();
            let d = Arc::new(Directory::new(people));
            caches.with(account_id, |a| a.org = Some((org_id, Arc::clone(&d))));
            d
        }
    };
    Ok(Some(OrgChart {
        id,
        name,
        custom_fields: serde_json::from_str(&fields)?,
        directory,
        completed_ms,
    }))
}

pub(super) fn start_snapshot(
    conn: &Connection,
    account_id: i64,
    name: &str,
    fields: &str,
    mode: OrgMode,
) -> StoreResult<i64> {
    conn.prepare_cached(
        "INSERT INTO usage_org_snapshots (account_id, name, custom_fields, status, created_ms, mode)
         VALUES (?1, ?2, ?3, 'open', ?4, ?5)",
    )?
    .execute(params![account_id, name, fields, now_ms(), mode.as_str()])?;
    Ok(conn.last_insert_rowid())
}

fn insert_people(
    conn: &Connection,
    account_id: i64,
    snapshot: i64,
    people: &[Employee],
) -> StoreResult<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO usage_org_people (account_id, snapshot, email, person) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (account_id, snapshot, email) DO UPDATE SET person = excluded.person",
    )?;
    for p in people {
        stmt.execute(params![
            account_id,
            snapshot,
            p.email,
            serde_json::to_string(p)?
        ])?;
    }
    Ok(())
}

/// The account's current snapshot, if any.
fn current_snapshot(conn: &Connection, account_id: i64) -> StoreResult<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT id FROM usage_org_snapshots WHERE account_id = ?1 AND status = 'current'
             ORDER BY id DESC LIMIT 1",
        )?
        .query_row([account_id], |r| r.get(0))
        .optional()?)
}

fn count_people(conn: &Connection, account_id: i64, snapshot: i64) -> StoreResult<u64> {
    let n: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM usage_org_people WHERE account_id = ?1 AND snapshot = ?2",
        )?
        .query_row(params![account_id, snapshot], |r| r.get(0))?;
    Ok(n as u64)
}

/// People added, removed and changed going from snapshot `from` (none: an empty
/// chart) to `to`, by primary email; a person's record is compared as stored.
fn org_changes(
    conn: &Connection,
    account_id: i64,
    from: Option<i64>,
    to: i64,
) -> StoreResult<OrgChanges> {
    let one_way = |a: Option<i64>, b: Option<i64>| -> StoreResult<u64> {
        let n: i64 = conn
            .prepare_cached(
                "SELECT count(*) FROM usage_org_people n WHERE n.account_id = ?1 AND n.snapshot = ?2
                 AND NOT EXISTS (SELECT 1 FROM usage_org_people o
                                 WHERE o.account_id = ?1 AND o.snapshot = ?3 AND o.email = n.email)",
            )?
            .query_row(params![account_id, a, b], |r| r.get(0))?;
        Ok(n as u64)
    };
    let changed: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM usage_org_people n JOIN usage_org_people o
               ON o.account_id = n.account_id AND o.snapshot = ?3 AND o.email = n.email
             WHERE n.account_id = ?1 AND n.snapshot = ?2 AND n.person <> o.person",
        )?
        .query_row(params![account_id, to, from], |r| r.get(0))?;
    Ok(OrgChanges {
        added: one_way(Some(to), from)?,
        removed: one_way(from, Some(to))?,
        changed: changed as u64,
    })
}

/// Makes `snapshot` the current org chart; the current one becomes `previous` and
/// the least recently retired previous ones beyond [`ORG_SNAPSHOTS_KEPT`] are dropped. `completing`:
/// an upload's last step (a merge snapshot takes in everyone of the current chart it
/// does not name, and `UploadedOrgData` is recorded); otherwise an activation
/// (`ActivatedOrgChart`).
fn make_current(
    conn: &Connection,
    account_id: i64,
    actor: &Actor,
    snapshot: i64,
    completing: bool,
) -> StoreResult<OrgSwitch> {
    let previous = current_snapshot(conn, account_id)?;
    let mut mode = None;
    if completing {
        let (m, fields): (String, String) = conn
            .prepare_cached(
                "SELECT mode, custom_fields FROM usage_org_snapshots WHERE account_id = ?1 AND id = ?2",
            )?
            .query_row(params![account_id, snapshot], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let m: OrgMode = m.parse()?;
        if let (OrgMode::Merge, Some(base)) = (m, previous) {
            let base_fields: String = conn
                .prepare_cached(
                    "SELECT custom_fields FROM usage_org_snapshots WHERE account_id = ?1 AND id = ?2",
                )?
                .query_row(params![account_id, base], |r| r.get(0))?;
            let base_fields: Vec<String> = serde_json::from_str(&base_fields)?;
            let fields: Vec<String> = serde_json::from_str(&fields)?;
            let merged = merged_custom_fields(&base_fields, &fields)?;
            conn.prepare_cached(
                "UPDATE usage_org_snapshots SET custom_fields = ?3 WHERE account_id = ?1 AND id = ?2",
            )?
            .execute(params![account_id, snapshot, serde_json::to_string(&merged)?])?;
            conn.prepare_cached(
                "INSERT INTO usage_org_people (account_id, snapshot, email, person)
                 SELECT account_id, ?2, email, person FROM usage_org_people
                 WHERE account_id = ?1 AND snapshot = ?3
                 ON CONFLICT (account_id, snapshot, email) DO NOTHING",
            )?
            .execute(params![account_id, snapshot, base])?;
        }
        mode = Some(m);
    }
    let changes = org_changes(conn, account_id, previous, snapshot)?;
    conn.prepare_cached(
        "UPDATE usage_org_snapshots SET status = 'previous', retired_seq =
           (SELECT coalesce(max(retired_seq), 0) + 1 FROM usage_org_snapshots WHERE account_id = ?1)
         WHERE account_id = ?1 AND status = 'current'",
    )?
    .execute([account_id])?;
    conn.prepare_cached(
        "UPDATE usage_org_snapshots SET status = 'current',
           completed_ms = CASE WHEN ?3 THEN ?4 ELSE completed_ms END
         WHERE account_id = ?1 AND id = ?2",
    )?
    .execute(params![account_id, snapshot, completing, now_ms()])?;
    let dropped: Vec<i64> = conn
        .prepare_cached(
            "SELECT id FROM usage_org_snapshots WHERE account_id = ?1 AND status = 'previous'
             ORDER BY retired_seq DESC, id DESC LIMIT -1 OFFSET ?2",
        )?
        .query_map(params![account_id, ORG_SNAPSHOTS_KEPT - 1], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in dropped {
        conn.prepare_cached(
            "DELETE FROM usage_org_people WHERE account_id = ?1 AND snapshot = ?2",
        )?
        .execute(params![account_id, id])?;
        conn.prepare_cached("DELETE FROM usage_org_snapshots WHERE account_id = ?1 AND id = ?2")?
            .execute(params![account_id, id])?;
    }
    let switch = OrgSwitch {
        id: snapshot,
        people: count_people(conn, account_id, snapshot)?,
        previous,
        changes,
    };
    let action = if completing {
        AuditAction::UploadedOrgData { switch, mode }
    } else {
        AuditAction::ActivatedOrgChart { switch }
    };
    append(conn, account_id, actor, &action)?;
    Ok(switch)
}

fn snapshot_not_found(snapshot: i64) -> StoreError {
    StoreError::NotFound(format!("org chart {snapshot} does not exist"))
}

fn snapshot_complete(snapshot: i64) -> StoreError {
    StoreError::Conflict(format!(
        "org chart {snapshot} is already complete; start a new one with POST /services/push/v1/customer/org-chart"
    ))
}

/// A snapshot's status, `NotFound` when the account has no such snapshot.
fn snapshot_status(conn: &Connection, account_id: i64, snapshot: i64) -> StoreResult<String> {
    conn.prepare_cached("SELECT status FROM usage_org_snapshots WHERE account_id = ?1 AND id = ?2")?
        .query_row(params![account_id, snapshot], |r| r.get(0))
        .optional()?
        .ok_or_else(|| snapshot_not_found(snapshot))
}

pub(super) fn org_id(org: Option<&OrgChart>) -> OrgId {
    org.map_or((0, 0), |o| (o.id, o.completed_ms))
}

/// Adds a page of people to an open snapshot; the last page makes it current.
pub(super) fn add_people(
    conn: &Connection,
    account_id: i64,
    actor: &Actor,
    snapshot_id: i64,
    people: &[Employee],
    has_more: bool,
) -> StoreResult<OrgPage> {
    if snapshot_status(conn, account_id, snapshot_id)? != "open" {
        return Err(snapshot_complete(snapshot_id));
    }
    insert_people(conn, account_id, snapshot_id, people)?;
    if has_more {
        return Ok(OrgPage {
            people: count_people(conn, account_id, snapshot_id)?,
            current: false,
            changes: None,
        });
    }
    let switch = make_current(conn, account_id, actor, snapshot_id, true)?;
    Ok(OrgPage {
        people: switch.people,
        current: true,
        changes: Some(switch.changes),
    })
}

/// Uploads a whole chart at once and makes it current (`fields` encoded).
pub(super) fn replace(
    conn: &Connection,
    account_id: i64,
    actor: &Actor,
    name: &str,
    fields: &str,
    people: &[Employee],
    mode: OrgMode,
) -> StoreResult<OrgSwitch> {
    let id = start_snapshot(conn, account_id, name, fields, mode)?;
    insert_people(conn, account_id, id, people)?;
    make_current(conn, account_id, actor, id, true)
}

/// The custom fields of a snapshot still being uploaded.
pub(super) fn open_fields(
    conn: &Connection,
    account_id: i64,
    snapshot_id: i64,
) -> StoreResult<Vec<String>> {
    let row: Option<(String, String)> = conn
        .prepare_cached(
            "SELECT custom_fields, status FROM usage_org_snapshots WHERE account_id = ?1 AND id = ?2",
        )?
        .query_row(params![account_id, snapshot_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match row {
        None => Err(snapshot_not_found(snapshot_id)),
        Some((_, status)) if status != "open" => Err(snapshot_complete(snapshot_id)),
        Some((fields, _)) => Ok(serde_json::from_str(&fields)?),
    }
}

/// The current and previous snapshots, newest first.
pub(super) fn snapshots(conn: &Connection, account_id: i64) -> StoreResult<Vec<OrgSnapshotInfo>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.id, s.name, s.mode, s.created_ms, coalesce(s.completed_ms, 0),
                s.status = 'current',
                (SELECT count(*) FROM usage_org_people p
                 WHERE p.account_id = s.account_id AND p.snapshot = s.id)
         FROM usage_org_snapshots s
         WHERE s.account_id = ?1 AND s.status IN ('current', 'previous')
         ORDER BY s.id DESC",
    )?;
    let rows = stmt
        .query_map([account_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, bool>(5)?,
                r.get::<_, i64>(6)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(
            |(id, name, mode, created_ms, completed_ms, active, people)| {
                Ok(OrgSnapshotInfo {
                    id,
                    name,
                    mode: mode.parse()?,
                    created_ms,
                    completed_ms,
                    people: people as u64,
                    active,
                })
            },
        )
        .collect()
}

/// Makes a completed snapshot current again (the current one stays, with no
/// changes), audited.
pub(super) fn activate(
    conn: &Connection,
    account_id: i64,
    actor: &Actor,
    snapshot_id: i64,
) -> StoreResult<OrgSwitch> {
    match snapshot_status(conn, account_id, snapshot_id)?.as_str() {
        "open" => Err(StoreError::Conflict(format!(
            "org chart {snapshot_id} is still being uploaded; finish it with a PUT saying hasMore: false"
        ))),
        "current" => Ok(OrgSwitch {
            id: snapshot_id,
            people: count_people(conn, account_id, snapshot_id)?,
            previous: Some(snapshot_id),
            changes: OrgChanges::default(),
        }),
        _ => make_current(conn, account_id, actor, snapshot_id, false),
    }
}
