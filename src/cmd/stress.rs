//! `blastradius stress`: sweep fault type × rate × detector, score each against the truth,
//! and keep `report.json` plus one self-contained HTML page of SVG charts.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use blastradius_analyzer::detect::Settings;
use blastradius_analyzer::{analyze, dataset::Dataset, score::Truth, streaming};
use blastradius_simulator::perturb::{Faults, perturb};
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

/// Stress-test the detectors: damage the dataset's log at several rates, replay, score.
///
/// For drop and duplicate the rate is a probability per event; for reorder and skew it is a
/// share of a day (0.01 = 14.4 minutes of lateness or clock offset); truncate is on for any
/// rate above 0.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The dataset to damage (it is not modified).
    pub dataset: PathBuf,
    /// Output folder. Default: data/generated/stress/<dataset folder name>.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Fault rates to sweep.
    #[arg(long, value_delimiter = ',', default_value = "0,0.001,0.01,0.05")]
    pub rates: Vec<f64>,
    /// State budgets (bytes per shard) for the streaming detector's memory-accuracy curve.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "250000,1000000,4000000,16000000,64000000"
    )]
    pub memory_limits: Vec<u64>,
    /// Worker threads. Default: the number of cores.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Seed of the damage.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

const FAULTS: &[&str] = &["drop", "duplicate", "reorder", "skew", "truncate"];
const DETECTORS: &[&str] = &["exact", "naive", "streaming"];
const DAY_US: f64 = 86_400e6;

/// One point of the sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    pub fault: String,
    pub rate: f64,
    pub detector: String,
    pub user_precision: f64,
    pub user_recall: f64,
    pub user_f1: f64,
    pub exposure_f1: Option<f64>,
    pub events_per_second: f64,
}

/// One point of the streaming detector's memory-accuracy curve (clean log).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryPoint {
    pub memory_limit: u64,
    pub state_bytes: u64,
    pub photos_per_user: u64,
    pub user_f1: f64,
    pub exposure_f1: f64,
}

/// What the page draws, and `report.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StressReport {
    pub dataset: String,
    pub seed: u64,
    pub sweep: Vec<SweepPoint>,
    pub memory: Vec<MemoryPoint>,
}

fn faults_for(fault: &str, rate: f64, seed: u64) -> Faults {
    let mut f = Faults {
        drop: 0.0,
        duplicate: 0.0,
        reorder_us: 0,
        skew_us: 0,
        truncate: false,
        seed,
    };
    match fault {
        "drop" => f.drop = rate,
        "duplicate" => f.duplicate = rate,
        "reorder" => f.reorder_us = (rate * DAY_US) as i64,
        "skew" => f.skew_us = (rate * DAY_US) as i64,
        _ => f.truncate = rate > 0.0,
    }
    f
}

