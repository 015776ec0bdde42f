//! The dashboard (`/ui`, SPEC §9) through HTTP as a browser speaks it: form
//! login and the session cookie, the same-origin guard, logout and revocation,
//! and pages whose numbers equal the JSON API's for the same question.

use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{redirect, StatusCode};
use rollcall_core::time;
use serde_json::{json, Value};

use crate::common::{Account, Client, TestServer};

pub(crate) mod webdriver;

const HOUR: i64 = 3_600_000;

fn now() -> i64 {
    rollcall_store::now_ms()
}

/// A browser without JavaScript: follows no redirects, keeps one session cookie.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

impl Browser {
    fn new(base: &str) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_string(),
            cookie: None,
        }
    }

    /// Posts the login form as a same-origin page would; keeps the cookie.
    async fn login(&mut self, email: &str, password: &str) -> reqwest::Response {
        let response = self
            .http
            .post(format!("{}/ui/login", self.base))
            .header("sec-fetch-site", "same-origin")
            .form(&[("email", email), ("password", password)])
            .send()
            .await
            .unwrap();
        if let Some(c) = response.headers().get(SET_COOKIE) {
            let c = c.to_str().unwrap();
            self.cookie = Some(c.split(';').next().unwrap().to_string());
        }
        response
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let mut r = self.http.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            r = r.header(COOKIE, c);
        }
        let response = r.send().await.unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get(LOCATION)
            .map(|l| l.to_str().unwrap().to_string());
        let body = response.text().await.unwrap();
        (status, location.unwrap_or(body))
    }

    async fn post(&self, path: &str, site: &str) -> reqwest::Response {
        let mut r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("sec-fetch-site", site);
        if let Some(c) = &self.cookie {
            r = r.header(COOKIE, c);
        }
        r.send().await.unwrap()
    }
}

/// A web user with a password; returns (id, email, password).
async fn web_user(account: &Account, role: &str, extra: Value) -> (i64, String, String) {
    let email = format!(
        "{role}-{}@example.com",
        rollcall_core::secret::random_hex(3)
    );
    let password = "a long enough passphrase".to_string();
    let mut body = json!({"email": email, "name": "Dash User", "role": role, "password": password});
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            body[k] = v;
        }
    }
    let (status, user) = account.client.post("/admin/v1/consumers", &body).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    (user["id"].as_i64().unwrap(), email, password)
}

async fn logged_in(server: &TestServer, email: &str, password: &str) -> Browser {
    let mut b = Browser::new(&server.base);
    let r = b.login(email, password).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/ui");
    b
}

