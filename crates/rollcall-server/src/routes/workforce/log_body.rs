//! The activity log's JSON body, written field by field into one buffer.
//!
//! A page of 1,000 rows is the hot path of a full cursor scan: writing each
//! row straight into the body (no per-row values or allocations) costs a
//! fraction of serializing per-row structs. A row's computer and user fields
//! are written once for a run of rows that share them (rows come in agent
//! batches), strings that need no escaping are copied as they are (the rest
//! go through `serde_json`), and dates and numbers are formatted by hand, each
//! byte for byte as `serde_json` and [`time::display_ms`] write them. Field
//! names and order are the seed's (`/reports/v2/activitylog`), plus `userId`
//! and `idle`.

use std::io::Write;
use std::sync::Arc;

use rollcall_core::time;
use rollcall_store::workforce::{LogComputer, LogRow, LogText, LogUser};

/// `{"success":true,"activity":[…],"cursor":"…","startDate":"…"}` for `rows`,
/// whose strings are in `text`; `start_date` is the first day the log reads
/// (a client that sent none learns which day it got).
pub fn page(rows: &[LogRow], text: &LogText, cursor: &str, start_date: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + cursor.len() + rows.len() * 480);
    out.extend_from_slice(b"{\"success\":true,\"activity\":[");
    let mut people = People::default();
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_row(&mut out, row, text, &mut people);
    }
    out.extend_from_slice(b"],\"cursor\":");
    string(&mut out, cursor);
    out.extend_from_slice(b",\"startDate\":");
    string(&mut out, start_date);
    out.push(b'}');
    out
}

/// The computer and user fields of the last row written, ready to copy.
#[derive(Default)]
struct People {
    computer: Option<Arc<LogComputer>>,
    computer_json: Vec<u8>,
    user: Option<Arc<LogUser>>,
    user_json: Vec<u8>,
}

impl People {
    /// `,"computerId":…,"publicIp":"…"` for `c`.
    fn computer(&mut self, c: &Arc<LogComputer>) -> &[u8] {
        if !self
            .computer
            .as_ref()
            .is_some_and(|last| Arc::ptr_eq(last, c))
        {
            let out = &mut self.computer_json;
            out.clear();
            out.extend_from_slice(b",\"computerId\":");
            number(out, c.id);
            out.extend_from_slice(b",\"computer\":");
            string(out, &c.name);
            out.extend_from_slice(b",\"primaryDomain\":");
            string(out, &c.primary_domain);
            out.extend_from_slice(b",\"privateIp\":");
            string(out, &c.private_ip);
            out.extend_from_slice(b",\"publicIp\":");
            string(out, &c.public_ip);
            self.computer = Some(Arc::clone(c));
        }
        &self.computer_json
    }

    /// `,"loginDomain":"…","user":"…","userId":…` for `u`.
    fn user(&mut self, u: &Arc<LogUser>) -> &[u8] {
        if !self.user.as_ref().is_some_and(|last| Arc::ptr_eq(last, u)) {
            let out = &mut self.user_json;
            out.clear();
            out.extend_from_slice(b",\"loginDomain\":");
            string(out, &u.login_domain);
            out.extend_from_slice(b",\"user\":");
            string(out, &u.name);
            out.extend_from_slice(b",\"userId\":");
            number(out, u.id);
            self.user = Some(Arc::clone(u));
        }
        &self.user_json
    }
}

fn write_row(out: &mut Vec<u8>, r: &LogRow, text: &LogText, people: &mut People) {
    out.extend_from_slice(b"{\"logId\":");
    number(out, r.log_id);
    out.extend_from_slice(b",\"productivity\":");
    number(out, i64::from(r.productivity));
    out.extend_from_slice(
        b",\"popupAlarm\":null,\"emailAlarm\":null,\"externalNotificationAlarm\":null,\
          \"terminate\":null,\"date\":\"",
    );
    date(out, r.start_ms);
    out.push(b'"');
    out.extend_from_slice(people.computer(&r.computer));
    out.extend_from_slice(people.user(&r.user));
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
    string(out, text.get(r.executable));
    out.extend_from_slice(b",\"description\":");
    string(out, text.get(r.description));
    // A string like the other text fields, "" when the record has none
    // (issue 19 #10: seed-typed clients break on null).
    out.extend_from_slice(b",\"url\":");
    match r.url {
        Some(url) => string(out, text.get(url)),
        None => out.extend_from_slice(b"\"\""),
    }
    out.extend_from_slice(if r.idle {
        b",\"idle\":true}"
    } else {
        b",\"idle\":false}"
    });
}

/// A JSON string, escaped exactly as `serde_json` does: only `"`, `\` and
/// control characters need it, so a string without them is copied.
fn string(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(out, s).expect("writing to a Vec");
    }
}

