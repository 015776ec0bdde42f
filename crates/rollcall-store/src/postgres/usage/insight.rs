//! The read path of the insights: one app's activity bitmaps, the account's email
//! table, the org chart's resolver, last-activity times and provisioned users.
//!
//! It runs in one `REPEATABLE READ, READ ONLY` snapshot ([`Snapshot`]), so
//! everything comes from one snapshot (the email table covers every id the
//! bitmaps hold):
//! - one flight — `BEGIN`, the app's row, the org chart's head, the email-table
//!   tail, the bitmaps, the last-activity times and `COMMIT` — when this store
//!   has everything else cached (the bitmaps and last activity name the app by
//!   its public id, so they need not wait for its row; a feature group's events
//!   come from the definition this store parsed last, checked against the row);
//! - otherwise (something turned out missing: the group's events were not the
//!   guessed ones, the org chart's people, the provisioned users or their
//!   summary are not cached for the versions read), a new snapshot in two
//!   flights: the same first queries with `BEGIN`, then what is missing with
//!   `COMMIT`.
//!
//! Caches (the store's, see `super::super::caches`): the email table is
//! append-only (rows never change), so each request reads only the rows past
//! the cached length — rows another process added are picked up by the next
//! read; resolvers are keyed by the org snapshot (immutable once current) and
//! extended as the table grows; parsed definitions are kept with the text they
//! were parsed from, and used only when the text read matches; the day bitmaps
//! are kept at their rows' `xmin`, and only the rows it moved come back
//! (`day_bits`).

use std::future::Future;
use std::sync::Arc;

use deadpool_postgres::GenericClient;
use rollcall_core::usage::AppDefinition;
use rollcall_core::usage_bits::{EmailTable, Resolver};
use rollcall_core::usage_report::Directory;
use tokio_postgres::Row;

use super::super::caches::{AppKey, OrgKey, PgCaches};
use super::super::snapshot::Snapshot;
use super::apps::{app_not_found, AppRow};
use super::last::{self, LAST_SQL};
use super::{day_bits, org, provisioned};
use crate::usage::{AppRecord, EventSel, InsightData, InsightQuery, LastTimes, OrgChart};
use crate::StoreResult;

/// The app's definition parsed from `text`, reusing the last parse of the same text.
fn definition(caches: &PgCaches, key: AppKey, text: &str) -> StoreResult<AppDefinition> {
    if let Some(known) = caches.definitions.get(&key) {
        if known.0 == text {
            return Ok(known.1.clone());
        }
    }
    let def: AppDefinition = serde_json::from_str(text)?;
    caches
        .definitions
        .put(key, Arc::new((text.to_string(), def.clone())));
    Ok(def)
}

/// The events of `sel`'s feature group in `def` (`None` for the other selections).
fn group_events(def: &AppDefinition, sel: &EventSel) -> Option<Vec<String>> {
    let EventSel::Group(group) = sel else {
        return None;
    };
    Some(
        def.events
            .iter()
            .filter(|e| e.groups.iter().any(|g| g == group))
            .map(|e| e.event_name.clone())
            .collect(),
    )
}

/// Runs `f` when given.
async fn maybe<T>(f: Option<impl Future<Output = StoreResult<T>>>) -> StoreResult<Option<T>> {
    match f {
        Some(f) => f.await.map(Some),
        None => Ok(None),
    }
}

