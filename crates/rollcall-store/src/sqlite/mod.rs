//! The embedded backend: SQLite encrypted with SQLCipher, in WAL mode, with one
//! writer thread that groups concurrent writes into one transaction (group commit)
//! and a small pool of reader connections.

mod access_records;
mod admin;
pub(crate) mod audit;
pub(crate) mod auth;
mod db;
mod erasure;
mod key;
mod migrations;
mod money;
pub mod ops;
mod privacy;
pub(crate) mod segment;
mod segment_ids;
mod usage;
mod workforce;

use std::path::{Path, PathBuf};

pub use db::Db;
pub use key::DatabaseKey;

use crate::{Store, StoreError, StoreResult};

/// The database file inside a data directory.
pub const DB_FILE: &str = "rollcall.db";

/// The embedded store.
pub struct SqliteStore {
    pub(crate) db: Db,
    token_key: Vec<u8>,
    path: PathBuf,
    committed_emails: std::sync::Arc<usage::push::CommittedEmails>,
    /// The tracking API's identities' emails read by this process.
    identity_emails: segment_ids::IdentityEmails,
    /// What usage reports read again and again, per account (bounded).
    report_caches: std::sync::Arc<usage::report_cache::ReportCaches>,
    /// The writer's map of activity strings to their ids.
    wf_texts: std::sync::Arc<workforce::texts::TextIds>,
    /// Each day's working-hours keys under the group filters asked lately.
    wf_day_keys: std::sync::Arc<crate::workforce::day_keys::DayKeysCache>,
    /// The employee emails of the group lists viewers asked for lately.
    wf_member_emails: std::sync::Arc<crate::workforce::member_emails::MemberEmailsCache>,
}

impl SqliteStore {
    /// Opens (creating if needed) the encrypted database in `data_dir` and runs
    /// its migrations.
    pub async fn open(data_dir: &Path, key: DatabaseKey) -> StoreResult<SqliteStore> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let path = data_dir.join(DB_FILE);
        let db = Db::open(&path, key)?;
        db.write(migrations::run).await?;
        let token_key = db
            .write(|conn| db::server_secret(conn, "token_key"))
            .await?;
        Ok(SqliteStore {
            db,
            token_key,
            path,
            committed_emails: Default::default(),
            identity_emails: Default::default(),
            report_caches: Default::default(),
            wf_texts: Default::default(),
            wf_day_keys: Default::default(),
            wf_member_emails: Default::default(),
        })
    }

    /// Where the database file lives.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn token_key(&self) -> &[u8] {
        &self.token_key
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db
            .read(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    async fn account_count(&self) -> StoreResult<u64> {
        self.db
            .read(|conn| {
                Ok(
                    conn.query_row("SELECT count(*) FROM accounts", [], |r| r.get::<_, i64>(0))?
                        as u64,
                )
            })
            .await
    }

    async fn account_ids(&self) -> StoreResult<Vec<i64>> {
        self.db
            .read(|conn| {
                let mut stmt = conn.prepare("SELECT id FROM accounts ORDER BY id")?;
                let ids = stmt
                    .query_map([], |r| r.get::<_, i64>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(ids)
            })
            .await
    }

    async fn stats(&self, now_ms: i64) -> StoreResult<crate::stats::StoreStats> {
        let since = now_ms - crate::auth::SESSION_IDLE_MS;
        let active_sessions = self
            .db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached("SELECT count(*) FROM ui_sessions WHERE last_seen_ms > ?1")?
                    .query_row([since], |r| r.get::<_, i64>(0))?)
            })
            .await?;
        // The main file and its write-ahead log (the shared-memory index is scratch).
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let database_bytes = [self.path.as_os_str(), wal.as_os_str()]
            .into_iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        Ok(crate::stats::StoreStats {
            database_bytes,
            active_sessions: active_sessions.max(0) as u64,
            writer: Some(self.db.writer_gauges().stats()),
            pool: None,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::{DatabaseKey, SqliteStore};

    /// A fresh embedded store in a temporary directory (kept while the
    /// returned handle lives) with one account; returns the account's id.
    pub(crate) async fn store_with_account() -> (tempfile::TempDir, SqliteStore, i64) {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = DatabaseKey::resolve(None, dir.path()).expect("key");
        let store = SqliteStore::open(dir.path(), key).await.expect("open");
        let account = store
            .db
            .write(|conn| {
                conn.execute(
                    "INSERT INTO accounts (name, created_ms) VALUES ('a', 0)",
                    [],
                )?;
                Ok(conn.last_insert_rowid())
            })
            .await
            .expect("account");
        (dir, store, account)
    }
}
