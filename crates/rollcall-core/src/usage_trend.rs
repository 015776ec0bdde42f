//! Daily, weekly and monthly active people (DAU, WAU, MAU: 1, 7 and 30 days
//! ending on a day) from the days' email-id bitmaps. A window's people are the
//! union of its days' words, counted by [`Resolver::count_people`] (an alias
//! counts for its person), so no id is resolved one by one: resolving every
//! active id of every day was most of a trend's time at 100,000 people.
//!
//! Every window of one width comes from unions inside blocks of that width
//! (van Herk / Gil–Werman): per day one union onto the running prefix of its
//! block and one onto the suffix of its block, then one per window, whatever
//! the width.

use crate::usage_bits::Resolver;
use crate::usage_report::DayActivity;

/// Email ids active per local day over `first..=first + n - 1`, as words (bit `id`).
#[derive(Debug, Clone, Default)]
pub struct DailyIds {
    first: i32,
    days: Vec<Vec<u64>>,
}

impl DailyIds {
    /// No one active on any day of `first..=last`.
    pub fn new(first: i32, last: i32) -> DailyIds {
        let n = usize::try_from(i64::from(last) - i64::from(first) + 1).unwrap_or(0);
        DailyIds {
            first,
            days: vec![Vec::new(); n],
        }
    }

    /// The index in `days` of `day`, when it is in the range.
    fn index(&self, day: i32) -> Option<usize> {
        usize::try_from(i64::from(day) - i64::from(self.first))
            .ok()
            .filter(|&k| k < self.days.len())
    }

    /// Adds the ids of a bitmap blob (see [`crate::usage_bits`]) to `day`'s,
    /// only those set in `mask` when there is one; a day outside the range is
    /// ignored.
    pub fn add(&mut self, day: i32, bits: &[u8], mask: Option<&[u8]>) {
        let Some(k) = self.index(day) else {
            return;
        };
        let bits = &bits[..mask.map_or(bits.len(), |m| m.len().min(bits.len()))];
        let needed = bits.len().div_ceil(8);
        let words = &mut self.days[k];
        if words.len() < needed {
            words.resize(needed, 0);
        }
        for (i, word) in words[..needed].iter_mut().enumerate() {
            let at = i * 8;
            *word |= word_at(bits, at) & mask.map_or(u64::MAX, |m| word_at(m, at));
        }
    }

    /// The people active on `day`.
    pub fn people_on(&self, day: i32, resolver: &Resolver) -> u64 {
        self.index(day)
            .map_or(0, |k| resolver.count_people(&self.days[k]))
    }
}

/// The little-endian word of `bytes` at byte `at` (bytes past the end read as zero).
fn word_at(bytes: &[u8], at: usize) -> u64 {
    match bytes.get(at..at + 8) {
        Some(whole) => u64::from_le_bytes(whole.try_into().unwrap_or_default()),
        None => {
            let tail = bytes.get(at..).unwrap_or_default();
            let mut le = [0u8; 8];
            le[..tail.len()].copy_from_slice(tail);
            u64::from_le_bytes(le)
        }
    }
}

/// DAU, WAU and MAU of every day of `from..=to`; days before the first one
/// `daily` holds count as nobody's (load 29 days before `from` for whole months).
pub fn trend(daily: &DailyIds, resolver: &Resolver, from: i32, to: i32) -> Vec<DayActivity> {
    if from > to {
        return Vec::new();
    }
    let count = |ids: &[u64]| resolver.count_people(ids);
    let [dau, wau, mau] = [1, 7, 30].map(|width| window_counts(&daily.days, width, count));
    (from..=to)
        .map(|day| {
            let at = |counts: &[u64]| daily.index(day).map_or(0, |k| counts[k]);
            DayActivity {
                day,
                dau: at(&dau),
                wau: at(&wau),
                mau: at(&mau),
            }
        })
        .collect()
}

/// DAU, WAU and MAU ending on `day`.
pub fn activity_on(daily: &DailyIds, resolver: &Resolver, day: i32) -> DayActivity {
    trend(daily, resolver, day, day)
        .pop()
        .unwrap_or(DayActivity {
            day,
            dau: 0,
            wau: 0,
            mau: 0,
        })
}

/// Per day `k`, `count` of the union of days `k + 1 - width ..= k` (from day 0
/// for the first ones). A window either is the prefix of `k`'s block up to `k`,
/// or starts in the block before: that block's suffix from its start, then the prefix.
fn window_counts(days: &[Vec<u64>], width: usize, count: impl Fn(&[u64]) -> u64) -> Vec<u64> {
    let width = width.max(1);
    let words = days.iter().map(Vec::len).max().unwrap_or(0);
    let n = days.len();
    let mut suffix: Vec<Vec<u64>> = vec![Vec::new(); n];
    for k in (0..n).rev() {
        let mut s = vec![0u64; words];
        or_into(&mut s, &days[k]);
        if (k + 1) % width != 0 && k + 1 < n {
            or_into(&mut s, &suffix[k + 1]);
        }
        suffix[k] = s;
    }
    let mut prefix = vec![0u64; words];
    let mut union = vec![0u64; words];
    let mut out = Vec::with_capacity(n);
    for (k, day) in days.iter().enumerate() {
        let block_start = k - k % width;
        if k == block_start {
            prefix.fill(0);
        }
        or_into(&mut prefix, day);
        let start = (k + 1).saturating_sub(width);
        if start == block_start {
            out.push(count(&prefix));
        } else {
            union.copy_from_slice(&suffix[start]);
            or_into(&mut union, &prefix);
            out.push(count(&union));
        }
    }
    out
}

