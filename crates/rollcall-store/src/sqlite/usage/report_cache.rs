//! What the usage reports read again and again, kept per account in the store
//! (issue 18 #4): the current org chart's directory, the email table, the
//! email → person resolver, and per app the provisioned users, the org-chart
//! person of each and their summary; beside them, under a budget of their
//! own, the apps' day bitmaps (`usage_day_bits`).
//!
//! Every entry carries what makes it change (org snapshot and completion time,
//! the app's provisioned version, the table's length), and is served only when
//! that still matches, so a stale entry is never used. The caches belong to one
//! store (one database), so nothing is keyed by path.
//!
//! Bounded by the bytes the entries hold on the heap (capacities and the
//! allocator's per-block cost counted, measured once per entry): past the
//! budget, the entries used least recently go first, one app's entries or a
//! whole other account at a time. The account in use loses its apps'
//! entries too once it has not used them lately ([`RECENT_USES`]), so one
//! account larger than the budget keeps only its shared entries (org chart,
//! email table, resolver) and the apps it is being asked about. Process-wide maps emptied
//! wholesale past 64 accounts before, so with a thousand tenants every report
//! of every account rebuilt its directory and email table; the previous
//! estimate (a fixed size per person) counted about two thirds of what
//! heaptrack measured, and never bounded the account in use (issue 18 #3/#4).

use std::collections::{BTreeMap, HashMap};
use std::mem::size_of;
use std::sync::{Arc, Mutex};

use rollcall_core::usage_bits::{EmailTable, Resolver};
use rollcall_core::usage_report::{Directory, Employee};

use super::push::TimesWritten;
use crate::usage::kept_day_bits::{KeptDayBits, Versions};
use crate::usage::{LastTimes, ProvisionedSummary, ProvisionedUser};

/// An org chart's identity: (snapshot id, completion time); (0, 0) without one.
pub(super) type OrgId = (i64, i64);

/// Default budget. As measured here, a person takes about 600 bytes in a
/// directory and 130 in the email table, a provisioned user 360: the large
/// bench account (10,000 people) about 7.5 MB plus 2.2 MB per app whose
/// provisioned users a report listed, a small tenant of 200 people about
/// 190 KB. With the page caches (96 MB) and the process's other bounded maps,
/// this keeps a server with a thousand tenants beside the large account under
/// 400 MB resident (332 MB measured, issue 18 #4).
pub(super) const DEFAULT_BUDGET: usize = 64 << 20;

/// How many uses back the account in use keeps its apps' entries whatever the
/// budget: one report asks the caches about six times per app it reads, so a
/// report over every app (app summaries of 20 apps: about 120 uses) never
/// drops what it loaded for one app while loading the next, and the app being
/// browsed stays between its reports. Measured at 100,000 people, where the
/// account's shared entries alone exceed the budget: dropping each app's
/// entries as soon as another use came made every report reload its
/// provisioned users (200–470 ms against 5–70).
const RECENT_USES: u64 = 256;

/// The caches of one store.
pub(in crate::sqlite) struct ReportCaches {
    state: Mutex<State>,
    budget: usize,
    /// [`RECENT_USES`], or fewer in tests.
    recent: u64,
    /// The apps' day bitmaps, under a budget of their own.
    pub(super) day_bits: KeptDayBits,
}

#[derive(Default)]
struct State {
    accounts: HashMap<i64, Account>,
    /// Ticks on every use; an entry's `used` is the tick of its last use.
    clock: u64,
    bytes: usize,
}

/// The bytes of one cached value, measured when the value was stored (keyed
/// by its address, which cannot be reused while the cache holds the value).
#[derive(Default, Clone, Copy)]
struct Measured {
    at: usize,
    bytes: usize,
}

impl Measured {
    fn of<T>(&mut self, value: Option<&Arc<T>>, measure: impl FnOnce(&T) -> usize) -> usize {
        let at = value.map_or(0, |v| Arc::as_ptr(v) as *const () as usize);
        if at != self.at {
            *self = Measured {
                at,
                bytes: value.map_or(0, |v| measure(v)),
            };
        }
        self.bytes
    }
}

