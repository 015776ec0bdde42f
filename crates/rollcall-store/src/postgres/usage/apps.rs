//! Connected apps: definitions, status and the interned event names.
//!
//! Writes to an app (definition, status, deletion) lock its `usage_apps` row
//! exclusively (`FOR NO KEY UPDATE`) until commit; pushes of its data lock it in
//! share mode (`FOR SHARE`), so pushes to one app run in parallel (they order
//! their own row locks, see `push`) while a push never lands in an app being
//! deleted, never sees a definition half-changed, and a disconnect waits for the
//! pushes under way.

use std::collections::HashSet;

use deadpool_postgres::GenericClient;
use rollcall_core::usage::AppDefinition;
use tokio_postgres::Row;

use super::super::audit;
use crate::audit::{Actor, AppAction};
use crate::usage::AppRecord;
use crate::{now_ms, StoreError, StoreResult};

pub(super) fn app_not_found(app_id: &str) -> StoreError {
    StoreError::NotFound(format!("app {app_id} does not exist"))
}

pub(super) fn disconnected(app_id: &str) -> StoreError {
    StoreError::invalid(format!(
        "app {app_id} is disconnected and accepts no more data"
    ))
}

/// An app of the account as stored.
pub(super) struct AppRow {
    /// The internal id the other usage tables refer to.
    pub id: i64,
    /// Bumped by every change of the provisioned users.
    pub prov_version: i64,
    pub rec: AppRecord,
}

/// Whether [`load_app`] locks the row until the transaction ends.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Lock {
    No,
    /// `FOR NO KEY UPDATE`: serialises the writers of one app's definition or
    /// status, and excludes its pushes.
    Write,
    /// `FOR SHARE`: a push; excludes the writers but not other pushes. Nothing in
    /// a push updates the app row, so the lock is never upgraded.
    Share,
}

/// The app `app_id` of the account (`NotFound` for an unknown app or another
/// account's).
pub(super) async fn load_app(
    client: &impl GenericClient,
    account_id: i64,
    app_id: &str,
    lock: Lock,
) -> StoreResult<AppRow> {
    let sql = match lock {
        Lock::No => {
            "SELECT id, prov_version, status, definition, created_ms, updated_ms FROM usage_apps
             WHERE account_id = $1 AND app_id = $2"
        }
        Lock::Write => {
            "SELECT id, prov_version, status, definition, created_ms, updated_ms FROM usage_apps
             WHERE account_id = $1 AND app_id = $2 FOR NO KEY UPDATE"
        }
        Lock::Share => {
            "SELECT id, prov_version, status, definition, created_ms, updated_ms FROM usage_apps
             WHERE account_id = $1 AND app_id = $2 FOR SHARE"
        }
    };
    let stmt = client.prepare_cached(sql).await?;
    let row = client
        .query_opt(&stmt, &[&account_id, &app_id])
        .await?
        .ok_or_else(|| app_not_found(app_id))?;
    Ok(AppRow {
        id: row.get(0),
        prov_version: row.get(1),
        rec: AppRecord {
            app_id: app_id.to_string(),
            status: row.get(2),
            definition: serde_json::from_str(row.get(3))?,
            created_ms: row.get(4),
            updated_ms: row.get(5),
        },
    })
}

fn app_record(r: &Row) -> StoreResult<AppRecord> {
    Ok(AppRecord {
        app_id: r.get(0),
        status: r.get(1),
        definition: serde_json::from_str(r.get(2))?,
        created_ms: r.get(3),
        updated_ms: r.get(4),
    })
}

pub(super) async fn list_apps(
    client: &impl GenericClient,
    account_id: i64,
) -> StoreResult<Vec<AppRecord>> {
    let stmt = client
        .prepare_cached(
            "SELECT app_id, status, definition, created_ms, updated_ms FROM usage_apps
             WHERE account_id = $1 ORDER BY created_ms, id",
        )
        .await?;
    client
        .query(&stmt, &[&account_id])
        .await?
        .iter()
        .map(app_record)
        .collect()
}

/// Interns the definition's event names (new ones get the app's next ids, in
/// definition order); names no longer defined keep their id and data but refuse
/// pushes. The caller holds the app's row lock.
pub(super) async fn sync_event_names(
    tx: &impl GenericClient,
    account_id: i64,
    app: i64,
    def: &AppDefinition,
) -> StoreResult<()> {
    let mut seen = HashSet::new();
    let defined: Vec<&str> = def
        .events
        .iter()
        .map(|e| e.event_name.as_str())
        .filter(|n| seen.insert(*n))
        .collect();
    let existing = tx
        .query(
            "UPDATE usage_event_names SET defined = (name = ANY($3))
             WHERE account_id = $1 AND app = $2 RETURNING name, event_id",
            &[&account_id, &app, &defined],
        )
        .await?;
    let next = existing
        .iter()
        .map(|r| r.get::<_, i32>(1))
        .max()
        .unwrap_or(0)
        + 1;
    let known: HashSet<&str> = existing.iter().map(|r| r.get::<_, &str>(0)).collect();
    let new: Vec<&str> = defined.into_iter().filter(|n| !known.contains(n)).collect();
    if new.is_empty() {
        return Ok(());
    }
    let ids: Vec<i32> = (next..).take(new.len()).collect();
    tx.execute(
        "INSERT INTO usage_event_names (account_id, app, event_id, name, defined)
         SELECT $1, $2, i, n, true FROM unnest($3::int[], $4::text[]) AS t(i, n)",
        &[&account_id, &app, &ids, &new],
    )
    .await?;
    Ok(())
}

