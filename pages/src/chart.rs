//! One chart module for every page (the analysis report, the stress sweep, the scaling and
//! latency runs): line and bar charts drawn as self-contained SVG, no script, no font files.
//!
//! Made to be read: high-contrast colours that stay apart for colour-blind readers
//! (Okabe–Ito), a distinct marker per series so that one drawn over another stays visible
//! (the first series, drawn last, is a hollow ring around the others' marks), a y axis zoomed
//! to the data, and x values either linear, logarithmic or named categories.
//!
//! ```
//! use blastradius_pages::chart::{Axis, Chart, Series, svg};
//! let chart = Chart {
//!     title: "F1 under drop".into(),
//!     x_label: "events dropped".into(),
//!     y_label: "user F1".into(),
//!     x: Axis::Category(vec!["clean".into(), "1%".into()]),
//!     series: vec![Series::new("exact", vec![(0.0, 1.0), (1.0, 0.98)])],
//!     ..Chart::default()
//! };
//! let text = svg(&chart);
//! assert!(text.starts_with("<svg") && text.contains("exact"));
//! ```

use std::fmt::Write as _;

use serde::Serialize;

/// How x values are placed.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub enum Axis {
    #[default]
    Linear,
    /// Positive values on a log scale.
    Log,
    /// Values `0, 1, 2, ...` are the positions of these names, evenly spaced.
    Category(Vec<String>),
}

/// What is drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum Style {
    #[default]
    Lines,
    /// One bar per point, series side by side (x must be categories).
    Bars,
}

/// A named line of `(x, y)` points.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Its colour and marker, by palette position; default: its position in the chart. Pages
    /// with several charts give each detector the same one everywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub style: Option<usize>,
}

impl Series {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
            style: None,
        }
    }

    /// The series with the colour and marker of palette position `k`.
    pub fn styled(mut self, k: usize) -> Self {
        self.style = Some(k);
        self
    }
}

/// A chart, as data: pages embed this beside the drawing, so a test can check what was
/// drawn against the report it came from.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x: Axis,
    pub y_log: bool,
    /// Fixed y range; default: zoomed to the data.
    pub y_range: Option<(f64, f64)>,
    /// Fixed x range (linear and log axes); default: the data's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_range: Option<(f64, f64)>,
    /// Keep the y axis within [0, 1] when zooming (for ratios).
    pub unit_interval: bool,
    pub style: Style,
    /// Write each point's value beside it (lines; bars always carry theirs): for charts of
    /// few points, whose values the reader wants, not only their shape.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub value_labels: bool,
    pub series: Vec<Series>,
    /// A line under the chart saying what the reader must know.
    pub note: Option<String>,
}

/// Okabe–Ito, without yellow (too pale on white).
const COLOURS: &[&str] = &[
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
];
/// How many colour and marker styles there are (see [`crate::palette`]).
pub const PALETTE_SIZE: usize = COLOURS.len();
const WIDTH: f64 = 460.0;
const HEIGHT: f64 = 320.0;
const LEFT: f64 = 62.0;
const RIGHT: f64 = 14.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 70.0;

/// Text for SVG and HTML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A number short enough for a tick: `0.95`, `12k`, `3.4M`.
pub fn short(x: f64) -> String {
    let a = x.abs();
    let s = if a >= 1e9 {
        format!("{:.3}G", x / 1e9)
    } else if a >= 1e6 {
        format!("{:.3}M", x / 1e6)
    } else if a >= 1e4 {
        format!("{:.3}k", x / 1e3)
    } else if a >= 100.0 || x == x.round() {
        format!("{x:.0}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.4}")
    };
    trim(s)
}

fn trim(s: String) -> String {
    if !s.contains('.') {
        return s;
    }
    let unit: String = s.chars().rev().take_while(|c| c.is_alphabetic()).collect();
    let number = &s[..s.len() - unit.len()];
    let number = number.trim_end_matches('0').trim_end_matches('.');
    format!("{number}{}", unit.chars().rev().collect::<String>())
}

