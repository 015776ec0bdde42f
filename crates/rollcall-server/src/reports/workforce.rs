//! Workforce reports (SPEC §5): working hours per user or computer and day, and
//! the activity log read through a sealed cursor.
//!
//! Parameters arrive as the request's strings, so that a bad value gets a
//! message naming the parameter. The one permission check is the `report.read`
//! scope; a viewer's groups go to the store with every query, which filters by
//! them.

use rollcall_core::{time, token, Scope};
use rollcall_store::access_records::AccessKind;
use rollcall_store::now_ms;
use rollcall_store::workforce::{
    ActivityLogQuery, LogPosition, LogRow, LogText, Perspective, Scoping, WorkingHoursQuery,
    WorkingHoursRow,
};
use serde::{Deserialize, Serialize};

use super::{access, account_zone};
use crate::access_log::Subject;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

const DEFAULT_PAGE_SIZE: u32 = 150;
const MAX_PAGE_SIZE: u32 = 1_000;
const CURSOR_PURPOSE: &str = "workforce.activitylog.v1";

/// A day as the seed's datetime of its local midnight, `YYYY-MM-DDT00:00:00`
/// (ActivTrak's form of a working-hours `date`).
pub fn local_midnight(day: i32) -> String {
    format!("{}T00:00:00", time::date_of_day_number(day))
}

/// The one check of a workforce report: the scope; the caller's groups limit
/// what the store returns.
fn check(caller: &Caller, scoping: &mut Scoping) -> ApiResult<()> {
    access::check(caller, Scope::ReportRead, None)?;
    scoping.viewable_groups = caller.viewable_groups.clone();
    Ok(())
}

/// The filter parameters shared by the reports.
#[derive(Debug, Clone, Default)]
struct FilterParams {
    user_id: Option<String>,
    client_id: Option<String>,
    group_id: Option<String>,
    computer_id: Option<String>,
    device_id: Option<String>,
}

fn parse_int(name: &str, value: &str) -> ApiResult<i64> {
    value
        .trim()
        .parse::<i64>()
        .map_err(|_| ApiError::bad_request(format!("{name} must be an integer, got '{value}'")))
}

fn parse_page_size(value: Option<&str>) -> ApiResult<Option<u32>> {
    match value {
        None => Ok(None),
        Some(v) => match v.trim().parse::<u32>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(Some(n)),
            _ => Err(ApiError::bad_request(format!(
                "pageSize must be an integer from 1 to {MAX_PAGE_SIZE}, got '{v}'"
            ))),
        },
    }
}

fn parse_day(name: &str, value: &str) -> ApiResult<i32> {
    time::parse_date(value)
        .map(time::day_number)
        .map_err(|m| ApiError::bad_request(format!("{name}: {m}")))
}

impl FilterParams {
    /// At most one of user (client), group and computer; `-1` means all.
    fn scoping(&self) -> ApiResult<Scoping> {
        let mut given: Vec<(&str, i64)> = Vec::new();
        for (name, value) in [
            ("userId", &self.user_id),
            ("clientId", &self.client_id),
            ("groupId", &self.group_id),
            ("computerId", &self.computer_id),
            ("deviceId", &self.device_id),
        ] {
            if let Some(v) = value {
                let n = parse_int(name, v)?;
                if n != -1 {
                    if n <= 0 {
                        return Err(ApiError::bad_request(format!(
                            "{name} must be a positive id (or -1 for all), got {n}"
                        )));
                    }
                    given.push((name, n));
                }
            }
        }
        if given.len() > 1 {
            let names: Vec<&str> = given.iter().map(|g| g.0).collect();
            return Err(ApiError::bad_request(format!(
                "send at most one of userId, groupId and computerId; got {}",
                names.join(" and ")
            )));
        }
        let mut s = Scoping::default();
        if let Some((name, id)) = given.first() {
            match *name {
                "userId" | "clientId" => s.client_id = Some(*id),
                "groupId" => s.group_id = Some(*id),
                _ => s.computer_id = Some(*id),
            }
        }
        Ok(s)
    }
}

// ---------------------------------------------------------------- working hours

/// The working-hours parameters, as sent.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkingHoursParams {
    /// `YYYY-MM-DD`, required.
    #[serde(default)]
    #[param(format = Date)]
    pub from: Option<String>,
    /// `YYYY-MM-DD`, inclusive, required.
    #[serde(default)]
    #[param(format = Date)]
    pub to: Option<String>,
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1)]
    pub page: Option<String>,
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub page_size: Option<String>,
    #[serde(default)]
    #[param(schema_with = crate::openapi::answers::id_filter)]
    pub user_id: Option<String>,
    #[serde(default)]
    #[param(schema_with = crate::openapi::answers::id_filter)]
    pub client_id: Option<String>,
    #[serde(default)]
    #[param(schema_with = crate::openapi::answers::id_filter)]
    pub group_id: Option<String>,
    #[serde(default)]
    #[param(schema_with = crate::openapi::answers::id_filter)]
    pub computer_id: Option<String>,
    #[serde(default)]
    #[param(schema_with = crate::openapi::answers::id_filter)]
    pub device_id: Option<String>,
}