/// Everything an insight of the app needs, read in `snap` (which this ends).
/// With `commit_early`, the first flight carries the `COMMIT`, and `None` says
/// something was missing (read it again, in a new snapshot, without).
pub(super) async fn insight_data(
    snap: &Snapshot,
    caches: &PgCaches,
    account_id: i64,
    app_id: &str,
    query: &InsightQuery,
    commit_early: bool,
) -> StoreResult<Option<InsightData>> {
    let tx = snap.client();
    if commit_early {
        // Statements are prepared before the flight that carries the COMMIT.
        for sql in [
            APP_SQL,
            org::HEAD_SQL,
            EMAILS_SQL,
            LAST_SQL,
            day_bits::sql(&query.events),
        ] {
            tx.prepare_cached(sql).await?;
        }
    }
    let key: AppKey = (account_id, app_id.to_string());
    let guess = match &query.events {
        EventSel::Group(_) => caches
            .definitions
            .get(&key)
            .and_then(|known| group_events(&known.1, &query.events)),
        _ => None,
    };
    let guessed = !matches!(query.events, EventSel::Group(_)) || guess.is_some();
    let ((), app, org_head, tail, days, last_ms, _) = tokio::try_join!(
        snap.begin(),
        app_row(tx, account_id, app_id),
        org::head(tx, account_id),
        email_tail(tx, caches, account_id),
        maybe(guessed.then(|| day_bits::read(
            tx,
            &caches.day_bits,
            (account_id, app_id),
            query,
            guess.as_deref()
        ))),
        last_activity(tx, account_id, app_id, query.last_activity),
        maybe(commit_early.then(|| snap.commit())),
    )?;
    let app = app.ok_or_else(|| app_not_found(app_id))?;
    let app = AppRow {
        id: app.get(0),
        prov_version: app.get(1),
        rec: AppRecord {
            app_id: app_id.to_string(),
            status: app.get(2),
            definition: definition(caches, key, app.get(3))?,
            created_ms: app.get(4),
            updated_ms: app.get(5),
        },
    };

    // The second flight: what the first showed to be missing, and COMMIT.
    let names = group_events(&app.rec.definition, &query.events);
    let refetch = !guessed || names != guess;
    // Some(None): a chart whose people this store has not cached.
    let directory = org_head
        .as_ref()
        .map(|h| org::cached_directory(caches, account_id, h));
    let org_key = org_head.as_ref().map(|h| (h.id(), h.completed_ms()));
    let users =
        (query.provisioned).then(|| provisioned::cached_users(caches, account_id, &app).ok_or(()));
    let summary = (query.provisioned_summary)
        .then(|| provisioned::cached_summary(caches, account_id, &app, org_key).ok_or(()));
    let missing = refetch
        || matches!(directory, Some(None))
        || matches!(users, Some(Err(())))
        || matches!(summary, Some(Err(())));
    if commit_early && missing {
        return Ok(None);
    }
    let mut sql = Vec::new();
    if refetch {
        sql.push(day_bits::GROUP_SQL);
    }
    if matches!(directory, Some(None)) {
        sql.push(org::DIRECTORY_SQL);
    }
    if matches!(users, Some(Err(()))) {
        sql.push(provisioned::USERS_SQL);
    }
    if matches!(summary, Some(Err(()))) {
        sql.push(provisioned::SUMMARY_SQL);
    }
    // Statements are prepared before the flight that carries the COMMIT.
    for s in sql {
        tx.prepare_cached(s).await?;
    }
    let (days_again, people, user_list, summary_rows, _) = tokio::try_join!(
        maybe(refetch.then(|| day_bits::read(
            tx,
            &caches.day_bits,
            (account_id, app_id),
            query,
            names.as_deref()
        ))),
        maybe(match (&org_head, &directory) {
            (Some(h), Some(None)) => Some(org::directory(tx, caches, account_id, h)),
            _ => None,
        }),
        maybe(
            matches!(users, Some(Err(())))
                .then(|| provisioned::users(tx, caches, account_id, &app))
        ),
        maybe(
            matches!(summary, Some(Err(())))
                .then(|| provisioned::summary_rows(tx, account_id, &app))
        ),
        maybe((!commit_early).then(|| snap.commit())),
    )?;

    let days = days_again.or(days).unwrap_or_default();
    let org = match (org_head, directory) {
        (Some(head), Some(Some(d))) => Some(head.chart(d)),
        (Some(head), _) => Some(head.chart(people.unwrap_or_default())),
        (None, _) => None,
    };
    let emails = tail.into_table(caches, account_id);
    let resolver = resolver(caches, account_id, org.as_ref(), &emails);
    let provisioned = match users {
        Some(Ok(u)) => u,
        Some(Err(())) => user_list.unwrap_or_default(),
        None => Arc::default(),
    };
    let provisioned_summary = match (summary, summary_rows) {
        (Some(Ok(s)), _) => s,
        (Some(Err(())), Some(rows)) => {
            provisioned::summarise(caches, account_id, &app, org.as_ref(), &emails, &rows)
        }
        _ => Arc::default(),
    };
    Ok(Some(InsightData {
        app: app.rec,
        days,
        emails,
        resolver,
        last_ms,
        provisioned,
        provisioned_people: Arc::default(),
        provisioned_summary,
        org,
    }))
}

