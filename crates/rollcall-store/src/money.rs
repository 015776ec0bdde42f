//! Money (SPEC §4): spend records (finance JSON and spend CSV), contracts (CSV)
//! and contract PDF files, and the summaries that app insights show.

use async_trait::async_trait;

use crate::StoreResult;

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
    /// Spend on `app_id` with `from_ms <= created < to_ms`, per currency.
    async fn spend_totals(
        &self,
        account_id: i64,
        app_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> StoreResult<Vec<SpendTotal>>;
}