/// Evenly spaced "nice" ticks covering `[lo, hi]`.
fn ticks(lo: f64, hi: f64, want: usize) -> Vec<f64> {
    let span = (hi - lo).max(1e-12);
    let raw = span / want.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| span / s <= want as f64)
        .unwrap_or(10.0 * magnitude);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

/// Ticks of a log axis over `[lo, hi]`: the powers of ten, and 2 and 5 times them when the
/// range holds fewer than three powers (one tick says nothing of the scale).
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let within = |t: &f64| *t >= lo && *t <= hi;
    let powers: Vec<f64> = (a..=b).map(|e| 10f64.powi(e)).filter(within).collect();
    if powers.len() >= 3 {
        return powers;
    }
    (a..=b)
        .flat_map(|e| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(e)))
        .filter(within)
        .collect()
}

/// The y range to draw: the data with a margin, at least 2% of the unit interval tall.
fn y_extent(chart: &Chart) -> (f64, f64) {
    if let Some((lo, hi)) = chart.y_range {
        // Room for values written upwards above the bars.
        if chart.style == Style::Bars && bar_labels_turned(chart) {
            return (lo, lo + (hi - lo) * 1.3);
        }
        return (lo, hi);
    }
    let ys = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1));
    let (mut lo, mut hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
        (a.min(y), b.max(y))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if chart.y_log {
        let lo = lo.max(1e-12);
        return (lo / 1.5, hi.max(lo) * 1.5);
    }
    if chart.style == Style::Bars {
        // Room above the tallest bar for its value, written upwards when it is narrow.
        let room = if bar_labels_turned(chart) { 1.4 } else { 1.15 };
        return (0.0, hi.max(1e-9) * room);
    }
    let min_span = if chart.unit_interval {
        0.02
    } else {
        hi.abs().max(1e-9) * 0.1
    };
    if hi - lo < min_span {
        let mid = (hi + lo) / 2.0;
        lo = mid - min_span / 2.0;
        hi = mid + min_span / 2.0;
    }
    let pad = (hi - lo) * 0.08;
    let (mut lo, mut hi) = (lo - pad, hi + pad);
    if chart.unit_interval {
        lo = lo.max(0.0);
        hi = hi.min(1.0);
        if hi - lo < min_span {
            lo = (hi - min_span).max(0.0);
        }
    }
    (lo, hi)
}

fn x_extent(chart: &Chart) -> (f64, f64) {
    if let Axis::Category(names) = &chart.x {
        return (-0.5, names.len().max(1) as f64 - 0.5);
    }
    if let Some(r) = chart.x_range {
        return r;
    }
    let xs = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0));
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    match chart.x {
        Axis::Log => (lo.max(1e-12) / 1.3, hi.max(lo) * 1.3),
        _ => {
            // One x value (or all equal): a span around it, not a sliver whose ticks would
            // all read the same.
            let pad = match hi - lo {
                span if span > 1e-9 * hi.abs().max(1.0) => span * 0.05,
                _ => (hi.abs() * 0.1).max(1.0),
            };
            (lo - pad, hi + pad)
        }
    }
}

