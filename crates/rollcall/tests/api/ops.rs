//! Operations (issue 16, SPEC §12): `rollcall backup` while a server ingests,
//! `restore` into a new directory, `rekey`; and for PostgreSQL a `pg_dump` →
//! `pg_restore` round trip. The embedded tests run real `rollcall` processes
//! on a data directory; on PostgreSQL they are skipped (and say so), and the
//! dump test runs instead.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp, ToSpan};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{
    postgres_url, required_postgres_url, spawn_listening, with_database, Client, TestDb, TestServer,
};
use crate::foundation::admin_init;

fn rollcall() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// True (after saying why) when the suite runs on PostgreSQL, where the
/// embedded store's commands do not apply.
fn skip_on_postgres(test: &str) -> bool {
    if postgres_url().is_some() {
        eprintln!("{test}: skipped on PostgreSQL (backup/restore/rekey are for the embedded store; pg_dump_round_trip_serves_the_same_reports_on_postgres covers PostgreSQL)");
        return true;
    }
    false
}

/// A `rollcall serve` child process on an embedded data directory.
struct Serve {
    child: tokio::process::Child,
    base: String,
}

impl Serve {
    async fn start(data_dir: &Path, env: &[(&str, &str)]) -> Serve {
        Self::start_args(&["--data-dir", &data_dir.display().to_string()], env).await
    }

    async fn start_args(args: &[&str], env: &[(&str, &str)]) -> Serve {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollcall"));
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "warn")
            .env_remove("ROLLCALL_DB_KEY")
            .stdout(std::process::Stdio::null());
        for (k, v) in env {
            command.env(k, v);
        }
        let (child, base) = spawn_listening(command).await;
        Serve { child, base }
    }

    /// SIGTERM, then wait: the server closes its database cleanly.
    async fn stop(mut self) {
        let pid = self.child.id().unwrap().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        let status = self.child.wait().await.unwrap();
        assert!(status.success(), "{status:?}");
    }
}

/// A data directory with one account (made by `admin init`); returns its API key.
async fn new_data_dir(dir: &Path) -> String {
    let creds = admin_init(&TestDb::Sqlite(dir.to_path_buf()));
    creds["apiKey"].as_str().unwrap().to_string()
}

/// Lifts the rate limit (the ingest task pushes as fast as it can) and adds an
/// app whose one event counts in "Sent an Email".
async fn prepare_account(c: &Client) -> String {
    crate::common::unthrottle_as(c).await;
    // The records are told apart by their window titles.
    crate::common::capture_everything_as(c).await;
    let (status, body) = c
        .post(
            "/services/push/v1/customer/apps",
            &json!({"name": "Mail", "category": "Communication", "sso": false,
                    "events": [{"eventName": "created", "eventType": "Produce", "groups": ["Sent an Email"]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["appId"].as_str().unwrap().to_string()
}

/// Batch `n`: ten usage events, each by its own person, so the users report
/// counts stored events one by one.
fn usage_batch(n: usize) -> (Vec<String>, Value) {
    let now = Timestamp::now().as_millisecond();
    let emails: Vec<String> = (0..10).map(|i| format!("b{n}-e{i}@corp.com")).collect();
    let events: Vec<Value> = emails
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"timestamp": now - 60_000 - i as i64, "email": e, "eventName": "created"}))
        .collect();
    (emails, json!({ "events": events }))
}

/// Batch `n` of agent activity: ten one-second records named `w-<n>-<i>`, each
/// starting at its own second after `base` (a record at the same start on the
/// same computer would be a duplicate).
fn activity_batch(n: usize, base: Timestamp) -> (Vec<String>, Value) {
    let names: Vec<String> = (0..10).map(|i| format!("w-{n}-{i}")).collect();
    let records: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let start = base + SignedDuration::from_secs((n * 10 + i) as i64);
            json!({"start": format!("{start:.0}"), "duration": 1, "executable": "app.exe",
                   "description": d, "idle": false})
        })
        .collect();
    let body = json!({
        "sentAt": format!("{:.0}", Timestamp::now()),
        "computer": {"name": format!("PC-{}", n % 3), "primaryDomain": "corp", "os": "Windows 11",
                     "timeZone": "UTC", "privateIp": "10.0.0.4", "publicIp": "203.0.113.9"},
        "client": {"loginDomain": "CORP", "name": "writer"},
        "session": 1,
        "records": records,
    });
    (names, body)
}

