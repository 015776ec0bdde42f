//! Which (day, key) pairs a working-hours page with a group filter (a
//! `groupId`, a viewer's groups) may show: the filter's members, the walk of
//! a day's `wf_day_span` keys that checks them in memory, and the cache of
//! each day's walk.
//!
//! A filtered page needs every admitted key of its range, to cut the page and
//! count the total, so each request walked the whole month's keys (a third of
//! the request at 10M events, most of it at ten times that). The walk of a day
//! is kept per filter and reused while the day's version is unchanged:
//! triggers on `wf_day_span` bump `wf_day_key_versions` whenever a row of the
//! day appears, goes, or moves (migration 0019), and the version is read in
//! the request's own snapshot, so a kept walk is used only when it is exactly
//! what the snapshot holds. Ingest changes today's version; the other days
//! stay kept.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use rollcall_core::fxhash::{FxHashMap, FxHashSet};
use rusqlite::{params, Connection};
use serde_json::json;

use super::wf_hours::key_index;
use super::workforce::{bind_scope, scope_sql, KIND_CLIENT, KIND_COMPUTER};
use crate::workforce::{Perspective, Scoping, WorkingHoursQuery};
use crate::StoreResult;

/// How many keys the cache holds in all (16 bytes each with their gap flags
/// and the vectors' slack, about 16 MB): a month of a 10M-event account's
/// days under one filter is about 7,000 keys, ten times that at ten times
/// the data. Filters used least recently go first.
const KEPT_KEYS: usize = 1 << 20;

/// The clients and computers of some groups: a rollup row is theirs when its
/// client or its computer is a member.
#[derive(Debug, Default)]
struct Members {
    clients: FxHashSet<i64>,
    computers: FxHashSet<i64>,
}

impl Members {
    fn of_groups(conn: &Connection, account_id: i64, groups: &[i64]) -> StoreResult<Members> {
        let mut stmt = conn.prepare_cached(
            "SELECT kind, member_id FROM wf_group_members
             WHERE account_id = ?1 AND group_id IN (SELECT value FROM json_each(?2))",
        )?;
        let mut members = Members::default();
        let mut rows = stmt.query(params![account_id, json!(groups).to_string()])?;
        while let Some(r) = rows.next()? {
            let (kind, id): (String, i64) = (r.get(0)?, r.get(1)?);
            if kind == KIND_CLIENT {
                members.clients.insert(id);
            } else if kind == KIND_COMPUTER {
                members.computers.insert(id);
            }
        }
        Ok(members)
    }

    fn admits(&self, client: i64, computer: i64) -> bool {
        self.clients.contains(&client) || self.computers.contains(&computer)
    }

    /// The members in order, clients then computers: what identifies them in
    /// the cache.
    fn sorted(&self) -> [Vec<i64>; 2] {
        [&self.clients, &self.computers].map(|set| {
            let mut ids: Vec<i64> = set.iter().copied().collect();
            ids.sort_unstable();
            ids
        })
    }
}

/// A query's group conditions: the `groupId` filter and a viewer's groups,
/// both of which a row must pass.
#[derive(Debug)]
pub(super) struct GroupFilter {
    group: Option<Members>,
    viewable: Option<Members>,
}

impl GroupFilter {
    /// `None` when the query has no group condition.
    pub(super) fn load(
        conn: &Connection,
        account_id: i64,
        s: &Scoping,
    ) -> StoreResult<Option<GroupFilter>> {
        if s.group_id.is_none() && s.viewable_groups.is_none() {
            return Ok(None);
        }
        let group = match s.group_id {
            Some(id) => Some(Members::of_groups(conn, account_id, &[id])?),
            None => None,
        };
        let viewable = match &s.viewable_groups {
            Some(ids) => Some(Members::of_groups(conn, account_id, ids)?),
            None => None,
        };
        Ok(Some(GroupFilter { group, viewable }))
    }

    pub(super) fn admits(&self, client: i64, computer: i64) -> bool {
        [&self.group, &self.viewable]
            .into_iter()
            .flatten()
            .all(|m| m.admits(client, computer))
    }
}

