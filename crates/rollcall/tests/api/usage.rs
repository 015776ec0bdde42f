//! Custom-app usage through the HTTP API (issue: usage): apps, events, provisioned
//! users, the org chart and the insights, starting with the seed's e-mail story.

use reqwest::{Method, StatusCode};
use rollcall_core::time;
use serde_json::{json, Value};

use crate::common::{assert_error, http_client, provision, Account, Client, TestServer};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn now() -> i64 {
    rollcall_store::now_ms()
}

/// Local day number of today in `zone`.
fn today(zone: &str) -> i32 {
    let tz = time::parse_time_zone(zone).unwrap();
    time::day_number(time::local_date(now(), &tz))
}

fn date(day: i32) -> String {
    time::date_of_day_number(day).to_string()
}

/// Noon (local) of a day number in `zone`.
fn noon(day: i32, zone: &str) -> i64 {
    let tz = time::parse_time_zone(zone).unwrap();
    time::start_of_day_ms(time::date_of_day_number(day), &tz) + 12 * HOUR
}

const SENT: [&str; 4] = ["created", "replied", "replied-all", "forwarded"];

/// The seed's "Mail" app: four events in "Sent an Email", `read` in "Read".
async fn mail_app(client: &Client) -> String {
    let mut events: Vec<Value> = SENT
        .iter()
        .map(|e| json!({"eventName": e, "description": format!("{e} an email"), "eventType": "Produce", "groups": ["Sent an Email"]}))
        .collect();
    events.push(json!({"eventName": "read", "eventType": "Consume", "groups": ["Read"]}));
    events.push(json!({"eventName": "login", "eventType": "Login"}));
    events.push(json!({"eventName": "admin", "eventType": "Admin", "minLicenseTier": "Pro"}));
    let (status, body) = client
        .post(
            "/services/push/v1/customer/apps",
            &json!({
                "name": "Mail", "category": "Communication", "description": "On-premise e-mail",
                "sso": false, "events": events,
                "licenseTiers": [
                    {"name": "Basic", "tier": 0, "features": ["mail"], "annualCost": 60.0, "currency": "USD"},
                    {"name": "Pro", "tier": 1, "features": ["mail", "admin"], "annualCost": 120.0, "currency": "USD"}
                ]
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    body["appId"].as_str().unwrap().to_string()
}

async fn push(client: &Client, app: &str, events: &[(i64, &str, &str)]) -> (StatusCode, Value) {
    let events: Vec<Value> = events
        .iter()
        .map(|(ts, email, name)| json!({"timestamp": ts, "email": email, "eventName": name}))
        .collect();
    client
        .post(
            &format!("/services/push/v1/customer/apps/{app}/events"),
            &json!({"events": events}),
        )
        .await
}

async fn push_ok(client: &Client, app: &str, events: &[(i64, &str, &str)]) -> Value {
    let (status, body) = push(client, app, events).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Pushes an org chart in two pages; returns the snapshot id.
async fn org_chart(client: &Client, users: Vec<Value>) -> i64 {
    let (status, body) = client
        .post(
            "/services/push/v1/customer/org-chart",
            &json!({"orgChartName": "HR export", "customFieldsConfig": ["Division"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["id"].as_i64().unwrap();
    let half = users.len() / 2;
    for (chunk, more) in [(&users[..half], true), (&users[half..], false)] {
        let (status, body) = client
            .put(
                &format!("/services/push/v1/customer/org-chart/{id}"),
                &json!({"hasMore": more, "users": chunk}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    id
}

/// A users-report row's activity on the feature group `name`.
fn group_of<'a>(user: &'a Value, name: &str) -> &'a Value {
    user["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == name)
        .unwrap_or_else(|| panic!("no group {name} in {user}"))
}

fn sales(i: usize) -> String {
    format!("sales{i}@corp.com")
}
fn service(i: usize) -> String {
    format!("cs{i}@corp.com")
}

/// Sales (6) and Customer-Service (8), named like their emails.
fn mail_people() -> Vec<Value> {
    let mut users = Vec::new();
    for i in 1..=6 {
        users.push(json!({"email": sales(i), "firstName": format!("S{i}"), "lastName": "Seller", "team": "Sales", "Division": "North"}));
    }
    for i in 1..=8 {
        users.push(json!({"email": service(i), "firstName": format!("C{i}"), "lastName": "Helper", "team": "Customer-Service"}));
    }
    users
}

async fn audit_types(client: &Client) -> Vec<(String, Value)> {
    let start = time::format_ms(now() - HOUR);
    let end = time::format_ms(now() + HOUR);
    let (status, body) = client
        .get(&format!(
            "/services/pull/v1/customer/audit-events?startTime={start}&endTime={end}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["eventType"].as_str().unwrap().to_string(),
                e["eventProperties"].clone(),
            )
        })
        .collect()
}

async fn engagement(client: &Client, app: &str, query: &str) -> Value {
    let (status, body) = client
        .get(&format!("/pull/v1/apps/{app}/engagement?{query}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn segment<'a>(body: &'a Value, value: &str) -> &'a Value {
    body["segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["value"] == value)
        .unwrap_or_else(|| panic!("no segment {value} in {body}"))
}

#[tokio::test]
async fn the_seed_email_story_end_to_end() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = mail_app(c).await;
    org_chart(c, mail_people()).await;
    let t = today("UTC");
    let mut events = Vec::new();
    // 5 of 6 in Sales sent an email in the last 7 days; sales6 only read.
    for i in 1..=5 {
        events.push((noon(t - 1, "UTC"), sales(i), "created"));
        events.push((noon(t - 3, "UTC") + i as i64, sales(i), "replied"));
    }
    events.push((noon(t - 1, "UTC"), sales(6), "read"));
    // 5 of 8 in Customer-Service; cs6 sent 20 days ago, cs7 and cs8 never.
    for i in 1..=5 {
        events.push((noon(t - 2, "UTC"), service(i), "forwarded"));
        events.push((noon(t - 6, "UTC"), service(i), "replied-all"));
    }
    events.push((noon(t - 20, "UTC"), service(6), "created"));
    // Someone outside the org chart.
    events.push((
        noon(t - 1, "UTC"),
        "Stranger@Elsewhere.com".to_string(),
        "created",
    ));
    let refs: Vec<(i64, &str, &str)> = events
        .iter()
        .map(|(a, b, c)| (*a, b.as_str(), *c))
        .collect();
    let body = push_ok(c, &app, &refs).await;
    assert_eq!(body["accepted"], 23);
    assert_eq!(body["duplicates"], 0);

    let e = engagement(c, &app, "group=Sent%20an%20Email&rollingWindow=7&by=team").await;
    assert_eq!(e["group"], "Sent an Email");
    assert_eq!(e["rollingWindow"], 7);
    assert_eq!(e["asOfDate"], date(t));
    assert_eq!(e["population"], "employees");
    assert_eq!(segment(&e, "Sales")["percent"], 83.3);
    assert_eq!(segment(&e, "Sales")["population"], 6);
    assert_eq!(segment(&e, "Sales")["active"], 5);
    assert_eq!(segment(&e, "Customer-Service")["percent"], 62.5);
    assert_eq!(segment(&e, "Customer-Service")["active"], 5);
    assert_eq!(e["total"]["population"], 14);
    assert_eq!(e["total"]["active"], 10);
    assert_eq!(e["total"]["percent"], 71.4);
    assert_eq!(e["total"]["outsidePopulation"], 1);

    // By a custom field: people without a value form the null segment.
    let e = engagement(
        c,
        &app,
        "group=Sent%20an%20Email&rollingWindow=7&by=Division",
    )
    .await;
    assert_eq!(segment(&e, "North")["active"], 5);
    let none = e["segments"].as_array().unwrap().last().unwrap();
    assert_eq!(none["value"], Value::Null);
    assert_eq!(none["population"], 8);

    // Inactive over 30 days: exactly sales6, cs7 and cs8.
    let (status, body) = c
        .get(&format!(
            "/pull/v1/apps/{app}/inactive-users?group=Sent%20an%20Email&rollingWindow=30&population=employees"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let emails: Vec<&str> = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        vec!["cs7@corp.com", "cs8@corp.com", "sales6@corp.com"]
    );
    assert_eq!(body["users"][2]["firstName"], "S6");
    assert_eq!(body["users"][0]["lastActivity"], Value::Null);

    // The CSV download is audited.
    let (status, csv) = c
        .send(
            c.request(
                Method::GET,
                &format!("/pull/v1/apps/{app}/inactive-users?group=Sent%20an%20Email&rollingWindow=30&population=employees"),
            )
            .header("accept", "text/csv"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let csv = csv.as_str().unwrap().to_string();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[0].starts_with("email,firstName,lastName,team,license,lastActivity"));
    assert!(lines[3].starts_with("sales6@corp.com,S6,Seller,Sales"));
    let audit = audit_types(c).await;
    let downloads: Vec<_> = audit
        .iter()
        .filter(|(t, _)| t == "DownloadedUsersList")
        .collect();
    assert_eq!(downloads.len(), 1, "{audit:?}");
    assert_eq!(downloads[0].1["appId"], app.as_str());
    assert!(audit
        .iter()
        .any(|(t, p)| t == "AppConnected" && p["app"] == "Mail"));
    assert_eq!(
        audit.iter().filter(|(t, _)| t == "UploadedOrgData").count(),
        1
    );
}

#[tokio::test]
async fn a_repushed_batch_counts_as_duplicates_and_emails_ignore_case() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = mail_app(c).await;
    let ts = now() - HOUR;
    let batch = [
        (ts, "joe@corp.com", "created"),
        (ts, "ann@corp.com", "created"),
        (ts + 1, "joe@corp.com", "read"),
    ];
    let first = push_ok(c, &app, &batch).await;
    assert_eq!(
        (first["accepted"].clone(), first["duplicates"].clone()),
        (json!(3), json!(0))
    );
    let again = push_ok(c, &app, &batch).await;
    assert_eq!(
        (again["accepted"].clone(), again["duplicates"].clone()),
        (json!(0), json!(3))
    );
    let shouted = push_ok(
        c,
        &app,
        &[
            (ts, "JOE@Corp.com", "created"),
            (ts + 2, "joe@corp.com", "created"),
        ],
    )
    .await;
    assert_eq!(
        (shouted["accepted"].clone(), shouted["duplicates"].clone()),
        (json!(1), json!(1))
    );
}

/// The (index, field) of each item error of an error body.
fn item_fields(body: &Value) -> Vec<(i64, &str)> {
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["index"].as_i64().unwrap(), e["field"].as_str().unwrap()))
        .collect()
}

#[tokio::test]
async fn a_batch_with_bad_items_stores_nothing_and_names_each_index() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = mail_app(c).await;
    let ts = now() - HOUR;
    let (status, body) = push(
        c,
        &app,
        &[
            (ts, "a@corp.com", "created"),
            (ts, "b@corp.com", "teleported"),
            (ts, "c@corp.com", "read"),
        ],
    )
    .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["index"], 1);
    assert_eq!(errors[0]["field"], "eventName");
    assert!(errors[0]["message"]
        .as_str()
        .unwrap()
        .contains("teleported"));
    // Nothing was stored: the good items are new on a second push.
    let body = push_ok(
        c,
        &app,
        &[(ts, "a@corp.com", "created"), (ts, "c@corp.com", "read")],
    )
    .await;
    assert_eq!(body["accepted"], 2);

    // Other reasons: bad email, too old, too far ahead, Login without targetApp.
    let (status, body) = c
        .post(
            &format!("/services/push/v1/customer/apps/{app}/events"),
            &json!({"events": [
                {"timestamp": ts, "email": "not-an-email", "eventName": "read"},
                {"timestamp": now() - 800 * DAY, "email": "a@corp.com", "eventName": "read"},
                {"timestamp": now() + 2 * DAY, "email": "a@corp.com", "eventName": "read"},
                {"timestamp": ts, "email": "a@corp.com", "eventName": "login"},
                {"timestamp": ts + 5, "email": "a@corp.com", "eventName": "login", "targetApp": "Mail"},
                {"timestamp": "yesterday", "email": "a@corp.com", "eventName": "read"}
            ]}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let named = item_fields(&body);
    assert_eq!(
        named,
        vec![
            (0, "email"),
            (1, "timestamp"),
            (2, "timestamp"),
            (3, "targetApp"),
            (5, "timestamp")
        ]
    );
    let body = push_ok(c, &app, &[(ts + 5, "a@corp.com", "read")]).await;
    assert_eq!(body["accepted"], 1);

    // Shapes: an item that is no object, a field missing, fields of the wrong type.
    let path = format!("/services/push/v1/customer/apps/{app}/events");
    let (status, body) = c
        .post(
            &path,
            &json!({"events": [
                "read",
                {"email": "a@corp.com", "eventName": "read"},
                {"timestamp": 1.5e12, "email": 7, "eventName": ["read"]},
                {"timestamp": ts + 6, "email": "a@corp.com", "eventName": "read", "extra": {"x": [1]}}
            ]}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let named = item_fields(&body);
    assert_eq!(
        named,
        vec![
            (0, "event"),
            (1, "timestamp"),
            (2, "timestamp"),
            (2, "email"),
            (2, "eventName")
        ]
    );
    for bad in [
        json!({"events": {"a": 1}}),
        json!({"event": []}),
        json!([1]),
    ] {
        let (status, body) = c.post(&path, &bad).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            body["message"].as_str().unwrap().contains("{\"events\""),
            "{body}"
        );
    }
    // Nothing of those was stored.
    let body = push_ok(c, &app, &[(ts + 6, "a@corp.com", "read")]).await;
    assert_eq!(body["accepted"], 1);
}

#[tokio::test]
async fn an_event_at_2330_local_counts_on_that_local_day() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let zone = "Etc/GMT+5"; // UTC-5 all year
    account.settings(json!({"timeZone": zone})).await;
    let app = mail_app(c).await;
    let d = today(zone) - 2;
    let tz = time::parse_time_zone(zone).unwrap();
    let at_2330 = time::start_of_day_ms(time::date_of_day_number(d + 1), &tz) - 30 * 60_000;
    // In UTC this is already the next day.
    assert_eq!(
        time::local_date(at_2330, &time::parse_time_zone("UTC").unwrap()),
        time::date_of_day_number(d + 1)
    );
    push_ok(c, &app, &[(at_2330, "owl@corp.com", "created")]).await;
    let (status, body) = c
        .get(&format!(
            "/pull/v1/apps/{app}/trend?from={}&to={}",
            date(d),
            date(d + 1)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["series"][0]["date"], date(d));
    assert_eq!(body["series"][0]["dau"], 1);
    assert_eq!(body["series"][1]["dau"], 0);
    assert_eq!(body["series"][1]["wau"], 1);
    let e = engagement(c, &app, &format!("rollingWindow=1&asOfDate={}", date(d))).await;
    assert_eq!(e["total"]["outsidePopulation"], 1);
}

#[tokio::test]
async fn a_late_event_changes_last_weeks_wau() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = mail_app(c).await;
    let t = today("UTC");
    push_ok(c, &app, &[(noon(t - 1, "UTC"), "a@corp.com", "read")]).await;
    let path = format!(
        "/pull/v1/apps/{app}/trend?from={}&to={}",
        date(t - 7),
        date(t - 7)
    );
    let (_, before) = c.get(&path).await;
    assert_eq!(before["series"][0]["wau"], 0, "{before}");
    push_ok(c, &app, &[(noon(t - 9, "UTC"), "b@corp.com", "read")]).await;
    let (_, after) = c.get(&path).await;
    assert_eq!(after["series"][0]["wau"], 1, "{after}");
    assert_eq!(after["series"][0]["mau"], 1);
    assert_eq!(after["series"][0]["dau"], 0);
}

#[tokio::test]
async fn an_alias_email_counts_for_its_person() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = mail_app(c).await;
    // The event arrives before the org chart that names the alias.
    push_ok(c, &app, &[(now() - HOUR, "Ana.Alias@Corp.com", "created")]).await;
    org_chart(
        c,
        vec![
            json!({"email": "ana@corp.com", "team": "Sales", "additionalEmails": ["ana.alias@corp.com"]}),
            json!({"email": "bo@corp.com", "team": "Sales"}),
        ],
    )
    .await;
    let e = engagement(c, &app, "rollingWindow=7").await;
    assert_eq!(segment(&e, "Sales")["active"], 1);
    assert_eq!(e["total"]["outsidePopulation"], 0);
    let (status, body) = c
        .get(&format!("/pull/v1/apps/{app}/users?dataSource=employees"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ana = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "ana@corp.com")
        .unwrap();
    assert_eq!(ana["status"], "Active");
    assert_eq!(ana["activeDays"], 1);
    assert_eq!(ana["groups"][0]["group"], "Sent an Email");
    assert_eq!(ana["groups"][0]["activeDays"], 1);
    assert_eq!(ana["groups"][1]["activeDays"], 0);
    assert_eq!(ana["team"], "Sales");
    let bo = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "bo@corp.com")
        .unwrap();
    assert_eq!(bo["status"], "NeverUsed");
}

/// Three tiers; a person with an alias and two accounts, one with two
/// accounts whose first needs its tier, someone who never used the app,
/// emails outside the org chart.
#[tokio::test]
async fn right_sizing_asks_each_person_once_by_the_highest_tier_they_used() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let (status, body) = c
        .post(
            "/services/push/v1/customer/apps",
            &json!({
                "name": "Suite", "category": "Office", "description": "Docs", "sso": false,
                "events": [
                    {"eventName": "view", "eventType": "Consume"},
                    {"eventName": "share", "eventType": "Produce", "minLicenseTier": "Team"},
                    {"eventName": "audit", "eventType": "Admin", "minLicenseTier": "Enterprise"}
                ],
                "licenseTiers": [
                    {"name": "Basic", "tier": 0, "features": [], "annualCost": 60.0, "currency": "USD"},
                    {"name": "Team", "tier": 1, "features": [], "annualCost": 120.0, "currency": "USD"},
                    {"name": "Enterprise", "tier": 2, "features": [], "annualCost": 300.0, "currency": "USD"}
                ]
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let app = body["appId"].as_str().unwrap().to_string();
    org_chart(
        c,
        vec![
            json!({"email": "ana@corp.com", "additionalEmails": ["ana.alt@corp.com"]}),
            json!({"email": "bo@corp.com"}),
            json!({"email": "cy@corp.com"}),
            json!({"email": "di@corp.com"}),
        ],
    )
    .await;
    let t = now() - HOUR;
    push_ok(
        c,
        &app,
        &[
            (t, "ana@corp.com", "view"),
            // Through her alias: still ana's, and it needs Team.
            (t, "ana.alt@corp.com", "share"),
            (t, "bo@corp.com", "audit"),
            (t, "zed@outside.com", "view"),
        ],
    )
    .await;
    provision(
        c,
        &app,
        &[
            ("u1", "ana@corp.com", "Enterprise"),
            ("u2", "ana.alt@corp.com", "Enterprise"),
            ("u3", "bo@corp.com", "Enterprise"),
            ("u4", "cy@corp.com", "Team"),
            ("u5", "di@corp.com", "Basic"),
            ("u6", "zed@outside.com", "Team"),
            ("u7", "nobody@outside.com", "Enterprise"),
            ("u8", "bo@corp.com", "Team"),
        ],
    )
    .await;
    let (status, body) = c
        .get(&format!("/pull/v1/apps/{app}/rightsizing?rollingWindow=7"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows: Vec<Value> = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            json!([
                u["appUserId"],
                u["email"],
                u["license"],
                u["recommendedLicense"],
                u["usedEvents"],
                u["savings"]
            ])
        })
        .collect();
    // ana once (her first account), bo not (audit needs Enterprise; his second
    // account is him again), di not (Basic is the lowest).
    assert_eq!(
        Value::Array(rows),
        json!([
            [
                "u1",
                "ana@corp.com",
                "Enterprise",
                "Team",
                ["share", "view"],
                180.0
            ],
            ["u4", "cy@corp.com", "Team", "Basic", [], 60.0],
            ["u6", "zed@outside.com", "Team", "Basic", ["view"], 60.0],
            ["u7", "nobody@outside.com", "Enterprise", "Basic", [], 240.0]
        ]),
        "{body}"
    );
    assert_eq!(body["potentialSavings"]["amount"], 540.0, "{body}");
}

#[tokio::test]
async fn regrouping_an_event_changes_past_figures() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = mail_app(c).await;
    let t = today("UTC");
    push_ok(c, &app, &[(noon(t - 5, "UTC"), "a@corp.com", "read")]).await;
    let q = "group=Sent%20an%20Email&rollingWindow=30";
    assert_eq!(
        engagement(c, &app, q).await["total"]["outsidePopulation"],
        0
    );
    // Redefine: "read" now also counts as sending, plus a new event and group.
    let (_, mut def) = c
        .get(&format!("/services/push/v1/customer/apps/{app}"))
        .await;
    let events = def["events"].as_array_mut().unwrap();
    for e in events.iter_mut() {
        if e["eventName"] == "read" {
            e["groups"] = json!(["Read", "Sent an Email"]);
        }
    }
    events.push(json!({"eventName": "archived", "eventType": "Other", "groups": ["Tidy"]}));
    let body =
        json!({"name": "Mail", "events": def["events"], "licenseTiers": def["licenseTiers"]});
    let (status, updated) = c
        .put(&format!("/services/push/v1/customer/apps/{app}"), &body)
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        engagement(c, &app, q).await["total"]["outsidePopulation"],
        1
    );
    // The new event is accepted; the old data is still there under "Read".
    push_ok(c, &app, &[(now() - HOUR, "b@corp.com", "archived")]).await;
    let e = engagement(c, &app, "group=Read&rollingWindow=30").await;
    assert_eq!(e["total"]["outsidePopulation"], 1);
    assert!(audit_types(c).await.iter().any(|(t, _)| t == "AppUpdated"));
    // An unknown group is a 400 that names the groups.
    let (status, body) = c
        .get(&format!("/pull/v1/apps/{app}/engagement?group=Nope"))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn deleting_an_app_removes_its_data() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = mail_app(c).await;
    push_ok(c, &app, &[(now() - HOUR, "a@corp.com", "read")]).await;
    let (status, body) = c
        .delete(&format!("/services/push/v1/customer/apps/{app}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = c
        .get(&format!("/services/push/v1/customer/apps/{app}"))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = c.get(&format!("/pull/v1/apps/{app}/engagement")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = push(c, &app, &[(now() - HOUR, "a@corp.com", "read")]).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    assert!(audit_types(c)
        .await
        .iter()
        .any(|(t, p)| t == "AppRemoved" && p["app"] == "Mail"));
    // The rows are gone from the database, not only hidden.
    let app2 = mail_app(c).await;
    let (_, v3) = c.get("/pull/v3/apps").await;
    assert_eq!(v3["apps"].as_array().unwrap().len(), 1);
    assert_eq!(v3["apps"][0]["appId"], app2.as_str());
    let e = engagement(c, &app2, "rollingWindow=7").await;
    assert_eq!(e["total"]["outsidePopulation"], 0);
}

#[tokio::test]
async fn viewers_see_only_their_apps_and_other_accounts_see_nothing() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = mail_app(c).await;
    // allowedApps must name an existing app: a second one.
    let other_app = mail_app(c).await;
    let (_, blind) = account
        .user_with_key("viewer", json!({"allowedApps": [other_app]}))
        .await;
    for path in [
        format!("/pull/v2/apps/{app}"),
        format!("/pull/v1/apps/{app}/engagement"),
        format!("/pull/v1/apps/{app}/users"),
        format!("/pull/v1/apps/{app}/inactive-users"),
        format!("/pull/v1/apps/{app}/trend"),
        format!("/pull/v1/apps/{app}/rightsizing"),
    ] {
        let (status, body) = blind.get(&path).await;
        assert_error(status, &body, StatusCode::NOT_FOUND);
    }
    let (status, body) = blind.get("/pull/v3/apps").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed: Vec<&Value> = body["apps"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 1, "{body}");
    assert_eq!(listed[0]["appId"], other_app.as_str());
    let (_, seeing) = account
        .user_with_key("viewer", json!({"allowedApps": [app]}))
        .await;
    let (status, body) = seeing.get(&format!("/pull/v2/apps/{app}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "Mail");
    // A viewer may read but not push.
    let (status, body) = push(&seeing, &app, &[(now() - HOUR, "a@corp.com", "read")]).await;
    assert_error(status, &body, StatusCode::FORBIDDEN);

    let other = server.account().await;
    for path in [
        format!("/services/push/v1/customer/apps/{app}"),
        format!("/pull/v2/apps/{app}"),
        format!("/pull/v1/apps/{app}/engagement"),
    ] {
        let (status, body) = other.client.get(&path).await;
        assert_error(status, &body, StatusCode::NOT_FOUND);
    }
    let (status, body) = push(&other.client, &app, &[(now() - HOUR, "a@corp.com", "read")]).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (_, list) = other.client.get("/services/push/v1/customer/apps").await;
    assert_eq!(list["apps"], json!([]));
}

#[tokio::test]
async fn a_disconnected_app_refuses_pushes_and_keeps_history() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = mail_app(c).await;
    push_ok(c, &app, &[(now() - HOUR, "a@corp.com", "read")]).await;
    let (status, body) = c
        .post(
            &format!("/services/push/v1/customer/apps/{app}/disconnect"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = push(c, &app, &[(now() - HOUR, "b@corp.com", "read")]).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["message"].as_str().unwrap().contains("disconnected"));
    let e = engagement(c, &app, "rollingWindow=7").await;
    assert_eq!(e["total"]["outsidePopulation"], 1);
    let (_, v2) = c.get(&format!("/pull/v2/apps/{app}")).await;
    assert_eq!(v2["status"], "disconnected");
    assert!(audit_types(c)
        .await
        .iter()
        .any(|(t, _)| t == "AppDisconnected"));
}

#[tokio::test]
async fn the_org_chart_is_current_only_after_has_more_false() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = mail_app(c).await;
    let (_, body) = c
        .post(
            "/services/push/v1/customer/org-chart",
            &json!({"orgChartName": "v1"}),
        )
        .await;
    let id = body["id"].as_i64().unwrap();
    let path = format!("/services/push/v1/customer/org-chart/{id}");
    let (status, body) = c
        .put(
            &path,
            &json!({"hasMore": true, "users": [{"email": "a@corp.com", "team": "Ops"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["current"], false);
    assert_eq!(
        engagement(c, &app, "rollingWindow=7").await["total"]["population"],
        0
    );
    let (status, body) = c.get("/services/push/v1/customer/org-chart").await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    assert!(!audit_types(c)
        .await
        .iter()
        .any(|(t, _)| t == "UploadedOrgData"));
    // A bad user in a page stores nothing of it.
    let (status, body) = c
        .put(
            &path,
            &json!({"hasMore": false, "users": [{"email": "b@corp.com"}, {"email": "nope"}]}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["index"], 1);
    let (status, body) = c
        .put(
            &path,
            &json!({"hasMore": false, "users": [{"email": "b@corp.com", "team": "Ops"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["current"], true);
    assert_eq!(body["numUsers"], 2);
    let e = engagement(c, &app, "rollingWindow=7").await;
    assert_eq!(e["total"]["population"], 2);
    assert_eq!(segment(&e, "Ops")["population"], 2);
    assert_eq!(
        audit_types(c)
            .await
            .iter()
            .filter(|(t, _)| t == "UploadedOrgData")
            .count(),
        1
    );
    // A completed snapshot takes no more pages.
    let (status, body) = c.put(&path, &json!({"hasMore": false, "users": []})).await;
    assert_error(status, &body, StatusCode::CONFLICT);
}

#[tokio::test]
async fn an_org_csv_with_a_bad_row_is_refused_naming_the_line() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let csv = "email,firstName,team,Division\nana@corp.com,Ana,Sales,North\nnot-an-email,Bo,Sales,South\n";
    let (status, body) = c
        .send(
            c.request(Method::POST, "/services/push/v1/customer/org-chart/csv")
                .header("content-type", "text/csv")
                .body(csv),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["message"].as_str().unwrap().contains("line 3"),
        "{body}"
    );
    assert_eq!(body["errors"][0]["index"], 3);
    // Nothing was stored.
    let (status, _) = c.get("/services/push/v1/customer/org-chart").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // More than 5 custom columns.
    let (status, body) = c
        .send(
            c.request(Method::POST, "/services/push/v1/customer/org-chart/csv")
                .body("email,a,b,c,d,e,f\nx@corp.com,1,2,3,4,5,6\n"),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_signed_download_link_works_is_audited_and_refuses_alteration() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let csv = "\u{feff}email,firstName,lastName,team,additionalEmails,Division\n\
               Ana@Corp.com,Ana,Diaz,Sales,ana.d@corp.com;ad@corp.com,North\n\
               bo@corp.com,Bo,Li,Support,,\n";
    let (status, body) = c
        .send(
            c.request(Method::POST, "/services/push/v1/customer/org-chart/csv")
                .header("content-type", "text/csv")
                .body(csv),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["numUsers"], 2);
    let (status, body) = c.get("/services/push/v1/customer/org-chart").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = body["downloadUrl"].as_str().unwrap().to_string();
    assert!(url.starts_with(&server.base), "{url}");
    // No credential needed: the link is its own.
    let response = http_client().get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = response.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "email,firstName,lastName,team,location,title,managerEmail,costCenter,additionalEmails,Division");
    assert_eq!(
        lines[1],
        "ana@corp.com,Ana,Diaz,Sales,,,,,ana.d@corp.com;ad@corp.com,North"
    );
    assert_eq!(lines.len(), 3);
    let audit = audit_types(c).await;
    assert_eq!(
        audit
            .iter()
            .filter(|(t, _)| t == "DownloadedOrgData")
            .count(),
        1
    );
    assert_eq!(
        audit.iter().filter(|(t, _)| t == "UploadedOrgData").count(),
        1
    );
    // An altered link is refused (and not audited).
    let (head, sig) = url.rsplit_once('.').unwrap();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    let altered = format!("{head}.{flipped}{}", &sig[1..]);
    let response = http_client().get(&altered).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = http_client()
        .get(format!(
            "{}/services/push/v1/customer/org-chart/download?token=junk",
            server.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        audit_types(c)
            .await
            .iter()
            .filter(|(t, _)| t == "DownloadedOrgData")
            .count(),
        1
    );
}

#[tokio::test]
async fn provisioned_users_page_delete_and_drive_savings_and_rightsizing() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = mail_app(c).await;
    let users_path = format!("/services/push/v1/customer/apps/{app}/users");
    let users: Vec<Value> = (1..=5)
        .map(|i| json!({"appUserId": format!("u{i}"), "email": format!("P{i}@corp.com"), "username": format!("p{i}"),
                        "license": if i <= 2 { "Pro" } else { "Basic" }}))
        .collect();
    let (status, body) = c
        .post(&users_path, &json!({"provisionedUsers": users[..3]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = c
        .post(&users_path, &json!({"provisionedUsers": users[3..]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["numUsers"], 5);
    // A bad item stores nothing.
    let (status, body) = c
        .post(&users_path, &json!({"provisionedUsers": [{"appUserId": "u9", "email": "p9@corp.com"}, {"appUserId": "u10"}]}))
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["index"], 1);
    // Paging.
    let (_, page1) = c.get(&format!("{users_path}?pageSize=2")).await;
    assert_eq!(page1["numUsers"], 5);
    assert_eq!(page1["provisionedUsers"].as_array().unwrap().len(), 2);
    assert_eq!(page1["provisionedUsers"][0]["email"], "p1@corp.com");
    let token = page1["nextPageToken"].as_str().unwrap();
    let (_, page2) = c
        .get(&format!("{users_path}?pageSize=2&pageToken={token}"))
        .await;
    assert_eq!(page2["provisionedUsers"][0]["appUserId"], "u3");
    let (_, page3) = c
        .get(&format!(
            "{users_path}?pageSize=2&pageToken={}",
            page2["nextPageToken"].as_str().unwrap()
        ))
        .await;
    assert_eq!(page3["provisionedUsers"].as_array().unwrap().len(), 1);
    assert!(page3.get("nextPageToken").is_none());

    // p1 (Pro) uses only Basic events; p2 (Pro) uses admin; p3 is active; p4, p5 idle.
    let t = now() - HOUR;
    push_ok(
        c,
        &app,
        &[
            (t, "p1@corp.com", "read"),
            (t, "p2@corp.com", "admin"),
            (t, "p3@corp.com", "created"),
        ],
    )
    .await;
    let (status, body) = c.get(&format!("/pull/v1/apps/{app}/inactive-users")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let emails: Vec<&str> = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, vec!["p4@corp.com", "p5@corp.com"]);
    assert_eq!(
        body["potentialSavings"],
        json!({"amount": 120.0, "currency": "USD"})
    );
    assert_eq!(body["users"][0]["license"], "Basic");
    assert_eq!(body["users"][0]["annualCost"], 60.0);
    // Pages of one: the same users in the same order, the count and savings on each page.
    let inactive_path = format!("/pull/v1/apps/{app}/inactive-users?pageSize=1");
    let (_, first) = c.get(&inactive_path).await;
    assert_eq!(first["users"][0]["email"], "p4@corp.com");
    assert_eq!(first["numUsers"], 2);
    let token = first["nextPageToken"].as_str().unwrap();
    let (status, second) = c.get(&format!("{inactive_path}&pageToken={token}")).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["users"][0]["email"], "p5@corp.com");
    assert_eq!(second["users"][0]["appUserId"], "u5");
    assert_eq!(second["potentialSavings"]["amount"], 120.0);
    assert!(second.get("nextPageToken").is_none(), "{second}");
    // The CSV holds every inactive user.
    let (status, csv) = c
        .send(
            c.request(Method::GET, &format!("/pull/v1/apps/{app}/inactive-users"))
                .header("accept", "text/csv"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let lines: Vec<&str> = csv.as_str().unwrap().lines().collect();
    assert_eq!(
        lines,
        [
            "email,firstName,lastName,team,license,lastActivity,annualCost",
            "p4@corp.com,,,,Basic,,60.0",
            "p5@corp.com,,,,Basic,,60.0",
        ]
    );
    let (status, body) = c
        .get(&format!("/pull/v1/apps/{app}/rightsizing?rollingWindow=30"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let users = body["users"].as_array().unwrap();
    assert_eq!(users.len(), 1, "{body}");
    assert_eq!(users[0]["email"], "p1@corp.com");
    assert_eq!(users[0]["recommendedLicense"], "Basic");
    assert_eq!(body["potentialSavings"]["amount"], 60.0);
    // Summaries: 5 provisioned, 3 active in 30 days (as of yesterday they may be 0).
    let day_of_t = time::day_number(time::local_date(t, &time::parse_time_zone("UTC").unwrap()));
    let (_, v2) = c
        .get(&format!("/pull/v2/apps/{app}?asOfDate={}", date(day_of_t)))
        .await;
    assert_eq!(v2["provisionedUsers"], 5);
    assert_eq!(v2["activeUsers"], 3);
    assert_eq!(v2["activity"]["dau"], 3);
    assert_eq!(
        v2["annualCost"],
        json!({"amount": 420.0, "currency": "USD"})
    );
    assert_eq!(v2["licenseTiers"][1]["provisionedUsers"], 2);

    // Delete some, then all.
    let (status, body) = c
        .send(
            c.request(Method::DELETE, &users_path)
                .json(&json!({"appUserIds": ["u1"], "emails": ["P2@corp.com"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["numUsersDeleted"], 2);
    let (_, body) = c.delete(&users_path).await;
    assert_eq!(body["numUsersDeleted"], 3);
    let (_, body) = c.get(&users_path).await;
    assert_eq!(body["numUsers"], 0);
}

#[tokio::test]
async fn app_definitions_are_validated_and_listed() {
    let server = TestServer::start().await;
    let account: Account = server.account().await;
    let c = &account.client;
    let (status, body) = c
        .post(
            "/services/push/v1/customer/apps",
            &json!({"name": "X", "events": [
                {"eventName": "a", "description": "d".repeat(256)},
                {"eventName": "a", "minLicenseTier": "Gold"}
            ]}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"].as_array().unwrap().len(), 3, "{body}");
    let (status, body) = c
        .post(
            "/services/push/v1/customer/apps",
            &json!({"name": "X", "events": [{"eventName": "a", "eventType": "Bogus"}]}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let app = mail_app(c).await;
    let (_, list) = c.get("/services/push/v1/customer/apps").await;
    assert_eq!(list["apps"][0]["appId"], app.as_str());
    assert_eq!(list["apps"][0]["groups"], json!(["Sent an Email", "Read"]));
    let (status, body) = c
        .get(&format!("/pull/v1/apps/{app}/engagement?rollingWindow=5"))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = c
        .get(&format!("/pull/v1/apps/{app}/engagement?by=shoeSize"))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = c
        .get(&format!("/pull/v1/apps/{app}/engagement?colour=red"))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn app_summaries_and_the_users_report_page_with_a_cursor() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = mail_app(c).await;
    let t = today("UTC");
    let events: Vec<(i64, String, &str)> = (1..=5)
        .map(|i| (noon(t - 2, "UTC"), format!("u{i}@corp.com"), "created"))
        .collect();
    let refs: Vec<(i64, &str, &str)> = events
        .iter()
        .map(|(a, b, c)| (*a, b.as_str(), *c))
        .collect();
    push_ok(c, &app, &refs).await;
    push_ok(c, &app, &[(noon(t - 40, "UTC"), "old@corp.com", "read")]).await;
    let (status, body) = c
        .post(
            &format!("/services/push/v1/customer/apps/{app}/users"),
            &json!({"provisionedUsers": [{"appUserId": "n1", "email": "never@corp.com", "license": "Basic"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, v3) = c.get("/pull/v3/apps").await;
    assert_eq!(status, StatusCode::OK, "{v3}");
    assert_eq!(
        v3["asOfDate"],
        date(t),
        "the same default day as the other reports"
    );
    let a = &v3["apps"][0];
    assert_eq!(a["appId"], app.as_str());
    assert_eq!(a["name"], "Mail");
    assert_eq!(a["status"], "connected");
    assert_eq!(a["category"], "Communication");
    assert_eq!(a["provisionedUsers"], 1);
    assert_eq!(a["activeUsers"], 5);
    assert_eq!(a["licensesPurchased"], Value::Null);
    assert_eq!(a["annualCost"], json!({"amount": 60.0, "currency": "USD"}));

    // 7 users: 5 active, old@ inactive, never@ never used; pages of 3.
    let mut seen = Vec::new();
    let mut path = format!("/pull/v1/apps/{app}/users?rollingWindow=30&pageSize=3");
    loop {
        let (status, body) = c.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["numUsers"], 7);
        for u in body["users"].as_array().unwrap() {
            seen.push((
                u["email"].as_str().unwrap().to_string(),
                u["status"].as_str().unwrap().to_string(),
            ));
        }
        match body["nextPageToken"].as_str() {
            Some(next) => {
                path = format!("/pull/v1/apps/{app}/users?rollingWindow=30&pageSize=3&after={next}")
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    assert!(seen.contains(&("old@corp.com".into(), "Inactive".into())));
    assert!(seen.contains(&("never@corp.com".into(), "NeverUsed".into())));
    assert_eq!(seen.iter().filter(|(_, s)| s == "Active").count(), 5);
    // A cursor of another query is refused.
    let (_, first) = c
        .get(&format!(
            "/pull/v1/apps/{app}/users?rollingWindow=30&pageSize=3"
        ))
        .await;
    let next = first["nextPageToken"].as_str().unwrap();
    let (status, body) = c
        .get(&format!(
            "/pull/v1/apps/{app}/users?rollingWindow=7&pageSize=3&after={next}"
        ))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
}

/// Each users page is cut from a listing the server keeps between requests; it
/// must follow a new user, a provisioned account, an org chart that makes two
/// emails one person, and a latest activity that moves.
#[tokio::test]
async fn the_users_report_follows_new_users_provisioning_and_the_org_chart() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = mail_app(c).await;
    let t = today("UTC");
    let users = |source: &'static str| {
        let path = format!("/pull/v1/apps/{app}/users?dataSource={source}&pageSize=2");
        async move {
            let mut rows: Vec<(String, String)> = Vec::new();
            let mut next: Option<String> = None;
            let mut num: Option<usize> = None;
            loop {
                let page = match &next {
                    Some(token) => format!("{path}&after={token}"),
                    None => path.clone(),
                };
                let (status, body) = c.get(&page).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                for u in body["users"].as_array().unwrap() {
                    rows.push((
                        u["email"].as_str().unwrap().to_string(),
                        u["status"].as_str().unwrap().to_string(),
                    ));
                }
                let n = body["numUsers"].as_u64().unwrap() as usize;
                assert_eq!(*num.get_or_insert(n), n, "every page, the same total");
                next = body["nextPageToken"].as_str().map(str::to_string);
                if next.is_none() {
                    assert_eq!(num, Some(rows.len()), "numUsers counts every page's rows");
                    return rows;
                }
            }
        }
    };
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(e, s)| (e.to_string(), s.to_string()))
            .collect()
    };
    push_ok(c, &app, &[(noon(t - 40, "UTC"), "b@corp.com", "created")]).await;
    push_ok(c, &app, &[(noon(t - 1, "UTC"), "d@corp.com", "created")]).await;
    let first = users("all").await;
    assert_eq!(
        first,
        pairs(&[("b@corp.com", "Inactive"), ("d@corp.com", "Active")])
    );
    assert_eq!(users("all").await, first, "asked again, the same");
    // A new user of the app.
    push_ok(c, &app, &[(noon(t - 1, "UTC"), "a@corp.com", "read")]).await;
    assert_eq!(
        users("all").await,
        pairs(&[
            ("a@corp.com", "Active"),
            ("b@corp.com", "Inactive"),
            ("d@corp.com", "Active")
        ])
    );
    // A provisioned account that never used it, listed by `all` but not by `events`.
    let (status, body) = c
        .post(
            &format!("/services/push/v1/customer/apps/{app}/users"),
            &json!({"provisionedUsers": [{"appUserId": "n1", "email": "c@corp.com", "license": "Basic"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        users("all").await,
        pairs(&[
            ("a@corp.com", "Active"),
            ("b@corp.com", "Inactive"),
            ("c@corp.com", "NeverUsed"),
            ("d@corp.com", "Active"),
        ])
    );
    assert_eq!(users("events").await.len(), 3);
    // The inactive user comes back.
    push_ok(c, &app, &[(noon(t - 1, "UTC"), "b@corp.com", "read")]).await;
    assert_eq!(
        users("events").await[1],
        ("b@corp.com".into(), "Active".into())
    );
    // Its groups: one used only before the 30-day window, one inside it.
    let (status, body) = c
        .get(&format!(
            "/pull/v1/apps/{app}/users?dataSource=events&rollingWindow=30"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let b = &body["users"][1];
    assert_eq!(b["email"], "b@corp.com");
    let group = |name: &str| group_of(b, name).clone();
    let sent = group("Sent an Email");
    assert_eq!(sent["activeDays"], 0);
    assert_eq!(
        sent["lastActivity"],
        time::format_ms(noon(t - 40, "UTC") - 12 * HOUR)
    );
    let read = group("Read");
    assert_eq!(read["activeDays"], 1);
    assert_eq!(read["lastActivity"], time::format_ms(noon(t - 1, "UTC")));
    // An org chart makes d@ an alias of a@'s person: one user, keyed by a@.
    org_chart(
        c,
        vec![json!({"email": "a@corp.com", "team": "Sales", "additionalEmails": ["d@corp.com"]})],
    )
    .await;
    assert_eq!(
        users("events").await,
        pairs(&[("a@corp.com", "Active"), ("b@corp.com", "Active")])
    );
    assert_eq!(users("employees").await, pairs(&[("a@corp.com", "Active")]));
}

/// As of a past day, a user's later events do not count: their latest activity
/// up to that day comes from the days before the report's window.
#[tokio::test]
async fn the_users_report_as_of_a_past_day_ignores_later_events() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = mail_app(c).await;
    let t = today("UTC");
    push_ok(
        c,
        &app,
        &[
            (noon(t - 40, "UTC"), "x@corp.com", "created"),
            (noon(t - 1, "UTC"), "x@corp.com", "read"),
        ],
    )
    .await;
    let (status, body) = c
        .get(&format!(
            "/pull/v1/apps/{app}/users?dataSource=events&rollingWindow=7&asOfDate={}",
            date(t - 20)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["numUsers"], 1, "{body}");
    let x = &body["users"][0];
    assert_eq!(x["email"], "x@corp.com");
    assert_eq!(x["status"], "Inactive");
    let start_of_day = time::format_ms(noon(t - 40, "UTC") - 12 * HOUR);
    assert_eq!(x["lastActivity"], start_of_day);
    assert_eq!(x["groups"][0]["group"], "Sent an Email");
    assert_eq!(x["groups"][0]["lastActivity"], start_of_day);
    assert_eq!(x["groups"][1]["lastActivity"], Value::Null);
}

/// Inactive in a group: each person's latest day on the group's events, over
/// every email of theirs, older than the window; another group's later events
/// do not count.
#[tokio::test]
async fn an_inactive_persons_group_activity_is_their_latest_on_any_of_their_emails() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = mail_app(c).await;
    let t = today("UTC");
    org_chart(
        c,
        vec![
            json!({"email": "ana@corp.com", "team": "Sales", "additionalEmails": ["ana.d@corp.com"]}),
            json!({"email": "bo@corp.com", "team": "Sales"}),
        ],
    )
    .await;
    push_ok(
        c,
        &app,
        &[
            (noon(t - 60, "UTC"), "ana@corp.com", "created"),
            (noon(t - 45, "UTC"), "ana.d@corp.com", "created"),
            (noon(t - 50, "UTC"), "ana@corp.com", "created"),
            (noon(t - 2, "UTC"), "ana@corp.com", "read"),
            (noon(t - 70, "UTC"), "bo@corp.com", "created"),
        ],
    )
    .await;
    let (status, body) = c
        .get(&format!(
            "/pull/v1/apps/{app}/inactive-users?group=Sent%20an%20Email&rollingWindow=30&population=employees"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let last: Vec<(&str, &str)> = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["email"].as_str().unwrap(),
                u["lastActivity"].as_str().unwrap(),
            )
        })
        .collect();
    let start_of = |day: i32| time::format_ms(noon(day, "UTC") - 12 * HOUR);
    assert_eq!(
        last,
        [
            ("ana@corp.com", start_of(t - 45).as_str()),
            ("bo@corp.com", time::format_ms(noon(t - 70, "UTC")).as_str()),
        ]
    );
}

/// Inactive employees carry the licence of their first provisioned account (by
/// `appUserId`), found through any of their emails; someone provisioned outside
/// the org chart is no employee.
#[tokio::test]
async fn inactive_employees_carry_their_first_provisioned_licence() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = mail_app(c).await;
    org_chart(
        c,
        vec![
            json!({"email": "ana@corp.com", "team": "Sales", "additionalEmails": ["ana.d@corp.com"]}),
            json!({"email": "bo@corp.com", "team": "Sales"}),
        ],
    )
    .await;
    let (status, body) = c
        .post(
            &format!("/services/push/v1/customer/apps/{app}/users"),
            &json!({"provisionedUsers": [
                {"appUserId": "b2", "email": "ana@corp.com", "license": "Pro"},
                {"appUserId": "a1", "email": "ana.d@corp.com", "license": "Basic"},
                {"appUserId": "c3", "email": "cy@corp.com", "license": "Pro"},
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = c
        .get(&format!(
            "/pull/v1/apps/{app}/inactive-users?population=employees"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows: Vec<(&str, &Value, &Value)> = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["email"].as_str().unwrap(),
                &u["license"],
                &u["annualCost"],
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("ana@corp.com", &json!("Basic"), &json!(60.0)),
            ("bo@corp.com", &Value::Null, &Value::Null),
        ]
    );
    assert_eq!(body["potentialSavings"]["amount"], 60.0);
}

#[tokio::test]
async fn a_full_batch_of_1000_is_stored_once_and_1001_is_refused() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = mail_app(c).await;
    let base = now() - 10 * DAY;
    let emails: Vec<String> = (0..300).map(|i| format!("person{i}@corp.com")).collect();
    let events: Vec<(i64, &str, &str)> = (0..1000)
        .map(|i| {
            (
                base + i as i64 * 60_000,
                emails[i % 300].as_str(),
                SENT[i % 4],
            )
        })
        .collect();
    let body = push_ok(c, &app, &events).await;
    assert_eq!(
        (body["accepted"].clone(), body["duplicates"].clone()),
        (json!(1000), json!(0))
    );
    let body = push_ok(c, &app, &events).await;
    assert_eq!(
        (body["accepted"].clone(), body["duplicates"].clone()),
        (json!(0), json!(1000))
    );
    // Half new, half old, in another order.
    let mut mixed: Vec<(i64, &str, &str)> = events[500..].to_vec();
    mixed.extend((0..500).map(|i| (base - 1 - i as i64, emails[i % 300].as_str(), "read")));
    mixed.reverse();
    let body = push_ok(c, &app, &mixed).await;
    assert_eq!(
        (body["accepted"].clone(), body["duplicates"].clone()),
        (json!(500), json!(500))
    );
    let e = engagement(c, &app, "group=Sent%20an%20Email&rollingWindow=30").await;
    assert_eq!(e["total"]["outsidePopulation"], 300);
    let too_many: Vec<(i64, &str, &str)> = (0..1001)
        .map(|i| (base + i as i64, "a@corp.com", "read"))
        .collect();
    let (status, body) = push(c, &app, &too_many).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn concurrent_pushes_of_the_same_new_emails_count_each_person_once() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = mail_app(c).await;
    let base = now() - 2 * DAY;
    let emails: Vec<String> = (0..40).map(|i| format!("new{i}@corp.com")).collect();
    // Eight pushes at once, each of all 40 new emails at its own times: the writer
    // groups them into few transactions, in which each email is interned once.
    let batch = |b: i64| -> Vec<(i64, String)> {
        (0..40)
            .map(|i| (base + b * 1_000 + i as i64, emails[i].clone()))
            .collect()
    };
    let mut pushes = tokio::task::JoinSet::new();
    for b in 0..8 {
        let (c, app, events) = (c.clone(), app.clone(), batch(b));
        pushes.spawn(async move {
            let events: Vec<(i64, &str, &str)> = events
                .iter()
                .map(|(ts, e)| (*ts, e.as_str(), "created"))
                .collect();
            push_ok(&c, &app, &events).await
        });
    }
    while let Some(body) = pushes.join_next().await {
        let body = body.unwrap();
        assert_eq!(
            (body["accepted"].clone(), body["duplicates"].clone()),
            (json!(40), json!(0)),
            "{body}"
        );
    }
    let e = engagement(c, &app, "group=Sent%20an%20Email&rollingWindow=7").await;
    assert_eq!(e["total"]["outsidePopulation"], 40, "{e}");
    // The ids are remembered once committed; a re-push finds every event stored.
    let again: Vec<(i64, String)> = batch(3);
    let again: Vec<(i64, &str, &str)> = again
        .iter()
        .map(|(ts, e)| (*ts, e.as_str(), "created"))
        .collect();
    let body = push_ok(c, &app, &again).await;
    assert_eq!(
        (body["accepted"].clone(), body["duplicates"].clone()),
        (json!(0), json!(40))
    );
}

#[tokio::test]
async fn email_ids_are_per_account_and_reports_never_mix_tenants() {
    let server = TestServer::start().await;
    let (a, b) = (server.account().await, server.account().await);
    let t = today("UTC");
    let app_a = mail_app(&a.client).await;
    let app_b = mail_app(&b.client).await;
    // Both accounts' first emails get the same small ids; the bitmaps must still
    // resolve to each account's own people.
    push_ok(
        &b.client,
        &app_b,
        &[(noon(t - 1, "UTC"), "zed@b.com", "read")],
    )
    .await;
    push_ok(
        &a.client,
        &app_a,
        &[
            (noon(t - 1, "UTC"), "ann@a.com", "read"),
            (noon(t - 2, "UTC"), "bob@a.com", "created"),
        ],
    )
    .await;
    let (status, body) = a
        .client
        .get(&format!("/pull/v1/apps/{app_a}/users?dataSource=events"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let emails: Vec<&str> = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, vec!["ann@a.com", "bob@a.com"]);
    let (status, body) = b
        .client
        .get(&format!("/pull/v1/apps/{app_b}/users?dataSource=events"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["numUsers"], 1);
    assert_eq!(body["users"][0]["email"], "zed@b.com");
    assert_eq!(
        body["users"][0]["lastActivity"],
        time::format_ms(noon(t - 1, "UTC"))
    );
    let e = engagement(&a.client, &app_a, "rollingWindow=7").await;
    assert_eq!(e["total"]["outsidePopulation"], 2);
    let e = engagement(&b.client, &app_b, "rollingWindow=7&group=Read").await;
    assert_eq!(e["total"]["outsidePopulation"], 1);
}

#[tokio::test]
async fn per_group_last_activity_is_exact_when_the_groups_event_is_the_latest() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = mail_app(c).await;
    let t = today("UTC");
    let latest = noon(t - 1, "UTC") + 17;
    push_ok(
        c,
        &app,
        &[
            (noon(t - 3, "UTC"), "ann@corp.com", "read"),
            (latest, "ann@corp.com", "created"),
            (noon(t - 5, "UTC"), "ann@corp.com", "created"),
        ],
    )
    .await;
    let (status, body) = c.get(&format!("/pull/v1/apps/{app}/users")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ann = &body["users"][0];
    assert_eq!(ann["lastActivity"], time::format_ms(latest));
    assert_eq!(ann["activeDays"], 3);
    let group = |name: &str| group_of(ann, name).clone();
    let sent = group("Sent an Email");
    assert_eq!(sent["lastActivity"], time::format_ms(latest));
    assert_eq!(sent["activeDays"], 2);
    // Not the latest event overall: the group's last day is still exact.
    let read = group("Read");
    assert_eq!(read["activeDays"], 1);
    assert!(read["lastActivity"]
        .as_str()
        .unwrap()
        .starts_with(&date(t - 3)));
}

#[tokio::test]
async fn the_latest_activity_of_hundreds_of_people_is_exact_and_never_moves_back() {
    // 300 people take email ids across several storage blocks (PostgreSQL
    // keeps latest times 128 emails a row); a second push moves half of them
    // later and brings older events for the other half.
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = mail_app(c).await;
    let base = noon(today("UTC") - 2, "UTC");
    let emails: Vec<String> = (0..300).map(|i| format!("u{i:03}@corp.com")).collect();
    let first: Vec<(i64, &str, &str)> = emails
        .iter()
        .enumerate()
        .map(|(i, e)| (base + i as i64, e.as_str(), "read"))
        .collect();
    push_ok(c, &app, &first).await;
    let second: Vec<(i64, &str, &str)> = emails
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let moved = if i % 2 == 1 { base + HOUR } else { base - DAY };
            (moved + i as i64, e.as_str(), "created")
        })
        .collect();
    push_ok(c, &app, &second).await;
    let mut seen = std::collections::BTreeMap::new();
    let mut path = format!("/pull/v1/apps/{app}/users?dataSource=events&pageSize=100");
    loop {
        let (status, body) = c.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for u in body["users"].as_array().unwrap() {
            seen.insert(
                u["email"].as_str().unwrap().to_string(),
                u["lastActivity"].as_str().unwrap().to_string(),
            );
        }
        match body["nextPageToken"].as_str() {
            Some(next) => {
                path =
                    format!("/pull/v1/apps/{app}/users?dataSource=events&pageSize=100&after={next}")
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 300);
    for (i, e) in emails.iter().enumerate() {
        let latest = if i % 2 == 1 { base + HOUR } else { base } + i as i64;
        assert_eq!(seen[e], time::format_ms(latest), "{e}");
    }
}

/// Engagement's populations are kept between reports: each report still
/// follows new provisioned users, a new org chart and a provisioned user's
/// first event.
#[tokio::test]
async fn engagement_follows_provisioning_the_org_chart_and_first_events_between_reports() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = mail_app(c).await;
    let chart = |anas_team: &str| {
        vec![
            json!({"email": "ana@corp.com", "team": anas_team}),
            json!({"email": "bo@corp.com", "team": "Sales"}),
            json!({"email": "cy@corp.com", "team": "Ops"}),
        ]
    };
    org_chart(c, chart("Sales")).await;
    // Licences play no part in engagement.
    provision(
        c,
        &app,
        &[
            ("u1", "ana@corp.com", "Basic"),
            ("u2", "cy@corp.com", "Basic"),
        ],
    )
    .await;
    push_ok(c, &app, &[(now() - HOUR, "ana@corp.com", "read")]).await;
    let figures = |body: &Value| {
        let segments: Vec<Value> = body["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| json!([s["value"], s["population"], s["active"]]))
            .collect();
        json!([
            body["total"]["population"],
            body["total"]["active"],
            body["total"]["outsidePopulation"],
            segments
        ])
    };
    let query = "population=provisioned&by=team&rollingWindow=7";
    let first = engagement(c, &app, query).await;
    assert_eq!(
        figures(&first),
        json!([2, 1, 0, [["Ops", 1, 0], ["Sales", 1, 1]]])
    );
    assert_eq!(figures(&engagement(c, &app, query).await), figures(&first));

    // Another provisioned user, outside the chart, then their first event.
    provision(c, &app, &[("u3", "zed@outside.com", "Basic")]).await;
    assert_eq!(
        figures(&engagement(c, &app, query).await),
        json!([3, 1, 0, [["Ops", 1, 0], ["Sales", 1, 1], [null, 1, 0]]])
    );
    push_ok(c, &app, &[(now() - HOUR, "zed@outside.com", "read")]).await;
    assert_eq!(
        figures(&engagement(c, &app, query).await),
        json!([3, 2, 0, [["Ops", 1, 0], ["Sales", 1, 1], [null, 1, 1]]])
    );

    // A new chart moves ana to Ops; the employees' population follows too.
    org_chart(c, chart("Ops")).await;
    assert_eq!(
        figures(&engagement(c, &app, query).await),
        json!([3, 2, 0, [["Ops", 2, 1], [null, 1, 1]]])
    );
    assert_eq!(
        figures(&engagement(c, &app, "by=team&rollingWindow=7").await),
        json!([3, 1, 1, [["Ops", 2, 1], ["Sales", 1, 0]]])
    );
}
