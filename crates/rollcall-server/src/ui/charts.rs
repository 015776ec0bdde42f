//! SVG charts drawn by the server (SPEC §9): horizontal bars, stacked bars,
//! lines and sparklines. Exact numbers, crisp at any size, printable, no script.
//!
//! Every chart has a `<title>`, axes with labels, and a text equivalent: a
//! `<desc>` summarising it and a table of every number beside it (in a
//! `<details>`), so a screen reader or a printout loses nothing. Colours come
//! from the Okabe–Ito palette, which stays distinguishable under the common
//! colour-vision deficiencies; series also differ by position, never by colour alone.
//!
//! Only presentation attributes are used (no `style=`), so the strict CSP holds.

use maud::{html, Markup, PreEscaped};

/// Okabe–Ito: blue, orange, bluish green, reddish purple, sky blue, vermillion.
pub const PALETTE: [&str; 6] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00",
];

/// One bar of a horizontal bar chart.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// The words printed after the bar (for example "83% of Sales, 10 of 12").
    pub note: String,
}

/// One row of a stacked bar chart: a value per series.
#[derive(Debug, Clone)]
pub struct Stack {
    pub label: String,
    pub values: Vec<f64>,
}

/// One line of a line chart: a value per x label.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

const WIDTH: f64 = 820.0;
const LABEL_W: f64 = 170.0;
const NOTE_W: f64 = 290.0;
const ROW_H: f64 = 26.0;
const TOP: f64 = 28.0;
const AXIS_H: f64 = 40.0;

/// A number as printed on a chart: integers plainly, others with at most two
/// decimals (an axis at 1.25 must not read 1.3).
pub fn number(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A label cut to fit its column (the full text stays in the table).
fn clip(label: &str, max_chars: usize) -> String {
    if label.chars().count() <= max_chars {
        label.to_string()
    } else {
        let mut s: String = label.chars().take(max_chars - 1).collect();
        s.push('…');
        s
    }
}

/// Four even ticks from 0 to a round maximum at or above `max`.
fn ticks(max: f64) -> (f64, Vec<f64>) {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let magnitude = 10f64.powf(max.log10().floor());
    let top = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&t| t >= max)
        .unwrap_or(max);
    (top, (0..=4).map(|i| top * i as f64 / 4.0).collect())
}

fn x_axis(
    plot_x: f64,
    plot_w: f64,
    y: f64,
    marks: &[f64],
    axis_label: &str,
    unit: &dyn Fn(f64) -> String,
) -> Markup {
    html! {
        g class="axis" {
            line x1=(plot_x) y1=(y) x2=(plot_x + plot_w) y2=(y) stroke="#57606a" {}
            @for m in marks {
                @let x = plot_x + plot_w * m / marks.last().copied().unwrap_or(1.0).max(f64::MIN_POSITIVE);
                line x1=(x) y1=(TOP - 4.0) x2=(x) y2=(y + 4.0) stroke="#d0d7de" {}
                text x=(x) y=(y + 16.0) text-anchor="middle" font-size="11" fill="#57606a" { (unit(*m)) }
            }
            text x=(plot_x + plot_w / 2.0) y=(y + 33.0) text-anchor="middle" font-size="12" fill="#1b1f24" { (axis_label) }
        }
    }
}