pub fn run(args: Args) -> Result<()> {
    if args.rates.iter().any(|r| !(0.0..=1.0).contains(r)) {
        bail!("--rates: every rate must be in [0, 1]");
    }
    if args.memory_limits.contains(&0) {
        bail!("--memory-limits: budgets must be positive");
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let clean = Dataset::open(&args.dataset)?;
    if !clean.has_truth() {
        bail!(
            "{}: stress needs the truth/ of a generated dataset to score against",
            args.dataset.display()
        );
    }
    let out = args.out.clone().unwrap_or_else(|| {
        let name = args
            .dataset
            .file_name()
            .map_or("dataset".into(), |n| n.to_string_lossy().into_owned());
        PathBuf::from("data/generated/stress").join(name)
    });
    std::fs::create_dir_all(&out)
        .with_context(|| format!("--out {}: cannot create", out.display()))?;
    let work = out.join("work");
    let truth = Truth::read(&clean)?;
    let mut stdout = std::io::stdout().lock();
    let mut sweep = Vec::new();
    // Rate 0 is the clean log whatever the fault: it is replayed once and shared.
    let mut clean_points: Vec<SweepPoint> = Vec::new();
    for &fault in FAULTS {
        for &rate in &args.rates {
            if fault == "truncate"
                && rate > 0.0
                && rate != args.rates.iter().cloned().fold(0.0, f64::max)
            {
                continue; // truncation has no rate: one damaged point is enough
            }
            if rate == 0.0 && !clean_points.is_empty() {
                sweep.extend(clean_points.iter().map(|p| SweepPoint {
                    fault: fault.into(),
                    ..p.clone()
                }));
                continue;
            }
            let damaged = if rate == 0.0 {
                args.dataset.clone()
            } else {
                let path = work.join(format!("{fault}-{rate}"));
                perturb(
                    &args.dataset,
                    &path,
                    &faults_for(fault, rate, args.seed),
                    true,
                )?;
                path
            };
            let ds = Dataset::open(&damaged)?;
            for &detector in DETECTORS {
                let run =
                    analyze::run_named(&ds, detector, &Settings::default(), threads, Some(&truth))?;
                let s = run.scores.as_ref().expect("scored against the truth");
                let point = SweepPoint {
                    fault: fault.into(),
                    rate,
                    detector: detector.into(),
                    user_precision: s.users.precision,
                    user_recall: s.users.recall,
                    user_f1: s.users.f1,
                    exposure_f1: s.exposures.map(|e| e.f1),
                    events_per_second: run.events as f64 / run.wall_seconds.max(1e-9),
                };
                writeln!(
                    stdout,
                    "{fault:9} {rate:>6} {detector:9} user F1 {:.4}  exposure F1 {}  {:.1}M events/s",
                    point.user_f1,
                    point.exposure_f1.map_or("-".into(), |f| format!("{f:.4}")),
                    point.events_per_second / 1e6
                )?;
                if rate == 0.0 {
                    clean_points.push(point.clone());
                }
                sweep.push(point);
            }
            if rate > 0.0 {
                std::fs::remove_dir_all(&damaged).ok();
            }
        }
    }
    let mut memory = Vec::new();
    for &limit in &args.memory_limits {
        let run = analyze::run_named(
            &clean,
            "streaming",
            &Settings {
                memory_limit: limit,
            },
            threads,
            Some(&truth),
        )?;
        let s = run.scores.as_ref().expect("scored");
        let point = MemoryPoint {
            memory_limit: limit,
            state_bytes: run
                .findings
                .unresolved
                .get(streaming::STATE_BYTES)
                .copied()
                .unwrap_or(0),
            photos_per_user: run
                .findings
                .unresolved
                .get(streaming::DEPTH)
                .copied()
                .unwrap_or(0),
            user_f1: s.users.f1,
            exposure_f1: s.exposures.map_or(0.0, |e| e.f1),
        };
        writeln!(
            stdout,
            "streaming limit {limit:>10} B: state {:>10} B, {:>4} photos/user, user F1 {:.4}, exposure F1 {:.4}",
            point.state_bytes, point.photos_per_user, point.user_f1, point.exposure_f1
        )?;
        memory.push(point);
    }
    std::fs::remove_dir_all(&work).ok();
    let report = StressReport {
        dataset: args.dataset.display().to_string(),
        seed: args.seed,
        sweep,
        memory,
    };
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    std::fs::write(out.join("stress.html"), page(&report)?)?;
    writeln!(stdout, "page        {}", out.join("stress.html").display())?;
    Ok(())
}

fn svg(
    width: u32,
    height: u32,
    draw: impl FnOnce(DrawingArea<SVGBackend, plotters::coord::Shift>) -> Result<()>,
) -> Result<String> {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        draw(root)?;
    }
    Ok(text)
}

/// One chart of the page: what is drawn, as data. The page draws these and embeds them as
/// JSON, so a test can check the drawn points against `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    pub title: String,
    pub x: String,
    pub y: String,
    pub series: Vec<Series>,
}

