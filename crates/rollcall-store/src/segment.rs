//! Storage of the Segment-compatible tracking API (SPEC §10.1): write keys, and
//! the ingest of a batch of Segment messages already mapped to what Rollcall
//! keeps of them ([`Message`]).
//!
//! Both backends ingest a batch in one transaction, in this order:
//! 1. claim the batch's `messageId`s ([`MessageKey`]); a message whose key is
//!    already stored (or appears earlier in the batch) is a duplicate and does
//!    nothing more;
//! 2. apply the `identify` and `alias` calls in order: an identity (userId or
//!    anonymousId) gets the email given, the identities they link get it too,
//!    their kept events become usage events, and an identify with a userId
//!    fills that provisioned user;
//! 3. resolve each event's email (its own, else its identity's); events with
//!    none are kept (`seg_pending`) until an identify names them;
//! 4. define the event names the app does not define yet ([`auto_definition`]);
//! 5. store the resolved events as a native push does (same de-duplication by
//!    (timestamp, email, eventName), same rollups).

use async_trait::async_trait;
use rollcall_core::segment::Profile;
use rollcall_core::usage::{AppDefinition, EventDefinition, EventType};
use rollcall_core::Email;

use crate::admin::RateLimit;
use crate::StoreResult;

/// A write key as the tracking API resolves it.
#[derive(Debug, Clone)]
pub struct WriteKey {
    pub account_id: i64,
    pub credential_id: i64,
    /// The app (public id) it pushes to.
    pub app_id: String,
    pub rate_limit: RateLimit,
    /// The account's time zone and usage retention (read with the key, so a
    /// request needs no second look-up).
    pub time_zone: String,
    pub usage_retention_days: u32,
}

/// What a message's `messageId` is remembered under: the message's own
/// timestamp (before skew correction, so a retry has the same) and the id's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageKey {
    pub ts_ms: i64,
    pub hash: i64,
}

/// A `track`, `page` or `screen` call.
#[derive(Debug, Clone)]
pub struct TrackedEvent {
    /// The identity (userId, else anonymousId) the event is of.
    pub ident: Option<String>,
    /// The email the message itself gives (`context.traits.email`, else
    /// `properties.email`).
    pub email: Option<Email>,
    pub event_name: String,
    /// Corrected for clock skew.
    pub ts_ms: i64,
    /// Local day number of `ts_ms` in the account's time zone.
    pub day: i32,
}

/// An `identify` call.
#[derive(Debug, Clone, Default)]
pub struct Identify {
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub email: Option<Email>,
    pub profile: Profile,
}

/// An `alias` call: `previous_id` and `user_id` are one person.
#[derive(Debug, Clone)]
pub struct Alias {
    pub previous_id: String,
    pub user_id: String,
}

/// What a message asks Rollcall to keep.
#[derive(Debug, Clone)]
pub enum Action {
    Event(TrackedEvent),
    Identify(Identify),
    Alias(Alias),
    /// Accepted and de-duplicated, nothing kept (`group`).
    Nothing,
}

/// One message of a batch, in the batch's order.
#[derive(Debug, Clone)]
pub struct Message {
    /// `None` without a `messageId`.
    pub key: Option<MessageKey>,
    pub action: Action,
}

/// What an ingest did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SegmentOutcome {
    /// Usage events stored (including kept events an identify released).
    pub accepted: u64,
    /// Messages already stored (by messageId), and events already stored (by
    /// timestamp, email and eventName).
    pub duplicates: u64,
    /// Events kept until their person is identified.
    pub pending: u64,
}

#[async_trait]
pub trait SegmentStore: Send + Sync {
    /// The live (not revoked) write key with this secret hash.
    async fn write_key(&self, secret_hash: &str) -> StoreResult<Option<WriteKey>>;
    /// Ingests a batch into the app, all or nothing (see the module's steps).
    async fn ingest_segment(
        &self,
        account_id: i64,
        app_id: &str,
        messages: Vec<Message>,
    ) -> StoreResult<SegmentOutcome>;
}

/// Whether each message is new: not a duplicate of an earlier message of the
/// batch (same key) nor of a stored one (`stored_before` answers for a key the
/// store already held before this batch).
pub fn fresh_messages(
    messages: &[Message],
    stored_before: impl Fn(&MessageKey) -> bool,
) -> Vec<bool> {
    let mut seen = std::collections::HashSet::new();
    messages
        .iter()
        .map(|m| match &m.key {
            None => true,
            Some(k) => seen.insert(*k) && !stored_before(k),
        })
        .collect()
}

/// The distinct keys of a batch, sorted (the order they are inserted in).
pub fn sorted_keys(messages: &[Message]) -> Vec<MessageKey> {
    let mut keys: Vec<MessageKey> = messages.iter().filter_map(|m| m.key).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The definition with the event names it lacks added as type `Other` with no
/// feature group (visible in the dashboard, assignable to groups later); `None`
/// when it defines them all.
pub fn auto_definition<'a>(
    def: &AppDefinition,
    names: impl Iterator<Item = &'a str>,
) -> Option<AppDefinition> {
    let mut added = def.clone();
    for name in names {
        if !added.events.iter().any(|e| e.event_name == name) {
            added.events.push(EventDefinition {
                event_name: name.to_string(),
                description: Some("Defined automatically by the tracking API".into()),
                event_type: EventType::Other,
                groups: Vec::new(),
                min_license_tier: None,
            });
        }
    }
    (added.events.len() > def.events.len()).then_some(added)
}

/// How long a messageId is remembered, counted from the message's own
/// timestamp: SDKs retry within minutes to hours (mobile queues within days).
/// A message retried later than this, with a new `sentAt`, is stored again.
pub const MESSAGE_IDS_KEPT_MS: i64 = 7 * 86_400_000;

/// Most identities one email change reaches through aliases (a bound on the walk).
pub const MAX_LINKED_IDENTITIES: usize = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(key: Option<(i64, i64)>) -> Message {
        Message {
            key: key.map(|(ts_ms, hash)| MessageKey { ts_ms, hash }),
            action: Action::Nothing,
        }
    }

    #[test]
    fn a_message_repeated_in_a_batch_or_already_stored_is_not_fresh() {
        let batch = [
            msg(Some((1, 7))),
            msg(Some((1, 7))),
            msg(Some((2, 9))),
            msg(None),
            msg(None),
        ];
        let fresh = fresh_messages(&batch, |k| k.hash == 9);
        assert_eq!(fresh, vec![true, false, false, true, true]);
        assert_eq!(sorted_keys(&batch).len(), 2);
    }

    #[test]
    fn unknown_names_are_added_once_as_other_without_group() {
        let def: AppDefinition = serde_json::from_value(serde_json::json!({
            "name": "Shop", "events": [{"eventName": "Order Completed", "eventType": "Produce", "groups": ["Bought"]}]
        }))
        .unwrap();
        let added = auto_definition(
            &def,
            ["Order Completed", "Page Viewed", "Page Viewed"].into_iter(),
        )
        .unwrap();
        assert_eq!(added.events.len(), 2);
        assert_eq!(added.events[1].event_name, "Page Viewed");
        assert_eq!(added.events[1].event_type, EventType::Other);
        assert!(added.events[1].groups.is_empty());
        assert!(added.problems().is_empty());
        assert!(auto_definition(&added, ["Page Viewed"].into_iter()).is_none());
    }
}
