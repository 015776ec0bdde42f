//! Workforce activity through the HTTP API (issue: workforce): agent ingest,
//! administration, working hours, the activity log and its cursor, permissions
//! and retention.

use std::collections::BTreeSet;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{assert_error, follow_log, wf_id, Account, Client, TestServer};

/// Today's UTC date minus `days`.
fn days_ago(days: i64) -> Date {
    Timestamp::now()
        .to_zoned(TimeZone::UTC)
        .date()
        .checked_sub(jiff::Span::new().days(days))
        .unwrap()
}

/// A local wall-clock time in `zone` as an RFC 3339 UTC instant.
fn local(zone: &str, date: Date, h: i8, m: i8) -> String {
    let tz = TimeZone::get(zone).unwrap();
    let ts = date.at(h, m, 0, 0).to_zoned(tz).unwrap().timestamp();
    format!("{ts:.0}")
}

fn rfc3339(ts: Timestamp) -> String {
    format!("{ts:.0}")
}

fn record(start: &str, minutes: i64, exe: &str, url: Option<&str>, idle: bool) -> Value {
    json!({"start": start, "duration": minutes * 60, "executable": exe,
           "description": format!("{exe} window"), "url": url, "idle": idle})
}

fn batch(computer: &str, tz: &str, user: &str, records: Vec<Value>) -> Value {
    json!({
        "sentAt": rfc3339(Timestamp::now()),
        "computer": {"name": computer, "primaryDomain": "corp", "os": "Windows 11",
                     "timeZone": tz, "privateIp": "10.0.0.4", "publicIp": "203.0.113.9"},
        "client": {"loginDomain": "CORP", "name": user},
        "session": 1,
        "records": records,
    })
}

async fn push(client: &Client, body: &Value) -> Value {
    let (status, reply) = client.post("/agent/v1/activity", body).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["success"], true);
    reply
}

