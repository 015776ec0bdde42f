//! Foundation: credentials, administration, errors, audit, rate limits, TLS,
//! encryption at rest and durability — all through the public HTTP API.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use rollcall_server::ServerConfig;
use serde_json::{json, Value};

use crate::common::{
    assert_error, http_client, spawn_listening, Account, Client, TestDb, TestServer,
};

const DAY_MS: i64 = 24 * 3600 * 1000;

fn now_ms() -> i64 {
    rollcall_store::now_ms()
}

fn iso(ms: i64) -> String {
    rollcall_core::time::format_ms(ms)
}

/// All audit events of the last `days` days up to an hour from now, following page tokens.
async fn all_audit_events(client: &Client, days: i64) -> Vec<Value> {
    let start = iso(now_ms() - days * DAY_MS);
    let end = iso(now_ms() + 3600 * 1000);
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut path =
            format!("/services/pull/v1/customer/audit-events?startTime={start}&endTime={end}");
        if let Some(t) = &token {
            path.push_str(&format!("&pageToken={t}"));
        }
        let (status, body) = client.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        events.extend(body["events"].as_array().unwrap().iter().cloned());
        match body["nextPageToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => return events,
        }
    }
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["eventType"] == kind).collect()
}

async fn token(server: &TestServer, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = http_client()
        .post(format!("{}/oauth2/token", server.base))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn oauth_client(account: &Account, scopes: &[&str]) -> (i64, String, String) {
    let (status, body) = account
        .client
        .post(
            "/admin/v1/credentials",
            &json!({"type": "oauthClient", "name": "sync", "scopes": scopes}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["id"].as_i64().unwrap(),
        body["clientId"].as_str().unwrap().to_string(),
        body["clientSecret"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn oauth_client_credentials_issue_tokens_with_requested_scopes() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let (_, id, secret) = oauth_client(&account, &["report.read", "connector.write"]).await;

    let (status, body) = token(
        &server,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("scope", "https://api.productiv.com/report.read"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "report.read");
    assert_eq!(body["expires_in"], 3600);
    let reader = server.client(body["access_token"].as_str().unwrap());
    let start = iso(now_ms() - DAY_MS);
    let end = iso(now_ms() + DAY_MS);
    let (status, _) = reader
        .get(&format!(
            "/services/pull/v1/customer/audit-events?startTime={start}&endTime={end}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    // The token carries only the scope it asked for.
    let (status, body) = reader.get("/admin/v1/settings").await;
    assert_error(status, &body, StatusCode::FORBIDDEN);

    // HTTP Basic works as client authentication too.
    let response = http_client()
        .post(format!("{}/oauth2/token", server.base))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "connector.write report.read");
}

#[tokio::test]
async fn oauth_errors_use_the_oauth2_error_form() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let (_, id, secret) = oauth_client(&account, &["report.read"]).await;

    let (status, body) = token(
        &server,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", "wrong"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["code"], "401");

    let (status, body) = token(
        &server,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("scope", "admin"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_scope");

    let (status, body) = token(&server, &[("grant_type", "password"), ("client_id", &id)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn expired_access_tokens_are_refused() {
    let server = TestServer::start_with(ServerConfig {
        access_token_ttl: Duration::ZERO,
        ..ServerConfig::default()
    })
    .await;
    let account = server.account().await;
    let (status, body) = token(
        &server,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &account.creds.client_id),
            ("client_secret", &account.creds.client_secret),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let expired = server.client(body["access_token"].as_str().unwrap());
    let (status, body) = expired.get("/admin/v1/settings").await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revoked_credentials_are_refused_at_once() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let (user, key) = account.user_with_key("admin", json!({})).await;
    let (status, _) = key.get("/admin/v1/settings").await;
    assert_eq!(status, StatusCode::OK);

    let (_, creds) = account.client.get("/admin/v1/credentials").await;
    let key_id = creds["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["consumerId"] == user)
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert!(
        creds.to_string().find(&key.secret).is_none(),
        "secrets are never listed"
    );
    let (status, _) = account
        .client
        .delete(&format!("/admin/v1/credentials/{key_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = key.get("/admin/v1/settings").await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);

    // Revoking an OAuth client kills the access tokens it already issued.
    let (client_cred, id, secret) = oauth_client(&account, &["admin"]).await;
    let (_, body) = token(
        &server,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ],
    )
    .await;
    let bearer = server.client(body["access_token"].as_str().unwrap());
    assert_eq!(bearer.get("/admin/v1/settings").await.0, StatusCode::OK);
    account
        .client
        .delete(&format!("/admin/v1/credentials/{client_cred}"))
        .await;
    assert_eq!(
        bearer.get("/admin/v1/settings").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = token(
        &server,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");

    // Removing a web user revokes their keys.
    let (user, key) = account.user_with_key("viewer", json!({})).await;
    account
        .client
        .delete(&format!("/admin/v1/consumers/{user}"))
        .await;
    assert_eq!(
        key.get("/admin/v1/consumers").await.0,
        StatusCode::UNAUTHORIZED
    );

    let events = all_audit_events(&account.client, 1).await;
    assert_eq!(of_type(&events, "CredentialRevoked").len(), 2);
}

#[tokio::test]
async fn missing_or_unknown_credentials_get_401_and_viewers_lack_admin_scope() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let anonymous = http_client();
    let response = anonymous
        .get(format!("{}/admin/v1/settings", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let (status, body) = server
        .client("rk_not-a-key")
        .get("/admin/v1/settings")
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);

    // x-api-key works as well as Bearer.
    let response = anonymous
        .get(format!("{}/admin/v1/settings", server.base))
        .header("x-api-key", &account.creds.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let (_, viewer) = account.user_with_key("viewer", json!({})).await;
    let (status, body) = viewer.get("/admin/v1/consumers").await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = viewer
        .post(
            "/admin/v1/consumers",
            &json!({"email": "x@y.z", "name": "X", "role": "admin"}),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn another_accounts_credentials_see_nothing_of_this_account() {
    let server = TestServer::start().await;
    let a = server.account().await;
    let b = server.account().await;
    let (a_user, _) = a.user_with_key("viewer", json!({})).await;
    let (_, a_creds) = a.client.get("/admin/v1/credentials").await;
    let a_cred = a_creds["credentials"][0]["id"].as_i64().unwrap();

    let (status, body) = b.client.get(&format!("/admin/v1/consumers/{a_user}")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = b
        .client
        .patch(
            &format!("/admin/v1/consumers/{a_user}"),
            &json!({"role": "admin"}),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = b
        .client
        .delete(&format!("/admin/v1/consumers/{a_user}"))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = b
        .client
        .delete(&format!("/admin/v1/credentials/{a_cred}"))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);

    let (_, b_users) = b.client.get("/admin/v1/consumers").await;
    let emails: Vec<&str> = b_users["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, vec![b.creds.email.as_str()]);

    let a_events = all_audit_events(&a.client, 1).await;
    let b_events = all_audit_events(&b.client, 1).await;
    let a_ids: HashSet<&str> = a_events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert!(b_events
        .iter()
        .all(|e| !a_ids.contains(e["id"].as_str().unwrap())));
    assert!(b_events
        .iter()
        .all(|e| e["userId"] == b.creds.email.as_str()));
    // A's user is still there.
    assert_eq!(
        a.client
            .get(&format!("/admin/v1/consumers/{a_user}"))
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn administration_of_web_users_is_audited_with_the_seeds_properties() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let (status, app) = account
        .client
        .post(
            "/services/push/v1/customer/apps",
            &json!({"name": "Mail", "events": [{"eventName": "sent", "eventType": "Produce"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{app}");
    let mail = app["appId"].as_str().unwrap().to_string();
    let (status, body) = account
        .client
        .post(
            "/admin/v1/consumers",
            &json!({"email": "Ana@Example.com", "name": "Ana Diaz", "role": "viewer",
                    "password": "correct horse battery", "viewableGroups": [-1], "allowedApps": [mail]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["id"].as_i64().unwrap();
    let (status, body) = account
        .client
        .post(
            "/admin/v1/consumers",
            &json!({"email": "ana@example.com", "name": "Twin", "role": "viewer"}),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT);
    let (status, body) = account
        .client
        .post(
            "/admin/v1/consumers",
            &json!({"email": "nope", "name": "", "role": "king"}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"].as_array().unwrap().len(), 3, "{body}");

    let (status, _) = account
        .client
        .patch(
            &format!("/admin/v1/consumers/{id}"),
            &json!({"role": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, listed) = account
        .client
        .get("/admin/v1/consumers?includeViewableGroups=true")
        .await;
    let ana = listed["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()
        .clone();
    assert_eq!(ana["email"], "ana@example.com");
    assert_eq!(ana["role"], "admin");
    assert_eq!(ana["viewableGroups"], json!([-1]));

    // Login with the password records LoggedIn; a wrong password does not.
    let http = http_client();
    let ok = http
        .post(format!("{}/ui/login", server.base))
        .json(&json!({"email": "ANA@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let bad = http
        .post(format!("{}/ui/login", server.base))
        .json(&json!({"email": "ana@example.com", "password": "wrong password!!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);

    let (status, _) = account
        .client
        .delete(&format!("/admin/v1/consumers/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK);

    let events = all_audit_events(&account.client, 1).await;
    let added = of_type(&events, "AdminAddedUser");
    let ana_added = added
        .iter()
        .find(|e| e["eventProperties"]["provisionedUserId"] == "ana@example.com")
        .unwrap();
    assert_eq!(ana_added["eventProperties"]["roles"], json!(["viewer"]));
    assert_eq!(ana_added["eventProperties"]["allowedApps"], json!([mail]));
    assert_eq!(ana_added["userId"], account.creds.email.as_str());
    let role = of_type(&events, "AdminUpdatedUserRole");
    assert_eq!(role.len(), 1);
    assert_eq!(role[0]["eventProperties"]["roles"], json!(["admin"]));
    let removed = of_type(&events, "AdminRemovedUser");
    assert_eq!(
        removed[0]["eventProperties"]["deprovisionedUserId"],
        "ana@example.com"
    );
    let logins = of_type(&events, "LoggedIn");
    assert_eq!(logins.len(), 1);
    assert_eq!(logins[0]["userId"], "ana@example.com");
    assert!(logins[0].get("eventProperties").is_none());
    // Events come in time order.
    let times: Vec<&str> = events.iter().map(|e| e["ts"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
}

#[tokio::test]
async fn settings_are_validated_and_changes_audited() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let (_, body) = account.client.get("/admin/v1/settings").await;
    assert_eq!(body["timeZone"], "UTC");
    assert_eq!(body["passiveLimitMinutes"], 5);
    assert_eq!(body["rateLimit"], json!({"perSecond": 100, "burst": 200}));

    let (status, body) = account
        .client
        .patch(
            "/admin/v1/settings",
            &json!({"timeZone": "Mars/Olympus", "activityRetentionDays": 0}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"].as_array().unwrap().len(), 2);

    let (status, body) = account
        .client
        .patch(
            "/admin/v1/settings",
            &json!({"timeZone": "America/New_York", "passiveLimitMinutes": null}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["timeZone"], "America/New_York");
    assert_eq!(body["passiveLimitMinutes"], Value::Null);
    assert_eq!(body["activityRetentionDays"], 365, "untouched fields stay");

    let events = all_audit_events(&account.client, 1).await;
    let changed = of_type(&events, "SettingsChanged");
    assert_eq!(changed.len(), 1);
    // Old and new values of each field that changed, and the credential that acted.
    let properties = &changed[0]["eventProperties"];
    assert_eq!(
        properties["timeZone"],
        json!({"old": "UTC", "new": "America/New_York"})
    );
    assert_eq!(
        properties["passiveLimitMinutes"],
        json!({"old": 5, "new": null})
    );
    assert!(properties["actorCredentialId"].is_i64(), "{properties}");
    assert_eq!(properties.as_object().unwrap().len(), 3, "{properties}");
}

#[tokio::test]
async fn every_error_has_the_spec_body() {
    let server = TestServer::start_with(ServerConfig {
        max_body_bytes: 1024,
        ..ServerConfig::default()
    })
    .await;
    let account = server.account().await;
    let c = &account.client;

    let (status, body) = c.get("/no/such/path").await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = c.send(c.request(Method::PUT, "/admin/v1/settings")).await;
    assert_error(status, &body, StatusCode::METHOD_NOT_ALLOWED);
    let (status, body) = c
        .send(
            c.request(Method::POST, "/admin/v1/consumers")
                .header("content-type", "application/json")
                .body("{\"email\": "),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = c.post("/admin/v1/consumers", &json!({"email": 5})).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = c
        .post(
            "/admin/v1/consumers",
            &json!({"email": "x".repeat(2000), "name": "n", "role": "admin"}),
        )
        .await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, body) = c.get("/admin/v1/settings?verbose=1").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = c.get("/admin/v1/consumers?color=red").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = c.get("/admin/v1/consumers/not-a-number").await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = c.get("/admin/v1/consumers/999999").await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = c
        .post(
            "/admin/v1/credentials",
            &json!({"type": "magic", "name": "x"}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn unexpected_failures_are_500_with_a_request_id_and_no_internals() {
    let server = TestServer::start().await;
    let account = server.account().await;
    // Break the database underneath the server: the audit chain's head table vanishes.
    server.db.execute("DROP TABLE audit_heads").await;
    let response = account
        .client
        .request(Method::PATCH, "/admin/v1/settings")
        .json(&json!({"timeZone": "Europe/Berlin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let id = response.headers().get("x-request-id").cloned();
    let body: Value = response.json().await.unwrap();
    assert_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        &body,
        StatusCode::INTERNAL_SERVER_ERROR,
    );
    assert!(id.is_some());
    assert!(!body.to_string().contains("audit_heads"), "{body}");
    // Nothing of the failed action was kept.
    let (_, settings) = account.client.get("/admin/v1/settings").await;
    assert_eq!(settings["timeZone"], "UTC");
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_and_ratelimit_headers() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let other = server.account().await;
    account
        .settings(json!({"rateLimit": {"perSecond": 1, "burst": 3}}))
        .await;
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let response = account
            .client
            .request(Method::GET, "/admin/v1/settings")
            .send()
            .await
            .unwrap();
        statuses.push(response.status());
        assert!(response.headers().contains_key("ratelimit-limit"));
        assert!(response.headers().contains_key("ratelimit-remaining"));
        last = Some(response);
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let last = last.unwrap();
    assert_eq!(last.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(last.headers()["ratelimit-limit"], "3");
    assert_eq!(last.headers()["ratelimit-remaining"], "0");
    let retry: u64 = last.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let body: Value = last.json().await.unwrap();
    assert_error(
        StatusCode::TOO_MANY_REQUESTS,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
    );
    // Buckets are per credential: another account's key is unaffected.
    assert_eq!(
        other.client.get("/admin/v1/settings").await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn audit_events_reject_bad_ranges_and_tokens() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let now = now_ms();
    let path = |start: i64, end: i64| {
        format!(
            "/services/pull/v1/customer/audit-events?startTime={}&endTime={}",
            iso(start),
            iso(end)
        )
    };
    for bad in [
        "/services/pull/v1/customer/audit-events".to_string(),
        format!(
            "/services/pull/v1/customer/audit-events?startTime={}",
            iso(now - DAY_MS)
        ),
        "/services/pull/v1/customer/audit-events?startTime=yesterday&endTime=today".to_string(),
        path(now, now),
        path(now, now - DAY_MS),
        path(now - 181 * DAY_MS, now - 170 * DAY_MS),
        path(now - 40 * DAY_MS, now - DAY_MS),
        format!("{}&limit=5", path(now - DAY_MS, now)),
        format!("{}&pageToken=garbage", path(now - DAY_MS, now)),
    ] {
        let (status, body) = c.get(&bad).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST);
    }

    // Enough events for two pages (500 more, after lifting the rate limit).
    account
        .settings(json!({"rateLimit": {"perSecond": 100000, "burst": 100000}}))
        .await;
    for i in 0..500 {
        account
            .settings(json!({"activityRetentionDays": 100 + i}))
            .await;
    }
    let (start, end) = (now - DAY_MS, now + DAY_MS);
    let (status, first) = c.get(&path(start, end)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["events"].as_array().unwrap().len(), 500);
    let token = first["nextPageToken"].as_str().unwrap().to_string();
    // The token belongs to its range.
    let (status, body) = c
        .get(&format!("{}&pageToken={token}", path(start - 1000, end)))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    // An altered token is refused.
    let mut altered = token.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == 'A' { 'B' } else { 'A' });
    let (status, body) = c
        .get(&format!("{}&pageToken={altered}", path(start, end)))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    // Another account cannot use it.
    let other = server.account().await;
    let (status, _) = other
        .client
        .get(&format!("{}&pageToken={token}", path(start, end)))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, second) = c
        .get(&format!("{}&pageToken={token}", path(start, end)))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(second.get("nextPageToken").is_none());
    let total = 500 + second["events"].as_array().unwrap().len();
    // init wrote 3 events (user, key, client) and we wrote 501.
    assert_eq!(total, 504);
}

/// Appends backdated events to an account's chain, exactly as the server chains
/// them, writing to the database underneath the server.
async fn append_backdated_events(db: &TestDb, account_id: i64, times: &[i64]) {
    use rollcall_core::audit_chain::{link_hash, Link};
    let head = db
        .query_text(&format!(
            "SELECT CAST(seq AS TEXT), hash FROM audit_heads WHERE account_id = {account_id}"
        ))
        .await;
    let (mut seq, mut prev): (i64, String) = (head[0].parse().unwrap(), head[1].clone());
    let mut sql = String::from("BEGIN;\n");
    for (i, ts) in times.iter().enumerate() {
        seq += 1;
        let id = format!("backdated{i:06}");
        let props = json!({"n": i}).to_string();
        let hash = link_hash(
            &prev,
            &Link {
                account_id,
                seq,
                id: &id,
                ts_ms: *ts,
                event_type: "SettingsChanged",
                user_id: "importer@example.com",
                properties: &props,
            },
        );
        sql.push_str(&format!(
            "INSERT INTO audit_events (account_id, seq, id, ts_ms, event_type, user_id, properties, hash)
             VALUES ({account_id}, {seq}, '{id}', {ts}, 'SettingsChanged', 'importer@example.com', '{props}', '{hash}');\n"
        ));
        prev = hash;
    }
    sql.push_str(&format!(
        "UPDATE audit_heads SET seq = {seq}, hash = '{prev}' WHERE account_id = {account_id};\nCOMMIT;"
    ));
    db.execute(&sql).await;
}

#[tokio::test]
async fn audit_paging_loses_and_repeats_nothing_while_events_are_written() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let now = now_ms();
    // 1,234 events spread over the last five days, several sharing a millisecond.
    let times: Vec<i64> = (0..1234)
        .map(|i| now - 5 * DAY_MS + (i / 2) * 300_000)
        .collect();
    append_backdated_events(&server.db, account.id(), &times).await;

    let start = iso(now - 6 * DAY_MS);
    let end = iso(now + 3600 * 1000);
    let base = format!("/services/pull/v1/customer/audit-events?startTime={start}&endTime={end}");
    let mut seen = Vec::new();
    let mut written = 0;
    let mut token: Option<String> = None;
    loop {
        let path = match &token {
            Some(t) => format!("{base}&pageToken={t}"),
            None => base.clone(),
        };
        let (status, body) = account.client.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page = body["events"].as_array().unwrap();
        assert!(page.len() <= 500);
        seen.extend(page.iter().map(|e| e["id"].as_str().unwrap().to_string()));
        // Concurrent writers between page requests, each setting a value none
        // other sets (a PATCH that changes nothing records nothing).
        let round = written;
        let writers: Vec<_> = (0..7)
            .map(|i| {
                let client = account.client.clone();
                tokio::spawn(async move {
                    client
                        .patch(
                            "/admin/v1/settings",
                            &json!({"usageRetentionDays": 400 + round + i}),
                        )
                        .await
                })
            })
            .collect();
        for writer in writers {
            assert_eq!(writer.await.unwrap().0, StatusCode::OK);
            written += 1;
        }
        match body["nextPageToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no event repeated");
    // 3 events from init + the backdated ones + everything written before the last page.
    assert_eq!(seen.len(), 3 + 1234 + written - 7);
    for i in 0..1234 {
        assert!(
            unique.contains(&format!("backdated{i:06}")),
            "lost backdated{i:06}"
        );
    }
}

fn rollcall_bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
}

/// Writes a few audited actions, tampers with the database with `sql`, and returns
/// what `rollcall audit verify` printed and its exit code.
async fn verify_after_tampering(sql: &str) -> (Option<i32>, String, i64) {
    let mut server = TestServer::start().await;
    let account = server.account().await;
    for i in 0..5 {
        account
            .settings(json!({"usageRetentionDays": 500 + i}))
            .await;
    }
    let intact = rollcall_bin()
        .args(["audit", "verify"])
        .args(server.db.cli_args())
        .output()
        .unwrap();
    assert!(intact.status.success(), "{intact:?}");
    assert!(String::from_utf8_lossy(&intact.stdout).contains("intact: 8 events"));
    server.stop().await;
    server.db.execute(sql).await;
    let out = rollcall_bin()
        .args(["audit", "verify"])
        .args(server.db.cli_args())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        account.id(),
    )
}

#[tokio::test]
async fn audit_verify_names_an_altered_event() {
    let (code, out, account) = verify_after_tampering(
        "UPDATE audit_events SET user_id = 'mallory@example.com' WHERE seq = 5",
    )
    .await;
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains(&format!("account {account} at event #5")),
        "{out}"
    );
    assert!(out.contains("altered"), "{out}");
}

#[tokio::test]
async fn audit_verify_names_a_deleted_event() {
    let (code, out, _) = verify_after_tampering("DELETE FROM audit_events WHERE seq = 4").await;
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("event #4"), "{out}");
    assert!(out.contains("missing"), "{out}");
    let (code, out, _) = verify_after_tampering("DELETE FROM audit_events WHERE seq = 8").await;
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("deleted from the end"), "{out}");
}

/// A `rollcall serve` child process on port 0, with the address it printed.
pub(crate) struct ServeProcess {
    pub child: tokio::process::Child,
    pub base: String,
    pub stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

pub(crate) async fn spawn_serve(db: &TestDb) -> ServeProcess {
    use tokio::io::AsyncBufReadExt;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollcall"));
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(db.cli_args())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped());
    let (mut child, base) = spawn_listening(command).await;
    let stdout = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    ServeProcess {
        child,
        base,
        stdout,
    }
}

pub(crate) fn admin_init(db: &TestDb) -> Value {
    let out = rollcall_bin()
        .args(["admin", "init", "--json"])
        .args(db.cli_args())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn first_start_prints_credentials_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::fresh(dir.path().to_path_buf()).await;
    let mut server = spawn_serve(&db).await;
    let mut api_key = None;
    while let Some(line) = server.stdout.next_line().await.unwrap() {
        if let Some(key) = line.trim().strip_prefix("API key") {
            api_key = Some(key.trim().to_string());
            break;
        }
    }
    let client = Client::new(&server.base, &api_key.expect("the API key was printed"));
    assert_eq!(client.get("/readyz").await.0, StatusCode::OK);
    assert_eq!(client.get("/admin/v1/settings").await.0, StatusCode::OK);

    let pid = server.child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = server.child.wait().await.unwrap();
    assert!(status.success(), "{status:?}");

    // `admin init` adds a second account to the same directory.
    let creds = admin_init(&db);
    assert_eq!(creds["accountId"], 2);
    for field in ["email", "password", "apiKey", "clientId", "clientSecret"] {
        assert!(
            creds[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field}"
        );
    }
}

#[tokio::test]
async fn nothing_acknowledged_is_lost_when_the_server_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::fresh(dir.path().to_path_buf()).await;
    let creds = admin_init(&db);
    let mut server = spawn_serve(&db).await;
    let client = Client::new(&server.base, creds["apiKey"].as_str().unwrap());
    crate::common::unthrottle_as(&client).await;

    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut writers = Vec::new();
    for w in 0..8 {
        let client = client.clone();
        let acked = acked_tx.clone();
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let email = format!("writer{w}-{i}@example.com");
                let sent = client
                    .request(Method::POST, "/admin/v1/consumers")
                    .json(&json!({"email": email, "name": "W", "role": "viewer"}))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == StatusCode::OK => {
                        let _ = acked.send(email);
                    }
                    _ => return,
                }
            }
        }));
    }
    drop(acked_tx);
    let mut acked = Vec::new();
    while acked.len() < 300 {
        acked.push(acked_rx.recv().await.unwrap());
    }
    server.child.start_kill().unwrap(); // SIGKILL
    server.child.wait().await.unwrap();
    for w in writers {
        w.await.unwrap();
    }
    while let Some(email) = acked_rx.recv().await {
        acked.push(email);
    }

    let restarted = spawn_serve(&db).await;
    let client = Client::new(&restarted.base, creds["apiKey"].as_str().unwrap());
    let (status, body) = client.get("/admin/v1/consumers").await;
    assert_eq!(status, StatusCode::OK);
    let stored: HashSet<&str> = body["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["email"].as_str().unwrap())
        .collect();
    let lost: Vec<&String> = acked
        .iter()
        .filter(|e| !stored.contains(e.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost: {lost:?}",
        lost.len()
    );
    assert!(acked.len() >= 300);
    // The audit chain survived the crash too.
    let out = rollcall_bin()
        .args(["audit", "verify"])
        .args(db.cli_args())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

fn files_containing(dir: &std::path::Path, needles: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            hits.extend(files_containing(&path, needles));
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for needle in needles {
            let n = needle.as_bytes();
            if bytes.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n)) {
                hits.push(format!("{} contains {needle}", path.display()));
            }
        }
    }
    hits
}

#[tokio::test]
async fn no_email_name_or_secret_is_stored_in_plain_text() {
    let mut server = TestServer::start().await;
    if server.db.is_postgres() {
        // At rest on PostgreSQL is the operator's encrypted volume (SPEC §7).
        return;
    }
    let account = server.account().await;
    let (status, body) = account
        .client
        .post(
            "/admin/v1/consumers",
            &json!({"email": "plaintext.canary@example.com", "name": "Zebulon Quixotic",
                    "role": "viewer", "password": "hunter2hunter2hunter2"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let needles = [
        "plaintext.canary",
        "Zebulon",
        "hunter2hunter2",
        account.creds.email.as_str(),
        account.creds.api_key.as_str(),
        account.creds.client_secret.as_str(),
        account.creds.password.as_str(),
    ];
    // While the server runs (data in the WAL) and after it stops.
    let hits = files_containing(&server.data_dir, &needles);
    assert!(hits.is_empty(), "{hits:?}");
    server.stop().await;
    let hits = files_containing(&server.data_dir, &needles);
    assert!(hits.is_empty(), "{hits:?}");
    // The data is there (in the database or its WAL), only not readable.
    let size = |f: &str| {
        std::fs::metadata(server.data_dir.join(f))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    assert!(size("rollcall.db") + size("rollcall.db-wal") > 8192);
}

#[tokio::test]
async fn serves_https_with_a_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let tls = rollcall_server::tls::server_config(&cert_path, &key_path).unwrap();
    let data = dir.path().join("data");
    let server = TestServer::start_in(data, ServerConfig::default(), Some(tls)).await;
    assert!(server.base.starts_with("https://"));
    let account = server.account().await;
    let (status, body) = account.client.get("/admin/v1/settings").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Plain HTTP to the TLS port does not get an answer.
    let plain = http_client()
        .get(format!("http://{}/healthz", server.addr))
        .send()
        .await;
    assert!(plain.is_err() || plain.unwrap().status() != StatusCode::OK);
    // A key that does not match its certificate is refused at start.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(&key_path, other.key_pair.serialize_pem()).unwrap();
    assert!(rollcall_server::tls::server_config(&cert_path, &key_path).is_err());
}

#[tokio::test]
async fn password_guessing_is_rate_limited_by_address() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let http = http_client();
    let attempts: Vec<_> = (0..60)
        .map(|_| {
            let request = http
                .post(format!("{}/ui/login", server.base))
                .json(&json!({"email": account.creds.email, "password": "not the password"}));
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    assert!(statuses.contains(&StatusCode::UNAUTHORIZED));
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}
