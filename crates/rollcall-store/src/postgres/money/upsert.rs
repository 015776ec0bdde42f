//! Bulk upserts of spend records and contracts by their natural keys.
//!
//! A batch is decided in three steps, all inside the caller's transaction, which
//! holds the account's money lock (so no other process changes these rows
//! meanwhile): one query reads the stored versions of the batch's keys, `plan`
//! replays the batch against them in order (giving exactly the counts the
//! embedded store's row-by-row upsert gives, repeats within the batch included),
//! and one multi-row `INSERT … SELECT FROM unnest(…) ON CONFLICT DO UPDATE`
//! writes the last version of each key that changed.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use rollcall_core::money::{Contract, SpendKind, SpendRecord};
use tokio_postgres::Row;

use crate::money::UpsertCounts;
use crate::{now_ms, StoreError, StoreResult};

/// The counts of a batch, and the items to write: the last version of each key
/// that was accepted at least once, in the order keys first appear.
#[derive(Debug)]
pub(super) struct Plan<'a, T> {
    pub counts: UpsertCounts,
    pub writes: Vec<&'a T>,
}

/// Replays `batch` in order against the `stored` versions (by key): an item equal
/// to the current version of its key is a duplicate; any other is accepted, and
/// also replaced when its key already had a version (stored, or earlier in the
/// batch).
pub(super) fn plan<'a, T: PartialEq>(
    stored: &HashMap<String, T>,
    batch: &'a [T],
    key: impl Fn(&'a T) -> &'a str,
) -> Plan<'a, T> {
    let mut counts = UpsertCounts::default();
    let mut latest: HashMap<&'a str, &'a T> = HashMap::new();
    let mut order = Vec::new();
    for item in batch {
        let k = key(item);
        let current = latest.get(k).copied().or_else(|| stored.get(k));
        match current {
            Some(c) if c == item => {
                counts.duplicates += 1;
                continue;
            }
            Some(_) => counts.replaced += 1,
            None => {}
        }
        counts.accepted += 1;
        if latest.insert(k, item).is_none() {
            order.push(k);
        }
    }
    let writes = order.into_iter().map(|k| latest[k]).collect();
    Plan { counts, writes }
}

/// The distinct keys of a batch, to read their stored versions in one query.
fn distinct_keys<'a, T>(batch: &'a [T], key: impl Fn(&'a T) -> &'a str) -> Vec<&'a str> {
    let mut keys: Vec<&str> = batch.iter().map(key).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

// The stored versions are read by joining the key array rather than with
// `= ANY($2)`: a plan that tests rows against the whole array (a sequential
// scan's filter, or the recheck of a bitmap scan gone lossy) is quadratic, and
// took minutes for a 100,000-row upload once the cached statement had switched
// to its generic plan; the join compares each row with one key whatever the plan.

pub(super) const SPEND_COLUMNS: &str = "signature_id, app_id, created_ms, amount_units, \
                                        currency, kind, vendor, identifier, name, category";

pub(super) fn spend_row(r: &Row) -> StoreResult<SpendRecord> {
    let kind: &str = r.try_get(5)?;
    Ok(SpendRecord {
        signature_id: r.try_get(0)?,
        app_id: r.try_get(1)?,
        created_ms: r.try_get(2)?,
        amount_units: r.try_get(3)?,
        currency: r.try_get(4)?,
        kind: SpendKind::parse(kind)
            .ok_or_else(|| StoreError::Internal(format!("unknown spend type '{kind}'")))?,
        vendor: r.try_get(6)?,
        identifier: r.try_get(7)?,
        name: r.try_get(8)?,
        category: r.try_get(9)?,
    })
}

pub(super) const CONTRACT_COLUMNS: &str = "contract_id, app_id, vendor, start_date, end_date, \
                                           licenses_purchased, annual_cost_units, currency";

pub(super) fn contract_row(r: &Row) -> StoreResult<Contract> {
    Ok(Contract {
        contract_id: r.try_get(0)?,
        app_id: r.try_get(1)?,
        vendor: r.try_get(2)?,
        start_date: r.try_get(3)?,
        end_date: r.try_get(4)?,
        licenses_purchased: r.try_get(5)?,
        annual_cost_units: r.try_get(6)?,
        currency: r.try_get(7)?,
    })
}

