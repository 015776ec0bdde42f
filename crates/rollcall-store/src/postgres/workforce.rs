//! Workforce activity on PostgreSQL (placeholder until the family is ported).

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use rollcall_core::workforce::ClassificationSet;

use super::PgStore;
use crate::workforce::*;
use crate::{StoreError, StoreResult};

fn pending() -> StoreError {
    StoreError::Internal("not yet implemented on PostgreSQL".into())
}

#[async_trait]
#[allow(unused_variables)]
impl WorkforceStore for PgStore {
    async fn ingest_activity(
        &self,
        account_id: i64,
        batch: ActivityBatch,
    ) -> StoreResult<IngestOutcome> {
        Err(pending())
    }

    async fn wf_clients(&self, account_id: i64, scoping: Scoping) -> StoreResult<Vec<WfClient>> {
        Err(pending())
    }

    async fn wf_client(&self, account_id: i64, scoping: Scoping, id: i64) -> StoreResult<WfClient> {
        Err(pending())
    }

    async fn update_wf_client(
        &self,
        account_id: i64,
        id: i64,
        patch: ClientPatch,
    ) -> StoreResult<WfClient> {
        Err(pending())
    }

    async fn wf_computers(
        &self,
        account_id: i64,
        scoping: Scoping,
    ) -> StoreResult<Vec<WfComputer>> {
        Err(pending())
    }

    async fn wf_computer(
        &self,
        account_id: i64,
        scoping: Scoping,
        id: i64,
    ) -> StoreResult<WfComputer> {
        Err(pending())
    }

    async fn update_wf_computer(
        &self,
        account_id: i64,
        id: i64,
        patch: ComputerPatch,
    ) -> StoreResult<WfComputer> {
        Err(pending())
    }

    async fn groups(&self, account_id: i64, viewable: Option<Vec<i64>>) -> StoreResult<Vec<Group>> {
        Err(pending())
    }

    async fn group(
        &self,
        account_id: i64,
        viewable: Option<Vec<i64>>,
        id: i64,
    ) -> StoreResult<Group> {
        Err(pending())
    }

    async fn create_group(
        &self,
        account_id: i64,
        actor: &str,
        name: String,
        clients: Vec<i64>,
        computers: Vec<i64>,
    ) -> StoreResult<i64> {
        Err(pending())
    }

    async fn update_group(
        &self,
        account_id: i64,
        actor: &str,
        id: i64,
        patch: GroupPatch,
    ) -> StoreResult<Group> {
        Err(pending())
    }

    async fn delete_group(&self, account_id: i64, actor: &str, id: i64) -> StoreResult<()> {
        Err(pending())
    }

    async fn classifications(&self, account_id: i64) -> StoreResult<ClassificationSet> {
        Err(pending())
    }

    async fn put_classifications(
        &self,
        account_id: i64,
        actor: &str,
        set: ClassificationSet,
    ) -> StoreResult<()> {
        Err(pending())
    }

    async fn working_hours(
        &self,
        account_id: i64,
        query: WorkingHoursQuery,
    ) -> StoreResult<WorkingHoursPage> {
        Err(pending())
    }

    async fn activity_log(
        &self,
        account_id: i64,
        query: ActivityLogQuery,
    ) -> StoreResult<ActivityLogPage> {
        Err(pending())
    }
}

/// Deletes activity older than each account's retention.
pub(crate) async fn apply_retention(_client: &impl GenericClient, _now_ms: i64) -> StoreResult<()> {
    Ok(())
}
