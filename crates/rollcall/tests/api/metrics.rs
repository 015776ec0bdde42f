//! `/metrics` (SPEC §12): a `rollcall serve` child with `--metrics-listen` is
//! pushed events and activity (accepted, duplicate, rejected), asked reports,
//! refused with 429, logged in to; then scraped on the separate listener and, with
//! a `metrics.read` credential, on the main one. Each scrape is parsed by the real
//! Prometheus parser (`prometheus_client.parser`) and its figures must be exactly
//! what the test did. Runs on the suite's backend (embedded or PostgreSQL).

use std::io::Write;
use std::process::Stdio;

use jiff::Timestamp;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;

use crate::common::{assert_error, http_client, python, spawn_listening, Client, TestDb};
use crate::foundation::admin_init;

/// One sample of a parsed scrape.
#[derive(Debug)]
struct Sample {
    family_type: String,
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// A scrape as the Prometheus client library's parser read it.
struct Scrape(Vec<Sample>);

impl Scrape {
    /// Parses `text` with `prometheus_client.parser.text_string_to_metric_families`.
    fn parse(text: &str) -> Scrape {
        const SCRIPT: &str = r#"
import sys, json
from prometheus_client.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append([family.type, s.name, s.labels, s.value])
print(json.dumps(out))
"#;
        let mut child = std::process::Command::new(python())
            .args(["-c", SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "the Prometheus parser refused the scrape: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows: Vec<(
            String,
            String,
            std::collections::BTreeMap<String, String>,
            f64,
        )> = serde_json::from_slice(&out.stdout).unwrap();
        Scrape(
            rows.into_iter()
                .map(|(family_type, name, labels, value)| Sample {
                    family_type,
                    name,
                    labels: labels.into_iter().collect(),
                    value,
                })
                .collect(),
        )
    }

    /// The value of the sample with exactly these labels.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.0
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
            })
            .map(|s| s.value)
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("no sample {name} {labels:?} in {:#?}", self.0))
    }

    fn ingested(&self, kind: &str, outcome: &str) -> f64 {
        self.value(
            "rollcall_ingested_items_total",
            &[("kind", kind), ("outcome", outcome)],
        )
    }

    fn requests(&self, route: &str, method: &str, status: &str) -> f64 {
        self.value(
            "rollcall_http_requests_total",
            &[("route", route), ("method", method), ("status", status)],
        )
    }
}

