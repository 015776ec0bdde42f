//! Bounded in-process caches of immutable or versioned data (usage, and the
//! workforce's activities), shared by the requests of one process.
//!
//! Every key holds what makes its value exact, read from the database in the same
//! transaction as the data: the database ([`db_tag`]), the account, and a version
//! (a provisioned-users counter, an org snapshot id and completion time, or — for
//! the append-only email table — the length already cached). A write through any
//! process changes the version its readers see next, so a stale entry is never hit.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, OnceLock};

use sha2::{Digest, Sha256};

use super::super::PgStore;

/// A process-global map, cleared when it reaches `capacity` entries.
pub(in crate::postgres) struct Cache<K, V> {
    map: OnceLock<Mutex<HashMap<K, V>>>,
    capacity: usize,
}

impl<K: Hash + Eq, V: Clone> Cache<K, V> {
    pub(in crate::postgres) const fn new(capacity: usize) -> Self {
        Cache {
            map: OnceLock::new(),
            capacity,
        }
    }

    fn map(&self) -> &Mutex<HashMap<K, V>> {
        self.map.get_or_init(|| Mutex::new(HashMap::new()))
    }

    pub(in crate::postgres) fn get(&self, key: &K) -> Option<V> {
        self.map().lock().ok()?.get(key).cloned()
    }

    /// Stores `value` unless `keep_old` says the entry already there is as good.
    pub(in crate::postgres) fn put_unless(
        &self,
        key: K,
        value: V,
        keep_old: impl FnOnce(&V) -> bool,
    ) {
        let Ok(mut map) = self.map().lock() else {
            return;
        };
        if map.get(&key).is_some_and(keep_old) {
            return;
        }
        if map.len() >= self.capacity && !map.contains_key(&key) {
            map.clear();
        }
        map.insert(key, value);
    }

    /// Drops every entry (after an erasure).
    pub(in crate::postgres) fn clear(&self) {
        if let Ok(mut map) = self.map().lock() {
            map.clear();
        }
    }

    pub(in crate::postgres) fn put(&self, key: K, value: V) {
        self.put_unless(key, value, |_| false);
    }
}

/// Identifies the database a store is connected to, for cache keys: derived from
/// the random token key each database creates once (so two stores of one process
/// on different databases never share entries, and processes on one database
/// agree).
pub(in crate::postgres) fn db_tag(store: &PgStore) -> u64 {
    let digest = Sha256::new()
        .chain_update(b"rollcall usage cache")
        .chain_update(&store.token_key)
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::Cache;

    #[test]
    fn a_full_cache_is_cleared_and_longer_values_are_kept() {
        static C: Cache<u32, usize> = Cache::new(2);
        C.put(1, 10);
        C.put(2, 20);
        assert_eq!(C.get(&1), Some(10));
        C.put(3, 30);
        assert_eq!(C.get(&1), None);
        assert_eq!(C.get(&3), Some(30));
        C.put_unless(3, 5, |old| *old >= 5);
        assert_eq!(C.get(&3), Some(30));
        C.put_unless(3, 40, |old| *old >= 40);
        assert_eq!(C.get(&3), Some(40));
    }
}
