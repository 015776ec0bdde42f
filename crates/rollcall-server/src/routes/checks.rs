//! One `check(&[u8])` per parser of untrusted input, shared by the property tests
//! below and by cargo-fuzz targets (optional, nightly only; none is needed in CI):
//! a fuzz target is `fuzz_target!(|data: &[u8]| rollcall_server::routes::checks::org_csv(data))`.
//!
//! Each check feeds the bytes to the parser the server uses and panics when an
//! invariant breaks: the parser must not panic, must stay within its limits (items,
//! values, listed errors), and must refuse with a 4xx whose message names no Rust
//! type.

use axum::http::StatusCode;
use rollcall_core::bounded::value_from_slice;
use rollcall_core::usage::MAX_BATCH;
use rollcall_core::workforce::{ClassificationSet, MAX_CLASSIFICATIONS};
use rollcall_core::{time, token};
use serde::Deserialize;

use super::usage::org::{parse_csv, MAX_ORG_ROWS};
use super::usage::pushed::PushBody;
use crate::error::{ApiError, MAX_LISTED_ERRORS};
use crate::extract::{from_value, parse_json, MAX_BODY_VALUES};

/// Words of Rust's vocabulary that must not reach a user in a 422.
const RUST_WORDS: &[&str] = &[
    "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "usize", "f64", "struct", "sequence",
];

fn refused_in_words(e: &ApiError, what: &str) {
    assert!(
        e.status.is_client_error(),
        "{what}: a {} for bad input",
        e.status
    );
    assert!(!e.message.is_empty(), "{what}: an empty message");
    assert!(
        e.errors.len() <= MAX_LISTED_ERRORS,
        "{what}: {} errors listed",
        e.errors.len()
    );
    if e.status == StatusCode::UNPROCESSABLE_ENTITY {
        for word in e.message.split(|c: char| !c.is_ascii_alphanumeric()) {
            assert!(
                !RUST_WORDS.contains(&word),
                "{what}: Rust's word '{word}' in: {}",
                e.message
            );
        }
    }
}

/// A usage-event push body (`{"events": [...]}`).
pub fn push_body(bytes: &[u8]) {
    match parse_json::<PushBody<'_>>(bytes) {
        Ok(body) => {
            if let Some(events) = body.events {
                assert!(events.len() <= MAX_BATCH, "{} events kept", events.len());
            }
        }
        Err(e) => refused_in_words(&e, "push body"),
    }
}

/// A loosely typed body and a typed one read from it (`PUT /admin/v1/classifications`).
pub fn typed_json(bytes: &[u8]) {
    let value = match value_from_slice(bytes, MAX_BODY_VALUES) {
        Ok(v) => v,
        Err(_) => return,
    };
    match from_value::<ClassificationSet>(&value, "the body") {
        Ok(set) => {
            for n in [
                set.applications.len(),
                set.websites.len(),
                set.rules.len(),
                set.group_overrides.len(),
            ] {
                assert!(n <= MAX_CLASSIFICATIONS);
            }
        }
        Err(e) => refused_in_words(&e, "classifications"),
    }
}

/// Counts the values of a JSON value (each scalar, list and object is one).
fn count(v: &serde_json::Value) -> usize {
    1 + match v {
        serde_json::Value::Array(items) => items.iter().map(count).sum(),
        serde_json::Value::Object(map) => map.values().map(count).sum(),
        _ => 0,
    }
}

/// The value budget: a parse never holds more values than it allows.
pub fn bounded_value(bytes: &[u8]) {
    let budget = 64;
    if let Ok(v) = value_from_slice(bytes, budget) {
        assert!(count(&v) <= budget);
        // Whatever was accepted is what serde_json reads too.
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(bytes).ok(),
            Some(v)
        );
    }
}

/// An org-chart CSV upload.
pub fn org_csv(bytes: &[u8]) {
    match parse_csv(bytes) {
        Ok((custom, people)) => {
            assert!(people.len() <= MAX_ORG_ROWS);
            assert!(custom.len() <= 5);
        }
        Err(e) => refused_in_words(&e, "org CSV"),
    }
}

/// A page token or cursor: opening never panics, a sealed value round-trips, and
/// any change to a token is refused.
pub fn token(bytes: &[u8]) {
    #[derive(serde::Serialize, Deserialize, PartialEq, Debug)]
    struct Position {
        after: i64,
        text: String,
    }
    let key = b"a key for the checks";
    let text = String::from_utf8_lossy(bytes);
    let _ = token::open::<Position>(key, "checks", &text);
    let value = Position {
        after: bytes.len() as i64,
        text: text.to_string(),
    };
    let sealed = token::seal(key, "checks", &value);
    assert_eq!(token::open::<Position>(key, "checks", &sealed), Ok(value));
    assert!(token::open::<Position>(key, "other purpose", &sealed).is_err());
    if !bytes.is_empty() {
        let mut altered = sealed.into_bytes();
        let at = bytes[0] as usize % altered.len();
        altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8_lossy(&altered);
        assert!(token::open::<Position>(key, "checks", &altered).is_err());
    }
}

