//! One Segment message as sent (`track`, `identify`, `page`, `screen`, `group`,
//! `alias`), read borrowing from the body, and its mapping to what Rollcall
//! keeps of it ([`rollcall_store::segment::Message`]), SPEC §10.1.
//!
//! Only the fields the mapping uses are read; any other field (and any value
//! of a field Rollcall reads loosely, such as a non-string `email`) is skipped
//! without being built.

use std::borrow::Cow;
use std::fmt;

use rollcall_core::segment::{self, Profile};
use rollcall_core::Email;
use rollcall_store::segment::{Action, Alias, Identify, Message, MessageKey, TrackedEvent};
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// The calls of Segment's tracking API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Track,
    Identify,
    Page,
    Screen,
    Group,
    Alias,
}

impl Kind {
    pub fn parse(text: &str) -> Option<Kind> {
        Some(match text {
            "track" => Kind::Track,
            "identify" => Kind::Identify,
            "page" => Kind::Page,
            "screen" => Kind::Screen,
            "group" => Kind::Group,
            "alias" => Kind::Alias,
            _ => return None,
        })
    }
}

/// A string field read loosely: any other JSON value counts as absent.
#[derive(Default, Debug)]
pub struct Loose<'a>(pub Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Loose<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Loose(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Loose(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Loose(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Loose(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Loose(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Loose(None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Loose(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Loose(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Loose(None))
            }
        }
        d.deserialize_any(V)
    }
}

impl Loose<'_> {
    fn text(&self) -> Option<&str> {
        self.0.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
}

/// An id (`userId`, `anonymousId`, `previousId`, `messageId`): a string or a
/// number (the SDKs send either), kept as text.
#[derive(Default, Debug)]
pub struct Id(pub Option<String>);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E>(self, v: &str) -> Result<Id, E> {
                let v = v.trim();
                Ok(Id((!v.is_empty()).then(|| v.to_string())))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Id, E> {
                Ok(Id(Some(v.to_string())))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Id, E> {
                Ok(Id(Some(v.to_string())))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Id, E> {
                Ok(Id(Some(v.to_string())))
            }
            fn visit_unit<E>(self) -> Result<Id, E> {
                Ok(Id(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// The traits Rollcall reads (of an identify, or a message's `context.traits`).
#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Traits<'a> {
    #[serde(default, borrow)]
    email: Loose<'a>,
    #[serde(default, borrow)]
    first_name: Loose<'a>,
    #[serde(default, borrow)]
    last_name: Loose<'a>,
    #[serde(default, borrow)]
    name: Loose<'a>,
    #[serde(default, borrow)]
    title: Loose<'a>,
    #[serde(default, borrow)]
    team: Loose<'a>,
    #[serde(default, borrow)]
    department: Loose<'a>,
}

impl Traits<'_> {
    fn profile(&self) -> Profile {
        let own = |l: &Loose<'_>| l.text().map(str::to_string);
        Profile {
            first_name: own(&self.first_name),
            last_name: own(&self.last_name),
            name: own(&self.name),
            title: own(&self.title),
            team: own(&self.team).or_else(|| own(&self.department)),
        }
    }

    fn email(&self) -> Option<Email> {
        self.email.text().and_then(|e| Email::parse(e).ok())
    }
}

#[derive(Deserialize, Default, Debug)]
pub struct Context<'a> {
    #[serde(default, borrow)]
    traits: Option<Traits<'a>>,
}

#[derive(Deserialize, Default, Debug)]
pub struct Properties<'a> {
    #[serde(default, borrow)]
    email: Loose<'a>,
}

/// A message as sent.
#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "camelCase")]
pub struct RawMessage<'a> {
    #[serde(default, rename = "type", borrow)]
    pub kind: Loose<'a>,
    #[serde(default)]
    pub message_id: Id,
    #[serde(default)]
    pub user_id: Id,
    #[serde(default)]
    pub anonymous_id: Id,
    #[serde(default)]
    pub previous_id: Id,
    #[serde(default, borrow)]
    pub event: Loose<'a>,
    #[serde(default, borrow)]
    pub timestamp: Loose<'a>,
    #[serde(default, borrow)]
    pub original_timestamp: Loose<'a>,
    #[serde(default, borrow)]
    pub sent_at: Loose<'a>,
    #[serde(default, borrow)]
    pub properties: Option<Properties<'a>>,
    #[serde(default, borrow)]
    pub context: Option<Context<'a>>,
    #[serde(default, borrow)]
    pub traits: Option<Traits<'a>>,
}

/// What the mapping needs besides the message.
pub struct Clock<'t> {
    /// When the request arrived (Unix ms).
    pub received_ms: i64,
    /// The batch's `sentAt`, for messages without their own.
    pub batch_sent_at: Option<i64>,
    /// Accepted range of corrected timestamps.
    pub oldest_ms: i64,
    pub newest_ms: i64,
    pub tz: &'t jiff::tz::TimeZone,
}

