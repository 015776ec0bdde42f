//! Issue 19 #4 and #7 through the HTTP API: passive time per idle stretch
//! (touching idle records of one computer and user, across batches, arrival
//! orders, late records and local midnight), `idleOffsetSeconds`, and the
//! directory of computers and clients (identity, empty batches, merge, delete).

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{assert_error, Client, TestServer};

fn days_ago(days: i64) -> Date {
    Timestamp::now()
        .to_zoned(TimeZone::UTC)
        .date()
        .checked_sub(days.days())
        .unwrap()
}

/// A local wall-clock time in `zone`, plus `plus_s` seconds, as an RFC 3339 instant.
fn at(zone: &str, date: Date, h: i8, m: i8, plus_s: i64) -> String {
    let tz = TimeZone::get(zone).unwrap();
    let ts = date.at(h, m, 0, 0).to_zoned(tz).unwrap().timestamp();
    let ts = ts.checked_add(plus_s.seconds()).unwrap();
    format!("{ts:.0}")
}

fn idle(start: &str, seconds: i64) -> Value {
    json!({"start": start, "duration": seconds, "executable": "explorer.exe",
           "description": "Desktop", "idle": true})
}

fn batch(computer: Value, user: &str, records: Vec<Value>) -> Value {
    json!({"computer": computer, "client": {"loginDomain": "CORP", "name": user},
           "session": 1, "records": records})
}

fn pc(zone: &str) -> Value {
    json!({"name": "LT-042", "primaryDomain": "corp", "timeZone": zone})
}

async fn push(client: &Client, body: &Value) -> Value {
    let (status, reply) = client.post("/agent/v1/activity", body).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    reply
}

