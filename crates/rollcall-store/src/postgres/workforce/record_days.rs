//! Where each local day's activity records lie in log order
//! (`wf_record_days`, migration 0022): bounds of their log ids, never
//! tighter than the truth (deletions do not narrow them). The activity log
//! starts its walk from them, and retention and title retention bound their
//! scans of the (account_id, log_id) primary key with them, instead of an index
//! entry per record that every ingested record paid for under the account's
//! ingest lock.
//!
//! Ingest widens the bounds of the days of the records it stored, under the
//! lock; retention forgets the days no record can be dated on any more.

use deadpool_postgres::GenericClient;
use rollcall_core::workforce::MAX_DURATION_S;

/// Widens the bounds of `days` (the start days of the records this transaction
/// stored) to the ids from `first_id` to the last one this session took from
/// the records' identity, which is the newest record it stored: every stored
/// record's id lies between them. Runs after the records' insertion, under
/// the account's ingest lock.
pub(super) async fn widen(
    tx: &impl GenericClient,
    account_id: i64,
    mut days: Vec<i32>,
    first_id: i64,
) -> Result<(), tokio_postgres::Error> {
    if days.is_empty() {
        return Ok(());
    }
    // One upsert may not touch a row twice.
    days.sort_unstable();
    days.dedup();
    let stmt = tx
        .prepare_cached(
            "INSERT INTO wf_record_days AS d (account_id, day, first_log_id, last_log_id)
             SELECT $1, u.day, $3, currval(pg_get_serial_sequence('wf_records', 'log_id'))
             FROM unnest($2::int[]) AS u(day)
             ON CONFLICT (account_id, day) DO UPDATE
                 SET first_log_id = least(d.first_log_id, excluded.first_log_id),
                     last_log_id = greatest(d.last_log_id, excluded.last_log_id)",
        )
        .await?;
    tx.execute(&stmt, &[&account_id, &days, &first_id]).await?;
    Ok(())
}

/// The earliest day whose bounds retention keeps when it deletes the records
/// that end before `cutoff_day`: a record lasts at most [`MAX_DURATION_S`], so
/// one dated earlier ends before the cut-off (even across a daylight-saving
/// change) and is gone, and ingest, which refuses records older than the
/// retention, cannot date one there again.
pub(super) fn kept_from(cutoff_day: i32) -> i32 {
    let longest_days = (MAX_DURATION_S / 86_400) as i32;
    cutoff_day - longest_days - 1
}

#[cfg(test)]
mod tests {
    use rollcall_core::time::{parse_instant_ms, parse_time_zone};
    use rollcall_core::workforce::split_at_local_midnight;

    use super::*;

    #[test]
    fn no_record_dated_before_the_kept_days_reaches_the_cut_off() {
        // Week-long records starting late in the evening, through the spring
        // (a local week of 169 hours) and autumn changes and in a zone without.
        for (zone, start) in [
            ("Europe/Berlin", "2026-03-22T22:30:00Z"),
            ("Europe/Berlin", "2026-10-19T21:30:00Z"),
            ("America/New_York", "2026-03-02T04:30:00Z"),
            ("Australia/Lord_Howe", "2026-09-28T12:00:00Z"),
            ("UTC", "2026-06-01T23:59:59Z"),
        ] {
            let tz = parse_time_zone(zone).unwrap();
            let pieces = split_at_local_midnight(
                parse_instant_ms(start).unwrap(),
                MAX_DURATION_S * 1000,
                &tz,
            );
            let (first, last) = (pieces[0].day, pieces[pieces.len() - 1].day);
            // The first cut-off whose kept days no longer include its start day.
            let cutoff = (first..).find(|c| kept_from(*c) > first).unwrap();
            assert!(
                last < cutoff,
                "{zone} {start}: ends on {last}, cut-off {cutoff}"
            );
        }
    }
}
