//! The write path of usage events.
//!
//! A push runs in one transaction, with the other pushes to the same app this
//! store holds at that moment (a group, see `combine`; a group writes as the
//! batches one after the other would). Pushes to one app run concurrently
//! (across processes too) and stay exact because every push takes its locks in
//! one global order and every rollup update is idempotent:
//!
//! 1. the app row in share mode (`apps`): excludes a concurrent change or removal
//!    of the app, not other pushes;
//! 2. (only for emails never seen) the account's `usage_email_seq` row, under
//!    which they are interned: ids are dense, handed out in commit order;
//! 3. the raw rows of the group, in key order, a row two batches hold counting
//!    for the first. First as if all were new, with one `COPY` (`raw_copy`:
//!    the cheap case), which fails on a row already stored; the group is then
//!    pushed again (a new transaction) with `INSERT … SELECT FROM unnest(…) ON
//!    CONFLICT DO NOTHING`, whose row count is `accepted` (for several batches
//!    it returns the rows stored). Either way a row another push inserted but
//!    has not committed makes this one wait for it, so the same batch retried
//!    concurrently counts its events once as accepted and then as duplicates;
//! 4. the latest timestamps, kept in blocks of 128 emails (`last`): the
//!    group's blocks created if new and locked in block order, merged here
//!    keeping the greater time, written back with one statement;
//! 5. the group's few distinct (event, day) bitmaps (plus the per-day "any
//!    event" bitmap, event 0), one upsert in key order that ORs the group's bits
//!    into the stored ones in SQL (`usage_bits_or`, migration 0005), so no
//!    update is lost.
//!
//! Steady state it costs six round trips after `BEGIN`, whatever the group
//! size: lock and load the app; its defined event names and the ids of the
//! group's emails this store has not met yet (`email_ids` caches the others),
//! pipelined; the copy's start, then its rows; the latest-time blocks, locked
//! and read; the two rollup writes and the `COMMIT`, pipelined (the rollup
//! rows, which concurrent pushes queue on, are locked only from then to the
//! commit's flush).

use std::collections::{BTreeMap, HashMap, HashSet};

use deadpool_postgres::{GenericClient, Transaction};
use rollcall_core::usage_bits;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::Statement;

use super::apps::{disconnected, load_app, Lock};
use super::email_ids::EmailIds;
use super::last;
use super::raw_copy::{self, Key};
use crate::usage::{check_event_names, NewEvent, PushOutcome};
use crate::{StoreError, StoreResult};

