//! Demo data (`rollcall demo`, `serve --demo`) and the data-directory, password
//! reset, licence-tier and upload fixes of issue 19 (items 1, 2, 6 and 14).

use std::collections::{BTreeSet, HashMap};
use std::process::Output;

use reqwest::StatusCode;
use rollcall_server::demo;
use serde_json::{json, Value};

use crate::common::{assert_error, http_client, spawn_listening, Client, TestDb, TestServer};

fn rollcall_bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A server whose first account holds the demo company of `seed`.
async fn demo_server(seed: u64) -> (TestServer, Client) {
    let server = TestServer::start().await;
    let account = server.account().await;
    let summary = demo::fill(server.store.as_ref(), account.id(), seed)
        .await
        .expect("demo fill");
    assert_eq!(summary.account_id, account.id());
    assert!(summary.usage_events > 50_000, "{summary:?}");
    assert!(summary.activity_records > 10_000, "{summary:?}");
    (server, account.client.clone())
}

/// The last day of the demo's data: yesterday in the demo company's time zone.
fn demo_yesterday() -> jiff::civil::Date {
    let zone = jiff::tz::TimeZone::get(demo::TIME_ZONE).unwrap();
    jiff::Timestamp::now()
        .to_zoned(zone)
        .date()
        .yesterday()
        .unwrap()
}

