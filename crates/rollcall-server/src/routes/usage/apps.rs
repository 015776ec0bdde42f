//! The push side of connected apps: definitions (`apps.write`), usage events and
//! provisioned users (`connector.write`).
//!
//! Provisioned-user semantics ("the pushed set is the app's complete current user
//! list"): `POST` upserts by `appUserId` (so a list pushed over several requests
//! accumulates), `DELETE` with a body `{"appUserIds": [...], "emails": [...]}`
//! removes those users, and `DELETE` without a body removes every user, so a full
//! re-sync is `DELETE` then `POST` pages.

use std::collections::HashSet;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;
use rollcall_core::usage::{AppDefinition, EventType, MAX_BATCH};
use rollcall_core::{bounded, time, token, Email, Scope};
use rollcall_store::now_ms;
use rollcall_store::usage::{AppRecord, NewEvent, ProvisionedUser, UserSelection};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::opt_text;
use super::pushed::{Field, PushBody, PushedEvent};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::extract::{parse_json, BodyBytes, BoundedJson, NoQuery, Path, Query};
use crate::metrics::{IngestKind, Outcome};
use crate::AppState;

const DAY_MS: i64 = 86_400_000;
const PAGE_PURPOSE: &str = "provisioned-users";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/services/push/v1/customer/apps",
            get(list_apps).post(create_app),
        )
        .route(
            "/services/push/v1/customer/apps/{app_id}",
            get(get_app).put(update_app).delete(delete_app),
        )
        .route(
            "/services/push/v1/customer/apps/{app_id}/disconnect",
            post(disconnect_app),
        )
        .route(
            "/services/push/v1/customer/apps/{app_id}/events",
            post(push_events),
        )
        .route(
            "/services/push/v1/customer/apps/{app_id}/users",
            get(list_users).post(push_users).delete(delete_users),
        )
}

/// This module's operations in the OpenAPI document.
pub(crate) fn doc() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(
        list_apps,
        create_app,
        get_app,
        update_app,
        delete_app,
        disconnect_app,
        push_events,
        list_users,
        push_users,
        delete_users
    ))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

/// An app as the API shows it.
pub(super) fn app_json(rec: &AppRecord) -> Value {
    let d = &rec.definition;
    json!({
        "appId": rec.app_id,
        "name": d.name,
        "category": d.category,
        "description": d.description,
        "sso": d.sso,
        "status": rec.status,
        "events": d.events,
        "groups": d.groups(),
        "licenseTiers": d.license_tiers,
        "createdAt": time::format_ms(rec.created_ms),
        "updatedAt": time::format_ms(rec.updated_ms),
    })
}

/// Parses and validates a definition: wrong shape or bad fields are a 422 naming them.
fn definition(body: Value) -> ApiResult<AppDefinition> {
    // serde would also read the definition from an array of its fields in order.
    if !body.is_object() {
        return Err(ApiError::unprocessable(
            "the app definition must be a JSON object",
        ));
    }
    let def: AppDefinition = serde_json::from_value(body)
        .map_err(|e| ApiError::unprocessable(format!("the app definition is not valid: {e}")))?;
    let problems = def.problems();
    if problems.is_empty() {
        Ok(def)
    } else {
        Err(ApiError::invalid_items(
            "the app definition is not valid; nothing was stored",
            problems
                .into_iter()
                .map(|p| FieldError::field(p.field, p.message))
                .collect(),
        ))
    }
}

/// Defines an app with its events, feature groups and licence tiers; records `AppConnected`.
#[utoipa::path(post, path = "/services/push/v1/customer/apps", tag = "connected apps",
    request_body = rollcall_core::usage::AppDefinition,
    responses((status = 200, description = "Defined", body = crate::openapi::answers::AppCreated),
        (status = 409, description = "An app of that name exists", body = crate::openapi::answers::ErrorBody)))]
async fn create_app(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    BoundedJson(body): BoundedJson,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Scope::AppsWrite)?;
    let def = definition(body)?;
    let rec = state
        .store
        .create_app(caller.account_id, &caller.actor(), def)
        .await?;
    Ok(axum::Json(json!({"success": true, "appId": rec.app_id})))
}

/// The connected apps the caller may see.
#[utoipa::path(get, path = "/services/push/v1/customer/apps", tag = "connected apps",
    responses((status = 200, description = "The apps", body = crate::openapi::answers::AppList)))]
