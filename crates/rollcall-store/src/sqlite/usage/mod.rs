//! Custom-app usage in SQLite: apps, interned event names and emails, raw events in
//! a time-ordered table, the per-(event, local day) bitmaps of active email ids and
//! the per-(app, email) latest timestamp, written in the same transaction as the raw
//! insert, provisioned users and org-chart snapshots.
//!
//! This module holds the [`UsageStore`] methods, each delegating to its concern:
//! `apps` (definitions and event names), `push` (the write path of a usage
//! push), `provisioned`, `org` (org-chart snapshots), and the reads of
//! insights: `insight` (with the email table and the resolver), `day_bits`
//! and `last`, over what `report_cache` keeps in memory per account.

mod apps;
pub(super) mod day_bits;
mod insight;
mod last;
mod org;
mod provisioned;
pub(super) mod push;
pub(super) mod report_cache;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use rollcall_core::fxhash::FxHashMap;
use rollcall_core::usage::AppDefinition;
use rollcall_core::usage_report::Employee;

pub(super) use apps::{load_app, sync_event_names};
pub(super) use last::fold as fold_latest_times;
pub(super) use provisioned::bump_provisioned;

use super::SqliteStore;
use crate::audit::Actor;
use crate::usage::{
    AppRecord, InsightData, InsightQuery, NewEvent, OrgChart, OrgMode, OrgPage, OrgSnapshotInfo,
    OrgSwitch, ProvisionedUser, PushOutcome, UsageStore, UserSelection,
};
use crate::StoreResult;
use push::PreparedPush;

#[async_trait]
impl UsageStore for SqliteStore {
    async fn create_app(
        &self,
        account_id: i64,
        actor: &Actor,
        definition: AppDefinition,
    ) -> StoreResult<AppRecord> {
        let actor = actor.clone();
        let text = serde_json::to_string(&definition)?;
        self.db
            .write(move |conn| apps::create(conn, account_id, &actor, definition, &text))
            .await
    }

    async fn list_apps(&self, account_id: i64) -> StoreResult<Vec<AppRecord>> {
        self.db.read(move |conn| apps::list(conn, account_id)).await
    }

    async fn app(&self, account_id: i64, app_id: &str) -> StoreResult<AppRecord> {
        let app_id = app_id.to_string();
        self.db
            .read(move |conn| load_app(conn, account_id, &app_id).map(|(_, rec)| rec))
            .await
    }

    async fn update_app(
        &self,
        account_id: i64,
        actor: &Actor,
        app_id: &str,
        definition: AppDefinition,
    ) -> StoreResult<AppRecord> {
        let (actor, app_id) = (actor.clone(), app_id.to_string());
        let text = serde_json::to_string(&definition)?;
        self.db
            .write(move |conn| apps::update(conn, account_id, &actor, &app_id, definition, &text))
            .await
    }

    async fn disconnect_app(
        &self,
        account_id: i64,
        actor: &Actor,
        app_id: &str,
    ) -> StoreResult<AppRecord> {
        let (actor, app_id) = (actor.clone(), app_id.to_string());
        self.db
            .write(move |conn| apps::disconnect(conn, account_id, &actor, &app_id))
            .await
    }

    async fn delete_app(&self, account_id: i64, actor: &Actor, app_id: &str) -> StoreResult<()> {
        let (actor, app_id) = (actor.clone(), app_id.to_string());
        self.db
            .write(move |conn| apps::delete(conn, account_id, &actor, &app_id))
            .await
    }

    async fn push_events(
        &self,
        account_id: i64,
        app_id: &str,
        events: Vec<NewEvent>,
    ) -> StoreResult<PushOutcome> {
        // Prepared, and later freed, on this thread rather than on the writer
        // thread that bounds ingest: the writer holds only a second `Arc`.
        let push = Arc::new(PreparedPush::new(
            account_id,
            app_id,
            &events,
            &self.committed_emails,
        ));
        drop(events);
        let (outcome, fresh, times) = {
            let push = Arc::clone(&push);
            self.db.write(move |conn| push.write(conn)).await?
        };
        // The write resolved after its COMMIT: these ids are durable now, and
        // the times kept for reports may move to the push's version.
        push.remember(&self.committed_emails, &fresh);
        self.report_caches.times_written(account_id, app_id, &times);
        Ok(outcome)
    }

    async fn upsert_provisioned(
        &self,
        account_id: i64,
        app_id: &str,
        users: Vec<ProvisionedUser>,
    ) -> StoreResult<u64> {
        let app_id = app_id.to_string();
        self.db
            .write(move |conn| provisioned::upsert(conn, account_id, &app_id, &users))
            .await
    }

