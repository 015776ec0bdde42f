//! The audit log (SPEC §6): an append-only, hash-chained stream per account.

use async_trait::async_trait;

use crate::StoreResult;

/// One recorded administrative action.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// Position in the account's chain (1, 2, ...); also the paging key.
    pub seq: i64,
    pub id: String,
    pub ts_ms: i64,
    pub event_type: String,
    pub user_id: String,
    pub properties: Option<serde_json::Value>,
}

/// A place in an account's audit stream; pages resume after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditPosition {
    pub ts_ms: i64,
    pub seq: i64,
}

impl AuditPosition {
    /// Just before the first event at or after `ts_ms` (chain positions start at 1).
    pub fn before(ts_ms: i64) -> Self {
        AuditPosition { ts_ms, seq: 0 }
    }
}

/// An action to record: the event type and its `eventProperties`.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub event_type: &'static str,
    pub properties: Option<serde_json::Value>,
}

impl AuditEntry {
    pub fn new(event_type: &'static str) -> Self {
        AuditEntry {
            event_type,
            properties: None,
        }
    }
    pub fn with(event_type: &'static str, properties: serde_json::Value) -> Self {
        AuditEntry {
            event_type,
            properties: Some(properties),
        }
    }
}

/// What `rollcall audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainReport {
    Intact {
        accounts: u64,
        events: u64,
    },
    Broken {
        account_id: i64,
        seq: i64,
        id: Option<String>,
        reason: String,
    },
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Events after `after` (in `(ts, seq)` order) with `ts < end_ms`, in chain order.
    async fn audit_events(
        &self,
        account_id: i64,
        after: AuditPosition,
        end_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<AuditEvent>>;
    /// Records an action that is not itself a write (a download, say).
    async fn record_audit(
        &self,
        account_id: i64,
        actor: &str,
        entry: AuditEntry,
    ) -> StoreResult<()>;
    /// Walks every account's chain and reports the first broken link.
    async fn verify_audit_chain(&self) -> StoreResult<ChainReport>;
}
