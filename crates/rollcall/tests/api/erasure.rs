//! Erasure of one person's data (SPEC §11, issue 17 part 5), on either
//! backend: two accounts are fed the same people, apps, org chart and agent
//! activity, except that only the first ever gets person X; after X is erased
//! from the first, every report must answer as the second does.

use reqwest::StatusCode;
use rollcall_core::time;
use serde_json::{json, Map, Value};

use crate::common::{assert_error, Account, Client, TestServer};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const X: &str = "xavier@corp.com";
const X_ALIAS: &str = "xav@corp.com";

fn now() -> i64 {
    rollcall_store::now_ms()
}

/// The time both accounts' data is placed from, read once, so that their
/// timestamps are equal to the millisecond.
fn t0() -> i64 {
    static T0: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *T0.get_or_init(now)
}

fn rfc3339(ms: i64) -> String {
    time::format_ms(ms)
}

fn day(days: i64) -> String {
    time::date_of_day_number(((now() - days * DAY) / DAY) as i32).to_string()
}

/// An agent batch for `CORP\<user>` on `computer`: an active and an idle
/// record on each of the last three days at `hour` UTC.
fn agent_batch(user: &str, computer: &str, hour: i64) -> Value {
    let mut records = Vec::new();
    for days in [3, 2, 1] {
        let start = (t0() / DAY - days) * DAY + hour * HOUR;
        records.push(json!({"start": rfc3339(start), "duration": 1800,
            "executable": "outlook.exe", "description": format!("Inbox of {user}"), "url": null, "idle": false}));
        records.push(json!({"start": rfc3339(start + 1_800_000), "duration": 600,
            "executable": "outlook.exe", "description": "Inbox", "url": null, "idle": true}));
    }
    json!({
        "sentAt": rfc3339(t0()),
        "computer": {"name": computer, "primaryDomain": "corp", "os": "Windows 11",
                     "timeZone": "UTC", "privateIp": "10.0.0.4", "publicIp": "203.0.113.9"},
        "client": {"loginDomain": "CORP", "name": user},
        "session": 1,
        "records": records,
    })
}

