//! Administration, audit and credentials: the last superadmin, audit filters and
//! properties, narrowed and self-made API keys, OAuth clients owned by their
//! creator, signed links bound to their credential, and the audit trail of every
//! mutating route (one event when it acts, none when it is refused).

use reqwest::{Method, StatusCode};
use rollcall_core::time;
use rollcall_server::ServerConfig;
use serde_json::{json, Value};

use crate::common::{assert_error, http_client, Account, Client, TestServer};

const HOUR_MS: i64 = 3600 * 1000;
const AUDIT: &str = "/services/pull/v1/customer/audit-events";
/// A report any reader may call.
const HOURS: &str = "/reports/v2/workinghours/users?from=2026-01-01&to=2026-01-02";

fn now_ms() -> i64 {
    rollcall_store::now_ms()
}

/// The audit-events query for the last hour (up to an hour ahead) plus `extra`.
fn audit_query(extra: &str) -> String {
    let start = time::format_ms(now_ms() - HOUR_MS);
    let end = time::format_ms(now_ms() + HOUR_MS);
    format!("{AUDIT}?startTime={start}&endTime={end}{extra}")
}

/// Every audit event of the last hour, following page tokens.
async fn all_events(c: &Client) -> Vec<Value> {
    let mut events = Vec::new();
    let mut token = String::new();
    let range = audit_query("");
    loop {
        // A first call with an empty pageToken, as a client's loop sends it.
        let (status, body) = c.get(&format!("{range}&pageToken={token}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        events.extend(body["events"].as_array().unwrap().iter().cloned());
        match body["nextPageToken"].as_str() {
            Some(next) => token = next.to_string(),
            None => return events,
        }
    }
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["eventType"] == kind).collect()
}

/// The id of the web user with `email`.
async fn consumer_id(c: &Client, email: &str) -> i64 {
    let (status, body) = c.get("/admin/v1/consumers").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .unwrap_or_else(|| panic!("no web user {email} in {body}"))["id"]
        .as_i64()
        .unwrap()
}

async fn create_app(c: &Client, name: &str) -> String {
    let (status, body) = c
        .post(
            "/services/push/v1/customer/apps",
            &json!({"name": name, "events": [{"eventName": "sent", "eventType": "Produce"}],
                    "licenseTiers": [{"name": "Basic", "tier": 0}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["appId"].as_str().unwrap().to_string()
}

async fn create_group(c: &Client, name: &str) -> i64 {
    let (status, body) = c.post("/admin/v1/groups", &json!({"name": name})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["id"].as_i64().unwrap()
}

/// Creates a web user with `role` and returns (id, email).
async fn add_user(c: &Client, role: &str, extra: Value) -> (i64, String) {
    let email = format!(
        "{role}-{}@example.com",
        rollcall_core::secret::random_hex(4)
    );
    let mut body = json!({"email": email, "name": "Someone", "role": role,
                          "password": "correct horse battery"});
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            body[k] = v;
        }
    }
    let (status, reply) = c.post("/admin/v1/consumers", &body).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    (reply["id"].as_i64().unwrap(), email)
}

/// An API key for web user `id` (with `scopes` when given).
async fn key_for(account: &Account, id: i64, scopes: Option<Value>) -> (i64, Client) {
    let mut body = json!({"type": "apiKey", "name": "key", "consumerId": id});
    if let Some(scopes) = scopes {
        body["scopes"] = scopes;
    }
    let (status, reply) = account.client.post("/admin/v1/credentials", &body).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    (
        reply["id"].as_i64().unwrap(),
        Client::new(&account.base, reply["apiKey"].as_str().unwrap()),
    )
}

async fn credential(c: &Client, id: i64) -> Value {
    let (status, body) = c.get("/admin/v1/credentials").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id)
        .cloned()
        .unwrap_or(Value::Null)
}

/// An OAuth access token for a client (status and body of the token endpoint).
async fn token(
    base: &str,
    client_id: &str,
    secret: &str,
    scope: Option<&str>,
) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", secret),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let response = http_client()
        .post(format!("{base}/oauth2/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn record(start_ms: i64) -> Value {
    json!({"start": time::format_ms(start_ms), "duration": 60, "executable": "outlook.exe",
           "description": "Inbox", "url": null, "idle": false})
}

fn agent_batch(computer: &str, user: &str) -> Value {
    json!({
        "computer": {"name": computer, "primaryDomain": "corp", "os": "Windows 11",
                     "timeZone": "UTC", "privateIp": "10.0.0.4", "publicIp": "203.0.113.9"},
        "client": {"loginDomain": "CORP", "name": user},
        "session": 1,
        "records": [record(now_ms() - HOUR_MS)],
    })
}

#[tokio::test]
async fn the_last_superadmin_cannot_be_removed_or_demoted() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let me = consumer_id(c, &account.creds.email).await;
    let before = all_events(c).await.len();

    let (status, body) = c.delete(&format!("/admin/v1/consumers/{me}")).await;
    assert_error(status, &body, StatusCode::CONFLICT);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("last superadmin"),
        "{body}"
    );
    let (status, body) = c
        .patch(
            &format!("/admin/v1/consumers/{me}"),
            &json!({"role": "admin"}),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT);
    // Refused: nothing changed, nothing recorded, the key still administers.
    assert_eq!(all_events(c).await.len(), before);
    let (status, body) = c.get(&format!("/admin/v1/consumers/{me}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["consumer"]["role"], "superadmin");

    // With a second superadmin, the first may step down; then the second is the last.
    let (other, _) = add_user(c, "superadmin", json!({})).await;
    let (status, body) = c
        .patch(
            &format!("/admin/v1/consumers/{me}"),
            &json!({"role": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = c.delete(&format!("/admin/v1/consumers/{other}")).await;
    assert_error(status, &body, StatusCode::CONFLICT);
    // Demoting a superadmin while another remains (and removing a plain admin) works.
    let (status, body) = c
        .patch(
            &format!("/admin/v1/consumers/{me}"),
            &json!({"role": "superadmin"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = c.delete(&format!("/admin/v1/consumers/{other}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn two_superadmins_demoted_at_once_leave_one() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let me = consumer_id(c, &account.creds.email).await;
    let (other, _) = add_user(c, "superadmin", json!({})).await;
    // An admin (not superadmin) demotes both at once: each alone is allowed,
    // together they would leave nobody.
    let (admin_id, _) = add_user(c, "admin", json!({})).await;
    let (_, admin) = key_for(&account, admin_id, None).await;
    let (other_path, my_path) = (
        format!("/admin/v1/consumers/{other}"),
        format!("/admin/v1/consumers/{me}"),
    );
    let viewer = json!({"role": "viewer"});
    let demote_other = admin.patch(&other_path, &viewer);
    let demote_me = admin.patch(&my_path, &viewer);
    let ((a, body_a), (b, body_b)) = tokio::join!(demote_other, demote_me);
    let mut statuses = [a, b];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{body_a} {body_b}"
    );
    let (_, users) = admin.get("/admin/v1/consumers").await;
    let superadmins = users["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["role"] == "superadmin")
        .count();
    assert_eq!(superadmins, 1, "{users}");
}

#[tokio::test]
async fn audit_events_filter_by_type_and_user_page_by_size_and_show_milliseconds() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let (admin_id, admin_email) = add_user(c, "admin", json!({})).await;
    let (_, admin) = key_for(&account, admin_id, None).await;
    for i in 0..3 {
        add_user(&admin, "viewer", json!({"name": format!("V{i}")})).await;
    }
    add_user(c, "viewer", json!({})).await;

    // Every ts has milliseconds, so string order is time order.
    let events = all_events(c).await;
    for e in &events {
        let ts = e["ts"].as_str().unwrap();
        assert_eq!(ts.len(), "2026-11-20T08:01:12.000Z".len(), "{ts}");
        assert!(ts.ends_with('Z') && ts.as_bytes()[19] == b'.', "{ts}");
    }

    let (status, body) = c.get(&audit_query("&eventType=AdminAddedUser")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let added = body["events"].as_array().unwrap();
    // The superadmin (admin init), the admin, three viewers by the admin, one more.
    assert_eq!(added.len(), 6, "{body}");
    assert!(added.iter().all(|e| e["eventType"] == "AdminAddedUser"));

    let by_admin = format!("&userId={}", admin_email.to_uppercase());
    let (status, body) = c.get(&audit_query(&by_admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let acted = body["events"].as_array().unwrap();
    assert_eq!(acted.len(), 3, "{body}");
    assert!(acted.iter().all(|e| e["userId"] == admin_email.as_str()));

    // pageSize pages; the token keeps the filters and refuses others.
    let query = audit_query("&eventType=AdminAddedUser&pageSize=4");
    let (status, first) = c.get(&query).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["events"].as_array().unwrap().len(), 4);
    let next = first["nextPageToken"].as_str().expect("more").to_string();
    let (status, second) = c.get(&format!("{query}&pageToken={next}")).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["events"].as_array().unwrap().len(), 2);
    assert!(second.get("nextPageToken").is_none(), "{second}");
    let other_filter = query.replace("AdminAddedUser", "LoggedIn");
    let (status, body) = c.get(&format!("{other_filter}&pageToken={next}")).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap().contains("eventType"),
        "{body}"
    );
    let (status, body) = c.get(&audit_query("&eventType=AdminAddedUsers")).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("AdminAddedUser,"),
        "{body}"
    );
    for bad in ["0", "501", "ten", "-1"] {
        let (status, body) = c.get(&audit_query(&format!("&pageSize={bad}"))).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST);
        assert!(
            body["message"].as_str().unwrap().contains("pageSize"),
            "{body}"
        );
    }
    let (status, body) = c.get(&audit_query("&pageSize=500")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn audit_events_are_for_unrestricted_readers_only() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let group = create_group(c, "Sales").await;
    let app = create_app(c, "Mail").await;
    let (_, grouped) = account
        .user_with_key("viewer", json!({"viewableGroups": [group]}))
        .await;
    let (_, app_limited) = account
        .user_with_key("viewer", json!({"allowedApps": [app]}))
        .await;
    let (_, everything) = account.user_with_key("viewer", json!({})).await;
    for restricted in [&grouped, &app_limited] {
        let (status, body) = restricted.get(&audit_query("")).await;
        assert_error(status, &body, StatusCode::FORBIDDEN);
    }
    let (status, body) = everything.get(&audit_query("")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn viewable_groups_and_allowed_apps_must_exist() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let group = create_group(c, "Sales").await;
    let app = create_app(c, "Mail").await;
    let other = server.account().await;
    let foreign_group = create_group(&other.client, "Theirs").await;
    let before = all_events(c).await.len();

    let (status, body) = c
        .post(
            "/admin/v1/consumers",
            &json!({"email": "v@example.com", "name": "V", "role": "viewer",
                    "viewableGroups": [group, 999_999, foreign_group], "allowedApps": [app, "nope"]}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 3, "{body}");
    assert_eq!(errors[0]["field"], "viewableGroups");
    assert_eq!(errors[0]["index"], 1);
    assert_eq!(
        errors[1]["index"], 2,
        "another account's group does not exist here"
    );
    assert_eq!(errors[2]["field"], "allowedApps");
    assert!(errors[2]["message"].as_str().unwrap().contains("nope"));

    let (id, _) = add_user(
        c,
        "viewer",
        json!({"viewableGroups": [group], "allowedApps": [app]}),
    )
    .await;
    let after_add = all_events(c).await.len();
    assert_eq!(after_add, before + 1);
    for patch in [
        json!({"viewableGroups": [12345]}),
        json!({"allowedApps": ["gone"]}),
    ] {
        let (status, body) = c.patch(&format!("/admin/v1/consumers/{id}"), &patch).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(
        all_events(c).await.len(),
        after_add,
        "refused changes leave no event"
    );
    let (_, body) = c.get(&format!("/admin/v1/consumers/{id}")).await;
    assert_eq!(body["consumer"]["viewableGroups"], json!([group]));
}

#[tokio::test]
async fn api_keys_can_be_narrowed_and_web_users_make_their_own() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let (agent_user, agent_email) = add_user(c, "admin", json!({})).await;

    // An agent-only key: it pushes activity and nothing else.
    let (agent_key_id, agent) =
        key_for(&account, agent_user, Some(json!(["activity.write"]))).await;
    let (status, body) = agent
        .post("/agent/v1/activity", &agent_batch("LT-1", "ana"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for path in ["/admin/v1/consumers", HOURS] {
        let (status, body) = agent.get(path).await;
        assert_error(status, &body, StatusCode::FORBIDDEN);
    }
    assert_eq!(
        credential(c, agent_key_id).await["scopes"],
        json!(["activity.write"])
    );
    // It cannot mint itself a wider key.
    let (status, body) = agent
        .post(
            "/admin/v1/credentials",
            &json!({"type": "apiKey", "name": "wider"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let minted = Client::new(&account.base, body["apiKey"].as_str().unwrap());
    let (status, body) = minted.get("/admin/v1/consumers").await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = agent
        .post(
            "/admin/v1/credentials",
            &json!({"type": "apiKey", "name": "admin", "scopes": ["admin"]}),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);

    // A viewer makes their own key (read scopes only), not one for anybody else.
    let (viewer_id, viewer) = account.user_with_key("viewer", json!({})).await;
    let (status, body) = viewer
        .post(
            "/admin/v1/credentials",
            &json!({"type": "apiKey", "name": "mine"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let own_id = body["id"].as_i64().unwrap();
    let own = Client::new(&account.base, body["apiKey"].as_str().unwrap());
    let (status, body) = own.get(HOURS).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        credential(c, own_id).await["scopes"],
        json!(["report.read", "apps.read", "users.read"])
    );
    assert_eq!(credential(c, own_id).await["consumerId"], viewer_id);
    let (status, body) = viewer
        .post(
            "/admin/v1/credentials",
            &json!({"type": "apiKey", "name": "push", "scopes": ["connector.write"]}),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = viewer
        .post(
            "/admin/v1/credentials",
            &json!({"type": "apiKey", "name": "theirs", "consumerId": agent_user}),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = viewer
        .post(
            "/admin/v1/credentials",
            &json!({"type": "oauthClient", "name": "c", "scopes": ["report.read"]}),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    // The viewer lists and revokes only their own keys.
    let (status, body) = viewer.get("/admin/v1/credentials").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed = body["credentials"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{body}");
    assert!(listed.iter().all(|k| k["consumerId"] == viewer_id));
    let (status, body) = viewer
        .delete(&format!("/admin/v1/credentials/{agent_key_id}"))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = viewer
        .delete(&format!("/admin/v1/credentials/{own_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = own.get(HOURS).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Another account's admin can neither see nor revoke this account's keys.
    let other = server.account().await;
    let (status, body) = other
        .client
        .delete(&format!("/admin/v1/credentials/{agent_key_id}"))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = other.client.get("/admin/v1/credentials").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k["id"] != agent_key_id));
    let (status, body) = agent
        .post("/agent/v1/activity", &agent_batch("LT-1", "ana"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // An admin may not give a viewer's key more than the viewer's role.
    let (status, body) = c
        .post(
            "/admin/v1/credentials",
            &json!({"type": "apiKey", "name": "x", "consumerId": viewer_id, "scopes": ["admin"]}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = c
        .post(
            "/admin/v1/credentials",
            &json!({"type": "apiKey", "name": "x", "consumerId": viewer_id, "scopes": ["warp.drive"]}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);

    // The audit event carries the real scopes, who the key acts as, who made it
    // and with which credential.
    let events = all_events(c).await;
    let created = of_type(&events, "CredentialCreated");
    let agent_created = created
        .iter()
        .find(|e| e["eventProperties"]["credentialId"] == agent_key_id)
        .unwrap();
    assert_eq!(
        agent_created["eventProperties"]["scopes"],
        json!(["activity.write"])
    );
    assert_eq!(
        agent_created["eventProperties"]["actsAs"],
        agent_email.as_str()
    );
    assert_eq!(agent_created["userId"], account.creds.email.as_str());
    assert!(agent_created["eventProperties"]["actorCredentialId"].is_i64());
    let own_created = created
        .iter()
        .find(|e| e["eventProperties"]["credentialId"] == own_id)
        .unwrap();
    assert_eq!(
        own_created["eventProperties"]["scopes"],
        json!(["report.read", "apps.read", "users.read"])
    );
    assert_ne!(own_created["userId"], account.creds.email.as_str());
}

#[tokio::test]
async fn oauth_clients_belong_to_their_creator_and_end_with_them() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = create_app(c, "Mail").await;
    let (owner_id, owner_email) = add_user(c, "admin", json!({})).await;
    let (_, owner) = key_for(&account, owner_id, None).await;
    let (status, body) = owner
        .post(
            "/admin/v1/credentials",
            &json!({"type": "oauthClient", "name": "hr sync",
                    "scopes": ["connector.write", "report.read"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let client_id = body["clientId"].as_str().unwrap().to_string();
    let secret = body["clientSecret"].as_str().unwrap().to_string();
    let events_path = format!("/services/push/v1/customer/apps/{app}/events");
    let event = json!({"events": [{"timestamp": now_ms() - HOUR_MS, "email": "a@corp.com", "eventName": "sent"}]});

    let (status, body) = token(&server.base, &client_id, &secret, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bearer = Client::new(&server.base, body["access_token"].as_str().unwrap());
    let (status, body) = bearer.post(&events_path, &event).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A program's token is not its owner's own key: it neither makes nor sees
    // the owner's API keys.
    let (status, body) = bearer
        .post(
            "/admin/v1/credentials",
            &json!({"type": "apiKey", "name": "k"}),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = bearer.get("/admin/v1/credentials").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["credentials"], json!([]));

    // Demoted to viewer: the client keeps only what a viewer may do.
    let (status, body) = c
        .patch(
            &format!("/admin/v1/consumers/{owner_id}"),
            &json!({"role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = bearer.post(&events_path, &event).await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = bearer.get(HOURS).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = token(&server.base, &client_id, &secret, Some("connector.write")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_scope");
    let (status, body) = token(&server.base, &client_id, &secret, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "report.read");
    let (status, listed) = c.get("/admin/v1/credentials").await;
    assert_eq!(status, StatusCode::OK);
    let listed = listed["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["clientId"] == client_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(listed["scopes"], json!(["report.read"]));
    assert_eq!(listed["createdBy"], owner_email.as_str());

    // Removed: the client and its tokens stop at once; a key the owner made for
    // another web user keeps working (it acts as that user).
    let (status, body) = c
        .patch(
            &format!("/admin/v1/consumers/{owner_id}"),
            &json!({"role": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (someone, _) = add_user(c, "viewer", json!({})).await;
    let (status, body) = owner
        .post(
            "/admin/v1/credentials",
            &json!({"type": "apiKey", "name": "for someone", "consumerId": someone}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let theirs = Client::new(&server.base, body["apiKey"].as_str().unwrap());
    let (status, body) = c.delete(&format!("/admin/v1/consumers/{owner_id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = bearer.get(HOURS).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = token(&server.base, &client_id, &secret, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_client");
    let (status, body) = theirs.get(HOURS).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn signed_links_use_the_public_url_and_die_with_their_credential() {
    let server = TestServer::start_with(ServerConfig {
        public_url: Some("https://rollcall.example.test".into()),
        ..ServerConfig::default()
    })
    .await;
    let account = server.account().await;
    let c = &account.client;
    let (status, body) = c
        .send(
            c.request(Method::POST, "/services/push/v1/customer/org-chart/csv")
                .header("content-type", "text/csv")
                .body("email,firstName\nana@corp.com,Ana\n"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (reader_id, reader_email) = add_user(c, "viewer", json!({})).await;
    let (reader_key, reader) = key_for(&account, reader_id, None).await;

    // A forged Host does not change where the link points.
    let (status, body) = reader
        .send(
            reader
                .request(Method::GET, "/services/push/v1/customer/org-chart")
                .header("host", "evil.example"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = body["downloadUrl"].as_str().unwrap().to_string();
    let path = url
        .strip_prefix("https://rollcall.example.test")
        .unwrap_or_else(|| panic!("{url}"));
    let local = format!("{}{path}", server.base);
    let response = http_client().get(&local).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let events = all_events(c).await;
    let downloads = of_type(&events, "DownloadedOrgData");
    assert_eq!(downloads.len(), 1);
    assert_eq!(downloads[0]["userId"], reader_email.as_str());
    assert_eq!(
        downloads[0]["eventProperties"]["actorCredentialId"],
        reader_key
    );

    // Revoking the credential that asked for the link kills the link.
    let (status, body) = c
        .delete(&format!("/admin/v1/credentials/{reader_key}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let response = http_client().get(&local).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("revoked"),
        "{body}"
    );
    let events = all_events(c).await;
    assert_eq!(
        of_type(&events, "DownloadedOrgData").len(),
        1,
        "a refused download is not recorded"
    );
}

/// Walks mutating routes: each call that acts must write exactly one audit event
/// of its type (and no other), each refused call none.
struct Trail<'a> {
    c: &'a Client,
    seen: usize,
}

impl<'a> Trail<'a> {
    async fn start(c: &'a Client) -> Trail<'a> {
        let seen = all_events(c).await.len();
        Trail { c, seen }
    }

    /// The call succeeded and wrote one event of `kind`; returns the event.
    async fn one(&mut self, route: &str, kind: &str, (status, body): (StatusCode, Value)) -> Value {
        assert!(status.is_success(), "{route}: {status} {body}");
        let events = all_events(self.c).await;
        assert_eq!(
            events.len(),
            self.seen + 1,
            "{route} must write exactly one event: {:#?}",
            &events[self.seen..]
        );
        self.seen = events.len();
        let event = events.last().unwrap().clone();
        assert_eq!(event["eventType"], kind, "{route}: {event}");
        event
    }

    /// The call succeeded but changed nothing, so it wrote nothing.
    async fn unchanged(&mut self, route: &str, (status, body): (StatusCode, Value)) {
        assert!(status.is_success(), "{route}: {status} {body}");
        let events = all_events(self.c).await;
        assert_eq!(
            events.len(),
            self.seen,
            "{route} changed nothing and must write nothing: {:#?}",
            &events[self.seen..]
        );
    }

    /// The call was refused and recorded only its refusal, one event of `kind`
    /// written off the request path (a failed login's `LoginFailed`, SPEC §13).
    async fn refused_and_recorded(
        &mut self,
        route: &str,
        kind: &str,
        (status, body): (StatusCode, Value),
    ) {
        assert!(
            status.is_client_error(),
            "{route} must be refused: {status} {body}"
        );
        for _ in 0..100 {
            let events = all_events(self.c).await;
            if events.len() > self.seen {
                assert_eq!(
                    events.len(),
                    self.seen + 1,
                    "{route}: {:#?}",
                    &events[self.seen..]
                );
                assert_eq!(events[self.seen]["eventType"], kind, "{route}");
                self.seen = events.len();
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{route}: no {kind} event within 5 s");
    }

    /// The call was refused and wrote nothing.
    async fn none(&mut self, route: &str, (status, body): (StatusCode, Value)) {
        assert!(
            status.is_client_error(),
            "{route} must be refused: {status} {body}"
        );
        assert_eq!(body["success"], false, "{route}: {body}");
        let events = all_events(self.c).await;
        assert_eq!(
            events.len(),
            self.seen,
            "{route} refused must write nothing: {:#?}",
            &events[self.seen..]
        );
    }
}

async fn raw(
    c: &Client,
    method: Method,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    c.send(
        c.request(method, path)
            .header("content-type", content_type)
            .body(body),
    )
    .await
}

async fn login(base: &str, email: &str, password: &str) -> (StatusCode, Value) {
    let response = http_client()
        .post(format!("{base}/ui/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
      2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n\
      trailer << /Root 1 0 R >>\n%%EOF\n"
        .to_vec()
}

#[tokio::test]
async fn every_mutating_route_writes_one_audit_event_and_a_refused_call_none() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let mut t = Trail::start(c).await;

    // Web users.
    let email = "dana@example.com";
    t.none(
        "POST consumers",
        c.post(
            "/admin/v1/consumers",
            &json!({"email": "x", "name": "X", "role": "viewer"}),
        )
        .await,
    )
    .await;
    let added = t
        .one(
            "POST consumers",
            "AdminAddedUser",
            c.post(
                "/admin/v1/consumers",
                &json!({"email": email, "name": "Dana", "role": "viewer",
                                                  "password": "correct horse battery"}),
            )
            .await,
        )
        .await;
    assert_eq!(added["eventProperties"]["provisionedUserId"], email);
    let dana = consumer_id(c, email).await;
    let user = format!("/admin/v1/consumers/{dana}");
    t.none(
        "PATCH consumer role",
        c.patch(&user, &json!({"role": "king"})).await,
    )
    .await;
    let role = t
        .one(
            "PATCH consumer role",
            "AdminUpdatedUserRole",
            c.patch(&user, &json!({"role": "admin"})).await,
        )
        .await;
    assert_eq!(
        role["eventProperties"]["changes"]["role"],
        json!({"old": "viewer", "new": "admin"})
    );
    t.none(
        "PATCH consumer name",
        c.patch(&user, &json!({"name": ""})).await,
    )
    .await;
    let renamed = t
        .one(
            "PATCH consumer name",
            "UserUpdated",
            c.patch(&user, &json!({"name": "Dana Scully"})).await,
        )
        .await;
    assert_eq!(
        renamed["eventProperties"]["changes"]["name"],
        json!({"old": "Dana", "new": "Dana Scully"})
    );
    t.none(
        "PATCH consumer password",
        c.patch(&user, &json!({"password": "short"})).await,
    )
    .await;
    let password = t
        .one(
            "PATCH consumer password",
            "UserUpdated",
            c.patch(&user, &json!({"password": "another good passphrase"}))
                .await,
        )
        .await;
    assert_eq!(password["eventProperties"]["passwordChanged"], true);
    assert!(!password.to_string().contains("another good passphrase"));

    // Logins.
    t.refused_and_recorded(
        "POST /ui/login",
        "LoginFailed",
        login(&server.base, email, "wrong wrong wrong").await,
    )
    .await;
    let logged = t
        .one(
            "POST /ui/login",
            "LoggedIn",
            login(&server.base, email, "another good passphrase").await,
        )
        .await;
    assert_eq!(logged["userId"], email);

    // Credentials.
    t.none(
        "POST credentials",
        c.post(
            "/admin/v1/credentials",
            &json!({"type": "apiKey", "name": "k", "consumerId": 987654}),
        )
        .await,
    )
    .await;
    let created = t
        .one(
            "POST credentials",
            "CredentialCreated",
            c.post(
                "/admin/v1/credentials",
                &json!({"type": "apiKey", "name": "k", "consumerId": dana}),
            )
            .await,
        )
        .await;
    assert_eq!(created["eventProperties"]["actsAs"], email);
    assert_eq!(created["eventProperties"]["consumerId"], dana);
    let key = created["eventProperties"]["credentialId"].as_i64().unwrap();
    t.none(
        "DELETE credential",
        c.delete("/admin/v1/credentials/987654").await,
    )
    .await;
    t.one(
        "DELETE credential",
        "CredentialRevoked",
        c.delete(&format!("/admin/v1/credentials/{key}")).await,
    )
    .await;
    t.none(
        "DELETE credential twice",
        c.delete(&format!("/admin/v1/credentials/{key}")).await,
    )
    .await;

    // Settings and classifications: old and new values.
    t.none(
        "PATCH settings",
        c.patch("/admin/v1/settings", &json!({"timeZone": "Mars/Olympus"}))
            .await,
    )
    .await;
    let settings = t
        .one(
            "PATCH settings",
            "SettingsChanged",
            c.patch("/admin/v1/settings", &json!({"timeZone": "Europe/Berlin"}))
                .await,
        )
        .await;
    assert_eq!(
        settings["eventProperties"]["timeZone"],
        json!({"old": "UTC", "new": "Europe/Berlin"})
    );
    t.unchanged(
        "PATCH settings to what they are",
        c.patch("/admin/v1/settings", &json!({"timeZone": "Europe/Berlin"}))
            .await,
    )
    .await;
    t.unchanged(
        "PATCH consumer to what it is",
        c.patch(&user, &json!({"role": "admin", "name": "Dana Scully"}))
            .await,
    )
    .await;
    let classes = "/admin/v1/classifications";
    t.none(
        "PUT classifications",
        c.put(
            classes,
            &json!({"applications": [{"executable": "outlook.exe", "productivity": 5}]}),
        )
        .await,
    )
    .await;
    t.one(
        "PUT classifications",
        "ClassificationChanged",
        c.put(
            classes,
            &json!({"applications": [{"executable": "outlook.exe", "productivity": 1}]}),
        )
        .await,
    )
    .await;
    let changed = t
        .one(
            "PUT classifications",
            "ClassificationChanged",
            c.put(
                classes,
                &json!({"applications": [{"executable": "outlook.exe", "productivity": -1}],
                                   "websites": [{"domain": "youtube.com", "productivity": -1}]}),
            )
            .await,
        )
        .await;
    assert_eq!(
        changed["eventProperties"]["applications"],
        json!([{"executable": "outlook.exe", "old": 1, "new": -1}])
    );
    assert_eq!(
        changed["eventProperties"]["websites"],
        json!([{"domain": "youtube.com", "old": null, "new": -1}])
    );

    // Tracked logins and computers (made by an agent push, which is data, not audited).
    let (status, body) = c
        .post("/agent/v1/activity", &agent_batch("LT-042", "jdoe"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, clients) = c.get("/admin/v1/clients").await;
    let client = clients["clients"][0]["id"].as_i64().expect("a client");
    let (_, computers) = c.get("/admin/v1/computers").await;
    let computer = computers["computers"][0]["id"]
        .as_i64()
        .expect("a computer");
    t.none(
        "PATCH client",
        c.patch("/admin/v1/clients/987654", &json!({"alias": "John"}))
            .await,
    )
    .await;
    let aliased = t
        .one(
            "PATCH client",
            "ClientUpdated",
            c.patch(
                &format!("/admin/v1/clients/{client}"),
                &json!({"alias": "John"}),
            )
            .await,
        )
        .await;
    assert_eq!(
        aliased["eventProperties"]["changes"]["alias"],
        json!({"old": null, "new": "John"})
    );
    t.none(
        "PATCH computer",
        c.patch("/admin/v1/computers/987654", &json!({"alias": "Laptop"}))
            .await,
    )
    .await;
    t.one(
        "PATCH computer",
        "ComputerUpdated",
        c.patch(
            &format!("/admin/v1/computers/{computer}"),
            &json!({"alias": "Laptop"}),
        )
        .await,
    )
    .await;

    // Groups.
    t.none(
        "POST groups",
        c.post("/admin/v1/groups", &json!({"name": ""})).await,
    )
    .await;
    let group = t
        .one(
            "POST groups",
            "GroupChanged",
            c.post(
                "/admin/v1/groups",
                &json!({"name": "Sales", "clients": [client]}),
            )
            .await,
        )
        .await;
    let group = group["eventProperties"]["groupId"].as_i64().unwrap();
    t.none(
        "PATCH group",
        c.patch("/admin/v1/groups/987654", &json!({"name": "X"}))
            .await,
    )
    .await;
    t.one(
        "PATCH group",
        "GroupChanged",
        c.patch(
            &format!("/admin/v1/groups/{group}"),
            &json!({"name": "Sales EU"}),
        )
        .await,
    )
    .await;
    t.none("DELETE group", c.delete("/admin/v1/groups/987654").await)
        .await;
    t.one(
        "DELETE group",
        "GroupChanged",
        c.delete(&format!("/admin/v1/groups/{group}")).await,
    )
    .await;

    // Apps.
    let apps = "/services/push/v1/customer/apps";
    t.none("POST apps", c.post(apps, &json!({"name": ""})).await)
        .await;
    let connected = t
        .one(
            "POST apps",
            "AppConnected",
            c.post(
                apps,
                &json!({"name": "Mail", "events": [{"eventName": "sent", "eventType": "Produce"}]}),
            )
            .await,
        )
        .await;
    let app = connected["eventProperties"]["appId"]
        .as_str()
        .unwrap()
        .to_string();
    let app_path = format!("{apps}/{app}");
    t.none(
        "PUT app",
        c.put(&app_path, &json!({"name": "Mail", "events": "nope"}))
            .await,
    )
    .await;
    t.one(
        "PUT app",
        "AppUpdated",
        c.put(&app_path, &json!({"name": "Mail", "events": [{"eventName": "sent", "eventType": "Produce"},
                                                            {"eventName": "read", "eventType": "Consume"}]}))
            .await,
    )
    .await;

    // Money: CSV uploads, a contract file, and their downloads.
    let spend = "/services/push/v1/customer/spend/csv";
    t.none(
        "POST spend csv",
        raw(
            c,
            Method::POST,
            spend,
            "text/csv",
            b"signatureId,appId\n".to_vec(),
        )
        .await,
    )
    .await;
    let upload = format!("signatureId,appId,created,amount,currency,type\ninv-1,{app},1767225600000,10,USD,invoice\n");
    t.one(
        "POST spend csv",
        "UploadedSpendCsv",
        raw(c, Method::POST, spend, "text/csv", upload.into_bytes()).await,
    )
    .await;
    let contracts = "/services/push/v1/customer/contracts/csv";
    t.none(
        "POST contracts csv",
        raw(
            c,
            Method::POST,
            contracts,
            "text/csv",
            b"contractId\n".to_vec(),
        )
        .await,
    )
    .await;
    let upload = format!(
        "contractId,appId,vendor,startDate,endDate,licensesPurchased,annualCost,currency\n\
         c-1,{app},Acme,2026-01-01,2026-12-31,10,1000,USD\n"
    );
    t.one(
        "POST contracts csv",
        "UploadedContractCsv",
        raw(c, Method::POST, contracts, "text/csv", upload.into_bytes()).await,
    )
    .await;
    let files = "/services/push/v1/customer/contracts/c-1/files";
    t.none(
        "POST contract file",
        raw(
            c,
            Method::POST,
            files,
            "application/pdf",
            b"not a pdf".to_vec(),
        )
        .await,
    )
    .await;
    let file = t
        .one(
            "POST contract file",
            "UploadedContractFile",
            raw(c, Method::POST, files, "application/pdf", pdf()).await,
        )
        .await;
    let file_id = file["eventProperties"]["fileId"]
        .as_str()
        .unwrap()
        .to_string();
    // Downloads are recorded once each, by whom.
    let (status, _) = c.send(c.request(Method::GET, spend)).await;
    assert_eq!(status, StatusCode::OK);
    t.seen += 1;
    let (status, _) = c.send(c.request(Method::GET, contracts)).await;
    assert_eq!(status, StatusCode::OK);
    t.seen += 1;
    let (status, _) = c
        .send(c.request(Method::GET, &format!("{files}/{file_id}")))
        .await;
    assert_eq!(status, StatusCode::OK);
    t.seen += 1;
    t.none("GET contract file", c.get(&format!("{files}/nope")).await)
        .await;
    let inactive = format!("/pull/v1/apps/{app}/inactive-users?population=provisioned");
    let response = c
        .request(Method::GET, &inactive)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    t.seen += 1;
    t.none(
        "GET inactive-users csv",
        c.send(
            c.request(Method::GET, "/pull/v1/apps/nope/inactive-users")
                .header("accept", "text/csv"),
        )
        .await,
    )
    .await;
    let events = all_events(c).await;
    for kind in [
        "DownloadedSpendCsv",
        "DownloadedContractCsv",
        "DownloadedContractFile",
        "DownloadedUsersList",
    ] {
        let found = of_type(&events, kind);
        assert_eq!(found.len(), 1, "{kind}");
        assert_eq!(found[0]["userId"], account.creds.email.as_str());
    }

    // The org chart: a CSV, and snapshot parts (recorded once, when it becomes current).
    let org_csv = "/services/push/v1/customer/org-chart/csv";
    t.none(
        "POST org-chart csv",
        raw(
            c,
            Method::POST,
            org_csv,
            "text/csv",
            b"name\nAna\n".to_vec(),
        )
        .await,
    )
    .await;
    t.one(
        "POST org-chart csv",
        "UploadedOrgData",
        raw(
            c,
            Method::POST,
            org_csv,
            "text/csv",
            b"email,firstName\nana@corp.com,Ana\n".to_vec(),
        )
        .await,
    )
    .await;
    let (status, body) = c
        .post(
            "/services/push/v1/customer/org-chart",
            &json!({"orgChartName": "HR"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let part = format!("/services/push/v1/customer/org-chart/{}", body["id"]);
    let (status, body) = c
        .put(
            &part,
            &json!({"hasMore": true, "users": [{"email": "bo@corp.com"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    t.none(
        "PUT org-chart part",
        c.put(
            &part,
            &json!({"hasMore": false, "users": [{"email": "not an email"}]}),
        )
        .await,
    )
    .await;
    t.one(
        "PUT org-chart part",
        "UploadedOrgData",
        c.put(
            &part,
            &json!({"hasMore": false, "users": [{"email": "cy@corp.com"}]}),
        )
        .await,
    )
    .await;

    // Disconnect and remove the app last.
    t.none(
        "POST disconnect",
        c.post(&format!("{apps}/nope/disconnect"), &json!({})).await,
    )
    .await;
    t.one(
        "POST disconnect",
        "AppDisconnected",
        c.post(&format!("{app_path}/disconnect"), &json!({})).await,
    )
    .await;
    t.none("DELETE app", c.delete(&format!("{apps}/nope")).await)
        .await;
    t.one("DELETE app", "AppRemoved", c.delete(&app_path).await)
        .await;

    // Removing the web user, last; a second removal is refused.
    t.one("DELETE consumer", "AdminRemovedUser", c.delete(&user).await)
        .await;
    t.none("DELETE consumer twice", c.delete(&user).await).await;

    // Everything the admin did names the credential that did it.
    let events = all_events(c).await;
    let admin_key = events
        .iter()
        .find(|e| e["eventType"] == "SettingsChanged")
        .unwrap()["eventProperties"]["actorCredentialId"]
        .clone();
    assert!(admin_key.is_i64());
    for e in events
        .iter()
        .filter(|e| e["userId"] == account.creds.email.as_str())
    {
        if e["eventProperties"]["actorCredentialId"].is_null() {
            // Only what `admin init` wrote has no acting credential.
            assert!(
                ["AdminAddedUser", "CredentialCreated"].contains(&e["eventType"].as_str().unwrap()),
                "{e}"
            );
        } else {
            assert_eq!(e["eventProperties"]["actorCredentialId"], admin_key, "{e}");
        }
    }
}
