//! Upgrades (issue 16 item 4, SPEC §12): a database written by an earlier
//! version is migrated at start without loss.
//!
//! The earlier version's data lives in `tests/fixtures/upgrade/` as text made by
//! `scripts/make-upgrade-fixture.sh`: that script builds the `rollcall` binary of
//! an older commit, fills a data set through its public API, and writes the SQL
//! dump of its embedded database, a `pg_dump` of its PostgreSQL database, the
//! credentials `admin init` printed, and the JSON answer of every report that
//! old binary gave. The test loads the dump of the suite's backend into a fresh
//! database, starts THIS binary on it, and asks every report again.
//!
//! "The same" follows SPEC §4: fields may be added, not renamed. Every field the
//! old version answered must come back with the same value and every array with
//! the same elements in the same order; a field the new version adds is allowed
//! (and named on stderr).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use rusqlite::types::ValueRef;
use serde_json::{json, Value};

use crate::common::{spawn_listening, Client, TestDb};

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade")
}

fn read_json(name: &str) -> Value {
    let path = fixture_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------- dump and load

/// A SQL text dump of an embedded (SQLCipher) database, in the spirit of the
/// sqlite3 shell's `.dump` (which cannot read an encrypted file): the schema
/// version, tables, rows with their rowids, `sqlite_sequence`, then indexes and
/// triggers, so loading it fires no trigger and rebuilds every index.
pub fn dump_embedded(data_dir: &Path) -> String {
    let conn = crate::common::open_raw_sqlite(data_dir);
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    let objects: Vec<(String, String, Option<String>)> = conn
        .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY rowid")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = String::new();
    writeln!(
        out,
        "-- Rollcall embedded database dump; load with PRAGMA key set."
    )
    .unwrap();
    writeln!(out, "PRAGMA user_version = {version};").unwrap();
    writeln!(out, "BEGIN TRANSACTION;").unwrap();
    for (kind, name, sql) in &objects {
        if kind == "table" && !name.starts_with("sqlite_") {
            writeln!(out, "{};", sql.as_deref().unwrap()).unwrap();
        }
    }
    for (kind, name, sql) in &objects {
        if kind != "table" || name.starts_with("sqlite_") {
            continue;
        }
        let rowid = !sql
            .as_deref()
            .unwrap()
            .to_ascii_uppercase()
            .contains("WITHOUT ROWID");
        dump_rows(&conn, name, rowid, &mut out);
    }
    if objects.iter().any(|(_, name, _)| name == "sqlite_sequence") {
        writeln!(out, "DELETE FROM sqlite_sequence;").unwrap();
        dump_rows(&conn, "sqlite_sequence", false, &mut out);
    }
    for (kind, _, sql) in &objects {
        if let ("index" | "trigger" | "view", Some(sql)) = (kind.as_str(), sql) {
            writeln!(out, "{sql};").unwrap();
        }
    }
    writeln!(out, "COMMIT;").unwrap();
    out
}

fn dump_rows(conn: &rusqlite::Connection, table: &str, rowid: bool, out: &mut String) {
    let quoted = format!("\"{}\"", table.replace('"', "\"\""));
    let columns: Vec<String> = conn
        .prepare(&format!("PRAGMA table_info({quoted})"))
        .unwrap()
        .query_map([], |r| r.get::<_, String>(1))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut names: Vec<String> = columns
        .iter()
        .map(|c| format!("\"{}\"", c.replace('"', "\"\"")))
        .collect();
    if rowid {
        names.insert(0, "rowid".into());
    }
    let list = names.join(",");
    let order = if rowid { " ORDER BY rowid" } else { "" };
    let mut stmt = conn
        .prepare(&format!("SELECT {list} FROM {quoted}{order}"))
        .unwrap();
    let mut rows = stmt.query([]).unwrap();
    while let Some(row) = rows.next().unwrap() {
        let values: Vec<String> = (0..names.len())
            .map(|i| sql_literal(row.get_ref(i).unwrap()))
            .collect();
        writeln!(
            out,
            "INSERT INTO {quoted}({list}) VALUES({});",
            values.join(",")
        )
        .unwrap();
    }
}

fn sql_literal(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) if f.is_infinite() => if f > 0.0 { "1e999" } else { "-1e999" }.into(),
        // `{:?}` is the shortest text that reads back as the same double.
        ValueRef::Real(f) => format!("{f:?}"),
        ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) if !text.contains('\0') => format!("'{}'", text.replace('\'', "''")),
            _ => format!("CAST(X'{}' AS TEXT)", hex(bytes)),
        },
        ValueRef::Blob(bytes) => format!("X'{}'", hex(bytes)),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes the dump into a new, encrypted database in `data_dir` under a new
