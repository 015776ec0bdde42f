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
//! go (down to three quarters of it, so eviction is rare). A small account's
//! bitmaps are not kept: their rows cost little to read, and a thousand
//! tenants' worth of them took more memory in map entries than in bits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection};

use crate::usage::DayBits;
use crate::StoreResult;

/// Default budget: a 90-day window of every event of one app at 100,000
/// people (about 1,000 bitmaps of 12.5 KB) and the app summaries' 30 days of
/// twenty apps.
pub(super) const DEFAULT_BUDGET: usize = 24 << 20;

/// What a kept bitmap costs beyond its bytes: its map slot (with the map's
/// spare room) and its block's header and rounding.
const ENTRY_OVERHEAD: usize = 160;

/// Bitmaps shorter than this (no id from 4,096 on: a small account's) are
/// read each time rather than kept.
const MIN_KEPT: usize = 512;

/// (account, public app id): never reused, unlike an internal id after an
/// app is deleted (whose versions would start again).
type AppKey = (i64, String);

/// (event id, day).
type DayKey = (i64, i32);

struct Entry {
    version: i64,
    bits: Arc<[u8]>,
    used: u64,
}

#[derive(Default)]
struct State {
    apps: HashMap<AppKey, HashMap<DayKey, Entry>>,
    clock: u64,
    bytes: usize,
}

/// The kept bitmaps of one store.
pub(super) struct KeptDayBits {
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
    pub(super) fn with_budget(budget: usize) -> KeptDayBits {
        KeptDayBits {
            state: Mutex::default(),
            budget,
        }
    }

    /// For each (day, version) of `wanted`, the bitmap of `event_id` kept at
    /// exactly that version.
    fn find(
        &self,
        (account_id, app_id): (i64, &str),
        event_id: i64,
        wanted: &[(i32, i64)],
    ) -> Vec<Option<Arc<[u8]>>> {
        let Ok(mut state) = self.state.lock() else {
            return vec![None; wanted.len()];
        };
        state.clock += 1;
        let now = state.clock;
        let Some(days) = state.apps.get_mut(&(account_id, app_id.to_string())) else {
            return vec![None; wanted.len()];
        };
        wanted
            .iter()
            .map(|&(day, version)| {
                let e = days.get_mut(&(event_id, day))?;
                (e.version == version).then(|| {
                    e.used = now;
                    Arc::clone(&e.bits)
                })
            })
            .collect()
    }

    /// Keeps `bits` at `version` unless a later version is kept already (a
    /// read in an older snapshot may come after one in a newer).
    fn keep(&self, (account_id, app_id): (i64, &str), key: DayKey, version: i64, bits: &Arc<[u8]>) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let now = state.clock;
        let days = state
            .apps
            .entry((account_id, app_id.to_string()))
            .or_default();
        let freed = match days.get(&key) {
            Some(e) if e.version >= version => return,
            Some(e) => cost(&e.bits),
            None => 0,
        };
        days.insert(
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
    pub(super) fn forget_account(&self, account_id: i64) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut freed = 0;
        state.apps.retain(|(account, _), days| {
            let keep = *account != account_id;
            if !keep {
                freed += days.values().map(|e| cost(&e.bits)).sum::<usize>();
            }
            keep
        });
        state.bytes = state.bytes.saturating_sub(freed);
    }

    /// (bitmaps kept, their bytes).
    #[cfg(test)]
    pub(super) fn size(&self) -> (usize, usize) {
        self.state
            .lock()
            .map(|s| (s.apps.values().map(HashMap::len).sum(), s.bytes))
            .unwrap_or_default()
    }
}

impl State {
    /// Drops the bitmaps used least recently until `target` bytes remain.
    fn shrink_to(&mut self, target: usize) {
        let mut by_use: Vec<(u64, &AppKey, DayKey)> = self
            .apps
            .iter()
            .flat_map(|(app, days)| days.iter().map(move |(k, e)| (e.used, app, *k)))
            .collect();
        by_use.sort_unstable();
        let mut gone: HashMap<AppKey, Vec<DayKey>> = HashMap::new();
        let mut bytes = self.bytes;
        for (_, app, key) in by_use {
            if bytes <= target {
                break;
            }
            if let Some(e) = self.apps.get(app).and_then(|days| days.get(&key)) {
                bytes = bytes.saturating_sub(cost(&e.bits));
                gone.entry(app.clone()).or_default().push(key);
            }
        }
        for (app, keys) in gone {
            if let Some(days) = self.apps.get_mut(&app) {
                keys.iter().for_each(|k| {
                    days.remove(k);
                });
                if days.is_empty() {
                    self.apps.remove(&app);
                }
            }
        }
        self.bytes = bytes;
    }
}

