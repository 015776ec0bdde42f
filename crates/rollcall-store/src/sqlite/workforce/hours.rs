//! Working hours on the embedded store: a page of (day, user) or (day,
//! computer) rows read from the daily rollups (`wf_day_span`, `wf_day_active`,
//! `wf_day_idle`), with group filters and a viewer's groups applied in memory.

use std::collections::{BTreeSet, HashMap};

use rollcall_core::fxhash::FxHashMap;
use rollcall_core::workforce::passive_ms;
use rusqlite::{params, Connection};
use serde_json::json;

use super::classify::Classify;
use super::day_keys::{load_filter, scoped_page};
use super::scope::{bind_scope, scope_sql, KIND_CLIENT, KIND_COMPUTER};
use crate::workforce::day_keys::DayKeysCache;
use crate::workforce::{HoursAcc, Perspective, Scoping, WorkingHoursPage, WorkingHoursQuery};
use crate::StoreResult;

/// What a page does with one rollup row of its key at `usize` (the row's
/// client and computer already read).
type RowFn<'f> = dyn FnMut(&rusqlite::Row<'_>, usize, (i64, i64)) -> StoreResult<()> + 'f;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rollup {
    Span,
    Active,
    Idle,
}

/// Reads one rollup between a page's first (?1 day, ?3 key) and last (?2 day,
/// ?4 key), in scope. The row-value range lets SQLite seek straight to the page:
/// the primary key serves the users view, a (day, computer) index the computers view.
fn rollup_sql(rollup: Rollup, perspective: Perspective, scoping: &Scoping) -> String {
    let (table, columns) = match rollup {
        Rollup::Span => (
            "wf_day_span",
            "t.first_active_ms, t.last_active_ms, t.last_any_ms",
        ),
        Rollup::Active => ("wf_day_active", "t.activity_id, t.ms"),
        Rollup::Idle => ("wf_day_idle", "t.activity_id, t.offset_ms, t.len_ms, t.n"),
    };
    // Each view seeks its own (day, key) order; without statistics the planner
    // would take whichever index covers the columns by the day prefix alone. The
    // primary key of a WITHOUT ROWID table is the index `sqlite_autoindex_<table>_1`.
    let (key_col, index) = match perspective {
        Perspective::Users => (
            "client_id",
            format!("INDEXED BY sqlite_autoindex_{table}_1"),
        ),
        Perspective::Computers => ("computer_id", format!("INDEXED BY {table}_computer")),
    };
    format!(
        "SELECT t.day, t.client_id, t.computer_id, {columns}
         FROM {table} t {index} WHERE t.account_id = ?100
           AND (t.day, t.{key_col}) >= (?1, ?3) AND (t.day, t.{key_col}) <= (?2, ?4)
           {}",
        scope_sql(scoping)
    )
}