/// key (kept in the directory's key file, as `serve` would have made it).
fn load_embedded(data_dir: &Path, dump: &str) {
    let key = rollcall_core::secret::random_hex(32);
    std::fs::write(data_dir.join("rollcall.key"), &key).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            data_dir.join("rollcall.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    let conn = crate::common::open_raw_sqlite(data_dir);
    conn.execute_batch(dump).expect("the dump loads");
}

/// Loads a plain-text `pg_dump` with `psql`, stopping at the first error.
fn load_postgres(url: &str, dump: &Path) {
    let psql = std::env::var("PG_BIN")
        .map(|bin| PathBuf::from(bin).join("psql"))
        .unwrap_or_else(|_| PathBuf::from("psql"));
    let out = std::process::Command::new(&psql)
        .args(["-q", "-X", "-v", "ON_ERROR_STOP=1", "-d", url, "-f"])
        .arg(dump)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", psql.display()));
    assert!(
        out.status.success(),
        "psql -f {}: {}",
        dump.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Not a test of the product: `scripts/make-upgrade-fixture.sh` runs it to dump
/// the embedded database the old binary wrote
/// (`ROLLCALL_UPGRADE_DUMP_FROM=<data dir> ROLLCALL_UPGRADE_DUMP_TO=<file>`).
#[test]
#[ignore = "run by scripts/make-upgrade-fixture.sh"]
fn write_embedded_dump() {
    let from = std::env::var("ROLLCALL_UPGRADE_DUMP_FROM").expect("ROLLCALL_UPGRADE_DUMP_FROM");
    let to = std::env::var("ROLLCALL_UPGRADE_DUMP_TO").expect("ROLLCALL_UPGRADE_DUMP_TO");
    std::fs::write(&to, dump_embedded(Path::new(&from))).unwrap();
}

// ---------------------------------------------------------------- comparison

/// Where `new` differs from `old`, with fields `new` adds allowed; each
/// difference is a line with its JSON path.
fn differences(path: &str, old: &Value, new: &Value, added: &mut Vec<String>) -> Vec<String> {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut out = Vec::new();
            for (k, v) in o {
                match n.get(k) {
                    Some(nv) => out.extend(differences(&format!("{path}.{k}"), v, nv, added)),
                    None => out.push(format!("{path}.{k}: missing (was {v})")),
                }
            }
            added.extend(
                n.keys()
                    .filter(|k| !o.contains_key(*k))
                    .map(|k| format!("{path}.{k}")),
            );
            out
        }
        (Value::Array(o), Value::Array(n)) if o.len() == n.len() => o
            .iter()
            .zip(n)
            .enumerate()
            .flat_map(|(i, (a, b))| differences(&format!("{path}[{i}]"), a, b, added))
            .collect(),
        (Value::Array(o), Value::Array(n)) => vec![format!(
            "{path}: {} elements, was {}: {new} (was {old})",
            n.len(),
            o.len()
        )],
        // 2.0 and 2 are one number to a JSON client.
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => vec![],
        _ if old == new => vec![],
        _ => vec![format!("{path}: {new} (was {old})")],
    }
}

#[test]
fn differences_allow_added_fields_and_nothing_else() {
    let old = json!({"a": 1, "b": [{"x": "y"}], "c": null});
    let mut added = Vec::new();
    let same = json!({"a": 1.0, "b": [{"x": "y", "z": 2}], "c": null, "d": true});
    assert!(differences("", &old, &same, &mut added).is_empty());
    assert_eq!(added, vec![".b[0].z", ".d"]);
    for changed in [
        json!({"a": 2, "b": [{"x": "y"}], "c": null}),
        json!({"a": 1, "b": [{"x": "y"}, {"x": "y"}], "c": null}),
        json!({"a": 1, "b": [{"x": "Y"}], "c": null}),
        json!({"a": 1, "b": [{"x": "y"}]}),
        json!({"a": "1", "b": [{"x": "y"}], "c": null}),
    ] {
        assert!(
            !differences("", &old, &changed, &mut added).is_empty(),
            "{changed}"
        );
    }
}

/// The audit API refuses a start older than 180 days (SPEC §6), so the audit
/// events of the fixture's making can be asked for only while it is younger.
fn audit_window_passed(path: &str) -> bool {
    let Some(start) = path
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("startTime="))
    else {
        return false;
    };
    let start: jiff::Timestamp = start.parse().expect("startTime");
    jiff::Timestamp::now().duration_since(start) > jiff::SignedDuration::from_hours(24 * 175)
}

