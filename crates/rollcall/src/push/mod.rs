//! `rollcall push` (SPEC §10.3): a CSV or NDJSON file (or stdin) sent to the
//! push APIs in their batch sizes, several requests in flight.
//!
//! - [`input`]: lines → JSON items with their line numbers and byte offsets;
//! - [`kind`]: which endpoint, batch size and body each kind of data takes;
//! - [`state`]: the resume file beside the input;
//! - [`progress`]: the progress line on a terminal, sparse logs off one.
//!
//! A batch is validated whole by the server; a 422 names the bad items, which
//! are reported by line number and left out, and the rest of the batch is sent
//! again. 429 and 503 wait for `Retry-After`; network errors and other 5xx
//! back off and retry. Batches finish in any order; the resume point advances
//! only over batches that are all acknowledged, and every push endpoint is
//! idempotent, so resuming or re-running never stores an item twice.

mod input;
mod kind;
mod progress;
mod state;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use serde_json::{json, Value};

use self::input::{Format, Input, Line};
use self::kind::Kind;
use self::state::{Rejected, State};
use crate::retry_after::retry_after;

/// Rejected lines printed in the summary (the count is always complete).
const LISTED_REJECTS: usize = 1_000;
/// Attempts at a batch that fails with a network error or a 5xx other than 503.
const MAX_ATTEMPTS: u32 = 8;

#[derive(Args)]
pub struct PushArgs {
    /// What the file holds.
    #[arg(value_enum)]
    kind: Kind,
    /// The CSV or NDJSON file, or `-` for standard input.
    file: PathBuf,
    /// The Rollcall server, e.g. https://rollcall.example.com.
    #[arg(long, env = "ROLLCALL_SERVER")]
    server: String,
    /// An API key (or OAuth access token) with the connector.write or activity.write scope.
    #[arg(long, env = "ROLLCALL_API_KEY", hide_env_values = true)]
    api_key: String,
    /// The app the events, users or spend records belong to.
    #[arg(long)]
    app: Option<String>,
    /// The file's format (default: from the extension, `.csv` or else NDJSON).
    #[arg(long, value_parser = ["csv", "ndjson"])]
    format: Option<String>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// The org-chart snapshot's name (default: the file name).
    #[arg(long)]
    org_chart_name: Option<String>,
    /// Start from the beginning even if an interrupted push of this file was saved.
    #[arg(long)]
    restart: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// What the workers share.
struct Ctx {
    http: reqwest::Client,
    server: String,
    api_key: String,
    kind: Kind,
    app: Option<String>,
    snapshot: Option<i64>,
    header: Option<String>,
}

/// Lines read into one request.
struct Batch {
    seq: u64,
    items: Vec<(u64, Value)>,
    rejected: Vec<Rejected>,
    end_offset: u64,
    end_line: u64,
}

/// A batch the server has answered for.
struct Done {
    seq: u64,
    end_offset: u64,
    end_line: u64,
    accepted: u64,
    duplicates: u64,
    items: u64,
    rejected: Vec<Rejected>,
}

fn error_message(e: &Value) -> String {
    let field = e["field"].as_str().unwrap_or_default();
    let message = e["message"].as_str().unwrap_or("invalid");
    if field.is_empty() {
        message.to_string()
    } else {
        format!("{field}: {message}")
    }
}

impl Ctx {
    async fn post(&self, request: kind::Request) -> reqwest::Result<reqwest::Response> {
        let url = format!("{}{}", self.server, request.path);
        let builder = if request.put {
            self.http.put(url)
        } else {
            self.http.post(url)
        };
        builder
            .bearer_auth(&self.api_key)
            .header(reqwest::header::CONTENT_TYPE, request.content_type)
            .body(request.body)
            .send()
            .await
    }

