//! Limits and abuse (SPEC §13, issue 15): bodies of the worst shape for every
//! endpoint that takes one, half-open connections, slow bodies, report budgets,
//! security headers, and error messages in the user's words (issue 19 #13).
//!
//! Memory is measured on a real `rollcall serve` process (its `/proc/PID/status`
//! VmHWM), so the figures are the server's alone, not the test client's.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use rollcall_server::ServerConfig;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{assert_error, http_client, spawn_listening, Client, TestDb, TestServer};
use crate::foundation::admin_init;

const MIB: usize = 1024 * 1024;
/// The default body limit: every adversarial body is exactly this long.
const BODY: usize = 16 * MIB;

/// A `rollcall serve` child process with extra flags.
struct Served {
    child: tokio::process::Child,
    base: String,
    addr: String,
}

impl Served {
    async fn start(db: &TestDb, extra: &[&str]) -> Served {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollcall"));
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(db.cli_args())
            .args(extra)
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::null());
        let (child, base) = spawn_listening(command).await;
        let addr = base.trim_start_matches("http://").to_string();
        Served { child, base, addr }
    }

    fn status_kb(&self, field: &str) -> u64 {
        let pid = self.child.id().expect("running");
        let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a /proc status field")
    }

    fn open_fds(&self) -> usize {
        let pid = self.child.id().expect("running");
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count()
    }
}

/// `prefix`, then `item` separated by commas until the body is `len` bytes long
/// with `suffix` (padded with spaces, which JSON allows).
fn json_list(prefix: &str, item: &str, suffix: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(prefix.as_bytes());
    let room = len - suffix.len();
    let mut first = true;
    while out.len() + item.len() < room {
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(item.as_bytes());
        first = false;
    }
    out.resize(room, b' ');
    out.extend_from_slice(suffix.as_bytes());
    assert_eq!(out.len(), len);
    out
}

/// A CSV header then `row` lines, exactly `len` bytes.
fn csv_rows(header: &str, row: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(header.as_bytes());
    while out.len() + row.len() <= len {
        out.extend_from_slice(row.as_bytes());
    }
    out.resize(len, b'\n');
    out
}

/// Sends `body` and returns (status, answer size in bytes, answer text head).
async fn send_raw(
    client: &Client,
    method: Method,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, usize, String) {
    let response = client
        .request(method, path)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("an answer");
    let status = response.status();
    let bytes = response.bytes().await.expect("a body");
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).to_string();
    (status, bytes.len(), head)
}