    async fn provisioned_page(
        &self,
        account_id: i64,
        app_id: &str,
        after: Option<String>,
        limit: usize,
    ) -> StoreResult<(Vec<ProvisionedUser>, u64)> {
        let app_id = app_id.to_string();
        self.db
            .read(move |conn| provisioned::page(conn, account_id, &app_id, after, limit))
            .await
    }

    async fn delete_provisioned(
        &self,
        account_id: i64,
        app_id: &str,
        selection: Option<UserSelection>,
    ) -> StoreResult<u64> {
        let app_id = app_id.to_string();
        self.db
            .write(move |conn| provisioned::delete(conn, account_id, &app_id, selection))
            .await
    }

    async fn start_org_chart(
        &self,
        account_id: i64,
        name: String,
        custom_fields: Vec<String>,
        mode: OrgMode,
    ) -> StoreResult<i64> {
        let fields = serde_json::to_string(&custom_fields)?;
        self.db
            .write(move |conn| org::start_snapshot(conn, account_id, &name, &fields, mode))
            .await
    }

    async fn add_org_people(
        &self,
        account_id: i64,
        actor: &Actor,
        snapshot_id: i64,
        people: Vec<Employee>,
        has_more: bool,
    ) -> StoreResult<OrgPage> {
        let actor = actor.clone();
        self.db
            .write(move |conn| {
                org::add_people(conn, account_id, &actor, snapshot_id, &people, has_more)
            })
            .await
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
        let actor = actor.clone();
        let fields = serde_json::to_string(&custom_fields)?;
        self.db
            .write(move |conn| {
                org::replace(conn, account_id, &actor, &name, &fields, &people, mode)
            })
            .await
    }

    async fn open_org_chart_fields(
        &self,
        account_id: i64,
        snapshot_id: i64,
    ) -> StoreResult<Vec<String>> {
        self.db
            .read(move |conn| org::open_fields(conn, account_id, snapshot_id))
            .await
    }

    async fn org_snapshots(&self, account_id: i64) -> StoreResult<Vec<OrgSnapshotInfo>> {
        self.db
            .read(move |conn| org::snapshots(conn, account_id))
            .await
    }

    async fn activate_org_chart(
        &self,
        account_id: i64,
        actor: &Actor,
        snapshot_id: i64,
    ) -> StoreResult<OrgSwitch> {
        let actor = actor.clone();
        self.db
            .write(move |conn| org::activate(conn, account_id, &actor, snapshot_id))
            .await
    }

    async fn org_chart(&self, account_id: i64) -> StoreResult<Option<OrgChart>> {
        let caches = Arc::clone(&self.report_caches);
        self.db
            .read(move |conn| org::load_org(conn, &caches, account_id))
            .await
    }

    async fn insight_data(
        &self,
        account_id: i64,
        app_id: &str,
        query: InsightQuery,
    ) -> StoreResult<InsightData> {
        let app_id = app_id.to_string();
        let caches = Arc::clone(&self.report_caches);
        self.db
            .read(move |conn| insight::insight_data(conn, &caches, account_id, &app_id, &query))
            .await
    }

    async fn insight_data_of_apps(
        &self,
        account_id: i64,
        app_ids: Vec<String>,
        query: InsightQuery,
    ) -> StoreResult<Vec<InsightData>> {
        // Two reads of half the apps each: few thread hops, both cores busy.
        let mut first = app_ids;
        let second = first.split_off(first.len().div_ceil(2));
        let read = |app_ids: Vec<String>, query: InsightQuery| {
            let caches = Arc::clone(&self.report_caches);
            self.db.read(move |conn| {
                app_ids
                    .iter()
                    .map(|app_id| insight::insight_data(conn, &caches, account_id, app_id, &query))
                    .collect::<StoreResult<Vec<InsightData>>>()
            })
        };
        let (mut first, second) =
            tokio::try_join!(read(first, query.clone()), read(second, query))?;
        first.extend(second);
        Ok(first)
    }

    async fn last_activity_of(
        &self,
        account_id: i64,
        app_id: &str,
        email_ids: Vec<u32>,
    ) -> StoreResult<FxHashMap<u32, i64>> {
        let app_id = app_id.to_string();
        let caches = Arc::clone(&self.report_caches);
        self.db
            .read_in_place(move |conn| {
                let (app, _) = load_app(conn, account_id, &app_id)?;
                last::last_activity_of(conn, &caches, account_id, (app, &app_id), &email_ids)
            })
            .await
    }

    async fn insight_data_many(
        &self,
        account_id: i64,
        app_id: &str,
        queries: Vec<InsightQuery>,
    ) -> StoreResult<Vec<InsightData>> {
        let app_id = app_id.to_string();
        let caches = Arc::clone(&self.report_caches);
        self.db
            .read(move |conn| {
                queries
                    .iter()
                    .map(|query| insight::insight_data(conn, &caches, account_id, &app_id, query))
                    .collect()
            })
            .await
    }
}
