//! The relay's model of an ActivityWatch event and the aw-server heartbeat merge
//! rule, as pure functions over microsecond timestamps (aw-client sends
//! microsecond precision; nothing finer is kept).

use serde_json::{Map, Value};

/// One event of a bucket: `start_us` and `duration_us` in microseconds since the
/// Unix epoch, `data` as the watcher sent it (e.g. `{"app", "title"}` or `{"status"}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    pub start_us: i64,
    pub duration_us: i64,
    pub data: Map<String, Value>,
}

impl Event {
    pub fn end_us(&self) -> i64 {
        self.start_us.saturating_add(self.duration_us)
    }
}

/// aw-server's heartbeat merge: the heartbeat extends `last` when both carry the
/// same data, the heartbeat does not start before `last`, and it starts no later
/// than `pulsetime` after `last` ends. Returns the merged `(start, duration)`,
/// or `None` when the heartbeat must become a new event.
pub fn merge(last: &Event, heartbeat: &Event, pulsetime_us: i64) -> Option<(i64, i64)> {
    if last.data != heartbeat.data {
        return None;
    }
    if heartbeat.start_us < last.start_us {
        return None;
    }
    if heartbeat.start_us > last.end_us().saturating_add(pulsetime_us) {
        return None;
    }
    let start = last.start_us;
    let end = last.end_us().max(heartbeat.end_us());
    Some((start, end - start))
}

/// `pulsetime` query value (seconds, possibly fractional) in microseconds.
pub fn pulsetime_us(seconds: f64) -> Option<i64> {
    if !seconds.is_finite() || !(0.0..=86_400.0 * 366.0).contains(&seconds) {
        return None;
    }
    Some((seconds * 1e6).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(start_s: i64, dur_s: i64, app: &str) -> Event {
        let Value::Object(data) = json!({"app": app}) else {
            unreachable!()
        };
        Event {
            id: 0,
            start_us: start_s * 1_000_000,
            duration_us: dur_s * 1_000_000,
            data,
        }
    }

    #[test]
    fn a_heartbeat_within_pulsetime_extends_the_event() {
        let merged = merge(&ev(100, 5, "a"), &ev(110, 0, "a"), 5_000_000);
        assert_eq!(merged, Some((100_000_000, 10_000_000)));
    }

    #[test]
    fn a_heartbeat_exactly_at_the_pulsetime_edge_still_merges() {
        assert!(merge(&ev(100, 5, "a"), &ev(110, 0, "a"), 5_000_000).is_some());
        assert!(merge(&ev(100, 5, "a"), &ev(111, 0, "a"), 5_000_000).is_none());
    }

    #[test]
    fn different_data_or_an_earlier_start_never_merges() {
        assert!(merge(&ev(100, 5, "a"), &ev(103, 0, "b"), 5_000_000).is_none());
        assert!(merge(&ev(100, 5, "a"), &ev(99, 3, "a"), 5_000_000).is_none());
    }

    #[test]
    fn a_heartbeat_inside_the_event_keeps_its_end() {
        // A heartbeat wholly inside the last event changes nothing.
        assert_eq!(
            merge(&ev(100, 60, "a"), &ev(110, 5, "a"), 0),
            Some((100_000_000, 60_000_000))
        );
        // An afk-style heartbeat: same start, growing duration.
        assert_eq!(
            merge(&ev(100, 10, "a"), &ev(100, 30, "a"), 0),
            Some((100_000_000, 30_000_000))
        );
    }

    #[test]
    fn pulsetime_must_be_a_sane_number() {
        assert_eq!(pulsetime_us(1.5), Some(1_500_000));
        assert_eq!(pulsetime_us(-1.0), None);
        assert_eq!(pulsetime_us(f64::NAN), None);
    }
}
