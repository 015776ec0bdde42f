//! Workforce activity on PostgreSQL: agent ingest with its per-day rollups
//! (`ingest`), clients, computers, groups and the classification set
//! (`directory`), working hours and the activity log (`reports`; under a
//! group filter with `day_keys` and `page_runs`), and the statement builder,
//! scoping and classification they share (`sql`).
//!
//! # Many processes, one database
//!
//! - **Ingest is serialized per account.** Each ingest transaction's first
//!   statement is `pg_advisory_xact_lock(INGEST_LOCK, account)`; the lock is held
//!   until the transaction ends, and PostgreSQL releases it only after the commit
//!   is visible to other sessions.
//! - **Log ids are in commit order per account.** `wf_records.log_id` comes from
//!   an identity sequence (CACHE 1, so ids increase across sessions). An ingest
//!   takes its ids only after it holds the account's lock, that is after the
//!   previous ingest of the account committed and became visible, so every id it
//!   takes is greater than every id of the account that any snapshot can already
//!   see, and a snapshot always sees a prefix (by id) of the account's records.
//!   A log cursor ("last delivered id") therefore never passes a record that
//!   becomes visible later: each committed record is delivered exactly once. A
//!   plain sequence without the lock would not do: ids are taken before commit,
//!   so a smaller id could become visible after a cursor had passed it.
//! - **The watermark is per account** (the account's newest log id when the
//!   first request is made): other accounts' ids are not ordered against this
//!   account's commits. The rest of the cursor is as in the embedded store: rows
//!   up to the watermark are bounded by the first request's dates, later rows
//!   (late records included) are delivered whatever their date, and a page that
//!   finds nothing returns the position it was given.
//! - **Counts are exact.** Under the lock, a batch reads the identities its
//!   computer and session already stored in its raw starts' range (through
//!   the runs, `record_runs`) and copies only the others (`record_copy`:
//!   binary `COPY`); the lock makes this hold when the same batch is retried
//!   concurrently through another process (which waits for the lock and then
//!   sees the first commit). The rollups are added to
//!   (`ms = t.ms + excluded.ms`) only for the records copied, in primary-key
//!   order. The per-day counts of users and computers (`wf_day_counts`) grow
//!   when a batch's span upsert finds its (day, client) or (day, computer)
//!   new; under the lock no other ingest of the account can add the same pair
//!   meanwhile, so each pair is counted once.
//! - **Administration** locks what it reads before writing: a group being
//!   changed or deleted `FOR UPDATE`, the groups a classification set overrides
//!   `FOR SHARE`. Audit events are appended in the same transaction.
//! - **Reads** of a report page run in one read-only REPEATABLE READ
//!   transaction, so its queries agree with each other.
//! - **One cache, of immutable rows.** Activities (id -> kind and key) never
//!   change once inserted, so they are cached per account (in the store's
//!   caches, `super::caches`); all else (the classification set, groups,
//!   names) is read with each page.
//! - **Retention** deletes one account's old records and rollups in one
//!   statement, so reports and the log agree with what remains.

mod day_keys;
mod directory;
mod ingest;
pub(crate) mod members;
mod page_runs;
mod record_copy;
mod record_days;
mod record_runs;
mod reports;
mod sql;

pub(crate) use directory::overridden_groups_exist;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use rollcall_core::time;
use rollcall_core::workforce::{ClassificationSet, DaySplitter, Piece};

use self::ingest::Planned;
use super::snapshot::Snapshot;
use super::PgStore;
use crate::audit::Actor;
use crate::workforce::member_emails::EmailSet;
use crate::workforce::{
    sees_group, sees_member, ActivityBatch, ActivityLogPage, ActivityLogQuery, ClientPatch,
    ComputerPatch, Group, GroupPatch, IngestOutcome, Member, MoveOutcome, Scoping, WfClient,
    WfComputer, WorkforceStore, WorkingHoursPage, WorkingHoursQuery,
};
use crate::{StoreError, StoreResult};

/// The family's advisory-lock class, the first key of the two-int form
/// (ASCII "WORK"); the second is the account id.
const INGEST_LOCK: i32 = 0x574f_524b;