async fn audit_app(
    tx: &impl GenericClient,
    account_id: i64,
    actor: &Actor,
    action: AppAction,
    rec: &AppRecord,
) -> StoreResult<()> {
    audit::append(tx, account_id, actor, &rec.audit_action(action)).await
}

/// Defines an app; records `AppConnected`.
pub(super) async fn create_app(
    tx: &impl GenericClient,
    account_id: i64,
    actor: &Actor,
    definition: AppDefinition,
) -> StoreResult<AppRecord> {
    let app_id = rollcall_core::secret::random_hex(8);
    let now = now_ms();
    let app: i64 = tx
        .query_one(
            "INSERT INTO usage_apps (account_id, app_id, name, status, definition, created_ms, updated_ms)
             VALUES ($1, $2, $3, 'connected', $4, $5, $5) RETURNING id",
            &[
                &account_id,
                &app_id,
                &definition.name,
                &serde_json::to_string(&definition)?,
                &now,
            ],
        )
        .await?
        .get(0);
    sync_event_names(tx, account_id, app, &definition).await?;
    let rec = AppRecord {
        app_id,
        status: "connected".into(),
        definition,
        created_ms: now,
        updated_ms: now,
    };
    audit_app(tx, account_id, actor, AppAction::Connected, &rec).await?;
    Ok(rec)
}

/// Replaces the definition (pushed data is kept); records `AppUpdated`.
pub(super) async fn update_app(
    tx: &impl GenericClient,
    account_id: i64,
    actor: &Actor,
    app_id: &str,
    definition: AppDefinition,
) -> StoreResult<AppRecord> {
    let AppRow { id, mut rec, .. } = load_app(tx, account_id, app_id, Lock::Write).await?;
    let now = now_ms();
    tx.execute(
        "UPDATE usage_apps SET name = $3, definition = $4, updated_ms = $5
         WHERE account_id = $1 AND id = $2",
        &[
            &account_id,
            &id,
            &definition.name,
            &serde_json::to_string(&definition)?,
            &now,
        ],
    )
    .await?;
    sync_event_names(tx, account_id, id, &definition).await?;
    rec.definition = definition;
    rec.updated_ms = now;
    audit_app(tx, account_id, actor, AppAction::Updated, &rec).await?;
    Ok(rec)
}

/// Stops accepting data; records `AppDisconnected`.
pub(super) async fn disconnect_app(
    tx: &impl GenericClient,
    account_id: i64,
    actor: &Actor,
    app_id: &str,
) -> StoreResult<AppRecord> {
    let AppRow { id, mut rec, .. } = load_app(tx, account_id, app_id, Lock::Write).await?;
    let now = now_ms();
    tx.execute(
        "UPDATE usage_apps SET status = 'disconnected', updated_ms = $3
         WHERE account_id = $1 AND id = $2",
        &[&account_id, &id, &now],
    )
    .await?;
    rec.status = "disconnected".into();
    rec.updated_ms = now;
    audit_app(tx, account_id, actor, AppAction::Disconnected, &rec).await?;
    Ok(rec)
}

/// The tables holding an app's usage data, by account and internal app id
/// (`usage_events` is keyed by the app id alone, see migration 0005).
const APP_DATA_TABLES: [&str; 4] = [
    "usage_day_bits",
    "usage_last_blocks",
    "usage_provisioned",
    "usage_event_names",
];

/// Removes the app, its usage data and its money records; records `AppRemoved`.
pub(super) async fn delete_app(
    tx: &impl GenericClient,
    account_id: i64,
    actor: &Actor,
    app_id: &str,
) -> StoreResult<()> {
    let AppRow { id, rec, .. } = load_app(tx, account_id, app_id, Lock::Write).await?;
    // Keyed by the app's internal id alone: the raw events and the tracking API's state.
    for table in [
        "usage_events",
        "seg_messages",
        "seg_identities",
        "seg_links",
        "seg_pending",
    ] {
        tx.execute(&format!("DELETE FROM {table} WHERE app = $1"), &[&id])
            .await?;
    }
    for table in APP_DATA_TABLES {
        tx.execute(
            &format!("DELETE FROM {table} WHERE account_id = $1 AND app = $2"),
            &[&account_id, &id],
        )
        .await?;
    }
    tx.execute(
        "DELETE FROM usage_apps WHERE account_id = $1 AND id = $2",
        &[&account_id, &id],
    )
    .await?;
    super::super::money::delete_app_money(tx, account_id, app_id).await?;
    audit_app(tx, account_id, actor, AppAction::Removed, &rec).await
}
