//! Erasure of one person's data (SPEC §11): everything an account holds about
//! one email, removed in one transaction per store and audited once as
//! `PersonErased` with the counts only.
//!
//! What "the person's data" is, on both backends:
//! - the usage events of the email and of its org-chart aliases
//!   (`additionalEmails` of the person whose primary email it is), and what was
//!   derived from them: the day bitmaps lose the person's bit (rows left empty
//!   are removed), the latest-activity rows go, and the interned email row is
//!   renamed to a tombstone so the dense id stays taken but names no one;
//! - provisioned users with that email in every app;
//! - the person's entry in every org-chart snapshot: the current one, open
//!   ones and older ones (which can be activated again, so they would bring
//!   the person back);
//! - the Segment identities naming the email, their links and pending events;
//! - employee access records whose subject is that email, or a client of the
//!   person's agent logins;
//! - the person's agent activity: the logins of a web user of role `employee`
//!   with that email, their clients' records, idle stretches, working-hours
//!   rollups, group memberships and the client rows themselves; and the
//!   computers that had activity of those clients and have none left.
//!
//! The web user (if any) is not removed: that is `DELETE /admin/v1/users`.

use async_trait::async_trait;
use serde::Serialize;

use crate::audit::Actor;
use crate::StoreResult;

/// How many rows of each kind an erasure removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErasedCounts {
    pub usage_events: u64,
    pub usage_emails: u64,
    pub provisioned_users: u64,
    pub org_chart_entries: u64,
    pub segment_identities: u64,
    pub segment_pending_events: u64,
    pub access_records: u64,
    pub agent_logins: u64,
    pub activity_records: u64,
    pub idle_stretches: u64,
    /// Computers only the person's logins had activity on.
    pub computers: u64,
}

impl ErasedCounts {
    /// Whether the account held nothing about the person.
    pub fn is_empty(&self) -> bool {
        *self == ErasedCounts::default()
    }
}

/// Clears bit `id` (of byte `id / 8`) for each id; whether any was set.
pub(crate) fn clear_bits(bits: &mut [u8], ids: &[i64]) -> bool {
    let mut changed = false;
    for &id in ids {
        let Ok(id) = usize::try_from(id) else {
            continue;
        };
        if let Some(byte) = bits.get_mut(id / 8) {
            let mask = 1u8 << (id % 8);
            if *byte & mask != 0 {
                *byte &= !mask;
                changed = true;
            }
        }
    }
    changed
}

#[async_trait]
pub trait ErasureStore: Send + Sync {
    /// Removes everything the account holds about `email` (lower-cased) and
    /// records `PersonErased`; `None` (and no audit event) when it held
    /// nothing.
    async fn erase_person(
        &self,
        account_id: i64,
        actor: &Actor,
        email: &str,
    ) -> StoreResult<Option<ErasedCounts>>;
}

#[cfg(test)]
mod tests {
    use super::clear_bits;

    #[test]
    fn clearing_bits_touches_only_the_ids_given() {
        let mut bits = vec![0b1010_0001, 0b0000_0100];
        assert!(clear_bits(&mut bits, &[0, 10, 99]));
        assert_eq!(bits, vec![0b1010_0000, 0]);
        assert!(!clear_bits(&mut bits, &[0, 1, 10]));
    }
}
