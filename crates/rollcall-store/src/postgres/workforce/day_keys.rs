//! PostgreSQL's part of working hours under a group filter (the kept day
//! walks themselves are shared: `crate::workforce::day_keys`): the members of
//! the query's groups, the days' key versions (`wf_day_key_versions`, bumped
//! by triggers on `wf_day_span`: migration 20) and the walk of the days whose
//! kept walk is missing or stale, all read in the page's REPEATABLE READ
//! snapshot. Whether a kept walk may serve rests only on what the snapshot
//! reads, never on this process having seen the change: the versions are
//! bumped by whichever process writes, in its own transaction.
//!
//! Without the kept walks a filtered page walked the range's (day, key) rows
//! twice, once to count them and once for the page, each row checked against
//! the groups by sub-queries (9–17 ms a month at 10M events). A day's walk
//! reads its rows in the view's index order with the id filters only and
//! checks the members in memory.

use deadpool_postgres::GenericClient;

use super::sql::{push_scope, Query};
use crate::workforce::day_keys::{day_versions, DayKeys, DayWalk, GroupFilter};
use crate::workforce::{Perspective, Scoping};
use crate::{StoreError, StoreResult};

/// The query's group conditions (`s` has some) with their groups' members.
pub(super) async fn load_filter(
    tx: &impl GenericClient,
    account_id: i64,
    s: &Scoping,
) -> StoreResult<GroupFilter> {
    let groups = GroupFilter::groups_asked(s).unwrap_or_default();
    let stmt = tx
        .prepare_cached(
            "SELECT group_id, kind, member_id FROM wf_group_members
             WHERE account_id = $1 AND group_id = ANY($2)",
        )
        .await?;
    let rows = tx.query(&stmt, &[&account_id, &groups]).await?;
    let members = rows
        .iter()
        .map(|r| (r.get::<_, i64>(0), r.get::<_, &str>(1), r.get::<_, i64>(2)));
    GroupFilter::of_rows(s, members)
        .ok_or_else(|| StoreError::Internal("a group filter without groups".into()))
}

/// Every day from `from` to `to` with its key version (0 when it never had one).
pub(super) async fn versions(
    tx: &impl GenericClient,
    account_id: i64,
    from: i32,
    to: i32,
) -> StoreResult<Vec<(i32, i64)>> {
    let stmt = tx
        .prepare_cached(
            "SELECT day, version FROM wf_day_key_versions
             WHERE account_id = $1 AND day BETWEEN $2 AND $3",
        )
        .await?;
    let rows = tx.query(&stmt, &[&account_id, &from, &to]).await?;
    Ok(day_versions(
        from,
        to,
        rows.iter().map(|r| (r.get(0), r.get(1))),
    ))
}

/// The walks of `days` (day, version) under `filter`, in one statement: each
/// day's (key, other party) rows with the id filters of `id_scoping` applied
/// in SQL, put in (day, key) order here and the members checked in memory.
pub(super) async fn walk(
    tx: &impl GenericClient,
    account_id: i64,
    perspective: Perspective,
    id_scoping: &Scoping,
    filter: &GroupFilter,
    days: &[(i32, i64)],
) -> StoreResult<Vec<(i32, DayKeys)>> {
    let day_list: Vec<i32> = days.iter().map(|d| d.0).collect();
    let rows = walk_query(&account_id, perspective, id_scoping, &day_list)
        .run(tx)
        .await?;
    let mut rows: Vec<(i32, i64, i64)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    rows.sort_unstable();
    let mut out = Vec::with_capacity(days.len());
    let mut rows = rows.into_iter().peekable();
    for (day, version) in days {
        let mut walk = DayWalk::new(*version);
        while let Some((_, key, other)) = rows.next_if(|r| r.0 == *day) {
            walk.row(key, || {
                Ok::<_, StoreError>(filter.admits_row(perspective, key, other))
            })?;
        }
        out.push((*day, walk.finish()));
    }
    Ok(out)
}

/// [`walk`]'s statement: (day, key, other party) of the days, found by one
/// index range per day. Without an `ORDER BY`: `day = ANY` on the indexes'
/// second column gives rows in no order the planner can use, and with sorting
/// disabled in the page's snapshot an ordered walk would be a scan of every
/// day of the account; the rows are sorted in memory instead.
fn walk_query<'a>(
    account_id: &'a i64,
    perspective: Perspective,
    id_scoping: &'a Scoping,
    days: &'a Vec<i32>,
) -> Query<'a> {
    let (key, other) = match perspective {
        Perspective::Users => ("client_id", "computer_id"),
        Perspective::Computers => ("computer_id", "client_id"),
    };
    let mut sql = Query::new();
    let account = sql.bind(account_id);
    let days = sql.bind(days);
    sql.push(&format!(
        "SELECT t.day, t.{key}, t.{other} FROM wf_day_span t
         WHERE t.account_id = {account} AND t.day = ANY({days})"
    ));
    push_scope(&mut sql, &account, id_scoping);
    sql
}

#[cfg(test)]
mod tests {
    use super::super::reports::hours_plan;
    use super::walk_query;
    use crate::postgres::test_db::fresh_store;
    use crate::workforce::{Perspective, Scoping};

