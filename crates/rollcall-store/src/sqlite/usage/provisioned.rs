//! Provisioned users of an app (`usage_provisioned`): upserts, pages and
//! deletions, and the reads insights take of them (the list, each user's
//! org-chart person, the summary), cached per provisioned version
//! (`usage_apps.prov_version`, bumped by every change).

use std::sync::Arc;

use rollcall_core::usage_bits::EmailTable;
use rollcall_core::usage_report::Directory;
use rusqlite::{params, Connection};

use super::apps::load_app;
use super::org::org_id;
use super::report_cache::ReportCaches;
use crate::usage::{AppRecord, OrgChart, ProvisionedSummary, ProvisionedUser, UserSelection};
use crate::{now_ms, StoreError, StoreResult};

/// Marks the app's provisioned users as changed (invalidates cached summaries).
pub(in crate::sqlite) fn bump_provisioned(conn: &Connection, app: i64) -> StoreResult<()> {
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

fn prov_version(conn: &Connection, app: i64) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached("SELECT prov_version FROM usage_apps WHERE id = ?1")?
        .query_row([app], |r| r.get(0))?)
}

/// The summary of the app's provisioned users, cached per (provisioned
/// version, org chart): both change whenever the summary may.
pub(super) fn provisioned_summary(
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
pub(super) fn provisioned_people(
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
pub(super) fn provisioned_users(
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

/// Inserts or updates provisioned users of a connected app; returns how many.
pub(super) fn upsert(
    conn: &Connection,
    account_id: i64,
    app_id: &str,
    users: &[ProvisionedUser],
) -> StoreResult<u64> {
    let (app, rec) = load_app(conn, account_id, app_id)?;
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
    for u in users {
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
}

/// A page of an app's provisioned users after `after` by `appUserId`, and their total.
pub(super) fn page(
    conn: &Connection,
    account_id: i64,
    app_id: &str,
    after: Option<String>,
    limit: usize,
) -> StoreResult<(Vec<ProvisionedUser>, u64)> {
    let (app, _) = load_app(conn, account_id, app_id)?;
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
}

/// Deletes an app's provisioned users (all, or the selection's); returns how many.
pub(super) fn delete(
    conn: &Connection,
    account_id: i64,
    app_id: &str,
    selection: Option<UserSelection>,
) -> StoreResult<u64> {
    let (app, _) = load_app(conn, account_id, app_id)?;
    bump_provisioned(conn, app)?;
    let Some(sel) = selection else {
        return Ok(conn
            .prepare_cached("DELETE FROM usage_provisioned WHERE account_id = ?1 AND app = ?2")?
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
}
