//! Where activity records lie in log order, kept in small side tables instead
//! of an index entry per record (migration 0018):
//!
//! - log ids come from one high-water mark (`wf_log_seq`), so they are never
//!   reused and follow commit order;
//! - runs (`wf_record_runs`): the log-id range of the records one write stored
//!   for a (computer, session) with raw starts in one [`RUN_SPAN_MS`] bucket.
//!   A record's identity (computer, session, raw start, executable) is found
//!   by reading the runs that overlap a batch's raw starts; a batch later than
//!   everything its computer sent reads none. Runs also give the ranges of one
//!   computer's or client's records;
//! - days (`wf_record_days`): bounds of each local day's log ids, where the
//!   activity log starts walking and retention scans.
//!
//! Every bound may be looser than the truth after deletions (ranges are not
//! narrowed), never tighter.

use std::collections::{BTreeMap, HashSet};

use rollcall_core::fxhash::{FxBuildHasher, FxHashMap};
use rusqlite::{params, Connection, OptionalExtension};

use crate::workforce::record_runs::{merged_ranges, RUN_SPAN_MS};
use crate::StoreResult;

/// Record identities: (raw start, executable id).
pub(super) type Identities = HashSet<(i64, i64), FxBuildHasher>;

/// The last log id handed out.
pub(super) fn last_log_id(conn: &Connection) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached("SELECT last_log_id FROM wf_log_seq WHERE id = 1")?
        .query_row([], |r| r.get(0))?)
}

fn set_last_log_id(conn: &Connection, id: i64, account_id: i64) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE wf_log_seq SET last_log_id = ?1, last_account_id = ?2 WHERE id = 1",
    )?
    .execute([id, account_id])?;
    Ok(())
}

/// The largest log id of any stored record (of every account): the last one
/// handed out when its record is still there (one seek), else one seek per
/// account, as records are keyed by (account, log id).
pub(super) fn newest_log_id(conn: &Connection) -> StoreResult<i64> {
    let last: Option<i64> = conn
        .prepare_cached(
            "SELECT s.last_log_id FROM wf_log_seq s
             WHERE s.id = 1 AND EXISTS (SELECT 1 FROM wf_records r
                                        WHERE r.account_id = s.last_account_id
                                          AND r.log_id = s.last_log_id)",
        )?
        .query_row([], |r| r.get(0))
        .optional()?;
    if let Some(id) = last {
        return Ok(id);
    }
    Ok(conn
        .prepare_cached(
            "SELECT coalesce(max((SELECT max(r.log_id) FROM wf_records r
                                  WHERE r.account_id = a.id)), 0)
             FROM accounts a",
        )?
        .query_row([], |r| r.get(0))?)
}