/// One page of working hours. Without a group filter the page's keys come
/// from an indexed `LIMIT`/`OFFSET` walk (and the total from the daily counts
/// when nothing filters); with one, from [`scoped_page`] (each day's walk kept
/// in `day_keys`).
pub(super) fn working_hours(
    conn: &Connection,
    day_keys: &DayKeysCache,
    account_id: i64,
    q: &WorkingHoursQuery,
) -> StoreResult<WorkingHoursPage> {
    let settings = crate::sqlite::admin::load_settings(conn, account_id)?;
    let limit_ms = settings
        .passive_limit_minutes
        .map(|m| i64::from(m) * 60_000);
    let members = load_filter(conn, account_id, &q.scoping)?;
    // The group conditions are `members`' to check; SQL keeps the id filters.
    let scoping = match members {
        Some(_) => Scoping {
            group_id: None,
            viewable_groups: None,
            ..q.scoping.clone()
        },
        None => q.scoping.clone(),
    };
    let admits =
        |client: i64, computer: i64| members.as_ref().is_none_or(|m| m.admits(client, computer));
    let (keys, runs, total) = match &members {
        Some(m) => {
            let page = scoped_page(conn, day_keys, account_id, q, &scoping, m)?;
            (page.keys, page.runs, page.total)
        }
        None => {
            let offset = q.page.saturating_sub(1) as usize * q.page_size as usize;
            let keys = page_keys(conn, account_id, q, offset)?;
            let runs = std::iter::once(0..keys.len()).collect();
            (keys, runs, count_keys(conn, account_id, q)?)
        }
    };
    if keys.is_empty() {
        return Ok(WorkingHoursPage {
            rows: Vec::new(),
            total: total as u64,
        });
    }
    // Rows of the rollups come grouped by key, so the last key's slot is remembered.
    let slots: FxHashMap<(i32, i64), usize> =
        keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let mut accs: Vec<HoursAcc> = keys.iter().map(|_| HoursAcc::default()).collect();
    let mut recent: Option<((i32, i64), Option<usize>)> = None;
    let mut slot_of = |k: (i32, i64)| -> Option<usize> {
        match recent {
            Some((lk, slot)) if lk == k => slot,
            _ => {
                let slot = slots.get(&k).copied();
                recent = Some((k, slot));
                slot
            }
        }
    };
    let pick = |client: i64, computer: i64| match q.perspective {
        Perspective::Users => (client, computer),
        Perspective::Computers => (computer, client),
    };
    // Each rollup is read run by run: a run is page keys with nothing out of
    // scope between them (the whole page without a group filter), one range seek.
    let mut each_row = |rollup: Rollup, f: &mut RowFn<'_>| -> StoreResult<()> {
        for run in &runs {
            let (first, last) = (keys[run.start], keys[run.end - 1]);
            let mut stmt = conn.prepare_cached(&rollup_sql(rollup, q.perspective, &scoping))?;
            stmt.raw_bind_parameter(1, first.0)?;
            stmt.raw_bind_parameter(2, last.0)?;
            stmt.raw_bind_parameter(3, first.1)?;
            stmt.raw_bind_parameter(4, last.1)?;
            bind_scope(&mut stmt, account_id, &scoping)?;
            let mut rows = stmt.raw_query();
            while let Some(r) = rows.next()? {
                let (client, computer) = (r.get(1)?, r.get(2)?);
                if !admits(client, computer) {
                    continue;
                }
                let (key, _) = pick(client, computer);
                if let Some(slot) = slot_of((r.get(0)?, key)) {
                    f(r, slot, (client, computer))?;
                }
            }
        }
        Ok(())
    };
    each_row(Rollup::Span, &mut |r, slot, (client, computer)| {
        let (_, other) = pick(client, computer);
        accs[slot].add_span(other, r.get(3)?, r.get(4)?, r.get(5)?);
        Ok(())
    })?;
    let mut classify = Classify::new(conn, account_id)?;
    each_row(Rollup::Active, &mut |r, slot, (client, _)| {
        let p = classify.productivity(client, r.get(3)?)?;
        accs[slot].add_active(p, r.get(4)?);
        Ok(())
    })?;
    each_row(Rollup::Idle, &mut |r, slot, (client, _)| {
        let ms = passive_ms(r.get(4)?, r.get(5)?, limit_ms) * r.get::<_, i64>(6)?;
        if ms > 0 {
            let p = classify.productivity(client, r.get(3)?)?;
            accs[slot].add_passive(p, ms);
        }
        Ok(())
    })?;
    let names = row_names(conn, account_id, q.perspective, &keys)?;
    let out = keys
        .into_iter()
        .zip(accs)
        .map(|(k, a)| {
            let (name, groups) = names.get(&k.1).cloned().unwrap_or_default();
            a.into_row(k.0, k.1, name, groups)
        })
        .collect();
    Ok(WorkingHoursPage {
        rows: out,
        total: total as u64,
    })
}

/// The view's key column and the index that walks (day, key) in order.
pub(super) fn key_index(perspective: Perspective) -> (&'static str, &'static str) {
    match perspective {
        Perspective::Users => ("client_id", "INDEXED BY sqlite_autoindex_wf_day_span_1"),
        Perspective::Computers => ("computer_id", "INDEXED BY wf_day_span_computer"),
    }
}

/// How many (day, key) rows the unfiltered-by-group query has: the daily
/// counts when nothing filters, else a count over the id-filtered rollup.
fn count_keys(conn: &Connection, account_id: i64, q: &WorkingHoursQuery) -> StoreResult<usize> {
    let total: i64 = if q.scoping.client_id.is_none() && q.scoping.computer_id.is_none() {
        conn.prepare_cached(&format!(
            "SELECT coalesce(sum({}), 0) FROM wf_day_counts
             WHERE account_id = ?1 AND day BETWEEN ?2 AND ?3",
            match q.perspective {
                Perspective::Users => "users",
                Perspective::Computers => "computers",
            }
        ))?
        .query_row(params![account_id, q.from_day, q.to_day], |r| r.get(0))?
    } else {
        let (key_col, index) = key_index(q.perspective);
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT count(*) FROM (SELECT 1 FROM wf_day_span t {index}
             WHERE t.account_id = ?100 AND t.day BETWEEN ?1 AND ?2 {}
             GROUP BY t.day, t.{key_col})",
            scope_sql(&q.scoping)
        ))?;
        stmt.raw_bind_parameter(1, q.from_day)?;
        stmt.raw_bind_parameter(2, q.to_day)?;
        bind_scope(&mut stmt, account_id, &q.scoping)?;
        let mut rows = stmt.raw_query();
        match rows.next()? {
            Some(r) => r.get(0)?,
            None => 0,
        }
    };
    Ok(usize::try_from(total).unwrap_or(0))
}

