//! What an insight reads, in the caller's read transaction: the app's day
//! bitmaps, the account's email table and the org chart's email-id → person
//! resolver (both cached: the first is append-only and refreshed with
//! `id >= cached`, the second is keyed by snapshot, which never changes once
//! current), the latest times and the provisioned users, so reports do no
//! string joins.

use std::sync::Arc;

use rollcall_core::usage_bits::{EmailTable, Resolver};
use rollcall_core::usage_report::Directory;
use rusqlite::{params, Connection};

use super::apps::load_app;
use super::day_bits;
use super::last::last_times;
use super::org::load_org;
use super::provisioned::{provisioned_people, provisioned_summary, provisioned_users};
use super::report_cache::ReportCaches;
use crate::usage::{EventSel, InsightData, InsightQuery, OrgChart};
use crate::StoreResult;

/// What an insight of `app_id` needs, read in the caller's transaction.
pub(super) fn insight_data(
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
    let days = day_bits::read(
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
