//! Rollcall's storage layer: the `Store` traits, one per API family, and their
//! backends. `sqlite` is the embedded, encrypted default; `postgres` serves many
//! processes sharing one database. No HTTP types live here;
//! every method takes validated core types and scopes itself to one account.
//!
//! Writes that an administrator performs record their audit event in the same
//! transaction (SPEC §6), so each backend appends to the audit chain itself.

pub mod access_records;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod erasure;
pub mod error;
pub mod money;
pub mod postgres;
pub mod privacy;
pub mod segment;
pub mod sqlite;
pub mod stats;
pub mod usage;
pub mod workforce;

pub use access_records::AccessRecordStore;
pub use admin::AdminStore;
pub use audit::AuditStore;
pub use auth::AuthStore;
pub use erasure::ErasureStore;
pub use error::{StoreError, StoreResult};
pub use money::MoneyStore;
pub use privacy::PrivacyStore;
pub use segment::SegmentStore;
pub use usage::UsageStore;
pub use workforce::WorkforceStore;

/// Everything a server needs from a backend.
#[async_trait::async_trait]
pub trait Store:
    AuthStore
    + AdminStore
    + AuditStore
    + UsageStore
    + WorkforceStore
    + MoneyStore
    + AccessRecordStore
    + PrivacyStore
    + SegmentStore
    + ErasureStore
{
    /// The key that signs page tokens, cursors and download links; shared by every
    /// server process on the same database.
    fn token_key(&self) -> &[u8];
    /// Whether the database answers (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;
    /// How many accounts exist (a first start with none creates one).
    async fn account_count(&self) -> StoreResult<u64>;
    /// Every account's id, oldest first (the first is the one `serve` created on
    /// its first start, which `rollcall demo` fills).
    async fn account_ids(&self) -> StoreResult<Vec<i64>>;
    /// The backend's figures for `/metrics` (sessions count as active when used
    /// within the idle limit before `now_ms`).
    async fn stats(&self, now_ms: i64) -> StoreResult<stats::StoreStats>;
}

/// The wall clock in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
