//! Turning ActivityWatch buckets into the agent records of SPEC §5.
//!
//! The window bucket says what was in focus (`app`, `title`, `url`), the afk
//! bucket whether anyone was at the keyboard (`status`: `afk` / `not-afk`).
//! A sealed interval `[from, to)` of whole seconds is cut into records at every
//! window change and every afk change: time while afk becomes `idle: true`
//! with the application in focus kept. Boundaries are rounded to whole
//! seconds, so consecutive records touch and the seconds add up exactly.
//! The function is pure: the same events and interval always give the same
//! records, so a record's idempotent key (computer, session, start,
//! executable) is stable.

use serde_json::{Map, Value};

use super::event::Event;

const US: i64 = 1_000_000;

/// One §5 record, times in whole seconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub start_s: i64,
    pub end_s: i64,
    pub app: String,
    pub title: String,
    pub url: Option<String>,
    pub idle: bool,
}

fn text(data: &Map<String, Value>, key: &str) -> Option<String> {
    data.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn round_s(us: i64) -> i64 {
    (us + US / 2).div_euclid(US)
}

/// Whether afk data says "afk" at `at_us` (unknown counts as present: a
/// computer without an afk watcher reports everything as active).
fn afk_at(afk: &[&Event], at_us: i64) -> bool {
    afk.iter().any(|e| {
        e.start_us <= at_us
            && at_us < e.end_us()
            && e.data.get("status").and_then(Value::as_str) == Some("afk")
    })
}

/// The records of `[from_s, to_s)` from the window events and afk events.
pub fn pieces(window: &[&Event], afk: &[&Event], from_s: i64, to_s: i64) -> Vec<Piece> {
    let (from_us, to_us) = (from_s * US, to_s * US);
    let mut window: Vec<&Event> = window
        .iter()
        .copied()
        .filter(|e| e.end_us() > from_us && e.start_us < to_us && e.duration_us > 0)
        .collect();
    window.sort_by_key(|e| (e.start_us, e.id));
    let afk: Vec<&Event> = afk
        .iter()
        .copied()
        .filter(|e| e.end_us() > from_us && e.start_us < to_us)
        .collect();
    let mut out: Vec<Piece> = Vec::new();
    // Window events should not overlap; if a watcher sent overlapping ones, the
    // later one starts where the earlier ended so no second is counted twice.
    let mut covered_us = from_us;
    for event in window {
        let Some(app) = text(&event.data, "app") else {
            continue;
        };
        let title = text(&event.data, "title").unwrap_or_default();
        let url = text(&event.data, "url");
        let start = event.start_us.max(covered_us);
        let end = event.end_us().min(to_us);
        if end <= start {
            continue;
        }
        covered_us = end;
        // Cut at every afk boundary inside the event.
        let mut cuts: Vec<i64> = afk
            .iter()
            .flat_map(|a| [a.start_us, a.end_us()])
            .filter(|&t| t > start && t < end)
            .collect();
        cuts.push(start);
        cuts.push(end);
        cuts.sort_unstable();
        cuts.dedup();
        for pair in cuts.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let idle = afk_at(&afk, a + (b - a) / 2);
            let (start_s, end_s) = (round_s(a), round_s(b));
            if end_s <= start_s {
                continue;
            }
            if let Some(last) = out.last_mut() {
                if last.end_s == start_s
                    && last.idle == idle
                    && last.app == app
                    && last.title == title
                    && last.url == url
                {
                    last.end_s = end_s;
                    continue;
                }
            }
            out.push(Piece {
                start_s,
                end_s,
                app: app.clone(),
                title: title.clone(),
                url: url.clone(),
                idle,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(start_s: i64, dur_s: i64, data: Value) -> Event {
        let Value::Object(data) = data else {
            unreachable!()
        };
        Event {
            id: start_s,
            start_us: start_s * US,
            duration_us: dur_s * US,
            data,
        }
    }

    fn win(start_s: i64, dur_s: i64, app: &str) -> Event {
        ev(
            start_s,
            dur_s,
            json!({"app": app, "title": format!("{app} window")}),
        )
    }

    fn afk(start_s: i64, dur_s: i64, away: bool) -> Event {
        let status = if away { "afk" } else { "not-afk" };
        ev(start_s, dur_s, json!({"status": status}))
    }

    fn summary(p: &[Piece]) -> Vec<(i64, i64, &str, bool)> {
        p.iter()
            .map(|p| (p.start_s, p.end_s, p.app.as_str(), p.idle))
            .collect()
    }

    #[test]
    fn afk_time_becomes_idle_with_the_application_kept() {
        let w = [win(0, 600, "code"), win(600, 600, "firefox")];
        let a = [
            afk(0, 300, false),
            afk(300, 180, true),
            afk(480, 720, false),
        ];
        let p = pieces(
            &w.iter().collect::<Vec<_>>(),
            &a.iter().collect::<Vec<_>>(),
            0,
            1200,
        );
        assert_eq!(
            summary(&p),
            vec![
                (0, 300, "code", false),
                (300, 480, "code", true),
                (480, 600, "code", false),
                (600, 1200, "firefox", false),
            ]
        );
    }

    #[test]
    fn the_interval_clips_events_and_neighbouring_intervals_add_up() {
        let w = [win(0, 100, "code")];
        let w: Vec<&Event> = w.iter().collect();
        let first = pieces(&w, &[], 0, 40);
        let second = pieces(&w, &[], 40, 200);
        assert_eq!(summary(&first), vec![(0, 40, "code", false)]);
        assert_eq!(summary(&second), vec![(40, 100, "code", false)]);
    }

    #[test]
    fn sub_second_boundaries_round_without_losing_or_doubling_seconds() {
        let mut a = win(0, 0, "a");
        a.duration_us = 2_600_000;
        let mut b = win(0, 0, "b");
        b.start_us = 2_600_000;
        b.duration_us = 2_400_000;
        let p = pieces(&[&a, &b], &[], 0, 10);
        assert_eq!(summary(&p), vec![(0, 3, "a", false), (3, 5, "b", false)]);
    }

    #[test]
    fn overlapping_window_events_are_not_counted_twice() {
        let w = [win(0, 100, "a"), win(50, 100, "b")];
        let p = pieces(&w.iter().collect::<Vec<_>>(), &[], 0, 1000);
        assert_eq!(
            summary(&p),
            vec![(0, 100, "a", false), (100, 150, "b", false)]
        );
    }

    #[test]
    fn events_without_an_app_or_length_are_skipped() {
        let w = [ev(0, 10, json!({"title": "x"})), win(10, 0, "a")];
        assert!(pieces(&w.iter().collect::<Vec<_>>(), &[], 0, 100).is_empty());
    }
}
