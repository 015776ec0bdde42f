//! The per-(event, local day) bitmaps an insight reads (`usage_day_bits`),
//! kept in memory between reports with the version they were read at, for
//! both stores. Reading a 90-day window of every event at 100,000 people
//! copied about 11 MB out of the database per report (issue 18 #3).
//!
//! What a version is belongs to each store, and the store only ever uses a
//! kept bitmap whose version its own snapshot holds:
//! - embedded, the day's row of `usage_day_versions`, set to the app's new
//!   `last_version` by every transaction that changes one of its bitmaps:
//!   versions grow, so a read in an older snapshot never replaces a newer
//!   bitmap ([`Versions::Growing`]);
//! - PostgreSQL, the row's `xmin` (the transaction that wrote that version of
//!   the row), which writers need not maintain but which does not grow: a
//!   bitmap is replaced by whichever version was read last
//!   ([`Versions::Unordered`]). `xmin` is 32 bits and comes round again after
//!   2^32 transactions, so a bitmap whose bytes were last read from the
//!   database more than [`OFFERED_FOR`] ago is not offered for a match
//!   ([`KeptDayBits::kept_between`]) but read again: no PostgreSQL gets through
//!   4 billion transactions in an hour.
//!
//! Bounded by its own byte budget: past it, the bitmaps used least recently
//! go (down to three quarters of it, so eviction is rare). A small account's
//! bitmaps are not kept: their rows cost little to read, and a thousand
//! tenants' worth of them took more memory in map entries than in bits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Default budget: a 90-day window of every event of one app at 100,000
/// people (about 1,000 bitmaps of 12.5 KB) and the app summaries' 30 days of
/// twenty apps.
const DEFAULT_BUDGET: usize = 24 << 20;

/// What a kept bitmap costs beyond its bytes: its map slot (with the map's
/// spare room) and its block's header and rounding.
const ENTRY_OVERHEAD: usize = 160;

/// Bitmaps shorter than this (no id from 4,096 on: a small account's) are
/// read each time rather than kept.
const MIN_KEPT: usize = 512;

/// How long after its bytes were read a bitmap is offered for a version match
/// by [`KeptDayBits::kept_between`].
const OFFERED_FOR: Duration = Duration::from_secs(3600);

/// (account, public app id): never reused, unlike an internal id after an
/// app is deleted (whose versions would start again).
pub(crate) type AppKey<'a> = (i64, &'a str);

/// (event id, day).
pub(crate) type DayKey = (i64, i32);

/// How a store's versions of one bitmap relate (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Versions {
    /// A later version is greater: an older one never replaces it.
    Growing,
    /// Versions only differ: the last one read is kept.
    Unordered,
}

/// A kept bitmap of one app, as [`KeptDayBits::kept_between`] lists them.
pub(crate) struct Kept {
    pub(crate) key: DayKey,
    pub(crate) version: i64,
    pub(crate) bits: Arc<[u8]>,
}

struct Entry {
    version: i64,
    bits: Arc<[u8]>,
    used: u64,
    /// When its bytes were last read from the database.
    read_at: Instant,
}

#[derive(Default)]
struct State {
    apps: HashMap<(i64, String), HashMap<DayKey, Entry>>,
    clock: u64,
    bytes: usize,
}

/// The kept bitmaps of one store.
pub(crate) struct KeptDayBits {
    state: Mutex<State>,
    budget: usize,
    versions: Versions,
    /// [`OFFERED_FOR`] (shorter in tests).
    offered_for: Duration,
}

fn cost(bits: &[u8]) -> usize {
    ENTRY_OVERHEAD + bits.len()
}

impl KeptDayBits {
    pub(crate) fn new(versions: Versions) -> KeptDayBits {
        KeptDayBits::with_budget(DEFAULT_BUDGET, versions)
    }

    pub(crate) fn with_budget(budget: usize, versions: Versions) -> KeptDayBits {
        KeptDayBits {
            state: Mutex::default(),
            budget,
            versions,
            offered_for: OFFERED_FOR,
        }
    }