/// One account's entries.
#[derive(Default)]
pub(super) struct Account {
    used: u64,
    /// The tick of the call in progress (stamped on the apps it touches).
    now: u64,
    /// What the shared entries weigh, and the apps'.
    bytes: usize,
    measured: [Measured; 3],
    pub org: Option<(OrgId, Arc<Directory>)>,
    pub emails: Arc<EmailTable>,
    pub resolver: Option<(OrgId, Arc<Resolver>)>,
    /// By public app id.
    apps: HashMap<String, App>,
}

/// What an app's entries derived from its provisioned users and the org chart
/// depend on: (provisioned version, org chart).
pub(super) type ProvOrg = (i64, OrgId);

/// One app's entries; the provisioned version comes first in each key.
#[derive(Default)]
pub(super) struct App {
    used: u64,
    bytes: usize,
    measured: [Measured; 3],
    pub provisioned: Option<(i64, Arc<Vec<ProvisionedUser>>)>,
    pub people: Option<(ProvOrg, Arc<Vec<u32>>)>,
    pub summary: Option<(ProvOrg, Arc<ProvisionedSummary>)>,
    /// The app's latest time per email at a version of them (`last_version`):
    /// read once, then moved along by each push after its commit
    /// ([`ReportCaches::times_written`]), so reports beside ingest use it too.
    pub last: Option<(i64, Arc<LastTimes>)>,
    /// Pushes' times of versions past the one after `last`'s (their commit
    /// came in the same group as an earlier push whose caller has not passed
    /// them on yet), applied once the versions between are; at most
    /// [`EARLY_MAX`] pushes' worth, not counted in the budget.
    early: Vec<(i64, Vec<(u32, i64)>)>,
}

/// Most pushes' times an app holds for versions not yet reached.
const EARLY_MAX: usize = 8;

/// What an entry costs beyond its values: the maps' slots and keys.
const ACCOUNT_OVERHEAD: usize = 512;
const APP_OVERHEAD: usize = 256;

impl App {
    fn weigh(&mut self) -> usize {
        let [p, q, s] = &mut self.measured;
        self.bytes = APP_OVERHEAD
            + p.of(self.provisioned.as_ref().map(|e| &e.1), |v| {
                provisioned_bytes(v)
            })
            + q.of(self.people.as_ref().map(|e| &e.1), |v| {
                block(v.capacity() * 4)
            })
            + s.of(self.summary.as_ref().map(|e| &e.1), summary_bytes)
            // Grown in place by pushes: measured on every weighing (it is one block).
            + self.last.as_ref().map_or(0, |e| block(e.1.capacity_bytes()));
        self.bytes
    }
}

impl Account {
    /// The app's entries, if any, marked used by this call.
    pub(super) fn app(&mut self, app_id: &str) -> Option<&App> {
        let now = self.now;
        self.apps.get_mut(app_id).map(|a| {
            a.used = now;
            &*a
        })
    }

    /// The app's entries (made empty when absent), marked used by this call.
    pub(super) fn app_mut(&mut self, app_id: &str) -> &mut App {
        let app = self.apps.entry(app_id.to_string()).or_default();
        app.used = self.now;
        app
    }

    /// The shared entries' bytes (measured again only for values that changed).
    fn weigh_shared(&mut self) -> usize {
        let [o, e, r] = &mut self.measured;
        ACCOUNT_OVERHEAD
            + o.of(self.org.as_ref().map(|x| &x.1), directory_bytes)
            + e.of(Some(&self.emails), email_table_bytes)
            + r.of(self.resolver.as_ref().map(|x| &x.1), |r| {
                block(r.covered() * 4)
            })
    }

    /// The whole account's bytes.
    fn weigh(&mut self) -> usize {
        let apps: usize = self.apps.values_mut().map(App::weigh).sum();
        self.bytes = self.weigh_shared() + apps;
        self.bytes
    }
}

impl Default for ReportCaches {
    fn default() -> Self {
        ReportCaches::with_budget(DEFAULT_BUDGET)
    }
}

