//! The latest event time per (app, email) on the embedded store: how it is
//! stored (`usage_last` and the pushes' pending rows) and how reads see it (a
//! few emails looked up one by one, or the app's whole table, kept in memory
//! at the version, `usage_apps.last_version`, the read's snapshot holds).
//!
//! A push's emails are spread over the whole `usage_last` table (a thousand
//! events of a hundred thousand people touch several hundred of its pages), so
//! upserting them one row each was most of the writer's work for a push: 65%
//! at 100,000 people, 42% at 10,000. A push now appends its batch's (email
//! id, latest time) pairs as one compact row of `usage_last_pending`
//! (migration 0022); once an app has [`FOLD_AT`] of them, they are folded into
//! `usage_last` in one pass in email order (each page written once for all of
//! them) and deleted. An email's latest time is the later of its `usage_last`
//! row and its pending pairs ([`read_all`], [`look_up`]). A fold changes where
//! times are, not what they are, so it moves no version.

use std::sync::Arc;

use rollcall_core::fxhash::FxHashMap;
use rollcall_core::varint;
use rusqlite::{params, Connection, OptionalExtension};

use super::push::insert_rows;
use super::report_cache::ReportCaches;
use crate::usage::LastTimes;
use crate::{StoreError, StoreResult};

/// Past this many emails, [`last_activity_of`] takes the app's whole latest
/// times ([`last_times`]: read once, then kept) instead of looking each email
/// up (a look-up costs about twenty rows of a read).
const LOOKUPS_MAX: usize = 4096;

/// The latest timestamp in `app` of each of `email_ids` that has one: from the
/// kept latest times when they are this snapshot's, else looked up (a few
/// emails) or read whole and kept.
pub(super) fn last_activity_of(
    conn: &Connection,
    caches: &ReportCaches,
    account_id: i64,
    (app, app_id): (i64, &str),
    email_ids: &[u32],
) -> StoreResult<FxHashMap<u32, i64>> {
    let version = last_version(conn, app)?;
    let times = match kept_last_times(caches, account_id, app_id, version) {
        Some(times) => times,
        None if email_ids.len() <= LOOKUPS_MAX => {
            return look_up(conn, (account_id, app), email_ids)
        }
        None => read_last_times(conn, caches, (account_id, app, app_id), version)?,
    };
    Ok(email_ids
        .iter()
        .filter_map(|&id| Some((id, times.get(id)?)))
        .collect())
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
    let version = last_version(conn, app)?;
    match kept_last_times(caches, account_id, app_id, version) {
        Some(times) => Ok(times),
        None => read_last_times(conn, caches, (account_id, app, app_id), version),
    }
}

/// The version of the app's latest times this transaction holds.
fn last_version(conn: &Connection, app: i64) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached("SELECT last_version FROM usage_apps WHERE id = ?1")?
        .query_row([app], |r| r.get(0))?)
}

/// The kept latest times of the app, when they are of `version`.
fn kept_last_times(
    caches: &ReportCaches,
    account_id: i64,
    app_id: &str,
    version: i64,
) -> Option<Arc<LastTimes>> {
    caches.with(account_id, |a| {
        a.app(app_id)
            .and_then(|x| x.last.as_ref())
            .filter(|(v, _)| *v == version)
            .map(|(_, times)| Arc::clone(times))
    })
}

/// Reads the app's latest times (of `version`, this transaction's) and keeps
/// them unless newer ones are kept.
fn read_last_times(
    conn: &Connection,
    caches: &ReportCaches,
    (account_id, app, app_id): (i64, i64, &str),
    version: i64,
) -> StoreResult<Arc<LastTimes>> {
    let times = Arc::new(read_all(conn, (account_id, app))?);
    caches.with(account_id, |a| {
        let entry = &mut a.app_mut(app_id).last;
        if entry.as_ref().is_none_or(|(v, _)| *v < version) {
            *entry = Some((version, Arc::clone(&times)));
        }
    });
    Ok(times)
}

/// Pending rows of one app that make the push appending the last of them fold
/// them all into `usage_last`.
pub(super) const FOLD_AT: i64 = 64;

/// Appends a push's latest times (`times`: email id and time, in email order,
/// each email once) to the app's pending rows, and folds them when there are
/// [`FOLD_AT`].
pub(super) fn append(
    conn: &Connection,
    (account_id, app): (i64, i64),
    times: &[(u32, i64)],
) -> StoreResult<()> {
    if times.is_empty() {
        return Ok(());
    }
    conn.prepare_cached(
        "INSERT INTO usage_last_pending (account_id, app, times) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![account_id, app, encode(times)])?;
    let pending: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM usage_last_pending WHERE account_id = ?1 AND app = ?2",
        )?
        .query_row(params![account_id, app], |r| r.get(0))?;
    if pending >= FOLD_AT {
        fold(conn, (account_id, app))?;
    }
    Ok(())
}

/// Moves the app's pending times into `usage_last` (the later time wins) and
/// deletes them.
pub(in crate::sqlite) fn fold(conn: &Connection, (account_id, app): (i64, i64)) -> StoreResult<()> {
    let pending = pending(conn, (account_id, app))?;
    if pending.is_empty() {
        return Ok(());
    }
    let mut rows: Vec<[i64; 4]> = pending
        .into_iter()
        .map(|(id, ms)| [account_id, app, i64::from(id), ms])
        .collect();
    rows.sort_unstable();
    insert_rows(
        conn,
        "INSERT INTO usage_last (account_id, app, email_id, last_ms) VALUES ",
        " ON CONFLICT (account_id, app, email_id) DO UPDATE SET last_ms = excluded.last_ms
           WHERE excluded.last_ms > usage_last.last_ms",
        &rows,
    )?;
    conn.prepare_cached("DELETE FROM usage_last_pending WHERE account_id = ?1 AND app = ?2")?
        .execute(params![account_id, app])?;
    Ok(())
}

