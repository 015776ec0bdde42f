//! The pure rules of the Segment-compatible tracking API (SPEC §10.1): the
//! limits, the clock-skew correction of timestamps, the stable hash that keys a
//! `messageId`, the event names a page or screen call becomes, and the profile an
//! `identify` carries.

use serde::{Deserialize, Serialize};

/// Largest message Segment accepts, in bytes (its JSON text).
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;

/// Largest batch body, after any gzip is inflated (RudderStack's SDKs send up to
/// 4 MB).
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Longest event name an app's definition gets automatically.
pub const MAX_EVENT_NAME_CHARS: usize = 200;

/// Longest userId, anonymousId or messageId kept.
pub const MAX_ID_CHARS: usize = 200;

/// The event name a `page` call becomes.
pub const PAGE_VIEWED: &str = "Page Viewed";
/// The event name a `screen` call becomes.
pub const SCREEN_VIEWED: &str = "Screen Viewed";

/// When an event happened, as Segment computes it: the client's `timestamp`
/// moved by the difference between the server's clock and the client's
/// (`receivedAt − sentAt`), so a device whose clock is off still lands at the
/// right time. Without `sentAt` the timestamp is taken as is; without a
/// timestamp, the event happened when it was received.
pub fn corrected_ms(timestamp_ms: Option<i64>, sent_at_ms: Option<i64>, received_ms: i64) -> i64 {
    match (timestamp_ms, sent_at_ms) {
        (Some(ts), Some(sent)) => ts.saturating_add(received_ms.saturating_sub(sent)),
        (Some(ts), None) => ts,
        (None, _) => received_ms,
    }
}

/// A stable 64-bit hash of a `messageId` (FNV-1a): the same id gives the same
/// key in every process and version, which is what de-duplication stores.
pub fn message_hash(message_id: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in message_id.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// What an `identify` says about a person, from its traits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `team`, else `department`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

impl Profile {
    /// The name to show for the person: `name`, else first and last name.
    pub fn display_name(&self) -> Option<String> {
        if let Some(name) = self.name.as_deref().filter(|n| !n.trim().is_empty()) {
            return Some(name.trim().to_string());
        }
        let parts: Vec<&str> = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    pub fn is_empty(&self) -> bool {
        *self == Profile::default()
    }

    /// This profile with the fields `newer` gives replaced (an identify may name
    /// only what changed).
    pub fn updated_with(mut self, newer: &Profile) -> Profile {
        for (mine, theirs) in [
            (&mut self.first_name, &newer.first_name),
            (&mut self.last_name, &newer.last_name),
            (&mut self.name, &newer.name),
            (&mut self.title, &newer.title),
            (&mut self.team, &newer.team),
        ] {
            if theirs.is_some() {
                mine.clone_from(theirs);
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fast_client_clock_is_moved_back_by_its_skew() {
        // The device thinks it is 10 s later than it is.
        let received = 1_000_000;
        let sent = received + 10_000;
        let happened_on_device = sent - 3_000;
        assert_eq!(
            corrected_ms(Some(happened_on_device), Some(sent), received),
            received - 3_000
        );
    }

    #[test]
    fn without_sent_at_the_timestamp_stands_and_without_timestamp_receipt_time() {
        assert_eq!(corrected_ms(Some(5), None, 99), 5);
        assert_eq!(corrected_ms(None, Some(7), 99), 99);
    }

    #[test]
    fn skew_arithmetic_never_overflows() {
        assert_eq!(corrected_ms(Some(i64::MAX), Some(i64::MIN), 0), i64::MAX);
    }

    #[test]
    fn message_hash_is_stable_and_tells_ids_apart() {
        // FNV-1a's published value for "a": the key must not change between versions.
        assert_eq!(message_hash("a") as u64, 0xaf63_dc4c_8601_ec8c);
        assert_ne!(message_hash("msg-1"), message_hash("msg-2"));
    }

    #[test]
    fn display_name_prefers_name_then_first_and_last() {
        let p = Profile {
            first_name: Some("Ana".into()),
            last_name: Some("Diaz".into()),
            ..Profile::default()
        };
        assert_eq!(p.display_name().as_deref(), Some("Ana Diaz"));
        let named = Profile {
            name: Some(" Ana D. ".into()),
            ..p.clone()
        };
        assert_eq!(named.display_name().as_deref(), Some("Ana D."));
        assert_eq!(Profile::default().display_name(), None);
    }

    #[test]
    fn a_later_identify_replaces_only_what_it_names() {
        let first = Profile {
            first_name: Some("Ana".into()),
            team: Some("Sales".into()),
            ..Profile::default()
        };
        let later = Profile {
            team: Some("Support".into()),
            ..Profile::default()
        };
        let merged = first.updated_with(&later);
        assert_eq!(merged.first_name.as_deref(), Some("Ana"));
        assert_eq!(merged.team.as_deref(), Some("Support"));
    }
}