#[async_trait]
impl WorkforceStore for PgStore {
    async fn ingest_activity(
        &self,
        account_id: i64,
        batch: ActivityBatch,
    ) -> StoreResult<IngestOutcome> {
        let mut client = self.client().await?;
        let zone_name = match &batch.computer.time_zone {
            Some(tz) => tz.clone(),
            None => {
                super::admin::load_settings(&client, account_id)
                    .await?
                    .time_zone
            }
        };
        let tz = time::parse_time_zone(&zone_name).map_err(StoreError::invalid)?;
        let mut splitter = DaySplitter::new(tz);
        let pieces: Vec<Vec<Piece>> = batch
            .records
            .iter()
            .map(|r| splitter.split(r.start_ms, r.duration_s * 1000))
            .collect();
        // Worked out before the transaction, which soon waits for the lock.
        let planned = Planned::of(&batch.records, &pieces);
        let tx = client.transaction().await?;
        let outcome = ingest::write_batch(&tx, account_id, &batch, &planned, &zone_name).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn wf_clients(&self, account_id: i64, scoping: Scoping) -> StoreResult<Vec<WfClient>> {
        let client = self.client().await?;
        Ok(directory::list_clients(&client, account_id, None)
            .await?
            .into_iter()
            .filter(|c| sees_member(&scoping.viewable_groups, &c.groups))
            .collect())
    }

    async fn group_employee_emails(
        &self,
        account_id: i64,
        groups: Vec<i64>,
    ) -> StoreResult<EmailSet> {
        let client = self.client().await?;
        directory::employee_emails(&client, &self.caches.member_emails, account_id, groups).await
    }

    async fn wf_client(&self, account_id: i64, scoping: Scoping, id: i64) -> StoreResult<WfClient> {
        let client = self.client().await?;
        directory::list_clients(&client, account_id, Some(id))
            .await?
            .into_iter()
            .find(|c| sees_member(&scoping.viewable_groups, &c.groups))
            .ok_or_else(|| StoreError::NotFound(format!("client {id} does not exist")))
    }

    async fn update_wf_client(
        &self,
        account_id: i64,
        actor: &Actor,
        id: i64,
        patch: ClientPatch,
    ) -> StoreResult<WfClient> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let updated = directory::update_client(&tx, account_id, actor, id, &patch).await?;
        tx.commit().await?;
        Ok(updated)
    }

    async fn wf_computers(
        &self,
        account_id: i64,
        scoping: Scoping,
    ) -> StoreResult<Vec<WfComputer>> {
        let client = self.client().await?;
        Ok(directory::list_computers(&client, account_id, None)
            .await?
            .into_iter()
            .filter(|c| sees_member(&scoping.viewable_groups, &c.groups))
            .collect())
    }

    async fn wf_computer(
        &self,
        account_id: i64,
        scoping: Scoping,
        id: i64,
    ) -> StoreResult<WfComputer> {
        let client = self.client().await?;
        directory::list_computers(&client, account_id, Some(id))
            .await?
            .into_iter()
            .find(|c| sees_member(&scoping.viewable_groups, &c.groups))
            .ok_or_else(|| StoreError::NotFound(format!("computer {id} does not exist")))
    }

    async fn update_wf_computer(
        &self,
        account_id: i64,
        actor: &Actor,
        id: i64,
        patch: ComputerPatch,
    ) -> StoreResult<WfComputer> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let updated = directory::update_computer(&tx, account_id, actor, id, &patch).await?;
        tx.commit().await?;
        Ok(updated)
    }

    async fn groups(&self, account_id: i64, viewable: Option<Vec<i64>>) -> StoreResult<Vec<Group>> {
        let client = self.client().await?;
        Ok(directory::list_groups(&client, account_id)
            .await?
            .into_iter()
            .filter(|g| sees_group(&viewable, g.id))
            .collect())
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
        directory::load_group(&self.client().await?, account_id, id).await
    }

    async fn create_group(
        &self,
        account_id: i64,
        actor: &Actor,
        name: String,
        clients: Vec<i64>,
        computers: Vec<i64>,
    ) -> StoreResult<i64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let id =
            directory::create_group(&tx, account_id, actor, &name, &clients, &computers).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn update_group(
        &self,
        account_id: i64,
        actor: &Actor,
        id: i64,
        patch: GroupPatch,
    ) -> StoreResult<Group> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let group = directory::update_group(&tx, account_id, actor, id, &patch).await?;
        tx.commit().await?;
        Ok(group)
    }

    async fn merge_wf(
        &self,
        account_id: i64,
        actor: &Actor,
        kind: Member,
        from: i64,
        into: i64,
    ) -> StoreResult<MoveOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let outcome = members::merge(&tx, account_id, actor, kind, (from, into)).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn delete_wf(
        &self,
        account_id: i64,
        actor: &Actor,
        kind: Member,
        id: i64,
    ) -> StoreResult<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let records = members::delete(&tx, account_id, actor, kind, id).await?;
        tx.commit().await?;
        Ok(records)
    }

    async fn delete_group(&self, account_id: i64, actor: &Actor, id: i64) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        directory::delete_group(&tx, account_id, actor, id).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn classifications(&self, account_id: i64) -> StoreResult<ClassificationSet> {
        sql::load_classifications(&self.client().await?, account_id).await
    }

    async fn put_classifications(
        &self,
        account_id: i64,
        actor: &Actor,
        set: ClassificationSet,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        directory::put_classifications(&tx, account_id, actor, &set).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn working_hours(
        &self,
        account_id: i64,
        query: WorkingHoursQuery,
    ) -> StoreResult<WorkingHoursPage> {
        let snap = Snapshot::new(self.client().await?);
        reports::working_hours(&snap, &self.caches, &self.wf_day_keys, account_id, &query).await
    }

    async fn activity_log(
        &self,
        account_id: i64,
        query: ActivityLogQuery,
    ) -> StoreResult<ActivityLogPage> {
        let snap = Snapshot::new(self.client().await?);
        reports::activity_log(&snap, &self.caches, account_id, &query).await
    }
}

