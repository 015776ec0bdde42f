//! Who may read what: the one permission check of every report.
//!
//! A report asks [`check`] for its scope and, for an app's report, the app's
//! visibility (a viewer's `allowedApps`; 404 so existence does not leak). A
//! viewer limited to some groups sees, in usage reports, only the people of
//! those groups: the employees linked (by email) to the group's clients
//! ([`visible_people`]); [`Visibility::restrict`] cuts everyone else out of
//! the data a report is computed from, so every figure, row and count follows.
//! Workforce reports pass the groups to the store, which filters by them.

use std::collections::HashSet;
use std::sync::Arc;

use rollcall_core::usage_bits::{self, EmailTable, Resolver};
use rollcall_core::usage_report::Directory;
use rollcall_core::Scope;
use rollcall_store::usage::{InsightData, ProvisionedSummary};
use rollcall_store::workforce::Scoping;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::AppState;

/// The scope check, then (for a report on one app) the app's visibility.
pub(crate) fn check(caller: &Caller, scope: Scope, app_id: Option<&str>) -> ApiResult<()> {
    caller.require(scope)?;
    if let Some(app_id) = app_id {
        caller.require_app(app_id)?;
    }
    Ok(())
}

/// The people a caller may see in usage reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// No group restriction.
    All,
    /// Only these emails (lower-case; each resolved to its person through the
    /// org chart when a report is computed).
    Only(HashSet<String>),
}

/// The people of the caller's viewable groups (every person without a restriction).
pub async fn visible_people(state: &AppState, caller: &Caller) -> ApiResult<Visibility> {
    visible_people_in(state, caller.account_id, caller.viewable_groups.clone()).await
}

/// The people of `groups` in an account (`None`: every person); for a signed
/// link, which carries its maker's groups instead of a caller.
pub async fn visible_people_in(
    state: &AppState,
    account_id: i64,
    groups: Option<Vec<i64>>,
) -> ApiResult<Visibility> {
    let Some(groups) = groups else {
        return Ok(Visibility::All);
    };
    let clients = state
        .store
        .wf_clients(
            account_id,
            Scoping {
                viewable_groups: Some(groups),
                ..Scoping::default()
            },
        )
        .await?;
    Ok(Visibility::Only(
        clients
            .into_iter()
            .filter_map(|c| c.employee_email)
            .map(|e| e.to_lowercase())
            .collect(),
    ))
}

impl Visibility {
    /// Whether `key` (a person's primary email, or an email outside the org chart) is visible.
    pub fn sees(&self, dir: &Directory, email: &str) -> bool {
        match self {
            Visibility::All => true,
            Visibility::Only(emails) => {
                let key = dir.resolve(email);
                emails.contains(key)
                    || dir
                        .person(key)
                        .is_some_and(|p| p.additional_emails.iter().any(|e| emails.contains(e)))
            }
        }
    }

    /// `data` with only the visible people: their bits, latest activity,
    /// provisioned users and org-chart entries.
    pub(crate) fn restrict(&self, data: InsightData) -> InsightData {
        if *self == Visibility::All {
            return data;
        }
        let r = self.restricted(&data);
        self.apply(&r, data)
    }

    /// [`Visibility::restrict`] of several apps' data: the visible email ids,
    /// the restricted org chart and its resolver are made once for all the data
    /// that share one org chart and email table (a viewer's app summaries made
    /// them once per app).
    pub(crate) fn restrict_all(&self, data: Vec<InsightData>) -> Vec<InsightData> {
        if *self == Visibility::All {
            return data;
        }
        let mut shared: Option<Restricted> = None;
        data.into_iter()
            .map(|d| {
                let reuse = shared.as_ref().is_some_and(|r| r.fits(&d));
                if !reuse {
                    shared = Some(self.restricted(&d));
                }
                match &shared {
                    Some(r) => self.apply(r, d),
                    None => d,
                }
            })
            .collect()
    }

    /// What restricting `data` needs of its org chart and email table.
    fn restricted(&self, data: &InsightData) -> Restricted {
        let empty = Directory::default();
        let old_dir: &Directory = data.org.as_ref().map_or(&empty, |o| &o.directory);
        let mut mask = Vec::new();
        for id in 0..data.emails.len() as u32 {
            if data
                .emails
                .email(id)
                .is_some_and(|e| !e.is_empty() && self.sees(old_dir, e))
            {
                usage_bits::set(&mut mask, id);
            }
        }
        let dir = Arc::new(Directory::new(
            old_dir
                .people
                .iter()
                .filter(|p| self.sees(old_dir, &p.email))
                .cloned()
                .collect(),
        ));
        Restricted {
            old_dir: data.org.as_ref().map(|o| Arc::clone(&o.directory)),
            emails: Arc::clone(&data.emails),
            resolver: Arc::new(Resolver::new(&dir, &data.emails)),
            mask,
            dir,
        }
    }

    fn apply(&self, r: &Restricted, mut data: InsightData) -> InsightData {
        let empty = Directory::default();
        let old_dir: &Directory = data.org.as_ref().map_or(&empty, |o| &o.directory);
        let provisioned: Vec<_> = data
            .provisioned
            .iter()
            .filter(|u| self.sees(old_dir, &u.email))
            .cloned()
            .collect();
        for b in &mut data.days {
            b.bits.truncate(r.mask.len());
            for (byte, m) in b.bits.iter_mut().zip(&r.mask) {
                *byte &= m;
            }
        }
        data.last_ms.retain(|&id, _| usage_bits::get(&r.mask, id));
        // Slots of the restricted chart, as the resolver below gives them.
        data.provisioned_summary = Arc::new(ProvisionedSummary::of(
            provisioned
                .iter()
                .map(|u| (u.email.as_str(), u.license.as_deref())),
            &r.dir,
            &data.emails,
        ));
        data.provisioned = Arc::new(provisioned);
        // Indexes of the old chart; reports resolve the users in the new one.
        data.provisioned_people = Arc::default();
        data.resolver = Arc::clone(&r.resolver);
        if let Some(org) = &mut data.org {
            org.directory = Arc::clone(&r.dir);
        }
        data
    }
}

/// The part of a restriction shared by every app of one org chart and email
/// table: the visible email ids (a bitmap), the chart of the visible people
/// and its resolver.
struct Restricted {
    old_dir: Option<Arc<Directory>>,
    emails: Arc<EmailTable>,
    mask: Vec<u8>,
    dir: Arc<Directory>,
    resolver: Arc<Resolver>,
}

impl Restricted {
    /// Whether `data` has the org chart and email table this was made from.
    fn fits(&self, data: &InsightData) -> bool {
        let same_dir = match (&self.old_dir, &data.org) {
            (Some(a), Some(o)) => Arc::ptr_eq(a, &o.directory),
            (None, None) => true,
            _ => false,
        };
        same_dir && Arc::ptr_eq(&self.emails, &data.emails)
    }
}
