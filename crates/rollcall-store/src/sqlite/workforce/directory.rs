//! Merging and deleting computers and clients in SQLite (issue 19 #7).
//!
//! A merge deletes the merged one's activity and stores its records again
//! under the survivor through the ingest path (`ingest::write_records`), so
//! the rollups, the per-day counts and the idle stretches stay exactly what
//! ingest would have made of the records had the agent sent them there; a
//! record the survivor already had is a duplicate and dropped. The merged row
//! stays, pointing at the survivor (`merged_into`), so its agent's later
//! batches land there. A deletion removes the activity and the row, with the
//! identities merged into it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rollcall_core::time;
use rollcall_core::workforce::{DaySplitter, Piece};
use rusqlite::{params, Connection, OptionalExtension};

use super::ingest::write_records;
use super::runs::member_ranges;
use super::texts::TextIds;
use crate::audit::{Actor, AuditAction};
use crate::sqlite::admin::load_settings;
use crate::sqlite::audit;
use crate::workforce::{member_side as side, Member, MemberSide as Side, MoveOutcome, NewRecord};
use crate::{StoreError, StoreResult};

/// The display name of a live (not merged) member, or 404.
fn live_name(conn: &Connection, account_id: i64, kind: Member, id: i64) -> StoreResult<String> {
    let s = side(kind);
    conn.prepare_cached(&format!(
        "SELECT {domain}, name FROM {table}
         WHERE account_id = ?1 AND id = ?2 AND merged_into IS NULL",
        domain = s.domain,
        table = s.table
    ))?
    .query_row(params![account_id, id], |r| {
        let (domain, name): (String, String) = (r.get(0)?, r.get(1)?);
        Ok(match kind {
            Member::Client => format!("{domain}\\{name}"),
            Member::Computer if domain.is_empty() => name,
            Member::Computer => format!("{name}.{domain}"),
        })
    })
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("{} {id} does not exist", kind.noun())))
}

