//! Workforce activity in SQLite: the [`WorkforceStore`] methods, each a read
//! or a write closure that delegates to the module of its concern:
//!
//! - `ingest`: agent batches with their per-day rollups (one write closure per
//!   batch), the idle stretches, and the per-day counts of users and computers;
//! - `runs` and `texts`: where records lie in log order, and their interned
//!   strings;
//! - `clients`, `groups`, `classify`: clients and computers, groups and their
//!   members, the classification set;
//! - `directory`: merging and deleting clients and computers;
//! - `hours` (under a group filter with `day_keys`): working hours, read from
//!   the rollups only;
//! - `log`: the activity log, a log-id cursor over the raw records;
//! - `retention`: what `activityRetentionDays` no longer keeps;
//! - `scope`: the scoping conditions the reads share. Scoping (a filter of the
//!   request and a viewer's groups) is applied to every (client, computer)
//!   pair: a pair is in a group when its client or its computer is a member.

mod classify;
mod clients;
mod day_keys;
mod directory;
mod groups;
mod hours;
mod ingest;
mod log;
mod record_rows;
mod retention;
mod runs;
mod scope;
mod text_refs;
pub(super) mod texts;

use std::sync::Arc;

use async_trait::async_trait;
use rollcall_core::workforce::ClassificationSet;

pub(super) use directory::remove_member;
pub(super) use groups::overridden_groups_exist;
pub(super) use retention::apply_retention;
pub(super) use runs::through_day;
pub(super) use text_refs::fold as fold_text_refs;

use super::SqliteStore;
use crate::audit::Actor;
use crate::workforce::member_emails::EmailSet;
use crate::workforce::{
    sees_group, ActivityBatch, ActivityLogPage, ActivityLogQuery, ClientPatch, ComputerPatch,
    Group, GroupPatch, IngestOutcome, Member, MoveOutcome, Scoping, WfClient, WfComputer,
    WorkforceStore, WorkingHoursPage, WorkingHoursQuery,
};
use crate::{StoreError, StoreResult};

#[async_trait]
impl WorkforceStore for SqliteStore {
    async fn ingest_activity(
        &self,
        account_id: i64,
        batch: ActivityBatch,
    ) -> StoreResult<IngestOutcome> {
        ingest::ingest_activity(self, account_id, batch).await
    }

    async fn wf_clients(&self, account_id: i64, scoping: Scoping) -> StoreResult<Vec<WfClient>> {
        self.db
            .read(move |conn| clients::clients(conn, account_id, &scoping))
            .await
    }

    async fn group_employee_emails(
        &self,
        account_id: i64,
        groups: Vec<i64>,
    ) -> StoreResult<EmailSet> {
        let cache = self.wf_member_emails.clone();
        self.db
            .read(move |conn| groups::employee_emails(conn, &cache, account_id, groups))
            .await
    }

    async fn wf_client(&self, account_id: i64, scoping: Scoping, id: i64) -> StoreResult<WfClient> {
        self.db
            .read(move |conn| clients::client(conn, account_id, &scoping, id))
            .await
    }

    async fn update_wf_client(
        &self,
        account_id: i64,
        actor: &Actor,
        id: i64,
        patch: ClientPatch,
    ) -> StoreResult<WfClient> {
        let actor = actor.clone();
        self.db
            .write(move |conn| clients::update_client(conn, account_id, &actor, id, &patch))
            .await
    }

    async fn wf_computers(
        &self,
        account_id: i64,
        scoping: Scoping,
    ) -> StoreResult<Vec<WfComputer>> {
        self.db
            .read(move |conn| clients::computers(conn, account_id, &scoping))
            .await
    }

    async fn wf_computer(
        &self,
        account_id: i64,
        scoping: Scoping,
        id: i64,
    ) -> StoreResult<WfComputer> {
        self.db
            .read(move |conn| clients::computer(conn, account_id, &scoping, id))
            .await
    }

