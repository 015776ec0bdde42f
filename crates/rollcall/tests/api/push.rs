//! `rollcall push` (SPEC §10.3), the real binary against a running server: a
//! million-line NDJSON file with bad lines named, stored once, a re-run all
//! duplicates; an interrupted push resumed; CSV with nested headers, activity
//! batches per agent, the org chart; 429 answers waited out.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{Client, TestServer};

const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

async fn mail_app(c: &Client) -> String {
    let (status, body) = c
        .post(
            "/services/push/v1/customer/apps",
            &json!({"name": "Mail", "events": [
                {"eventName": "created", "eventType": "Produce"},
                {"eventName": "opened", "eventType": "Consume"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["appId"].as_str().unwrap().to_string()
}

fn push_command(
    server: &TestServer,
    key: &str,
    args: &[&str],
    file: &Path,
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollcall"));
    command
        .arg("push")
        .args(args)
        .arg(file)
        .args(["--server", &server.base, "--api-key", key, "--json"])
        .kill_on_drop(true);
    command
}

/// Runs a push to the end; its JSON summary.
async fn push(server: &TestServer, key: &str, args: &[&str], file: &Path) -> (Output, Value) {
    let output = push_command(server, key, args, file)
        .output()
        .await
        .unwrap();
    let summary = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "no summary: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output, summary)
}

async fn stored_events(server: &TestServer) -> i64 {
    server
        .db
        .query_text("SELECT CAST(count(*) AS TEXT) FROM usage_events")
        .await[0]
        .parse()
        .unwrap()
}

/// `n` event lines; the lines in `bad` (1-based) are broken in four ways.
fn write_events(path: &Path, n: usize, base_ms: i64) -> Vec<u64> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let bad = [10usize, n / 2, n * 7 / 9, n];
    for i in 1..=n {
        let ts = base_ms + i as i64 * 1000;
        let email = format!("user{}@corp.example", i % 1000);
        let name = if i % 2 == 0 { "created" } else { "opened" };
        if i == bad[0] {
            writeln!(out, "{{\"timestamp\": {ts}, \"email\": ").unwrap();
        } else if i == bad[1] {
            writeln!(
                out,
                r#"{{"timestamp":{ts},"email":"{email}","eventName":"nope"}}"#
            )
            .unwrap();
        } else if i == bad[2] {
            writeln!(out, r#"{{"timestamp":{ts},"eventName":"{name}"}}"#).unwrap();
        } else if i == bad[3] {
            let future = now_ms() + 10 * DAY_MS;
            writeln!(
                out,
                r#"{{"timestamp":{future},"email":"{email}","eventName":"{name}"}}"#
            )
            .unwrap();
        } else {
            writeln!(
                out,
                r#"{{"timestamp":{ts},"email":"{email}","eventName":"{name}"}}"#
            )
            .unwrap();
        }
    }
    bad.iter().map(|&b| b as u64).collect()
}

#[tokio::test]
async fn push_a_million_events_names_bad_lines_stores_once_and_a_rerun_is_all_duplicates() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let app = mail_app(&account.client).await;
    let key = account.creds.api_key.clone();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.ndjson");
    const N: usize = 1_000_000;
    let bad = write_events(&file, N, now_ms() - 15 * DAY_MS);

    let started = Instant::now();
    let (output, summary) = push(&server, &key, &["events", "--app", &app], &file).await;
    let first = started.elapsed();
    assert_eq!(
        output.status.code(),
        Some(2),
        "rejected lines make exit code 2"
    );
    assert_eq!(summary["accepted"], (N - 4) as u64, "{summary}");
    assert_eq!(summary["duplicates"], 0, "{summary}");
    assert_eq!(summary["rejectedCount"], 4, "{summary}");
    let lines: Vec<u64> = summary["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, bad, "{summary}");
    let messages: Vec<&str> = summary["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["message"].as_str().unwrap())
        .collect();
    assert!(messages[0].contains("not JSON"), "{messages:?}");
    assert!(messages[1].contains("eventName"), "{messages:?}");
    assert!(messages[2].contains("email"), "{messages:?}");
    assert!(messages[3].contains("timestamp"), "{messages:?}");
    assert_eq!(stored_events(&server).await, (N - 4) as i64);
    assert!(!dir.path().join("events.ndjson.rollcall-push").exists());

    let started = Instant::now();
    let (_, again) = push(&server, &key, &["events", "--app", &app], &file).await;
    let second = started.elapsed();
    assert_eq!(again["accepted"], 0, "{again}");
    assert_eq!(again["duplicates"], (N - 4) as u64, "{again}");
    assert_eq!(again["rejectedCount"], 4, "{again}");
    assert_eq!(stored_events(&server).await, (N - 4) as i64);
    eprintln!(
        "push of {N} lines: {:.1} s ({:.0} events/s), re-run {:.1} s",
        first.as_secs_f64(),
        N as f64 / first.as_secs_f64(),
        second.as_secs_f64()
    );
}

#[tokio::test]
async fn an_interrupted_push_resumes_where_it_was_acknowledged() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let app = mail_app(&account.client).await;
    let key = account.creds.api_key.clone();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.ndjson");
    const N: usize = 60_000;
    write_events(&file, N, now_ms() - 5 * DAY_MS);
    let state = dir.path().join("events.ndjson.rollcall-push");

    let mut child = push_command(
        &server,
        &key,
        &["events", "--app", &app, "--concurrency", "2"],
        &file,
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !state.exists() {
        assert!(Instant::now() < deadline, "no resume state was written");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().await.unwrap();
    let saved: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let line = saved["line"].as_u64().unwrap();
    assert!(line > 0 && line < N as u64, "{saved}");

    let (_, summary) = push(&server, &key, &["events", "--app", &app], &file).await;
    assert_eq!(summary["resumedFromLine"], line, "{summary}");
    let good = (N - 4) as u64;
    assert_eq!(
        summary["accepted"].as_u64().unwrap() + summary["duplicates"].as_u64().unwrap(),
        good,
        "{summary}"
    );
    assert_eq!(summary["rejectedCount"], 4, "{summary}");
    assert_eq!(stored_events(&server).await, good as i64);
    assert!(!state.exists(), "a finished push removes its state");
}

#[tokio::test]
async fn push_csv_activity_and_org_chart_and_wait_out_rate_limits() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let app = mail_app(c).await;
    let key = account.creds.api_key.clone();
    let dir = tempfile::tempdir().unwrap();

    // Two requests a second: 12 batches must wait for Retry-After, and all arrive.
    account
        .settings(json!({"rateLimit": {"perSecond": 2, "burst": 2}}))
        .await;
    let csv = dir.path().join("events.csv");
    let base = now_ms() - DAY_MS;
    let mut text = String::from("timestamp,email,eventName\n");
    for i in 0..12_000 {
        text.push_str(&format!("{},u{}@corp.example,created\n", base + i, i % 7));
    }
    std::fs::write(&csv, text).unwrap();
    let (output, summary) = push(&server, &key, &["events", "--app", &app], &csv).await;
    assert!(output.status.success(), "{summary}");
    assert_eq!(summary["accepted"], 12_000, "{summary}");
    assert!(
        summary["seconds"].as_f64().unwrap() >= 3.0,
        "it waited: {summary}"
    );
    // The push emptied the bucket this credential shares with the admin client:
    // let it refill (2 a second) before the settings call.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    account
        .settings(json!({"rateLimit": {"perSecond": 1000, "burst": 1000}}))
        .await;
    account.capture_everything().await;

    // Activity: lines of two agents batch per agent; CSV headers with dots nest.
    let activity = dir.path().join("activity.csv");
    let day = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .yesterday()
        .unwrap();
    let mut text = String::from("computer.name,computer.timeZone,client.loginDomain,client.name,session,start,duration,executable,description,idle\n");
    for (i, (pc, user)) in [
        ("LT-1", "ana"),
        ("LT-1", "ana"),
        ("LT-2", "bob"),
        ("LT-1", "ana"),
    ]
    .iter()
    .enumerate()
    {
        text.push_str(&format!(
            "{pc},UTC,CORP,{user},1,{day}T09:{:02}:00Z,600,outlook.exe,\"Inbox, unread\",false\n",
            i * 10
        ));
    }
    std::fs::write(&activity, text).unwrap();
    let (output, summary) = push(&server, &key, &["activity"], &activity).await;
    assert!(output.status.success(), "{summary}");
    assert_eq!(summary["accepted"], 4, "{summary}");
    let (status, body) = c
        .get(&format!(
            "/reports/v2/workinghours/users?from={day}&to={day}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut seconds: Vec<(String, i64)> = body["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["user"].as_str().unwrap().to_string(),
                r["totalTime"].as_i64().unwrap(),
            )
        })
        .collect();
    seconds.sort();
    assert_eq!(
        seconds,
        vec![("CORP\\ana".into(), 1800), ("CORP\\bob".into(), 600)]
    );

    // The org chart from NDJSON: a snapshot filled and made current.
    let org = dir.path().join("org.ndjson");
    std::fs::write(
        &org,
        "{\"email\": \"ana@corp.example\", \"firstName\": \"Ana\", \"team\": \"Sales\"}\n\
         {\"email\": \"bob@corp.example\", \"firstName\": \"Bob\", \"team\": \"Support\"}\n\
         {\"email\": \"not an email\"}\n",
    )
    .unwrap();
    let (output, summary) = push(&server, &key, &["org-chart"], &org).await;
    assert_eq!(output.status.code(), Some(2), "{summary}");
    assert_eq!(summary["rejected"][0]["line"], 3, "{summary}");
    assert_eq!(summary["accepted"], 2, "{summary}");

    // Contracts go as CSV uploads; the server's line numbers map back to the file's.
    let contracts = dir.path().join("contracts.csv");
    std::fs::write(
        &contracts,
        format!(
            "contractId,appId,vendor,startDate,endDate,licensesPurchased,annualCost,currency\n\
             C1,{app},Acme,2026-01-01,2026-12-31,10,1000,USD\n\
             C2,{app},Acme,soon,2026-12-31,10,1000,USD\n\
             C3,{app},Acme,2026-02-01,2027-01-31,5,500,EUR\n"
        ),
    )
    .unwrap();
    let (output, summary) = push(&server, &key, &["contracts"], &contracts).await;
    assert_eq!(output.status.code(), Some(2), "{summary}");
    assert_eq!(summary["rejected"][0]["line"], 3, "{summary}");
    assert_eq!(summary["rejectedCount"], 1, "{summary}");
    assert_eq!(summary["accepted"], 2, "{summary}");
    let (_, listed) = c.get("/services/push/v1/customer/contracts").await;
    assert_eq!(listed["contracts"].as_array().unwrap().len(), 2, "{listed}");

    // A wrong key stops at once with the server's reason.
    let (output, _) = (
        push_command(&server, "nope", &["events", "--app", &app], &csv)
            .output()
            .await
            .unwrap(),
        (),
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("401"));
}
