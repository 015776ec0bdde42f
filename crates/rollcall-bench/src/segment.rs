//! The tracking API's part of the benchmark: live Segment traffic into one app
//! through `/v1/batch`, 100 messages a request (the SDKs' default batch size).
//!
//! Every employee is first identified (userId → email, not timed); the timed
//! messages are then `track` calls carrying only a `userId`, as most Segment
//! traffic does, each with a random `messageId` and a timestamp moving forward
//! through the last few minutes, as a live source sends them.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::client::Api;
use crate::stream::Bodies;
use crate::Throughput;

/// Messages a request (analytics-python's `upload_size`).
pub const MESSAGES_PER_REQUEST: usize = 100;

fn iso(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| format!("{t:.3}"))
        .unwrap_or_default()
}

fn user_id(i: usize) -> String {
    format!("user-{i}")
}

/// `/v1/batch` bodies: the identify calls (prepared) and the track calls
/// (made as they are taken).
pub struct Traffic {
    pub identifies: Vec<Vec<u8>>,
    pub tracks: Box<dyn Iterator<Item = Vec<u8>> + Send>,
    pub messages: u64,
}

/// `messages` track calls of `employees` people (`email(i)` gives each one's
/// email) over event names `event-0..events`.
pub fn traffic(
    employees: usize,
    events: usize,
    messages: usize,
    email: impl Fn(usize) -> String,
) -> Traffic {
    let mut rng = StdRng::seed_from_u64(7);
    let now = jiff::Timestamp::now().as_millisecond();
    let sent_at = iso(now);
    let identifies = (0..employees)
        .collect::<Vec<_>>()
        .chunks(MESSAGES_PER_REQUEST)
        .map(|chunk| {
            let batch: Vec<Value> = chunk
                .iter()
                .map(|i| {
                    json!({"type": "identify", "userId": user_id(*i), "messageId": format!("id-{i}"),
                           "timestamp": sent_at, "traits": {"email": email(*i), "name": format!("Employee {i}")}})
                })
                .collect();
            serde_json::to_vec(&json!({"batch": batch, "sentAt": sent_at})).unwrap_or_default()
        })
        .collect();
    // Timestamps spread over the last 10 minutes, in sending order.
    let span = 600_000i64;
    let start = now - span;
    let step = span as f64 / messages.max(1) as f64;
    let tracks = (0..messages).step_by(MESSAGES_PER_REQUEST).map(move |k| {
        let n = MESSAGES_PER_REQUEST.min(messages - k);
        let batch: Vec<Value> = (k..k + n)
            .map(|m| {
                let ts = start + (m as f64 * step) as i64;
                json!({"type": "track", "userId": user_id(rng.gen_range(0..employees.max(1))),
                       "event": format!("event-{}", rng.gen_range(0..events.max(1))),
                       "messageId": format!("{:032x}", rng.gen::<u128>()),
                       "timestamp": iso(ts), "properties": {"plan": "pro", "value": m},
                       "context": {"library": {"name": "analytics-python", "version": "2.4.0"}}})
            })
            .collect();
        serde_json::to_vec(&json!({"batch": batch, "sentAt": sent_at})).unwrap_or_default()
    });
    Traffic {
        identifies,
        tracks: Box::new(tracks),
        messages: messages as u64,
    }
}

impl Api {
    /// A write key for `app`.
    pub async fn write_key(&self, app: &str) -> anyhow::Result<String> {
        let made = self
            .post_json(
                "/admin/v1/credentials",
                &json!({"type": "writeKey", "appId": app, "name": "bench"}),
            )
            .await?;
        Ok(made["writeKey"]
            .as_str()
            .context("no writeKey")?
            .to_string())
    }

    /// POSTs every body to `/v1/batch` with `clients` concurrent clients.
    pub async fn push_segment(
        &self,
        key: &str,
        bodies: &Arc<Bodies<Vec<u8>>>,
        clients: usize,
    ) -> anyhow::Result<()> {
        let mut tasks = Vec::new();
        for _ in 0..clients.max(1) {
            let (http, url, key) = (
                self.http(),
                format!("{}/v1/batch", self.base()),
                key.to_string(),
            );
            let bodies = Arc::clone(bodies);
            tasks.push(tokio::spawn(async move {
                while let Some(body) = bodies.next().await {
                    let response = http
                        .post(&url)
                        .basic_auth(&key, Some(""))
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await?;
                    let status = response.status();
                    let text = response.text().await?;
                    if !status.is_success() || text != r#"{"success":true}"# {
                        bail!("/v1/batch answered {status}: {text}");
                    }
                }
                Ok::<(), anyhow::Error>(())
            }));
        }
        for task in tasks {
            task.await??;
        }
        Ok(())
    }
}

/// Identifies everyone, then times the track calls.
pub async fn measure(
    api: &Api,
    app: &str,
    traffic: Traffic,
    clients: usize,
    stream: bool,
) -> anyhow::Result<Throughput> {
    let key = api.write_key(app).await?;
    let identifies = Bodies::new(traffic.identifies.into_iter(), false);
    api.push_segment(&key, &identifies, clients)
        .await
        .context("identifying the employees")?;
    let tracks = Bodies::new(traffic.tracks, stream);
    let started = Instant::now();
    api.push_segment(&key, &tracks, clients)
        .await
        .context("pushing Segment track calls")?;
    Ok(Throughput::new(
        &format!("Segment /v1/batch (100/request, {clients} clients)"),
        traffic.messages,
        started,
    ))
}
