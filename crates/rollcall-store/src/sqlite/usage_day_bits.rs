//! The per-(event, local day) bitmaps an insight reads (`usage_day_bits`),
//! kept in memory between reports at their day's version.
//!
//! Every transaction that changes any of an app's bitmaps of a day (a push, an
//! erasure) sets that day's row of `usage_day_versions` (migration 0021) to
//! the app's new `last_version`. A read takes a kept bitmap only when its own
//! snapshot holds the version it was kept at, and reads (then keeps) the
//! others: beside constant ingest only today's bitmaps are read again. Reading
//! a 90-day window of every event at 100,000 people copied about 11 MB out of
//! SQLite per report (issue 18 #3).
//!
//! Bounded by its own byte budget: past it, the bitmaps used least recently
//! go (down to three quarters of it, so eviction is rare).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension};

use crate::usage::DayBits;
use crate::StoreResult;

/// Default budget: a 90-day window of every event of one app at 100,000
/// people (about 1,000 bitmaps of 12.5 KB) and the app summaries' 30 days of
/// twenty apps, with room to spare.
pub(crate) const DEFAULT_BUDGET: usize = 32 << 20;

/// What a kept bitmap costs beyond its bytes: its map slot, key and `Arc` header.
const ENTRY_OVERHEAD: usize = 96;

/// (account, internal app id, event id, day).
type Key = (i64, i64, i64, i32);

struct Entry {
    version: i64,
    bits: Arc<[u8]>,
    used: u64,
}

#[derive(Default)]
struct State {
    entries: HashMap<Key, Entry>,
    clock: u64,
    bytes: usize,
}

/// The kept bitmaps of one store.
pub(crate) struct KeptDayBits {
    state: Mutex<State>,
    budget: usize,
}

impl Default for KeptDayBits {
    fn default() -> Self {
        KeptDayBits::with_budget(DEFAULT_BUDGET)
    }
}

fn cost(bits: &[u8]) -> usize {
    ENTRY_OVERHEAD + bits.len()
}

impl KeptDayBits {
    pub(crate) fn with_budget(budget: usize) -> KeptDayBits {
        KeptDayBits {
            state: Mutex::default(),
            budget,
        }
    }

    /// For each (day, version) of `wanted`, the bitmap kept at exactly that version.
    fn find(
        &self,
        (account_id, app, event_id): (i64, i64, i64),
        wanted: &[(i32, i64)],
    ) -> Vec<Option<Arc<[u8]>>> {
        let Ok(mut state) = self.state.lock() else {
            return vec![None; wanted.len()];
        };
        state.clock += 1;
        let now = state.clock;
        wanted
            .iter()
            .map(|&(day, version)| {
                let e = state.entries.get_mut(&(account_id, app, event_id, day))?;
                (e.version == version).then(|| {
                    e.used = now;
                    Arc::clone(&e.bits)
                })
            })
            .collect()
    }

    /// Keeps `bits` at `version` unless a later version is kept already (a
    /// read in an older snapshot may come after one in a newer).
    fn keep(&self, key: Key, version: i64, bits: &Arc<[u8]>) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let now = state.clock;
        let freed = match state.entries.get(&key) {
            Some(e) if e.version >= version => return,
            Some(e) => cost(&e.bits),
            None => 0,
        };
        state.entries.insert(
            key,
            Entry {
                version,
                bits: Arc::clone(bits),
                used: now,
            },
        );
        state.bytes = state.bytes.saturating_sub(freed) + cost(bits);
        if state.bytes > self.budget {
            state.shrink_to(self.budget / 4 * 3);
        }
    }

    /// Drops every bitmap of the account.
    pub(crate) fn forget_account(&self, account_id: i64) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut freed = 0;
        state.entries.retain(|k, e| {
            let keep = k.0 != account_id;
            if !keep {
                freed += cost(&e.bits);
            }
            keep
        });
        state.bytes = state.bytes.saturating_sub(freed);
    }

    /// (bitmaps kept, their bytes).
    #[cfg(test)]
    pub(crate) fn size(&self) -> (usize, usize) {
        self.state
            .lock()
            .map(|s| (s.entries.len(), s.bytes))
            .unwrap_or_default()
    }
}

impl State {
    /// Drops the bitmaps used least recently until `target` bytes remain.
    fn shrink_to(&mut self, target: usize) {
        let mut by_use: Vec<(u64, Key)> = self.entries.iter().map(|(k, e)| (e.used, *k)).collect();
        by_use.sort_unstable();
        for (_, key) in by_use {
            if self.bytes <= target {
                break;
            }
            if let Some(e) = self.entries.remove(&key) {
                self.bytes = self.bytes.saturating_sub(cost(&e.bits));
            }
        }
    }
}

