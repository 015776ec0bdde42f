//! An employee's own data (SPEC §11), for `/me/v1` and the dashboard's `/ui/me`.
//!
//! Nothing here computes a figure: every answer comes from the report
//! functions the admin API uses ([`super::workforce`], [`super::usage`]),
//! called with the employee's own filters only — each of their logins' agent
//! client for working hours and the activity log, their email (and its
//! org-chart aliases) for app usage — so what an employee sees is what an
//! admin sees of them, by construction. No parameter of the employee's
//! request names a person: [`Me`] is resolved from the caller alone.

use std::collections::BTreeSet;
use std::sync::Arc;

use rollcall_core::{login, time, Role, Scope};
use rollcall_store::access_records::{client_subject, email_subject, AccessRecordRow};
use rollcall_store::admin::Consumer;
use rollcall_store::auth::Principal;
use rollcall_store::now_ms;
use rollcall_store::workforce::{Perspective, Scoping, WfClient, WorkingHoursRow};

use super::usage::{self as usage_report, UserRow, UsersQuery};
use super::workforce::{self as wf, ActivityLogParams, ActivityLogReport, WorkingHoursParams};
use super::Visibility;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// Rows the working-hours report gives per page when read for one employee.
const HOURS_PAGE: u32 = 1_000;
/// Activity-log rows per page read, and most rows one answer holds.
const LOG_PAGE: u32 = 1_000;
pub const MAX_LOG_ROWS: usize = 50_000;
/// Widest activity-log range (days), as wide as the working hours allow.
const MAX_LOG_DAYS: i32 = 366;

/// The employee behind a request: their web user, the agent clients of their
/// logins, and every email their usage may be counted under.
pub struct Me {
    pub consumer: Consumer,
    pub clients: Vec<WfClient>,
    /// Lower-case: their own email and, when the org chart knows them, the
    /// person's primary email and aliases.
    pub emails: BTreeSet<String>,
    /// Reads the reports as an admin would, and is only ever given this
    /// employee's filters.
    reader: Caller,
}

/// The employee the caller is: 403 for anyone else (only employees have
/// their own data here; other roles read the reports).
pub async fn me(state: &AppState, caller: &Caller) -> ApiResult<Me> {
    caller.require(Scope::MeRead)?;
    let consumer_id = caller
        .consumer_id
        .filter(|_| caller.role == Role::Employee)
        .ok_or_else(|| {
            ApiError::forbidden(
                "only a web user of role employee has their own data under /me; \
                 other roles read the reports",
            )
        })?;
    let consumer = state.store.consumer(caller.account_id, consumer_id).await?;
    let logins: BTreeSet<&str> = consumer.logins.iter().map(String::as_str).collect();
    let clients = if logins.is_empty() {
        Vec::new()
    } else {
        state
            .store
            .wf_clients(caller.account_id, Scoping::default())
            .await?
            .into_iter()
            .filter(|c| {
                logins.contains(login::of(&c.login_domain, &c.name).as_str())
                    || c.merged
                        .iter()
                        .any(|(_, d, n)| logins.contains(login::of(d, n).as_str()))
            })
            .collect()
    };
    let mut emails = BTreeSet::from([consumer.email.to_lowercase()]);
    if let Some(org) = state.store.org_chart(caller.account_id).await? {
        let dir = &org.directory;
        if let Some(p) = dir.person(&consumer.email.to_lowercase()) {
            emails.insert(p.email.to_lowercase());
            emails.extend(p.additional_emails.iter().map(|e| e.to_lowercase()));
        }
    }
    let reader = Caller(Principal {
        scopes: [Scope::ReportRead, Scope::UsersRead, Scope::AppsRead]
            .into_iter()
            .collect(),
        viewable_groups: None,
        allowed_apps: None,
        ..caller.0.clone()
    });
    Ok(Me {
        consumer,
        clients,
        emails,
        reader,
    })
}

/// The employee's working hours, one row per (login, local day), ordered as
/// the admin report orders them (date, then user id).
pub struct MyHours {
    pub from_day: i32,
    pub to_day: i32,
    pub from: String,
    pub to: String,
    pub rows: Vec<WorkingHoursRow>,
}

pub async fn working_hours(
    state: &AppState,
    me: &Me,
    from: Option<String>,
    to: Option<String>,
) -> ApiResult<MyHours> {
    let (from_day, to_day) = wf::hours_range(from.as_deref(), to.as_deref())?;
    let mut rows = Vec::new();
    for client in &me.clients {
        let mut page = 1u32;
        loop {
            let r = wf::working_hours(
                state,
                &me.reader,
                Perspective::Users,
                WorkingHoursParams {
                    from: from.clone(),
                    to: to.clone(),
                    page: Some(page.to_string()),
                    page_size: Some(HOURS_PAGE.to_string()),
                    user_id: Some(client.id.to_string()),
                    ..WorkingHoursParams::default()
                },
            )
            .await?;
            let got = r.rows.len();
            rows.extend(r.rows);
            if got == 0 || u64::from(page) * u64::from(HOURS_PAGE) >= r.total {
                break;
            }
            page += 1;
        }
    }
    rows.sort_by_key(|r| (r.day, r.id));
    Ok(MyHours {
        from_day,
        to_day,
        from: time::date_of_day_number(from_day).to_string(),
        to: time::date_of_day_number(to_day).to_string(),
        rows,
    })
}