/// The app's pending times: each email's latest.
fn pending(conn: &Connection, key: (i64, i64)) -> StoreResult<FxHashMap<u32, i64>> {
    let mut latest: FxHashMap<u32, i64> = FxHashMap::default();
    each_pending(conn, key, |id, ms| {
        let at = latest.entry(id).or_insert(ms);
        *at = (*at).max(ms);
    })?;
    Ok(latest)
}

/// Calls `each` with every pending (email id, time) pair of the app.
fn each_pending(
    conn: &Connection,
    (account_id, app): (i64, i64),
    mut each: impl FnMut(u32, i64),
) -> StoreResult<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT times FROM usage_last_pending WHERE account_id = ?1 AND app = ?2",
    )?;
    let mut rows = stmt.query(params![account_id, app])?;
    while let Some(r) = rows.next()? {
        let blob = r.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
        decode(blob, &mut each)?;
    }
    Ok(())
}

/// Every latest time of the app.
fn read_all(conn: &Connection, (account_id, app): (i64, i64)) -> StoreResult<LastTimes> {
    let mut times = LastTimes::default();
    let mut stmt = conn.prepare_cached(
        "SELECT email_id, last_ms FROM usage_last WHERE account_id = ?1 AND app = ?2",
    )?;
    let mut rows = stmt.query(params![account_id, app])?;
    while let Some(r) = rows.next()? {
        times.raise(r.get(0)?, r.get(1)?);
    }
    each_pending(conn, (account_id, app), |id, ms| times.raise(id, ms))?;
    Ok(times)
}

/// The latest time in the app of each of `email_ids` that has one, looked up
/// one by one.
pub(super) fn look_up(
    conn: &Connection,
    key: (i64, i64),
    email_ids: &[u32],
) -> StoreResult<FxHashMap<u32, i64>> {
    let mut out: FxHashMap<u32, i64> = FxHashMap::default();
    let mut stmt = conn.prepare_cached(
        "SELECT last_ms FROM usage_last WHERE account_id = ?1 AND app = ?2 AND email_id = ?3",
    )?;
    for &id in email_ids {
        let stored: Option<i64> = stmt
            .query_row(params![key.0, key.1, id], |r| r.get(0))
            .optional()?;
        out.insert(id, stored.unwrap_or(i64::MIN));
    }
    each_pending(conn, key, |id, ms| {
        if let Some(at) = out.get_mut(&id) {
            *at = (*at).max(ms);
        }
    })?;
    out.retain(|_, ms| *ms != i64::MIN);
    Ok(out)
}

/// `times` (in email order) as the earliest time, then per pair the email
/// id's step from the previous one and the time's distance from the earliest
/// (`varint::put_steps`): about 6 bytes a pair instead of a row.
fn encode(times: &[(u32, i64)]) -> Vec<u8> {
    let base = times.iter().map(|&(_, ms)| ms).min().unwrap_or(0);
    let mut out = Vec::with_capacity(8 + 7 * times.len());
    out.extend_from_slice(&base.to_le_bytes());
    let pairs = times
        .iter()
        .map(|&(id, ms)| (u64::from(id), ms.wrapping_sub(base) as u64));
    varint::put_steps(&mut out, pairs);
    out
}

/// Calls `each` with every pair of an [`encode`]d row.
fn decode(bytes: &[u8], mut each: impl FnMut(u32, i64)) -> StoreResult<()> {
    let corrupt = || StoreError::Internal("a pending latest-times row is corrupt".into());
    let (base, rest) = bytes.split_first_chunk::<8>().ok_or_else(corrupt)?;
    let base = i64::from_le_bytes(*base);
    for pair in varint::steps(rest) {
        let (id, since) = pair.map_err(|_| corrupt())?;
        let id = u32::try_from(id).map_err(|_| corrupt())?;
        each(id, base.wrapping_add(since as i64));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(times: &[(u32, i64)]) -> Vec<(u32, i64)> {
        let mut out = Vec::new();
        decode(&encode(times), |id, ms| out.push((id, ms))).unwrap();
        out
    }

    #[test]
    fn pairs_come_back_as_they_went_in() {
        let times = [
            (0, 1_700_000_000_000),
            (1, 1_600_000_000_000),
            (300, i64::MAX),
            (70_000, -5),
            (u32::MAX, 1_700_000_000_001),
        ];
        assert_eq!(round_trip(&times), times);
        assert_eq!(round_trip(&[]), []);
    }

    #[test]
    fn a_pair_of_a_push_takes_a_few_bytes() {
        let base = 1_765_000_000_000;
        let times: Vec<(u32, i64)> = (0..1000)
            .map(|i| (i * 7, base + i64::from(i) * 3_000))
            .collect();
        let bytes = encode(&times).len();
        assert!(bytes < 6 * 1000, "{bytes} bytes");
    }

    #[test]
    fn a_cut_or_overlong_row_is_an_error_not_a_panic() {
        let bytes = encode(&[(5, 10), (9, 20)]);
        for end in 0..bytes.len() {
            let mut seen = 0;
            let result = decode(&bytes[..end], |_, _| seen += 1);
            // A cut that ends exactly between pairs is a shorter valid row.
            assert!(result.is_err() || seen < 2, "cut at {end}");
        }
        let mut overlong = 0i64.to_le_bytes().to_vec();
        overlong.extend_from_slice(&[0xff; 11]);
        assert!(decode(&overlong, |_, _| {}).is_err());
    }
}
