//! Activity retention: what each account's `activityRetentionDays` no longer
//! keeps goes from the raw records, the day bounds, the idle stretches and the
//! rollups.

use rollcall_core::time;
use rusqlite::{params, Connection};

use super::runs;
use crate::StoreResult;

/// Deletes activity older than each account's `activityRetentionDays`: whole
/// local days before the cut-off day go from the rollups, and raw records whose
/// last day is before it, so the reports and the log agree with what remains.
pub(in crate::sqlite) fn apply_retention(conn: &Connection, now_ms: i64) -> StoreResult<()> {
    let accounts: Vec<(i64, String, i64)> = conn
        .prepare_cached("SELECT id, time_zone, activity_retention_days FROM accounts")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (account_id, zone, days) in accounts {
        let tz = time::parse_time_zone(&zone).unwrap_or(jiff::tz::TimeZone::UTC);
        let cutoff_ms = now_ms.saturating_sub(days.saturating_mul(86_400_000));
        let cutoff_day = time::day_number(time::local_date(cutoff_ms, &tz));
        // The day bounds give the log-id range of every record dated before the
        // cut-off; the end day keeps those that reach into retained days.
        // Deleting drops the strings no other record names (migration 0024,
        // once the pending references are folded).
        if let Some((first, last)) = runs::through_day(conn, account_id, cutoff_day - 1)? {
            super::text_refs::fold(conn, account_id)?;
            let deleted = conn
                .prepare_cached(
                    "DELETE FROM wf_records WHERE account_id = ?1 AND log_id BETWEEN ?3 AND ?4
                         AND day < ?2 AND day + end_days < ?2",
                )?
                .execute(params![account_id, cutoff_day, first, last])?;
            runs::prune_days(conn, account_id, cutoff_day)?;
            if deleted > 0 {
                runs::prune_runs(conn, account_id)?;
            }
        }
        // A stretch that ends before the cut-off day has only deleted records.
        conn.prepare_cached("DELETE FROM wf_idle_stretches WHERE account_id = ?1 AND end_ms < ?2")?
            .execute(params![
                account_id,
                time::start_of_day_ms(time::date_of_day_number(cutoff_day), &tz)
            ])?;
        for table in [
            "wf_day_span",
            "wf_day_active",
            "wf_day_idle",
            "wf_day_counts",
        ] {
            conn.prepare_cached(&format!(
                "DELETE FROM {table} WHERE account_id = ?1 AND day < ?2"
            ))?
            .execute(params![account_id, cutoff_day])?;
        }
    }
    Ok(())
}
