//! The users report (`/pull/v1/apps/{appId}/users`): every user of an app —
//! provisioned, seen in the events, or in the org chart — with their status,
//! active days and each feature group's activity, paged by key.
//!
//! The report lists people by report slot (a person of the org chart, or an
//! email outside it), so a user is found and de-duplicated without looking
//! emails up, and keeps each listing while its data stay the same
//! ([`super::listing`]); only the page's own rows are then measured, bitmap by
//! bitmap, instead of resolving every person on every day of the app's history.

use rollcall_core::usage_report::{group_last_ms, Directory, Employee, EventFilter};
use rollcall_core::{time, Scope};
use rollcall_store::access_records::AccessKind;
use rollcall_store::usage::{EventSel, InsightData, InsightQuery};
use serde::Deserialize;

use super::{
    bounded_last, date_text, directory, ids_of_slots, load, open_page, parse_day, person_last_ms,
    query_fingerprint, seal_page, today, window,
};
use crate::access_log::Subject;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::reports::{access, account_zone, Visibility};
use crate::AppState;

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UsersQuery {
    #[param(format = Date)]
    pub as_of_date: Option<String>,
    #[param(schema_with = crate::openapi::answers::rolling_window)]
    pub rolling_window: Option<u32>,
    /// `all` (default), `provisioned`, `events` or `employees`.
    #[param(schema_with = crate::openapi::answers::data_source)]
    pub data_source: Option<String>,
    /// A page token from a previous answer.
    pub after: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    pub page_size: Option<u32>,
}

/// A user's activity on one feature group.
#[derive(Debug, Clone)]
pub struct GroupActivity {
    pub group: String,
    pub active_days: u32,
    pub last_activity: Option<String>,
}

/// One row of the users report.
#[derive(Debug, Clone)]
pub struct UserRow {
    /// The person's primary email (or the email outside the org chart).
    pub email: String,
    pub app_user_id: Option<String>,
    pub username: Option<String>,
    pub license: Option<String>,
    pub provisioned: bool,
    /// `Active`, `Inactive` or `NeverUsed`.
    pub status: &'static str,
    pub last_activity: Option<String>,
    pub active_days: u32,
    pub groups: Vec<GroupActivity>,
    /// The person's org-chart entry.
    pub person: Option<Employee>,
}

/// `/pull/v1/apps/{appId}/users`.
#[derive(Debug, Clone)]
pub struct UsersReport {
    pub app_id: String,
    pub as_of_date: String,
    pub rolling_window: i32,
    pub data_source: String,
    /// Users of the whole report (all pages).
    pub num_users: usize,
    pub users: Vec<UserRow>,
    pub next_page_token: Option<String>,
}

/// Per user of the app, status and activity: one page, or with `whole` every
/// user from the first, without paging (the CSV form).
pub async fn users(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    q: UsersQuery,
    whole: bool,
) -> ApiResult<UsersReport> {
    users_among(state, caller, app_id, q, whole, None).await
}