/// Horizontal bars, one per row, on a shared axis from 0 to `max` (or the
/// largest value). `unit` prints an axis value.
pub fn bars(
    id: &str,
    title: &str,
    axis_label: &str,
    max: Option<f64>,
    rows: &[Bar],
    unit: &dyn Fn(f64) -> String,
) -> Markup {
    let largest = rows.iter().map(|b| b.value).fold(0.0, f64::max);
    let (top, marks) = match max {
        Some(m) => (m, (0..=4).map(|i| m * i as f64 / 4.0).collect()),
        None => ticks(largest),
    };
    let plot_w = WIDTH - LABEL_W - NOTE_W;
    let axis_y = TOP + ROW_H * rows.len().max(1) as f64;
    let height = axis_y + AXIS_H;
    let desc = if rows.is_empty() {
        "No data.".to_string()
    } else {
        rows.iter()
            .map(|b| format!("{}: {}", b.label, b.note))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let svg = html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox={"0 0 " (WIDTH) " " (height)} width=(WIDTH) height=(height)
            role="img" aria-labelledby={(id) "-t " (id) "-d"} {
            title id={(id) "-t"} { (title) }
            desc id={(id) "-d"} { (desc) }
            @if rows.is_empty() {
                text x=(WIDTH / 2.0) y=(TOP + 14.0) text-anchor="middle" fill="#57606a" { "No data for this selection" }
            }
            @for (i, b) in rows.iter().enumerate() {
                @let y = TOP + ROW_H * i as f64;
                @let w = if top > 0.0 { (b.value / top).clamp(0.0, 1.0) * plot_w } else { 0.0 };
                text x=(LABEL_W - 8.0) y=(y + 17.0) text-anchor="end" font-size="12" fill="#1b1f24" { (clip(&b.label, 24)) }
                rect class="bar" x=(LABEL_W) y=(y + 4.0) width=(w) height=(ROW_H - 8.0) fill=(PALETTE[0]) data-value=(number(b.value)) {}
                text x=(LABEL_W + plot_w + 8.0) y=(y + 17.0) font-size="12" fill="#1b1f24" { (b.note) }
            }
            (x_axis(LABEL_W, plot_w, axis_y, &marks, axis_label, unit))
        }
    };
    figure(
        title,
        svg,
        html! {
            table {
                thead { tr { th scope="col" { "Label" } th scope="col" class="num" { (axis_label) } th scope="col" { "Detail" } } }
                tbody { @for b in rows { tr { td { (b.label) } td class="num" { (number(b.value)) } td { (b.note) } } } }
            }
        },
    )
}

/// Each value of a stacked row as (series index, value, x, width), laid end to end.
fn segments(values: &[f64], top: f64, plot_w: f64) -> Vec<(usize, f64, f64, f64)> {
    let mut x = LABEL_W;
    values
        .iter()
        .enumerate()
        .map(|(j, &v)| {
            let w = if top > 0.0 {
                (v / top).max(0.0) * plot_w
            } else {
                0.0
            };
            let at = x;
            x += w;
            (j, v, at, w)
        })
        .collect()
}

/// Horizontal stacked bars: each row's values laid end to end in series order.
pub fn stacked_bars(
    id: &str,
    title: &str,
    axis_label: &str,
    series: &[&str],
    rows: &[Stack],
    unit: &dyn Fn(f64) -> String,
) -> Markup {
    let largest = rows
        .iter()
        .map(|r| r.values.iter().sum::<f64>())
        .fold(0.0, f64::max);
    let (top, marks) = ticks(largest);
    let plot_w = WIDTH - LABEL_W - NOTE_W;
    let axis_y = TOP + ROW_H * rows.len().max(1) as f64;
    let height = axis_y + AXIS_H;
    // The summary; every value is in the table that follows the chart.
    let desc = if rows.is_empty() {
        "No data.".to_string()
    } else {
        let totals: Vec<String> = series
            .iter()
            .enumerate()
            .map(|(j, s)| {
                let t: f64 = rows.iter().filter_map(|r| r.values.get(j)).sum();
                format!("{s} {}", unit(t))
            })
            .collect();
        format!(
            "{} rows; in all: {}. Each row's values are in the table of this chart.",
            rows.len(),
            totals.join(", ")
        )
    };
    let svg = html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox={"0 0 " (WIDTH) " " (height)} width=(WIDTH) height=(height)
            role="img" aria-labelledby={(id) "-t " (id) "-d"} {
            title id={(id) "-t"} { (title) }
            desc id={(id) "-d"} { (desc) }
            @if rows.is_empty() {
                text x=(WIDTH / 2.0) y=(TOP + 14.0) text-anchor="middle" fill="#57606a" { "No data for this selection" }
            }
            @for (i, r) in rows.iter().enumerate() {
                @let y = TOP + ROW_H * i as f64;
                text x=(LABEL_W - 8.0) y=(y + 17.0) text-anchor="end" font-size="12" fill="#1b1f24" { (clip(&r.label, 24)) }
                @for (j, v, x, w) in segments(&r.values, top, plot_w) {
                    // No per-segment <title>: the table beside the chart has every value,
                    // and a page of working hours stays within its byte budget.
                    rect class="segment" x=(x) y=(y + 4.0) width=(w) height=(ROW_H - 8.0) fill=(PALETTE[j % PALETTE.len()]) data-value=(number(v)) data-series=(j) {}
                }
                text x=(LABEL_W + plot_w + 8.0) y=(y + 17.0) font-size="12" fill="#1b1f24" { (unit(r.values.iter().sum())) }
            }
            (x_axis(LABEL_W, plot_w, axis_y, &marks, axis_label, unit))
        }
    };
    let legend = legend(series);
    figure(
        title,
        html! { (legend) (svg) },
        html! {
            table {
                thead { tr { th scope="col" { "Row" } @for s in series { th scope="col" class="num" { (s) } } th scope="col" class="num" { "Total" } } }
                tbody { @for r in rows { tr {
                    td { (r.label) }
                    @for v in &r.values { td class="num" { (unit(*v)) } }
                    td class="num" { (unit(r.values.iter().sum())) }
                } } }
            }
        },
    )
}