/// Deletes activity older than each account's `activityRetentionDays`: whole
/// local days before the cut-off day go from the rollups, and raw records whose
/// last day is before it, so the reports and the log agree with what remains.
/// One statement per account, so each account's deletion is atomic (whether or
/// not the caller runs this in a transaction), then one forgetting the runs
/// left empty (`record_runs::prune`). Ingest refuses records older
/// than the retention, so it does not write the rows deleted here.
pub(crate) async fn apply_retention(client: &impl GenericClient, now_ms: i64) -> StoreResult<()> {
    let accounts = client
        .query(
            "SELECT id, time_zone, activity_retention_days FROM accounts ORDER BY id",
            &[],
        )
        .await?;
    let delete = client
        .prepare_cached(
            // The day bounds give the log-id range of every record dated
            // before the cut-off; `end_day` keeps those that reach into
            // retained days. The bounds of days no record can be dated on any
            // more go (`record_days::kept_from`, $4).
            "WITH bounds AS (
                 SELECT min(first_log_id) AS first, max(last_log_id) AS last
                 FROM wf_record_days WHERE account_id = $1 AND day < $2),
             records AS (
                 DELETE FROM wf_records WHERE account_id = $1
                     AND log_id BETWEEN (SELECT first FROM bounds) AND (SELECT last FROM bounds)
                     AND day < $2 AND end_day < $2
                 RETURNING 1),
             days AS (DELETE FROM wf_record_days WHERE account_id = $1 AND day < $4),
             spans AS (DELETE FROM wf_day_span WHERE account_id = $1 AND day < $2),
             time AS (DELETE FROM wf_day_time WHERE account_id = $1 AND day < $2),
             counts AS (DELETE FROM wf_day_counts WHERE account_id = $1 AND day < $2),
             -- A stretch that ends before the cut-off day has only deleted records.
             stretches AS (DELETE FROM wf_idle_stretches WHERE account_id = $1 AND end_ms < $3),
             idle AS (DELETE FROM wf_day_idle WHERE account_id = $1 AND day < $2)
             SELECT count(*) FROM records",
        )
        .await?;
    for row in accounts {
        let account_id: i64 = row.get(0);
        let days: i64 = row.get(2);
        let tz = time::parse_time_zone(row.get(1)).unwrap_or(jiff::tz::TimeZone::UTC);
        let cutoff_ms = now_ms.saturating_sub(days.saturating_mul(86_400_000));
        let cutoff_day = time::day_number(time::local_date(cutoff_ms, &tz));
        let cutoff_start_ms = time::start_of_day_ms(time::date_of_day_number(cutoff_day), &tz);
        let deleted: i64 = client
            .query_one(
                &delete,
                &[
                    &account_id,
                    &cutoff_day,
                    &cutoff_start_ms,
                    &record_days::kept_from(cutoff_day),
                ],
            )
            .await?
            .get(0);
        // Then the runs whose records are all gone: runs an interrupted pass
        // leaves behind only read nothing.
        if deleted > 0 {
            record_runs::prune(client, account_id).await?;
        }
    }
    Ok(())
}