#[tokio::test]
async fn sixteen_mib_bodies_of_the_worst_shape_keep_the_server_small() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::fresh(dir.path().to_path_buf()).await;
    let creds = admin_init(&db);
    let server = Served::start(&db, &[]).await;
    let client = Client::new(&server.base, creds["apiKey"].as_str().unwrap());
    let (status, app) = client
        .post(
            "/services/push/v1/customer/apps",
            &json!({"name": "Mail", "events": [{"eventName": "send", "eventType": "Produce"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{app}");
    let app = app["appId"].as_str().unwrap().to_string();
    let (status, chart) = client
        .post(
            "/services/push/v1/customer/org-chart",
            &json!({"orgChartName": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{chart}");
    let chart = chart["id"].as_i64().unwrap();
    let base_kb = server.status_kb("VmHWM:");

    let apps = format!("/services/push/v1/customer/apps/{app}");
    let json = "application/json";
    let csv = "text/csv";
    let agent_head = r#"{"computer":{"name":"c"},"client":{"name":"u"},"session":1,"records":["#;
    type Case = (Method, String, &'static str, Vec<u8>);
    let cases: Vec<Box<dyn Fn() -> Case>> = vec![
        // The issue's six: org-chart CSV, provisioned-user delete, group members,
        // classifications, usage events, agent records.
        Box::new(|| {
            (
                Method::POST,
                "/services/push/v1/customer/org-chart/csv".into(),
                csv,
                csv_rows("email\n", "x\n", BODY),
            )
        }),
        Box::new(|| {
            (
                Method::DELETE,
                format!("{apps}/users"),
                json,
                json_list(r#"{"emails":["#, r#""""#, "]}", BODY),
            )
        }),
        Box::new(|| {
            (
                Method::POST,
                "/admin/v1/groups".into(),
                json,
                json_list(r#"{"name":"g","clients":["#, "1", "]}", BODY),
            )
        }),
        Box::new(|| {
            (
                Method::PUT,
                "/admin/v1/classifications".into(),
                json,
                json_list(
                    r#"{"applications":["#,
                    r#"{"executable":"a","productivity":1}"#,
                    "]}",
                    BODY,
                ),
            )
        }),
        Box::new(|| {
            (
                Method::POST,
                format!("{apps}/events"),
                json,
                json_list(r#"{"events":["#, "{}", "]}", BODY),
            )
        }),
        Box::new(|| {
            (
                Method::POST,
                "/agent/v1/activity".into(),
                json,
                json_list(agent_head, "{}", "]}", BODY),
            )
        }),
        // One loose record holding millions of values.
        Box::new(|| {
            (
                Method::POST,
                "/agent/v1/activity".into(),
                json,
                json_list(&format!("{agent_head}[["), "0", "]]]}", BODY),
            )
        }),
        // Every other body-taking endpoint.
        Box::new(|| {
            (
                Method::POST,
                "/services/push/v1/customer/apps".into(),
                json,
                json_list(r#"{"name":"x","events":["#, "{}", "]}", BODY),
            )
        }),
        Box::new(|| {
            (
                Method::PUT,
                apps.clone(),
                json,
                json_list(r#"{"name":"x","events":["#, "0", "]}", BODY),
            )
        }),
        Box::new(|| {
            (
                Method::POST,
                format!("{apps}/users"),
                json,
                json_list(r#"{"provisionedUsers":["#, "{}", "]}", BODY),
            )
        }),
        Box::new(|| {
            (
                Method::POST,
                format!("{apps}/finance"),
                json,
                json_list(r#"{"records":["#, "{}", "]}", BODY),
            )
        }),
        Box::new(|| {
            (
                Method::POST,
                "/services/push/v1/customer/org-chart".into(),
                json,
                json_list(r#"{"orgChartName":"x","extra":["#, "0", "]}", BODY),
            )
        }),
        Box::new(|| {
            (
                Method::PUT,
                format!("/services/push/v1/customer/org-chart/{chart}"),
                json,
                json_list(r#"{"hasMore":false,"users":["#, "{}", "]}", BODY),
            )
        }),
        Box::new(|| {
            (
                Method::POST,
                "/services/push/v1/customer/spend/csv".into(),
                csv,
                csv_rows("appId,signatureId,amount\n", "x,y,z\n", BODY),
            )
        }),
        Box::new(|| {
            (
                Method::POST,
                "/services/push/v1/customer/contracts/csv".into(),
                csv,
                csv_rows("contractId,appId\n", "x,y\n", BODY),
            )
        }),
        Box::new(|| {
            (
                Method::PATCH,
                "/admin/v1/groups/1".into(),
                json,
                json_list(r#"{"computers":["#, "1", "]}", BODY),
            )
        }),
        Box::new(|| {
            (
                Method::PATCH,
                "/admin/v1/clients/1".into(),
                json,
                json_list(r#"{"x":["#, "0", "]}", BODY),
            )
        }),
        Box::new(|| {
            (
                Method::PATCH,
                "/admin/v1/computers/1".into(),
                json,
                json_list(r#"{"x":["#, "0", "]}", BODY),
            )
        }),
        Box::new(|| {
            (
                Method::POST,
                "/admin/v1/computers/1/merge".into(),
                json,
                json_list(r#"{"into":["#, "0", "]}", BODY),
            )
        }),
        Box::new(|| {
            (
                Method::POST,
                "/admin/v1/consumers".into(),
                json,
                json_list(
                    r#"{"email":"a@b.io","name":"n","role":"viewer","viewableGroups":["#,
                    "1",
                    "]}",
                    BODY,
                ),
            )
        }),
        Box::new(|| {
            (
                Method::PATCH,
                "/admin/v1/consumers/1".into(),
                json,
                json_list(r#"{"allowedApps":["#, r#""""#, "]}", BODY),
            )
        }),
        Box::new(|| {
            (
                Method::POST,
                "/admin/v1/credentials".into(),
                json,
                json_list(
                    r#"{"type":"apiKey","name":"k","scopes":["#,
                    r#""""#,
                    "]}",
                    BODY,
                ),
            )
        }),
        Box::new(|| {
            (
                Method::PATCH,
                "/admin/v1/settings".into(),
                json,
                json_list(r#"{"x":["#, "0", "]}", BODY),
            )
        }),
    ];
    for case in &cases {
        let (method, path, content_type, body) = case();
        let (status, size, head) =
            send_raw(&client, method.clone(), &path, content_type, body).await;
        assert!(status.is_client_error(), "{method} {path}: {status} {head}");
        assert!(
            size <= 64 * 1024,
            "{method} {path}: a {size}-byte answer: {head}"
        );
        assert!(
            serde_json::from_str::<Value>(&head).is_ok() || size > 300,
            "{method} {path}: {head}"
        );
    }
    let peak_kb = server.status_kb("VmHWM:");
    eprintln!(
        "server peak RSS: {} MB before the bodies, {} MB after {} bodies of 16 MiB",
        base_kb / 1024,
        peak_kb / 1024,
        cases.len()
    );
    assert!(
        peak_kb <= 300 * 1024,
        "peak RSS {} MB over the 300 MB budget",
        peak_kb / 1024
    );
    // Still serving.
    assert_eq!(client.get("/admin/v1/settings").await.0, StatusCode::OK);
}

#[tokio::test]
async fn half_open_connections_are_closed_within_the_header_timeout_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::fresh(dir.path().to_path_buf()).await;
    let creds = admin_init(&db);
    let server = Served::start(&db, &["--header-timeout-secs", "2"]).await;
    let client = Client::new(&server.base, creds["apiKey"].as_str().unwrap());
    let before = server.open_fds();
    let started = Instant::now();
    let mut sockets = Vec::with_capacity(3000);
    for _ in 0..3000 {
        let mut s = TcpStream::connect(&server.addr).await.expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Half: ")
            .await
            .unwrap();
        sockets.push(s);
    }
    let opened = started.elapsed();
    // Normal requests keep being answered while the half-open ones wait.
    for _ in 0..5 {
        let (status, body) = client.get("/admin/v1/settings").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Each socket must see the server close it: EOF or reset, not silence.
    let deadline = Duration::from_secs(2) + opened + Duration::from_secs(3);
    let mut closed = 0;
    for mut s in sockets {
        let mut buf = [0u8; 512];
        let left = deadline
            .saturating_sub(started.elapsed())
            .max(Duration::from_millis(10));
        let read_to_close = async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue, // a 408 answer before the close is fine
                }
            }
        };
        if tokio::time::timeout(left, read_to_close).await.is_ok() {
            closed += 1;
        }
    }
    assert_eq!(
        closed, 3000,
        "only {closed} of 3000 half-open connections were closed"
    );
    eprintln!(
        "3000 half-open connections opened in {:?}, all closed after {:?}",
        opened,
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        server.open_fds() <= before + 10,
        "the server still holds {} descriptors (had {before})",
        server.open_fds()
    );
    assert_eq!(client.get("/admin/v1/settings").await.0, StatusCode::OK);
}

/// Sends a request head declaring a large body, then nothing: the answer must come
/// without the body (the server never waited to read it).
async fn answer_without_sending_the_body(addr: &str, head: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let n = s.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            if out.windows(4).any(|w| w == b"\r\n\r\n") && out.ends_with(b"}") {
                break;
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "no answer without the body: {}",
        String::from_utf8_lossy(&out)
    );
    String::from_utf8_lossy(&out).to_string()
}

#[tokio::test]
async fn the_credential_and_scope_are_checked_before_the_body_is_read() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let (status, viewer) = account
        .client
        .post(
            "/admin/v1/consumers",
            &json!({"email": "v@example.com", "name": "V", "role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{viewer}");
    let (status, key) = account
        .client
        .post(
            "/admin/v1/credentials",
            &json!({"type": "apiKey", "name": "v", "consumerId": viewer["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{key}");
    let viewer_secret = key["apiKey"].as_str().unwrap().to_string();
    let addr = server.addr.to_string();
    let post = |secret: &str, path: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {secret}\r\nContent-Type: application/json\r\nContent-Length: 16000000\r\n\r\n"
        )
    };
    for path in [
        "/agent/v1/activity",
        "/services/push/v1/customer/apps/abc/events",
        "/services/push/v1/customer/org-chart/csv",
        "/admin/v1/groups",
    ] {
        let answer = answer_without_sending_the_body(&addr, &post("nope", path)).await;
        assert!(answer.starts_with("HTTP/1.1 401"), "{path}: {answer}");
        let answer = answer_without_sending_the_body(&addr, &post(&viewer_secret, path)).await;
        assert!(answer.starts_with("HTTP/1.1 403"), "{path}: {answer}");
        assert!(answer.contains("scope"), "{answer}");
    }
    // A revoked key is refused the same way.
    let (status, body) = account
        .client
        .delete(&format!("/admin/v1/credentials/{}", key["id"]))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer =
        answer_without_sending_the_body(&addr, &post(&viewer_secret, "/agent/v1/activity")).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_naming_the_limit_and_its_flag() {
    let server = TestServer::start_with(ServerConfig {
        max_body_bytes: 1000,
        ..ServerConfig::default()
    })
    .await;
    let account = server.account().await;
    // Declared too large: refused before reading.
    let answer = answer_without_sending_the_body(
        &server.addr.to_string(),
        &format!(
            "PUT /admin/v1/classifications HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 5000\r\n\r\n",
            account.creds.api_key
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("at most 1000 bytes"), "{answer}");
    assert!(answer.contains("--max-body-bytes"), "{answer}");
    // Sent without a length (chunked), it is cut off at the limit with the same words.
    let chunk = " ".repeat(800);
    let answer = answer_without_sending_the_body(
        &server.addr.to_string(),
        &format!(
            "PUT /admin/v1/classifications HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n{chunk}\r\n320\r\n{chunk}\r\n0\r\n\r\n",
            account.creds.api_key
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("--max-body-bytes"), "{answer}");
    assert!(answer.contains("\"code\":\"413\""), "{answer}");
}

#[tokio::test]
async fn a_body_slower_than_the_minimum_rate_is_ended_with_408() {
    let server = TestServer::start_with(ServerConfig {
        body_min_rate: 1000,
        body_grace: Duration::from_secs(1),
        ..ServerConfig::default()
    })
    .await;
    let account = server.account().await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "PUT /admin/v1/classifications HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 100000\r\n\r\n{{\"applications\": [",
        account.creds.api_key
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    out.extend_from_slice(&buf[..n]);
                    if out.ends_with(b"}") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    let answer = String::from_utf8_lossy(&out);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("--body-min-rate"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // A body at a normal pace is unaffected.
    let (status, body) = account
        .client
        .put("/admin/v1/classifications", &json!({"applications": []}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Holds the PostgreSQL database so that every request waits on it: an exclusive
/// lock on the credentials table. (The embedded store cannot be held from outside:
/// its idle connections keep shared locks on the file.)
async fn hold_postgres(url: &str) -> (tokio_postgres::Client, tokio::task::JoinHandle<()>) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    client
        .batch_execute("BEGIN; LOCK TABLE credentials IN ACCESS EXCLUSIVE MODE;")
        .await
        .unwrap();
    (client, task)
}

#[tokio::test]
async fn a_report_over_its_time_budget_is_503_with_retry_after() {
    let server = TestServer::start_with(ServerConfig {
        report_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    })
    .await;
    let account = server.account().await;
    let path = "/reports/v2/activitylog";
    assert_eq!(account.client.get(path).await.0, StatusCode::OK);
    let TestDb::Postgres(url) = &server.db else {
        eprintln!("skipped on the embedded store: it cannot be held from outside the server");
        return;
    };
    // While the database is held, the report cannot finish: the budget answers.
    let (client, task) = hold_postgres(url).await;
    let started = Instant::now();
    let response = account
        .client
        .request(Method::GET, path)
        .send()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_error(
        StatusCode::SERVICE_UNAVAILABLE,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("--report-timeout"),
        "{body}"
    );
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    // Release the database.
    drop(client);
    let _ = task.await;
    // Released, the same report answers again (readers that were waiting finish).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, body) = account.client.get(path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn lists_are_counted_while_parsing_and_csv_errors_are_capped_at_100() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let (_, app) = c
        .post(
            "/services/push/v1/customer/apps",
            &json!({"name": "Mail", "events": [{"eventName": "send", "eventType": "Produce"}]}),
        )
        .await;
    let app = app["appId"].as_str().unwrap();
    let events: Vec<Value> = (0..1001).map(|_| json!({})).collect();
    let (status, body) = c
        .post(
            &format!("/services/push/v1/customer/apps/{app}/events"),
            &json!({ "events": events }),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["message"],
        "events has more than 1000 items; send at most 1000 in one request"
    );
    let records: Vec<Value> = (0..5001).map(|_| json!({})).collect();
    let (status, body) = c
        .post(
            "/agent/v1/activity",
            &json!({"computer": {"name": "c"}, "client": {"name": "u"}, "session": 1, "records": records}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("records has more than 5000 items"),
        "{body}"
    );
    let emails: Vec<&str> = vec!["a@b.io"; 1001];
    let (status, body) = c
        .send(
            c.request(
                Method::DELETE,
                &format!("/services/push/v1/customer/apps/{app}/users"),
            )
            .json(&json!({ "emails": emails })),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("emails has more than 1000"),
        "{body}"
    );

    // 1,000 bad org-chart rows: 100 listed, the total said.
    let mut csv = String::from("email\n");
    for i in 0..1000 {
        csv.push_str(&format!("not-an-email-{i}\n"));
    }
    let response = c
        .request(Method::POST, "/services/push/v1/customer/org-chart/csv")
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"].as_array().unwrap().len(), 100, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("1000 problems"),
        "{body}"
    );
    assert_eq!(body["errors"][0]["index"], 2);
}

#[tokio::test]
async fn errors_name_the_field_in_the_users_words() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let (status, body) = c
        .put(
            "/admin/v1/classifications",
            &json!({"applications": [{"executable": "a.exe", "productivity": "high"}]}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["message"],
        "applications[0].productivity must be 1, 0 or -1, not the string \"high\""
    );
    let (status, body) = c.post("/agent/v1/activity", &json!([1])).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["message"],
        "the body must be an object with computer, client, session and records"
    );
    let (status, body) = c
        .post(
            "/agent/v1/activity",
            &json!({"computer": {"name": "c"}, "client": {"name": "u"}, "session": "one", "records": []}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["message"],
        "session must be a whole number, not the string \"one\""
    );
    let (status, body) = c
        .post(
            "/agent/v1/activity",
            &json!({"computer": {}, "client": {"name": "u"}, "session": 1, "records": []}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["message"], "computer.name is required");
    let (_, app) = c
        .post(
            "/services/push/v1/customer/apps",
            &json!({"name": "Mail", "events": [{"eventName": "send", "eventType": "Produce"}]}),
        )
        .await;
    let app = app["appId"].as_str().unwrap();
    let (status, body) = c
        .get(&format!(
            "/services/push/v1/customer/apps/{app}/users?pageSize=ten"
        ))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("pageSize must be a whole number between 1 and 1000"),
        "{body}"
    );
    let (status, body) = c.get("/reports/v2/activitylog?pageSize=ten").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("pageSize must be"),
        "{body}"
    );
    let (status, body) = c.get("/reports/v2/activitylog?colour=red").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("colour is not a parameter of this endpoint"),
        "{body}"
    );
    let (status, body) = c
        .post("/admin/v1/groups", &json!({"name": "g", "clients": "all"}))
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["message"],
        "clients must be a list (JSON array), not the string \"all\""
    );
    let (status, path_body) = c.get("/admin/v1/groups/abc").await;
    assert_error(status, &path_body, StatusCode::NOT_FOUND);
    assert_eq!(
        path_body["message"],
        "no such resource: 'abc' is not an id of the right form"
    );
    // Nothing from Rust's vocabulary in any of them.
    for text in ["expected i8", "invalid digit", "invalid length", "struct "] {
        assert!(!body["message"].as_str().unwrap().contains(text));
    }
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_hsts_under_tls() {
    let server = TestServer::start().await;
    let account = server.account().await;
    for path in ["/healthz", "/admin/v1/settings", "/no/such/path"] {
        let response = account
            .client
            .request(Method::GET, path)
            .send()
            .await
            .unwrap();
        let h = response.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'"),
            "{path}"
        );
        assert!(!h.contains_key("strict-transport-security"), "{path}");
    }
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let tls = rollcall_server::tls::server_config(&cert_path, &key_path).unwrap();
    let tls_server =
        TestServer::start_in(dir.path().join("data"), ServerConfig::default(), Some(tls)).await;
    let response = http_client()
        .get(format!("{}/healthz", tls_server.base))
        .send()
        .await
        .unwrap();
    assert!(response.headers()["strict-transport-security"]
        .to_str()
        .unwrap()
        .starts_with("max-age="));
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn an_api_key_created_without_consumer_id_acts_as_its_creator() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let (status, key) = account
        .client
        .post(
            "/admin/v1/credentials",
            &json!({"type": "apiKey", "name": "mine"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{key}");
    let (_, consumers) = account.client.get("/admin/v1/consumers").await;
    let me = consumers["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["email"] == account.creds.email.as_str())
        .expect("the superadmin is a web user")["id"]
        .clone();
    let (_, list) = account.client.get("/admin/v1/credentials").await;
    let created = list["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == key["id"])
        .expect("the new key is listed")
        .clone();
    assert_eq!(created["consumerId"], me, "{created}");
    let mine = Client::new(&server.base, key["apiKey"].as_str().unwrap());
    assert_eq!(mine.get("/admin/v1/settings").await.0, StatusCode::OK);
    // Another account's key cannot name this account's users either way.
    let other = server.account().await;
    let (status, body) = other
        .client
        .post(
            "/admin/v1/credentials",
            &json!({"type": "apiKey", "name": "x", "consumerId": me}),
        )
        .await;
    assert!(status.is_client_error(), "{status} {body}");
}

#[tokio::test]
async fn a_conflict_and_readyz_never_show_database_text() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let group = json!({"name": "Sales"});
    assert_eq!(
        account.client.post("/admin/v1/groups", &group).await.0,
        StatusCode::OK
    );
    let body = json!({"email": "dup@example.com", "name": "D", "role": "viewer"});
    assert_eq!(
        account.client.post("/admin/v1/consumers", &body).await.0,
        StatusCode::OK
    );
    for (path, body) in [("/admin/v1/groups", group), ("/admin/v1/consumers", body)] {
        let (status, answer) = account.client.post(path, &body).await;
        assert_error(status, &answer, StatusCode::CONFLICT);
        let text = answer.to_string().to_lowercase();
        for word in [
            "unique",
            "constraint",
            "sqlite",
            "postgres",
            "violat",
            "duplicate key",
        ] {
            assert!(!text.contains(word), "{path}: {answer}");
        }
    }
    let (status, body) = account.client.get("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Whether the server closes `s` within `within` (EOF or reset, after any answer).
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn connections_past_the_cap_are_closed_and_idle_ones_time_out() {
    let server = TestServer::start_with(ServerConfig {
        max_connections: 4,
        idle_timeout: Duration::from_secs(1),
        header_read_timeout: Duration::from_secs(30),
        ..ServerConfig::default()
    })
    .await;
    // Four connections that say nothing hold the four places.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(server.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A fifth is closed at once, without an answer.
    let mut fifth = TcpStream::connect(server.addr).await.unwrap();
    let _ = fifth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert!(closed_within(&mut fifth, Duration::from_millis(500)).await);
    // The silent ones are closed by the idle timeout (1 s), well before the
    // header timeout (30 s), and their places are free again.
    let started = Instant::now();
    for s in &mut held {
        assert!(closed_within(s, Duration::from_secs(3)).await);
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    let (status, body) = crate::common::Client::new(&server.base, "x")
        .get("/healthz")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
