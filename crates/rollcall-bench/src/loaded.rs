//! Reports while ingesting (issue 18 #2): usage and activity ingest run at half
//! the rates the ingest stage reached, with fresh data (usage events of the last
//! minute, activity records of a new agent session; never resends, which the
//! server de-duplicates cheaply), while every report question is timed again.
//!
//! Each ingest is paced: request `k` is due `k × items a request / rate` after
//! the start, whatever became of the requests before it (up to [`IN_FLIGHT`] at
//! once, as many agents and connectors would send), so a server that answers
//! slower under the mixed load is not also sent less; a sender that falls
//! behind sends at once, so the achieved rate shows what the server kept up with.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::client::Api;
use crate::data::{Body, Dataset, Question, EVENTS_PER_REQUEST, RECORDS_PER_REQUEST};
use crate::measure::{time_reports, Percentiles, Timings};
use crate::procfs::{cpu_seconds, writer_busy_since, writer_sample, ThreadBusy};
use crate::stream::Bodies;

/// How long the ingests run before the reports are timed (to reach their pace).
const WARM_UP: Duration = Duration::from_secs(2);

/// Requests of one ingest that may wait for their answers at once. With the
/// ingest stage's 4 clients, usage requests waiting ~80 ms behind activity
/// batches capped the rate at 4 × 1,000 / 0.08 s whatever the server could do.
const IN_FLIGHT: usize = 32;

/// Agent session of the fresh activity records (the ingest stage used 1 and 2).
const SESSION: i64 = 3;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Figures {
    pub ingest: Vec<Paced>,
    pub reports: Vec<Compared>,
    /// CPU time over the stage's wall time, in percent of one core: the
    /// server's and the harness's (its senders, generators and report calls).
    pub server_cpu_percent: f64,
    pub harness_cpu_percent: f64,
    /// The embedded writer thread over the stage (`None` on PostgreSQL).
    pub writer: Option<ThreadBusy>,
}

/// A paced ingest: the rate it was asked for and the rate acknowledged.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Paced {
    pub name: String,
    pub target_per_second: f64,
    pub achieved_per_second: f64,
    pub items: u64,
    pub seconds: f64,
    /// How far the achieved rate fell short of the target, in percent (target ≤ 10).
    pub loss_percent: f64,
    /// Mean time from sending a request to its answer.
    pub mean_request_ms: f64,
}

/// A report's p50 when quiet and while ingest runs.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Compared {
    pub name: String,
    pub quiet_p50_ms: f64,
    pub loaded_p50_ms: f64,
    /// Loaded over quiet (target ≤ 2).
    pub ratio: f64,
}

/// What the loaded stage needs from the run so far.
pub struct Setup<'a> {
    pub api: &'a Api,
    pub viewer: &'a Api,
    pub dataset: &'a Dataset,
    pub app_ids: &'a [String],
    pub questions: &'a [Question],
    pub quiet: &'a [Percentiles],
    pub server_pid: Option<u32>,
    /// The ingest stage's usage events/s and activity records/s.
    pub usage_max: f64,
    pub activity_max: f64,
    pub repeat: usize,
}

/// Runs both ingests at half their maximum rates while timing every question.
pub async fn measure(s: Setup<'_>) -> anyhow::Result<Figures> {
    let cpu = (cpu_seconds(s.server_pid), cpu_seconds(None));
    let writer = writer_sample(s.server_pid);
    let started = Instant::now();
    let (stop, stopped) = watch::channel(None);
    let usage = tokio::spawn(paced(
        s.api.clone(),
        Bodies::new(s.dataset.live_usage_bodies(s.app_ids), true),
        EVENTS_PER_REQUEST,
        s.usage_max / 2.0,
        IN_FLIGHT,
        stopped.clone(),
    ));
    let activity = tokio::spawn(paced(
        s.api.clone(),
        Bodies::new(s.dataset.live_activity_bodies(SESSION), true),
        RECORDS_PER_REQUEST,
        s.activity_max / 2.0,
        IN_FLIGHT,
        stopped,
    ));
    tokio::time::sleep(WARM_UP).await;
    let mut timings = Timings::default();
    let timed = time_reports(s.questions, s.api, s.viewer, s.repeat, &mut timings).await;
    let _ = stop.send(Some(Instant::now()));
    let usage = usage.await?.context("usage ingest beside the reports")?;
    let activity = activity
        .await?
        .context("activity ingest beside the reports")?;
    timed?;
    let wall = started.elapsed().as_secs_f64().max(1e-9);
    let cpu_percent = |now: f64, then: f64| 100.0 * (now - then) / wall;
    let server_cpu_percent = cpu_percent(cpu_seconds(s.server_pid), cpu.0);
    let harness_cpu_percent = cpu_percent(cpu_seconds(None), cpu.1);
    let writer = writer_busy_since(writer, s.server_pid, "beside the reports (issue 18 #2)");
    let loaded = timings.percentiles();
    let reports = s
        .quiet
        .iter()
        .filter_map(|q| {
            let l = loaded.iter().find(|l| l.name == q.name)?;
            Some(Compared {
                name: q.name.clone(),
                quiet_p50_ms: q.p50_ms,
                loaded_p50_ms: l.p50_ms,
                ratio: l.p50_ms / q.p50_ms.max(1e-9),
            })
        })
        .collect();
    Ok(Figures {
        ingest: vec![
            usage.named("usage events", s.usage_max / 2.0),
            activity.named("activity records", s.activity_max / 2.0),
        ],
        reports,
        server_cpu_percent,
        harness_cpu_percent,
        writer,
    })
}

