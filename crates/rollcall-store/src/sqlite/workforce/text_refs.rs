//! How many records name each activity string (`wf_texts.refs`), kept without
//! a write per string: a write of records appends the references it added as
//! one compact row of `wf_text_refs_pending` (migration 0024), and the write
//! that makes an account's [`FOLD_AT`]th such row folds them all into
//! `wf_texts` in id order. Triggers subtract references when records are
//! deleted or blanked and delete strings left unnamed, but only while the
//! account has nothing pending, so every statement that deletes or blanks
//! records calls [`fold`] first.

use rollcall_core::fxhash::FxHashMap;
use rollcall_core::varint;
use rusqlite::{params, Connection};

use crate::{StoreError, StoreResult};

/// Pending rows of one account that make the write appending the last of them
/// fold them all.
const FOLD_AT: i64 = 64;

/// Appends one write's added references (string id → count) to the account's
/// pending rows, and folds them when there are [`FOLD_AT`].
pub(super) fn append(
    conn: &Connection,
    account_id: i64,
    added: &FxHashMap<i64, i64>,
) -> StoreResult<()> {
    if added.is_empty() {
        return Ok(());
    }
    let mut pairs: Vec<(i64, i64)> = added.iter().map(|(&id, &n)| (id, n)).collect();
    pairs.sort_unstable();
    conn.prepare_cached("INSERT INTO wf_text_refs_pending (account_id, refs) VALUES (?1, ?2)")?
        .execute(params![account_id, encode(&pairs)])?;
    let pending: i64 = conn
        .prepare_cached("SELECT count(*) FROM wf_text_refs_pending WHERE account_id = ?1")?
        .query_row([account_id], |r| r.get(0))?;
    if pending >= FOLD_AT {
        fold(conn, account_id)?;
    }
    Ok(())
}

/// Adds the account's pending references to `wf_texts.refs` and deletes them.
pub(in crate::sqlite) fn fold(conn: &Connection, account_id: i64) -> StoreResult<()> {
    let mut added: FxHashMap<i64, i64> = FxHashMap::default();
    {
        let mut stmt =
            conn.prepare_cached("SELECT refs FROM wf_text_refs_pending WHERE account_id = ?1")?;
        let mut rows = stmt.query([account_id])?;
        while let Some(r) = rows.next()? {
            let blob = r.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
            decode(blob, |id, n| *added.entry(id).or_default() += n)?;
        }
    }
    if added.is_empty() {
        return Ok(());
    }
    let mut pairs: Vec<(i64, i64)> = added.into_iter().collect();
    pairs.sort_unstable();
    let mut add = conn.prepare_cached("UPDATE wf_texts SET refs = refs + ?2 WHERE id = ?1")?;
    for (id, n) in pairs {
        add.execute(params![id, n])?;
    }
    conn.prepare_cached("DELETE FROM wf_text_refs_pending WHERE account_id = ?1")?
        .execute([account_id])?;
    Ok(())
}

