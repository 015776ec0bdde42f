//! The latest event time per (app, email) (`usage_last`) as reads see it:
//! a few emails looked up one by one, or the app's whole table, kept in memory
//! at the version (`usage_apps.last_version`) the read's snapshot holds.

use std::sync::Arc;

use rollcall_core::fxhash::FxHashMap;
use rusqlite::{params, Connection, OptionalExtension};

use super::report_cache::ReportCaches;
use crate::usage::LastTimes;
use crate::StoreResult;

/// Past this many emails, [`last_activity_of`] takes the app's whole latest
/// times ([`last_times`]: kept, or read once) instead of looking each email
/// up (a look-up costs about twenty rows of a read).
const LOOKUPS_MAX: usize = 4096;

/// The latest timestamp in `app` of each of `email_ids` that has one.
pub(super) fn last_activity_of(
    conn: &Connection,
    caches: &ReportCaches,
    account_id: i64,
    (app, app_id): (i64, &str),
    email_ids: &[u32],
) -> StoreResult<FxHashMap<u32, i64>> {
    if email_ids.len() > LOOKUPS_MAX {
        let times = last_times(conn, caches, account_id, app, app_id)?;
        return Ok(email_ids
            .iter()
            .filter_map(|&id| Some((id, times.get(id)?)))
            .collect());
    }
    let mut out = FxHashMap::default();
    let mut stmt = conn.prepare_cached(
        "SELECT last_ms FROM usage_last WHERE account_id = ?1 AND app = ?2 AND email_id = ?3",
    )?;
    for &id in email_ids {
        let ms: Option<i64> = stmt
            .query_row(params![account_id, app, id], |r| r.get(0))
            .optional()?;
        if let Some(ms) = ms {
            out.insert(id, ms);
        }
    }
    Ok(out)
}

/// The app's latest time per email as this read transaction sees them: the
/// kept ones when they are of the version the transaction holds, else read
/// (and kept when newer than those kept).
pub(super) fn last_times(
    conn: &Connection,
    caches: &ReportCaches,
    account_id: i64,
    app: i64,
    app_id: &str,
) -> StoreResult<Arc<LastTimes>> {
    let version: i64 = conn
        .prepare_cached("SELECT last_version FROM usage_apps WHERE id = ?1")?
        .query_row([app], |r| r.get(0))?;
    let kept = caches.with(account_id, |a| {
        a.app(app_id)
            .and_then(|x| x.last.as_ref())
            .filter(|(v, _)| *v == version)
            .map(|(_, times)| Arc::clone(times))
    });
    if let Some(times) = kept {
        return Ok(times);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT email_id, last_ms FROM usage_last WHERE account_id = ?1 AND app = ?2",
    )?;
    let mut times = LastTimes::default();
    let mut rows = stmt.query(params![account_id, app])?;
    while let Some(r) = rows.next()? {
        times.raise(r.get(0)?, r.get(1)?);
    }
    let times = Arc::new(times);
    caches.with(account_id, |a| {
        let entry = &mut a.app_mut(app_id).last;
        if entry.as_ref().is_none_or(|(v, _)| *v < version) {
            *entry = Some((version, Arc::clone(&times)));
        }
    });
    Ok(times)
}
