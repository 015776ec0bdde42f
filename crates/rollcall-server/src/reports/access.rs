//! Who may read what: the one permission check of every report.
//!
//! A report asks [`check`] for its scope and, for an app's report, the app's
//! visibility (a viewer's `allowedApps`; 404 so existence does not leak). A
//! viewer limited to some groups sees, in usage reports, only the people of
//! those groups: the employees linked (by email) to the group's clients
//! ([`visible_people`]); [`Visibility::restrict`] cuts everyone else out of
//! the data a report is computed from (see `restriction`), so every figure,
//! row and count follows.
//! Workforce reports pass the groups to the store, which filters by them.

use rollcall_core::usage_report::Directory;
use rollcall_core::Scope;
use rollcall_store::usage::InsightData;
use rollcall_store::workforce::member_emails::EmailSet;

use super::restriction::{self, RestrictionCache};

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
    Only(EmailSet),
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
    let emails = state
        .store
        .group_employee_emails(account_id, groups)
        .await?;
    Ok(Visibility::Only(emails))
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
    /// provisioned users and org-chart entries (the chart of the visible people
    /// made once per org chart and email table, kept in `cache`).
    pub(crate) fn restrict(
        &self,
        cache: &RestrictionCache,
        account_id: i64,
        data: InsightData,
    ) -> InsightData {
        match self {
            Visibility::All => data,
            Visibility::Only(emails) => {
                restriction::restrict(cache, account_id, emails, data, |dir, email| {
                    self.sees(dir, email)
                })
            }
        }
    }

    /// [`Visibility::restrict`] of several apps' data.
    pub(crate) fn restrict_all(
        &self,
        cache: &RestrictionCache,
        account_id: i64,
        data: Vec<InsightData>,
    ) -> Vec<InsightData> {
        data.into_iter()
            .map(|d| self.restrict(cache, account_id, d))
            .collect()
    }
}
