//! The activity log's JSON body, written field by field into one buffer.
//!
//! A page of 1,000 rows is the hot path of a full cursor scan: writing each
//! row straight into the body (strings escaped by `serde_json`, no per-row
//! values or allocations) costs a fraction of serializing per-row structs.
//! Field names and order are the seed's (`/reports/v2/activitylog`), plus
//! `userId` and `idle`.

use std::io::Write;

use rollcall_core::time;
use rollcall_store::workforce::LogRow;

/// `{"success":true,"activity":[…],"cursor":"…"}` for `rows`.
pub fn page(rows: &[LogRow], cursor: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + rows.len() * 480);
    out.extend_from_slice(b"{\"success\":true,\"activity\":[");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_row(&mut out, row);
    }
    out.extend_from_slice(b"],\"cursor\":");
    string(&mut out, cursor);
    out.push(b'}');
    out
}

fn write_row(out: &mut Vec<u8>, r: &LogRow) {
    out.extend_from_slice(b"{\"logId\":");
    number(out, r.log_id);
    out.extend_from_slice(b",\"productivity\":");
    number(out, i64::from(r.productivity));
    out.extend_from_slice(
        b",\"popupAlarm\":null,\"emailAlarm\":null,\"externalNotificationAlarm\":null,\
          \"terminate\":null,\"date\":\"",
    );
    write!(out, "{}", time::display_ms(r.start_ms)).expect("writing to a Vec");
    out.extend_from_slice(b"\",\"computerId\":");
    number(out, r.computer.id);
    out.extend_from_slice(b",\"computer\":");
    string(out, &r.computer.name);
    out.extend_from_slice(b",\"primaryDomain\":");
    string(out, &r.computer.primary_domain);
    out.extend_from_slice(b",\"privateIp\":");
    string(out, &r.computer.private_ip);
    out.extend_from_slice(b",\"publicIp\":");
    string(out, &r.computer.public_ip);
    out.extend_from_slice(b",\"loginDomain\":");
    string(out, &r.user.login_domain);
    out.extend_from_slice(b",\"user\":");
    string(out, &r.user.name);
    out.extend_from_slice(b",\"userId\":");
    number(out, r.user.id);
    out.extend_from_slice(b",\"session\":");
    number(out, r.session);
    out.extend_from_slice(b",\"duration\":");
    number(out, r.duration_s);
    out.extend_from_slice(b",\"applicationId\":");
    number(out, r.application_id);
    out.extend_from_slice(b",\"websiteId\":");
    match r.website_id {
        Some(id) => number(out, id),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"executable\":");
    string(out, &r.executable);
    out.extend_from_slice(b",\"description\":");
    string(out, &r.description);
    out.extend_from_slice(b",\"url\":");
    match &r.url {
        Some(url) => string(out, url),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(if r.idle {
        b",\"idle\":true}"
    } else {
        b",\"idle\":false}"
    });
}

/// A JSON string, escaped.
fn string(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("writing to a Vec");
}

fn number(out: &mut Vec<u8>, n: i64) {
    serde_json::to_writer(out, &n).expect("writing to a Vec");
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rollcall_store::workforce::{LogComputer, LogUser};
    use serde_json::{json, Value};

    use super::*;

    fn row(url: Option<&str>, website_id: Option<i64>) -> LogRow {
        LogRow {
            log_id: 7,
            productivity: -1,
            start_ms: 1_700_000_000_250,
            computer: Arc::new(LogComputer {
                id: 3,
                name: "PC \"3\"".into(),
                primary_domain: "corp".into(),
                private_ip: "10.0.0.3".into(),
                public_ip: "203.0.113.3".into(),
            }),
            user: Arc::new(LogUser {
                id: 9,
                login_domain: "CORP".into(),
                name: "a\\b\u{e9}\n".into(),
            }),
            session: 2,
            duration_s: 61,
            application_id: 4,
            website_id,
            executable: "chrome.exe".into(),
            description: "Inbox – Mail".into(),
            url: url.map(String::from),
            idle: true,
        }
    }

    #[test]
    fn a_page_is_the_seed_shape_with_every_string_escaped() {
        let rows = [
            row(Some("https://x.example/?q=\"1\""), Some(5)),
            row(None, None),
        ];
        let body: Value = serde_json::from_slice(&page(&rows, "c1")).unwrap();
        assert_eq!(
            body["activity"][0],
            json!({
                "logId": 7, "productivity": -1, "popupAlarm": null, "emailAlarm": null,
                "externalNotificationAlarm": null, "terminate": null,
                "date": "2023-11-14T22:13:20.250Z", "computerId": 3, "computer": "PC \"3\"",
                "primaryDomain": "corp", "privateIp": "10.0.0.3", "publicIp": "203.0.113.3",
                "loginDomain": "CORP", "user": "a\\b\u{e9}\n", "userId": 9, "session": 2,
                "duration": 61, "applicationId": 4, "websiteId": 5, "executable": "chrome.exe",
                "description": "Inbox – Mail", "url": "https://x.example/?q=\"1\"", "idle": true
            })
        );
        assert_eq!(body["activity"][1]["url"], Value::Null);
        assert_eq!(body["activity"][1]["websiteId"], Value::Null);
        assert_eq!(body["success"], true);
        assert_eq!(body["cursor"], "c1");
        let text = String::from_utf8(page(&rows[..1], "c1")).unwrap();
        assert!(text.starts_with(r#"{"success":true,"activity":[{"logId":7,"productivity":-1,"#));
        assert!(
            text.ends_with(r#""url":"https://x.example/?q=\"1\"","idle":true}],"cursor":"c1"}"#)
        );
    }

    #[test]
    fn an_empty_page_still_has_its_cursor() {
        let body: Value = serde_json::from_slice(&page(&[], "c2")).unwrap();
        assert_eq!(
            body,
            json!({"success": true, "activity": [], "cursor": "c2"})
        );
    }
}
