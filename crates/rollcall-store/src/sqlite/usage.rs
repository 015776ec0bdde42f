//! Custom-app usage in SQLite: apps, interned event names and emails, raw events in
//! a time-ordered table, the per-(event, local day) bitmaps of active email ids and
//! the per-(app, email) latest timestamp, written in the same transaction as the raw
//! insert, provisioned users and org-chart snapshots.
//!
//! The write path of a usage push is in `usage_push`.
//!
//! Read path: the account's email table and the org chart's email-id → person
//! resolver are cached in memory (the first is append-only and refreshed with
//! `id >= cached`, the second is keyed by snapshot, which never changes once
//! current), so reports do no string joins.

use rollcall_core::fxhash::FxHashMap;
use std::sync::Arc;

use super::report_cache::{OrgId, ReportCaches};

use async_trait::async_trait;
use rollcall_core::usage::AppDefinition;
use rollcall_core::usage_bits::{EmailTable, Resolver};
use rollcall_core::usage_report::{Directory, Employee};
use rusqlite::{params, Connection, OptionalExtension};

use super::audit::append;
use super::usage_day_bits;
use super::usage_push::PreparedPush;
use super::SqliteStore;
use crate::audit::{Actor, AppAction, AuditAction};
use crate::usage::{
    merged_custom_fields, AppRecord, EventSel, InsightData, InsightQuery, LastTimes, NewEvent,
    OrgChanges, OrgChart, OrgMode, OrgPage, OrgSnapshotInfo, OrgSwitch, ProvisionedSummary,
    ProvisionedUser, PushOutcome, UsageStore, UserSelection, ORG_SNAPSHOTS_KEPT,
};
use crate::{now_ms, StoreError, StoreResult};

fn app_not_found(app_id: &str) -> StoreError {
    StoreError::NotFound(format!("app {app_id} does not exist"))
}

/// (internal id, record) of an app of the account.
pub(super) fn load_app(
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
pub(super) fn sync_event_names(
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

/// Marks the app's provisioned users as changed (invalidates cached summaries).
pub(super) fn bump_provisioned(conn: &Connection, app: i64) -> StoreResult<()> {
    conn.prepare_cached("UPDATE usage_apps SET prov_version = prov_version + 1 WHERE id = ?1")?
        .execute([app])?;
    Ok(())
}

fn provisioned_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ProvisionedUser> {
    Ok(ProvisionedUser {
        app_user_id: r.get(0)?,
        email: r.get(1)?,
        username: r.get(2)?,
        license: r.get(3)?,
        profile: r
            .get::<_, Option<String>>(4)?
            .and_then(|p| serde_json::from_str(&p).ok()),
    })
}

/// The account's current org chart; its directory from `caches` when the same
/// snapshot (id and completion) was read before, since a completed snapshot
/// never changes.
fn load_org(
    conn: &Connection,
    caches: &ReportCaches,
    account_id: i64,
) -> StoreResult<Option<OrgChart>> {
    let head: Option<(i64, String, String, Option<i64>)> = conn
        .prepare_cached(
            "SELECT id, name, custom_fields, completed_ms FROM usage_org_snapshots
             WHERE account_id = ?1 AND status = 'current' ORDER BY id DESC LIMIT 1",
        )?
        .query_row([account_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let Some((id, name, fields, completed)) = head else {
        return Ok(None);
    };
    let completed_ms = completed.unwrap_or(0);
    let org_id: OrgId = (id, completed_ms);
    let cached = caches.with(account_id, |a| {
        a.org
            .as_ref()
            .filter(|(k, _)| *k == org_id)
            .map(|(_, d)| Arc::clone(d))
    });
    let directory = match cached {
        Some(d) => d,
        None => {
            let mut stmt = conn.prepare_cached(
                "SELECT person FROM usage_org_people WHERE account_id = ?1 AND snapshot = ?2 ORDER BY email",
            )?;
            let mut people = Vec::new();
            let mut rows = stmt.query(params![account_id, id])?;
            while let Some(row) = rows.next()? {
                let text: String = row.get(0)?;
                people.push(serde_json::from_str::<Employee>(&text)?);
            }
            // Kept: without the growth's spare room (up to half the list).
            people.shrink_to_fit();
            let d = Arc::new(Directory::new(people));
            caches.with(account_id, |a| a.org = Some((org_id, Arc::clone(&d))));
            d
        }
    };
    Ok(Some(OrgChart {
        id,
        name,
        custom_fields: serde_json::from_str(&fields)?,
        directory,
        completed_ms,
    }))
}

fn start_snapshot(
    conn: &Connection,
    account_id: i64,
    name: &str,
    fields: &str,
    mode: OrgMode,
) -> StoreResult<i64> {
    conn.prepare_cached(
        "INSERT INTO usage_org_snapshots (account_id, name, custom_fields, status, created_ms, mode)
         VALUES (?1, ?2, ?3, 'open', ?4, ?5)",
    )?
    .execute(params![account_id, name, fields, now_ms(), mode.as_str()])?;
    Ok(conn.last_insert_rowid())
}

fn insert_people(
    conn: &Connection,
    account_id: i64,
    snapshot: i64,
    people: &[Employee],
) -> StoreResult<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO usage_org_people (account_id, snapshot, email, person) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (account_id, snapshot, email) DO UPDATE SET person = excluded.person",
    )?;
    for p in people {
        stmt.execute(params![
            account_id,
            snapshot,
            p.email,
            serde_json::to_string(p)?
        ])?;
    }
    Ok(())
}

/// The account's current snapshot, if any.
fn current_snapshot(conn: &Connection, account_id: i64) -> StoreResult<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT id FROM usage_org_snapshots WHERE account_id = ?1 AND status = 'current'
             ORDER BY id DESC LIMIT 1",
        )?
        .query_row([account_id], |r| r.get(0))
        .optional()?)
}