    /// Sends a batch until the server has taken it (less the items it names as bad).
    async fn send(&self, batch: Batch) -> anyhow::Result<Done> {
        let Batch {
            seq,
            mut items,
            mut rejected,
            end_offset,
            end_line,
        } = batch;
        let total = items.len() as u64;
        let mut backoff = Duration::from_millis(250);
        let mut failures = 0u32;
        let done = |accepted, duplicates, rejected| Done {
            seq,
            end_offset,
            end_line,
            accepted,
            duplicates,
            items: total,
            rejected,
        };
        loop {
            if items.is_empty() {
                return Ok(done(0, 0, rejected));
            }
            let values: Vec<Value> = items.iter().map(|(_, v)| v.clone()).collect();
            let request = self.kind.request(
                self.app.as_deref(),
                self.snapshot,
                self.header.as_deref(),
                &values,
            );
            let response = match self.post(request).await {
                Ok(r) => r,
                Err(e) => {
                    failures += 1;
                    if failures >= MAX_ATTEMPTS {
                        bail!("cannot reach {}: {e}", self.server);
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    continue;
                }
            };
            let status = response.status();
            let after = retry_after(response.headers(), Duration::from_secs(600));
            let reply: Value = response.json().await.unwrap_or(Value::Null);
            if status.is_success() {
                let n = items.len() as u64;
                let accepted = reply["accepted"].as_u64().unwrap_or(n);
                let duplicates = reply["duplicates"].as_u64().unwrap_or(0);
                return Ok(done(accepted, duplicates, rejected));
            }
            match status.as_u16() {
                429 | 503 => {
                    tokio::time::sleep(after.unwrap_or(backoff)).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
                422 => {
                    let mut bad: BTreeMap<usize, Vec<String>> = BTreeMap::new();
                    for e in reply["errors"].as_array().into_iter().flatten() {
                        let index = e["index"]
                            .as_u64()
                            .and_then(|i| self.kind.item_of_index(self.app.as_deref(), i))
                            .filter(|&i| i < items.len());
                        if let Some(i) = index {
                            bad.entry(i).or_default().push(error_message(e));
                        }
                    }
                    if bad.is_empty() {
                        bail!(
                            "the server refuses the data: {}",
                            reply["message"].as_str().unwrap_or("422")
                        );
                    }
                    for (i, messages) in bad.into_iter().rev() {
                        let (line, _) = items.remove(i);
                        rejected.push(Rejected {
                            line,
                            message: messages.join("; "),
                        });
                    }
                }
                500..=599 => {
                    failures += 1;
                    if failures >= MAX_ATTEMPTS {
                        bail!("the server keeps failing: {status}");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
                _ => bail!(
                    "the server answered {status}: {}",
                    reply["message"].as_str().unwrap_or("no message")
                ),
            }
        }
    }
}

/// Reads up to a batch of lines (an activity batch ends where the agent changes).
fn read_batch(
    input: &mut Input,
    kind: Kind,
    size: usize,
    carry: &mut Option<(u64, Value)>,
    seq: u64,
) -> anyhow::Result<Option<Batch>> {
    let mut batch = Batch {
        seq,
        items: Vec::with_capacity(size),
        rejected: Vec::new(),
        end_offset: input.offset,
        end_line: input.line,
    };
    let mut envelope = None;
    if let Some((line, item)) = carry.take() {
        envelope = kind.envelope(&item);
        batch.items.push((line, item));
    }
    let mut eof = false;
    while batch.items.len() < size {
        match input.next_line().context("cannot read the input")? {
            None => {
                eof = true;
                break;
            }
            Some(Line::Bad(line, message)) => batch.rejected.push(Rejected { line, message }),
            Some(Line::Item(line, item)) => {
                let this = kind.envelope(&item);
                if batch.items.is_empty() {
                    envelope = this;
                } else if this != envelope {
                    // Another agent: this line starts the next batch.
                    *carry = Some((line, item));
                    // Its bytes are not acknowledged with this batch.
                    return Ok(Some(batch));
                }
                batch.items.push((line, item));
            }
        }
        batch.end_offset = input.offset;
        batch.end_line = input.line;
    }
    if eof && batch.items.is_empty() && batch.rejected.is_empty() {
        return Ok(None);
    }
    Ok(Some(batch))
}

pub async fn run(args: PushArgs) -> anyhow::Result<ExitCode> {
    let server = args.server.trim_end_matches('/').to_string();
    if !(server.starts_with("http://") || server.starts_with("https://")) {
        bail!("--server must start with http:// or https://");
    }
    let kind = args.kind;
    if kind.needs_app() && args.app.is_none() {
        bail!("push {} needs --app ID", kind.name());
    }
    let format = match args.format.as_deref() {
        Some("csv") => Format::Csv,
        Some(_) => Format::Ndjson,
        None if args
            .file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv")) =>
        {
            Format::Csv
        }
        None => Format::Ndjson,
    };
    let raw = kind.csv_upload(args.app.as_deref());
    if raw && format != Format::Csv {
        bail!(
            "push {} {}takes a CSV file (with --app, spend takes finance records as NDJSON too)",
            kind.name(),
            if kind == Kind::Spend {
                "without --app "
            } else {
                ""
            }
        );
    }
    let file_len = if args.file.as_os_str() == "-" {
        0
    } else {
        std::fs::metadata(&args.file)
            .with_context(|| format!("cannot read {}", args.file.display()))?
            .len()
    };
    let fresh = State {
        kind: kind.name().into(),
        app: args.app.clone(),
        server: server.clone(),
        file_len,
        ..State::default()
    };
    let state_path = state::path_for(&args.file);
    let mut st = match (&state_path, args.restart) {
        (Some(p), false) => state::load(p, &fresh).unwrap_or(fresh),
        _ => fresh,
    };
    let resumed_from = (st.line > 0).then_some(st.line);
    if let Some(line) = resumed_from {
        eprintln!(
            "resuming the interrupted push of {} after line {line} (--restart starts over)",
            args.file.display()
        );
    }
    let mut input = Input::open(&args.file, format, kind.typing(), raw, st.offset, st.line)
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .context("cannot build the HTTP client")?;
    if kind == Kind::OrgChart && st.snapshot.is_none() {
        let name = args.org_chart_name.clone().unwrap_or_else(|| {
            args.file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "rollcall push".into())
        });
        let reply: Value = http
            .post(format!("{server}/services/push/v1/customer/org-chart"))
            .bearer_auth(&args.api_key)
            .json(&json!({"orgChartName": name}))
            .send()
            .await
            .context("cannot start the org-chart snapshot")?
            .json()
            .await
            .unwrap_or_default();
        st.snapshot = Some(reply["id"].as_i64().with_context(|| {
            format!(
                "the server did not start an org-chart snapshot: {}",
                reply["message"].as_str().unwrap_or("no id in its answer")
            )
        })?);
    }
    let ctx = Arc::new(Ctx {
        http,
        server,
        api_key: args.api_key,
        kind,
        app: args.app,
        snapshot: st.snapshot,
        header: input.header_line.clone(),
    });

    let started = Instant::now();
    let mut progress = progress::Progress::new(input.total_bytes, st.offset);
    let mut tasks = tokio::task::JoinSet::new();
    let mut finished: BTreeMap<u64, Done> = BTreeMap::new();
    let (mut next_seq, mut next_ack) = (0u64, 0u64);
    let mut carry = None;
    let mut eof = false;
    let mut items_sent = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let concurrency = args.concurrency.max(1);
    loop {
        while !eof && tasks.len() < concurrency {
            match read_batch(&mut input, kind, kind.batch_size(), &mut carry, next_seq)? {
                None => eof = true,
                Some(batch) => {
                    next_seq += 1;
                    let ctx = ctx.clone();
                    tasks.spawn(async move { ctx.send(batch).await });
                }
            }
        }
        if tasks.is_empty() {
            break;
        }
        tokio::select! {
            joined = tasks.join_next() => {
                let Some(joined) = joined else { continue };
                let done = match joined {
                    Ok(Ok(done)) => done,
                    Ok(Err(e)) => {
                        progress.clear();
                        return Err(e.context(match &state_path {
                            Some(p) => format!("stopped; run the same command again to resume (state in {})", p.display()),
                            None => "stopped".to_string(),
                        }));
                    }
                    Err(e) => bail!("a sender failed: {e}"),
                };
                finished.insert(done.seq, done);
                // Advance the resume point over every batch acknowledged in order.
                let mut advanced = false;
                while let Some(done) = finished.remove(&next_ack) {
                    next_ack += 1;
                    st.offset = done.end_offset;
                    st.line = done.end_line;
                    st.accepted += done.accepted;
                    st.duplicates += done.duplicates;
                    st.rejected.extend(done.rejected);
                    items_sent += done.items;
                    advanced = true;
                }
                if advanced {
                    if let Some(p) = &state_path {
                        state::save(p, &st).with_context(|| format!("cannot write {}", p.display()))?;
                    }
                    progress.update(st.offset, items_sent);
                }
            }
            _ = tick.tick() => progress.show(),
        }
    }
    if kind == Kind::OrgChart {
        let reply = ctx
            .post(kind::Request {
                path: format!(
                    "/services/push/v1/customer/org-chart/{}",
                    st.snapshot.unwrap_or_default()
                ),
                content_type: "application/json",
                body: json!({"hasMore": false, "users": []})
                    .to_string()
                    .into_bytes(),
                put: true,
            })
            .await
            .context("cannot complete the org-chart snapshot")?;
        if !reply.status().is_success() {
            let status = reply.status();
            let body: Value = reply.json().await.unwrap_or_default();
            bail!(
                "the server did not complete the org-chart snapshot: {status} {}",
                body["message"].as_str().unwrap_or_default()
            );
        }
    }
    progress.clear();
    if let Some(p) = &state_path {
        let _ = std::fs::remove_file(p);
    }
    let seconds = started.elapsed().as_secs_f64();
    st.rejected.sort_by_key(|r| r.line);
    let rate = items_sent as f64 / seconds.max(1e-9);
    if args.json {
        let listed: Vec<Value> = st
            .rejected
            .iter()
            .take(LISTED_REJECTS)
            .map(|r| json!({"line": r.line, "message": r.message}))
            .collect();
        println!(
            "{}",
            json!({"kind": kind.name(), "lines": st.line, "accepted": st.accepted,
                   "duplicates": st.duplicates, "rejectedCount": st.rejected.len(),
                   "rejected": listed, "resumedFromLine": resumed_from,
                   "seconds": seconds, "itemsPerSecond": rate.round()})
        );
    } else {
        println!(
            "push {}: {} accepted, {} duplicates, {} rejected ({} lines in {seconds:.1} s, {rate:.0} items/s{})",
            kind.name(),
            st.accepted,
            st.duplicates,
            st.rejected.len(),
            st.line,
            resumed_from
                .map(|l| format!("; resumed after line {l}"))
                .unwrap_or_default()
        );
        for r in st.rejected.iter().take(LISTED_REJECTS) {
            println!("  line {}: {}", r.line, r.message);
        }
        if st.rejected.len() > LISTED_REJECTS {
            println!("  … and {} more", st.rejected.len() - LISTED_REJECTS);
        }
    }
    Ok(if st.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
