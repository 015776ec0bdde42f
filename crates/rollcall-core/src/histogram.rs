//! A lock-free histogram over fixed bucket bounds, for the figures `/metrics`
//! exposes (request latency, group-commit size). Recording is one relaxed atomic
//! add per bucket hit plus the count and sum; nothing allocates after creation.
//!
//! Buckets are stored non-cumulatively (each observation lands in exactly one);
//! [`Histogram::snapshot`] turns them into Prometheus' cumulative `le` counts.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counts of observations at or below each bound, plus their count and sum.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [u64],
    /// One slot per bound, and a last one for observations above every bound.
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum: AtomicU64,
}

/// A consistent-enough copy of a histogram: cumulative counts per bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// `(bound, observations ≤ bound)`, bounds ascending.
    pub cumulative: Vec<(u64, u64)>,
    /// Every observation (the `+Inf` bucket).
    pub count: u64,
    /// The sum of the observed values.
    pub sum: u64,
}

impl Histogram {
    /// A histogram over `bounds`, which must be strictly ascending.
    pub fn new(bounds: &'static [u64]) -> Histogram {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, value: u64) {
        let slot = self.bounds.partition_point(|&b| b < value);
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    /// The cumulative counts. Read while others record, the buckets, count and
    /// sum may each be a few observations apart; `count` is never below the
    /// last bucket's cumulative count.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut running = 0;
        let cumulative = self
            .bounds
            .iter()
            .zip(self.buckets.iter())
            .map(|(&bound, bucket)| {
                running += bucket.load(Ordering::Relaxed);
                (bound, running)
            })
            .collect();
        let above = self.buckets[self.bounds.len()].load(Ordering::Relaxed);
        let count = self.count.load(Ordering::Relaxed).max(running + above);
        HistogramSnapshot {
            cumulative,
            count,
            sum: self.sum.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_whose_bound_is_not_below_them() {
        static BOUNDS: [u64; 3] = [1, 4, 16];
        let h = Histogram::new(&BOUNDS);
        for v in [0, 1, 2, 4, 5, 16, 17, 1000] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.cumulative, vec![(1, 2), (4, 4), (16, 6)]);
        assert_eq!(s.count, 8);
        assert_eq!(s.sum, 1045);
    }

    #[test]
    fn an_empty_histogram_reads_all_zero() {
        static BOUNDS: [u64; 2] = [10, 20];
        let s = Histogram::new(&BOUNDS).snapshot();
        assert_eq!(s.cumulative, vec![(10, 0), (20, 0)]);
        assert_eq!((s.count, s.sum), (0, 0));
    }
}
