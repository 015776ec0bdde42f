//! Several `rollcall serve` processes on one PostgreSQL database (issue: scale-out):
//! exactly-once ingest through all of them, a cursor that never skips a row
//! another process commits late, one audit chain, revocation and rate limits
//! across processes, and PostgreSQL restarting underneath.
//!
//! These tests need the suite to run on PostgreSQL (`ROLLCALL_TEST_DATABASE_URL`):
//! on the embedded store one process owns its database file. They are ignored
//! unless asked for; `scripts/test.sh` runs them on PostgreSQL.

use std::collections::{BTreeSet, HashSet};

use jiff::Timestamp;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{follow_log, required_postgres_url, Client, TestDb, TestServer};
use crate::foundation::{admin_init, spawn_serve, ServeProcess};

/// Three server processes on one fresh database, and the account's superadmin
/// client on each.
struct Cluster {
    db: TestDb,
    _nodes: Vec<ServeProcess>,
    clients: Vec<Client>,
}

async fn cluster() -> Cluster {
    required_postgres_url();
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::fresh(dir.path().to_path_buf()).await;
    let creds = admin_init(&db);
    let api_key = creds["apiKey"].as_str().unwrap();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(spawn_serve(&db).await);
    }
    let clients: Vec<Client> = nodes
        .iter()
        .map(|n| Client::new(&n.base, api_key))
        .collect();
    crate::common::unthrottle_as(&clients[0]).await;
    Cluster {
        db,
        _nodes: nodes,
        clients,
    }
}

const APP: &str = "/services/push/v1/customer/apps";

