//! The write path of a usage-event push on the embedded store.
//!
//! The single writer thread bounds ingest, so a push does on the calling thread
//! everything that needs no transaction: [`PreparedPush::new`] gives each distinct
//! email and event name of the batch a slot, takes the ids of emails already known
//! to be committed from memory ([`CommittedEmails`]), and computes each email's
//! latest timestamp. The writer ([`PreparedPush::write`]) then only checks the app,
//! maps the name slots to event ids, looks up or interns the emails still unknown,
//! and writes: raw rows in key order with multi-row `INSERT OR IGNORE` (the
//! changed-row count gives `accepted`), a read-modify-write of the batch's few
//! distinct (event, day) bitmaps (plus the per-day "any event" bitmap, event 0),
//! and the latest timestamps as one pending row (folded into `usage_last` every
//! so many pushes, see `last`). A batch thus dirties a handful of pages instead
//! of one rollup row per (event, email).

use std::collections::BTreeSet;
use std::sync::Mutex;

use rollcall_core::fxhash::FxHashMap;
use rollcall_core::usage_bits;
use rusqlite::{params, Connection, OptionalExtension};

use super::{day_bits, last};
use crate::usage::{check_event_names, NewEvent, PushOutcome};
use crate::{StoreError, StoreResult};

/// Email ids known to be committed, per account: filled only once a push's write
/// has resolved (after its COMMIT), and email rows are never removed (an
/// erasure renames one and forgets the account here), so a push may trust them
/// without a lookup. Bounded; cleared when full.
#[derive(Default)]
pub(in crate::sqlite) struct CommittedEmails {
    ids: Mutex<FxHashMap<i64, FxHashMap<String, i64>>>,
}

/// About 80 bytes each: at most ~25 MB.
const COMMITTED_MAX: usize = 300_000;

impl CommittedEmails {
    /// Forgets the account's ids (an erasure renamed one of its emails).
    pub(in crate::sqlite) fn forget_account(&self, account_id: i64) {
        let mut all = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        all.remove(&account_id);
    }

    /// Remembers ids a resolved (committed) write used.
    fn remember(&self, account_id: i64, ids: impl Iterator<Item = (String, i64)>) {
        let Ok(mut all) = self.ids.lock() else {
            return;
        };
        let ids: Vec<(String, i64)> = ids.collect();
        let total: usize = all.values().map(FxHashMap::len).sum();
        if total + ids.len() > COMMITTED_MAX {
            all.clear();
        }
        all.entry(account_id).or_default().extend(ids);
    }
}

/// One event of a batch, by slots into the batch's distinct emails and names.
struct Row {
    /// Its index in the request, for naming it in an error.
    index: usize,
    ts_ms: i64,
    email: u32,
    name: u32,
    day: i32,
}

/// A batch of events made ready for the writer outside it.
pub(in crate::sqlite) struct PreparedPush {
    account_id: i64,
    app_id: String,
    /// The id of each distinct email of the batch, or -1 when not known to be committed.
    email_ids: Vec<i64>,
    /// The slots and addresses of the emails not known to be committed.
    unknown: Vec<(u32, String)>,
    /// The latest timestamp of each email slot.
    last_ms: Vec<i64>,
    /// The batch's distinct event names.
    names: Vec<String>,
    rows: Vec<Row>,
}

impl PreparedPush {
    pub(in crate::sqlite) fn new(
        account_id: i64,
        app_id: &str,
        events: &[NewEvent],
        committed: &CommittedEmails,
    ) -> PreparedPush {
        let mut email_slots: FxHashMap<&str, u32> = FxHashMap::default();
        let mut name_slots: FxHashMap<&str, u32> = FxHashMap::default();
        let mut emails: Vec<&str> = Vec::new();
        let mut last_ms: Vec<i64> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut rows = Vec::with_capacity(events.len());
        for e in events {
            let email = *email_slots.entry(e.email.as_str()).or_insert_with(|| {
                emails.push(e.email.as_str());
                last_ms.push(i64::MIN);
                emails.len() as u32 - 1
            });
            let name = *name_slots.entry(e.event_name.as_str()).or_insert_with(|| {
                names.push(e.event_name.clone());
                names.len() as u32 - 1
            });
            let last = &mut last_ms[email as usize];
            *last = (*last).max(e.ts_ms);
            rows.push(Row {
                index: e.index,
                ts_ms: e.ts_ms,
                email,
                name,
                day: e.day,
            });
        }
        // The shared map is locked for the distinct emails' look-ups only.
        let mut email_ids: Vec<i64> = Vec::with_capacity(emails.len());
        let mut unknown: Vec<(u32, String)> = Vec::new();
        {
            let all = committed.ids.lock().ok();
            let known = all.as_ref().and_then(|all| all.get(&account_id));
            for (slot, email) in (0u32..).zip(&emails) {
                match known.and_then(|k| k.get(*email)) {
                    Some(&id) => email_ids.push(id),
                    None => {
                        email_ids.push(-1);
                        unknown.push((slot, email.to_string()));
                    }
                }
            }
        }
        PreparedPush {
            account_id,
            app_id: app_id.to_string(),
            email_ids,
            unknown,
            last_ms,
            names,
            rows,
        }
    }

