//! Byte ranges of the members of a JSON object and of the items of a JSON array,
//! found without building values: the tracking API checks each message of a
//! batch against its size limit and then parses it borrowing from the body.
//!
//! The text is expected to be valid JSON (callers check that first); on text
//! that is not, these answer `None` rather than a wrong span, and never panic.

use std::ops::Range;

fn skip_ws(text: &[u8], mut i: usize) -> usize {
    while matches!(text.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The index just past the string starting at `i` (its opening quote).
fn skip_string(text: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        match text.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// The index just past the value starting at `i`.
fn skip_value(text: &[u8], i: usize) -> Option<usize> {
    match text.get(i)? {
        b'"' => skip_string(text, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match text.get(j)? {
                    b'"' => {
                        j = skip_string(text, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while let Some(b) = text.get(j) {
                if matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

/// The (key without its quotes, value) ranges of the members of the object
/// `text` is; `None` when it is not an object.
pub fn object_members(text: &[u8]) -> Option<Vec<(Range<usize>, Range<usize>)>> {
    let mut i = skip_ws(text, 0);
    if text.get(i) != Some(&b'{') {
        return None;
    }
    let mut members = Vec::new();
    i = skip_ws(text, i + 1);
    if text.get(i) == Some(&b'}') {
        return Some(members);
    }
    loop {
        if text.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = skip_string(text, i)?;
        let key = i + 1..key_end - 1;
        i = skip_ws(text, key_end);
        if text.get(i) != Some(&b':') {
            return None;
        }
        let start = skip_ws(text, i + 1);
        let end = skip_value(text, start)?;
        members.push((key, start..end));
        i = skip_ws(text, end);
        match text.get(i)? {
            b',' => i = skip_ws(text, i + 1),
            b'}' => return Some(members),
            _ => return None,
        }
    }
}

/// The ranges of the items of the array `text` is; `None` when it is not an
/// array. Stops with `None` past `max_items` items (bounded work and memory).
pub fn array_items(text: &[u8], max_items: usize) -> Option<Vec<Range<usize>>> {
    let mut i = skip_ws(text, 0);
    if text.get(i) != Some(&b'[') {
        return None;
    }
    let mut items = Vec::new();
    i = skip_ws(text, i + 1);
    if text.get(i) == Some(&b']') {
        return Some(items);
    }
    loop {
        let end = skip_value(text, i)?;
        if items.len() == max_items {
            return None;
        }
        items.push(i..end);
        i = skip_ws(text, end);
        match text.get(i)? {
            b',' => i = skip_ws(text, i + 1),
            b']' => return Some(items),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans<'a>(text: &'a str, ranges: &[Range<usize>]) -> Vec<&'a str> {
        ranges.iter().map(|r| &text[r.clone()]).collect()
    }

    #[test]
    fn members_and_items_are_found_whatever_strings_hold() {
        let text =
            r#" { "batch" : [ {"a":"x]},\"{"} , 2, "s" ,[1,[2]] ], "sentAt":"t", "k\"q": null } "#;
        let members = object_members(text.as_bytes()).unwrap();
        let keys: Vec<&str> = members.iter().map(|(k, _)| &text[k.clone()]).collect();
        assert_eq!(keys, vec!["batch", "sentAt", "k\\\"q"]);
        let batch = &text[members[0].1.clone()];
        let items = array_items(batch.as_bytes(), 10).unwrap();
        assert_eq!(
            spans(batch, &items),
            vec![r#"{"a":"x]},\"{"}"#, "2", r#""s""#, "[1,[2]]"]
        );
        assert_eq!(&text[members[2].1.clone()], "null");
    }

    #[test]
    fn empty_containers_and_wrong_shapes() {
        assert_eq!(object_members(b"{}"), Some(vec![]));
        assert_eq!(array_items(b" [ ] ", 5), Some(vec![]));
        assert_eq!(object_members(b"[1]"), None);
        assert_eq!(array_items(b"{}", 5), None);
        assert_eq!(array_items(b"[1,2,3]", 2), None);
    }

    #[test]
    fn broken_text_gives_none_not_a_panic() {
        for text in [
            &b"{\"a"[..],
            b"{\"a\":",
            b"[\"x",
            b"[{",
            b"{\"a\" 1}",
            b"[1 2]",
        ] {
            assert!(object_members(text).is_none() || array_items(text, 9).is_none());
            let _ = array_items(text, 9);
        }
    }
}
