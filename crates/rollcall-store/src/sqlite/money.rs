//! Money in SQLite.

use async_trait::async_trait;

use super::SqliteStore;
use crate::money::{ContractSummary, MoneyStore, SpendTotal};
use crate::StoreResult;

#[async_trait]
impl MoneyStore for SqliteStore {
    async fn contract_summary(
        &self,
        _account_id: i64,
        _app_id: &str,
        _date: &str,
    ) -> StoreResult<Option<ContractSummary>> {
        Ok(None)
    }

    async fn spend_totals(
        &self,
        _account_id: i64,
        _app_id: &str,
        _from_ms: i64,
        _to_ms: i64,
    ) -> StoreResult<Vec<SpendTotal>> {
        Ok(Vec::new())
    }
}
