//! A viewer's cut of an app's data: only the people of their groups.
//!
//! Cutting needs, per org chart and email table, the visible email ids (a
//! bitmap), the chart of the visible people and its resolver, and per list of
//! provisioned users, the visible ones with their summary and people. At 10,000
//! people that is milliseconds of work, the same for every report a viewer asks
//! while the chart, the emails and the users stay as they are, so the
//! [`RestrictionCache`] (a field of the server's state) keeps the latest cuts,
//! keyed by account and the exact set of visible emails (found first by
//! pointer: the store hands out the same set while the groups' members stay),
//! and reuses one only for the very `Arc`s it was made from (the store hands
//! out new ones when the data change).

use std::sync::{Arc, Mutex};

use rollcall_core::usage_bits::{self, EmailTable, Resolver};
use rollcall_core::usage_report::Directory;
use rollcall_store::usage::{
    provisioned_people, DayBits, InsightData, ProvisionedSummary, ProvisionedUser,
};
use rollcall_store::workforce::member_emails::EmailSet;

use super::kept::Kept;

/// Cuts kept (one per viewer restriction in recent use).
const KEPT: usize = 16;

/// The latest cuts, most recently used last.
#[derive(Default)]
pub struct RestrictionCache {
    cuts: Kept<Cut, KEPT>,
}

impl RestrictionCache {
    /// The cut of data with `emails` and `org` for the people `visible` (resolved
    /// through `org`) in `account_id`: a kept one, or a new one, kept.
    fn cut(
        &self,
        account_id: i64,
        visible: &EmailSet,
        data: &InsightData,
        sees: impl Fn(&Directory, &str) -> bool,
    ) -> Arc<Cut> {
        let kept = self
            .cuts
            .find(|c| c.account_id == account_id && c.made_from(data) && c.sees_as(visible));
        kept.unwrap_or_else(|| {
            self.cuts
                .keep(Cut::new(account_id, Arc::clone(visible), data, sees))
        })
    }
}

/// The part of a restriction shared by every app of one org chart and email
/// table, and the cuts of the provisioned lists it has been asked for.
pub(super) struct Cut {
    account_id: i64,
    visible: EmailSet,
    /// What it was made from, held so the pointers cannot be reused.
    old_dir: Option<Arc<Directory>>,
    emails: Arc<EmailTable>,
    /// The visible email ids.
    mask: Arc<[u8]>,
    dir: Arc<Directory>,
    resolver: Arc<Resolver>,
    provisioned: Mutex<Vec<Arc<ProvisionedCut>>>,
}

/// The visible users of one app's provisioned list.
struct ProvisionedCut {
    app_id: String,
    from: Arc<Vec<ProvisionedUser>>,
    users: Arc<Vec<ProvisionedUser>>,
    people: Arc<Vec<u32>>,
    summary: Arc<ProvisionedSummary>,
}

fn org_dir(data: &InsightData) -> Option<&Arc<Directory>> {
    data.org.as_ref().map(|o| &o.directory)
}

impl Cut {
    fn new(
        account_id: i64,
        visible: EmailSet,
        data: &InsightData,
        sees: impl Fn(&Directory, &str) -> bool,
    ) -> Cut {
        let empty = Directory::default();
        let old_dir: &Directory = org_dir(data).map_or(&empty, |d| d);
        let mut mask = Vec::new();
        for id in 0..data.emails.len() as u32 {
            if data
                .emails
                .email(id)
                .is_some_and(|e| !e.is_empty() && sees(old_dir, e))
            {
                usage_bits::set(&mut mask, id);
            }
        }
        let dir = Arc::new(Directory::new(
            old_dir
                .people
                .iter()
                .filter(|p| sees(old_dir, &p.email))
                .cloned()
                .collect(),
        ));
        Cut {
            account_id,
            visible,
            old_dir: org_dir(data).cloned(),
            emails: Arc::clone(&data.emails),
            resolver: Arc::new(Resolver::new(&dir, &data.emails)),
            mask: mask.into(),
            dir,
            provisioned: Mutex::default(),
        }
    }

    /// Whether this was made for the people `visible`: the very set, or one
    /// equal to it.
    fn sees_as(&self, visible: &EmailSet) -> bool {
        Arc::ptr_eq(&self.visible, visible) || self.visible == *visible
    }

    /// Whether `data` has the org chart and email table this was made from.
    fn made_from(&self, data: &InsightData) -> bool {
        let same_dir = match (&self.old_dir, org_dir(data)) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        same_dir && Arc::ptr_eq(&self.emails, &data.emails)
    }

    /// The visible users of `data`'s provisioned list.
    fn provisioned(
        &self,
        data: &InsightData,
        sees: impl Fn(&Directory, &str) -> bool,
    ) -> Arc<ProvisionedCut> {
        let from = &data.provisioned;
        let kept = self
            .provisioned
            .lock()
            .ok()
            .and_then(|l| l.iter().find(|p| Arc::ptr_eq(&p.from, from)).cloned());
        if let Some(p) = kept {
            return p;
        }
        let empty = Directory::default();
        let old_dir: &Directory = org_dir(data).map_or(&empty, |d| d);
        let users: Vec<ProvisionedUser> = from
            .iter()
            .filter(|u| sees(old_dir, &u.email))
            .cloned()
            .collect();
        let cut = Arc::new(ProvisionedCut {
            app_id: data.app.app_id.clone(),
            from: Arc::clone(from),
            people: Arc::new(provisioned_people(&users, &self.dir)),
            // Slots of the restricted chart, as its resolver gives them.
            summary: Arc::new(ProvisionedSummary::of(
                users
                    .iter()
                    .map(|u| (u.email.as_str(), u.license.as_deref())),
                &self.dir,
                &data.emails,
            )),
            users: Arc::new(users),
        });
        if let Ok(mut list) = self.provisioned.lock() {
            // One list per app: an app's older list is no longer asked for.
            list.retain(|p| p.app_id != cut.app_id);
            list.push(Arc::clone(&cut));
        }
        cut
    }

    /// `data` with only the visible people: their bits, latest activity,
    /// provisioned users and org-chart entries.
    fn apply(&self, mut data: InsightData, sees: impl Fn(&Directory, &str) -> bool) -> InsightData {
        let provisioned = self.provisioned(&data, sees);
        DayBits::restrict_all(&mut data.days, &self.mask);
        data.last_ms = Arc::new(data.last_ms.only(|id| usage_bits::get(&self.mask, id)));
        data.provisioned = Arc::clone(&provisioned.users);
        data.provisioned_people = Arc::clone(&provisioned.people);
        data.provisioned_summary = Arc::clone(&provisioned.summary);
        data.resolver = Arc::clone(&self.resolver);
        if let Some(org) = &mut data.org {
            org.directory = Arc::clone(&self.dir);
        }
        data
    }
}

/// `data` cut to the people `visible` in `account_id`, through `cache`.
pub(super) fn restrict(
    cache: &RestrictionCache,
    account_id: i64,
    visible: &EmailSet,
    data: InsightData,
    sees: impl Fn(&Directory, &str) -> bool + Copy,
) -> InsightData {
    let cut = cache.cut(account_id, visible, &data, sees);
    cut.apply(data, sees)
}
