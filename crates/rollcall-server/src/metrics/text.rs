//! The Prometheus text exposition format (version 0.0.4), written by hand: a
//! `# HELP` and `# TYPE` line per family, then its samples, label values
//! escaped. Families must be written whole, one after the other.

use std::fmt::Write as _;

use rollcall_core::histogram::HistogramSnapshot;

/// The `Content-Type` of a scrape.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A scrape being written.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

/// Prometheus' metric types used here.
#[derive(Clone, Copy)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

impl Exposition {
    /// Starts a family: its help text and type.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.out, " {value}");
    }

    /// The `_bucket`, `_sum` and `_count` samples of one histogram. Bounds and
    /// the sum are divided by `scale` (e.g. microseconds to seconds).
    pub fn histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        snapshot: &HistogramSnapshot,
        scale: f64,
    ) {
        for &(bound, count) in &snapshot.cumulative {
            let le = format_float(bound as f64 / scale);
            let _ = write!(self.out, "{name}_bucket");
            self.labels(labels, Some(le.as_str()));
            let _ = writeln!(self.out, " {count}");
        }
        let _ = write!(self.out, "{name}_bucket");
        self.labels(labels, Some("+Inf"));
        let _ = writeln!(self.out, " {}", snapshot.count);
        let _ = write!(self.out, "{name}_sum");
        self.labels(labels, None);
        let _ = writeln!(self.out, " {}", format_float(snapshot.sum as f64 / scale));
        let _ = write!(self.out, "{name}_count");
        self.labels(labels, None);
        let _ = writeln!(self.out, " {}", snapshot.count);
    }

    fn labels(&mut self, labels: &[(&str, &str)], le: Option<&str>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.out.push('{');
        let le = le.map(|v| ("le", v));
        for (i, (key, value)) in labels.iter().copied().chain(le).enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.out.push_str(key);
            self.out.push_str("=\"");
            escape_label_into(&mut self.out, value);
            self.out.push('"');
        }
        self.out.push('}');
    }

    /// The text written so far.
    pub fn finish(self) -> String {
        self.out
    }
}

/// A float as Prometheus reads it: integers without a fraction, else the
/// shortest form that reads back the same.
fn format_float(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.1}")
    } else {
        format!("{value}")
    }
}

/// Label values escape backslash, double quote and line feed.
fn escape_label_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Help text escapes backslash and line feed.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut e = Exposition::default();
        e.family("x_total", Kind::Counter, "a \\ b\nc");
        e.sample("x_total", &[("route", "/a\"b\\c\nd"), ("status", "200")], 3);
        assert_eq!(
            e.finish(),
            "# HELP x_total a \\\\ b\\nc\n# TYPE x_total counter\nx_total{route=\"/a\\\"b\\\\c\\nd\",status=\"200\"} 3\n"
        );
    }

    #[test]
    fn a_histogram_writes_cumulative_buckets_then_sum_and_count() {
        let mut e = Exposition::default();
        let snapshot = HistogramSnapshot {
            cumulative: vec![(1000, 2), (2500, 5)],
            count: 6,
            sum: 7500,
        };
        e.histogram("d_seconds", &[("route", "/r")], &snapshot, 1e6);
        assert_eq!(
            e.finish(),
            "d_seconds_bucket{route=\"/r\",le=\"0.001\"} 2\n\
             d_seconds_bucket{route=\"/r\",le=\"0.0025\"} 5\n\
             d_seconds_bucket{route=\"/r\",le=\"+Inf\"} 6\n\
             d_seconds_sum{route=\"/r\"} 0.0075\n\
             d_seconds_count{route=\"/r\"} 6\n"
        );
    }

    #[test]
    fn whole_numbers_keep_a_fraction_digit() {
        assert_eq!(format_float(1.0), "1.0");
        assert_eq!(format_float(0.25), "0.25");
    }
}
