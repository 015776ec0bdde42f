//! Command-line interface: `serve`, `migrate`, `demo`, `admin init`, `admin reset-password`, `relay`, `push`,
//! `audit verify`, `bench`. Every setting of `serve` (and the data-directory and
//! database settings of the other commands) is a flag, a `ROLLCALL_*` environment
//! variable and a key of the optional configuration file (`--config`, see
//! [`crate::config`]); flags win over variables, variables over the file.
//!
//! Only `serve` and `admin init` create a database; every other command refuses a
//! data directory that is missing or holds none, so a mistyped path is an error
//! instead of a new, empty database.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use rollcall_server::client_addr::TrustedProxy;
use rollcall_server::{demo, setup, AppState, ServerConfig};
use rollcall_store::audit::ChainReport;
use rollcall_store::postgres::{PgOptions, PgStore};
use rollcall_store::sqlite::{DatabaseKey, SqliteStore};
use rollcall_store::Store;

use crate::ops;
use crate::secrets::{DatabaseUrl, Secret};

#[derive(Parser)]
#[command(name = "rollcall", version, about = "Self-hosted usage analytics")]
pub struct Cli {
    /// Log format: `text` or `json`.
    #[arg(
        long,
        env = "ROLLCALL_LOG_FORMAT",
        default_value = "text",
        global = true
    )]
    log_format: String,
    /// A TOML file of settings (keys: the flags' names with underscores, e.g.
    /// `data_dir`); flags and ROLLCALL_* variables win over it.
    #[arg(long, env = "ROLLCALL_CONFIG", global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Serve the API.
    Serve(ServeArgs),
    /// Apply pending database migrations and exit (`serve` also applies them).
    Migrate {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Administration without a running server.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Fill the first account with a demo company (people, apps, usage, computers, spend).
    Demo {
        #[command(flatten)]
        db: DbArgs,
        /// The seed the company is drawn from: the same seed gives the same reports.
        #[arg(long, default_value_t = rollcall_server::demo::DEFAULT_SEED)]
        seed: u64,
    },
    /// Benchmark: start a server, push a synthetic account, time every report.
    Bench(BenchArgs),
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Copy the embedded database, encrypted, while the server runs.
    Backup(ops::BackupArgs),
    /// Restore a backup into a new, empty data directory.
    Restore(ops::RestoreArgs),
    /// Change the embedded database's key (the server must be stopped).
    Rekey(ops::RekeyArgs),
    /// Stand in for aw-server on this computer: ActivityWatch watchers' data
    /// becomes agent records uploaded to a Rollcall server.
    Relay(crate::relay::RelayArgs),
    /// Send a CSV or NDJSON file (or stdin) to the push APIs, resumably.
    Push(crate::push::PushArgs),
}