/// The least recently used entry that may go.
enum Victim {
    Account(i64),
    App(i64, String),
}

impl ReportCaches {
    pub(super) fn with_budget(budget: usize) -> ReportCaches {
        ReportCaches {
            state: Mutex::new(State::default()),
            budget,
            recent: RECENT_USES,
            day_bits: KeptDayBits::new(Versions::Growing),
        }
    }

    /// Runs `f` on the account's entries (made empty when absent), marks the
    /// account used, then drops entries, least recently used first, while the
    /// caches are over budget: other accounts whole, or single apps' entries
    /// (of this account too, except those `f` touched). A poisoned lock (a
    /// panic in `f` elsewhere) answers `f` on empty entries, so reports read
    /// the database.
    pub(super) fn with<R>(&self, account_id: i64, f: impl FnOnce(&mut Account) -> R) -> R {
        let Ok(mut state) = self.state.lock() else {
            return f(&mut Account::default());
        };
        state.clock += 1;
        let now = state.clock;
        let entry = state.accounts.entry(account_id).or_default();
        entry.used = now;
        entry.now = now;
        let before = entry.bytes;
        let out = f(entry);
        let after = entry.weigh();
        state.bytes = state.bytes.saturating_sub(before) + after;
        while state.bytes > self.budget {
            let Some(victim) = state.least_recently_used(account_id, now, self.recent) else {
                break;
            };
            let freed = match victim {
                Victim::Account(id) => state.accounts.remove(&id).map_or(0, |a| a.bytes),
                Victim::App(id, app_id) => state.accounts.get_mut(&id).map_or(0, |a| {
                    let freed = a.apps.remove(&app_id).map_or(0, |x| x.bytes);
                    a.bytes = a.bytes.saturating_sub(freed);
                    freed
                }),
            };
            state.bytes = state.bytes.saturating_sub(freed);
        }
        out
    }

    /// After a push's commit: moves the app's kept latest times to the
    /// version the push made, once they are the version just before it.
    /// Pushes committed in one group pass their times on in any order, so a
    /// version ahead of that waits (bounded) for those between. Nothing is
    /// kept for an app no report read.
    pub(in crate::sqlite) fn times_written(
        &self,
        account_id: i64,
        app_id: &str,
        written: &TimesWritten,
    ) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let Some(app) = state
            .accounts
            .get_mut(&account_id)
            .and_then(|a| a.apps.get_mut(app_id))
        else {
            return;
        };
        let Some((version, times)) = &mut app.last else {
            return;
        };
        app.early.retain(|(v, _)| *v > *version);
        if written.version > *version + 1 {
            if app.early.len() < EARLY_MAX {
                app.early.push((written.version, written.times.clone()));
            }
            return;
        }
        if written.version <= *version {
            return;
        }
        let times = Arc::make_mut(times);
        let raise = |times: &mut LastTimes, pairs: &[(u32, i64)]| {
            for &(id, ms) in pairs {
                times.raise(id, ms);
            }
        };
        raise(times, &written.times);
        *version = written.version;
        while let Some(at) = app.early.iter().position(|(v, _)| *v == *version + 1) {
            let (next, pairs) = app.early.swap_remove(at);
            raise(times, &pairs);
            *version = next;
        }
    }

    /// Drops every entry of the account (after an erasure).
    pub(in crate::sqlite) fn forget_account(&self, account_id: i64) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(gone) = state.accounts.remove(&account_id) {
            state.bytes = state.bytes.saturating_sub(gone.bytes);
        }
        self.day_bits.forget_account(account_id);
    }

    /// How many accounts have entries, and their measured bytes.
    #[cfg(test)]
    pub(super) fn size(&self) -> (usize, usize) {
        self.state
            .lock()
            .map(|s| (s.accounts.len(), s.bytes))
            .unwrap_or_default()
    }
}