async fn list_apps(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Scope::AppsWrite)?;
    let apps: Vec<Value> = state
        .store
        .list_apps(caller.account_id)
        .await?
        .iter()
        .filter(|a| caller.may_see_app(&a.app_id))
        .map(app_json)
        .collect();
    Ok(axum::Json(json!({"success": true, "apps": apps})))
}

/// An app's definition.
#[utoipa::path(get, path = "/services/push/v1/customer/apps/{app_id}", tag = "connected apps",
    params(("app_id" = String, Path, description = "the app's id")),
    responses((status = 200, description = "The app", body = crate::openapi::answers::AppAnswer)))]
async fn get_app(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    _: NoQuery,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Scope::AppsWrite)?;
    caller.require_app(&app_id)?;
    let rec = state.store.app(caller.account_id, &app_id).await?;
    let mut body = app_json(&rec);
    body["success"] = json!(true);
    Ok(axum::Json(body))
}

/// Replaces an app's definition (events already pushed are kept).
#[utoipa::path(put, path = "/services/push/v1/customer/apps/{app_id}", tag = "connected apps",
    params(("app_id" = String, Path, description = "the app's id")),
    request_body = rollcall_core::usage::AppDefinition,
    responses((status = 200, description = "The new definition", body = crate::openapi::answers::AppAnswer),
        (status = 409, description = "Conflict with another app or pushed data", body = crate::openapi::answers::ErrorBody)))]
async fn update_app(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    _: NoQuery,
    BoundedJson(body): BoundedJson,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Scope::AppsWrite)?;
    caller.require_app(&app_id)?;
    let def = definition(body)?;
    let rec = state
        .store
        .update_app(caller.account_id, &caller.actor(), &app_id, def)
        .await?;
    let mut body = app_json(&rec);
    body["success"] = json!(true);
    Ok(axum::Json(body))
}

/// Stops accepting data for the app, keeping its history; records `AppDisconnected`.
#[utoipa::path(post, path = "/services/push/v1/customer/apps/{app_id}/disconnect", tag = "connected apps",
    params(("app_id" = String, Path, description = "the app's id")),
    responses((status = 200, description = "Disconnected", body = crate::openapi::answers::AppDisconnected)))]
async fn disconnect_app(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    _: NoQuery,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Scope::AppsWrite)?;
    caller.require_app(&app_id)?;
    let rec = state
        .store
        .disconnect_app(caller.account_id, &caller.actor(), &app_id)
        .await?;
    Ok(axum::Json(
        json!({"success": true, "appId": rec.app_id, "status": rec.status}),
    ))
}

/// Removes the app and all its data; records `AppRemoved`.
#[utoipa::path(delete, path = "/services/push/v1/customer/apps/{app_id}", tag = "connected apps",
    params(("app_id" = String, Path, description = "the app's id")),
    responses((status = 200, description = "Removed", body = crate::openapi::answers::Success)))]
async fn delete_app(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    _: NoQuery,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Scope::AppsWrite)?;
    caller.require_app(&app_id)?;
    state
        .store
        .delete_app(caller.account_id, &caller.actor(), &app_id)
        .await?;
    Ok(axum::Json(json!({"success": true})))
}

/// Checks one pushed event against the definition and the account's limits.
fn check_event(
    index: usize,
    item: Option<&PushedEvent<'_>>,
    def: &AppDefinition,
    oldest_ms: i64,
    newest_ms: i64,
    errors: &mut Vec<FieldError>,
) -> Option<(i64, Email, String)> {
    let Some(item) = item else {
        errors.push(FieldError::item(
            index,
            "event",
            "each event must be a JSON object",
        ));
        return None;
    };
    let before = errors.len();
    let ts = match item.timestamp {
        Field::Int(ts) => Some(ts),
        Field::Missing => {
            errors.push(FieldError::item(
                index,
                "timestamp",
                "timestamp (Unix ms) is required",
            ));
            None
        }
        _ => {
            errors.push(FieldError::item(
                index,
                "timestamp",
                "timestamp must be an integer of Unix milliseconds",
            ));
            None
        }
    };
    if let Some(ts) = ts {
        if ts < oldest_ms {
            errors.push(FieldError::item(
                index,
                "timestamp",
                format!(
                    "{} is older than the account's usage retention",
                    time::format_ms(ts)
                ),
            ));
        } else if ts > newest_ms {
            errors.push(FieldError::item(
                index,
                "timestamp",
                format!("{} is more than 1 day in the future", time::format_ms(ts)),
            ));
        }
    }
    let email = match item.email.as_str() {
        Some(text) => match Email::parse(text) {
            Ok(e) => Some(e),
            Err(m) => {
                errors.push(FieldError::item(index, "email", m));
                None
            }
        },
        None => {
            errors.push(FieldError::item(
                index,
                "email",
                "email (a string) is required",
            ));
            None
        }
    };
    let name = item.event_name.as_str();
    match name {
        None => errors.push(FieldError::item(
            index,
            "eventName",
            "eventName (a string) is required",
        )),
        Some(n) => match def.events.iter().find(|e| e.event_name == n) {
            None => errors.push(FieldError::item(
                index,
                "eventName",
                format!("'{n}' is not an event of this app"),
            )),
            Some(e) if e.event_type == EventType::Login => {
                let target = item.target_app.as_str().map(str::trim);
                if target.is_none_or(str::is_empty) {
                    errors.push(FieldError::item(
                        index,
                        "targetApp",
                        format!("'{n}' is a Login event, which needs targetApp"),
                    ));
                }
            }
            Some(_) => {}
        },
    }
    if errors.len() > before {
        return None;
    }
    Some((ts?, email?, name?.to_string()))
}

