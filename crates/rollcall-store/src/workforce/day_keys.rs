//! The kept day walks of working hours under a group filter, shared by both
//! backends: which (day, key) pairs a page with a group filter (a `groupId`,
//! a viewer's groups) may show, without walking the whole range per request.
//!
//! A filtered page needs every admitted key of its range, to cut the page and
//! count the total. Each day's walk is kept per filter ([`FilterId`]: the
//! view, the id filters and the members of the groups, read in the request's
//! snapshot) and reused while the day's key version is unchanged. Each
//! backend's triggers on `wf_day_span` bump `wf_day_key_versions` whenever a
//! row of the day appears, goes or moves (not when ingest only widens a known
//! span), in the transaction that does it; a request reads the versions in
//! its own snapshot, so a kept walk is used only when it is exactly what that
//! snapshot holds, whatever other processes wrote meanwhile.
//!
//! Only the pure parts live here: the members and their check, the walk of a
//! day from its rows in key order ([`DayWalk`]), the cache ([`DayKeysCache`]),
//! a request's use of it ([`DayPlan`]) and the page cut ([`ScopedPage`]). The
//! backends read the members, the versions and the days' rows.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use rollcall_core::fxhash::{FxHashMap, FxHashSet};

use super::{member_side, Member, Perspective, Scoping};

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
    fn add(&mut self, kind: &str, id: i64) {
        if kind == member_side(Member::Client).kind {
            self.clients.insert(id);
        } else if kind == member_side(Member::Computer).kind {
            self.computers.insert(id);
        }
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
pub(crate) struct GroupFilter {
    group: Option<Members>,
    viewable: Option<Members>,
}

impl GroupFilter {
    /// The groups whose members the query's group conditions need (each
    /// once), or `None` when it has none.
    pub(crate) fn groups_asked(s: &Scoping) -> Option<Vec<i64>> {
        if s.group_id.is_none() && s.viewable_groups.is_none() {
            return None;
        }
        let mut ids: Vec<i64> = s.group_id.into_iter().collect();
        ids.extend(s.viewable_groups.iter().flatten());
        ids.sort_unstable();
        ids.dedup();
        Some(ids)
    }

    /// The conditions of `s` from its groups' member rows (group id, kind,
    /// member id), read in the request's snapshot; `None` when it has none.
    pub(crate) fn of_rows<K: AsRef<str>>(
        s: &Scoping,
        rows: impl IntoIterator<Item = (i64, K, i64)>,
    ) -> Option<GroupFilter> {
        GroupFilter::groups_asked(s)?;
        let mut group = s.group_id.map(|_| Members::default());
        let mut viewable = s.viewable_groups.as_ref().map(|_| Members::default());
        for (group_id, kind, id) in rows {
            if let Some(m) = group.as_mut().filter(|_| s.group_id == Some(group_id)) {
                m.add(kind.as_ref(), id);
            }
            let viewed = s
                .viewable_groups
                .as_ref()
                .is_some_and(|v| v.contains(&group_id));
            if let Some(m) = viewable.as_mut().filter(|_| viewed) {
                m.add(kind.as_ref(), id);
            }
        }
        Some(GroupFilter { group, viewable })
    }

    pub(crate) fn admits(&self, client: i64, computer: i64) -> bool {
        [&self.group, &self.viewable]
            .into_iter()
            .flatten()
            .all(|m| m.admits(client, computer))
    }

    /// Whether a rollup row of the view is admitted, given as a day walk
    /// reads it: its key (client or computer, by view) and the other party.
    pub(crate) fn admits_row(&self, perspective: Perspective, key: i64, other: i64) -> bool {
        match perspective {
            Perspective::Users => self.admits(key, other),
            Perspective::Computers => self.admits(other, key),
        }
    }
}

/// One page of the (day, key)s a group filter admits, and how many there are.
#[derive(Debug, PartialEq)]
pub(crate) struct ScopedPage {
    pub(crate) keys: Vec<(i32, i64)>,
    /// The page cut into runs of keys with no key out of scope between them:
    /// each run is one range seek of the rollups.
    pub(crate) runs: Vec<std::ops::Range<usize>>,
    pub(crate) total: usize,
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
pub(crate) struct DayKeys {
    version: i64,
    keys: Vec<i64>,
    /// Per key: some key out of scope comes between it and the one before
    /// (for the first, since the day began).
    after_gap: Vec<bool>,
    /// Some key out of scope comes after the last admitted one (with none
    /// admitted: the day has a key at all).
    tail_gap: bool,
}

/// A day's walk being built from the day's rollup rows in the view's key
/// order (several rows per key: one per other party).
pub(crate) struct DayWalk {
    out: DayKeys,
    /// The key being walked and whether one of its rows was admitted.
    walking: Option<(i64, bool)>,
    /// Whether a key out of scope came since the last admitted one.
    gap: bool,
}

impl DayWalk {
    pub(crate) fn new(version: i64) -> DayWalk {
        DayWalk {
            out: DayKeys {
                version,
                keys: Vec::new(),
                after_gap: Vec::new(),
                tail_gap: false,
            },
            walking: None,
            gap: false,
        }
    }

    /// The next row, of `key`: `admitted` (whether the filter admits the
    /// row's client and computer) is asked only while the key has no
    /// admitted row yet.
    pub(crate) fn row<E>(
        &mut self,
        key: i64,
        admitted: impl FnOnce() -> Result<bool, E>,
    ) -> Result<(), E> {
        match self.walking {
            Some((k, true)) if k == key => return Ok(()),
            Some((k, false)) if k == key => {}
            Some((_, admitted)) => {
                self.gap |= !admitted;
                self.walking = Some((key, false));
            }
            None => self.walking = Some((key, false)),
        }
        if admitted()? {
            self.out.keys.push(key);
            self.out.after_gap.push(self.gap);
            self.gap = false;
            self.walking = Some((key, true));
        }
        Ok(())
    }

    pub(crate) fn finish(mut self) -> DayKeys {
        self.out.tail_gap = self.gap || self.walking.is_some_and(|(_, admitted)| !admitted);
        self.out
    }
}

/// What decides which keys a walk admits: the view, the id filters, and the
/// members of the group and of the viewer's groups.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FilterId {
    account_id: i64,
    perspective: Perspective,
    client_id: Option<i64>,
    computer_id: Option<i64>,
    group: Option<[Vec<i64>; 2]>,
    viewable: Option<[Vec<i64>; 2]>,
}

impl FilterId {
    pub(crate) fn of(
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

/// The kept walks of one store's filters, least recently used first.
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

/// Every day from `from` to `to` with its key version from `rows` (day,
/// version), 0 for a day without one (it never had a key).
pub(crate) fn day_versions(
    from: i32,
    to: i32,
    rows: impl IntoIterator<Item = (i32, i64)>,
) -> Vec<(i32, i64)> {
    let versions: FxHashMap<i32, i64> = rows.into_iter().collect();
    (from..=to)
        .map(|day| (day, versions.get(&day).copied().unwrap_or(0)))
        .collect()
}

/// One request's use of the cache: the days of its range at the versions its
/// snapshot read, the kept walks still valid, and the days left to walk.
pub(crate) struct DayPlan<'c> {
    cache: &'c DayKeysCache,
    id: FilterId,
    days: Vec<(i32, i64)>,
    kept: Vec<Option<Arc<DayKeys>>>,
}

impl<'c> DayPlan<'c> {
    /// `days`: every day of the range with its version ([`day_versions`]).
    pub(crate) fn new(cache: &'c DayKeysCache, id: FilterId, days: Vec<(i32, i64)>) -> Self {
        let kept = cache.kept(&id, &days);
        DayPlan {
            cache,
            id,
            days,
            kept,
        }
    }

    /// The days (with their versions) without a valid kept walk, in order.
    pub(crate) fn missing(&self) -> Vec<(i32, i64)> {
        self.days
            .iter()
            .zip(&self.kept)
            .filter(|(_, k)| k.is_none())
            .map(|(d, _)| *d)
            .collect()
    }

    /// Keys `offset..offset + size` of the range, with the walks of the
    /// [`DayPlan::missing`] days (each at the version it was asked with),
    /// which the cache keeps.
    pub(crate) fn page(
        mut self,
        walked: Vec<(i32, DayKeys)>,
        offset: usize,
        size: usize,
    ) -> ScopedPage {
        let walked: Vec<(i32, Arc<DayKeys>)> =
            walked.into_iter().map(|(d, k)| (d, Arc::new(k))).collect();
        let at: FxHashMap<i32, usize> = self
            .days
            .iter()
            .enumerate()
            .map(|(i, (d, _))| (*d, i))
            .collect();
        for (day, keys) in &walked {
            if let Some(slot) = at.get(day).and_then(|i| self.kept.get_mut(*i)) {
                *slot = Some(keys.clone());
            }
        }
        if !walked.is_empty() {
            self.cache.keep(self.id, walked);
        }
        let walks: Vec<(i32, &DayKeys)> = self
            .days
            .iter()
            .zip(&self.kept)
            .filter_map(|((day, _), walk)| Some((*day, walk.as_deref()?)))
            .collect();
        ScopedPage::cut(&walks, offset, size)
    }
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
    fn a_walk_keeps_each_admitted_key_once_and_marks_the_gaps() {
        // (key, admitted) rows in key order: key 1 admitted by its second
        // row, 2 never, 3 by its first, 4 never.
        let rows = [
            (1, false),
            (1, true),
            (1, true),
            (2, false),
            (3, true),
            (3, false),
            (4, false),
        ];
        let mut walk = DayWalk::new(7);
        let mut asked = 0;
        for (key, admitted) in rows {
            walk.row(key, || {
                asked += 1;
                Ok::<_, ()>(admitted)
            })
            .unwrap();
        }
        // Rows of a key already admitted are not checked.
        assert_eq!(asked, 5);
        assert_eq!(walk.finish(), day(7, &[1, 3], &[false, true], true));
        let mut none = DayWalk::new(1);
        none.row(5, || Ok::<_, ()>(false)).unwrap();
        assert_eq!(none.finish(), day(1, &[], &[], true));
        assert_eq!(DayWalk::new(0).finish(), day(0, &[], &[], false));
    }

    #[test]
    fn a_filter_takes_each_condition_from_its_own_groups() {
        let s = Scoping {
            group_id: Some(1),
            viewable_groups: Some(vec![2, 1]),
            ..Scoping::default()
        };
        assert_eq!(GroupFilter::groups_asked(&s), Some(vec![1, 2]));
        assert_eq!(GroupFilter::groups_asked(&Scoping::default()), None);
        let rows = [(1, "c", 10), (2, "m", 20), (1, "m", 21)];
        let f = GroupFilter::of_rows(&s, rows).unwrap();
        // Group 1: client 10 or computer 21; the viewer's 1 and 2 add computer 20.
        assert!(f.admits(10, 99));
        assert!(f.admits(11, 21));
        assert!(!f.admits(11, 20), "in the viewer's groups but not group 1");
        let viewer = Scoping {
            viewable_groups: Some(vec![2]),
            ..Scoping::default()
        };
        let f = GroupFilter::of_rows(&viewer, rows).unwrap();
        assert!(f.admits(11, 20) && !f.admits(10, 21));
        assert!(GroupFilter::of_rows(&Scoping::default(), rows).is_none());
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
    fn a_plan_walks_only_the_days_not_kept_and_keeps_them() {
        let cache = DayKeysCache::default();
        let days = day_versions(10, 12, [(10, 3), (11, 1)]);
        assert_eq!(days, vec![(10, 3), (11, 1), (12, 0)]);
        let plan = DayPlan::new(&cache, id(1), days.clone());
        assert_eq!(plan.missing(), days);
        let walked = vec![
            (10, day(3, &[1, 2], &[false, false], false)),
            (11, day(1, &[], &[], false)),
            (12, day(0, &[5], &[false], false)),
        ];
        let page = plan.page(walked, 1, 5);
        assert_eq!((page.keys, page.total), (vec![(10, 2), (12, 5)], 3));
        // Day 11 moved on since: only it is walked again.
        let plan = DayPlan::new(&cache, id(1), vec![(10, 3), (11, 2), (12, 0)]);
        assert_eq!(plan.missing(), vec![(11, 2)]);
        let page = plan.page(vec![(11, day(2, &[4], &[false], false))], 0, 10);
        assert_eq!(page.keys, vec![(10, 1), (10, 2), (11, 4), (12, 5)]);
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
