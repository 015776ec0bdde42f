//! Money on PostgreSQL (placeholder until the family is ported).

use async_trait::async_trait;
use rollcall_core::money::{Contract, SpendRecord};

use super::PgStore;
use crate::money::*;
use crate::{StoreError, StoreResult};

fn pending() -> StoreError {
    StoreError::Internal("not yet implemented on PostgreSQL".into())
}

#[async_trait]
#[allow(unused_variables)]
impl MoneyStore for PgStore {
    async fn contract_summary(
        &self,
        account_id: i64,
        app_id: &str,
        date: &str,
    ) -> StoreResult<Option<ContractSummary>> {
        Err(pending())
    }

    async fn spend_totals(
        &self,
        account_id: i64,
        app_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> StoreResult<Vec<SpendTotal>> {
        Err(pending())
    }

    async fn put_spend(
        &self,
        account_id: i64,
        actor: &str,
        source: SpendSource,
        records: Vec<SpendRecord>,
    ) -> StoreResult<UpsertCounts> {
        Err(pending())
    }

    async fn spend_records(
        &self,
        account_id: i64,
        apps: Option<Vec<String>>,
    ) -> StoreResult<Vec<SpendRecord>> {
        Err(pending())
    }

    async fn put_contracts(
        &self,
        account_id: i64,
        actor: &str,
        contracts: Vec<Contract>,
    ) -> StoreResult<UpsertCounts> {
        Err(pending())
    }

    async fn contracts(
        &self,
        account_id: i64,
        apps: Option<Vec<String>>,
    ) -> StoreResult<Vec<Contract>> {
        Err(pending())
    }

    async fn contract(&self, account_id: i64, contract_id: &str) -> StoreResult<Contract> {
        Err(pending())
    }

    async fn add_contract_file(
        &self,
        account_id: i64,
        actor: &str,
        file: NewContractFile,
    ) -> StoreResult<StoredFile> {
        Err(pending())
    }

    async fn contract_files(
        &self,
        account_id: i64,
        contract_id: &str,
    ) -> StoreResult<Vec<ContractFile>> {
        Err(pending())
    }

    async fn contract_file(
        &self,
        account_id: i64,
        contract_id: &str,
        file_id: &str,
    ) -> StoreResult<(ContractFile, Vec<u8>)> {
        Err(pending())
    }
}

/// Deletes an app's spend, contracts and contract files (inside the caller's
/// transaction that deletes the app).
#[allow(dead_code)] // called by the usage family once it is ported
pub(crate) async fn delete_app_money(
    _tx: &impl deadpool_postgres::GenericClient,
    _account_id: i64,
    _app_id: &str,
) -> StoreResult<()> {
    Err(pending())
}
