//! The PostgreSQL backend, for running many `rollcall serve` processes on one
//! database. Nothing another process needs lives only in one process's memory:
//! credentials are looked up per request, caches are keyed by versions read from
//! the database in the same transaction, and the places where order matters take
//! a per-account lock until commit:
//!
//! - the audit chain head (`audit_heads` row, `FOR UPDATE`), so chain order, time
//!   order and commit order agree and page tokens stay exact;
//! - activity ingest (see `workforce`), so activity-log ids are handed out in
//!   commit order and a cursor never passes a row that becomes visible later.
//!
//! Connections come from a deadpool pool; a connection the server closed (a
//! restart, say) is replaced on the next checkout, and requests meanwhile fail
//! with `StoreError::Unavailable` (503).

mod access_records;
mod admin;
mod audit;
mod auth;
mod binary_copy;
mod caches;
mod connect;
mod erasure;
mod migrations;
mod money;
pub(crate) mod privacy;
mod snapshot;
#[cfg(test)]
mod test_db;
mod usage;
mod workforce;

use std::sync::Arc;

use deadpool_postgres::{Object, Pool};

pub use connect::{redact_url, PgOptions};
pub use migrations::MIGRATION_COUNT;

use crate::{Store, StoreError, StoreResult};

/// The PostgreSQL store.
pub struct PgStore {
    pool: Pool,
    token_key: Vec<u8>,
    /// The report caches, email ids and push queues, shared by this store's
    /// requests (and by the push workers it starts).
    caches: Arc<caches::PgCaches>,
    /// Each day's working-hours keys under the group filters asked lately,
    /// used only at the day's version read in a request's snapshot.
    wf_day_keys: crate::workforce::day_keys::DayKeysCache,
}

impl PgStore {
    /// Connects, applies any pending migrations (one process at a time) and
    /// loads the shared token key.
    pub async fn open(options: &PgOptions) -> StoreResult<PgStore> {
        let pool = connect::pool(options)?;
        let mut client = checkout(&pool).await?;
        migrations::run(&mut client).await?;
        let token_key = server_secret(&client, "token_key").await?;
        drop(client);
        Ok(PgStore {
            pool,
            token_key,
            caches: Default::default(),
            wf_day_keys: Default::default(),
        })
    }

    /// Applies pending migrations and returns how many ran (`rollcall migrate`).
    pub async fn migrate(options: &PgOptions) -> StoreResult<usize> {
        let pool = connect::pool(options)?;
        let mut client = checkout(&pool).await?;
        migrations::run(&mut client).await
    }

    /// A pooled connection.
    pub(crate) async fn client(&self) -> StoreResult<Object> {
        checkout(&self.pool).await
    }
}

async fn checkout(pool: &Pool) -> StoreResult<Object> {
    pool.get().await.map_err(|e| {
        let reason = match &e {
            deadpool_postgres::PoolError::Backend(e) => crate::error::with_sources(e),
            other => other.to_string(),
        };
        StoreError::Unavailable(format!("cannot get a PostgreSQL connection: {reason}"))
    })
}

/// A random secret kept in the database, created by whichever process asks first.
async fn server_secret(client: &Object, name: &str) -> StoreResult<Vec<u8>> {
    let fresh = hex::decode(rollcall_core::secret::random_hex(32))
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    client
        .execute(
            "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&name, &fresh],
        )
        .await?;
    let row = client
        .query_one("SELECT value FROM server_secrets WHERE name = $1", &[&name])
        .await?;
    Ok(row.get(0))
}

#[async_trait::async_trait]
impl Store for PgStore {
    fn token_key(&self) -> &[u8] {
        &self.token_key
    }

    async fn ping(&self) -> StoreResult<()> {
        self.client().await?.simple_query("SELECT 1").await?;
        Ok(())
    }

    async fn account_count(&self) -> StoreResult<u64> {
        let row = self
            .client()
            .await?
            .query_one("SELECT count(*) FROM accounts", &[])
            .await?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn account_ids(&self) -> StoreResult<Vec<i64>> {
        let rows = self
            .client()
            .await?
            .query("SELECT id FROM accounts ORDER BY id", &[])
            .await?;
        Ok(rows.iter().map(|r| r.get::<_, i64>(0)).collect())
    }

    async fn stats(&self, now_ms: i64) -> StoreResult<crate::stats::StoreStats> {
        // Read before checking a connection out, so the scrape does not count itself.
        let status = self.pool.status();
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT pg_database_size(current_database()),
                        (SELECT count(*) FROM ui_sessions WHERE last_seen_ms > $1)",
                &[&(now_ms - crate::auth::SESSION_IDLE_MS)],
            )
            .await?;
        let in_use = status.size.saturating_sub(status.available);
        Ok(crate::stats::StoreStats {
            database_bytes: row.get::<_, i64>(0).max(0) as u64,
            active_sessions: row.get::<_, i64>(1).max(0) as u64,
            writer: None,
            pool: Some(crate::stats::PoolStats {
                in_use: in_use as u64,
                idle: status.available as u64,
                max: status.max_size as u64,
                waiting: status.waiting as u64,
            }),
        })
    }
}
