//! Contract PDFs: bytes in a BYTEA column that only the download reads; listings
//! and the duplicate check read the metadata columns alone.
//!
//! Each lookup is one statement that joins the file to its contract, so "no such
//! contract" and "no such file" are told apart from one consistent snapshot.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use crate::audit::{Actor, AuditAction};
use crate::money::{ContractFile, NewContractFile, StoredFile};
use crate::postgres::audit;
use crate::{now_ms, StoreError, StoreResult};

const FILE_COLUMNS: &str =
    "f.file_id, f.contract_id, c.app_id, f.name, f.size, f.sha256, f.uploaded_ms";

fn file_row(r: &Row) -> StoreResult<ContractFile> {
    Ok(ContractFile {
        file_id: r.try_get(0)?,
        contract_id: r.try_get(1)?,
        app_id: r.try_get(2)?,
        name: r.try_get(3)?,
        size: r.try_get(4)?,
        sha256: r.try_get(5)?,
        uploaded_ms: r.try_get(6)?,
    })
}

pub(super) fn no_contract(contract_id: &str) -> StoreError {
    StoreError::NotFound(format!("contract '{contract_id}' does not exist"))
}

/// The app of a contract; `NotFound` when the account has no such contract.
async fn contract_app(
    tx: &impl GenericClient,
    account_id: i64,
    contract_id: &str,
) -> StoreResult<String> {
    let stmt = tx
        .prepare_cached("SELECT app_id FROM contracts WHERE account_id = $1 AND contract_id = $2")
        .await?;
    let row = tx
        .query_opt(&stmt, &[&account_id, &contract_id])
        .await?
        .ok_or_else(|| no_contract(contract_id))?;
    Ok(row.try_get(0)?)
}

/// Stores `file` (hashed to `sha256`) unless the contract already has those
/// bytes, and audits a stored file. The caller holds the money lock, so the
/// duplicate check and the insert cannot interleave with another upload.
pub(super) async fn insert_file(
    tx: &impl GenericClient,
    account_id: i64,
    actor: &Actor,
    file: &NewContractFile,
    sha256: &str,
) -> StoreResult<StoredFile> {
    let contract_id = file.contract_id.as_str();
    let app_id = contract_app(tx, account_id, contract_id).await?;
    let existing = tx
        .prepare_cached(&format!(
            "SELECT {FILE_COLUMNS} FROM contract_files f JOIN contracts c
                 ON c.account_id = f.account_id AND c.contract_id = f.contract_id
             WHERE f.account_id = $1 AND f.contract_id = $2 AND f.sha256 = $3"
        ))
        .await?;
    if let Some(row) = tx
        .query_opt(&existing, &[&account_id, &contract_id, &sha256])
        .await?
    {
        return Ok(StoredFile {
            file: file_row(&row)?,
            duplicate: true,
        });
    }
    let stored = ContractFile {
        file_id: rollcall_core::secret::random_hex(16),
        contract_id: contract_id.to_string(),
        app_id,
        name: file
            .name
            .clone()
            .unwrap_or_else(|| format!("contract-{contract_id}.pdf")),
        size: file.bytes.len() as i64,
        sha256: sha256.to_string(),
        uploaded_ms: now_ms(),
    };
    let insert = tx
        .prepare_cached(
            "INSERT INTO contract_files (account_id, file_id, contract_id, name, size, sha256,
                 uploaded_ms, data)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .await?;
    tx.execute(
        &insert,
        &[
            &account_id,
            &stored.file_id,
            &stored.contract_id,
            &stored.name,
            &stored.size,
            &stored.sha256,
            &stored.uploaded_ms,
            &file.bytes,
        ],
    )
    .await?;
    audit::append(
        tx,
        account_id,
        actor,
        &AuditAction::UploadedContractFile {
            contract_id: stored.contract_id.clone(),
            app_id: stored.app_id.clone(),
            file_id: stored.file_id.clone(),
            name: stored.name.clone(),
            size: file.bytes.len(),
        },
    )
    .await?;
    Ok(StoredFile {
        file: stored,
        duplicate: false,
    })
}

/// The files of a contract, oldest first; `NotFound` for an unknown contract.
pub(super) async fn list_files(
    client: &impl GenericClient,
    account_id: i64,
    contract_id: &str,
) -> StoreResult<Vec<ContractFile>> {
    // The contract's row is always there (with NULL file columns when it has no
    // file), so an empty result means an unknown contract.
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {FILE_COLUMNS} FROM contracts c LEFT JOIN contract_files f
                 ON f.account_id = c.account_id AND f.contract_id = c.contract_id
             WHERE c.account_id = $1 AND c.contract_id = $2
             ORDER BY f.id"
        ))
        .await?;
    let rows = client.query(&stmt, &[&account_id, &contract_id]).await?;
    if rows.is_empty() {
        return Err(no_contract(contract_id));
    }
    rows.iter()
        .filter(|r| r.get::<_, Option<&str>>(0).is_some())
        .map(file_row)
        .collect()
}

/// One file's metadata and bytes; `NotFound` for an unknown contract, or a file
/// that is not this contract's.
pub(super) async fn read_file(
    client: &impl GenericClient,
    account_id: i64,
    contract_id: &str,
    file_id: &str,
) -> StoreResult<(ContractFile, Vec<u8>)> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {FILE_COLUMNS}, f.data FROM contracts c LEFT JOIN contract_files f
                 ON f.account_id = c.account_id AND f.contract_id = c.contract_id
                    AND f.file_id = $3
             WHERE c.account_id = $1 AND c.contract_id = $2"
        ))
        .await?;
    let row = client
        .query_opt(&stmt, &[&account_id, &contract_id, &file_id])
        .await?
        .ok_or_else(|| no_contract(contract_id))?;
    if row.get::<_, Option<&str>>(0).is_none() {
        return Err(StoreError::NotFound(format!(
            "contract '{contract_id}' has no file '{file_id}'"
        )));
    }
    Ok((file_row(&row)?, row.try_get(7)?))
}