/// One page of the (day, key)s a group filter admits, and how many there are.
#[derive(Debug, PartialEq)]
pub(super) struct ScopedPage {
    pub(super) keys: Vec<(i32, i64)>,
    /// The page cut into runs of keys with no key out of scope between them:
    /// each run is one range seek of the rollups.
    pub(super) runs: Vec<std::ops::Range<usize>>,
    pub(super) total: usize,
}

impl ScopedPage {
    /// Keys `offset..offset + size` of the days' walks in order.
    fn cut(days: &[(i32, &DayKeys)], offset: usize, size: usize) -> ScopedPage {
        let mut page = ScopedPage {
            keys: Vec::new(),
            runs: Vec::new(),
            total: days.iter().map(|(_, d)| d.keys.len()).sum(),
        };
        let end = offset.saturating_add(size);
        // Keys before this day, and whether keys out of scope came since the
        // last admitted one.
        let mut before = 0;
        let mut gap = false;
        for (day, walk) in days {
            let here = before..before + walk.keys.len();
            if here.end > offset && here.start < end {
                for i in here.start.max(offset)..here.end.min(end) {
                    let j = i - before;
                    let after_gap = walk.after_gap[j] || (j == 0 && gap);
                    let at = page.keys.len();
                    match page.runs.last_mut() {
                        Some(run) if !after_gap => run.end = at + 1,
                        _ => page.runs.push(at..at + 1),
                    }
                    page.keys.push((*day, walk.keys[j]));
                }
            }
            gap = match walk.keys.is_empty() {
                true => gap || walk.tail_gap,
                false => walk.tail_gap,
            };
            before = here.end;
        }
        page
    }
}

/// One day's walk under one filter, at the day's version.
#[derive(Debug, PartialEq)]
struct DayKeys {
    version: i64,
    keys: Vec<i64>,
    /// Per key: some key out of scope comes between it and the one before
    /// (for the first, since the day began).
    after_gap: Vec<bool>,
    /// Some key out of scope comes after the last admitted one (with none
    /// admitted: the day has a key at all).
    tail_gap: bool,
}

/// What decides which keys a walk admits: the view, the id filters, and the
/// members of the group and of the viewer's groups.
#[derive(Debug, PartialEq, Eq)]
struct FilterId {
    account_id: i64,
    perspective: Perspective,
    client_id: Option<i64>,
    computer_id: Option<i64>,
    group: Option<[Vec<i64>; 2]>,
    viewable: Option<[Vec<i64>; 2]>,
}

impl FilterId {
    fn of(
        account_id: i64,
        perspective: Perspective,
        id_scoping: &Scoping,
        f: &GroupFilter,
    ) -> Self {
        FilterId {
            account_id,
            perspective,
            client_id: id_scoping.client_id,
            computer_id: id_scoping.computer_id,
            group: f.group.as_ref().map(Members::sorted),
            viewable: f.viewable.as_ref().map(Members::sorted),
        }
    }
}

/// The days walked under one filter.
struct FilterDays {
    id: FilterId,
    days: FxHashMap<i32, Arc<DayKeys>>,
    keys: usize,
}

/// The kept walks of the store's filters, least recently used first.
#[derive(Default)]
pub(crate) struct DayKeysCache {
    filters: Mutex<VecDeque<FilterDays>>,
}

impl DayKeysCache {
    /// The kept walks of `id`'s `days` that are still at the day's version
    /// (`None` for the others).
    fn kept(&self, id: &FilterId, days: &[(i32, i64)]) -> Vec<Option<Arc<DayKeys>>> {
        let none = || vec![None; days.len()];
        let Ok(mut filters) = self.filters.lock() else {
            return none();
        };
        let found = filters.iter().position(|f| f.id == *id);
        let Some(entry) = found.and_then(|at| filters.remove(at)) else {
            return none();
        };
        let kept = days
            .iter()
            .map(|(day, version)| {
                entry
                    .days
                    .get(day)
                    .filter(|k| k.version == *version)
                    .cloned()
            })
            .collect();
        // Most recently used at the back.
        filters.push_back(entry);
        kept
    }