/// The chart as an SVG element.
pub fn svg(chart: &Chart) -> String {
    let (x0, x1) = x_extent(chart);
    let (y0, y1) = y_extent(chart);
    let log = |v: f64| v.max(1e-12).log10();
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let sx = |x: f64| match chart.x {
        Axis::Log => LEFT + (log(x) - log(x0)) / (log(x1) - log(x0)) * plot_w,
        _ => LEFT + (x - x0) / (x1 - x0) * plot_w,
    };
    let sy = |y: f64| {
        let f = if chart.y_log {
            (log(y) - log(y0)) / (log(y1) - log(y0))
        } else {
            (y - y0) / (y1 - y0)
        };
        TOP + plot_h - f.clamp(-0.02, 1.02) * plot_h
    };
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\" font-family=\"sans-serif\" font-size=\"11\">",
        escape(&chart.title)
    );
    let _ = write!(
        s,
        "<rect width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"white\"/><text x=\"{}\" y=\"17\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">{}</text>",
        WIDTH / 2.0,
        escape(&chart.title)
    );
    // Grid and y ticks.
    let y_ticks: Vec<f64> = if chart.y_log {
        log_ticks(y0, y1)
    } else {
        ticks(y0, y1, 5)
    };
    for t in &y_ticks {
        let y = sy(*t);
        let _ = write!(
            s,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 5.0,
            y + 4.0,
            short(*t)
        );
    }
    // X ticks.
    let x_ticks: Vec<(f64, String)> = match &chart.x {
        Axis::Category(names) => names
            .iter()
            .enumerate()
            .map(|(i, n)| (i as f64, n.clone()))
            .collect(),
        Axis::Log => log_ticks(x0, x1)
            .into_iter()
            .map(|t| (t, short(t)))
            .collect(),
        Axis::Linear => ticks(x0, x1, 6)
            .into_iter()
            .map(|t| (t, short(t)))
            .collect(),
    };
    for (t, label) in &x_ticks {
        let x = sx(*t);
        let _ = write!(
            s,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{}\" y2=\"{}\" stroke=\"#888\"/><text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            TOP + plot_h,
            TOP + plot_h + 4.0,
            TOP + plot_h + 16.0,
            escape(label)
        );
    }
    let _ = write!(
        s,
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{plot_w}\" height=\"{plot_h}\" fill=\"none\" stroke=\"#444\"/>"
    );
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text><text transform=\"translate(14 {}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        LEFT + plot_w / 2.0,
        TOP + plot_h + 32.0,
        escape(&chart.x_label),
        TOP + plot_h / 2.0,
        escape(&chart.y_label)
    );
    // An axis that does not start at zero says so, so that a small step does not read as a
    // collapse.
    if !chart.y_log && y0 > 0.0 && chart.style == Style::Lines {
        let _ = write!(
            s,
            "<text class=\"axis-note\" x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"10\" fill=\"#a33\">y axis starts at {}, not 0</text>",
            WIDTH - RIGHT,
            TOP - 3.0,
            short(y0)
        );
    }
    match chart.style {
        Style::Bars => bars(&mut s, chart, &sx, &sy, y0),
        Style::Lines => lines(&mut s, chart, &sx, &sy),
    }
    legend(&mut s, chart, TOP + plot_h + 44.0);
    s.push_str("</svg>");
    s
}

fn marker(s: &mut String, k: usize, x: f64, y: f64, colour: &str, tip: &str) {
    let title = format!("<title>{}</title>", escape(tip));
    let _ = match k % PALETTE_SIZE {
        // The first series: a hollow ring, drawn last, so marks under it show through.
        0 => write!(
            s,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"6\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2.5\">{title}</circle>"
        ),
        1 => write!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"7\" height=\"7\" fill=\"{colour}\">{title}</rect>",
            x - 3.5,
            y - 3.5
        ),
        2 => write!(
            s,
            "<path d=\"M{x:.1},{:.1} L{:.1},{:.1} L{:.1},{:.1} Z\" fill=\"{colour}\">{title}</path>",
            y - 5.0,
            x + 4.5,
            y + 3.5,
            x - 4.5,
            y + 3.5
        ),
        3 => write!(
            s,
            "<path d=\"M{x:.1},{:.1} L{:.1},{y:.1} L{x:.1},{:.1} L{:.1},{y:.1} Z\" fill=\"{colour}\">{title}</path>",
            y - 5.0,
            x + 5.0,
            y + 5.0,
            x - 5.0
        ),
        // A hollow square.
        5 => write!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"9\" height=\"9\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\">{title}</rect>",
            x - 4.5,
            y - 4.5
        ),
        // A plus.
        6 => write!(
            s,
            "<path d=\"M{:.1},{y:.1} L{:.1},{y:.1} M{x:.1},{:.1} L{x:.1},{:.1}\" stroke=\"{colour}\" stroke-width=\"2.5\">{title}</path>",
            x - 5.0,
            x + 5.0,
            y - 5.0,
            y + 5.0
        ),
        _ => write!(
            s,
            "<path d=\"M{:.1},{:.1} L{:.1},{:.1} M{:.1},{:.1} L{:.1},{:.1}\" stroke=\"{colour}\" stroke-width=\"2.5\">{title}</path>",
            x - 4.0,
            y - 4.0,
            x + 4.0,
            y + 4.0,
            x - 4.0,
            y + 4.0,
            x + 4.0,
            y - 4.0
        ),
    };
}

