//! What the privacy policy (SPEC §11) costs at ingest: the activity records are
//! pushed twice, once (session 1) under `full` capture and once (session 2)
//! under `domains` with two redaction rules, in alternating slices of
//! computers, so both policies write into a database of the same size and
//! neither gains from going second.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use crate::client::Api;
use crate::data::Dataset;
use crate::stream::{Bodies, Steadiness};
use crate::Throughput;

/// Slices of computers the two policies alternate over.
const SLICES: usize = 8;

/// Pushes every activity record under each policy; the ingest figure of each.
pub async fn compare(
    api: &Api,
    dataset: &Dataset,
    clients: usize,
    stream: bool,
) -> anyhow::Result<(Throughput, Throughput, Steadiness)> {
    let full_policy = json!({"capture": "full"});
    let private_policy = json!({"capture": "domains", "redaction": [
        {"match": "glob", "pattern": "crm.*", "replacement": "[crm]"},
        {"match": "regex", "pattern": "^(mail|docs)\\.", "replacement": ""}]});
    let computers = dataset.computers();
    let slice = |i: usize| i * computers / SLICES..(i + 1) * computers / SLICES;
    // Prepared bodies are all made before the first is sent, as before.
    let prepare = |session| {
        (0..SLICES)
            .map(|i| Bodies::new(dataset.activity_bodies(session, slice(i)), stream))
            .collect::<Vec<_>>()
    };
    let (full, private) = if stream {
        (Vec::new(), Vec::new())
    } else {
        (prepare(1), prepare(2))
    };
    let mut slice_rates = Vec::new();
    let (mut full_time, mut private_time) = (Duration::ZERO, Duration::ZERO);
    let (mut full_items, mut private_items) = (0, 0);
    for i in 0..SLICES {
        // Alternate which goes first, too.
        let order = if i % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for is_full in order {
            let (policy, session, prepared) = if is_full {
                (&full_policy, 1, &full)
            } else {
                (&private_policy, 2, &private)
            };
            let bodies = match prepared.get(i) {
                Some(bodies) => bodies.clone(),
                None => Bodies::new(dataset.activity_bodies(session, slice(i)), stream),
            };
            api.privacy(policy.clone()).await?;
            let started = Instant::now();
            let (accepted, _) = api
                .push_all(&bodies, clients, "accepted")
                .await
                .context("pushing activity")?;
            if is_full {
                full_time += started.elapsed();
                full_items += accepted;
                if accepted == 0 {
                    continue; // fewer computers than slices
                }
                slice_rates.push(accepted as f64 / started.elapsed().as_secs_f64().max(1e-9));
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
        Steadiness::of(
            "activity records, first and last of 8 slices",
            slice_rates.first().copied().unwrap_or(0.0),
            slice_rates.last().copied().unwrap_or(0.0),
        ),
    ))
}