/// What the ingest task had acknowledged, with when each acknowledgement came.
#[derive(Default)]
struct Acknowledged {
    events: Vec<(Instant, Vec<String>)>,
    records: Vec<(Instant, Vec<String>)>,
    slowest: Duration,
}

impl Acknowledged {
    fn before(list: &[(Instant, Vec<String>)], t: Instant) -> BTreeSet<String> {
        list.iter()
            .filter(|(at, _)| *at < t)
            .flat_map(|(_, names)| names.iter().cloned())
            .collect()
    }
}

/// Pushes usage events and agent activity, one batch after another, until told to stop.
async fn ingest(c: Client, app: String, stop: Arc<AtomicBool>) -> Acknowledged {
    let mut acked = Acknowledged::default();
    // Room for 1,000 batches of records before now.
    let base = Timestamp::now() - SignedDuration::from_hours(3);
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) && n < 1000 {
        let (emails, body) = usage_batch(n);
        let sent = Instant::now();
        let (status, reply) = c
            .post(
                &format!("/services/push/v1/customer/apps/{app}/events"),
                &body,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert_eq!(reply["accepted"], 10, "{reply}");
        acked.slowest = acked.slowest.max(sent.elapsed());
        acked.events.push((Instant::now(), emails));
        let (names, body) = activity_batch(n, base);
        let sent = Instant::now();
        let (status, reply) = c.post("/agent/v1/activity", &body).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert_eq!(reply["accepted"], 10, "{reply}");
        acked.slowest = acked.slowest.max(sent.elapsed());
        acked.records.push((Instant::now(), names));
        n += 1;
    }
    acked
}

/// Every user email of the app's users report (all pages).
async fn reported_emails(c: &Client, app: &str) -> BTreeSet<String> {
    let mut emails = BTreeSet::new();
    let mut path = format!("/pull/v1/apps/{app}/users?rollingWindow=30&pageSize=1000");
    loop {
        let (status, body) = c.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for u in body["users"].as_array().unwrap() {
            assert_eq!(u["status"], "Active", "{u}");
            emails.insert(u["email"].as_str().unwrap().to_string());
        }
        match body["nextPageToken"].as_str() {
            Some(next) => {
                path =
                    format!("/pull/v1/apps/{app}/users?rollingWindow=30&pageSize=1000&after={next}")
            }
            None => return emails,
        }
    }
}

/// Every description in the activity log since yesterday (all pages).
async fn logged_records(c: &Client) -> BTreeSet<String> {
    let since = Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .checked_sub(1.day())
        .unwrap();
    let mut seen = BTreeSet::new();
    let mut path = format!("/reports/v2/activitylog?startDate={since}&pageSize=1000");
    loop {
        let (status, body) = c.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page = body["activity"].as_array().unwrap();
        for r in page {
            seen.insert(r["description"].as_str().unwrap().to_string());
        }
        if page.is_empty() {
            return seen;
        }
        path = format!(
            "/reports/v2/activitylog?cursor={}&pageSize=1000",
            body["cursor"].as_str().unwrap()
        );
    }
}

