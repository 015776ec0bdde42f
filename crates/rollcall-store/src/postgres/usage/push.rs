//! The write path of usage events.
//!
//! A push runs in one transaction. Pushes to one app run concurrently (across
//! processes too) and stay exact because every push takes its locks in one
//! global order and every rollup update is idempotent:
//!
//! 1. the app row in share mode (`apps`): excludes a concurrent change or removal
//!    of the app, not other pushes;
//! 2. (only for emails never seen) the account's `usage_email_seq` row, under
//!    which they are interned: ids are dense, handed out in commit order;
//! 3. the raw rows, inserted in key order with one `INSERT … SELECT FROM
//!    unnest(…) ON CONFLICT DO NOTHING` (its row count is `accepted`; a row
//!    another push inserted but has not committed makes this one wait for it,
//!    so the same batch retried concurrently counts its events once as accepted
//!    and then as duplicates);
//! 4. the latest timestamps, one upsert in email order keeping the greater;
//! 5. the batch's few distinct (event, day) bitmaps (plus the per-day "any
//!    event" bitmap, event 0), one upsert in key order that ORs the batch's bits
//!    into the stored ones in SQL (`usage_bits_or`, migration 0005), so no
//!    update is lost.
//!
//! Steady state it costs four round trips after `BEGIN`, whatever the batch
//! size: lock and load the app; its defined event names and the ids of the
//! batch's emails this process has not met yet (`email_ids` caches the others),
//! pipelined; the three writes, pipelined; commit.

use std::collections::{BTreeMap, HashMap};

use deadpool_postgres::GenericClient;
use rollcall_core::usage_bits;
use tokio_postgres::types::ToSql;
use tokio_postgres::Statement;

use super::apps::{disconnected, load_app, Lock};
use super::email_ids;
use crate::usage::{check_event_names, NewEvent, PushOutcome};
use crate::{StoreError, StoreResult};

