//! `rollcall relay` (SPEC §10.2) driven by the real `aw-client` package playing
//! ActivityWatch's window and afk watchers: the relay (the real binary) turns
//! their buckets into agent records and uploads them to a running Rollcall,
//! whose working-hours report must show exactly the seconds the watchers
//! reported, through a server outage, relay restarts and a lost acknowledgement.

use std::path::Path;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use reqwest::StatusCode;
use rollcall_server::{AppState, ServerConfig};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::common::{python, spawn_listening, Client, TestServer};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/aw_watchers.py");

async fn start_relay(server: &str, key: &str, spool: &Path) -> (tokio::process::Child, u16) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollcall"));
    command
        .args([
            "relay",
            "--server",
            server,
            "--api-key",
            key,
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--spool")
        .arg(spool)
        .args([
            "--user",
            "CORP\\jdoe",
            "--seal-secs",
            "2",
            "--max-backoff-secs",
            "1",
        ])
        .env("TZ", "UTC")
        .env("RUST_LOG", "info");
    let (child, base) = spawn_listening(command).await;
    let port = base.rsplit(':').next().unwrap().parse().unwrap();
    (child, port)
}

/// Runs the aw-client watchers script; what aw-client read back.
async fn watchers(port: u16, phase: &str, base: i64, home: &Path) -> Value {
    let python = python();
    let output = tokio::process::Command::new(python)
        .arg(SCRIPT)
        .args([port.to_string(), phase.to_string(), base.to_string()])
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .output()
        .await
        .expect("run python");
    assert!(
        output.status.success(),
        "aw-client script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("script output")
}

/// (active productive, active unproductive, active undefined, passive productive,
/// passive total, total) of the one user row of `day`.
async fn day_seconds(c: &Client, day: &str) -> Option<[i64; 6]> {
    let (status, body) = c
        .get(&format!(
            "/reports/v2/workinghours/users?from={day}&to={day}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows = body["activity"].as_array().unwrap();
    let row = rows.first()?;
    assert_eq!(rows.len(), 1, "{body}");
    assert_eq!(row["user"], "CORP\\jdoe", "{row}");
    let s = |part: &str, class: &str| row[part][class].as_i64().unwrap();
    Some([
        s("activeTime", "productive"),
        s("activeTime", "unproductive"),
        s("activeTime", "undefined"),
        s("passiveTime", "productive"),
        s("passiveTime", "total"),
        row["totalTime"].as_i64().unwrap(),
    ])
}

/// Polls the report until it shows `expected` (the relay uploads in the background).
async fn wait_for(c: &Client, day: &str, expected: [i64; 6]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = day_seconds(c, day).await;
        if got == Some(expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the report shows {got:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Serves `server`'s store again on its old address (a restart on the same data).
async fn restart(server: &TestServer) -> oneshot::Sender<()> {
    let listener = std::net::TcpListener::bind(server.addr).expect("bind the old address");
    let (stop, stopped) = oneshot::channel::<()>();
    let state = AppState::new(server.store.clone(), ServerConfig::default());
    tokio::spawn(rollcall_server::serve(state, listener, None, async {
        let _ = stopped.await;
    }));
    stop
}

async fn record_count(c: &Client, day: &str) -> usize {
    let (status, body) = c
        .get(&format!(
            "/reports/v2/activitylog?startDate={day}&endDate={day}&pageSize=1000"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["activity"].as_array().unwrap().len()
}

#[tokio::test]
async fn relay_aw_client_watchers_reach_working_hours_through_an_outage_exactly_once() {
    let mut server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let (status, body) = c
        .put(
            "/admin/v1/classifications",
            &json!({"applications": [{"executable": "code", "productivity": 1},
                                     {"executable": "firefox", "productivity": -1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, agent) = account.user_with_key("admin", json!({})).await;
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let home = dir.path().join("home");
    // Two days ago at 09:00 UTC (the account and, with TZ=UTC, the computer are in UTC).
    let day = Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .checked_sub(jiff::ToSpan::days(2))
        .unwrap();
    let base = day
        .at(9, 0, 0, 0)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
        .as_second();
    let day = day.to_string();

    let (mut relay, port) = start_relay(&server.base, &agent.secret, &spool).await;
    let seen = watchers(port, "day", base, &home).await;
    // aw-client reads back aw-server's merge: one event per window, three afk states.
    let window = seen["window"].as_array().unwrap();
    assert_eq!(window.len(), 2, "{seen}");
    assert_eq!(window[0]["app"], "firefox", "newest first: {seen}");
    assert_eq!(window[0]["duration"], 600.0, "{seen}");
    assert_eq!(window[1]["app"], "code", "{seen}");
    assert_eq!(window[1]["duration"], 600.0, "{seen}");
    let afk: Vec<(String, f64)> = seen["afk"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["status"].as_str().unwrap().into(),
                e["duration"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        afk,
        vec![
            ("not-afk".into(), 720.0),
            ("afk".into(), 180.0),
            ("not-afk".into(), 300.0)
        ],
        "{seen}"
    );
    assert_eq!(seen["window_count"], 2);
    assert_eq!(seen["latest_one"], 1);
    assert_eq!(seen["buckets"].as_object().unwrap().len(), 2, "{seen}");

    // code: 300 + 120 s active and 180 s passive (afk with code in focus);
    // firefox: 600 s active, unproductive.
    wait_for(c, &day, [420, 600, 0, 180, 180, 1200]).await;

    // The server goes away; the watchers keep reporting to the relay.
    server.stop().await;
    let seen = watchers(port, "later", base, &home).await;
    assert_eq!(seen["window"][0]["app"], "terminal", "{seen}");
    assert_eq!(seen["window"][0]["duration"], 600.0, "{seen}");
    // The present stretch merged on across the phases.
    assert_eq!(seen["afk"][0]["duration"], 1320.0, "{seen}");
    // Give the relay time to seal and fail a few uploads.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        relay.try_wait().unwrap().is_none(),
        "the relay survives the outage"
    );
    // The relay restarts while the server is still away: its spool keeps the backlog.
    relay.kill().await.unwrap();
    let (mut relay, _) = start_relay(&server.base, &agent.secret, &spool).await;

    let _stop = restart(&server).await;
    wait_for(c, &day, [420, 600, 600, 180, 180, 1800]).await;
    let records = record_count(c, &day).await;

    // A lost acknowledgement: the relay sends its whole outbox again, and the
    // server's idempotent keys make all of it duplicates.
    relay.kill().await.unwrap();
    std::fs::remove_file(spool.join("cursor.json")).unwrap();
    let (mut relay, _) = start_relay(&server.base, &agent.secret, &spool).await;
    // The cursor is written again only once the server acknowledged the re-sent outbox.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !spool.join("cursor.json").exists() {
        assert!(
            Instant::now() < deadline,
            "the relay never re-sent its outbox"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        day_seconds(c, &day).await,
        Some([420, 600, 600, 180, 180, 1800])
    );
    assert_eq!(
        record_count(c, &day).await,
        records,
        "no record stored twice"
    );
    relay.kill().await.unwrap();
}

#[tokio::test]
async fn relay_speaks_aw_server_and_refuses_what_it_must() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut relay, port) =
        start_relay(&server.base, &account.creds.api_key, &dir.path().join("s")).await;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("http://127.0.0.1:{port}/api/0/{p}");
    let info: Value = http
        .get(url("info"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        info["hostname"].is_string() && info["device_id"].is_string(),
        "{info}"
    );

    // Bucket lifecycle: create, a second create is 304, get, events, delete.
    let body = json!({"client": "t", "hostname": "h", "type": "currentwindow"});
    let r = http
        .post(url("buckets/b1"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = http
        .post(url("buckets/b1"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let events = json!([{"timestamp": "2026-01-01T10:00:00+00:00", "duration": 5, "data": {"app": "a"}},
                        {"timestamp": "2026-01-01T10:01:00.5Z", "duration": 1.25, "data": {"app": "b"}}]);
    let inserted: Value = http
        .post(url("buckets/b1/events"))
        .json(&events)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = inserted[1]["id"].as_i64().unwrap();
    let one: Value = http
        .get(url(&format!("buckets/b1/events/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["duration"], 1.25, "{one}");
    assert_eq!(one["timestamp"], "2026-01-01T10:01:00.5Z", "{one}");
    let count: Value = http
        .get(url("buckets/b1/events/count?start=2026-01-01T10:00:30Z"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(count, json!(1));
    let bucket: Value = http
        .get(url("buckets/b1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bucket["type"], "currentwindow", "{bucket}");
    assert_eq!(
        bucket["metadata"]["start"], "2026-01-01T10:00:00Z",
        "{bucket}"
    );

    // Errors: unknown bucket, heartbeat without pulsetime, a bad timestamp, a foreign Host.
    let r = http.get(url("buckets/nope/events")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let hb = json!({"timestamp": "2026-01-01T10:05:00Z", "duration": 0, "data": {"app": "a"}});
    let r = http
        .post(url("buckets/b1/heartbeat"))
        .json(&hb)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = http
        .post(url("buckets/b1/heartbeat?pulsetime=1"))
        .json(&json!({"timestamp": "yesterday", "data": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let message: Value = r.json().await.unwrap();
    assert!(
        message["message"].as_str().unwrap().contains("RFC 3339"),
        "{message}"
    );
    let r = http
        .get(url("buckets/"))
        .header("host", "evil.example:5600")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = http.delete(url("buckets/b1")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let all: Value = http
        .get(url("buckets/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all, json!({}));
    relay.kill().await.unwrap();

    // Loopback only.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .args([
            "relay",
            "--server",
            "http://127.0.0.1:1",
            "--api-key",
            "k",
            "--listen",
            "0.0.0.0:0",
        ])
        .arg("--spool")
        .arg(dir.path().join("s2"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
}

/// Every request `rollcall relay` sends, as (method and path, body), recorded
/// by a proxy in front of the server it forwards them to.
type Sent = std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>;

/// A proxy on a free port that records each request and forwards it to `server`.
async fn recording_proxy(server: String) -> (String, Sent) {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, Uri};
    let sent = Sent::default();
    let record = sent.clone();
    let http = reqwest::Client::new();
    let forward = move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let (record, http, server) = (record.clone(), http.clone(), server.clone());
        async move {
            let target = format!("{method} {}", uri.path());
            record
                .lock()
                .unwrap()
                .push((target, String::from_utf8_lossy(&body).into_owned()));
            let mut request = http.request(
                method,
                format!(
                    "{server}{}",
                    uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
                ),
            );
            for name in ["authorization", "content-type"] {
                if let Some(value) = headers.get(name) {
                    request = request.header(name, value.as_bytes());
                }
            }
            let answer = request.body(body).send().await.unwrap();
            let status = axum::http::StatusCode::from_u16(answer.status().as_u16()).unwrap();
            (status, answer.bytes().await.unwrap())
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(forward);
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, sent)
}

/// The bodies of the requests sent to `target` ("METHOD /path").
fn sent_to(sent: &Sent, target: &str) -> Vec<String> {
    sent.lock()
        .unwrap()
        .iter()
        .filter(|(t, _)| t == target)
        .map(|(_, body)| body.clone())
        .collect()
}

fn uploads(sent: &Sent) -> Vec<String> {
    sent_to(sent, "POST /agent/v1/activity")
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn relay_sends_only_what_the_capture_policy_keeps() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let (proxy, sent) = recording_proxy(server.base.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let (status, body) = c.put("/admin/v1/privacy", &json!({"capture": "off"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (mut relay, port) = start_relay(&proxy, &account.creds.api_key, dir.path()).await;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("http://127.0.0.1:{port}/api/0/{p}");
    let bucket = json!({"client": "aw-watcher-window", "hostname": "h", "type": "currentwindow"});
    let r = http
        .post(url("buckets/w"))
        .json(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let day = Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .yesterday()
        .unwrap();
    let window = |at: &str, app: &str, title: &str, link: &str| {
        json!({"timestamp": format!("{day}T{at}Z"), "duration": 60,
               "data": {"app": app, "title": title, "url": link}})
    };

    // Under `off` the relay asks, drops the batch, and sends nothing.
    let events = json!([window(
        "09:00:00",
        "slack",
        "DM with ana@corp.example",
        "https://corp.slack.com/archives/D1"
    )]);
    let r = http
        .post(url("buckets/w/events"))
        .json(&events)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    until("the relay to ask for the capture", || {
        !sent_to(&sent, "GET /agent/v1/capture").is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(uploads(&sent).is_empty(), "{:?}", uploads(&sent));

    // Under `domains` the title and the URL's path never leave the computer.
    let (status, body) = c
        .put("/admin/v1/privacy", &json!({"capture": "domains"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = json!([
        window(
            "10:00:00",
            "chrome",
            "Q3 layoffs plan - Google Docs",
            "https://docs.google.com/document/d/SECRETDOC/edit"
        ),
        window(
            "10:01:00",
            "chrome",
            "Q3 layoffs plan - Google Docs",
            "https://docs.google.com/document/d/SECRETDOC/edit"
        ),
    ]);
    let r = http
        .post(url("buckets/w/events"))
        .json(&events)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    until("an upload", || !uploads(&sent).is_empty()).await;
    let bodies = uploads(&sent).join("\n");
    for secret in ["layoffs", "SECRETDOC", "ana@corp", "slack"] {
        assert!(!bodies.contains(secret), "{secret} was sent: {bodies}");
    }
    let upload: Value = serde_json::from_str(&uploads(&sent)[0]).unwrap();
    let records = upload["records"].as_array().unwrap();
    assert!(!records.is_empty(), "{upload}");
    for record in records {
        assert_eq!(record["description"], "", "{record}");
        assert_eq!(record["url"], "docs.google.com", "{record}");
    }

    // The server holds the uploaded minutes of chrome, and nothing of slack.
    let (status, body) = c
        .get(&format!(
            "/reports/v2/activitylog?startDate={day}&endDate={day}&pageSize=1000"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let apps: Vec<&str> = body["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["executable"].as_str().unwrap_or_default())
        .collect();
    assert!(
        !apps.is_empty() && apps.iter().all(|a| *a == "chrome"),
        "{body}"
    );
    relay.kill().await.unwrap();
}
