//! Insights (SPEC §4 "pull") as JSON (and CSV where a report has a CSV form):
//! each handler parses its query, calls the report in [`crate::reports::usage`]
//! and writes the answer. The maths and the permission check live there.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rollcall_core::usage_report::Employee;
use rollcall_store::audit::AuditAction;
use serde::Serialize;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Path, Query};
use crate::reports::csv;
use crate::reports::usage::{
    self as report, AppSummary, DetailsQuery, EngagementQuery, InactiveQuery, InactiveUser,
    RightsizingQuery, SummariesQuery, TrendQuery, UsersQuery,
};
use crate::reports::Money;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/pull/v3/apps", get(app_summaries))
        .route("/pull/v2/apps/{app_id}", get(app_details))
        .route("/pull/v1/apps/{app_id}/users", get(users))
        .route("/pull/v1/apps/{app_id}/engagement", get(engagement))
        .route("/pull/v1/apps/{app_id}/inactive-users", get(inactive_users))
        .route("/pull/v1/apps/{app_id}/trend", get(trend))
        .route("/pull/v1/apps/{app_id}/rightsizing", get(rightsizing))
}

/// This module's operations in the OpenAPI document.
pub(crate) fn doc() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(
        app_summaries,
        app_details,
        users,
        engagement,
        inactive_users,
        trend,
        rightsizing
    ))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

fn money_json(m: &Money) -> Value {
    json!({"amount": m.amount, "currency": m.currency})
}

fn summary_json(s: &AppSummary) -> Value {
    json!({
        "appId": s.app_id,
        "name": s.name,
        "status": s.status,
        "category": s.category,
        "description": s.description,
        "sso": s.sso,
        "provisionedUsers": s.provisioned_users,
        "activeUsers": s.active_users,
        "activeProvisionedUsers": s.active_provisioned_users,
        "unlicensedActiveUsers": s.unlicensed_active_users,
        "licensesPurchased": s.licenses_purchased,
        "utilization": s.utilization,
        "annualCost": s.annual_cost.as_ref().map(money_json),
    })
}

/// A JSON answer, or the same rows as a CSV attachment when the request asks
/// for `text/csv`.
fn json_or_csv(
    headers: &HeaderMap,
    body: Value,
    csv: impl FnOnce() -> ApiResult<Response>,
) -> ApiResult<Response> {
    if csv::wanted(headers) {
        csv()
    } else {
        Ok(axum::Json(body).into_response())
    }
}

/// App summaries (scope `apps.read`).
#[utoipa::path(get, path = "/pull/v3/apps", tag = "insights",
    params(report::SummariesQuery),
    responses((status = 200, description = "The apps", body = crate::openapi::answers::AppSummaries)))]
async fn app_summaries(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<SummariesQuery>,
) -> ApiResult<axum::Json<Value>> {
    let r = report::app_summaries(&state, &caller, q).await?;
    let apps: Vec<Value> = r.apps.iter().map(summary_json).collect();
    Ok(axum::Json(json!({
        "success": true,
        "asOfDate": r.as_of_date,
        "apps": apps,
    })))
}

/// One app's details (scope `apps.read`).
#[utoipa::path(get, path = "/pull/v2/apps/{app_id}", tag = "insights",
    params(("app_id" = String, Path, description = "the app's id"), report::DetailsQuery),
    responses((status = 200, description = "The app", body = crate::openapi::answers::AppDetails)))]
