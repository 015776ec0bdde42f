//! Where the account's capture policy (SPEC §11) applies to the relay's records
//! before they leave the computer.
//!
//! The policy itself (`GET /admin/v1/privacy`: `full`, `domains`, `apps`,
//! `off`, per-group overrides and redaction rules) is built on the server side
//! separately; the relay does not interpret it yet. The uploader calls
//! [`CapturePolicy::apply`] on every batch just before sending, so a policy
//! fetched from the server (and refreshed) only needs an implementation of
//! this trait: records of the backlog are filtered by the policy in force at
//! upload time, and whatever it drops is never sent.

use serde_json::Value;

/// Filters or rewrites §5 records (`executable`, `description`, `url`, ...)
/// before upload; may remove records (capture `off`).
pub trait CapturePolicy: Send + Sync {
    fn apply(&self, records: &mut Vec<Value>);
}

/// Sends records as converted: the behaviour until the server's policy is read.
pub struct AsCaptured;

impl CapturePolicy for AsCaptured {
    fn apply(&self, _records: &mut Vec<Value>) {}
}
