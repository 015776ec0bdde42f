//! The store's in-process caches ([`PgCaches`], a field of [`PgStore`]), shared
//! by the requests of one store: parsed app definitions, email tables,
//! resolvers, org-chart directories, provisioned user lists and summaries
//! (usage), activities and the employee emails of viewers' groups
//! (workforce, `workforce::member_emails`), the apps' day bitmaps
//! (`usage::day_bits`, kept at their rows' `xmin`), the interned email ids pushes have met
//! (`usage::email_ids`) and the queues of pushes waiting to be written together
//! (`usage::combine`).
//!
//! Every key holds what makes its value exact, read from the database in the same
//! transaction as the data: the account, and a version (a provisioned-users counter,
//! an org snapshot id and completion time, or — for the append-only email table and
//! the immutable activities — the length already cached; a parsed definition is
//! kept with the text it was parsed from and used only when that text is read
//! again). A write through any process changes the version its readers see next,
//! so a stale entry is never hit. A store talks to one database, so no key names
//! the database.
//!
//! Each cache holds a bounded number of entries ([`Lru`]); past it, the entry used
//! least recently goes, one at a time. (These were process statics emptied
//! wholesale when full: past 64 accounts, a busy account's entries went with the
//! rest, and a server of many tenants rebuilt them over and over.)
//!
//! [`PgStore`]: super::PgStore

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use rollcall_core::usage::AppDefinition;
use rollcall_core::usage_bits::{EmailTable, Resolver};
use rollcall_core::usage_report::Directory;
use rollcall_core::workforce::Activity;

use super::usage::combine::PushQueues;
use super::usage::email_ids::EmailIds;
use crate::usage::kept_day_bits::{KeptDayBits, Versions};
use crate::usage::{ProvisionedSummary, ProvisionedUser};
use crate::workforce::member_emails::MemberEmailsCache;

/// (account, public app id): a parsed definition, with its text.
pub(super) type AppKey = (i64, String);

/// (account, org snapshot id, completion time): a completed org chart's
/// directory, and the resolvers built on it ((account, 0, 0) without a chart).
pub(super) type OrgKey = (i64, i64, i64);

/// (account, app, provisioned version): the app's provisioned users.
pub(super) type ListKey = (i64, i64, i64);

/// (account, app, provisioned version, org snapshot, completion): all of them
/// change whenever the provisioned summary may.
pub(super) type SummaryKey = (i64, i64, i64, i64, i64);

/// An account's activities: id -> kind and key.
pub(super) type ActivityMap = Arc<HashMap<i64, Activity>>;

/// The caches of one store (see the module's documentation).
pub(super) struct PgCaches {
    pub(super) definitions: Lru<AppKey, Arc<(String, AppDefinition)>>,
    /// Per account.
    pub(super) emails: Lru<i64, Arc<EmailTable>>,
    pub(super) resolvers: Lru<OrgKey, Arc<Resolver>>,
    pub(super) directories: Lru<OrgKey, Arc<Directory>>,
    pub(super) lists: Lru<ListKey, Arc<Vec<ProvisionedUser>>>,
    pub(super) summaries: Lru<SummaryKey, Arc<ProvisionedSummary>>,
    /// Per account.
    pub(super) activities: Lru<i64, ActivityMap>,
    pub(super) email_ids: EmailIds,
    /// The employee emails of the group lists viewers asked for lately.
    pub(super) member_emails: MemberEmailsCache,
    /// The apps' day bitmaps read lately, at their rows' versions (`usage::day_bits`).
    pub(super) day_bits: KeptDayBits,
    /// Not a cache: the pushes of this store's requests waiting for a worker.
    pub(super) push_queues: PushQueues,
}

impl Default for PgCaches {
    fn default() -> Self {
        PgCaches {
            definitions: Lru::new(256),
            emails: Lru::new(64),
            resolvers: Lru::new(64),
            directories: Lru::new(64),
            lists: Lru::new(256),
            summaries: Lru::new(4096),
            activities: Lru::new(64),
            email_ids: EmailIds::default(),
            member_emails: MemberEmailsCache::default(),
            day_bits: KeptDayBits::new(Versions::Unordered),
            push_queues: PushQueues::default(),
        }
    }
}

impl PgCaches {
    /// Forgets every email and person (after an erasure; other processes'
    /// entries are keyed by versions it moved).
    pub(super) fn forget_people(&self) {
        self.email_ids.clear();
        self.emails.clear();
        self.resolvers.clear();
        self.directories.clear();
        self.lists.clear();
        self.summaries.clear();
    }
}