async fn app_details(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Query(q): Query<DetailsQuery>,
) -> ApiResult<axum::Json<Value>> {
    let r = report::app_details(&state, &caller, &app_id, q).await?;
    let mut body = summary_json(&r.summary);
    body["success"] = json!(true);
    body["AsOfDate"] = json!(r.as_of_date);
    body["asOfDate"] = json!(r.as_of_date);
    body["activity"] = json!({
        "dau": r.activity.dau,
        "wau": r.activity.wau,
        "mau": r.activity.mau,
        "stickiness": r.activity.stickiness,
    });
    body["contract"] = match &r.summary.contract {
        None => Value::Null,
        Some(c) => json!({
            "contractId": c.contract_id,
            "vendor": c.vendor,
            "startDate": c.start_date,
            "endDate": c.end_date,
            "licensesPurchased": c.licenses_purchased,
            "annualCost": c.annual_cost,
            "currency": c.currency,
        }),
    };
    body["fiscalSpend"] = json!(r.fiscal_spend.iter().map(money_json).collect::<Vec<_>>());
    body["licenseTiers"] = json!(r
        .license_tiers
        .iter()
        .map(|t| json!({
            "name": t.tier.name,
            "tier": t.tier.tier,
            "features": t.tier.features,
            "annualCost": t.tier.annual_cost,
            "currency": t.tier.currency,
            "provisionedUsers": t.provisioned_users,
        }))
        .collect::<Vec<_>>());
    body["groups"] = json!(r.groups);
    Ok(axum::Json(body))
}

fn org_json(p: Option<&Employee>) -> Value {
    match p {
        None => json!({"firstName": null, "lastName": null, "team": null, "location": null,
                       "title": null, "managerEmail": null, "costCenter": null, "customFields": {}}),
        Some(p) => json!({"firstName": p.first_name, "lastName": p.last_name, "team": p.team,
                          "location": p.location, "title": p.title, "managerEmail": p.manager_email,
                          "costCenter": p.cost_center, "customFields": p.custom_fields}),
    }
}

/// One user of the users report, as the API answers it (also an employee's
/// own row under `/me/v1/usage`).
pub(crate) fn user_json(u: &report::UserRow) -> Value {
    let mut v = json!({
        "email": u.email,
        "appUserId": u.app_user_id,
        "username": u.username,
        "license": u.license,
        "provisioned": u.provisioned,
        "status": u.status,
        "lastActivity": u.last_activity,
        "activeDays": u.active_days,
        "groups": u.groups.iter().map(|g| json!({
            "group": g.group,
            "activeDays": g.active_days,
            "lastActivity": g.last_activity,
        })).collect::<Vec<_>>(),
    });
    merge(&mut v, org_json(u.person.as_ref()));
    v
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

/// `/pull/v1/apps/{appId}/users`: per user of the app, status and activity.
/// `dataSource`: `all` (provisioned users and everyone with events, the default),
/// `provisioned`, `events`, or `employees` (the whole org chart). As CSV, every
/// user of the report in one download.
#[utoipa::path(get, path = "/pull/v1/apps/{app_id}/users", tag = "insights",
    params(("app_id" = String, Path, description = "the app's id"), report::UsersQuery, ("accept" = Option<String>, Header, description = "`text/csv` for a CSV download"),),
    responses((status = 200, description = "Per-user usage",
        content((crate::openapi::answers::AppUsers = "application/json"), (String = "text/csv")))))]
