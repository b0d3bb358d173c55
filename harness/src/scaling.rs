//! The scaling run: generate and analyze datasets of growing size in child processes (so
//! each one's peak memory is its own), then keep a table and a chart.

use std::path::{Path, PathBuf};

use blastradius_dataset::Manifest;
use blastradius_pages::chart::{Axis, Chart, Series};
use blastradius_pages::doc::{Block, Column, Doc, Table};
use blastradius_safefs::{Kind, Stage};
use serde::Serialize;

use crate::{Error, argv};

/// One size's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub users: u64,
    pub events: u64,
    pub bytes: u64,
    pub generate_seconds: f64,
    pub generate_peak_bytes: u64,
    pub analyze_seconds: f64,
    pub analyze_peak_bytes: u64,
}

/// Runs `exe args` as a child; returns wall seconds and its peak RSS.
///
/// # Errors
/// When the child cannot start or fails (its standard error is in the message).
pub fn child(exe: &Path, args: &[String]) -> Result<(f64, u64), Error> {
    let log = tempfile_path();
    let outcome = crate::exec::run(
        &format!(
            "{} {}",
            crate::exec::quote(exe),
            args.iter()
                .map(|a| crate::exec::quote(Path::new(a)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        &log,
        std::time::Duration::from_secs(24 * 3600),
    );
    let _ = std::fs::remove_file(log.with_extension("stdout"));
    let _ = std::fs::remove_file(log.with_extension("stderr"));
    match outcome.failure {
        None => Ok((outcome.wall_seconds, outcome.peak_memory_bytes)),
        Some(f) => Err(Error::Input {
            path: exe.to_path_buf(),
            message: format!("`{}` failed: {f}", args.join(" ")),
        }),
    }
}

fn tempfile_path() -> PathBuf {
    std::env::temp_dir().join(format!("blastradius-child-{}", std::process::id()))
}

/// The machine, for the record.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cores} cores, {cpu}")
}

/// The manifest a child `generate` wrote in `data`: an error naming it when it cannot be read,
/// so that no figure is made of zeros.
pub(crate) fn written_manifest(data: &Path) -> Result<Manifest, Error> {
    // The dataset's error names the manifest already.
    Manifest::load(data).map_err(|e| Error::Input {
        path: data.to_path_buf(),
        message: format!(
            "the generated dataset cannot be read ({e}): no figure can be made from it"
        ),
    })
}

/// Writes `name` into the staged output; an error names it under `out`, where it was going.
pub(crate) fn write_output(
    stage: &Stage,
    out: &Path,
    name: &str,
    text: String,
) -> Result<(), Error> {
    std::fs::write(stage.path().join(name), text).map_err(|e| Error::Input {
        path: out.join(name),
        message: format!("cannot write ({e})"),
    })
}

/// `1,10,100`.
pub(crate) fn list(v: &[u64]) -> String {
    v.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

/// Generates and analyzes (exact) each size with the binary `exe`; writes scaling.json,
/// scaling.md and scaling.html under `out`, and keeps the datasets under `out/data` when
/// `keep_data`. Nothing is written anywhere else.
///
/// # Errors
/// A child that fails, or an output that may not be written.
pub fn run(
    exe: &Path,
    users: &[u64],
    out: &Path,
    force: bool,
    keep_data: bool,
    mut progress: impl FnMut(&Point),
) -> Result<Vec<Point>, Error> {
    let stage = Stage::begin(out, Kind::Output("bench scaling"), force, "--out", &[])?;
    let mut points = Vec::new();
    for &n in users {
        let data = stage.path().join("data").join(format!("scaling-{n}"));
        let reports = stage.path().join("data").join(format!("report-{n}"));
        let (gen_s, gen_rss) = child(
            exe,
            &argv::Generate {
                users: n,
                out: &data,
                ..Default::default()
            }
            .args(),
        )?;
        let (ana_s, ana_rss) = child(
            exe,
            &argv::Analyze {
                dataset: &data,
                detector: "exact",
                threads: None,
                out: &reports,
            }
            .args(),
        )?;
        let manifest = written_manifest(&data)?;
        let point = Point {
            users: n,
            events: manifest.counts.events,
            bytes: manifest.files.iter().map(|f| f.bytes).sum(),
            generate_seconds: gen_s,
            generate_peak_bytes: gen_rss,
            analyze_seconds: ana_s,
            analyze_peak_bytes: ana_rss,
        };
        progress(&point);
        points.push(point);
        let _ = std::fs::remove_dir_all(&reports);
        if !keep_data {
            let _ = std::fs::remove_dir_all(&data);
        }
    }
    let _ = std::fs::remove_dir(stage.path().join("data"));
    let command = format!("blastradius bench scaling --users {}", list(users));
    let json = serde_json::json!({ "command": command, "machine": machine(), "points": points });
    let write = |name: &str, text: String| write_output(&stage, out, name, text);
    write(
        "scaling.json",
        serde_json::to_string_pretty(&json).expect("serializes") + "\n",
    )?;
    write("scaling.md", markdown(&command, &points))?;
    write("scaling.html", html(&command, &points))?;
    stage.commit()?;
    Ok(points)
}

/// The run as a document: the answer, the charts, the table, the method.
fn doc(command: &str, points: &[Point]) -> Doc {
    let rows = points
        .iter()
        .map(|p| {
            vec![
                p.users.to_string(),
                p.events.to_string(),
                format!("{:.1}", p.bytes as f64 / 1048576.0),
                format!("{:.2}", p.generate_seconds),
                format!("{:.2}M", p.events as f64 / p.generate_seconds / 1e6),
                format!("{:.0}", p.generate_peak_bytes as f64 / 1048576.0),
                format!("{:.2}", p.analyze_seconds),
                format!("{:.2}M", p.events as f64 / p.analyze_seconds / 1e6),
                format!("{:.0}", p.analyze_peak_bytes as f64 / 1048576.0),
            ]
        })
        .collect();
    Doc {
        title: "Scaling: generate and analyze (exact)".into(),
        headline: Some(headline(points)),
        blocks: vec![
            Block::Paragraph(format!(
                "`{command}` on {}. Whole-process wall time and peak memory of one run each.",
                machine()
            )),
            Block::Charts(charts(points)),
            Block::Table(Table {
                caption: None,
                columns: vec![
                    Column::number("users"),
                    Column::number("events"),
                    Column::number("on disk (MiB)"),
                    Column::number("generate s"),
                    Column::number("generate events/s"),
                    Column::number("generate peak (MiB)"),
                    Column::number("analyze s"),
                    Column::number("analyze events/s"),
                    Column::number("analyze peak (MiB)"),
                ],
                rows,
            }),
            Block::Paragraph("Charts: [scaling.html](scaling.html).".into()),
        ],
        method: vec![format!(
            "`{command}` on {}: each size generated and analyzed by `blastradius` child processes, timed whole (wall clock) with their peak resident memory from `wait4`; one run per size.",
            machine()
        )],
    }
}

/// How time grows with users (the slope of the log-log line from the smallest run to the
/// largest: 1.0 is linear) and what the largest run cost.
fn headline(points: &[Point]) -> String {
    let (Some(a), Some(b)) = (points.first(), points.last()) else {
        return "No run.".into();
    };
    let slope = |ta: f64, tb: f64| {
        let dx = (b.users as f64).ln() - (a.users as f64).ln();
        match dx > 0.0 && ta > 0.0 && tb > 0.0 {
            true => format!("{:.2}", (tb.ln() - ta.ln()) / dx),
            false => "–".into(),
        }
    };
    format!(
        "At {} users: generate {:.2} s ({:.0} MiB peak), analyze (exact) {:.2} s ({:.0} MiB peak); wall time grows as users to the power {} (generate) and {} (analyze) from {} users, 1.00 being linear.",
        b.users,
        b.generate_seconds,
        b.generate_peak_bytes as f64 / 1048576.0,
        b.analyze_seconds,
        b.analyze_peak_bytes as f64 / 1048576.0,
        slope(a.generate_seconds, b.generate_seconds),
        slope(a.analyze_seconds, b.analyze_seconds),
        a.users
    )
}

fn markdown(command: &str, points: &[Point]) -> String {
    doc(command, points).to_markdown()
}

/// The charts: wall time (log-log) and peak memory (linear, so a flat line reads as
/// bounded memory) against users.
pub fn charts(points: &[Point]) -> Vec<Chart> {
    let series = |f: &dyn Fn(&Point) -> f64| -> Vec<(f64, f64)> {
        points.iter().map(|p| (p.users as f64, f(p))).collect()
    };
    vec![
        Chart {
            title: "Wall time".into(),
            x_label: "users (log scale)".into(),
            y_label: "seconds (log scale)".into(),
            x: Axis::Log,
            y_log: true,
            value_labels: true,
            series: vec![
                Series::new("analyze (exact)", series(&|p| p.analyze_seconds)),
                Series::new("generate", series(&|p| p.generate_seconds)),
            ],
            ..Chart::default()
        },
        Chart {
            title: "Peak memory".into(),
            x_label: "users (log scale)".into(),
            y_label: "MiB".into(),
            x: Axis::Log,
            value_labels: true,
            y_range: Some((
                0.0,
                points
                    .iter()
                    .map(|p| p.generate_peak_bytes.max(p.analyze_peak_bytes) as f64 / 1048576.0)
                    .fold(1.0, f64::max)
                    * 1.2,
            )),
            series: vec![
                Series::new(
                    "analyze (exact)",
                    series(&|p| p.analyze_peak_bytes as f64 / 1048576.0),
                ),
                Series::new(
                    "generate",
                    series(&|p| p.generate_peak_bytes as f64 / 1048576.0),
                ),
            ],
            ..Chart::default()
        },
    ]
}

fn html(command: &str, points: &[Point]) -> String {
    doc(command, points).to_html()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dataset_without_a_readable_manifest_is_an_error_not_zeros() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let err = |d: &Path| written_manifest(d).unwrap_err().to_string();
        assert!(err(&dir).contains("manifest.json"), "{}", err(&dir));
        std::fs::write(dir.join("manifest.json"), "{\"counts\": {}}").unwrap();
        assert!(err(&dir).contains("no figure can be made"), "{}", err(&dir));
        assert_eq!(list(&[1, 10, 100]), "1,10,100");
    }
}
