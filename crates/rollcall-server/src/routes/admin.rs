//! `/admin/v1/consumers`, `/admin/v1/credentials` and `/admin/v1/settings` (SPEC §3).
//! Every endpoint requires the `admin` scope, except that any web user may list,
//! create and revoke their own API keys; every change is audited by the store.

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use rollcall_core::{secret, time, Email, Role, Scope, ScopeSet};
use rollcall_store::admin::{
    AccountSettings, Consumer, ConsumerPatch, Credential, CredentialKind, NewConsumer,
    NewCredential, RateLimit, SettingsPatch,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::extract::{double_option, Json, NoQuery, Path, Query};
use crate::{passwords, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/consumers",
            get(list_consumers).post(create_consumer),
        )
        .route(
            "/admin/v1/consumers/{id}",
            get(get_consumer)
                .patch(update_consumer)
                .delete(delete_consumer),
        )
        .route(
            "/admin/v1/credentials",
            get(list_credentials).post(create_credential),
        )
        .route(
            "/admin/v1/credentials/{id}",
            axum::routing::delete(revoke_credential),
        )
        .route(
            "/admin/v1/settings",
            get(get_settings).patch(update_settings),
        )
}

/// This module's operations in the OpenAPI document.
pub(crate) fn doc() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(
        list_consumers,
        create_consumer,
        get_consumer,
        update_consumer,
        delete_consumer,
        list_credentials,
        create_credential,
        revoke_credential,
        get_settings,
        update_settings
    ))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

type JsonValue = axum::Json<Value>;

fn parse_role(text: &str) -> ApiResult<Role> {
    Role::parse(text).ok_or_else(|| {
        ApiError::unprocessable(format!(
            "role '{text}' is not one of superadmin, admin, viewer, employee"
        ))
    })
}

fn check_groups(groups: &[i64]) -> ApiResult<()> {
    if groups.iter().any(|g| *g < -1 || *g == 0) {
        return Err(ApiError::unprocessable(
            "viewableGroups holds group ids, or -1 for all groups",
        ));
    }
    Ok(())
}

fn consumer_json(c: &Consumer, include_groups: bool) -> Value {
    let mut v = json!({
        "id": c.id,
        "email": c.email,
        "name": c.name,
        "role": c.role.as_str(),
        "allowedApps": c.allowed_apps,
        "created": time::format_ms(c.created_ms),
        "logins": c.logins,
    });
    if include_groups {
        v["viewableGroups"] = json!(c.viewable_groups);
    }
    v
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListConsumersQuery {
    #[serde(default)]
    include_viewable_groups: Option<bool>,
}

/// Web users of the account (scope `admin`).
#[utoipa::path(get, path = "/admin/v1/consumers", tag = "administration",
    params(ListConsumersQuery),
    responses((status = 200, description = "The web users", body = crate::openapi::answers::ConsumerList)))]
async fn list_consumers(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListConsumersQuery>,
) -> ApiResult<JsonValue> {
    caller.require(Scope::Admin)?;
    let include = q.include_viewable_groups.unwrap_or(false);
    let users = state.store.consumers(caller.account_id).await?;
    let users: Vec<Value> = users.iter().map(|c| consumer_json(c, include)).collect();
    Ok(axum::Json(json!({"success": true, "consumers": users})))
}

/// One web user (scope `admin`).
#[utoipa::path(get, path = "/admin/v1/consumers/{id}", tag = "administration",
    params(("id" = i64, Path, description = "web user id")),
    responses((status = 200, description = "The web user", body = crate::openapi::answers::OneConsumer)))]