/// Pushes usage events (scope `connector.write`); a batch is stored whole or not at all.
#[utoipa::path(post, path = "/services/push/v1/customer/apps/{app_id}/events", tag = "connected apps",
    params(("app_id" = String, Path, description = "the app's id")),
    request_body = crate::openapi::answers::UsageEvents,
    responses((status = 200, description = "Stored", body = crate::openapi::answers::EventsAccepted)))]
async fn push_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    _: NoQuery,
    BodyBytes(body): BodyBytes,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Scope::ConnectorWrite)?;
    caller.require_app(&app_id)?;
    let body: PushBody<'_> = parse_json(&body)?;
    let Some(items) = body.events else {
        return Err(ApiError::unprocessable(
            "the body must be {\"events\": [...]}",
        ));
    };
    if items.is_empty() {
        return Err(ApiError::unprocessable(
            "events is empty; send 1 to 1,000 events",
        ));
    }
    if items.len() > MAX_BATCH {
        state
            .metrics
            .ingested(IngestKind::Usage, Outcome::Rejected, items.len() as u64);
        return Err(ApiError::unprocessable(format!(
            "{} events in one request; send at most {MAX_BATCH}",
            items.len()
        )));
    }
    let (rec, settings) = tokio::try_join!(
        state.store.app(caller.account_id, &app_id),
        state.store.settings(caller.account_id)
    )?;
    if !rec.is_connected() {
        return Err(ApiError::unprocessable(format!(
            "app {app_id} is disconnected and accepts no more data"
        )));
    }
    let tz = time::parse_time_zone(&settings.time_zone).map_err(ApiError::internal)?;
    let now = now_ms();
    let oldest = now - i64::from(settings.usage_retention_days) * DAY_MS;
    let newest = now + DAY_MS;
    let mut errors = Vec::new();
    let mut events = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        if let Some((ts_ms, email, event_name)) = check_event(
            index,
            item.as_ref(),
            &rec.definition,
            oldest,
            newest,
            &mut errors,
        ) {
            let day = time::day_number(time::local_date(ts_ms, &tz));
            events.push(NewEvent {
                index,
                ts_ms,
                email,
                event_name,
                day,
            });
        }
    }
    if !errors.is_empty() {
        state
            .metrics
            .ingested(IngestKind::Usage, Outcome::Rejected, items.len() as u64);
        return Err(ApiError::invalid_items(
            format!(
                "{} of {} events are invalid; nothing was stored",
                errors
                    .iter()
                    .filter_map(|e| e.index)
                    .collect::<HashSet<_>>()
                    .len(),
                items.len()
            ),
            errors,
        ));
    }
    let outcome = state
        .store
        .push_events(caller.account_id, &app_id, events)
        .await?;
    state
        .metrics
        .stored(IngestKind::Usage, outcome.accepted, outcome.duplicates);
    Ok(axum::Json(json!({
        "success": true,
        "accepted": outcome.accepted,
        "duplicates": outcome.duplicates,
    })))
}

fn user_json(u: &ProvisionedUser) -> Value {
    let mut v = json!({"appUserId": u.app_user_id, "email": u.email, "username": u.username, "license": u.license});
    if let Some(profile) = &u.profile {
        v["profile"] = json!(profile);
    }
    v
}

/// Upserts provisioned users by `appUserId` (scope `connector.write`).
#[utoipa::path(post, path = "/services/push/v1/customer/apps/{app_id}/users", tag = "connected apps",
    params(("app_id" = String, Path, description = "the app's id")),
    request_body = crate::openapi::answers::ProvisionedUsers,
    responses((status = 200, description = "Stored", body = crate::openapi::answers::UsersAccepted)))]
