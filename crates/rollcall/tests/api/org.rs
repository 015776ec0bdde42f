//! Org-chart history through the HTTP API (issue 19 #3): uploads keep the previous
//! snapshots, answer what changed, `mode=merge` updates without removing anyone,
//! and an older snapshot can be made current again, reports following it.

use reqwest::{Method, StatusCode};
use rollcall_core::time;
use serde_json::{json, Value};

use crate::common::{assert_error, Client, TestServer};

const HOUR: i64 = 3_600_000;
const CSV_PATH: &str = "/services/push/v1/customer/org-chart/csv";
const SNAPSHOTS: &str = "/services/push/v1/customer/org-chart/snapshots";

fn now() -> i64 {
    rollcall_store::now_ms()
}

/// Uploads a CSV (`query` is appended to the path); returns (status, body).
async fn upload(c: &Client, query: &str, csv: &str) -> (StatusCode, Value) {
    c.send(
        c.request(Method::POST, &format!("{CSV_PATH}{query}"))
            .header("content-type", "text/csv")
            .body(csv.to_string()),
    )
    .await
}

async fn upload_ok(c: &Client, query: &str, csv: &str) -> Value {
    let (status, body) = upload(c, query, csv).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn changes(body: &Value) -> (u64, u64, u64) {
    let c = &body["changes"];
    (
        c["added"].as_u64().unwrap(),
        c["removed"].as_u64().unwrap(),
        c["changed"].as_u64().unwrap(),
    )
}

async fn snapshots(c: &Client) -> Vec<Value> {
    let (status, body) = c.get(SNAPSHOTS).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["snapshots"].as_array().unwrap().clone()
}

/// The current chart as the signed download serves it: its CSV lines.
async fn current_lines(c: &Client) -> Vec<String> {
    let (status, body) = c.get("/services/push/v1/customer/org-chart").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = body["downloadUrl"].as_str().unwrap();
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    text.lines().map(String::from).collect()
}

async fn audit(c: &Client, kind: &str) -> Vec<Value> {
    let start = time::format_ms(now() - HOUR);
    let end = time::format_ms(now() + HOUR);
    let (status, body) = c
        .get(&format!(
            "/services/pull/v1/customer/audit-events?startTime={start}&endTime={end}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["eventType"] == kind)
        .map(|e| e["eventProperties"].clone())
        .collect()
}

/// A CSV of `n` people `p1..pn` in `team`.
fn people(n: usize, team: &str) -> String {
    let mut csv = String::from("email,firstName,team\n");
    for i in 1..=n {
        csv.push_str(&format!("p{i}@corp.com,P{i},{team}\n"));
    }
    csv
}

#[tokio::test]
async fn a_replacing_upload_keeps_the_previous_chart_and_counts_the_changes() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let first = upload_ok(c, "?orgChartName=HR", &people(5, "Sales")).await;
    assert_eq!(first["numUsers"], 5);
    assert_eq!(first["mode"], "replace");
    assert_eq!(changes(&first), (5, 0, 0));
    // p1 and p2 kept as they were, p3 changes team, p4 and p5 go, p6 comes.
    let csv = "email,firstName,team\np1@corp.com,P1,Sales\np2@corp.com,P2,Sales\n\
               p3@corp.com,P3,Support\np6@corp.com,P6,Support\n";
    let second = upload_ok(c, "", csv).await;
    assert_eq!(second["numUsers"], 4);
    assert_eq!(second["orgChartUsers"], 4);
    assert_eq!(changes(&second), (1, 2, 1));
    let lines = current_lines(c).await;
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("p6@corp.com")));
    assert!(!lines.iter().any(|l| l.starts_with("p4@corp.com")));

    // Both are listed, newest first, the second one active.
    let list = snapshots(c).await;
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["id"], second["id"]);
    assert_eq!(list[0]["active"], true);
    assert_eq!(list[0]["numUsers"], 4);
    assert_eq!(list[1]["id"], first["id"]);
    assert_eq!(list[1]["name"], "HR");
    assert_eq!(list[1]["active"], false);
    assert_eq!(list[1]["numUsers"], 5);
    assert_eq!(list[1]["mode"], "replace");
    assert!(list[1]["created"].as_str().unwrap().ends_with('Z'));

    // The audit event says what changed.
    let uploads = audit(c, "UploadedOrgData").await;
    assert_eq!(uploads.len(), 2, "{uploads:?}");
    let last = uploads
        .iter()
        .find(|p| p["orgChartId"] == second["id"])
        .unwrap();
    assert_eq!(last["added"], 1);
    assert_eq!(last["removed"], 2);
    assert_eq!(last["changed"], 1);
    assert_eq!(last["previousOrgChartId"], first["id"]);

    // An unknown mode is refused before anything is stored.
    let (status, body) = upload(c, "?mode=append", &people(1, "Ops")).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap().contains("merge"),
        "{body}"
    );
    assert_eq!(snapshots(c).await.len(), 2);
}