/// Upserts spend records by `signature_id`; the caller holds the money lock.
pub(super) async fn upsert_spend(
    tx: &impl GenericClient,
    account_id: i64,
    records: &[SpendRecord],
) -> StoreResult<UpsertCounts> {
    let keys = distinct_keys(records, |r| &r.signature_id);
    let read = tx
        .prepare_cached(&format!(
            "SELECT {SPEND_COLUMNS} FROM spend_records
             JOIN unnest($2::text[]) AS k(key) ON signature_id = k.key
             WHERE account_id = $1"
        ))
        .await?;
    let mut stored = HashMap::with_capacity(keys.len());
    for row in tx.query(&read, &[&account_id, &keys]).await? {
        let record = spend_row(&row)?;
        stored.insert(record.signature_id.clone(), record);
    }
    let Plan { counts, writes } = plan(&stored, records, |r| &r.signature_id);
    if !writes.is_empty() {
        write_spend(tx, account_id, &writes).await?;
    }
    Ok(counts)
}

/// One multi-row upsert of `records` (distinct keys).
async fn write_spend(
    tx: &impl GenericClient,
    account_id: i64,
    records: &[&SpendRecord],
) -> StoreResult<()> {
    let column = |f: fn(&SpendRecord) -> &str| records.iter().map(|r| f(r)).collect::<Vec<_>>();
    let optional = |f: fn(&SpendRecord) -> Option<&str>| -> Vec<Option<&str>> {
        records.iter().map(|r| f(r)).collect()
    };
    let signature_ids = column(|r| &r.signature_id);
    let app_ids = column(|r| &r.app_id);
    let currencies = column(|r| &r.currency);
    let kinds = column(|r| r.kind.as_str());
    let created: Vec<i64> = records.iter().map(|r| r.created_ms).collect();
    let amounts: Vec<i64> = records.iter().map(|r| r.amount_units).collect();
    let vendors = optional(|r| r.vendor.as_deref());
    let identifiers = optional(|r| r.identifier.as_deref());
    let names = optional(|r| r.name.as_deref());
    let categories = optional(|r| r.category.as_deref());
    let put = tx
        .prepare_cached(
            "INSERT INTO spend_records (account_id, signature_id, app_id, created_ms,
                 amount_units, currency, kind, vendor, identifier, name, category, stored_ms)
             SELECT $1, s, a, c, u, cur, k, v, i, n, cat, $12
             FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[],
                         $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
                  AS t(s, a, c, u, cur, k, v, i, n, cat)
             ON CONFLICT (account_id, signature_id) DO UPDATE SET
                 app_id = excluded.app_id, created_ms = excluded.created_ms,
                 amount_units = excluded.amount_units, currency = excluded.currency,
                 kind = excluded.kind, vendor = excluded.vendor,
                 identifier = excluded.identifier, name = excluded.name,
                 category = excluded.category, stored_ms = excluded.stored_ms",
        )
        .await?;
    tx.execute(
        &put,
        &[
            &account_id,
            &signature_ids,
            &app_ids,
            &created,
            &amounts,
            &currencies,
            &kinds,
            &vendors,
            &identifiers,
            &names,
            &categories,
            &now_ms(),
        ],
    )
    .await?;
    Ok(())
}

/// Upserts contracts by `contract_id`; the caller holds the money lock.
pub(super) async fn upsert_contracts(
    tx: &impl GenericClient,
    account_id: i64,
    contracts: &[Contract],
) -> StoreResult<UpsertCounts> {
    let keys = distinct_keys(contracts, |c| &c.contract_id);
    let read = tx
        .prepare_cached(&format!(
            "SELECT {CONTRACT_COLUMNS} FROM contracts
             JOIN unnest($2::text[]) AS k(key) ON contract_id = k.key
             WHERE account_id = $1"
        ))
        .await?;
    let mut stored = HashMap::with_capacity(keys.len());
    for row in tx.query(&read, &[&account_id, &keys]).await? {
        let contract = contract_row(&row)?;
        stored.insert(contract.contract_id.clone(), contract);
    }
    let Plan { counts, writes } = plan(&stored, contracts, |c| &c.contract_id);
    if !writes.is_empty() {
        write_contracts(tx, account_id, &writes).await?;
    }
    Ok(counts)
}