/// The report with every `appId` removed (app ids are random per database).
fn without_app_ids(mut v: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.remove("appId");
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

async fn ok(c: &Client, path: &str) -> Value {
    let (status, body) = c.get(path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

/// App name -> id.
async fn app_ids(c: &Client) -> HashMap<String, String> {
    ok(c, "/pull/v3/apps").await["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["appId"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The reports the determinism test compares, app ids stripped.
async fn reports(c: &Client) -> Vec<Value> {
    let apps = app_ids(c).await;
    let y = demo_yesterday();
    let yesterday = y.to_string();
    let week_ago = y.checked_sub(jiff::Span::new().days(6)).unwrap();
    let mut out = vec![without_app_ids(
        ok(c, &format!("/pull/v3/apps?asOfDate={yesterday}")).await,
    )];
    for name in ["Mailwise", "DealFlow CRM", "Lens BI"] {
        let id = &apps[name];
        for path in [
            format!("/pull/v1/apps/{id}/engagement?rollingWindow=7&by=team&asOfDate={yesterday}"),
            format!("/pull/v1/apps/{id}/inactive-users?rollingWindow=30&population=provisioned&asOfDate={yesterday}"),
            format!("/pull/v1/apps/{id}/rightsizing?rollingWindow=30&asOfDate={yesterday}"),
            format!("/pull/v1/apps/{id}/trend?from={week_ago}&to={yesterday}"),
            format!("/pull/v2/apps/{id}?asOfDate={yesterday}"),
        ] {
            out.push(without_app_ids(ok(c, &path).await));
        }
    }
    out.push(
        ok(
            c,
            &format!("/reports/v2/workinghours/users?from={week_ago}&to={yesterday}&pageSize=1000"),
        )
        .await,
    );
    out.push(
        ok(
            c,
            &format!(
                "/reports/v2/workinghours/computers?from={week_ago}&to={yesterday}&pageSize=1000"
            ),
        )
        .await,
    );
    out
}

#[tokio::test]
async fn demo_the_same_seed_gives_the_same_reports_and_another_seed_others() {
    let (_a, a) = demo_server(demo::DEFAULT_SEED).await;
    let (_b, b) = demo_server(demo::DEFAULT_SEED).await;
    let (_c, c) = demo_server(7).await;
    let ra = reports(&a).await;
    let rb = reports(&b).await;
    let rc = reports(&c).await;
    assert_eq!(ra.len(), rb.len());
    for (x, y) in ra.iter().zip(&rb) {
        assert_eq!(x, y);
    }
    let differing = ra.iter().zip(&rc).filter(|(x, y)| x != y).count();
    assert!(differing > ra.len() / 2, "{differing} of {}", ra.len());
}

#[tokio::test]
async fn demo_reports_are_full_and_plausible() {
    let (_server, c) = demo_server(demo::DEFAULT_SEED).await;
    let as_of = demo_yesterday().to_string();
    let overview = ok(&c, &format!("/pull/v3/apps?asOfDate={as_of}")).await;
    let apps = overview["apps"].as_array().unwrap();
    assert_eq!(apps.len(), 8, "{overview}");
    for app in apps {
        let provisioned = app["provisionedUsers"].as_u64().unwrap();
        let active = app["activeUsers"].as_u64().unwrap();
        assert!(provisioned >= 20, "{app}");
        assert!(active > 0 && active < provisioned, "{app}");
        assert!(
            app["licensesPurchased"].as_u64().unwrap() >= provisioned,
            "{app}"
        );
        assert!(app["annualCost"]["amount"].as_f64().unwrap() > 0.0, "{app}");
    }
    let ids = app_ids(&c).await;

    // Engagement by team: every team of the org chart, at different rates.
    let mail = &ids["Mailwise"];
    let e = ok(
        &c,
        &format!("/pull/v1/apps/{mail}/engagement?group=Sent%20an%20Email&rollingWindow=7&by=team"),
    )
    .await;
    let segments = e["segments"].as_array().unwrap();
    assert!(segments.len() >= 8, "{e}");
    assert!(segments.iter().all(|s| s["value"].is_string()), "{e}");
    let percents: BTreeSet<String> = segments.iter().map(|s| s["percent"].to_string()).collect();
    assert!(percents.len() >= 4, "{e}");
    let total = e["total"]["population"].as_u64().unwrap();
    assert!((180..=220).contains(&total), "{e}");
    let pct = e["total"]["percent"].as_f64().unwrap();
    assert!((50.0..100.0).contains(&pct), "{e}");
    // Engagement by location too: the company has several offices.
    let by_location = ok(
        &c,
        &format!("/pull/v1/apps/{mail}/engagement?rollingWindow=30&by=location"),
    )
    .await;
    assert!(
        by_location["segments"].as_array().unwrap().len() >= 4,
        "{by_location}"
    );

    // Dormant licences: inactive users with savings, including people who left.
    let lens = &ids["Lens BI"];
    let inactive = ok(
        &c,
        &format!("/pull/v1/apps/{lens}/inactive-users?rollingWindow=30&population=provisioned"),
    )
    .await;
    let users = inactive["users"].as_array().unwrap();
    assert!(users.len() >= 5, "{inactive}");
    assert!(inactive["potentialSavings"]["amount"].as_f64().unwrap() > 0.0);
    assert!(
        users.iter().any(|u| u["lastActivity"].is_null()),
        "never used"
    );
    assert!(
        users.iter().any(|u| u["lastActivity"].is_string()),
        "abandoned"
    );
    // Licences held above what the work needs.
    let code = &ids["CodeHub"];
    let rs = ok(
        &c,
        &format!("/pull/v1/apps/{code}/rightsizing?rollingWindow=30"),
    )
    .await;
    assert!(rs["users"].as_array().unwrap().len() >= 5, "{rs}");

    // A weekly rhythm: weekdays far busier than weekends.
    let y = jiff::civil::Date::strptime("%Y-%m-%d", &as_of).unwrap();
    let from = y.checked_sub(jiff::Span::new().days(27)).unwrap();
    let trend = ok(
        &c,
        &format!("/pull/v1/apps/{mail}/trend?from={from}&to={as_of}"),
    )
    .await;
    let (mut weekday, mut weekend) = (Vec::new(), Vec::new());
    for day in trend["series"].as_array().unwrap() {
        let date = jiff::civil::Date::strptime("%Y-%m-%d", day["date"].as_str().unwrap()).unwrap();
        let dau = day["dau"].as_u64().unwrap();
        match date.weekday() {
            jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday => weekend.push(dau),
            _ => weekday.push(dau),
        }
    }
    assert!(weekend.iter().max() < weekday.iter().max(), "{trend}");
    assert!(weekend.iter().all(|&d| d < 40), "{trend}");

    // Working hours for many people, mostly productive, within a day's length.
    let wh = ok(
        &c,
        &format!("/reports/v2/workinghours/users?from={from}&to={as_of}&pageSize=1000"),
    )
    .await;
    let rows = wh["activity"].as_array().unwrap();
    let people: BTreeSet<i64> = rows.iter().map(|r| r["userid"].as_i64().unwrap()).collect();
    assert!(people.len() >= 50, "{} people", people.len());
    let (mut productive, mut unproductive, mut passive) = (0, 0, 0);
    for r in rows {
        let total = r["totalTime"].as_i64().unwrap();
        assert!(total > 0 && total < 14 * 3600, "{r}");
        assert_eq!(r["computers"].as_array().unwrap().len(), 1, "{r}");
        assert!(!r["groups"].as_array().unwrap().is_empty(), "{r}");
        productive += r["activeTime"]["productive"].as_i64().unwrap();
        unproductive += r["activeTime"]["unproductive"].as_i64().unwrap();
        passive += r["passiveTime"]["total"].as_i64().unwrap();
    }
    assert!(productive > 5 * unproductive && unproductive > 0);
    assert!(passive > 0);
    let computers = ok(&c, "/admin/v1/computers").await;
    assert_eq!(computers["computers"].as_array().unwrap().len(), 60);

    // Groups, contracts, spend and the audit history of the set-up.
    let groups = ok(&c, "/admin/v1/groups").await;
    assert!(groups.to_string().contains("Customer Success"), "{groups}");
    let details = ok(&c, &format!("/pull/v2/apps/{mail}")).await;
    let contract = &details["contract"];
    let (start, end) = (
        contract["startDate"].as_str().expect("a contract"),
        contract["endDate"].as_str().expect("a contract"),
    );
    // In force: bought within the last year for a year.
    assert!(
        start <= as_of.as_str() && as_of.as_str() <= end,
        "{contract}"
    );
    let now = jiff::Timestamp::now();
    let start = now - jiff::SignedDuration::from_hours(1);
    let end = now + jiff::SignedDuration::from_hours(1);
    let audit = ok(
        &c,
        &format!("/services/pull/v1/customer/audit-events?startTime={start:.0}&endTime={end:.0}"),
    )
    .await;
    let kinds: BTreeSet<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["eventType"].as_str())
        .collect();
    for kind in [
        "UploadedOrgData",
        "AppConnected",
        "UploadedContractCsv",
        "UploadedSpendCsv",
        "AdminAddedUser",
        "AdminUpdatedUserRole",
        "CredentialCreated",
        "CredentialRevoked",
        "GroupChanged",
        "ClassificationChanged",
        "SettingsChanged",
    ] {
        assert!(kinds.contains(kind), "{kind} missing from {kinds:?}");
    }
}

#[tokio::test]
async fn demo_cli_fills_an_initialised_database_once_and_says_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::fresh(dir.path().join("data")).await;
    let creds = crate::foundation::admin_init(&db);
    let out = rollcall_bin()
        .arg("demo")
        .args(db.cli_args())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("194 employees in 9 teams"), "{said}");
    assert!(said.contains("60 computers"), "{said}");
    // A second run leaves the data as it is and says why.
    let again = rollcall_bin()
        .arg("demo")
        .args(db.cli_args())
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(
        text(&again).contains("already has data"),
        "{}",
        text(&again)
    );
    // The filled database serves the demo to the account's key.
    let store = db.open().await;
    let apps = store
        .list_apps(creds["accountId"].as_i64().unwrap())
        .await
        .unwrap();
    assert_eq!(apps.len(), 8);
}

/// `rollcall serve --demo` on `db`: the lines it printed up to listening, and the child.
async fn serve_demo(db: &TestDb) -> (tokio::process::Child, String, Vec<String>) {
    use tokio::io::AsyncBufReadExt;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollcall"));
    command
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
        .args(db.cli_args())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped());
    let (mut child, base) = spawn_listening(command).await;
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut lines = Vec::new();
    while let Some(line) = stdout.next_line().await.unwrap() {
        let last = line.starts_with("Log in");
        lines.push(line);
        if last {
            break;
        }
    }
    (child, base, lines)
}

#[tokio::test]
async fn serve_demo_prints_the_dashboard_and_a_login_that_works() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::fresh(dir.path().join("data")).await;
    let (mut child, base, lines) = serve_demo(&db).await;
    let all = lines.join("\n");
    assert!(all.contains(&format!("Dashboard: {base}/ui")), "{all}");
    assert!(all.contains("Demo company"), "{all}");
    let login = lines
        .iter()
        .find(|l| l.starts_with("Log in as "))
        .expect(&all);
    let rest = login.strip_prefix("Log in as ").unwrap();
    let (email, password) = rest.split_once(" with password ").expect(&all);
    let http = http_client();
    let response = http
        .post(format!("{base}/ui/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let key = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("API key"))
        .expect(&all)
        .trim()
        .to_string();
    let c = Client::new(&base, &key);
    assert_eq!(app_ids(&c).await.len(), 8);
    child.kill().await.unwrap();
    let _ = child.wait().await;

    // A restart with --demo serves the data it has; nothing is added twice.
    let (mut child, base, lines) = serve_demo(&db).await;
    assert!(!lines.join("\n").contains("Demo company"), "{lines:?}");
    let c = Client::new(&base, &key);
    assert_eq!(app_ids(&c).await.len(), 8);
    child.kill().await.unwrap();
    let _ = child.wait().await;
}

#[tokio::test]
async fn commands_that_read_data_refuse_a_missing_or_empty_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let commands: [&[&str]; 4] = [
        &["audit", "verify"],
        &["migrate"],
        &["demo"],
        &["admin", "reset-password", "--email", "ana@example.com"],
    ];
    for command in commands {
        let out = rollcall_bin()
            .args(command)
            .arg("--data-dir")
            .arg(&missing)
            .env_remove("ROLLCALL_DATABASE_URL")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{command:?}: {}", text(&out));
        assert!(
            text(&out).contains("there is no data directory at"),
            "{command:?}: {}",
            text(&out)
        );
        assert!(!missing.exists(), "{command:?} created the directory");

        let out = rollcall_bin()
            .args(command)
            .arg("--data-dir")
            .arg(&empty)
            .env_remove("ROLLCALL_DATABASE_URL")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{command:?}: {}", text(&out));
        assert!(
            text(&out).contains("holds no Rollcall database"),
            "{command:?}: {}",
            text(&out)
        );
        assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0, "{command:?}");
    }
    // A database of this suite's backend without any account is refused too.
    let db = TestDb::fresh(dir.path().join("fresh")).await;
    if db.is_postgres() {
        let out = rollcall_bin()
            .args(["audit", "verify"])
            .args(db.cli_args())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains("no account yet"), "{}", text(&out));
    }
    // `admin init` creates what the others refuse, and then they work.
    crate::foundation::admin_init(&db);
    let out = rollcall_bin()
        .args(["audit", "verify"])
        .args(db.cli_args())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

