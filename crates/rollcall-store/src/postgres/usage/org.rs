//! Org-chart snapshots: `open` while pages arrive, then `current` (at most one per
//! account, the previous one deleted) once complete.
//!
//! A page locks its snapshot row until commit, so it cannot race the page that
//! completes the snapshot; completing takes the account's org advisory lock
//! (transaction-scoped), so two snapshots completing at once on two processes
//! still leave exactly one current. A current snapshot never changes, so its id
//! and completion time key the cached directory (and the resolvers built on it).

use std::collections::HashMap;
use std::sync::Arc;

use deadpool_postgres::GenericClient;
use rollcall_core::usage_report::{Directory, Employee};

use super::super::audit;
use super::cache::Cache;
use crate::audit::{Actor, AuditAction};
use crate::usage::{OrgChart, OrgPage};
use crate::{now_ms, StoreError, StoreResult};

/// The class of the account-wide org-chart advisory lock (two-key form; `"USOR"`).
const ORG_LOCK: i32 = 0x5553_4f52;

fn not_found(snapshot: i64) -> StoreError {
    StoreError::NotFound(format!("org chart {snapshot} does not exist"))
}

fn complete(snapshot: i64) -> StoreError {
    StoreError::Conflict(format!(
        "org chart {snapshot} is already complete; start a new one with POST /services/push/v1/customer/org-chart"
    ))
}

/// Starts a snapshot; returns its id.
pub(super) async fn start(
    tx: &impl GenericClient,
    account_id: i64,
    name: &str,
    custom_fields: &[String],
) -> StoreResult<i64> {
    Ok(tx
        .query_one(
            "INSERT INTO usage_org_snapshots (account_id, name, custom_fields, status, created_ms)
             VALUES ($1, $2, $3, 'open', $4) RETURNING id",
            &[&account_id, &name, &custom_fields, &now_ms()],
        )
        .await?
        .get(0))
}

/// Adds a page of people to an open snapshot; the last page makes it current.
pub(super) async fn add_people(
    tx: &impl GenericClient,
    account_id: i64,
    actor: &Actor,
    snapshot: i64,
    people: &[Employee],
    has_more: bool,
) -> StoreResult<OrgPage> {
    let status: Option<String> = tx
        .query_opt(
            "SELECT status FROM usage_org_snapshots WHERE account_id = $1 AND id = $2 FOR UPDATE",
            &[&account_id, &snapshot],
        )
        .await?
        .map(|r| r.get(0));
    match status.as_deref() {
        None => return Err(not_found(snapshot)),
        Some("open") => {}
        Some(_) => return Err(complete(snapshot)),
    }
    insert_people(tx, account_id, snapshot, people).await?;
    let people = if has_more {
        count_people(tx, account_id, snapshot).await?
    } else {
        make_current(tx, account_id, actor, snapshot).await?
    };
    Ok(OrgPage {
        people,
        current: !has_more,
    })
}

/// Replaces the org chart in one step; returns the new snapshot's id.
pub(super) async fn replace(
    tx: &impl GenericClient,
    account_id: i64,
    actor: &Actor,
    name: &str,
    custom_fields: &[String],
    people: &[Employee],
) -> StoreResult<i64> {
    let id = start(tx, account_id, name, custom_fields).await?;
    insert_people(tx, account_id, id, people).await?;
    make_current(tx, account_id, actor, id).await?;
    Ok(id)
}

/// The custom fields an open snapshot was started with.
pub(super) async fn open_fields(
    client: &impl GenericClient,
    account_id: i64,
    snapshot: i64,
) -> StoreResult<Vec<String>> {
    let row = client
        .query_opt(
            "SELECT custom_fields, status FROM usage_org_snapshots WHERE account_id = $1 AND id = $2",
            &[&account_id, &snapshot],
        )
        .await?
        .ok_or_else(|| not_found(snapshot))?;
    if row.get::<_, &str>(1) != "open" {
        return Err(complete(snapshot));
    }
    Ok(row.get(0))
}

/// Inserts people, replacing any of the same email in the snapshot (within `people`
/// a later duplicate wins).
async fn insert_people(
    tx: &impl GenericClient,
    account_id: i64,
    snapshot: i64,
    people: &[Employee],
) -> StoreResult<()> {
    let mut by_email: HashMap<&str, String> = HashMap::with_capacity(people.len());
    for p in people {
        by_email.insert(p.email.as_str(), serde_json::to_string(p)?);
    }
    if by_email.is_empty() {
        return Ok(());
    }
    let (emails, persons): (Vec<&str>, Vec<String>) = by_email.into_iter().unzip();
    tx.execute(
        "INSERT INTO usage_org_people (account_id, snapshot, email, person)
         SELECT $1, $2, e, p FROM unnest($3::text[], $4::text[]) AS t(e, p)
         ON CONFLICT (account_id, snapshot, email) DO UPDATE SET person = excluded.person",
        &[&account_id, &snapshot, &emails, &persons],
    )
    .await?;
    Ok(())
}

async fn count_people(tx: &impl GenericClient, account_id: i64, snapshot: i64) -> StoreResult<u64> {
    let n: i64 = tx
        .query_one(
            "SELECT count(*) FROM usage_org_people WHERE account_id = $1 AND snapshot = $2",
            &[&account_id, &snapshot],
        )
        .await?
        .get(0);
    Ok(n as u64)
}