/// Dates and instants as parameters and fields carry them.
pub fn dates(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    if let Ok(date) = time::parse_date(&text) {
        // A date accepted is a real day that prints back as it was read.
        assert_eq!(time::parse_date(&date.to_string()), Ok(date));
        let day = time::day_number(date);
        assert_eq!(time::date_of_day_number(day), date);
    }
    if let Ok(ms) = time::parse_instant_ms(&text) {
        assert_eq!(time::parse_instant_ms(&time::format_ms(ms)), Ok(ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// JSON-ish text: fragments that make deep, long, valid or nearly valid bodies.
    fn json_like() -> impl Strategy<Value = Vec<u8>> {
        let fragment = prop_oneof![
            Just("{".to_string()),
            Just("}".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just(",".to_string()),
            Just(":".to_string()),
            Just("\"events\"".to_string()),
            Just("\"applications\"".to_string()),
            Just("\"productivity\"".to_string()),
            Just("\"executable\"".to_string()),
            Just("\"timestamp\"".to_string()),
            Just("{}".to_string()),
            Just("0".to_string()),
            Just("-1".to_string()),
            Just("1.5".to_string()),
            Just("true".to_string()),
            Just("null".to_string()),
            Just("\"x\"".to_string()),
            Just("18446744073709551616".to_string()),
        ];
        proptest::collection::vec(fragment, 0..200).prop_map(|f| f.concat().into_bytes())
    }

    /// A JSON body of the shape the parser expects, with values of any type.
    fn shaped(field: &'static str, item: &'static str) -> impl Strategy<Value = Vec<u8>> {
        (0usize..1200, proptest::collection::vec(any::<u8>(), 0..8)).prop_map(move |(n, tail)| {
            let mut s = format!("{{\"{field}\":[");
            for i in 0..n {
                if i > 0 {
                    s.push(',');
                }
                s.push_str(item);
            }
            s.push_str("]}");
            let mut b = s.into_bytes();
            if tail.first().is_some_and(|t| t % 4 == 0) {
                b.extend_from_slice(&tail);
            }
            b
        })
    }

    fn csv_like() -> impl Strategy<Value = Vec<u8>> {
        let cell = prop_oneof![
            Just("email".to_string()),
            Just("a@b.io".to_string()),
            Just("x".to_string()),
            Just("\"q,\"\"\"".to_string()),
            Just("team".to_string()),
            Just("managerEmail".to_string()),
            Just(String::new()),
            Just("\u{feff}".to_string()),
        ];
        let line = proptest::collection::vec(cell, 0..6).prop_map(|c| c.join(","));
        proptest::collection::vec(line, 0..300).prop_map(|l| l.join("\n").into_bytes())
    }

    proptest! {
        #[test]
        fn push_bodies(bytes in prop_oneof![json_like(), shaped("events", "{}"), proptest::collection::vec(any::<u8>(), 0..300)]) {
            push_body(&bytes);
        }

        #[test]
        fn typed_bodies(bytes in prop_oneof![
            json_like(),
            shaped("applications", r#"{"executable":"a","productivity":1}"#),
            shaped("applications", r#"{"executable":"a","productivity":"x"}"#),
        ]) {
            typed_json(&bytes);
        }

        #[test]
        fn value_budgets(bytes in json_like()) {
            bounded_value(&bytes);
        }

        #[test]
        fn org_csvs(bytes in prop_oneof![csv_like(), proptest::collection::vec(any::<u8>(), 0..500)]) {
            org_csv(&bytes);
        }

        #[test]
        fn tokens(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            token(&bytes);
        }

        #[test]
        fn date_texts(bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..40),
            (1i32..9999, 0u32..14, 0u32..33).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}").into_bytes()),
            (0i64..4_102_444_800_000).prop_map(|ms| rollcall_core::time::format_ms(ms).into_bytes()),
        ]) {
            dates(&bytes);
        }
    }

    #[test]
    fn a_list_past_the_limit_is_refused_in_words() {
        let many = format!("{{\"events\":[{}]}}", vec!["{}"; MAX_BATCH + 1].join(","));
        let e = parse_json::<PushBody<'_>>(many.as_bytes())
            .err()
            .expect("refused");
        assert_eq!(
            e.message,
            format!(
                "events has more than {MAX_BATCH} items; send at most {MAX_BATCH} in one request"
            )
        );
        push_body(many.as_bytes());
    }
}