async fn push_users(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    _: NoQuery,
    BoundedJson(body): BoundedJson,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Scope::ConnectorWrite)?;
    caller.require_app(&app_id)?;
    let Some(items) = body.get("provisionedUsers").and_then(Value::as_array) else {
        return Err(ApiError::unprocessable(
            "the body must be {\"provisionedUsers\": [...]}",
        ));
    };
    if items.len() > MAX_BATCH {
        return Err(ApiError::unprocessable(format!(
            "{} users in one request; send at most {MAX_BATCH}",
            items.len()
        )));
    }
    // A licence must be one of the app's tiers: right-sizing and savings read
    // the tier, and an unknown one would silently count as no licence.
    let app = state.store.app(caller.account_id, &app_id).await?;
    let tiers = &app.definition.license_tiers;
    let known_tiers = known_tiers_text(tiers);
    let mut unknown_license = false;
    let mut errors = Vec::new();
    let mut users = Vec::with_capacity(items.len());
    let mut ids = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let Some(obj) = item.as_object() else {
            errors.push(FieldError::item(
                i,
                "provisionedUser",
                "each user must be a JSON object",
            ));
            continue;
        };
        let before = errors.len();
        let mut text = |field: &str| match opt_text(obj.get(field)) {
            Ok(v) => v,
            Err(m) => {
                errors.push(FieldError::item(i, field, format!("{field} {m}")));
                None
            }
        };
        let app_user_id = text("appUserId");
        let email = text("email");
        let username = text("username");
        let license = text("license");
        if let Some(l) = &license {
            if !tiers.iter().any(|t| &t.name == l) {
                unknown_license = true;
                errors.push(FieldError::item(
                    i,
                    "license",
                    format!("license '{l}' is not a tier of this app ({known_tiers})"),
                ));
            }
        }
        for key in obj.keys() {
            if !["appUserId", "email", "username", "license"].contains(&key.as_str()) {
                errors.push(FieldError::item(
                    i,
                    key.clone(),
                    format!("unknown field '{key}' (expected appUserId, email, username, license)"),
                ));
            }
        }
        let email = match email.as_deref().map(Email::parse) {
            None => {
                errors.push(FieldError::item(i, "email", "email is required"));
                None
            }
            Some(Err(m)) => {
                errors.push(FieldError::item(i, "email", m));
                None
            }
            Some(Ok(e)) => Some(e),
        };
        // Without an appUserId the email identifies the user in the app.
        let app_user_id = app_user_id.or_else(|| email.as_ref().map(|e| e.to_string()));
        if let Some(id) = &app_user_id {
            if !ids.insert(id.clone()) {
                errors.push(FieldError::item(
                    i,
                    "appUserId",
                    format!("appUserId '{id}' appears twice in this request"),
                ));
            }
        }
        if errors.len() > before {
            continue;
        }
        if let (Some(app_user_id), Some(email)) = (app_user_id, email) {
            users.push(ProvisionedUser {
                app_user_id,
                email: email.into_string(),
                username,
                license,
                profile: None,
            });
        }
    }
    if !errors.is_empty() {
        state.metrics.ingested(
            IngestKind::Provisioned,
            Outcome::Rejected,
            items.len() as u64,
        );
        let message = if unknown_license {
            format!("some provisioned users are invalid ({known_tiers}); nothing was stored")
        } else {
            "some provisioned users are invalid; nothing was stored".to_string()
        };
        return Err(ApiError::invalid_items(message, errors));
    }
    let written = state
        .store
        .upsert_provisioned(caller.account_id, &app_id, users)
        .await?;
    state.metrics.stored(IngestKind::Provisioned, written, 0);
    let (_, total) = state
        .store
        .provisioned_page(caller.account_id, &app_id, None, 0)
        .await?;
    Ok(axum::Json(
        json!({"success": true, "accepted": written, "numUsers": total}),
    ))
}

/// The app's licence tiers in words, for an error about an unknown one.
fn known_tiers_text(tiers: &[rollcall_core::usage::LicenseTier]) -> String {
    if tiers.is_empty() {
        return "the app defines no licence tiers; add them to its definition or leave license out"
            .to_string();
    }
    let names: Vec<String> = tiers.iter().map(|t| format!("'{}'", t.name)).collect();
    format!("the app's licence tiers are {}", names.join(", "))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UsersQuery {
    page_token: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    page_size: Option<u32>,
}

#[derive(Serialize, Deserialize)]
struct UsersPage {
    account: i64,
    app: String,
    after: String,
}

/// Pages through the app's provisioned users (scope `connector.write`).
#[utoipa::path(get, path = "/services/push/v1/customer/apps/{app_id}/users", tag = "connected apps",
    params(("app_id" = String, Path, description = "the app's id"), UsersQuery),
    responses((status = 200, description = "A page of users", body = crate::openapi::answers::ProvisionedPage)))]
