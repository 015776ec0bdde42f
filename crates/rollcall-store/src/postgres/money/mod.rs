//! Money on PostgreSQL: spend records and contracts upserted by their natural
//! keys in multi-row statements (`upsert`), contract PDFs as BYTEA (`files`), and
//! the contract and spend summaries app insights read. Every statement filters by
//! `account_id`; amounts are integer ten-thousandths, summed exactly.
//!
//! Concurrency: every money write of an account — spend and contract upserts,
//! file uploads, and `delete_app_money` in the app removal — first takes the
//! account's money lock, a transaction-scoped advisory lock
//! (`pg_advisory_xact_lock(MONEY_LOCK, account)`) held until commit. Writes
//! through any number of processes therefore run one after another per account:
//! an upsert reads the stored versions of its keys after the previous writer
//! committed, so the same CSV uploaded twice at once counts its rows as accepted
//! once and as duplicates once, and a retried file upload finds the first copy.
//! The lock is taken first and the audit head (locked by `audit::append`) last,
//! the same order everywhere, so money writers cannot deadlock with each other or
//! with the app removal as long as it calls `delete_app_money` before appending
//! its own audit event. Reads take no lock; each is one statement, one snapshot.
//! Nothing is cached in memory.

mod files;
mod upsert;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use rollcall_core::money::{self, Contract, SpendRecord};
use sha2::{Digest, Sha256};

use super::{audit, PgStore};
use crate::audit::{Actor, AuditAction};
use crate::money::*;
use crate::{StoreError, StoreResult};
use upsert::{contract_row, spend_row, CONTRACT_COLUMNS, SPEND_COLUMNS};

/// The money family's advisory-lock class ("MONY"); the second key is the account.
const MONEY_LOCK: i32 = 0x4d4f_4e59;

/// Takes the account's money lock until the transaction ends.
async fn lock_money(tx: &impl GenericClient, account_id: i64) -> StoreResult<()> {
    // The two-int form takes an i32: accounts past 2^31 share a lock with
    // another account, which only serializes a little more.
    let account_key = account_id as i32;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&MONEY_LOCK, &account_key],
    )
    .await?;
    Ok(())
}

/// Deletes an app's spend records, contracts and their files, inside the
/// caller's transaction that removes the app (SPEC §4: removing an app removes
/// all its data). Takes the money lock, so call it before appending the
/// removal's audit event (lock order: money lock, then audit head).
pub(crate) async fn delete_app_money(
    tx: &impl GenericClient,
    account_id: i64,
    app_id: &str,
) -> StoreResult<()> {
    lock_money(tx, account_id).await?;
    for sql in [
        "DELETE FROM contract_files WHERE account_id = $1 AND contract_id IN
           (SELECT contract_id FROM contracts WHERE account_id = $1 AND app_id = $2)",
        "DELETE FROM contracts WHERE account_id = $1 AND app_id = $2",
        "DELETE FROM spend_records WHERE account_id = $1 AND app_id = $2",
    ] {
        let stmt = tx.prepare_cached(sql).await?;
        tx.execute(&stmt, &[&account_id, &app_id]).await?;
    }
    Ok(())
}

/// The contract of an app in force on `date`, else the latest one.
async fn find_summary(
    client: &impl GenericClient,
    account_id: i64,
    app_id: &str,
    date: &str,
) -> StoreResult<Option<ContractSummary>> {
    // In force on `date` first (the latest-starting one if several overlap), else
    // the one that ends last. Dates are fixed-width text in the "C" collation, so
    // text order is date order.
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {CONTRACT_COLUMNS} FROM contracts
             WHERE account_id = $1 AND app_id = $2
             ORDER BY (start_date <= $3 AND end_date >= $3) DESC,
                      CASE WHEN start_date <= $3 AND end_date >= $3
                           THEN start_date END DESC NULLS LAST,
                      end_date DESC, start_date DESC, contract_id
             LIMIT 1"
        ))
        .await?;
    let Some(row) = client
        .query_opt(&stmt, &[&account_id, &app_id, &date])
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(contract_row(&row)?.into()))
}

/// Spend per currency, summed by PostgreSQL as NUMERIC (no overflow) and read
/// back as text into an i128, so the total is exact.
async fn sum_spend(
    client: &impl GenericClient,
    account_id: i64,
    app_id: &str,
    from_ms: i64,
    to_ms: i64,
) -> StoreResult<Vec<SpendTotal>> {
    let stmt = client
        .prepare_cached(
            "SELECT currency, sum(amount_units)::text FROM spend_records
             WHERE account_id = $1 AND app_id = $2 AND created_ms >= $3 AND created_ms < $4
             GROUP BY currency ORDER BY currency",
        )
        .await?;
    let rows = client
        .query(&stmt, &[&account_id, &app_id, &from_ms, &to_ms])
        .await?;
    rows.iter()
        .map(|r| {
            let sum: &str = r.try_get(1)?;
            let units: i128 = sum
                .parse()
                .map_err(|e| StoreError::Internal(format!("spend total '{sum}': {e}")))?;
            Ok(SpendTotal {
                currency: r.try_get(0)?,
                amount: money::wide_units_to_f64(units),
            })
        })
        .collect()
}