/// Lines over shared x labels (dates, usually), one per series, from 0.
pub fn lines(
    id: &str,
    title: &str,
    y_label: &str,
    x_labels: &[String],
    series: &[Series],
) -> Markup {
    let (w, h) = (WIDTH, 260.0);
    let (left, right, top_pad, bottom) = (56.0, 20.0, 24.0, 52.0);
    let plot_w = w - left - right;
    let plot_h = h - top_pad - bottom;
    let largest = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0, f64::max);
    let (top, marks) = ticks(largest);
    let n = x_labels.len();
    let x_of = |i: usize| {
        if n <= 1 {
            left + plot_w / 2.0
        } else {
            left + plot_w * i as f64 / (n - 1) as f64
        }
    };
    let y_of = |v: f64| top_pad + plot_h - plot_h * (v / top).clamp(0.0, 1.0);
    let label_every = n.div_ceil(6).max(1);
    let desc = match (x_labels.first(), x_labels.last()) {
        (Some(first), Some(last)) => series
            .iter()
            .map(|s| {
                format!(
                    "{} from {} on {first} to {} on {last}",
                    s.name,
                    number(s.values.first().copied().unwrap_or(0.0)),
                    number(s.values.last().copied().unwrap_or(0.0))
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => "No data.".to_string(),
    };
    let dashes = ["", "6 3", "2 3"];
    let svg = html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox={"0 0 " (w) " " (h)} width=(w) height=(h)
            role="img" aria-labelledby={(id) "-t " (id) "-d"} {
            title id={(id) "-t"} { (title) }
            desc id={(id) "-d"} { (desc) }
            g class="axis" {
                @for m in &marks {
                    @let y = y_of(*m);
                    line x1=(left) y1=(y) x2=(left + plot_w) y2=(y) stroke="#d0d7de" {}
                    text x=(left - 6.0) y=(y + 4.0) text-anchor="end" font-size="11" fill="#57606a" { (number(*m)) }
                }
                line x1=(left) y1=(top_pad + plot_h) x2=(left + plot_w) y2=(top_pad + plot_h) stroke="#57606a" {}
                line x1=(left) y1=(top_pad) x2=(left) y2=(top_pad + plot_h) stroke="#57606a" {}
                @for (i, l) in x_labels.iter().enumerate() {
                    @if i % label_every == 0 || i + 1 == n {
                        text x=(x_of(i)) y=(top_pad + plot_h + 16.0) text-anchor="middle" font-size="11" fill="#57606a" { (l) }
                    }
                }
                text x="14" y=(top_pad + plot_h / 2.0) text-anchor="middle" font-size="12" fill="#1b1f24"
                    transform={"rotate(-90 14 " (top_pad + plot_h / 2.0) ")"} { (y_label) }
            }
            @for (k, s) in series.iter().enumerate() {
                @let points: Vec<String> = s.values.iter().enumerate().map(|(i, v)| format!("{:.1},{:.1}", x_of(i), y_of(*v))).collect();
                polyline class="line" fill="none" stroke=(PALETTE[k % PALETTE.len()]) stroke-width="2"
                    stroke-dasharray=(dashes[k % dashes.len()]) points=(points.join(" ")) data-series=(s.name) {}
            }
        }
    };
    let legend = legend(&series.iter().map(|s| s.name.as_str()).collect::<Vec<_>>());
    figure(
        title,
        html! { (legend) (svg) },
        html! {
            table {
                thead { tr { th scope="col" { "Date" } @for s in series { th scope="col" class="num" { (s.name) } } } }
                tbody { @for (i, l) in x_labels.iter().enumerate() { tr {
                    td { (l) }
                    @for s in series { td class="num" { (number(s.values.get(i).copied().unwrap_or(0.0))) } }
                } } }
            }
        },
    )
}

/// A word-sized line with no axes, for a table cell; `label` is its text
/// equivalent (read instead of the picture).
pub fn sparkline(label: &str, values: &[f64]) -> Markup {
    let (w, h) = (100.0, 24.0);
    let largest = values.iter().copied().fold(0.0, f64::max).max(1.0);
    let n = values.len();
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let x = if n <= 1 {
                w / 2.0
            } else {
                w * i as f64 / (n - 1) as f64
            };
            format!(
                "{x:.1},{:.1}",
                h - 2.0 - (h - 4.0) * (v / largest).clamp(0.0, 1.0)
            )
        })
        .collect();
    html! {
        svg xmlns="http://www.w3.org/2000/svg" class="sparkline" viewBox={"0 0 " (w) " " (h)} width=(w) height=(h) role="img" aria-label=(label) {
            title { (label) }
            line x1="0" y1=(h - 1.0) x2=(w) y2=(h - 1.0) stroke="#d0d7de" {}
            polyline fill="none" stroke=(PALETTE[0]) stroke-width="1.5" points=(points.join(" ")) {}
        }
    }
}

