//! Custom-app usage on PostgreSQL (SPEC §4): apps, usage events and their
//! rollups, provisioned users, org charts, and the data the insights are computed
//! from. The schema (`migrations/0002_usage.sql`, `0005_usage_ingest.sql`)
//! mirrors the embedded store's: interned event names and emails (dense
//! per-account ids that index the bitmaps), raw events, per-(app, event, local
//! day) bitmaps of active email ids, per-(app, email) latest timestamps (in
//! blocks of 128 emails, `last`, migration 0017).
//!
//! Many processes share the database, so:
//! - writes to one app's definition or status are serialised by its row lock
//!   held until commit (`apps`); pushes hold it in share mode and run in
//!   parallel, taking their row locks in one global order with idempotent
//!   rollup updates (`push`), which keeps accepted/duplicate counts exact and
//!   bitmap updates lossless when the same batch is retried concurrently; the
//!   pushes one process receives for an app at once are written as one group,
//!   one transaction (`combine`);
//! - email ids are handed out under the account's `usage_email_seq` row lock
//!   (`push`), so they are dense and become visible in id order;
//! - the org chart's current snapshot changes under a per-account advisory lock
//!   (`org`);
//! - the store's in-process caches (`super::caches`, `email_ids`) only hold
//!   immutable data or are keyed by versions read in the same transaction as
//!   the data, so a write through another process is seen on the next read.
//!
//! Every statement is scoped to the account and to the app's internal id, which is
//! only ever looked up within the account (the raw events, `usage_events`, are
//! keyed by the app id alone: migration 0005).

mod apps;
pub(super) mod combine;
pub(super) mod day_bits;
pub(super) mod email_ids;
mod insight;
pub(super) mod last;
mod org;
mod provisioned;
mod push;
mod raw_copy;
mod segment;

use async_trait::async_trait;
use rollcall_core::usage::AppDefinition;
use rollcall_core::usage_report::Employee;
use tokio_postgres::IsolationLevel;

use super::snapshot::Snapshot;
use super::PgStore;
use crate::audit::Actor;
use crate::usage::{
    AppRecord, InsightData, InsightQuery, NewEvent, OrgChart, OrgMode, OrgPage, OrgSnapshotInfo,
    OrgSwitch, ProvisionedUser, PushOutcome, UsageStore, UserSelection,
};
use crate::StoreResult;

/// Runs `$body` (an expression using `$tx`) in a read-write transaction and
/// commits when it succeeds (dropping the transaction on an error rolls it back).
macro_rules! in_tx {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let mut client = $store.client().await?;
        let $tx = client.transaction().await?;
        let out = $body.await?;
        $tx.commit().await?;
        Ok(out)
    }};
}

/// Like [`in_tx`], in a read-only transaction on one snapshot.
macro_rules! in_snapshot {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let mut client = $store.client().await?;
        let $tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let out = $body.await?;
        $tx.commit().await?;
        Ok(out)
    }};
}

#[async_trait]
impl UsageStore for PgStore {
    async fn create_app(
        &self,
        account_id: i64,
        actor: &Actor,
        definition: AppDefinition,
    ) -> StoreResult<AppRecord> {
        in_tx!(self, |tx| apps::create_app(
            &tx, account_id, actor, definition
        ))
    }

    async fn list_apps(&self, account_id: i64) -> StoreResult<Vec<AppRecord>> {
        apps::list_apps(&self.client().await?, account_id).await
    }

    async fn app(&self, account_id: i64, app_id: &str) -> StoreResult<AppRecord> {
        let client = self.client().await?;
        Ok(apps::load_app(&client, account_id, app_id, apps::Lock::No)
            .await?
            .rec)
    }

    async fn update_app(
        &self,
        account_id: i64,
        actor: &Actor,
        app_id: &str,
        definition: AppDefinition,
    ) -> StoreResult<AppRecord> {
        in_tx!(self, |tx| apps::update_app(
            &tx, account_id, actor, app_id, definition
        ))
    }

    async fn disconnect_app(
        &self,
        account_id: i64,
        actor: &Actor,
        app_id: &str,
    ) -> StoreResult<AppRecord> {
        in_tx!(self, |tx| apps::disconnect_app(
            &tx, account_id, actor, app_id
        ))
    }