    /// The triggers bump a day's version when a key appears, goes or moves,
    /// and not when ingest's upsert only widens an existing key's span; a
    /// deletion of many rows bumps each of its days once.
    #[tokio::test]
    #[ignore = "needs PostgreSQL: scripts/test.sh runs it under scripts/with-postgres.sh"]
    async fn a_days_version_moves_with_its_keys_only() {
        let store = fresh_store("day_keys").await;
        let db = store.client().await.unwrap();
        let versions = || async {
            db.query(
                "SELECT account_id, day, version FROM wf_day_key_versions
                 ORDER BY account_id, day",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get::<_, i64>(0), r.get::<_, i32>(1), r.get::<_, i64>(2)))
            .collect::<Vec<_>>()
        };
        // Ingest's statement: insert, or widen the span of a known key.
        let upsert = "INSERT INTO wf_day_span AS t VALUES (1, $1, $2, 5, $3, $3, $3)
                      ON CONFLICT (account_id, day, client_id, computer_id) DO UPDATE SET
                          last_active_ms = GREATEST(t.last_active_ms, excluded.last_active_ms),
                          last_any_ms = GREATEST(t.last_any_ms, excluded.last_any_ms)";
        let up = |day: i32, client: i64, at: i64| {
            let db = &db;
            async move { db.execute(upsert, &[&day, &client, &at]).await.unwrap() }
        };
        up(10, 7, 100).await;
        assert_eq!(versions().await, vec![(1, 10, 1)]);
        up(10, 7, 200).await;
        assert_eq!(
            versions().await,
            vec![(1, 10, 1)],
            "a wider span is the same key"
        );
        up(10, 8, 100).await;
        assert_eq!(versions().await, vec![(1, 10, 2)]);
        db.execute(
            "UPDATE wf_day_span SET last_any_ms = 300 WHERE client_id = 8",
            &[],
        )
        .await
        .unwrap();
        assert_eq!(versions().await, vec![(1, 10, 2)], "no key column changed");
        db.execute(
            "UPDATE wf_day_span SET client_id = 9 WHERE client_id = 8",
            &[],
        )
        .await
        .unwrap();
        assert_eq!(versions().await, vec![(1, 10, 3)], "a key moved in its day");
        db.execute("UPDATE wf_day_span SET day = 11 WHERE client_id = 9", &[])
            .await
            .unwrap();
        assert_eq!(versions().await, vec![(1, 10, 4), (1, 11, 1)]);
        // Another account's day is its own.
        db.execute(
            "INSERT INTO wf_day_span VALUES (2, 10, 1, 1, NULL, NULL, 0)",
            &[],
        )
        .await
        .unwrap();
        assert_eq!(versions().await, vec![(1, 10, 4), (1, 11, 1), (2, 10, 1)]);
        // One statement deleting three rows of two days.
        up(11, 12, 100).await;
        db.execute("DELETE FROM wf_day_span WHERE account_id = 1", &[])
            .await
            .unwrap();
        assert_eq!(versions().await, vec![(1, 10, 5), (1, 11, 3), (2, 10, 1)]);
        // A deletion that finds nothing changes nothing.
        db.execute("DELETE FROM wf_day_span WHERE account_id = 3", &[])
            .await
            .unwrap();
        assert_eq!(versions().await, vec![(1, 10, 5), (1, 11, 3), (2, 10, 1)]);
    }

    /// Two transactions changing one day's keys at once leave two versions:
    /// the second waits for the first and adds to its version, so a snapshot
    /// that sees either commit reads a version no other state of the day has.
    #[tokio::test]
    #[ignore = "needs PostgreSQL: scripts/test.sh runs it under scripts/with-postgres.sh"]
    async fn concurrent_changes_of_a_day_each_get_a_version() {
        let store = fresh_store("day_keys").await;
        let mut a = store.client().await.unwrap();
        let mut b = store.client().await.unwrap();
        let ta = a.transaction().await.unwrap();
        ta.execute(
            "INSERT INTO wf_day_span VALUES (1, 10, 1, 1, NULL, NULL, 0)",
            &[],
        )
        .await
        .unwrap();
        // b's insert waits on a's new version row until a commits.
        let second = tokio::spawn(async move {
            let tb = b.transaction().await.unwrap();
            tb.execute(
                "INSERT INTO wf_day_span VALUES (1, 10, 2, 1, NULL, NULL, 0)",
                &[],
            )
            .await
            .unwrap();
            tb.commit().await.unwrap();
        });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        ta.commit().await.unwrap();
        second.await.unwrap();
        let db = store.client().await.unwrap();
        let row = db
            .query_one(
                "SELECT version FROM wf_day_key_versions WHERE account_id = 1 AND day = 10",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, i64>(0), 2);
    }

    /// A walk of some days reads one index range per day, under the page's
    /// planner settings (sorting off, one generic plan): not the account's
    /// every day in order, which an `ORDER BY` would make it.
    #[tokio::test]
    #[ignore = "needs PostgreSQL: scripts/test.sh runs it under scripts/with-postgres.sh"]
    async fn a_walk_reads_one_index_range_per_day() {
        let store = fresh_store("day_keys").await;
        let mut db = store.client().await.unwrap();
        for perspective in [Perspective::Users, Perspective::Computers] {
            let (account, days, scoping) = (1i64, vec![10i32, 12], Scoping::default());
            let sql = walk_query(&account, perspective, &scoping, &days).sql;
            let plan = hours_plan(&mut db, &sql, "(1, '{10,12}')").await;
            assert!(
                plan.lines()
                    .any(|l| l.contains("Index Cond") && l.contains("day = ANY")),
                "{perspective:?}: {plan}"
            );
            assert!(!plan.contains("Sort"), "{perspective:?}: {plan}");
        }
    }
}
