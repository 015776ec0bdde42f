//! Merging and deleting computers and clients on PostgreSQL (issue 19 #7), as
//! the embedded store does (see its `workforce::directory`): a merge deletes
//! the merged one's activity and stores its records again under the survivor
//! through ingest (`ingest::write_records`), so rollups, per-day counts and
//! idle stretches stay exact; the merged row stays as an alias (`merged_into`).
//! Both take the account's ingest lock first, so no ingest of the account
//! interleaves and log ids stay in commit order.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use deadpool_postgres::{GenericClient, Transaction};
use rollcall_core::time;
use rollcall_core::workforce::{DaySplitter, Piece};

use super::super::admin::load_settings;
use super::super::audit;
use super::ingest::{lock_key, write_records, Planned};
use super::INGEST_LOCK;
use crate::audit::{Actor, AuditAction};
use crate::workforce::{member_side as side, Member, MemberSide as Side, MoveOutcome, NewRecord};
use crate::{StoreError, StoreResult};

pub(crate) async fn lock(tx: &impl GenericClient, account_id: i64) -> StoreResult<()> {
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&INGEST_LOCK, &lock_key(account_id)],
    )
    .await?;
    Ok(())
}

/// The display name of a live (not merged) member, locked; or 404.
async fn live_name(
    tx: &impl GenericClient,
    account_id: i64,
    kind: Member,
    id: i64,
) -> StoreResult<String> {
    let s = side(kind);
    let row = tx
        .query_opt(
            &format!(
                "SELECT {domain}, name FROM {table}
                 WHERE account_id = $1 AND id = $2 AND merged_into IS NULL FOR UPDATE",
                domain = s.domain,
                table = s.table
            ),
            &[&account_id, &id],
        )
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("{} {id} does not exist", kind.noun())))?;
    let (domain, name): (String, String) = (row.get(0), row.get(1));
    Ok(match kind {
        Member::Client => format!("{domain}\\{name}"),
        Member::Computer if domain.is_empty() => name,
        Member::Computer => format!("{name}.{domain}"),
    })
}