    /// Keeps `walked` days of `id`, evicting the filters used least recently
    /// past [`KEPT_KEYS`]; a filter larger than that alone is not kept.
    fn keep(&self, id: FilterId, walked: Vec<(i32, Arc<DayKeys>)>) {
        let Ok(mut filters) = self.filters.lock() else {
            return;
        };
        let found = filters.iter().position(|f| f.id == id);
        let mut entry = found
            .and_then(|at| filters.remove(at))
            .unwrap_or_else(|| FilterDays {
                id,
                days: FxHashMap::default(),
                keys: 0,
            });
        for (day, keys) in walked {
            entry.keys += keys.keys.len();
            if let Some(old) = entry.days.insert(day, keys) {
                entry.keys -= old.keys.len();
            }
        }
        if entry.keys > KEPT_KEYS {
            return;
        }
        let mut total: usize = filters.iter().map(|f| f.keys).sum::<usize>() + entry.keys;
        while total > KEPT_KEYS {
            match filters.pop_front() {
                Some(old) => total -= old.keys,
                None => break,
            }
        }
        filters.push_back(entry);
    }
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
    let days = day_versions(conn, account_id, q.from_day, q.to_day)?;
    let id = FilterId::of(account_id, q.perspective, id_scoping, members);
    let mut kept = cache.kept(&id, &days);
    let mut walked = Vec::new();
    for ((day, version), slot) in days.iter().zip(kept.iter_mut()) {
        if slot.is_none() {
            let keys = Arc::new(walk_day(
                conn,
                account_id,
                (*day, *version),
                q.perspective,
                id_scoping,
                members,
            )?);
            walked.push((*day, keys.clone()));
            *slot = Some(keys);
        }
    }
    if !walked.is_empty() {
        cache.keep(id, walked);
    }
    let walks: Vec<(i32, &DayKeys)> = days
        .iter()
        .zip(&kept)
        .filter_map(|((day, _), walk)| Some((*day, walk.as_deref()?)))
        .collect();
    let offset = q.page.saturating_sub(1) as usize * q.page_size as usize;
    Ok(ScopedPage::cut(&walks, offset, q.page_size as usize))
}

