//! The read path of the insights: one app's activity bitmaps, the account's email
//! table, the org chart's resolver, last-activity times and provisioned users.
//!
//! It runs in one `REPEATABLE READ, READ ONLY` transaction, so everything comes
//! from one snapshot (the email table covers every id the bitmaps hold), and
//! issues its independent queries pipelined: the app, then bitmaps, last
//! activity, org chart, email-table tail and provisioned users together — two
//! round trips besides `BEGIN` and `COMMIT` when the caches are warm.
//!
//! Caches (see `cache`): the email table is append-only (rows never change), so
//! each request reads only the rows past the cached length — rows another process
//! added are picked up by the next read; resolvers are keyed by the org snapshot
//! (immutable once current) and extended as the table grows.

use std::collections::HashMap;
use std::sync::Arc;

use deadpool_postgres::GenericClient;
use rollcall_core::usage_bits::{EmailTable, Resolver};
use rollcall_core::usage_report::Directory;

use super::apps::{load_app, AppRow, Lock};
use super::cache::Cache;
use super::{org, provisioned};
use crate::usage::{DayBits, EventSel, InsightData, InsightQuery, OrgChart};
use crate::StoreResult;

/// Everything an insight of the app needs; call inside a repeatable-read transaction.
pub(super) async fn insight_data(
    tx: &impl GenericClient,
    db: u64,
    account_id: i64,
    app_id: &str,
    query: InsightQuery,
) -> StoreResult<InsightData> {
    let app = load_app(tx, account_id, app_id, Lock::No).await?;
    let (days, last_ms, org, emails, provisioned) = tokio::try_join!(
        day_bits(tx, account_id, &app, &query),
        last_activity(tx, account_id, app.id, query.last_activity),
        org::load(tx, db, account_id),
        email_table(tx, db, account_id),
        async {
            if query.provisioned {
                provisioned::users(tx, db, account_id, &app).await
            } else {
                Ok(Arc::default())
            }
        },
    )?;
    let resolver = resolver(db, account_id, org.as_ref(), &emails);
    let provisioned_summary = if query.provisioned_summary {
        provisioned::summary(tx, db, account_id, &app, org.as_ref()).await?
    } else {
        Arc::default()
    };
    Ok(InsightData {
        app: app.rec,
        days,
        emails,
        resolver,
        last_ms,
        provisioned,
        provisioned_summary,
        org,
    })
}

/// The bitmaps of the selected events on days `from_day..=to_day`, per event (in
/// event-id order) and day. Per event one primary-key range scan: the lateral
/// subquery (`OFFSET 0` keeps it from being flattened) stops the planner from
/// scanning all the app's days and filtering, which it may choose on stale
/// statistics.
async fn day_bits(
    tx: &impl GenericClient,
    account_id: i64,
    app: &AppRow,
    query: &InsightQuery,
) -> StoreResult<Vec<DayBits>> {
    let (from, to) = (query.from_day, query.to_day);
    if from > to {
        return Ok(Vec::new());
    }
    let rows = match &query.events {
        EventSel::Any => {
            let stmt = tx
                .prepare_cached(
                    "SELECT '', day, bits FROM usage_day_bits
                     WHERE account_id = $1 AND app = $2 AND event_id = 0
                       AND day BETWEEN $3 AND $4 ORDER BY day",
                )
                .await?;
            tx.query(&stmt, &[&account_id, &app.id, &from, &to]).await?
        }
        EventSel::All => {
            let stmt = tx
                .prepare_cached(
                    "SELECT n.name, d.day, d.bits FROM usage_event_names n,
                     LATERAL (SELECT day, bits FROM usage_day_bits b
                              WHERE b.account_id = n.account_id AND b.app = n.app
                                AND b.event_id = n.event_id AND b.day BETWEEN $3 AND $4
                              OFFSET 0) AS d
                     WHERE n.account_id = $1 AND n.app = $2
                     ORDER BY n.event_id, d.day",
                )
                .await?;
            tx.query(&stmt, &[&account_id, &app.id, &from, &to]).await?
        }
        EventSel::Group(group) => {
            let names: Vec<&str> = app
                .rec
                .definition
                .events
                .iter()
                .filter(|e| e.groups.iter().any(|g| g == group))
                .map(|e| e.event_name.as_str())
                .collect();
            if names.is_empty() {
                return Ok(Vec::new());
            }
            let stmt = tx
                .prepare_cached(
                    "SELECT n.name, d.day, d.bits FROM usage_event_names n,
                     LATERAL (SELECT day, bits FROM usage_day_bits b
                              WHERE b.account_id = n.account_id AND b.app = n.app
                                AND b.event_id = n.event_id AND b.day BETWEEN $3 AND $4
                              OFFSET 0) AS d
                     WHERE n.account_id = $1 AND n.app = $2 AND n.name = ANY($5::text[])
                     ORDER BY n.event_id, d.day",
                )
                .await?;
            tx.query(&stmt, &[&account_id, &app.id, &from, &to, &names])
                .await?
        }
    };
    Ok(rows
        .into_iter()
        .map(|r| DayBits {
            event: r.get(0),
            day: r.get(1),
            bits: r.get(2),
        })
        .collect())
}