impl State {
    /// The entry used least recently, other than the current account's shared
    /// entries and its apps used in the last `recent` uses. An account goes
    /// whole when it is older than each of its apps (an account is marked on
    /// every use, so its apps went before it unless used since).
    fn least_recently_used(&self, current: i64, now: u64, recent: u64) -> Option<Victim> {
        let mut best: Option<(u64, Victim)> = None;
        let mut consider = |used: u64, victim: Victim| {
            if best.as_ref().is_none_or(|(b, _)| used < *b) {
                best = Some((used, victim));
            }
        };
        for (&id, account) in &self.accounts {
            if id != current {
                consider(account.used, Victim::Account(id));
            }
            for (app_id, app) in &account.apps {
                let kept = id == current && now - app.used < recent.max(1);
                if app.used != now && !kept {
                    consider(app.used, Victim::App(id, app_id.clone()));
                }
            }
        }
        best.map(|(_, v)| v)
    }
}

/// What glibc's malloc takes for a block of `n` bytes: an 8-byte header,
/// 16-byte steps, 32 bytes at least; nothing for no block.
fn block(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        (n + 8).next_multiple_of(16).max(32)
    }
}

fn string_bytes(s: &String) -> usize {
    block(s.capacity())
}

fn option_bytes(s: &Option<String>) -> usize {
    s.as_ref().map_or(0, string_bytes)
}

/// A hash map of `n` entries of `entry` bytes (hashbrown: 7/8 full at most,
/// a control byte per bucket).
fn map_bytes(n: usize, entry: usize) -> usize {
    if n == 0 {
        return 0;
    }
    let buckets = if n < 8 {
        8
    } else {
        (n * 8 / 7).next_power_of_two()
    };
    block(buckets * (entry + 1) + 16)
}

/// A B-tree map's nodes (11 entries each) and its strings.
fn string_btree_bytes<'a>(m: impl ExactSizeIterator<Item = (&'a String, usize)>) -> usize {
    let nodes = m.len().div_ceil(11) * block(11 * 2 * size_of::<String>() + 16);
    nodes + m.map(|(k, v)| string_bytes(k) + v).sum::<usize>()
}

fn employee_bytes(e: &Employee) -> usize {
    string_bytes(&e.email)
        + [
            &e.first_name,
            &e.last_name,
            &e.team,
            &e.location,
            &e.title,
            &e.manager_email,
            &e.cost_center,
        ]
        .into_iter()
        .map(option_bytes)
        .sum::<usize>()
        + block(e.additional_emails.capacity() * size_of::<String>())
        + e.additional_emails.iter().map(string_bytes).sum::<usize>()
        + string_btree_bytes(e.custom_fields.iter().map(|(k, v)| (k, string_bytes(v))))
}

fn directory_bytes(d: &Directory) -> usize {
    let people = block(d.people.capacity() * size_of::<Employee>())
        + d.people.iter().map(employee_bytes).sum::<usize>();
    // The email → index map holds a copy of every email and alias.
    let keys = d.people.iter().map(|p| {
        block(p.email.len())
            + p.additional_emails
                .iter()
                .map(|a| block(a.len()))
                .sum::<usize>()
    });
    let n = d.people.iter().map(|p| 1 + p.additional_emails.len()).sum();
    people + keys.sum::<usize>() + map_bytes(n, size_of::<(String, usize)>())
}

fn email_table_bytes(t: &EmailTable) -> usize {
    let n = t.len();
    // Each email twice: in the list and as the map's key.
    let strings: usize = (0..n as u32)
        .map(|id| 2 * block(t.email(id).map_or(0, str::len)))
        .sum();
    block(n * size_of::<String>()) + strings + map_bytes(n, size_of::<(String, u32)>())
}

fn provisioned_bytes(users: &Vec<ProvisionedUser>) -> usize {
    block(users.capacity() * size_of::<ProvisionedUser>())
        + users
            .iter()
            .map(|u| {
                string_bytes(&u.app_user_id)
                    + string_bytes(&u.email)
                    + option_bytes(&u.username)
                    + option_bytes(&u.license)
                    + u.profile.as_ref().map_or(0, |p| {
                        [&p.first_name, &p.last_name, &p.name, &p.title, &p.team]
                            .into_iter()
                            .map(option_bytes)
                            .sum()
                    })
            })
            .sum::<usize>()
}

