//! The kept employee emails of group lists: the people a viewer limited to
//! some groups sees in the usage reports, without reading the groups' members
//! and their clients on every report.
//!
//! Reading a list (a `DISTINCT` over the groups' clients, lower-cased into a
//! set) took about 1.8 ms of a viewer's 2.4 ms engagement report at 100,000
//! people (the benchmark at ten times its scale). A backend keeps each list's set
//! ([`MemberEmailsCache`]) with the account's membership version it was read
//! at, which its triggers bump in the transaction of any change to a
//! membership or to a client's email or merge; a request reads the version in
//! its own snapshot and uses a kept set only when it is exactly what that
//! snapshot holds. The set is shared (`Arc`), so the server's cut of a viewer's
//! data finds its own kept cut again by pointer.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

/// How many emails the cache holds in all (about 60 bytes each with the
/// set's slot: some 16 MB).
const KEPT_EMAILS: usize = 1 << 18;

/// A viewer's visible emails, lower-cased.
pub type EmailSet = Arc<HashSet<String>>;

/// The set of `emails` as a viewer sees them: lower-cased, each once.
pub fn email_set(emails: impl IntoIterator<Item = String>) -> HashSet<String> {
    emails.into_iter().map(|e| e.to_lowercase()).collect()
}

/// One group list's emails at one membership version.
struct Entry {
    account_id: i64,
    /// The groups, sorted and each once.
    groups: Vec<i64>,
    version: i64,
    emails: EmailSet,
}

/// The kept sets, most recently used last, bounded by their emails in all.
#[derive(Default)]
pub struct MemberEmailsCache {
    entries: Mutex<VecDeque<Entry>>,
}

/// `groups` as the cache knows them: sorted, each once.
pub fn group_key(mut groups: Vec<i64>) -> Vec<i64> {
    groups.sort_unstable();
    groups.dedup();
    groups
}

impl MemberEmailsCache {
    /// The kept set of `groups` (a [`group_key`]) in `account_id` at
    /// `version`, now the most recently used. A poisoned lock finds nothing.
    pub fn find(&self, account_id: i64, groups: &[i64], version: i64) -> Option<EmailSet> {
        let mut entries = self.entries.lock().ok()?;
        let i = entries
            .iter()
            .position(|e| e.account_id == account_id && e.groups == groups)?;
        let entry = entries.remove(i)?;
        if entry.version != version {
            // Read at another version: not this snapshot's, and a newer
            // snapshot replaces it.
            return None;
        }
        let emails = Arc::clone(&entry.emails);
        entries.push_back(entry);
        Some(emails)
    }

    /// Keeps `emails` as the set of `groups` at `version`, dropping the least
    /// recently used sets past the budget (a set larger than the whole budget
    /// is not kept).
    pub fn keep(&self, account_id: i64, groups: Vec<i64>, version: i64, emails: EmailSet) {
        if emails.len() > KEPT_EMAILS {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        entries.retain(|e| !(e.account_id == account_id && e.groups == groups));
        let mut held: usize = entries.iter().map(|e| e.emails.len()).sum();
        while held + emails.len() > KEPT_EMAILS {
            match entries.pop_front() {
                Some(old) => held -= old.emails.len(),
                None => break,
            }
        }
        entries.push_back(Entry {
            account_id,
            groups,
            version,
            emails,
        });
    }

    /// Drops the account's sets (after an erasure, so no erased email stays in
    /// memory until a viewer asks again).
    pub fn forget_account(&self, account_id: i64) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|e| e.account_id != account_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(emails: &[&str]) -> EmailSet {
        Arc::new(email_set(emails.iter().map(|e| e.to_string())))
    }

    #[test]
    fn a_kept_set_is_found_only_at_its_version_and_for_its_groups() {
        let cache = MemberEmailsCache::default();
        let groups = group_key(vec![3, 1, 3]);
        assert_eq!(groups, vec![1, 3]);
        let emails = set(&["Ann@Example.com", "ann@example.com", "bo@example.com"]);
        assert_eq!(emails.len(), 2, "lower-cased, each once");
        cache.keep(7, groups.clone(), 4, Arc::clone(&emails));

        let found = cache.find(7, &groups, 4).expect("kept");
        assert!(Arc::ptr_eq(&found, &emails), "the very set");
        assert!(cache.find(8, &groups, 4).is_none(), "another account");
        assert!(cache.find(7, &[1], 4).is_none(), "other groups");
        assert!(cache.find(7, &groups, 5).is_none(), "another version");
        assert!(
            cache.find(7, &groups, 4).is_none(),
            "a set met at another version is dropped"
        );

        cache.keep(7, groups.clone(), 5, Arc::clone(&emails));
        cache.keep(8, groups.clone(), 5, Arc::clone(&emails));
        cache.forget_account(7);
        assert!(cache.find(7, &groups, 5).is_none(), "forgotten");
        assert!(
            cache.find(8, &groups, 5).is_some(),
            "another account's stays"
        );
    }

    #[test]
    fn the_least_recently_used_sets_go_past_the_budget() {
        let cache = MemberEmailsCache::default();
        let big = |tag: &str| {
            Arc::new(
                (0..KEPT_EMAILS / 2)
                    .map(|i| format!("{tag}{i}@example.com"))
                    .collect::<HashSet<_>>(),
            )
        };
        cache.keep(1, vec![1], 1, big("a"));
        cache.keep(1, vec![2], 1, big("b"));
        assert!(cache.find(1, &[1], 1).is_some(), "1 used again");
        cache.keep(1, vec![3], 1, big("c"));
        assert!(cache.find(1, &[2], 1).is_none(), "2 went first");
        assert!(cache.find(1, &[1], 1).is_some());
        assert!(cache.find(1, &[3], 1).is_some());

        let too_big = Arc::new(
            (0..=KEPT_EMAILS)
                .map(|i| i.to_string())
                .collect::<HashSet<_>>(),
        );
        cache.keep(1, vec![4], 1, too_big);
        assert!(cache.find(1, &[4], 1).is_none(), "larger than the budget");
        assert!(cache.find(1, &[1], 1).is_some(), "and dropped nothing");
    }
}