/// One page of working hours: per (user or computer, local day), the active
/// and passive time split by productivity.
#[derive(Debug, Clone)]
pub struct WorkingHoursReport {
    pub perspective: Perspective,
    pub from_day: i32,
    pub to_day: i32,
    /// `day` of each row is a local day number ([`local_midnight`] formats it).
    pub rows: Vec<WorkingHoursRow>,
    /// Rows of every page.
    pub total: u64,
    pub page: u32,
    pub page_size: u32,
}

/// The local days of a working-hours query's `from` and `to`: both required,
/// in order, at most 366 days apart.
pub fn hours_range(from: Option<&str>, to: Option<&str>) -> ApiResult<(i32, i32)> {
    let from = from.ok_or_else(|| ApiError::bad_request("from is required (YYYY-MM-DD)"))?;
    let to = to.ok_or_else(|| ApiError::bad_request("to is required (YYYY-MM-DD, inclusive)"))?;
    let (from_day, to_day) = (parse_day("from", from)?, parse_day("to", to)?);
    if to_day < from_day {
        return Err(ApiError::bad_request("to must not be before from"));
    }
    if to_day - from_day > 366 {
        return Err(ApiError::bad_request(
            "from and to may be at most 366 days apart",
        ));
    }
    Ok((from_day, to_day))
}

pub async fn working_hours(
    state: &AppState,
    caller: &Caller,
    perspective: Perspective,
    p: WorkingHoursParams,
) -> ApiResult<WorkingHoursReport> {
    access::check(caller, Scope::ReportRead, None)?;
    let (from_day, to_day) = hours_range(p.from.as_deref(), p.to.as_deref())?;
    let page = match p.page.as_deref() {
        None => 1,
        Some(v) => match v.trim().parse::<u32>() {
            Ok(n) if (1..=1_000_000).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "page must be an integer from 1, got '{v}'"
                )))
            }
        },
    };
    let page_size = parse_page_size(p.page_size.as_deref())?.unwrap_or(DEFAULT_PAGE_SIZE);
    let mut scoping = FilterParams {
        user_id: p.user_id,
        client_id: p.client_id,
        group_id: p.group_id,
        computer_id: p.computer_id,
        device_id: p.device_id,
    }
    .scoping()?;
    check(caller, &mut scoping)?;
    let result = state
        .store
        .working_hours(
            caller.account_id,
            WorkingHoursQuery {
                perspective,
                from_day,
                to_day,
                page,
                page_size,
                scoping,
            },
        )
        .await?;
    // A users row is that user's individual data; a computers row is the
    // computer's (its users appear only as ids).
    if perspective == Perspective::Users {
        state.access_log.note(
            caller,
            AccessKind::WorkingHours,
            result.rows.iter().map(|r| Subject::Client(r.id)),
        );
    }
    Ok(WorkingHoursReport {
        perspective,
        from_day,
        to_day,
        rows: result.rows,
        total: result.total,
        page,
        page_size,
    })
}

// ---------------------------------------------------------------- activity log

/// The activity-log parameters, as sent.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActivityLogParams {
    /// `YYYY-MM-DD`; today (the account's zone) by default.
    #[serde(default)]
    #[param(format = Date)]
    pub start_date: Option<String>,
    #[serde(default)]
    #[param(format = Date)]
    pub end_date: Option<String>,
    /// From a previous answer; empty means none.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Rows per page; with a cursor, the cursor's own by default.
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub page_size: Option<String>,
    #[serde(default)]
    #[param(value_type = Option<i64>)]
    pub min_duration: Option<String>,
    #[serde(default)]
    #[param(value_type = Option<i64>)]
    pub max_duration: Option<String>,
    #[serde(default)]
    #[param(schema_with = crate::openapi::answers::id_filter)]
    pub user_id: Option<String>,
    #[serde(default)]
    #[param(schema_with = crate::openapi::answers::id_filter)]
    pub client_id: Option<String>,
    #[serde(default)]
    #[param(schema_with = crate::openapi::answers::id_filter)]
    pub group_id: Option<String>,
    #[serde(default)]
    #[param(schema_with = crate::openapi::answers::id_filter)]
    pub computer_id: Option<String>,
    #[serde(default)]
    #[param(schema_with = crate::openapi::answers::id_filter)]
    pub device_id: Option<String>,
}

/// What a cursor carries: the account, the filters and page size it was made
/// for, and the last delivered position.
#[derive(Serialize, Deserialize, PartialEq, Eq, Clone)]
struct CursorPayload {
    a: i64,
    u: Option<i64>,
    g: Option<i64>,
    c: Option<i64>,
    min: Option<i64>,
    max: Option<i64>,
    p: LogPosition,
    /// The page size of the request that made the cursor (older cursors have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ps: Option<u32>,
}