async fn get_consumer(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Path(id): Path<i64>,
) -> ApiResult<JsonValue> {
    caller.require(Scope::Admin)?;
    let c = state.store.consumer(caller.account_id, id).await?;
    Ok(axum::Json(
        json!({"success": true, "consumer": consumer_json(&c, true)}),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewConsumerBody {
    #[schema(format = Email)]
    email: String,
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    #[schema(schema_with = crate::openapi::answers::role)]
    role: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    viewable_groups: Option<Vec<i64>>,
    #[serde(default)]
    allowed_apps: Option<Vec<String>>,
    /// An employee's agent logins (`DOMAIN\\name`); only for role `employee`.
    #[serde(default)]
    #[schema(max_items = 50)]
    logins: Option<Vec<String>>,
}

/// The logins of a web user of `role`, checked and normalised: only an
/// employee is bound to logins.
fn check_logins(role: Option<Role>, logins: Option<&[String]>) -> ApiResult<Vec<String>> {
    let Some(logins) = logins else {
        return Ok(Vec::new());
    };
    if role != Some(Role::Employee) && !logins.is_empty() {
        return Err(ApiError::unprocessable(
            "logins are only for web users of role employee",
        ));
    }
    if logins.len() > rollcall_core::login::MAX_LOGINS {
        return Err(ApiError::unprocessable(format!(
            "an employee has at most {} logins",
            rollcall_core::login::MAX_LOGINS
        )));
    }
    rollcall_core::login::normalize_all(logins).map_err(|(index, e)| {
        ApiError::invalid_items(
            "the logins are not valid",
            vec![FieldError::item(index, "logins", e.to_string())],
        )
    })
}

/// Adds a web user (scope `admin`); records `AdminAddedUser`. An employee
/// (role `employee`) is bound to their `email` and agent `logins`.
#[utoipa::path(post, path = "/admin/v1/consumers", tag = "administration",
    request_body = NewConsumerBody,
    responses((status = 200, description = "Created", body = crate::openapi::answers::Created),
        (status = 409, description = "The email is taken", body = crate::openapi::answers::ErrorBody)))]
async fn create_consumer(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Json(body): Json<NewConsumerBody>,
) -> ApiResult<JsonValue> {
    caller.require(Scope::Admin)?;
    let mut errors = Vec::new();
    let email = Email::parse(&body.email)
        .map_err(|m| errors.push(FieldError::field("email", m)))
        .ok();
    let name = body.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        errors.push(FieldError::field(
            "name",
            "name must have 1 to 200 characters",
        ));
    }
    let role = parse_role(&body.role)
        .map_err(|e| errors.push(FieldError::field("role", e.message)))
        .ok();
    if let Some(p) = &body.password {
        if let Err(e) = passwords::check_strength(p) {
            errors.push(FieldError::field("password", e.message));
        }
    }
    let groups = body.viewable_groups.unwrap_or_else(|| vec![-1]);
    if let Err(e) = check_groups(&groups) {
        errors.push(FieldError::field("viewableGroups", e.message));
    }
    let logins = match check_logins(role, body.logins.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            if e.errors.is_empty() {
                errors.push(FieldError::field("logins", e.message));
            } else {
                errors.extend(e.errors);
            }
            Vec::new()
        }
    };
    let (Some(email), Some(role), true) = (email, role, errors.is_empty()) else {
        return Err(ApiError::invalid_items("the web user is not valid", errors));
    };
    let password_hash = match body.password {
        Some(p) => Some(passwords::hash(p).await?),
        None => None,
    };
    let id = state
        .store
        .create_consumer(
            caller.account_id,
            &caller.actor(),
            NewConsumer {
                email,
                name,
                role,
                password_hash,
                viewable_groups: groups,
                allowed_apps: body.allowed_apps,
                logins,
            },
        )
        .await?;
    Ok(axum::Json(json!({"success": true, "id": id})))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConsumerPatchBody {
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::openapi::answers::role)]
    role: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    viewable_groups: Option<Vec<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    allowed_apps: Option<Option<Vec<String>>>,
    /// An employee's agent logins (replaces the list); only for role `employee`.
    #[serde(default)]
    #[schema(max_items = 50)]
    logins: Option<Vec<String>>,
}

/// Changes a web user's name, role, password, groups or apps (scope `admin`).
#[utoipa::path(patch, path = "/admin/v1/consumers/{id}", tag = "administration",
    params(("id" = i64, Path, description = "web user id")),
    request_body = ConsumerPatchBody,
    responses((status = 200, description = "Changed", body = crate::openapi::answers::Success),
        (status = 409, description = "Conflict (e.g. the last superadmin)", body = crate::openapi::answers::ErrorBody)))]
