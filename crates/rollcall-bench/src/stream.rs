//! Where the push clients take their request bodies from, and how steadily an
//! ingest ran.
//!
//! Bodies are either *prepared* (every body generated and held in memory before
//! the clock starts, as the harness always did) or *streamed* (a producer thread
//! generates them into a bounded channel while the clients send). Streaming is
//! for scales whose bodies do not fit in memory (`--scale 10` is tens of GB of
//! JSON); it holds at most [`STREAM_AHEAD`] bodies, at the price of the
//! generation's CPU time running beside the server (the harness prints its own
//! CPU time so that price is seen). A spool file was the alternative: it costs
//! as much disk as the bodies and its reads compete with the server's fsyncs,
//! on the same disk, for the whole run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

/// Bodies a stream may hold ahead of the senders.
pub const STREAM_AHEAD: usize = 32;

/// Request bodies for concurrent senders, prepared or streamed.
pub enum Bodies<T> {
    Prepared { bodies: Vec<T>, next: AtomicUsize },
    Streamed(tokio::sync::Mutex<mpsc::Receiver<T>>),
}

impl<T: Clone + Send + 'static> Bodies<T> {
    /// Every body of `source`, generated now (`stream` false) or by a producer
    /// thread as the senders take them (`stream` true).
    pub fn new(source: impl Iterator<Item = T> + Send + 'static, stream: bool) -> Arc<Bodies<T>> {
        if !stream {
            return Arc::new(Bodies::Prepared {
                bodies: source.collect(),
                next: AtomicUsize::new(0),
            });
        }
        let (tx, rx) = mpsc::channel(STREAM_AHEAD);
        std::thread::spawn(move || {
            for body in source {
                if tx.blocking_send(body).is_err() {
                    return; // the senders stopped
                }
            }
        });
        Arc::new(Bodies::Streamed(tokio::sync::Mutex::new(rx)))
    }

    /// The next body to send, or `None` once all are taken.
    pub async fn next(&self) -> Option<T> {
        match self {
            Bodies::Prepared { bodies, next } => {
                bodies.get(next.fetch_add(1, Ordering::Relaxed)).cloned()
            }
            Bodies::Streamed(rx) => rx.lock().await.recv().await,
        }
    }
}

/// Items acknowledged over time by one ingest, to compare its first and last tenths.
pub struct Progress {
    started: Instant,
    acks: Mutex<Vec<(Duration, u64)>>,
}

/// The rate of an ingest's first and last 10% of its items (issue 18 #3), or
/// of its first and last slice.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Steadiness {
    pub name: String,
    pub first_tenth_per_second: f64,
    pub last_tenth_per_second: f64,
    /// Last over first: 1.0 is a steady rate; the target is ≥ 0.85.
    pub last_over_first: f64,
}

impl Progress {
    pub fn start() -> Progress {
        Progress {
            started: Instant::now(),
            acks: Mutex::new(Vec::new()),
        }
    }

    /// `items` were acknowledged just now.
    pub fn ack(&self, items: u64) {
        let at = self.started.elapsed();
        if let Ok(mut acks) = self.acks.lock() {
            acks.push((at, items));
        }
    }

    /// The first and last tenth's rates, once the ingest is over.
    pub fn steadiness(&self, name: &str) -> Steadiness {
        let acks = self.acks.lock().map(|a| a.clone()).unwrap_or_default();
        let (first, last) = tenths(&acks);
        Steadiness::of(name, first, last)
    }
}

impl Steadiness {
    pub fn of(name: &str, first: f64, last: f64) -> Steadiness {
        Steadiness {
            name: name.to_string(),
            first_tenth_per_second: first,
            last_tenth_per_second: last,
            last_over_first: last / first.max(1e-9),
        }
    }
}

/// Rates of the first and last 10% of the items, from acknowledgements in time
/// order: the first tenth runs from the start to the acknowledgement that
/// reaches 10% of the items; the last from the one that reaches 90% to the end.
fn tenths(acks: &[(Duration, u64)]) -> (f64, f64) {
    let total: u64 = acks.iter().map(|(_, n)| n).sum();
    let Some(&(end, _)) = acks.last() else {
        return (0.0, 0.0);
    };
    let rate = |items: u64, took: Duration| items as f64 / took.as_secs_f64().max(1e-9);
    let mut sum = 0u64;
    let (mut first, mut last) = (None, None);
    for &(at, n) in acks {
        sum += n;
        if first.is_none() && sum * 10 >= total {
            first = Some(rate(sum, at));
        }
        if last.is_none() && sum * 10 >= total * 9 {
            last = Some(rate(total - sum, end.saturating_sub(at)));
        }
    }
    (first.unwrap_or(0.0), last.unwrap_or(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_ingest_has_equal_tenths_and_a_slowing_one_does_not() {
        let steady: Vec<_> = (1..=100).map(|s| (Duration::from_secs(s), 10)).collect();
        let (first, last) = tenths(&steady);
        assert!((first - 10.0).abs() < 1e-9 && (last - 10.0).abs() < 1e-9);
        // The last ten acknowledgements take twice as long each.
        let slowing: Vec<_> = (1..=100)
            .map(|s| {
                (
                    Duration::from_secs(if s <= 90 { s } else { 90 + 2 * (s - 90) }),
                    10,
                )
            })
            .collect();
        let (first, last) = tenths(&slowing);
        assert!((first - 10.0).abs() < 1e-9 && (last - 5.0).abs() < 1e-9);
        assert_eq!(tenths(&[]), (0.0, 0.0));
    }

    #[tokio::test]
    async fn streamed_and_prepared_bodies_come_in_order_and_end() {
        for stream in [false, true] {
            let bodies = Bodies::new(0..100u32, stream);
            let mut got = Vec::new();
            while let Some(b) = bodies.next().await {
                got.push(b);
            }
            assert_eq!(got, (0..100).collect::<Vec<_>>(), "stream {stream}");
        }
    }
}