async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    Query(q): Query<UsersQuery>,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Scope::ConnectorWrite)?;
    caller.require_app(&app_id)?;
    let size = q.page_size.unwrap_or(1000);
    if !(1..=1000).contains(&size) {
        return Err(ApiError::bad_request("pageSize must be between 1 and 1000"));
    }
    let after = match q.page_token {
        None => None,
        Some(t) => {
            let page: UsersPage = token::open(state.store.token_key(), PAGE_PURPOSE, &t)
                .map_err(|e| ApiError::bad_request(format!("pageToken: {e}")))?;
            if page.account != caller.account_id || page.app != app_id {
                return Err(ApiError::bad_request(
                    "pageToken was issued for another app",
                ));
            }
            Some(page.after)
        }
    };
    // One extra row tells whether another page exists.
    let (mut users, total) = state
        .store
        .provisioned_page(caller.account_id, &app_id, after, size as usize + 1)
        .await?;
    let more = users.len() > size as usize;
    users.truncate(size as usize);
    let mut body = json!({
        "success": true,
        "numUsers": total,
        "provisionedUsers": users.iter().map(user_json).collect::<Vec<_>>(),
    });
    if more {
        if let Some(last) = users.last() {
            body["nextPageToken"] = json!(token::seal(
                state.store.token_key(),
                PAGE_PURPOSE,
                &UsersPage {
                    account: caller.account_id,
                    app: app_id.clone(),
                    after: last.app_user_id.clone(),
                },
            ));
        }
    }
    Ok(axum::Json(body))
}

/// Which users to remove (no body: every user).
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = DeleteProvisionedUsers)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeleteBody {
    #[serde(default, deserialize_with = "bounded::vec::<_, _, MAX_BATCH>")]
    app_user_ids: Vec<String>,
    #[serde(default, deserialize_with = "bounded::vec::<_, _, MAX_BATCH>")]
    emails: Vec<String>,
    #[serde(default, deserialize_with = "bounded::vec::<_, _, MAX_BATCH>")]
    provisioned_users: Vec<DeleteUser>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = DeleteProvisionedUser)]
#[serde(rename_all = "camelCase")]
struct DeleteUser {
    app_user_id: Option<String>,
    email: Option<String>,
}

/// Removes the named provisioned users, or every user when there is no body.
#[utoipa::path(delete, path = "/services/push/v1/customer/apps/{app_id}/users", tag = "connected apps",
    params(("app_id" = String, Path, description = "the app's id")),
    request_body(content = Option<DeleteBody>, description = "the users to remove; none = all"),
    responses((status = 200, description = "Removed", body = crate::openapi::answers::UsersDeleted)))]
async fn delete_users(
    State(state): State<AppState>,
    caller: Caller,
    Path(app_id): Path<String>,
    _: NoQuery,
    body: Bytes,
) -> ApiResult<axum::Json<Value>> {
    caller.require(Scope::ConnectorWrite)?;
    caller.require_app(&app_id)?;
    let selection = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let b: DeleteBody = parse_json(&body)?;
        let mut sel = UserSelection {
            app_user_ids: b.app_user_ids,
            emails: Vec::new(),
        };
        let mut emails = b.emails;
        for u in b.provisioned_users {
            sel.app_user_ids.extend(u.app_user_id);
            emails.extend(u.email);
        }
        let mut errors = Vec::new();
        for (i, e) in emails.iter().enumerate() {
            match Email::parse(e) {
                Ok(e) => sel.emails.push(e.into_string()),
                Err(m) => errors.push(FieldError::item(i, "emails", m)),
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid_items(
                "some emails are invalid; nothing was deleted",
                errors,
            ));
        }
        if sel.app_user_ids.is_empty() && sel.emails.is_empty() {
            return Err(ApiError::unprocessable(
                "the body names no users; send appUserIds or emails, or no body to delete every user",
            ));
        }
        Some(sel)
    };
    let n = state
        .store
        .delete_provisioned(caller.account_id, &app_id, selection)
        .await?;
    Ok(axum::Json(json!({"success": true, "numUsersDeleted": n})))
}
