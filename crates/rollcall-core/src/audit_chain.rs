//! The audit log's hash chain (SPEC §6): each event's hash covers the previous
//! event's hash and every field of the event, so altering, inserting or deleting
//! an event breaks every hash after it.

use sha2::{Digest, Sha256};

/// The `prev` of an account's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields of an audit event that the chain protects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link<'a> {
    pub account_id: i64,
    pub seq: i64,
    pub id: &'a str,
    pub ts_ms: i64,
    pub event_type: &'a str,
    pub user_id: &'a str,
    /// The event properties as stored (JSON text, or empty).
    pub properties: &'a str,
}

/// The hash of `link`, chained to `prev`.
pub fn link_hash(prev: &str, link: &Link<'_>) -> String {
    let mut h = Sha256::new();
    for part in [
        prev.as_bytes(),
        link.account_id.to_string().as_bytes(),
        link.seq.to_string().as_bytes(),
        link.id.as_bytes(),
        link.ts_ms.to_string().as_bytes(),
        link.event_type.as_bytes(),
        link.user_id.as_bytes(),
        link.properties.as_bytes(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(user: &str) -> Link<'_> {
        Link {
            account_id: 1,
            seq: 1,
            id: "a",
            ts_ms: 5,
            event_type: "LoggedIn",
            user_id: user,
            properties: "",
        }
    }

    #[test]
    fn any_change_changes_the_hash() {
        let base = link_hash(GENESIS, &link("a@x.com"));
        assert_eq!(base, link_hash(GENESIS, &link("a@x.com")));
        assert_ne!(base, link_hash(GENESIS, &link("b@x.com")));
        assert_ne!(base, link_hash(&base, &link("a@x.com")));
    }

    #[test]
    fn fields_cannot_bleed_into_each_other() {
        let mut a = link("ab");
        a.event_type = "x";
        let mut b = link("b");
        b.event_type = "xa";
        assert_ne!(link_hash(GENESIS, &a), link_hash(GENESIS, &b));
    }
}