/// The identities (raw start, executable id) a (computer, session) has stored
/// with raw starts in `lo..=hi`, read from the runs that overlap that range.
pub(super) fn stored_identities(
    conn: &Connection,
    account_id: i64,
    (computer_id, session): (i64, i64),
    (lo, hi): (i64, i64),
) -> StoreResult<Identities> {
    let mut out = Identities::default();
    // A run ending at or after `lo` and starting at or before `hi`; it starts
    // less than a span before its end, so its end is before hi + span.
    let ranges: Vec<(i64, i64)> = conn
        .prepare_cached(
            "SELECT first_log_id, last_log_id FROM wf_record_runs
             WHERE account_id = ?1 AND computer_id = ?2 AND session = ?3
               AND max_raw_ms BETWEEN ?4 AND ?5 AND min_raw_ms <= ?6",
        )?
        .query_map(
            params![
                account_id,
                computer_id,
                session,
                lo,
                hi.saturating_add(RUN_SPAN_MS),
                hi
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<Result<_, _>>()?;
    let mut stmt = conn.prepare_cached(
        "SELECT start_ms + raw_skew_ms, exe_id FROM wf_records
         WHERE account_id = ?1 AND log_id BETWEEN ?2 AND ?3
           AND computer_id = ?4 AND session = ?5",
    )?;
    for (first, last) in ranges {
        let rows = stmt.query_map(
            params![account_id, first, last, computer_id, session],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        )?;
        for row in rows {
            let (raw, exe) = row?;
            if (lo..=hi).contains(&raw) {
                out.insert((raw, exe));
            }
        }
    }
    Ok(out)
}

#[derive(Clone, Copy)]
struct Bounds {
    min_raw: i64,
    max_raw: i64,
    first: i64,
    last: i64,
}

/// The runs and day bounds of one write of records of one (computer, client,
/// session), with the log ids it hands out.
pub(super) struct RunWriter {
    account_id: i64,
    computer_id: i64,
    client_id: i64,
    session: i64,
    last_log_id: i64,
    first_new: Option<i64>,
    runs: BTreeMap<i64, Bounds>,
    days: FxHashMap<i32, (i64, i64)>,
}

impl RunWriter {
    pub(super) fn new(
        conn: &Connection,
        account_id: i64,
        (computer_id, client_id): (i64, i64),
        session: i64,
    ) -> StoreResult<Self> {
        Ok(RunWriter {
            account_id,
            computer_id,
            client_id,
            session,
            last_log_id: last_log_id(conn)?,
            first_new: None,
            runs: BTreeMap::new(),
            days: FxHashMap::default(),
        })
    }

    /// The log id of the next record, stored with raw start `raw_ms` on local
    /// day `day`.
    pub(super) fn next(&mut self, raw_ms: i64, day: i32) -> i64 {
        self.last_log_id += 1;
        let id = self.last_log_id;
        self.first_new.get_or_insert(id);
        self.runs
            .entry(raw_ms.div_euclid(RUN_SPAN_MS))
            .and_modify(|b| {
                b.min_raw = b.min_raw.min(raw_ms);
                b.max_raw = b.max_raw.max(raw_ms);
                b.last = id;
            })
            .or_insert(Bounds {
                min_raw: raw_ms,
                max_raw: raw_ms,
                first: id,
                last: id,
            });
        self.days
            .entry(day)
            .and_modify(|d| d.1 = id)
            .or_insert((id, id));
        id
    }

    /// Stores the runs, the day bounds and the high-water mark.
    pub(super) fn finish(self, conn: &Connection) -> StoreResult<()> {
        if self.first_new.is_none() {
            return Ok(());
        }
        let mut run = conn.prepare_cached(
            "INSERT INTO wf_record_runs (account_id, computer_id, session, max_raw_ms,
                 first_log_id, min_raw_ms, last_log_id, client_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for b in self.runs.values() {
            run.execute(params![
                self.account_id,
                self.computer_id,
                self.session,
                b.max_raw,
                b.first,
                b.min_raw,
                b.last,
                self.client_id
            ])?;
        }
        let mut day = conn.prepare_cached(
            "INSERT INTO wf_record_days (account_id, day, first_log_id, last_log_id)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO UPDATE SET first_log_id = min(first_log_id, excluded.first_log_id),
                 last_log_id = max(last_log_id, excluded.last_log_id)",
        )?;
        for (d, (first, last)) in &self.days {
            day.execute(params![self.account_id, d, first, last])?;
        }
        set_last_log_id(conn, self.last_log_id, self.account_id)
    }
}

/// The log-id ranges holding the records of computer (`column` =
/// "computer_id") or client ("client_id") `id`.
pub(super) fn member_ranges(
    conn: &Connection,
    account_id: i64,
    column: &str,
    id: i64,
) -> StoreResult<Vec<(i64, i64)>> {
    let ranges: Vec<(i64, i64)> = conn
        .prepare_cached(&format!(
            "SELECT first_log_id, last_log_id FROM wf_record_runs
             WHERE account_id = ?1 AND {column} = ?2 ORDER BY first_log_id"
        ))?
        .query_map(params![account_id, id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    // Overlapping or touching ranges are read once.
    Ok(merged_ranges(ranges))
}

/// The log-id range holding every record of the account dated on or before
/// `day` (`None` when there is none).
pub(in crate::sqlite) fn through_day(
    conn: &Connection,
    account_id: i64,
    day: i32,
) -> StoreResult<Option<(i64, i64)>> {
    let (first, last): (Option<i64>, Option<i64>) = conn
        .prepare_cached(
            "SELECT min(first_log_id), max(last_log_id) FROM wf_record_days
             WHERE account_id = ?1 AND day <= ?2",
        )?
        .query_row(params![account_id, day], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(first.zip(last))
}

/// Forgets the day bounds before `day` that no record is dated on any more
/// (after retention deleted records).
pub(super) fn prune_days(conn: &Connection, account_id: i64, day: i32) -> StoreResult<()> {
    conn.prepare_cached(
        "DELETE FROM wf_record_days AS d
         WHERE d.account_id = ?1 AND d.day < ?2
           AND NOT EXISTS (SELECT 1 FROM wf_records r
                           WHERE r.account_id = ?1
                             AND r.log_id BETWEEN d.first_log_id AND d.last_log_id
                             AND r.day = d.day)",
    )?
    .execute(params![account_id, day])?;
    Ok(())
}

/// Forgets the runs whose ranges hold no record of their computer any more.
pub(super) fn prune_runs(conn: &Connection, account_id: i64) -> StoreResult<()> {
    conn.prepare_cached(
        "DELETE FROM wf_record_runs AS u
         WHERE u.account_id = ?1
           AND NOT EXISTS (SELECT 1 FROM wf_records r
                           WHERE r.account_id = ?1
                             AND r.log_id BETWEEN u.first_log_id AND u.last_log_id
                             AND r.computer_id = u.computer_id AND r.session = u.session)",
    )?
    .execute([account_id])?;
    Ok(())
}
