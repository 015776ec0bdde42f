//! A process-wide cache of interned email ids, so a push looks up in the
//! database only the emails this process has not met yet.
//!
//! An interned email's id never changes and its row is never removed (see
//! `usage_emails` in migration 0002; only an erasure renames one, and clears
//! this process's cache), so a mapping read from a committed row stays exact
//! whatever other processes write; entries are keyed by the database
//! ([`super::cache::db_tag`]) and the account. Only mappings read back from the
//! database are stored, never ids a push has just handed out (its transaction
//! may still roll back).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// Most emails held, over all accounts; the cache is cleared when it is reached.
const CAPACITY: usize = 1 << 20;

type Map = HashMap<(u64, i64), HashMap<String, i32>>;

fn map() -> &'static Mutex<Map> {
    static MAP: OnceLock<Mutex<Map>> = OnceLock::new();
    MAP.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The cached ids of `emails` (those known).
pub(super) fn get(db: u64, account_id: i64, emails: &[&str]) -> HashMap<String, i32> {
    let Ok(map) = map().lock() else {
        return HashMap::new();
    };
    let Some(ids) = map.get(&(db, account_id)) else {
        return HashMap::new();
    };
    emails
        .iter()
        .filter_map(|e| ids.get(*e).map(|id| (e.to_string(), *id)))
        .collect()
}

/// Forgets every mapping (an erasure renamed an interned email).
pub(super) fn clear() {
    if let Ok(mut map) = map().lock() {
        map.clear();
    }
}

/// Remembers committed mappings read from the database.
pub(super) fn put(db: u64, account_id: i64, found: &HashMap<String, i32>) {
    if found.is_empty() {
        return;
    }
    let Ok(mut map) = map().lock() else {
        return;
    };
    let held: usize = map.values().map(HashMap::len).sum();
    if held + found.len() > CAPACITY {
        map.clear();
    }
    let ids = map.entry((db, account_id)).or_default();
    ids.extend(found.iter().map(|(e, id)| (e.clone(), *id)));
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    #[test]
    fn ids_are_kept_per_database_and_account() {
        let found = HashMap::from([("a@x.com".to_string(), 3), ("b@x.com".to_string(), 4)]);
        super::put(7, 1, &found);
        let got = super::get(7, 1, &["a@x.com", "c@x.com"]);
        assert_eq!(got, HashMap::from([("a@x.com".to_string(), 3)]));
        assert!(super::get(7, 2, &["a@x.com"]).is_empty());
        assert!(super::get(8, 1, &["a@x.com"]).is_empty());
    }
}
