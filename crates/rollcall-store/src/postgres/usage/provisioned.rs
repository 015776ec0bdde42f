//! Provisioned users: written with one multi-row upsert or delete, each bumping
//! the app's `prov_version` in the same transaction (under the app's row lock),
//! which keys the cached user lists and summaries of the insights.

use std::collections::HashMap;
use std::sync::Arc;

use deadpool_postgres::GenericClient;
use rollcall_core::usage_bits::EmailTable;
use rollcall_core::usage_report::Directory;
use tokio_postgres::Row;

use super::super::caches::{ListKey, PgCaches, SummaryKey};
use super::apps::{disconnected, load_app, AppRow, Lock};
use crate::usage::{OrgChart, ProvisionedSummary, ProvisionedUser, UserSelection};
use crate::{now_ms, StoreResult};

fn user(r: &Row) -> ProvisionedUser {
    ProvisionedUser {
        app_user_id: r.get(0),
        email: r.get(1),
        username: r.get(2),
        license: r.get(3),
        profile: r
            .get::<_, Option<&str>>(4)
            .and_then(|p| serde_json::from_str(p).ok()),
    }
}

async fn bump_version(tx: &impl GenericClient, account_id: i64, app: i64) -> StoreResult<()> {
    tx.execute(
        "UPDATE usage_apps SET prov_version = prov_version + 1 WHERE account_id = $1 AND id = $2",
        &[&account_id, &app],
    )
    .await?;
    Ok(())
}

/// Inserts or replaces users by `appUserId` (a later duplicate in `users` wins);
/// returns how many were written.
pub(super) async fn upsert(
    tx: &impl GenericClient,
    account_id: i64,
    app_id: &str,
    users: &[ProvisionedUser],
) -> StoreResult<u64> {
    let app = load_app(tx, account_id, app_id, Lock::Write).await?;
    if !app.rec.is_connected() {
        return Err(disconnected(app_id));
    }
    // One row per appUserId: a multi-row upsert may not touch a row twice.
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(users.len());
    for (i, u) in users.iter().enumerate() {
        last.insert(u.app_user_id.as_str(), i);
    }
    let unique = users
        .iter()
        .enumerate()
        .filter(|(i, u)| last.get(u.app_user_id.as_str()) == Some(i))
        .map(|(_, u)| u);
    let (mut ids, mut emails, mut names, mut licenses) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for u in unique {
        ids.push(u.app_user_id.as_str());
        emails.push(u.email.as_str());
        names.push(u.username.as_deref());
        licenses.push(u.license.as_deref());
    }
    tx.execute(
        "INSERT INTO usage_provisioned (account_id, app, app_user_id, email, username, license, updated_ms)
         SELECT $1, $2, i, e, n, l, $7
         FROM unnest($3::text[], $4::text[], $5::text[], $6::text[]) AS t(i, e, n, l)
         ON CONFLICT (account_id, app, app_user_id) DO UPDATE SET
           email = excluded.email, username = excluded.username,
           license = excluded.license, updated_ms = excluded.updated_ms",
        &[
            &account_id,
            &app.id,
            &ids,
            &emails,
            &names,
            &licenses,
            &now_ms(),
        ],
    )
    .await?;
    bump_version(tx, account_id, app.id).await?;
    Ok(users.len() as u64)
}

/// Users ordered by `appUserId` (byte order), after `after`, and the total count.
pub(super) async fn page(
    tx: &impl GenericClient,
    account_id: i64,
    app_id: &str,
    after: Option<String>,
    limit: usize,
) -> StoreResult<(Vec<ProvisionedUser>, u64)> {
    let app = load_app(tx, account_id, app_id, Lock::No).await?;
    let total = tx.prepare_cached(
        "SELECT count(*) FROM usage_provisioned WHERE account_id = $1 AND app = $2",
    );
    let rows = tx.prepare_cached(
        "SELECT app_user_id, email, username, license, profile FROM usage_provisioned
         WHERE account_id = $1 AND app = $2 AND app_user_id > $3
         ORDER BY app_user_id LIMIT $4",
    );
    let (total, rows) = tokio::try_join!(total, rows)?;
    let after = after.unwrap_or_default();
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let (total, rows) = tokio::try_join!(
        async { tx.query_one(&total, &[&account_id, &app.id]).await },
        async {
            tx.query(&rows, &[&account_id, &app.id, &after, &limit])
                .await
        },
    )?;
    Ok((
        rows.iter().map(user).collect(),
        total.get::<_, i64>(0) as u64,
    ))
}

