//! What the usage reports read again and again, kept per account in the store
//! (issue 18 #4): the current org chart's directory, the email table, the
//! email → person resolver, and per app the provisioned users, the org-chart
//! person of each and their summary.
//!
//! Every entry carries what makes it change (org snapshot and completion time,
//! the app's provisioned version, the table's length), and is served only when
//! that still matches, so a stale entry is never used. The caches belong to one
//! store (one database), so nothing is keyed by path.
//!
//! Bounded by an estimate of their bytes: past the budget, the accounts used
//! least recently are dropped one by one. Process-wide maps emptied wholesale
//! past 64 accounts before, so with a thousand tenants every report of every
//! account rebuilt its directory and email table.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rollcall_core::usage_bits::{EmailTable, Resolver};
use rollcall_core::usage_report::Directory;

use crate::usage::{ProvisionedSummary, ProvisionedUser};

/// An org chart's identity: (snapshot id, completion time); (0, 0) without one.
pub(crate) type OrgId = (i64, i64);

/// Default budget: the large bench account (10,000 people, 20 apps) takes
/// about 20 MB; a small tenant well under 100 KB.
pub(crate) const DEFAULT_BUDGET: usize = 128 << 20;

/// The caches of one store.
pub(crate) struct ReportCaches {
    state: Mutex<State>,
    budget: usize,
}

#[derive(Default)]
struct State {
    accounts: HashMap<i64, Account>,
    /// Ticks on every use; an account's `used` is the tick of its last use.
    clock: u64,
    bytes: usize,
}

/// One account's entries.
#[derive(Default)]
pub(crate) struct Account {
    used: u64,
    bytes: usize,
    pub org: Option<(OrgId, Arc<Directory>)>,
    pub emails: Arc<EmailTable>,
    pub resolver: Option<(OrgId, Arc<Resolver>)>,
    /// By public app id.
    pub apps: HashMap<String, App>,
}

/// What an app's entries derived from its provisioned users and the org chart
/// depend on: (provisioned version, org chart).
pub(crate) type ProvOrg = (i64, OrgId);

/// One app's entries; the provisioned version comes first in each key.
#[derive(Default)]
pub(crate) struct App {
    pub provisioned: Option<(i64, Arc<Vec<ProvisionedUser>>)>,
    pub people: Option<(ProvOrg, Arc<Vec<u32>>)>,
    pub summary: Option<(ProvOrg, Arc<ProvisionedSummary>)>,
}

impl Account {
    /// About how many bytes the entries hold (an estimate, cheap to take).
    fn weight(&self) -> usize {
        let org = self.org.as_ref().map_or(0, |(_, d)| d.people.len() * 320);
        let emails = self.emails.len() * 96;
        let resolver = self.resolver.as_ref().map_or(0, |(_, r)| r.covered() * 4);
        let apps: usize = self
            .apps
            .values()
            .map(|a| {
                a.provisioned.as_ref().map_or(0, |(_, p)| p.len() * 160)
                    + a.people.as_ref().map_or(0, |(_, p)| p.len() * 4)
                    + a.summary.as_ref().map_or(0, |(_, s)| {
                        s.slots.len() * 4 + s.unresolved.len() * 48 + s.per_license.len() * 48
                    })
                    + 128
            })
            .sum();
        512 + org + emails + resolver + apps
    }
}

impl Default for ReportCaches {
    fn default() -> Self {
        ReportCaches::with_budget(DEFAULT_BUDGET)
    }
}

impl ReportCaches {
    pub(crate) fn with_budget(budget: usize) -> ReportCaches {
        ReportCaches {
            state: Mutex::new(State::default()),
            budget,
        }
    }

    /// Runs `f` on the account's entries (made empty when absent), marks the
    /// account used, then drops other accounts, least recently used first,
    /// while the caches are over budget. A poisoned lock (a panic in `f`
    /// elsewhere) answers `f` on empty entries, so reports read the database.
    pub(crate) fn with<R>(&self, account_id: i64, f: impl FnOnce(&mut Account) -> R) -> R {
        let Ok(mut state) = self.state.lock() else {
            return f(&mut Account::default());
        };
        state.clock += 1;
        let now = state.clock;
        let entry = state.accounts.entry(account_id).or_default();
        entry.used = now;
        let before = entry.bytes;
        let out = f(entry);
        entry.bytes = entry.weight();
        let after = entry.bytes;
        state.bytes = state.bytes.saturating_sub(before) + after;
        while state.bytes > self.budget && state.accounts.len() > 1 {
            let Some(oldest) = state
                .accounts
                .iter()
                .filter(|(&id, _)| id != account_id)
                .min_by_key(|(_, a)| a.used)
                .map(|(&id, _)| id)
            else {
                break;
            };
            if let Some(gone) = state.accounts.remove(&oldest) {
                state.bytes = state.bytes.saturating_sub(gone.bytes);
            }
        }
        out
    }

    /// Drops every entry of the account (after an erasure).
    pub(crate) fn forget_account(&self, account_id: i64) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(gone) = state.accounts.remove(&account_id) {
            state.bytes = state.bytes.saturating_sub(gone.bytes);
        }
    }

    /// How many accounts have entries, and their estimated bytes.
    #[cfg(test)]
    pub(crate) fn size(&self) -> (usize, usize) {
        self.state
            .lock()
            .map(|s| (s.accounts.len(), s.bytes))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollcall_core::usage_report::Employee;

    fn directory(n: usize) -> Arc<Directory> {
        Arc::new(Directory::new(
            (0..n)
                .map(|i| Employee {
                    email: format!("p{i}@example.com"),
                    ..Employee::default()
                })
                .collect(),
        ))
    }

    #[test]
    fn the_least_recently_used_accounts_go_first_and_only_past_the_budget() {
        // Room for about three accounts of 100 people.
        let caches = ReportCaches::with_budget(3 * (512 + 100 * 320) + 100);
        for account in 1..=3 {
            caches.with(account, |a| a.org = Some(((1, 1), directory(100))));
        }
        assert_eq!(caches.size().0, 3);
        // Account 1 is used again; adding a fourth drops account 2, the oldest.
        assert!(caches.with(1, |a| a.org.is_some()));
        caches.with(4, |a| a.org = Some(((1, 1), directory(100))));
        assert_eq!(caches.size().0, 3);
        assert!(caches.with(1, |a| a.org.is_some()));
        assert!(caches.with(3, |a| a.org.is_some()));
        assert!(caches.with(2, |a| a.org.is_none()), "account 2 was evicted");
    }

    #[test]
    fn a_thousand_small_accounts_fit_beside_a_large_one() {
        let caches = ReportCaches::default();
        caches.with(0, |a| a.org = Some(((1, 1), directory(10_000))));
        let small = directory(50);
        for account in 1..=1000 {
            caches.with(account, |a| a.org = Some(((1, 1), Arc::clone(&small))));
        }
        assert_eq!(caches.size().0, 1001);
        assert!(caches.with(0, |a| a.org.is_some()));
        assert!(caches.with(1, |a| a.org.is_some()));
    }

    #[test]
    fn the_byte_count_follows_replacements() {
        let caches = ReportCaches::default();
        caches.with(1, |a| a.org = Some(((1, 1), directory(1000))));
        let big = caches.size().1;
        caches.with(1, |a| a.org = Some(((2, 2), directory(10))));
        let small = caches.size().1;
        assert!(small < big, "{small} < {big}");
        caches.with(1, |a| a.org = None);
        assert_eq!(caches.size().1, 512);
    }
}