/// Every day from `from` to `to` with its key version (0 when it never had one).
fn day_versions(
    conn: &Connection,
    account_id: i64,
    from: i32,
    to: i32,
) -> StoreResult<Vec<(i32, i64)>> {
    let mut versions: FxHashMap<i32, i64> = FxHashMap::default();
    let mut stmt = conn.prepare_cached(
        "SELECT day, version FROM wf_day_key_versions
         WHERE account_id = ?1 AND day BETWEEN ?2 AND ?3",
    )?;
    let mut rows = stmt.query(params![account_id, from, to])?;
    while let Some(r) = rows.next()? {
        versions.insert(r.get(0)?, r.get(1)?);
    }
    Ok((from..=to)
        .map(|day| (day, versions.get(&day).copied().unwrap_or(0)))
        .collect())
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
    let mut out = DayKeys {
        version,
        keys: Vec::new(),
        after_gap: Vec::new(),
        tail_gap: false,
    };
    // The key being walked and whether one of its rows was admitted.
    let mut walking: Option<(i64, bool)> = None;
    let mut gap = false;
    let mut rows = stmt.raw_query();
    while let Some(r) = rows.next()? {
        let key: i64 = r.get(0)?;
        match walking {
            Some((k, true)) if k == key => continue,
            Some((k, false)) if k == key => {}
            Some((_, admitted)) => {
                gap |= !admitted;
                walking = Some((key, false));
            }
            None => walking = Some((key, false)),
        }
        let other: i64 = r.get(1)?;
        let (client, computer) = match perspective {
            Perspective::Users => (key, other),
            Perspective::Computers => (other, key),
        };
        if members.admits(client, computer) {
            out.keys.push(key);
            out.after_gap.push(gap);
            gap = false;
            walking = Some((key, true));
        }
    }
    out.tail_gap = gap || walking.is_some_and(|(_, admitted)| !admitted);
    Ok(out)
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

    fn day(version: i64, keys: &[i64], after_gap: &[bool], tail_gap: bool) -> DayKeys {
        DayKeys {
            version,
            keys: keys.to_vec(),
            after_gap: after_gap.to_vec(),
            tail_gap,
        }
    }

    fn id(account_id: i64) -> FilterId {
        FilterId {
            account_id,
            perspective: Perspective::Users,
            client_id: None,
            computer_id: None,
            group: Some([vec![1, 2], vec![]]),
            viewable: None,
        }
    }

    /// The triggers bump a day's version when a key appears, goes or moves,
    /// and not when ingest only widens an existing key's span.
    #[test]
    fn a_days_version_moves_with_its_keys_only() {
        let conn = Connection::open_in_memory().unwrap();
        super::super::migrations::run(&conn).unwrap();
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

    #[test]
    fn a_page_is_cut_from_the_days_with_runs_where_keys_out_of_scope_lie_between() {
        // Day 1: keys 1, 2, then (out of scope) 3, 4; day 2: only keys out of
        // scope; day 3: 5 right at the start, then 6 after one out of scope.
        let d1 = day(0, &[1, 2, 4], &[false, false, true], false);
        let d2 = day(0, &[], &[], true);
        let d3 = day(0, &[5, 6], &[false, true], false);
        let days = [(1, &d1), (2, &d2), (3, &d3)];
        let page = |offset, size| ScopedPage::cut(&days, offset, size);
        let all = page(0, 10);
        assert_eq!(all.total, 5);
        assert_eq!(all.keys, vec![(1, 1), (1, 2), (1, 4), (3, 5), (3, 6)]);
        assert_eq!(all.runs, vec![0..2, 2..3, 3..4, 4..5]);
        // A page's first key starts a run whatever lies before it.
        let second = page(1, 2);
        assert_eq!(second.keys, vec![(1, 2), (1, 4)]);
        assert_eq!(second.runs, vec![0..1, 1..2]);
        assert_eq!(page(2, 1).runs, vec![0..1]);
        // Without the empty day between, day 3's first key follows on.
        let days = [(1, &d1), (3, &d3)];
        assert_eq!(ScopedPage::cut(&days, 2, 2).runs, vec![0..2]);
        let past = page(5, 10);
        assert!(past.keys.is_empty() && past.runs.is_empty());
        assert_eq!(past.total, 5);
    }

    #[test]
    fn a_kept_day_serves_only_its_own_version_and_filter() {
        let cache = DayKeysCache::default();
        cache.keep(
            id(1),
            vec![
                (10, Arc::new(day(3, &[1], &[false], false))),
                (11, Arc::new(day(0, &[], &[], true))),
            ],
        );
        let kept = cache.kept(&id(1), &[(10, 3), (11, 1), (12, 0)]);
        assert_eq!(kept[0].as_deref(), Some(&day(3, &[1], &[false], false)));
        // Day 11 changed since (version 1), day 12 was never walked.
        assert!(kept[1].is_none() && kept[2].is_none());
        // Another account's (or another member set's) filter shares nothing.
        assert!(cache.kept(&id(2), &[(10, 3)])[0].is_none());
        let mut other = id(1);
        other.group = Some([vec![1, 2, 3], vec![]]);
        assert!(cache.kept(&other, &[(10, 3)])[0].is_none());
    }

    #[test]
    fn the_least_recently_used_filter_goes_past_the_budget() {
        let cache = DayKeysCache::default();
        let half = |v| {
            Arc::new(day(
                v,
                &vec![7; KEPT_KEYS / 2],
                &vec![false; KEPT_KEYS / 2],
                false,
            ))
        };
        cache.keep(id(1), vec![(1, half(1))]);
        cache.keep(id(2), vec![(1, half(1))]);
        // Account 1 used last: account 2's walk goes when a third comes.
        assert!(cache.kept(&id(1), &[(1, 1)])[0].is_some());
        cache.keep(id(3), vec![(1, half(1))]);
        assert!(cache.kept(&id(2), &[(1, 1)])[0].is_none());
        assert!(cache.kept(&id(1), &[(1, 1)])[0].is_some());
        assert!(cache.kept(&id(3), &[(1, 1)])[0].is_some());
    }
}
