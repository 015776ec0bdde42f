//! The users report's listing: every user of a data source, each once, in key
//! order, as indexes into the data it was made from.
//!
//! Making it takes a key per person (some 15,000 at the benchmark's 10,000
//! people) and a sort of them — most of a users page's time — and it is the
//! same for every page and every request while the org chart, the emails, the
//! provisioned users and the set of people who used the app stay the same. The
//! [`ListingCache`] (a field of the server's state) keeps the latest listings
//! and reuses one only for the very `Arc`s and the very set of used slots it
//! was made from (the store hands out new `Arc`s when the data change).

use std::sync::Arc;

use rollcall_core::fxhash::FxHashMap;
use rollcall_core::usage_bits::{EmailTable, Resolver};
use rollcall_core::usage_report::{Directory, Employee};
use rollcall_store::usage::{InsightData, ProvisionedUser};

use super::provisioned_member;
use crate::reports::kept::Kept;

/// Listings kept (one per app, source and viewer restriction in recent use):
/// at 100,000 people a listing is about 2 MB.
const KEPT: usize = 8;

/// The latest listings, most recently used last.
#[derive(Default)]
pub struct ListingCache {
    kept: Kept<Listing, KEPT>,
}

impl ListingCache {
    /// The listing of `source` for `data` (with `dir`, its org chart's
    /// directory): a kept one, or a new one, kept. `used` is the slots of the
    /// people who used the app by the report's day, in slot order.
    pub(super) fn listing(
        &self,
        account_id: i64,
        source: &str,
        data: &InsightData,
        dir: &Directory,
        used: Vec<u32>,
    ) -> Arc<Listing> {
        let made_from = MadeFrom::of(data, used);
        let kept = self.kept.find(|l| {
            l.account_id == account_id
                && l.app_id == data.app.app_id
                && l.source == source
                && l.made_from.same(&made_from)
        });
        if let Some(listing) = kept {
            return listing;
        }
        self.kept.keep(Listing {
            account_id,
            app_id: data.app.app_id.clone(),
            source: source.to_string(),
            rows: sorted_users(data, dir, &made_from.used, source),
            made_from,
        })
    }
}

/// Every user of one source of one app, in key order.
pub(super) struct Listing {
    account_id: i64,
    app_id: String,
    source: String,
    made_from: MadeFrom,
    pub rows: Vec<ListedAt>,
}

/// What a listing depends on, held so the pointers cannot be reused.
struct MadeFrom {
    emails: Arc<EmailTable>,
    resolver: Arc<Resolver>,
    provisioned: Arc<Vec<ProvisionedUser>>,
    provisioned_people: Arc<Vec<u32>>,
    dir: Option<Arc<Directory>>,
    used: Vec<u32>,
}

impl MadeFrom {
    fn of(data: &InsightData, used: Vec<u32>) -> MadeFrom {
        MadeFrom {
            emails: Arc::clone(&data.emails),
            resolver: Arc::clone(&data.resolver),
            provisioned: Arc::clone(&data.provisioned),
            provisioned_people: Arc::clone(&data.provisioned_people),
            dir: data.org.as_ref().map(|o| Arc::clone(&o.directory)),
            used,
        }
    }

    fn same(&self, other: &MadeFrom) -> bool {
        let same_dir = match (&self.dir, &other.dir) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        same_dir
            && Arc::ptr_eq(&self.emails, &other.emails)
            && Arc::ptr_eq(&self.resolver, &other.resolver)
            && Arc::ptr_eq(&self.provisioned, &other.provisioned)
            && Arc::ptr_eq(&self.provisioned_people, &other.provisioned_people)
            && self.used == other.used
    }
}

/// One user of a listing: where its key comes from, its slot (none for an
/// email without usage outside the org chart) and its first provisioned account
/// (by `appUserId`), as an index of the data's provisioned users. Indexes are
/// kept as `u32` ([`NONE`] for none): a listing holds one per user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ListedAt {
    key: KeyAt,
    slot: u32,
    provisioned: u32,
}

const NONE: u32 = u32::MAX;

fn index(i: Option<usize>) -> u32 {
    i.and_then(|i| u32::try_from(i).ok()).unwrap_or(NONE)
}

fn unindex(i: u32) -> Option<usize> {
    (i != NONE).then_some(i as usize)
}

/// A user's key: the `i`th provisioned user's, or a slot's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyAt {
    Provisioned(u32),
    Slot(u32),
}

impl ListedAt {
    fn new(key: KeyAt, slot: Option<usize>, provisioned: Option<usize>) -> ListedAt {
        ListedAt {
            key,
            slot: index(slot),
            provisioned: index(provisioned),
        }
    }

    pub fn slot(&self) -> Option<usize> {
        unindex(self.slot)
    }

    pub fn provisioned(&self) -> Option<usize> {
        unindex(self.provisioned)
    }

    /// The user's key (the person's primary email, or the email outside the
    /// org chart) in the data the listing was made from.
    pub fn key<'a>(&self, data: &'a InsightData, dir: &'a Directory) -> &'a str {
        match self.key {
            KeyAt::Provisioned(i) => provisioned_member(data, dir, i as usize).0,
            KeyAt::Slot(s) => data.resolver.key(s as usize, dir, &data.emails),
        }
    }

    /// The user's org-chart entry.
    pub fn person<'a>(&self, data: &'a InsightData, dir: &'a Directory) -> Option<&'a Employee> {
        match self.key {
            KeyAt::Provisioned(i) => provisioned_member(data, dir, i as usize).2,
            KeyAt::Slot(s) => dir.people.get(s as usize),
        }
    }
}

/// Every user of `source`, each once, sorted by key.
fn sorted_users(data: &InsightData, dir: &Directory, used: &[u32], source: &str) -> Vec<ListedAt> {
    // Each person's first provisioned account (by `appUserId`), by slot, and
    // the emails without a slot already listed.
    let mut first_of_slot: Vec<Option<usize>> = vec![None; dir.people.len() + data.emails.len()];
    let first = |firsts: &[Option<usize>], s: usize| firsts.get(s).copied().flatten();
    let mut slotless: FxHashMap<&str, ()> = Default::default();
    let mut listed: Vec<(&str, ListedAt)> = Vec::new();
    let with_provisioned = matches!(source, "all" | "provisioned");
    for i in 0..data.provisioned.len() {
        let (key, slot, _) = provisioned_member(data, dir, i);
        let is_first = match slot {
            Some(s) => first(&first_of_slot, s).is_none(),
            None => slotless.insert(key, ()).is_none(),
        };
        if !is_first {
            continue;
        }
        if let Some(f) = slot.and_then(|s| first_of_slot.get_mut(s)) {
            *f = Some(i);
        }
        if with_provisioned {
            let at = ListedAt::new(KeyAt::Provisioned(index(Some(i))), slot, Some(i));
            listed.push((key, at));
        }
    }
    let others: Vec<usize> = match source {
        "events" | "all" => used.iter().map(|&s| s as usize).collect(),
        "employees" => (0..dir.people.len()).collect(),
        _ => Vec::new(),
    };
    for s in others {
        let provisioned = first(&first_of_slot, s);
        if with_provisioned && provisioned.is_some() {
            continue;
        }
        let at = ListedAt::new(KeyAt::Slot(index(Some(s))), Some(s), provisioned);
        listed.push((data.resolver.key(s, dir, &data.emails), at));
    }
    listed.sort_unstable_by(|a, b| a.0.cmp(b.0));
    listed.into_iter().map(|(_, at)| at).collect()
}
