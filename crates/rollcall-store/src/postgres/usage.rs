//! Custom-app usage on PostgreSQL (placeholder until the family is ported).

use async_trait::async_trait;
use rollcall_core::usage::AppDefinition;
use rollcall_core::usage_report::Employee;

use super::PgStore;
use crate::usage::*;
use crate::{StoreError, StoreResult};

fn pending() -> StoreError {
    StoreError::Internal("not yet implemented on PostgreSQL".into())
}

#[async_trait]
#[allow(unused_variables)]
impl UsageStore for PgStore {
    async fn create_app(
        &self,
        account_id: i64,
        actor: &str,
        definition: AppDefinition,
    ) -> StoreResult<AppRecord> {
        Err(pending())
    }

    async fn list_apps(&self, account_id: i64) -> StoreResult<Vec<AppRecord>> {
        Err(pending())
    }

    async fn app(&self, account_id: i64, app_id: &str) -> StoreResult<AppRecord> {
        Err(pending())
    }

    async fn update_app(
        &self,
        account_id: i64,
        actor: &str,
        app_id: &str,
        definition: AppDefinition,
    ) -> StoreResult<AppRecord> {
        Err(pending())
    }

    async fn disconnect_app(
        &self,
        account_id: i64,
        actor: &str,
        app_id: &str,
    ) -> StoreResult<AppRecord> {
        Err(pending())
    }

    async fn delete_app(&self, account_id: i64, actor: &str, app_id: &str) -> StoreResult<()> {
        Err(pending())
    }

    async fn push_events(
        &self,
        account_id: i64,
        app_id: &str,
        events: Vec<NewEvent>,
    ) -> StoreResult<PushOutcome> {
        Err(pending())
    }

    async fn upsert_provisioned(
        &self,
        account_id: i64,
        app_id: &str,
        users: Vec<ProvisionedUser>,
    ) -> StoreResult<u64> {
        Err(pending())
    }

    async fn provisioned_page(
        &self,
        account_id: i64,
        app_id: &str,
        after: Option<String>,
        limit: usize,
    ) -> StoreResult<(Vec<ProvisionedUser>, u64)> {
        Err(pending())
    }

    async fn delete_provisioned(
        &self,
        account_id: i64,
        app_id: &str,
        selection: Option<UserSelection>,
    ) -> StoreResult<u64> {
        Err(pending())
    }

    async fn start_org_chart(
        &self,
        account_id: i64,
        name: String,
        custom_fields: Vec<String>,
    ) -> StoreResult<i64> {
        Err(pending())
    }

    async fn add_org_people(
        &self,
        account_id: i64,
        actor: &str,
        snapshot_id: i64,
        people: Vec<Employee>,
        has_more: bool,
    ) -> StoreResult<OrgPage> {
        Err(pending())
    }

    async fn replace_org_chart(
        &self,
        account_id: i64,
        actor: &str,
        name: String,
        custom_fields: Vec<String>,
        people: Vec<Employee>,
    ) -> StoreResult<i64> {
        Err(pending())
    }

    async fn open_org_chart_fields(
        &self,
        account_id: i64,
        snapshot_id: i64,
    ) -> StoreResult<Vec<String>> {
        Err(pending())
    }

    async fn org_chart(&self, account_id: i64) -> StoreResult<Option<OrgChart>> {
        Err(pending())
    }

    async fn insight_data(
        &self,
        account_id: i64,
        app_id: &str,
        query: InsightQuery,
    ) -> StoreResult<InsightData> {
        Err(pending())
    }
}