/// One multi-row upsert of `contracts` (distinct keys).
async fn write_contracts(
    tx: &impl GenericClient,
    account_id: i64,
    contracts: &[&Contract],
) -> StoreResult<()> {
    let column = |f: fn(&Contract) -> &str| contracts.iter().map(|c| f(c)).collect::<Vec<_>>();
    let number = |f: fn(&Contract) -> i64| contracts.iter().map(|c| f(c)).collect::<Vec<_>>();
    let ids = column(|c| &c.contract_id);
    let app_ids = column(|c| &c.app_id);
    let vendors: Vec<Option<&str>> = contracts.iter().map(|c| c.vendor.as_deref()).collect();
    let starts = column(|c| &c.start_date);
    let ends = column(|c| &c.end_date);
    let licenses = number(|c| c.licenses_purchased);
    let costs = number(|c| c.annual_cost_units);
    let currencies = column(|c| &c.currency);
    let put = tx
        .prepare_cached(
            "INSERT INTO contracts (account_id, contract_id, app_id, vendor, start_date,
                 end_date, licenses_purchased, annual_cost_units, currency, stored_ms)
             SELECT $1, id, a, v, s, e, l, cost, cur, $10
             FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::bigint[], $8::bigint[], $9::text[])
                  AS t(id, a, v, s, e, l, cost, cur)
             ON CONFLICT (account_id, contract_id) DO UPDATE SET
                 app_id = excluded.app_id, vendor = excluded.vendor,
                 start_date = excluded.start_date, end_date = excluded.end_date,
                 licenses_purchased = excluded.licenses_purchased,
                 annual_cost_units = excluded.annual_cost_units,
                 currency = excluded.currency, stored_ms = excluded.stored_ms",
        )
        .await?;
    tx.execute(
        &put,
        &[
            &account_id,
            &ids,
            &app_ids,
            &vendors,
            &starts,
            &ends,
            &licenses,
            &costs,
            &currencies,
            &now_ms(),
        ],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Item(&'static str, u32);

    fn run(stored: &[Item], batch: &[Item]) -> (UpsertCounts, Vec<(&'static str, u32)>) {
        let stored: HashMap<String, Item> = stored
            .iter()
            .map(|i| (i.0.to_string(), Item(i.0, i.1)))
            .collect();
        let Plan { counts, writes } = plan(&stored, batch, |i| i.0);
        (counts, writes.into_iter().map(|i| (i.0, i.1)).collect())
    }

    fn counts(accepted: usize, replaced: usize, duplicates: usize) -> UpsertCounts {
        UpsertCounts {
            accepted,
            replaced,
            duplicates,
        }
    }

    #[test]
    fn new_keys_are_accepted_and_written() {
        let (c, w) = run(&[], &[Item("a", 1), Item("b", 1)]);
        assert_eq!(c, counts(2, 0, 0));
        assert_eq!(w, [("a", 1), ("b", 1)]);
    }

    #[test]
    fn stored_versions_decide_duplicate_or_replaced() {
        let (c, w) = run(&[Item("a", 1), Item("b", 1)], &[Item("a", 1), Item("b", 2)]);
        assert_eq!(c, counts(1, 1, 1));
        assert_eq!(w, [("b", 2)]);
    }

    #[test]
    fn repeats_within_a_batch_count_as_the_row_by_row_upsert_does() {
        // An identical repeat of a new key is a duplicate of the first.
        let (c, w) = run(&[], &[Item("a", 1), Item("a", 1)]);
        assert_eq!(c, counts(1, 0, 1));
        assert_eq!(w, [("a", 1)]);
        // A different repeat replaces the earlier version; the last one is written.
        let (c, w) = run(&[Item("a", 1)], &[Item("a", 2), Item("a", 3), Item("a", 3)]);
        assert_eq!(c, counts(2, 2, 1));
        assert_eq!(w, [("a", 3)]);
    }

    #[test]
    fn an_empty_batch_writes_nothing() {
        let (c, w) = run(&[Item("a", 1)], &[]);
        assert_eq!(c, UpsertCounts::default());
        assert!(w.is_empty());
    }

    #[test]
    fn keys_are_read_once_each() {
        let batch = [Item("b", 1), Item("a", 1), Item("b", 2)];
        assert_eq!(distinct_keys(&batch, |i| i.0), ["a", "b"]);
    }
}