async fn users(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<UsersQuery>,
) -> ApiResult<Response> {
    if csv::wanted(&headers) {
        let r = report::users(&state, &caller, &app_id, q, true).await?;
        let mut header = vec![
            "email".to_string(),
            "appUserId".into(),
            "username".into(),
            "license".into(),
            "provisioned".into(),
            "status".into(),
            "lastActivity".into(),
            "activeDays".into(),
            "firstName".into(),
            "lastName".into(),
            "team".into(),
        ];
        let groups: Vec<String> = r
            .users
            .first()
            .map(|u| u.groups.iter().map(|g| g.group.clone()).collect())
            .unwrap_or_default();
        for g in &groups {
            header.push(format!("{g} activeDays"));
            header.push(format!("{g} lastActivity"));
        }
        let rows = r.users.into_iter().map(|u| {
            let person = u.person.as_ref();
            let mut row = vec![
                u.email.clone(),
                u.app_user_id.clone().unwrap_or_default(),
                u.username.clone().unwrap_or_default(),
                u.license.clone().unwrap_or_default(),
                u.provisioned.to_string(),
                u.status.to_string(),
                u.last_activity.clone().unwrap_or_default(),
                u.active_days.to_string(),
                person
                    .and_then(|p| p.first_name.clone())
                    .unwrap_or_default(),
                person.and_then(|p| p.last_name.clone()).unwrap_or_default(),
                person.and_then(|p| p.team.clone()).unwrap_or_default(),
            ];
            for g in &u.groups {
                row.push(g.active_days.to_string());
                row.push(g.last_activity.clone().unwrap_or_default());
            }
            row
        });
        return Ok(csv::attachment("users.csv", header, rows));
    }
    let r = report::users(&state, &caller, &app_id, q, false).await?;
    let out: Vec<Value> = r.users.iter().map(user_json).collect();
    let mut body = json!({
        "success": true,
        "appId": r.app_id,
        "asOfDate": r.as_of_date,
        "rollingWindow": r.rolling_window,
        "dataSource": r.data_source,
        "numUsers": r.num_users,
        "users": out,
    });
    if let Some(t) = r.next_page_token {
        body["nextPageToken"] = json!(t);
    }
    Ok(axum::Json(body).into_response())
}

/// Engagement per value of an org field (scope `apps.read`).
#[utoipa::path(get, path = "/pull/v1/apps/{app_id}/engagement", tag = "insights",
    params(("app_id" = String, Path, description = "the app's id"), report::EngagementQuery, ("accept" = Option<String>, Header, description = "`text/csv` for a CSV download"),),
    responses((status = 200, description = "Engagement",
        content((crate::openapi::answers::Engagement = "application/json"), (String = "text/csv")))))]
async fn engagement(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<EngagementQuery>,
) -> ApiResult<Response> {
    let r = report::engagement(&state, &caller, &app_id, q).await?;
    let body = json!({
        "success": true,
        "appId": r.app_id,
        "group": r.group,
        "rollingWindow": r.rolling_window,
        "asOfDate": r.as_of_date,
        "by": r.by,
        "population": r.population,
        "total": r.total,
        "segments": r.segments,
    });
    json_or_csv(&headers, body, move || {
        let header = csv::header(&[r.by.as_str(), "population", "active", "percent"]);
        let total = vec![
            "(total)".to_string(),
            r.total.population.to_string(),
            r.total.active.to_string(),
            Value::from(r.total.percent).to_string(),
        ];
        let rows = r
            .segments
            .into_iter()
            .map(|s| {
                vec![
                    s.value.unwrap_or_default(),
                    s.population.to_string(),
                    s.active.to_string(),
                    Value::from(s.percent).to_string(),
                ]
            })
            .chain(std::iter::once(total));
        Ok(csv::attachment("engagement.csv", header, rows))
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InactivePage<'a> {
    success: bool,
    app_id: &'a str,
    group: Option<&'a str>,
    rolling_window: i32,
    as_of_date: &'a str,
    population: &'a str,
    num_users: usize,
    users: &'a [InactiveUser],
    potential_savings: &'a Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<&'a str>,
}

/// The inactive-users report as a CSV download (recording `DownloadedUsersList`);
/// the API (`Accept: text/csv`) and the dashboard's download link both answer with it.
pub(crate) async fn inactive_users_csv(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    q: InactiveQuery,
) -> ApiResult<Response> {
    let r = report::inactive_users(state, caller, app_id, q, true).await?;
    let header = csv::header(&[
        "email",
        "firstName",
        "lastName",
        "team",
        "license",
        "lastActivity",
        "annualCost",
    ]);
    state
        .store
        .record_audit(
            caller.account_id,
            &caller.actor(),
            AuditAction::DownloadedUsersList {
                app_id: r.app_id.clone(),
                app: r.app_name.clone(),
                report: "inactive-users",
                users: r.users.len(),
            },
        )
        .await?;
    let rows = r.users.into_iter().map(|u| {
        vec![
            u.email,
            u.first_name.unwrap_or_default(),
            u.last_name.unwrap_or_default(),
            u.team.unwrap_or_default(),
            u.license.unwrap_or_default(),
            u.last_activity.unwrap_or_default(),
            u.annual_cost
                .map(|c| Value::from(c).to_string())
                .unwrap_or_default(),
        ]
    });
    Ok(csv::attachment("inactive-users.csv", header, rows))
}

/// Users without events of `group` in the window (scope `users.read`); the CSV
/// download records `DownloadedUsersList`.
#[utoipa::path(get, path = "/pull/v1/apps/{app_id}/inactive-users", tag = "insights",
    params(("app_id" = String, Path, description = "the app's id"), report::InactiveQuery, ("accept" = Option<String>, Header, description = "`text/csv` for a CSV download"),),
    responses((status = 200, description = "Inactive users",
        content((crate::openapi::answers::InactiveUsers = "application/json"), (String = "text/csv")))))]
