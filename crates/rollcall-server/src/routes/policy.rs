//! What is checked for a route before its handler runs (SPEC §13):
//!
//! - the scope of every route that takes a body, so a credential without it is
//!   refused (403) before one byte of the body is read, let alone parsed;
//! - the time budget of report queries: a report that has not answered within
//!   `ServerConfig::report_timeout` is answered 503 with `Retry-After`, so a few slow
//!   reports cannot hold the server's readers.
//!
//! Handlers keep their own checks (they are the authority); this layer only refuses
//! earlier. The table names the routes by their pattern, as the router matched them.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rollcall_core::{Role, Scope};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::AppState;

/// Body-taking routes and the scope each requires.
const BODY_SCOPES: &[(Method, &str, Scope)] = &[
    (
        Method::POST,
        "/services/push/v1/customer/apps",
        Scope::AppsWrite,
    ),
    (
        Method::PUT,
        "/services/push/v1/customer/apps/{app_id}",
        Scope::AppsWrite,
    ),
    (
        Method::POST,
        "/services/push/v1/customer/apps/{app_id}/events",
        Scope::ConnectorWrite,
    ),
    (
        Method::POST,
        "/services/push/v1/customer/apps/{app_id}/users",
        Scope::ConnectorWrite,
    ),
    (
        Method::DELETE,
        "/services/push/v1/customer/apps/{app_id}/users",
        Scope::ConnectorWrite,
    ),
    (
        Method::POST,
        "/services/push/v1/customer/apps/{appId}/finance",
        Scope::ConnectorWrite,
    ),
    (
        Method::POST,
        "/services/push/v1/customer/org-chart",
        Scope::ConnectorWrite,
    ),
    (
        Method::PUT,
        "/services/push/v1/customer/org-chart/{id}",
        Scope::ConnectorWrite,
    ),
    (
        Method::POST,
        "/services/push/v1/customer/org-chart/csv",
        Scope::ConnectorWrite,
    ),
    (
        Method::POST,
        "/services/push/v1/customer/spend/csv",
        Scope::ConnectorWrite,
    ),
    (
        Method::POST,
        "/services/push/v1/customer/contracts/csv",
        Scope::ConnectorWrite,
    ),
    (
        Method::POST,
        "/services/push/v1/customer/contracts/{contractId}/files",
        Scope::ConnectorWrite,
    ),
    (Method::POST, "/agent/v1/activity", Scope::ActivityWrite),
    (Method::PATCH, "/admin/v1/clients/{id}", Scope::Admin),
    (Method::PATCH, "/admin/v1/computers/{id}", Scope::Admin),
    (Method::POST, "/admin/v1/computers/{id}/merge", Scope::Admin),
    (Method::POST, "/admin/v1/clients/{id}/merge", Scope::Admin),
    (Method::POST, "/admin/v1/groups", Scope::Admin),
    (Method::PATCH, "/admin/v1/groups/{id}", Scope::Admin),
    (Method::PUT, "/admin/v1/classifications", Scope::Admin),
    (Method::POST, "/admin/v1/consumers", Scope::Admin),
    (Method::PATCH, "/admin/v1/consumers/{id}", Scope::Admin),
    (Method::PATCH, "/admin/v1/settings", Scope::Admin),
];

/// The scope a body-taking route requires, if it is one.
pub fn body_scope(method: &Method, pattern: &str) -> Option<Scope> {
    BODY_SCOPES
        .iter()
        .find(|(m, p, _)| m == method && *p == pattern)
        .map(|(_, _, s)| *s)
}

/// Whether a route is a report query, which runs under the report time budget.
fn is_report(method: &Method, pattern: &str) -> bool {
    method == Method::GET
        && (pattern.starts_with("/pull/")
            || pattern.starts_with("/reports/")
            || pattern.starts_with("/me/"))
}

/// Whether a caller of `role` may use the route at `path` at all: an
/// employee only their own data under `/me/` (SPEC §11), whatever scopes a
/// credential of theirs names.
pub fn role_allows(role: Role, path: &str) -> bool {
    role != Role::Employee || path.starts_with("/me/")
}

/// The scope check, run after authentication and before any extractor.
pub async fn scope_first(request: Request, next: Next) -> Response {
    if let Some(caller) = request.extensions().get::<Caller>() {
        if !role_allows(caller.role, request.uri().path()) {
            return ApiError::forbidden(
                "an employee's credential reads only the employee's own data, under /me/v1",
            )
            .into_response();
        }
    }
    let method = request.method();
    let scope = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|p| body_scope(method, p.as_str()));
    if let Some(scope) = scope {
        match request
            .extensions()
            .get::<Caller>()
            .map(|c| c.require(scope))
        {
            Some(Ok(())) => {}
            Some(Err(e)) => return e.into_response(),
            None => return ApiError::unauthorized("a credential is required").into_response(),
        }
    }
    next.run(request).await
}

/// The report time budget, run around authentication too: the credential look-up
/// waits on the same database as the report.
pub async fn report_budget(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let report = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| is_report(request.method(), p.as_str()));
    if !report {
        return next.run(request).await;
    }
    let budget = state.config.report_timeout;
    match tokio::time::timeout(budget, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                budget_ms = budget.as_millis() as u64,
                "report over its time budget"
            );
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "this report took longer than the server's budget of {} s (--report-timeout); narrow the date range or retry later",
                    budget.as_secs_f64()
                ),
            )
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("5"))
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_routes_name_their_scope_and_reads_are_left_to_handlers() {
        assert_eq!(
            body_scope(&Method::POST, "/agent/v1/activity"),
            Some(Scope::ActivityWrite)
        );
        assert_eq!(body_scope(&Method::GET, "/admin/v1/groups"), None);
        assert!(is_report(&Method::GET, "/reports/v2/activitylog"));
        assert!(!is_report(&Method::POST, "/agent/v1/activity"));
        assert!(is_report(&Method::GET, "/me/v1/export"));
    }

    #[test]
    fn an_employee_reaches_only_their_own_data() {
        assert!(role_allows(Role::Employee, "/me/v1/workinghours"));
        assert!(!role_allows(Role::Employee, "/reports/v2/activitylog"));
        assert!(!role_allows(Role::Employee, "/admin/v1/credentials"));
        assert!(!role_allows(Role::Employee, "/mex"));
        assert!(role_allows(Role::Viewer, "/reports/v2/activitylog"));
    }
}