fn count_people(conn: &Connection, account_id: i64, snapshot: i64) -> StoreResult<u64> {
    let n: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM usage_org_people WHERE account_id = ?1 AND snapshot = ?2",
        )?
        .query_row(params![account_id, snapshot], |r| r.get(0))?;
    Ok(n as u64)
}

/// People added, removed and changed going from snapshot `from` (none: an empty
/// chart) to `to`, by primary email; a person's record is compared as stored.
fn org_changes(
    conn: &Connection,
    account_id: i64,
    from: Option<i64>,
    to: i64,
) -> StoreResult<OrgChanges> {
    let one_way = |a: Option<i64>, b: Option<i64>| -> StoreResult<u64> {
        let n: i64 = conn
            .prepare_cached(
                "SELECT count(*) FROM usage_org_people n WHERE n.account_id = ?1 AND n.snapshot = ?2
                 AND NOT EXISTS (SELECT 1 FROM usage_org_people o
                                 WHERE o.account_id = ?1 AND o.snapshot = ?3 AND o.email = n.email)",
            )?
            .query_row(params![account_id, a, b], |r| r.get(0))?;
        Ok(n as u64)
    };
    let changed: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM usage_org_people n JOIN usage_org_people o
               ON o.account_id = n.account_id AND o.snapshot = ?3 AND o.email = n.email
             WHERE n.account_id = ?1 AND n.snapshot = ?2 AND n.person <> o.person",
        )?
        .query_row(params![account_id, to, from], |r| r.get(0))?;
    Ok(OrgChanges {
        added: one_way(Some(to), from)?,
        removed: one_way(from, Some(to))?,
        changed: changed as u64,
    })
}

