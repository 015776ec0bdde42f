//! `rollcall backup`, `restore` and `rekey`: the embedded database's operations
//! (SPEC §12). The work is in `rollcall_store::sqlite::ops`; this module reads
//! the flags and keys and says what happened.
//!
//! Keys: the data directory's key is `ROLLCALL_DB_KEY` or its key file, as for
//! `serve`. A backup is encrypted with that key unless `--key-env` names a
//! variable holding another; it never holds plaintext, and it never carries
//! its key, so the operator keeps the key apart from the backup.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use rollcall_store::audit::ChainReport;
use rollcall_store::sqlite::ops::{self, NewKeyHome, Pace};
use rollcall_store::sqlite::{DatabaseKey, SqliteStore};
use rollcall_store::AuditStore;

#[derive(Args)]
pub struct BackupArgs {
    /// Data directory of the embedded database (a server may be running on it).
    #[arg(long, env = "ROLLCALL_DATA_DIR", default_value = "./rollcall-data")]
    data_dir: PathBuf,
    /// The backup file to write (must not exist).
    #[arg(long)]
    out: PathBuf,
    /// Encrypt the backup with the key in this environment variable instead of
    /// the data directory's key.
    #[arg(long, value_name = "VAR")]
    key_env: Option<String>,
    /// Database pages (4 KiB) copied per step.
    #[arg(long, default_value_t = 1024)]
    step_pages: u32,
    /// Milliseconds to wait between steps, leaving the disk to the server.
    #[arg(long, default_value_t = 2)]
    step_pause_ms: u64,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// The backup file.
    #[arg(long)]
    from: PathBuf,
    /// The new data directory: missing or empty (a live one is never overwritten).
    #[arg(long, env = "ROLLCALL_DATA_DIR")]
    data_dir: PathBuf,
    /// A file holding the backup's key (e.g. the old data directory's rollcall.key);
    /// it is copied into the new directory's key file. Without it the key is
    /// ROLLCALL_DB_KEY, and no key file is written.
    #[arg(long)]
    key_file: Option<PathBuf>,
}

#[derive(Args)]
pub struct RekeyArgs {
    /// Data directory of the embedded database (no server may have it open).
    #[arg(long, env = "ROLLCALL_DATA_DIR", default_value = "./rollcall-data")]
    data_dir: PathBuf,
}

/// The data directory's key: ROLLCALL_DB_KEY, else its key file.
fn data_dir_key(data_dir: &std::path::Path) -> anyhow::Result<DatabaseKey> {
    Ok(ops::existing_key(
        std::env::var("ROLLCALL_DB_KEY").ok(),
        data_dir,
    )?)
}

pub fn backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let key = data_dir_key(&args.data_dir)?;
    let (out_key, said) = match &args.key_env {
        Some(var) => {
            let text = std::env::var(var)
                .with_context(|| format!("--key-env {var}: the variable is not set"))?;
            (DatabaseKey::new(text)?, format!("the key in ${var}"))
        }
        None => (key.clone(), "the data directory's key".to_string()),
    };
    let report = ops::backup(
        &args.data_dir,
        &key,
        &args.out,
        &out_key,
        Pace {
            pages_per_step: args.step_pages,
            pause: Duration::from_millis(args.step_pause_ms),
        },
    )?;
    println!(
        "backed up {} to {}: {:.1} MB ({} pages) in {:.2} s, encrypted with {said}",
        args.data_dir.display(),
        args.out.display(),
        report.bytes as f64 / 1e6,
        report.pages,
        report.elapsed.as_secs_f64()
    );
    println!("keep that key apart from the backup: `rollcall restore` needs it");
    Ok(ExitCode::SUCCESS)
}

pub async fn restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let (key, write_key_file) = match (&args.key_file, std::env::var("ROLLCALL_DB_KEY").ok()) {
        (Some(path), _) => (ops::key_from_file(path)?, true),
        (None, Some(text)) => (DatabaseKey::new(text)?, false),
        (None, None) => bail!(
            "give the backup's key: --key-file FILE (e.g. the old data directory's rollcall.key) or ROLLCALL_DB_KEY"
        ),
    };
    let report = ops::restore(&args.from, &key, &args.data_dir, write_key_file)?;
    println!(
        "restored {} into {}: {:.1} MB in {:.2} s",
        args.from.display(),
        args.data_dir.display(),
        report.bytes as f64 / 1e6,
        report.elapsed.as_secs_f64()
    );
    // Opening it as `serve` would applies the migrations a backup of an older
    // version needs; then the audit chain must still hold.
    let store = SqliteStore::open(&args.data_dir, key)
        .await
        .with_context(|| {
            format!(
                "cannot open the restored database in {}",
                args.data_dir.display()
            )
        })?;
    match store.verify_audit_chain().await? {
        ChainReport::Intact { accounts, events } => {
            println!("audit chain intact: {events} events in {accounts} accounts");
            Ok(ExitCode::SUCCESS)
        }
        ChainReport::Broken {
            account_id, seq, ..
        } => {
            println!("audit chain BROKEN in account {account_id} at event #{seq}; run `rollcall audit verify` for details");
            Ok(ExitCode::from(2))
        }
    }
}

pub fn rekey(args: RekeyArgs) -> anyhow::Result<ExitCode> {
    let old = data_dir_key(&args.data_dir)?;
    let (new, home) = match std::env::var("ROLLCALL_NEW_DB_KEY").ok() {
        Some(text) => (DatabaseKey::new(text)?, NewKeyHome::Operator),
        None => (
            DatabaseKey::new(rollcall_core::secret::random_hex(32))?,
            NewKeyHome::KeyFile,
        ),
    };
    ops::rekey(&args.data_dir, &old, &new, home)?;
    match home {
        NewKeyHome::KeyFile => println!(
            "rekeyed {}: the new key is in its key file ({}); the old key no longer opens it{}",
            args.data_dir.display(),
            ops::KEY_FILE,
            if std::env::var("ROLLCALL_DB_KEY").is_ok() {
                "; unset ROLLCALL_DB_KEY before `serve`"
            } else {
                ""
            }
        ),
        NewKeyHome::Operator => println!(
            "rekeyed {}: start `serve` with ROLLCALL_DB_KEY set to the new key; the old key no longer opens it",
            args.data_dir.display()
        ),
    }
    Ok(ExitCode::SUCCESS)
}