fn summary_bytes(s: &ProvisionedSummary) -> usize {
    block(s.slots.capacity() * 4)
        + block(s.unresolved.capacity() * size_of::<String>())
        + s.unresolved.iter().map(string_bytes).sum::<usize>()
        + license_bytes(&s.per_license)
}

fn license_bytes(m: &BTreeMap<String, u64>) -> usize {
    string_btree_bytes(m.keys().map(|k| (k, 0)))
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
                    team: Some(format!("Team {}", i % 7)),
                    ..Employee::default()
                })
                .collect(),
        ))
    }

    fn users(n: usize) -> Arc<Vec<ProvisionedUser>> {
        Arc::new(
            (0..n)
                .map(|i| ProvisionedUser {
                    app_user_id: format!("u{i}"),
                    email: format!("p{i}@example.com"),
                    username: Some(format!("user{i}")),
                    license: None,
                    profile: None,
                })
                .collect(),
        )
    }

    /// What one account holding `directory(n)` weighs.
    fn one_account(n: usize) -> usize {
        let caches = ReportCaches::default();
        caches.with(1, |a| a.org = Some(((1, 1), directory(n))));
        caches.size().1
    }

    /// Pushes committed in one group pass their times on in any order: a
    /// version ahead waits for those between and is then applied, in order.
    #[test]
    fn pushes_times_passed_on_out_of_order_move_the_kept_times_in_order() {
        let caches = ReportCaches::default();
        caches.with(1, |a| {
            a.app_mut("app").last = Some((10, Arc::new(LastTimes::of([(0, 100)]))))
        });
        let kept = || {
            caches.with(1, |a| {
                let (v, t) = a.app("app").and_then(|x| x.last.clone()).expect("kept");
                (v, [0, 1, 2, 3].map(|id| t.get(id)))
            })
        };
        let written = |version, times: &[(u32, i64)]| TimesWritten {
            version,
            times: times.to_vec(),
        };
        caches.times_written(1, "app", &written(12, &[(2, 300)]));
        caches.times_written(1, "app", &written(13, &[(0, 400)]));
        assert_eq!(
            kept(),
            (10, [Some(100), None, None, None]),
            "11 not seen yet"
        );
        caches.times_written(1, "app", &written(11, &[(1, 200), (0, 50)]));
        assert_eq!(kept(), (13, [Some(400), Some(200), Some(300), None]));
        // Already in the kept times (a read took them): ignored.
        caches.times_written(1, "app", &written(13, &[(3, 999)]));
        assert_eq!(kept().0, 13);
        assert_eq!(kept().1[3], None);
        // A version whose predecessor never comes (its caller failed) is
        // never applied, and the waiting ones stay bounded.
        for v in 15..15 + 2 * EARLY_MAX as i64 {
            caches.times_written(1, "app", &written(v, &[(3, v)]));
        }
        assert_eq!(kept(), (13, [Some(400), Some(200), Some(300), None]));
        caches.with(1, |a| {
            assert_eq!(a.app("app").map(|x| x.early.len()), Some(EARLY_MAX))
        });
    }

    #[test]
    fn the_least_recently_used_accounts_go_first_and_only_past_the_budget() {
        // Room for three accounts of 100 people, not four.
        let caches = ReportCaches::with_budget(3 * one_account(100) + 100);
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
    fn one_account_over_the_budget_drops_its_apps_used_least_recently_but_not_the_one_in_use() {
        let app = |n: usize| ACCOUNT_OVERHEAD + APP_OVERHEAD + provisioned_bytes(&users(n));
        // Room for two apps' lists of 1,000 users, not three.
        let mut caches = ReportCaches::with_budget(3 * app(1000) - 2 * ACCOUNT_OVERHEAD - 100);
        caches.recent = 1;
        for name in ["a", "b"] {
            caches.with(1, |a| a.app_mut(name).provisioned = Some((1, users(1000))));
        }
        // "a" is used again, so "b" goes when "c" comes.
        assert!(caches.with(1, |a| a.app("a").is_some()));
        caches.with(1, |a| a.app_mut("c").provisioned = Some((1, users(1000))));
        assert!(caches.with(1, |a| a.app("b").is_none()), "b was evicted");
        assert!(caches.with(1, |a| a.app("a").is_some()));
        // An app larger than the whole budget stays for the call that made it,
        // and goes when another one is used.
        caches.with(1, |a| a.app_mut("d").provisioned = Some((1, users(5000))));
        assert!(caches.with(1, |a| a.app("d").is_some()));
        assert!(caches.size().1 > caches.budget);
        caches.with(1, |a| {
            a.app_mut("a").people = Some(((1, (1, 1)), Arc::new(vec![1])))
        });
        assert!(caches.with(1, |a| a.app("d").is_none()), "d was evicted");
        assert!(caches.size().1 <= caches.budget);
    }

    #[test]
    fn the_account_in_use_keeps_the_apps_it_used_lately_over_the_budget() {
        let app = |n: usize| ACCOUNT_OVERHEAD + APP_OVERHEAD + provisioned_bytes(&users(n));
        let mut caches = ReportCaches::with_budget(2 * app(1000));
        caches.recent = 10;
        // Four apps' lists, each asked again in the next use (as a report
        // reads an app's users and then their people): none is dropped.
        for name in ["a", "b", "c", "d"] {
            caches.with(1, |a| a.app_mut(name).provisioned = Some((1, users(1000))));
            assert!(caches.with(1, |a| a.app(name).is_some()));
        }
        assert!(["a", "b", "c", "d"]
            .iter()
            .all(|name| caches.with(1, |a| a.app(name).is_some())));
        // Ten uses later, the oldest go until the budget holds.
        for _ in 0..10 {
            caches.with(1, |a| a.app("d").is_some());
        }
        assert!(caches.with(1, |a| a.app("a").is_none()), "a was evicted");
        assert!(caches.size().1 <= caches.budget);
        assert!(caches.with(1, |a| a.app("d").is_some()));
    }

    #[test]
    fn a_thousand_small_accounts_fit_beside_a_large_one() {
        let caches = ReportCaches::default();
        caches.with(0, |a| a.org = Some(((1, 1), directory(10_000))));
        caches.with(0, |a| a.app_mut("x").provisioned = Some((1, users(6_000))));
        let small = directory(50);
        for account in 1..=1000 {
            caches.with(account, |a| a.org = Some(((1, 1), Arc::clone(&small))));
        }
        assert_eq!(caches.size().0, 1001);
        assert!(caches.with(0, |a| a.org.is_some() && a.app("x").is_some()));
        assert!(caches.with(1, |a| a.org.is_some()));
    }

    #[test]
    fn the_byte_count_follows_replacements_and_counts_what_the_heap_holds() {
        let caches = ReportCaches::default();
        caches.with(1, |a| a.org = Some(((1, 1), directory(1000))));
        let big = caches.size().1;
        // Each person: the struct, the email and its copy in the map, the team.
        let per_person = size_of::<Employee>() + 3 * 32;
        assert!(big > 1000 * per_person, "{big}");
        caches.with(1, |a| a.org = Some(((2, 2), directory(10))));
        let small = caches.size().1;
        assert!(small < big / 50, "{small} < {big}");
        caches.with(1, |a| a.org = None);
        assert_eq!(caches.size().1, ACCOUNT_OVERHEAD);
        caches.with(1, |a| a.app_mut("x").provisioned = Some((1, users(10))));
        caches.with(1, |a| a.app_mut("x").provisioned = None);
        assert_eq!(caches.size().1, ACCOUNT_OVERHEAD + APP_OVERHEAD);
        caches.forget_account(1);
        assert_eq!(caches.size(), (0, 0));
    }

    #[test]
    fn blocks_are_counted_as_glibc_malloc_hands_them_out() {
        assert_eq!(block(0), 0);
        assert_eq!(block(1), 32);
        assert_eq!(block(24), 32);
        assert_eq!(block(25), 48);
        assert_eq!(block(1000), 1008);
    }
}