    /// Writes the batch in the writer's transaction; returns what it stored,
    /// the ids it had to look up or intern (those of `unknown`, in order) and
    /// the latest times it merged, with the app's new version of them.
    pub(in crate::sqlite) fn write(
        &self,
        conn: &Connection,
    ) -> StoreResult<(PushOutcome, Vec<i64>, TimesWritten)> {
        let account_id = self.account_id;
        let app = connected_app(conn, account_id, &self.app_id)?;
        let event_ids = self.event_ids(conn, app)?;
        let (email_ids, fresh) = self.email_ids(conn)?;

        // Raw rows in key order (time first) so the B-tree appends.
        let mut raw: Vec<[i64; 5]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    account_id,
                    app,
                    r.ts_ms,
                    email_ids[r.email as usize],
                    event_ids[r.name as usize],
                ]
            })
            .collect();
        raw.sort_unstable();
        let accepted = insert_rows(
            conn,
            "INSERT OR IGNORE INTO usage_events (account_id, app, ts_ms, email_id, event_id) VALUES ",
            "",
            &raw,
        )? as u64;
        let outcome = PushOutcome {
            accepted,
            duplicates: raw.len() as u64 - accepted,
        };

        let changed_days = self.set_day_bits(conn, app, &event_ids, &email_ids)?;

        let mut last: Vec<(u32, i64)> = self
            .last_ms
            .iter()
            .zip(&email_ids)
            .map(|(&ms, &email)| Ok((email_slot(email)?, ms)))
            .collect::<StoreResult<_>>()?;
        last.sort_unstable();
        last::append(conn, (account_id, app), &last)?;
        let version = bump_last_version(conn, app)?;
        day_bits::set_versions(conn, (account_id, app), changed_days, version)?;
        let times = TimesWritten {
            version,
            times: last,
        };
        Ok((outcome, fresh, times))
    }

    /// Remembers the ids a resolved write looked up or interned (those of
    /// `unknown`, in order): committed now.
    pub(in crate::sqlite) fn remember(&self, committed: &CommittedEmails, fresh: &[i64]) {
        if fresh.is_empty() {
            return;
        }
        committed.remember(
            self.account_id,
            self.unknown
                .iter()
                .zip(fresh)
                .map(|((_, email), &id)| (email.clone(), id)),
        );
    }

    /// The event id of each name slot; refuses the batch when a name is not (or
    /// no longer) defined.
    fn event_ids(&self, conn: &Connection, app: i64) -> StoreResult<Vec<i64>> {
        let mut ids: Vec<Option<i64>> = vec![None; self.names.len()];
        let mut stmt = conn.prepare_cached(
            "SELECT name, event_id FROM usage_event_names
             WHERE account_id = ?1 AND app = ?2 AND defined = 1",
        )?;
        let mut rows = stmt.query(params![self.account_id, app])?;
        while let Some(r) = rows.next()? {
            let name = r.get_ref(0)?;
            if let Some(slot) = self.names.iter().position(|n| name.as_str() == Ok(n)) {
                ids[slot] = Some(r.get(1)?);
            }
        }
        if ids.iter().any(Option::is_none) {
            let defined = |name: &str| {
                let slot = self.names.iter().position(|n| n == name);
                slot.is_some_and(|slot| ids[slot].is_some())
            };
            check_event_names(
                self.rows
                    .iter()
                    .map(|r| (r.index, self.names[r.name as usize].as_str())),
                defined,
            )?;
        }
        Ok(ids.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// The id of each email slot, looking up (then interning) those not known to
    /// be committed; also returns the ids of those, in order.
    fn email_ids(&self, conn: &Connection) -> StoreResult<(Vec<i64>, Vec<i64>)> {
        let mut ids = self.email_ids.clone();
        if self.unknown.is_empty() {
            return Ok((ids, Vec::new()));
        }
        let account_id = self.account_id;
        let mut one = conn
            .prepare_cached("SELECT id FROM usage_emails WHERE account_id = ?1 AND email = ?2")?;
        let mut new = Vec::new();
        for (slot, email) in &self.unknown {
            match one
                .query_row(params![account_id, email], |r| r.get(0))
                .optional()?
            {
                Some(id) => ids[*slot as usize] = id,
                None => new.push((*slot, email)),
            }
        }
        if !new.is_empty() {
            let next: i64 = conn
                .prepare_cached(
                    "SELECT coalesce(max(id), -1) + 1 FROM usage_emails WHERE account_id = ?1",
                )?
                .query_row([account_id], |r| r.get(0))?;
            let mut insert = conn.prepare_cached(
                "INSERT INTO usage_emails (account_id, id, email) VALUES (?1, ?2, ?3)",
            )?;
            for (id, (slot, email)) in (next..).zip(new) {
                insert.execute(params![account_id, id, email])?;
                ids[slot as usize] = id;
            }
        }
        let fresh = self
            .unknown
            .iter()
            .map(|(slot, _)| ids[*slot as usize])
            .collect();
        Ok((ids, fresh))
    }

    /// Sets each event's email bit in its (event, day) bitmap and in the day's
    /// "any event" bitmap (event 0). Setting bits is idempotent, so duplicates need
    /// no special case; an unchanged bitmap is not rewritten. Returns the days
    /// of the bitmaps it changed.
    fn set_day_bits(
        &self,
        conn: &Connection,
        app: i64,
        event_ids: &[i64],
        email_ids: &[i64],
    ) -> StoreResult<BTreeSet<i32>> {
        let mut marks: Vec<(i64, i32, u32)> = Vec::with_capacity(self.rows.len() * 2);
        for r in &self.rows {
            let id = email_slot(email_ids[r.email as usize])?;
            marks.push((event_ids[r.name as usize], r.day, id));
            marks.push((0, r.day, id));
        }
        marks.sort_unstable();
        marks.dedup();
        let mut read = conn.prepare_cached(
            "SELECT bits FROM usage_day_bits
             WHERE account_id = ?1 AND app = ?2 AND event_id = ?3 AND day = ?4",
        )?;
        let mut write = conn.prepare_cached(
            "INSERT OR REPLACE INTO usage_day_bits (account_id, app, event_id, day, bits)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut changed_days = BTreeSet::new();
        for group in marks.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
            let (event_id, day, _) = group[0];
            let mut bits: Vec<u8> = read
                .query_row(params![self.account_id, app, event_id, day], |r| r.get(0))
                .optional()?
                .unwrap_or_default();
            let mut changed = bits.is_empty();
            for &(_, _, id) in group {
                if !usage_bits::get(&bits, id) {
                    usage_bits::set(&mut bits, id);
                    changed = true;
                }
            }
            if changed {
                write.execute(params![self.account_id, app, event_id, day, bits])?;
                changed_days.insert(day);
            }
        }
        Ok(changed_days)
    }
}

/// An email id as its bit in the day bitmaps (ids are dense).
fn email_slot(email: i64) -> StoreResult<u32> {
    u32::try_from(email).map_err(|_| StoreError::Internal(format!("email id {email} out of range")))
}

/// The latest times a push wrote for an app (pending, see `last`), and the
/// app's version of them that this made (see migration 0020).
pub(in crate::sqlite) struct TimesWritten {
    pub version: i64,
    /// (email id, time): each merged as the later of it and the one stored.
    pub times: Vec<(u32, i64)>,
}

/// Moves the app's version of its latest times (in the transaction that
/// changes them); returns the new one.
pub(in crate::sqlite) fn bump_last_version(conn: &Connection, app: i64) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached(
            "UPDATE usage_apps SET last_version = last_version + 1 WHERE id = ?1
             RETURNING last_version",
        )?
        .query_row([app], |r| r.get(0))?)
}

