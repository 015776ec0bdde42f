//! One module per dashboard page.

pub mod activity;
pub mod admin;
pub mod app;
pub mod audit;
pub mod login;
pub mod me;
pub mod overview;
pub mod workinghours;

use axum::http::StatusCode;

use crate::error::{ApiError, ApiResult};

/// A report the caller may not read (403) becomes `None`, so the page shows
/// the sections it may see and says which it may not; other errors fail the page.
pub fn permitted<T>(r: ApiResult<T>) -> ApiResult<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.status == StatusCode::FORBIDDEN => Ok(None),
        Err(e) => Err(e),
    }
}

/// An empty form field means "not chosen".
pub fn chosen(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

/// The windows a page offers (days).
pub const WINDOWS: [u32; 3] = [7, 30, 90];

/// A window from the query: 30 by default, else one of [`WINDOWS`].
pub fn window(w: Option<u32>) -> ApiResult<u32> {
    match w {
        None => Ok(30),
        Some(w) if WINDOWS.contains(&w) => Ok(w),
        Some(w) => Err(ApiError::bad_request(format!(
            "window must be 7, 30 or 90 (days), got {w}"
        ))),
    }
}
