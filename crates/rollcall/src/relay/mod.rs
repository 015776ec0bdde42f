//! `rollcall relay` (SPEC §10.2): an aw-server stand-in on loopback for the
//! ActivityWatch watchers, whose window and afk buckets become §5 agent
//! records uploaded to a Rollcall server.
//!
//! - [`aw_api`]: the aw-server REST API the watchers and `aw-client` use;
//! - [`store`]: buckets and events, in memory and in an fsynced journal;
//! - [`event`]: aw-server's heartbeat merge (pure);
//! - [`convert`]: buckets → records for a sealed interval (pure);
//! - [`spool`]: the outbox of records and the upload cursor, on disk;
//! - [`uploader`]: batches to `/agent/v1/activity` with retry and back-off;
//! - [`policy`]: the capture policy in force for this login, applied before upload;
//! - [`identity`]: the computer and login the records are sent as.
//!
//! Sealing: time is converted into records only up to a watermark that no
//! watcher can still change — the earliest end of the last event among the
//! window and afk buckets that are still being written (a bucket silent for
//! [`STALE_AFTER`] no longer holds the others back). The watermark moves in
//! steps of `--seal-secs`, or at once when the watchers go quiet; every
//! sealed interval is written to the outbox with its records in one fsynced
//! line, so each second is converted exactly once, across restarts too.

mod aw_api;
mod convert;
mod event;
mod identity;
mod policy;
mod spool;
mod store;
mod uploader;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use serde_json::{json, Value};
use tokio::sync::Notify;

use self::aw_api::Shared;
use self::spool::Spool;
use self::store::{Bucket, Store, StoreError};

/// A bucket not written for this long no longer holds the watermark back
/// (its watcher stopped or crashed).
pub const STALE_AFTER: Duration = Duration::from_secs(600);
/// Events that ended this long before the sealed mark are dropped from memory
/// when the journal is rewritten.
const KEEP_EVENTS_S: i64 = 7 * 86_400;

#[derive(Args)]
pub struct RelayArgs {
    /// The Rollcall server, e.g. https://rollcall.example.com.
    #[arg(long, env = "ROLLCALL_SERVER")]
    server: String,
    /// An API key with the activity.write scope.
    #[arg(long, env = "ROLLCALL_API_KEY", hide_env_values = true)]
    api_key: String,
    /// Loopback address the watchers connect to (aw-server's default port).
    #[arg(long, default_value = "127.0.0.1:5600")]
    listen: SocketAddr,
    /// Directory of the journal and outbox (default: ./rollcall-relay).
    #[arg(long, env = "ROLLCALL_RELAY_SPOOL", default_value = "./rollcall-relay")]
    spool: PathBuf,
    /// The login the records are sent as: NAME or DOMAIN\NAME (default: this OS login).
    #[arg(long)]
    user: Option<String>,
    /// Seconds of activity converted into records at a time.
    #[arg(long, default_value_t = 60, hide = true)]
    seal_secs: u64,
    /// Longest wait between upload retries, in seconds.
    #[arg(long, default_value_t = 300, hide = true)]
    max_backoff_secs: u64,
}

