//! Org-chart snapshots: `open` while pages arrive, then `current` (at most one per
//! account) once complete; the one it replaces turns `previous` and stays
//! restorable, the account keeping its [`ORG_SNAPSHOTS_KEPT`] newest completed ones.
//!
//! A page locks its snapshot row until commit, so it cannot race the page that
//! completes the snapshot; completing takes the account's org advisory lock
//! (transaction-scoped), so two snapshots completing at once on two processes
//! still leave exactly one current (activation takes the same lock). A completed
//! snapshot never changes, so its id and completion time key the cached directory
//! (and the resolvers built on it), also when it is activated again.

use std::collections::HashMap;
use std::sync::Arc;

use deadpool_postgres::GenericClient;
use rollcall_core::usage_report::{Directory, Employee};

use super::super::audit;
use super::super::caches::{OrgKey, PgCaches};
use crate::audit::{Actor, AuditAction};
use crate::usage::{
    merged_custom_fields, OrgChanges, OrgChart, OrgMode, OrgPage, OrgSnapshotInfo, OrgSwitch,
    ORG_SNAPSHOTS_KEPT,
};
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
    mode: OrgMode,
) -> StoreResult<i64> {
    Ok(tx
        .query_one(
            "INSERT INTO usage_org_snapshots (account_id, name, custom_fields, status, created_ms, mode)
             VALUES ($1, $2, $3, 'open', $4, $5) RETURNING id",
            &[&account_id, &name, &custom_fields, &now_ms(), &mode.as_str()],
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
    if has_more {
        return Ok(OrgPage {
            people: count_people(tx, account_id, snapshot).await?,
            current: false,
            changes: None,
        });
    }
    let switch = make_current(tx, account_id, actor, snapshot, true).await?;
    Ok(OrgPage {
        people: switch.people,
        current: true,
        changes: Some(switch.changes),
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
    mode: OrgMode,
) -> StoreResult<OrgSwitch> {
    let id = start(tx, account_id, name, custom_fields, mode).await?;
    insert_people(tx, account_id, id, people).await?;
    make_current(tx, account_id, actor, id, true).await
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

/// People added, removed and changed going from snapshot `from` (none: an empty
/// chart) to `to`, by primary email; a person's record is compared as stored.
async fn changes(
    tx: &impl GenericClient,
    account_id: i64,
    from: Option<i64>,
    to: i64,
) -> StoreResult<OrgChanges> {
    let row = tx
        .query_one(
            "SELECT
               (SELECT count(*) FROM usage_org_people n WHERE n.account_id = $1 AND n.snapshot = $2
                  AND NOT EXISTS (SELECT 1 FROM usage_org_people o
                                  WHERE o.account_id = $1 AND o.snapshot = $3 AND o.email = n.email)),
               (SELECT count(*) FROM usage_org_people o WHERE o.account_id = $1 AND o.snapshot = $3
                  AND NOT EXISTS (SELECT 1 FROM usage_org_people n
                                  WHERE n.account_id = $1 AND n.snapshot = $2 AND n.email = o.email)),
               (SELECT count(*) FROM usage_org_people n JOIN usage_org_people o
                  ON o.account_id = n.account_id AND o.snapshot = $3 AND o.email = n.email
                WHERE n.account_id = $1 AND n.snapshot = $2 AND n.person <> o.person)",
            &[&account_id, &to, &from],
        )
        .await?;
    Ok(OrgChanges {
        added: row.get::<_, i64>(0) as u64,
        removed: row.get::<_, i64>(1) as u64,
        changed: row.get::<_, i64>(2) as u64,
    })
}

/// Makes `snapshot` the current org chart; the current one becomes `previous` and
/// the least recently retired previous ones beyond [`ORG_SNAPSHOTS_KEPT`] are dropped. `completing`:
/// an upload's last step (a merge snapshot takes in everyone of the current chart it
/// does not name, and `UploadedOrgData` is recorded); otherwise an activation
/// (`ActivatedOrgChart`).
async fn make_current(
    tx: &impl GenericClient,
    account_id: i64,
    actor: &Actor,
    snapshot: i64,
    completing: bool,
) -> StoreResult<OrgSwitch> {
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&ORG_LOCK, &(account_id as i32)],
    )
    .await?;
    let previous: Option<i64> = tx
        .query_opt(
            "SELECT id FROM usage_org_snapshots WHERE account_id = $1 AND status = 'current'
             ORDER BY id DESC LIMIT 1",
            &[&account_id],
        )
        .await?
        .map(|r| r.get(0));
    let mut mode = None;
    if completing {
        let row = tx
            .query_one(
                "SELECT mode, custom_fields FROM usage_org_snapshots WHERE account_id = $1 AND id = $2",
                &[&account_id, &snapshot],
            )
            .await?;
        let m: OrgMode = row.get::<_, &str>(0).parse()?;
        if let (OrgMode::Merge, Some(base)) = (m, previous) {
            let base_fields: Vec<String> = tx
                .query_one(
                    "SELECT custom_fields FROM usage_org_snapshots WHERE account_id = $1 AND id = $2",
                    &[&account_id, &base],
                )
                .await?
                .get(0);
            let fields: Vec<String> = row.get(1);
            let merged = merged_custom_fields(&base_fields, &fields)?;
            tx.execute(
                "UPDATE usage_org_snapshots SET custom_fields = $3 WHERE account_id = $1 AND id = $2",
                &[&account_id, &snapshot, &merged],
            )
            .await?;
            tx.execute(
                "INSERT INTO usage_org_people (account_id, snapshot, email, person)
                 SELECT account_id, $2, email, person FROM usage_org_people
                 WHERE account_id = $1 AND snapshot = $3
                 ON CONFLICT (account_id, snapshot, email) DO NOTHING",
                &[&account_id, &snapshot, &base],
            )
            .await?;
        }
        mode = Some(m);
    }
    let changes = changes(tx, account_id, previous, snapshot).await?;
    tx.execute(
        "UPDATE usage_org_snapshots SET status = 'previous', retired_seq =
           (SELECT coalesce(max(retired_seq), 0) + 1 FROM usage_org_snapshots WHERE account_id = $1)
         WHERE account_id = $1 AND status = 'current'",
        &[&account_id],
    )
    .await?;
    tx.execute(
        "UPDATE usage_org_snapshots SET status = 'current',
           completed_ms = CASE WHEN $3 THEN $4 ELSE completed_ms END
         WHERE account_id = $1 AND id = $2",
        &[&account_id, &snapshot, &completing, &now_ms()],
    )
    .await?;
    let dropped: Vec<i64> = tx
        .query(
            "SELECT id FROM usage_org_snapshots WHERE account_id = $1 AND status = 'previous'
             ORDER BY retired_seq DESC, id DESC OFFSET $2",
            &[&account_id, &(ORG_SNAPSHOTS_KEPT - 1)],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !dropped.is_empty() {
        tx.execute(
            "DELETE FROM usage_org_people WHERE account_id = $1 AND snapshot = ANY($2)",
            &[&account_id, &dropped],
        )
        .await?;
        tx.execute(
            "DELETE FROM usage_org_snapshots WHERE account_id = $1 AND id = ANY($2)",
            &[&account_id, &dropped],
        )
        .await?;
    }
    let switch = OrgSwitch {
        id: snapshot,
        people: count_people(tx, account_id, snapshot).await?,
        previous,
        changes,
    };
    let action = if completing {
        AuditAction::UploadedOrgData { switch, mode }
    } else {
        AuditAction::ActivatedOrgChart { switch }
    };
    audit::append(tx, account_id, actor, &action).await?;
    Ok(switch)
}

/// The account's completed snapshots, newest first.
pub(super) async fn list(
    client: &impl GenericClient,
    account_id: i64,
) -> StoreResult<Vec<OrgSnapshotInfo>> {
    client
        .query(
            "SELECT s.id, s.name, s.mode, s.created_ms, coalesce(s.completed_ms, 0),
                    s.status = 'current',
                    (SELECT count(*) FROM usage_org_people p
                     WHERE p.account_id = s.account_id AND p.snapshot = s.id)
             FROM usage_org_snapshots s
             WHERE s.account_id = $1 AND s.status IN ('current', 'previous')
             ORDER BY s.id DESC",
            &[&account_id],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(OrgSnapshotInfo {
                id: r.get(0),
                name: r.get(1),
                mode: r.get::<_, &str>(2).parse()?,
                created_ms: r.get(3),
                completed_ms: r.get(4),
                active: r.get(5),
                people: r.get::<_, i64>(6) as u64,
            })
        })
        .collect()
}

/// Makes a kept snapshot current again (nothing changes when it already is).
pub(super) async fn activate(
    tx: &impl GenericClient,
    account_id: i64,
    actor: &Actor,
    snapshot: i64,
) -> StoreResult<OrgSwitch> {
    // The org lock before the row: a completion pruning this snapshot holds the
    // lock and then deletes the row, so taking them the other way round could deadlock.
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&ORG_LOCK, &(account_id as i32)],
    )
    .await?;
    let status: Option<String> = tx
        .query_opt(
            "SELECT status FROM usage_org_snapshots WHERE account_id = $1 AND id = $2",
            &[&account_id, &snapshot],
        )
        .await?
        .map(|r| r.get(0));
    match status.as_deref() {
        None => Err(not_found(snapshot)),
        Some("open") => Err(StoreError::Conflict(format!(
            "org chart {snapshot} is still being uploaded; finish it with a PUT saying hasMore: false"
        ))),
        Some("current") => Ok(OrgSwitch {
            id: snapshot,
            people: count_people(tx, account_id, snapshot).await?,
            previous: Some(snapshot),
            changes: OrgChanges::default(),
        }),
        Some(_) => make_current(tx, account_id, actor, snapshot, false).await,
    }
}

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

    fn key(&self, account_id: i64) -> OrgKey {
        (account_id, self.id, self.completed_ms)
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

/// The cached people of `head`, if this store has read them.
pub(super) fn cached_directory(
    caches: &PgCaches,
    account_id: i64,
    head: &OrgHead,
) -> Option<Arc<Directory>> {
    caches.directories.get(&head.key(account_id))
}

/// The people of `head`, read (in the caller's snapshot) and cached.
pub(super) async fn directory(
    client: &impl GenericClient,
    caches: &PgCaches,
    account_id: i64,
    head: &OrgHead,
) -> StoreResult<Arc<Directory>> {
    let d = Arc::new(load_directory(client, account_id, head.id).await?);
    caches.directories.put(head.key(account_id), Arc::clone(&d));
    Ok(d)
}

/// The statement [`directory`] runs, to prepare it ahead of a flight.
pub(super) const DIRECTORY_SQL: &str =
    "SELECT person FROM usage_org_people WHERE account_id = $1 AND snapshot = $2 ORDER BY email";

/// The account's current org chart.
pub(super) async fn load(
    client: &impl GenericClient,
    caches: &PgCaches,
    account_id: i64,
) -> StoreResult<Option<OrgChart>> {
    let Some(head) = head(client, account_id).await? else {
        return Ok(None);
    };
    let directory = match cached_directory(caches, account_id, &head) {
        Some(d) => d,
        None => directory(client, caches, account_id, &head).await?,
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
