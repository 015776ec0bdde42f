//! `POST /admin/v1/employees/from-org-chart` (SPEC §11): every person of the
//! current org chart becomes a web user of role `employee`, bound to their
//! email and to the agent logins mapped to them (`/admin/v1/clients`
//! `employeeEmail`). People who are web users already are left as they are,
//! so the call may be repeated; one `EmployeesAdded` event records the counts.
//! Employees added this way have no password (an admin sets one, or gives
//! them an API key).

use std::collections::HashMap;

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use rollcall_core::{login, Email, Role, Scope};
use rollcall_store::admin::NewConsumer;
use rollcall_store::workforce::Scoping;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::NoQuery;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/v1/employees/from-org-chart", post(from_org_chart))
}

/// This module's operations in the OpenAPI document.
pub(crate) fn doc() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(from_org_chart))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

/// Longest web-user name (as `/admin/v1/consumers` allows).
const MAX_NAME_CHARS: usize = 200;

/// A person's display name: first and last name, else their email.
fn display_name(first: Option<&str>, last: Option<&str>, email: &str) -> String {
    let name = [first, last]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let name = if name.is_empty() {
        email.to_string()
    } else {
        name
    };
    name.chars().take(MAX_NAME_CHARS).collect()
}

/// Adds every person of the current org chart as an employee (scope
/// `admin`); idempotent; records one `EmployeesAdded` with the counts.
#[utoipa::path(post, path = "/admin/v1/employees/from-org-chart", tag = "administration",
    responses((status = 200, description = "Added", body = crate::openapi::me_answers::EmployeesAdded),
        (status = 409, description = "There is no current org chart", body = crate::openapi::answers::ErrorBody)))]
async fn from_org_chart(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Scope::Admin)?;
    let org = state
        .store
        .org_chart(caller.account_id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "there is no current org chart: upload one (POST /services/push/v1/customer/org-chart) first",
            )
        })?;
    // The logins mapped to each email (a client's `employeeEmail`).
    let mut logins: HashMap<String, Vec<String>> = HashMap::new();
    for c in state
        .store
        .wf_clients(caller.account_id, Scoping::default())
        .await?
    {
        if let Some(email) = &c.employee_email {
            let mine = logins.entry(email.to_lowercase()).or_default();
            mine.push(login::of(&c.login_domain, &c.name));
            mine.extend(c.merged.iter().map(|(_, d, n)| login::of(d, n)));
        }
    }
    let mut people = Vec::new();
    let mut skipped = 0u64;
    for p in &org.directory.people {
        let Ok(email) = Email::parse(&p.email) else {
            skipped += 1;
            continue;
        };
        let mut theirs: Vec<String> = std::iter::once(&p.email)
            .chain(&p.additional_emails)
            .filter_map(|e| logins.get(&e.to_lowercase()))
            .flatten()
            .cloned()
            .collect();
        theirs.sort();
        theirs.dedup();
        theirs.truncate(login::MAX_LOGINS);
        people.push(NewConsumer {
            name: display_name(p.first_name.as_deref(), p.last_name.as_deref(), &p.email),
            email,
            role: Role::Employee,
            password_hash: None,
            viewable_groups: vec![-1],
            allowed_apps: None,
            logins: theirs,
        });
    }
    let outcome = state
        .store
        .create_employees(caller.account_id, &caller.actor(), people)
        .await?;
    Ok(axum::Json(json!({
        "success": true,
        "added": outcome.added.len(),
        "existing": outcome.existing,
        "skipped": skipped,
        "employees": outcome.added.iter().map(|(id, email)| json!({"id": id, "email": email})).collect::<Vec<_>>(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_first_and_last_else_the_email() {
        assert_eq!(display_name(Some(" Ana "), Some("Diaz"), "a@x"), "Ana Diaz");
        assert_eq!(display_name(None, Some(""), "a@x"), "a@x");
        assert_eq!(
            display_name(Some(&"x".repeat(300)), None, "a@x")
                .chars()
                .count(),
            200
        );
    }
}