/// The box a value label of font size 10 takes, centred on `x` with its baseline at `y`:
/// (left, top, right, bottom), as wide as its characters (about 6.4 px each, digits in the
/// common sans-serif fonts) and a little more.
fn label_box(text: &str, x: f64, y: f64) -> [f64; 4] {
    let half = text.chars().count() as f64 * 6.4 / 2.0 + 1.0;
    [x - half, y - 10.0, x + half, y + 3.0]
}

fn overlap(a: &[f64; 4], b: &[f64; 4]) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

fn lines(s: &mut String, chart: &Chart, sx: &dyn Fn(f64) -> f64, sy: &dyn Fn(f64) -> f64) {
    // Value labels already written: a label goes where it touches none of them, or is left
    // to the mark's tooltip (and the page's table).
    let mut placed: Vec<[f64; 4]> = Vec::new();
    // The first series last, on top of the others.
    for (position, series) in chart.series.iter().enumerate().rev() {
        let k = series.style.unwrap_or(position);
        let colour = COLOURS[k % COLOURS.len()];
        let _ = write!(
            s,
            "<g class=\"series\" data-name=\"{}\">",
            escape(&series.name)
        );
        let path: Vec<String> = series
            .points
            .iter()
            .map(|p| format!("{:.1},{:.1}", sx(p.0), sy(p.1)))
            .collect();
        if path.len() > 1 {
            let dash = if k == 0 {
                ""
            } else {
                " stroke-dasharray=\"6 3\""
            };
            let _ = write!(
                s,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/>",
                path.join(" ")
            );
        }
        for p in &series.points {
            let tip = format!("{}: {}", series.name, short(p.1));
            marker(s, k, sx(p.0), sy(p.1), colour, &tip);
            if chart.value_labels {
                // Series alternate above and below their marks, so two close lines do not
                // write over each other; a label that would still touch another moves
                // further out, or is left out.
                let text = short(p.1);
                let (x, y) = (sx(p.0), sy(p.1));
                let tries = match position % 2 {
                    0 => [-9.0, 15.0, -21.0, 27.0],
                    _ => [15.0, -9.0, 27.0, -21.0],
                };
                let free = tries
                    .iter()
                    .map(|dy| (y + dy, label_box(&text, x, y + dy)))
                    .find(|(_, b)| !placed.iter().any(|p| overlap(p, b)));
                if let Some((y, b)) = free {
                    placed.push(b);
                    let _ = write!(
                        s,
                        "<text class=\"value\" x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"middle\" font-size=\"10\" fill=\"{colour}\">{text}</text>",
                    );
                }
            }
        }
        s.push_str("</g>");
    }
}

/// The width of one bar, in pixels.
fn bar_width(chart: &Chart) -> f64 {
    let categories = match &chart.x {
        Axis::Category(names) => names.len().max(1) as f64,
        _ => 1.0,
    };
    (WIDTH - LEFT - RIGHT) / categories * 0.8 / chart.series.len().max(1) as f64
}

/// Whether some bar's value is wider than its bar, so that values are written upwards (side
/// by side they would run together).
fn bar_labels_turned(chart: &Chart) -> bool {
    let widest = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| short(p.1).chars().count()))
        .max()
        .unwrap_or(0);
    widest as f64 * 6.0 > bar_width(chart) * 0.95
}