/// Why a message is refused: the field and the reason.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub field: &'static str,
    pub message: String,
}

fn refuse(field: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        field,
        message: message.into(),
    }
}

fn instant(field: &'static str, value: &Loose<'_>) -> Result<Option<i64>, Refusal> {
    value
        .text()
        .map(|t| rollcall_core::time::parse_instant_ms(t).map_err(|m| refuse(field, m)))
        .transpose()
}

fn bounded_id(field: &'static str, id: &Id) -> Result<Option<String>, Refusal> {
    match &id.0 {
        Some(s) if s.chars().count() > segment::MAX_ID_CHARS => Err(refuse(
            field,
            format!(
                "{field} is longer than {} characters",
                segment::MAX_ID_CHARS
            ),
        )),
        other => Ok(other.clone()),
    }
}

impl RawMessage<'_> {
    /// The message's call: the path's for a single-message endpoint, else its `type`.
    pub fn kind(&self, forced: Option<Kind>) -> Result<Kind, Refusal> {
        if let Some(k) = forced {
            return Ok(k);
        }
        let text = self.kind.text().ok_or_else(|| {
            refuse(
                "type",
                "type is required: track, identify, page, screen, group or alias",
            )
        })?;
        Kind::parse(text).ok_or_else(|| {
            refuse(
                "type",
                format!("type '{text}' is not one of track, identify, page, screen, group, alias"),
            )
        })
    }

    /// Maps the message to what Rollcall keeps of it.
    pub fn map(&self, kind: Kind, clock: &Clock<'_>) -> Result<Message, Refusal> {
        let timestamp = match instant("timestamp", &self.timestamp)? {
            Some(ts) => Some(ts),
            None => instant("originalTimestamp", &self.original_timestamp)?,
        };
        let sent_at = instant("sentAt", &self.sent_at)?.or(clock.batch_sent_at);
        let key = bounded_id("messageId", &self.message_id)?.map(|id| MessageKey {
            // A message without a timestamp is keyed at 0: its retries, whose
            // receipt times differ, must meet the same key.
            ts_ms: timestamp.unwrap_or(0),
            hash: segment::message_hash(&id),
        });
        let user_id = bounded_id("userId", &self.user_id)?;
        let anonymous_id = bounded_id("anonymousId", &self.anonymous_id)?;
        let context_traits = self.context.as_ref().and_then(|c| c.traits.as_ref());
        let action = match kind {
            Kind::Track | Kind::Page | Kind::Screen => {
                let event_name = match kind {
                    Kind::Page => segment::PAGE_VIEWED.to_string(),
                    Kind::Screen => segment::SCREEN_VIEWED.to_string(),
                    _ => self.event_name()?,
                };
                let ident = user_id.or(anonymous_id);
                let email = context_traits.and_then(Traits::email).or_else(|| {
                    self.properties
                        .as_ref()
                        .and_then(|p| p.email.text())
                        .and_then(|e| Email::parse(e).ok())
                });
                if ident.is_none() && email.is_none() {
                    return Err(refuse("userId", "userId or anonymousId is required"));
                }
                let ts_ms = segment::corrected_ms(timestamp, sent_at, clock.received_ms);
                if ts_ms < clock.oldest_ms || ts_ms > clock.newest_ms {
                    return Err(refuse(
                        "timestamp",
                        format!(
                            "the event's time ({}) is older than the account's usage retention or more than 1 day in the future",
                            rollcall_core::time::format_ms(ts_ms)
                        ),
                    ));
                }
                let day = rollcall_core::time::day_number(rollcall_core::time::local_date(
                    ts_ms, clock.tz,
                ));
                Action::Event(TrackedEvent {
                    ident,
                    email,
                    event_name,
                    ts_ms,
                    day,
                })
            }
            Kind::Identify => {
                if user_id.is_none() && anonymous_id.is_none() {
                    return Err(refuse("userId", "userId or anonymousId is required"));
                }
                // Segment's traits are top-level; RudderStack's are in context.traits.
                let top = self.traits.as_ref();
                let email = top
                    .and_then(Traits::email)
                    .or_else(|| context_traits.and_then(Traits::email));
                let profile = context_traits
                    .map(Traits::profile)
                    .unwrap_or_default()
                    .updated_with(&top.map(Traits::profile).unwrap_or_default());
                Action::Identify(Identify {
                    user_id,
                    anonymous_id,
                    email,
                    profile,
                })
            }
            Kind::Alias => {
                let previous_id = bounded_id("previousId", &self.previous_id)?
                    .ok_or_else(|| refuse("previousId", "previousId is required for alias"))?;
                let user_id =
                    user_id.ok_or_else(|| refuse("userId", "userId is required for alias"))?;
                Action::Alias(Alias {
                    previous_id,
                    user_id,
                })
            }
            Kind::Group => {
                if user_id.is_none() && anonymous_id.is_none() {
                    return Err(refuse("userId", "userId or anonymousId is required"));
                }
                Action::Nothing
            }
        };
        Ok(Message { key, action })
    }

    fn event_name(&self) -> Result<String, Refusal> {
        let name = self
            .event
            .text()
            .ok_or_else(|| refuse("event", "event (the event's name) is required for track"))?;
        if name.chars().count() > segment::MAX_EVENT_NAME_CHARS {
            return Err(refuse(
                "event",
                format!(
                    "event is longer than {} characters",
                    segment::MAX_EVENT_NAME_CHARS
                ),
            ));
        }
        Ok(name.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(tz: &jiff::tz::TimeZone) -> Clock<'_> {
        Clock {
            received_ms: 1_800_000_000_000,
            batch_sent_at: None,
            oldest_ms: 1_700_000_000_000,
            newest_ms: 1_800_086_400_000,
            tz,
        }
    }

    fn map(json: &str, forced: Option<Kind>) -> Result<Message, Refusal> {
        let raw: RawMessage<'_> = serde_json::from_str(json).unwrap();
        let tz = jiff::tz::TimeZone::UTC;
        let kind = raw.kind(forced)?;
        raw.map(kind, &clock(&tz))
    }

    #[test]
    fn track_takes_the_email_from_context_traits_before_properties() {
        let m = map(
            r#"{"type":"track","userId":42,"event":"Signed Up","messageId":"m1",
                "context":{"traits":{"email":"A@X.io"}},"properties":{"email":"b@x.io"},
                "timestamp":"2027-01-15T08:00:00Z","sentAt":"2027-01-15T08:00:10Z"}"#,
            None,
        )
        .unwrap();
        let Action::Event(e) = m.action else {
            panic!("not an event")
        };
        assert_eq!(e.email.unwrap().as_str(), "a@x.io");
        assert_eq!(e.ident.as_deref(), Some("42"));
        assert_eq!(e.event_name, "Signed Up");
        // 10 s of skew removed; the key keeps the timestamp as sent.
        let sent = rollcall_core::time::parse_instant_ms("2027-01-15T08:00:10Z").unwrap();
        assert_eq!(e.ts_ms, 1_800_000_000_000 - 10_000);
        assert_eq!(m.key.unwrap().ts_ms, sent - 10_000);
    }

    #[test]
    fn page_and_screen_become_their_viewed_events() {
        for (kind, name) in [(Kind::Page, "Page Viewed"), (Kind::Screen, "Screen Viewed")] {
            let m = map(r#"{"anonymousId":"a1","name":"Home"}"#, Some(kind)).unwrap();
            let Action::Event(e) = m.action else {
                panic!("not an event")
            };
            assert_eq!(e.event_name, name);
            assert!(e.email.is_none());
        }
    }

    #[test]
    fn identify_reads_top_level_and_rudderstack_context_traits() {
        let m = map(
            r#"{"type":"identify","userId":"u1","context":{"traits":{"email":"r@x.io","department":"Ops","title":"Lead"}},
                "traits":{"firstName":"Ana","team":"Sales"}}"#,
            None,
        )
        .unwrap();
        let Action::Identify(i) = m.action else {
            panic!("not an identify")
        };
        assert_eq!(i.email.unwrap().as_str(), "r@x.io");
        assert_eq!(i.profile.first_name.as_deref(), Some("Ana"));
        assert_eq!(i.profile.team.as_deref(), Some("Sales"));
        assert_eq!(i.profile.title.as_deref(), Some("Lead"));
    }

    #[test]
    fn malformed_messages_are_refused_with_the_field() {
        let cases = [
            (r#"{"type":"track","userId":"u"}"#, "event"),
            (r#"{"type":"track","event":"E"}"#, "userId"),
            (r#"{"type":"fly","userId":"u"}"#, "type"),
            (r#"{"userId":"u"}"#, "type"),
            (r#"{"type":"alias","userId":"u"}"#, "previousId"),
            (
                r#"{"type":"track","userId":"u","event":"E","timestamp":"yesterday"}"#,
                "timestamp",
            ),
            (
                r#"{"type":"track","userId":"u","event":"E","timestamp":"1990-01-01T00:00:00Z"}"#,
                "timestamp",
            ),
        ];
        for (json, field) in cases {
            assert_eq!(map(json, None).unwrap_err().field, field, "{json}");
        }
    }

    #[test]
    fn loose_fields_skip_values_of_other_types() {
        let m = map(
            r#"{"type":"track","userId":"u","event":"E","properties":{"email":{"x":[1]}},"context":{"traits":{"email":7}}}"#,
            None,
        )
        .unwrap();
        let Action::Event(e) = m.action else {
            panic!("not an event")
        };
        assert!(e.email.is_none());
        assert!(m.key.is_none());
    }
}
