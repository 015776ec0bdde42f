//! Idle stretches (SPEC §5: "the first `passiveLimitMinutes` of each idle
//! stretch"): touching or overlapping idle records of one computer and user
//! form one stretch, whichever batch they came in and in whatever order.
//!
//! The stores keep, per (computer, user), the stretches as disjoint intervals
//! that do not touch, each with its origin: the earliest `start − idleOffset`
//! of its records (an agent may say how much of the stretch had already
//! elapsed when a record starts). Every idle piece is counted in the idle
//! histogram at its offset from that origin, so the passive limit is applied at
//! read time and the stored result is a function of the set of records: a new
//! record joins or bridges stretches, the merged stretch takes the earliest
//! origin, and the records of a stretch whose origin moved are moved in the
//! histogram by the same amount ([`plan`]).

use std::collections::BTreeMap;

use jiff::tz::TimeZone;

use crate::workforce::{split_at_local_midnight, Piece};

/// One stored stretch: `[start_ms, end_ms]`, offsets counted from `origin_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stretch {
    pub start_ms: i64,
    pub end_ms: i64,
    pub origin_ms: i64,
}

/// A newly stored idle record of positive length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewIdle {
    pub start_ms: i64,
    pub end_ms: i64,
    /// `start_ms` minus the record's `idleOffsetSeconds` (0 when not given).
    pub origin_ms: i64,
}

/// A stored stretch whose records move `delta_ms` further into the merged stretch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    pub stretch: Stretch,
    pub delta_ms: i64,
}

/// What a batch does to the stretches of one (computer, user).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Start of each stored stretch to delete (merged into a new one).
    pub removed: Vec<i64>,
    /// The stretches to store in their place, and the new records' own.
    pub inserted: Vec<Stretch>,
    /// Stored stretches whose origin moved earlier.
    pub moved: Vec<Moved>,
    /// For each new record (in the order given), its offset into its stretch.
    pub offsets: Vec<i64>,
}

