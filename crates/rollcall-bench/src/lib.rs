//! The benchmark harness behind `rollcall bench`: it starts a Rollcall server as a
//! child process, creates a synthetic account at a chosen scale, pushes it over
//! HTTP with several concurrent clients (request bodies prepared before timing
//! starts, or streamed at large scales), then times every report and prints a
//! table and JSON. Optional stages time the reports again while ingest runs
//! (`loaded`) and beside many small accounts (`tenants`).
//!
//! Timings are never asserted anywhere; the `--quick` scale only proves the harness
//! works end to end.

mod client;
mod data;
mod export;
mod loaded;
mod measure;
mod privacy;
mod procfs;
mod segment;
mod server;
mod stream;
mod tenants;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

pub use data::Scale;
use measure::{time_reports, Percentiles, Timings};
use procfs::ThreadBusy;
use stream::{Bodies, Steadiness};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub scale: Scale,
    /// The `rollcall` executable to serve with.
    pub server_bin: PathBuf,
    /// Run on PostgreSQL instead of the embedded store.
    pub database_url: Option<String>,
    /// Concurrent push clients.
    pub clients: usize,
    /// Server processes on the one PostgreSQL database; push clients are
    /// spread over them (client i pushes through process i mod N).
    pub processes: usize,
    /// Calls of each report.
    pub repeat: usize,
    /// Where to write the JSON figures.
    pub out: Option<PathBuf>,
    /// Keep the loaded server running after the run (for profiling) until Ctrl-C.
    pub hold: bool,
    /// Generate request bodies while sending (a producer thread) instead of all
    /// before timing: for scales whose bodies do not fit in memory.
    pub stream: bool,
    /// Time the reports again while usage and activity ingest run at half
    /// their maximum rates (issue 18 #2).
    pub loaded: bool,
    /// Small accounts to add beside the large one (issue 18 #4), and usage
    /// events in each.
    pub tenants: usize,
    pub tenant_events: usize,
    /// Write the usage events as CSV here (before timing), for other engines.
    pub export_events: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub scale: Scale,
    pub backend: String,
    pub ingest: Vec<Throughput>,
    pub reports: Vec<Percentiles>,
    pub cursor_scan: Throughput,
    pub server_peak_rss_mb: f64,
    pub disk_bytes: u64,
    pub disk_bytes_per_usage_event: f64,
    /// The server's CPU time (user + system) per usage event pushed.
    pub server_cpu_us_per_usage_event: f64,
    /// The ingest rate of the first and last tenth (issue 18 #3).
    pub steadiness: Vec<Steadiness>,
    /// The harness's own peak RSS and CPU time (its generators run beside the
    /// server when bodies are streamed).
    pub harness_peak_rss_mb: f64,
    pub harness_cpu_seconds: f64,
    /// The embedded writer thread over each ingest stage (empty on PostgreSQL).
    pub writer_busy: Vec<ThreadBusy>,
    pub loaded: Option<loaded::Figures>,
    pub tenants: Option<tenants::Figures>,
    /// Growth of the data directory over the activity stage per record stored.
    pub disk_bytes_per_activity_record: f64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Throughput {
    pub name: String,
    pub items: u64,
    pub seconds: f64,
    pub per_second: f64,
}

impl Throughput {
    pub(crate) fn new(name: &str, items: u64, started: Instant) -> Self {
        Self::of(name, items, started.elapsed())
    }

    fn of(name: &str, items: u64, took: std::time::Duration) -> Self {
        let seconds = took.as_secs_f64();
        Throughput {
            name: name.to_string(),
            items,
            seconds,
            per_second: items as f64 / seconds.max(1e-9),
        }
    }
}