/// [`users`] computed over `only` these people (as a viewer limited to their
/// groups sees them): an employee's own row without every other user's.
pub async fn users_among(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    q: UsersQuery,
    whole: bool,
    only: Option<&Visibility>,
) -> ApiResult<UsersReport> {
    access::check(caller, Scope::UsersRead, None)?;
    let tz = account_zone(state, caller.account_id).await?;
    let as_of = parse_day(q.as_of_date.as_deref(), "asOfDate", today(&tz))?;
    let w = window(q.rolling_window, 30)?;
    let source = q.data_source.as_deref().unwrap_or("all");
    if !["all", "provisioned", "events", "employees"].contains(&source) {
        return Err(ApiError::bad_request(
            "dataSource must be all, provisioned, events or employees",
        ));
    }
    let size = q.page_size.unwrap_or(100);
    if !(1..=1000).contains(&size) {
        return Err(ApiError::bad_request("pageSize must be between 1 and 1000"));
    }
    let from = as_of - w + 1;
    let fingerprint = query_fingerprint(&[&as_of.to_string(), &w.to_string(), source]);
    let after = open_page(
        state,
        caller,
        app_id,
        &fingerprint,
        q.after.as_deref(),
        "after",
    )?;
    // The window's days first: a row's status needs only its latest time, and
    // most rows find each group's latest day inside the window. The older days
    // are read only when some row needs them (below), in a second read: late
    // events that arrive in between may count, as they would a moment later.
    // Email ids never change, so the older bitmaps read against this first
    // read's emails and people.
    let oldest = super::oldest_day(state, caller, &tz).await?;
    let days = |from_day: i32, to_day: i32, last_activity: bool| InsightQuery {
        from_day,
        to_day,
        events: EventSel::All,
        last_activity,
        provisioned: true,
        provisioned_summary: false,
    };
    let read = |query: InsightQuery| async move {
        let data = load(state, caller, Scope::UsersRead, app_id, query).await?;
        Ok::<_, ApiError>(match only {
            Some(people) => people.restrict(&state.restrictions, caller.account_id, data),
            None => data,
        })
    };
    let mut data = read(days(from.max(oldest), as_of, true)).await?;
    let mut whole_history = from <= oldest;
    let end_ms = time::start_of_day_ms(time::date_of_day_number(as_of + 1), &tz);
    if !whole_history && data.last_ms.iter().any(|(_, ms)| ms >= end_ms) {
        // Events dated after the report's day: their people's latest day up to
        // it comes from the days.
        data.days
            .extend(read(days(oldest, from - 1, false)).await?.days);
        whole_history = true;
    }
    let def = &data.app.definition;
    let dir = directory(&data);
    let last = bounded_last(&data, person_last_ms(&data), i32::MIN, as_of, &tz);
    let used: Vec<u32> = match source {
        "events" | "all" => last.slots().filter_map(|s| u32::try_from(s).ok()).collect(),
        _ => Vec::new(),
    };
    let listing = state
        .users_listings
        .listing(caller.account_id, source, &data, &dir, used);
    let listed = &listing.rows;
    let start = match &after {
        Some(a) => listed.partition_point(|u| u.key(&data, &dir) <= a.as_str()),
        None => 0,
    };
    let take = if whole { listed.len() } else { size as usize };
    let page = &listed[start..(start + take).min(listed.len())];
    let groups: Vec<(String, EventFilter)> = def
        .groups()
        .into_iter()
        .map(|g| {
            let f = EventFilter::for_group(def, Some(&g)).unwrap_or(EventFilter::Any);
            (g, f)
        })
        .collect();
    let slots: Vec<Option<usize>> = page.iter().map(|u| u.slot()).collect();
    let mut activity = PageActivity::of(&data, &dir, &groups, from, as_of, &slots);
    let needs_older = page.iter().enumerate().any(|(row, user)| {
        let used = user.slot().and_then(|s| last.get(s)).is_some();
        used && activity.last_day[row].iter().any(Option::is_none)
    });
    if needs_older && !whole_history {
        // A used group's latest day lies before the window, or the group was
        // never used: the older days tell which.
        data.days
            .extend(read(days(oldest, from - 1, false)).await?.days);
        activity = PageActivity::of(&data, &dir, &groups, from, as_of, &slots);
    }
    let mut out = Vec::with_capacity(page.len());
    for (row, user) in page.iter().enumerate() {
        let last_ms = user.slot().and_then(|s| last.get(s));
        let active_days = activity.days[row][0];
        let status = match last_ms {
            _ if active_days > 0 => "Active",
            Some(_) => "Inactive",
            None => "NeverUsed",
        };
        let p = user.provisioned().and_then(|i| data.provisioned.get(i));
        out.push(UserRow {
            email: user.key(&data, &dir).to_string(),
            app_user_id: p.map(|u| u.app_user_id.clone()),
            username: p.and_then(|u| u.username.clone()),
            license: p.and_then(|u| u.license.clone()),
            provisioned: p.is_some(),
            status,
            last_activity: last_ms.map(time::format_ms),
            active_days,
            groups: groups
                .iter()
                .enumerate()
                .map(|(g, (name, _))| GroupActivity {
                    group: name.clone(),
                    active_days: activity.days[row][g + 1],
                    last_activity: group_last_ms(activity.last_day[row][g], last_ms, &tz)
                        .map(time::format_ms),
                })
                .collect(),
            person: user.person(&data, &dir).cloned(),
        });
    }
    let next_page_token = match page.last() {
        Some(last) if start + page.len() < listed.len() => Some(seal_page(
            state,
            caller,
            app_id,
            &fingerprint,
            last.key(&data, &dir),
        )),
        _ => None,
    };
    // Each listed person's activity is their individual data.
    state.access_log.note(
        caller,
        AccessKind::Usage,
        out.iter().map(|u| Subject::Email(u.email.clone())),
    );
    Ok(UsersReport {
        app_id: app_id.to_string(),
        as_of_date: date_text(as_of),
        rolling_window: w,
        data_source: source.to_string(),
        num_users: listed.len(),
        users: out,
        next_page_token,
    })
}

/// What a page's rows did: per row, active days in the window (any event, then
/// each group) and each group's latest active day up to the report's day.
struct PageActivity {
    days: Vec<Vec<u32>>,
    last_day: Vec<Vec<Option<i32>>>,
}

impl PageActivity {
    /// Only the rows' own email ids are looked at, a bit test per (bitmap, id);
    /// a day counts once however many of its events' bitmaps hold the id.
    fn of(
        data: &InsightData,
        dir: &Directory,
        groups: &[(String, EventFilter)],
        from: i32,
        to: i32,
        slots: &[Option<usize>],
    ) -> PageActivity {
        // (email id, row) of every email of the rows' people.
        let ids = ids_of_slots(data, dir, slots);
        // Per row and filter (any event, then each group): the window's days as bits.
        let filters = groups.len() + 1;
        let mut window = vec![vec![0u128; filters]; slots.len()];
        let mut last_day = vec![vec![None::<i32>; groups.len()]; slots.len()];
        for b in data.days.iter().filter(|b| b.day <= to) {
            let in_window = b.day >= from;
            let matching: Vec<usize> = (0..groups.len())
                .filter(|&g| b.event.is_empty() || groups[g].1.matches(&b.event))
                .collect();
            if matching.is_empty() && !in_window {
                continue;
            }
            let bit = if in_window {
                1u128 << (b.day - from)
            } else {
                0
            };
            for &(id, row) in &ids {
                if !b.contains(id) {
                    continue;
                }
                window[row][0] |= bit;
                for &g in &matching {
                    window[row][g + 1] |= bit;
                    let day = &mut last_day[row][g];
                    *day = Some(day.map_or(b.day, |d: i32| d.max(b.day)));
                }
            }
        }
        PageActivity {
            days: window
                .iter()
                .map(|row| row.iter().map(|w| w.count_ones()).collect())
                .collect(),
            last_day,
        }
    }
}