const APP_SQL: &str = "SELECT id, prov_version, status, definition, created_ms, updated_ms
     FROM usage_apps WHERE account_id = $1 AND app_id = $2";

/// The app's row: id, provisioned version, status, definition, times.
async fn app_row(
    tx: &impl GenericClient,
    account_id: i64,
    app_id: &str,
) -> StoreResult<Option<Row>> {
    let stmt = tx.prepare_cached(APP_SQL).await?;
    Ok(tx.query_opt(&stmt, &[&account_id, &app_id]).await?)
}

/// Each email id's latest event timestamp in the app (none unless `wanted`).
async fn last_activity(
    tx: &impl GenericClient,
    account_id: i64,
    app_id: &str,
    wanted: bool,
) -> StoreResult<Arc<LastTimes>> {
    if !wanted {
        return Ok(Arc::default());
    }
    let stmt = tx.prepare_cached(LAST_SQL).await?;
    let rows = tx.query(&stmt, &[&account_id, &app_id]).await?;
    Ok(Arc::new(last::times_of(
        rows.iter().map(|r| (r.get(0), r.get(1))),
    )))
}

/// The cached email table and the rows past it in the caller's snapshot.
struct EmailTail {
    cached: Arc<EmailTable>,
    more: Vec<(u32, String)>,
}

impl EmailTail {
    /// The account's email table, covering at least every email of the
    /// snapshot the tail was read in.
    fn into_table(self, caches: &PgCaches, account_id: i64) -> Arc<EmailTable> {
        if self.more.is_empty() {
            return self.cached;
        }
        let table = Arc::new(self.cached.with_more(self.more));
        // Another request may have cached a longer table meanwhile; keep the longest.
        caches
            .emails
            .put_unless(account_id, Arc::clone(&table), |old| {
                old.len() >= table.len()
            });
        table
    }
}

const EMAILS_SQL: &str =
    "SELECT id, email FROM usage_emails WHERE account_id = $1 AND id >= $2 ORDER BY id";

/// The rows of the account's email table past the cached prefix.
async fn email_tail(
    tx: &impl GenericClient,
    caches: &PgCaches,
    account_id: i64,
) -> StoreResult<EmailTail> {
    let cached = caches.emails.get(&account_id).unwrap_or_default();
    let known = i32::try_from(cached.len()).unwrap_or(i32::MAX);
    let stmt = tx.prepare_cached(EMAILS_SQL).await?;
    let more = tx
        .query(&stmt, &[&account_id, &known])
        .await?
        .into_iter()
        .map(|r| (r.get::<_, i32>(0) as u32, r.get(1)))
        .collect();
    Ok(EmailTail { cached, more })
}

/// Email id -> person of `org`, covering at least `emails`.
fn resolver(
    caches: &PgCaches,
    account_id: i64,
    org: Option<&OrgChart>,
    emails: &EmailTable,
) -> Arc<Resolver> {
    let empty = Directory::default();
    let (dir, snap, done) = match org {
        Some(o) => (o.directory.as_ref(), o.id, o.completed_ms),
        None => (&empty, 0, 0),
    };
    let key: OrgKey = (account_id, snap, done);
    let r = match caches.resolvers.get(&key) {
        Some(r) if r.covered() >= emails.len() => return r,
        Some(r) => Arc::new(r.extended(dir, emails)),
        None => Arc::new(Resolver::new(dir, emails)),
    };
    caches
        .resolvers
        .put_unless(key, Arc::clone(&r), |old| old.covered() >= r.covered());
    r
}