/// The passive seconds of every (user, date) row of `date`, summed.
async fn passive_on(client: &Client, date: Date) -> i64 {
    let (status, body) = client
        .get(&format!(
            "/reports/v2/workinghours/users?from={date}&to={date}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["activity"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["date"].as_str().unwrap().starts_with(&date.to_string()))
        .map(|r| r["passiveTime"]["total"].as_i64().unwrap())
        .sum()
}

#[tokio::test]
async fn touching_idle_records_share_one_passive_limit_in_any_order_and_batching() {
    let server = TestServer::start().await;
    let d = days_ago(2);
    let a = idle(&at("UTC", d, 10, 0, 0), 200);
    let b = idle(&at("UTC", d, 10, 0, 200), 200);
    let orders: [Vec<Vec<Value>>; 4] = [
        vec![vec![a.clone(), b.clone()]],
        vec![vec![b.clone(), a.clone()]],
        vec![vec![a.clone()], vec![b.clone()]],
        vec![vec![b.clone()], vec![a.clone()]],
    ];
    for (i, batches) in orders.iter().enumerate() {
        let account = server.account().await;
        let c = &account.client;
        for records in batches {
            push(c, &batch(pc("UTC"), "jdoe", records.clone())).await;
        }
        assert_eq!(passive_on(c, d).await, 300, "arrival {i}");
        // Sent again, both are duplicates and change nothing.
        let again = push(c, &batch(pc("UTC"), "jdoe", vec![a.clone(), b.clone()])).await;
        assert_eq!(again["duplicates"], 2);
        assert_eq!(passive_on(c, d).await, 300, "arrival {i}, re-sent");
        account.settings(json!({"passiveLimitMinutes": null})).await;
        assert_eq!(passive_on(c, d).await, 400, "arrival {i}, unlimited");
    }
}

#[tokio::test]
async fn a_gap_or_another_user_keeps_stretches_apart() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let d = days_ago(2);
    // One second apart: two stretches.
    push(
        c,
        &batch(
            pc("UTC"),
            "jdoe",
            vec![
                idle(&at("UTC", d, 9, 0, 0), 200),
                idle(&at("UTC", d, 9, 0, 201), 200),
            ],
        ),
    )
    .await;
    assert_eq!(passive_on(c, d).await, 400);
    // Touching, but another user on the same computer: two stretches.
    push(
        c,
        &batch(pc("UTC"), "jdoe", vec![idle(&at("UTC", d, 11, 0, 0), 200)]),
    )
    .await;
    push(
        c,
        &batch(
            pc("UTC"),
            "asmith",
            vec![idle(&at("UTC", d, 11, 0, 200), 200)],
        ),
    )
    .await;
    assert_eq!(passive_on(c, d).await, 800);
    // An active record between idle ones ends the stretch (they do not touch).
    push(
        c,
        &batch(
            pc("UTC"),
            "jdoe",
            vec![
                idle(&at("UTC", d, 13, 0, 0), 200),
                json!({"start": at("UTC", d, 13, 0, 200), "duration": 10,
                       "executable": "word.exe", "idle": false}),
                idle(&at("UTC", d, 13, 0, 210), 200),
            ],
        ),
    )
    .await;
    assert_eq!(passive_on(c, d).await, 1200);
}

#[tokio::test]
async fn a_late_record_bridging_two_stretches_merges_all_three() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let d = days_ago(3);
    let first = idle(&at("UTC", d, 10, 0, 0), 200);
    let bridge = idle(&at("UTC", d, 10, 0, 200), 200);
    let last = idle(&at("UTC", d, 10, 0, 400), 200);
    push(c, &batch(pc("UTC"), "jdoe", vec![last.clone()])).await;
    push(c, &batch(pc("UTC"), "jdoe", vec![first.clone()])).await;
    assert_eq!(passive_on(c, d).await, 400, "two stretches of 200 s");
    push(c, &batch(pc("UTC"), "jdoe", vec![bridge])).await;
    assert_eq!(passive_on(c, d).await, 300, "one stretch of 600 s");
    // The limit is applied at read time to the merged stretch.
    account.settings(json!({"passiveLimitMinutes": 8})).await;
    assert_eq!(passive_on(c, d).await, 480);
    account.settings(json!({"passiveLimitMinutes": null})).await;
    assert_eq!(passive_on(c, d).await, 600);
    account.settings(json!({"passiveLimitMinutes": 0})).await;
    assert_eq!(passive_on(c, d).await, 0);
    // The same set of records in one batch gives the same figures.
    let other = server.account().await;
    let all = vec![
        idle(&at("UTC", d, 10, 0, 400), 200),
        idle(&at("UTC", d, 10, 0, 0), 200),
        idle(&at("UTC", d, 10, 0, 200), 200),
    ];
    push(&other.client, &batch(pc("UTC"), "jdoe", all)).await;
    assert_eq!(passive_on(&other.client, d).await, 300);
    other.settings(json!({"passiveLimitMinutes": 8})).await;
    assert_eq!(passive_on(&other.client, d).await, 480);
    // The log still shows every record.
    let (status, log) = c
        .get(&format!(
            "/reports/v2/activitylog?startDate={d}&endDate={d}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    assert_eq!(log["activity"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn a_stretch_across_local_midnight_spends_its_limit_once() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let zone = "Europe/Berlin";
    let d = days_ago(4);
    let d1 = d.tomorrow().unwrap();
    // Three touching records: 23:50–23:52, 23:52–00:02 (crossing midnight),
    // 00:02–00:05; sent last first, the crossing one last of all.
    let before = idle(&at(zone, d, 23, 50, 0), 120);
    let across = idle(&at(zone, d, 23, 52, 0), 600);
    let after = idle(&at(zone, d, 23, 52, 600), 180);
    push(c, &batch(pc(zone), "jdoe", vec![after])).await;
    push(c, &batch(pc(zone), "jdoe", vec![across])).await;
    // 23:52–00:05 is one stretch: 300 s passive, 8 min on day d.
    assert_eq!(passive_on(c, d).await, 300);
    assert_eq!(passive_on(c, d1).await, 0);
    // The late record before it moves the crossing record, both of its pieces.
    push(c, &batch(pc(zone), "jdoe", vec![before])).await;
    assert_eq!(passive_on(c, d).await, 300);
    assert_eq!(passive_on(c, d1).await, 0);
    account.settings(json!({"passiveLimitMinutes": 12})).await;
    // 10 minutes on day d, then 2 more of the limit after midnight.
    assert_eq!(passive_on(c, d).await, 600);
    assert_eq!(passive_on(c, d1).await, 120);
    account.settings(json!({"passiveLimitMinutes": null})).await;
    assert_eq!(passive_on(c, d).await, 600);
    assert_eq!(passive_on(c, d1).await, 300);
}

#[tokio::test]
async fn idle_offset_seconds_counts_the_stretch_already_elapsed() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let d = days_ago(2);
    // The agent knows the stretch began 250 s before this record.
    let mut r = idle(&at("UTC", d, 10, 0, 0), 200);
    r["idleOffsetSeconds"] = json!(250);
    push(c, &batch(pc("UTC"), "jdoe", vec![r])).await;
    assert_eq!(passive_on(c, d).await, 50);
    // A record whose offset says its stretch began before a stored touching
    // record moves that record's pieces further into the stretch too.
    let d2 = days_ago(3);
    push(
        c,
        &batch(pc("UTC"), "jdoe", vec![idle(&at("UTC", d2, 10, 0, 0), 200)]),
    )
    .await;
    assert_eq!(passive_on(c, d2).await, 200);
    let mut late = idle(&at("UTC", d2, 10, 0, 200), 200);
    late["idleOffsetSeconds"] = json!(400);
    push(c, &batch(pc("UTC"), "jdoe", vec![late])).await;
    // The stretch began at 09:56:40: the first record is 200–400 s in, the
    // second 400–600 s: 100 s within a 5-minute limit.
    assert_eq!(passive_on(c, d2).await, 100);
    // Bad offsets are named.
    for bad in [json!(-1), json!("ten"), json!(1.5)] {
        let mut r = idle(&at("UTC", d, 12, 0, 0), 60);
        r["idleOffsetSeconds"] = bad;
        let (status, body) = c
            .post("/agent/v1/activity", &batch(pc("UTC"), "jdoe", vec![r]))
            .await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["errors"][0]["field"], "idleOffsetSeconds", "{body}");
    }
}