/// Makes `snapshot` the current org chart; the current one becomes `previous` and
/// the least recently retired previous ones beyond [`ORG_SNAPSHOTS_KEPT`] are dropped. `completing`:
/// an upload's last step (a merge snapshot takes in everyone of the current chart it
/// does not name, and `UploadedOrgData` is recorded); otherwise an activation
/// (`ActivatedOrgChart`).
fn make_current(
    conn: &Connection,
    account_id: i64,
    actor: &Actor,
    snapshot: i64,
    completing: bool,
) -> StoreResult<OrgSwitch> {
    let previous = current_snapshot(conn, account_id)?;
    let mut mode = None;
    if completing {
        let (m, fields): (String, String) = conn
            .prepare_cached(
                "SELECT mode, custom_fields FROM usage_org_snapshots WHERE account_id = ?1 AND id = ?2",
            )?
            .query_row(params![account_id, snapshot], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let m: OrgMode = m.parse()?;
        if let (OrgMode::Merge, Some(base)) = (m, previous) {
            let base_fields: String = conn
                .prepare_cached(
                    "SELECT custom_fields FROM usage_org_snapshots WHERE account_id = ?1 AND id = ?2",
                )?
                .query_row(params![account_id, base], |r| r.get(0))?;
            let base_fields: Vec<String> = serde_json::from_str(&base_fields)?;
            let fields: Vec<String> = serde_json::from_str(&fields)?;
            let merged = merged_custom_fields(&base_fields, &fields)?;
            conn.prepare_cached(
                "UPDATE usage_org_snapshots SET custom_fields = ?3 WHERE account_id = ?1 AND id = ?2",
            )?
            .execute(params![account_id, snapshot, serde_json::to_string(&merged)?])?;
            conn.prepare_cached(
                "INSERT INTO usage_org_people (account_id, snapshot, email, person)
                 SELECT account_id, ?2, email, person FROM usage_org_people
                 WHERE account_id = ?1 AND snapshot = ?3
                 ON CONFLICT (account_id, snapshot, email) DO NOTHING",
            )?
            .execute(params![account_id, snapshot, base])?;
        }
        mode = Some(m);
    }
    let changes = org_changes(conn, account_id, previous, snapshot)?;
    conn.prepare_cached(
        "UPDATE usage_org_snapshots SET status = 'previous', retired_seq =
           (SELECT coalesce(max(retired_seq), 0) + 1 FROM usage_org_snapshots WHERE account_id = ?1)
         WHERE account_id = ?1 AND status = 'current'",
    )?
    .execute([account_id])?;
    conn.prepare_cached(
        "UPDATE usage_org_snapshots SET status = 'current',
           completed_ms = CASE WHEN ?3 THEN ?4 ELSE completed_ms END
         WHERE account_id = ?1 AND id = ?2",
    )?
    .execute(params![account_id, snapshot, completing, now_ms()])?;
    let dropped: Vec<i64> = conn
        .prepare_cached(
            "SELECT id FROM usage_org_snapshots WHERE account_id = ?1 AND status = 'previous'
             ORDER BY retired_seq DESC, id DESC LIMIT -1 OFFSET ?2",
        )?
        .query_map(params![account_id, ORG_SNAPSHOTS_KEPT - 1], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in dropped {
        conn.prepare_cached(
            "DELETE FROM usage_org_people WHERE account_id = ?1 AND snapshot = ?2",
        )?
        .execute(params![account_id, id])?;
        conn.prepare_cached("DELETE FROM usage_org_snapshots WHERE account_id = ?1 AND id = ?2")?
            .execute(params![account_id, id])?;
    }
    let switch = OrgSwitch {
        id: snapshot,
        people: count_people(conn, account_id, snapshot)?,
        previous,
        changes,
    };
    let action = if completing {
        AuditAction::UploadedOrgData { switch, mode }
    } else {
        AuditAction::ActivatedOrgChart { switch }
    };
    append(conn, account_id, actor, &action)?;
    Ok(switch)
}

fn snapshot_not_found(snapshot: i64) -> StoreError {
    StoreError::NotFound(format!("org chart {snapshot} does not exist"))
}

fn snapshot_complete(snapshot: i64) -> StoreError {
    StoreError::Conflict(format!(
        "org chart {snapshot} is already complete; start a new one with POST /services/push/v1/customer/org-chart"
    ))
}

/// A snapshot's status, `NotFound` when the account has no such snapshot.
fn snapshot_status(conn: &Connection, account_id: i64, snapshot: i64) -> StoreResult<String> {
    conn.prepare_cached("SELECT status FROM usage_org_snapshots WHERE account_id = ?1 AND id = ?2")?
        .query_row(params![account_id, snapshot], |r| r.get(0))
        .optional()?
        .ok_or_else(|| snapshot_not_found(snapshot))
}

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
            .write(move |conn| {
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
                audit_app(conn, account_id, &actor, AppAction::Connected, &rec)?;
                Ok(rec)
            })
            .await
    }

    async fn list_apps(&self, account_id: i64) -> StoreResult<Vec<AppRecord>> {
        self.db
            .read(move |conn| {
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
            })
            .await
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
            .write(move |conn| {
                let (app, mut rec) = load_app(conn, account_id, &app_id)?;
                let now = now_ms();
                conn.prepare_cached(
                    "UPDATE usage_apps SET name = ?2, definition = ?3, updated_ms = ?4 WHERE id = ?1",
                )?
                .execute(params![app, definition.name, text, now])?;
                sync_event_names(conn, account_id, app, &definition)?;
                rec.definition = definition;
                rec.updated_ms = now;
                audit_app(conn, account_id, &actor, AppAction::Updated, &rec)?;
                Ok(rec)
            })
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
            .write(move |conn| {
                let (app, mut rec) = load_app(conn, account_id, &app_id)?;
                let now = now_ms();
                conn.prepare_cached(
                    "UPDATE usage_apps SET status = 'disconnected', updated_ms = ?2 WHERE id = ?1",
                )?
                .execute(params![app, now])?;
                rec.status = "disconnected".into();
                rec.updated_ms = now;
                audit_app(conn, account_id, &actor, AppAction::Disconnected, &rec)?;
                Ok(rec)
            })
            .await
    }

    async fn delete_app(&self, account_id: i64, actor: &Actor, app_id: &str) -> StoreResult<()> {
        let (actor, app_id) = (actor.clone(), app_id.to_string());
        self.db
            .write(move |conn| {
                let (app, rec) = load_app(conn, account_id, &app_id)?;
                for table in [
                    "usage_events",
                    "usage_day_bits",
                    "usage_day_versions",
                    "usage_last",
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
                super::money::delete_app_money(conn, account_id, &app_id)?;
                audit_app(conn, account_id, &actor, AppAction::Removed, &rec)
            })
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
            .write(move |conn| {
                let (app, rec) = load_app(conn, account_id, &app_id)?;
                if !rec.is_connected() {
                    return Err(StoreError::invalid(format!(
                        "app {app_id} is disconnected and accepts no more data"
                    )));
                }
                let now = now_ms();
                let mut stmt = conn.prepare_cached(
                    "INSERT INTO usage_provisioned (account_id, app, app_user_id, email, username, license, updated_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (account_id, app, app_user_id) DO UPDATE SET
                       email = excluded.email, username = excluded.username,
                       license = excluded.license, updated_ms = excluded.updated_ms",
                )?;
                let mut n = 0;
                for u in &users {
                    n += stmt.execute(params![
                        account_id,
                        app,
                        u.app_user_id,
                        u.email,
                        u.username,
                        u.license,
                        now
                    ])? as u64;
                }
                bump_provisioned(conn, app)?;
                Ok(n)
            })
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
            .read(move |conn| {
                let (app, _) = load_app(conn, account_id, &app_id)?;
                let total: i64 = conn
                    .prepare_cached(
                        "SELECT count(*) FROM usage_provisioned WHERE account_id = ?1 AND app = ?2",
                    )?
                    .query_row(params![account_id, app], |r| r.get(0))?;
                let users = conn
                    .prepare_cached(
                        "SELECT app_user_id, email, username, license, profile FROM usage_provisioned
                         WHERE account_id = ?1 AND app = ?2 AND app_user_id > ?3
                         ORDER BY app_user_id LIMIT ?4",
                    )?
                    .query_map(
                        params![account_id, app, after.unwrap_or_default(), limit as i64],
                        provisioned_row,
                    )?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((users, total as u64))
            })
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
            .write(move |conn| {
                let (app, _) = load_app(conn, account_id, &app_id)?;
                bump_provisioned(conn, app)?;
                let Some(sel) = selection else {
                    return Ok(conn
                        .prepare_cached(
                            "DELETE FROM usage_provisioned WHERE account_id = ?1 AND app = ?2",
                        )?
                        .execute(params![account_id, app])? as u64);
                };
                let mut n = 0;
                let mut by_id = conn.prepare_cached(
                    "DELETE FROM usage_provisioned WHERE account_id = ?1 AND app = ?2 AND app_user_id = ?3",
                )?;
                for id in &sel.app_user_ids {
                    n += by_id.execute(params![account_id, app, id])? as u64;
                }
                let mut by_email = conn.prepare_cached(
                    "DELETE FROM usage_provisioned WHERE account_id = ?1 AND app = ?2 AND email = ?3",
                )?;
                for email in &sel.emails {
                    n += by_email.execute(params![account_id, app, email])? as u64;
                }
                Ok(n)
            })
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
            .write(move |conn| start_snapshot(conn, account_id, &name, &fields, mode))
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
                if snapshot_status(conn, account_id, snapshot_id)? != "open" {
                    return Err(snapshot_complete(snapshot_id));
                }
                insert_people(conn, account_id, snapshot_id, &people)?;
                if has_more {
                    return Ok(OrgPage {
                        people: count_people(conn, account_id, snapshot_id)?,
                        current: false,
                        changes: None,
                    });
                }
                let switch = make_current(conn, account_id, &actor, snapshot_id, true)?;
                Ok(OrgPage {
                    people: switch.people,
                    current: true,
                    changes: Some(switch.changes),
                })
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
                let id = start_snapshot(conn, account_id, &name, &fields, mode)?;
                insert_people(conn, account_id, id, &people)?;
                make_current(conn, account_id, &actor, id, true)
            })
            .await
    }

    async fn open_org_chart_fields(
        &self,
        account_id: i64,
        snapshot_id: i64,
    ) -> StoreResult<Vec<String>> {
        self.db
            .read(move |conn| {
                let row: Option<(String, String)> = conn
                    .prepare_cached(
                        "SELECT custom_fields, status FROM usage_org_snapshots WHERE account_id = ?1 AND id = ?2",
                    )?
                    .query_row(params![account_id, snapshot_id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                match row {
                    None => Err(snapshot_not_found(snapshot_id)),
                    Some((_, status)) if status != "open" => Err(snapshot_complete(snapshot_id)),
                    Some((fields, _)) => Ok(serde_json::from_str(&fields)?),
                }
            })
            .await
    }

    async fn org_snapshots(&self, account_id: i64) -> StoreResult<Vec<OrgSnapshotInfo>> {
        self.db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT s.id, s.name, s.mode, s.created_ms, coalesce(s.completed_ms, 0),
                            s.status = 'current',
                            (SELECT count(*) FROM usage_org_people p
                             WHERE p.account_id = s.account_id AND p.snapshot = s.id)
                     FROM usage_org_snapshots s
                     WHERE s.account_id = ?1 AND s.status IN ('current', 'previous')
                     ORDER BY s.id DESC",
                )?;
                let rows = stmt
                    .query_map([account_id], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, i64>(4)?,
                            r.get::<_, bool>(5)?,
                            r.get::<_, i64>(6)?,
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                rows.into_iter()
                    .map(
                        |(id, name, mode, created_ms, completed_ms, active, people)| {
                            Ok(OrgSnapshotInfo {
                                id,
                                name,
                                mode: mode.parse()?,
                                created_ms,
                                completed_ms,
                                people: people as u64,
                                active,
                            })
                        },
                    )
                    .collect()
            })
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
            .write(move |conn| match snapshot_status(conn, account_id, snapshot_id)?.as_str() {
                "open" => Err(StoreError::Conflict(format!(
                    "org chart {snapshot_id} is still being uploaded; finish it with a PUT saying hasMore: false"
                ))),
                "current" => Ok(OrgSwitch {
                    id: snapshot_id,
                    people: count_people(conn, account_id, snapshot_id)?,
                    previous: Some(snapshot_id),
                    changes: OrgChanges::default(),
                }),
                _ => make_current(conn, account_id, &actor, snapshot_id, false),
            })
            .await
    }

    async fn org_chart(&self, account_id: i64) -> StoreResult<Option<OrgChart>> {
        let caches = Arc::clone(&self.report_caches);
        self.db
            .read(move |conn| load_org(conn, &caches, account_id))
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
            .read(move |conn| insight_data(conn, &caches, account_id, &app_id, &query))
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
                    .map(|app_id| insight_data(conn, &caches, account_id, app_id, &query))
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
                last_activity_of(conn, &caches, account_id, (app, &app_id), &email_ids)
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
                    .map(|query| insight_data(conn, &caches, account_id, &app_id, query))
                    .collect()
            })
            .await
    }
}