async fn create_app(client: &Client) -> String {
    let (status, body) = client
        .post(
            APP,
            &json!({"name": "Mail", "events": [
                {"eventName": "sent", "eventType": "Produce", "groups": ["Sent"]},
                {"eventName": "read", "eventType": "Consume", "groups": ["Read"]}
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["appId"].as_str().unwrap().to_string()
}

/// An org chart of the 97 people the usage batches name, in three teams (through
/// `client`, in one page).
async fn org_chart(client: &Client) {
    let (status, body) = client
        .post(
            "/services/push/v1/customer/org-chart",
            &json!({"orgChartName": "HR", "customFieldsConfig": []}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let users: Vec<Value> = (0..97)
        .map(|i| {
            let team = ["Sales", "Support", "Ops"][i % 3];
            json!({"email": format!("user{i}@corp.com"), "firstName": format!("U{i}"),
                   "lastName": "Person", "team": team})
        })
        .collect();
    let (status, body) = client
        .put(
            &format!("/services/push/v1/customer/org-chart/{}", body["id"]),
            &json!({"hasMore": false, "users": users}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Batch `b` of a deterministic stream of usage events over the last 20 days;
/// neighbouring batches overlap, so some events arrive twice by design.
fn usage_batch(b: usize) -> Vec<Value> {
    let now = rollcall_store::now_ms();
    (0..200)
        .map(|i| {
            let n = b * 150 + i; // 50 events shared with the next batch
            let day = (n % 20) as i64;
            json!({
                "timestamp": now - day * 86_400_000 - (n as i64 % 3600) * 1000,
                "email": format!("user{}@corp.com", n % 97),
                "eventName": if n.is_multiple_of(3) { "read" } else { "sent" },
            })
        })
        .collect()
}

fn usage_key(event: &Value) -> String {
    format!(
        "{}|{}|{}",
        event["timestamp"], event["email"], event["eventName"]
    )
}

/// Batch `b` of activity for computer `b % 4`: 50 one-minute records.
fn activity_batch(b: usize) -> Value {
    let base = Timestamp::now() - jiff::SignedDuration::from_hours(30);
    let records: Vec<Value> = (0..50)
        .map(|i| {
            let n = (b / 4) * 50 + i;
            let start = base + jiff::SignedDuration::from_mins(n as i64);
            json!({"start": format!("{start:.0}"), "duration": 60, "executable": "app.exe",
                   "description": format!("pc{}-{n}", b % 4), "idle": n.is_multiple_of(7)})
        })
        .collect();
    json!({
        "sentAt": format!("{:.0}", Timestamp::now()),
        "computer": {"name": format!("PC-{}", b % 4), "primaryDomain": "corp", "os": "Linux",
                     "timeZone": "Europe/Berlin", "privateIp": "10.0.0.4", "publicIp": "203.0.113.9"},
        "client": {"loginDomain": "CORP", "name": format!("user{}", b % 4)},
        "session": 1,
        "records": records,
    })
}

/// Sends `body` to `path` through every node in turn, each request retried once
/// through the next node (as a client whose first answer was lost would);
/// returns the summed (accepted, duplicates).
async fn push_everywhere(clients: &[Client], path: String, bodies: Vec<Value>) -> (u64, u64) {
    let tasks: Vec<_> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let first = clients[i % clients.len()].clone();
            let retry = clients[(i + 1) % clients.len()].clone();
            let path = path.clone();
            tokio::spawn(async move {
                let (a, b) = tokio::join!(first.post(&path, &body), retry.post(&path, &body));
                let mut sums = (0, 0);
                for (status, reply) in [a, b] {
                    assert_eq!(status, StatusCode::OK, "{reply}");
                    sums.0 += reply["accepted"].as_u64().unwrap();
                    sums.1 += reply["duplicates"].as_u64().unwrap();
                }
                sums
            })
        })
        .collect();
    let mut total = (0, 0);
    for task in tasks {
        let (a, d) = task.await.unwrap();
        total.0 += a;
        total.1 += d;
    }
    total
}

/// The report bodies that must not depend on which process stored the data.
async fn usage_reports(client: &Client, app: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for query in [
        "engagement?group=Sent&rollingWindow=7&by=team",
        "engagement?group=Read&rollingWindow=30&by=team",
        "engagement?rollingWindow=90",
        "inactive-users?group=Sent&rollingWindow=7&population=employees",
    ] {
        let (status, body) = client.get(&format!("/pull/v1/apps/{app}/{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        out.push(without_key(body, "appId"));
    }
    out
}

async fn working_hours(client: &Client) -> Value {
    let day = |hours_ago: i64| {
        (Timestamp::now() - jiff::SignedDuration::from_hours(hours_ago))
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date()
    };
    let (status, body) = client
        .get(&format!(
            "/reports/v2/workinghours/users?from={}&to={}&pageSize=100",
            day(72),
            day(-24)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut rows = body["activity"].as_array().unwrap().clone();
    assert!(!rows.is_empty());
    // Ids and the time logs last arrived differ between databases; names and
    // figures must not.
    for row in &mut rows {
        let row = row.as_object_mut().unwrap();
        for key in ["userid", "computers", "groups", "lastActivityLog"] {
            assert!(row.remove(key).is_some(), "{key} in {row:?}");
        }
    }
    rows.sort_by_key(|r| r.to_string());
    json!(rows)
}

fn without_key(mut value: Value, key: &str) -> Value {
    match &mut value {
        Value::Object(map) => {
            map.remove(key);
            for v in map.values_mut() {
                *v = without_key(v.take(), key);
            }
        }
        Value::Array(items) => {
            for v in items.iter_mut() {
                *v = without_key(v.take(), key);
            }
        }
        _ => {}
    }
    value
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it under scripts/with-postgres.sh"]
async fn pushes_through_three_processes_are_stored_exactly_once() {
    let cluster = cluster().await;
    let c = &cluster.clients;
    let app = create_app(&c[0]).await;
    org_chart(&c[2]).await;

    // Usage: 24 overlapping batches, each sent twice, concurrently, through all three.
    let batches: Vec<Vec<Value>> = (0..24).map(usage_batch).collect();
    let distinct: HashSet<String> = batches.iter().flatten().map(usage_key).collect();
    let sent: u64 = 2 * batches.iter().map(|b| b.len() as u64).sum::<u64>();
    let bodies = batches.iter().map(|b| json!({"events": b})).collect();
    let (accepted, duplicates) = push_everywhere(c, format!("{APP}/{app}/events"), bodies).await;
    assert_eq!(accepted, distinct.len() as u64, "each event accepted once");
    assert_eq!(accepted + duplicates, sent);

    // Activity: 16 batches over 4 computers, each sent twice.
    let bodies: Vec<Value> = (0..16).map(activity_batch).collect();
    let (accepted, duplicates) =
        push_everywhere(c, "/agent/v1/activity".to_string(), bodies.clone()).await;
    assert_eq!(accepted, 16 * 50);
    assert_eq!(duplicates, 16 * 50);

    // One process fed the same data, one batch at a time, answers the same.
    let single = TestServer::start().await;
    let account = single.account().await;
    account.unthrottle().await;
    let s = &account.client;
    let single_app = create_app(s).await;
    org_chart(s).await;
    for batch in &batches {
        let (status, body) = s
            .post(
                &format!("{APP}/{single_app}/events"),
                &json!({"events": batch}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    for body in &bodies {
        let (status, reply) = s.post("/agent/v1/activity", body).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
    }
    let expected = usage_reports(s, &single_app).await;
    assert!(
        expected[0]["total"]["active"].as_u64().unwrap() > 0,
        "{}",
        expected[0]
    );
    for node in c {
        assert_eq!(usage_reports(node, &app).await, expected);
        assert_eq!(working_hours(node).await, working_hours(s).await);
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it under scripts/with-postgres.sh"]
async fn a_cursor_through_one_process_sees_every_record_written_through_others_once() {
    let cluster = cluster().await;
    let c = &cluster.clients;
    // Records are told apart by their window titles.
    crate::common::capture_everything_as(&c[0]).await;
    let start = (Timestamp::now() - jiff::SignedDuration::from_hours(72))
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let (status, body) = c[0]
        .get(&format!(
            "/reports/v2/activitylog?startDate={start}&pageSize=50"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut cursor = body["cursor"].as_str().unwrap().to_string();

    // B and C each run four concurrent agents; many small transactions commit
    // out of the order their rows were numbered in, if numbering were not tied
    // to commit order.
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let client = c[1 + w % 2].clone();
            tokio::spawn(async move {
                let mut written = BTreeSet::new();
                for b in 0..25 {
                    let mut body = activity_batch(w);
                    let records = body["records"].as_array_mut().unwrap();
                    records.truncate(8);
                    for (i, r) in records.iter_mut().enumerate() {
                        let d = format!("w{w}-b{b}-{i}");
                        r["description"] = json!(d);
                        r["start"] = json!(format!(
                            "{:.0}",
                            Timestamp::now()
                                - jiff::SignedDuration::from_mins(600 - (b * 8 + i) as i64)
                                + jiff::SignedDuration::from_secs(w as i64)
                        ));
                        written.insert(d);
                    }
                    let (status, reply) = client.post("/agent/v1/activity", &body).await;
                    assert_eq!(status, StatusCode::OK, "{reply}");
                }
                written
            })
        })
        .collect();
    let seen = follow_log(&c[0], &mut cursor, 50, || {
        writers.iter().all(|w| w.is_finished())
    })
    .await;
    let mut written = BTreeSet::new();
    for w in writers {
        written.extend(w.await.unwrap());
    }
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a record was delivered twice");
    assert_eq!(unique, written, "every record delivered");
}

/// One admin action through `client`: a settings change or a new web user.
async fn admin_action(client: Client, i: usize) -> (StatusCode, Value) {
    if i.is_multiple_of(2) {
        client
            .patch(
                "/admin/v1/settings",
                // A value no other action sets: every PATCH changes something
                // (one that changes nothing records nothing).
                &json!({"usageRetentionDays": 400 + i}),
            )
            .await
    } else {
        let email = format!("u{}@corp.com", rollcall_core::secret::random_hex(6));
        client
            .post(
                "/admin/v1/consumers",
                &json!({"email": email, "name": "U", "role": "viewer"}),
            )
            .await
    }
}

/// Every audit event id in the range, following page tokens through `clients` in turn.
async fn audit_ids(clients: &[Client], base: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    for page in 0.. {
        let path = match &token {
            Some(t) => format!("{base}&pageToken={t}"),
            None => base.to_string(),
        };
        let (status, body) = clients[page % clients.len()].get(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        ids.extend(
            body["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_string()),
        );
        match body["nextPageToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    ids
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it under scripts/with-postgres.sh"]
async fn concurrent_admin_actions_on_three_processes_form_one_valid_chain() {
    let cluster = cluster().await;
    let c = &cluster.clients;
    let since = rollcall_core::time::format_ms(rollcall_store::now_ms() - 60_000);
    let until = rollcall_core::time::format_ms(rollcall_store::now_ms() + 3_600_000);
    let base = format!("/services/pull/v1/customer/audit-events?startTime={since}&endTime={until}");

    // 600 actions, 12 at a time on each of the three processes.
    let run = |from: usize, to: usize| {
        let c = c.clone();
        tokio::spawn(async move {
            let tasks: Vec<_> = (from..to)
                .map(|i| tokio::spawn(admin_action(c[i % 3].clone(), i)))
                .collect();
            for task in tasks {
                let (status, body) = task.await.unwrap();
                assert_eq!(status, StatusCode::OK, "{body}");
            }
        })
    };
    for chunk in 0..16 {
        run(chunk * 36, chunk * 36 + 36).await.unwrap();
    }
    let before = audit_ids(c, &base).await;
    // Read the stream page by page through all three while 300 more are written.
    let writers = run(1000, 1300);
    let during = audit_ids(c, &base).await;
    writers.await.unwrap();
    let after = audit_ids(c, &base).await;

    let written = 16 * 36 + 300;
    // admin init (3) + the rate-limit change + everything written.
    assert_eq!(after.len(), 3 + 1 + written);
    let all: HashSet<&String> = after.iter().collect();
    assert_eq!(all.len(), after.len(), "no event repeated");
    let seen: HashSet<&String> = during.iter().collect();
    assert_eq!(seen.len(), during.len(), "no event repeated while writing");
    assert!(
        before.iter().all(|id| seen.contains(id)),
        "an event was lost"
    );
    assert!(seen.is_subset(&all));
    assert_eq!(
        &after[..during.len()],
        &during[..],
        "pages follow one order"
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .args(["audit", "verify"])
        .args(cluster.db.cli_args())
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{printed}");
    assert!(
        printed.contains(&format!("intact: {} events", 3 + 1 + written)),
        "{printed}"
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it under scripts/with-postgres.sh"]
async fn a_credential_revoked_through_one_process_is_refused_by_the_others() {
    let cluster = cluster().await;
    let c = &cluster.clients;
    // An API key made through A works through B and C.
    let (status, me) = c[0].get("/admin/v1/consumers").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    let user = me["consumers"][0]["id"].as_i64().unwrap();
    let (status, key) = c[0]
        .post(
            "/admin/v1/credentials",
            &json!({"type": "apiKey", "name": "temp", "consumerId": user}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{key}");
    let secret = key["apiKey"].as_str().unwrap();
    let on = |i: usize| Client::new(&c[i].base, secret);
    for i in 1..3 {
        assert_eq!(on(i).get("/admin/v1/settings").await.0, StatusCode::OK);
    }
    // An OAuth token issued by B for a client made through A.
    let (status, client) = c[0]
        .post(
            "/admin/v1/credentials",
            &json!({"type": "oauthClient", "name": "etl", "scopes": ["report.read"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{client}");
    let token = c[1]
        .http
        .post(format!("{}/oauth2/token", c[1].base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client["clientId"].as_str().unwrap()),
            ("client_secret", client["clientSecret"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let access = token["access_token"].as_str().expect("a token").to_string();
    let audit = "/services/pull/v1/customer/audit-events?startTime=2026-01-01T00:00:00Z&endTime=2026-01-02T00:00:00Z";
    let with_token = |i: usize| Client::new(&c[i].base, &access);
    assert_ne!(with_token(2).get(audit).await.0, StatusCode::UNAUTHORIZED);

    // Revoked through A (the key) and C (the client): refused everywhere at once.
    let (status, body) = c[0]
        .delete(&format!("/admin/v1/credentials/{}", key["id"]))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = c[2]
        .delete(&format!("/admin/v1/credentials/{}", client["id"]))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for i in 0..3 {
        assert_eq!(
            on(i).get("/admin/v1/settings").await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(with_token(i).get(audit).await.0, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it under scripts/with-postgres.sh"]
async fn rate_limit_settings_are_shared_and_buckets_are_per_process() {
    let cluster = cluster().await;
    let c = &cluster.clients;
    let (status, body) = c[0]
        .patch(
            "/admin/v1/settings",
            &json!({"rateLimit": {"perSecond": 1, "burst": 5}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // B and C apply the limit set through A at once, each with its own bucket:
    // a burst of 5 passes on each, the 6th and later are refused on each.
    for node in &c[1..] {
        let mut statuses = Vec::new();
        for _ in 0..8 {
            statuses.push(node.get("/admin/v1/settings").await.0);
        }
        let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        assert!((5..=6).contains(&ok), "{statuses:?}");
        assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
    }
}
