//! The latest event time per (app, email) on PostgreSQL, kept in blocks of
//! [`BLOCK`] email ids (`usage_last_blocks`, migration 0017): element `i`
//! (counted from one) of block `b` is email id `b * BLOCK + i - 1`, NULL for
//! an email without events in the app.
//!
//! A push merges its emails' times into the few blocks they fall in, in this
//! process: it makes sure the blocks exist, locks them (`FOR UPDATE`, in block
//! order), keeps the greater time per email and writes back the blocks that
//! changed. One row per email and push cost most of PostgreSQL's work per
//! usage event; a block costs about as much as one of those rows.
//!
//! Concurrent pushes (other processes too) stay exact: the blocks are created
//! (`ON CONFLICT DO NOTHING`, which waits for a push creating the same block
//! until it ends) and then locked in one order, after the raw rows and before
//! the bitmaps (see `push`), and each merge reads the block under its lock.

use std::collections::BTreeMap;

use deadpool_postgres::GenericClient;
use rollcall_core::fxhash::FxHashMap;

use crate::usage::LastTimes;

/// Email ids per block.
pub(super) const BLOCK: i32 = 128;

/// The blocks of an app, for reports ([`times_of`] unpacks them): unnesting
/// them into one row per email took PostgreSQL 4.4 ms at 10,000 emails, ten
/// times what sending the 79 arrays does.
pub(super) const LAST_SQL: &str = "SELECT b.block, b.last_ms FROM usage_last_blocks b
     WHERE b.account_id = $1
       AND b.app = (SELECT id FROM usage_apps WHERE account_id = $1 AND app_id = $2)";

/// The latest times of [`LAST_SQL`]'s (block, times) rows.
pub(super) fn times_of(blocks: impl IntoIterator<Item = (i32, Vec<Option<i64>>)>) -> LastTimes {
    let mut times = LastTimes::default();
    for (block, slots) in blocks {
        for (slot, ms) in (0..).zip(slots) {
            let id = i64::from(block) * i64::from(BLOCK) + slot;
            if let (Some(ms), Ok(id)) = (ms, u32::try_from(id)) {
                times.raise(id, ms);
            }
        }
    }
    times
}

/// The latest time of each of `email_ids` that has one: only their blocks are read.
pub(super) async fn last_activity_of(
    client: &impl GenericClient,
    account_id: i64,
    app_id: &str,
    email_ids: &[u32],
) -> crate::StoreResult<FxHashMap<u32, i64>> {
    let mut blocks: Vec<i32> = email_ids
        .iter()
        .filter_map(|&id| i32::try_from(id).ok())
        .map(|id| place(id).0)
        .collect();
    blocks.sort_unstable();
    blocks.dedup();
    let stmt = client
        .prepare_cached(
            "SELECT b.block, b.last_ms FROM usage_last_blocks b
             WHERE b.account_id = $1 AND b.block = ANY($3)
               AND b.app = (SELECT id FROM usage_apps WHERE account_id = $1 AND app_id = $2)",
        )
        .await?;
    let rows = client
        .query(&stmt, &[&account_id, &app_id, &blocks])
        .await?;
    let stored: FxHashMap<i32, Vec<Option<i64>>> =
        rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let mut out = FxHashMap::default();
    for &id in email_ids {
        let Ok(signed) = i32::try_from(id) else {
            continue;
        };
        let (block, slot) = place(signed);
        if let Some(Some(ms)) = stored.get(&block).and_then(|b| b.get(slot)) {
            out.insert(id, *ms);
        }
    }
    Ok(out)
}

/// A block's number and an email's slot in it.
fn place(email_id: i32) -> (i32, usize) {
    (
        email_id.div_euclid(BLOCK),
        email_id.rem_euclid(BLOCK) as usize,
    )
}

/// Times by block (ascending), as (slot, time) pairs.
fn by_block(last: &BTreeMap<i32, i64>) -> BTreeMap<i32, Vec<(usize, i64)>> {
    let mut blocks: BTreeMap<i32, Vec<(usize, i64)>> = BTreeMap::new();
    for (&email_id, &ms) in last {
        let (block, slot) = place(email_id);
        blocks.entry(block).or_default().push((slot, ms));
    }
    blocks
}

/// `stored` with `new` merged in (the greater time per slot), or `None` when
/// that changes nothing.
fn merge(stored: &[Option<i64>], new: &[(usize, i64)]) -> Option<Vec<Option<i64>>> {
    let mut merged = stored.to_vec();
    merged.resize(merged.len().max(BLOCK as usize), None);
    let mut changed = false;
    for &(slot, ms) in new {
        if merged[slot].is_none_or(|old| ms > old) {
            merged[slot] = Some(ms);
            changed = true;
        }
    }
    changed.then_some(merged)
}

/// The blocks a push rewrites: their numbers and their contents, one after
/// the other ([`BLOCK`] elements each).
#[derive(Default, Debug, PartialEq)]
pub(super) struct BlockWrite {
    blocks: Vec<i32>,
    flat: Vec<Option<i64>>,
}