/// Asks every recorded report again; panics listing every difference.
async fn same_reports(c: &Client, recorded: &Value) {
    let mut problems = Vec::new();
    let mut added = Vec::new();
    let mut asked = 0;
    for entry in recorded.as_array().expect("a list of reports") {
        let path = entry["path"].as_str().unwrap();
        if path.starts_with("/services/pull/v1/customer/audit-events") && audit_window_passed(path)
        {
            eprintln!("{path}: not compared, the fixture is older than the audit API's 180 days");
            continue;
        }
        asked += 1;
        let (status, body) = c.get(path).await;
        if status.as_u16() as u64 != entry["status"].as_u64().unwrap() {
            problems.push(format!(
                "GET {path}: {status}, was {}: {body}",
                entry["status"]
            ));
            continue;
        }
        let mut new_fields = Vec::new();
        for d in differences("", &entry["body"], &body, &mut new_fields) {
            problems.push(format!("GET {path}: {d}"));
        }
        added.extend(new_fields.into_iter().map(|f| format!("GET {path}: {f}")));
    }
    for a in &added {
        eprintln!("field added since the fixture: {a}");
    }
    assert!(asked >= 40, "only {asked} reports recorded");
    assert!(
        problems.is_empty(),
        "{} of {asked} reports answer differently after the upgrade:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

// ---------------------------------------------------------------- the test

/// How many migrations the database records as applied.
async fn schema_version(db: &TestDb) -> i64 {
    let sql = match db {
        TestDb::Sqlite(_) => "SELECT CAST(user_version AS TEXT) FROM pragma_user_version",
        TestDb::Postgres(_) => "SELECT count(*)::text FROM schema_migrations",
    };
    db.query_text(sql).await[0].parse().unwrap()
}

/// `rollcall serve` of THIS build on the loaded database.
async fn serve(db: &TestDb) -> (tokio::process::Child, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollcall"));
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(db.cli_args())
        .env("RUST_LOG", "warn")
        .env_remove("ROLLCALL_DB_KEY")
        .stdout(std::process::Stdio::null());
    spawn_listening(command).await
}

async fn stop(mut child: tokio::process::Child) {
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(child.wait().await.unwrap().success());
}

fn audit_verify(db: &TestDb) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .args(["audit", "verify"])
        .args(db.cli_args())
        .env_remove("ROLLCALL_DB_KEY")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "audit verify: {text}{out:?}");
    assert!(text.contains("audit chain intact"), "{text}");
    text
}

fn events_in(verify: &str) -> u64 {
    verify
        .split_whitespace()
        .nth(3)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{verify}"))
}

