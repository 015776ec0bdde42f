//! What a backend tells `/metrics` about itself (SPEC §12), read when scraped:
//! the database's size, live dashboard sessions, and, per backend, the embedded
//! writer's queue and group commits or the PostgreSQL pool's connections.

use rollcall_core::histogram::HistogramSnapshot;

/// A backend's figures at one moment.
#[derive(Debug, Clone)]
pub struct StoreStats {
    /// Bytes the database takes: the embedded file and its write-ahead log, or
    /// PostgreSQL's `pg_database_size`.
    pub database_bytes: u64,
    /// Dashboard sessions used within the idle limit.
    pub active_sessions: u64,
    /// The embedded store's single writer (`None` on PostgreSQL).
    pub writer: Option<WriterStats>,
    /// The PostgreSQL connection pool (`None` on the embedded store).
    pub pool: Option<PoolStats>,
}

/// The embedded store's writer thread.
#[derive(Debug, Clone)]
pub struct WriterStats {
    /// Writes queued for the writer and not yet taken into a transaction.
    pub queue_depth: u64,
    /// Writes per committed transaction (group commit), one observation per commit.
    pub group_size: HistogramSnapshot,
}

/// The PostgreSQL connection pool of this process.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    /// Connections checked out by a request.
    pub in_use: u64,
    /// Open connections waiting in the pool.
    pub idle: u64,
    /// The most connections the pool opens (`--database-pool-size`).
    pub max: u64,
    /// Requests waiting for a connection.
    pub waiting: u64,
}