    /// For each (day, version) of `wanted`, the bitmap of `event_id` kept at
    /// exactly that version.
    pub(crate) fn find(
        &self,
        (account_id, app_id): AppKey<'_>,
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

    /// Every bitmap of the app kept for a day of `from..=to` whose bytes were
    /// read less than [`OFFERED_FOR`] ago, whatever its version (each counts
    /// as used): for a store that asks the database which of them are still
    /// current.
    pub(crate) fn kept_between(
        &self,
        (account_id, app_id): AppKey<'_>,
        (from, to): (i32, i32),
    ) -> Vec<Kept> {
        let Ok(mut state) = self.state.lock() else {
            return Vec::new();
        };
        state.clock += 1;
        let now = state.clock;
        let Some(days) = state.apps.get_mut(&(account_id, app_id.to_string())) else {
            return Vec::new();
        };
        days.iter_mut()
            .filter(|((_, day), e)| {
                (from..=to).contains(day) && e.read_at.elapsed() < self.offered_for
            })
            .map(|(&key, e)| {
                e.used = now;
                Kept {
                    key,
                    version: e.version,
                    bits: Arc::clone(&e.bits),
                }
            })
            .collect()
    }

    /// Keeps `bits`, just read from the database, at `version` (for
    /// [`Versions::Growing`], unless a later version is kept already: a read in
    /// an older snapshot may come after one in a newer). Bitmaps shorter than
    /// [`MIN_KEPT`] are not kept.
    pub(crate) fn keep(
        &self,
        (account_id, app_id): AppKey<'_>,
        key: DayKey,
        version: i64,
        bits: &Arc<[u8]>,
    ) {
        if bits.len() < MIN_KEPT {
            return;
        }
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let now = state.clock;
        let days = state
            .apps
            .entry((account_id, app_id.to_string()))
            .or_default();
        let freed = match days.get_mut(&key) {
            Some(e) if e.version == version => {
                e.read_at = Instant::now();
                return;
            }
            Some(e) if e.version > version && self.versions == Versions::Growing => return,
            Some(e) => cost(&e.bits),
            None => 0,
        };
        days.insert(
            key,
            Entry {
                version,
                bits: Arc::clone(bits),
                used: now,
                read_at: Instant::now(),
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
    pub(crate) fn size(&self) -> (usize, usize) {
        self.state
            .lock()
            .map(|s| (s.apps.values().map(HashMap::len).sum(), s.bytes))
            .unwrap_or_default()
    }
}

impl State {
    /// Drops the bitmaps used least recently until `target` bytes remain.
    fn shrink_to(&mut self, target: usize) {
        let mut by_use: Vec<(u64, &(i64, String), DayKey)> = self
            .apps
            .iter()
            .flat_map(|(app, days)| days.iter().map(move |(k, e)| (e.used, app, *k)))
            .collect();
        by_use.sort_unstable();
        let mut gone: HashMap<(i64, String), Vec<DayKey>> = HashMap::new();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(n: usize) -> Arc<[u8]> {
        vec![1u8; n].into()
    }

    #[test]
    fn a_bitmap_is_found_only_at_its_version_and_never_replaced_by_an_older_one() {
        let kept = KeptDayBits::new(Versions::Growing);
        let (app, key) = ((1, "a"), (3, 20_000));
        kept.keep(app, key, 5, &bits(MIN_KEPT));
        assert!(kept.find(app, 3, &[(20_000, 5)])[0].is_some());
        assert!(kept.find(app, 3, &[(20_000, 6)])[0].is_none());
        assert!(kept.find(app, 4, &[(20_000, 5)])[0].is_none());
        assert!(kept.find((1, "b"), 3, &[(20_000, 5)])[0].is_none());
        assert!(kept.find((2, "a"), 3, &[(20_000, 5)])[0].is_none());
        // A read in an older snapshot does not push the newer bitmap out.
        kept.keep(app, key, 4, &bits(MIN_KEPT + 10));
        assert!(kept.find(app, 3, &[(20_000, 5)])[0].is_some());
        kept.keep(app, key, 6, &bits(MIN_KEPT + 20));
        assert_eq!(kept.size(), (1, ENTRY_OVERHEAD + MIN_KEPT + 20));
        kept.forget_account(1);
        assert_eq!(kept.size(), (0, 0));
    }

    #[test]
    fn unordered_versions_keep_the_last_one_read() {
        let kept = KeptDayBits::new(Versions::Unordered);
        let (app, key) = ((1, "a"), (3, 20_000));
        kept.keep(app, key, 5, &bits(MIN_KEPT));
        kept.keep(app, key, 4, &bits(MIN_KEPT + 1));
        assert!(kept.find(app, 3, &[(20_000, 5)])[0].is_none());
        let found = kept.find(app, 3, &[(20_000, 4)]);
        assert_eq!(found[0].as_ref().map(|b| b.len()), Some(MIN_KEPT + 1));
        assert_eq!(kept.size(), (1, ENTRY_OVERHEAD + MIN_KEPT + 1));
    }

    #[test]
    fn small_bitmaps_are_not_kept_and_the_listing_is_by_day() {
        let kept = KeptDayBits::new(Versions::Unordered);
        let app = (1, "a");
        kept.keep(app, (1, 10), 1, &bits(MIN_KEPT - 1));
        assert_eq!(kept.size(), (0, 0));
        for day in [9, 10, 11, 12] {
            kept.keep(app, (1, day), 7, &bits(MIN_KEPT));
        }
        let mut days: Vec<i32> = kept
            .kept_between(app, (10, 11))
            .iter()
            .map(|k| k.key.1)
            .collect();
        days.sort_unstable();
        assert_eq!(days, [10, 11]);
        assert!(kept.kept_between((1, "b"), (0, 100)).is_empty());
    }

    #[test]
    fn a_bitmap_read_too_long_ago_is_offered_again_once_read_again() {
        let mut kept = KeptDayBits::new(Versions::Unordered);
        kept.offered_for = Duration::from_millis(50);
        let app = (1, "a");
        kept.keep(app, (1, 10), 7, &bits(MIN_KEPT));
        assert_eq!(kept.kept_between(app, (10, 10)).len(), 1);
        std::thread::sleep(Duration::from_millis(60));
        assert!(kept.kept_between(app, (10, 10)).is_empty());
        // Read from the database again, at the same version.
        kept.keep(app, (1, 10), 7, &bits(MIN_KEPT));
        assert_eq!(kept.kept_between(app, (10, 10)).len(), 1);
    }

    #[test]
    fn past_the_budget_the_bitmaps_used_least_recently_go() {
        let size = MIN_KEPT;
        let kept = KeptDayBits::with_budget(4 * (ENTRY_OVERHEAD + size), Versions::Growing);
        let app = (1, "a");
        for day in 0..4 {
            kept.keep(app, (1, day), 1, &bits(size));
        }
        // Day 0 used again: days 1 and 2 are the oldest now.
        assert!(kept.find(app, 1, &[(0, 1)])[0].is_some());
        kept.keep(app, (1, 4), 1, &bits(size));
        let found: Vec<bool> = kept
            .find(app, 1, &(0..5).map(|d| (d, 1)).collect::<Vec<_>>())
            .iter()
            .map(Option::is_some)
            .collect();
        assert_eq!(found, [true, false, false, true, true]);
        assert!(kept.size().1 <= 3 * (ENTRY_OVERHEAD + size));
    }
}

/// One scenario of kept bitmaps, run on each store (the store tests call it).
#[cfg(test)]
pub(crate) mod scenario {
    use std::sync::Arc;

    use rollcall_core::Email;

    use crate::audit::Actor;
    use crate::erasure::ErasureStore;
    use crate::usage::{EventSel, InsightQuery, NewEvent, UsageStore};

    /// Pushes "sent" events of (email, day), each at its day's start.
    async fn push_on_days(
        store: &impl UsageStore,
        account: i64,
        app: &str,
        events: &[(&str, i32)],
    ) {
        let events = events
            .iter()
            .enumerate()
            .map(|(index, &(email, day))| NewEvent {
                index,
                ts_ms: i64::from(day) * 86_400_000,
                email: Email::parse(email).expect("email"),
                event_name: "sent".into(),
                day,
            })
            .collect();
        store.push_events(account, app, events).await.expect("push");
    }

    /// (day, bitmap as shared, the emails in it).
    type SeenDay = (i32, Arc<[u8]>, Vec<String>);

    /// The bitmaps of days 20,000 and 20,001 (of "sent", or any event).
    async fn day_bits(
        store: &impl UsageStore,
        account: i64,
        app: &str,
        events: EventSel,
    ) -> Vec<SeenDay> {
        let query = InsightQuery {
            from_day: 20_000,
            to_day: 20_001,
            events,
            last_activity: false,
            provisioned: false,
            provisioned_summary: false,
        };
        let data = store.insight_data(account, app, query).await.expect("read");
        data.days
            .iter()
            .map(|b| {
                let emails = (0..data.emails.len() as u32)
                    .filter(|&id| b.contains(id))
                    .map(|id| data.emails.email(id).unwrap_or("?").to_string())
                    .collect();
                (b.day, Arc::clone(b.shared()), emails)
            })
            .collect()
    }

    fn emails(days: &[SeenDay]) -> Vec<(i32, String)> {
        days.iter().map(|(d, _, e)| (*d, e.join(" "))).collect()
    }

    /// A new app of `account` in `store`, of one event ("sent", in group "g"):
    /// reports use the day bitmaps kept in memory while their version is the
    /// one their snapshot holds, for any event, every event and a group. A
    /// push that changes a day's bitmaps makes that day (only) read again; a
    /// resent push changes no bit (PostgreSQL's upsert still writes the rows
    /// again, so there it is read again: `resent_rewrites`); an erasure's
    /// changes are read.
    pub(crate) async fn kept_bitmaps_follow_their_days(
        store: &(impl UsageStore + ErasureStore),
        account: i64,
        resent_rewrites: bool,
    ) {
        let definition = serde_json::from_value(serde_json::json!({
            "name": "Mail", "events": [{"eventName": "sent", "groups": ["g"]}]
        }))
        .expect("definition");
        let actor = Actor::new("t@example.com", None);
        let app = &store
            .create_app(account, &actor, definition)
            .await
            .expect("app")
            .app_id;
        // 4,096 people first, on a day the reads leave out: the emails below
        // get ids past them, so their bitmaps are long enough to be kept.
        let filler: Vec<String> = (0..4096).map(|i| format!("p{i}@x.com")).collect();
        let early: Vec<(&str, i32)> = filler.iter().map(|e| (e.as_str(), 19_000)).collect();
        push_on_days(store, account, app, &early).await;
        push_on_days(
            store,
            account,
            app,
            &[("ana@x.com", 20_000), ("bo@x.com", 20_001)],
        )
        .await;
        for events in [EventSel::Any, EventSel::All, EventSel::Group("g".into())] {
            let first = day_bits(store, account, app, events.clone()).await;
            assert_eq!(
                emails(&first),
                [(20_000, "ana@x.com".into()), (20_001, "bo@x.com".into())],
                "{events:?}"
            );
            let again = day_bits(store, account, app, events).await;
            assert!(Arc::ptr_eq(&first[0].1, &again[0].1) && Arc::ptr_eq(&first[1].1, &again[1].1));
        }
        let first = day_bits(store, account, app, EventSel::Any).await;

        // A late event for day 20,001: that day is read again, 20,000 is kept.
        push_on_days(store, account, app, &[("cy@x.com", 20_001)]).await;
        let late = day_bits(store, account, app, EventSel::Any).await;
        assert!(
            Arc::ptr_eq(&first[0].1, &late[0].1),
            "an unchanged day stays kept"
        );
        assert!(!Arc::ptr_eq(&first[1].1, &late[1].1));
        assert_eq!(emails(&late)[1], (20_001, "bo@x.com cy@x.com".into()));

        // Resent: no bit changes.
        push_on_days(store, account, app, &[("cy@x.com", 20_001)]).await;
        let resent = day_bits(store, account, app, EventSel::Any).await;
        assert_eq!(emails(&resent), emails(&late));
        assert_eq!(Arc::ptr_eq(&late[1].1, &resent[1].1), !resent_rewrites);

        // An erasure clears bits of kept bitmaps; a day left empty goes.
        for person in ["ana@x.com", "bo@x.com"] {
            store
                .erase_person(account, &actor, person)
                .await
                .expect("erase");
        }
        assert_eq!(
            emails(&day_bits(store, account, app, EventSel::Any).await),
            [(20_001, "cy@x.com".into())]
        );
    }
}
