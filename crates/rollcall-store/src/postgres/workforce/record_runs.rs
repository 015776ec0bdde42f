//! Runs of activity records (`wf_record_runs`, migration 0023): the log-id
//! range of the records one ingest transaction stored for a (computer,
//! session) with raw starts in one [`RUN_SPAN_MS`] bucket. A batch's stored
//! identities (raw start, executable) are read through the runs that overlap
//! its raw starts, under the account's ingest lock, instead of a unique index
//! entry per record; a batch later than everything its computer sent reads
//! none. Ranges are never tighter than the truth: deletions do not narrow
//! them, and retention forgets the runs whose records are all gone.

use std::collections::{BTreeMap, HashSet};

use deadpool_postgres::GenericClient;

use crate::workforce::record_runs::{merged_ranges, RUN_SPAN_MS};

/// Record identities within one (computer, session): (raw start, executable).
pub(super) type Identities = HashSet<(i64, String)>;

/// The identities (computer, session) has stored with raw starts in
/// `lo..=hi`, read from the runs that overlap that range: first the runs'
/// log-id ranges, then, only when there are any (a batch sent again, or
/// records sent out of order), the records in each range. Two plain
/// statements rather than a join: a prepared join's generic plan may turn it
/// round and scan the account's records for every batch.
pub(super) async fn stored_identities(
    tx: &impl GenericClient,
    account_id: i64,
    (computer_id, session): (i64, i64),
    (lo, hi): (i64, i64),
) -> Result<Identities, tokio_postgres::Error> {
    // A run ending at or after `lo` and starting at or before `hi`; it starts
    // less than a span before its end, so its end is before hi + span.
    let runs = tx
        .prepare_cached(
            "SELECT first_log_id, last_log_id FROM wf_record_runs
             WHERE account_id = $1 AND computer_id = $2 AND session = $3
               AND max_raw_ms BETWEEN $4 AND $5 AND min_raw_ms <= $6
             ORDER BY first_log_id",
        )
        .await?;
    let ranges: Vec<(i64, i64)> = tx
        .query(
            &runs,
            &[
                &account_id,
                &computer_id,
                &session,
                &lo,
                &hi.saturating_add(RUN_SPAN_MS),
                &hi,
            ],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut out = Identities::new();
    if ranges.is_empty() {
        return Ok(out);
    }
    let records = tx
        .prepare_cached(
            "SELECT raw_start_ms, executable FROM wf_records
             WHERE account_id = $1 AND log_id BETWEEN $2 AND $3
               AND computer_id = $4 AND session = $5 AND raw_start_ms BETWEEN $6 AND $7",
        )
        .await?;
    // The runs of one write share its range: each is read once.
    for (first, last) in merged_ranges(ranges) {
        let rows = tx
            .query(
                &records,
                &[&account_id, &first, &last, &computer_id, &session, &lo, &hi],
            )
            .await?;
        out.extend(rows.iter().map(|r| (r.get(0), r.get(1))));
    }
    Ok(out)
}

/// Records the runs of the records this transaction stored for
/// (computer, client) in `session`, whose raw starts are `raws`: per bucket,
/// the ids from `first_id` to the last one this session took from the
/// records' identity. Runs after the records' insertion, under the lock.
pub(super) async fn add(
    tx: &impl GenericClient,
    account_id: i64,
    (computer_id, client_id): (i64, i64),
    session: i64,
    raws: impl Iterator<Item = i64>,
    first_id: i64,
) -> Result<(), tokio_postgres::Error> {
    let mut buckets: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for raw in raws {
        buckets
            .entry(raw.div_euclid(RUN_SPAN_MS))
            .and_modify(|(lo, hi)| {
                *lo = (*lo).min(raw);
                *hi = (*hi).max(raw);
            })
            .or_insert((raw, raw));
    }
    if buckets.is_empty() {
        return Ok(());
    }
    let (min_raw, max_raw): (Vec<i64>, Vec<i64>) = buckets.into_values().unzip();
    // A merge that deleted the account's newest records can start a run at
    // the same first id as an earlier one: that run is widened.
    let stmt = tx
        .prepare_cached(
            "INSERT INTO wf_record_runs AS u (account_id, computer_id, session, max_raw_ms,
                 first_log_id, min_raw_ms, last_log_id, client_id)
             SELECT $1, $2, $3, b.max_raw, $6, b.min_raw,
                    currval(pg_get_serial_sequence('wf_records', 'log_id')), $7
             FROM unnest($4::bigint[], $5::bigint[]) AS b(min_raw, max_raw)
             ON CONFLICT (account_id, computer_id, session, max_raw_ms, first_log_id) DO UPDATE
                 SET min_raw_ms = least(u.min_raw_ms, excluded.min_raw_ms),
                     last_log_id = greatest(u.last_log_id, excluded.last_log_id)",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &account_id,
            &computer_id,
            &session,
            &min_raw,
            &max_raw,
            &first_id,
            &client_id,
        ],
    )
    .await?;
    Ok(())
}

/// Forgets the runs of `account_id` whose ranges hold no record of their
/// (computer, session) and raw starts any more (after retention deleted
/// records). A run committed meanwhile is not seen, so it stays.
pub(super) async fn prune(
    client: &impl GenericClient,
    account_id: i64,
) -> Result<(), tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "DELETE FROM wf_record_runs AS u
             WHERE u.account_id = $1
               AND NOT EXISTS (SELECT 1 FROM wf_records r
                               WHERE r.account_id = $1
                                 AND r.log_id BETWEEN u.first_log_id AND u.last_log_id
                                 AND r.computer_id = u.computer_id AND r.session = u.session
                                 AND r.raw_start_ms BETWEEN u.min_raw_ms AND u.max_raw_ms)",
        )
        .await?;
    client.execute(&stmt, &[&account_id]).await?;
    Ok(())
}