#[derive(Subcommand)]
pub(crate) enum AdminCommand {
    /// Create a new account and its superadmin; prints the one-time credentials.
    Init {
        #[command(flatten)]
        db: DbArgs,
        /// The superadmin's email (default: admin@account-<n>.rollcall.local).
        #[arg(long)]
        email: Option<String>,
        /// Print the credentials as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Give a web user a new one-time password (for when nobody can log in).
    ResetPassword {
        #[command(flatten)]
        db: DbArgs,
        /// The web user's email.
        #[arg(long)]
        email: String,
        /// The account, when the email is a web user of several.
        #[arg(long)]
        account: Option<i64>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Check every account's audit hash chain; exits non-zero at the first broken event.
    Verify {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Args)]
pub(crate) struct BenchArgs {
    /// About 1% of the default scale (what CI runs to prove the harness works).
    #[arg(long, conflicts_with = "scale")]
    quick: bool,
    /// Multiply the default scale (10M usage events, 5M activity records) by this.
    #[arg(long)]
    scale: Option<f64>,
    /// Concurrent push clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Server processes on the one database (PostgreSQL only); push clients
    /// are spread over them.
    #[arg(long, default_value_t = 1, requires = "database_url")]
    processes: usize,
    /// Calls of each report (default 50; 10 with --quick).
    #[arg(long)]
    repeat: Option<usize>,
    /// Write the figures as JSON to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Benchmark on this PostgreSQL database (empty, or one the benchmark may add an
    /// account to) instead of a fresh embedded one.
    #[arg(long)]
    database_url: Option<String>,
    /// Keep the loaded server running afterwards (to profile or explore it) until Ctrl-C.
    #[arg(long)]
    hold: bool,
    /// Generate request bodies while sending instead of all before timing (on
    /// by itself above --scale 1, whose bodies would not fit in memory; and with --quick).
    #[arg(long)]
    stream: bool,
    /// Also time every report while usage and activity ingest run at half
    /// their maximum rates (on with --quick).
    #[arg(long)]
    loaded: bool,
    /// Also add this many small accounts of 10,000 usage events each (100 with
    /// --quick) and time the first's, the last's and the large one's reports
    /// (default 0; 3 with --quick).
    #[arg(long)]
    tenants: Option<usize>,
    /// Write the usage events as CSV to this file before timing
    /// (`app,timestamp_ms,email,event`), the org chart to FILE.org.csv and the
    /// events' feature groups to FILE.groups.csv (for scripts/duckdb-compare.py).
    #[arg(long)]
    export_events: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct DbArgs {
    /// Directory of the embedded database and its key file.
    #[arg(long, env = "ROLLCALL_DATA_DIR", default_value = "./rollcall-data")]
    data_dir: PathBuf,
    /// Use PostgreSQL instead of the embedded database: `postgres://user:pw@host/db?sslmode=require`.
    #[arg(long, env = "ROLLCALL_DATABASE_URL", hide_env_values = true)]
    database_url: Option<DatabaseUrl>,
    /// Most PostgreSQL connections this process opens.
    #[arg(long, env = "ROLLCALL_DATABASE_POOL_SIZE", default_value_t = 16)]
    database_pool_size: usize,
    /// PEM file of CA certificates trusted for PostgreSQL's TLS certificate (besides the system's).
    #[arg(long, env = "ROLLCALL_DATABASE_CA")]
    database_ca: Option<PathBuf>,
    /// The embedded database's key (64 hex digits); without it, the key file in
    /// the data directory (made on first start). Better set as ROLLCALL_DB_KEY or
    /// in the configuration file than on the command line.
    #[arg(long, env = "ROLLCALL_DB_KEY", hide_env_values = true)]
    db_key: Option<Secret>,
}

impl DbArgs {
    /// Refuses an embedded data directory that is missing or holds no database,
    /// for the commands that only read or add to existing data.
    fn require_existing(&self) -> anyhow::Result<()> {
        if self.database_url.is_some() {
            return Ok(());
        }
        let dir = &self.data_dir;
        let hint = "create one with `rollcall serve` or `rollcall admin init`, or give --data-dir (or ROLLCALL_DATA_DIR) of an existing one";
        if !dir.is_dir() {
            bail!("there is no data directory at {}; {hint}", dir.display());
        }
        if !dir.join(rollcall_store::sqlite::DB_FILE).is_file() {
            bail!(
                "{} holds no Rollcall database ({} is missing); {hint}",
                dir.display(),
                rollcall_store::sqlite::DB_FILE
            );
        }
        Ok(())
    }

    /// Opens the store of a command that needs existing data: the directory
    /// must exist and hold a database, and the database must have an account.
    async fn open_existing(&self) -> anyhow::Result<Arc<dyn Store>> {
        self.require_existing()?;
        let store = open_store(self).await?;
        if store.account_count().await? == 0 {
            bail!(
                "the database has no account yet; create one with `rollcall serve` or `rollcall admin init`"
            );
        }
        Ok(store)
    }

    fn pg_options(&self) -> Option<PgOptions> {
        self.database_url.as_ref().map(|url| PgOptions {
            url: url.expose().to_string(),
            pool_size: self.database_pool_size,
            ca_file: self.database_ca.clone(),
        })
    }
}

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Address to listen on.
    #[arg(long, env = "ROLLCALL_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Also serve `/metrics` (Prometheus) here, without a credential: an address
    /// only the monitoring system reaches (e.g. 127.0.0.1:9464).
    #[arg(long, env = "ROLLCALL_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// PEM certificate chain; with --tls-key, serves HTTPS.
    #[arg(long, env = "ROLLCALL_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key.
    #[arg(long, env = "ROLLCALL_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Allow plain HTTP on a non-loopback address.
    #[arg(long, env = "ROLLCALL_ALLOW_INSECURE_HTTP")]
    allow_insecure_http: bool,
    /// Largest request body in bytes.
    #[arg(long, env = "ROLLCALL_MAX_BODY_BYTES", default_value_t = 16 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Lifetime of OAuth access tokens in seconds.
    #[arg(long, env = "ROLLCALL_TOKEN_TTL_SECS", default_value_t = 3600)]
    token_ttl_secs: u64,
    /// Fill the first account with a demo company before serving (when it is still empty).
    #[arg(long, env = "ROLLCALL_DEMO")]
    demo: bool,
    /// The demo company's seed.
    #[arg(long, env = "ROLLCALL_DEMO_SEED", default_value_t = rollcall_server::demo::DEFAULT_SEED, requires = "demo")]
    demo_seed: u64,
    #[command(flatten)]
    limits: LimitArgs,
    /// The server's address as clients reach it (e.g. https://rollcall.example.com
    /// behind a proxy); signed download links are built from it. Default: the
    /// listen address.
    #[arg(long, env = "ROLLCALL_PUBLIC_URL", value_parser = parse_public_url)]
    public_url: Option<String>,
    /// A reverse proxy (address or CIDR network) whose X-Forwarded-For names the
    /// client, for login back-off and per-address limits; repeat or separate with
    /// commas. From anyone else the header is ignored.
    #[arg(
        long = "trusted-proxy",
        env = "ROLLCALL_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<TrustedProxy>,
}

/// Connection and request limits (SPEC §13).
#[derive(Args, Debug)]
struct LimitArgs {
    /// Seconds a connection has to send a whole request head (also ends idle keep-alive).
    #[arg(long, env = "ROLLCALL_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    header_timeout_secs: u64,
    /// Seconds without a byte read or written after which a connection is closed.
    #[arg(long, env = "ROLLCALL_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    idle_timeout_secs: u64,
    /// Most connections served at once; more are closed on accept.
    #[arg(long, env = "ROLLCALL_MAX_CONNECTIONS", default_value_t = 4096)]
    max_connections: usize,
    /// Slowest request body accepted, in bytes per second after the grace time (0: off).
    #[arg(long, env = "ROLLCALL_BODY_MIN_RATE", default_value_t = 1024)]
    body_min_rate: u64,
    /// Seconds a request body may take before the minimum rate applies.
    #[arg(long, env = "ROLLCALL_BODY_GRACE_SECS", default_value_t = 10)]
    body_grace_secs: u64,
    /// Seconds a report query may take before it is answered 503 with Retry-After.
    #[arg(long, env = "ROLLCALL_REPORT_TIMEOUT", default_value_t = 30)]
    report_timeout: u64,
}

impl LimitArgs {
    fn apply(&self, config: ServerConfig) -> ServerConfig {
        ServerConfig {
            header_read_timeout: Duration::from_secs(self.header_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs.max(1)),
            max_connections: self.max_connections.max(1),
            body_min_rate: self.body_min_rate,
            body_grace: Duration::from_secs(self.body_grace_secs),
            report_timeout: Duration::from_secs(self.report_timeout.max(1)),
            ..config
        }
    }
}

/// An absolute http(s) URL without query or fragment.
fn parse_public_url(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .ok_or("the public URL must start with http:// or https://")?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(['?', '#', ' ']) {
        return Err("the public URL must name a host, without query or fragment".into());
    }
    Ok(text.trim_end_matches('/').to_string())
}

pub fn init_logging(cli: &Cli) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cli.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn open_store(db: &DbArgs) -> anyhow::Result<Arc<dyn Store>> {
    if let Some(options) = db.pg_options() {
        let store = PgStore::open(&options)
            .await
            .context("cannot open the PostgreSQL database")?;
        return Ok(Arc::new(store));
    }
    let data_dir: &Path = &db.data_dir;
    let key = DatabaseKey::resolve(db.db_key.as_ref().map(|k| k.expose().to_string()), data_dir)?;
    let store = SqliteStore::open(data_dir, key)
        .await
        .with_context(|| format!("cannot open the database in {}", data_dir.display()))?;
    Ok(Arc::new(store))
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Migrate { db } => {
            match db.pg_options() {
                Some(options) => {
                    let ran = PgStore::migrate(&options)
                        .await
                        .context("cannot migrate the PostgreSQL database")?;
                    println!("applied {ran} migrations");
                }
                None => {
                    db.require_existing()?;
                    open_store(&db).await?;
                    println!(
                        "the embedded database in {} is up to date",
                        db.data_dir.display()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin {
            command: AdminCommand::Init { db, email, json },
        } => {
            let store = open_store(&db).await?;
            let creds = setup::init_account(store.as_ref(), email.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&creds)?);
            } else {
                print_credentials(&creds);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin {
            command:
                AdminCommand::ResetPassword {
                    db,
                    email,
                    account,
                    json,
                },
        } => {
            let store = db.open_existing().await?;
            let reset = setup::reset_password(store.as_ref(), &email, account).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&reset)?);
            } else {
                println!(
                    "New password of {} in account {} (shown once; their old password no longer works):",
                    reset.email, reset.account_id
                );
                println!("  password  {}", reset.password);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { db, seed } => {
            let store = db.open_existing().await?;
            fill_demo(store.as_ref(), seed).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(args) => {
            let scale = match (args.quick, args.scale) {
                (true, _) => rollcall_bench::Scale::scaled(0.01),
                (false, Some(f)) => rollcall_bench::Scale::scaled(f),
                (false, None) => rollcall_bench::Scale::full(),
            };
            rollcall_bench::run(rollcall_bench::Options {
                scale,
                server_bin: std::env::current_exe()?,
                database_url: args.database_url,
                clients: args.clients,
                processes: args.processes,
                repeat: args.repeat.unwrap_or(if args.quick { 10 } else { 50 }),
                out: args.out,
                hold: args.hold,
                stream: args.stream || args.quick || args.scale.is_some_and(|f| f > 1.0),
                loaded: args.loaded || args.quick,
                tenants: args.tenants.unwrap_or(if args.quick { 3 } else { 0 }),
                tenant_events: if args.quick { 100 } else { 10_000 },
                export_events: args.export_events,
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup(args) => ops::backup(args),
        Command::Restore(args) => ops::restore(args).await,
        Command::Rekey(args) => ops::rekey(args),
        Command::Push(args) => crate::push::run(args).await,
        Command::Relay(args) => {
            crate::relay::run(args, shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command: AuditCommand::Verify { db },
        } => {
            let store = db.open_existing().await?;
            match store.verify_audit_chain().await? {
                ChainReport::Intact { accounts, events } => {
                    println!("audit chain intact: {events} events in {accounts} accounts");
                    Ok(ExitCode::SUCCESS)
                }
                ChainReport::Broken {
                    account_id,
                    seq,
                    id,
                    reason,
                } => {
                    println!(
                        "audit chain BROKEN in account {account_id} at event #{seq}{}: {reason}",
                        id.map(|i| format!(" (id {i})")).unwrap_or_default()
                    );
                    Ok(ExitCode::from(2))
                }
            }
        }
    }
}

fn print_credentials(creds: &setup::InitCredentials) {
    println!(
        "Created account {}. These credentials are shown once; keep them safe:",
        creds.account_id
    );
    println!("  superadmin email     {}", creds.email);
    println!("  superadmin password  {}", creds.password);
    println!("  API key              {}", creds.api_key);
    println!("  OAuth client id      {}", creds.client_id);
    println!("  OAuth client secret  {}", creds.client_secret);
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // Secrets show as *** here (`Secret`, `DatabaseUrl`).
    tracing::info!(settings = ?args, "serve settings");
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(rollcall_server::tls::server_config(cert, key)?),
        _ => None,
    };
    if tls.is_none() && !args.listen.ip().is_loopback() && !args.allow_insecure_http {
        bail!(
            "refusing plain HTTP on {}: give --tls-cert and --tls-key, or --allow-insecure-http",
            args.listen
        );
    }
    let store = open_store(&args.db).await?;
    let mut created = None;
    if store.account_count().await? == 0 {
        let creds = setup::init_account(store.as_ref(), None).await?;
        print_credentials(&creds);
        created = Some(creds);
    }
    if args.demo {
        match fill_demo(store.as_ref(), args.demo_seed).await {
            Ok(()) => {}
            // A restart with --demo keeps the data it filled the first time.
            Err(e) if matches!(e.downcast_ref(), Some(demo::DemoError::NotEmpty(_))) => {
                eprintln!("demo data: {e}; serving it as it is");
            }
            Err(e) => return Err(e),
        }
    }
    let listener = std::net::TcpListener::bind(args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    let metrics_listener = match args.metrics_listen {
        Some(addr) => {
            let l = std::net::TcpListener::bind(addr)
                .with_context(|| format!("cannot listen on {addr} for metrics"))?;
            println!("Metrics: http://{}/metrics", l.local_addr()?);
            Some(l)
        }
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("Dashboard: {scheme}://{local}/ui");
    match &created {
        Some(creds) => println!("Log in as {} with password {}", creds.email, creds.password),
        None => println!(
            "Log in with your web user's email and password (`rollcall admin reset-password --email …` sets a new one)"
        ),
    }
    eprintln!("rollcall listening on {scheme}://{local}");
    // Signed links name the server as its clients reach it: the configured
    // public URL, else the address it listens on (never a request's Host).
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{local}"));
    let config = args.limits.apply(ServerConfig {
        max_body_bytes: args.max_body_bytes,
        public_url: Some(public_url.trim_end_matches('/').to_string()),
        access_token_ttl: Duration::from_secs(args.token_ttl_secs),
        trusted_proxies: args.trusted_proxies,
        ..ServerConfig::default()
    });
    let state = AppState::new(store, config);
    let metrics = metrics_listener.map(|l| {
        tokio::spawn(rollcall_server::metrics::serve_metrics(
            state.clone(),
            l,
            shutdown_signal(),
        ))
    });
    let served = rollcall_server::serve(state, listener, tls, shutdown_signal()).await;
    if let Some(task) = metrics {
        task.abort();
    }
    served?;
    eprintln!("rollcall stopped");
    Ok(ExitCode::SUCCESS)
}

/// Fills the first account with the demo company and says what it wrote.
async fn fill_demo(store: &dyn Store, seed: u64) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let account = demo::first_account(store).await?;
    let s = demo::fill(store, account, seed).await?;
    println!(
        "Demo company (seed {}) in account {} in {:.1} s: {} employees in {} teams, {} apps with {} licences \
         and {} usage events, {} computers with {} activity records, {} contracts, {} spend records, \
         {} groups, {} web users.",
        s.seed,
        s.account_id,
        started.elapsed().as_secs_f64(),
        s.employees,
        s.teams,
        s.apps,
        s.provisioned_users,
        s.usage_events,
        s.computers,
        s.activity_records,
        s.contracts,
        s.spend_records,
        s.groups,
        s.web_users
    );
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
