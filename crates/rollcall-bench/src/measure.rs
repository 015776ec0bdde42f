//! Latency samples and their percentiles.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

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
                let mut s = self.samples[name].clone();
                s.sort();
                Percentiles {
                    name: name.clone(),
                    calls: s.len(),
                    p50_ms: percentile(&s, 0.50),
                    p99_ms: percentile(&s, 0.99),
                }
            })
            .collect()
    }
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
}