#[tokio::test]
async fn a_merge_updates_and_adds_people_and_removes_nobody() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    upload_ok(c, "", &people(320, "Sales")).await;
    // One row merged: p7 moves team, p999 is new; the 319 others stay.
    let csv =
        "email,firstName,team,Region\np7@corp.com,P7,Support,West\np999@corp.com,New,Ops,East\n";
    let merged = upload_ok(c, "?mode=merge", csv).await;
    assert_eq!(merged["mode"], "merge");
    assert_eq!(merged["numUsers"], 2);
    assert_eq!(merged["orgChartUsers"], 321);
    assert_eq!(changes(&merged), (1, 0, 1));
    let lines = current_lines(c).await;
    assert_eq!(lines.len(), 322);
    // The merged chart has the current chart's columns and the upload's new one.
    assert!(lines[0].ends_with(",Region"), "{}", lines[0]);
    assert!(lines
        .iter()
        .any(|l| l.starts_with("p7@corp.com,P7,,Support,") && l.ends_with(",West")));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("p8@corp.com,P8,,Sales,")));

    // A paged snapshot started with mode=merge merges too, on its last page.
    let (status, body) = c
        .post(
            "/services/push/v1/customer/org-chart?mode=merge",
            &json!({"orgChartName": "fix one"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["id"].as_i64().unwrap();
    let path = format!("/services/push/v1/customer/org-chart/{id}");
    let (status, body) = c
        .put(
            &path,
            &json!({"hasMore": true, "users": [{"email": "p1@corp.com", "firstName": "P1", "team": "Sales"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("changes").is_none(), "{body}");
    let (status, body) = c
        .put(
            &path,
            &json!({"hasMore": false, "users": [{"email": "p2@corp.com", "firstName": "Two", "team": "Sales"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["current"], true);
    assert_eq!(body["numUsers"], 321);
    // p1 is unchanged, p2 renamed.
    assert_eq!(changes(&body), (0, 0, 1));
    let list = snapshots(c).await;
    assert_eq!(list[0]["mode"], "merge");
    assert_eq!(list[0]["numUsers"], 321);

    // A merge into no chart at all is simply the first chart.
    let other = server.account().await;
    let first = upload_ok(&other.client, "?mode=merge", &people(3, "Ops")).await;
    assert_eq!(changes(&first), (3, 0, 0));

    // A merge that would pass 5 custom fields is refused and changes nothing.
    upload_ok(&other.client, "", "email,a,b,c,d,e\nx@corp.com,1,2,3,4,5\n").await;
    let (status, body) = upload(&other.client, "?mode=merge", "email,f\ny@corp.com,6\n").await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(snapshots(&other.client).await.len(), 2);
}

/// The "Mail" app with one event, `sent`.
async fn app(c: &Client) -> String {
    let (status, body) = c
        .post(
            "/services/push/v1/customer/apps",
            &json!({"name": "Mail", "category": "Communication", "description": "mail",
                    "sso": false,
                    "events": [{"eventName": "sent", "eventType": "Produce", "groups": ["Sent"]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["appId"].as_str().unwrap().to_string()
}

fn segment(body: &Value, value: &str) -> Option<Value> {
    body["segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["value"] == value)
        .cloned()
}

async fn by_team(c: &Client, app: &str) -> Value {
    let (status, body) = c
        .get(&format!(
            "/pull/v1/apps/{app}/engagement?rollingWindow=7&by=team"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn activating_an_older_snapshot_makes_reports_follow_it() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = app(c).await;
    let full = upload_ok(c, "", &people(6, "Sales")).await;
    let events: Vec<Value> = (1..=4)
        .map(|i| json!({"timestamp": now() - HOUR, "email": format!("p{i}@corp.com"), "eventName": "sent"}))
        .collect();
    let (status, body) = c
        .post(
            &format!("/services/push/v1/customer/apps/{app}/events"),
            &json!({"events": events}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let e = by_team(c, &app).await;
    assert_eq!(segment(&e, "Sales").unwrap()["active"], 4);
    assert_eq!(e["total"]["population"], 6);

    // The mistaken one-row upload: five people vanish from the report.
    let small = upload_ok(c, "", "email,team\np1@corp.com,Ops\n").await;
    assert_eq!(changes(&small), (0, 5, 1));
    let e = by_team(c, &app).await;
    assert!(segment(&e, "Sales").is_none(), "{e}");
    assert_eq!(segment(&e, "Ops").unwrap()["active"], 1);
    assert_eq!(e["total"]["population"], 1);
    assert_eq!(e["total"]["outsidePopulation"], 3);

    // Restoring the full chart brings the report back exactly.
    let (status, body) = c
        .post(
            &format!(
                "/services/push/v1/customer/org-chart/{}/activate",
                full["id"]
            ),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["numUsers"], 6);
    assert_eq!(body["previousId"], small["id"]);
    assert_eq!(changes(&body), (5, 0, 1));
    let e = by_team(c, &app).await;
    assert_eq!(segment(&e, "Sales").unwrap()["active"], 4);
    assert_eq!(segment(&e, "Sales").unwrap()["population"], 6);
    assert!(segment(&e, "Ops").is_none(), "{e}");
    assert_eq!(e["total"]["outsidePopulation"], 0);
    let list = snapshots(c).await;
    assert_eq!(list.len(), 2);
    assert_eq!(list[1]["id"], full["id"]);
    assert_eq!(list[1]["active"], true);
    assert_eq!(list[0]["active"], false);
    let activations = audit(c, "ActivatedOrgChart").await;
    assert_eq!(activations.len(), 1, "{activations:?}");
    assert_eq!(activations[0]["orgChartId"], full["id"]);
    assert_eq!(activations[0]["previousOrgChartId"], small["id"]);
    assert_eq!(activations[0]["users"], 6);

    // Activating the current one again changes nothing and records nothing.
    let (status, body) = c
        .post(
            &format!(
                "/services/push/v1/customer/org-chart/{}/activate",
                full["id"]
            ),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(changes(&body), (0, 0, 0));
    assert_eq!(audit(c, "ActivatedOrgChart").await.len(), 1);

    // And back to the small one: the report follows again.
    let (status, body) = c
        .post(
            &format!(
                "/services/push/v1/customer/org-chart/{}/activate",
                small["id"]
            ),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let e = by_team(c, &app).await;
    assert!(segment(&e, "Sales").is_none(), "{e}");
    assert_eq!(e["total"]["population"], 1);
}

#[tokio::test]
async fn the_eleventh_upload_drops_the_oldest_snapshot() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let mut ids = Vec::new();
    for n in 1..=11 {
        let body = upload_ok(c, &format!("?orgChartName=v{n}"), &people(n, "Ops")).await;
        ids.push(body["id"].as_i64().unwrap());
    }
    let list = snapshots(c).await;
    assert_eq!(list.len(), 10, "{list:?}");
    let listed: Vec<i64> = list.iter().map(|s| s["id"].as_i64().unwrap()).collect();
    let mut expected: Vec<i64> = ids[1..].to_vec();
    expected.reverse();
    assert_eq!(listed, expected);
    assert_eq!(list[9]["name"], "v2");
    assert_eq!(list[9]["numUsers"], 2);
    assert_eq!(list.iter().filter(|s| s["active"] == true).count(), 1);
    // The dropped one is gone for good.
    let (status, body) = c
        .post(
            &format!("/services/push/v1/customer/org-chart/{}/activate", ids[0]),
            &json!({}),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    // Activating the oldest kept one keeps it through the next upload (it is the
    // chart that upload replaces), and the least recently replaced other one goes.
    let (status, body) = c
        .post(
            &format!("/services/push/v1/customer/org-chart/{}/activate", ids[1]),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["numUsers"], 2);
    let twelfth = upload_ok(c, "?mode=merge", &people(1, "Ops")).await;
    assert_eq!(twelfth["orgChartUsers"], 2);
    let listed: Vec<i64> = snapshots(c)
        .await
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed.len(), 10);
    assert!(listed.contains(&ids[1]), "{listed:?}");
    assert!(!listed.contains(&ids[2]), "{listed:?}");
}

#[tokio::test]
async fn another_accounts_or_an_open_snapshot_cannot_be_activated() {
    let server = TestServer::start().await;
    let a = server.account().await;
    let b = server.account().await;
    let first = upload_ok(&a.client, "", &people(3, "Ops")).await;
    upload_ok(&a.client, "", &people(1, "Ops")).await;
    let path = format!(
        "/services/push/v1/customer/org-chart/{}/activate",
        first["id"]
    );
    let (status, body) = b.client.post(&path, &json!({})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    assert!(snapshots(&b.client).await.is_empty());
    // Account A's chart did not move.
    let list = snapshots(&a.client).await;
    assert_eq!(list[0]["active"], true);
    assert_eq!(list[1]["active"], false);
    let (status, body) = a
        .client
        .post(
            "/services/push/v1/customer/org-chart/999999/activate",
            &json!({}),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    // A snapshot still being uploaded is not a chart yet.
    let (_, body) = a
        .client
        .post(
            "/services/push/v1/customer/org-chart",
            &json!({"orgChartName": "half"}),
        )
        .await;
    let (status, body) = a
        .client
        .post(
            &format!(
                "/services/push/v1/customer/org-chart/{}/activate",
                body["id"]
            ),
            &json!({}),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT);
    // A key without connector.write cannot switch charts.
    let (_, viewer) = a.user_with_key("viewer", json!({})).await;
    let (status, body) = viewer.post(&path, &json!({})).await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    assert_eq!(audit(&a.client, "ActivatedOrgChart").await.len(), 0);
}