/// Email id -> latest event timestamp in the app (empty unless `wanted`).
async fn last_activity(
    tx: &impl GenericClient,
    account_id: i64,
    app: i64,
    wanted: bool,
) -> StoreResult<HashMap<u32, i64>> {
    if !wanted {
        return Ok(HashMap::new());
    }
    let stmt = tx
        .prepare_cached(
            "SELECT email_id, last_ms FROM usage_last WHERE account_id = $1 AND app = $2",
        )
        .await?;
    Ok(tx
        .query(&stmt, &[&account_id, &app])
        .await?
        .iter()
        .map(|r| (r.get::<_, i32>(0) as u32, r.get(1)))
        .collect())
}

/// Email tables per (database, account).
type AccountKey = (u64, i64);
static EMAILS: Cache<AccountKey, Arc<EmailTable>> = Cache::new(64);

/// The account's email table, covering at least every email of the caller's
/// snapshot: the cached prefix plus the rows past it.
async fn email_table(
    tx: &impl GenericClient,
    db: u64,
    account_id: i64,
) -> StoreResult<Arc<EmailTable>> {
    let key: AccountKey = (db, account_id);
    let cached = EMAILS.get(&key).unwrap_or_default();
    let known = i32::try_from(cached.len()).unwrap_or(i32::MAX);
    let stmt = tx
        .prepare_cached(
            "SELECT id, email FROM usage_emails WHERE account_id = $1 AND id >= $2 ORDER BY id",
        )
        .await?;
    let more: Vec<(u32, String)> = tx
        .query(&stmt, &[&account_id, &known])
        .await?
        .into_iter()
        .map(|r| (r.get::<_, i32>(0) as u32, r.get(1)))
        .collect();
    if more.is_empty() {
        return Ok(cached);
    }
    let table = Arc::new(cached.with_more(more));
    // Another request may have cached a longer table meanwhile; keep the longest.
    EMAILS.put_unless(key, Arc::clone(&table), |old| old.len() >= table.len());
    Ok(table)
}

/// Resolvers per (database, account, org snapshot, completion).
type ResolverKey = (u64, i64, i64, i64);
static RESOLVERS: Cache<ResolverKey, Arc<Resolver>> = Cache::new(64);

/// Email id -> person of `org`, covering at least `emails`.
fn resolver(
    db: u64,
    account_id: i64,
    org: Option<&OrgChart>,
    emails: &EmailTable,
) -> Arc<Resolver> {
    let empty = Directory::default();
    let (dir, snap, done) = match org {
        Some(o) => (o.directory.as_ref(), o.id, o.completed_ms),
        None => (&empty, 0, 0),
    };
    let key: ResolverKey = (db, account_id, snap, done);
    let r = match RESOLVERS.get(&key) {
        Some(r) if r.covered() >= emails.len() => return r,
        Some(r) => Arc::new(r.extended(dir, emails)),
        None => Arc::new(Resolver::new(dir, emails)),
    };
    RESOLVERS.put_unless(key, Arc::clone(&r), |old| old.covered() >= r.covered());
    r
}