async fn inactive_users(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<InactiveQuery>,
) -> ApiResult<Response> {
    if csv::wanted(&headers) {
        return inactive_users_csv(&state, &caller, &app_id, q).await;
    }
    let r = report::inactive_users(&state, &caller, &app_id, q, false).await?;
    // Serialized straight from structs: a page holds up to 1,000 users.
    let body = serde_json::to_vec(&InactivePage {
        success: true,
        app_id: &r.app_id,
        group: r.group.as_deref(),
        rolling_window: r.rolling_window,
        as_of_date: &r.as_of_date,
        population: &r.population,
        num_users: r.num_users,
        users: &r.users,
        potential_savings: &r.potential_savings,
        next_page_token: r.next_page_token.as_deref(),
    })
    .map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Daily DAU/WAU/MAU (scope `apps.read`).
#[utoipa::path(get, path = "/pull/v1/apps/{app_id}/trend", tag = "insights",
    params(("app_id" = String, Path, description = "the app's id"), report::TrendQuery),
    responses((status = 200, description = "The series", body = crate::openapi::answers::Trend)))]
async fn trend(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Query(q): Query<TrendQuery>,
) -> ApiResult<axum::Json<Value>> {
    let r = report::trend(&state, &caller, &app_id, q).await?;
    let series: Vec<Value> = r
        .series
        .iter()
        .map(|d| json!({"date": d.date, "dau": d.dau, "wau": d.wau, "mau": d.mau}))
        .collect();
    Ok(axum::Json(json!({
        "success": true,
        "appId": r.app_id,
        "group": r.group,
        "from": r.from,
        "to": r.to,
        "series": series,
    })))
}

/// Users whose events need a lower licence tier than they hold (scope `users.read`).
#[utoipa::path(get, path = "/pull/v1/apps/{app_id}/rightsizing", tag = "insights",
    params(("app_id" = String, Path, description = "the app's id"), report::RightsizingQuery),
    responses((status = 200, description = "Suggestions", body = crate::openapi::answers::Rightsizing)))]
async fn rightsizing(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Query(q): Query<RightsizingQuery>,
) -> ApiResult<axum::Json<Value>> {
    let r = report::rightsizing(&state, &caller, &app_id, q).await?;
    let users: Vec<Value> = r
        .users
        .iter()
        .map(|u| {
            json!({
                "email": u.email,
                "appUserId": u.app_user_id,
                "license": u.license,
                "recommendedLicense": u.recommended_license,
                "usedEvents": u.used_events,
                "annualCost": u.annual_cost,
                "recommendedAnnualCost": u.recommended_annual_cost,
                "savings": u.savings,
            })
        })
        .collect();
    Ok(axum::Json(json!({
        "success": true,
        "appId": r.app_id,
        "rollingWindow": r.rolling_window,
        "asOfDate": r.as_of_date,
        "users": users,
        "potentialSavings": money_json(&r.potential_savings),
    })))
}