/// A named line (or, for throughput, a bar per point) of `(x, y)` points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// The charts of a report: F1 against rate per fault, throughput on the clean log, and the
/// streaming detector's state against accuracy.
pub fn charts(report: &StressReport) -> Vec<Chart> {
    let mut out = Vec::new();
    for &fault in FAULTS {
        let series: Vec<Series> = DETECTORS
            .iter()
            .map(|&d| Series {
                name: d.into(),
                points: report
                    .sweep
                    .iter()
                    .filter(|p| p.fault == fault && p.detector == d)
                    .map(|p| (p.rate, p.user_f1))
                    .collect(),
            })
            .filter(|s| !s.points.is_empty())
            .collect();
        if !series.is_empty() {
            out.push(Chart {
                title: format!("F1 (users) under {fault}"),
                x: "fault rate".into(),
                y: "F1".into(),
                series,
            });
        }
    }
    let clean = |d: &str| {
        report
            .sweep
            .iter()
            .find(|p| p.detector == d && p.rate == 0.0)
            .map(|p| p.events_per_second / 1e6)
    };
    out.push(Chart {
        title: "Throughput on the clean log".into(),
        x: "detector".into(),
        y: "M events/s".into(),
        series: DETECTORS
            .iter()
            .enumerate()
            .filter_map(|(i, &d)| {
                clean(d).map(|v| Series {
                    name: d.into(),
                    points: vec![(i as f64, v)],
                })
            })
            .collect(),
    });
    let mib = |b: u64| b.max(1) as f64 / 1048576.0;
    out.push(Chart {
        title: "streaming: state size against accuracy".into(),
        x: "peak state, MiB (largest shard)".into(),
        y: "F1".into(),
        series: vec![
            Series {
                name: "users".into(),
                points: report
                    .memory
                    .iter()
                    .map(|m| (mib(m.state_bytes), m.user_f1))
                    .collect(),
            },
            Series {
                name: "exposures".into(),
                points: report
                    .memory
                    .iter()
                    .map(|m| (mib(m.state_bytes), m.exposure_f1))
                    .collect(),
            },
        ],
    });
    out
}

fn draw_rates(chart: &Chart) -> Result<String> {
    let mut rates: Vec<f64> = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    // Rates are drawn at evenly spaced positions, labelled with their value.
    let x_of = |rate: f64| rates.iter().position(|r| *r == rate).unwrap_or(0) as f64;
    svg(420, 300, |root| {
        let mut c = ChartBuilder::on(&root)
            .caption(&chart.title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(45)
            .build_cartesian_2d(-0.2..(rates.len() as f64 - 0.8).max(0.2), 0.0..1.05)?;
        c.configure_mesh()
            .x_labels(rates.len().max(1))
            .x_label_formatter(&|x| {
                rates
                    .get(x.round() as usize)
                    .map_or(String::new(), |r| format!("{r}"))
            })
            .x_desc(&chart.x)
            .y_desc(&chart.y)
            .light_line_style(WHITE)
            .draw()?;
        for (k, s) in chart.series.iter().enumerate() {
            let color = Palette99::pick(k).to_rgba();
            let data: Vec<(f64, f64)> = s.points.iter().map(|p| (x_of(p.0), p.1)).collect();
            c.draw_series(LineSeries::new(data.clone(), color.stroke_width(2)))?
                .label(&s.name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(2))
                });
            c.draw_series(data.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
        }
        c.configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .border_style(BLACK)
            .background_style(WHITE)
            .draw()?;
        Ok(())
    })
}