/// One page of (day, key), in order, without a group filter.
fn page_keys(
    conn: &Connection,
    account_id: i64,
    q: &WorkingHoursQuery,
    offset: usize,
) -> StoreResult<Vec<(i32, i64)>> {
    let (key_col, index) = key_index(q.perspective);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT t.day, t.{key_col} FROM wf_day_span t {index}
         WHERE t.account_id = ?100 AND t.day BETWEEN ?1 AND ?2 {}
         GROUP BY t.day, t.{key_col} ORDER BY t.day, t.{key_col} LIMIT ?3 OFFSET ?4",
        scope_sql(&q.scoping)
    ))?;
    stmt.raw_bind_parameter(1, q.from_day)?;
    stmt.raw_bind_parameter(2, q.to_day)?;
    stmt.raw_bind_parameter(3, i64::from(q.page_size))?;
    stmt.raw_bind_parameter(4, offset as i64)?;
    bind_scope(&mut stmt, account_id, &q.scoping)?;
    let mut keys = Vec::new();
    let mut rows = stmt.raw_query();
    while let Some(r) = rows.next()? {
        keys.push((r.get(0)?, r.get(1)?));
    }
    Ok(keys)
}

/// Names and group ids of a page's users (or computers), in two queries.
fn row_names(
    conn: &Connection,
    account_id: i64,
    perspective: Perspective,
    keys: &[(i32, i64)],
) -> StoreResult<HashMap<i64, (String, Vec<i64>)>> {
    let ids: BTreeSet<i64> = keys.iter().map(|k| k.1).collect();
    let ids = json!(ids).to_string();
    let (sql, kind) = match perspective {
        Perspective::Users => (
            "SELECT id, coalesce(alias, login_domain || '\\' || name) FROM wf_clients
             WHERE account_id = ?1 AND id IN (SELECT value FROM json_each(?2))",
            KIND_CLIENT,
        ),
        Perspective::Computers => (
            "SELECT id, coalesce(alias, name) FROM wf_computers
             WHERE account_id = ?1 AND id IN (SELECT value FROM json_each(?2))",
            KIND_COMPUTER,
        ),
    };
    let mut names: HashMap<i64, (String, Vec<i64>)> = HashMap::new();
    let mut stmt = conn.prepare_cached(sql)?;
    for row in stmt.query_map(params![account_id, ids], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })? {
        let (id, name) = row?;
        names.insert(id, (name, Vec::new()));
    }
    let mut stmt = conn.prepare_cached(
        "SELECT member_id, group_id FROM wf_group_members
         WHERE account_id = ?1 AND kind = ?2 AND member_id IN (SELECT value FROM json_each(?3))
         ORDER BY member_id, group_id",
    )?;
    for row in stmt.query_map(params![account_id, kind, ids], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
    })? {
        let (id, group) = row?;
        if let Some(entry) = names.get_mut(&id) {
            entry.1.push(group);
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::super::day_keys::walk_sql;
    use super::*;
    use crate::sqlite::{DatabaseKey, SqliteStore};

    async fn empty_store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let key = DatabaseKey::resolve(None, dir.path()).unwrap();
        let store = SqliteStore::open(dir.path(), key).await.unwrap();
        (dir, store)
    }

    /// SQLite's plan of `sql`, one line per step.
    async fn query_plan(store: &SqliteStore, sql: String) -> String {
        store
            .db
            .read(move |conn| {
                let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                let mut rows = stmt.raw_query();
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(r.get::<_, String>(3)?);
                }
                Ok(out.join("\n"))
            })
            .await
            .unwrap()
    }

    /// A working-hours page reads only its own rows of each rollup, in its view's order.
    #[tokio::test]
    async fn rollup_reads_seek_to_the_page() {
        let (_dir, store) = empty_store().await;
        for perspective in [Perspective::Users, Perspective::Computers] {
            for rollup in [Rollup::Span, Rollup::Active, Rollup::Idle] {
                let sql = rollup_sql(rollup, perspective, &Scoping::default());
                let plan = query_plan(&store, sql).await;
                let key_col = match perspective {
                    Perspective::Users => "client_id",
                    Perspective::Computers => "computer_id",
                };
                assert!(
                    plan.contains(&format!("(day,{key_col})>(?,?) AND (day,{key_col})<(?,?)")),
                    "{rollup:?} {perspective:?}: {plan}"
                );
                // Every column the view reads comes from the index it walks.
                if perspective == Perspective::Computers && rollup != Rollup::Span {
                    assert!(plan.contains("COVERING INDEX"), "{rollup:?}: {plan}");
                }
            }
        }
    }

    /// With a group filter, a day's keys come from one walk of the view's
    /// index in order: no sort of the day's rows.
    #[tokio::test]
    async fn a_days_keys_walk_the_views_index_in_order() {
        let (_dir, store) = empty_store().await;
        for perspective in [Perspective::Users, Perspective::Computers] {
            let sql = walk_sql(perspective, &Scoping::default());
            let plan = query_plan(&store, sql).await;
            assert!(plan.contains("day=?"), "{perspective:?}: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{perspective:?}: {plan}");
        }
    }
}