/// `pairs` (in id order, counts positive) as, per pair, the id's step from the
/// previous one and the count (`varint::put_steps`): about 2 bytes a string.
fn encode(pairs: &[(i64, i64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 * pairs.len());
    varint::put_steps(&mut out, pairs.iter().map(|&(id, n)| (id as u64, n as u64)));
    out
}

/// Calls `each` with every pair of an [`encode`]d row.
fn decode(bytes: &[u8], mut each: impl FnMut(i64, i64)) -> StoreResult<()> {
    for pair in varint::steps(bytes) {
        let (id, n) = pair.map_err(|_| {
            StoreError::Internal("a pending string-references row is corrupt".into())
        })?;
        each(id as i64, n as i64);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(pairs: &[(i64, i64)]) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        decode(&encode(pairs), |id, n| out.push((id, n))).unwrap();
        out
    }

    #[test]
    fn pairs_come_back_as_they_went_in() {
        let pairs = [(1, 1), (2, 700), (90_000, 3), (i64::MAX, 1)];
        assert_eq!(round_trip(&pairs), pairs);
        assert_eq!(round_trip(&[]), []);
    }

    #[test]
    fn a_batch_of_strings_takes_a_few_bytes_each() {
        let pairs: Vec<(i64, i64)> = (0..800).map(|i| (1_000 + i * 2, 1 + i % 3)).collect();
        // Two bytes a pair, and one more for the first id.
        assert_eq!(encode(&pairs).len(), 2 * 800 + 1);
    }

    mod store {
        use super::super::FOLD_AT;
        use crate::sqlite::tests::store_with_account;
        use crate::sqlite::workforce::remove_member;
        use crate::sqlite::SqliteStore;
        use crate::workforce::fixtures::{self, record};
        use crate::workforce::{ActivityBatch, Member, NewRecord, WorkforceStore};

        /// Write `n`'s two records: one titled "shared", one titled for `n` only.
        fn batch(n: i64) -> ActivityBatch {
            let start = 1_765_000_000_000 + n * 600_000;
            let titled = |offset: i64, title: String| NewRecord {
                description: title,
                ..record(start + offset, "word.exe", None, false)
            };
            fixtures::batch(vec![
                titled(0, "shared".into()),
                titled(60_000, format!("only in batch {n}")),
            ])
        }

        /// (stored refs of `text`, its pending references, pending rows).
        async fn refs_of(store: &SqliteStore, account: i64, text: &'static str) -> (i64, i64, i64) {
            store
                .db
                .write(move |conn| {
                    let stored: i64 = conn.query_row(
                        "SELECT coalesce(sum(refs), 0) FROM wf_texts WHERE text = ?1",
                        [text],
                        |r| r.get(0),
                    )?;
                    let id: Option<i64> = conn
                        .query_row("SELECT id FROM wf_texts WHERE text = ?1", [text], |r| {
                            r.get(0)
                        })
                        .ok();
                    let mut pending = 0;
                    let mut rows = 0;
                    let mut stmt = conn
                        .prepare("SELECT refs FROM wf_text_refs_pending WHERE account_id = ?1")?;
                    let mut found = stmt.query([account])?;
                    while let Some(r) = found.next()? {
                        rows += 1;
                        super::super::decode(r.get_ref(0)?.as_blob().unwrap(), |i, n| {
                            if Some(i) == id {
                                pending += n;
                            }
                        })?;
                    }
                    Ok((stored, pending, rows))
                })
                .await
                .unwrap()
        }

        /// Every write's references count, through the fold at the 64th
        /// pending row; deleting the records folds first, so their strings go.
        #[tokio::test]
        async fn references_fold_at_the_64th_write_and_deleting_records_drops_their_strings() {
            let (_dir, store, account) = store_with_account().await;
            let writes = FOLD_AT + 5;
            for n in 0..writes {
                let outcome = store.ingest_activity(account, batch(n)).await.unwrap();
                assert_eq!(outcome.accepted, 2);
                let (stored, pending, rows) = refs_of(&store, account, "shared").await;
                assert_eq!(stored + pending, n + 1);
                assert_eq!(rows, (n + 1) % FOLD_AT, "folded at the 64th");
                let (stored, pending, _) = refs_of(&store, account, "word.exe").await;
                assert_eq!(stored + pending, 2 * (n + 1), "twice a write");
            }
            let (stored, pending, _) = refs_of(&store, account, "shared").await;
            assert_eq!((stored, pending), (FOLD_AT, 5));
            // A resend adds no reference.
            store.ingest_activity(account, batch(0)).await.unwrap();
            let (stored, pending, _) = refs_of(&store, account, "shared").await;
            assert_eq!(stored + pending, writes);

            let client = store
                .db
                .write(|conn| Ok(conn.query_row("SELECT id FROM wf_clients", [], |r| r.get(0))?))
                .await
                .unwrap();
            store
                .db
                .write(move |conn| remove_member(conn, account, Member::Client, client))
                .await
                .unwrap();
            let left: (i64, i64) = store
                .db
                .write(|conn| {
                    Ok(conn.query_row(
                        "SELECT (SELECT count(*) FROM wf_texts),
                                (SELECT count(*) FROM wf_text_refs_pending)",
                        [],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )?)
                })
                .await
                .unwrap();
            assert_eq!(left, (0, 0), "no string outlives the records naming it");
        }
    }

    #[test]
    fn a_cut_row_is_an_error_not_a_panic() {
        let bytes = encode(&[(300, 2), (900, 1)]);
        for end in 0..bytes.len() {
            let mut seen = 0;
            let result = decode(&bytes[..end], |_, _| seen += 1);
            // A cut that ends exactly between pairs is a shorter valid row.
            assert!(result.is_err() || seen < 2, "cut at {end}");
        }
    }
}