async fn update_consumer(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Path(id): Path<i64>,
    Json(body): Json<ConsumerPatchBody>,
) -> ApiResult<JsonValue> {
    caller.require(Scope::Admin)?;
    let role = body.role.as_deref().map(parse_role).transpose()?;
    // Logins belong to employees: new ones are checked against the role the
    // user will have (the store drops them when the user leaves the role).
    let logins = match &body.logins {
        Some(l) => {
            let new_role = match role {
                Some(r) => r,
                None => state.store.consumer(caller.account_id, id).await?.role,
            };
            Some(check_logins(Some(new_role), Some(l))?)
        }
        None => None,
    };
    if let Some(groups) = &body.viewable_groups {
        check_groups(groups)?;
    }
    let name = body.name.map(|n| n.trim().to_string());
    if name
        .as_ref()
        .is_some_and(|n| n.is_empty() || n.chars().count() > 200)
    {
        return Err(ApiError::unprocessable(
            "name must have 1 to 200 characters",
        ));
    }
    let password_hash = match body.password {
        Some(p) => {
            passwords::check_strength(&p)?;
            Some(passwords::hash(p).await?)
        }
        None => None,
    };
    state
        .store
        .update_consumer(
            caller.account_id,
            &caller.actor(),
            id,
            ConsumerPatch {
                name,
                role,
                password_hash,
                viewable_groups: body.viewable_groups,
                allowed_apps: body.allowed_apps,
                logins,
            },
        )
        .await?;
    Ok(axum::Json(json!({"success": true})))
}

/// Removes a web user (scope `admin`); their sessions and keys end.
#[utoipa::path(delete, path = "/admin/v1/consumers/{id}", tag = "administration",
    params(("id" = i64, Path, description = "web user id")),
    responses((status = 200, description = "Removed", body = crate::openapi::answers::Success),
        (status = 409, description = "Conflict (e.g. the last superadmin)", body = crate::openapi::answers::ErrorBody)))]
async fn delete_consumer(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Path(id): Path<i64>,
) -> ApiResult<JsonValue> {
    caller.require(Scope::Admin)?;
    state
        .store
        .delete_consumer(caller.account_id, &caller.actor(), id)
        .await?;
    Ok(axum::Json(json!({"success": true})))
}

fn credential_json(c: &Credential) -> Value {
    json!({
        "id": c.id,
        "type": c.kind.as_str(),
        "name": c.name,
        "consumerId": c.consumer_id,
        "clientId": c.client_id,
        "scopes": c.scopes.names(),
        "createdBy": c.created_by,
        "created": time::format_ms(c.created_ms),
        "revoked": c.revoked_ms.map(time::format_ms),
        "appId": c.app_id,
    })
}

/// Admins see every credential; any other web user sees their own API keys.
#[utoipa::path(get, path = "/admin/v1/credentials", tag = "administration",
    responses((status = 200, description = "Credentials (never their secrets)", body = crate::openapi::answers::CredentialList)))]
async fn list_credentials(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
) -> ApiResult<JsonValue> {
    let creds = state.store.credentials(caller.account_id).await?;
    let creds: Vec<Value> = creds
        .iter()
        .filter(|c| may_manage(&caller, c))
        .map(credential_json)
        .collect();
    Ok(axum::Json(json!({"success": true, "credentials": creds})))
}

/// Whether the caller may see and revoke `c`: an admin any, a web user their
/// own API keys.
fn may_manage(caller: &Caller, c: &Credential) -> bool {
    caller.scopes.contains(Scope::Admin)
        || (!caller.via_oauth_client
            && c.kind == CredentialKind::ApiKey
            && c.consumer_id.is_some()
            && c.consumer_id == caller.consumer_id)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewCredentialBody {
    #[serde(rename = "type")]
    #[schema(schema_with = crate::openapi::answers::credential_type)]
    kind: String,
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    #[serde(default)]
    consumer_id: Option<i64>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// `writeKey` only: the connected app the key pushes to.
    #[serde(default)]
    app_id: Option<String>,
}

fn parse_scopes(names: Option<Vec<String>>) -> ApiResult<Option<ScopeSet>> {
    let Some(names) = names else {
        return Ok(None);
    };
    if names.is_empty() {
        return Err(ApiError::unprocessable(
            "scopes must name at least one scope (omit it for all the scopes allowed)",
        ));
    }
    ScopeSet::parse_names(names.iter().map(String::as_str))
        .map(Some)
        .map_err(|bad| {
            ApiError::unprocessable(format!(
                "unknown scope '{bad}'; known scopes: {}",
                ScopeSet::all().names().join(", ")
            ))
        })
}

/// API keys: an admin creates them for any web user (`consumerId`), any web
/// user for themselves (`consumerId` omitted or their own), never beyond the
/// credential that asks. `scopes` narrows a key within its user's role (an
/// agent-only key: `["activity.write"]`). OAuth clients: admins only; the client
/// belongs to the web user who creates it.
#[utoipa::path(post, path = "/admin/v1/credentials", tag = "administration",
    request_body = NewCredentialBody,
    responses((status = 200, description = "Created; the secret is shown only now", body = crate::openapi::answers::NewCredential)))]
