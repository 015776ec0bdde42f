//! The audit log (SPEC §6): an append-only, hash-chained stream per account.

use async_trait::async_trait;
use rollcall_core::audit_chain::{link_hash, Link, GENESIS};

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

/// Where an account's chain ends: the link the next event attaches to.
#[derive(Debug, Clone)]
pub struct ChainHead {
    pub seq: i64,
    pub ts_ms: i64,
    pub hash: String,
}

impl ChainHead {
    /// The head of an empty chain.
    pub fn genesis() -> ChainHead {
        ChainHead {
            seq: 0,
            ts_ms: i64::MIN,
            hash: GENESIS.to_string(),
        }
    }
}

/// An event as stored: the next link after a head.
#[derive(Debug, Clone)]
pub struct NewLink {
    pub seq: i64,
    pub id: String,
    pub ts_ms: i64,
    /// `eventProperties` as JSON text ("" for none).
    pub properties: String,
    pub hash: String,
}

impl NewLink {
    /// The link that records `entry` after `head`. Timestamps never go backwards
    /// within an account, so chain order and time order agree and page tokens can
    /// follow `(ts, seq)`.
    pub fn after(
        head: &ChainHead,
        account_id: i64,
        actor: &str,
        entry: &AuditEntry,
        now_ms: i64,
    ) -> NewLink {
        let seq = head.seq + 1;
        let ts_ms = now_ms.max(head.ts_ms);
        let id = rollcall_core::secret::random_hex(16);
        let properties = entry
            .properties
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let hash = link_hash(
            &head.hash,
            &Link {
                account_id,
                seq,
                id: &id,
                ts_ms,
                event_type: entry.event_type,
                user_id: actor,
                properties: &properties,
            },
        );
        NewLink {
            seq,
            id,
            ts_ms,
            properties,
            hash,
        }
    }
}

/// One stored event, as `audit verify` reads it.
pub struct StoredLink<'a> {
    pub seq: i64,
    pub id: &'a str,
    pub ts_ms: i64,
    pub event_type: &'a str,
    pub user_id: &'a str,
    pub properties: &'a str,
    pub hash: &'a str,
}

/// Checks one account's chain, fed its events in `seq` order.
pub struct ChainWalk {
    account_id: i64,
    prev: String,
    expected_seq: i64,
}

impl ChainWalk {
    pub fn new(account_id: i64) -> ChainWalk {
        ChainWalk {
            account_id,
            prev: GENESIS.to_string(),
            expected_seq: 1,
        }
    }

    /// The next stored event: a missing or altered one is the chain's break.
    pub fn check(&mut self, link: &StoredLink<'_>) -> Result<(), ChainReport> {
        if link.seq != self.expected_seq {
            return Err(ChainReport::Broken {
                account_id: self.account_id,
                seq: self.expected_seq,
                id: None,
                reason: format!(
                    "event {} is missing (next present is {})",
                    self.expected_seq, link.seq
                ),
            });
        }
        let computed = link_hash(
            &self.prev,
            &Link {
                account_id: self.account_id,
                seq: link.seq,
                id: link.id,
                ts_ms: link.ts_ms,
                event_type: link.event_type,
                user_id: link.user_id,
                properties: link.properties,
            },
        );
        if computed != link.hash {
            return Err(ChainReport::Broken {
                account_id: self.account_id,
                seq: link.seq,
                id: Some(link.id.to_string()),
                reason: "its contents do not match its hash (altered)".to_string(),
            });
        }
        self.prev = link.hash.to_string();
        self.expected_seq += 1;
        Ok(())
    }

    /// After the last stored event: the chain must end where its head says
    /// (else events were deleted from the end). Returns how many events it holds.
    pub fn finish(self, head_seq: i64, head_hash: &str) -> Result<u64, ChainReport> {
        let events = self.expected_seq - 1;
        if events != head_seq || self.prev != head_hash {
            return Err(ChainReport::Broken {
                account_id: self.account_id,
                seq: self.expected_seq,
                id: None,
                reason: format!(
                    "the chain ends at event {events} but {head_seq} events were written (deleted from the end)"
                ),
            });
        }
        Ok(events as u64)
    }
}