    async fn delete_app(&self, account_id: i64, actor: &Actor, app_id: &str) -> StoreResult<()> {
        in_tx!(self, |tx| apps::delete_app(&tx, account_id, actor, app_id))
    }

    async fn push_events(
        &self,
        account_id: i64,
        app_id: &str,
        events: Vec<NewEvent>,
    ) -> StoreResult<PushOutcome> {
        combine::push(&self.pool, &self.caches, account_id, app_id, events).await
    }

    async fn upsert_provisioned(
        &self,
        account_id: i64,
        app_id: &str,
        users: Vec<ProvisionedUser>,
    ) -> StoreResult<u64> {
        in_tx!(self, |tx| provisioned::upsert(
            &tx, account_id, app_id, &users
        ))
    }

    async fn provisioned_page(
        &self,
        account_id: i64,
        app_id: &str,
        after: Option<String>,
        limit: usize,
    ) -> StoreResult<(Vec<ProvisionedUser>, u64)> {
        in_snapshot!(self, |tx| provisioned::page(
            &tx, account_id, app_id, after, limit
        ))
    }

    async fn delete_provisioned(
        &self,
        account_id: i64,
        app_id: &str,
        selection: Option<UserSelection>,
    ) -> StoreResult<u64> {
        in_tx!(self, |tx| provisioned::delete(
            &tx, account_id, app_id, selection
        ))
    }

    async fn start_org_chart(
        &self,
        account_id: i64,
        name: String,
        custom_fields: Vec<String>,
        mode: OrgMode,
    ) -> StoreResult<i64> {
        let client = self.client().await?;
        org::start(&client, account_id, &name, &custom_fields, mode).await
    }

    async fn add_org_people(
        &self,
        account_id: i64,
        actor: &Actor,
        snapshot_id: i64,
        people: Vec<Employee>,
        has_more: bool,
    ) -> StoreResult<OrgPage> {
        in_tx!(self, |tx| org::add_people(
            &tx,
            account_id,
            actor,
            snapshot_id,
            &people,
            has_more
        ))
    }

    async fn replace_org_chart(
        &self,
        account_id: i64,
        actor: &Actor,
        name: String,
        custom_fields: Vec<String>,
        people: Vec<Employee>,
        mode: OrgMode,
    ) -> StoreResult<OrgSwitch> {
        in_tx!(self, |tx| org::replace(
            &tx,
            account_id,
            actor,
            &name,
            &custom_fields,
            &people,
            mode
        ))
    }

    async fn open_org_chart_fields(
        &self,
        account_id: i64,
        snapshot_id: i64,
    ) -> StoreResult<Vec<String>> {
        org::open_fields(&self.client().await?, account_id, snapshot_id).await
    }

    async fn org_snapshots(&self, account_id: i64) -> StoreResult<Vec<OrgSnapshotInfo>> {
        org::list(&self.client().await?, account_id).await
    }

    async fn activate_org_chart(
        &self,
        account_id: i64,
        actor: &Actor,
        snapshot_id: i64,
    ) -> StoreResult<OrgSwitch> {
        in_tx!(self, |tx| org::activate(
            &tx,
            account_id,
            actor,
            snapshot_id
        ))
    }

    async fn org_chart(&self, account_id: i64) -> StoreResult<Option<OrgChart>> {
        in_snapshot!(self, |tx| org::load(&tx, &self.caches, account_id))
    }

    async fn last_activity_of(
        &self,
        account_id: i64,
        app_id: &str,
        email_ids: Vec<u32>,
    ) -> StoreResult<rollcall_core::fxhash::FxHashMap<u32, i64>> {
        last::last_activity_of(&self.client().await?, account_id, app_id, &email_ids).await
    }

    async fn insight_data(
        &self,
        account_id: i64,
        app_id: &str,
        query: InsightQuery,
    ) -> StoreResult<InsightData> {
        let caches = &self.caches;
        // One flight when everything else is cached; else again, in two.
        let snap = Snapshot::new(self.client().await?);
        if let Some(data) =
            insight::insight_data(&snap, caches, account_id, app_id, &query, true).await?
        {
            return Ok(data);
        }
        drop(snap);
        let snap = Snapshot::new(self.client().await?);
        insight::insight_data(&snap, caches, account_id, app_id, &query, false)
            .await?
            .ok_or_else(|| crate::StoreError::Internal("an insight read came back empty".into()))
    }
}
