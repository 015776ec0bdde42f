//! What the privacy policy (SPEC §11) costs at ingest: the activity records are
//! pushed twice, once (session 1) under `full` capture and once (session 2)
//! under `domains` with two redaction rules, in alternating slices of
//! computers, so both policies write into a database of the same size and
//! neither gains from going second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use crate::client::Api;
use crate::data::{Body, Dataset};
use crate::Throughput;

/// Slices of computers the two policies alternate over.
const SLICES: usize = 8;

fn slices(bodies: Arc<Vec<Body>>) -> anyhow::Result<Vec<Arc<Vec<Body>>>> {
    let bodies =
        Arc::try_unwrap(bodies).map_err(|_| anyhow::anyhow!("activity bodies are shared"))?;
    let per_slice = bodies.len().div_ceil(SLICES).max(1);
    let mut out = Vec::new();
    let mut rest = bodies.into_iter().peekable();
    while rest.peek().is_some() {
        out.push(Arc::new(rest.by_ref().take(per_slice).collect()));
    }
    Ok(out)
}

/// Pushes every activity record under each policy; the ingest figure of each.
pub async fn compare(
    api: &Api,
    dataset: &Dataset,
    clients: usize,
) -> anyhow::Result<(Throughput, Throughput)> {
    let full_policy = json!({"capture": "full"});
    let private_policy = json!({"capture": "domains", "redaction": [
        {"match": "glob", "pattern": "crm.*", "replacement": "[crm]"},
        {"match": "regex", "pattern": "^(mail|docs)\\.", "replacement": ""}]});
    let full = slices(dataset.activity_bodies(1))?;
    let private = slices(dataset.activity_bodies(2))?;
    let (mut full_time, mut private_time) = (Duration::ZERO, Duration::ZERO);
    let (mut full_items, mut private_items) = (0, 0);
    for (i, (f, p)) in full.iter().zip(&private).enumerate() {
        // Alternate which goes first, too.
        let order = if i % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for is_full in order {
            let (policy, bodies) = if is_full {
                (&full_policy, f)
            } else {
                (&private_policy, p)
            };
            api.privacy(policy.clone()).await?;
            let started = Instant::now();
            let accepted = api
                .push_all(bodies, clients, "accepted")
                .await
                .context("pushing activity")?;
            if is_full {
                full_time += started.elapsed();
                full_items += accepted;
            } else {
                private_time += started.elapsed();
                private_items += accepted;
            }
        }
    }
    Ok((
        Throughput::of("activity records", full_items, full_time),
        Throughput::of(
            "activity records (domains, 2 redactions)",
            private_items,
            private_time,
        ),
    ))
}