/// The employee's activity log between two local days: every page of each of
/// their logins, as the admin report returns them.
pub struct MyLog {
    pub start_date: String,
    pub end_date: String,
    pub pages: Vec<ActivityLogReport>,
    /// Whether the answer stopped at [`MAX_LOG_ROWS`] (narrow the dates).
    pub truncated: bool,
}

impl MyLog {
    pub fn row_count(&self) -> usize {
        self.pages.iter().map(|p| p.rows.len()).sum()
    }
}

/// `startDate` (today by default) to `endDate` (`startDate` by default).
pub async fn activity_log(
    state: &AppState,
    me: &Me,
    start_date: Option<String>,
    end_date: Option<String>,
) -> ApiResult<MyLog> {
    let today = {
        let tz = super::account_zone(state, me.reader.account_id).await?;
        time::date_of_day_number(time::day_number(time::local_date(now_ms(), &tz))).to_string()
    };
    let start = start_date.unwrap_or(today);
    let end = end_date.unwrap_or_else(|| start.clone());
    let (from_day, to_day) = (day("startDate", &start)?, day("endDate", &end)?);
    if to_day < from_day {
        return Err(ApiError::bad_request(
            "endDate must not be before startDate",
        ));
    }
    if to_day - from_day > MAX_LOG_DAYS {
        return Err(ApiError::bad_request(format!(
            "startDate and endDate may be at most {MAX_LOG_DAYS} days apart"
        )));
    }
    let mut log = MyLog {
        start_date: start.clone(),
        end_date: end.clone(),
        pages: Vec::new(),
        truncated: false,
    };
    let mut total = 0usize;
    'clients: for client in &me.clients {
        let mut cursor: Option<String> = None;
        loop {
            let page = wf::activity_log(
                state,
                &me.reader,
                ActivityLogParams {
                    start_date: Some(start.clone()),
                    end_date: Some(end.clone()),
                    cursor: cursor.clone(),
                    page_size: Some(LOG_PAGE.to_string()),
                    user_id: Some(client.id.to_string()),
                    ..ActivityLogParams::default()
                },
            )
            .await?;
            let got = page.rows.len();
            total += got;
            let next = page.cursor.clone();
            if got > 0 {
                log.pages.push(page);
            }
            if total >= MAX_LOG_ROWS {
                // Pages are full up to here: more rows may follow.
                log.truncated = true;
                break 'clients;
            }
            if got < LOG_PAGE as usize {
                break;
            }
            cursor = Some(next);
        }
    }
    Ok(log)
}

fn day(name: &str, value: &str) -> ApiResult<i32> {
    time::parse_date(value)
        .map(time::day_number)
        .map_err(|m| ApiError::bad_request(format!("{name}: {m}")))
}

impl Me {
    /// The employee's account.
    pub fn account_id(&self) -> i64 {
        self.reader.account_id
    }

    /// Whether a usage row is this employee's.
    fn owns(&self, row: &UserRow) -> bool {
        self.emails.contains(&row.email.to_lowercase())
            || row.person.as_ref().is_some_and(|p| {
                self.emails.contains(&p.email.to_lowercase())
                    || p.additional_emails
                        .iter()
                        .any(|e| self.emails.contains(&e.to_lowercase()))
            })
    }

    /// The subjects the access records of this employee are kept under.
    pub fn subjects(&self) -> Vec<String> {
        let mut subjects: Vec<String> = self.emails.iter().map(|e| email_subject(e)).collect();
        for c in &self.clients {
            subjects.push(client_subject(c.id));
            subjects.extend(c.merged.iter().map(|(id, _, _)| client_subject(*id)));
        }
        subjects
    }
}

/// The employee's usage of one app: their row of the app's users report.
pub struct MyAppUsage {
    pub app_id: String,
    pub app_name: String,
    pub as_of_date: String,
    pub rolling_window: i32,
    pub row: UserRow,
}

/// Every app the employee is provisioned in or has events of.
pub async fn usage(
    state: &AppState,
    me: &Me,
    as_of_date: Option<String>,
    rolling_window: Option<u32>,
) -> ApiResult<Vec<MyAppUsage>> {
    let apps = state.store.list_apps(me.reader.account_id).await?;
    // The report is computed over the employee alone (their row is the same
    // as in the whole report: a person's figures depend only on their events).
    let only = Visibility::Only(Arc::new(me.emails.iter().cloned().collect()));
    let mut out = Vec::new();
    for app in apps {
        let r = usage_report::users_among(
            state,
            &me.reader,
            &app.app_id,
            UsersQuery {
                as_of_date: as_of_date.clone(),
                rolling_window,
                data_source: Some("all".into()),
                ..UsersQuery::default()
            },
            true,
            Some(&only),
        )
        .await?;
        let (as_of, window) = (r.as_of_date.clone(), r.rolling_window);
        for row in r.users.into_iter().filter(|u| me.owns(u)) {
            out.push(MyAppUsage {
                app_id: app.app_id.clone(),
                app_name: app.definition.name.clone(),
                as_of_date: as_of.clone(),
                rolling_window: window,
                row,
            });
        }
    }
    Ok(out)
}

/// Who viewed the employee's individual data and when, newest day first. The
/// views this process noted and has not stored yet are stored first.
pub async fn access_records(state: &AppState, me: &Me) -> ApiResult<Vec<AccessRecordRow>> {
    if let Err(e) = state.access_log.flush(state.store.as_ref()).await {
        tracing::warn!(error = %e, "storing access records before reading them failed");
    }
    Ok(state
        .store
        .access_records(me.reader.account_id, me.subjects())
        .await?)
}
