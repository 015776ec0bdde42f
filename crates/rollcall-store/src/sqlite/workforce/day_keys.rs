//! The embedded store's part of working hours under a group filter (the
//! kept day walks themselves are shared: `crate::workforce::day_keys`): the
//! filter's members, the days' key versions (`wf_day_key_versions`, bumped by
//! triggers on `wf_day_span` whenever a row of the day appears, goes, or
//! moves: migration 0019) and the walk of a day's keys that checks the
//! members in memory, all read in the request's own snapshot.
//!
//! A filtered page needs every admitted key of its range, to cut the page and
//! count the total, so each request walked the whole month's keys (a third of
//! the request at 10M events, most of it at ten times that). Ingest changes
//! today's version; the other days stay kept.

use rusqlite::{params, Connection};
use serde_json::json;

use super::hours::key_index;
use super::scope::{bind_scope, scope_sql};
use crate::workforce::day_keys::{
    day_versions, DayKeys, DayKeysCache, DayPlan, DayWalk, FilterId, GroupFilter, ScopedPage,
};
use crate::workforce::{Perspective, Scoping, WorkingHoursQuery};
use crate::StoreResult;

/// The query's group conditions with their groups' members, `None` when it
/// has none.
pub(super) fn load_filter(
    conn: &Connection,
    account_id: i64,
    s: &Scoping,
) -> StoreResult<Option<GroupFilter>> {
    let Some(groups) = GroupFilter::groups_asked(s) else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT group_id, kind, member_id FROM wf_group_members
         WHERE account_id = ?1 AND group_id IN (SELECT value FROM json_each(?2))",
    )?;
    let mut members = Vec::new();
    let mut rows = stmt.query(params![account_id, json!(groups).to_string()])?;
    while let Some(r) = rows.next()? {
        members.push((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ));
    }
    Ok(GroupFilter::of_rows(s, members))
}

/// The query's page of the keys `members` admit in its range: each day's
/// kept walk while its version is unchanged, a walk of the day otherwise.
pub(super) fn scoped_page(
    conn: &Connection,
    cache: &DayKeysCache,
    account_id: i64,
    q: &WorkingHoursQuery,
    id_scoping: &Scoping,
    members: &GroupFilter,
) -> StoreResult<ScopedPage> {
    let days = versions(conn, account_id, q.from_day, q.to_day)?;
    let id = FilterId::of(account_id, q.perspective, id_scoping, members);
    let plan = DayPlan::new(cache, id, days);
    let walked = plan
        .missing()
        .into_iter()
        .map(|day| {
            let keys = walk_day(conn, account_id, day, q.perspective, id_scoping, members)?;
            Ok((day.0, keys))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let offset = q.page.saturating_sub(1) as usize * q.page_size as usize;
    Ok(plan.page(walked, offset, q.page_size as usize))
}

/// Every day from `from` to `to` with its key version (0 when it never had one).
fn versions(
    conn: &Connection,
    account_id: i64,
    from: i32,
    to: i32,
) -> StoreResult<Vec<(i32, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT day, version FROM wf_day_key_versions
         WHERE account_id = ?1 AND day BETWEEN ?2 AND ?3",
    )?;
    let mut rows = stmt.query(params![account_id, from, to])?;
    let mut found = Vec::new();
    while let Some(r) = rows.next()? {
        found.push((r.get(0)?, r.get(1)?));
    }
    Ok(day_versions(from, to, found))
}

/// One walk of the day's keys in the view's index order, the membership
/// checked in memory: a membership sub-query per row cost more than the walk.
fn walk_day(
    conn: &Connection,
    account_id: i64,
    (day, version): (i32, i64),
    perspective: Perspective,
    id_scoping: &Scoping,
    members: &GroupFilter,
) -> StoreResult<DayKeys> {
    let mut stmt = conn.prepare_cached(&walk_sql(perspective, id_scoping))?;
    stmt.raw_bind_parameter(1, day)?;
    bind_scope(&mut stmt, account_id, id_scoping)?;
    let mut walk = DayWalk::new(version);
    let mut rows = stmt.raw_query();
    while let Some(r) = rows.next()? {
        walk.row(r.get(0)?, || -> StoreResult<bool> {
            Ok(members.admits_row(perspective, r.get(0)?, r.get(1)?))
        })?;
    }
    Ok(walk.finish())
}

/// [`walk_day`]'s query: (key, other id) of one day in the view's index order.
pub(super) fn walk_sql(perspective: Perspective, id_scoping: &Scoping) -> String {
    let (key_col, index) = key_index(perspective);
    let other_col = match perspective {
        Perspective::Users => "computer_id",
        Perspective::Computers => "client_id",
    };
    format!(
        "SELECT t.{key_col}, t.{other_col} FROM wf_day_span t {index}
         WHERE t.account_id = ?100 AND t.day = ?1 {}
         ORDER BY t.{key_col}",
        scope_sql(id_scoping)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The triggers bump a day's version when a key appears, goes or moves,
    /// and not when ingest only widens an existing key's span.
    #[test]
    fn a_days_version_moves_with_its_keys_only() {
        let conn = Connection::open_in_memory().unwrap();
        crate::sqlite::migrations::run(&conn).unwrap();
        let versions = || {
            let mut stmt = conn
                .prepare("SELECT day, version FROM wf_day_key_versions ORDER BY day")
                .unwrap();
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, i32>(0)?, r.get::<_, i64>(1)?)))
                .unwrap();
            rows.collect::<Result<Vec<_>, _>>().unwrap()
        };
        let upsert = "INSERT INTO wf_day_span VALUES (1, ?1, ?2, 5, ?3, ?3, ?3)
                      ON CONFLICT DO UPDATE SET last_any_ms = max(last_any_ms, excluded.last_any_ms)";
        conn.execute(upsert, params![10, 7, 100]).unwrap();
        assert_eq!(versions(), vec![(10, 1)]);
        conn.execute(upsert, params![10, 7, 200]).unwrap();
        assert_eq!(versions(), vec![(10, 1)], "a wider span is the same key");
        conn.execute(upsert, params![10, 8, 100]).unwrap();
        assert_eq!(versions(), vec![(10, 2)]);
        conn.execute(
            "UPDATE wf_day_span SET client_id = 9 WHERE client_id = 8",
            [],
        )
        .unwrap();
        assert_eq!(versions(), vec![(10, 4)], "old and new key, one day");
        conn.execute("UPDATE wf_day_span SET day = 11 WHERE client_id = 9", [])
            .unwrap();
        assert_eq!(versions(), vec![(10, 5), (11, 1)]);
        conn.execute("DELETE FROM wf_day_span WHERE day = 11", [])
            .unwrap();
        assert_eq!(versions(), vec![(10, 5), (11, 2)]);
    }
}
