//! Parser errors in the user's words (issue 19 #13).
//!
//! serde reports problems in Rust's terms (`invalid type: string "x", expected i8`,
//! `invalid digit found in string`, `invalid length 1, expected struct AgentBody with
//! 5 elements`). [`describe`] rewrites them to name the field or parameter and say
//! what it must be, so a person using curl can act on the message. It is used by the
//! JSON body and query-string extractors in one place.

/// A field whose allowed values are narrower than its Rust type says.
const FIELD_WORDS: &[(&str, &str)] = &[
    ("productivity", "1, 0 or -1"),
    ("pageSize", "a whole number between 1 and 1000"),
];

/// The field (last named segment) of a path such as `records[3].productivity`.
fn last_field(path: &str) -> &str {
    let tail = path.rsplit('.').next().unwrap_or(path);
    tail.split('[').next().unwrap_or(tail)
}

/// What a serde "expected …" text means to a user.
fn expected_words(expected: &str, field: &str) -> String {
    if let Some((_, words)) = FIELD_WORDS.iter().find(|(f, _)| *f == field) {
        return (*words).to_string();
    }
    let e = expected.trim();
    let whole = [
        "i8", "i16", "i32", "i64", "i128", "u8", "u16", "u32", "u64", "u128", "isize", "usize",
    ];
    if let Some(t) = whole.iter().find(|t| **t == e) {
        return match *t {
            "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number, 0 or more".into(),
            _ => "a whole number".into(),
        };
    }
    match e {
        "f32" | "f64" => "a number".into(),
        "a boolean" => "true or false".into(),
        "a string" | "a borrowed string" | "a character" | "char" => "a string".into(),
        "a sequence" => "a list (JSON array)".into(),
        "a map" => "an object".into(),
        _ if e.starts_with("a list of at most") => "a list (JSON array)".into(),
        _ if e.starts_with("struct ") => "an object".into(),
        _ => e.to_string(),
    }
}

/// A user's word for what was sent instead (`string "x"`, `integer \`3\``…).
fn sent_words(unexpected: &str) -> String {
    let u = unexpected.trim();
    if let Some(rest) = u.strip_prefix("string ") {
        return format!("the string {rest}");
    }
    if let Some(rest) = u
        .strip_prefix("integer ")
        .or_else(|| u.strip_prefix("floating point "))
    {
        return rest.trim_matches('`').to_string();
    }
    match u {
        "sequence" => "a list".into(),
        "map" => "an object".into(),
        "unit value" | "null" => "null".into(),
        other if other.starts_with("boolean ") => other
            .trim_start_matches("boolean ")
            .trim_matches('`')
            .into(),
        other => other.into(),
    }
}

/// Names of the ``` `a`, `b` ``` list after "expected one of".
fn names(list: &str) -> String {
    list.split(',')
        .map(|s| s.trim().trim_matches('`'))
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rewrites one serde message about `path` (`""` for the whole body).
pub fn describe(path: &str, message: &str, whole: &str) -> String {
    let field = last_field(path);
    let subject = if path.is_empty() { whole } else { path };
    let join = |child: &str| {
        if path.is_empty() {
            child.to_string()
        } else {
            format!("{path}.{child}")
        }
    };
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        return format!("{} is required", join(name));
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        let known = rest
            .split_once("expected one of ")
            .or_else(|| rest.split_once("expected "))
            .map(|(_, l)| names(l));
        return match known {
            Some(k) if !k.is_empty() && !k.starts_with("there") => format!(
                "{} is not a field {}; the fields are {k}",
                name,
                if path.is_empty() {
                    "of this body".to_string()
                } else {
                    format!("of {path}")
                }
            ),
            _ => format!("{} is not a field this endpoint accepts", join(name)),
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (value, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let known = tail
            .split_once("expected one of ")
            .or_else(|| tail.split_once("expected "))
            .map(|(_, l)| names(l))
            .unwrap_or_default();
        return format!("{subject} '{value}' is not one of {known}");
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        if let Some((sent, expected)) = rest.split_once(", expected ") {
            return format!(
                "{subject} must be {}, not {}",
                expected_words(expected, field),
                sent_words(sent)
            );
        }
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        if let Some((sent, expected)) = rest.split_once(", expected ") {
            return format!(
                "{subject} must be {}, not {}",
                expected_words(expected, field),
                sent_words(sent)
            );
        }
    }
    if let Some(rest) = message.strip_prefix("invalid length ") {
        if let Some((_, expected)) = rest.split_once(", expected ") {
            return format!("{subject} must be {}", expected_words(expected, field));
        }
    }
    // Number parsing in query strings (`str::parse`'s texts).
    if message == "invalid digit found in string"
        || message == "cannot parse integer from empty string"
        || message == "number too large to fit in target type"
        || message == "number too small to fit in target type"
    {
        return format!("{subject} must be {}", expected_words("i64", field));
    }
    if message == "invalid float literal" {
        return format!("{subject} must be a number");
    }
    if message == "provided string was not `true` or `false`" {
        return format!("{subject} must be true or false");
    }
    if path.is_empty() {
        message.to_string()
    } else {
        format!("{path} {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_words_become_the_users() {
        assert_eq!(
            describe(
                "records[0].productivity",
                "invalid type: string \"x\", expected i8",
                "the body"
            ),
            "records[0].productivity must be 1, 0 or -1, not the string \"x\""
        );
        assert_eq!(
            describe("pageSize", "invalid digit found in string", "the query"),
            "pageSize must be a whole number between 1 and 1000"
        );
        assert_eq!(
            describe(
                "",
                "invalid length 1, expected struct AgentBody with 5 elements",
                "the body"
            ),
            "the body must be an object"
        );
        assert_eq!(
            describe("", "missing field `computer`", "the body"),
            "computer is required"
        );
        assert_eq!(
            describe("client", "missing field `name`", "the body"),
            "client.name is required"
        );
        assert_eq!(
            describe(
                "",
                "unknown field `foo`, expected one of `name`, `clients`",
                "the body"
            ),
            "foo is not a field of this body; the fields are name, clients"
        );
        assert_eq!(
            describe(
                "records",
                "has more than 5 items; send at most 5 in one request",
                "b"
            ),
            "records has more than 5 items; send at most 5 in one request"
        );
        assert_eq!(
            describe(
                "session",
                "invalid type: floating point `1.5`, expected i64",
                "b"
            ),
            "session must be a whole number, not 1.5"
        );
    }

    #[test]
    fn no_rust_type_names_are_left_in_common_messages() {
        for (path, msg) in [
            ("a", "invalid type: boolean `true`, expected u32"),
            ("a", "invalid type: map, expected a sequence"),
            ("a", "invalid type: sequence, expected a string"),
            ("a", "invalid value: integer `-1`, expected u32"),
            ("a", "invalid type: null, expected struct Foo"),
        ] {
            let out = describe(path, msg, "the body");
            for word in ["i8", "u32", "i64", "struct", "sequence", "map"] {
                assert!(
                    !out.split(|c: char| !c.is_alphanumeric()).any(|w| w == word),
                    "{out}"
                );
            }
        }
    }
}