/// Removes the selected users (all when `None`); returns how many.
pub(super) async fn delete(
    tx: &impl GenericClient,
    account_id: i64,
    app_id: &str,
    selection: Option<UserSelection>,
) -> StoreResult<u64> {
    let app = load_app(tx, account_id, app_id, Lock::Write).await?;
    bump_version(tx, account_id, app.id).await?;
    let n = match selection {
        None => {
            tx.execute(
                "DELETE FROM usage_provisioned WHERE account_id = $1 AND app = $2",
                &[&account_id, &app.id],
            )
            .await?
        }
        Some(sel) => {
            tx.execute(
                "DELETE FROM usage_provisioned WHERE account_id = $1 AND app = $2
                   AND (app_user_id = ANY($3::text[]) OR email = ANY($4::text[]))",
                &[&account_id, &app.id, &sel.app_user_ids, &sel.emails],
            )
            .await?
        }
    };
    Ok(n)
}

/// The statement [`users`] runs, to prepare it ahead of a flight.
pub(super) const USERS_SQL: &str =
    "SELECT app_user_id, email, username, license, profile FROM usage_provisioned
     WHERE account_id = $1 AND app = $2 ORDER BY app_user_id";

fn list_key(account_id: i64, app: &AppRow) -> ListKey {
    (account_id, app.id, app.prov_version)
}

/// The cached users of `app` as of its `prov_version`, if this store has them.
pub(super) fn cached_users(
    caches: &PgCaches,
    account_id: i64,
    app: &AppRow,
) -> Option<Arc<Vec<ProvisionedUser>>> {
    caches.lists.get(&list_key(account_id, app))
}

/// The app's users ordered by `appUserId`, as of `app.prov_version` (read in the
/// caller's snapshot).
pub(super) async fn users(
    tx: &impl GenericClient,
    caches: &PgCaches,
    account_id: i64,
    app: &AppRow,
) -> StoreResult<Arc<Vec<ProvisionedUser>>> {
    if let Some(users) = cached_users(caches, account_id, app) {
        return Ok(users);
    }
    let stmt = tx.prepare_cached(USERS_SQL).await?;
    let users = Arc::new(
        tx.query(&stmt, &[&account_id, &app.id])
            .await?
            .iter()
            .map(user)
            .collect::<Vec<_>>(),
    );
    caches
        .lists
        .put(list_key(account_id, app), Arc::clone(&users));
    Ok(users)
}

fn summary_key(account_id: i64, app: &AppRow, org: Option<(i64, i64)>) -> SummaryKey {
    let (snap, done) = org.unwrap_or((0, 0));
    (account_id, app.id, app.prov_version, snap, done)
}

/// The cached summary of `app` under the org chart `org` ((id, completion)).
pub(super) fn cached_summary(
    caches: &PgCaches,
    account_id: i64,
    app: &AppRow,
    org: Option<(i64, i64)>,
) -> Option<Arc<ProvisionedSummary>> {
    caches.summaries.get(&summary_key(account_id, app, org))
}

/// The statement [`summary_rows`] runs, to prepare it ahead of a flight.
pub(super) const SUMMARY_SQL: &str =
    "SELECT email, license FROM usage_provisioned WHERE account_id = $1 AND app = $2";

/// What [`summarise`] counts: (email, licence) of every user (in the caller's snapshot).
pub(super) async fn summary_rows(
    tx: &impl GenericClient,
    account_id: i64,
    app: &AppRow,
) -> StoreResult<Vec<Row>> {
    let stmt = tx.prepare_cached(SUMMARY_SQL).await?;
    Ok(tx.query(&stmt, &[&account_id, &app.id]).await?)
}

/// Distinct people (aliases resolved through `org`) and users per licence, from
/// [`summary_rows`]; cached.
pub(super) fn summarise(
    caches: &PgCaches,
    account_id: i64,
    app: &AppRow,
    org: Option<&OrgChart>,
    emails: &EmailTable,
    rows: &[Row],
) -> Arc<ProvisionedSummary> {
    let empty = Directory::default();
    let dir = org.map_or(&empty, |o| o.directory.as_ref());
    let summary = Arc::new(ProvisionedSummary::of(
        rows.iter()
            .map(|r| (r.get::<_, &str>(0), r.get::<_, Option<&str>>(1))),
        dir,
        emails,
    ));
    let key = summary_key(account_id, app, org.map(|o| (o.id, o.completed_ms)));
    caches.summaries.put(key, Arc::clone(&summary));
    summary
}
