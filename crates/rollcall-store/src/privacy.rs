//! The privacy policy of the people measured (SPEC §11): the account's capture
//! policy, redaction rules and title retention, the ingest counters of each
//! redaction rule, and the group membership that picks a login's capture.
//!
//! The policy is applied by the server before a batch reaches the store (what it
//! drops is never written); the store keeps it, counts the records each rule
//! changed in the ingest transaction (only records actually stored, so a
//! retried batch is not counted twice), and blanks titles and URLs past the
//! title retention in its maintenance job.

use std::collections::HashMap;

use async_trait::async_trait;
use rollcall_core::privacy::PrivacyPolicy;

use crate::audit::Actor;
use crate::StoreResult;

/// How many stored records each redaction rule of a batch changed, by the
/// rule's bit in [`crate::workforce::NewRecord::redacted_by`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RedactionTally(pub [u64; 32]);

impl RedactionTally {
    /// Counts one stored record changed by the rules in `mask`.
    pub fn add(&mut self, mask: u32) {
        let mut bits = mask;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            self.0[i] += 1;
            bits &= bits - 1;
        }
    }

    /// (counter key, records) for each rule of `keys` that changed any.
    pub fn nonzero<'k>(&self, keys: &'k [String]) -> Vec<(&'k str, i64)> {
        keys.iter()
            .enumerate()
            .take(32)
            .filter(|(i, _)| self.0[*i] > 0)
            .map(|(i, k)| (k.as_str(), self.0[i] as i64))
            .collect()
    }
}

#[async_trait]
pub trait PrivacyStore: Send + Sync {
    /// The account's policy: the default (`domains`) until one is saved.
    async fn privacy_policy(&self, account_id: i64) -> StoreResult<PrivacyPolicy>;
    /// Replaces the policy (already validated); records `PrivacyChanged` (the
    /// old and new policy, no captured data) when it changed anything.
    async fn put_privacy_policy(
        &self,
        account_id: i64,
        actor: &Actor,
        policy: PrivacyPolicy,
    ) -> StoreResult<()>;
    /// Records stored with a change by each redaction rule, by counter key
    /// (`rollcall_core::privacy::rule_key`).
    async fn redaction_counts(&self, account_id: i64) -> StoreResult<HashMap<String, u64>>;
    /// The groups of the client that an agent login's records go to (the one
    /// it was merged into, if it was); none for a login not seen yet.
    async fn login_groups(
        &self,
        account_id: i64,
        login_domain: &str,
        name: &str,
    ) -> StoreResult<Vec<i64>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_counts_each_rule_of_a_mask() {
        let mut t = RedactionTally::default();
        t.add(0b101);
        t.add(0b100);
        t.add(0);
        t.add(1 << 31);
        let keys: Vec<String> = (0..32).map(|i| format!("k{i}")).collect();
        assert_eq!(t.nonzero(&keys), vec![("k0", 1), ("k2", 2), ("k31", 1)]);
        assert_eq!(t.nonzero(&keys[..2]), vec![("k0", 1)]);
    }
}