#[tokio::test]
async fn backup_during_ingest_restores_every_acknowledged_write() {
    if skip_on_postgres("backup_during_ingest_restores_every_acknowledged_write") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    let api_key = new_data_dir(&live).await;
    let server = Serve::start(&live, &[]).await;
    let c = Client::new(&server.base, &api_key);
    let app = prepare_account(&c).await;

    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(ingest(c.clone(), app.clone(), stop.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Small, paused steps make the copy last while the writes go on.
    let out = tmp.path().join("backup.rcb");
    let began = Instant::now();
    let backup = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .args(["backup", "--step-pages", "8", "--step-pause-ms", "20"])
        .arg("--data-dir")
        .arg(&live)
        .arg("--out")
        .arg(&out)
        .env_remove("ROLLCALL_DB_KEY")
        .output()
        .await
        .unwrap();
    let ended = Instant::now();
    assert!(backup.status.success(), "{}", text(&backup));
    assert!(text(&backup).contains("encrypted with the data directory's key"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let acked = writer.await.unwrap();
    let during = acked
        .events
        .iter()
        .filter(|(at, _)| *at > began && *at < ended)
        .count();
    assert!(
        during > 0,
        "the backup ({:?}) must overlap acknowledged writes",
        ended - began
    );
    eprintln!(
        "backup took {:?}; {during} usage batches acknowledged meanwhile; slowest write {:?}",
        ended - began,
        acked.slowest
    );
    server.stop().await;

    // Never plaintext: no SQLite header, no email in the bytes.
    let bytes = std::fs::read(&out).unwrap();
    assert!(!bytes.starts_with(b"SQLite format 3"));
    assert!(!bytes.windows(8).any(|w| w == b"corp.com"));

    let restored = tmp.path().join("restored");
    let out_restore = rollcall()
        .args(["restore", "--from"])
        .arg(&out)
        .arg("--data-dir")
        .arg(&restored)
        .arg("--key-file")
        .arg(live.join("rollcall.key"))
        .env_remove("ROLLCALL_DB_KEY")
        .output()
        .unwrap();
    assert!(out_restore.status.success(), "{}", text(&out_restore));
    assert!(
        text(&out_restore).contains("audit chain intact"),
        "{}",
        text(&out_restore)
    );
    let verify = rollcall()
        .args(["audit", "verify", "--data-dir"])
        .arg(&restored)
        .env_remove("ROLLCALL_DB_KEY")
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", text(&verify));

    let server = Serve::start(&restored, &[]).await;
    let c = Client::new(&server.base, &api_key);
    let emails = reported_emails(&c, &app).await;
    let must = Acknowledged::before(&acked.events, began);
    let sent = Acknowledged::before(&acked.events, Instant::now());
    assert!(!must.is_empty());
    let missing: Vec<&String> = must.difference(&emails).collect();
    assert!(
        missing.is_empty(),
        "acknowledged before the backup, lost: {missing:?}"
    );
    assert!(
        emails.is_subset(&sent),
        "the restore holds only written events"
    );
    assert!(
        emails.len() < sent.len(),
        "writes after the backup are not in it"
    );
    let records = logged_records(&c).await;
    let must = Acknowledged::before(&acked.records, began);
    let missing: Vec<&String> = must.difference(&records).collect();
    assert!(missing.is_empty(), "activity lost: {missing:?}");
    eprintln!(
        "restored {} of {} events ({} acknowledged before the backup), {} of {} activity records",
        emails.len(),
        sent.len(),
        Acknowledged::before(&acked.events, began).len(),
        records.len(),
        acked.records.len() * 10
    );
    server.stop().await;
}

#[tokio::test]
async fn restore_refuses_a_live_or_non_empty_directory() {
    if skip_on_postgres("restore_refuses_a_live_or_non_empty_directory") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    new_data_dir(&live).await;
    let out = tmp.path().join("b.rcb");
    let run = |args: &[&str]| {
        rollcall()
            .args(args)
            .env_remove("ROLLCALL_DB_KEY")
            .output()
            .unwrap()
    };
    let backup = run(&[
        "backup",
        "--data-dir",
        live.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(backup.status.success(), "{}", text(&backup));
    // A second backup to the same file is refused: nothing is overwritten.
    let again = run(&[
        "backup",
        "--data-dir",
        live.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    assert!(text(&again).contains("already exists"), "{}", text(&again));

    let key_file = live.join("rollcall.key");
    let server = Serve::start(&live, &[]).await;
    let before = std::fs::read(live.join("rollcall.db")).unwrap();
    let onto_live = run(&[
        "restore",
        "--from",
        out.to_str().unwrap(),
        "--data-dir",
        live.to_str().unwrap(),
        "--key-file",
        key_file.to_str().unwrap(),
    ]);
    assert!(!onto_live.status.success());
    assert!(
        text(&onto_live).contains("is not empty"),
        "{}",
        text(&onto_live)
    );
    assert_eq!(std::fs::read(live.join("rollcall.db")).unwrap(), before);
    server.stop().await;

    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let onto_other = run(&[
        "restore",
        "--from",
        out.to_str().unwrap(),
        "--data-dir",
        other.to_str().unwrap(),
        "--key-file",
        key_file.to_str().unwrap(),
    ]);
    assert!(!onto_other.status.success());
    assert!(text(&onto_other).contains("is not empty"));
    assert_eq!(
        std::fs::read_to_string(other.join("notes.txt")).unwrap(),
        "mine"
    );
    assert_eq!(std::fs::read_dir(&other).unwrap().count(), 1);

    // Without the key, or with another one, nothing is restored.
    let fresh = tmp.path().join("fresh");
    let no_key = run(&[
        "restore",
        "--from",
        out.to_str().unwrap(),
        "--data-dir",
        fresh.to_str().unwrap(),
    ]);
    assert!(!no_key.status.success());
    assert!(text(&no_key).contains("--key-file"), "{}", text(&no_key));
    let wrong = rollcall()
        .args(["restore", "--from"])
        .arg(&out)
        .arg("--data-dir")
        .arg(&fresh)
        .env("ROLLCALL_DB_KEY", "not the key")
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(text(&wrong).contains("with this key"), "{}", text(&wrong));
    assert!(!fresh.join("rollcall.db").exists());

    // A backup under a key of its own (--key-env) restores with that key only.
    let offsite = tmp.path().join("offsite.rcb");
    let backup = rollcall()
        .args(["backup", "--key-env", "OFFSITE_KEY", "--data-dir"])
        .arg(&live)
        .arg("--out")
        .arg(&offsite)
        .env_remove("ROLLCALL_DB_KEY")
        .env("OFFSITE_KEY", "offsite passphrase")
        .output()
        .unwrap();
    assert!(backup.status.success(), "{}", text(&backup));
    assert!(text(&backup).contains("the key in $OFFSITE_KEY"));
    let with_old_key = run(&[
        "restore",
        "--from",
        offsite.to_str().unwrap(),
        "--data-dir",
        fresh.to_str().unwrap(),
        "--key-file",
        key_file.to_str().unwrap(),
    ]);
    assert!(!with_old_key.status.success());
    let restored = rollcall()
        .args(["restore", "--from"])
        .arg(&offsite)
        .arg("--data-dir")
        .arg(&fresh)
        .env("ROLLCALL_DB_KEY", "offsite passphrase")
        .output()
        .unwrap();
    assert!(restored.status.success(), "{}", text(&restored));
    assert!(
        !fresh.join("rollcall.key").exists(),
        "the key stays with the operator"
    );
    let verify = rollcall()
        .args(["audit", "verify", "--data-dir"])
        .arg(&fresh)
        .env("ROLLCALL_DB_KEY", "offsite passphrase")
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", text(&verify));
}

/// The answers of the reports a rekey must not change.
async fn reports(c: &Client, app: &str) -> Vec<Value> {
    let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let week_ago = today.checked_sub(7.days()).unwrap();
    let mut answers = Vec::new();
    for path in [
        "/pull/v3/apps".to_string(),
        format!("/pull/v2/apps/{app}"),
        format!("/pull/v1/apps/{app}/users?rollingWindow=30&pageSize=1000"),
        format!("/pull/v1/apps/{app}/engagement?rollingWindow=7"),
        format!("/pull/v1/apps/{app}/trend?from={week_ago}&to={today}"),
        format!("/reports/v2/workinghours/users?from={week_ago}&to={today}"),
        format!("/reports/v2/workinghours/computers?from={week_ago}&to={today}"),
        format!("/reports/v2/activitylog?startDate={week_ago}&pageSize=1000"),
    ] {
        let (status, body) = c.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        answers.push(json!({"path": path, "body": body}));
    }
    answers
}

/// Opens the database file directly with `pragma_key` and reads its schema.
fn opens_with(data_dir: &Path, pragma_key: &str) -> bool {
    let conn = rusqlite::Connection::open(data_dir.join("rollcall.db")).unwrap();
    conn.execute_batch(&format!("PRAGMA key = {pragma_key};"))
        .unwrap();
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
        .is_ok()
}

#[tokio::test]
async fn rekey_keeps_every_report_and_refuses_a_wrong_old_key() {
    if skip_on_postgres("rekey_keeps_every_report_and_refuses_a_wrong_old_key") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().join("data");
    let api_key = new_data_dir(&dir).await;
    let server = Serve::start(&dir, &[]).await;
    let c = Client::new(&server.base, &api_key);
    let app = prepare_account(&c).await;
    for n in 0..5 {
        let (_, body) = usage_batch(n);
        let (status, reply) = c
            .post(
                &format!("/services/push/v1/customer/apps/{app}/events"),
                &body,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        let (_, body) = activity_batch(n, Timestamp::now() - SignedDuration::from_hours(1));
        let (status, reply) = c.post("/agent/v1/activity", &body).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
    }
    let before = reports(&c, &app).await;

    let rekey = |env: &[(&str, &str)]| {
        let mut command = rollcall();
        command
            .args(["rekey", "--data-dir"])
            .arg(&dir)
            .env_remove("ROLLCALL_DB_KEY")
            .env_remove("ROLLCALL_NEW_DB_KEY");
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().unwrap()
    };
    // A running server has the file open: refused, nothing changed.
    let old_key = std::fs::read_to_string(dir.join("rollcall.key")).unwrap();
    let live = rekey(&[]);
    assert!(!live.status.success());
    assert!(
        text(&live).contains("open in another process"),
        "{}",
        text(&live)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("rollcall.key")).unwrap(),
        old_key
    );
    assert_eq!(reports(&c, &app).await, before);
    server.stop().await;

    let wrong = rekey(&[("ROLLCALL_DB_KEY", "not the key")]);
    assert!(!wrong.status.success());
    assert!(text(&wrong).contains("with this key"), "{}", text(&wrong));
    assert!(opens_with(&dir, &format!("\"x'{old_key}'\"")));

    // A new random key, kept in the key file.
    let done = rekey(&[]);
    assert!(done.status.success(), "{}", text(&done));
    let new_key = std::fs::read_to_string(dir.join("rollcall.key")).unwrap();
    assert_ne!(new_key, old_key);
    assert!(
        !opens_with(&dir, &format!("\"x'{old_key}'\"")),
        "the old key still opens it"
    );
    assert!(opens_with(&dir, &format!("\"x'{new_key}'\"")));
    let server = Serve::start(&dir, &[]).await;
    let c = Client::new(&server.base, &api_key);
    assert_eq!(reports(&c, &app).await, before);
    server.stop().await;

    // A key the operator holds: the key file (old key) goes; serve needs the new key.
    let done = rekey(&[("ROLLCALL_NEW_DB_KEY", "correct horse battery staple")]);
    assert!(done.status.success(), "{}", text(&done));
    assert!(!dir.join("rollcall.key").exists());
    assert!(!opens_with(&dir, &format!("\"x'{new_key}'\"")));
    let server = Serve::start(&dir, &[("ROLLCALL_DB_KEY", "correct horse battery staple")]).await;
    let c = Client::new(&server.base, &api_key);
    assert_eq!(reports(&c, &app).await, before);
    let check = rollcall()
        .args(["audit", "verify", "--data-dir"])
        .arg(&dir)
        .env("ROLLCALL_DB_KEY", "correct horse battery staple")
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check));
    server.stop().await;
}

/// For PostgreSQL: `pg_dump` of a serving database, `pg_restore` into a new
/// one, and a server on the copy answers every report the same.
#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it under scripts/with-postgres.sh"]
async fn pg_dump_round_trip_serves_the_same_reports_on_postgres() {
    let url = required_postgres_url();
    let bin = std::env::var("PG_BIN").expect("PG_BIN (set by scripts/with-postgres.sh)");
    let bin = PathBuf::from(bin);
    let server = TestServer::start().await;
    let TestDb::Postgres(source_url) = server.db.clone() else {
        unreachable!("the suite runs on PostgreSQL")
    };
    let account = server.account().await;
    let c = &account.client;
    let app = prepare_account(c).await;
    for n in 0..5 {
        let (_, body) = usage_batch(n);
        let (status, reply) = c
            .post(
                &format!("/services/push/v1/customer/apps/{app}/events"),
                &body,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        let (_, body) = activity_batch(n, Timestamp::now() - SignedDuration::from_hours(1));
        let (status, reply) = c.post("/agent/v1/activity", &body).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
    }
    let before = reports(c, &app).await;

    // The documented procedure: a custom-format dump taken while serving.
    let tmp = tempfile::tempdir().unwrap();
    let dump = tmp.path().join("rollcall.dump");
    let out = std::process::Command::new(bin.join("pg_dump"))
        .args(["--format=custom", "--no-owner", "--file"])
        .arg(&dump)
        .arg(format!("--dbname={}", source_url))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let name = format!("rc_{}", rollcall_core::secret::random_hex(8));
    crate::common::pg_execute(&url, &format!("CREATE DATABASE {name}")).await;
    let copy_url = with_database(&url, &name);
    let out = std::process::Command::new(bin.join("pg_restore"))
        .args(["--no-owner", "--exit-on-error"])
        .arg(format!("--dbname={copy_url}"))
        .arg(&dump)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));

    let copy = Serve::start_args(&["--database-url", &copy_url], &[]).await;
    let c2 = Client::new(&copy.base, &c.secret);
    assert_eq!(reports(&c2, &app).await, before);
    let verify = rollcall()
        .args(["audit", "verify", "--database-url", &copy_url])
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", text(&verify));
    copy.stop().await;
}