/// The intervals the new records cover once the touching ones are joined: the
/// ranges whose touching stored stretches [`plan`] needs.
pub fn reach(new: &[NewIdle]) -> Vec<(i64, i64)> {
    let mut spans: Vec<(i64, i64)> = new.iter().map(|n| (n.start_ms, n.end_ms)).collect();
    spans.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Merges new idle records into the stored stretches. `existing` must hold at
/// least every stored stretch that touches one of [`reach`]'s intervals
/// (others are left alone); stored stretches never touch one another.
pub fn plan(existing: &[Stretch], new: &[NewIdle]) -> Plan {
    // Both kinds in one sweep by start.
    enum Item {
        Stored(Stretch),
        New(usize),
    }
    let mut items: Vec<(i64, i64, Item)> = existing
        .iter()
        .map(|s| (s.start_ms, s.end_ms, Item::Stored(*s)))
        .chain(
            new.iter()
                .enumerate()
                .map(|(i, n)| (n.start_ms, n.end_ms, Item::New(i))),
        )
        .collect();
    items.sort_by_key(|(s, e, _)| (*s, *e));
    let mut out = Plan {
        offsets: vec![0; new.len()],
        ..Plan::default()
    };
    let mut i = 0;
    while i < items.len() {
        // One component: every item that starts before the running end.
        let start = items[i].0;
        let mut end = items[i].1;
        let mut j = i + 1;
        while j < items.len() && items[j].0 <= end {
            end = end.max(items[j].1);
            j += 1;
        }
        let component = &items[i..j];
        let has_new = component.iter().any(|c| matches!(c.2, Item::New(_)));
        if has_new {
            let origin = component
                .iter()
                .map(|c| match &c.2 {
                    Item::Stored(s) => s.origin_ms,
                    Item::New(k) => new[*k].origin_ms,
                })
                .min()
                .unwrap_or(start);
            for c in component {
                match &c.2 {
                    Item::Stored(s) => {
                        out.removed.push(s.start_ms);
                        if s.origin_ms != origin {
                            out.moved.push(Moved {
                                stretch: *s,
                                delta_ms: s.origin_ms - origin,
                            });
                        }
                    }
                    Item::New(k) => out.offsets[*k] = new[*k].start_ms - origin,
                }
            }
            out.inserted.push(Stretch {
                start_ms: start,
                end_ms: end,
                origin_ms: origin,
            });
        }
        i = j;
    }
    out
}

/// The pieces a stored idle record was counted with: one on its `day` unless it
/// crossed local midnight, when the stores keep the zone it was split in.
pub fn stored_pieces(
    start_ms: i64,
    len_ms: i64,
    day: i32,
    split_zone: Option<&TimeZone>,
) -> Vec<Piece> {
    match split_zone {
        Some(tz) => split_at_local_midnight(start_ms, len_ms, tz),
        None => vec![Piece {
            day,
            start_ms,
            end_ms: start_ms + len_ms,
            offset_ms: 0,
        }],
    }
}

/// Changes to the idle histogram, by (day, activity, offset, length): +n for
/// pieces added at an offset, −n for pieces taken away from one.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HistogramDelta(pub BTreeMap<(i32, i64, i64, i64), i64>);

impl HistogramDelta {
    pub fn add(&mut self, day: i32, activity: i64, offset_ms: i64, len_ms: i64, n: i64) {
        if len_ms <= 0 || n == 0 {
            return;
        }
        let slot = self
            .0
            .entry((day, activity, offset_ms, len_ms))
            .or_default();
        *slot += n;
        if *slot == 0 {
            self.0.remove(&(day, activity, offset_ms, len_ms));
        }
    }

    /// Whether some count goes down (the store must then drop rows left at 0).
    pub fn has_removals(&self) -> bool {
        self.0.values().any(|n| *n < 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idle(s: i64, e: i64) -> NewIdle {
        NewIdle {
            start_ms: s,
            end_ms: e,
            origin_ms: s,
        }
    }

    fn stored(s: i64, e: i64, o: i64) -> Stretch {
        Stretch {
            start_ms: s,
            end_ms: e,
            origin_ms: o,
        }
    }

    #[test]
    fn touching_new_records_form_one_stretch_in_any_order() {
        let a = plan(&[], &[idle(0, 200), idle(200, 400)]);
        let b = plan(&[], &[idle(200, 400), idle(0, 200)]);
        assert_eq!(a.inserted, vec![stored(0, 400, 0)]);
        assert_eq!(b.inserted, a.inserted);
        assert_eq!(a.offsets, vec![0, 200]);
        assert_eq!(b.offsets, vec![200, 0]);
        // A gap keeps them apart.
        let c = plan(&[], &[idle(0, 200), idle(201, 400)]);
        assert_eq!(c.inserted.len(), 2);
        assert_eq!(c.offsets, vec![0, 0]);
    }

    #[test]
    fn a_record_appended_to_a_stretch_moves_nothing() {
        let p = plan(&[stored(0, 200, 0)], &[idle(200, 400)]);
        assert_eq!(p.removed, vec![0]);
        assert_eq!(p.inserted, vec![stored(0, 400, 0)]);
        assert!(p.moved.is_empty());
        assert_eq!(p.offsets, vec![200]);
    }

    #[test]
    fn a_late_record_before_a_stretch_moves_it() {
        let p = plan(&[stored(200, 400, 200)], &[idle(0, 200)]);
        assert_eq!(p.inserted, vec![stored(0, 400, 0)]);
        assert_eq!(
            p.moved,
            vec![Moved {
                stretch: stored(200, 400, 200),
                delta_ms: 200
            }]
        );
        assert_eq!(p.offsets, vec![0]);
    }

    #[test]
    fn a_bridge_merges_three() {
        let p = plan(
            &[
                stored(0, 100, 0),
                stored(300, 500, 300),
                stored(900, 950, 900),
            ],
            &[idle(100, 300)],
        );
        assert_eq!(p.removed, vec![0, 300]);
        assert_eq!(p.inserted, vec![stored(0, 500, 0)]);
        assert_eq!(p.moved.len(), 1);
        assert_eq!(p.moved[0].delta_ms, 300);
        assert_eq!(p.offsets, vec![100]);
    }

    #[test]
    fn an_idle_offset_moves_the_origin_earlier() {
        let p = plan(
            &[stored(0, 100, 0)],
            &[NewIdle {
                start_ms: 100,
                end_ms: 200,
                origin_ms: -50,
            }],
        );
        assert_eq!(p.inserted, vec![stored(0, 200, -50)]);
        assert_eq!(p.moved[0].delta_ms, 50);
        assert_eq!(p.offsets, vec![150]);
    }

    #[test]
    fn reach_joins_touching_new_records() {
        assert_eq!(
            reach(&[idle(300, 400), idle(0, 100), idle(100, 200)]),
            vec![(0, 200), (300, 400)]
        );
    }

    #[test]
    fn histogram_deltas_cancel() {
        let mut d = HistogramDelta::default();
        d.add(1, 7, 0, 100, 1);
        d.add(1, 7, 0, 100, -1);
        d.add(1, 7, 0, 0, 1);
        assert!(d.0.is_empty());
        d.add(1, 7, 50, 100, -1);
        assert!(d.has_removals());
    }
}