/// Stores `events` in the app (all or nothing); call inside a transaction.
pub(super) async fn push(
    tx: &impl GenericClient,
    db: u64,
    account_id: i64,
    app_id: &str,
    events: &[NewEvent],
) -> StoreResult<PushOutcome> {
    let app = load_app(tx, account_id, app_id, Lock::Share).await?;
    if !app.rec.is_connected() {
        return Err(disconnected(app_id));
    }
    let mut emails: Vec<&str> = events.iter().map(|e| e.email.as_str()).collect();
    emails.sort_unstable();
    emails.dedup();
    let mut ids = email_ids::get(db, account_id, &emails);
    let unknown: Vec<&str> = emails
        .iter()
        .copied()
        .filter(|e| !ids.contains_key(*e))
        .collect();
    let (names, found) = tokio::try_join!(
        defined_events(tx, account_id, app.id),
        lookup_emails(tx, account_id, &unknown),
    )?;
    check_event_names(events, |name| names.contains_key(name))?;
    email_ids::put(db, account_id, &found);
    ids.extend(found);
    let missing: Vec<&str> = unknown
        .into_iter()
        .filter(|e| !ids.contains_key(*e))
        .collect();
    if !missing.is_empty() {
        intern_emails(tx, account_id, &missing, &mut ids).await?;
    }
    let batch = Batch::new(events, &names, &ids)?;
    let accepted = write(tx, account_id, app.id, &batch).await?;
    Ok(PushOutcome {
        accepted,
        duplicates: events.len() as u64 - accepted,
    })
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

/// A batch in the shape its statements take.
struct Batch {
    /// Raw rows (timestamp, email id, event id), in key order.
    raw: Vec<(i64, i32, i32)>,
    /// (event id, day) -> the email ids active; event 0 is "any event".
    days: BTreeMap<(i32, i32), Vec<u32>>,
    /// Email id -> latest timestamp of the batch.
    last: BTreeMap<i32, i64>,
}

impl Batch {
    fn new(
        events: &[NewEvent],
        names: &HashMap<String, i32>,
        ids: &HashMap<String, i32>,
    ) -> StoreResult<Batch> {
        let mut batch = Batch {
            raw: Vec::with_capacity(events.len()),
            days: BTreeMap::new(),
            last: BTreeMap::new(),
        };
        for e in events {
            let event_id = names.get(&e.event_name).copied().unwrap_or(0);
            let email_id = ids.get(e.email.as_str()).copied().ok_or_else(|| {
                StoreError::Internal(format!("email {} was not interned", e.email))
            })?;
            let bit = u32::try_from(email_id)
                .map_err(|_| StoreError::Internal(format!("email id {email_id} out of range")))?;
            batch.raw.push((e.ts_ms, email_id, event_id));
            batch.days.entry((event_id, e.day)).or_default().push(bit);
            batch.days.entry((0, e.day)).or_default().push(bit);
            let l = batch.last.entry(email_id).or_insert(i64::MIN);
            *l = (*l).max(e.ts_ms);
        }
        batch.raw.sort_unstable();
        Ok(batch)
    }
}

/// The three statements that write a batch, each taking its row locks in key
/// order: raw rows, then latest timestamps, then bitmaps.
struct Writes {
    raw: Statement,
    last: Statement,
    bits: Statement,
}

impl Writes {
    async fn prepare(tx: &impl GenericClient) -> StoreResult<Writes> {
        let (raw, last, bits) = tokio::try_join!(
            tx.prepare_cached(
                "INSERT INTO usage_events (app, ts_ms, email_id, event_id)
                 SELECT $1, t, m, e FROM unnest($2::bigint[], $3::int[], $4::int[]) AS r(t, m, e)
                 ON CONFLICT DO NOTHING",
            ),
            tx.prepare_cached(
                "INSERT INTO usage_last (account_id, app, email_id, last_ms)
                 SELECT $1, $2, m, t FROM unnest($3::int[], $4::bigint[]) AS r(m, t)
                 ON CONFLICT (account_id, app, email_id) DO UPDATE SET last_ms = excluded.last_ms
                 WHERE excluded.last_ms > usage_last.last_ms",
            ),
            tx.prepare_cached(
                "INSERT INTO usage_day_bits (account_id, app, event_id, day, bits)
                 SELECT $1, $2, e, d, b FROM unnest($3::int[], $4::int[], $5::bytea[]) AS r(e, d, b)
                 ON CONFLICT (account_id, app, event_id, day)
                 DO UPDATE SET bits = usage_bits_or(usage_day_bits.bits, excluded.bits)",
            ),
        )?;
        Ok(Writes { raw, last, bits })
    }
}

/// Writes the batch: the raw rows, ignoring the ones already stored (their
/// count is `accepted`), the greater of the stored and the batch's latest
/// timestamp per email, and the batch's bitmaps ORed into the stored ones.
///
/// Each statement inserts or locks its rows in the order of its arrays (a
/// function scan of `unnest` feeds the insert in order), which is key order,
/// and the three are sent in this order on the one connection, so every push
/// takes these locks in one global order: no deadlock. (A raw row another push
/// inserted and has not committed makes this one wait for that push's end: the
/// same order.) Setting bits and keeping the greater time are idempotent, so a
/// retried batch changes nothing whatever ran meanwhile.
async fn write(
    tx: &impl GenericClient,
    account_id: i64,
    app: i64,
    batch: &Batch,
) -> StoreResult<u64> {
    let writes = Writes::prepare(tx).await?;
    let ts: Vec<i64> = batch.raw.iter().map(|r| r.0).collect();
    let emails: Vec<i32> = batch.raw.iter().map(|r| r.1).collect();
    let events: Vec<i32> = batch.raw.iter().map(|r| r.2).collect();
    let last_emails: Vec<i32> = batch.last.keys().copied().collect();
    let last_ms: Vec<i64> = batch.last.values().copied().collect();
    let bit_events: Vec<i32> = batch.days.keys().map(|k| k.0).collect();
    let bit_days: Vec<i32> = batch.days.keys().map(|k| k.1).collect();
    let bitmaps: Vec<Vec<u8>> = batch.days.values().map(|ids| bitmap(ids)).collect();
    // The raw table is keyed by the app alone (its id is only ever looked up
    // within the account).
    let raw_params: [&(dyn ToSql + Sync); 4] = [&app, &ts, &emails, &events];
    let last_params: [&(dyn ToSql + Sync); 4] = [&account_id, &app, &last_emails, &last_ms];
    let bits_params: [&(dyn ToSql + Sync); 5] =
        [&account_id, &app, &bit_events, &bit_days, &bitmaps];
    // try_join polls in argument order, so the statements are sent in this order.
    let (accepted, _, _) = tokio::try_join!(
        tx.execute(&writes.raw, &raw_params),
        tx.execute(&writes.last, &last_params),
        tx.execute(&writes.bits, &bits_params),
    )?;
    Ok(accepted)
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
    use std::collections::{BTreeMap, HashMap};

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
        let batch = Batch::new(&events, &names, &ids).unwrap();
        assert_eq!(batch.raw, vec![(10, 9, 1), (20, 0, 1), (30, 0, 2)]);
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
    fn a_bitmap_sets_the_bits_of_its_ids() {
        assert_eq!(bitmap(&[0, 9, 9, 3]), vec![0b1001, 0b10]);
        assert_eq!(bitmap(&[]), Vec::<u8>::new());
    }
}
