//! A thousand tenants (issue 18 #4): many small accounts beside the large one.
//!
//! Each small account is made with `rollcall admin init` (SPEC §8: each call
//! creates another account, on the embedded store or PostgreSQL alike, while
//! the server runs) and gets the same small company: one app, 200 employees and
//! their usage events over 90 days. Then every usage report question is asked
//! once of every small account in turn (a server with many tenants serves them
//! all, so per-account caches are under pressure), and finally the large
//! account, the first and the last small account are timed, interleaved.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::bail;
use serde::Serialize;

use crate::client::Api;
use crate::data::{Asker, Dataset, Question, Scale};
use crate::measure::{time_report, Timings};
use crate::stream::Bodies;

/// What the tenants stage needs from the run so far.
pub struct Setup<'a> {
    pub server_bin: &'a Path,
    pub data_dir: &'a Path,
    pub database_url: Option<&'a str>,
    pub base: &'a str,
    /// The large account and its report questions.
    pub large: &'a Api,
    pub large_questions: &'a [Question],
    pub tenants: usize,
    pub events_each: usize,
    pub clients: usize,
    pub repeat: usize,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Figures {
    pub tenants: usize,
    pub events_each: usize,
    /// Making the accounts with `rollcall admin init`, and filling them over HTTP.
    pub create_seconds: f64,
    pub fill_seconds: f64,
    pub reports: Vec<TenantReport>,
    /// The server's resident memory before and after the stage (its peak is the run's).
    pub server_rss_before_mb: f64,
    pub server_rss_mb: f64,
}

/// One question's p50 for the large, first and last small account.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantReport {
    pub name: String,
    /// Over one call to each small account in turn.
    pub every_tenant_p50_ms: f64,
    pub large_p50_ms: f64,
    pub first_p50_ms: f64,
    pub last_p50_ms: f64,
    /// The last small account's p50 over the first's (target ≤ 2).
    pub last_over_first: f64,
}

/// The small company of each tenant.
fn tenant_scale(events: usize) -> Scale {
    Scale {
        employees: 200,
        teams: 5,
        apps: 1,
        usage_events: events,
        computers: 1,
        activity_records: 0,
        audit_events: 0,
        ..Scale::full()
    }
}

/// The usage questions (the large account's are asked of the small ones too;
/// the workforce ones need agents, which the small accounts do not have).
fn usage_questions(data: &Dataset, app_ids: &[String]) -> Vec<Question> {
    data.report_queries(app_ids, 0)
        .into_iter()
        .filter(|q| q.asker == Asker::Admin && q.path.starts_with("/pull/"))
        .collect()
}

/// A filled small account: its API and its questions.
struct Tenant {
    api: Api,
    questions: Vec<Question>,
}

pub async fn measure(s: Setup<'_>) -> anyhow::Result<Figures> {
    let started = Instant::now();
    let mut keys = Vec::with_capacity(s.tenants);
    for _ in 0..s.tenants {
        keys.push(crate::server::admin_init(s.server_bin, s.data_dir, s.database_url).await?);
    }
    let create_seconds = started.elapsed().as_secs_f64();

    eprintln!(
        "bench: filling {} accounts with {} usage events each",
        s.tenants, s.events_each
    );
    let data = Arc::new(Dataset::generate(&tenant_scale(s.events_each)));
    let started = Instant::now();
    let keys = Arc::new(keys);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..s.clients.max(1) {
        let (keys, next, data, base) = (
            Arc::clone(&keys),
            Arc::clone(&next),
            Arc::clone(&data),
            s.base.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let mut filled = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(key) = keys.get(i) else { break };
                filled.push((i, fill(Api::new(&base, key), &data).await?));
            }
            Ok::<_, anyhow::Error>(filled)
        }));
    }
    let mut tenants = Vec::new();
    for task in tasks {
        tenants.extend(task.await??);
    }
    // In the order the accounts were made.
    tenants.sort_by_key(|(at, _)| *at);
    let tenants: Vec<Tenant> = tenants.into_iter().map(|(_, t)| t).collect();
    let fill_seconds = started.elapsed().as_secs_f64();

    eprintln!("bench: asking every small account each usage question");
    let mut every = Timings::default();
    let count = tenants[0].questions.len();
    for q in 0..count {
        for t in &tenants {
            let question = &t.questions[q];
            time_report(question, &t.api, &t.api, &question.name, &mut every).await?;
        }
    }
    let (first, last) = (&tenants[0], &tenants[tenants.len() - 1]);
    let large_questions: Vec<&Question> = first
        .questions
        .iter()
        .filter_map(|q| s.large_questions.iter().find(|l| l.name == q.name))
        .collect();
    let mut timed = Timings::default();
    for _ in 0..s.repeat + 1 {
        for q in 0..count {
            let name = &first.questions[q].name;
            if let Some(large_q) = large_questions.iter().find(|l| &l.name == name) {
                time_report(
                    large_q,
                    s.large,
                    s.large,
                    &format!("large {name}"),
                    &mut timed,
                )
                .await?;
            }
            for (label, t) in [("first", first), ("last", last)] {
                let question = &t.questions[q];
                time_report(
                    question,
                    &t.api,
                    &t.api,
                    &format!("{label} {name}"),
                    &mut timed,
                )
                .await?;
            }
        }
    }
    let every = every.percentiles();
    let timed = timed.percentiles();
    let p50 = |label: &str, name: &str| {
        timed
            .iter()
            .find(|p| p.name == format!("{label} {name}"))
            .map_or(0.0, |p| p.p50_ms)
    };
    // `every` takes the p50 after each question's first call, as everywhere.
    let reports = every
        .iter()
        .map(|e| {
            let (first, last) = (p50("first", &e.name), p50("last", &e.name));
            TenantReport {
                name: e.name.clone(),
                every_tenant_p50_ms: e.p50_ms,
                large_p50_ms: p50("large", &e.name),
                first_p50_ms: first,
                last_p50_ms: last,
                last_over_first: last / first.max(1e-9),
            }
        })
        .collect();
    Ok(Figures {
        tenants: s.tenants,
        events_each: s.events_each,
        create_seconds,
        fill_seconds,
        reports,
        server_rss_before_mb: 0.0,
        server_rss_mb: 0.0,
    })
}

/// Defines the small company in the account of `api` and pushes its usage events.
async fn fill(api: Api, data: &Dataset) -> anyhow::Result<Tenant> {
    let app_ids = api.define(data).await?;
    let bodies = Bodies::new(data.usage_bodies(&app_ids), false);
    let (accepted, _) = api.push_all(&bodies, 1, "accepted").await?;
    if accepted as usize != data.usage_events {
        bail!(
            "a small account accepted {accepted} of {} usage events",
            data.usage_events
        );
    }
    let questions = usage_questions(data, &app_ids);
    Ok(Tenant { api, questions })
}

/// Prints the stage's part of the table.
pub fn print(f: &Figures) {
    println!(
        "\n{} small accounts of {} usage events (made in {:.1} s, filled in {:.1} s); server RSS {:.0} MB before, {:.0} MB after",
        f.tenants, f.events_each, f.create_seconds, f.fill_seconds, f.server_rss_before_mb, f.server_rss_mb
    );
    println!(
        "{:<46} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "report, p50 ms (issue 18 #4)", "every", "large", "first", "last", "last/1st"
    );
    for r in &f.reports {
        println!(
            "{:<46} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            r.name,
            r.every_tenant_p50_ms,
            r.large_p50_ms,
            r.first_p50_ms,
            r.last_p50_ms,
            r.last_over_first
        );
    }
}
