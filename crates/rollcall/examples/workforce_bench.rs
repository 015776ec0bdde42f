//! Workforce load figures, through the HTTP API of a server on a loopback port over
//! a temporary data directory: activity ingest (records/s), working-hours page
//! latency, activity-log page latency and full cursor scan (records/s).
//!
//! `cargo run --release -p rollcall --example workforce_bench -- [records] [computers] [days] [working-hours requests]`
//! (defaults 500000 500 30 50). Prints one JSON object.

use std::sync::Arc;
use std::time::Instant;

use rollcall_server::setup::init_account;
use rollcall_server::{AppState, ServerConfig};
use rollcall_store::sqlite::{DatabaseKey, SqliteStore};
use rollcall_store::workforce::{
    ActivityBatch, ActivityLogQuery, ClientInfo, ComputerInfo, NewRecord, Perspective, Scoping,
    WorkingHoursQuery,
};
use rollcall_store::{Store, WorkforceStore};
use serde_json::{json, Value};

const BATCH: usize = 5_000;
const SENDERS: usize = 4;

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn p50(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let records = arg(1, 500_000);
    let computers = arg(2, 500).max(1);
    let days = arg(3, 30).max(1);
    let wh_iterations = arg(4, 50).max(1);
    let dir = tempfile::tempdir()?;
    let key = DatabaseKey::resolve(None, dir.path())?;
    let store = Arc::new(SqliteStore::open(dir.path(), key).await?);
    let creds = init_account(store.as_ref(), None).await?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    let state = AppState::new(store.clone() as Arc<dyn Store>, ServerConfig::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(rollcall_server::serve(state, listener, None, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let auth = format!("Bearer {}", creds.api_key);
    let patch = json!({"rateLimit": {"perSecond": 1000000, "burst": 1000000}});
    http.patch(format!("{base}/admin/v1/settings"))
        .header("authorization", &auth)
        .json(&patch)
        .send()
        .await?
        .error_for_status()?;

    // Bodies are built before the clock starts: the figure is the server's.
    let now_s = jiff::Timestamp::now().as_second();
    let start_s = now_s - (days as i64) * 86_400;
    let per_computer = records / computers;
    let mut bodies: Vec<Value> = Vec::new();
    for c in 0..computers {
        let mut recs = Vec::new();
        for i in 0..per_computer {
            let day = (i * days) / per_computer.max(1);
            let t = start_s + (day as i64) * 86_400 + 8 * 3600 + (i as i64 % 2_000) * 20;
            let idle = i % 7 == 0;
            let url = (i % 3 == 0).then(|| format!("https://site{}.example/page", i % 50));
            recs.push(json!({
                "start": jiff::Timestamp::from_second(t)?.to_string(),
                "duration": 20, "executable": format!("app{}.exe", i % 40),
                "description": format!("window {i}"), "url": url, "idle": idle}));
            if recs.len() == BATCH || i + 1 == per_computer {
                bodies.push(json!({
                    "computer": {"name": format!("PC-{c}"), "primaryDomain": "corp", "os": "Windows 11",
                                 "timeZone": "Europe/Berlin", "privateIp": "10.0.0.1", "publicIp": "203.0.113.1"},
                    "client": {"loginDomain": "CORP", "name": format!("user{c}")},
                    "session": 1,
                    "records": std::mem::take(&mut recs),
                }));
            }
        }
    }
    let bodies: Vec<Vec<u8>> = bodies
        .iter()
        .map(serde_json::to_vec)
        .collect::<Result<_, _>>()?;
    let total_records = per_computer * computers;
    let queue = Arc::new(std::sync::Mutex::new(bodies));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..SENDERS {
        let (queue, http, base, auth) = (queue.clone(), http.clone(), base.clone(), auth.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop());
                let Some(body) = next else { break };
                let r = http
                    .post(format!("{base}/agent/v1/activity"))
                    .header("authorization", &auth)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                anyhow::ensure!(
                    r.status().is_success(),
                    "ingest failed: {}",
                    r.text().await?
                );
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let ingest_s = t0.elapsed().as_secs_f64();

    // The same data straight into the store, for a second account: the writer's
    // own rate, without HTTP and JSON.
    let store_account = init_account(store.as_ref(), None).await?.account_id;
    let mut batches = Vec::new();
    for c in 0..computers {
        let mut recs = Vec::new();
        for i in 0..per_computer {
            let day = (i * days) / per_computer.max(1);
            let t = start_s + (day as i64) * 86_400 + 8 * 3600 + (i as i64 % 2_000) * 20;
            let website = (i % 3 == 0).then(|| format!("site{}.example", i % 50));
            recs.push(NewRecord {
                start_ms: t * 1000,
                raw_start_ms: t * 1000,
                duration_s: 20,
                executable: format!("app{}.exe", i % 40),
                description: format!("window {i}"),
                url: website.as_ref().map(|w| format!("https://{w}/page")),
                website,
                idle: i % 7 == 0,
            });
            if recs.len() == BATCH || i + 1 == per_computer {
                batches.push(ActivityBatch {
                    computer: ComputerInfo {
                        name: format!("PC-{c}"),
                        primary_domain: "corp".into(),
                        os: "Windows 11".into(),
                        time_zone: Some("Europe/Berlin".into()),
                        private_ip: "10.0.0.1".into(),
                        public_ip: "203.0.113.1".into(),
                    },
                    client: ClientInfo {
                        login_domain: "CORP".into(),
                        name: format!("user{c}"),
                    },
                    session: 1,
                    records: std::mem::take(&mut recs),
                });
            }
        }
    }
    let queue = Arc::new(std::sync::Mutex::new(batches));
    let t_store_ingest = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..SENDERS {
        let (queue, store) = (queue.clone(), store.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop());
                let Some(batch) = next else { break };
                store.ingest_activity(store_account, batch).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let store_ingest_s = t_store_ingest.elapsed().as_secs_f64();

    let get = |path: String| {
        let (http, auth, base) = (http.clone(), auth.clone(), base.clone());
        async move {
            let t = Instant::now();
            let v: Value = http
                .get(format!("{base}{path}"))
                .header("authorization", &auth)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            anyhow::Ok((t.elapsed().as_secs_f64() * 1000.0, v))
        }
    };
    let day = jiff::Timestamp::from_second(start_s + 10 * 86_400)?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let mut wh = Vec::new();
    for i in 0..wh_iterations {
        let page = i % computers.div_ceil(150) + 1;
        let (ms, v) = get(format!(
            "/reports/v2/workinghours/users?from={day}&to={day}&page={page}"
        ))
        .await?;
        anyhow::ensure!(
            v["activity"].as_array().is_some_and(|a| !a.is_empty()),
            "{v}"
        );
        wh.push(ms);
    }
    // The same pages straight from the store: the report's own cost, without
    // HTTP, authentication and JSON.
    let mut wh_store = Vec::new();
    let day_number = rollcall_core::time::day_number(day);
    for i in 0..wh_iterations {
        let t = Instant::now();
        let page = store
            .working_hours(
                creds.account_id,
                WorkingHoursQuery {
                    perspective: Perspective::Users,
                    from_day: day_number,
                    to_day: day_number,
                    page: (i % computers.div_ceil(150) + 1) as u32,
                    page_size: 150,
                    scoping: Scoping::default(),
                },
            )
            .await?;
        anyhow::ensure!(!page.rows.is_empty(), "empty store page");
        wh_store.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let mut wh_month = Vec::new();
    for _ in 0..10 {
        let (ms, _) = get(format!(
            "/reports/v2/workinghours/computers?from={}&to={}&pageSize=1000",
            jiff::Timestamp::from_second(start_s)?
                .to_zoned(jiff::tz::TimeZone::UTC)
                .date(),
            jiff::Timestamp::now()
                .to_zoned(jiff::tz::TimeZone::UTC)
                .date()
        ))
        .await?;
        wh_month.push(ms);
    }
    let first_day = jiff::Timestamp::from_second(start_s - 86_400)?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    // The client reads only what a cursor follower needs (row count and cursor),
    // so the figure is the server's rather than a JSON tree's in the client.
    #[derive(serde::Deserialize)]
    struct LogPage {
        activity: Vec<serde::de::IgnoredAny>,
        cursor: String,
    }
    let log_page = |path: String| {
        let (http, auth, base) = (http.clone(), auth.clone(), base.clone());
        async move {
            let t = Instant::now();
            let bytes = http
                .get(format!("{base}{path}"))
                .header("authorization", &auth)
                .send()
                .await?
                .error_for_status()?
                .bytes()
                .await?;
            let page: LogPage = serde_json::from_slice(&bytes)?;
            anyhow::Ok((t.elapsed().as_secs_f64() * 1000.0, page))
        }
    };
    let t_scan = Instant::now();
    let (ms, mut page) = log_page(format!(
        "/reports/v2/activitylog?startDate={first_day}&pageSize=1000"
    ))
    .await?;
    let mut log = vec![ms];
    let mut scanned = page.activity.len();
    loop {
        let (ms, next) = log_page(format!(
            "/reports/v2/activitylog?cursor={}&pageSize=1000",
            page.cursor
        ))
        .await?;
        if next.activity.is_empty() {
            break;
        }
        log.push(ms);
        scanned += next.activity.len();
        page = next;
    }
    let scan_s = t_scan.elapsed().as_secs_f64();
    // The same scan straight from the store.
    let t_store = Instant::now();
    let mut position = None;
    let mut store_scanned = 0usize;
    loop {
        let page = store
            .activity_log(
                creds.account_id,
                ActivityLogQuery {
                    position,
                    from_day: rollcall_core::time::day_number(first_day),
                    to_day: None,
                    limit: 1000,
                    min_duration: None,
                    max_duration: None,
                    scoping: Scoping::default(),
                },
            )
            .await?;
        if page.rows.is_empty() {
            break;
        }
        store_scanned += page.rows.len();
        position = Some(page.position);
    }
    let store_scan_s = t_store.elapsed().as_secs_f64();
    let report = json!({
        "records": total_records,
        "computers": computers,
        "days": days,
        "ingestRecordsPerSecond": (total_records as f64 / ingest_s).round(),
        "storeIngestRecordsPerSecond": (total_records as f64 / store_ingest_s).round(),
        "workingHoursDayPageP50Ms": p50(wh),
        "workingHoursStoreDayPageP50Ms": p50(wh_store),
        "workingHoursMonthPage1000P50Ms": p50(wh_month),
        "activityLogPage1000P50Ms": p50(log),
        "cursorScanRecords": scanned,
        "cursorScanRecordsPerSecond": (scanned as f64 / scan_s).round(),
        "storeCursorScanRecordsPerSecond": (store_scanned as f64 / store_scan_s).round(),
    });
    println!("{report}");
    let _ = stop.send(());
    let _ = server.await;
    Ok(())
}
