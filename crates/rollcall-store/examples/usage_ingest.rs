//! Usage-ingest benchmark of the embedded store: pushes batches of 1,000 usage
//! events (N employees, 10 events, spread over 90 days, arriving roughly in time
//! order) through `UsageStore::push_events` from several concurrent tasks, then
//! times a full insight read and prints events/s and bytes on disk per event as
//! JSON (`BREAKDOWN=1` also prints the store-read part of each engagement sample).
//! Run: `cargo run --release -p rollcall-store --example usage_ingest -- [events] [employees]`.

use std::sync::Arc;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rollcall_core::usage::{self, AppDefinition};
use rollcall_core::usage_report::{self, Directory, Employee, EventFilter, Member};
use rollcall_core::{secret, time, Email, Role};
use rollcall_store::admin::{NewAccount, NewConsumer};
use rollcall_store::sqlite::{DatabaseKey, SqliteStore};
use rollcall_store::usage::NewEvent;
use rollcall_store::{AdminStore, UsageStore};

const DAY: i64 = 86_400_000;
const TASKS: usize = 4;
const BATCH: usize = 1000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let total: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let employees: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(total, employees))
}

async fn run(total: usize, employees: usize) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let key = DatabaseKey::resolve(None, dir.path())?;
    let store = Arc::new(SqliteStore::open(dir.path(), key).await?);
    let (account, _) = store
        .create_account(NewAccount {
            name: "bench".into(),
            superadmin: NewConsumer {
                email: Email::parse("admin@bench.test").map_err(|e| e.to_string())?,
                name: "Admin".into(),
                role: Role::Superadmin,
                password_hash: None,
                viewable_groups: vec![-1],
                allowed_apps: None,
            },
            api_key_hash: secret::hash("bench-key"),
            client_id: "bench-client".into(),
            client_secret_hash: secret::hash("bench-secret"),
        })
        .await?;
    let events: Vec<serde_json::Value> = (0..10)
        .map(|i| serde_json::json!({"eventName": format!("e{i}"), "groups": [format!("g{}", i % 3)]}))
        .collect();
    let def: AppDefinition =
        serde_json::from_value(serde_json::json!({"name": "Bench", "events": events}))?;
    let app = store
        .create_app(account, "admin@bench.test", def)
        .await?
        .app_id;
    let tz = time::parse_time_zone("UTC")?;
    let start_ms = rollcall_store::now_ms() - 90 * DAY;
    let span = 90 * DAY;
    let batches = total.div_ceil(BATCH);
    let began = Instant::now();
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let store = Arc::clone(&store);
        let app = app.clone();
        let tz = tz.clone();
        handles.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(task as u64);
            let mut accepted = 0u64;
            for b in (task..batches).step_by(TASKS) {
                // Batches arrive in time order; events inside one are a few minutes apart.
                let base = start_ms + span * b as i64 / batches as i64;
                let batch: Vec<NewEvent> = (0..BATCH)
                    .map(|i| {
                        let ts = base + rng.gen_range(0..span / batches as i64);
                        NewEvent {
                            index: i,
                            ts_ms: ts,
                            email: Email::parse(&format!(
                                "user{}@bench.test",
                                rng.gen_range(0..employees)
                            ))
                            .unwrap_or_else(|_| unreachable!()),
                            event_name: format!("e{}", rng.gen_range(0..10)),
                            day: time::day_number(time::local_date(ts, &tz)),
                        }
                    })
                    .collect();
                match store.push_events(account, &app, batch).await {
                    Ok(o) => accepted += o.accepted,
                    Err(e) => eprintln!("batch {b}: {e}"),
                }
            }
            accepted
        }));
    }
    let mut accepted = 0;
    for h in handles {
        accepted += h.await?;
    }
    let secs = began.elapsed().as_secs_f64();
    let read_began = Instant::now();
    let data = store
        .insight_data(account, &app, i32::MIN / 2, None)
        .await?;
    let read_ms = read_began.elapsed().as_secs_f64() * 1000.0;
    // Engagement by team (store read + maths), as the route computes it.
    let people: Vec<Employee> = (0..employees)
        .map(|i| Employee {
            email: format!("user{i}@bench.test"),
            team: Some(format!("team{}", i % 20)),
            ..Employee::default()
        })
        .collect();
    store
        .replace_org_chart(
            account,
            "admin@bench.test",
            "bench".into(),
            Vec::new(),
            people,
        )
        .await?;
    let today = time::day_number(time::local_date(rollcall_store::now_ms(), &tz));
    let mut engagement_p50 = serde_json::Map::new();
    for window in [7, 30, 90] {
        let mut samples = Vec::new();
        for _ in 0..15 {
            let t0 = Instant::now();
            let from = today - window + 1;
            let data = store
                .insight_data(account, &app, usage::period_of(from).0, Some("g0".into()))
                .await?;
            if std::env::var("BREAKDOWN").is_ok() {
                eprintln!(
                    "{window}d: store read {:.1} ms, {} rows",
                    t0.elapsed().as_secs_f64() * 1000.0,
                    data.rows.len()
                );
            }
            let dir: Arc<Directory> = data.org.map(|o| o.directory).unwrap_or_default();
            let filter = EventFilter::for_group(&data.app.definition, Some("g0"))?;
            let t = usage_report::timelines(&data.rows, &dir, &filter);
            let members: Vec<Member> = dir
                .people
                .iter()
                .map(|p| Member {
                    key: p.email.clone(),
                    value: p.field("team").map(String::from),
                })
                .collect();
            let e = usage_report::engagement(&members, &t, from, today);
            std::hint::black_box(e);
            samples.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        samples.sort_by(f64::total_cmp);
        engagement_p50.insert(
            format!("{window}d"),
            serde_json::json!(samples[samples.len() / 2]),
        );
    }
    let bytes: u64 = std::fs::read_dir(dir.path())?
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "{}",
        serde_json::json!({
            "events": accepted,
            "employees": employees,
            "seconds": secs,
            "eventsPerSecond": accepted as f64 / secs,
            "bytesOnDisk": bytes,
            "bytesPerEvent": bytes as f64 / accepted.max(1) as f64,
            "rollupRows": data.rows.len(),
            "fullRollupReadMs": read_ms,
            "engagementByTeamP50Ms": engagement_p50,
        })
    );
    Ok(())
}