/// Stores each batch of `batches` in the app, all or nothing per batch, in
/// one transaction (the caller's); the answers are in the batches' order. A
/// batch naming an event the app does not define gets its own error and
/// writes nothing; errors of the app (unknown, disconnected) or of the database
/// are the whole group's. The batches are written as one: the result is the
/// one of pushing them one after the other, in order. Ends `tx`: commits it when
/// this returns `Ok(Some(…))`; `Ok(None)`: with [`Raw::New`], a raw row was
/// already stored, nothing was (push again with [`Raw::SkipStored`]).
pub(super) async fn push_group(
    tx: Transaction<'_>,
    email_ids: &EmailIds,
    account_id: i64,
    app_id: &str,
    batches: &[&[NewEvent]],
    raw: Raw,
) -> StoreResult<Option<Vec<StoreResult<PushOutcome>>>> {
    let app = load_app(&tx, account_id, app_id, Lock::Share).await?;
    if !app.rec.is_connected() {
        return Err(disconnected(app_id));
    }
    let mut emails: Vec<&str> = batches
        .iter()
        .flat_map(|b| b.iter().map(|e| e.email.as_str()))
        .collect();
    emails.sort_unstable();
    emails.dedup();
    let mut ids = email_ids.get(account_id, &emails);
    let unknown: Vec<&str> = emails
        .iter()
        .copied()
        .filter(|e| !ids.contains_key(*e))
        .collect();
    let (names, found) = tokio::try_join!(
        defined_events(&tx, account_id, app.id),
        lookup_emails(&tx, account_id, &unknown),
    )?;
    email_ids.put(account_id, &found);
    ids.extend(found);
    let mut answers: Vec<StoreResult<PushOutcome>> = batches
        .iter()
        .map(|events| {
            check_event_names(
                events.iter().map(|e| (e.index, e.event_name.as_str())),
                |name| names.contains_key(name),
            )
            .map(|()| PushOutcome::default())
        })
        .collect();
    let valid: Vec<&[NewEvent]> = batches
        .iter()
        .zip(&answers)
        .filter(|(_, a)| a.is_ok())
        .map(|(b, _)| *b)
        .collect();
    if valid.is_empty() {
        tx.commit().await?;
        return Ok(Some(answers));
    }
    // Only the emails of accepted batches are interned.
    let mut missing: Vec<&str> = valid
        .iter()
        .flat_map(|b| b.iter().map(|e| e.email.as_str()))
        .filter(|e| !ids.contains_key(*e))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    if !missing.is_empty() {
        intern_emails(&tx, account_id, &missing, &mut ids).await?;
    }
    let batch = Batch::new(&valid, &names, &ids)?;
    let Some(accepted) = write(&tx, account_id, app.id, &batch, raw).await? else {
        return Ok(None);
    };
    // `write` committed (a `COMMIT` sent as a statement): forgetting the
    // transaction keeps it from sending the `ROLLBACK` it sends when dropped
    // unfinished (it holds nothing else).
    std::mem::forget(tx);
    let mut accepted = accepted.into_iter();
    for (answer, events) in answers.iter_mut().zip(batches) {
        if let Ok(outcome) = answer {
            let n = accepted.next().unwrap_or(0);
            outcome.accepted = n;
            outcome.duplicates = events.len() as u64 - n;
        }
    }
    Ok(Some(answers))
}