/// An integer in decimal, by `itoa` (as `serde_json` writes it).
fn number(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// `ms` as [`time::display_ms`] writes it (`2023-11-14T22:13:20.250Z`, no
/// fraction on a whole second), computed directly for the years 1970-9998
/// (`jiff`, behind `display_ms`, ends late in 9999 and writes `invalid` after).
fn date(out: &mut Vec<u8>, ms: i64) {
    /// 9999-01-01T00:00:00Z.
    const END_MS: i64 = 253_370_764_800_000;
    const DAY_MS: i64 = 86_400_000;
    if !(0..END_MS).contains(&ms) {
        write!(out, "{}", time::display_ms(ms)).expect("writing to a Vec");
        return;
    }
    let (year, month, day) = civil_date(ms / DAY_MS);
    let of_day = ms % DAY_MS;
    let (hour, minute, second, milli) = (
        of_day / 3_600_000,
        of_day / 60_000 % 60,
        of_day / 1000 % 60,
        of_day % 1000,
    );
    let mut b = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut v: i64| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, hour);
    put(14, 2, minute);
    put(17, 2, second);
    if milli == 0 {
        out.extend_from_slice(&b[..19]);
        out.push(b'Z');
    } else {
        put(20, 3, milli);
        out.extend_from_slice(&b);
    }
}