/// Past this many emails, [`last_activity_of`] takes the app's whole latest
/// times ([`last_times`]: kept, or read once) instead of looking each email
/// up (a look-up costs about twenty rows of a read).
const LOOKUPS_MAX: usize = 4096;

/// The latest timestamp in `app` of each of `email_ids` that has one.
fn last_activity_of(
    conn: &Connection,
    caches: &ReportCaches,
    account_id: i64,
    (app, app_id): (i64, &str),
    email_ids: &[u32],
) -> StoreResult<FxHashMap<u32, i64>> {
    if email_ids.len() > LOOKUPS_MAX {
        let times = last_times(conn, caches, account_id, app, app_id)?;
        return Ok(email_ids
            .iter()
            .filter_map(|&id| Some((id, times.get(id)?)))
            .collect());
    }
    let mut out = FxHashMap::default();
    let mut stmt = conn.prepare_cached(
        "SELECT last_ms FROM usage_last WHERE account_id = ?1 AND app = ?2 AND email_id = ?3",
    )?;
    for &id in email_ids {
        let ms: Option<i64> = stmt
            .query_row(params![account_id, app, id], |r| r.get(0))
            .optional()?;
        if let Some(ms) = ms {
            out.insert(id, ms);
        }
    }
    Ok(out)
}