/// Event name -> id of the names the app's definition holds now.
async fn defined_events(
    tx: &impl GenericClient,
    account_id: i64,
    app: i64,
) -> StoreResult<HashMap<String, i32>> {
    let stmt = tx
        .prepare_cached(
            "SELECT name, event_id FROM usage_event_names
             WHERE account_id = $1 AND app = $2 AND defined",
        )
        .await?;
    Ok(tx
        .query(&stmt, &[&account_id, &app])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// The ids of the emails already interned (committed rows never change). One
/// index probe per email: `email = ANY($2)` with a parameter array is checked
/// against every row of the account's emails under a generic plan.
async fn lookup_emails(
    tx: &impl GenericClient,
    account_id: i64,
    emails: &[&str],
) -> StoreResult<HashMap<String, i32>> {
    if emails.is_empty() {
        return Ok(HashMap::new());
    }
    let stmt = tx
        .prepare_cached(
            "SELECT u.email, u.id FROM unnest($2::text[]) AS k(email),
             LATERAL (SELECT email, id FROM usage_emails
                      WHERE account_id = $1 AND email = k.email) AS u",
        )
        .await?;
    Ok(tx
        .query(&stmt, &[&account_id, &emails])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// Interns `missing` (sorted) with the account's next dense ids. The account's
/// `usage_email_seq` row stays locked until commit, so concurrent pushes hand out
/// ids one after the other and ids become visible in order (the email table
/// cache relies on that); the look-up is repeated under the lock for emails
/// another push interned meanwhile.
async fn intern_emails(
    tx: &impl GenericClient,
    account_id: i64,
    missing: &[&str],
    ids: &mut HashMap<String, i32>,
) -> StoreResult<()> {
    let next: i32 = tx
        .query_one(
            "INSERT INTO usage_email_seq (account_id, next_id) VALUES ($1, 0)
             ON CONFLICT (account_id) DO UPDATE SET next_id = usage_email_seq.next_id
             RETURNING next_id",
            &[&account_id],
        )
        .await?
        .get(0);
    ids.extend(lookup_emails(tx, account_id, missing).await?);
    let new: Vec<&str> = missing
        .iter()
        .copied()
        .filter(|e| !ids.contains_key(*e))
        .collect();
    if new.is_empty() {
        return Ok(());
    }
    let count = i32::try_from(new.len())
        .ok()
        .and_then(|n| next.checked_add(n))
        .ok_or_else(|| StoreError::Internal("the account has too many emails".into()))?;
    let new_ids: Vec<i32> = (next..count).collect();
    let insert = async {
        tx.execute(
            "INSERT INTO usage_emails (account_id, id, email)
             SELECT $1, i, e FROM unnest($2::int[], $3::text[]) AS t(i, e)",
            &[&account_id, &new_ids, &new],
        )
        .await
    };
    let bump = async {
        tx.execute(
            "UPDATE usage_email_seq SET next_id = $2 WHERE account_id = $1",
            &[&account_id, &count],
        )
        .await
    };
    tokio::try_join!(insert, bump)?;
    ids.extend(new.iter().map(|e| e.to_string()).zip(new_ids));
    Ok(())
}

/// A group of batches in the shape its statements take.
struct Batch {
    /// Raw rows of all the batches, in key order, each once.
    raw: Vec<Key>,
    /// With more than one batch: each batch's keys (in key order, each once),
    /// to tell which batch a stored row counts for.
    keys: Vec<Vec<Key>>,
    /// (event id, day) -> the email ids active; event 0 is "any event".
    days: BTreeMap<(i32, i32), Vec<u32>>,
    /// Email id -> latest timestamp of the batches.
    last: BTreeMap<i32, i64>,
}

impl Batch {
    fn new(
        batches: &[&[NewEvent]],
        names: &HashMap<String, i32>,
        ids: &HashMap<String, i32>,
    ) -> StoreResult<Batch> {
        let total = batches.iter().map(|b| b.len()).sum();
        let mut batch = Batch {
            raw: Vec::with_capacity(total),
            keys: Vec::new(),
            days: BTreeMap::new(),
            last: BTreeMap::new(),
        };
        for events in batches {
            let mut keys = Vec::with_capacity(events.len());
            for e in *events {
                let event_id = names.get(&e.event_name).copied().unwrap_or(0);
                let email_id = ids.get(e.email.as_str()).copied().ok_or_else(|| {
                    StoreError::Internal(format!("email {} was not interned", e.email))
                })?;
                let bit = u32::try_from(email_id).map_err(|_| {
                    StoreError::Internal(format!("email id {email_id} out of range"))
                })?;
                keys.push((e.ts_ms, email_id, event_id));
                batch.days.entry((event_id, e.day)).or_default().push(bit);
                batch.days.entry((0, e.day)).or_default().push(bit);
                let l = batch.last.entry(email_id).or_insert(i64::MIN);
                *l = (*l).max(e.ts_ms);
            }
            if batches.len() == 1 {
                batch.raw = keys;
            } else {
                batch.raw.extend_from_slice(&keys);
                keys.sort_unstable();
                keys.dedup();
                batch.keys.push(keys);
            }
        }
        batch.raw.sort_unstable();
        batch.raw.dedup();
        Ok(batch)
    }

    /// How many rows each batch stored, given the rows the group stored: a row
    /// counts for the first batch holding it (the others had it as a duplicate).
    fn accepted(&self, mut stored: HashSet<Key>) -> Vec<u64> {
        self.keys
            .iter()
            .map(|keys| keys.iter().filter(|k| stored.remove(k)).count() as u64)
            .collect()
    }
}

/// How a push inserts its raw rows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Raw {
    /// A `COPY` (`raw_copy`), failing (unique violation) on a row already
    /// stored or being stored by another push: far cheaper per row than the
    /// speculative insertion `ON CONFLICT` does, and every row is new unless a
    /// batch is sent again.
    New,
    /// `INSERT … ON CONFLICT DO NOTHING`, which counts the rows stored.
    SkipStored,
}

/// The statements that write a group, each taking its row locks in key
/// order: raw rows (when some may be stored already: `raw_skip` skips those,
/// and `raw_skip_returning`, for a group of several batches, names those it
/// stored), then (`last`) latest timestamps, then bitmaps.
struct Writes {
    raw_skip: Statement,
    raw_skip_returning: Statement,
    bits: Statement,
}

const RAW_SKIP_SQL: &str = "INSERT INTO usage_events (app, ts_ms, email_id, event_id)
     SELECT $1, t, m, e FROM unnest($2::bigint[], $3::int[], $4::int[]) AS r(t, m, e)
     ON CONFLICT DO NOTHING";

impl Writes {
    async fn prepare(tx: &impl GenericClient) -> StoreResult<Writes> {
        let skip_returning = format!("{RAW_SKIP_SQL} RETURNING ts_ms, email_id, event_id");
        let (raw_skip, raw_skip_returning, bits) = tokio::try_join!(
            tx.prepare_cached(RAW_SKIP_SQL),
            tx.prepare_cached(&skip_returning),
            tx.prepare_cached(
                "INSERT INTO usage_day_bits (account_id, app, event_id, day, bits)
                 SELECT $1, $2, e, d, b FROM unnest($3::int[], $4::int[], $5::bytea[]) AS r(e, d, b)
                 ON CONFLICT (account_id, app, event_id, day)
                 DO UPDATE SET bits = usage_bits_or(usage_day_bits.bits, excluded.bits)",
            ),
        )?;
        Ok(Writes {
            raw_skip,
            raw_skip_returning,
            bits,
        })
    }
}

/// Writes the group and commits it: the raw rows, ignoring the ones already
/// stored (how many each batch stored is its `accepted`, in the batches'
/// order), the greater of the stored and the group's latest timestamp per
/// email, and the group's bitmaps ORed into the stored ones; then `COMMIT`.
///
/// Each statement inserts or locks its rows in the order of its rows (the
/// copied rows, or a function scan of `unnest` feeding the insert), which is
/// key order, and they are sent in this order on the one connection, so every
/// push takes these locks in one global order: no deadlock. (A raw row
/// another push inserted and has not committed makes this one wait for that
/// push's end: the same order.) Setting bits and keeping the greater time are
/// idempotent, so a retried batch changes nothing whatever ran meanwhile.
///
/// With [`Raw::New`] the rows are copied first, alone (a copy holds the
/// connection until it ends); a copy meeting a stored row ends the push with
/// `None`, its transaction rolled back when dropped. The latest-time blocks
/// are then locked and merged (`last`), and their write, the bitmap upsert and
/// the `COMMIT` are sent together, not each after the previous one's answer:
/// the row locks of the bitmaps, which concurrent pushes of the same days
/// queue on, are held one round trip less. If a write fails, the transaction
/// is aborted and that `COMMIT` rolls it back.
async fn write(
    tx: &Transaction<'_>,
    account_id: i64,
    app: i64,
    batch: &Batch,
    mode: Raw,
) -> StoreResult<Option<Vec<u64>>> {
    let writes = Writes::prepare(tx).await?;
    let several = !batch.keys.is_empty();
    let copied = match mode {
        Raw::New => match raw_copy::copy_raw(tx, app, &batch.raw).await {
            Ok(_) if several => Some(batch.accepted(batch.raw.iter().copied().collect())),
            Ok(n) => Some(vec![n]),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => return Ok(None),
            Err(e) => return Err(e.into()),
        },
        Raw::SkipStored => None,
    };
    let bit_events: Vec<i32> = batch.days.keys().map(|k| k.0).collect();
    let bit_days: Vec<i32> = batch.days.keys().map(|k| k.1).collect();
    let bitmaps: Vec<Vec<u8>> = batch.days.values().map(|ids| bitmap(ids)).collect();
    let bits_params: [&(dyn ToSql + Sync); 5] =
        [&account_id, &app, &bit_events, &bit_days, &bitmaps];
    let raw = async {
        if let Some(accepted) = copied {
            return Ok(accepted);
        }
        // The raw table is keyed by the app alone (its id is only ever looked
        // up within the account).
        let ts: Vec<i64> = batch.raw.iter().map(|r| r.0).collect();
        let emails: Vec<i32> = batch.raw.iter().map(|r| r.1).collect();
        let events: Vec<i32> = batch.raw.iter().map(|r| r.2).collect();
        let raw_params: [&(dyn ToSql + Sync); 4] = [&app, &ts, &emails, &events];
        if !several {
            return Ok(vec![tx.execute(&writes.raw_skip, &raw_params).await?]);
        }
        let rows = tx.query(&writes.raw_skip_returning, &raw_params).await?;
        let stored = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        Ok::<_, tokio_postgres::Error>(batch.accepted(stored))
    };
    // join polls in argument order the first time, so the statements are sent
    // in this order. Its answers are all awaited (a statement after a failed one
    // fails too, and which failure completes first is not the join's concern).
    let (accepted, blocks) =
        tokio::join!(raw, last::lock_and_merge(tx, account_id, app, &batch.last));
    let accepted = accepted?;
    let blocks = blocks?;
    let (last, bits, commit) = tokio::join!(
        last::write(tx, account_id, app, &blocks),
        tx.execute(&writes.bits, &bits_params),
        tx.batch_execute("COMMIT"),
    );
    last?;
    bits?;
    commit?;
    Ok(Some(accepted))
}

/// The bitmap with the bits of `ids` set.
fn bitmap(ids: &[u32]) -> Vec<u8> {
    let mut bits = Vec::new();
    for &id in ids {
        usage_bits::set(&mut bits, id);
    }
    bits
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap, HashSet};

    use rollcall_core::Email;

    use super::{bitmap, Batch};
    use crate::usage::NewEvent;

    fn event(index: usize, ts_ms: i64, email: &str, name: &str, day: i32) -> NewEvent {
        NewEvent {
            index,
            ts_ms,
            email: Email::parse(email).unwrap(),
            event_name: name.into(),
            day,
        }
    }

    #[test]
    fn a_batch_groups_ids_per_event_and_day_and_keeps_the_latest_time() {
        let names = HashMap::from([("read".to_string(), 1), ("sent".to_string(), 2)]);
        let ids = HashMap::from([("a@x.com".to_string(), 0), ("b@x.com".to_string(), 9)]);
        let events = [
            event(0, 30, "a@x.com", "sent", 7),
            event(1, 10, "b@x.com", "read", 7),
            event(2, 20, "a@x.com", "read", 8),
        ];
        let batch = Batch::new(&[&events], &names, &ids).unwrap();
        assert_eq!(batch.raw, vec![(10, 9, 1), (20, 0, 1), (30, 0, 2)]);
        assert!(batch.keys.is_empty());
        let days: Vec<_> = batch.days.into_iter().collect();
        assert_eq!(
            days,
            vec![
                ((0, 7), vec![0, 9]),
                ((0, 8), vec![0]),
                ((1, 7), vec![9]),
                ((1, 8), vec![0]),
                ((2, 7), vec![0]),
            ]
        );
        assert_eq!(batch.last, BTreeMap::from([(0, 30), (9, 10)]));
    }

    #[test]
    fn a_row_of_several_batches_counts_for_the_first_holding_it() {
        let names = HashMap::from([("read".to_string(), 1)]);
        let ids = HashMap::from([("a@x.com".to_string(), 0), ("b@x.com".to_string(), 1)]);
        let first = [
            event(0, 20, "a@x.com", "read", 7),
            event(1, 10, "b@x.com", "read", 7),
            event(2, 10, "b@x.com", "read", 7),
        ];
        let second = [
            event(0, 10, "b@x.com", "read", 7),
            event(1, 30, "b@x.com", "read", 8),
        ];
        let batch = Batch::new(&[&first, &second], &names, &ids).unwrap();
        assert_eq!(batch.raw, vec![(10, 1, 1), (20, 0, 1), (30, 1, 1)]);
        assert_eq!(batch.last, BTreeMap::from([(0, 20), (1, 30)]));
        // All three rows were new: the first batch stored two (its repeated
        // event once), the second one (the other was the first's).
        let stored = batch.raw.iter().copied().collect();
        assert_eq!(batch.accepted(stored), vec![2, 1]);
        // Only the row at 20 was new.
        assert_eq!(batch.accepted(HashSet::from([(20, 0, 1)])), vec![1, 0]);
    }

    #[test]
    fn a_bitmap_sets_the_bits_of_its_ids() {
        assert_eq!(bitmap(&[0, 9, 9, 3]), vec![0b1001, 0b10]);
        assert_eq!(bitmap(&[]), Vec::<u8>::new());
    }
}