#[async_trait]
impl MoneyStore for PgStore {
    async fn contract_summary(
        &self,
        account_id: i64,
        app_id: &str,
        date: &str,
    ) -> StoreResult<Option<ContractSummary>> {
        let date = rollcall_core::time::parse_date(date)
            .map_err(StoreError::invalid)?
            .to_string();
        find_summary(&self.client().await?, account_id, app_id, &date).await
    }

    async fn spend_totals(
        &self,
        account_id: i64,
        app_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> StoreResult<Vec<SpendTotal>> {
        sum_spend(&self.client().await?, account_id, app_id, from_ms, to_ms).await
    }

    async fn put_spend(
        &self,
        account_id: i64,
        actor: &Actor,
        source: SpendSource,
        records: Vec<SpendRecord>,
    ) -> StoreResult<UpsertCounts> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_money(&tx, account_id).await?;
        let counts = upsert::upsert_spend(&tx, account_id, &records).await?;
        if source == SpendSource::Csv {
            let action = AuditAction::UploadedSpendCsv {
                rows: records.len(),
                accepted: counts.accepted,
                duplicates: counts.duplicates,
            };
            audit::append(&tx, account_id, actor, &action).await?;
        }
        tx.commit().await?;
        Ok(counts)
    }

    async fn spend_records(
        &self,
        account_id: i64,
        apps: Option<Vec<String>>,
    ) -> StoreResult<Vec<SpendRecord>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {SPEND_COLUMNS} FROM spend_records
                 WHERE account_id = $1 AND ($2::text[] IS NULL OR app_id = ANY($2))
                 ORDER BY created_ms, signature_id"
            ))
            .await?;
        let rows = client.query(&stmt, &[&account_id, &apps]).await?;
        rows.iter().map(spend_row).collect()
    }

    async fn put_contracts(
        &self,
        account_id: i64,
        actor: &Actor,
        contracts: Vec<Contract>,
    ) -> StoreResult<UpsertCounts> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_money(&tx, account_id).await?;
        let counts = upsert::upsert_contracts(&tx, account_id, &contracts).await?;
        let action = AuditAction::UploadedContractCsv {
            rows: contracts.len(),
            accepted: counts.accepted,
            duplicates: counts.duplicates,
        };
        audit::append(&tx, account_id, actor, &action).await?;
        tx.commit().await?;
        Ok(counts)
    }

    async fn contracts(
        &self,
        account_id: i64,
        apps: Option<Vec<String>>,
    ) -> StoreResult<Vec<Contract>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {CONTRACT_COLUMNS} FROM contracts
                 WHERE account_id = $1 AND ($2::text[] IS NULL OR app_id = ANY($2))
                 ORDER BY contract_id"
            ))
            .await?;
        let rows = client.query(&stmt, &[&account_id, &apps]).await?;
        rows.iter().map(contract_row).collect()
    }

    async fn contract(&self, account_id: i64, contract_id: &str) -> StoreResult<Contract> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {CONTRACT_COLUMNS} FROM contracts
                 WHERE account_id = $1 AND contract_id = $2"
            ))
            .await?;
        let row = client
            .query_opt(&stmt, &[&account_id, &contract_id])
            .await?
            .ok_or_else(|| files::no_contract(contract_id))?;
        contract_row(&row)
    }

    async fn add_contract_file(
        &self,
        account_id: i64,
        actor: &Actor,
        file: NewContractFile,
    ) -> StoreResult<StoredFile> {
        // Hashed before the lock is taken, so other writers do not wait for it.
        let sha256 = hex::encode(Sha256::digest(&file.bytes));
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_money(&tx, account_id).await?;
        let stored = files::insert_file(&tx, account_id, actor, &file, &sha256).await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn contract_files(
        &self,
        account_id: i64,
        contract_id: &str,
    ) -> StoreResult<Vec<ContractFile>> {
        files::list_files(&self.client().await?, account_id, contract_id).await
    }

    async fn contract_file(
        &self,
        account_id: i64,
        contract_id: &str,
        file_id: &str,
    ) -> StoreResult<(ContractFile, Vec<u8>)> {
        files::read_file(&self.client().await?, account_id, contract_id, file_id).await
    }
}

#[cfg(test)]
mod tests;