/// `acc |= other` (`acc` at least as long).
fn or_into(acc: &mut [u64], other: &[u64]) {
    for (a, b) in acc.iter_mut().zip(other) {
        *a |= *b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage_bits::{self, EmailTable};
    use crate::usage_report::{Directory, Employee};

    fn resolver(aliases: &[(&str, &[&str])], ids: u32) -> Resolver {
        let dir = Directory::new(
            aliases
                .iter()
                .map(|(email, more)| Employee {
                    email: email.to_string(),
                    additional_emails: more.iter().map(|m| m.to_string()).collect(),
                    ..Employee::default()
                })
                .collect(),
        );
        let emails =
            EmailTable::default().with_more((0..ids).map(|i| (i, format!("u{i}@x.com"))).collect());
        Resolver::new(&dir, &emails)
    }

    fn bits(ids: &[u32]) -> Vec<u8> {
        let mut b = Vec::new();
        ids.iter().for_each(|&id| usage_bits::set(&mut b, id));
        b
    }

    #[test]
    fn counts_daily_weekly_and_monthly_people() {
        let r = resolver(&[], 200);
        let mut daily = DailyIds::new(70, 101);
        daily.add(100, &bits(&[0]), None);
        daily.add(95, &bits(&[1, 130]), None);
        daily.add(71, &bits(&[2]), None);
        let s = trend(&daily, &r, 100, 101);
        assert_eq!((s[0].dau, s[0].wau, s[0].mau), (1, 3, 4));
        assert_eq!((s[1].dau, s[1].wau, s[1].mau), (0, 3, 3));
        assert_eq!(activity_on(&daily, &r, 100).mau, 4);
        assert_eq!(daily.people_on(95, &r), 2);
        assert_eq!(daily.people_on(500, &r), 0);
        assert!(trend(&daily, &r, 5, 4).is_empty());
    }

    #[test]
    fn a_days_words_hold_the_bits_of_every_blob_added() {
        for len in 0..20usize {
            let a: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let b: Vec<u8> = (0..len / 2).map(|i| (i * 91 + 5) as u8).collect();
            let mut daily = DailyIds::new(0, 0);
            daily.add(0, &a, None);
            daily.add(0, &b, None);
            for id in 0..(len as u32 * 8 + 70) {
                let expected = usage_bits::get(&a, id) || usage_bits::get(&b, id);
                assert_eq!(
                    usage_bits::word_bit(&daily.days[0], id),
                    expected,
                    "{len} {id}"
                );
            }
        }
    }

    #[test]
    fn a_masked_blob_adds_only_the_ids_its_mask_has() {
        for len in 0..20usize {
            let a: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            for mask_len in 0..22usize {
                let mask: Vec<u8> = (0..mask_len).map(|i| (i * 53 + 101) as u8).collect();
                let mut daily = DailyIds::new(0, 0);
                daily.add(0, &a, Some(&mask));
                for id in 0..(len.max(mask_len) as u32 * 8 + 70) {
                    let expected = usage_bits::get(&a, id) && usage_bits::get(&mask, id);
                    assert_eq!(
                        usage_bits::word_bit(&daily.days[0], id),
                        expected,
                        "{len} {mask_len} {id}"
                    );
                }
            }
        }
    }

    #[test]
    fn an_alias_and_its_primary_count_once_in_a_window() {
        // u0 and u3 are one person's emails.
        let r = resolver(&[("u0@x.com", &["u3@x.com"])], 10);
        let mut daily = DailyIds::new(1, 10);
        daily.add(9, &bits(&[0]), None);
        daily.add(10, &bits(&[3, 5]), None);
        let a = activity_on(&daily, &r, 10);
        assert_eq!((a.dau, a.wau, a.mau), (2, 2, 2));
    }

    /// Every window against a union made day by day, for each width and range length.
    #[test]
    fn windows_equal_unions_made_day_by_day() {
        let mut seed = 7u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for n in [0usize, 1, 2, 6, 7, 8, 29, 30, 31, 61, 119] {
            let days: Vec<Vec<u64>> = (0..n)
                .map(|_| {
                    (0..(next() % 4) as usize)
                        .map(|_| next() & next())
                        .collect()
                })
                .collect();
            for width in [1usize, 2, 7, 30] {
                let popcount = |ids: &[u64]| ids.iter().map(|w| u64::from(w.count_ones())).sum();
                let got = window_counts(&days, width, popcount);
                for (k, &g) in got.iter().enumerate() {
                    let mut union = vec![0u64; 4];
                    for d in &days[(k + 1).saturating_sub(width)..=k] {
                        or_into(&mut union, d);
                    }
                    assert_eq!(g, popcount(&union), "n {n} width {width} day {k}");
                }
            }
        }
    }
}