/// The internal id of a connected app of the account.
fn connected_app(conn: &Connection, account_id: i64, app_id: &str) -> StoreResult<i64> {
    let (app, status): (i64, String) = conn
        .prepare_cached("SELECT id, status FROM usage_apps WHERE account_id = ?1 AND app_id = ?2")?
        .query_row(params![account_id, app_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("app {app_id} does not exist")))?;
    if status != "connected" {
        return Err(StoreError::invalid(format!(
            "app {app_id} is disconnected and accepts no more data"
        )));
    }
    Ok(app)
}

/// Rows per multi-row statement: one statement for many rows costs much less per
/// row than one execution each.
const CHUNK: usize = 64;

/// `head` + `(?,…),(?,…)…` for `rows` rows of `N` columns + `tail`.
fn multi_row_sql<const N: usize>(head: &str, tail: &str, rows: usize) -> String {
    let one = format!("({})", vec!["?"; N].join(","));
    format!("{head}{}{tail}", vec![one; rows].join(","))
}

/// Inserts integer rows in chunks of [`CHUNK`] (the rest one by one, so the
/// statement cache holds two statements); returns the rows changed.
pub(super) fn insert_rows<const N: usize>(
    conn: &Connection,
    head: &str,
    tail: &str,
    rows: &[[i64; N]],
) -> StoreResult<usize> {
    let mut changed = 0;
    let mut chunks = rows.chunks_exact(CHUNK);
    if chunks.len() > 0 {
        let mut stmt = conn.prepare_cached(&multi_row_sql::<N>(head, tail, CHUNK))?;
        for chunk in &mut chunks {
            changed += stmt.execute(rusqlite::params_from_iter(chunk.iter().flatten()))?;
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut stmt = conn.prepare_cached(&multi_row_sql::<N>(head, tail, 1))?;
        for row in rest {
            changed += stmt.execute(rusqlite::params_from_iter(row.iter()))?;
        }
    }
    Ok(changed)
}