/// The proleptic Gregorian (year, month, day) of a day count from 1970-01-01
/// (days ≥ 0), by Howard Hinnant's `civil_from_days`.
fn civil_date(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn computer(id: i64, name: &str) -> Arc<LogComputer> {
        Arc::new(LogComputer {
            id,
            name: name.into(),
            primary_domain: "corp".into(),
            private_ip: "10.0.0.3".into(),
            public_ip: "203.0.113.3".into(),
        })
    }

    fn user(id: i64, name: &str) -> Arc<LogUser> {
        Arc::new(LogUser {
            id,
            login_domain: "CORP".into(),
            name: name.into(),
        })
    }

    fn row(text: &mut LogText, url: Option<&str>, website_id: Option<i64>) -> LogRow {
        LogRow {
            log_id: 7,
            productivity: -1,
            start_ms: 1_700_000_000_250,
            computer: computer(3, "PC \"3\""),
            user: user(9, "a\\b\u{e9}\n"),
            session: 2,
            duration_s: 61,
            application_id: 4,
            website_id,
            executable: text.push("chrome.exe"),
            description: text.push("Inbox – Mail"),
            url: url.map(|u| text.push(u)),
            idle: true,
        }
    }

    /// The row as the first version of this module wrote it: every value
    /// through `serde_json` and `display_ms`.
    fn reference_row(out: &mut Vec<u8>, r: &LogRow, text: &LogText) {
        let s = |out: &mut Vec<u8>, v: &str| serde_json::to_writer(out, v).unwrap();
        let n = |out: &mut Vec<u8>, v: i64| serde_json::to_writer(out, &v).unwrap();
        out.extend_from_slice(b"{\"logId\":");
        n(out, r.log_id);
        out.extend_from_slice(b",\"productivity\":");
        n(out, i64::from(r.productivity));
        out.extend_from_slice(
            b",\"popupAlarm\":null,\"emailAlarm\":null,\"externalNotificationAlarm\":null,\
              \"terminate\":null,\"date\":\"",
        );
        write!(out, "{}", time::display_ms(r.start_ms)).unwrap();
        out.extend_from_slice(b"\",\"computerId\":");
        n(out, r.computer.id);
        out.extend_from_slice(b",\"computer\":");
        s(out, &r.computer.name);
        out.extend_from_slice(b",\"primaryDomain\":");
        s(out, &r.computer.primary_domain);
        out.extend_from_slice(b",\"privateIp\":");
        s(out, &r.computer.private_ip);
        out.extend_from_slice(b",\"publicIp\":");
        s(out, &r.computer.public_ip);
        out.extend_from_slice(b",\"loginDomain\":");
        s(out, &r.user.login_domain);
        out.extend_from_slice(b",\"user\":");
        s(out, &r.user.name);
        out.extend_from_slice(b",\"userId\":");
        n(out, r.user.id);
        out.extend_from_slice(b",\"session\":");
        n(out, r.session);
        out.extend_from_slice(b",\"duration\":");
        n(out, r.duration_s);
        out.extend_from_slice(b",\"applicationId\":");
        n(out, r.application_id);
        out.extend_from_slice(b",\"websiteId\":");
        match r.website_id {
            Some(id) => n(out, id),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"executable\":");
        s(out, text.get(r.executable));
        out.extend_from_slice(b",\"description\":");
        s(out, text.get(r.description));
        out.extend_from_slice(b",\"url\":");
        s(out, r.url.map_or("", |url| text.get(url)));
        out.extend_from_slice(if r.idle {
            b",\"idle\":true}"
        } else {
            b",\"idle\":false}"
        });
    }

    fn reference_page(rows: &[LogRow], text: &LogText, cursor: &str, start: &str) -> Vec<u8> {
        let mut out = b"{\"success\":true,\"activity\":[".to_vec();
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            reference_row(&mut out, row, text);
        }
        out.extend_from_slice(b"],\"cursor\":");
        serde_json::to_writer(&mut out, cursor).unwrap();
        out.extend_from_slice(b",\"startDate\":");
        serde_json::to_writer(&mut out, start).unwrap();
        out.push(b'}');
        out
    }

    #[test]
    fn a_page_is_the_seed_shape_with_every_string_escaped() {
        let mut text = LogText::default();
        let rows = [
            row(&mut text, Some("https://x.example/?q=\"1\""), Some(5)),
            row(&mut text, None, None),
        ];
        let body: Value = serde_json::from_slice(&page(&rows, &text, "c1", "2023-11-14")).unwrap();
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
        assert_eq!(body["activity"][1]["url"], "");
        assert_eq!(body["activity"][1]["websiteId"], Value::Null);
        assert_eq!(body["success"], true);
        assert_eq!(body["cursor"], "c1");
        assert_eq!(body["startDate"], "2023-11-14");
        let text = String::from_utf8(page(&rows[..1], &text, "c1", "2023-11-14")).unwrap();
        assert!(text.starts_with(r#"{"success":true,"activity":[{"logId":7,"productivity":-1,"#));
        assert!(
            text.ends_with(
                r#""url":"https://x.example/?q=\"1\"","idle":true}],"cursor":"c1","startDate":"2023-11-14"}"#
            )
        );
    }

    #[test]
    fn a_page_is_byte_for_byte_what_serde_json_writes() {
        let mut text = LogText::default();
        let (pc1, pc2) = (computer(1, "PC-1"), computer(2, "PC\t2"));
        let (u1, u2) = (user(-4, "plain"), user(i64::MAX, "ctl\u{1}\u{7f}\"x\\"));
        let strings = [
            "",
            "chrome.exe",
            "Window \"7\"",
            "tab\tnew\nline\r\u{8}\u{c}",
            "ü – €",
        ];
        let dates = [
            0,
            999,
            1_000,
            1_700_000_000_000,
            1_700_000_000_001,
            951_782_400_000, // 2000-02-29
            4_107_542_399_999,
            253_370_764_799_999,
            253_370_764_800_000,
            253_402_300_799_999,
            253_402_300_800_000,
            -1,
            -62_135_596_800_000,
        ];
        let mut rows = Vec::new();
        for (i, start_ms) in dates.into_iter().enumerate() {
            // Runs of one computer, a switch back and forth, and user changes
            // within a computer's run.
            let computer = if i % 4 < 2 { &pc1 } else { &pc2 };
            let user = if i % 3 == 0 { &u1 } else { &u2 };
            rows.push(LogRow {
                log_id: i64::MIN + i as i64,
                productivity: [1, -1, 0][i % 3],
                start_ms,
                computer: Arc::clone(computer),
                user: Arc::clone(user),
                session: -(i as i64),
                duration_s: i as i64 * 1_000_003,
                application_id: i as i64,
                website_id: (i % 2 == 0).then_some(i as i64 * 10),
                executable: text.push(strings[i % strings.len()]),
                description: text.push(strings[(i + 1) % strings.len()]),
                url: (i % 3 != 1).then(|| text.push(strings[(i + 2) % strings.len()])),
                idle: i % 2 == 1,
            });
        }
        for n in [0, 1, rows.len()] {
            assert_eq!(
                String::from_utf8(page(&rows[..n], &text, "v1.a\"b", "2026-01-02")).unwrap(),
                String::from_utf8(reference_page(&rows[..n], &text, "v1.a\"b", "2026-01-02"))
                    .unwrap()
            );
        }
    }

    #[test]
    fn dates_are_written_as_display_ms_writes_them() {
        let mut ms: i64 = 0;
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        while ms < 253_402_300_800_000 {
            let mut out = Vec::new();
            date(&mut out, ms);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                time::display_ms(ms).to_string()
            );
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Steps of a millisecond (one in five) or up to about a month:
            // whole seconds and not, every month, leap years included.
            ms += if seed.is_multiple_of(5) {
                1
            } else {
                1 + (seed % 3_000_000_000) as i64
            };
        }
    }

    #[test]
    fn an_empty_page_still_has_its_cursor() {
        let body: Value =
            serde_json::from_slice(&page(&[], &LogText::default(), "c2", "2026-01-02")).unwrap();
        assert_eq!(
            body,
            json!({"success": true, "activity": [], "cursor": "c2", "startDate": "2026-01-02"})
        );
    }
}