async fn create_credential(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Json(body): Json<NewCredentialBody>,
) -> ApiResult<JsonValue> {
    let is_admin = caller.scopes.contains(Scope::Admin);
    let kind = CredentialKind::parse(&body.kind).ok_or_else(|| {
        ApiError::unprocessable("type must be 'apiKey', 'oauthClient' or 'writeKey'")
    })?;
    if matches!(kind, CredentialKind::OAuthClient | CredentialKind::WriteKey) {
        caller.require(Scope::Admin)?;
    }
    if body.app_id.is_some() && kind != CredentialKind::WriteKey {
        return Err(ApiError::unprocessable(
            "appId is for write keys (type 'writeKey') only",
        ));
    }
    let name = body.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::unprocessable(
            "name must have 1 to 200 characters",
        ));
    }
    let scopes = parse_scopes(body.scopes)?;
    match kind {
        CredentialKind::ApiKey => {
            // Without the admin scope, only a user's own key (not a program's
            // OAuth token) makes keys for that user.
            let own = caller.consumer_id.filter(|_| !caller.via_oauth_client);
            let consumer_id = match (body.consumer_id, own) {
                (Some(id), _) if is_admin => id,
                (Some(id), Some(own)) if id == own => id,
                (Some(_), _) => return Err(ApiError::forbidden(
                    "only a credential with the 'admin' scope may create keys for another web user",
                )),
                (None, Some(own)) => own,
                (None, None) if is_admin => {
                    return Err(ApiError::unprocessable(
                        "consumerId (the web user the key acts as) is required",
                    ))
                }
                (None, None) => {
                    return Err(ApiError::forbidden(
                        "an OAuth client cannot create API keys without the 'admin' scope",
                    ))
                }
            };
            // A key made without the admin scope never exceeds the credential
            // that makes it (a narrowed key cannot mint a wider one).
            let scopes = if is_admin {
                scopes.unwrap_or_default()
            } else {
                let wanted = scopes.unwrap_or(caller.scopes);
                if !wanted.is_subset_of(caller.scopes) {
                    return Err(ApiError::forbidden(format!(
                        "a new key may carry only scopes this credential has ({})",
                        caller.scopes.names().join(", ")
                    )));
                }
                wanted
            };
            let api_key = secret::generate("rk_");
            let id = state
                .store
                .create_credential(
                    caller.account_id,
                    &caller.actor(),
                    NewCredential {
                        kind,
                        name,
                        consumer_id: Some(consumer_id),
                        client_id: None,
                        secret_hash: secret::hash(&api_key),
                        scopes,
                        owner_id: None,
                        app_id: None,
                    },
                )
                .await?;
            Ok(axum::Json(
                json!({"success": true, "id": id, "apiKey": api_key}),
            ))
        }
        CredentialKind::WriteKey => {
            if body.consumer_id.is_some() || scopes.is_some() {
                return Err(ApiError::unprocessable(
                    "a write key pushes to its app only: omit consumerId and scopes",
                ));
            }
            let app_id = body.app_id.ok_or_else(|| {
                ApiError::unprocessable("appId (the connected app the key pushes to) is required")
            })?;
            caller.require_app(&app_id)?;
            state.store.app(caller.account_id, &app_id).await?;
            let write_key = secret::generate("wk_");
            let id = state
                .store
                .create_credential(
                    caller.account_id,
                    &caller.actor(),
                    NewCredential {
                        kind,
                        name,
                        consumer_id: None,
                        client_id: None,
                        secret_hash: secret::hash(&write_key),
                        scopes: ScopeSet::default(),
                        owner_id: None,
                        app_id: Some(app_id),
                    },
                )
                .await?;
            Ok(axum::Json(
                json!({"success": true, "id": id, "writeKey": write_key}),
            ))
        }
        CredentialKind::OAuthClient => {
            let scopes = scopes
                .ok_or_else(|| ApiError::unprocessable("scopes must name at least one scope"))?;
            if body.consumer_id.is_some() {
                return Err(ApiError::unprocessable(
                    "an OAuth client belongs to the web user who creates it; omit consumerId",
                ));
            }
            let client_id = format!("rc_{}", secret::random_hex(12));
            let client_secret = secret::generate("rs_");
            let id = state
                .store
                .create_credential(
                    caller.account_id,
                    &caller.actor(),
                    NewCredential {
                        kind,
                        name,
                        consumer_id: None,
                        client_id: Some(client_id.clone()),
                        secret_hash: secret::hash(&client_secret),
                        scopes,
                        owner_id: caller.consumer_id,
                        app_id: None,
                    },
                )
                .await?;
            Ok(axum::Json(json!({
                "success": true, "id": id, "clientId": client_id, "clientSecret": client_secret,
            })))
        }
    }
}