async fn login(base: &str, email: &str, password: &str) -> StatusCode {
    http_client()
        .post(format!("{base}/ui/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
}

fn reset_password(db: &TestDb, args: &[&str]) -> Output {
    rollcall_bin()
        .args(["admin", "reset-password"])
        .args(args)
        .args(db.cli_args())
        .output()
        .unwrap()
}

#[tokio::test]
async fn admin_reset_password_gives_a_new_one_time_password() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let email = "ana.reset@example.com";
    let (status, body) = account
        .client
        .post(
            "/admin/v1/consumers",
            &json!({"email": email, "name": "Ana", "role": "admin", "password": "old-password-123"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        login(&server.base, email, "old-password-123").await,
        StatusCode::OK
    );

    let out = reset_password(&server.db, &["--email", "Ana.Reset@example.com", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let reset: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reset["email"], email);
    assert_eq!(reset["accountId"], account.id());
    let password = reset["password"].as_str().unwrap();
    assert!(password.len() >= 20);
    assert_eq!(login(&server.base, email, password).await, StatusCode::OK);
    assert_eq!(
        login(&server.base, email, "old-password-123").await,
        StatusCode::UNAUTHORIZED
    );
    // The superadmin of another account is untouched.
    assert_eq!(
        login(&server.base, &account.creds.email, &account.creds.password).await,
        StatusCode::OK
    );

    // Unknown email: an error, not a new user.
    let out = reset_password(&server.db, &["--email", "nobody@example.com"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("no web user has the email nobody@example.com"));

    // The same email in two accounts must be told apart with --account.
    let other = server.account().await;
    let (status, body) = other
        .client
        .post(
            "/admin/v1/consumers",
            &json!({"email": email, "name": "Ana", "role": "viewer", "password": "other-password-123"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let out = reset_password(&server.db, &["--email", email]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("--account"), "{}", text(&out));
    let out = reset_password(
        &server.db,
        &[
            "--email",
            email,
            "--account",
            &other.id().to_string(),
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let reset: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reset["accountId"], other.id());
    // The first account's password (reset above) still works: only one was changed.
    assert_eq!(login(&server.base, email, password).await, StatusCode::OK);
}

async fn tiered_app(c: &Client, tiers: Value) -> String {
    let (status, body) = c
        .post(
            "/services/push/v1/customer/apps",
            &json!({"name": "Mail", "events": [{"eventName": "sent"}], "licenseTiers": tiers}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["appId"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn provisioned_users_with_a_licence_the_app_does_not_define_are_refused() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = tiered_app(
        c,
        json!([{"name": "Basic", "tier": 0}, {"name": "Pro", "tier": 1}]),
    )
    .await;
    let path = format!("/services/push/v1/customer/apps/{app}/users");
    let (status, body) = c
        .post(
            &path,
            &json!({"provisionedUsers": [
                {"appUserId": "1", "email": "a@corp.com", "license": "Pro"},
                {"appUserId": "2", "email": "b@corp.com", "license": "Gold"}
            ]}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("'Basic', 'Pro'"), "{body}");
    assert_eq!(body["errors"][0]["index"], 1, "{body}");
    assert_eq!(body["errors"][0]["field"], "license", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("'Gold'"),
        "{body}"
    );
    // Nothing of the batch was stored.
    let (_, users) = c.get(&path).await;
    assert_eq!(users["numUsers"], 0, "{users}");
    // Known tiers and users without a licence are accepted.
    let (status, body) = c
        .post(
            &path,
            &json!({"provisionedUsers": [
                {"appUserId": "1", "email": "a@corp.com", "license": "Pro"},
                {"appUserId": "2", "email": "b@corp.com"}
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["numUsers"], 2);

    // An app without tiers takes no licence at all, and says so.
    let bare = tiered_app(c, json!([])).await;
    let (status, body) = c
        .post(
            &format!("/services/push/v1/customer/apps/{bare}/users"),
            &json!({"provisionedUsers": [{"email": "a@corp.com", "license": "Basic"}]}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("defines no licence tiers"),
        "{body}"
    );
}

/// A `multipart/form-data` body as `curl -F name=@file` sends it, and its content type.
fn curl_form(fields: &[(&str, Option<&str>, &str)]) -> (String, Vec<u8>) {
    let boundary = "------------------------d74496d66958873e";
    let mut body = String::new();
    for (name, filename, content) in fields {
        body.push_str(&format!("--{boundary}\r\n"));
        match filename {
            Some(f) => body.push_str(&format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: text/csv\r\n\r\n"
            )),
            None => body.push_str(&format!(
                "Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"
            )),
        }
        body.push_str(content);
        body.push_str("\r\n");
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (
        format!("multipart/form-data; boundary={boundary}"),
        body.into_bytes(),
    )
}

async fn post_form(c: &Client, path: &str, form: (String, Vec<u8>)) -> (StatusCode, Value) {
    c.send(
        c.request(reqwest::Method::POST, path)
            .header("content-type", form.0)
            .body(form.1),
    )
    .await
}

#[tokio::test]
async fn csv_uploads_accept_a_multipart_form_with_one_file() {
    let server = TestServer::start_with(rollcall_server::ServerConfig {
        max_body_bytes: 64 * 1024,
        ..Default::default()
    })
    .await;
    let account = server.account().await;
    let c = &account.client;
    let app = tiered_app(c, json!([{"name": "Basic", "tier": 0}])).await;

    // The org chart, as `curl -F file=@org.csv` sends it.
    let org = "email,firstName,team\r\nana@corp.com,Ana,Sales\r\nben@corp.com,Ben,Support\r\n";
    let (status, body) = post_form(
        c,
        "/services/push/v1/customer/org-chart/csv?orgChartName=Q4",
        curl_form(&[("file", Some("org.csv"), org)]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["numUsers"], 2, "{body}");
    let org_chart = server.store.org_chart(account.id()).await.unwrap().unwrap();
    assert_eq!(org_chart.name, "Q4");
    assert_eq!(org_chart.directory.people.len(), 2);

    // Spend and contracts, with the same extractor.
    let spend = format!(
        "signatureId,appId,created,amount,currency,type\n\
         s-1,{app},1767225600000,19.99,USD,expense\n\
         s-2,{app},1767312000000,5.00,USD,invoice\n"
    );
    let (status, body) = post_form(
        c,
        "/services/push/v1/customer/spend/csv",
        curl_form(&[("file", Some("spend.csv"), &spend)]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rows"], 2, "{body}");
    let contracts = format!(
        "contractId,appId,vendor,startDate,endDate,licensesPurchased,annualCost,currency\n\
         c-1,{app},Acme,2026-01-01,2026-12-31,10,1200,USD\n"
    );
    let (status, body) = post_form(
        c,
        "/services/push/v1/customer/contracts/csv",
        curl_form(&[("upload", Some("contracts.csv"), &contracts)]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rows"], 1, "{body}");
    // The file's bytes exactly: a form field without a filename works too, and
    // the CRLF that precedes the boundary is not part of the last row.
    let (status, body) = post_form(
        c,
        "/services/push/v1/customer/contracts/csv",
        curl_form(&[("file", None, contracts.trim_end())]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["duplicates"], 1, "{body}");

    // Two files, or a field besides the file: 422 saying what to send.
    let (status, body) = post_form(
        c,
        "/services/push/v1/customer/spend/csv",
        curl_form(&[("a", Some("a.csv"), &spend), ("b", Some("b.csv"), &spend)]),
    )
    .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["message"].as_str().unwrap().contains("2 files"),
        "{body}"
    );
    let (status, body) = post_form(
        c,
        "/services/push/v1/customer/org-chart/csv",
        curl_form(&[("file", Some("org.csv"), org), ("orgChartName", None, "Q4")]),
    )
    .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["message"].as_str().unwrap().contains("'orgChartName'"),
        "{body}"
    );
    // A form that is cut off, or has no boundary: 400.
    let (content_type, mut cut) = curl_form(&[("file", Some("org.csv"), org)]);
    cut.truncate(cut.len() - 50);
    let (status, body) = post_form(
        c,
        "/services/push/v1/customer/org-chart/csv",
        (content_type, cut),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = post_form(
        c,
        "/services/push/v1/customer/spend/csv",
        ("multipart/form-data".into(), spend.clone().into_bytes()),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    // A form above the body limit is refused before it is parsed.
    let big = "x".repeat(70 * 1024);
    let (status, body) = post_form(
        c,
        "/services/push/v1/customer/spend/csv",
        curl_form(&[("file", Some("big.csv"), &big)]),
    )
    .await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE);
    // Nothing of the refused uploads was stored: still the two spend records.
    let records = server
        .store
        .spend_records(account.id(), None)
        .await
        .unwrap();
    assert_eq!(records.len(), 2);
}