/// An app with two events in one feature group and an org chart of Sales (4)
/// and Support (5); returns the app id.
async fn app_with_usage(c: &Client, name: &str) -> String {
    let (status, body) = c
        .post(
            "/services/push/v1/customer/apps",
            &json!({"name": name, "events": [
                {"eventName": "send", "eventType": "Produce", "groups": ["Sent"]},
                {"eventName": "read", "eventType": "Consume", "groups": ["Read"]}
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["appId"].as_str().unwrap().to_string()
}

async fn org_and_events(c: &Client, app: &str) {
    let (status, body) = c
        .post(
            "/services/push/v1/customer/org-chart",
            &json!({"orgChartName": "HR"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["id"].as_i64().unwrap();
    let mut users = Vec::new();
    for i in 0..4 {
        users.push(json!({"email": format!("s{i}@corp.com"), "team": "Sales"}));
    }
    for i in 0..5 {
        users.push(json!({"email": format!("h{i}@corp.com"), "team": "Support"}));
    }
    let (status, body) = c
        .put(
            &format!("/services/push/v1/customer/org-chart/{id}"),
            &json!({"hasMore": false, "users": users}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // 3 of 4 in Sales send; 1 of 5 in Support reads.
    let events: Vec<Value> = ["s0", "s1", "s2"]
        .iter()
        .map(|p| json!({"timestamp": now() - 2 * HOUR, "email": format!("{p}@corp.com"), "eventName": "send"}))
        .chain([json!({"timestamp": now() - 3 * HOUR, "email": "h0@corp.com", "eventName": "read"})])
        .collect();
    let (status, body) = c
        .post(
            &format!("/services/push/v1/customer/apps/{app}/events"),
            &json!({"events": events}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn form_login_sets_a_strict_http_only_cookie_and_json_login_is_unchanged() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let mut b = Browser::new(&server.base);

    let (status, location) = b.get("/ui").await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/ui/login")
    );
    let (status, form) = b.get("/ui/login").await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("name=\"email\"") && form.contains("name=\"password\""));

    let bad = b
        .login(&account.creds.email, "not the password at all")
        .await;
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert!(bad.headers().get(SET_COOKIE).is_none());
    let csp = bad.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    let body = bad.text().await.unwrap();
    assert!(body.contains("Wrong email or password") && body.contains("action=\"/ui/login\""));

    let ok = b.login(&account.creds.email, &account.creds.password).await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let set = ok.headers()[SET_COOKIE].to_str().unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    let (status, page) = b.get("/ui").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Overview") && page.contains(&account.creds.email));

    // Only the token's hash is stored.
    let token = b
        .cookie
        .as_ref()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string();
    let stored = server
        .db
        .query_text("SELECT token_hash FROM ui_sessions")
        .await;
    assert_eq!(stored, vec![rollcall_core::secret::hash(&token)]);
    assert_ne!(stored[0], token);

    // An API client's JSON login still answers JSON and starts no session.
    let json_login = reqwest::Client::new()
        .post(format!("{}/ui/login", server.base))
        .json(&json!({"email": account.creds.email, "password": account.creds.password}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_login.status(), StatusCode::OK);
    assert!(json_login.headers().get(SET_COOKIE).is_none());
    let body: Value = json_login.json().await.unwrap();
    assert_eq!(body["success"], true);
    assert_eq!(body["accountId"], account.id());
}

#[tokio::test]
async fn a_forged_cross_site_post_is_refused_and_the_session_survives() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let b = logged_in(&server, &account.creds.email, &account.creds.password).await;
    for site in ["cross-site", "same-site"] {
        let r = b.post("/ui/logout", site).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{site}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "403");
    }
    // Without fetch metadata, a foreign Origin is refused too.
    let r = b
        .http
        .post(format!("{}/ui/logout", server.base))
        .header(COOKIE, b.cookie.clone().unwrap())
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A login form posted from another site is refused (login CSRF).
    let r = b
        .http
        .post(format!("{}/ui/login", server.base))
        .header("sec-fetch-site", "cross-site")
        .form(&[
            ("email", account.creds.email.as_str()),
            ("password", account.creds.password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (status, _) = b.get("/ui").await;
    assert_eq!(status, StatusCode::OK, "the forged logout did nothing");
}

#[tokio::test]
async fn logout_ends_the_session_and_both_are_audited() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let b = logged_in(&server, &account.creds.email, &account.creds.password).await;
    let r = b.post("/ui/logout", "same-origin").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let (status, location) = b.get("/ui").await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/ui/login")
    );
    let start = time::format_ms(now() - HOUR);
    let end = time::format_ms(now() + HOUR);
    let (status, body) = account
        .client
        .get(&format!(
            "/services/pull/v1/customer/audit-events?startTime={start}&endTime={end}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let types: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"LoggedIn") && types.contains(&"LoggedOut"),
        "{types:?}"
    );
}

#[tokio::test]
async fn removing_demoting_or_a_new_password_ends_sessions_at_once() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let (removed, email, password) = web_user(&account, "admin", json!({})).await;
    let b = logged_in(&server, &email, &password).await;
    assert_eq!(b.get("/ui").await.0, StatusCode::OK);
    let (status, _) = account
        .client
        .delete(&format!("/admin/v1/consumers/{removed}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(b.get("/ui").await.0, StatusCode::SEE_OTHER);

    let (demoted, email, password) = web_user(&account, "admin", json!({})).await;
    let b = logged_in(&server, &email, &password).await;
    // A rename keeps the session; a demotion ends it.
    let (status, body) = account
        .client
        .patch(
            &format!("/admin/v1/consumers/{demoted}"),
            &json!({"name": "Renamed"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(b.get("/ui").await.0, StatusCode::OK);
    let (status, body) = account
        .client
        .patch(
            &format!("/admin/v1/consumers/{demoted}"),
            &json!({"role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(b.get("/ui").await.0, StatusCode::SEE_OTHER);

    let (changed, email, password) = web_user(&account, "viewer", json!({})).await;
    let b = logged_in(&server, &email, &password).await;
    let (status, body) = account
        .client
        .patch(
            &format!("/admin/v1/consumers/{changed}"),
            &json!({"password": "another long passphrase"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(b.get("/ui").await.0, StatusCode::SEE_OTHER);
    let again = logged_in(&server, &email, "another long passphrase").await;
    assert_eq!(again.get("/ui").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_session_idle_for_twelve_hours_ends() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let b = logged_in(&server, &account.creds.email, &account.creds.password).await;
    let stale = now() - 12 * HOUR - 60_000;
    server
        .db
        .execute(&format!("UPDATE ui_sessions SET last_seen_ms = {stale}"))
        .await;
    assert_eq!(b.get("/ui").await.0, StatusCode::SEE_OTHER);
    let left = server
        .db
        .query_text("SELECT CAST(count(*) AS TEXT) FROM ui_sessions")
        .await;
    assert_eq!(
        left,
        vec!["0".to_string()],
        "the expired session is deleted"
    );
}

/// The percentages of the page's sentences (`data-percent`), in order.
fn page_percents(html: &str) -> Vec<f64> {
    html.split("data-percent=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].parse().unwrap())
        .collect()
}

#[tokio::test]
async fn engagement_bars_show_the_apis_percentages() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = app_with_usage(c, "Mail").await;
    org_and_events(c, &app).await;
    let b = logged_in(&server, &account.creds.email, &account.creds.password).await;
    for (query, api_query) in [
        ("", "rollingWindow=30"),
        ("?window=7&group=Sent", "rollingWindow=7&group=Sent"),
        (
            "?window=90&group=Read&by=team",
            "rollingWindow=90&group=Read&by=team",
        ),
    ] {
        let (status, page) = b.get(&format!("/ui/apps/{app}{query}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let (status, api) = c
            .get(&format!("/pull/v1/apps/{app}/engagement?{api_query}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{api}");
        let expected: Vec<f64> = api["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["percent"].as_f64().unwrap())
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(page_percents(&page), expected, "{query}");
        assert!(page.contains("<svg") && page.contains("<desc id=\"engagement-d\">"));
    }
    // 3 of 4 in Sales sent an e-mail in the week.
    let (_, page) = b.get(&format!("/ui/apps/{app}?window=7&group=Sent")).await;
    assert!(page.contains("75% of Sales used it (3 of 4)"), "{page}");
    // A bad window is a clear 400.
    let (status, body) = b.get(&format!("/ui/apps/{app}?window=12")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("window must be 7, 30 or 90"));
    // The CSV download is the API's.
    let (status, csv) = b
        .get(&format!("/ui/apps/{app}/inactive-users.csv?window=30"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(csv.starts_with("email,firstName,lastName,team,license,lastActivity,annualCost"));
}

#[tokio::test]
async fn the_overview_shows_the_apis_figures_and_a_viewer_only_their_apps() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let mail = app_with_usage(c, "Mail").await;
    org_and_events(c, &mail).await;
    let chat = app_with_usage(c, "Chat").await;
    let admin = logged_in(&server, &account.creds.email, &account.creds.password).await;
    let (status, page) = admin.get("/ui").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let (_, api) = c.get("/pull/v3/apps").await;
    for app in api["apps"].as_array().unwrap() {
        let id = app["appId"].as_str().unwrap();
        assert!(page.contains(&format!("href=\"/ui/apps/{id}\"")), "{id}");
    }
    assert!(page.contains("Mail") && page.contains("Chat"));

    let (_, email, password) = web_user(&account, "viewer", json!({"allowedApps": [chat]})).await;
    let viewer = logged_in(&server, &email, &password).await;
    let (status, page) = viewer.get("/ui").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Chat") && !page.contains("Mail"), "{page}");
    let (status, _) = viewer.get(&format!("/ui/apps/{mail}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = viewer
        .get(&format!("/ui/apps/{mail}/inactive-users.csv"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = viewer.get(&format!("/ui/apps/{chat}")).await;
    assert_eq!(status, StatusCode::OK);

    // Another account's session sees none of this account's apps.
    let other = server.account().await;
    let stranger = logged_in(&server, &other.creds.email, &other.creds.password).await;
    let (_, page) = stranger.get("/ui").await;
    assert!(!page.contains("Mail") && !page.contains("Chat"));
    assert_eq!(
        stranger.get(&format!("/ui/apps/{mail}")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn assets_are_embedded_with_etags_and_a_page_stays_under_its_budget() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let app = app_with_usage(&account.client, "Mail").await;
    org_and_events(&account.client, &app).await;
    let b = logged_in(&server, &account.creds.email, &account.creds.password).await;
    let mut total = 0;
    for path in ["/ui/assets/rollcall.css", "/ui/assets/htmx.min.js"] {
        let r = b
            .http
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let etag = r.headers()["etag"].clone();
        total += r.bytes().await.unwrap().len();
        let again = b
            .http
            .get(format!("{}{path}", server.base))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    }
    for page in ["/ui".to_string(), format!("/ui/apps/{app}")] {
        let (status, html) = b.get(&page).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            !html.contains("http://") || !html.contains("src=\"http"),
            "no external request"
        );
        let bytes = html.len() + total;
        assert!(bytes <= 200 * 1024, "{page}: {bytes} bytes with assets");
    }
    assert_eq!(b.get("/ui/assets/nope.js").await.0, StatusCode::NOT_FOUND);
}

/// Yesterday (UTC, the account's default zone) as `YYYY-MM-DD`.
fn yesterday() -> String {
    time::date_of_day_number(
        time::day_number(time::local_date(
            now(),
            &time::parse_time_zone("UTC").unwrap(),
        )) - 1,
    )
    .to_string()
}

/// 30 minutes of YouTube in Chrome for `user` on `pc`, yesterday at 09:00 UTC.
async fn youtube_half_hour(c: &Client, pc: &str, user: &str) {
    let body = json!({
        "computer": {"name": pc, "primaryDomain": "corp", "os": "Windows 11",
                     "timeZone": "UTC", "privateIp": "10.0.0.4", "publicIp": "203.0.113.9"},
        "client": {"loginDomain": "CORP", "name": user},
        "session": 1,
        "records": [{"start": format!("{}T09:00:00Z", yesterday()), "duration": 1800,
                     "executable": "chrome.exe", "description": format!("{user}'s video"),
                     "url": "https://www.youtube.com/watch?v=x", "idle": false}],
    });
    let (status, reply) = c.post("/agent/v1/activity", &body).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
}

/// `data-productive` of the working-hours row of `name`.
fn productive_seconds(html: &str, name: &str) -> Option<i64> {
    html.split("<tr data-id=").skip(1).find_map(|row| {
        let row = &row[..row.find("</tr>").unwrap()];
        row.contains(&format!("<td>{name}</td>")).then(|| {
            let v = row.split("data-productive=\"").nth(1).unwrap();
            v[..v.find('"').unwrap()].parse().unwrap()
        })
    })
}

#[tokio::test]
async fn working_hours_move_when_a_classification_changes_and_viewers_see_their_groups() {
    let server = TestServer::start().await;
    let account = server.account().await;
    account.capture_everything().await;
    let c = &account.client;
    youtube_half_hour(c, "PC-A", "alice").await;
    youtube_half_hour(c, "PC-B", "bob").await;
    let admin = logged_in(&server, &account.creds.email, &account.creds.password).await;
    let day = yesterday();
    let path = format!("/ui/workinghours?from={day}&to={day}");
    let (status, page) = admin.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(productive_seconds(&page, "CORP\\alice"), Some(0), "{page}");
    assert!(page.contains("<desc id=\"hours-d\">"));

    let (status, body) = c
        .put(
            "/admin/v1/classifications",
            &json!({"websites": [{"domain": "youtube.com", "productivity": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, page) = admin.get(&path).await;
    assert_eq!(productive_seconds(&page, "CORP\\alice"), Some(1800));
    assert_eq!(productive_seconds(&page, "CORP\\bob"), Some(1800));
    let (_, computers) = admin.get(&format!("{path}&view=computers")).await;
    assert!(computers.contains("<td>PC-A</td>") && computers.contains("<td>PC-B</td>"));

    // A viewer of alice's group sees alice only, in hours and in the log.
    let (_, clients) = c.get("/admin/v1/clients").await;
    let alice = clients["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "alice")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (status, g) = c
        .post(
            "/admin/v1/groups",
            &json!({"name": "Team A", "clients": [alice]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{g}");
    let (_, email, password) =
        web_user(&account, "viewer", json!({"viewableGroups": [g["id"]]})).await;
    let viewer = logged_in(&server, &email, &password).await;
    let (status, page) = viewer.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(productive_seconds(&page, "CORP\\alice"), Some(1800));
    assert_eq!(productive_seconds(&page, "CORP\\bob"), None);
    let (status, log) = viewer.get(&format!("/ui/activity?date={day}")).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    assert!(
        log.contains("alice&#39;s video") || log.contains("alice's video"),
        "{log}"
    );
    assert!(!log.contains("bob"));
    let (_, log) = admin
        .get(&format!("/ui/activity?date={day}&productivity=productive"))
        .await;
    assert_eq!(log.matches("<tr data-log=").count(), 2);
    let (_, log) = admin
        .get(&format!(
            "/ui/activity?date={day}&productivity=unproductive"
        ))
        .await;
    assert_eq!(log.matches("<tr data-log=").count(), 0);
    let (status, _) = admin.get("/ui/activity?productivity=lazy").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_activity_log_pages_over_the_cursor() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let day = yesterday();
    let records: Vec<Value> = (0..150)
        .map(|i| {
            json!({"start": format!("{day}T08:{:02}:{:02}Z", i / 60, i % 60), "duration": 1,
                        "executable": format!("app{i}.exe"), "description": "w", "idle": false})
        })
        .collect();
    let (status, reply) = c
        .post(
            "/agent/v1/activity",
            &json!({"computer": {"name": "PC", "primaryDomain": "corp", "os": "Linux", "timeZone": "UTC",
                                 "privateIp": "10.0.0.1", "publicIp": "203.0.113.1"},
                    "client": {"loginDomain": "CORP", "name": "pat"}, "session": 1, "records": records}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let b = logged_in(&server, &account.creds.email, &account.creds.password).await;
    let (status, first) = b.get(&format!("/ui/activity?date={day}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first.matches("<tr data-log=").count(), 100);
    let next = first.split("rel=\"next\"").next().unwrap();
    let href = next.rsplit("href=\"").next().unwrap();
    let href = href[..href.find('"').unwrap()].replace("&amp;", "&");
    let (status, second) = b.get(&href).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second.matches("<tr data-log=").count(), 50);
    let mut seen: Vec<String> = [&first, &second]
        .iter()
        .flat_map(|p| {
            p.split("<tr data-log=\"")
                .skip(1)
                .map(|r| r[..r.find('"').unwrap()].to_string())
        })
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 150, "every record once");
}

#[tokio::test]
async fn the_audit_page_lists_events_with_detail_and_verifies_the_chain() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let b = logged_in(&server, &account.creds.email, &account.creds.password).await;
    let (status, page) = b.get("/ui/audit").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("data-type=\"LoggedIn\""));
    let (_, filtered) = b.get("/ui/audit?type=LoggedOut").await;
    assert!(!filtered.contains("data-type=\"LoggedIn\""));
    let (_, verified) = b.get("/ui/audit?verify=1").await;
    assert!(verified.contains("the chain is intact"), "{verified}");
    let (status, _) = b.get("/ui/audit?from=2026-13-01").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

impl Browser {
    /// Posts a form from a same-origin page.
    async fn submit(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let mut r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("sec-fetch-site", "same-origin")
            .form(fields);
        if let Some(c) = &self.cookie {
            r = r.header(COOKIE, c);
        }
        let response = r.send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    }
}

#[tokio::test]
async fn admin_forms_go_through_the_apis_checks_and_show_a_secret_once() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let admin = logged_in(&server, &account.creds.email, &account.creds.password).await;
    let (status, page) = admin.get("/ui/admin").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(&format!("data-user=\"{}\"", account.creds.email)));

    // A user added by form; a bad email gets the API's 422 with its field.
    let (status, page) = admin
        .submit(
            "/ui/admin/users",
            &[
                ("email", "new@corp.com"),
                ("name", "New"),
                ("role", "viewer"),
                ("password", "a long enough passphrase"),
                ("groups", ""),
                ("apps", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Added new@corp.com") && page.contains("data-user=\"new@corp.com\""));
    let (status, page) = admin
        .submit(
            "/ui/admin/users",
            &[("email", "not an email"), ("name", "X"), ("role", "viewer")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("role=\"alert\"") && page.contains("email"));

    // An API key made in the page works once copied, and is not shown again.
    let (_, users) = account.client.get("/admin/v1/consumers").await;
    let me = users["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["email"] == account.creds.email.as_str())
        .unwrap()["id"]
        .to_string();
    let (status, page) = admin
        .submit(
            "/ui/admin/credentials",
            &[
                ("name", "from the page"),
                ("type", "apiKey"),
                ("consumer", &me),
                ("scopes", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let secret = page.split("<code class=\"secret\">").nth(1).unwrap();
    let secret = &secret[..secret.find('<').unwrap()];
    let key_client = server.client(secret);
    assert_eq!(key_client.get("/admin/v1/settings").await.0, StatusCode::OK);
    let (_, again) = admin.get("/ui/admin").await;
    assert!(!again.contains(secret), "the secret is shown only once");

    // Revoking it in the page refuses it at once.
    let (_, creds) = account.client.get("/admin/v1/credentials").await;
    let id = creds["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "from the page")
        .unwrap()["id"]
        .to_string();
    let (status, _) = admin
        .submit(&format!("/ui/admin/credentials/{id}/revoke"), &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        key_client.get("/admin/v1/settings").await.0,
        StatusCode::UNAUTHORIZED
    );

    // Classification and settings forms.
    let (status, page) = admin
        .submit(
            "/ui/admin/classifications",
            &[
                ("kind", "website"),
                ("name", "youtube.com"),
                ("productivity", "-1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let (_, set) = account.client.get("/admin/v1/classifications").await;
    assert_eq!(set["websites"][0]["domain"], "youtube.com");
    assert_eq!(set["websites"][0]["productivity"], -1);
    let (status, page) = admin
        .submit(
            "/ui/admin/settings",
            &[("timeZone", "Mars/Olympus"), ("passiveLimitMinutes", "")],
        )
        .await;
    assert!(status.is_client_error(), "{status} {page}");
    let (status, _) = admin
        .submit(
            "/ui/admin/settings",
            &[("timeZone", "Europe/Berlin"), ("passiveLimitMinutes", "15")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, settings) = account.client.get("/admin/v1/settings").await;
    assert!(settings.to_string().contains("Europe/Berlin"), "{settings}");

    // A forged cross-site form is refused; a viewer may not administer.
    let forged = admin.post("/ui/admin/users", "cross-site").await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let viewer = logged_in(&server, "new@corp.com", "a long enough passphrase").await;
    let (status, page) = viewer.get("/ui/admin").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    let (status, _) = viewer
        .submit(
            "/ui/admin/users",
            &[
                ("email", "x@corp.com"),
                ("name", "X"),
                ("role", "superadmin"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

// ---------------------------------------------------------------- in Chromium

/// Logs in through the form in the browser; lands on the overview.
async fn browser_login(w: &webdriver::Browser, base: &str, email: &str, password: &str) {
    w.goto(&format!("{base}/ui")).await;
    w.wait_for_url("/ui/login").await;
    w.type_into("#email", email).await;
    w.type_into("#password", password).await;
    w.click("button[type=submit]").await;
    w.wait_for_url("/ui").await;
}

/// Every page on the demo company (`rollcall demo`'s data), in Chromium: each
/// opens, axe-core finds no serious or critical violation, and the engagement
/// sentences carry the API's percentages. With `ROLLCALL_SCREENSHOTS=<dir>`, the
/// Overview and an App page are saved there as PNG (docs/ holds them).
#[tokio::test]
async fn in_chromium_every_page_opens_and_axe_finds_nothing_serious() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    rollcall_server::demo::fill(
        server.store.as_ref(),
        account.id(),
        rollcall_server::demo::DEFAULT_SEED,
    )
    .await
    .expect("demo data");
    let (_, apps) = c.get("/pull/v3/apps").await;
    let app = apps["apps"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|a| {
            a["numberOfUsers"]
                .as_u64()
                .or(a["activeUsers"].as_u64())
                .unwrap_or(0)
        })
        .unwrap()["appId"]
        .as_str()
        .unwrap()
        .to_string();
    let w = webdriver::Browser::start().await;
    browser_login(
        &w,
        &server.base,
        &account.creds.email,
        &account.creds.password,
    )
    .await;
    let day = yesterday();
    let week = time::date_of_day_number(time::day_number(time::parse_date(&day).unwrap()) - 6);
    let pages = [
        ("/ui".to_string(), "overview.png"),
        (format!("/ui/apps/{app}"), "app.png"),
        (format!("/ui/workinghours?from={week}&to={day}"), ""),
        (
            format!("/ui/workinghours?from={week}&to={day}&view=computers"),
            "",
        ),
        (format!("/ui/activity?date={day}"), ""),
        ("/ui/audit?verify=1".to_string(), ""),
        ("/ui/admin".to_string(), ""),
    ];
    let shots = std::env::var_os("ROLLCALL_SCREENSHOTS").map(std::path::PathBuf::from);
    let mut problems = Vec::new();
    for (path, shot) in &pages {
        w.goto(&format!("{}{path}", server.base)).await;
        let heading = w
            .script(
                "return document.querySelector('h1') && document.querySelector('h1').textContent",
                json!([]),
            )
            .await;
        assert!(
            heading.as_str().is_some_and(|h| !h.is_empty()),
            "{path}: {heading}"
        );
        for v in w.axe_violations().await {
            problems.push(format!("{path}: {v}"));
        }
        if let (Some(dir), false) = (&shots, shot.is_empty()) {
            std::fs::write(dir.join(shot), w.screenshot().await).unwrap();
        }
    }
    // The engagement sentences the browser shows carry the API's percentages.
    w.goto(&format!("{}/ui/apps/{app}", server.base)).await;
    let shown = w
        .script(
            "return [...document.querySelectorAll('li.sentence')].map(e => Number(e.dataset.percent))",
            json!([]),
        )
        .await;
    let (_, api) = c
        .get(&format!("/pull/v1/apps/{app}/engagement?rollingWindow=30"))
        .await;
    let expected: Vec<f64> = api["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["percent"].as_f64().unwrap())
        .collect();
    let shown: Vec<f64> = shown
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(shown, expected);
    // An employee's own page (SPEC §11), bound to a demo login with activity.
    let (_, clients) = c.get("/admin/v1/clients").await;
    let client = &clients["clients"][0];
    let login = format!(
        "{}\\{}",
        client["loginDomain"].as_str().unwrap(),
        client["name"].as_str().unwrap()
    );
    let password = "employee page password 42";
    let (status, body) = c
        .post(
            "/admin/v1/consumers",
            &json!({"email": "me@demo.example", "name": "Me", "role": "employee",
                    "password": password, "logins": [login]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    w.click("form[action='/ui/logout'] button").await;
    w.wait_for_url("/ui/login").await;
    w.type_into("#email", "me@demo.example").await;
    w.type_into("#password", password).await;
    w.click("button[type=submit]").await;
    w.wait_for_url("/ui/me").await;
    let path = format!("/ui/me?from={week}&to={day}");
    w.goto(&format!("{}{path}", server.base)).await;
    let rows = w
        .script(
            "return document.querySelectorAll('#my-hours tbody tr').length",
            json!([]),
        )
        .await;
    assert!(rows.as_u64().is_some_and(|n| n > 0), "{path}: {rows}");
    for v in w.axe_violations().await {
        problems.push(format!("{path}: {v}"));
    }
    w.quit().await;
    assert!(problems.is_empty(), "axe-core: {problems:#?}");
}

#[tokio::test]
async fn in_chromium_forged_posts_fail_and_logout_and_removal_end_sessions() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let (removed, email, password) = web_user(&account, "admin", json!({})).await;
    let w = webdriver::Browser::start().await;
    browser_login(
        &w,
        &server.base,
        &account.creds.email,
        &account.creds.password,
    )
    .await;

    // A page of another origin posts a form to the dashboard: refused.
    let forged = format!(
        "data:text/html,<form id=f method=post action='{}/ui/admin/users'>\
         <input name=email value=evil@x.com><input name=name value=E><input name=role value=superadmin></form>",
        server.base
    );
    w.goto(&forged).await;
    w.script("document.getElementById('f').submit()", json!([]))
        .await;
    w.wait_for_url("/ui/admin/users").await;
    let (_, users) = account.client.get("/admin/v1/consumers").await;
    assert!(
        !users.to_string().contains("evil@x.com"),
        "the forged post changed nothing"
    );
    w.goto(&format!("{}/ui", server.base)).await;
    w.wait_for_url("/ui").await;

    // Logout by its button ends the session.
    w.click("header form button[type=submit]").await;
    w.wait_for_url("/ui/login").await;
    w.goto(&format!("{}/ui/admin", server.base)).await;
    w.wait_for_url("/ui/login").await;

    // A removed user's open session dies at once.
    browser_login(&w, &server.base, &email, &password).await;
    let (status, _) = account
        .client
        .delete(&format!("/admin/v1/consumers/{removed}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    w.goto(&format!("{}/ui", server.base)).await;
    w.wait_for_url("/ui/login").await;
    w.quit().await;
}

#[tokio::test]
async fn in_chromium_a_classification_moves_hours_and_a_viewer_sees_only_their_apps() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let mail = app_with_usage(c, "Mail").await;
    let chat = app_with_usage(c, "Chat").await;
    youtube_half_hour(c, "PC-A", "alice").await;
    let w = webdriver::Browser::start().await;
    browser_login(
        &w,
        &server.base,
        &account.creds.email,
        &account.creds.password,
    )
    .await;
    let day = yesterday();
    let hours = format!("{}/ui/workinghours?from={day}&to={day}", server.base);
    let productive = "return Number(document.querySelector('#hours tbody tr').dataset.productive)";
    w.goto(&hours).await;
    assert_eq!(w.script(productive, json!([])).await, json!(0));
    // Classify in the admin page's form, as an admin would.
    w.goto(&format!("{}/ui/admin", server.base)).await;
    w.script(
        "const f = document.querySelector('form[action=\"/ui/admin/classifications\"]');
         f.kind.value = 'website'; f.name.value = 'youtube.com'; f.productivity.value = '1'; f.submit();",
        json!([]),
    )
    .await;
    w.wait_for_url("/ui/admin/classifications").await;
    assert!(w.source().await.contains("Classified youtube.com"));
    w.goto(&hours).await;
    assert_eq!(w.script(productive, json!([])).await, json!(1800));
    w.click("header form button[type=submit]").await;
    w.wait_for_url("/ui/login").await;

    let (_, email, password) = web_user(&account, "viewer", json!({"allowedApps": [chat]})).await;
    browser_login(&w, &server.base, &email, &password).await;
    let apps = w
        .script(
            "return [...document.querySelectorAll('#apps tbody tr')].map(r => r.dataset.app)",
            json!([]),
        )
        .await;
    assert_eq!(apps, json!([chat]));
    w.goto(&format!("{}/ui/apps/{mail}", server.base)).await;
    assert!(w.source().await.contains("does not exist"));
    w.quit().await;
}

#[tokio::test]
async fn over_tls_the_session_cookie_is_secure() {
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let tls = rollcall_server::tls::server_config(&cert_path, &key_path).unwrap();
    let server = TestServer::start_in(
        dir.path().join("data"),
        rollcall_server::ServerConfig::default(),
        Some(tls),
    )
    .await;
    let account = server.account().await;
    let http = reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let r = http
        .post(format!("{}/ui/login", server.base))
        .header("sec-fetch-site", "same-origin")
        .form(&[
            ("email", account.creds.email.as_str()),
            ("password", account.creds.password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = r.headers()[SET_COOKIE].to_str().unwrap();
    assert!(
        set.contains("; Secure") && set.contains("HttpOnly"),
        "{set}"
    );
}

/// The Admin page's privacy form (SPEC §11) sets the capture policy and the
/// title retention through the API, keeps the rules it does not show, and is
/// refused cross-site like every form.
#[tokio::test]
async fn the_privacy_form_sets_capture_and_title_retention() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let (status, _) = account
        .client
        .put(
            "/admin/v1/privacy",
            &json!({"capture": "apps", "builtinRedaction": ["emails"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let admin = logged_in(&server, &account.creds.email, &account.creds.password).await;
    let (status, page) = admin.get("/ui/admin").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("action=\"/ui/admin/privacy\""), "{page}");
    assert!(page.contains("<option value=\"apps\" selected"), "{page}");

    let (status, page) = admin
        .submit(
            "/ui/admin/privacy",
            &[("capture", "everything"), ("titleRetentionDays", "30")],
        )
        .await;
    assert!(status.is_client_error(), "{status} {page}");
    let (status, page) = admin
        .submit(
            "/ui/admin/privacy",
            &[("capture", "full"), ("titleRetentionDays", "30")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Saved the privacy policy."), "{page}");
    let (_, policy) = account.client.get("/admin/v1/privacy").await;
    assert_eq!(policy["capture"], "full", "{policy}");
    assert_eq!(policy["titleRetentionDays"], 30, "{policy}");
    assert_eq!(policy["builtinRedaction"], json!(["emails"]), "{policy}");
    let (status, _) = admin
        .submit(
            "/ui/admin/privacy",
            &[("capture", "full"), ("titleRetentionDays", "")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, policy) = account.client.get("/admin/v1/privacy").await;
    assert_eq!(policy["titleRetentionDays"], Value::Null, "{policy}");

    let forged = admin.post("/ui/admin/privacy", "cross-site").await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let (_, policy) = account.client.get("/admin/v1/privacy").await;
    assert_eq!(policy["capture"], "full", "{policy}");
}