/// Makes `snapshot` the current org chart, dropping the previous one; records
/// `UploadedOrgData`; returns its number of people.
async fn make_current(
    tx: &impl GenericClient,
    account_id: i64,
    actor: &Actor,
    snapshot: i64,
) -> StoreResult<u64> {
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&ORG_LOCK, &(account_id as i32)],
    )
    .await?;
    tx.execute(
        "DELETE FROM usage_org_people WHERE account_id = $1 AND snapshot IN
           (SELECT id FROM usage_org_snapshots WHERE account_id = $1 AND status = 'current')",
        &[&account_id],
    )
    .await?;
    tx.execute(
        "DELETE FROM usage_org_snapshots WHERE account_id = $1 AND status = 'current'",
        &[&account_id],
    )
    .await?;
    tx.execute(
        "UPDATE usage_org_snapshots SET status = 'current', completed_ms = $3
         WHERE account_id = $1 AND id = $2",
        &[&account_id, &snapshot, &now_ms()],
    )
    .await?;
    let people = count_people(tx, account_id, snapshot).await?;
    audit::append(
        tx,
        account_id,
        actor,
        &AuditAction::UploadedOrgData {
            org_chart_id: snapshot,
            users: people as usize,
        },
    )
    .await?;
    Ok(people)
}

/// Completed org charts per (database, account, snapshot id, completion time).
type OrgKey = (u64, i64, i64, i64);
static DIRECTORIES: Cache<OrgKey, Arc<Directory>> = Cache::new(64);

/// The current snapshot's row: what identifies its (immutable) content.
pub(super) struct OrgHead {
    id: i64,
    name: String,
    custom_fields: Vec<String>,
    completed_ms: i64,
}

impl OrgHead {
    pub(super) fn id(&self) -> i64 {
        self.id
    }

    pub(super) fn completed_ms(&self) -> i64 {
        self.completed_ms
    }

    fn key(&self, db: u64, account_id: i64) -> OrgKey {
        (db, account_id, self.id, self.completed_ms)
    }

    /// The chart, with its people.
    pub(super) fn chart(self, directory: Arc<Directory>) -> OrgChart {
        OrgChart {
            id: self.id,
            name: self.name,
            custom_fields: self.custom_fields,
            directory,
            completed_ms: self.completed_ms,
        }
    }
}

/// The statement [`head`] runs, to prepare it ahead of a flight.
pub(super) const HEAD_SQL: &str =
    "SELECT id, name, custom_fields, completed_ms FROM usage_org_snapshots
     WHERE account_id = $1 AND status = 'current' ORDER BY id DESC LIMIT 1";

/// The account's current snapshot's row, if any.
pub(super) async fn head(
    client: &impl GenericClient,
    account_id: i64,
) -> StoreResult<Option<OrgHead>> {
    let stmt = client.prepare_cached(HEAD_SQL).await?;
    Ok(client
        .query_opt(&stmt, &[&account_id])
        .await?
        .map(|r| OrgHead {
            id: r.get(0),
            name: r.get(1),
            custom_fields: r.get(2),
            completed_ms: r.get::<_, Option<i64>>(3).unwrap_or(0),
        }))
}

/// The cached people of `head`, if this process has read them.
pub(super) fn cached_directory(db: u64, account_id: i64, head: &OrgHead) -> Option<Arc<Directory>> {
    DIRECTORIES.get(&head.key(db, account_id))
}

/// The people of `head`, read (in the caller's snapshot) and cached.
pub(super) async fn directory(
    client: &impl GenericClient,
    db: u64,
    account_id: i64,
    head: &OrgHead,
) -> StoreResult<Arc<Directory>> {
    let d = Arc::new(load_directory(client, account_id, head.id).await?);
    DIRECTORIES.put(head.key(db, account_id), Arc::clone(&d));
    Ok(d)
}

/// The statement [`directory`] runs, to prepare it ahead of a flight.
pub(super) const DIRECTORY_SQL: &str =
    "SELECT person FROM usage_org_people WHERE account_id = $1 AND snapshot = $2 ORDER BY email";

/// The account's current org chart.
pub(super) async fn load(
    client: &impl GenericClient,
    db: u64,
    account_id: i64,
) -> StoreResult<Option<OrgChart>> {
    let Some(head) = head(client, account_id).await? else {
        return Ok(None);
    };
    let directory = match cached_directory(db, account_id, &head) {
        Some(d) => d,
        None => directory(client, db, account_id, &head).await?,
    };
    Ok(Some(head.chart(directory)))
}

/// The people of a snapshot in email (byte) order, as the embedded store has them.
async fn load_directory(
    client: &impl GenericClient,
    account_id: i64,
    snapshot: i64,
) -> StoreResult<Directory> {
    let stmt = client.prepare_cached(DIRECTORY_SQL).await?;
    let people = client
        .query(&stmt, &[&account_id, &snapshot])
        .await?
        .iter()
        .map(|r| serde_json::from_str::<Employee>(r.get(0)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Directory::new(people))
}