/// Runs the whole benchmark and returns its figures (also printed and written as JSON).
pub async fn run(options: Options) -> anyhow::Result<Report> {
    let scale = options.scale.clone();
    eprintln!("bench: generating the synthetic account ({scale:?})");
    let dataset = data::Dataset::generate(&scale);
    let server = server::Server::start(&options).await?;
    let api = client::Api::new(&server.base, &server.api_key).pushing_through(&server.bases);
    api.unlimit().await?;

    eprintln!(
        "bench: defining {} apps and {} employees",
        scale.apps, scale.employees
    );
    let app_ids = api.define(&dataset).await?;
    if let Some(path) = &options.export_events {
        eprintln!("bench: writing the usage events to {}", path.display());
        export::write(&dataset, &app_ids, path)?;
    }
    let usage_bodies = Bodies::new(dataset.usage_bodies(&app_ids), options.stream);

    let empty_disk = server.disk_bytes().await?;
    eprintln!("bench: pushing {} usage events", dataset.usage_events);
    let server_cpu = procfs::cpu_seconds(server.pid());
    let writer = procfs::writer_sample(server.pid());
    let started = Instant::now();
    let (accepted, progress) = api
        .push_all(&usage_bodies, options.clients, "accepted")
        .await
        .context("pushing usage events")?;
    let usage = Throughput::new("usage events", accepted, started);
    let server_cpu = procfs::cpu_seconds(server.pid()) - server_cpu;
    let mut writer_busy: Vec<ThreadBusy> =
        procfs::writer_busy_since(writer, server.pid(), "usage events")
            .into_iter()
            .collect();
    drop(usage_bodies);
    let usage_disk = server.disk_bytes().await?.saturating_sub(empty_disk);

    let messages = (dataset.usage_events / 5).max(segment::MESSAGES_PER_REQUEST);
    eprintln!("bench: sending {messages} Segment track calls through /v1/batch");
    let traffic = segment::traffic(scale.employees, scale.events_per_app, messages, |i| {
        dataset.employee_email(i)
    });
    // Many small senders (app servers, each with its SDK's queue) rather than
    // a few big ones: 100 messages a request needs more requests in flight.
    let segment = segment::measure(
        &api,
        &app_ids[0],
        traffic,
        options.clients * 4,
        options.stream,
    )
    .await
    .context("the Segment tracking API")?;

    eprintln!(
        "bench: pushing {} activity records",
        dataset.activity_records
    );
    let before_activity = server.disk_bytes().await?;
    let writer = procfs::writer_sample(server.pid());
    let (activity, private_activity, activity_steadiness) =
        privacy::compare(&api, &dataset, options.clients, options.stream).await?;
    writer_busy.extend(procfs::writer_busy_since(
        writer,
        server.pid(),
        "activity records (both policies)",
    ));
    // Both policies' records are stored (two sessions): divide by all of them.
    let activity_disk = server.disk_bytes().await?.saturating_sub(before_activity);
    let activity_stored = activity.items + private_activity.items;

    eprintln!("bench: writing {} audit events", scale.audit_events);
    let started = Instant::now();
    api.audit_actions(scale.audit_events, options.clients)
        .await?;
    let audit = Throughput::new(
        "audit events (admin actions)",
        scale.audit_events as u64,
        started,
    );

    eprintln!("bench: adding a viewer limited to a group and two apps");
    let (group, viewer) = api.viewer(&dataset, &app_ids).await?;

    eprintln!("bench: timing reports ({} calls each)", options.repeat);
    let mut timings = Timings::default();
    let queries = dataset.report_queries(&app_ids, group);
    time_reports(&queries, &api, &viewer, options.repeat, &mut timings).await?;
    let cursor_scan = api.cursor_scan(&dataset.activity_log_start()).await?;

    let quiet = timings.percentiles();
    let loaded = if options.loaded {
        eprintln!(
            "bench: timing the reports again while usage and activity ingest run at half rate"
        );
        Some(
            loaded::measure(loaded::Setup {
                api: &api,
                viewer: &viewer,
                dataset: &dataset,
                app_ids: &app_ids,
                questions: &queries,
                quiet: &quiet,
                server_pid: server.pid(),
                usage_max: usage.per_second,
                activity_max: activity.per_second,
                repeat: options.repeat,
            })
            .await?,
        )
    } else {
        None
    };
    let tenants = if options.tenants > 0 {
        eprintln!("bench: adding {} small accounts", options.tenants);
        let rss_before = procfs::status_mb(server.pid(), "VmRSS:");
        let mut figures = tenants::measure(tenants::Setup {
            server_bin: &options.server_bin,
            data_dir: server.data_dir(),
            database_url: options.database_url.as_deref(),
            base: &server.base,
            large: &api,
            large_questions: &queries,
            tenants: options.tenants,
            events_each: options.tenant_events,
            clients: options.clients,
            repeat: options.repeat,
        })
        .await?;
        figures.server_rss_before_mb = rss_before;
        figures.server_rss_mb = procfs::status_mb(server.pid(), "VmRSS:");
        Some(figures)
    } else {
        None
    };

    let report = Report {
        backend: if options.database_url.is_some() {
            "postgres"
        } else {
            "embedded"
        }
        .into(),
        scale,
        ingest: vec![usage, activity, audit, private_activity, segment],
        reports: quiet,
        cursor_scan,
        server_peak_rss_mb: server.peak_rss_mb(),
        disk_bytes: server.disk_bytes().await?,
        disk_bytes_per_usage_event: usage_disk as f64 / dataset.usage_events.max(1) as f64,
        server_cpu_us_per_usage_event: 1e6 * server_cpu / dataset.usage_events.max(1) as f64,
        steadiness: vec![
            progress.steadiness("usage events, first and last 10%"),
            activity_steadiness,
        ],
        harness_peak_rss_mb: procfs::status_mb(None, "VmHWM:"),
        harness_cpu_seconds: procfs::cpu_seconds(None),
        writer_busy,
        loaded,
        tenants,
        disk_bytes_per_activity_record: activity_disk as f64 / activity_stored.max(1) as f64,
    };
    print_table(&report);
    if options.hold {
        eprintln!(
            "bench: holding the server at {} (API key {}); Ctrl-C stops it",
            server.base, server.api_key
        );
        let _ = tokio::signal::ctrl_c().await;
    }
    server.stop().await;
    if let Some(out) = &options.out {
        std::fs::write(out, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(report)
}

fn print_table(r: &Report) {
    println!("\nRollcall benchmark ({} store)", r.backend);
    println!(
        "{:<40} {:>12} {:>10} {:>14}",
        "ingest", "items", "seconds", "items/s"
    );
    for t in r.ingest.iter().chain(std::iter::once(&r.cursor_scan)) {
        println!(
            "{:<40} {:>12} {:>10.2} {:>14.0}",
            t.name, t.items, t.seconds, t.per_second
        );
    }
    if let (Some(full), Some(private)) = (r.ingest.get(1), r.ingest.get(3)) {
        println!(
            "privacy policy: `domains` + 2 redactions ingests at {:.0}% of `full` ({:+.1}% time per record)",
            100.0 * private.per_second / full.per_second.max(1e-9),
            100.0 * (full.per_second / private.per_second.max(1e-9) - 1.0)
        );
    }
    println!(
        "\n{:<46} {:>6} {:>9} {:>9} {:>9}",
        "report (p50/p99 after the first call)", "calls", "first ms", "p50 ms", "p99 ms"
    );
    for p in &r.reports {
        println!(
            "{:<46} {:>6} {:>9.2} {:>9.2} {:>9.2}",
            p.name, p.calls, p.first_ms, p.p50_ms, p.p99_ms
        );
    }
    println!(
        "\nserver peak RSS {:.0} MB; {} bytes on disk; {:.1} bytes per usage event (rollups included)",
        r.server_peak_rss_mb, r.disk_bytes, r.disk_bytes_per_usage_event
    );
    print_scale(r);
    if let Some(loaded) = &r.loaded {
        loaded::print(loaded);
    }
    if let Some(tenants) = &r.tenants {
        tenants::print(tenants);
    }
}

/// Whether the ingest held its rate, and what the run cost the server and the harness.
fn print_scale(r: &Report) {
    println!(
        "server CPU {:.2} µs per usage event; harness peak RSS {:.0} MB, CPU {:.1} s",
        r.server_cpu_us_per_usage_event, r.harness_peak_rss_mb, r.harness_cpu_seconds
    );
    println!(
        "\n{:<46} {:>12} {:>12} {:>10}",
        "ingest rate held (issue 18 #3)", "first/s", "last/s", "last/1st"
    );
    for s in &r.steadiness {
        println!(
            "{:<46} {:>12.0} {:>12.0} {:>10.2}",
            s.name, s.first_tenth_per_second, s.last_tenth_per_second, s.last_over_first
        );
    }
    println!(
        "{:.1} bytes per activity record (the data directory's growth over the activity stage)",
        r.disk_bytes_per_activity_record
    );
    print_writer_busy(&r.writer_busy);
}

/// The embedded writer thread's share of each stage's wall time (nothing on
/// PostgreSQL): near 100% on a CPU or waiting for one, the writer bounds it.
pub fn print_writer_busy(busy: &[ThreadBusy]) {
    if busy.is_empty() {
        return;
    }
    println!(
        "\n{:<46} {:>12} {:>12}",
        "the one writer thread over the stage", "on a CPU %", "runnable %"
    );
    for b in busy {
        println!(
            "{:<46} {:>12.0} {:>12.0}",
            b.stage, b.on_cpu_percent, b.runnable_percent
        );
    }
}