/// The app's latest time per email as this read transaction sees them: the
/// kept ones when they are of the version the transaction holds, else read
/// (and kept when newer than those kept).
fn last_times(
    conn: &Connection,
    caches: &ReportCaches,
    account_id: i64,
    app: i64,
    app_id: &str,
) -> StoreResult<Arc<LastTimes>> {
    let version: i64 = conn
        .prepare_cached("SELECT last_version FROM usage_apps WHERE id = ?1")?
        .query_row([app], |r| r.get(0))?;
    let kept = caches.with(account_id, |a| {
        a.app(app_id)
            .and_then(|x| x.last.as_ref())
            .filter(|(v, _)| *v == version)
            .map(|(_, times)| Arc::clone(times))
    });
    if let Some(times) = kept {
        return Ok(times);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT email_id, last_ms FROM usage_last WHERE account_id = ?1 AND app = ?2",
    )?;
    let mut times = LastTimes::default();
    let mut rows = stmt.query(params![account_id, app])?;
    while let Some(r) = rows.next()? {
        times.raise(r.get(0)?, r.get(1)?);
    }
    let times = Arc::new(times);
    caches.with(account_id, |a| {
        let entry = &mut a.app_mut(app_id).last;
        if entry.as_ref().is_none_or(|(v, _)| *v < version) {
            *entry = Some((version, Arc::clone(&times)));
        }
    });
    Ok(times)
}

/// What an insight of `app_id` needs, read in the caller's transaction.
fn insight_data(
    conn: &Connection,
    caches: &ReportCaches,
    account_id: i64,
    app_id: &str,
    query: &InsightQuery,
) -> StoreResult<InsightData> {
    let (app, rec) = load_app(conn, account_id, app_id)?;
    let mut names: Vec<(i64, String)> = Vec::new();
    match &query.events {
        EventSel::Any => names.push((0, String::new())),
        sel => {
            let mut stmt = conn.prepare_cached(
                "SELECT event_id, name FROM usage_event_names WHERE account_id = ?1 AND app = ?2",
            )?;
            let mut rows = stmt.query(params![account_id, app])?;
            while let Some(r) = rows.next()? {
                let (id, name): (i64, String) = (r.get(0)?, r.get(1)?);
                let wanted = match sel {
                    EventSel::Group(g) => rec
                        .definition
                        .events
                        .iter()
                        .any(|e| e.event_name == name && e.groups.iter().any(|x| x == g)),
                    _ => true,
                };
                if wanted {
                    names.push((id, name));
                }
            }
        }
    }
    let days = usage_day_bits::read(
        conn,
        &caches.day_bits,
        (account_id, app, &rec.app_id),
        &names,
        (query.from_day, query.to_day),
    )?;
    let emails = email_table(conn, caches, account_id)?;
    let last_ms = if query.last_activity {
        last_times(conn, caches, account_id, app, &rec.app_id)?
    } else {
        Arc::default()
    };
    let provisioned = if query.provisioned {
        provisioned_users(conn, caches, account_id, app, &rec)?
    } else {
        Arc::default()
    };
    let org = load_org(conn, caches, account_id)?;
    let provisioned_people = if query.provisioned {
        provisioned_people(
            conn,
            caches,
            account_id,
            app,
            &rec,
            org.as_ref(),
            &provisioned,
        )?
    } else {
        Arc::default()
    };
    let resolver = resolver(caches, account_id, org.as_ref(), &emails);
    let provisioned_summary = if query.provisioned_summary {
        provisioned_summary(conn, caches, account_id, app, &rec, org.as_ref(), &emails)?
    } else {
        Arc::default()
    };
    Ok(InsightData {
        app: rec,
        days,
        emails,
        resolver,
        last_ms,
        provisioned,
        provisioned_people,
        provisioned_summary,
        org,
    })
}

