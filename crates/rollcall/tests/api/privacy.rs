//! The privacy of the people measured (SPEC §11, issue 17): the policy API and
//! its validation and audit, the capture policy applied at ingest (what it drops
//! is found nowhere in the data directory nor in the database's tables), group
//! overrides, redaction with its ingest counters, and title retention.

use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use reqwest::StatusCode;
use rollcall_store::now_ms;
use serde_json::{json, Value};

use crate::common::{self, assert_error, Account, Client, TestDb, TestServer};

fn rfc3339(ts: Timestamp) -> String {
    format!("{ts:.0}")
}

fn hours_ago(h: i64) -> String {
    rfc3339(Timestamp::now() - SignedDuration::from_hours(h))
}

fn batch(user: &str, records: Vec<Value>) -> Value {
    json!({
        "sentAt": rfc3339(Timestamp::now()),
        "computer": {"name": format!("PC-{user}"), "primaryDomain": "corp", "os": "Windows 11",
                     "timeZone": "UTC", "privateIp": "10.0.0.4", "publicIp": "203.0.113.9"},
        "client": {"loginDomain": "CORP", "name": user},
        "session": 1,
        "records": records,
    })
}

fn record(start: &str, exe: &str, title: &str, url: Option<&str>) -> Value {
    json!({"start": start, "duration": 600, "executable": exe, "description": title,
           "url": url, "idle": false})
}

async fn push(client: &Client, body: &Value) -> Value {
    let (status, reply) = client.post("/agent/v1/activity", body).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    reply
}