/// The bitmaps of `events` (internal id, name) on the days of `from..=to`, as
/// this read transaction sees them: kept ones where their version is the
/// day's, the others read and kept.
pub(super) fn read(
    conn: &Connection,
    kept: &KeptDayBits,
    (account_id, app): (i64, i64),
    events: &[(i64, String)],
    (from, to): (i32, i32),
) -> StoreResult<Vec<DayBits>> {
    if from > to || events.is_empty() {
        return Ok(Vec::new());
    }
    // A day without a version has no bitmap (every writer sets one).
    let versions: Vec<(i32, i64)> = conn
        .prepare_cached(
            "SELECT day, version FROM usage_day_versions
             WHERE account_id = ?1 AND app = ?2 AND day BETWEEN ?3 AND ?4",
        )?
        .query_map(params![account_id, app, from, to], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut one = conn.prepare_cached(
        "SELECT bits FROM usage_day_bits
         WHERE account_id = ?1 AND app = ?2 AND event_id = ?3 AND day = ?4",
    )?;
    let mut days = Vec::new();
    for (event_id, name) in events {
        let found = kept.find((account_id, app, *event_id), &versions);
        for (&(day, version), found) in versions.iter().zip(found) {
            let bits = match found {
                Some(bits) => bits,
                None => {
                    let Some(bits) = one
                        .query_row(params![account_id, app, event_id, day], |r| {
                            r.get::<_, Vec<u8>>(0)
                        })
                        .optional()?
                    else {
                        continue;
                    };
                    let bits: Arc<[u8]> = bits.into();
                    kept.keep((account_id, app, *event_id, day), version, &bits);
                    bits
                }
            };
            days.push(DayBits::new(name.clone(), day, bits));
        }
    }
    Ok(days)
}

/// Records, in the transaction that changed them, that the app's bitmaps of
/// `days` are now at `version` (the app's new `last_version`).
pub(super) fn set_versions(
    conn: &Connection,
    (account_id, app): (i64, i64),
    days: impl IntoIterator<Item = i32>,
    version: i64,
) -> StoreResult<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO usage_day_versions (account_id, app, day, version) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (account_id, app, day) DO UPDATE SET version = excluded.version",
    )?;
    for day in days {
        stmt.execute(params![account_id, app, day, version])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(n: usize) -> Arc<[u8]> {
        vec![1u8; n].into()
    }

    #[test]
    fn a_bitmap_is_found_only_at_its_version_and_never_replaced_by_an_older_one() {
        let kept = KeptDayBits::default();
        let key = (1, 2, 3, 20_000);
        kept.keep(key, 5, &bits(10));
        assert!(kept.find((1, 2, 3), &[(20_000, 5)])[0].is_some());
        assert!(kept.find((1, 2, 3), &[(20_000, 6)])[0].is_none());
        assert!(kept.find((1, 2, 4), &[(20_000, 5)])[0].is_none());
        // A read in an older snapshot does not push the newer bitmap out.
        kept.keep(key, 4, &bits(20));
        assert!(kept.find((1, 2, 3), &[(20_000, 5)])[0].is_some());
        kept.keep(key, 6, &bits(30));
        assert_eq!(kept.size(), (1, ENTRY_OVERHEAD + 30));
        kept.forget_account(1);
        assert_eq!(kept.size(), (0, 0));
    }

    #[test]
    fn past_the_budget_the_bitmaps_used_least_recently_go() {
        let kept = KeptDayBits::with_budget(4 * (ENTRY_OVERHEAD + 100));
        for day in 0..4 {
            kept.keep((1, 1, 1, day), 1, &bits(100));
        }
        // Day 0 used again: days 1 and 2 are the oldest now.
        assert!(kept.find((1, 1, 1), &[(0, 1)])[0].is_some());
        kept.keep((1, 1, 1, 4), 1, &bits(100));
        let found: Vec<bool> = kept
            .find((1, 1, 1), &(0..5).map(|d| (d, 1)).collect::<Vec<_>>())
            .iter()
            .map(Option::is_some)
            .collect();
        assert_eq!(found, [true, false, false, true, true]);
        assert!(kept.size().1 <= 3 * (ENTRY_OVERHEAD + 100));
    }
}
