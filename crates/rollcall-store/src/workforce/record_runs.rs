//! What both stores' runs of activity records share (embedded
//! `sqlite/workforce/runs.rs`, PostgreSQL `postgres/workforce/record_runs.rs`):
//! the span of raw starts one run covers, and the merging of the log-id ranges
//! read through runs so that each stretch of records is read once.

/// The raw starts of one run lie in one bucket this long (six hours; also in
/// the runs migrations, embedded 0018 and PostgreSQL 23).
pub(crate) const RUN_SPAN_MS: i64 = 6 * 3600 * 1000;

/// `ranges` (inclusive, sorted by start) with those that overlap or touch
/// made one.
pub(crate) fn merged_ranges(ranges: impl IntoIterator<Item = (i64, i64)>) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for (first, last) in ranges {
        match out.last_mut() {
            Some(m) if first <= m.1.saturating_add(1) => m.1 = m.1.max(last),
            _ => out.push((first, last)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::merged_ranges;

    #[test]
    fn overlapping_and_touching_ranges_are_read_once() {
        assert_eq!(
            merged_ranges(vec![
                (1, 10),
                (1, 10),
                (5, 12),
                (13, 20),
                (30, 31),
                (31, 40)
            ]),
            vec![(1, 20), (30, 40)]
        );
        assert_eq!(merged_ranges(Vec::new()), Vec::new());
    }
}