fn draw_bars(chart: &Chart) -> Result<String> {
    let n = chart.series.len();
    let max = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0, f64::max)
        * 1.2;
    svg(420, 300, |root| {
        let mut c = ChartBuilder::on(&root)
            .caption(&chart.title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(45)
            .build_cartesian_2d(-0.5..(n as f64 - 0.5).max(0.5), 0.0..max.max(1.0))?;
        c.configure_mesh()
            .x_labels(n.max(1))
            .x_label_formatter(&|x| {
                chart
                    .series
                    .get(x.round() as usize)
                    .map_or(String::new(), |s| s.name.clone())
            })
            .y_desc(&chart.y)
            .light_line_style(WHITE)
            .draw()?;
        c.draw_series(chart.series.iter().enumerate().map(|(k, s)| {
            let color = Palette99::pick(k).to_rgba();
            let (x, y) = s.points[0];
            Rectangle::new([(x - 0.3, 0.0), (x + 0.3, y)], color.filled())
        }))?;
        Ok(())
    })
}

fn draw_memory(chart: &Chart) -> Result<String> {
    let xs = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0));
    let (lo, hi) = (
        xs.clone().fold(f64::INFINITY, f64::min),
        xs.fold(0.0, f64::max),
    );
    let (lo, hi) = if lo.is_finite() {
        (lo * 0.8, hi * 1.25 + 1e-9)
    } else {
        (0.1, 1.0)
    };
    svg(420, 300, |root| {
        let mut c = ChartBuilder::on(&root)
            .caption(&chart.title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(45)
            .build_cartesian_2d((lo..hi).log_scale(), 0.0..1.05)?;
        c.configure_mesh()
            .x_desc(&chart.x)
            .y_desc(&chart.y)
            .light_line_style(WHITE)
            .draw()?;
        for (k, s) in chart.series.iter().enumerate() {
            let color = Palette99::pick(k).to_rgba();
            c.draw_series(LineSeries::new(s.points.clone(), color.stroke_width(2)))?
                .label(&s.name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(2))
                });
            c.draw_series(s.points.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
        }
        c.configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .border_style(BLACK)
            .background_style(WHITE)
            .draw()?;
        Ok(())
    })
}

/// The page: the charts of [`charts`] as inline SVG, a table of F1 by detector and fault,
/// and the chart data embedded as JSON.
pub fn page(report: &StressReport) -> Result<String> {
    let all = charts(report);
    let mut svgs = Vec::new();
    for chart in &all {
        svgs.push(match chart.x.as_str() {
            "fault rate" => draw_rates(chart)?,
            "detector" => draw_bars(chart)?,
            _ => draw_memory(chart)?,
        });
    }
    let mut rows = String::new();
    for &d in DETECTORS {
        rows.push_str(&format!("<tr><th>{d}</th>"));
        for &fault in FAULTS {
            for p in report
                .sweep
                .iter()
                .filter(|p| p.detector == d && p.fault == fault && p.rate > 0.0)
            {
                rows.push_str(&format!("<td>{:.3}</td>", p.user_f1));
            }
        }
        rows.push_str("</tr>\n");
    }
    let mut head = String::from("<tr><th>detector</th>");
    for &fault in FAULTS {
        for p in report
            .sweep
            .iter()
            .filter(|p| p.detector == DETECTORS[0] && p.fault == fault && p.rate > 0.0)
        {
            head.push_str(&format!("<th>{fault} {}</th>", p.rate));
        }
    }
    head.push_str("</tr>");
    let data = serde_json::to_string(&all)?.replace("</", "<\\/");
    Ok(format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>blastradius stress: {name}</title>\n\
         <style>body{{font-family:sans-serif;margin:2em;max-width:1320px}}figure{{display:inline-block;margin:6px}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}</style></head>\n\
         <body><h1>Detectors under a damaged log</h1>\n<p>Dataset <code>{name}</code>, damage seed {seed}. F1 at user level \
         against the truth; for reorder and skew the rate is a share of a day.</p>\n\
         <table>{head}\n{rows}</table>\n{charts}\n\
         <script type=\"application/json\" id=\"chart-data\">{data}</script>\n</body></html>\n",
        name = html(&report.dataset),
        seed = report.seed,
        charts = svgs
            .iter()
            .map(|c| format!("<figure>{c}</figure>"))
            .collect::<Vec<_>>()
            .join("\n"),
    ))
}

fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
