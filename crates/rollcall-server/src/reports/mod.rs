//! The report layer: every answer Rollcall computes for a reader, shared by the
//! JSON API (`routes/`) and the dashboard pages.
//!
//! Each report is an async function taking the [`AppState`], the [`Caller`] and
//! a typed query (the request's parameters, as sent), and returning a typed,
//! public result with plain fields. The permission check lives here, once per
//! report ([`access`]): the scope, the app's visibility and a viewer's groups and
//! apps. Handlers and pages only parse, call and render.
//!
//! - [`usage`]: app summaries and details, users, engagement, inactive users,
//!   trend and right-sizing (custom-app usage, SPEC §4);
//! - [`workforce`]: working hours and the activity log (SPEC §5);
//! - [`me`]: an employee's own data, through the reports above (SPEC §11);
//! - [`csv`]: the one CSV writer of every download (formula cells neutralised).

pub mod csv;
pub mod me;
pub mod usage;
pub mod workforce;

mod access;
mod kept;
mod restriction;

pub use access::{visible_people, visible_people_in, Visibility};
pub use restriction::RestrictionCache;

use jiff::tz::TimeZone;
use rollcall_core::time;

use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// The account's time zone (reports count on its local days).
pub(crate) async fn account_zone(state: &AppState, account_id: i64) -> ApiResult<TimeZone> {
    let settings = state.store.settings(account_id).await?;
    time::parse_time_zone(&settings.time_zone).map_err(ApiError::internal)
}

/// An amount of money.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Money {
    pub amount: f64,
    pub currency: String,
}