/// One page of the activity log and the cursor that continues it.
#[derive(Debug, Clone)]
pub struct ActivityLogReport {
    pub rows: Vec<LogRow>,
    /// The rows' strings.
    pub text: LogText,
    pub cursor: String,
    /// The first local day read (`YYYY-MM-DD`): `startDate`, or today when none was sent.
    pub start_date: String,
    /// The last local day read, when the range is closed.
    pub end_date: Option<String>,
    pub page_size: u32,
}

pub async fn activity_log(
    state: &AppState,
    caller: &Caller,
    p: ActivityLogParams,
) -> ApiResult<ActivityLogReport> {
    access::check(caller, Scope::ReportRead, None)?;
    let page_size = parse_page_size(p.page_size.as_deref())?;
    // A first call in a client's loop sends `cursor=` (issue 19 #8).
    let cursor = p.cursor.as_deref().map(str::trim).filter(|c| !c.is_empty());
    let filters_given = [
        &p.user_id,
        &p.client_id,
        &p.group_id,
        &p.computer_id,
        &p.device_id,
        &p.min_duration,
        &p.max_duration,
    ]
    .iter()
    .any(|v| v.is_some());
    let mut scoping = FilterParams {
        user_id: p.user_id,
        client_id: p.client_id,
        group_id: p.group_id,
        computer_id: p.computer_id,
        device_id: p.device_id,
    }
    .scoping()?;
    let min_duration = p
        .min_duration
        .as_deref()
        .map(|v| parse_int("minDuration", v))
        .transpose()?;
    let max_duration = p
        .max_duration
        .as_deref()
        .map(|v| parse_int("maxDuration", v))
        .transpose()?;
    if let (Some(min), Some(max)) = (min_duration, max_duration) {
        if min > max {
            return Err(ApiError::bad_request(
                "minDuration must not exceed maxDuration",
            ));
        }
    }
    let requested = CursorPayload {
        a: caller.account_id,
        u: scoping.client_id,
        g: scoping.group_id,
        c: scoping.computer_id,
        min: min_duration,
        max: max_duration,
        p: LogPosition {
            after: 0,
            watermark: 0,
            from_day: 0,
            to_day: None,
        },
        ps: page_size,
    };
    let key = state.store.token_key();
    let (payload, position, from_day, to_day) = match cursor {
        Some(c) => {
            let payload: CursorPayload = token::open(key, CURSOR_PURPOSE, c).map_err(|e| {
                ApiError::bad_request(format!("cursor is not valid: {e}; start again without it"))
            })?;
            if payload.a != caller.account_id {
                return Err(ApiError::bad_request(
                    "cursor was not issued for this account; start again without it",
                ));
            }
            if filters_given
                && (payload.u, payload.g, payload.c, payload.min, payload.max)
                    != (
                        requested.u,
                        requested.g,
                        requested.c,
                        requested.min,
                        requested.max,
                    )
            {
                return Err(ApiError::bad_request(
                    "the filters differ from the ones the cursor was issued for; \
                     send the same filters, or start again without a cursor",
                ));
            }
            let position = payload.p;
            (payload, Some(position), position.from_day, position.to_day)
        }
        None => {
            let from_day = match p.start_date.as_deref() {
                Some(d) => parse_day("startDate", d)?,
                None => {
                    let tz = account_zone(state, caller.account_id).await?;
                    time::day_number(time::local_date(now_ms(), &tz))
                }
            };
            let to_day = p
                .end_date
                .as_deref()
                .map(|d| parse_day("endDate", d))
                .transpose()?;
            if to_day.is_some_and(|t| t < from_day) {
                return Err(ApiError::bad_request(
                    "endDate must not be before startDate",
                ));
            }
            (requested, None, from_day, to_day)
        }
    };
    // An explicit pageSize wins; else the cursor's; else the default.
    let page_size = page_size.or(payload.ps).unwrap_or(DEFAULT_PAGE_SIZE);
    scoping.client_id = payload.u;
    scoping.group_id = payload.g;
    scoping.computer_id = payload.c;
    check(caller, &mut scoping)?;
    let page = state
        .store
        .activity_log(
            caller.account_id,
            ActivityLogQuery {
                position,
                from_day,
                to_day,
                limit: page_size,
                min_duration: payload.min,
                max_duration: payload.max,
                scoping,
            },
        )
        .await?;
    // One record per person the page lists.
    state.access_log.note(
        caller,
        AccessKind::ActivityLog,
        page.rows.iter().map(|r| Subject::Client(r.user.id)),
    );
    let cursor = match (cursor, page.rows.is_empty()) {
        // Nothing new: the same cursor comes back.
        (Some(c), true) => c.to_string(),
        _ => token::seal(
            key,
            CURSOR_PURPOSE,
            &CursorPayload {
                p: page.position,
                ps: Some(page_size),
                ..payload
            },
        ),
    };
    Ok(ActivityLogReport {
        rows: page.rows,
        text: page.text,
        cursor,
        start_date: time::date_of_day_number(from_day).to_string(),
        end_date: to_day.map(|d| time::date_of_day_number(d).to_string()),
        page_size,
    })
}
