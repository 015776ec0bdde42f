//! `/ui/admin`: administration (SPEC §9.6): web users (add, role, remove),
//! credentials (create, with the secret shown once, and revoke), apps with their
//! event definitions and feature groups, groups, classifications, settings and
//! the privacy policy (capture and title retention; SPEC §11).
//!
//! Every read and every change runs through the JSON API's own handlers (an
//! in-process request carrying the session's `Caller`), so the page gets the
//! API's validation, permission checks and audit events, not a second copy of
//! them. A change answers with the page and a notice (or the API's error); a
//! new credential's secret appears in that answer only.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::Response;
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::extract::Path;
use crate::ui::layout::{page as shell, Nav};
use crate::AppState;

/// What a change left to say on the page.
enum Notice {
    Done(String),
    /// A secret to copy now: it is never shown again.
    Secret(String, Vec<(String, String)>),
    Failed(ApiError),
}

/// Calls the JSON API in process as `caller`; its answer, or its error.
async fn api(
    state: &AppState,
    caller: &Caller,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> ApiResult<Value> {
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(bytes))
        .map_err(ApiError::internal)?;
    request.extensions_mut().insert(caller.clone());
    let response = crate::routes::api_routes()
        .with_state(state.clone())
        .oneshot(request)
        .await
        .map_err(ApiError::internal)?;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024)
        .await
        .map_err(ApiError::internal)?;
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(value);
    }
    let mut e = ApiError::new(
        status,
        value["message"].as_str().unwrap_or("the request failed"),
    );
    if let Some(items) = value["errors"].as_array() {
        e.errors = items
            .iter()
            .map(|i| FieldError {
                field: i["field"].as_str().map(str::to_string),
                index: i["index"].as_u64().map(|n| n as usize),
                message: i["message"].as_str().unwrap_or_default().to_string(),
            })
            .collect();
    }
    Err(e)
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v[key].as_array().map(Vec::as_slice).unwrap_or_default()
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Comma-separated ids or names from a form field; empty = none given.
fn csv_field(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn ids(v: &str, field: &str) -> ApiResult<Vec<i64>> {
    csv_field(v)
        .iter()
        .map(|s| {
            s.parse::<i64>().map_err(|_| {
                ApiError::unprocessable(format!("{field}: '{s}' is not a group id (or -1 for all)"))
            })
        })
        .collect()
}

pub async fn page(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    render(&state, &caller, None).await
}

async fn render(state: &AppState, caller: &Caller, notice: Option<Notice>) -> ApiResult<Response> {
    let consumers = match api(
        state,
        caller,
        Method::GET,
        "/admin/v1/consumers?includeViewableGroups=true",
        None,
    )
    .await
    {
        Ok(v) => v,
        Err(e) if e.status == StatusCode::FORBIDDEN => {
            let mut r = shell(
                "Admin",
                caller,
                Nav::Admin,
                html! { p { "Administration is for administrators; your role is " (caller.role.as_str()) "." } },
            );
            *r.status_mut() = StatusCode::FORBIDDEN;
            crate::error::mark_error_body(&mut r);
            return Ok(r);
        }
        Err(e) => return Err(e),
    };
    let (credentials, apps, groups, classes, settings, privacy) = tokio::try_join!(
        api(state, caller, Method::GET, "/admin/v1/credentials", None),
        api(
            state,
            caller,
            Method::GET,
            "/services/push/v1/customer/apps",
            None
        ),
        api(state, caller, Method::GET, "/admin/v1/groups", None),
        api(
            state,
            caller,
            Method::GET,
            "/admin/v1/classifications",
            None
        ),
        api(state, caller, Method::GET, "/admin/v1/settings", None),
        api(state, caller, Method::GET, "/admin/v1/privacy", None),
    )?;
    let status = match &notice {
        Some(Notice::Failed(e)) => e.status,
        _ => StatusCode::OK,
    };
    let body = html! {
        @match &notice {
            None => {},
            Some(Notice::Done(m)) => p class="notice" role="status" { (m) },
            Some(Notice::Secret(m, fields)) => section class="notice" role="status" {
                p { strong { (m) } " Copy it now: it is shown only this once." }
                dl { @for (k, v) in fields { dt { (k) } dd { code class="secret" { (v) } } } }
            },
            Some(Notice::Failed(e)) => div class="error" role="alert" {
                p { (e.message) }
                @if !e.errors.is_empty() { ul { @for f in &e.errors { li { (f.field.clone().unwrap_or_default()) ": " (f.message) } } } }
            },
        }
        (users_section(&consumers))
        (credentials_section(&credentials, &consumers, &apps))
        (apps_section(&apps))
        (groups_section(&groups))
        (classifications_section(&classes))
        (settings_section(&settings))
        (privacy_section(&privacy))
    };
    let mut response = shell("Admin", caller, Nav::Admin, body);
    *response.status_mut() = status;
    if status != StatusCode::OK {
        crate::error::mark_error_body(&mut response);
    }
    Ok(response)
}

fn users_section(consumers: &Value) -> Markup {
    html! {
        h2 id="users" { "Web users" }
        table {
            thead { tr { th scope="col" { "Email" } th scope="col" { "Name" } th scope="col" { "Role" } th scope="col" { "Groups" } th scope="col" { "Apps" } th scope="col" { "Change" } } }
            tbody { @for c in list(consumers, "consumers") {
                @let id = text(&c["id"]);
                tr data-user=(text(&c["email"])) {
                    td { (text(&c["email"])) } td { (text(&c["name"])) } td { (text(&c["role"])) }
                    td { (text(&c["viewableGroups"])) } td { @if c["allowedApps"].is_null() { "all" } @else { (text(&c["allowedApps"])) } }
                    td {
                        form method="post" action={"/ui/admin/users/" (id) "/role"} {
                            label class="visually-hidden" for={"role-" (id)} { "Role of " (text(&c["email"])) }
                            select id={"role-" (id)} name="role" { @for r in ["employee", "viewer", "admin", "superadmin"] { option value=(r) selected[c["role"] == r] { (r) } } }
                            button type="submit" { "Set role" }
                        }
                        form method="post" action={"/ui/admin/users/" (id) "/remove"} { button type="submit" { "Remove" } }
                    }
                }
            } }
        }
        form class="filters" method="post" action="/ui/admin/users" {
            label { "Email" input type="email" name="email" required; }
            label { "Name" input type="text" name="name" required; }
            label { "Role" select name="role" { option value="viewer" { "viewer" } option value="employee" { "employee" } option value="admin" { "admin" } option value="superadmin" { "superadmin" } } }
            label { "Password (for the dashboard)" input type="password" name="password" autocomplete="new-password"; }
            label { "Viewable group ids (-1 = all)" input type="text" name="groups" placeholder="-1"; }
            label { "Allowed app ids (empty = all)" input type="text" name="apps"; }
            button class="primary" type="submit" { "Add user" }
        }
    }
}

fn credentials_section(credentials: &Value, consumers: &Value, apps: &Value) -> Markup {
    html! {
        h2 id="credentials" { "Credentials" }
        table {
            thead { tr { th scope="col" { "Name" } th scope="col" { "Type" } th scope="col" { "Scopes" } th scope="col" { "Created" } th scope="col" { "State" } } }
            tbody { @for c in list(credentials, "credentials") { tr {
                td { (text(&c["name"])) } td { (text(&c["type"])) }
                td { @if c["type"] == "writeKey" { "pushes to app " (text(&c["appId"])) } @else { (c["scopes"].as_array().map(|s| s.iter().map(text).collect::<Vec<_>>().join(" ")).unwrap_or_default()) } }
                td { (text(&c["created"])) " by " (text(&c["createdBy"])) }
                td { @if c["revoked"].is_null() {
                    form method="post" action={"/ui/admin/credentials/" (text(&c["id"])) "/revoke"} { button type="submit" { "Revoke" } }
                } @else { "revoked " (text(&c["revoked"])) } }
            } } }
        }
        form class="filters" method="post" action="/ui/admin/credentials" {
            label { "Name" input type="text" name="name" required; }
            label { "Type" select name="type" { option value="apiKey" { "API key (acts as a web user)" } option value="oauthClient" { "OAuth client" } option value="writeKey" { "Write key (Segment tracking API, one app)" } } }
            label { "Web user (API key)" select name="consumer" {
                option value="" { "—" }
                @for c in list(consumers, "consumers") { option value=(text(&c["id"])) { (text(&c["email"])) } }
            } }
            label { "Scopes (OAuth client, space-separated)" input type="text" name="scopes" placeholder="apps.read report.read"; }
            label { "App (write key)" select name="app" {
                option value="" { "—" }
                @for a in list(apps, "apps") { option value=(text(&a["appId"])) { (text(&a["name"])) } }
            } }
            button class="primary" type="submit" { "Create credential" }
        }
    }
}

fn apps_section(apps: &Value) -> Markup {
    html! {
        h2 id="apps" { "Apps and event definitions" }
        @for a in list(apps, "apps") {
            details {
                // A link inside <summary> would nest two controls (axe: nested-interactive).
                summary { (text(&a["name"])) " · " (text(&a["status"])) " · feature groups: " (a["groups"].as_array().map(|g| g.iter().map(text).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
                p { a href={"/ui/apps/" (text(&a["appId"]))} { "Open " (text(&a["name"])) } }
                table {
                    thead { tr { th scope="col" { "Event" } th scope="col" { "Type" } th scope="col" { "Feature groups" } th scope="col" { "Description" } } }
                    tbody { @for e in list(a, "events") { tr {
                        td { (text(&e["eventName"])) } td { (text(&e["eventType"])) }
                        td { (e["groups"].as_array().map(|g| g.iter().map(text).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
                        td { (text(&e["description"])) }
                    } } }
                }
            }
        }
        form method="post" action="/ui/admin/apps" {
            label for="app-definition" { "Add an app: its definition as the push API takes it (JSON: name, events with groups, licenceTiers)" }
            br;
            textarea id="app-definition" name="definition" rows="6" cols="80" required {
                r#"{"name": "New app", "events": [{"eventName": "login", "eventType": "Login", "groups": ["Sign-in"]}]}"#
            }
            br;
            button class="primary" type="submit" { "Add app" }
        }
    }
}

fn groups_section(groups: &Value) -> Markup {
    html! {
        h2 id="groups" { "Groups" }
        table {
            thead { tr { th scope="col" { "Id" } th scope="col" { "Name" } th scope="col" { "Users" } th scope="col" { "Computers" } th scope="col" { "" } } }
            tbody { @for g in list(groups, "groups") { tr {
                td { (text(&g["id"])) } td { (text(&g["name"])) } td { (text(&g["clients"])) } td { (text(&g["computers"])) }
                td { form method="post" action={"/ui/admin/groups/" (text(&g["id"])) "/remove"} { button type="submit" { "Delete" } } }
            } } }
        }
        form class="filters" method="post" action="/ui/admin/groups" {
            label { "Name" input type="text" name="name" required; }
            label { "User ids" input type="text" name="clients" placeholder="1, 2"; }
            button class="primary" type="submit" { "Add group" }
        }
    }
}

fn classifications_section(classes: &Value) -> Markup {
    let productivity = |v: &Value| match v.as_i64() {
        Some(1) => "productive",
        Some(-1) => "unproductive",
        _ => "undefined",
    };
    html! {
        h2 id="classifications" { "Classifications" }
        table {
            thead { tr { th scope="col" { "Kind" } th scope="col" { "Application or site" } th scope="col" { "Productivity" } } }
            tbody {
                @for a in list(classes, "applications") { tr { td { "application" } td { (text(&a["executable"])) } td { (productivity(&a["productivity"])) } } }
                @for w in list(classes, "websites") { tr { td { "website" } td { (text(&w["domain"])) } td { (productivity(&w["productivity"])) } } }
            }
        }
        form class="filters" method="post" action="/ui/admin/classifications" {
            label { "Kind" select name="kind" { option value="application" { "application (executable)" } option value="website" { "website (domain)" } } }
            label { "Executable or domain" input type="text" name="name" required; }
            label { "Productivity" select name="productivity" { option value="1" { "productive" } option value="-1" { "unproductive" } option value="0" { "undefined" } } }
            button class="primary" type="submit" { "Classify" }
        }
        p class="muted" { "A classification applies to past days at once: working hours are classified when read." }
    }
}

fn settings_section(settings: &Value) -> Markup {
    let s = if settings["settings"].is_object() {
        &settings["settings"]
    } else {
        settings
    };
    html! {
        h2 id="settings" { "Settings" }
        form class="filters" method="post" action="/ui/admin/settings" {
            label { "Time zone" input type="text" name="timeZone" value=(text(&s["timeZone"])) required; }
            label { "Passive limit (minutes, empty = none)" input type="number" min="0" name="passiveLimitMinutes" value=(text(&s["passiveLimitMinutes"])); }
            button class="primary" type="submit" { "Save settings" }
        }
    }
}

/// The capture policy and title retention; redaction rules and group
/// overrides are shown, and changed through the API.
fn privacy_section(privacy: &Value) -> Markup {
    let capture = privacy["capture"].as_str().unwrap_or("domains");
    let choices = [
        ("full", "Full: application, window title and URL"),
        ("domains", "Domains: application and website, no titles"),
        ("apps", "Applications only"),
        ("off", "Off: store no activity"),
    ];
    html! {
        h2 id="privacy" { "Privacy" }
        p class="muted" { "What agents' activity records keep. What the policy drops is never stored; it applies to records received from now on." }
        form class="filters" method="post" action="/ui/admin/privacy" {
            label { "Capture"
                select name="capture" {
                    @for (value, label) in choices {
                        option value=(value) selected[value == capture] { (label) }
                    }
                }
            }
            label { "Keep titles and URLs (days, empty = as long as the activity)"
                input type="number" min="1" max="3650" name="titleRetentionDays" value=(text(&privacy["titleRetentionDays"]));
            }
            button class="primary" type="submit" { "Save privacy policy" }
        }
        p class="muted" {
            (list(privacy, "groupOverrides").len()) " group override(s), "
            (list(privacy, "redaction").len()) " redaction rule(s), built-in redactions: "
            @let builtins: Vec<String> = list(privacy, "builtinRedaction").iter().map(text).collect();
            @if builtins.is_empty() { "none" } @else { (builtins.join(", ")) }
            " (change them with PUT /admin/v1/privacy)."
        }
    }
}

// ---------------------------------------------------------------- changes

/// Runs one change through the API and answers with the page and its outcome.
async fn change(
    state: &AppState,
    caller: &Caller,
    method: Method,
    path: &str,
    body: Option<Value>,
    done: impl FnOnce(Value) -> Notice,
) -> ApiResult<Response> {
    let notice = match api(state, caller, method, path, body).await {
        Ok(v) => done(v),
        Err(e) if e.status.is_server_error() => return Err(e),
        Err(e) => Notice::Failed(e),
    };
    render(state, caller, Some(notice)).await
}

#[derive(Deserialize)]
pub struct NewUserForm {
    email: String,
    name: String,
    role: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    groups: String,
    #[serde(default)]
    apps: String,
}

pub async fn add_user(
    State(state): State<AppState>,
    caller: Caller,
    Form(f): Form<NewUserForm>,
) -> ApiResult<Response> {
    let mut body = json!({"email": f.email, "name": f.name, "role": f.role});
    if !f.password.is_empty() {
        body["password"] = json!(f.password);
    }
    match ids(&f.groups, "groups") {
        Ok(g) if !g.is_empty() => body["viewableGroups"] = json!(g),
        Ok(_) => {}
        Err(e) => return render(&state, &caller, Some(Notice::Failed(e))).await,
    }
    let apps = csv_field(&f.apps);
    if !apps.is_empty() {
        body["allowedApps"] = json!(apps);
    }
    let email = f.email.clone();
    change(
        &state,
        &caller,
        Method::POST,
        "/admin/v1/consumers",
        Some(body),
        |_| Notice::Done(format!("Added {email}.")),
    )
    .await
}

#[derive(Deserialize)]
pub struct RoleForm {
    role: String,
}

pub async fn set_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Form(f): Form<RoleForm>,
) -> ApiResult<Response> {
    let role = f.role.clone();
    change(
        &state,
        &caller,
        Method::PATCH,
        &format!("/admin/v1/consumers/{id}"),
        Some(json!({"role": f.role})),
        |_| {
            Notice::Done(format!(
                "The role is now {role}; a demoted user's sessions have ended."
            ))
        },
    )
    .await
}

pub async fn remove_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    change(
        &state,
        &caller,
        Method::DELETE,
        &format!("/admin/v1/consumers/{id}"),
        None,
        |_| Notice::Done("Removed the user; their credentials and sessions have ended.".into()),
    )
    .await
}

#[derive(Deserialize)]
pub struct CredentialForm {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    consumer: String,
    #[serde(default)]
    scopes: String,
    /// A write key's app.
    #[serde(default)]
    app: String,
}

pub async fn create_credential(
    State(state): State<AppState>,
    caller: Caller,
    Form(f): Form<CredentialForm>,
) -> ApiResult<Response> {
    let mut body = json!({"type": f.kind, "name": f.name});
    if let Ok(id) = f.consumer.trim().parse::<i64>() {
        body["consumerId"] = json!(id);
    }
    let scopes: Vec<&str> = f.scopes.split_whitespace().collect();
    if !scopes.is_empty() {
        body["scopes"] = json!(scopes);
    }
    if f.kind == "writeKey" && !f.app.trim().is_empty() {
        body["appId"] = json!(f.app.trim());
    }
    change(
        &state,
        &caller,
        Method::POST,
        "/admin/v1/credentials",
        Some(body),
        |v| {
            let fields: Vec<(String, String)> = [
                ("API key", "apiKey"),
                ("Client id", "clientId"),
                ("Client secret", "clientSecret"),
                ("Write key", "writeKey"),
            ]
            .iter()
            .filter(|(_, k)| v[*k].is_string())
            .map(|(label, k)| (label.to_string(), text(&v[*k])))
            .collect();
            Notice::Secret("Created the credential.".into(), fields)
        },
    )
    .await
}

pub async fn revoke_credential(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    change(
        &state,
        &caller,
        Method::DELETE,
        &format!("/admin/v1/credentials/{id}"),
        None,
        |_| Notice::Done("Revoked; every server refuses it from now on.".into()),
    )
    .await
}

#[derive(Deserialize)]
pub struct AppForm {
    definition: String,
}

pub async fn add_app(
    State(state): State<AppState>,
    caller: Caller,
    Form(f): Form<AppForm>,
) -> ApiResult<Response> {
    let definition: Value = match serde_json::from_str(&f.definition) {
        Ok(v) => v,
        Err(e) => {
            let e = ApiError::bad_request(format!("the definition is not valid JSON: {e}"));
            return render(&state, &caller, Some(Notice::Failed(e))).await;
        }
    };
    change(
        &state,
        &caller,
        Method::POST,
        "/services/push/v1/customer/apps",
        Some(definition),
        |v| Notice::Done(format!("Added the app {}.", text(&v["appId"]))),
    )
    .await
}

#[derive(Deserialize)]
pub struct GroupForm {
    name: String,
    #[serde(default)]
    clients: String,
}

pub async fn add_group(
    State(state): State<AppState>,
    caller: Caller,
    Form(f): Form<GroupForm>,
) -> ApiResult<Response> {
    let clients = match ids(&f.clients, "clients") {
        Ok(c) => c,
        Err(e) => return render(&state, &caller, Some(Notice::Failed(e))).await,
    };
    let name = f.name.clone();
    change(
        &state,
        &caller,
        Method::POST,
        "/admin/v1/groups",
        Some(json!({"name": f.name, "clients": clients})),
        |_| Notice::Done(format!("Added the group {name}.")),
    )
    .await
}

pub async fn remove_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    change(
        &state,
        &caller,
        Method::DELETE,
        &format!("/admin/v1/groups/{id}"),
        None,
        |_| Notice::Done("Deleted the group.".into()),
    )
    .await
}

#[derive(Deserialize)]
pub struct ClassificationForm {
    kind: String,
    name: String,
    productivity: i8,
}

pub async fn classify(
    State(state): State<AppState>,
    caller: Caller,
    Form(f): Form<ClassificationForm>,
) -> ApiResult<Response> {
    let (list_key, name_key) = match f.kind.as_str() {
        "application" => ("applications", "executable"),
        "website" => ("websites", "domain"),
        other => {
            let e = ApiError::unprocessable(format!(
                "kind must be application or website, got '{other}'"
            ));
            return render(&state, &caller, Some(Notice::Failed(e))).await;
        }
    };
    // The API replaces the whole set: read it, replace or add this one rule, write it.
    let mut set = api(
        &state,
        &caller,
        Method::GET,
        "/admin/v1/classifications",
        None,
    )
    .await?;
    if let Value::Object(m) = &mut set {
        m.remove("success");
    }
    let name = f.name.trim().to_string();
    let rules = set[list_key].as_array().cloned().unwrap_or_default();
    let mut rules: Vec<Value> = rules
        .into_iter()
        .filter(|r| {
            !r[name_key]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(&name))
        })
        .collect();
    rules.push(json!({name_key: name, "productivity": f.productivity}));
    set[list_key] = Value::Array(rules);
    change(
        &state,
        &caller,
        Method::PUT,
        "/admin/v1/classifications",
        Some(set),
        |_| {
            Notice::Done(format!(
                "Classified {name}; working hours of past days follow at once."
            ))
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsForm {
    time_zone: String,
    #[serde(default)]
    passive_limit_minutes: String,
}

pub async fn save_settings(
    State(state): State<AppState>,
    caller: Caller,
    Form(f): Form<SettingsForm>,
) -> ApiResult<Response> {
    let limit = match f.passive_limit_minutes.trim() {
        "" => Value::Null,
        v => match v.parse::<u32>() {
            Ok(n) => json!(n),
            Err(_) => {
                let e = ApiError::unprocessable(format!(
                    "passiveLimitMinutes must be a whole number of minutes, got '{v}'"
                ));
                return render(&state, &caller, Some(Notice::Failed(e))).await;
            }
        },
    };
    change(
        &state,
        &caller,
        Method::PATCH,
        "/admin/v1/settings",
        Some(json!({"timeZone": f.time_zone.trim(), "passiveLimitMinutes": limit})),
        |_| Notice::Done("Saved the settings.".into()),
    )
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivacyForm {
    capture: String,
    #[serde(default)]
    title_retention_days: String,
}

pub async fn save_privacy(
    State(state): State<AppState>,
    caller: Caller,
    Form(f): Form<PrivacyForm>,
) -> ApiResult<Response> {
    let days = match f.title_retention_days.trim() {
        "" => Value::Null,
        v => match v.parse::<u32>() {
            Ok(n) => json!(n),
            Err(_) => {
                let e = ApiError::unprocessable(format!(
                    "titleRetentionDays must be a whole number of days, got '{v}'"
                ));
                return render(&state, &caller, Some(Notice::Failed(e))).await;
            }
        },
    };
    // The API replaces the whole policy: keep its rules and overrides.
    let mut policy = api(&state, &caller, Method::GET, "/admin/v1/privacy", None).await?;
    if let Value::Object(m) = &mut policy {
        m.remove("success");
        m.remove("recordsRedacted");
    }
    policy["capture"] = json!(f.capture.trim());
    policy["titleRetentionDays"] = days;
    change(
        &state,
        &caller,
        Method::PUT,
        "/admin/v1/privacy",
        Some(policy),
        |_| Notice::Done("Saved the privacy policy.".into()),
    )
    .await
}