    async fn update_wf_computer(
        &self,
        account_id: i64,
        actor: &Actor,
        id: i64,
        patch: ComputerPatch,
    ) -> StoreResult<WfComputer> {
        let actor = actor.clone();
        self.db
            .write(move |conn| clients::update_computer(conn, account_id, &actor, id, &patch))
            .await
    }

    async fn merge_wf(
        &self,
        account_id: i64,
        actor: &Actor,
        kind: Member,
        from: i64,
        into: i64,
    ) -> StoreResult<MoveOutcome> {
        let actor = actor.clone();
        let texts = Arc::clone(&self.wf_texts);
        self.db
            .write(move |conn| {
                directory::merge(conn, &texts, account_id, &actor, kind, (from, into))
            })
            .await
    }

    async fn delete_wf(
        &self,
        account_id: i64,
        actor: &Actor,
        kind: Member,
        id: i64,
    ) -> StoreResult<u64> {
        let actor = actor.clone();
        self.db
            .write(move |conn| directory::delete(conn, account_id, &actor, kind, id))
            .await
    }

    async fn groups(&self, account_id: i64, viewable: Option<Vec<i64>>) -> StoreResult<Vec<Group>> {
        self.db
            .read(move |conn| groups::list(conn, account_id, &viewable))
            .await
    }

    async fn group(
        &self,
        account_id: i64,
        viewable: Option<Vec<i64>>,
        id: i64,
    ) -> StoreResult<Group> {
        if !sees_group(&viewable, id) {
            return Err(StoreError::NotFound(format!("group {id} does not exist")));
        }
        self.db
            .read(move |conn| groups::load_group(conn, account_id, id))
            .await
    }

    async fn create_group(
        &self,
        account_id: i64,
        actor: &Actor,
        name: String,
        clients: Vec<i64>,
        computers: Vec<i64>,
    ) -> StoreResult<i64> {
        let actor = actor.clone();
        self.db
            .write(move |conn| groups::create(conn, account_id, &actor, name, clients, computers))
            .await
    }

    async fn update_group(
        &self,
        account_id: i64,
        actor: &Actor,
        id: i64,
        patch: GroupPatch,
    ) -> StoreResult<Group> {
        let actor = actor.clone();
        self.db
            .write(move |conn| groups::update(conn, account_id, &actor, id, &patch))
            .await
    }

    async fn delete_group(&self, account_id: i64, actor: &Actor, id: i64) -> StoreResult<()> {
        let actor = actor.clone();
        self.db
            .write(move |conn| groups::delete(conn, account_id, &actor, id))
            .await
    }

    async fn classifications(&self, account_id: i64) -> StoreResult<ClassificationSet> {
        self.db
            .read(move |conn| classify::load_classifications(conn, account_id))
            .await
    }

    async fn put_classifications(
        &self,
        account_id: i64,
        actor: &Actor,
        set: ClassificationSet,
    ) -> StoreResult<()> {
        let actor = actor.clone();
        let body = serde_json::to_string(&set)
            .map_err(|e| StoreError::Internal(format!("cannot encode classifications: {e}")))?;
        self.db
            .write(move |conn| classify::put(conn, account_id, &actor, set, &body))
            .await
    }

    async fn working_hours(
        &self,
        account_id: i64,
        query: WorkingHoursQuery,
    ) -> StoreResult<WorkingHoursPage> {
        let day_keys = self.wf_day_keys.clone();
        self.db
            .read(move |conn| hours::working_hours(conn, &day_keys, account_id, &query))
            .await
    }

    async fn activity_log(
        &self,
        account_id: i64,
        query: ActivityLogQuery,
    ) -> StoreResult<ActivityLogPage> {
        // A cursor scan asks for page after page: each is on its critical path.
        self.db
            .read_in_place(move |conn| log::activity_log(conn, account_id, &query))
            .await
    }
}