/// Creates the blocks of `last`'s emails that do not exist yet, locks them all
/// and merges `last` (email id -> latest time of the push) into them; the
/// blocks to write back with [`write`], in the same transaction.
pub(super) async fn lock_and_merge(
    tx: &impl GenericClient,
    account_id: i64,
    app: i64,
    last: &BTreeMap<i32, i64>,
) -> Result<BlockWrite, tokio_postgres::Error> {
    let new = by_block(last);
    if new.is_empty() {
        return Ok(BlockWrite::default());
    }
    let numbers: Vec<i32> = new.keys().copied().collect();
    let (create, select) = tokio::try_join!(
        tx.prepare_cached(
            "INSERT INTO usage_last_blocks (account_id, app, block, last_ms)
             SELECT $1, $2, b, '{}' FROM unnest($3::int[]) AS u(b)
             ON CONFLICT DO NOTHING",
        ),
        tx.prepare_cached(
            "SELECT block, last_ms FROM usage_last_blocks
             WHERE account_id = $1 AND app = $2 AND block = ANY($3)
             ORDER BY block FOR UPDATE",
        ),
    )?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&account_id, &app, &numbers];
    // Sent together: the creation is answered before the lock is taken.
    let (_, rows) = tokio::try_join!(tx.execute(&create, &params), tx.query(&select, &params))?;
    let mut write = BlockWrite::default();
    for row in rows {
        let block: i32 = row.get(0);
        let stored: Vec<Option<i64>> = row.get(1);
        let Some(times) = new.get(&block) else {
            continue;
        };
        if let Some(merged) = merge(&stored, times) {
            write.blocks.push(block);
            write.flat.extend(merged);
        }
    }
    Ok(write)
}

/// Writes back the merged blocks (locked by [`lock_and_merge`]).
pub(super) async fn write(
    tx: &impl GenericClient,
    account_id: i64,
    app: i64,
    write: &BlockWrite,
) -> Result<u64, tokio_postgres::Error> {
    if write.blocks.is_empty() {
        return Ok(0);
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO usage_last_blocks (account_id, app, block, last_ms)
             SELECT $1, $2, u.b, ($4::bigint[])[(u.k - 1) * 128 + 1 : u.k * 128]
             FROM unnest($3::int[]) WITH ORDINALITY AS u(b, k)
             ON CONFLICT (account_id, app, block) DO UPDATE SET last_ms = excluded.last_ms",
        )
        .await?;
    tx.execute(&stmt, &[&account_id, &app, &write.blocks, &write.flat])
        .await
}

/// Forgets the latest times of `email_ids` in `app` (an erasure); a block
/// left without any is removed.
pub(in crate::postgres) async fn clear(
    tx: &impl GenericClient,
    account_id: i64,
    app: i64,
    email_ids: &[i32],
) -> Result<(), tokio_postgres::Error> {
    let mut slots: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
    for &id in email_ids {
        let (block, slot) = place(id);
        slots.entry(block).or_default().push(slot);
    }
    let numbers: Vec<i32> = slots.keys().copied().collect();
    let rows = tx
        .query(
            "SELECT block, last_ms FROM usage_last_blocks
             WHERE account_id = $1 AND app = $2 AND block = ANY($3)
             ORDER BY block FOR UPDATE",
            &[&account_id, &app, &numbers],
        )
        .await?;
    for row in rows {
        let block: i32 = row.get(0);
        let mut times: Vec<Option<i64>> = row.get(1);
        for &slot in slots.get(&block).map(Vec::as_slice).unwrap_or_default() {
            if let Some(t) = times.get_mut(slot) {
                *t = None;
            }
        }
        if times.iter().all(Option::is_none) {
            tx.execute(
                "DELETE FROM usage_last_blocks WHERE account_id = $1 AND app = $2 AND block = $3",
                &[&account_id, &app, &block],
            )
            .await?;
        } else {
            tx.execute(
                "UPDATE usage_last_blocks SET last_ms = $4
                 WHERE account_id = $1 AND app = $2 AND block = $3",
                &[&account_id, &app, &block, &times],
            )
            .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{by_block, merge, place, times_of, BLOCK};

    #[test]
    fn an_email_id_falls_in_its_block_and_slot() {
        assert_eq!(place(0), (0, 0));
        assert_eq!(place(127), (0, 127));
        assert_eq!(place(128), (1, 0));
        assert_eq!(place(300), (2, 44));
        let last = BTreeMap::from([(1, 10), (130, 20), (129, 30)]);
        assert_eq!(
            by_block(&last),
            BTreeMap::from([(0, vec![(1, 10)]), (1, vec![(1, 30), (2, 20)])])
        );
    }

    #[test]
    fn a_merge_keeps_the_greater_time_and_says_when_nothing_changes() {
        let mut stored = vec![None; BLOCK as usize];
        stored[3] = Some(50);
        stored[4] = Some(50);
        let merged = merge(&stored, &[(3, 40), (4, 60), (5, 1)]).unwrap();
        assert_eq!(merged.len(), BLOCK as usize);
        assert_eq!(&merged[2..6], &[None, Some(50), Some(60), Some(1)]);
        assert_eq!(merge(&merged, &[(3, 50), (5, 0)]), None);
        // A block just created is empty.
        let fresh = merge(&[], &[(0, 7)]).unwrap();
        assert_eq!(fresh.len(), BLOCK as usize);
        assert_eq!(fresh[0], Some(7));
    }

    #[test]
    fn blocks_unpack_into_each_emails_time() {
        let times = times_of([(1, vec![Some(5), None, Some(7)]), (0, vec![None, Some(3)])]);
        let pairs: Vec<(u32, i64)> = times.iter().collect();
        assert_eq!(pairs, [(1, 3), (BLOCK as u32, 5), (BLOCK as u32 + 2, 7)]);
    }
}