fn legend(series: &[&str]) -> Markup {
    html! {
        ul class="legend" {
            @for (i, s) in series.iter().enumerate() {
                li {
                    svg width="12" height="12" aria-hidden="true" { rect width="12" height="12" fill=(PALETTE[i % PALETTE.len()]) {} }
                    " " (s)
                }
            }
        }
    }
}

fn figure(title: &str, picture: Markup, table: Markup) -> Markup {
    html! {
        figure class="chart" {
            (picture)
            figcaption { (title) }
            details class="text-equivalent" {
                summary { "Numbers of this chart" }
                (table)
            }
        }
    }
}

/// `PreEscaped` for a chart a page built earlier (keeps page code tidy).
pub fn raw(markup: Markup) -> PreEscaped<String> {
    PreEscaped(markup.into_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pct(v: f64) -> String {
        format!("{}%", number(v))
    }

    fn widths(svg: &str, class: &str) -> Vec<f64> {
        svg.split(&format!("class=\"{class}\""))
            .skip(1)
            .map(|rest| {
                let w = rest.split("width=\"").nth(1).unwrap();
                w[..w.find('"').unwrap()].parse().unwrap()
            })
            .collect()
    }

    #[test]
    fn bar_lengths_are_proportional_to_values() {
        let rows = vec![
            Bar {
                label: "Sales".into(),
                value: 80.0,
                note: "80% of Sales".into(),
            },
            Bar {
                label: "Ops".into(),
                value: 20.0,
                note: "20% of Ops".into(),
            },
        ];
        let svg = bars("e", "Engagement", "Active %", Some(100.0), &rows, &pct).into_string();
        let w = widths(&svg, "bar");
        assert_eq!(w.len(), 2);
        assert!((w[0] / w[1] - 4.0).abs() < 1e-9, "{w:?}");
        assert!((w[0] - (WIDTH - LABEL_W - NOTE_W) * 0.8).abs() < 1e-9);
    }

    #[test]
    fn every_chart_has_title_description_axis_and_table() {
        let rows = vec![Bar {
            label: "A".into(),
            value: 3.0,
            note: "three".into(),
        }];
        let svg = bars("x", "The title", "Count", None, &rows, &number).into_string();
        assert!(svg.contains("<title id=\"x-t\">The title</title>"));
        assert!(svg.contains("<desc id=\"x-d\">A: three</desc>"));
        assert!(svg.contains("aria-labelledby=\"x-t x-d\""));
        assert!(svg.contains(">Count</text>"));
        assert!(svg.contains("<td class=\"num\">3</td>"));
    }

    #[test]
    fn labels_are_escaped() {
        let rows = vec![Bar {
            label: "<script>".into(),
            value: 1.0,
            note: "a&b".into(),
        }];
        let svg = bars("x", "t", "n", None, &rows, &number).into_string();
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;") && svg.contains("a&amp;b"));
    }

    #[test]
    fn empty_charts_say_so() {
        let svg = bars("x", "t", "n", None, &[], &number).into_string();
        assert!(svg.contains("No data for this selection"));
        let svg = lines("l", "t", "n", &[], &[]).into_string();
        assert!(svg.contains("No data."));
    }

    #[test]
    fn stacked_segments_sum_to_the_row_and_follow_series_colours() {
        let rows = vec![
            Stack {
                label: "ana 05-01".into(),
                values: vec![3.0, 1.0, 0.0, 4.0],
            },
            Stack {
                label: "bo 05-01".into(),
                values: vec![2.0, 0.0, 0.0, 0.0],
            },
        ];
        let series = ["Productive", "Unproductive", "Undefined", "Passive"];
        let svg = stacked_bars("s", "Hours", "Hours", &series, &rows, &number).into_string();
        let w = widths(&svg, "segment");
        assert_eq!(w.len(), 8);
        let first: f64 = w[..4].iter().sum();
        assert!((first / w[4] - 4.0).abs() < 1e-9, "{w:?}");
        assert!(svg.contains(PALETTE[3]));
        assert!(svg.contains("<th scope=\"col\" class=\"num\">Passive</th>"));
        assert!(
            svg.contains("2 rows; in all: Productive 5, Unproductive 1, Undefined 0, Passive 4.")
        );
    }

    #[test]
    fn lines_have_a_point_per_label_and_differ_by_dash_not_only_colour() {
        let labels: Vec<String> = (1..=5).map(|d| format!("05-0{d}")).collect();
        let series = vec![
            Series {
                name: "DAU".into(),
                values: vec![1.0, 2.0, 3.0, 2.0, 1.0],
            },
            Series {
                name: "MAU".into(),
                values: vec![5.0, 5.0, 6.0, 6.0, 7.0],
            },
        ];
        let svg = lines("t", "Trend", "People", &labels, &series).into_string();
        let polylines: Vec<&str> = svg.split("<polyline").skip(1).collect();
        assert_eq!(polylines.len(), 2);
        for p in &polylines {
            let pts = p.split("points=\"").nth(1).unwrap();
            assert_eq!(pts[..pts.find('"').unwrap()].split(' ').count(), 5);
        }
        assert!(polylines[1].contains("stroke-dasharray=\"6 3\""));
        assert!(svg.contains("DAU from 1 on 05-01 to 1 on 05-05"));
    }

    #[test]
    fn numbers_print_exactly_enough() {
        assert_eq!(number(3.0), "3");
        assert_eq!(number(3.75), "3.75");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(1.0 / 3.0), "0.33");
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(ticks(83.0).0, 100.0);
        assert_eq!(ticks(7.0).0, 10.0);
        assert_eq!(ticks(0.0).0, 1.0);
        assert_eq!(ticks(1200.0).0, 2000.0);
    }

    #[test]
    fn sparkline_has_its_text_equivalent() {
        let s = sparkline("Daily active users, 30 days: 4 to 9", &[4.0, 9.0]).into_string();
        assert!(s.contains("aria-label=\"Daily active users, 30 days: 4 to 9\""));
        assert!(s.contains("0.0,2.0") || s.contains("points=\""));
    }
}
