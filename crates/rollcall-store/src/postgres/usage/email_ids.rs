//! The interned email ids a store's pushes have met ([`EmailIds`], part of the
//! store's [`PgCaches`](super::super::caches::PgCaches)), so a push looks up in
//! the database only the emails not met yet.
//!
//! An interned email's id never changes and its row is never removed (see
//! `usage_emails` in migration 0002; only an erasure renames one, and clears
//! this store's cache), so a mapping read from a committed row stays exact
//! whatever other processes write; entries are kept per account. Only mappings
//! read back from the database are stored, never ids a push has just handed out
//! (its transaction may still roll back).

use std::collections::HashMap;
use std::sync::Mutex;

/// Most emails held, over all accounts; past it, the accounts pushed to least
/// recently are dropped.
const CAPACITY: usize = 1 << 20;

/// Email -> id per account.
pub(in crate::postgres) struct EmailIds {
    state: Mutex<State>,
    capacity: usize,
}

#[derive(Default)]
struct State {
    accounts: HashMap<i64, Account>,
    /// Emails held over all accounts.
    held: usize,
    /// Ticks on every use.
    clock: u64,
}

struct Account {
    ids: HashMap<String, i32>,
    used: u64,
}

impl Default for EmailIds {
    fn default() -> Self {
        EmailIds::with_capacity(CAPACITY)
    }
}

impl EmailIds {
    fn with_capacity(capacity: usize) -> Self {
        EmailIds {
            state: Mutex::default(),
            capacity,
        }
    }

    /// The cached ids of `emails` (those known).
    pub(super) fn get(&self, account_id: i64, emails: &[&str]) -> HashMap<String, i32> {
        let Ok(mut state) = self.state.lock() else {
            return HashMap::new();
        };
        state.clock += 1;
        let now = state.clock;
        let Some(account) = state.accounts.get_mut(&account_id) else {
            return HashMap::new();
        };
        account.used = now;
        emails
            .iter()
            .filter_map(|e| account.ids.get(*e).map(|id| (e.to_string(), *id)))
            .collect()
    }

    /// Forgets every mapping (an erasure renamed an interned email).
    pub(in crate::postgres) fn clear(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.accounts.clear();
            state.held = 0;
        }
    }

    /// Remembers committed mappings read from the database.
    pub(super) fn put(&self, account_id: i64, found: &HashMap<String, i32>) {
        if found.is_empty() {
            return;
        }
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let State {
            accounts,
            held,
            clock,
        } = &mut *state;
        *clock += 1;
        let new = match accounts.get(&account_id) {
            Some(a) => found.keys().filter(|e| !a.ids.contains_key(*e)).count(),
            None => found.len(),
        };
        while *held + new > self.capacity {
            let oldest = accounts
                .iter()
                .filter(|(id, _)| **id != account_id)
                .min_by_key(|(_, a)| a.used)
                .map(|(id, _)| *id);
            let Some(gone) = oldest.and_then(|id| accounts.remove(&id)) else {
                break;
            };
            *held -= gone.ids.len();
        }
        let account = accounts.entry(account_id).or_insert_with(|| Account {
            ids: HashMap::new(),
            used: 0,
        });
        if *held + new > self.capacity {
            // This account alone fills the cache: it starts again.
            *held -= account.ids.len();
            account.ids.clear();
        }
        let before = account.ids.len();
        account
            .ids
            .extend(found.iter().map(|(e, id)| (e.clone(), *id)));
        *held += account.ids.len() - before;
        account.used = *clock;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::EmailIds;

    fn ids(emails: &[(&str, i32)]) -> HashMap<String, i32> {
        emails.iter().map(|(e, id)| (e.to_string(), *id)).collect()
    }

    #[test]
    fn ids_are_kept_per_account() {
        let cache = EmailIds::default();
        cache.put(1, &ids(&[("a@x.com", 3), ("b@x.com", 4)]));
        let got = cache.get(1, &["a@x.com", "c@x.com"]);
        assert_eq!(got, ids(&[("a@x.com", 3)]));
        assert!(cache.get(2, &["a@x.com"]).is_empty());
        cache.clear();
        assert!(cache.get(1, &["a@x.com"]).is_empty());
    }

    #[test]
    fn the_account_used_least_recently_goes_when_full() {
        let cache = EmailIds::with_capacity(4);
        cache.put(1, &ids(&[("a@x.com", 1), ("b@x.com", 2)]));
        cache.put(2, &ids(&[("a@x.com", 7)]));
        // Account 1 is used again, so account 2 is the one to go.
        assert_eq!(cache.get(1, &["a@x.com"]).len(), 1);
        cache.put(3, &ids(&[("c@x.com", 1), ("d@x.com", 2)]));
        assert!(cache.get(2, &["a@x.com"]).is_empty());
        assert_eq!(cache.get(1, &["a@x.com", "b@x.com"]).len(), 2);
        assert_eq!(cache.get(3, &["c@x.com", "d@x.com"]).len(), 2);
        // Known emails count once.
        cache.put(3, &ids(&[("c@x.com", 1)]));
        assert_eq!(cache.get(1, &["b@x.com"]).len(), 1);
        // An account larger than the cache starts again with the mappings just read.
        let many: Vec<(String, i32)> = (0..5).map(|i| (format!("{i}@y.com"), i)).collect();
        let many: HashMap<String, i32> = many.into_iter().collect();
        cache.put(4, &many);
        assert!(cache.get(1, &["a@x.com"]).is_empty());
        assert_eq!(cache.get(4, &["0@y.com", "4@y.com"]).len(), 2);
    }
}
