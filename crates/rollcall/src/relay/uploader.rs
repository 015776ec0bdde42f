//! Sends the outbox to `POST /agent/v1/activity` in batches of at most 5,000
//! records, one request at a time, oldest first. The cursor advances only on a
//! 2xx answer; network errors, 5xx and 429 are retried with exponential
//! back-off (or the server's `Retry-After`), for as long as it takes: a laptop
//! offline for days uploads its backlog when it is back. A 422 names the bad
//! records; those can never be accepted, so they are logged and left out and
//! the rest is sent again. 401/403 (a revoked key) are retried slowly, so
//! nothing is lost while someone fixes the key. Each batch first goes through
//! the capture policy in force for this login ([`policy`]); a batch the policy
//! keeps nothing of is acknowledged without a request.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Notify;

use super::identity::Identity;
use super::policy::{self, ServerPolicy};
use super::spool::Spool;
use crate::retry_after::retry_after;

/// Records per request (SPEC §5).
pub const MAX_RECORDS: usize = 5_000;

pub struct Uploader {
    pub http: reqwest::Client,
    pub url: String,
    pub api_key: String,
    pub identity: Identity,
    pub session: i64,
    pub spool: Arc<Mutex<Spool>>,
    pub wake: Arc<Notify>,
    pub policy: ServerPolicy,
    pub max_backoff: Duration,
}

enum Outcome {
    Stored {
        accepted: u64,
        duplicates: u64,
    },
    /// Indexes of records the server will never accept.
    Rejected(Vec<usize>),
    Retry(Option<Duration>, String),
}

impl Uploader {
    async fn send(&self, records: &[Value]) -> Outcome {
        let sent_at = jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_else(|_| jiff::Timestamp::now());
        let body = json!({
            "sentAt": sent_at.to_string(),
            "computer": self.identity.computer,
            "client": self.identity.client,
            "session": self.session,
            "records": records,
        });
        let response = match self
            .http
            .post(&self.url)
            .bearer_auth(&self.api_key)
            .json(&body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return Outcome::Retry(None, format!("cannot reach the server: {e}")),
        };
        let status = response.status();
        let after = retry_after(response.headers(), Duration::from_secs(3600));
        let reply: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Outcome::Stored {
                accepted: reply["accepted"].as_u64().unwrap_or(0),
                duplicates: reply["duplicates"].as_u64().unwrap_or(0),
            };
        }
        if status.as_u16() == 422 {
            let mut bad: Vec<usize> = reply["errors"]
                .as_array()
                .map(|errors| {
                    errors
                        .iter()
                        .filter_map(|e| e["index"].as_u64().map(|i| i as usize))
                        .filter(|&i| i < records.len())
                        .collect()
                })
                .unwrap_or_default();
            bad.sort_unstable();
            bad.dedup();
            if !bad.is_empty() {
                for e in reply["errors"].as_array().into_iter().flatten() {
                    tracing::warn!(
                        "the server refuses record {}: {} ({})",
                        e["index"],
                        e["message"].as_str().unwrap_or("invalid"),
                        e["field"].as_str().unwrap_or("")
                    );
                }
                return Outcome::Rejected(bad);
            }
        }
        let message = reply["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| status.to_string());
        let wait = match status.as_u16() {
            401 | 403 => Some(after.unwrap_or(self.max_backoff)),
            _ => after,
        };
        Outcome::Retry(wait, format!("the server answered {status}: {message}"))
    }

    pub async fn run(self) {
        let mut backoff = Duration::from_secs(1);
        loop {
            let batch = match self.spool.lock() {
                Ok(mut spool) => spool.next_batch(MAX_RECORDS),
                Err(_) => return,
            };
            let batch = match batch {
                Ok(Some(b)) => b,
                Ok(None) => {
                    let _ =
                        tokio::time::timeout(Duration::from_secs(30), self.wake.notified()).await;
                    continue;
                }
                Err(e) => {
                    tracing::error!("{e}");
                    tokio::time::sleep(self.max_backoff).await;
                    continue;
                }
            };
            let mut records = batch.records;
            let capture = loop {
                match self.policy.fetch().await {
                    Ok(capture) => break capture,
                    Err(why) => {
                        tracing::warn!("{why}; retrying in {} s", backoff.as_secs_f64());
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(self.max_backoff);
                    }
                }
            };
            policy::apply(capture, &mut records);
            loop {
                if records.is_empty() {
                    break;
                }
                match self.send(&records).await {
                    Outcome::Stored {
                        accepted,
                        duplicates,
                    } => {
                        tracing::info!(
                            "uploaded {} records: {accepted} accepted, {duplicates} duplicates",
                            records.len()
                        );
                        backoff = Duration::from_secs(1);
                        break;
                    }
                    Outcome::Rejected(bad) => {
                        for i in bad.into_iter().rev() {
                            records.remove(i);
                        }
                    }
                    Outcome::Retry(wait, why) => {
                        let wait = wait.unwrap_or(backoff).min(Duration::from_secs(3600));
                        tracing::warn!("{why}; retrying in {} s", wait.as_secs_f64());
                        tokio::time::sleep(wait).await;
                        backoff = (backoff * 2).min(self.max_backoff);
                    }
                }
            }
            let acked = match self.spool.lock() {
                Ok(mut spool) => spool.ack(batch.end),
                Err(_) => return,
            };
            if let Err(e) = acked {
                tracing::error!("{e}");
                tokio::time::sleep(self.max_backoff).await;
            }
        }
    }
}
