//! Command-line interface: `serve`, `migrate`, `admin init`, `audit verify`, `bench`. Every flag also
//! reads a `ROLLCALL_*` environment variable; flags win.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use rollcall_server::client_addr::TrustedProxy;
use rollcall_server::{setup, AppState, ServerConfig};
use rollcall_store::audit::ChainReport;
use rollcall_store::postgres::{PgOptions, PgStore};
use rollcall_store::sqlite::{DatabaseKey, SqliteStore};
use rollcall_store::Store;

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    /// Benchmark: start a server, push a synthetic account, time every report.
    Bench(BenchArgs),
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
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
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check every account's audit hash chain; exits non-zero at the first broken event.
    Verify {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Args)]
struct BenchArgs {
    /// About 1% of the default scale (what CI runs to prove the harness works).
    #[arg(long, conflicts_with = "scale")]
    quick: bool,
    /// Multiply the default scale (10M usage events, 5M activity records) by this.
    #[arg(long)]
    scale: Option<f64>,
    /// Concurrent push clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
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
}

#[derive(Args)]
struct DbArgs {
    /// Directory of the embedded database and its key file.
    #[arg(long, env = "ROLLCALL_DATA_DIR", default_value = "./rollcall-data")]
    data_dir: PathBuf,
    /// Use PostgreSQL instead of the embedded database: `postgres://user:pw@host/db?sslmode=require`.
    #[arg(long, env = "ROLLCALL_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Most PostgreSQL connections this process opens.
    #[arg(long, env = "ROLLCALL_DATABASE_POOL_SIZE", default_value_t = 16)]
    database_pool_size: usize,
    /// PEM file of CA certificates trusted for PostgreSQL's TLS certificate (besides the system's).
    #[arg(long, env = "ROLLCALL_DATABASE_CA")]
    database_ca: Option<PathBuf>,
}

impl DbArgs {
    fn pg_options(&self) -> Option<PgOptions> {
        self.database_url.as_ref().map(|url| PgOptions {
            url: url.clone(),
            pool_size: self.database_pool_size,
            ca_file: self.database_ca.clone(),
        })
    }
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Address to listen on.
    #[arg(long, env = "ROLLCALL_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
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
    let key = DatabaseKey::resolve(std::env::var("ROLLCALL_DB_KEY").ok(), data_dir)?;
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
                repeat: args.repeat.unwrap_or(if args.quick { 10 } else { 50 }),
                out: args.out,
                hold: args.hold,
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command: AuditCommand::Verify { db },
        } => {
            let store = open_store(&db).await?;
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
    if store.account_count().await? == 0 {
        let creds = setup::init_account(store.as_ref(), None).await?;
        print_credentials(&creds);
    }
    let listener = std::net::TcpListener::bind(args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    eprintln!("rollcall listening on {scheme}://{local}");
    let config = ServerConfig {
        max_body_bytes: args.max_body_bytes,
        access_token_ttl: Duration::from_secs(args.token_ttl_secs),
        trusted_proxies: args.trusted_proxies,
        ..ServerConfig::default()
    };
    let state = AppState::new(store, config);
    rollcall_server::serve(state, listener, tls, shutdown_signal()).await?;
    eprintln!("rollcall stopped");
    Ok(ExitCode::SUCCESS)
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
