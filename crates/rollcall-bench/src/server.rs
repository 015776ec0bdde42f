//! The server under test: a `rollcall serve` child process on a fresh data
//! directory (or the given PostgreSQL database; there, `--processes N` starts N
//! of them on the one database), with its first account's API key, peak RSS
//! and size on disk.

use std::path::Path;
use std::process::Stdio;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::Options;

pub struct Server {
    children: Vec<Child>,
    /// The first process's address (reports and administration go there).
    pub base: String,
    /// Every process's address, the first one's first (pushes are spread over
    /// them).
    pub bases: Vec<String>,
    pub api_key: String,
    dir: tempfile::TempDir,
    database_url: Option<String>,
}

impl Server {
    pub async fn start(options: &Options) -> anyhow::Result<Server> {
        if options.processes > 1 && options.database_url.is_none() {
            bail!("several server processes need a PostgreSQL database (--database-url)");
        }
        let dir = tempfile::tempdir()?;
        let api_key = admin_init(
            &options.server_bin,
            dir.path(),
            options.database_url.as_deref(),
        )
        .await?;

        let mut children = Vec::new();
        let mut bases = Vec::new();
        for _ in 0..options.processes.max(1) {
            let (child, base) = serve(options, dir.path()).await?;
            children.push(child);
            bases.push(base);
        }
        Ok(Server {
            children,
            base: bases[0].clone(),
            bases,
            api_key,
            dir,
            database_url: options.database_url.clone(),
        })
    }

    /// The first server process's id (the one the report stages watch).
    pub fn pid(&self) -> Option<u32> {
        self.children.first().and_then(Child::id)
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Peak resident memory so far (VmHWM) of the largest server process.
    pub fn peak_rss_mb(&self) -> f64 {
        self.children
            .iter()
            .filter_map(Child::id)
            .map(|pid| {
                let status =
                    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                    .map(|kb| kb / 1024.0)
                    .unwrap_or(0.0)
            })
            .fold(0.0, f64::max)
    }

    /// Bytes of every file in the data directory, or of the PostgreSQL database.
    pub async fn disk_bytes(&self) -> anyhow::Result<u64> {
        let Some(url) = &self.database_url else {
            return Ok(dir_size(self.dir.path()));
        };
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .context("connecting to PostgreSQL to measure the database size")?;
        tokio::spawn(connection);
        // Sizes are exact only once dirty pages are written out.
        client.batch_execute("CHECKPOINT").await.ok();
        let row = client
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    pub async fn stop(mut self) {
        for child in &mut self.children {
            if let Some(pid) = child.id() {
                let _ = Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()
                    .await;
            }
            let _ = child.wait().await;
        }
    }
}

/// Starts one `rollcall serve` on `dir` (and the database, if any) and waits
/// until it listens; the process and its address.
///
/// With `ROLLCALL_BENCH_SERVE_WITH` set (e.g. `heaptrack -o /tmp/profile`), the
/// server runs under that command (split at spaces), for a profile of the whole
/// run; the figures read from `/proc` are then the wrapper's, not the server's.
async fn serve(options: &Options, dir: &Path) -> anyhow::Result<(Child, String)> {
    let wrapper = std::env::var("ROLLCALL_BENCH_SERVE_WITH").unwrap_or_default();
    let mut wrapper = wrapper.split_whitespace();
    let mut serve = match wrapper.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(wrapper).arg(&options.server_bin);
            c
        }
        None => Command::new(&options.server_bin),
    };
    serve
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(url) = &options.database_url {
        serve.args(["--database-url", url]);
    }
    let mut child = serve.spawn().context("starting rollcall serve")?;
    let mut lines = BufReader::new(child.stderr.take().context("no stderr")?).lines();
    let base = loop {
        match lines.next_line().await? {
            Some(line) => {
                if let Some(addr) = line.strip_prefix("rollcall listening on ") {
                    break addr.to_string();
                }
            }
            None => bail!("rollcall serve exited before listening"),
        }
    };
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("server: {line}");
        }
    });
    if let Some(pid) = child.id() {
        eprintln!(
            "bench: server pid {pid} at {base} (attach a profiler with: perf record -g -p {pid})"
        );
    }
    Ok((child, base))
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// A new account made with `rollcall admin init` on `data_dir` (or the
/// database); its superadmin's API key.
pub(crate) async fn admin_init(
    server_bin: &Path,
    data_dir: &Path,
    database_url: Option<&str>,
) -> anyhow::Result<String> {
    let mut init = Command::new(server_bin);
    init.args(["admin", "init", "--json", "--data-dir"])
        .arg(data_dir);
    if let Some(url) = database_url {
        init.args(["--database-url", url]);
    }
    let out = init.output().await.context("running rollcall admin init")?;
    if !out.status.success() {
        bail!(
            "rollcall admin init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let creds: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    Ok(creds["apiKey"]
        .as_str()
        .context("admin init printed no apiKey")?
        .to_string())
}