/// The account's email table, covering at least every email this read
/// transaction sees: the cached one (append-only) extended by the rows past it.
fn email_table(
    conn: &Connection,
    caches: &ReportCaches,
    account_id: i64,
) -> StoreResult<Arc<EmailTable>> {
    let cached = caches.with(account_id, |a| Arc::clone(&a.emails));
    let mut more: Vec<(u32, String)> = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT id, email FROM usage_emails WHERE account_id = ?1 AND id >= ?2 ORDER BY id",
        )?;
        let mut rows = stmt.query(params![account_id, cached.len() as i64])?;
        while let Some(r) = rows.next()? {
            more.push((r.get(0)?, r.get(1)?));
        }
    }
    if more.is_empty() {
        return Ok(cached);
    }
    let table = Arc::new(cached.with_more(more));
    caches.with(account_id, |a| {
        // Another request may have cached a longer table meanwhile; keep the longest.
        if a.emails.len() < table.len() {
            a.emails = Arc::clone(&table);
        }
    });
    Ok(table)
}

/// The email-id → person resolver of the org chart `org`, extended as the email
/// table grows.
fn resolver(
    caches: &ReportCaches,
    account_id: i64,
    org: Option<&OrgChart>,
    emails: &EmailTable,
) -> Arc<Resolver> {
    let empty = Directory::default();
    let (dir, org_id) = match org {
        Some(o) => (o.directory.as_ref(), (o.id, o.completed_ms)),
        None => (&empty, (0, 0)),
    };
    let cached = caches.with(account_id, |a| {
        a.resolver
            .as_ref()
            .filter(|(k, _)| *k == org_id)
            .map(|(_, r)| Arc::clone(r))
    });
    let r = match cached {
        Some(r) if r.covered() >= emails.len() => return r,
        Some(r) => Arc::new(r.extended(dir, emails)),
        None => Arc::new(Resolver::new(dir, emails)),
    };
    caches.with(account_id, |a| {
        let keep = a
            .resolver
            .as_ref()
            .is_some_and(|(k, x)| *k == org_id && x.covered() >= r.covered());
        if !keep {
            a.resolver = Some((org_id, Arc::clone(&r)));
        }
    });
    r
}

fn org_id(org: Option<&OrgChart>) -> OrgId {
    org.map_or((0, 0), |o| (o.id, o.completed_ms))
}

fn prov_version(conn: &Connection, app: i64) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached("SELECT prov_version FROM usage_apps WHERE id = ?1")?
        .query_row([app], |r| r.get(0))?)
}

