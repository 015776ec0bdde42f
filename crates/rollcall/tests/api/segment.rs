//! The Segment-compatible tracking API (SPEC §10.1) through HTTP: write keys,
//! the endpoints' limits and answers, the mapping of messages to usage, and the
//! real `segment-analytics-python` and `rudder-sdk-python` clients pointed at a
//! running server.

use std::io::Write;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{assert_error, http_client, Account, Client, TestServer};

const DAY: i64 = 86_400_000;
const AUDIT: &str = "/services/pull/v1/customer/audit-events";

fn now() -> i64 {
    rollcall_store::now_ms()
}

fn iso(ms: i64) -> String {
    rollcall_core::time::format_ms(ms)
}

/// An app with one defined event ("Order Completed", group "Bought").
async fn shop_app(c: &Client) -> String {
    let (status, body) = c
        .post(
            "/services/push/v1/customer/apps",
            &json!({"name": format!("Shop {}", rollcall_core::secret::random_hex(3)), "events": [
                {"eventName": "Order Completed", "eventType": "Produce", "groups": ["Bought"]}
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["appId"].as_str().unwrap().to_string()
}

async fn write_key(c: &Client, app: &str) -> (i64, String) {
    let (status, body) = c
        .post(
            "/admin/v1/credentials",
            &json!({"type": "writeKey", "appId": app, "name": "website"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["id"].as_i64().unwrap(),
        body["writeKey"].as_str().unwrap().to_string(),
    )
}

/// Posts raw bytes to a tracking endpoint with the key as HTTP Basic user;
/// returns the status and the body's text.
async fn send_raw(
    server: &TestServer,
    key: Option<&str>,
    path: &str,
    body: Vec<u8>,
    gzip: bool,
) -> (StatusCode, String) {
    let mut req = http_client()
        .post(format!("{}{path}", server.base))
        .header("content-type", "application/json")
        .body(body);
    if let Some(key) = key {
        req = req.basic_auth(key, Some(""));
    }
    if gzip {
        req = req.header("content-encoding", "gzip");
    }
    let res = req.send().await.expect("request");
    (res.status(), res.text().await.expect("body"))
}

async fn send(server: &TestServer, key: &str, path: &str, body: &Value) -> (StatusCode, Value) {
    let (status, text) = send_raw(
        server,
        Some(key),
        path,
        body.to_string().into_bytes(),
        false,
    )
    .await;
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn track(user: &str, event: &str, message_id: &str, ts: i64) -> Value {
    json!({"type": "track", "userId": user, "event": event, "messageId": message_id,
           "timestamp": iso(ts), "context": {"traits": {"email": format!("{user}@corp.com")}}})
}

/// How many raw usage events the server's database holds (one app per test).
async fn stored_events(server: &TestServer) -> i64 {
    server
        .db
        .query_text("SELECT CAST(count(*) AS TEXT) FROM usage_events")
        .await[0]
        .parse()
        .unwrap()
}

/// Each user of the app's users report: email -> lastActivity.
async fn last_activity(c: &Client, app: &str) -> Vec<(String, Value)> {
    let (status, body) = c
        .get(&format!("/pull/v1/apps/{app}/users?rollingWindow=90"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut users: Vec<(String, Value)> = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| !u["lastActivity"].is_null())
        .map(|u| {
            (
                u["email"].as_str().unwrap().to_string(),
                u["lastActivity"].clone(),
            )
        })
        .collect();
    users.sort_by(|a, b| a.0.cmp(&b.0));
    users
}

async fn setup() -> (TestServer, Account, String, String) {
    let server = TestServer::start().await;
    let account = server.account().await;
    let app = shop_app(&account.client).await;
    let (_, key) = write_key(&account.client, &app).await;
    (server, account, app, key)
}

#[tokio::test]
async fn write_keys_are_shown_once_listed_audited_revocable_and_push_only() {
    let (server, account, app, key) = setup().await;
    let c = &account.client;
    let (status, list) = c.get("/admin/v1/credentials").await;
    assert_eq!(status, StatusCode::OK);
    let listed = list["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["type"] == "writeKey")
        .unwrap()
        .clone();
    assert_eq!(listed["appId"], app.as_str());
    assert!(
        !list.to_string().contains(&key),
        "the secret is never listed"
    );
    let query = format!(
        "{AUDIT}?startTime={}&endTime={}&eventType=CredentialCreated",
        iso(now() - DAY),
        iso(now() + DAY)
    );
    let (status, audit) = c.get(&query).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let created: Vec<&Value> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.to_string().contains("writeKey"))
        .collect();
    assert_eq!(created.len(), 1, "{audit}");
    assert!(created[0].to_string().contains(&app), "{audit}");

    // Pushes to its app; nothing else accepts it, sent either way.
    let (status, _) = send(
        &server,
        &key,
        "/v1/track",
        &track("ana", "Order Completed", "m1", now()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let as_bearer = server.client(&key);
    let (status, body) = as_bearer.get("/pull/v3/apps").await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);
    let (status, body) = as_bearer
        .send(
            http_client()
                .get(format!("{}/admin/v1/credentials", server.base))
                .basic_auth(&key, Some("")),
        )
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);
    let (status, body) = as_bearer
        .send(
            http_client()
                .post(format!(
                    "{}/services/push/v1/customer/apps/{app}/events",
                    server.base
                ))
                .header("x-api-key", &key)
                .json(&json!({"events": []})),
        )
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);

    // Only admins make them, only for an app of the account.
    let (_, viewer) = account.user_with_key("viewer", json!({})).await;
    let (status, body) = viewer
        .post(
            "/admin/v1/credentials",
            &json!({"type": "writeKey", "appId": app, "name": "x"}),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = c
        .post(
            "/admin/v1/credentials",
            &json!({"type": "writeKey", "appId": "nope", "name": "x"}),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = c
        .post(
            "/admin/v1/credentials",
            &json!({"type": "writeKey", "name": "x"}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);

    // Revoked: refused at once.
    let id = listed["id"].as_i64().unwrap();
    let (status, _) = c.delete(&format!("/admin/v1/credentials/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = send(
        &server,
        &key,
        "/v1/track",
        &track("ana", "Order Completed", "m2", now()),
    )
    .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);
    assert_eq!(stored_events(&server).await, 1);
}

#[tokio::test]
async fn a_key_pushes_to_its_own_app_only() {
    let (server, account, app, key) = setup().await;
    let other = shop_app(&account.client).await;
    let (_, other_key) = write_key(&account.client, &other).await;
    for (k, user) in [(&key, "ana"), (&other_key, "bob")] {
        let (status, _) = send(
            &server,
            k,
            "/v1/track",
            &track(user, "Order Completed", user, now()),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let mine = last_activity(&account.client, &app).await;
    let theirs = last_activity(&account.client, &other).await;
    assert_eq!(
        mine.iter().map(|u| u.0.as_str()).collect::<Vec<_>>(),
        ["ana@corp.com"]
    );
    assert_eq!(
        theirs.iter().map(|u| u.0.as_str()).collect::<Vec<_>>(),
        ["bob@corp.com"]
    );
    // Another account's key does not reach this account's app either.
    let stranger = server.account().await;
    let their_app = shop_app(&stranger.client).await;
    let (_, their_key) = write_key(&stranger.client, &their_app).await;
    send(
        &server,
        &their_key,
        "/v1/track",
        &track("eve", "Order Completed", "e", now()),
    )
    .await;
    assert_eq!(last_activity(&account.client, &app).await.len(), 1);
}

#[tokio::test]
async fn answers_exactly_success_with_the_key_as_basic_user_or_in_the_body() {
    let (server, _account, _app, key) = setup().await;
    let body =
        json!({"batch": [track("ana", "Order Completed", "m1", now())], "sentAt": iso(now())});
    let (status, text) = send_raw(
        &server,
        Some(&key),
        "/v1/batch",
        body.to_string().into_bytes(),
        false,
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::OK, r#"{"success":true}"#)
    );
    let mut with_key = json!({"batch": [track("bob", "Order Completed", "m2", now())]});
    with_key["writeKey"] = json!(key);
    let (status, text) = send_raw(
        &server,
        None,
        "/v1/batch",
        with_key.to_string().into_bytes(),
        false,
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::OK, r#"{"success":true}"#)
    );
    let mut single = track("cy", "Order Completed", "m3", now());
    single["writeKey"] = json!(key);
    let (status, text) = send_raw(
        &server,
        None,
        "/v1/track",
        single.to_string().into_bytes(),
        false,
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::OK, r#"{"success":true}"#)
    );
    assert_eq!(stored_events(&server).await, 3);

    for key in [None, Some("wk_not-a-key")] {
        let (status, text) = send_raw(
            &server,
            key,
            "/v1/batch",
            body.to_string().into_bytes(),
            false,
        )
        .await;
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_error(status, &body, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn over_the_accounts_rate_limit_a_key_gets_429_with_retry_after() {
    let (server, account, _app, key) = setup().await;
    account
        .settings(json!({"rateLimit": {"perSecond": 1, "burst": 2}}))
        .await;
    let mut refused = None;
    for i in 0..5 {
        let mut req = http_client()
            .post(format!("{}/v1/track", server.base))
            .basic_auth(&key, Some(""));
        req = req.json(&track("ana", "Order Completed", &format!("r{i}"), now()));
        let res = req.send().await.unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(res);
            break;
        }
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = refused.expect("a refusal past the burst");
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let body: Value = res.json().await.unwrap();
    assert_error(
        StatusCode::TOO_MANY_REQUESTS,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
    );
}

#[tokio::test]
async fn gzip_bodies_are_read_and_oversize_ones_refused_with_413() {
    let (server, _account, _app, key) = setup().await;
    let body = json!({"batch": [track("ana", "Order Completed", "m1", now())]});
    let (status, text) = send_raw(
        &server,
        Some(&key),
        "/v1/batch",
        gzip(body.to_string().as_bytes()),
        true,
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::OK, r#"{"success":true}"#)
    );
    assert_eq!(stored_events(&server).await, 1);

    // A zip bomb: 64 MB of spaces inside a valid batch, ~64 KB on the wire.
    let mut bomb = b"{\"batch\":[".to_vec();
    bomb.extend(std::iter::repeat_n(b' ', 64 * 1024 * 1024));
    bomb.extend(b"]}");
    let (status, text) = send_raw(&server, Some(&key), "/v1/batch", gzip(&bomb), true).await;
    assert_error(
        status,
        &serde_json::from_str(&text).unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
    );
    // Over 4 MB as sent.
    let (status, text) = send_raw(
        &server,
        Some(&key),
        "/v1/batch",
        bomb[..5 * 1024 * 1024].to_vec(),
        false,
    )
    .await;
    assert_error(
        status,
        &serde_json::from_str(&text).unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
    );
    // One message over 32 KB.
    let mut big = track("ana", "Order Completed", "m2", now());
    big["properties"] = json!({"note": "x".repeat(40 * 1024)});
    let (status, body) = send(&server, &key, "/v1/batch", &json!({"batch": [big]})).await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        body["message"].as_str().unwrap().contains("32 KB"),
        "{body}"
    );
    assert_eq!(stored_events(&server).await, 1);
}

#[tokio::test]
async fn malformed_messages_are_400_with_the_reason_and_store_nothing() {
    let (server, account, _app, key) = setup().await;
    let good = track("ana", "Order Completed", "m1", now());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("/v1/batch", b"{\"batch\": [".to_vec(), "not valid JSON"),
        ("/v1/batch", b"[1, 2]".to_vec(), "JSON object"),
        ("/v1/batch", b"{\"sentAt\": null}".to_vec(), "batch"),
        ("/v1/batch", b"{\"batch\": []}".to_vec(), "empty"),
        ("/v1/track", json!({"userId": "u"}).to_string().into_bytes(), "event"),
        ("/v1/track", json!({"event": "E"}).to_string().into_bytes(), "userId or anonymousId"),
        ("/v1/alias", json!({"userId": "u"}).to_string().into_bytes(), "previousId"),
        (
            "/v1/batch",
            json!({"batch": [good.clone(), {"type": "fly", "userId": "u"}]}).to_string().into_bytes(),
            "fly",
        ),
        (
            "/v1/batch",
            json!({"batch": [good.clone(), {"type": "track", "userId": "u", "event": "E", "timestamp": "soon"}]})
                .to_string()
                .into_bytes(),
            "ISO 8601",
        ),
        (
            "/v1/batch",
            json!({"batch": [good.clone(), {"type": "track", "userId": ["u"], "event": "E"}]}).to_string().into_bytes(),
            "string or a number",
        ),
    ];
    for (path, body, reason) in cases {
        let (status, text) = send_raw(&server, Some(&key), path, body, false).await;
        let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{text}"));
        assert_error(status, &body, StatusCode::BAD_REQUEST);
        assert!(
            body.to_string().contains(reason),
            "{path}: '{reason}' not in {body}"
        );
    }
    assert_eq!(stored_events(&server).await, 0);
    // Messages of the refused requests that got as far as being read one by one.
    assert_tracking_metrics(&account, &[("accepted", 0), ("rejected", 9)]).await;
}

#[tokio::test]
async fn a_retried_message_counts_once_even_with_a_new_sent_at() {
    let (server, account, app, key) = setup().await;
    let t = now() - 3_600_000;
    let batch = |sent_at: i64| {
        json!({"batch": [track("ana", "Order Completed", "m-1", t), track("bob", "Order Completed", "m-2", t)],
               "sentAt": iso(sent_at)})
    };
    for sent_at in [now(), now() + 1_234, now() + 7_777] {
        let (status, body) = send(&server, &key, "/v1/batch", &batch(sent_at)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(stored_events(&server).await, 2);
    // Without sentAt the timestamp stands: a new messageId with the same
    // (timestamp, email, eventName) is still one event (the native key).
    for id in ["m-3", "m-4"] {
        let same = json!({"batch": [track("cy", "Order Completed", id, t)]});
        let (status, _) = send(&server, &key, "/v1/batch", &same).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(stored_events(&server).await, 3);
    assert_eq!(last_activity(&account.client, &app).await.len(), 3);
    // The metrics count the messages as stored: 3 events, 5 retries or known events.
    assert_tracking_metrics(&account, &[("accepted", 3), ("duplicate", 5)]).await;
}

/// Asserts the tracking API's ingest counters at `/metrics`.
async fn assert_tracking_metrics(account: &Account, expected: &[(&str, u64)]) {
    let (status, text) = account.client.get("/metrics").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let text = text.as_str().unwrap_or_default();
    for (outcome, n) in expected {
        let line =
            format!("rollcall_ingested_items_total{{kind=\"tracking\",outcome=\"{outcome}\"}} {n}");
        assert!(text.lines().any(|l| l == line), "{line} not in {text}");
    }
}

#[tokio::test]
async fn anonymous_events_count_once_identify_or_alias_names_the_person() {
    let (server, account, app, key) = setup().await;
    let c = &account.client;
    let t = now() - 2 * DAY;
    let anon = json!({"batch": [
        {"type": "track", "anonymousId": "anon-1", "event": "Order Completed", "messageId": "a1", "timestamp": iso(t)},
        {"type": "page", "anonymousId": "anon-1", "name": "Pricing", "messageId": "a2", "timestamp": iso(t + 1000)},
        {"type": "track", "userId": "u-2", "event": "Order Completed", "messageId": "a3", "timestamp": iso(t)},
        {"type": "track", "anonymousId": "anon-3", "event": "Order Completed", "messageId": "a4", "timestamp": iso(t)}
    ]});
    let (status, _) = send(&server, &key, "/v1/batch", &anon).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored_events(&server).await, 0, "nobody is known yet");

    // Sign-up: identify names anon-1 (through its userId) with RudderStack's context.traits.
    let identify = json!({"userId": "u-1", "anonymousId": "anon-1", "messageId": "i1",
        "context": {"traits": {"email": "Ana@Corp.com", "firstName": "Ana", "lastName": "Diaz", "department": "Sales"}}});
    let (status, _) = send(&server, &key, "/v1/identify", &identify).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored_events(&server).await, 2);
    let users = last_activity(c, &app).await;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].0, "ana@corp.com");
    assert_eq!(users[0].1, iso(t + 1000).as_str());

    // Segment's top-level traits name u-2; alias then links anon-3 to u-2.
    send(
        &server,
        &key,
        "/v1/identify",
        &json!({"userId": "u-2", "messageId": "i2",
        "traits": {"email": "bob@corp.com", "name": "Bob B", "title": "Rep"}}),
    )
    .await;
    assert_eq!(stored_events(&server).await, 3);
    send(
        &server,
        &key,
        "/v1/alias",
        &json!({"previousId": "anon-3", "userId": "u-2", "messageId": "al1",
        "timestamp": iso(t + 5000)}),
    )
    .await;
    // anon-3's event is Bob's, at the same instant as u-2's: one event.
    assert_eq!(stored_events(&server).await, 3);
    // Later events of an identified userId need no email.
    send(
        &server,
        &key,
        "/v1/track",
        &json!({"userId": "u-2", "event": "Order Completed", "messageId": "t9",
        "timestamp": iso(t + DAY)}),
    )
    .await;
    assert_eq!(stored_events(&server).await, 4);

    // The identifies filled the provisioned users.
    let (status, body) = c
        .get(&format!("/services/push/v1/customer/apps/{app}/users"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let users: Vec<(Value, Value, Value)> = body["provisionedUsers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["appUserId"].clone(),
                u["email"].clone(),
                u["username"].clone(),
            )
        })
        .collect();
    assert_eq!(
        users,
        vec![
            (json!("u-1"), json!("ana@corp.com"), json!("Ana Diaz")),
            (json!("u-2"), json!("bob@corp.com"), json!("Bob B")),
        ]
    );
    let profiles: Vec<&Value> = body["provisionedUsers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| &u["profile"])
        .collect();
    assert_eq!(
        profiles,
        vec![
            &json!({"firstName": "Ana", "lastName": "Diaz", "team": "Sales"}),
            &json!({"name": "Bob B", "title": "Rep"}),
        ]
    );
}

#[tokio::test]
async fn timestamps_are_corrected_for_the_client_clock() {
    let (server, account, app, key) = setup().await;
    // The device's clock is 3 hours fast: it stamps an event "now + 3h - 10 min".
    let skew = 3 * 3_600_000;
    let happened = now() - 600_000;
    let body = json!({"batch": [track("ana", "Order Completed", "m1", happened + skew)], "sentAt": iso(now() + skew)});
    let (status, _) = send(&server, &key, "/v1/batch", &body).await;
    assert_eq!(status, StatusCode::OK);
    let users = last_activity(&account.client, &app).await;
    let stored = rollcall_core::time::parse_instant_ms(users[0].1.as_str().unwrap()).unwrap();
    assert!(
        (stored - happened).abs() < 5_000,
        "stored {stored}, happened {happened}"
    );
}

#[tokio::test]
async fn unknown_event_names_are_defined_as_other_without_a_group() {
    let (server, account, app, key) = setup().await;
    let body = json!({"batch": [
        track("ana", "Signup Clicked", "m1", now()),
        {"type": "screen", "userId": "ana", "name": "Home", "messageId": "m2", "context": {"traits": {"email": "ana@corp.com"}}}
    ]});
    let (status, _) = send(&server, &key, "/v1/batch", &body).await;
    assert_eq!(status, StatusCode::OK);
    let (_, def) = account
        .client
        .get(&format!("/services/push/v1/customer/apps/{app}"))
        .await;
    let events = def["events"].as_array().unwrap();
    for name in ["Signup Clicked", "Screen Viewed"] {
        let e = events
            .iter()
            .find(|e| e["eventName"] == name)
            .unwrap_or_else(|| panic!("{def}"));
        assert_eq!(e["eventType"], "Other");
        assert_eq!(e["groups"], json!([]));
    }
    assert_eq!(events.len(), 3);
    assert_eq!(stored_events(&server).await, 2);
}

/// Sends with both real SDKs, as an app would, then again the very same
/// messages (a client retrying after a lost answer): the reports count each
/// person once, anonymous ones from the moment they are identified.
#[tokio::test]
async fn the_real_segment_and_rudderstack_sdks_feed_the_reports() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = shop_app(c).await;
    let (_, seg_key) = write_key(c, &app).await;
    let (_, rud_key) = write_key(c, &app).await;
    let people: Vec<Value> = [("s1", "Sales"), ("s2", "Sales"), ("s3", "Sales"), ("p1", "Support"), ("p2", "Support"), ("p3", "Support")]
        .iter()
        .map(|(who, team)| json!({"email": format!("{who}@corp.com"), "firstName": who, "lastName": "X", "team": team}))
        .collect();
    let (status, body) = c
        .post(
            "/services/push/v1/customer/org-chart",
            &json!({"orgChartName": "HR"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["id"].as_i64().unwrap();
    let (status, body) = c
        .put(
            &format!("/services/push/v1/customer/org-chart/{id}"),
            &json!({"hasMore": false, "users": people}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let output = tokio::process::Command::new(crate::common::python())
        .arg("-c")
        .arg(SDK_SCRIPT)
        .arg(&server.base)
        .arg(&seg_key)
        .arg(&rud_key)
        .output()
        .await
        .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim()).expect("the script's JSON");
    assert_eq!(report["errors"], json!([]), "{report}");
    assert_eq!(report["retried"], 12, "{report}");

    // s1, s2, p1, p2 bought (s2 and p2 anonymously first); s3 only viewed a page
    // and was never identified; p3 did nothing.
    assert_eq!(stored_events(&server).await, 4);
    let (status, e) = c
        .get(&format!(
            "/pull/v1/apps/{app}/engagement?group=Bought&rollingWindow=7&by=team"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{e}");
    for team in ["Sales", "Support"] {
        let s = e["segments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["value"] == team)
            .unwrap_or_else(|| panic!("{e}"));
        assert_eq!(
            (s["population"].clone(), s["active"].clone()),
            (json!(3), json!(2)),
            "{e}"
        );
    }
    assert_eq!(e["total"]["outsidePopulation"], 0, "{e}");
    let (status, body) = c
        .get(&format!(
            "/pull/v1/apps/{app}/inactive-users?group=Bought&rollingWindow=30&population=employees"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let inactive: Vec<(&str, &str)> = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["email"].as_str().unwrap(), u["team"].as_str().unwrap()))
        .collect();
    assert_eq!(
        inactive,
        vec![("p3@corp.com", "Support"), ("s3@corp.com", "Sales")]
    );
}

/// Drives both SDKs against the server (argv: base URL, Segment key,
/// RudderStack key); prints {"errors": [...], "retried": n}.
const SDK_SCRIPT: &str = r#"
import json, sys
from segment.analytics.client import Client as SegmentClient
from segment.analytics import request as segment_request
from rudderstack.analytics.client import Client as RudderClient
from rudderstack.analytics import request as rudder_request

host, segment_key, rudder_key = sys.argv[1:4]
errors = []
def on_error(e, batch):
    errors.append(str(e))

seg = SegmentClient(write_key=segment_key, host=host, on_error=on_error, max_retries=2)
sent_seg = []
sent_seg.append(seg.identify("u-s1", {"email": "s1@corp.com", "firstName": "S", "lastName": "One", "team": "Sales"})[1])
sent_seg.append(seg.track("u-s1", "Order Completed", {"total": 12})[1])
sent_seg.append(seg.track(anonymous_id="anon-s2", event="Order Completed")[1])
sent_seg.append(seg.identify("u-s2", {"email": "s2@corp.com"}, anonymous_id="anon-s2")[1])
sent_seg.append(seg.page("u-s3", name="Pricing")[1])
sent_seg.append(seg.track("u-s3", "Order Completed")[1])
seg.flush()

rud = RudderClient(write_key=rudder_key, host=host, on_error=on_error, max_retries=2)
sent_rud = []
sent_rud.append(rud.identify("u-p1", {"email": "p1@corp.com", "department": "Support"})[1])
sent_rud.append(rud.track("u-p1", "Order Completed")[1])
sent_rud.append(rud.track(anonymous_id="anon-p2", event="Order Completed")[1])
sent_rud.append(rud.identify("u-p2", {"email": "p2@corp.com"})[1])
sent_rud.append(rud.alias("anon-p2", "u-p2")[1])
sent_rud.append(rud.page(anonymous_id="anon-p3", name="Home")[1])
rud.flush()

# The same messages again, as a client does when an answer is lost.
retried = 0
for post, key, msgs in [(segment_request.post, segment_key, sent_seg), (rudder_request.post, rudder_key, sent_rud)]:
    try:
        post(key, host=host, batch=msgs)
        retried += len(msgs)
    except Exception as e:
        errors.append(repr(e))
print(json.dumps({"errors": errors, "retried": retried}))
"#;

#[tokio::test]
async fn a_new_email_from_identify_applies_to_the_next_events_at_once() {
    let (server, account, app, key) = setup().await;
    let t = now() - DAY;
    for (i, email) in ["first@corp.com", "second@corp.com"].iter().enumerate() {
        let identify =
            json!({"userId": "u-9", "messageId": format!("id{i}"), "traits": {"email": email}});
        let (status, _) = send(&server, &key, "/v1/identify", &identify).await;
        assert_eq!(status, StatusCode::OK);
        // Twice: the second resolves the userId from what the first read.
        for j in 0..2 {
            let track = json!({"userId": "u-9", "event": "Order Completed",
                "messageId": format!("t{i}{j}"), "timestamp": iso(t + (i * 10 + j) as i64 * 1000)});
            let (status, _) = send(&server, &key, "/v1/track", &track).await;
            assert_eq!(status, StatusCode::OK);
        }
    }
    let users = last_activity(&account.client, &app).await;
    assert_eq!(
        users,
        vec![
            ("first@corp.com".to_string(), json!(iso(t + 1000))),
            ("second@corp.com".to_string(), json!(iso(t + 11_000))),
        ]
    );
}