/// Deletes every record, rollup row and stretch of member `id`, and corrects
/// the per-day counts of the days it had; returns how many records went.
fn delete_activity(conn: &Connection, account_id: i64, s: &Side, id: i64) -> StoreResult<u64> {
    let days: BTreeSet<i32> = conn
        .prepare_cached(&format!(
            "SELECT DISTINCT day FROM wf_day_span WHERE account_id = ?1 AND {} = ?2",
            s.col
        ))?
        .query_map(params![account_id, id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    // The member's records lie in its runs' log-id ranges; deleting them
    // drops the strings no other record names (triggers of migration 0024,
    // once the pending references are folded).
    super::text_refs::fold(conn, account_id)?;
    let mut records = 0;
    {
        let mut delete = conn.prepare_cached(&format!(
            "DELETE FROM wf_records WHERE account_id = ?1 AND log_id BETWEEN ?2 AND ?3
                 AND {} = ?4",
            s.col
        ))?;
        for (first, last) in member_ranges(conn, account_id, s.col, id)? {
            records += delete.execute(params![account_id, first, last, id])?;
        }
    }
    for table in [
        "wf_day_span",
        "wf_day_active",
        "wf_day_idle",
        "wf_idle_stretches",
        "wf_record_runs",
    ] {
        conn.prepare_cached(&format!(
            "DELETE FROM {table} WHERE account_id = ?1 AND {} = ?2",
            s.col
        ))?
        .execute(params![account_id, id])?;
    }
    let mut count = conn.prepare_cached(
        "SELECT count(DISTINCT client_id), count(DISTINCT computer_id) FROM wf_day_span
         WHERE account_id = ?1 AND day = ?2",
    )?;
    for day in days {
        let (users, computers): (i64, i64) =
            count.query_row(params![account_id, day], |r| Ok((r.get(0)?, r.get(1)?)))?;
        if users == 0 {
            conn.prepare_cached("DELETE FROM wf_day_counts WHERE account_id = ?1 AND day = ?2")?
                .execute(params![account_id, day])?;
        } else {
            conn.prepare_cached(
                "INSERT INTO wf_day_counts (account_id, day, users, computers)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO UPDATE SET users = excluded.users, computers = excluded.computers",
            )?
            .execute(params![account_id, day, users, computers])?;
        }
    }
    Ok(records as u64)
}

/// The zone records of `computer_id` are split in: its own, else the account's.
fn zone_of(conn: &Connection, account_id: i64, computer_id: i64) -> StoreResult<String> {
    let own: Option<String> = conn
        .prepare_cached("SELECT time_zone FROM wf_computers WHERE account_id = ?1 AND id = ?2")?
        .query_row(params![account_id, computer_id], |r| r.get(0))
        .optional()?
        .flatten();
    match own {
        Some(zone) => Ok(zone),
        None => Ok(load_settings(conn, account_id)?.time_zone),
    }
}

/// Merges member `from` into `into` (see the module doc).
pub(super) fn merge(
    conn: &Connection,
    texts: &TextIds,
    account_id: i64,
    actor: &Actor,
    kind: Member,
    (from, into): (i64, i64),
) -> StoreResult<MoveOutcome> {
    if from == into {
        return Err(StoreError::invalid(format!(
            "a {} cannot be merged into itself",
            kind.noun()
        )));
    }
    live_name(conn, account_id, kind, from)?;
    live_name(conn, account_id, kind, into)?;
    let s = side(kind);
    // The merged one's records, by (other party, session), in log order.
    let mut groups: BTreeMap<(i64, i64), Vec<NewRecord>> = BTreeMap::new();
    {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT r.{other}, r.session, r.start_ms, r.start_ms + r.raw_skew_ms, r.duration_s,
                    e.text, coalesce(d.text, ''), u.text, w.key, r.idle, r.idle_lead_ms
             FROM wf_records r LEFT JOIN wf_activities w ON w.id = r.website_id
                 JOIN wf_texts e ON e.id = r.exe_id
                 LEFT JOIN wf_texts d ON d.id = r.title_id
                 LEFT JOIN wf_texts u ON u.id = r.url_id
             WHERE r.account_id = ?1 AND r.log_id BETWEEN ?3 AND ?4 AND r.{col} = ?2
             ORDER BY r.log_id",
            other = s.other,
            col = s.col
        ))?;
        for (first, last) in member_ranges(conn, account_id, s.col, from)? {
            let mut rows = stmt.query(params![account_id, from, first, last])?;
            while let Some(r) = rows.next()? {
                groups
                    .entry((r.get(0)?, r.get(1)?))
                    .or_default()
                    .push(NewRecord {
                        start_ms: r.get(2)?,
                        raw_start_ms: r.get(3)?,
                        duration_s: r.get(4)?,
                        executable: r.get(5)?,
                        description: r.get(6)?,
                        url: r.get(7)?,
                        website: r.get(8)?,
                        idle: r.get(9)?,
                        idle_offset_s: r.get::<_, Option<i64>>(10)?.unwrap_or(0) / 1000,
                        redacted_by: 0,
                    });
            }
        }
    }
    delete_activity(conn, account_id, &s, from)?;
    let mut outcome = MoveOutcome::default();
    let mut zones: HashMap<i64, String> = HashMap::new();
    for ((other, session), records) in groups {
        let (computer_id, client_id) = match kind {
            Member::Computer => (into, other),
            Member::Client => (other, into),
        };
        let zone = match zones.get(&computer_id) {
            Some(z) => z.clone(),
            None => {
                let z = zone_of(conn, account_id, computer_id)?;
                zones.insert(computer_id, z.clone());
                z
            }
        };
        let tz = time::parse_time_zone(&zone).map_err(StoreError::Internal)?;
        let mut splitter = DaySplitter::new(tz);
        let pieces: Vec<Vec<Piece>> = records
            .iter()
            .map(|r| splitter.split(r.start_ms, r.duration_s * 1000))
            .collect();
        let written = write_records(
            conn,
            texts,
            account_id,
            (computer_id, client_id),
            session,
            &records,
            &pieces,
            &zone,
        )?;
        outcome.records += written.accepted;
        outcome.duplicates += written.duplicates;
    }
    conn.prepare_cached(
        "INSERT OR IGNORE INTO wf_group_members (account_id, group_id, kind, member_id)
         SELECT account_id, group_id, kind, ?4 FROM wf_group_members
         WHERE account_id = ?1 AND kind = ?2 AND member_id = ?3",
    )?
    .execute(params![account_id, s.kind, from, into])?;
    conn.prepare_cached(
        "DELETE FROM wf_group_members WHERE account_id = ?1 AND kind = ?2 AND member_id = ?3",
    )?
    .execute(params![account_id, s.kind, from])?;
    let keep_email = if kind == Member::Client {
        ", employee_email = coalesce(t.employee_email, m.employee_email)"
    } else {
        ""
    };
    conn.prepare_cached(&format!(
        "UPDATE {table} AS t SET alias = coalesce(t.alias, m.alias) {keep_email},
             first_log_ms = min(t.first_log_ms, m.first_log_ms),
             last_log_ms = max(t.last_log_ms, m.last_log_ms)
         FROM (SELECT * FROM {table} WHERE id = ?2) AS m
         WHERE t.account_id = ?1 AND t.id = ?3",
        table = s.table
    ))?
    .execute(params![account_id, from, into])?;
    conn.prepare_cached(&format!(
        "UPDATE {} SET merged_into = ?3 WHERE account_id = ?1 AND (id = ?2 OR merged_into = ?2)",
        s.table
    ))?
    .execute(params![account_id, from, into])?;
    audit::append(
        conn,
        account_id,
        actor,
        &AuditAction::MemberMerged {
            kind,
            from,
            into,
            outcome,
        },
    )?;
    Ok(outcome)
}

/// Removes member `id`, its activity, its group memberships and the
/// identities merged into it, unaudited; returns how many records went.
pub(in crate::sqlite) fn remove_member(
    conn: &Connection,
    account_id: i64,
    kind: Member,
    id: i64,
) -> StoreResult<u64> {
    let s = side(kind);
    let records = delete_activity(conn, account_id, &s, id)?;
    conn.prepare_cached(
        "DELETE FROM wf_group_members WHERE account_id = ?1 AND kind = ?2 AND member_id = ?3",
    )?
    .execute(params![account_id, s.kind, id])?;
    conn.prepare_cached(&format!(
        "DELETE FROM {} WHERE account_id = ?1 AND (id = ?2 OR merged_into = ?2)",
        s.table
    ))?
    .execute(params![account_id, id])?;
    Ok(records)
}

/// Deletes member `id` with its activity and the identities merged into it.
pub(super) fn delete(
    conn: &Connection,
    account_id: i64,
    actor: &Actor,
    kind: Member,
    id: i64,
) -> StoreResult<u64> {
    let name = live_name(conn, account_id, kind, id)?;
    let records = remove_member(conn, account_id, kind, id)?;
    audit::append(
        conn,
        account_id,
        actor,
        &AuditAction::MemberDeleted {
            kind,
            id,
            name: name.clone(),
            records,
        },
    )?;
    Ok(records)
}
