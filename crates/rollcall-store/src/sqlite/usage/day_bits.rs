//! The embedded store's reads of the per-(event, local day) bitmaps an
//! insight reads (`usage_day_bits`), through the kept ones
//! (`crate::usage::kept_day_bits`), and the day versions they are kept at.
//!
//! Every transaction that changes any of an app's bitmaps of a day (a push, an
//! erasure) sets that day's row of `usage_day_versions` (migration 0021) to
//! the app's new `last_version`. A read takes a kept bitmap only when its own
//! snapshot holds the version it was kept at, and reads (then keeps) the
//! others: beside constant ingest only today's bitmaps are read again.

use std::sync::Arc;

use rusqlite::{params, Connection};

use crate::usage::kept_day_bits::KeptDayBits;
use crate::usage::DayBits;
use crate::StoreResult;

/// The bitmaps of `events` (internal id, name) on the days of `from..=to`, as
/// this read transaction sees them: kept ones where their version is the
/// day's, the others read and kept.
pub(super) fn read(
    conn: &Connection,
    kept: &KeptDayBits,
    (account_id, app, app_id): (i64, i64, &str),
    events: &[(i64, String)],
    (from, to): (i32, i32),
) -> StoreResult<Vec<DayBits>> {
    if from > to || events.is_empty() {
        return Ok(Vec::new());
    }
    // A day without a version has no bitmap (every writer sets one).
    let versions: Vec<(i32, i64)> = conn
        .prepare_cached(
            "SELECT day, version FROM usage_day_versions
             WHERE account_id = ?1 AND app = ?2 AND day BETWEEN ?3 AND ?4 ORDER BY day",
        )?
        .query_map(params![account_id, app, from, to], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut range = conn.prepare_cached(
        "SELECT day, bits FROM usage_day_bits
         WHERE account_id = ?1 AND app = ?2 AND event_id = ?3 AND day BETWEEN ?4 AND ?5",
    )?;
    let mut days = Vec::new();
    for (event_id, name) in events {
        let start = days.len();
        // The days not kept at their version, as (day, version) in day order.
        let mut missing = Vec::new();
        let found = kept.find((account_id, app_id), *event_id, &versions);
        for (&(day, version), found) in versions.iter().zip(found) {
            match found {
                Some(bits) => days.push(DayBits::new(name.clone(), day, bits)),
                None => missing.push((day, version)),
            }
        }
        // One range over them (beside ingest, today alone; cold, all of them).
        if let (Some(&(first, _)), Some(&(last, _))) = (missing.first(), missing.last()) {
            let mut rows = range.query(params![account_id, app, event_id, first, last])?;
            while let Some(r) = rows.next()? {
                let day: i32 = r.get(0)?;
                let Ok(i) = missing.binary_search_by_key(&day, |&(d, _)| d) else {
                    continue;
                };
                let bits: Arc<[u8]> = r.get::<_, Vec<u8>>(1)?.into();
                kept.keep((account_id, app_id), (*event_id, day), missing[i].1, &bits);
                days.push(DayBits::new(name.clone(), day, bits));
            }
        }
        days[start..].sort_unstable_by_key(|b| b.day);
    }
    Ok(days)
}

/// Records, in the transaction that changed them, that the app's bitmaps of
/// `days` are now at `version` (the app's new `last_version`).
pub(in crate::sqlite) fn set_versions(
    conn: &Connection,
    (account_id, app): (i64, i64),
    days: impl IntoIterator<Item = i32>,
    version: i64,
) -> StoreResult<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO usage_day_versions (account_id, app, day, version) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (account_id, app, day) DO UPDATE SET version = excluded.version",
    )?;
    for day in days {
        stmt.execute(params![account_id, app, day, version])?;
    }
    Ok(())
}