/// Deletes every record, rollup row and stretch of member `id`, and corrects
/// the per-day counts of the days it had; returns how many records went.
async fn delete_activity(
    tx: &impl GenericClient,
    account_id: i64,
    s: &Side,
    id: i64,
) -> StoreResult<u64> {
    let days: Vec<i32> = tx
        .query(
            &format!(
                "SELECT DISTINCT day FROM wf_day_span WHERE account_id = $1 AND {} = $2",
                s.col
            ),
            &[&account_id, &id],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect::<BTreeSet<i32>>()
        .into_iter()
        .collect();
    let records = tx
        .execute(
            &format!(
                "DELETE FROM wf_records WHERE account_id = $1 AND {} = $2",
                s.col
            ),
            &[&account_id, &id],
        )
        .await?;
    for table in [
        "wf_day_span",
        "wf_day_time",
        "wf_day_idle",
        "wf_idle_stretches",
        "wf_record_runs",
    ] {
        tx.execute(
            &format!(
                "DELETE FROM {table} WHERE account_id = $1 AND {} = $2",
                s.col
            ),
            &[&account_id, &id],
        )
        .await?;
    }
    if !days.is_empty() {
        tx.execute(
            "DELETE FROM wf_day_counts WHERE account_id = $1 AND day = ANY($2::int[])",
            &[&account_id, &days],
        )
        .await?;
        tx.execute(
            "INSERT INTO wf_day_counts (account_id, day, users, computers)
             SELECT $1, day, count(DISTINCT client_id), count(DISTINCT computer_id)
             FROM wf_day_span WHERE account_id = $1 AND day = ANY($2::int[])
             GROUP BY day",
            &[&account_id, &days],
        )
        .await?;
    }
    Ok(records)
}

/// The zone records of `computer_id` are split in: its own, else the account's.
async fn zone_of(
    tx: &impl GenericClient,
    account_id: i64,
    computer_id: i64,
) -> StoreResult<String> {
    let own: Option<String> = tx
        .query_opt(
            "SELECT time_zone FROM wf_computers WHERE account_id = $1 AND id = $2",
            &[&account_id, &computer_id],
        )
        .await?
        .and_then(|r| r.get(0));
    match own {
        Some(zone) => Ok(zone),
        None => Ok(load_settings(tx, account_id).await?.time_zone),
    }
}

/// Merges member `from` into `into` inside `tx`.
pub(super) async fn merge(
    tx: &Transaction<'_>,
    account_id: i64,
    actor: &Actor,
    kind: Member,
    (from, into): (i64, i64),
) -> StoreResult<MoveOutcome> {
    if from == into {
        return Err(StoreError::invalid(format!(
            "a {} cannot be merged into itself",
            kind.noun()
        )));
    }
    lock(tx, account_id).await?;
    live_name(tx, account_id, kind, from).await?;
    live_name(tx, account_id, kind, into).await?;
    let s = side(kind);
    let rows = tx
        .query(
            &format!(
                "SELECT r.{other}, r.session, r.start_ms, r.raw_start_ms, r.duration_s,
                        r.executable, r.description, r.url, w.key, r.idle, r.idle_lead_ms
                 FROM wf_records r LEFT JOIN wf_activities w ON w.id = r.website_id
                 WHERE r.account_id = $1 AND r.{col} = $2 ORDER BY r.log_id",
                other = s.other,
                col = s.col
            ),
            &[&account_id, &from],
        )
        .await?;
    let mut groups: BTreeMap<(i64, i64), Vec<NewRecord>> = BTreeMap::new();
    for r in &rows {
        groups
            .entry((r.get(0), r.get(1)))
            .or_default()
            .push(NewRecord {
                start_ms: r.get(2),
                raw_start_ms: r.get(3),
                duration_s: r.get(4),
                executable: r.get(5),
                description: r.get(6),
                url: r.get(7),
                website: r.get(8),
                idle: r.get(9),
                idle_offset_s: r.get::<_, Option<i64>>(10).unwrap_or(0) / 1000,
                redacted_by: 0,
            });
    }
    delete_activity(tx, account_id, &s, from).await?;
    let mut outcome = MoveOutcome::default();
    let mut zones: HashMap<i64, String> = HashMap::new();
    for ((other, session), records) in groups {
        let who = match kind {
            Member::Computer => (into, other),
            Member::Client => (other, into),
        };
        let zone = match zones.get(&who.0) {
            Some(z) => z.clone(),
            None => {
                let z = zone_of(tx, account_id, who.0).await?;
                zones.insert(who.0, z.clone());
                z
            }
        };
        let tz = time::parse_time_zone(&zone).map_err(StoreError::Internal)?;
        let mut splitter = DaySplitter::new(tz);
        let pieces: Vec<Vec<Piece>> = records
            .iter()
            .map(|r| splitter.split(r.start_ms, r.duration_s * 1000))
            .collect();
        let planned = Planned::of(&records, &pieces);
        let ids = planned.activity_ids(tx, account_id).await?;
        // The computer or client moved into may hold the same records.
        let written =
            write_records(tx, account_id, (who, session), (&planned, &ids), &zone).await?;
        outcome.records += written.accepted;
        outcome.duplicates += written.duplicates;
    }
    tx.execute(
        "INSERT INTO wf_group_members (account_id, group_id, kind, member_id)
         SELECT account_id, group_id, kind, $4 FROM wf_group_members
         WHERE account_id = $1 AND kind = $2 AND member_id = $3
         ON CONFLICT DO NOTHING",
        &[&account_id, &s.kind, &from, &into],
    )
    .await?;
    tx.execute(
        "DELETE FROM wf_group_members WHERE account_id = $1 AND kind = $2 AND member_id = $3",
        &[&account_id, &s.kind, &from],
    )
    .await?;
    let keep_email = if kind == Member::Client {
        ", employee_email = coalesce(t.employee_email, m.employee_email)"
    } else {
        ""
    };
    tx.execute(
        &format!(
            "UPDATE {table} AS t SET alias = coalesce(t.alias, m.alias) {keep_email},
                 first_log_ms = LEAST(t.first_log_ms, m.first_log_ms),
                 last_log_ms = GREATEST(t.last_log_ms, m.last_log_ms)
             FROM {table} AS m
             WHERE t.account_id = $1 AND t.id = $3 AND m.id = $2",
            table = s.table
        ),
        &[&account_id, &from, &into],
    )
    .await?;
    tx.execute(
        &format!(
            "UPDATE {} SET merged_into = $3
             WHERE account_id = $1 AND (id = $2 OR merged_into = $2)",
            s.table
        ),
        &[&account_id, &from, &into],
    )
    .await?;
    audit::append(
        tx,
        account_id,
        actor,
        &AuditAction::MemberMerged {
            kind,
            from,
            into,
            outcome,
        },
    )
    .await?;
    Ok(outcome)
}

/// Deletes member `id` with its activity and the identities merged into it,
/// inside `tx`.
/// Removes member `id`, its activity, its group memberships and the
/// identities merged into it, unaudited (the caller holds the account's
/// workforce lock); returns how many records went.
pub(crate) async fn remove_member(
    tx: &impl GenericClient,
    account_id: i64,
    kind: Member,
    id: i64,
) -> StoreResult<u64> {
    let s = side(kind);
    let records = delete_activity(tx, account_id, &s, id).await?;
    tx.execute(
        "DELETE FROM wf_group_members WHERE account_id = $1 AND kind = $2 AND member_id = $3",
        &[&account_id, &s.kind, &id],
    )
    .await?;
    tx.execute(
        &format!(
            "DELETE FROM {} WHERE account_id = $1 AND (id = $2 OR merged_into = $2)",
            s.table
        ),
        &[&account_id, &id],
    )
    .await?;
    Ok(records)
}

pub(super) async fn delete(
    tx: &impl GenericClient,
    account_id: i64,
    actor: &Actor,
    kind: Member,
    id: i64,
) -> StoreResult<u64> {
    lock(tx, account_id).await?;
    let name = live_name(tx, account_id, kind, id).await?;
    let records = remove_member(tx, account_id, kind, id).await?;
    audit::append(
        tx,
        account_id,
        actor,
        &AuditAction::MemberDeleted {
            kind,
            id,
            name: name.clone(),
            records,
        },
    )
    .await?;
    Ok(records)
}