/// Revokes a credential at once, on every server process.
#[utoipa::path(delete, path = "/admin/v1/credentials/{id}", tag = "administration",
    params(("id" = i64, Path, description = "credential id")),
    responses((status = 200, description = "Revoked", body = crate::openapi::answers::Success)))]
async fn revoke_credential(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Path(id): Path<i64>,
) -> ApiResult<JsonValue> {
    if !caller.scopes.contains(Scope::Admin) {
        // A web user may revoke their own keys; others' do not exist for them.
        let creds = state.store.credentials(caller.account_id).await?;
        if !creds.iter().any(|c| c.id == id && may_manage(&caller, c)) {
            return Err(ApiError::not_found(format!(
                "credential {id} does not exist"
            )));
        }
    }
    state
        .store
        .revoke_credential(caller.account_id, &caller.actor(), id)
        .await?;
    Ok(axum::Json(json!({"success": true})))
}

fn settings_json(s: &AccountSettings) -> Value {
    json!({
        "success": true,
        "timeZone": s.time_zone,
        "passiveLimitMinutes": s.passive_limit_minutes,
        "activityRetentionDays": s.activity_retention_days,
        "usageRetentionDays": s.usage_retention_days,
        "rateLimit": s.rate_limit,
    })
}

/// The account's settings (scope `admin`).
#[utoipa::path(get, path = "/admin/v1/settings", tag = "administration",
    responses((status = 200, description = "The settings", body = crate::openapi::answers::Settings)))]
async fn get_settings(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
) -> ApiResult<JsonValue> {
    caller.require(Scope::Admin)?;
    Ok(axum::Json(settings_json(
        &state.store.settings(caller.account_id).await?,
    )))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SettingsBody {
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<u32>)]
    passive_limit_minutes: Option<Option<u32>>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3650)]
    activity_retention_days: Option<u32>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3650)]
    usage_retention_days: Option<u32>,
    #[serde(default)]
    #[schema(value_type = Option<crate::openapi::answers::RateLimit>)]
    rate_limit: Option<RateLimit>,
}

/// Changes the account's settings (scope `admin`); answers the new settings.
#[utoipa::path(patch, path = "/admin/v1/settings", tag = "administration",
    request_body = SettingsBody,
    responses((status = 200, description = "The new settings", body = crate::openapi::answers::Settings)))]
async fn update_settings(
    State(state): State<AppState>,
    caller: Caller,
    _: NoQuery,
    Json(body): Json<SettingsBody>,
) -> ApiResult<JsonValue> {
    caller.require(Scope::Admin)?;
    let mut errors = Vec::new();
    if let Some(tz) = &body.time_zone {
        if let Err(m) = time::parse_time_zone(tz) {
            errors.push(FieldError::field("timeZone", m));
        }
    }
    if let Some(Some(minutes)) = body.passive_limit_minutes {
        if minutes > 24 * 60 {
            errors.push(FieldError::field(
                "passiveLimitMinutes",
                "must be at most 1440 (or null for unlimited)",
            ));
        }
    }
    for (field, days) in [
        ("activityRetentionDays", body.activity_retention_days),
        ("usageRetentionDays", body.usage_retention_days),
    ] {
        if days.is_some_and(|d| !(1..=3650).contains(&d)) {
            errors.push(FieldError::field(field, "must be between 1 and 3650 days"));
        }
    }
    if let Some(rate) = &body.rate_limit {
        if rate.per_second == 0
            || rate.burst == 0
            || rate.per_second > 1_000_000
            || rate.burst > 1_000_000
        {
            errors.push(FieldError::field(
                "rateLimit",
                "perSecond and burst must be between 1 and 1000000",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid_items(
            "the settings are not valid",
            errors,
        ));
    }
    let settings = state
        .store
        .update_settings(
            caller.account_id,
            &caller.actor(),
            SettingsPatch {
                time_zone: body.time_zone,
                passive_limit_minutes: body.passive_limit_minutes,
                activity_retention_days: body.activity_retention_days,
                usage_retention_days: body.usage_retention_days,
                rate_limit: body.rate_limit,
            },
        )
        .await?;
    Ok(axum::Json(settings_json(&settings)))
}
