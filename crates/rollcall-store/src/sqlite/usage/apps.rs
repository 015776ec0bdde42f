//! Custom apps: their definitions (`usage_apps`) and interned event names
//! (`usage_event_names`); connecting, updating, disconnecting and deleting one
//! (with all its data), each audited.

use rollcall_core::usage::AppDefinition;
use rusqlite::{params, Connection, OptionalExtension};

use crate::audit::{Actor, AppAction};
use crate::sqlite::audit::append;
use crate::usage::AppRecord;
use crate::{now_ms, StoreError, StoreResult};

fn app_not_found(app_id: &str) -> StoreError {
    StoreError::NotFound(format!("app {app_id} does not exist"))
}

/// (internal id, record) of an app of the account.
pub(in crate::sqlite) fn load_app(
    conn: &Connection,
    account_id: i64,
    app_id: &str,
) -> StoreResult<(i64, AppRecord)> {
    let row = conn
        .prepare_cached(
            "SELECT id, status, definition, created_ms, updated_ms FROM usage_apps
             WHERE account_id = ?1 AND app_id = ?2",
        )?
        .query_row(params![account_id, app_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .optional()?
        .ok_or_else(|| app_not_found(app_id))?;
    let definition: AppDefinition = serde_json::from_str(&row.2)?;
    Ok((
        row.0,
        AppRecord {
            app_id: app_id.to_string(),
            status: row.1,
            definition,
            created_ms: row.3,
            updated_ms: row.4,
        },
    ))
}

/// Interns the definition's event names; names no longer defined keep their id and
/// data but refuse pushes.
pub(in crate::sqlite) fn sync_event_names(
    conn: &Connection,
    account_id: i64,
    app: i64,
    def: &AppDefinition,
) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE usage_event_names SET defined = 0 WHERE account_id = ?1 AND app = ?2",
    )?
    .execute(params![account_id, app])?;
    let mut next: i64 = conn
        .prepare_cached(
            "SELECT coalesce(max(event_id), 0) + 1 FROM usage_event_names
             WHERE account_id = ?1 AND app = ?2",
        )?
        .query_row(params![account_id, app], |r| r.get(0))?;
    for e in &def.events {
        let updated = conn
            .prepare_cached(
                "UPDATE usage_event_names SET defined = 1
                 WHERE account_id = ?1 AND app = ?2 AND name = ?3",
            )?
            .execute(params![account_id, app, e.event_name])?;
        if updated == 0 {
            conn.prepare_cached(
                "INSERT INTO usage_event_names (account_id, app, event_id, name, defined)
                 VALUES (?1, ?2, ?3, ?4, 1)",
            )?
            .execute(params![account_id, app, next, e.event_name])?;
            next += 1;
        }
    }
    Ok(())
}

fn audit_app(
    conn: &Connection,
    account_id: i64,
    actor: &Actor,
    action: AppAction,
    rec: &AppRecord,
) -> StoreResult<()> {
    append(conn, account_id, actor, &rec.audit_action(action))
}

/// Connects a new app (`text` is `definition` encoded), audited.
pub(super) fn create(
    conn: &Connection,
    account_id: i64,
    actor: &Actor,
    definition: AppDefinition,
    text: &str,
) -> StoreResult<AppRecord> {
    let app_id = rollcall_core::secret::random_hex(8);
    let now = now_ms();
    conn.prepare_cached(
        "INSERT INTO usage_apps (account_id, app_id, name, status, definition, created_ms, updated_ms)
         VALUES (?1, ?2, ?3, 'connected', ?4, ?5, ?5)",
    )?
    .execute(params![account_id, app_id, definition.name, text, now])?;
    let app = conn.last_insert_rowid();
    sync_event_names(conn, account_id, app, &definition)?;
    let rec = AppRecord {
        app_id,
        status: "connected".into(),
        definition,
        created_ms: now,
        updated_ms: now,
    };
    audit_app(conn, account_id, actor, AppAction::Connected, &rec)?;
    Ok(rec)
}

/// The account's apps, oldest first.
pub(super) fn list(conn: &Connection, account_id: i64) -> StoreResult<Vec<AppRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT app_id, status, definition, created_ms, updated_ms FROM usage_apps
         WHERE account_id = ?1 ORDER BY created_ms, id",
    )?;
    let rows: Vec<(String, String, String, i64, i64)> = stmt
        .query_map([account_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|(app_id, status, def, created_ms, updated_ms)| {
            Ok(AppRecord {
                app_id,
                status,
                definition: serde_json::from_str(&def)?,
                created_ms,
                updated_ms,
            })
        })
        .collect()
}

/// Replaces an app's definition (`text` is `definition` encoded), audited.
pub(super) fn update(
    conn: &Connection,
    account_id: i64,
    actor: &Actor,
    app_id: &str,
    definition: AppDefinition,
    text: &str,
) -> StoreResult<AppRecord> {
    let (app, mut rec) = load_app(conn, account_id, app_id)?;
    let now = now_ms();
    conn.prepare_cached(
        "UPDATE usage_apps SET name = ?2, definition = ?3, updated_ms = ?4 WHERE id = ?1",
    )?
    .execute(params![app, definition.name, text, now])?;
    sync_event_names(conn, account_id, app, &definition)?;
    rec.definition = definition;
    rec.updated_ms = now;
    audit_app(conn, account_id, actor, AppAction::Updated, &rec)?;
    Ok(rec)
}

/// Disconnects an app: it keeps its data and refuses more, audited.
pub(super) fn disconnect(
    conn: &Connection,
    account_id: i64,
    actor: &Actor,
    app_id: &str,
) -> StoreResult<AppRecord> {
    let (app, mut rec) = load_app(conn, account_id, app_id)?;
    let now = now_ms();
    conn.prepare_cached(
        "UPDATE usage_apps SET status = 'disconnected', updated_ms = ?2 WHERE id = ?1",
    )?
    .execute(params![app, now])?;
    rec.status = "disconnected".into();
    rec.updated_ms = now;
    audit_app(conn, account_id, actor, AppAction::Disconnected, &rec)?;
    Ok(rec)
}

/// Deletes an app with all its data (usage, the tracking API's state, money), audited.
pub(super) fn delete(
    conn: &Connection,
    account_id: i64,
    actor: &Actor,
    app_id: &str,
) -> StoreResult<()> {
    let (app, rec) = load_app(conn, account_id, app_id)?;
    for table in [
        "usage_events",
        "usage_day_bits",
        "usage_day_versions",
        "usage_last",
        "usage_last_pending",
        "usage_provisioned",
        "usage_event_names",
    ] {
        conn.prepare_cached(&format!(
            "DELETE FROM {table} WHERE account_id = ?1 AND app = ?2"
        ))?
        .execute(params![account_id, app])?;
    }
    // The tracking API's state of the app (keyed by its internal id alone).
    for table in ["seg_messages", "seg_identities", "seg_links", "seg_pending"] {
        conn.prepare_cached(&format!("DELETE FROM {table} WHERE app = ?1"))?
            .execute([app])?;
    }
    conn.prepare_cached("DELETE FROM usage_apps WHERE account_id = ?1 AND id = ?2")?
        .execute(params![account_id, app])?;
    crate::sqlite::money::delete_app_money(conn, account_id, app_id)?;
    audit_app(conn, account_id, actor, AppAction::Removed, &rec)
}
