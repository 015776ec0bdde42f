//! Latency samples and their percentiles.
//!
//! A report's first call after the load runs on cold caches (the server's
//! in-memory indexes are rebuilt, database pages read again), so it is reported
//! on its own and the percentiles are taken over the calls after it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use crate::client::Api;
use crate::data::{Asker, Question};

#[derive(Default)]
pub struct Timings {
    samples: BTreeMap<String, Vec<Duration>>,
    order: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Percentiles {
    pub name: String,
    pub calls: usize,
    pub first_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Timings {
    pub fn record(&mut self, name: &str, elapsed: Duration) {
        if !self.samples.contains_key(name) {
            self.order.push(name.to_string());
        }
        self.samples
            .entry(name.to_string())
            .or_default()
            .push(elapsed);
    }

    pub fn percentiles(&self) -> Vec<Percentiles> {
        self.order
            .iter()
            .map(|name| {
                let all = &self.samples[name];
                let first = all.first().copied().unwrap_or_default();
                let mut warm = if all.len() > 1 {
                    all[1..].to_vec()
                } else {
                    all.clone()
                };
                warm.sort();
                Percentiles {
                    name: name.clone(),
                    calls: all.len(),
                    first_ms: first.as_secs_f64() * 1000.0,
                    p50_ms: percentile(&warm, 0.50),
                    p99_ms: percentile(&warm, 0.99),
                }
            })
            .collect()
    }
}

/// Asks every question `repeat` times in a row (as the admin or the viewer),
/// recording each call's latency under the question's name.
pub async fn time_reports(
    questions: &[Question],
    admin: &Api,
    viewer: &Api,
    repeat: usize,
    timings: &mut Timings,
) -> anyhow::Result<()> {
    for question in questions {
        for _ in 0..repeat {
            time_report(question, admin, viewer, &question.name, timings).await?;
        }
    }
    Ok(())
}

/// One call of `question`, recorded under `label`. Latency is request sent to
/// last byte received; the body is checked to be JSON once the clock has stopped.
pub async fn time_report(
    question: &Question,
    admin: &Api,
    viewer: &Api,
    label: &str,
    timings: &mut Timings,
) -> anyhow::Result<()> {
    let Question { name, path, asker } = question;
    let asker = match asker {
        Asker::Admin => admin,
        Asker::Viewer => viewer,
    };
    let started = Instant::now();
    let body = asker
        .get_bytes(path)
        .await
        .with_context(|| format!("report {name}"))?;
    timings.record(label, started.elapsed());
    serde_json::from_slice::<serde::de::IgnoredAny>(&body)
        .with_context(|| format!("report {name} answered no JSON"))?;
    Ok(())
}

/// Nearest-rank percentile of sorted samples, in milliseconds.
fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&s, 0.5), 50.0);
        assert_eq!(percentile(&s, 0.99), 99.0);
        assert_eq!(percentile(&s[..1], 0.99), 1.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn the_first_call_is_reported_apart() {
        let mut t = Timings::default();
        for ms in [40, 2, 3, 1] {
            t.record("r", Duration::from_millis(ms));
        }
        let p = &t.percentiles()[0];
        assert_eq!(
            (p.calls, p.first_ms, p.p50_ms, p.p99_ms),
            (4, 40.0, 2.0, 3.0)
        );
    }
}