/// Items acknowledged within the paced window, its length, and the requests' latency.
struct Counted {
    items: u64,
    seconds: f64,
    requests: u64,
    request_seconds: f64,
}

impl Counted {
    fn named(self, name: &str, target: f64) -> Paced {
        let achieved = self.items as f64 / self.seconds.max(1e-9);
        Paced {
            name: name.to_string(),
            target_per_second: target,
            achieved_per_second: achieved,
            items: self.items,
            seconds: self.seconds,
            loss_percent: 100.0 * (1.0 - achieved / target.max(1e-9)),
            mean_request_ms: 1000.0 * self.request_seconds / self.requests.max(1) as f64,
        }
    }
}

/// Sends `bodies` of `per_body` items at `rate` items/s from `senders` senders
/// until `stop` carries the stopping time; counts the items acknowledged before it.
async fn paced(
    api: Api,
    bodies: Arc<Bodies<Body>>,
    per_body: usize,
    rate: f64,
    senders: usize,
    stop: watch::Receiver<Option<Instant>>,
) -> anyhow::Result<Counted> {
    let started = Instant::now();
    let interval = per_body as f64 / rate.max(1.0);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..senders.max(1) {
        let (api, bodies, next, mut stop) = (
            api.clone(),
            Arc::clone(&bodies),
            Arc::clone(&next),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let (mut items, mut requests, mut request_seconds) = (0u64, 0u64, 0f64);
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let due = started + Duration::from_secs_f64(k as f64 * interval);
                tokio::select! {
                    _ = tokio::time::sleep_until(due) => {}
                    _ = stop.changed() => {}
                }
                if stop.borrow().is_some() {
                    break;
                }
                let Some(body) = bodies.next().await else {
                    break;
                };
                let sent = Instant::now();
                let acked = api.push_one(&body).await?;
                requests += 1;
                request_seconds += sent.elapsed().as_secs_f64();
                let in_window = match *stop.borrow() {
                    Some(end) => Instant::now() <= end,
                    None => true,
                };
                if in_window {
                    items += acked;
                }
            }
            Ok::<_, anyhow::Error>((items, requests, request_seconds))
        }));
    }
    let (mut items, mut requests, mut request_seconds) = (0, 0, 0.0);
    for task in tasks {
        let (i, r, s) = task.await??;
        (items, requests, request_seconds) = (items + i, requests + r, request_seconds + s);
    }
    let end = (*stop.borrow()).unwrap_or_else(Instant::now);
    Ok(Counted {
        items,
        seconds: (end - started).as_secs_f64(),
        requests,
        request_seconds,
    })
}

/// Prints the stage's part of the table.
pub fn print(f: &Figures) {
    println!(
        "\n{:<46} {:>12} {:>12} {:>8} {:>11}",
        "ingest beside the reports (issue 18 #2)", "target/s", "achieved/s", "loss %", "request ms"
    );
    for p in &f.ingest {
        println!(
            "{:<46} {:>12.0} {:>12.0} {:>8.1} {:>11.1}",
            p.name, p.target_per_second, p.achieved_per_second, p.loss_percent, p.mean_request_ms
        );
    }
    println!(
        "CPU over the stage: server {:.0}%, harness {:.0}% of one core",
        f.server_cpu_percent, f.harness_cpu_percent
    );
    crate::print_writer_busy(f.writer.as_slice());
    println!(
        "\n{:<46} {:>9} {:>9} {:>7}",
        "report while ingesting", "quiet p50", "p50", "ratio"
    );
    for r in &f.reports {
        println!(
            "{:<46} {:>9.2} {:>9.2} {:>7.2}",
            r.name, r.quiet_p50_ms, r.loaded_p50_ms, r.ratio
        );
    }
}