/// The id of the fixture's app named `name` (app ids are random per fixture).
fn app_id(recorded: &Value, name: &str) -> String {
    let summaries = &recorded[0]["body"]["apps"];
    summaries
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no app {name} in {summaries}"))["appId"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn data_of_the_earlier_version_serves_the_same_reports_and_takes_new_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::fresh(dir.path().to_path_buf()).await;
    let backend = if db.is_postgres() {
        "postgres"
    } else {
        "embedded"
    };
    match &db {
        TestDb::Sqlite(data_dir) => {
            let dump = std::fs::read_to_string(fixture_dir().join("embedded.sql")).unwrap();
            load_embedded(data_dir, &dump);
        }
        TestDb::Postgres(url) => load_postgres(url, &fixture_dir().join("postgres.sql")),
    }
    let creds = read_json(&format!("{backend}-credentials.json"));
    let recorded = read_json(&format!("{backend}-reports.json"));

    // The new binary migrates the old schema at start and answers as before.
    let old_schema = schema_version(&db).await;
    let (child, base) = serve(&db).await;
    let new_schema = schema_version(&db).await;
    match &db {
        // Every migration of this build has run on the old data.
        TestDb::Postgres(_) => assert_eq!(
            new_schema,
            rollcall_store::postgres::MIGRATION_COUNT as i64,
            "the fixture had {old_schema}"
        ),
        TestDb::Sqlite(_) => assert!(new_schema >= old_schema, "{new_schema} < {old_schema}"),
    }
    let c = Client::new(&base, creds["apiKey"].as_str().unwrap());
    same_reports(&c, &recorded).await;

    // Credentials made by the old version still work: the OAuth client too.
    let response = crate::common::http_client()
        .post(format!("{base}/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", creds["clientId"].as_str().unwrap()),
            ("client_secret", creds["clientSecret"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let token: Value = response.json().await.unwrap();
    let oauth = Client::new(&base, token["access_token"].as_str().unwrap());
    let (status, body) = oauth.get("/pull/v3/apps?asOfDate=2026-11-28").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, c.get("/pull/v3/apps?asOfDate=2026-11-28").await.1);
    stop(child).await;
    let before = events_in(&audit_verify(&db));

    // New writes on the upgraded data: usage for an old app, a late event,
    // agent activity on an old computer, a new app (an audit event chained
    // onto the old ones), and a settings change.
    let (child, base) = serve(&db).await;
    let c = Client::new(&base, creds["apiKey"].as_str().unwrap());
    let mail = app_id(&recorded, "Mail");
    let (status, body) = c
        .post(
            &format!("/services/push/v1/customer/apps/{mail}/events"),
            &json!({"events": [
                // 2026-11-28T15:00Z twice (a duplicate), and a late one of the 10th.
                {"timestamp": 1_795_878_000_000_i64, "email": "new@corp.example", "eventName": "sent"},
                {"timestamp": 1_795_878_000_000_i64, "email": "new@corp.example", "eventName": "sent"},
                {"timestamp": 1_794_322_800_000_i64, "email": "fay@corp.example", "eventName": "read"}
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["accepted"].as_u64(), body["duplicates"].as_u64()),
        (Some(2), Some(1)),
        "{body}"
    );
    let (_, users) = c
        .get(&format!(
            "/pull/v1/apps/{mail}/users?asOfDate=2026-11-28&rollingWindow=30&pageSize=1000"
        ))
        .await;
    let emails: Vec<&str> = users["users"]
        .as_array()
        .unwrap_or_else(|| panic!("{users}"))
        .iter()
        .filter_map(|u| u["email"].as_str())
        .collect();
    assert!(emails.contains(&"new@corp.example"), "{users}");
    assert!(emails.contains(&"fay@corp.example"), "{users}");
    let (status, body) = c
        .post(
            "/agent/v1/activity",
            &json!({"computer": {"name": "LT-001", "primaryDomain": "corp", "os": "Windows 11",
                                 "timeZone": "Europe/Berlin", "privateIp": "10.0.0.4", "publicIp": "203.0.113.9"},
                    "client": {"loginDomain": "CORP", "name": "ana"}, "session": 2,
                    "records": [{"start": "2026-11-28T08:00:00Z", "duration": 600,
                                 "executable": "outlook.exe", "description": "Inbox", "idle": false}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], 1, "{body}");
    let (_, hours) = c
        .get("/reports/v2/workinghours/users?from=2026-11-28&to=2026-11-28")
        .await;
    let day = hours["activity"]
        .as_array()
        .unwrap_or_else(|| panic!("{hours}"));
    assert_eq!(day.len(), 1, "{hours}");
    assert!(hours.to_string().contains("600"), "{hours}");
    let (status, body) = c
        .post(
            "/services/push/v1/customer/apps",
            &json!({"name": "After upgrade", "category": "Other", "sso": false,
                    "events": [{"eventName": "x", "eventType": "Produce"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = c
        .patch("/admin/v1/settings", &json!({"passiveLimitMinutes": 4}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    stop(child).await;
    // The chain goes on from the old events: two more, all intact.
    let after = events_in(&audit_verify(&db));
    assert_eq!(after, before + 2, "{before} events before the writes");
}