fn bars(s: &mut String, chart: &Chart, sx: &dyn Fn(f64) -> f64, sy: &dyn Fn(f64) -> f64, y0: f64) {
    let n = chart.series.len().max(1) as f64;
    let slot = (sx(1.0) - sx(0.0)) * 0.8;
    let width = slot / n;
    let turned = bar_labels_turned(chart);
    // A value written upwards is as wide as its line is high (about 1.2 × the font size):
    // the font shrinks to fit the bar's pitch, so neighbours never touch, and below 6 px the
    // values are left to the tooltips and the tables.
    let font = match turned {
        true => (width / 1.3).min(10.0),
        false => 10.0,
    };
    for (k, series) in chart.series.iter().enumerate() {
        let colour = COLOURS[series.style.unwrap_or(k) % COLOURS.len()];
        let _ = write!(
            s,
            "<g class=\"series\" data-name=\"{}\">",
            escape(&series.name)
        );
        for p in &series.points {
            let left = sx(p.0) - slot / 2.0 + k as f64 * width;
            let (top, base) = (sy(p.1), sy(y0));
            let _ = write!(
                s,
                "<rect x=\"{left:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\"><title>{}: {}</title></rect>",
                width * 0.9,
                (base - top).max(0.0),
                escape(&series.name),
                short(p.1),
            );
            let (x, y) = (left + width * 0.45, top - 3.0);
            let _ = match turned {
                _ if font < 6.0 => Ok(()),
                true => write!(
                    s,
                    "<text class=\"value\" transform=\"translate({x:.1} {y:.1}) rotate(-90)\" dy=\"{:.1}\" font-size=\"{font:.1}\">{}</text>",
                    font * 0.35,
                    short(p.1)
                ),
                false => write!(
                    s,
                    "<text class=\"value\" x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"middle\" font-size=\"10\">{}</text>",
                    short(p.1)
                ),
            };
        }
        s.push_str("</g>");
    }
}

