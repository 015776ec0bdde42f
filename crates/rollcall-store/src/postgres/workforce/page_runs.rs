//! The rollup rows of a working-hours page under a group filter (a `groupId`,
//! a viewer's groups), read as the embedded store reads them: only the page's
//! runs of keys (`ScopedPage::runs` of the kept day walks: keys with no key
//! out of scope between them), each day of a run one index range, and the
//! group conditions checked in memory on each row's client and computer.
//!
//! The page's range between its first and last key read every key between,
//! out of scope ones too, and tested each row's client and computer against
//! the groups by two sub-queries (a viewer's computers page, over half the
//! key range out of scope, took 6–11 ms at 3M events that way, 3.3–3.6 by
//! runs). The runs go to PostgreSQL as three arrays (day, first key, last
//! key) in one statement text whatever their number, so each connection plans
//! it once: a nested loop of the view's index, one range per segment.

use std::ops::Range;

use super::sql::Query;
use crate::workforce::day_keys::GroupFilter;
use crate::workforce::Perspective;

/// A filtered page's rows to read: its runs cut at day boundaries, as
/// parallel arrays (one entry per segment), and the filter the rows must pass.
pub(super) struct PageRuns {
    days: Vec<i32>,
    first: Vec<i64>,
    last: Vec<i64>,
    filter: GroupFilter,
}

impl PageRuns {
    /// The segments of `runs` over `keys` ((day, key) in order): each run's
    /// keys of one day, from the first to the last. A run holds no key out of
    /// scope, so neither does a segment: a key of the day between its first
    /// and last keys is one of them.
    pub(super) fn new(keys: &[(i32, i64)], runs: &[Range<usize>], filter: GroupFilter) -> Self {
        let mut out = PageRuns {
            days: Vec::new(),
            first: Vec::new(),
            last: Vec::new(),
            filter,
        };
        for run in runs {
            let mut open: Option<(i32, i64, i64)> = None;
            for &(day, key) in keys.get(run.clone()).unwrap_or_default() {
                open = match open {
                    Some((d, first, _)) if d == day => Some((d, first, key)),
                    Some(done) => {
                        out.push(done);
                        Some((day, key, key))
                    }
                    None => Some((day, key, key)),
                };
            }
            if let Some(done) = open {
                out.push(done);
            }
        }
        out
    }

    fn push(&mut self, (day, first, last): (i32, i64, i64)) {
        self.days.push(day);
        self.first.push(first);
        self.last.push(last);
    }

    /// Whether the filter admits a rollup row of (client, computer).
    pub(super) fn admits(&self, client: i64, computer: i64) -> bool {
        self.filter.admits(client, computer)
    }

    /// The `FROM` clause reading `table` (alias `t`) segment by segment:
    /// `account` is the placeholder bound to the account id. The rows of a key
    /// out of the filter's groups still come (a computer's other users); the
    /// caller drops them with [`PageRuns::admits`].
    ///
    /// Each segment's rows are a sub-query on the segment (`LATERAL`), kept
    /// from being merged into the join by `OFFSET 0`: a plain join of the
    /// arrays with the rollup left the planner free to hash the account's
    /// every row of the table instead, as it did on tables without
    /// statistics (just loaded); a sub-query that depends on the segment can
    /// only run once per segment, one index range.
    pub(super) fn rows_clause<'a>(
        &'a self,
        sql: &mut Query<'a>,
        account: &str,
        table: &str,
        perspective: Perspective,
    ) -> String {
        let key = match perspective {
            Perspective::Users => "client_id",
            Perspective::Computers => "computer_id",
        };
        let days = sql.bind(&self.days);
        let first = sql.bind(&self.first);
        let last = sql.bind(&self.last);
        format!(
            "unnest({days}::int4[], {first}::int8[], {last}::int8[]) AS r(day, first, last)
             CROSS JOIN LATERAL (
                 SELECT * FROM {table} t WHERE t.account_id = {account} AND t.day = r.day
                     AND t.{key} BETWEEN r.first AND r.last OFFSET 0) t"
        )
    }

    #[cfg(test)]
    fn segments(&self) -> Vec<(i32, i64, i64)> {
        (0..self.days.len())
            .map(|i| (self.days[i], self.first[i], self.last[i]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workforce::Scoping;

    fn filter() -> GroupFilter {
        let viewer = Scoping {
            viewable_groups: Some(vec![1]),
            ..Scoping::default()
        };
        GroupFilter::of_rows(&viewer, [(1, "c", 10), (1, "m", 20)]).unwrap()
    }

    #[test]
    fn a_run_is_cut_into_one_segment_per_day() {
        let keys = [(1, 4), (1, 6), (2, 1), (2, 3), (2, 9), (4, 2), (5, 7)];
        // Keys 0..3 (across days 1 and 2), 3..4, then 4..7 (days 2, 4, 5).
        let runs = PageRuns::new(&keys, &[0..3, 3..4, 4..7], filter());
        assert_eq!(
            runs.segments(),
            vec![
                (1, 4, 6),
                (2, 1, 1),
                (2, 3, 3),
                (2, 9, 9),
                (4, 2, 2),
                (5, 7, 7)
            ]
        );
        assert!(PageRuns::new(&[], &[], filter()).segments().is_empty());
    }

    /// Each rollup is read by index once per segment, under the page's
    /// planner settings (sorting and sequential scans off, one generic plan)
    /// and on tables without statistics: a nested loop over the arrays, not
    /// a hash join with the account's every row.
    #[tokio::test]
    #[ignore = "needs PostgreSQL: scripts/test.sh runs it under scripts/with-postgres.sh"]
    async fn each_segment_is_one_index_range() {
        use super::super::reports::hours_plan;
        use crate::postgres::test_db::fresh_store;

        let store = fresh_store("page_runs").await;
        let mut db = store.client().await.unwrap();
        let run = 0..2;
        let runs = PageRuns::new(&[(10, 1), (10, 3)], std::slice::from_ref(&run), filter());
        let account = 1i64;
        for perspective in [Perspective::Users, Perspective::Computers] {
            for table in ["wf_day_span", "wf_day_time"] {
                let mut sql = Query::new();
                let a = sql.bind(&account);
                let from = runs.rows_clause(&mut sql, &a, table, perspective);
                let sql = format!("SELECT t.day, t.client_id, t.computer_id FROM {from}");
                let plan = hours_plan(&mut db, &sql, "(1, '{10}', '{1}', '{3}')").await;
                let at = format!("{table} {perspective:?}: {plan}");
                assert!(plan.contains("Nested Loop"), "{at}");
                assert!(!plan.contains("Hash"), "{at}");
                // The segment's day is in the index condition; which index
                // serves its key range, statistics decide (on empty tables
                // the users view's time took the (day, computer) index).
                assert!(
                    plan.lines()
                        .any(|l| l.contains("Index Cond") && l.contains("day = r.day")),
                    "{at}"
                );
            }
        }
    }

    #[test]
    fn rows_pass_by_their_client_or_computer() {
        let runs = PageRuns::new(&[], &[], filter());
        assert!(runs.admits(10, 1) && runs.admits(11, 20));
        assert!(!runs.admits(11, 21));
    }
}