/// A `rollcall serve` child with a metrics listener; (child, main base URL, metrics URL).
async fn serve_with_metrics(db: &TestDb) -> (tokio::process::Child, String, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollcall"));
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .args(db.cli_args())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped());
    let (mut child, base) = spawn_listening(command).await;
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let metrics = loop {
        let line = stdout
            .next_line()
            .await
            .unwrap()
            .expect("the server printed no metrics address");
        if let Some(url) = line.strip_prefix("Metrics: ") {
            break url.to_string();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    (child, base, metrics)
}

async fn create_app(client: &Client) -> String {
    let (status, body) = client
        .post(
            "/services/push/v1/customer/apps",
            &json!({"name": "Mail", "events": [
                {"eventName": "sent", "eventType": "Produce", "groups": ["Sent"]}
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["appId"].as_str().unwrap().to_string()
}

/// `n` events an hour before `now` (the same `now` gives the same events).
fn events(now: i64, n: usize) -> Value {
    let events: Vec<Value> = (0..n)
        .map(|i| json!({"timestamp": now - 3_600_000 - i as i64 * 1000, "email": format!("u{i}@corp.com"), "eventName": "sent"}))
        .collect();
    json!({ "events": events })
}

/// `records` one-minute records from five hours before `now_ms`: the same
/// batch whenever `now_ms` is the same (so a second sending is all duplicates).
fn activity(now_ms: i64, records: usize, broken: bool) -> Value {
    let base = Timestamp::from_millisecond(now_ms).unwrap() - jiff::SignedDuration::from_hours(5);
    let records: Vec<Value> = (0..records)
        .map(|i| {
            let start = base + jiff::SignedDuration::from_mins(i as i64);
            let duration = if broken && i == 0 { -5 } else { 60 };
            json!({"start": format!("{start:.0}"), "duration": duration, "executable": "mail.exe",
                   "description": format!("record {i}"), "idle": false})
        })
        .collect();
    json!({
        "computer": {"name": "PC-1", "timeZone": "Europe/Berlin"},
        "client": {"loginDomain": "CORP", "name": "alice"},
        "session": 1,
        "records": records,
    })
}

/// A key of a new web user with `role` (a viewer's key lacks `metrics.read`),
/// narrowed to `scopes` when given.
async fn key_of_new_user(admin: &Client, role: &str, scopes: Option<&[&str]>) -> Client {
    let email = format!(
        "{role}-{}@example.com",
        rollcall_core::secret::random_hex(4)
    );
    let (status, user) = admin
        .post(
            "/admin/v1/consumers",
            &json!({"email": email, "name": "Someone", "role": role}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    let mut body = json!({"type": "apiKey", "name": "k", "consumerId": user["id"]});
    if let Some(scopes) = scopes {
        body["scopes"] = json!(scopes);
    }
    let (status, key) = admin.post("/admin/v1/credentials", &body).await;
    assert_eq!(status, StatusCode::OK, "{key}");
    Client::new(&admin.base, key["apiKey"].as_str().unwrap())
}

async fn scrape_text(response: reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

#[tokio::test]
async fn both_scrapes_count_exactly_what_was_done() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::fresh(dir.path().to_path_buf()).await;
    let creds = admin_init(&db);
    let (mut child, base, metrics_url) = serve_with_metrics(&db).await;
    let admin = Client::new(&base, creds["apiKey"].as_str().unwrap());

    // A dashboard session.
    let response = http_client()
        .post(format!("{base}/ui/login"))
        // A form post (a browser's) starts a session; a JSON one only answers.
        .form(&[
            ("email", creds["email"].as_str().unwrap()),
            ("password", creds["password"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Usage: 3 accepted, the same 3 again (duplicates), a batch of 2 refused.
    let app = create_app(&admin).await;
    let events_path = format!("/services/push/v1/customer/apps/{app}/events");
    let now = rollcall_store::now_ms();
    for expected in [(3, 0), (0, 3)] {
        let (status, body) = admin.post(&events_path, &events(now, 3)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (body["accepted"].as_u64(), body["duplicates"].as_u64()),
            (Some(expected.0), Some(expected.1))
        );
    }
    let mut bad = events(now, 2);
    bad["events"][1]["email"] = json!("not an email");
    let (status, body) = admin.post(&events_path, &bad).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);

    // Activity: 4 accepted, 4 duplicates, a batch of 3 refused.
    for _ in 0..2 {
        let (status, body) = admin
            .post("/agent/v1/activity", &activity(now, 4, false))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = admin
        .post("/agent/v1/activity", &activity(now, 3, true))
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);

    // Provisioned users: 2 accepted.
    let (status, body) = admin
        .post(
            &format!("/services/push/v1/customer/apps/{app}/users"),
            &json!({"provisionedUsers": [{"email": "u0@corp.com"}, {"email": "u1@corp.com"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Two reports, a path no route has.
    for _ in 0..2 {
        let (status, body) = admin
            .get(&format!("/pull/v1/apps/{app}/engagement?rollingWindow=7"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(
        admin.get("/no/such/endpoint").await.0,
        StatusCode::NOT_FOUND
    );

    // The token endpoint's per-address limit: burst 30, then 429.
    let mut refused: u32 = 0;
    for _ in 0..45 {
        let response = http_client()
            .post(format!("{base}/oauth2/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
                ("client_secret", "wrong"),
            ])
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    assert!(refused > 0, "the address limit never refused");

    // Without a credential, and with one lacking metrics.read: refused on the main listener.
    let viewer = key_of_new_user(&admin, "viewer", None).await;
    // An administrator's key narrowed to metrics.read alone: a scraper's key.
    let scraper = key_of_new_user(&admin, "admin", Some(&["metrics.read"])).await;
    let (status, body) = scraper.get("/admin/v1/settings").await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = viewer.get("/metrics").await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = Client::new(&base, "").get("/metrics").await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);

    let separate = scrape_text(http_client().get(&metrics_url).send().await.unwrap()).await;
    let main = scrape_text(
        scraper
            .request(reqwest::Method::GET, "/metrics")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        http_client()
            .get(metrics_url.replace("/metrics", "/other"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    for text in [&separate, &main] {
        let scrape = Scrape::parse(text);
        assert_eq!(scrape.ingested("usage", "accepted"), 3.0);
        assert_eq!(scrape.ingested("usage", "duplicate"), 3.0);
        assert_eq!(scrape.ingested("usage", "rejected"), 2.0);
        assert_eq!(scrape.ingested("activity", "accepted"), 4.0);
        assert_eq!(scrape.ingested("activity", "duplicate"), 4.0);
        assert_eq!(scrape.ingested("activity", "rejected"), 3.0);
        assert_eq!(scrape.ingested("provisioned", "accepted"), 2.0);
        assert_eq!(scrape.ingested("org", "accepted"), 0.0);

        let events_route = "/services/push/v1/customer/apps/{app_id}/events";
        assert_eq!(scrape.requests(events_route, "POST", "200"), 2.0);
        assert_eq!(scrape.requests(events_route, "POST", "422"), 1.0);
        let report = "/pull/v1/apps/{app_id}/engagement";
        assert_eq!(scrape.requests(report, "GET", "200"), 2.0);
        assert_eq!(
            scrape.value(
                "rollcall_http_request_duration_seconds_count",
                &[("route", report), ("method", "GET"), ("status", "200")]
            ),
            2.0
        );
        assert_eq!(
            scrape.value(
                "rollcall_http_request_duration_seconds_bucket",
                &[
                    ("route", report),
                    ("method", "GET"),
                    ("status", "200"),
                    ("le", "+Inf")
                ]
            ),
            2.0
        );
        assert_eq!(scrape.requests("unmatched", "GET", "404"), 1.0);
        assert_eq!(
            scrape.requests("/oauth2/token", "POST", "429"),
            f64::from(refused)
        );
        assert_eq!(
            scrape.requests("/oauth2/token", "POST", "401"),
            f64::from(45 - refused)
        );
        assert_eq!(scrape.requests("/metrics", "GET", "403"), 1.0);
        assert_eq!(scrape.requests("/metrics", "GET", "401"), 1.0);
        assert_eq!(
            scrape.value("rollcall_rate_limited_total", &[("limiter", "address")]),
            f64::from(refused)
        );
        assert_eq!(
            scrape.value("rollcall_rate_limited_total", &[("limiter", "credential")]),
            0.0
        );
        // Route labels are patterns: no raw path (with the app's id) ever becomes one.
        assert!(
            !scrape.0.iter().any(|s| s
                .labels
                .iter()
                .any(|(k, v)| k == "route" && v.contains(&app))),
            "a raw path became a label:\n{text}"
        );
        assert!(scrape.0.iter().any(|s| s.family_type == "histogram"));

        assert!(scrape.value("rollcall_database_size_bytes", &[]) > 0.0);
        assert_eq!(scrape.value("rollcall_dashboard_sessions_active", &[]), 1.0);
        if db.is_postgres() {
            assert_eq!(scrape.value("rollcall_db_pool_max_connections", &[]), 16.0);
            let open = scrape.value("rollcall_db_pool_connections", &[("state", "in_use")])
                + scrape.value("rollcall_db_pool_connections", &[("state", "idle")]);
            assert!((1.0..=16.0).contains(&open), "{open}");
            assert!(scrape.get("rollcall_writer_queue_depth", &[]).is_none());
        } else {
            assert_eq!(scrape.value("rollcall_writer_queue_depth", &[]), 0.0);
            // Every stored write went through a commit: at least the batches above.
            let commits = scrape.value("rollcall_writer_group_commit_size_count", &[]);
            let writes = scrape.value("rollcall_writer_group_commit_size_sum", &[]);
            assert!(
                commits >= 5.0 && writes >= commits,
                "{commits} commits of {writes} writes"
            );
            assert!(scrape
                .get("rollcall_db_pool_max_connections", &[])
                .is_none());
        }
    }
    // A credential's own bucket: at 1 request a second, quick calls are refused.
    let reader = key_of_new_user(&admin, "viewer", None).await;
    let (status, body) = admin
        .patch(
            "/admin/v1/settings",
            &json!({"rateLimit": {"perSecond": 1, "burst": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut throttled: u32 = 0;
    for _ in 0..4 {
        if reader.get("/pull/v3/apps").await.0 == StatusCode::TOO_MANY_REQUESTS {
            throttled += 1;
        }
    }
    assert!(throttled > 0, "the credential's bucket never refused");

    // The separate listener's scrapes are not requests of the API; the main one's is,
    // once answered.
    let after =
        Scrape::parse(&scrape_text(http_client().get(&metrics_url).send().await.unwrap()).await);
    assert_eq!(after.requests("/metrics", "GET", "200"), 1.0);
    assert_eq!(
        after.value("rollcall_rate_limited_total", &[("limiter", "credential")]),
        f64::from(throttled)
    );
    assert_eq!(
        after.requests("/pull/v3/apps", "GET", "429"),
        f64::from(throttled)
    );
    child.kill().await.unwrap();
    let _ = child.wait().await;
}