fn legend(s: &mut String, chart: &Chart, y: f64) {
    let mut x = LEFT;
    let mut row = y;
    for (position, series) in chart.series.iter().enumerate() {
        let k = series.style.unwrap_or(position);
        let colour = COLOURS[k % COLOURS.len()];
        let label_width = 7.0 * series.name.chars().count() as f64 + 30.0;
        if x + label_width > WIDTH - RIGHT {
            x = LEFT;
            row += 14.0;
        }
        if chart.style == Style::Bars {
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{colour}\"/>",
                row - 5.0
            );
        } else {
            let _ = write!(
                s,
                "<line x1=\"{x:.1}\" x2=\"{:.1}\" y1=\"{row:.1}\" y2=\"{row:.1}\" stroke=\"{colour}\" stroke-width=\"2\"/>",
                x + 18.0
            );
            marker(s, k, x + 9.0, row, colour, &series.name);
        }
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x + 22.0,
            row + 4.0,
            escape(&series.name)
        );
        x += label_width;
    }
    if let Some(note) = &chart.note {
        let _ = write!(
            s,
            "<text x=\"{LEFT}\" y=\"{:.1}\" font-size=\"10\" fill=\"#444\">{}</text>",
            row + 16.0,
            escape(note)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_are_zoomed_to_the_data_but_stay_in_the_unit_interval() {
        let chart = Chart {
            unit_interval: true,
            series: vec![Series::new("a", vec![(0.0, 0.94), (1.0, 1.0)])],
            ..Chart::default()
        };
        let (lo, hi) = y_extent(&chart);
        assert!(lo > 0.9 && lo < 0.94, "{lo}");
        assert_eq!(hi, 1.0);
        let flat = Chart {
            unit_interval: true,
            series: vec![Series::new("a", vec![(0.0, 1.0), (1.0, 1.0)])],
            ..Chart::default()
        };
        let (lo, hi) = y_extent(&flat);
        assert!(hi - lo >= 0.02 - 1e-12 && hi == 1.0, "{lo} {hi}");
    }

    #[test]
    fn every_series_is_drawn_with_its_points_and_the_first_on_top() {
        let chart = Chart {
            x: Axis::Category(vec!["clean".into(), "1%".into(), "5%".into()]),
            series: vec![
                Series::new("exact", vec![(0.0, 1.0), (1.0, 0.99), (2.0, 0.9)]),
                Series::new("streaming", vec![(0.0, 1.0), (1.0, 0.99), (2.0, 0.9)]),
            ],
            ..Chart::default()
        };
        let text = svg(&chart);
        assert_eq!(text.matches("class=\"series\"").count(), 2);
        let exact = text.find("data-name=\"exact\"").unwrap();
        let streaming = text.find("data-name=\"streaming\"").unwrap();
        assert!(exact > streaming, "the first series is drawn last, on top");
        assert_eq!(text.matches("<title>exact: ").count(), 3);
        for label in ["clean", "1%", "5%"] {
            assert!(text.contains(&format!(">{label}</text>")), "{label}");
        }
    }

    #[test]
    fn a_log_axis_has_ticks_enough_to_read_it() {
        assert_eq!(log_ticks(1.0, 1000.0), vec![1.0, 10.0, 100.0, 1000.0]);
        // One power of ten in range: 2 and 5 times the powers are added.
        assert_eq!(log_ticks(0.05, 0.5), vec![0.05, 0.1, 0.2, 0.5]);
    }

    #[test]
    fn bar_values_never_run_together_and_a_cut_axis_says_so() {
        let wide = Chart {
            x: Axis::Category(vec!["a".into(), "b".into()]),
            style: Style::Bars,
            series: vec![Series::new("exact", vec![(0.0, 94.0), (1.0, 3.0)])],
            ..Chart::default()
        };
        assert!(!svg(&wide).contains("rotate(-90)\" dy"));
        let names: Vec<String> = (0..15).map(|i| format!("app {i}")).collect();
        let crowded = Chart {
            x: Axis::Category(names),
            style: Style::Bars,
            series: vec![
                Series::new("truth", (0..15).map(|i| (i as f64, 9494.0)).collect()),
                Series::new("exact", (0..15).map(|i| (i as f64, 9494.0)).collect()),
            ],
            ..Chart::default()
        };
        let text = svg(&crowded);
        assert_eq!(
            text.matches("rotate(-90)\" dy").count(),
            30,
            "every value turned"
        );
        // Turned, a value's line is about 1.2 × its font size wide: neighbours, as drawn, stand
        // at least that far apart.
        let mut turned: Vec<(f64, f64)> = text
            .split("<text class=\"value\" transform=\"translate(")
            .skip(1)
            .map(|t| {
                let x: f64 = t.split(' ').next().unwrap().parse().unwrap();
                let size = t.split("font-size=\"").nth(1).unwrap().split('"').next();
                (x, size.unwrap().parse().unwrap())
            })
            .collect();
        turned.sort_by(|a, b| a.0.total_cmp(&b.0));
        for pair in turned.windows(2) {
            let gap = pair[1].0 - pair[0].0;
            assert!(gap >= 1.2 * pair[0].1, "{pair:?}: {gap} apart");
        }
        let cut = Chart {
            unit_interval: true,
            series: vec![Series::new("a", vec![(0.0, 0.94), (1.0, 1.0)])],
            ..Chart::default()
        };
        assert!(svg(&cut).contains("y axis starts at 0."), "{}", svg(&cut));
        let from_zero = Chart {
            series: vec![Series::new("a", vec![(0.0, 0.0), (1.0, 1.0)])],
            ..Chart::default()
        };
        assert!(!svg(&from_zero).contains("axis-note"));
    }

    #[test]
    fn value_labels_of_close_lines_never_touch() {
        // Three series within a few pixels of each other at every point.
        let close = Chart {
            value_labels: true,
            series: (0..3)
                .map(|k| {
                    let name = format!("s{k}");
                    let points = (0..4).map(|i| (i as f64, 30.0 + k as f64 * 0.4)).collect();
                    Series::new(&name, points)
                })
                .collect(),
            ..Chart::default()
        };
        let text = svg(&close);
        let boxes: Vec<[f64; 4]> = text
            .split("<text class=\"value\" x=\"")
            .skip(1)
            .map(|t| {
                let x: f64 = t.split('"').next().unwrap().parse().unwrap();
                let y: f64 = t
                    .split("y=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                let label = t.split('>').nth(1).unwrap().split('<').next().unwrap();
                label_box(label, x, y)
            })
            .collect();
        assert!(boxes.len() >= 8, "most values still shown: {}", boxes.len());
        for (i, a) in boxes.iter().enumerate() {
            for b in &boxes[i + 1..] {
                assert!(!overlap(a, b), "{a:?} on {b:?}");
            }
        }
    }

    #[test]
    fn ticks_are_round_numbers() {
        assert_eq!(
            ticks(0.0, 1.0, 5),
            vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        assert_eq!(short(2_500_000.0), "2.5M");
        assert_eq!(short(0.95), "0.95");
        assert_eq!(short(12.0), "12");
    }
}