fn bounded(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

fn record_json(p: &convert::Piece) -> Value {
    let start = jiff::Timestamp::from_second(p.start_s)
        .map(|t| t.to_string())
        .unwrap_or_default();
    // Only web addresses are URLs to the server; anything else (about:blank) is dropped.
    let url = p
        .url
        .as_deref()
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        .map(|u| bounded(u, 4000));
    json!({
        "start": start,
        "duration": p.end_s - p.start_s,
        "executable": bounded(&p.app, 260),
        "description": bounded(&p.title, 2000),
        "url": url,
        "idle": p.idle,
    })
}

/// Converts what is due into records in the outbox; true when it wrote some.
fn seal(store: &Store, spool: &mut Spool, seal_secs: i64) -> Result<bool, StoreError> {
    let now = Instant::now();
    let of_kind = |kind: &str| -> Vec<&Bucket> {
        store
            .buckets()
            .values()
            .filter(|b| b.meta.kind == kind)
            .collect()
    };
    let windows = of_kind("currentwindow");
    let afks = of_kind("afkstatus");
    let watched: Vec<&Bucket> = windows
        .iter()
        .chain(afks.iter())
        .copied()
        .filter(|b| b.end_us.is_some())
        .collect();
    if windows.iter().all(|b| b.events.is_empty()) {
        return Ok(false);
    }
    let fresh_ends: Vec<i64> = watched
        .iter()
        .filter(|b| now.duration_since(b.touched) < STALE_AFTER)
        .filter_map(|b| b.end_us)
        .collect();
    let watermark_us = match fresh_ends.iter().min() {
        Some(&m) => m,
        None => watched.iter().filter_map(|b| b.end_us).max().unwrap_or(0),
    };
    let to_s = watermark_us.div_euclid(1_000_000);
    let from_s = match spool.sealed_until() {
        Some(s) => s,
        None => windows
            .iter()
            .flat_map(|b| b.events.values().map(|e| e.start_us))
            .min()
            .unwrap_or(watermark_us)
            .div_euclid(1_000_000),
    };
    if to_s <= from_s {
        return Ok(false);
    }
    let quiet = watched
        .iter()
        .all(|b| now.duration_since(b.touched) >= Duration::from_secs(seal_secs as u64));
    if to_s - from_s < seal_secs && !quiet {
        return Ok(false);
    }
    let window_events: Vec<&event::Event> =
        windows.iter().flat_map(|b| b.events.values()).collect();
    let afk_events: Vec<&event::Event> = afks.iter().flat_map(|b| b.events.values()).collect();
    let pieces = convert::pieces(&window_events, &afk_events, from_s, to_s);
    let mut lines: Vec<(i64, Vec<Value>)> = pieces
        .chunks(uploader::MAX_RECORDS)
        .map(|chunk| {
            let until = chunk.last().map_or(to_s, |p| p.end_s);
            (until, chunk.iter().map(record_json).collect())
        })
        .collect();
    match lines.last_mut() {
        Some(last) => last.0 = to_s,
        None => lines.push((to_s, Vec::new())),
    }
    spool.append(&lines)?;
    tracing::debug!("sealed {from_s}..{to_s}: {} records", pieces.len());
    Ok(!pieces.is_empty())
}

/// The relay's session number: fixed at its first start and kept in the spool,
/// so a record's idempotent key stays the same across restarts.
fn session(dir: &std::path::Path) -> anyhow::Result<i64> {
    let path = dir.join("relay.json");
    if let Ok(bytes) = std::fs::read(&path) {
        let v: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        if let Some(s) = v["session"].as_i64() {
            return Ok(s);
        }
    }
    let s = jiff::Timestamp::now().as_second();
    std::fs::write(&path, json!({"session": s}).to_string())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(s)
}

pub async fn run(
    args: RelayArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if !args.listen.ip().is_loopback() {
        bail!(
            "the relay listens on loopback only (the watchers send without authentication); {} is not a loopback address",
            args.listen
        );
    }
    let server = args.server.trim_end_matches('/').to_string();
    if !(server.starts_with("http://") || server.starts_with("https://")) {
        bail!("--server must start with http:// or https://");
    }
    std::fs::create_dir_all(&args.spool)
        .with_context(|| format!("cannot create the spool directory {}", args.spool.display()))?;
    let session = session(&args.spool)?;
    let store = Store::open(&args.spool)?;
    let spool = Arc::new(Mutex::new(Spool::open(&args.spool)?));
    let identity = identity::Identity::detect(&server, args.user.as_deref());
    let hostname = identity.computer["name"]
        .as_str()
        .unwrap_or("unknown")
        .to_string();
    let shared = Arc::new(Shared {
        store: Mutex::new(store),
        hostname,
        device_id: format!("rollcall-relay-{session}"),
        written: Notify::new(),
    });
    let upload_wake = Arc::new(Notify::new());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .context("cannot build the HTTP client")?;
    let policy = policy::ServerPolicy {
        http: http.clone(),
        url: format!("{server}/agent/v1/capture"),
        api_key: args.api_key.clone(),
        login_domain: identity.client["loginDomain"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        name: identity.client["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    };
    let uploader = uploader::Uploader {
        http,
        url: format!("{server}/agent/v1/activity"),
        api_key: args.api_key,
        identity,
        session,
        spool: spool.clone(),
        wake: upload_wake.clone(),
        policy,
        max_backoff: Duration::from_secs(args.max_backoff_secs.max(1)),
    };
    let upload_task = tokio::spawn(uploader.run());
    // Upload what an earlier run left in the outbox.
    upload_wake.notify_one();

    let seal_secs = args.seal_secs.max(1) as i64;
    let sealer_shared = shared.clone();
    let sealer_spool = spool.clone();
    let sealer = tokio::spawn(async move {
        loop {
            // Woken by writes, and once a second so quiet watchers are sealed too.
            let _ = tokio::time::timeout(Duration::from_secs(1), sealer_shared.written.notified())
                .await;
            let (Ok(mut store), Ok(mut spool)) = (sealer_shared.store.lock(), sealer_spool.lock())
            else {
                return;
            };
            match seal(&store, &mut spool, seal_secs) {
                Ok(true) => upload_wake.notify_one(),
                Ok(false) => {}
                Err(e) => tracing::error!("{e}"),
            }
            let horizon = spool
                .sealed_until()
                .unwrap_or(0)
                .saturating_sub(KEEP_EVENTS_S)
                * 1_000_000;
            if let Err(e) = store.compact_if_grown(horizon) {
                tracing::error!("{e}");
            }
        }
    });

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    eprintln!("rollcall listening on http://{}", listener.local_addr()?);
    tracing::info!(
        "relaying to {server} as session {session}; spool in {}",
        args.spool.display()
    );
    axum::serve(listener, aw_api::router(shared))
        .with_graceful_shutdown(shutdown)
        .await?;
    sealer.abort();
    upload_task.abort();
    let pending = spool.lock().map(|s| s.pending_bytes()).unwrap_or(0);
    eprintln!(
        "rollcall relay stopped ({pending} bytes of records wait in the outbox for the next start)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn meta(id: &str, kind: &str) -> store::BucketMeta {
        store::BucketMeta {
            id: id.into(),
            kind: kind.into(),
            client: "test".into(),
            hostname: "h".into(),
            created: String::new(),
            data: Map::new(),
        }
    }

    fn ev(start_s: i64, dur_s: i64, data: Value) -> event::Event {
        event::Event {
            id: 0,
            start_us: start_s * 1_000_000,
            duration_us: dur_s * 1_000_000,
            data: data.as_object().cloned().unwrap_or_default(),
        }
    }

    fn sealed(spool: &mut Spool) -> Vec<Value> {
        let mut all = Vec::new();
        while let Some(b) = spool.next_batch(10_000).unwrap() {
            all.extend(b.records);
            spool.ack(b.end).unwrap();
        }
        all
    }

    #[test]
    fn the_watermark_waits_for_the_afk_bucket_and_each_second_is_sealed_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let mut spool = Spool::open(dir.path()).unwrap();
        store.create_bucket(meta("w", "currentwindow")).unwrap();
        store.create_bucket(meta("a", "afkstatus")).unwrap();
        let t = 1_800_000_000;
        store
            .insert("w", vec![ev(t, 600, json!({"app": "code", "title": "x"}))])
            .unwrap();
        store
            .insert("a", vec![ev(t, 100, json!({"status": "not-afk"}))])
            .unwrap();
        // The afk watcher has reported only 100 s: nothing later is sealed.
        assert!(seal(&store, &mut spool, 10).unwrap());
        assert_eq!(spool.sealed_until(), Some(t + 100));
        let first = sealed(&mut spool);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0]["duration"], 100);
        // Less than --seal-secs more: not yet.
        store
            .insert("a", vec![ev(t + 100, 5, json!({"status": "afk"}))])
            .unwrap();
        assert!(!seal(&store, &mut spool, 10).unwrap());
        store
            .insert("a", vec![ev(t + 105, 495, json!({"status": "not-afk"}))])
            .unwrap();
        assert!(seal(&store, &mut spool, 10).unwrap());
        let rest = sealed(&mut spool);
        let summary: Vec<(i64, bool)> = rest
            .iter()
            .map(|r| {
                (
                    r["duration"].as_i64().unwrap(),
                    r["idle"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(summary, vec![(5, true), (495, false)]);
        // Reopened, the spool knows what is sealed: nothing is converted twice.
        drop(spool);
        let mut spool = Spool::open(dir.path()).unwrap();
        assert!(!seal(&store, &mut spool, 1).unwrap());
        assert!(sealed(&mut spool).is_empty());
    }
}
