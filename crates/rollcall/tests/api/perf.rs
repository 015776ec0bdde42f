//! Performance round two (issue 18, issue 13's pages): the dashboard's Overview
//! and App pages now compute their reports from one shared read of each app,
//! and inactive users walk a group's history densely. These tests hold the
//! pages to the JSON API's answers on data where sharing could go wrong: a
//! feature group with activity older than the window, aliases, provisioned
//! users outside the org chart, licences with costs and a page window that
//! differs from the trend's.

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{redirect, StatusCode};
use serde_json::{json, Value};

use crate::common::{Client, TestServer};

const DAY: i64 = 86_400_000;

fn now() -> i64 {
    rollcall_store::now_ms()
}

/// Logs in through the form; the session cookie.
async fn session(base: &str, email: &str, password: &str) -> (reqwest::Client, String) {
    let http = reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap();
    let r = http
        .post(format!("{base}/ui/login"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers()[SET_COOKIE].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    (http, cookie)
}

async fn page(http: &reqwest::Client, cookie: &str, url: &str) -> String {
    let r = http.get(url).header(COOKIE, cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{url}");
    r.text().await.unwrap()
}

async fn ok(c: &Client, path: &str) -> Value {
    let (status, body) = c.get(path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

/// An app with two feature groups and priced licences; an org chart where one
/// person has an alias; provisioned users inside and outside it; usage today,
/// 10 and 50 days ago. Returns the app id.
async fn account_with_history(c: &Client) -> String {
    let (status, body) = c
        .post(
            "/services/push/v1/customer/apps",
            &json!({"name": "Mail", "events": [
                {"eventName": "send", "eventType": "Produce", "groups": ["Sent"]},
                {"eventName": "read", "eventType": "Consume", "groups": ["Read"]},
                {"eventName": "admin", "eventType": "Admin", "minLicenseTier": "Pro"}
            ],
            "licenseTiers": [
                {"name": "Basic", "tier": 0, "annualCost": 60.5, "currency": "USD"},
                {"name": "Pro", "tier": 1, "annualCost": 120.25, "currency": "USD"}
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let app = body["appId"].as_str().unwrap().to_string();
    let (_, chart) = c
        .post(
            "/services/push/v1/customer/org-chart",
            &json!({"orgChartName": "HR"}),
        )
        .await;
    let id = chart["id"].as_i64().unwrap();
    let mut people = vec![
        json!({"email": "ana@corp.com", "team": "Sales", "location": "Berlin",
                                 "additionalEmails": ["ana.alias@corp.com"]}),
    ];
    for i in 0..6 {
        people.push(json!({"email": format!("p{i}@corp.com"),
                           "team": if i % 2 == 0 { "Sales" } else { "Support" },
                           "location": if i < 3 { "Berlin" } else { "Delhi" }}));
    }
    let (status, body) = c
        .put(
            &format!("/services/push/v1/customer/org-chart/{id}"),
            &json!({"hasMore": false, "users": people}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let provisioned: Vec<Value> = [
        ("u1", "ana.alias@corp.com", "Pro"),
        ("u2", "p0@corp.com", "Pro"),
        ("u3", "p1@corp.com", "Basic"),
        ("u4", "p2@corp.com", "Basic"),
        ("u5", "p3@corp.com", "Pro"),
        ("u6", "contractor@else.com", "Basic"),
        ("u7", "never@else.com", "Pro"),
        ("u8", "ana@corp.com", "Basic"),
    ]
    .iter()
    .map(|(id, email, licence)| json!({"appUserId": id, "email": email, "license": licence}))
    .collect();
    let (status, body) = c
        .post(
            &format!("/services/push/v1/customer/apps/{app}/users"),
            &json!({"provisionedUsers": provisioned}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let t = now() - 3_600_000;
    let events: Vec<Value> = [
        (t, "ana.alias@corp.com", "send"),
        (t, "p0@corp.com", "read"),
        (t - 10 * DAY, "p1@corp.com", "send"),
        (t - 10 * DAY, "contractor@else.com", "send"),
        (t - 50 * DAY, "p2@corp.com", "send"),
        (t - 50 * DAY, "p3@corp.com", "read"),
        (t - 50 * DAY, "p3@corp.com", "send"),
        (t - 20 * DAY, "p3@corp.com", "read"),
        (t - 5 * DAY, "p4@corp.com", "admin"),
    ]
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
    app
}

/// The text of each `<td>` of the table with `id`, row by row.
fn table_rows(html: &str, id: &str) -> Vec<Vec<String>> {
    let Some(start) = html.find(&format!("<table id=\"{id}\"")) else {
        return Vec::new();
    };
    let table = &html[start..start + html[start..].find("</table>").unwrap()];
    let body = &table[table.find("<tbody>").unwrap()..];
    body.split("<tr")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let cell = &cell[cell.find('>').unwrap() + 1..];
                    cell[..cell.find("</td>").unwrap()].trim().to_string()
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn the_app_pages_shared_read_gives_each_reports_own_answer() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = account_with_history(c).await;
    let (http, cookie) = session(&server.base, &account.creds.email, &account.creds.password).await;
    for (group, window) in [
        (None, 30),
        (Some("Sent"), 30),
        (Some("Read"), 7),
        (None, 90),
    ] {
        let mut query = format!("window={window}");
        let mut api = format!("rollingWindow={window}");
        if let Some(g) = group {
            query.push_str(&format!("&group={g}"));
            api.push_str(&format!("&group={g}"));
        }
        let html = page(
            &http,
            &cookie,
            &format!("{}/ui/apps/{app}?{query}", server.base),
        )
        .await;
        let inactive = ok(c, &format!("/pull/v1/apps/{app}/inactive-users?{api}")).await;
        let users = inactive["users"].as_array().unwrap();
        assert!(!users.is_empty(), "{group:?}");
        let rows = table_rows(&html, "inactive");
        assert_eq!(rows.len(), users.len(), "{group:?} {window}: {html}");
        for (row, user) in rows.iter().zip(users) {
            assert_eq!(row[0], user["email"].as_str().unwrap());
            // The group's last activity may be older than the window: the page
            // reads the group's whole history, shared with the other reports.
            let last = user["lastActivity"].as_str().unwrap_or("never");
            assert_eq!(row[4], last, "{group:?} {window} {}", row[0]);
        }
        let sentence = format!("{} provisioned users without activity", users.len());
        assert!(html.contains(&sentence), "{sentence}");

        let engagement = ok(c, &format!("/pull/v1/apps/{app}/engagement?{api}")).await;
        for s in engagement["segments"].as_array().unwrap() {
            let line = format!(
                "used it ({} of {})",
                s["active"].as_u64().unwrap(),
                s["population"].as_u64().unwrap()
            );
            assert!(html.contains(&line), "{line}");
        }
        let rightsizing = ok(
            c,
            &format!("/pull/v1/apps/{app}/rightsizing?rollingWindow={window}"),
        )
        .await;
        let rows = table_rows(&html, "rightsizing");
        let expected: Vec<&str> = rightsizing["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap())
            .collect();
        let shown: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(shown, expected, "{window}");
    }
    // Right-sizing has people to move: ana (her Pro seat is her alias's; she
    // only sends) and p0 (Pro, only reads), each under their primary email.
    let rightsizing = ok(c, &format!("/pull/v1/apps/{app}/rightsizing")).await;
    let moved: Vec<&str> = rightsizing["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert!(
        moved.contains(&"ana@corp.com") && moved.contains(&"p0@corp.com"),
        "{rightsizing}"
    );
    // A group's last activity 50 days back, beyond a 30-day window.
    let inactive = ok(c, &format!("/pull/v1/apps/{app}/inactive-users?group=Sent")).await;
    let p2 = inactive["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "p2@corp.com")
        .expect("p2 is inactive in Sent");
    assert!(p2["lastActivity"].is_string(), "{inactive}");
}

#[tokio::test]
async fn the_overview_shows_each_apps_trend_and_savings_as_the_api_answers_them() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = account_with_history(c).await;
    let (http, cookie) = session(&server.base, &account.creds.email, &account.creds.password).await;
    let html = page(&http, &cookie, &format!("{}/ui", server.base)).await;
    let inactive = ok(c, &format!("/pull/v1/apps/{app}/inactive-users")).await;
    let savings = inactive["potentialSavings"]["amount"].as_f64().unwrap();
    assert!(savings > 0.0, "{inactive}");
    let rows = table_rows(&html, "apps");
    let row = rows
        .iter()
        .find(|r| r[0].contains(&app))
        .expect("the app's row");
    let cents = (savings * 100.0).round() as i64;
    assert_eq!(
        row[5],
        format!("{}.{:02} USD", cents / 100, cents % 100),
        "{row:?}"
    );
    let trend = ok(c, &format!("/pull/v1/apps/{app}/trend")).await;
    let dau: Vec<u64> = trend["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["dau"].as_u64().unwrap())
        .collect();
    let (low, high) = (dau.iter().min().unwrap(), dau.iter().max().unwrap());
    assert_eq!(*high, 2, "ana (through her alias) and p0 today: {dau:?}");
    let sentence = format!(
        "daily active users from {} to {}, between {low} and {high} a day",
        trend["from"].as_str().unwrap(),
        trend["to"].as_str().unwrap()
    );
    assert!(html.contains(&sentence), "{sentence}");
}