/// A map of at most `capacity` entries; storing one more drops the entry used
/// least recently (a hit or a store is a use). Finding it walks the entries,
/// which is cheap next to building what a report caches, for a few thousand.
pub(super) struct Lru<K, V> {
    state: Mutex<State<K, V>>,
    capacity: usize,
}

struct State<K, V> {
    entries: HashMap<K, Entry<V>>,
    /// Ticks on every use, so no two entries share their `used`.
    clock: u64,
}

struct Entry<V> {
    value: V,
    used: u64,
}

impl<K, V> State<K, V> {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

impl<K: Hash + Eq, V: Clone> Lru<K, V> {
    pub(super) fn new(capacity: usize) -> Self {
        Lru {
            state: Mutex::new(State {
                entries: HashMap::new(),
                clock: 0,
            }),
            capacity: capacity.max(1),
        }
    }

    pub(super) fn get(&self, key: &K) -> Option<V> {
        let mut state = self.state.lock().ok()?;
        let now = state.tick();
        let entry = state.entries.get_mut(key)?;
        entry.used = now;
        Some(entry.value.clone())
    }

    /// Stores `value` unless `keep_old` says the entry already there is as good.
    pub(super) fn put_unless(&self, key: K, value: V, keep_old: impl FnOnce(&V) -> bool) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let now = state.tick();
        if let Some(old) = state.entries.get_mut(&key) {
            old.used = now;
            if !keep_old(&old.value) {
                old.value = value;
            }
            return;
        }
        state.entries.insert(key, Entry { value, used: now });
        if state.entries.len() > self.capacity {
            // Uses are unique, so this drops exactly one entry (never the new one).
            if let Some(oldest) = state.entries.values().map(|e| e.used).min() {
                state.entries.retain(|_, e| e.used != oldest);
            }
        }
    }

    pub(super) fn put(&self, key: K, value: V) {
        self.put_unless(key, value, |_| false);
    }

    /// Drops every entry (after an erasure).
    pub(super) fn clear(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.entries.clear();
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.state.lock().map_or(0, |s| s.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::Lru;

    #[test]
    fn the_entry_used_least_recently_goes_first() {
        let c: Lru<u32, u32> = Lru::new(3);
        for k in 1..=3 {
            c.put(k, k * 10);
        }
        c.put(4, 40);
        assert_eq!(c.get(&1), None);
        c.put(5, 50);
        assert_eq!(c.get(&2), None);
        assert_eq!(
            (c.get(&3), c.get(&4), c.get(&5)),
            (Some(30), Some(40), Some(50))
        );
    }

    #[test]
    fn a_hit_or_a_store_keeps_an_entry() {
        let c: Lru<u32, u32> = Lru::new(3);
        for k in 1..=3 {
            c.put(k, k * 10);
        }
        assert_eq!(c.get(&1), Some(10));
        c.put(4, 40);
        // 2 was the least recently used, not 1.
        assert_eq!(c.get(&2), None);
        c.put(3, 31);
        c.put(5, 50);
        assert_eq!(c.get(&1), None);
        assert_eq!(
            (c.get(&3), c.get(&4), c.get(&5)),
            (Some(31), Some(40), Some(50))
        );
    }

    #[test]
    fn capacity_is_respected_and_clear_empties() {
        let c: Lru<u32, u32> = Lru::new(100);
        for k in 0..1000 {
            c.put(k, k);
            assert!(c.len() <= 100);
        }
        assert_eq!(c.len(), 100);
        assert_eq!(c.get(&899), None);
        assert!((900..1000).all(|k| c.get(&k) == Some(k)));
        c.clear();
        assert_eq!(c.len(), 0);
        assert_eq!(c.get(&999), None);
        c.put(1, 1);
        assert_eq!(c.get(&1), Some(1));
        // A capacity of 0 still keeps the entry just stored.
        let one: Lru<u32, u32> = Lru::new(0);
        one.put(1, 1);
        one.put(2, 2);
        assert_eq!((one.get(&1), one.get(&2)), (None, Some(2)));
    }

    #[test]
    fn put_unless_keeps_a_better_entry() {
        let c: Lru<u32, usize> = Lru::new(2);
        c.put(3, 30);
        c.put_unless(3, 5, |old| *old >= 5);
        assert_eq!(c.get(&3), Some(30));
        c.put_unless(3, 40, |old| *old >= 40);
        assert_eq!(c.get(&3), Some(40));
        assert_eq!(c.len(), 1);
    }
}