/// The bitmaps of `events` (internal id, name) on the days of `from..=to`, as
/// this read transaction sees them: kept ones where their version is the
/// day's, the others read and kept.
pub(super) fn read(
    conn: &Connection,
    kept: &KeptDayBits,
    (account_id, app, app_id): (i64, i64, &str),
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
             WHERE account_id = ?1 AND app = ?2 AND day BETWEEN ?3 AND ?4 ORDER BY day",
        )?
        .query_map(params![account_id, app, from, to], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut range = conn.prepare_cached(
        "SELECT day, bits FROM usage_day_bits
         WHERE account_id = ?1 AND app = ?2 AND event_id = ?3 AND day BETWEEN ?4 AND ?5",
    )?;
    let mut days = Vec::new();
    for (event_id, name) in events {
        let start = days.len();
        // The days not kept at their version, as (day, version) in day order.
        let mut missing = Vec::new();
        let found = kept.find((account_id, app_id), *event_id, &versions);
        for (&(day, version), found) in versions.iter().zip(found) {
            match found {
                Some(bits) => days.push(DayBits::new(name.clone(), day, bits)),
                None => missing.push((day, version)),
            }
        }
        // One range over them (beside ingest, today alone; cold, all of them).
        if let (Some(&(first, _)), Some(&(last, _))) = (missing.first(), missing.last()) {
            let mut rows = range.query(params![account_id, app, event_id, first, last])?;
            while let Some(r) = rows.next()? {
                let day: i32 = r.get(0)?;
                let Ok(i) = missing.binary_search_by_key(&day, |&(d, _)| d) else {
                    continue;
                };
                let bits: Arc<[u8]> = r.get::<_, Vec<u8>>(1)?.into();
                if bits.len() >= MIN_KEPT {
                    kept.keep((account_id, app_id), (*event_id, day), missing[i].1, &bits);
                }
                days.push(DayBits::new(name.clone(), day, bits));
            }
        }
        days[start..].sort_unstable_by_key(|b| b.day);
    }
    Ok(days)
}

/// Records, in the transaction that changed them, that the app's bitmaps of
/// `days` are now at `version` (the app's new `last_version`).
pub(in crate::sqlite) fn set_versions(
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
        let (app, key) = ((1, "a"), (3, 20_000));
        kept.keep(app, key, 5, &bits(10));
        assert!(kept.find(app, 3, &[(20_000, 5)])[0].is_some());
        assert!(kept.find(app, 3, &[(20_000, 6)])[0].is_none());
        assert!(kept.find(app, 4, &[(20_000, 5)])[0].is_none());
        assert!(kept.find((1, "b"), 3, &[(20_000, 5)])[0].is_none());
        assert!(kept.find((2, "a"), 3, &[(20_000, 5)])[0].is_none());
        // A read in an older snapshot does not push the newer bitmap out.
        kept.keep(app, key, 4, &bits(20));
        assert!(kept.find(app, 3, &[(20_000, 5)])[0].is_some());
        kept.keep(app, key, 6, &bits(30));
        assert_eq!(kept.size(), (1, ENTRY_OVERHEAD + 30));
        kept.forget_account(1);
        assert_eq!(kept.size(), (0, 0));
    }

    #[test]
    fn past_the_budget_the_bitmaps_used_least_recently_go() {
        let kept = KeptDayBits::with_budget(4 * (ENTRY_OVERHEAD + 100));
        let app = (1, "a");
        for day in 0..4 {
            kept.keep(app, (1, day), 1, &bits(100));
        }
        // Day 0 used again: days 1 and 2 are the oldest now.
        assert!(kept.find(app, 1, &[(0, 1)])[0].is_some());
        kept.keep(app, (1, 4), 1, &bits(100));
        let found: Vec<bool> = kept
            .find(app, 1, &(0..5).map(|d| (d, 1)).collect::<Vec<_>>())
            .iter()
            .map(Option::is_some)
            .collect();
        assert_eq!(found, [true, false, false, true, true]);
        assert!(kept.size().1 <= 3 * (ENTRY_OVERHEAD + 100));
    }
}