async fn put_policy(client: &Client, policy: Value) -> Value {
    let (status, body) = client.put("/admin/v1/privacy", &policy).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Every activity-log row of the last ten days.
async fn log_rows(client: &Client) -> Vec<Value> {
    let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let from = today.checked_sub(jiff::Span::new().days(10)).unwrap();
    let (status, body) = client
        .get(&format!(
            "/reports/v2/activitylog?startDate={from}&endDate={today}&pageSize=1000"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["activity"].as_array().unwrap().clone()
}

async fn privacy_events(client: &Client) -> Vec<Value> {
    let now = Timestamp::now();
    let start = now - SignedDuration::from_hours(1);
    let end = now + SignedDuration::from_hours(1);
    let (status, body) = client
        .get(&format!(
            "/services/pull/v1/customer/audit-events?startTime={start:.0}&endTime={end:.0}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["eventType"] == "PrivacyChanged")
        .cloned()
        .collect()
}

#[tokio::test]
async fn the_default_is_domains_and_a_change_is_audited_once() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let (status, body) = c.get("/admin/v1/privacy").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["capture"], "domains");
    assert_eq!(body["titleRetentionDays"], Value::Null);
    assert_eq!(body["recordsRedacted"]["rules"], json!([]));

    let policy = json!({"capture": "full",
        "redaction": [{"match": "glob", "pattern": "ACME-*", "replacement": "[ticket]"}],
        "builtinRedaction": ["emails", "digits", "emails"], "titleRetentionDays": 30});
    let body = put_policy(c, policy.clone()).await;
    assert_eq!(body["capture"], "full");
    assert_eq!(body["builtinRedaction"], json!(["emails", "digits"]));
    assert_eq!(body["redaction"][0]["match"], "glob");
    assert_eq!(body["recordsRedacted"]["rules"], json!([0]));
    assert_eq!(
        body["recordsRedacted"]["builtin"],
        json!({"emails": 0, "digits": 0})
    );
    // The same policy again changes nothing and records nothing.
    put_policy(c, policy).await;
    let events = privacy_events(c).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let p = &events[0]["eventProperties"];
    assert_eq!(p["old"]["capture"], "domains", "{p}");
    assert_eq!(p["new"]["capture"], "full", "{p}");
    assert_eq!(p["new"]["titleRetentionDays"], 30, "{p}");

    // A viewer may not read or change it.
    let (_, viewer) = account.user_with_key("viewer", json!({})).await;
    let (status, body) = viewer.get("/admin/v1/privacy").await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = viewer
        .put("/admin/v1/privacy", &json!({"capture": "off"}))
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_invalid_policy_names_each_problem_and_changes_nothing() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    let (status, body) = c
        .put(
            "/admin/v1/privacy",
            &json!({"capture": "full",
                "redaction": [
                    {"match": "regex", "pattern": "(unclosed"},
                    {"match": "regex", "pattern": "x*"},
                    {"match": "regex", "pattern": "(?:a{1000}){1000}"},
                    {"match": "regex", "pattern": "a".repeat(600)}],
                "titleRetentionDays": 0}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec![
            "titleRetentionDays",
            "redaction[0].pattern",
            "redaction[1].pattern",
            "redaction[2].pattern",
            "redaction[3].pattern"
        ],
        "{body}"
    );
    let messages = body.to_string();
    assert!(
        messages.contains("not a valid regular expression"),
        "{body}"
    );
    assert!(messages.contains("too large"), "{body}");
    assert!(messages.contains("empty text"), "{body}");

    // A group that does not exist, an unknown capture, an unknown field.
    let (status, body) = c
        .put(
            "/admin/v1/privacy",
            &json!({"capture": "apps", "groupOverrides": [{"groupId": 999, "capture": "full"}]}),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.to_string().contains("group 999 does not exist"),
        "{body}"
    );
    for bad in [
        json!({"capture": "everything"}),
        json!({"capture": "full", "shadow": true}),
        json!({"capture": "full", "builtinRedaction": ["names"]}),
        json!({"redaction": []}),
    ] {
        let (status, body) = c.put("/admin/v1/privacy", &bad).await;
        assert!(status.is_client_error(), "{bad}: {status} {body}");
        assert_eq!(body["success"], false, "{body}");
    }
    let (_, body) = c.get("/admin/v1/privacy").await;
    assert_eq!(body["capture"], "domains", "{body}");
    assert!(privacy_events(c).await.is_empty());
}

/// Markers of one account's records: a title, a URL path and a domain, and an
/// executable, each unique to the account's capture.
struct Markers {
    title: String,
    path: String,
    domain: String,
    exe: String,
}

impl Markers {
    fn of(capture: &str) -> Markers {
        let tag = rollcall_core::secret::random_hex(6);
        Markers {
            title: format!("TitleMarker{capture}{tag}"),
            path: format!("PathMarker{capture}{tag}"),
            domain: format!("domainmarker{capture}{tag}.example"),
            exe: format!("exemarker{capture}{tag}.exe"),
        }
    }

    fn record(&self) -> Value {
        let url = format!("https://{}/docs/{}", self.domain, self.path);
        record(&hours_ago(2), &self.exe, &self.title, Some(&url))
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Every byte of every file under `dir`.
fn raw_files(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(raw_files(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.extend(bytes);
        }
    }
    out
}

/// The database's content in plain text: the embedded database decrypted with
/// its key (every page of a plaintext copy, WAL included), or every row of
/// every PostgreSQL table.
async fn plaintext(server: &TestServer) -> Vec<u8> {
    match &server.db {
        TestDb::Sqlite(dir) => {
            let plain_dir = tempfile::tempdir().unwrap();
            let plain = plain_dir.path().join("plain.db");
            let conn = common::open_raw_sqlite(dir);
            conn.execute_batch(&format!(
                "ATTACH DATABASE '{}' AS plaintext KEY '';
                 SELECT sqlcipher_export('plaintext');
                 DETACH DATABASE plaintext;",
                plain.display()
            ))
            .expect("export a plaintext copy");
            std::fs::read(&plain).unwrap()
        }
        TestDb::Postgres(_) => {
            let tables = server
                .db
                .query_text(
                    "SELECT string_agg(table_name, ',') FROM information_schema.tables
                     WHERE table_schema = 'public'",
                )
                .await;
            let mut out = Vec::new();
            for table in tables[0].split(',') {
                let rows = server
                    .db
                    .query_text(&format!(
                        "SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM {table} t"
                    ))
                    .await;
                out.extend(rows[0].as_bytes());
            }
            out
        }
    }
}

#[tokio::test]
async fn what_a_capture_drops_is_stored_nowhere() {
    let server = TestServer::start().await;
    let mut accounts: Vec<(&str, Account, Markers)> = Vec::new();
    for capture in ["full", "domains", "apps", "off"] {
        let account = server.account().await;
        put_policy(&account.client, json!({"capture": capture})).await;
        let markers = Markers::of(capture);
        let reply = push(
            &account.client,
            &batch(&format!("user{capture}"), vec![markers.record()]),
        )
        .await;
        let stored = u64::from(capture != "off");
        assert_eq!(reply["accepted"], stored, "{capture}: {reply}");
        assert_eq!(reply["notCaptured"], 1 - stored, "{capture}: {reply}");
        accounts.push((capture, account, markers));
    }
    let raw = raw_files(&server.data_dir);
    let plain = plaintext(&server).await;
    for (capture, account, m) in &accounts {
        for (what, marker) in [("title", &m.title), ("URL path", &m.path)] {
            assert!(
                !contains(&raw, marker),
                "{capture}: a {what} in the data directory's raw bytes"
            );
            // The control: `full` keeps both, and the plaintext shows them.
            assert_eq!(
                contains(&plain, marker),
                *capture == "full",
                "{capture}: the {what} in the database"
            );
        }
        assert_eq!(
            contains(&plain, &m.domain),
            matches!(*capture, "full" | "domains"),
            "{capture}: the domain in the database"
        );
        assert_eq!(
            contains(&plain, &m.exe),
            *capture != "off",
            "{capture}: the application"
        );
        let rows = log_rows(&account.client).await;
        match *capture {
            "off" => assert!(rows.is_empty(), "{rows:?}"),
            "apps" => {
                assert_eq!(rows[0]["description"], "", "{rows:?}");
                assert_eq!(rows[0]["url"], "", "{rows:?}");
                assert_eq!(rows[0]["websiteId"], Value::Null, "{rows:?}");
            }
            "domains" => {
                assert_eq!(rows[0]["description"], "", "{rows:?}");
                assert_eq!(rows[0]["url"], m.domain.as_str(), "{rows:?}");
                assert!(rows[0]["websiteId"].is_i64(), "{rows:?}");
            }
            _ => assert_eq!(rows[0]["description"], m.title.as_str(), "{rows:?}"),
        }
    }
}

#[tokio::test]
async fn a_group_override_decides_for_its_members_logins() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    put_policy(c, json!({"capture": "apps"})).await;
    // Both logins are seen once, so that one can join a group.
    for user in ["alice", "bob"] {
        push(
            c,
            &batch(user, vec![record(&hours_ago(5), "a.exe", "first", None)]),
        )
        .await;
    }
    let (_, clients) = c.get("/admin/v1/clients").await;
    let alice = clients
        .as_array()
        .or_else(|| clients["clients"].as_array())
        .unwrap()
        .iter()
        .find(|x| x["name"] == "alice")
        .unwrap_or_else(|| panic!("{clients}"))["id"]
        .as_i64()
        .unwrap();
    let (status, group) = c
        .post(
            "/admin/v1/groups",
            &json!({"name": "Consenting", "clients": [alice]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{group}");
    let group_id = group["id"].as_i64().unwrap();
    put_policy(
        c,
        json!({"capture": "apps", "groupOverrides": [{"groupId": group_id, "capture": "full"}]}),
    )
    .await;
    for user in ["alice", "bob"] {
        push(
            c,
            &batch(
                user,
                vec![record(
                    &hours_ago(3),
                    "b.exe",
                    &format!("{user} title"),
                    None,
                )],
            ),
        )
        .await;
    }
    let titles: Vec<String> = log_rows(c)
        .await
        .iter()
        .map(|r| r["description"].as_str().unwrap().to_string())
        .collect();
    assert!(titles.contains(&"alice title".to_string()), "{titles:?}");
    assert!(!titles.iter().any(|t| t.contains("bob")), "{titles:?}");
    assert!(!titles.iter().any(|t| t == "first"), "{titles:?}");

    // What an agent (the relay) is told before it uploads: its login's capture.
    let capture = |name: &str| format!("/agent/v1/capture?loginDomain=CORP&name={name}");
    for (user, expected) in [("alice", "full"), ("bob", "apps"), ("nobody", "apps")] {
        let (status, body) = c.get(&capture(user)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["capture"], expected, "{user}: {body}");
    }
    let (status, body) = c.get("/agent/v1/capture?loginDomain=CORP").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, key) = c
        .post(
            "/admin/v1/credentials",
            &json!({"type": "apiKey", "name": "reader", "scopes": ["report.read"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{key}");
    let reader = Client::new(&c.base, key["apiKey"].as_str().unwrap());
    let (status, body) = reader.get(&capture("alice")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

#[tokio::test]
async fn an_email_in_a_window_title_is_redacted_and_counted_once() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    put_policy(
        c,
        json!({"capture": "full", "builtinRedaction": ["emails"],
               "redaction": [{"match": "glob", "pattern": "ACME-*", "replacement": "[ticket]"},
                             {"match": "regex", "pattern": "never-\\d+"}]}),
    )
    .await;
    let body = batch(
        "carol",
        vec![
            record(
                &hours_ago(4),
                "outlook.exe",
                "Re: offer - jane.doe@customer.example - Outlook",
                None,
            ),
            record(
                &hours_ago(3),
                "chrome.exe",
                "ACME-4711 login bug",
                Some("https://mail.example/?to=bob%40customer.example"),
            ),
            record(&hours_ago(2), "excel.exe", "Budget", None),
        ],
    );
    let reply = push(c, &body).await;
    assert_eq!(reply["accepted"], 3, "{reply}");
    // Sent again: duplicates, not counted again.
    let reply = push(c, &body).await;
    assert_eq!(reply["duplicates"], 3, "{reply}");
    let rows = log_rows(c).await;
    let titles: Vec<&str> = rows
        .iter()
        .map(|r| r["description"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        vec![
            "Re: offer - [email] - Outlook",
            "[ticket] login bug",
            "Budget"
        ],
        "{rows:?}"
    );
    assert_eq!(rows[1]["url"], "https://mail.example/?to=[email]");
    let plain = plaintext(&server).await;
    assert!(!contains(&plain, "jane.doe@customer.example"));
    assert!(!contains(&plain, "ACME-4711"));
    let (_, policy) = c.get("/admin/v1/privacy").await;
    assert_eq!(
        policy["recordsRedacted"]["rules"],
        json!([1, 0]),
        "{policy}"
    );
    assert_eq!(
        policy["recordsRedacted"]["builtin"],
        json!({"emails": 2}),
        "{policy}"
    );
}

#[tokio::test]
async fn title_retention_blanks_old_titles_and_keeps_the_hours() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    account.capture_everything().await;
    let day = 24;
    push(
        c,
        &batch(
            "dave",
            vec![
                record(
                    &hours_ago(8 * day),
                    "word.exe",
                    "Old draft",
                    Some("https://old.example/a"),
                ),
                record(
                    &hours_ago(6 * day),
                    "chrome.exe",
                    "Old news",
                    Some("https://news.example/x"),
                ),
                record(
                    &hours_ago(3),
                    "word.exe",
                    "New draft",
                    Some("https://new.example/b"),
                ),
            ],
        ),
    )
    .await;
    let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let from = today.checked_sub(jiff::Span::new().days(10)).unwrap();
    let hours_query = format!("/reports/v2/workinghours/users?from={from}&to={today}");
    let (status, hours_before) = c.get(&hours_query).await;
    assert_eq!(status, StatusCode::OK, "{hours_before}");
    let body = put_policy(c, json!({"capture": "full", "titleRetentionDays": 5})).await;
    assert_eq!(body["titleRetentionDays"], 5);
    server.store.maintenance(now_ms()).await.unwrap();
    let rows = log_rows(c).await;
    let texts: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["description"].as_str().unwrap(),
                r["url"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        texts,
        vec![("", ""), ("", ""), ("New draft", "https://new.example/b")],
        "{rows:?}"
    );
    // Websites stay: the old record is still classified by its domain.
    assert!(rows[1]["websiteId"].is_i64(), "{rows:?}");
    let (_, hours_after) = c.get(&hours_query).await;
    assert_eq!(hours_before, hours_after);
    let plain = plaintext(&server).await;
    assert!(!contains(&plain, "Old draft"));

    // A late record older than the retention loses its title at ingest.
    let reply = push(
        c,
        &batch(
            "dave",
            vec![record(&hours_ago(7 * day), "word.exe", "Late draft", None)],
        ),
    )
    .await;
    assert_eq!(reply["accepted"], 1);
    let rows = log_rows(c).await;
    assert!(
        rows.iter().all(|r| r["description"] != "Late draft"),
        "{rows:?}"
    );
}

/// Each distinct title and URL is stored once per account (issue 18 #6): when
/// activity retention, title retention or deleting a client leaves no record
/// naming one, it is deleted with them, while one other records still name
/// stays; a title sent again after its deletion is stored again.
#[tokio::test]
async fn a_title_no_record_names_any_more_is_deleted() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let c = &account.client;
    account.capture_everything().await;
    let tag = rollcall_core::secret::random_hex(6);
    let [ancient, shared, old_only, erins] =
        ["Ancient", "Shared", "OldOnly", "Erins"].map(|t| format!("{t}Title{tag}"));
    let old_url = format!("https://old.example/OldPath{tag}");
    let erins_url = format!("https://erin.example/ErinPath{tag}");
    let day = 24;
    push(
        c,
        &batch(
            "dave",
            vec![
                record(&hours_ago(40 * day), "word.exe", &ancient, None),
                record(&hours_ago(8 * day), "word.exe", &shared, Some(&old_url)),
                record(&hours_ago(7 * day), "word.exe", &old_only, Some(&old_url)),
                record(&hours_ago(3), "word.exe", &shared, None),
            ],
        ),
    )
    .await;
    push(
        c,
        &batch(
            "erin",
            vec![record(&hours_ago(2), "excel.exe", &erins, Some(&erins_url))],
        ),
    )
    .await;
    let plain = plaintext(&server).await;
    for s in [&ancient, &shared, &old_only, &old_url, &erins, &erins_url] {
        assert!(contains(&plain, s), "{s} stored");
    }

    account.settings(json!({"activityRetentionDays": 30})).await;
    put_policy(c, json!({"capture": "full", "titleRetentionDays": 5})).await;
    server.store.maintenance(now_ms()).await.unwrap();
    let plain = plaintext(&server).await;
    for s in [&ancient, &old_only, &old_url] {
        assert!(!contains(&plain, s), "{s} is named by no record any more");
    }
    assert!(contains(&plain, &shared), "a newer record names it");
    let texts: Vec<String> = log_rows(c)
        .await
        .iter()
        .map(|r| r["description"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts, ["", "", shared.as_str(), erins.as_str()]);

    let (_, clients) = c.get("/admin/v1/clients").await;
    let erin = clients["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "erin")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (status, body) = c.delete(&format!("/admin/v1/clients/{erin}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let plain = plaintext(&server).await;
    assert!(!contains(&plain, &erins), "the deleted client's title");
    assert!(!contains(&plain, &erins_url), "the deleted client's URL");
    assert!(contains(&plain, &shared));

    // The same strings sent again (by another client) are stored again.
    let reply = push(
        c,
        &batch(
            "frank",
            vec![record(&hours_ago(1), "excel.exe", &erins, Some(&erins_url))],
        ),
    )
    .await;
    assert_eq!(reply["accepted"], 1);
    let rows = log_rows(c).await;
    let last = rows.last().unwrap();
    assert_eq!(
        (last["description"].as_str(), last["url"].as_str()),
        (Some(erins.as_str()), Some(erins_url.as_str())),
        "{rows:?}"
    );
}