async fn ok(c: &Client, path: &str) -> Value {
    let (status, body) = c.get(path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

async fn post_ok(c: &Client, path: &str, body: &Value) -> Value {
    let (status, answer) = c.post(path, body).await;
    assert_eq!(status, StatusCode::OK, "{path}: {answer}");
    answer
}

/// The account's data; with `with_x`, person X too (events under their email
/// and their org-chart alias, a provisioned user, an org-chart entry, an
/// employee web user bound to their agent login, activity). Returns the two
/// app ids.
async fn feed(account: &Account, with_x: bool) -> Vec<String> {
    let c = &account.client;
    let mut people = vec![
        ("ana@corp.com", "Sales"),
        ("bob@corp.com", "Sales"),
        ("cy@corp.com", "Ops"),
    ];
    if with_x {
        people.push((X, "Sales"));
    }
    let chart = post_ok(
        c,
        "/services/push/v1/customer/org-chart",
        &json!({"orgChartName": "people"}),
    )
    .await;
    let users: Vec<Value> = people
        .iter()
        .map(|(email, team)| {
            let mut p = json!({"email": email, "firstName": email.split('@').next(), "team": team});
            if *email == X {
                p["additionalEmails"] = json!([X_ALIAS]);
            }
            p
        })
        .collect();
    let (status, body) = c
        .put(
            &format!("/services/push/v1/customer/org-chart/{}", chart["id"]),
            &json!({"hasMore": false, "users": users}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let mut apps = Vec::new();
    for name in ["Mail", "Docs"] {
        let app = post_ok(
            c,
            "/services/push/v1/customer/apps",
            &json!({"name": name, "events": [
                {"eventName": "read", "eventType": "Consume", "groups": ["Read"]},
                {"eventName": "sent", "eventType": "Produce", "groups": ["Sent"]}],
                "licenseTiers": [
                    {"name": "Basic", "tier": 0, "features": ["read"], "annualCost": 60.0, "currency": "USD"},
                    {"name": "Pro", "tier": 1, "features": ["read", "sent"], "annualCost": 120.0, "currency": "USD"}]}),
        )
        .await["appId"]
            .as_str()
            .unwrap()
            .to_string();
        let mut events = Vec::new();
        // Ana every day, Bob on some days, Cy never in Docs; X on days where
        // nobody else is active too (so whole bitmap rows must go).
        for d in 1..=12i64 {
            let ts = t0() - d * DAY;
            events.push(json!({"timestamp": ts, "email": "ana@corp.com", "eventName": "read"}));
            if d % 3 == 0 {
                events.push(
                    json!({"timestamp": ts + 60_000, "email": "bob@corp.com", "eventName": "sent"}),
                );
            }
            if name == "Mail" && d % 4 == 0 {
                events.push(
                    json!({"timestamp": ts + 120_000, "email": "cy@corp.com", "eventName": "read"}),
                );
            }
            if with_x {
                events.push(json!({"timestamp": ts + 180_000, "email": X, "eventName": "sent"}));
                if d % 2 == 0 {
                    events.push(
                        json!({"timestamp": ts - 3_600_000, "email": X_ALIAS, "eventName": "read"}),
                    );
                }
            }
        }
        if with_x {
            // The only events of day 20: X's alone.
            events.push(json!({"timestamp": t0() - 20 * DAY, "email": X, "eventName": "read"}));
        }
        post_ok(
            c,
            &format!("/services/push/v1/customer/apps/{app}/events"),
            &json!({"events": events}),
        )
        .await;
        let mut users = vec![
            json!({"appUserId": "u1", "email": "ana@corp.com", "license": "Pro"}),
            json!({"appUserId": "u2", "email": "cy@corp.com", "license": "Basic"}),
        ];
        if with_x {
            users.push(json!({"appUserId": "u3", "email": X, "license": "Pro"}));
        }
        post_ok(
            c,
            &format!("/services/push/v1/customer/apps/{app}/users"),
            &json!({"provisionedUsers": users}),
        )
        .await;
        apps.push(app);
    }

    let mut agents = vec![("ana", "LT-1", 9), ("bob", "LT-2", 9)];
    if with_x {
        agents.push(("xavier", "LT-3", 9));
        // X also used Bob's computer.
        agents.push(("xavier", "LT-2", 14));
    }
    for (user, computer, hour) in agents {
        post_ok(c, "/agent/v1/activity", &agent_batch(user, computer, hour)).await;
    }
    // Ana identified through the tracking API; X too, with an anonymous id
    // linked to theirs and an event of it.
    let key = post_ok(
        c,
        "/admin/v1/credentials",
        &json!({"type": "writeKey", "appId": apps[0], "name": "site"}),
    )
    .await["writeKey"]
        .as_str()
        .unwrap()
        .to_string();
    let mut identities = vec![("ana-1", "ana@corp.com")];
    if with_x {
        identities.push(("xav-1", X));
    }
    for (user_id, email) in identities {
        segment(
            c,
            &key,
            "/v1/identify",
            json!({"userId": user_id, "messageId": format!("i-{user_id}"),
            "timestamp": rfc3339(t0() - 2 * HOUR), "traits": {"email": email}}),
        )
        .await;
    }
    if with_x {
        segment(
            c,
            &key,
            "/v1/alias",
            json!({"userId": "xav-1", "previousId": "anon-x",
            "messageId": "a-x", "timestamp": rfc3339(t0() - 2 * HOUR)}),
        )
        .await;
        segment(
            c,
            &key,
            "/v1/track",
            json!({"anonymousId": "anon-x", "event": "read",
            "messageId": "t-x", "timestamp": rfc3339(t0() - 90 * 60_000)}),
        )
        .await;
    }
    if with_x {
        post_ok(
            c,
            "/admin/v1/consumers",
            &json!({"email": X, "name": "Xavier", "role": "employee", "logins": ["corp\\xavier"]}),
        )
        .await;
    }
    apps
}

/// `v` without what legitimately differs between two accounts: ids, the
/// app ids (given), and generation times.
fn normalized(v: &Value, apps: &[String]) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                let volatile = k == "id"
                    || k.ends_with("Id")
                    || k.ends_with("Ids")
                    || k == "cursor"
                    || k == "userid"
                    || k == "generatedAt"
                    || (k == "computers"
                        && x.as_array().is_some_and(|a| a.iter().all(Value::is_number)));
                if !volatile {
                    out.insert(k.clone(), normalized(x, apps));
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| normalized(x, apps)).collect()),
        Value::String(s) => {
            let mut s = s.clone();
            for (i, app) in apps.iter().enumerate() {
                s = s.replace(app.as_str(), &format!("<app{i}>"));
            }
            Value::String(s)
        }
        other => other.clone(),
    }
}

/// Every report the erasure must leave as if X had never been there.
async fn reports(c: &Client, apps: &[String]) -> Vec<(String, Value)> {
    let (from, to) = (day(30), day(0));
    let mut paths = Vec::new();
    for app in apps {
        paths.push(format!(
            "/pull/v1/apps/{app}/engagement?rollingWindow=7&by=team"
        ));
        paths.push(format!("/pull/v1/apps/{app}/engagement?rollingWindow=30"));
        paths.push(format!(
            "/pull/v1/apps/{app}/inactive-users?rollingWindow=7"
        ));
        paths.push(format!("/pull/v1/apps/{app}/users"));
        paths.push(format!("/pull/v1/apps/{app}/users?dataSource=employees"));
        paths.push(format!("/pull/v1/apps/{app}/trend"));
        paths.push(format!("/pull/v1/apps/{app}/rightsizing"));
    }
    paths.push(format!(
        "/reports/v2/workinghours/users?from={from}&to={to}"
    ));
    paths.push(format!(
        "/reports/v2/activitylog?startDate={from}&endDate={to}&pageSize=1000"
    ));
    let mut out = Vec::new();
    for path in paths {
        let body = ok(c, &path).await;
        let generic = path.replace(&apps[0], "<app0>").replace(&apps[1], "<app1>");
        out.push((generic, normalized(&body, apps)));
    }
    out
}

#[tokio::test]
async fn an_erased_person_leaves_reports_as_if_never_fed() {
    let server = TestServer::start().await;
    let with_x = server.account().await;
    let without_x = server.account().await;
    let apps_with = feed(&with_x, true).await;
    let apps_without = feed(&without_x, false).await;
    // Reports are read (and cached) before the erasure, so stale caches show.
    let before = reports(&with_x.client, &apps_with).await;
    let expected = reports(&without_x.client, &apps_without).await;
    assert_ne!(before, expected, "X must show before the erasure");

    let c = &with_x.client;
    // An administrator looks at X's own working hours: an access record.
    let clients = ok(c, "/admin/v1/clients").await;
    let x_client = clients["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "xavier")
        .unwrap()["id"]
        .clone();
    ok(
        c,
        &format!(
            "/reports/v2/workinghours/users?from={}&to={}&userId={x_client}",
            day(5),
            day(0)
        ),
    )
    .await;
    let body = post_ok(
        c,
        "/admin/v1/people/erase",
        &json!({"email": "Xavier@Corp.com"}),
    )
    .await;
    assert_eq!(body["success"], true, "{body}");
    let erased = &body["erased"];
    // Per app: 12 + 6 events under X and the alias, and day 20's; and the
    // tracked event of X's anonymous id.
    assert_eq!(erased["usageEvents"], 2 * 19 + 1, "{body}");
    assert_eq!(erased["usageEmails"], 2, "{body}");
    // One pushed per app, and the one the identify made.
    assert_eq!(erased["provisionedUsers"], 3, "{body}");
    assert_eq!(erased["orgChartEntries"], 1, "{body}");
    assert_eq!(erased["agentLogins"], 1, "{body}");
    assert_eq!(erased["activityRecords"], 12, "{body}");
    // LT-3 had only X's activity; LT-2 keeps Bob's.
    assert_eq!(erased["computers"], 1, "{body}");
    // xav-1 and the anonymous id linked to it.
    assert_eq!(erased["segmentIdentities"], 2, "{body}");
    // The users reports showed X by email, the working hours by client.
    assert_eq!(erased["accessRecords"], 2, "{body}");

    let after = reports(c, &apps_with).await;
    for ((path, got), (_, want)) in after.iter().zip(&expected) {
        assert_eq!(got, want, "{path} differs after the erasure");
    }
    let serialized = serde_json::to_string(&after).unwrap();
    assert!(!serialized.contains("xav"), "{serialized}");

    // Nothing is left to erase; and no second audit event.
    let (status, body) = c.post("/admin/v1/people/erase", &json!({"email": X})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = c
        .post(
            "/admin/v1/people/erase",
            &json!({"email": "nobody@corp.com"}),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let events = audit_events(c, "PersonErased").await;
    assert_eq!(events.len(), 1, "{events:?}");
    let props = &events[0]["eventProperties"];
    assert_eq!(props["email"], X);
    assert_eq!(props["erased"], erased.clone());
    let keys: Vec<&String> = props.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["actorCredentialId", "email", "erased"],
        "only who, the subject and the counts: {props}"
    );

    // X pushed again afterwards is a new person with only the new event.
    post_ok(
        c,
        &format!("/services/push/v1/customer/apps/{}/events", apps_with[0]),
        &json!({"events": [{"timestamp": now() - HOUR, "email": X, "eventName": "read"}]}),
    )
    .await;
    let users = ok(c, &format!("/pull/v1/apps/{}/users", apps_with[0])).await;
    let text = users.to_string();
    assert!(text.contains(X), "{text}");
    assert!(!text.contains("~erased~"), "{text}");

    // The other account is untouched.
    assert_eq!(reports(&without_x.client, &apps_without).await, expected);
}

#[tokio::test]
async fn only_admins_erase_and_bad_emails_are_refused() {
    let server = TestServer::start().await;
    let account = server.account().await;
    feed(&account, true).await;
    for role in ["viewer", "employee"] {
        let (_, c) = account.user_with_key(role, json!({})).await;
        let (status, body) = c.post("/admin/v1/people/erase", &json!({"email": X})).await;
        assert_error(status, &body, StatusCode::FORBIDDEN);
    }
    let c = &account.client;
    let (status, body) = c
        .post("/admin/v1/people/erase", &json!({"email": "not an email"}))
        .await;
    assert!(status.is_client_error(), "{status} {body}");
    assert!(audit_events(c, "PersonErased").await.is_empty());
    // Still all there.
    let body = post_ok(c, "/admin/v1/people/erase", &json!({"email": X})).await;
    assert_eq!(body["erased"]["orgChartEntries"], 1, "{body}");
}

/// Sends one tracking-API message with write key `key`.
async fn segment(c: &Client, key: &str, path: &str, body: Value) {
    let res = c
        .http
        .post(format!("{}{path}", c.base))
        .basic_auth(key, Some(""))
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = res.status();
    assert_eq!(
        status,
        StatusCode::OK,
        "{path}: {}",
        res.text().await.unwrap_or_default()
    );
}

async fn audit_events(c: &Client, event_type: &str) -> Vec<Value> {
    let (start, end) = (rfc3339(now() - DAY), rfc3339(now() + DAY));
    let body = ok(
        c,
        &format!(
            "/services/pull/v1/customer/audit-events?startTime={start}&endTime={end}&eventType={event_type}"
        ),
    )
    .await;
    body["events"].as_array().cloned().unwrap_or_default()
}
