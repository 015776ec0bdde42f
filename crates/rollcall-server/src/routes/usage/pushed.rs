//! The body of a usage-event push (`{"events": [...]}`), read straight into the
//! few fields an event has, borrowing its strings from the request.
//!
//! A batch is up to 1,000 events and pushes are the hot path, so the body is not
//! built as a tree of JSON values first, and the 1,001st item ends the parse. Nothing here rejects a well-formed body:
//! a field of the wrong type is kept as [`Field::Other`] and an item that is not an
//! object as `None`, so the route can name every bad field of every item.

use std::borrow::Cow;
use std::fmt;

use rollcall_core::bounded::too_many_items;
use rollcall_core::usage::MAX_BATCH;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// A pushed body: `events` when it is an array, else `None`.
pub struct PushBody<'a> {
    pub events: Option<Vec<Option<PushedEvent<'a>>>>,
}

/// One item of `events` that is a JSON object.
#[derive(Default)]
pub struct PushedEvent<'a> {
    pub timestamp: Field<'a>,
    pub email: Field<'a>,
    pub event_name: Field<'a>,
    pub target_app: Field<'a>,
}

/// A field's value, as far as a pushed event cares.
#[derive(Default, Debug, PartialEq)]
pub enum Field<'a> {
    /// Absent or `null`.
    #[default]
    Missing,
    Int(i64),
    Str(Cow<'a, str>),
    /// Any other value: a fraction, a number out of range, a boolean, an array, an object.
    Other,
}

impl Field<'_> {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Field::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// The visitor methods of every scalar JSON value, each answering `$value`.
macro_rules! scalars_are {
    ($value:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

impl<'de: 'a, 'a> Deserialize<'de> for PushBody<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct BodyVisitor;
        impl<'de> Visitor<'de> for BodyVisitor {
            type Value = PushBody<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut events = None;
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    if key == "events" {
                        events = map.next_value::<Events<'de>>()?.0;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(PushBody { events })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(PushBody { events: None })
            }
            scalars_are!(PushBody { events: None });
        }
        d.deserialize_any(BodyVisitor)
    }
}

/// The `events` member: the items when it is an array.
struct Events<'a>(Option<Vec<Option<PushedEvent<'a>>>>);

impl<'de: 'a, 'a> Deserialize<'de> for Events<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EventsVisitor;
        impl<'de> Visitor<'de> for EventsVisitor {
            type Value = Events<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_BATCH));
                // Counted while parsing: the item past the limit ends the parse, so a
                // body of millions of items never becomes millions of events.
                while let Some(item) = seq.next_element::<Item<'de>>()? {
                    if items.len() == MAX_BATCH {
                        return Err(de::Error::custom(too_many_items(MAX_BATCH)));
                    }
                    items.push(item.0);
                }
                Ok(Events(Some(items)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Events(None))
            }
            scalars_are!(Events(None));
        }
        d.deserialize_any(EventsVisitor)
    }
}

/// One item of `events`: the event when it is an object.
struct Item<'a>(Option<PushedEvent<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for Item<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ItemVisitor;
        impl<'de> Visitor<'de> for ItemVisitor {
            type Value = Item<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut e = PushedEvent::default();
                // A repeated key keeps its last value, as a JSON object would.
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let slot = match key.as_ref() {
                        "timestamp" => &mut e.timestamp,
                        "email" => &mut e.email,
                        "eventName" => &mut e.event_name,
                        "targetApp" => &mut e.target_app,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = map.next_value::<Field<'de>>()?;
                }
                Ok(Item(Some(e)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Item(None))
            }
            scalars_are!(Item(None));
        }
        d.deserialize_any(ItemVisitor)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl<'de> Visitor<'de> for FieldVisitor {
            type Value = Field<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Field::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(i64::try_from(v).map_or(Field::Other, Field::Int))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Field::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Field::Other)
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Field::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Field::Str(Cow::Owned(v.to_string())))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Field::Missing)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Field::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Field::Other)
            }
        }
        d.deserialize_any(FieldVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> PushBody<'_> {
        serde_json::from_str(json).expect("well-formed JSON always parses")
    }

    #[test]
    fn events_are_read_field_by_field_borrowing_plain_strings() {
        let body = parse(
            r#"{"other": [1, {"x": 2}], "events": [
                {"timestamp": 1700000000000, "email": "A@x.io", "eventName": "send",
                 "extra": {"deep": [true]}, "targetApp": "mail"}
            ]}"#,
        );
        let events = body.events.expect("an array");
        let e = events[0].as_ref().expect("an object");
        assert_eq!(e.timestamp, Field::Int(1_700_000_000_000));
        assert!(matches!(e.email, Field::Str(Cow::Borrowed("A@x.io"))));
        assert_eq!(e.event_name.as_str(), Some("send"));
        assert_eq!(e.target_app.as_str(), Some("mail"));
    }

    #[test]
    fn wrong_types_are_kept_apart_not_refused() {
        let body = parse(
            r#"{"events": [
                {"timestamp": 1.5, "email": 3, "eventName": null},
                {"timestamp": 18446744073709551615, "email": ["a"], "eventName": {"n": 1}},
                {"timestamp": "1", "email": "b\u0040x.io", "eventName": "e", "eventName": "last"},
                "not an object", 7, null
            ]}"#,
        );
        let events = body.events.expect("an array");
        let first = events[0].as_ref().expect("an object");
        assert_eq!(first.timestamp, Field::Other);
        assert_eq!(first.email, Field::Int(3));
        assert_eq!(first.event_name, Field::Missing);
        let second = events[1].as_ref().expect("an object");
        assert_eq!(second.timestamp, Field::Other);
        assert_eq!(second.email, Field::Other);
        assert_eq!(second.event_name, Field::Other);
        let third = events[2].as_ref().expect("an object");
        assert_eq!(third.timestamp.as_str(), Some("1"));
        assert_eq!(third.email.as_str(), Some("b@x.io"));
        assert_eq!(third.event_name.as_str(), Some("last"));
        assert!(events[3..].iter().all(Option::is_none));
    }

    #[test]
    fn a_body_without_an_events_array_has_no_events() {
        for json in [
            r#"{"events": {"a": 1}}"#,
            r#"{"x": []}"#,
            "[1]",
            "3",
            r#""s""#,
            "null",
        ] {
            assert!(parse(json).events.is_none(), "{json}");
        }
        assert!(serde_json::from_str::<PushBody<'_>>("{\"events\": [").is_err());
    }
}