/// The summary of the app's provisioned users, cached per (provisioned
/// version, org chart): both change whenever the summary may.
fn provisioned_summary(
    conn: &Connection,
    caches: &ReportCaches,
    account_id: i64,
    app: i64,
    rec: &AppRecord,
    org: Option<&OrgChart>,
    emails: &EmailTable,
) -> StoreResult<Arc<ProvisionedSummary>> {
    let key = (prov_version(conn, app)?, org_id(org));
    let cached = caches.with(account_id, |a| {
        a.app(&rec.app_id)
            .and_then(|x| x.summary.as_ref())
            .filter(|(k, _)| *k == key)
            .map(|(_, s)| Arc::clone(s))
    });
    if let Some(s) = cached {
        return Ok(s);
    }
    let empty = Directory::default();
    let dir = org.map_or(&empty, |o| o.directory.as_ref());
    let mut stmt = conn.prepare_cached(
        "SELECT email, license FROM usage_provisioned WHERE account_id = ?1 AND app = ?2",
    )?;
    let users = stmt
        .query_map(params![account_id, app], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let summary = Arc::new(ProvisionedSummary::of(
        users.iter().map(|(e, l)| (e.as_str(), l.as_deref())),
        dir,
        emails,
    ));
    caches.with(account_id, |a| {
        a.app_mut(&rec.app_id).summary = Some((key, Arc::clone(&summary)))
    });
    Ok(summary)
}

/// The org-chart person of each provisioned user (in `users`' order), cached
/// per (provisioned version, org chart).
fn provisioned_people(
    conn: &Connection,
    caches: &ReportCaches,
    account_id: i64,
    app: i64,
    rec: &AppRecord,
    org: Option<&OrgChart>,
    users: &[ProvisionedUser],
) -> StoreResult<Arc<Vec<u32>>> {
    let key = (prov_version(conn, app)?, org_id(org));
    let cached = caches.with(account_id, |a| {
        a.app(&rec.app_id)
            .and_then(|x| x.people.as_ref())
            .filter(|(k, p)| *k == key && p.len() == users.len())
            .map(|(_, p)| Arc::clone(p))
    });
    if let Some(p) = cached {
        return Ok(p);
    }
    let empty = Directory::default();
    let dir = org.map_or(&empty, |o| o.directory.as_ref());
    let people = Arc::new(crate::usage::provisioned_people(users, dir));
    caches.with(account_id, |a| {
        a.app_mut(&rec.app_id).people = Some((key, Arc::clone(&people)))
    });
    Ok(people)
}

/// The app's provisioned users ordered by `appUserId`, cached per provisioned version.
fn provisioned_users(
    conn: &Connection,
    caches: &ReportCaches,
    account_id: i64,
    app: i64,
    rec: &AppRecord,
) -> StoreResult<Arc<Vec<ProvisionedUser>>> {
    let version = prov_version(conn, app)?;
    let cached = caches.with(account_id, |a| {
        a.app(&rec.app_id)
            .and_then(|x| x.provisioned.as_ref())
            .filter(|(v, _)| *v == version)
            .map(|(_, p)| Arc::clone(p))
    });
    if let Some(p) = cached {
        return Ok(p);
    }
    let mut users = conn
        .prepare_cached(
            "SELECT app_user_id, email, username, license, profile FROM usage_provisioned
             WHERE account_id = ?1 AND app = ?2 ORDER BY app_user_id",
        )?
        .query_map(params![account_id, app], provisioned_row)?
        .collect::<Result<Vec<_>, _>>()?;
    // Kept: without the growth's spare room (up to half the list).
    users.shrink_to_fit();
    let users = Arc::new(users);
    caches.with(account_id, |a| {
        a.app_mut(&rec.app_id).provisioned = Some((version, Arc::clone(&users)))
    });
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::erasure::ErasureStore;
    use crate::sqlite::DatabaseKey;
    use rollcall_core::Email;

    async fn store_with_app() -> (tempfile::TempDir, SqliteStore, i64, String) {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = DatabaseKey::resolve(None, dir.path()).expect("key");
        let store = SqliteStore::open(dir.path(), key).await.expect("open");
        let account = store
            .db
            .write(|conn| {
                conn.execute(
                    "INSERT INTO accounts (name, created_ms) VALUES ('a', 0)",
                    [],
                )?;
                Ok(conn.last_insert_rowid())
            })
            .await
            .expect("account");
        let definition: AppDefinition = serde_json::from_value(serde_json::json!({
            "name": "Mail", "events": [{"eventName": "sent"}]
        }))
        .expect("definition");
        let app = store
            .create_app(account, &Actor::new("t@example.com", None), definition)
            .await
            .expect("app");
        (dir, store, account, app.app_id)
    }

    /// Pushes "sent" events of (email, timestamp, local day).
    async fn push_sent(store: &SqliteStore, account: i64, app: &str, events: &[(&str, i64, i32)]) {
        let events = events
            .iter()
            .enumerate()
            .map(|(index, &(email, ts_ms, day))| NewEvent {
                index,
                ts_ms,
                email: Email::parse(email).expect("email"),
                event_name: "sent".into(),
                day,
            })
            .collect();
        store.push_events(account, app, events).await.expect("push");
    }

    /// Pushes "sent" events of (email, timestamp), all on day 20,000.
    async fn push(store: &SqliteStore, account: i64, app: &str, events: &[(&str, i64)]) {
        let events: Vec<_> = events.iter().map(|&(e, ts)| (e, ts, 20_000)).collect();
        push_sent(store, account, app, &events).await;
    }

    async fn latest(
        store: &SqliteStore,
        account: i64,
        app: &str,
    ) -> (Arc<LastTimes>, Vec<(String, i64)>) {
        let query = InsightQuery {
            from_day: 20_000,
            to_day: 20_000,
            events: EventSel::Any,
            last_activity: true,
            provisioned: false,
            provisioned_summary: false,
        };
        let data = store.insight_data(account, app, query).await.expect("read");
        let named = data
            .last_ms
            .iter()
            .map(|(id, ms)| (data.emails.email(id).unwrap_or("?").to_string(), ms))
            .collect();
        (data.last_ms, named)
    }

    /// Reports use the latest times kept in memory while they are the
    /// version their snapshot holds: pushes move them along after their
    /// commit; a change they did not see (another writer) is read again.
    #[tokio::test]
    async fn kept_latest_times_follow_pushes_and_are_read_again_after_other_changes() {
        let (_dir, store, account, app) = store_with_app().await;
        push(&store, account, &app, &[("ana@x.com", 1_000)]).await;
        let (first, times) = latest(&store, account, &app).await;
        assert_eq!(times, [("ana@x.com".to_string(), 1_000)]);
        let (again, _) = latest(&store, account, &app).await;
        assert!(Arc::ptr_eq(&first, &again), "kept between reads");

        // A push moves the kept times: a later time, an earlier one (ignored),
        // a new email.
        push(
            &store,
            account,
            &app,
            &[("ana@x.com", 3_000), ("bo@x.com", 2_000)],
        )
        .await;
        push(&store, account, &app, &[("ana@x.com", 2_500)]).await;
        let kept_version = store.report_caches.with(account, |a| {
            a.app(&app).and_then(|x| x.last.as_ref()).map(|(v, _)| *v)
        });
        assert_eq!(
            kept_version,
            Some(3),
            "moved along by both pushes, not read again"
        );
        let (_, times) = latest(&store, account, &app).await;
        assert_eq!(
            times,
            [
                ("ana@x.com".to_string(), 3_000),
                ("bo@x.com".to_string(), 2_000)
            ]
        );

        // Another writer's change, with its version: read from the database.
        store
            .db
            .write(move |conn| {
                conn.execute("UPDATE usage_last SET last_ms = 9000", [])?;
                let app: i64 = conn.query_row("SELECT id FROM usage_apps", [], |r| r.get(0))?;
                super::super::usage_push::bump_last_version(conn, app)?;
                Ok(())
            })
            .await
            .expect("change");
        let (_, times) = latest(&store, account, &app).await;
        assert_eq!(
            times,
            [
                ("ana@x.com".to_string(), 9_000),
                ("bo@x.com".to_string(), 9_000)
            ]
        );
    }

    /// Pushes "sent" events of (email, day), each at its day's start.
    async fn push_on_days(store: &SqliteStore, account: i64, app: &str, events: &[(&str, i32)]) {
        let events: Vec<_> = events
            .iter()
            .map(|&(e, day)| (e, i64::from(day) * 86_400_000, day))
            .collect();
        push_sent(store, account, app, &events).await;
    }

    /// (day, bitmap as shared, the emails in it).
    type SeenDay = (i32, Arc<[u8]>, Vec<String>);

    /// The "any event" bitmaps of days 20,000 and 20,001.
    async fn day_bits(store: &SqliteStore, account: i64, app: &str) -> Vec<SeenDay> {
        let query = InsightQuery {
            from_day: 20_000,
            to_day: 20_001,
            events: EventSel::Any,
            last_activity: false,
            provisioned: false,
            provisioned_summary: false,
        };
        let data = store.insight_data(account, app, query).await.expect("read");
        data.days
            .iter()
            .map(|b| {
                let emails = (0..data.emails.len() as u32)
                    .filter(|&id| b.contains(id))
                    .map(|id| data.emails.email(id).unwrap_or("?").to_string())
                    .collect();
                (b.day, Arc::clone(b.shared()), emails)
            })
            .collect()
    }

    /// Reports use the day bitmaps kept in memory while their day's version is
    /// the one their snapshot holds: a push that changes a day's bitmaps makes
    /// that day (only) read again, a resent push changes nothing, and an
    /// erasure's changes are read.
    #[tokio::test]
    async fn kept_day_bitmaps_are_read_again_only_for_the_days_that_changed() {
        let (_dir, store, account, app) = store_with_app().await;
        // 4,096 people first, on a day the reads leave out: the emails below
        // get ids past them, so their bitmaps are long enough to be kept.
        let filler: Vec<String> = (0..4096).map(|i| format!("p{i}@x.com")).collect();
        let early: Vec<(&str, i32)> = filler.iter().map(|e| (e.as_str(), 19_000)).collect();
        push_on_days(&store, account, &app, &early).await;
        push_on_days(
            &store,
            account,
            &app,
            &[("ana@x.com", 20_000), ("bo@x.com", 20_001)],
        )
        .await;
        let first = day_bits(&store, account, &app).await;
        let emails = |days: &[SeenDay]| {
            days.iter()
                .map(|(d, _, e)| (*d, e.join(" ")))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            emails(&first),
            [(20_000, "ana@x.com".into()), (20_001, "bo@x.com".into())]
        );
        let again = day_bits(&store, account, &app).await;
        assert!(Arc::ptr_eq(&first[0].1, &again[0].1) && Arc::ptr_eq(&first[1].1, &again[1].1));

        // A late event for day 20,001: that day is read again, 20,000 is kept.
        push_on_days(&store, account, &app, &[("cy@x.com", 20_001)]).await;
        let late = day_bits(&store, account, &app).await;
        assert!(
            Arc::ptr_eq(&first[0].1, &late[0].1),
            "an unchanged day stays kept"
        );
        assert!(!Arc::ptr_eq(&first[1].1, &late[1].1));
        assert_eq!(emails(&late)[1], (20_001, "bo@x.com cy@x.com".into()));

        // Resent: no bitmap changes, nothing is read again.
        push_on_days(&store, account, &app, &[("cy@x.com", 20_001)]).await;
        let resent = day_bits(&store, account, &app).await;
        assert!(Arc::ptr_eq(&late[1].1, &resent[1].1));

        // An erasure clears bits of kept bitmaps; a day left empty goes.
        store
            .erase_person(account, &Actor::new("t@example.com", None), "ana@x.com")
            .await
            .expect("erase");
        store
            .erase_person(account, &Actor::new("t@example.com", None), "bo@x.com")
            .await
            .expect("erase");
        assert_eq!(
            emails(&day_bits(&store, account, &app).await),
            [(20_001, "cy@x.com".into())]
        );
    }
}
