//! The report layer through the HTTP API (issue 13 step 1, issue 19's report
//! items): utilisation over provisioned users, the activity log's empty cursor,
//! `url` and day, working-hours dates, one `asOfDate`, CSV downloads and their
//! formula neutralisation, and viewer restrictions on every usage report.

use reqwest::{Method, StatusCode};
use rollcall_core::time;
use serde_json::{json, Value};

use crate::common::{assert_error, provision, wf_id, Account, Client, TestServer};

const HOUR: i64 = 3_600_000;

fn now() -> i64 {
    rollcall_store::now_ms()
}

/// Today's local day number in UTC (the default account zone).
fn today() -> i32 {
    time::day_number(time::local_date(now(), &jiff::tz::TimeZone::UTC))
}

fn date(day: i32) -> String {
    time::date_of_day_number(day).to_string()
}

/// Noon UTC of a day number.
fn noon(day: i32) -> i64 {
    time::start_of_day_ms(time::date_of_day_number(day), &jiff::tz::TimeZone::UTC) + 12 * HOUR
}

/// An app with two feature groups and two priced licence tiers.
async fn app(c: &Client) -> String {
    let (status, body) = c
        .post(
            "/services/push/v1/customer/apps",
            &json!({
                "name": "Mail", "category": "Communication", "description": "e-mail",
                "sso": false,
                "events": [
                    {"eventName": "sent", "eventType": "Produce", "groups": ["Sent"]},
                    {"eventName": "read", "eventType": "Consume", "groups": ["Read"]},
                    {"eventName": "admin", "eventType": "Admin", "minLicenseTier": "Pro"}
                ],
                "licenseTiers": [
                    {"name": "Basic", "tier": 0, "features": ["mail"], "annualCost": 60.0, "currency": "USD"},
                    {"name": "Pro", "tier": 1, "features": ["mail", "admin"], "annualCost": 120.0, "currency": "USD"}
                ]
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["appId"].as_str().unwrap().to_string()
}

async fn push(c: &Client, app: &str, events: &[(i64, &str, &str)]) {
    let events: Vec<Value> = events
        .iter()
        .map(|(ts, email, name)| json!({"timestamp": ts, "email": email, "eventName": name}))
        .collect();
    let (status, body) = c
        .post(
            &format!("/services/push/v1/customer/apps/{app}/events"),
            &json!({"events": events}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn org_csv(c: &Client, csv: &str) {
    let (status, body) = c
        .send(
            c.request(Method::POST, "/services/push/v1/customer/org-chart/csv")
                .header("content-type", "text/csv")
                .body(csv.to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// GET with `Accept`; returns status, content type and body text.
async fn get_text(c: &Client, path: &str, accept: &str) -> (StatusCode, String, String) {
    let response = c
        .request(Method::GET, path)
        .header("accept", accept)
        .send()
        .await
        .expect("request");
    let status = response.status();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, kind, response.text().await.expect("body"))
}

/// A small company: org chart of four (one with a formula-like team), an app
/// with three provisioned users, usage by two of them and by one unlicensed
/// person.
async fn usage_company(c: &Client) -> String {
    org_csv(
        c,
        "email,firstName,lastName,team\n\
         ana@corp.com,Ana,Diaz,Sales\n\
         bo@corp.com,Bo,Li,Sales\n\
         cy@corp.com,=cmd|' /C calc'!A0,Ng,Support\n\
         di@corp.com,Di,Ode,-Ops\n",
    )
    .await;
    let app = app(c).await;
    provision(
        c,
        &app,
        &[
            ("u1", "ana@corp.com", "Pro"),
            ("u2", "bo@corp.com", "Basic"),
            ("u3", "cy@corp.com", "Basic"),
        ],
    )
    .await;
    let t = today();
    push(
        c,
        &app,
        &[
            (noon(t - 2), "ana@corp.com", "sent"),
            (noon(t - 3), "ana@corp.com", "read"),
            (noon(t - 5), "bo@corp.com", "read"),
            (noon(t - 2), "di@corp.com", "sent"),
            (noon(t - 40), "cy@corp.com", "read"),
        ],
    )
    .await;
    app
}

/// One agent batch for `user` on `computer`: 30 min of Excel, 10 min of a
/// website, and 10 idle minutes, starting at 09:00 UTC on `day`.
fn agent_batch(computer: &str, user: &str, day: i32) -> Value {
    let start =
        time::start_of_day_ms(time::date_of_day_number(day), &jiff::tz::TimeZone::UTC) + 9 * HOUR;
    let at = |m: i64| time::format_ms(start + m * 60_000);
    json!({
        "computer": {"name": computer, "primaryDomain": "corp", "timeZone": "UTC"},
        "client": {"loginDomain": "CORP", "name": user},
        "session": 1,
        "records": [
            {"start": at(0), "duration": 1800, "executable": "excel.exe", "description": "Budget"},
            {"start": at(30), "duration": 600, "executable": "chrome.exe", "description": "News",
             "url": "https://news.example/a"},
            {"start": at(40), "duration": 600, "executable": "idle", "idle": true}
        ]
    })
}

async fn agent_push(c: &Client, body: &Value) {
    let (status, reply) = c.post("/agent/v1/activity", body).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
}

/// The answer's one app summary.
async fn summary(c: &Client, query: &str) -> Value {
    let (status, body) = c.get(&format!("/pull/v3/apps{query}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

// ---------------------------------------------------------------- issue 19 #5, #12

#[tokio::test]
async fn utilization_is_active_provisioned_over_provisioned_and_unlicensed_actives_are_apart() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = usage_company(c).await;
    // Provisioned: ana, bo, cy. Active in the 30 days: ana, bo (provisioned) and
    // di (no licence); cy's only use is 40 days old.
    let body = summary(c, "").await;
    let a = &body["apps"][0];
    assert_eq!(a["provisionedUsers"], 3, "{a}");
    assert_eq!(a["activeUsers"], 3, "{a}");
    assert_eq!(a["activeProvisionedUsers"], 2, "{a}");
    assert_eq!(a["unlicensedActiveUsers"], 1, "{a}");
    assert_eq!(a["utilization"], 66.7, "2 of 3, not 3 of 3: {a}");
    let (status, details) = c.get(&format!("/pull/v2/apps/{app}")).await;
    assert_eq!(status, StatusCode::OK, "{details}");
    assert_eq!(details["utilization"], 66.7, "{details}");
    assert_eq!(details["unlicensedActiveUsers"], 1, "{details}");
}

#[tokio::test]
async fn a_provisioned_user_first_seen_after_the_summary_counts_once_active() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = usage_company(c).await;
    // eve is provisioned, outside the org chart, and has never used the app.
    provision(
        c,
        &app,
        &[
            ("u1", "ana@corp.com", "Pro"),
            ("u2", "bo@corp.com", "Basic"),
            ("u3", "cy@corp.com", "Basic"),
            ("u4", "eve@outside.com", "Basic"),
        ],
    )
    .await;
    let a = summary(c, "").await["apps"][0].clone();
    assert_eq!(a["provisionedUsers"], 4, "{a}");
    assert_eq!(a["activeProvisionedUsers"], 2, "{a}");
    // Her first event comes after the summary of these users was made.
    push(c, &app, &[(noon(today() - 1), "eve@outside.com", "sent")]).await;
    let a = summary(c, "").await["apps"][0].clone();
    assert_eq!(a["provisionedUsers"], 4, "{a}");
    assert_eq!(a["activeProvisionedUsers"], 3, "{a}");
    assert_eq!(a["unlicensedActiveUsers"], 1, "only di: {a}");
    assert_eq!(a["utilization"], 75.0, "{a}");
}

#[tokio::test]
async fn app_summaries_have_one_as_of_date_with_the_usual_default_and_no_later_activity() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = usage_company(c).await;
    let t = today();
    let body = summary(c, "").await;
    assert!(body.get("AsOfDate").is_none(), "{body}");
    assert_eq!(body["asOfDate"], date(t), "today, as every other report");
    let (_, engagement) = c.get(&format!("/pull/v1/apps/{app}/engagement")).await;
    assert_eq!(engagement["asOfDate"], body["asOfDate"]);

    // Four days ago only bo (t-5) was active in the 30 days before.
    let body = summary(c, &format!("?asOfDate={}", date(t - 4))).await;
    assert_eq!(body["asOfDate"], date(t - 4));
    assert_eq!(body["apps"][0]["activeUsers"], 1, "{body}");
    let (status, body) = c.get("/pull/v3/apps?asOfDate=yesterday").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap().contains("asOfDate"),
        "{body}"
    );

    // A past asOfDate shows no lastActivity after its day: ana was active at
    // noon of t-3 and t-2; as of t-3 her latest is within t-3.
    let end_of = |day: i32| time::format_ms(noon(day) + 12 * HOUR);
    let (status, users) = c
        .get(&format!(
            "/pull/v1/apps/{app}/users?asOfDate={}",
            date(t - 3)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{users}");
    let row = |email: &str| {
        users["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == email)
            .cloned()
            .unwrap_or_else(|| panic!("no {email} in {users}"))
    };
    let ana = row("ana@corp.com");
    let last = ana["lastActivity"].as_str().unwrap();
    assert!(last < end_of(t - 3).as_str(), "{ana}");
    assert_eq!(ana["status"], "Active");
    // di's only use is at t-2: as of t-4 she never used the app.
    let (_, users) = c
        .get(&format!(
            "/pull/v1/apps/{app}/users?asOfDate={}&dataSource=employees",
            date(t - 4)
        ))
        .await;
    let di = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "di@corp.com")
        .unwrap();
    assert_eq!(di["status"], "NeverUsed", "{di}");
    assert_eq!(di["lastActivity"], Value::Null, "{di}");
    for u in users["users"].as_array().unwrap() {
        if let Some(l) = u["lastActivity"].as_str() {
            assert!(l < end_of(t - 4).as_str(), "{u}");
        }
    }
    // The inactive users as of t-4: ana's (t-3, t-2) use comes later, so none shows.
    let (status, inactive) = c
        .get(&format!(
            "/pull/v1/apps/{app}/inactive-users?asOfDate={}&rollingWindow=1",
            date(t - 4)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{inactive}");
    let rows = inactive["users"].as_array().unwrap();
    let ana = rows.iter().find(|u| u["email"] == "ana@corp.com").unwrap();
    assert_eq!(ana["lastActivity"], Value::Null, "{ana}");
    let bo = rows.iter().find(|u| u["email"] == "bo@corp.com").unwrap();
    assert_eq!(bo["lastActivity"], time::format_ms(noon(t - 5)), "{bo}");
}

// ---------------------------------------------------------------- issue 19 #8, #10, #15

#[tokio::test]
async fn the_activity_log_takes_an_empty_cursor_says_its_day_and_keeps_its_page_size() {
    let server = TestServer::start().await;
    let account = server.account().await;
    account.capture_everything().await;
    let c = &account.client;
    let t = today();
    agent_push(c, &agent_batch("PC-1", "ana", t)).await;
    agent_push(c, &agent_batch("PC-1", "ana", t - 1)).await;

    // A loop's first call sends `cursor=`; without startDate the answer says the day.
    let (status, body) = c.get("/reports/v2/activitylog?cursor=").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["startDate"], date(t), "{body}");
    let rows = body["activity"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "today's three records: {body}");
    // url is a string like the other text fields, "" when the record has none.
    for r in rows {
        assert!(r["url"].is_string(), "{r}");
    }
    assert_eq!(rows[0]["url"], "");
    assert_eq!(rows[1]["url"], "https://news.example/a");

    // A cursor made with pageSize=2 keeps it; an explicit pageSize wins.
    let (status, first) = c
        .get(&format!(
            "/reports/v2/activitylog?startDate={}&pageSize=2",
            date(t - 1)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["startDate"], date(t - 1));
    assert_eq!(first["activity"].as_array().unwrap().len(), 2);
    let cursor = first["cursor"].as_str().unwrap();
    let (_, second) = c
        .get(&format!("/reports/v2/activitylog?cursor={cursor}"))
        .await;
    assert_eq!(
        second["activity"].as_array().unwrap().len(),
        2,
        "the cursor's pageSize, not 150: {second}"
    );
    assert_eq!(second["startDate"], date(t - 1), "the cursor's day");
    let cursor = second["cursor"].as_str().unwrap();
    let (_, third) = c
        .get(&format!(
            "/reports/v2/activitylog?cursor={cursor}&pageSize=1000"
        ))
        .await;
    assert_eq!(third["activity"].as_array().unwrap().len(), 2, "{third}");
    // A cursor that is not one is still refused.
    let (status, body) = c.get("/reports/v2/activitylog?cursor=v1.junk").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
}

// ---------------------------------------------------------------- issue 19 #9

#[tokio::test]
async fn working_hours_dates_are_the_local_midnight_datetime() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let d = today() - 3;
    // 02:00 UTC is 21:00 of the day before in New York.
    let start =
        time::start_of_day_ms(time::date_of_day_number(d), &jiff::tz::TimeZone::UTC) + 2 * HOUR;
    agent_push(
        c,
        &json!({
            "computer": {"name": "NY-1", "timeZone": "America/New_York"},
            "client": {"name": "nia"},
            "session": 1,
            "records": [{"start": time::format_ms(start), "duration": 600, "executable": "excel.exe"}]
        }),
    )
    .await;
    for view in ["users", "computers"] {
        let (status, body) = c
            .get(&format!(
                "/reports/v2/workinghours/{view}?from={}&to={}",
                date(d - 2),
                date(d)
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let rows = body["activity"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{body}");
        assert_eq!(
            rows[0]["date"],
            format!("{}T00:00:00", date(d - 1)),
            "{view}"
        );
    }
}

// ---------------------------------------------------------------- issue 19 #19

/// Parses a CSV answer into rows of cells.
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

async fn csv_of(c: &Client, path: &str) -> Vec<Vec<String>> {
    let (status, kind, text) = get_text(c, path, "text/csv").await;
    assert_eq!(status, StatusCode::OK, "{path}: {text}");
    assert!(kind.starts_with("text/csv"), "{path}: {kind}");
    csv_rows(&text)
}

/// No cell of a CSV starts a formula; the given cells are there, neutralised.
fn assert_neutral(rows: &[Vec<String>], expected: &[&str]) {
    for cell in rows.iter().flatten() {
        let looks_numeric = cell.parse::<f64>().is_ok();
        assert!(
            looks_numeric || !cell.starts_with(['=', '+', '-', '@']),
            "{cell} in {rows:?}"
        );
    }
    for e in expected {
        assert!(rows.iter().flatten().any(|c| c == e), "{e} in {rows:?}");
    }
}

#[tokio::test]
async fn every_report_with_a_table_answers_csv_with_formulas_neutralised() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = usage_company(c).await;

    let rows = csv_of(c, &format!("/pull/v1/apps/{app}/engagement")).await;
    assert_eq!(rows[0], ["team", "population", "active", "percent"]);
    // Teams: -Ops (di, active), Sales (ana, bo, active), Support (cy).
    assert!(
        rows.contains(&vec![
            "'-Ops".into(),
            "1".into(),
            "1".into(),
            "100.0".into()
        ]),
        "{rows:?}"
    );
    assert!(
        rows.contains(&vec![
            "Sales".into(),
            "2".into(),
            "2".into(),
            "100.0".into()
        ]),
        "{rows:?}"
    );
    assert_neutral(&rows, &["'-Ops"]);

    let rows = csv_of(
        c,
        &format!("/pull/v1/apps/{app}/users?dataSource=employees"),
    )
    .await;
    assert_eq!(&rows[0][..3], ["email", "appUserId", "username"]);
    assert_eq!(rows.len(), 1 + 4, "every user in one download: {rows:?}");
    assert_neutral(&rows, &["'=cmd|' /C calc'!A0", "ana@corp.com"]);

    let rows = csv_of(c, &format!("/pull/v1/apps/{app}/inactive-users")).await;
    assert_eq!(rows[0][0], "email");
    assert_neutral(&rows, &["cy@corp.com", "'=cmd|' /C calc'!A0"]);

    let d = today() - 1;
    agent_push(c, &agent_batch("=1+2", "@SUM(A1)", d)).await;
    let q = format!("from={}&to={}", date(d), date(d));
    let rows = csv_of(c, &format!("/reports/v2/workinghours/users?{q}")).await;
    assert_eq!(&rows[0][..3], ["date", "userid", "user"]);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1][0], format!("{}T00:00:00", date(d)));
    assert_eq!(rows[1][2], "CORP\\@SUM(A1)", "{rows:?}");
    assert_neutral(&rows, &[]);
    let rows = csv_of(c, &format!("/reports/v2/workinghours/computers?{q}")).await;
    assert_eq!(&rows[0][..3], ["date", "computerid", "computer"]);
    assert_neutral(&rows, &["'=1+2"]);
    // The same rows as the JSON answer, in seconds.
    let (_, json_body) = c
        .get(&format!("/reports/v2/workinghours/computers?{q}"))
        .await;
    assert_eq!(
        rows[1].last().unwrap(),
        &json_body["activity"][0]["totalTime"].to_string()
    );

    // The org chart's signed download goes through the same writer.
    let (_, link) = c.get("/services/push/v1/customer/org-chart").await;
    let url = link["downloadUrl"].as_str().unwrap();
    let text = crate::common::http_client()
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_neutral(&csv_rows(&text), &["'=cmd|' /C calc'!A0", "'-Ops"]);
}

// ---------------------------------------------------------------- viewers (issue 15 Build 4)

/// A group `name` of the one client `member`, and a viewer limited to it and
/// to `app`: the group's id and the viewer's client.
async fn group_viewer(account: &Account, name: &str, member: i64, app: &str) -> (i64, Client) {
    let (status, group) = account
        .client
        .post(
            "/admin/v1/groups",
            &json!({"name": name, "clients": [member]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{group}");
    let gid = group["id"].as_i64().unwrap();
    let (_, viewer) = account
        .user_with_key(
            "viewer",
            json!({"viewableGroups": [gid], "allowedApps": [app]}),
        )
        .await;
    (gid, viewer)
}

/// ana's and di's agent clients with a batch each on `day`, linked to their
/// emails (ana's written in capitals, as an admin may); their client ids.
async fn ana_and_di_tracked(c: &Client, day: i32) -> (i64, i64) {
    agent_push(c, &agent_batch("PC-1", "ana", day)).await;
    agent_push(c, &agent_batch("PC-2", "di", day)).await;
    let (ana, di) = (
        wf_id(c, "clients", "ana").await,
        wf_id(c, "clients", "di").await,
    );
    for (id, email) in [(ana, "Ana@corp.com"), (di, "di@corp.com")] {
        let (status, body) = c
            .patch(&format!("/admin/v1/clients/{id}"), &json!({"email": email}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    (ana, di)
}

#[tokio::test]
async fn a_viewer_sees_only_their_groups_people_in_every_usage_report_and_the_org_chart() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = usage_company(c).await;
    let other_app = {
        let (status, body) = c
            .post(
                "/services/push/v1/customer/apps",
                &json!({"name": "Other", "events": [{"eventName": "x"}]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["appId"].as_str().unwrap().to_string()
    };
    // ana's and di's agent clients, linked to their emails; the group holds ana only.
    let d = today() - 1;
    let (ana, _di) = ana_and_di_tracked(c, d).await;
    let (_, viewer) = group_viewer(&account, "Ana's", ana, &app).await;

    // Summaries: only ana (provisioned, active) counts; the other app is hidden.
    let body = summary(&viewer, "").await;
    let apps = body["apps"].as_array().unwrap();
    assert_eq!(apps.len(), 1, "{body}");
    assert_eq!(apps[0]["provisionedUsers"], 1, "{body}");
    assert_eq!(apps[0]["activeUsers"], 1, "{body}");
    assert_eq!(apps[0]["utilization"], 100.0, "{body}");
    let (status, body) = viewer.get(&format!("/pull/v2/apps/{other_app}")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (_, details) = viewer.get(&format!("/pull/v2/apps/{app}")).await;
    assert_eq!(details["activity"]["mau"], 1, "{details}");

    let (_, users) = viewer
        .get(&format!("/pull/v1/apps/{app}/users?dataSource=employees"))
        .await;
    assert_eq!(users["numUsers"], 1, "{users}");
    assert_eq!(users["users"][0]["email"], "ana@corp.com");
    let (_, e) = viewer.get(&format!("/pull/v1/apps/{app}/engagement")).await;
    assert_eq!(e["total"]["population"], 1, "{e}");
    assert_eq!(e["total"]["active"], 1, "{e}");
    assert_eq!(e["total"]["outsidePopulation"], 0, "di is not theirs: {e}");
    let (_, inactive) = viewer
        .get(&format!(
            "/pull/v1/apps/{app}/inactive-users?rollingWindow=1"
        ))
        .await;
    let emails: Vec<&str> = inactive["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["ana@corp.com"], "{inactive}");
    let (_, trend) = viewer.get(&format!("/pull/v1/apps/{app}/trend")).await;
    let mau = trend["series"].as_array().unwrap().last().unwrap()["mau"].clone();
    assert_eq!(mau, 1, "{trend}");
    let (_, rs) = viewer
        .get(&format!("/pull/v1/apps/{app}/rightsizing"))
        .await;
    for u in rs["users"].as_array().unwrap() {
        assert_eq!(u["email"], "ana@corp.com", "{rs}");
    }
    // The admin still sees everyone.
    let (_, users) = c
        .get(&format!("/pull/v1/apps/{app}/users?dataSource=employees"))
        .await;
    assert_eq!(users["numUsers"], 4, "{users}");

    // The viewer's org-chart link downloads only their people.
    let (status, link) = viewer.get("/services/push/v1/customer/org-chart").await;
    assert_eq!(status, StatusCode::OK, "{link}");
    let text = crate::common::http_client()
        .get(link["downloadUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rows = csv_rows(&text);
    assert_eq!(rows.len(), 2, "header and ana: {rows:?}");
    assert_eq!(rows[1][0], "ana@corp.com");

    // Working hours: the store filters by the group.
    let (_, wh) = viewer
        .get(&format!(
            "/reports/v2/workinghours/users?from={}&to={}",
            date(d),
            date(d)
        ))
        .await;
    let rows = wh["activity"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{wh}");
    assert_eq!(rows[0]["user"], "CORP\\ana");

    // Another account's credential sees none of it.
    let other = server.account().await;
    let (status, body) = other
        .client
        .get(&format!("/pull/v1/apps/{app}/users"))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
}

/// The team of each segment of `e` with its population: (team, population).
fn segments(e: &Value) -> Vec<(String, u64)> {
    e["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["value"].as_str().unwrap_or("").to_string(),
                s["population"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// A viewer's cut of the data is kept between reports (issue 18): it must follow
/// every change to what it was made from, and never serve another viewer.
#[tokio::test]
async fn a_viewers_reports_follow_their_groups_the_org_chart_and_the_provisioned_users() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = usage_company(c).await;
    let (ana, di) = ana_and_di_tracked(c, today() - 1).await;
    let mut viewers = Vec::new();
    for (name, member) in [("Ana's", ana), ("Di's", di)] {
        viewers.push(group_viewer(&account, name, member, &app).await);
    }
    let (anas, dis) = (&viewers[0], &viewers[1]);
    let engagement = |v: &Client| {
        let v = v.clone();
        let path = format!("/pull/v1/apps/{app}/engagement?rollingWindow=7&by=team");
        async move {
            let (status, e) = v.get(&path).await;
            assert_eq!(status, StatusCode::OK, "{e}");
            e
        }
    };
    let provisioned = |v: &Client| {
        let v = v.clone();
        async move { summary(&v, "").await["apps"][0]["provisionedUsers"].clone() }
    };

    // Each viewer sees their own person, asked one after the other.
    for _ in 0..2 {
        assert_eq!(segments(&engagement(&anas.1).await), [("Sales".into(), 1)]);
        assert_eq!(segments(&engagement(&dis.1).await), [("-Ops".into(), 1)]);
        assert_eq!(provisioned(&anas.1).await, 1);
        assert_eq!(provisioned(&dis.1).await, 0);
    }

    // Di joins Ana's group.
    let (status, body) = c
        .patch(
            &format!("/admin/v1/groups/{}", anas.0),
            &json!({"clients": [ana, di]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        segments(&engagement(&anas.1).await),
        [("-Ops".into(), 1), ("Sales".into(), 1)]
    );

    // A new org chart moves Ana to Support.
    org_csv(
        c,
        "email,firstName,lastName,team\n\
         ana@corp.com,Ana,Diaz,Support\n\
         bo@corp.com,Bo,Li,Sales\n\
         di@corp.com,Di,Ode,-Ops\n",
    )
    .await;
    assert_eq!(
        segments(&engagement(&anas.1).await),
        [("-Ops".into(), 1), ("Support".into(), 1)]
    );

    // Di is provisioned too.
    provision(
        c,
        &app,
        &[
            ("u1", "ana@corp.com", "Pro"),
            ("u4", "di@corp.com", "Basic"),
        ],
    )
    .await;
    assert_eq!(provisioned(&anas.1).await, 2);
    assert_eq!(provisioned(&dis.1).await, 1);
    assert_eq!(segments(&engagement(&dis.1).await), [("-Ops".into(), 1)]);

    // The groups' people are kept too: they follow a client's new email, a
    // merge (the memberships move to the survivor) and a deletion.
    let (status, body) = c
        .patch(
            &format!("/admin/v1/clients/{di}"),
            &json!({"email": "bo@corp.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        segments(&engagement(&anas.1).await),
        [("Sales".into(), 1), ("Support".into(), 1)]
    );
    assert_eq!(segments(&engagement(&dis.1).await), [("Sales".into(), 1)]);
    let (status, body) = c
        .post(
            &format!("/admin/v1/clients/{di}/merge"),
            &json!({"into": ana}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        segments(&engagement(&anas.1).await),
        [("Support".into(), 1)]
    );
    assert_eq!(segments(&engagement(&dis.1).await), [("Support".into(), 1)]);
    let (status, body) = c.delete(&format!("/admin/v1/clients/{ana}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for viewer in [&anas.1, &dis.1] {
        let e = engagement(viewer).await;
        assert_eq!(e["total"]["population"], 0, "nobody left: {e}");
    }
}

#[tokio::test]
async fn the_spend_download_neutralises_formulas_and_keeps_negative_amounts() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = app(c).await;
    let upload = format!(
        "appId,signatureId,created,amount,currency,type,vendor,name\n\
         {app},inv-1,1767225600000,-15,USD,invoice,\"=HYPERLINK(\"\"http://x\"\")\",@fee\n"
    );
    let (status, body) = c
        .send(
            c.request(Method::POST, "/services/push/v1/customer/spend/csv")
                .header("content-type", "text/csv")
                .body(upload),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows = csv_of(c, "/services/push/v1/customer/spend/csv").await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_neutral(&rows, &["-15.00", "'=HYPERLINK(\"http://x\")", "'@fee"]);
}