async fn users_rows(client: &Client, query: &str) -> Vec<Value> {
    let (status, body) = client
        .get(&format!("/reports/v2/workinghours/users?{query}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["activity"].as_array().unwrap().clone()
}

async fn computers_rows(client: &Client, query: &str) -> Vec<Value> {
    let (status, body) = client
        .get(&format!("/reports/v2/workinghours/computers?{query}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["activity"].as_array().unwrap().clone()
}

/// Creates a group from `body` and returns its id.
async fn make_group(client: &Client, body: Value) -> i64 {
    let (status, g) = client.post("/admin/v1/groups", &body).await;
    assert_eq!(status, StatusCode::OK, "{g}");
    g["id"].as_i64().unwrap()
}

/// Follows the activity-log cursor until a page comes back empty; returns the rows
/// and the final cursor.
async fn drain_log(client: &Client, first_query: &str) -> (Vec<Value>, String) {
    let (status, body) = client
        .get(&format!("/reports/v2/activitylog?{first_query}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut rows: Vec<Value> = body["activity"].as_array().unwrap().clone();
    let mut cursor = body["cursor"].as_str().unwrap().to_string();
    loop {
        let (status, body) = client
            .get(&format!(
                "/reports/v2/activitylog?cursor={cursor}&pageSize=1000"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page = body["activity"].as_array().unwrap();
        if page.is_empty() {
            assert_eq!(
                body["cursor"],
                cursor.as_str(),
                "an empty page returns its cursor"
            );
            return (rows, cursor);
        }
        rows.extend(page.iter().cloned());
        cursor = body["cursor"].as_str().unwrap().to_string();
    }
}

/// Sets the account's activity retention and runs maintenance now.
async fn retain_activity_days(server: &TestServer, account: &Account, days: u32) {
    account
        .settings(json!({"activityRetentionDays": days}))
        .await;
    server
        .store
        .maintenance(Timestamp::now().as_millisecond())
        .await
        .unwrap();
}

fn row_for(rows: &[Value], date: Date) -> &Value {
    rows.iter()
        .find(|r| r["date"] == format!("{date}T00:00:00"))
        .unwrap_or_else(|| panic!("no row for {date} in {rows:?}"))
}

fn secs(row: &Value, part: &str, class: &str) -> i64 {
    row[part][class].as_i64().unwrap()
}

#[tokio::test]
async fn a_day_computed_by_hand_in_berlin() {
    let server = TestServer::start().await;
    let account = server.account().await;
    account.capture_everything().await;
    let c = &account.client;
    let d = days_ago(3);
    let d1 = d.tomorrow().unwrap();
    let zone = "Europe/Berlin";
    let reply = push(
        c,
        &batch(
            "LT-042",
            zone,
            "jdoe",
            vec![
                // 23:50 to 00:20: 10 minutes on d, 20 on d+1.
                record(&local(zone, d, 23, 50), 30, "OUTLOOK.EXE", None, false),
                // A 12-minute idle stretch with Outlook in focus.
                record(&local(zone, d1, 0, 20), 12, "outlook.exe", None, true),
                // 10 minutes of YouTube.
                record(
                    &local(zone, d1, 1, 0),
                    10,
                    "chrome.exe",
                    Some("https://www.youtube.com/watch?v=x"),
                    false,
                ),
            ],
        ),
    )
    .await;
    assert_eq!(reply["accepted"], 3);
    assert_eq!(reply["duplicates"], 0);

    let (status, body) = c
        .put(
            "/admin/v1/classifications",
            &json!({"applications": [{"executable": "outlook.exe", "productivity": 1}],
                    "websites": [{"domain": "youtube.com", "productivity": -1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let query = format!("from={d}&to={d1}");
    let rows = users_rows(c, &query).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let first = row_for(&rows, d);
    assert_eq!(secs(first, "activeTime", "productive"), 600);
    assert_eq!(secs(first, "activeTime", "total"), 600);
    assert_eq!(secs(first, "passiveTime", "total"), 0);
    assert_eq!(first["firstActivity"], local(zone, d, 23, 50));
    assert_eq!(first["lastActivity"], local(zone, d1, 0, 0));
    assert!(first["userid"].as_i64().unwrap() > 0);
    assert_eq!(first["computers"].as_array().unwrap().len(), 1);
    assert_eq!(first["user"], "CORP\\jdoe");

    let second = row_for(&rows, d1);
    assert_eq!(secs(second, "activeTime", "productive"), 1200);
    assert_eq!(secs(second, "activeTime", "unproductive"), 600);
    assert_eq!(secs(second, "activeTime", "undefined"), 0);
    assert_eq!(secs(second, "activeTime", "total"), 1800);
    assert_eq!(secs(second, "passiveTime", "productive"), 300);
    assert_eq!(secs(second, "passiveTime", "total"), 300);
    assert_eq!(second["totalTime"], 2100);
    assert_eq!(second["firstActivity"], local(zone, d1, 0, 0));
    assert_eq!(second["lastActivity"], local(zone, d1, 1, 10));
    assert_eq!(second["lastActivityLog"], local(zone, d1, 1, 10));
    assert_eq!(second["groups"], json!([]));

    // The passive limit applies at read time, to past days too.
    account.settings(json!({"passiveLimitMinutes": 0})).await;
    let rows = users_rows(c, &query).await;
    assert_eq!(secs(row_for(&rows, d1), "passiveTime", "total"), 0);
    assert_eq!(row_for(&rows, d1)["totalTime"], 1800);
    account.settings(json!({"passiveLimitMinutes": null})).await;
    let rows = users_rows(c, &query).await;
    assert_eq!(secs(row_for(&rows, d1), "passiveTime", "productive"), 720);

    // Reclassifying a website changes the past at once.
    let (status, body) = c
        .put(
            "/admin/v1/classifications",
            &json!({"applications": [{"executable": "outlook.exe", "productivity": 1}],
                    "websites": [{"domain": "youtube.com", "productivity": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows = users_rows(c, &query).await;
    assert_eq!(secs(row_for(&rows, d1), "activeTime", "productive"), 1800);
    assert_eq!(secs(row_for(&rows, d1), "activeTime", "unproductive"), 0);

    // The log carries the classification too.
    let (rows, _) = drain_log(c, &format!("startDate={d}&endDate={d1}")).await;
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["productivity"] == 1), "{rows:?}");
    let yt = rows
        .iter()
        .find(|r| r["executable"] == "chrome.exe")
        .unwrap();
    assert!(yt["websiteId"].as_i64().is_some());
    assert_eq!(yt["url"], "https://www.youtube.com/watch?v=x");
    assert_eq!(yt["computer"], "LT-042");
    assert_eq!(yt["loginDomain"], "CORP");
    assert_eq!(yt["user"], "jdoe");
    assert_eq!(yt["primaryDomain"], "corp");
    assert_eq!(yt["emailAlarm"], Value::Null);
    assert_eq!(yt["duration"], 600);
    assert_eq!(yt["idle"], false);
}

#[tokio::test]
async fn rules_and_group_overrides_follow_precedence() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let d = days_ago(2);
    let zone = "UTC";
    push(
        c,
        &batch(
            "PC-1",
            zone,
            "ana",
            vec![
                record(&local(zone, d, 9, 0), 10, "SteamWebHelper.exe", None, false),
                record(
                    &local(zone, d, 10, 0),
                    5,
                    "firefox.exe",
                    Some("https://wiki.corp.example/page"),
                    false,
                ),
                record(
                    &local(zone, d, 11, 0),
                    7,
                    "firefox.exe",
                    Some("https://youtube.com/"),
                    false,
                ),
            ],
        ),
    )
    .await;
    let (_, clients) = c.get("/admin/v1/clients").await;
    let ana = clients["clients"][0]["id"].as_i64().unwrap();
    let group = make_group(c, json!({"name": "Marketing", "clients": [ana]})).await;
    let (status, body) = c
        .put(
            "/admin/v1/classifications",
            &json!({
                "websites": [{"domain": "youtube.com", "productivity": -1}],
                "rules": [{"match": "domainSuffix", "pattern": ".corp.example", "productivity": 1},
                          {"match": "executableGlob", "pattern": "steam*.exe", "productivity": -1}],
                "groupOverrides": [{"groupId": group, "domain": "youtube.com", "productivity": 1}]
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows = users_rows(c, &format!("from={d}&to={d}")).await;
    assert_eq!(rows.len(), 1);
    // steam: -600; wiki: +300; youtube overridden for Marketing: +420.
    assert_eq!(secs(&rows[0], "activeTime", "unproductive"), 600);
    assert_eq!(secs(&rows[0], "activeTime", "productive"), 720);
    assert_eq!(rows[0]["groups"], json!([group]));

    let (status, set) = c.get("/admin/v1/classifications").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(set["rules"].as_array().unwrap().len(), 2);
    assert_eq!(set["groupOverrides"][0]["groupId"], group);

    // Both changes are audited.
    let start = rfc3339(Timestamp::now() - jiff::SignedDuration::from_hours(1));
    let end = rfc3339(Timestamp::now() + jiff::SignedDuration::from_hours(1));
    let (status, audit) = c
        .get(&format!(
            "/services/pull/v1/customer/audit-events?startTime={start}&endTime={end}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let types: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"GroupChanged"), "{types:?}");
    assert!(types.contains(&"ClassificationChanged"), "{types:?}");

    // An override for a group that does not exist, or a bad rule, is refused.
    let (status, body) = c
        .put(
            "/admin/v1/classifications",
            &json!({"groupOverrides": [{"groupId": 999999, "domain": "x.com", "productivity": 1}]}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = c
        .put(
            "/admin/v1/classifications",
            &json!({"rules": [{"match": "regex", "pattern": "x", "productivity": 3}]}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"].as_array().unwrap().len(), 2, "{body}");
}

/// `total` counts each (day, user) or (day, computer) once, however many
/// computers, users, records and resent batches it has, across local midnight.
#[tokio::test]
async fn totals_count_each_user_and_computer_once_a_day() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let d = days_ago(1);
    let zone = "Europe/Berlin";
    let late = batch(
        "DESK-1",
        zone,
        "asmith",
        vec![record(&local(zone, d, 23, 50), 30, "code.exe", None, false)],
    );
    for body in [
        batch(
            "DESK-1",
            zone,
            "jdoe",
            vec![
                record(&local(zone, d, 9, 0), 30, "code.exe", None, false),
                record(&local(zone, d, 10, 0), 3, "code.exe", None, true),
            ],
        ),
        batch(
            "LAPTOP-2",
            zone,
            "jdoe",
            vec![record(&local(zone, d, 14, 0), 20, "excel.exe", None, false)],
        ),
        late.clone(),
        late,
    ] {
        push(c, &body).await;
    }
    let next = d.tomorrow().unwrap();
    let desk = computers_rows(c, &format!("from={d}&to={d}"))
        .await
        .iter()
        .find(|r| r["computer"].as_str().unwrap().contains("DESK-1"))
        .map(|r| r["computerid"].as_i64().unwrap())
        .unwrap();
    for (view, filter, expected) in [
        // d: jdoe and asmith, next: asmith.
        ("users", String::new(), 3),
        // d: DESK-1 and LAPTOP-2, next: DESK-1.
        ("computers", String::new(), 3),
        ("users", format!("&computerId={desk}"), 3),
        ("computers", format!("&computerId={desk}"), 2),
    ] {
        let (status, body) = c
            .get(&format!(
                "/reports/v2/workinghours/{view}?from={d}&to={next}&pageSize=150{filter}"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["total"], expected, "{view}{filter}: {body}");
        assert_eq!(body["activity"].as_array().unwrap().len(), expected);
    }
}

#[tokio::test]
async fn users_and_computers_views_agree() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let d = days_ago(1);
    let zone = "America/New_York";
    for (computer, minutes) in [("DESK-1", 30), ("LAPTOP-2", 45)] {
        push(
            c,
            &batch(
                computer,
                zone,
                "jdoe",
                vec![
                    record(&local(zone, d, 9, 0), minutes, "code.exe", None, false),
                    record(&local(zone, d, 12, 0), 3, "code.exe", None, true),
                ],
            ),
        )
        .await;
    }
    let q = format!("from={d}&to={d}");
    let users = users_rows(c, &q).await;
    assert_eq!(users.len(), 1);
    let computers = computers_rows(c, &q).await;
    assert_eq!(computers.len(), 2);
    let user = users[0]["userid"].as_i64().unwrap();
    let ids: BTreeSet<i64> = computers
        .iter()
        .map(|r| r["computerid"].as_i64().unwrap())
        .collect();
    let used: BTreeSet<i64> = users[0]["computers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(ids, used);
    for row in &computers {
        assert_eq!(row["users"], json!([user]));
    }
    let sum: i64 = computers
        .iter()
        .map(|r| r["totalTime"].as_i64().unwrap())
        .sum();
    assert_eq!(users[0]["totalTime"].as_i64().unwrap(), sum);
    assert_eq!(sum, (30 + 45 + 3 + 3) * 60);
    assert_eq!(secs(&users[0], "activeTime", "undefined"), 75 * 60);

    // Filters: one computer, one user, paging.
    let one = *ids.iter().next().unwrap();
    let filtered = users_rows(c, &format!("{q}&computerId={one}")).await;
    assert_eq!(filtered.len(), 1);
    assert_eq!(filtered[0]["computers"], json!([one]));
    assert!(filtered[0]["totalTime"].as_i64().unwrap() < sum);
    let by_device = computers_rows(c, &format!("{q}&deviceId={one}")).await;
    assert_eq!(by_device.len(), 1);
    let (status, body) = c
        .get(&format!(
            "/reports/v2/workinghours/computers?{q}&pageSize=1&page=2"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total"], 2);
    assert_eq!(body["activity"].as_array().unwrap().len(), 1);
    assert_eq!(
        body["activity"][0]["computerid"].as_i64().unwrap(),
        *ids.iter().last().unwrap()
    );
}

#[tokio::test]
async fn the_cursor_delivers_every_record_once_while_agents_write() {
    let server = TestServer::start().await;
    let account = server.account().await;
    account.capture_everything().await;
    // The reader polls as fast as it can; the default rate limit would stop it.
    account.unthrottle().await;
    let c = account.client.clone();
    let start_day = days_ago(3);
    let writer = {
        let c = c.clone();
        tokio::spawn(async move {
            let mut written = BTreeSet::new();
            for b in 0..20i64 {
                let base = Timestamp::now() - jiff::SignedDuration::from_hours(2);
                let records: Vec<Value> = (0..50i64)
                    .map(|i| {
                        let n = b * 50 + i;
                        let start = base + jiff::SignedDuration::from_secs(n);
                        json!({"start": rfc3339(start), "duration": 1, "executable": "app.exe",
                               "description": format!("w-{n}"), "idle": false})
                    })
                    .collect();
                for n in 0..50 {
                    written.insert(format!("w-{}", b * 50 + n));
                }
                let body = batch(&format!("PC-{}", b % 3), "UTC", "writer", records);
                let (status, reply) = c.post("/agent/v1/activity", &body).await;
                assert_eq!(status, StatusCode::OK, "{reply}");
                tokio::task::yield_now().await;
            }
            written
        })
    };
    let mut seen: Vec<String> = Vec::new();
    let (status, body) = c
        .get(&format!(
            "/reports/v2/activitylog?startDate={start_day}&pageSize=37"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut cursor = body["cursor"].as_str().unwrap().to_string();
    for r in body["activity"].as_array().unwrap() {
        seen.push(r["description"].as_str().unwrap().to_string());
    }
    seen.extend(follow_log(&c, &mut cursor, 37, || writer.is_finished()).await);
    let written = writer.await.unwrap();
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a record was delivered twice");
    assert_eq!(unique, written);

    // A late record for last week arrives through the same cursor.
    let late = local("UTC", days_ago(7), 10, 0);
    push(
        &c,
        &batch(
            "PC-0",
            "UTC",
            "writer",
            vec![
                json!({"start": late, "duration": 60, "executable": "late.exe",
                        "description": "late", "idle": false}),
            ],
        ),
    )
    .await;
    let (status, body) = c
        .get(&format!("/reports/v2/activitylog?cursor={cursor}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["activity"].as_array().unwrap().len(), 1);
    assert_eq!(body["activity"][0]["description"], "late");
    assert_eq!(body["activity"][0]["date"], late);
    let next = body["cursor"].as_str().unwrap().to_string();
    assert_ne!(next, cursor);
    // And nothing new: the same cursor.
    let (_, body) = c
        .get(&format!("/reports/v2/activitylog?cursor={next}"))
        .await;
    assert_eq!(body["activity"], json!([]));
    assert_eq!(body["cursor"], next.as_str());

    // Without a cursor, the dates bound the result: the late record is outside today.
    let (status, body) = c
        .get(&format!(
            "/reports/v2/activitylog?startDate={}&endDate={}",
            days_ago(7),
            days_ago(7)
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["activity"].as_array().unwrap().len(), 1);

    // A tampered cursor is a 400, and so is one used with other filters.
    let (status, body) = c
        .get(&format!("/reports/v2/activitylog?cursor={next}x"))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = c
        .get(&format!(
            "/reports/v2/activitylog?cursor={next}&minDuration=5"
        ))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    // Another account cannot use it.
    let other = server.account().await;
    let (status, body) = other
        .client
        .get(&format!("/reports/v2/activitylog?cursor={next}"))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_log_filters_by_duration_and_computer() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let d = days_ago(1);
    push(
        c,
        &batch(
            "A",
            "UTC",
            "u1",
            vec![
                record(&local("UTC", d, 8, 0), 1, "a.exe", None, false),
                record(&local("UTC", d, 9, 0), 10, "b.exe", None, false),
            ],
        ),
    )
    .await;
    push(
        c,
        &batch(
            "B",
            "UTC",
            "u1",
            vec![record(&local("UTC", d, 8, 0), 20, "c.exe", None, false)],
        ),
    )
    .await;
    let (rows, _) = drain_log(c, &format!("startDate={d}&minDuration=300&maxDuration=900")).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["executable"], "b.exe");
    let b = rows
        .iter()
        .map(|r| r["computerId"].as_i64().unwrap())
        .next()
        .unwrap();
    let (rows, _) = drain_log(c, &format!("startDate={d}&computerId={b}")).await;
    assert_eq!(rows.len(), 2);
}

#[tokio::test]
async fn bad_report_parameters_are_400() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let d = days_ago(1);
    for path in [
        format!("/reports/v2/workinghours/users?from={d}&to={d}&userId=1&groupId=2"),
        format!("/reports/v2/workinghours/computers?from={d}&to={d}&clientId=1&deviceId=2"),
        format!("/reports/v2/workinghours/users?from={d}&to={d}&pageSize=1001"),
        format!("/reports/v2/workinghours/users?from={d}&to={d}&bogus=1"),
        format!("/reports/v2/workinghours/users?from={d}"),
        format!("/reports/v2/workinghours/users?from=2026-13-01&to={d}"),
        "/reports/v2/activitylog?pageSize=1001".to_string(),
        "/reports/v2/activitylog?userId=1&computerId=2".to_string(),
        "/reports/v2/activitylog?pageSize=abc".to_string(),
        "/reports/v2/activitylog?cursor=garbage".to_string(),
    ] {
        let (status, body) = c.get(&path).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST);
    }
    // userId=-1 means everyone and is no filter.
    let (status, body) = c
        .get(&format!(
            "/reports/v2/workinghours/users?from={d}&to={d}&userId=-1&groupId=4"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 0);
}

#[tokio::test]
async fn a_viewer_sees_only_its_groups() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let d = days_ago(1);
    for (pc, user) in [("PC-A", "alice"), ("PC-B", "bob")] {
        push(
            c,
            &batch(
                pc,
                "UTC",
                user,
                vec![record(&local("UTC", d, 9, 0), 15, "x.exe", None, false)],
            ),
        )
        .await;
    }
    let (_, clients) = c.get("/admin/v1/clients").await;
    let alice = clients["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "alice")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let group = make_group(c, json!({"name": "Team A", "clients": [alice]})).await;
    let (_, viewer) = account
        .user_with_key("viewer", json!({"viewableGroups": [group]}))
        .await;
    let q = format!("from={d}&to={d}");
    let rows = users_rows(&viewer, &q).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["userid"], alice);
    assert_eq!(computers_rows(&viewer, &q).await.len(), 1);
    assert_eq!(users_rows(c, &q).await.len(), 2);
    let (rows, _) = drain_log(&viewer, &format!("startDate={d}")).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["user"], "alice");
    let (_, list) = viewer.get("/admin/v1/clients").await;
    assert_eq!(list["clients"].as_array().unwrap().len(), 1);
    let (_, groups) = viewer.get("/admin/v1/groups").await;
    assert_eq!(groups["groups"].as_array().unwrap().len(), 1);
    let (status, _) = viewer.get("/admin/v1/classifications").await;
    assert_eq!(status, StatusCode::OK);
    // A viewer reads but does not administer.
    let (status, body) = viewer
        .post("/admin/v1/groups", &json!({"name": "Mine"}))
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = viewer.put("/admin/v1/classifications", &json!({})).await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = viewer
        .post("/agent/v1/activity", &batch("X", "UTC", "x", vec![]))
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
}

/// A group admits a row by its client or its computer; a page of a group's
/// rows is cut from its members' (day, key)s in order, whoever else's rows lie
/// between them, and a viewer of the group sees the same pages.
#[tokio::test]
async fn a_group_filter_pages_its_members_among_everyone_elses_rows() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let (d1, d2) = (days_ago(2), days_ago(1));
    for day in [d1, d2] {
        for (pc, user) in [
            ("PC-1", "u1"),
            ("PC-2", "u2"),
            ("PC-3", "u3"),
            ("PC-4", "u4"),
        ] {
            let at = local("UTC", day, 9, 0);
            push(
                c,
                &batch(pc, "UTC", user, vec![record(&at, 20, "x.exe", None, false)]),
            )
            .await;
        }
    }
    // u2 also works on PC-1 on the first day: that row is in through the computer.
    let at = local("UTC", d1, 13, 0);
    push(
        c,
        &batch(
            "PC-1",
            "UTC",
            "u2",
            vec![record(&at, 10, "y.exe", None, false)],
        ),
    )
    .await;
    let pc1 = wf_id(c, "computers", "PC-1").await;
    let (u1, u2, u3) = (
        wf_id(c, "clients", "u1").await,
        wf_id(c, "clients", "u2").await,
        wf_id(c, "clients", "u3").await,
    );
    let group = make_group(
        c,
        json!({"name": "Some", "clients": [u1, u3], "computers": [pc1]}),
    )
    .await;
    let q = format!("from={d1}&to={d2}&groupId={group}");
    let whole = users_rows(c, &format!("{q}&pageSize=150")).await;
    let keys: Vec<(String, i64)> = whole
        .iter()
        .map(|r| {
            (
                r["date"].as_str().unwrap().to_string(),
                r["userid"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut first_day = [u1, u2, u3];
    first_day.sort();
    let mut second_day = [u1, u3];
    second_day.sort();
    let expected: Vec<(String, i64)> = first_day
        .iter()
        .map(|&u| (format!("{d1}T00:00:00"), u))
        .chain(second_day.iter().map(|&u| (format!("{d2}T00:00:00"), u)))
        .collect();
    assert_eq!(keys, expected);
    // u2's day counts only the row on the group's computer.
    let u2_row = &whole[first_day.iter().position(|&u| u == u2).unwrap()];
    assert_eq!(u2_row["computers"], json!([pc1]));
    assert_eq!(u2_row["totalTime"], 10 * 60);
    // Pages of one and two rows give the same rows, and every page the total.
    for size in [1usize, 2] {
        let mut paged = Vec::new();
        for page in 1.. {
            let (status, body) = c
                .get(&format!(
                    "/reports/v2/workinghours/users?{q}&pageSize={size}&page={page}"
                ))
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["total"], expected.len(), "{body}");
            let rows = body["activity"].as_array().unwrap();
            if rows.is_empty() {
                break;
            }
            paged.extend(rows.iter().cloned());
        }
        assert_eq!(paged, whole, "pages of {size}");
    }
    // The computers view: PC-1 (its own user and u2 on it), PC-3 both days.
    let pcs = computers_rows(c, &format!("{q}&pageSize=150")).await;
    assert_eq!(pcs.len(), 4, "{pcs:?}");
    let (_, viewer) = account
        .user_with_key("viewer", json!({"viewableGroups": [group]}))
        .await;
    assert_eq!(
        users_rows(&viewer, &format!("from={d1}&to={d2}&pageSize=150")).await,
        whole
    );
    assert_eq!(
        users_rows(&viewer, &format!("{q}&pageSize=150")).await,
        whole
    );
}

/// A group's pages of days already asked follow what changes on those days:
/// a late record of a new user, a change of the group's members, a deleted
/// user (the embedded store keeps each day's walk of its keys per filter).
#[tokio::test]
async fn a_group_filter_follows_late_records_members_and_deletions_of_days_asked() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let (d1, d2) = (days_ago(3), days_ago(2));
    let work = |pc: &'static str, user: &'static str, day: Date, hour: i8| async move {
        let at = local("UTC", day, hour, 0);
        push(
            c,
            &batch(pc, "UTC", user, vec![record(&at, 20, "x.exe", None, false)]),
        )
        .await;
    };
    for day in [d1, d2] {
        work("PC-1", "u1", day, 9).await;
        work("PC-2", "u2", day, 9).await;
    }
    let (pc1, u1, u2) = (
        wf_id(c, "computers", "PC-1").await,
        wf_id(c, "clients", "u1").await,
        wf_id(c, "clients", "u2").await,
    );
    let group = make_group(c, json!({"name": "Desk one", "computers": [pc1]})).await;
    let q = format!("from={d1}&to={d2}&groupId={group}&pageSize=150");
    let keys = |rows: Vec<Value>| -> Vec<(String, i64)> {
        rows.iter()
            .map(|r| {
                let date = r["date"].as_str().unwrap();
                (date[..10].to_string(), r["userid"].as_i64().unwrap())
            })
            .collect()
    };
    let (s1, s2) = (d1.to_string(), d2.to_string());
    assert_eq!(
        keys(users_rows(c, &q).await),
        vec![(s1.clone(), u1), (s2.clone(), u1)]
    );

    // A late record: a new user on the group's computer, on the first day.
    work("PC-1", "u3", d1, 15).await;
    let u3 = wf_id(c, "clients", "u3").await;
    let mut first_day = [(s1.clone(), u1), (s1.clone(), u3)];
    first_day.sort();
    let expected: Vec<_> = first_day
        .iter()
        .cloned()
        .chain([(s2.clone(), u1)])
        .collect();
    assert_eq!(keys(users_rows(c, &q).await), expected);

    // The group takes u2 in too.
    let (status, body) = c
        .patch(
            &format!("/admin/v1/groups/{group}"),
            &json!({"clients": [u2], "computers": [pc1]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut all = vec![
        (s1.clone(), u1),
        (s1.clone(), u2),
        (s1.clone(), u3),
        (s2.clone(), u1),
        (s2.clone(), u2),
    ];
    all.sort();
    assert_eq!(keys(users_rows(c, &q).await), all);

    // u1 is deleted with its records: both days lose its row.
    let (status, body) = c.delete(&format!("/admin/v1/clients/{u1}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    all.retain(|(_, u)| *u != u1);
    let (status, page) = c.get(&format!("/reports/v2/workinghours/users?{q}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], all.len());
    assert_eq!(keys(users_rows(c, &q).await), all);
}

/// A viewer's computers page of a day already asked follows that day's late
/// records and its groups' members: both backends keep each day's walk of its
/// keys per filter, the filter being the members read with the page.
#[tokio::test]
async fn a_viewers_computers_page_follows_late_records_and_its_groups_members() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let d = days_ago(2);
    let work = |pc: &'static str, user: &'static str, hour: i8| async move {
        let at = local("UTC", d, hour, 0);
        push(
            c,
            &batch(pc, "UTC", user, vec![record(&at, 20, "x.exe", None, false)]),
        )
        .await;
    };
    work("PC-1", "u1", 9).await;
    work("PC-2", "u2", 9).await;
    let (pc1, pc2, u1) = (
        wf_id(c, "computers", "PC-1").await,
        wf_id(c, "computers", "PC-2").await,
        wf_id(c, "clients", "u1").await,
    );
    let group = make_group(c, json!({"name": "Team", "clients": [u1]})).await;
    let (_, viewer) = account
        .user_with_key("viewer", json!({"viewableGroups": [group]}))
        .await;
    let q = format!("from={d}&to={d}&pageSize=150");
    let pcs = |rows: Vec<Value>| -> Vec<i64> {
        rows.iter()
            .map(|r| r["computerid"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(pcs(computers_rows(&viewer, &q).await), vec![pc1]);
    // u1 works on PC-2 too, late: PC-2 comes in through its user.
    work("PC-2", "u1", 14).await;
    let mut both = vec![pc1, pc2];
    both.sort();
    assert_eq!(pcs(computers_rows(&viewer, &q).await), both);
    // The group becomes PC-2 alone: PC-1's row goes, though no row changed.
    let (status, body) = c
        .patch(
            &format!("/admin/v1/groups/{group}"),
            &json!({"clients": [], "computers": [pc2]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, page) = viewer
        .get(&format!("/reports/v2/workinghours/computers?{q}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(pcs(page["activity"].as_array().unwrap().clone()), vec![pc2]);
}

/// A computer in a group's page through one of its users counts only the
/// group's rows: another user's time on it is left out, on every page size,
/// with computers out of the group between the group's; its user's first group
/// still classifies its time.
#[tokio::test]
async fn a_groups_computers_count_only_the_groups_rows_on_a_shared_computer() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let (d1, d2) = (days_ago(2), days_ago(1));
    let youtube = Some("https://youtube.com/");
    for day in [d1, d2] {
        let at = |h| local("UTC", day, h, 0);
        let u1 = vec![
            record(&at(9), 20, "x.exe", None, false),
            record(&at(10), 5, "firefox.exe", youtube, false),
        ];
        for (pc, user, records) in [
            ("PC-1", "u1", u1),
            (
                "PC-1",
                "u2",
                vec![record(&at(13), 10, "x.exe", None, false)],
            ),
            ("PC-2", "u2", vec![record(&at(9), 15, "x.exe", None, false)]),
            ("PC-3", "u3", vec![record(&at(9), 30, "x.exe", None, false)]),
        ] {
            push(c, &batch(pc, "UTC", user, records)).await;
        }
    }
    let (pc1, pc3) = (
        wf_id(c, "computers", "PC-1").await,
        wf_id(c, "computers", "PC-3").await,
    );
    let (u1, u3) = (
        wf_id(c, "clients", "u1").await,
        wf_id(c, "clients", "u3").await,
    );
    let group = make_group(c, json!({"name": "Team", "clients": [u1, u3]})).await;
    let (status, body) = c
        .put(
            "/admin/v1/classifications",
            &json!({
                "websites": [{"domain": "youtube.com", "productivity": -1}],
                "groupOverrides": [{"groupId": group, "domain": "youtube.com", "productivity": 1}]
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, viewer) = account
        .user_with_key("viewer", json!({"viewableGroups": [group]}))
        .await;
    let q = format!("from={d1}&to={d2}");
    let whole = computers_rows(&viewer, &format!("{q}&pageSize=150")).await;
    let mut pcs = vec![pc1, pc3];
    pcs.sort();
    let keys: Vec<i64> = whole
        .iter()
        .map(|r| r["computerid"].as_i64().unwrap())
        .collect();
    assert_eq!(keys, [pcs.clone(), pcs].concat(), "{whole:?}");
    for row in whole.iter().filter(|r| r["computerid"] == pc1) {
        assert_eq!(row["users"], json!([u1]), "{row}");
        assert_eq!(row["totalTime"], 25 * 60, "{row}");
        // youtube.com is productive for the group's user.
        assert_eq!(secs(row, "activeTime", "productive"), 5 * 60, "{row}");
    }
    // The admin sees u2's time on PC-1 too, youtube.com as the set says.
    let all = computers_rows(c, &format!("{q}&pageSize=150")).await;
    let first = all.iter().find(|r| r["computerid"] == pc1).unwrap();
    assert_eq!(first["totalTime"], 35 * 60, "{first}");
    assert_eq!(secs(first, "activeTime", "unproductive"), 0, "{first}");
    // The group filter gives the viewer's rows; so do pages of one and two.
    let by_group = format!("{q}&groupId={group}");
    assert_eq!(
        computers_rows(c, &format!("{by_group}&pageSize=150")).await,
        whole
    );
    for size in [1usize, 2, 3] {
        let mut paged = Vec::new();
        for page in 1.. {
            let rows = computers_rows(&viewer, &format!("{q}&pageSize={size}&page={page}")).await;
            if rows.is_empty() {
                break;
            }
            paged.extend(rows);
        }
        assert_eq!(paged, whole, "pages of {size}");
    }
}

#[tokio::test]
async fn a_skewed_sent_at_shifts_the_records() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    // The agent's clock is two hours behind.
    let agent_now = Timestamp::now() - jiff::SignedDuration::from_hours(2);
    let agent_start = agent_now - jiff::SignedDuration::from_hours(1);
    let mut body = batch(
        "SKEW",
        "UTC",
        "s",
        vec![json!({"start": rfc3339(agent_start), "duration": 60,
                    "executable": "a.exe", "description": "", "idle": false})],
    );
    body["sentAt"] = json!(rfc3339(agent_now));
    let reply = push(c, &body).await;
    assert_eq!(reply["accepted"], 1);
    let (rows, _) = drain_log(c, &format!("startDate={}", days_ago(1))).await;
    assert_eq!(rows.len(), 1);
    let stored: Timestamp = rows[0]["date"].as_str().unwrap().parse().unwrap();
    let shift = stored.duration_since(agent_start).as_secs();
    assert!((7190..=7210).contains(&shift), "shifted by {shift} s");
    // A retry (same raw start) is a duplicate even though the skew changed a little.
    body["sentAt"] = json!(rfc3339(agent_now + jiff::SignedDuration::from_secs(5)));
    let reply = push(c, &body).await;
    assert_eq!(reply["accepted"], 0);
    assert_eq!(reply["duplicates"], 1);
}

/// A record's identity is (computer, session, raw start, executable) whatever
/// batch it came in: records resent out of order among new ones, spread over
/// days (and written by separate batches), repeated within one batch, or sent
/// far out of order are stored once; another session or executable at the same
/// start is another record.
#[tokio::test]
async fn a_record_is_a_duplicate_whatever_batch_resends_it() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let at = |days: i64, h: i8, m: i8| local("UTC", days_ago(days), h, m);
    // Two days' hours, one record every half hour.
    let mut first = Vec::new();
    for days in [3, 2] {
        for h in 8..18 {
            for m in [0, 30] {
                first.push(record(&at(days, h, m), 5, "a.exe", None, false));
            }
        }
    }
    let reply = push(c, &batch("ID", "UTC", "i", first.clone())).await;
    assert_eq!(
        (reply["accepted"].as_i64(), reply["duplicates"].as_i64()),
        (Some(40), Some(0))
    );
    // Every fourth of them again, backwards, among new records (at :15, and at
    // the same starts with another executable), one of them twice.
    let mut mixed: Vec<Value> = first.iter().step_by(4).rev().cloned().collect();
    mixed.push(record(&at(3, 9, 15), 5, "a.exe", None, false));
    mixed.push(record(&at(3, 9, 15), 5, "a.exe", None, false));
    mixed.push(record(&at(2, 8, 0), 5, "b.exe", None, false));
    mixed.push(first[7].clone());
    let reply = push(c, &batch("ID", "UTC", "i", mixed)).await;
    assert_eq!(
        (reply["accepted"].as_i64(), reply["duplicates"].as_i64()),
        (Some(2), Some(12))
    );
    // Far older than anything stored, then the same again with the newest.
    let old = vec![record(&at(20, 9, 0), 5, "a.exe", None, false)];
    assert_eq!(
        push(c, &batch("ID", "UTC", "i", old.clone())).await["accepted"],
        1
    );
    let mut again = old;
    again.push(first[39].clone());
    let reply = push(c, &batch("ID", "UTC", "i", again)).await;
    assert_eq!(
        (reply["accepted"].as_i64(), reply["duplicates"].as_i64()),
        (Some(0), Some(2))
    );
    // Another session of the computer is another set of records.
    let mut other = batch("ID", "UTC", "i", first[..3].to_vec());
    other["session"] = json!(2);
    let reply = push(c, &other).await;
    assert_eq!(
        (reply["accepted"].as_i64(), reply["duplicates"].as_i64()),
        (Some(3), Some(0))
    );
    let (log, _) = drain_log(c, &format!("startDate={}", days_ago(30))).await;
    assert_eq!(log.len(), 40 + 2 + 1 + 3);
    let ids: BTreeSet<i64> = log.iter().map(|r| r["logId"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), log.len(), "log ids are distinct");
}

/// Batches of one account sent at once by several agents, each also resending
/// part of another's batch on the same computer: whichever stores a record
/// first accepts it and every other sending counts it as a duplicate (a batch
/// meeting stored records is stored again by the path that skips them), the
/// rollups count each record once, and a cursor read meanwhile delivers every
/// record exactly once.
#[tokio::test]
async fn concurrent_batches_with_resent_records_count_and_deliver_each_once() {
    const WRITERS: i64 = 4;
    const BATCHES: i64 = 10;
    const OWN: i64 = 20;
    const RESENT: i64 = 5;
    let server = TestServer::start().await;
    let account = server.account().await;
    account.capture_everything().await;
    account.unthrottle().await;
    let c = account.client.clone();
    let day = days_ago(1);
    let base: Timestamp = local("UTC", day, 8, 0).parse().unwrap();
    // Record n: 2 s, ten seconds after record n-1 (no two touch); every fifth idle.
    let rec = move |n: i64| {
        let start = base + jiff::SignedDuration::from_secs(n * 10);
        json!({"start": rfc3339(start), "duration": 2, "executable": "app.exe",
               "description": format!("r-{n}"), "idle": n % 5 == 0})
    };
    let first_of = |w: i64, b: i64| (w * BATCHES + b) * OWN;
    let (status, body) = c
        .get(&format!(
            "/reports/v2/activitylog?startDate={day}&pageSize=50"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["activity"], json!([]));
    let mut cursor = body["cursor"].as_str().unwrap().to_string();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let c = c.clone();
            tokio::spawn(async move {
                let (mut accepted, mut duplicates) = (0, 0);
                for b in 0..BATCHES {
                    let next = first_of((w + 1) % WRITERS, b);
                    let records: Vec<Value> = (first_of(w, b)..first_of(w, b) + OWN)
                        .chain(next..next + RESENT)
                        .map(rec)
                        .collect();
                    let body = batch("SHARED", "UTC", "agent", records);
                    let (status, reply) = c.post("/agent/v1/activity", &body).await;
                    assert_eq!(status, StatusCode::OK, "{reply}");
                    accepted += reply["accepted"].as_i64().unwrap();
                    duplicates += reply["duplicates"].as_i64().unwrap();
                }
                (accepted, duplicates)
            })
        })
        .collect();
    let seen = follow_log(&c, &mut cursor, 50, || {
        writers.iter().all(|w| w.is_finished())
    })
    .await;
    let (mut accepted, mut duplicates) = (0, 0);
    for w in writers {
        let (a, d) = w.await.unwrap();
        accepted += a;
        duplicates += d;
    }
    let distinct = WRITERS * BATCHES * OWN;
    assert_eq!(
        (accepted, duplicates),
        (distinct, WRITERS * BATCHES * RESENT)
    );
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a record was delivered twice");
    assert_eq!(unique, (0..distinct).map(|n| format!("r-{n}")).collect());
    // Each record once in the rollups: 2 s each, a fifth of them idle.
    let rows = users_rows(&c, &format!("from={day}&to={day}")).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(secs(&rows[0], "activeTime", "total"), distinct * 2 * 4 / 5);
    assert_eq!(secs(&rows[0], "passiveTime", "total"), distinct * 2 / 5);
}

#[tokio::test]
async fn duplicates_are_counted_and_stored_once() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let d = days_ago(1);
    let body = batch(
        "DUP",
        "UTC",
        "d",
        vec![
            record(&local("UTC", d, 9, 0), 10, "a.exe", None, false),
            record(&local("UTC", d, 9, 10), 10, "a.exe", None, true),
        ],
    );
    let first = push(c, &body).await;
    assert_eq!(
        (first["accepted"].as_i64(), first["duplicates"].as_i64()),
        (Some(2), Some(0))
    );
    let again = push(c, &body).await;
    assert_eq!(
        (again["accepted"].as_i64(), again["duplicates"].as_i64()),
        (Some(0), Some(2))
    );
    let rows = users_rows(c, &format!("from={d}&to={d}")).await;
    assert_eq!(secs(&rows[0], "activeTime", "total"), 600);
    assert_eq!(secs(&rows[0], "passiveTime", "total"), 300);
    let (log, _) = drain_log(c, &format!("startDate={d}")).await;
    assert_eq!(log.len(), 2);
}

#[tokio::test]
async fn a_batch_with_one_bad_record_stores_nothing() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let d = days_ago(1);
    let body = batch(
        "BAD",
        "UTC",
        "b",
        vec![
            record(&local("UTC", d, 9, 0), 10, "a.exe", None, false),
            json!({"start": "not a time", "duration": -5, "executable": "b.exe", "idle": false}),
            record(&local("UTC", d, 9, 30), 10, "c.exe", None, false),
        ],
    );
    let (status, reply) = c.post("/agent/v1/activity", &body).await;
    assert_error(status, &reply, StatusCode::UNPROCESSABLE_ENTITY);
    let errors = reply["errors"].as_array().unwrap();
    assert!(errors.iter().all(|e| e["index"] == 1), "{reply}");
    let fields: BTreeSet<&str> = errors
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, BTreeSet::from(["start", "duration"]));
    let (_, clients) = c.get("/admin/v1/clients").await;
    assert_eq!(clients["clients"], json!([]));
    let (_, computers) = c.get("/admin/v1/computers").await;
    assert_eq!(computers["computers"], json!([]));
    let (log, _) = drain_log(c, &format!("startDate={d}")).await;
    assert!(log.is_empty());

    // Too many records, a bad time zone, a missing client are refused too.
    let many: Vec<Value> = (0..5001)
        .map(|i| record(&local("UTC", d, 0, 0), 0, &format!("{i}.exe"), None, false))
        .collect();
    let (status, reply) = c
        .post("/agent/v1/activity", &batch("M", "UTC", "m", many))
        .await;
    assert_error(status, &reply, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, reply) = c
        .post(
            "/agent/v1/activity",
            &batch("M", "Mars/Olympus", "m", vec![]),
        )
        .await;
    assert_error(status, &reply, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, reply) = c
        .post(
            "/agent/v1/activity",
            &json!({"computer": {"name": "x"}, "session": 1, "records": []}),
        )
        .await;
    assert_error(status, &reply, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn another_account_sees_nothing() {
    let server = TestServer::start().await;
    let a = server.account().await;
    let b = server.account().await;
    let d = days_ago(1);
    push(
        &a.client,
        &batch(
            "A-PC",
            "UTC",
            "a",
            vec![record(&local("UTC", d, 9, 0), 10, "a.exe", None, false)],
        ),
    )
    .await;
    let (_, clients) = a.client.get("/admin/v1/clients").await;
    let client_id = clients["clients"][0]["id"].as_i64().unwrap();
    let (_, computers) = a.client.get("/admin/v1/computers").await;
    let computer_id = computers["computers"][0]["id"].as_i64().unwrap();
    let (status, g) = a
        .client
        .post("/admin/v1/groups", &json!({"name": "G"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let group = g["id"].as_i64().unwrap();

    let q = format!("from={d}&to={d}");
    assert!(users_rows(&b.client, &q).await.is_empty());
    assert!(computers_rows(&b.client, &q).await.is_empty());
    assert!(users_rows(&b.client, &format!("{q}&userId={client_id}"))
        .await
        .is_empty());
    let (log, _) = drain_log(&b.client, &format!("startDate={d}")).await;
    assert!(log.is_empty());
    for path in [
        format!("/admin/v1/clients/{client_id}"),
        format!("/admin/v1/computers/{computer_id}"),
        format!("/admin/v1/groups/{group}"),
    ] {
        let (status, body) = b.client.get(&path).await;
        assert_error(status, &body, StatusCode::NOT_FOUND);
    }
    let (status, body) = b
        .client
        .patch(
            &format!("/admin/v1/clients/{client_id}"),
            &json!({"alias": "x"}),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = b
        .client
        .post(
            "/admin/v1/groups",
            &json!({"name": "H", "clients": [client_id]}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, clients) = b.client.get("/admin/v1/clients").await;
    assert_eq!(clients["clients"], json!([]));
}

#[tokio::test]
async fn clients_computers_and_groups_are_administered() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let d = days_ago(1);
    push(
        c,
        &batch(
            "LT-9",
            "Europe/Paris",
            "jdoe",
            vec![record(&local("UTC", d, 9, 0), 10, "a.exe", None, false)],
        ),
    )
    .await;
    let (_, clients) = c.get("/admin/v1/clients").await;
    let client = &clients["clients"][0];
    assert_eq!(client["loginDomain"], "CORP");
    assert_eq!(client["name"], "jdoe");
    let id = client["id"].as_i64().unwrap();
    let (status, body) = c
        .patch(
            &format!("/admin/v1/clients/{id}"),
            &json!({"alias": "John Doe", "email": "John.Doe@Example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["client"]["email"], "john.doe@example.com");
    let (status, body) = c
        .patch(
            &format!("/admin/v1/clients/{id}"),
            &json!({"email": "nope"}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let rows = users_rows(c, &format!("from={d}&to={d}")).await;
    assert_eq!(rows[0]["user"], "John Doe");

    // An agent with nothing to report creates no computer or client (issue 19 #7).
    push(c, &batch("NEW-1", "UTC", "newbie", vec![])).await;
    let (_, computers) = c.get("/admin/v1/computers").await;
    assert_eq!(computers["computers"].as_array().unwrap().len(), 1);
    let computer = &computers["computers"][0];
    assert_eq!(computer["timeZone"], "Europe/Paris");
    assert_eq!(computer["os"], "Windows 11");
    assert_eq!(computer["privateIp"], "10.0.0.4");
    let pc = computer["id"].as_i64().unwrap();

    let group = make_group(c, json!({"name": "Ops", "computers": [pc]})).await;
    let (status, body) = c.post("/admin/v1/groups", &json!({"name": "Ops"})).await;
    assert_error(status, &body, StatusCode::CONFLICT);
    let (status, body) = c
        .patch(
            &format!("/admin/v1/groups/{group}"),
            &json!({"clients": [id], "name": "Ops 2"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["group"]["clients"], json!([id]));
    assert_eq!(body["group"]["computers"], json!([pc]));
    let rows = computers_rows(c, &format!("from={d}&to={d}&groupId={group}")).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["groups"], json!([group]));
    let (status, _) = c.delete(&format!("/admin/v1/groups/{group}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = c.get(&format!("/admin/v1/groups/{group}")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    // A deleted group's id is never given to a new group.
    let (status, g) = c.post("/admin/v1/groups", &json!({"name": "Next"})).await;
    assert_eq!(status, StatusCode::OK, "{g}");
    assert!(g["id"].as_i64().unwrap() > group);
    assert!(
        computers_rows(c, &format!("from={d}&to={d}&groupId={group}"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn retention_deletes_old_activity_and_reports_agree() {
    let server = TestServer::start().await;
    let account: Account = server.account().await;
    let c = &account.client;
    let old = days_ago(10);
    let recent = days_ago(1);
    push(
        c,
        &batch(
            "RET",
            "UTC",
            "r",
            vec![
                record(&local("UTC", old, 9, 0), 10, "old.exe", None, false),
                record(&local("UTC", recent, 9, 0), 10, "new.exe", None, false),
            ],
        ),
    )
    .await;
    let q = format!("from={old}&to={recent}");
    assert_eq!(users_rows(c, &q).await.len(), 2);
    retain_activity_days(&server, &account, 5).await;
    let rows = users_rows(c, &q).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["date"], format!("{recent}T00:00:00"));
    let (log, _) = drain_log(c, &format!("startDate={old}")).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["executable"], "new.exe");
    // Records older than the retention are refused from now on.
    let (status, body) = c
        .post(
            "/agent/v1/activity",
            &batch(
                "RET",
                "UTC",
                "r",
                vec![record(&local("UTC", old, 11, 0), 1, "o.exe", None, false)],
            ),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
}

/// Where the log's first page starts for its dates, it finds every record
/// dated on them: records sent late for an earlier day (through a fresh batch
/// and through one that resends stored records), and a long record that
/// retention keeps because it reaches past the cut-off. Records retention
/// kept stay duplicates when sent again.
#[tokio::test]
async fn the_log_finds_a_dates_late_records_and_those_retention_keeps() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let at = |days: i64, h: i8| local("UTC", days_ago(days), h, 0);
    let exes = |rows: &[Value]| -> BTreeSet<String> {
        rows.iter()
            .map(|r| r["executable"].as_str().unwrap().to_string())
            .collect()
    };
    // Every batch comes from one computer and user.
    let send =
        |records: Vec<Value>| async move { push(c, &batch("LATE", "UTC", "l", records)).await };
    let recent = record(&at(1, 9), 10, "recent.exe", None, false);
    send(vec![recent.clone()]).await;
    // Three days back, after the newer day was stored.
    send(vec![record(&at(3, 9), 10, "late.exe", None, false)]).await;
    // Two days back, in a batch that resends a stored record.
    let reply = send(vec![
        recent,
        record(&at(2, 9), 10, "resent.exe", None, false),
    ])
    .await;
    assert_eq!(
        (reply["accepted"].as_i64(), reply["duplicates"].as_i64()),
        (Some(1), Some(1))
    );
    // Seven days back at 20:00, for three days: it ends inside the retention.
    send(vec![
        record(&at(7, 20), 3 * 24 * 60, "long.exe", None, false),
        record(&at(8, 9), 10, "old.exe", None, false),
    ])
    .await;
    let on = |days: i64| format!("startDate={0}&endDate={0}", days_ago(days));
    assert_eq!(
        exes(&drain_log(c, &on(3)).await.0),
        BTreeSet::from(["late.exe".into()])
    );
    assert_eq!(
        exes(&drain_log(c, &on(2)).await.0),
        BTreeSet::from(["resent.exe".into()])
    );
    let from_three = drain_log(c, &format!("startDate={}", days_ago(3))).await.0;
    assert_eq!(
        exes(&from_three),
        BTreeSet::from(["late.exe".into(), "resent.exe".into(), "recent.exe".into()])
    );

    retain_activity_days(&server, &account, 5).await;
    assert_eq!(
        exes(&drain_log(c, &on(7)).await.0),
        BTreeSet::from(["long.exe".into()])
    );
    assert!(drain_log(c, &on(8)).await.0.is_empty());
    let everything = drain_log(c, &format!("startDate={}", days_ago(30))).await.0;
    assert_eq!(
        exes(&everything),
        BTreeSet::from([
            "long.exe".into(),
            "late.exe".into(),
            "resent.exe".into(),
            "recent.exe".into()
        ])
    );
    // What retention kept is still known: sent again, it is a duplicate.
    let again = send(vec![
        record(&at(1, 9), 10, "recent.exe", None, false),
        record(&at(2, 9), 10, "resent.exe", None, false),
    ])
    .await;
    assert_eq!(
        (again["accepted"].as_i64(), again["duplicates"].as_i64()),
        (Some(0), Some(2))
    );
    // Records stored after retention ran are placed as before.
    let after = send(vec![record(&at(4, 9), 10, "later.exe", None, false)]).await;
    assert_eq!(after["accepted"], 1);
    assert_eq!(
        exes(&drain_log(c, &on(4)).await.0),
        BTreeSet::from(["later.exe".into()])
    );
}

#[tokio::test]
async fn an_idle_stretch_across_midnight_spends_its_passive_limit_once() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let d = days_ago(4);
    let d1 = d.tomorrow().unwrap();
    let zone = "Asia/Tokyo";
    // 12 idle minutes from 23:58: 2 before midnight, 10 after; limit 5.
    push(
        c,
        &batch(
            "JP-1",
            zone,
            "kenji",
            vec![record(&local(zone, d, 23, 58), 12, "excel.exe", None, true)],
        ),
    )
    .await;
    let rows = computers_rows(c, &format!("from={d}&to={d1}")).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(secs(row_for(&rows, d), "passiveTime", "undefined"), 120);
    assert_eq!(secs(row_for(&rows, d1), "passiveTime", "undefined"), 180);
    // An idle-only day has no active span but does have a last log.
    assert_eq!(row_for(&rows, d1)["firstActivity"], Value::Null);
    assert_eq!(
        row_for(&rows, d1)["lastActivityLog"],
        local(zone, d1, 0, 10)
    );
    account.settings(json!({"passiveLimitMinutes": 1})).await;
    let rows = computers_rows(c, &format!("from={d}&to={d1}")).await;
    assert_eq!(secs(row_for(&rows, d), "passiveTime", "total"), 60);
    assert_eq!(
        rows.len(),
        2,
        "a day whose passive time is spent still has its row"
    );
    assert_eq!(secs(row_for(&rows, d1), "passiveTime", "total"), 0);
}

#[tokio::test]
async fn an_agent_credential_pushes_but_cannot_read_reports() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let (status, cred) = account
        .client
        .post(
            "/admin/v1/credentials",
            &json!({"type": "oauthClient", "name": "agents", "scopes": ["activity.write"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cred}");
    let http = crate::common::http_client();
    let response = http
        .post(format!("{}/oauth2/token", server.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", cred["clientId"].as_str().unwrap()),
            ("client_secret", cred["clientSecret"].as_str().unwrap()),
            ("scope", "activity.write"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let token: Value = response.json().await.unwrap();
    let agent = server.client(token["access_token"].as_str().unwrap());
    // A week-old backlog is accepted and lands on its own day.
    let d = days_ago(7);
    push(
        &agent,
        &batch(
            "AG-1",
            "UTC",
            "a",
            vec![record(&local("UTC", d, 9, 0), 10, "a.exe", None, false)],
        ),
    )
    .await;
    let (status, body) = agent
        .get(&format!("/reports/v2/workinghours/users?from={d}&to={d}"))
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = agent.get("/reports/v2/activitylog").await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let rows = users_rows(&account.client, &format!("from={d}&to={d}")).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(secs(&rows[0], "activeTime", "total"), 600);
}
