//! Money (SPEC §4): spend records (finance JSON and spend CSV), contracts (CSV)
//! and contract PDF files, and the summaries that app insights show.

use async_trait::async_trait;
use rollcall_core::money::{Contract, SpendRecord};

use crate::audit::Actor;
use crate::StoreResult;

/// Where spend records came from; a CSV upload is audited (`UploadedSpendCsv`),
/// a finance JSON push is not (the seed has no event for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpendSource {
    FinanceJson,
    Csv,
}

/// What an idempotent upsert did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpsertCounts {
    /// Records stored: new ones plus those that replaced a different version.
    pub accepted: usize,
    /// Of `accepted`, those that replaced a stored record with the same key.
    pub replaced: usize,
    /// Records identical to what was already stored (nothing changed).
    pub duplicates: usize,
}

/// A contract file's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractFile {
    pub file_id: String,
    pub contract_id: String,
    /// The app of the contract (for per-app permission checks).
    pub app_id: String,
    pub name: String,
    pub size: i64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    pub uploaded_ms: i64,
}

/// A new contract file, already checked to be a PDF within the size limit.
#[derive(Debug, Clone)]
pub struct NewContractFile {
    pub contract_id: String,
    /// `None`: named after the contract.
    pub name: Option<String>,
    pub bytes: Vec<u8>,
}

/// The outcome of storing a contract file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub file: ContractFile,
    /// True when the contract already had a file with the same bytes, which is
    /// returned instead of a copy (so a retried upload stores one file).
    pub duplicate: bool,
}

/// The contract that applies to an app, as app insights show it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContractSummary {
    pub contract_id: String,
    pub vendor: Option<String>,
    /// `YYYY-MM-DD`.
    pub start_date: String,
    /// `YYYY-MM-DD`.
    pub end_date: String,
    pub licenses_purchased: i64,
    /// The contract's cost per year.
    pub annual_cost: f64,
    pub currency: String,
}

impl From<Contract> for ContractSummary {
    fn from(c: Contract) -> ContractSummary {
        ContractSummary {
            contract_id: c.contract_id,
            vendor: c.vendor,
            start_date: c.start_date,
            end_date: c.end_date,
            licenses_purchased: c.licenses_purchased,
            annual_cost: rollcall_core::money::units_to_f64(c.annual_cost_units),
            currency: c.currency,
        }
    }
}

/// Money spent in one currency.
#[derive(Debug, Clone, PartialEq)]
pub struct SpendTotal {
    pub currency: String,
    pub amount: f64,
}

#[async_trait]
pub trait MoneyStore: Send + Sync {
    /// The contract of `app_id` in force on `date` (`YYYY-MM-DD`), else the latest one.
    async fn contract_summary(
        &self,
        account_id: i64,
        app_id: &str,
        date: &str,
    ) -> StoreResult<Option<ContractSummary>>;
    /// [`MoneyStore::contract_summary`] of several apps, in their order (by
    /// default concurrently, each on its own; a store may read them together).
    async fn contract_summaries(
        &self,
        account_id: i64,
        app_ids: Vec<String>,
        date: &str,
    ) -> StoreResult<Vec<Option<ContractSummary>>> {
        futures_util::future::try_join_all(
            app_ids
                .iter()
                .map(|app_id| self.contract_summary(account_id, app_id, date)),
        )
        .await
    }
    /// Spend on `app_id` with `from_ms <= created < to_ms`, per currency.
    async fn spend_totals(
        &self,
        account_id: i64,
        app_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> StoreResult<Vec<SpendTotal>>;

    /// Upserts spend records by `signatureId` (a record with the same id but other
    /// content replaces the stored one) in one transaction; a CSV upload records
    /// `UploadedSpendCsv` in it.
    async fn put_spend(
        &self,
        account_id: i64,
        actor: &Actor,
        source: SpendSource,
        records: Vec<SpendRecord>,
    ) -> StoreResult<UpsertCounts>;
    /// Every spend record of the account (of `apps` only, when given), ordered by
    /// `created` then `signatureId`.
    async fn spend_records(
        &self,
        account_id: i64,
        apps: Option<Vec<String>>,
    ) -> StoreResult<Vec<SpendRecord>>;
    /// Upserts contracts by `contractId` in one transaction and records
    /// `UploadedContractCsv` in it.
    async fn put_contracts(
        &self,
        account_id: i64,
        actor: &Actor,
        contracts: Vec<Contract>,
    ) -> StoreResult<UpsertCounts>;
    /// Every contract of the account (of `apps` only, when given), by `contractId`.
    async fn contracts(
        &self,
        account_id: i64,
        apps: Option<Vec<String>>,
    ) -> StoreResult<Vec<Contract>>;
    /// One contract; `NotFound` when the account has none with this id.
    async fn contract(&self, account_id: i64, contract_id: &str) -> StoreResult<Contract>;
    /// Attaches a PDF to a contract and records `UploadedContractFile` in the same
    /// transaction; `NotFound` for an unknown contract.
    async fn add_contract_file(
        &self,
        account_id: i64,
        actor: &Actor,
        file: NewContractFile,
    ) -> StoreResult<StoredFile>;
    /// The files of a contract, oldest first; `NotFound` for an unknown contract.
    async fn contract_files(
        &self,
        account_id: i64,
        contract_id: &str,
    ) -> StoreResult<Vec<ContractFile>>;
    /// One file's metadata and bytes; `NotFound` unless it belongs to this
    /// contract of this account.
    async fn contract_file(
        &self,
        account_id: i64,
        contract_id: &str,
        file_id: &str,
    ) -> StoreResult<(ContractFile, Vec<u8>)>;
}
