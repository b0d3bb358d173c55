//! `blastradius bench`: the scaling run. Generates and analyzes datasets of growing size in
//! child processes (so each one's peak memory is its own), then keeps a table and a chart.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use plotters::prelude::*;
use serde::Serialize;

/// Measure how generation and replay grow with the number of users.
#[derive(Debug, clap::Subcommand)]
pub enum Args {
    /// Generate and analyze (exact) datasets of each size; write scaling.{json,md,svg}.
    Scaling {
        /// Comma-separated numbers of users.
        #[arg(
            long,
            default_value = "10000,100000,1000000,10000000",
            value_delimiter = ','
        )]
        users: Vec<u64>,
        /// Results folder. Default: benches/runs/<date>-<cores>c-<memory>g.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Keep the generated datasets (under data/generated/scaling-<users>).
        #[arg(long)]
        keep_data: bool,
    },
}

/// One size's figures.
#[derive(Debug, Serialize)]
struct Point {
    users: u64,
    events: u64,
    bytes: u64,
    generate_seconds: f64,
    generate_peak_bytes: u64,
    analyze_seconds: f64,
    analyze_peak_bytes: u64,
}

/// Runs `args` as a child of this executable; returns wall seconds and its peak RSS.
fn child(args: &[&str]) -> Result<(f64, u64)> {
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let started = Instant::now();
    let child = Command::new(exe)
        .args(args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("cannot start a child blastradius")?;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pid is our child's, and both out-pointers are valid for writes.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = started.elapsed().as_secs_f64();
    if pid < 0 || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("`blastradius {}` failed", args.join(" "));
    }
    Ok((wall, usage.ru_maxrss as u64 * 1024))
}

/// The folder results of today's runs on this machine go to.
pub fn runs_dir() -> PathBuf {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal"))
                .map(str::to_string)
        })
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / (1u64 << 20) as f64);
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64 / 86_400);
    let date = &blastradius_schema::time::format_utc(days * blastradius_schema::time::DAY)[..10];
    PathBuf::from(format!("benches/runs/{date}-{cores}c-{}g", mem_gib.round()))
}

fn machine() -> String {
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

pub fn run(args: Args) -> Result<()> {
    let Args::Scaling {
        users,
        out,
        keep_data,
    } = args;
    if users.is_empty() || users.contains(&0) {
        bail!("--users: give positive numbers, e.g. --users 10000,100000");
    }
    let out = out.unwrap_or_else(runs_dir);
    std::fs::create_dir_all(&out)
        .with_context(|| format!("--out {}: cannot create", out.display()))?;
    let mut stdout = std::io::stdout().lock();
    let mut points = Vec::new();
    for &n in &users {
        let data = PathBuf::from(format!("data/generated/scaling-{n}"));
        let reports = PathBuf::from(format!("data/generated/reports/scaling-{n}"));
        let n_text = n.to_string();
        let (gen_s, gen_rss) = child(&[
            "generate",
            "--users",
            &n_text,
            "--out",
            path(&data)?,
            "--force",
        ])?;
        let (ana_s, ana_rss) = child(&[
            "analyze",
            path(&data)?,
            "--detector",
            "exact",
            "--out",
            path(&reports)?,
        ])?;
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(data.join("manifest.json"))?)?;
        let events = manifest["counts"]["events"].as_u64().unwrap_or(0);
        let bytes = manifest["files"]
            .as_array()
            .map_or(0, |f| f.iter().filter_map(|x| x["bytes"].as_u64()).sum());
        writeln!(
            stdout,
            "{n:>10} users: {events:>12} events, generate {gen_s:7.2} s ({:6.0} MiB), analyze {ana_s:7.2} s ({:6.0} MiB)",
            gen_rss as f64 / 1048576.0,
            ana_rss as f64 / 1048576.0
        )?;
        points.push(Point {
            users: n,
            events,
            bytes,
            generate_seconds: gen_s,
            generate_peak_bytes: gen_rss,
            analyze_seconds: ana_s,
            analyze_peak_bytes: ana_rss,
        });
        if !keep_data {
            let _ = std::fs::remove_dir_all(&data);
        }
    }
    let command = format!(
        "blastradius bench scaling --users {}",
        users
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    let json = serde_json::json!({ "command": command, "machine": machine(), "points": points });
    std::fs::write(
        out.join("scaling.json"),
        serde_json::to_string_pretty(&json)? + "\n",
    )?;
    let mut md = format!(
        "# Scaling: generate and analyze (exact)\n\n`{command}` on {}. Whole-process wall time and peak memory of one run each.\n\n\
         | users | events | on disk | generate s | generate events/s | generate peak | analyze s | analyze events/s | analyze peak |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        machine()
    );
    for p in &points {
        md.push_str(&format!(
            "| {} | {} | {:.0} MiB | {:.2} | {:.2}M | {:.0} MiB | {:.2} | {:.2}M | {:.0} MiB |\n",
            p.users,
            p.events,
            p.bytes as f64 / 1048576.0,
            p.generate_seconds,
            p.events as f64 / p.generate_seconds / 1e6,
            p.generate_peak_bytes as f64 / 1048576.0,
            p.analyze_seconds,
            p.events as f64 / p.analyze_seconds / 1e6,
            p.analyze_peak_bytes as f64 / 1048576.0
        ));
    }
    md.push_str("\n![scaling](scaling.svg)\n");
    std::fs::write(out.join("scaling.md"), md)?;
    chart(&out.join("scaling.svg"), &points)?;
    writeln!(stdout, "kept in {}", out.display())?;
    Ok(())
}

/// `10000` as `10k`, `0.25` as `0.25`.
fn short(x: f64) -> String {
    match x {
        x if x >= 1e6 => format!("{}M", x / 1e6),
        x if x >= 1e3 => format!("{}k", x / 1e3),
        x if x >= 1.0 => format!("{x:.0}"),
        x => format!("{x}"),
    }
}

fn path(p: &Path) -> Result<&str> {
    p.to_str().context("paths must be UTF-8")
}

/// Two panels against users (log scale): wall seconds (log scale) and peak MiB (linear,
/// so that a flat line reads as bounded memory).
fn chart(file: &Path, points: &[Point]) -> Result<()> {
    let root = SVGBackend::new(file, (1000, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(500);
    let xs = (points.iter().map(|p| p.users).min().unwrap_or(1) as f64 * 0.8)
        ..(points.iter().map(|p| p.users).max().unwrap_or(10) as f64 * 1.25);
    let series = |f: &dyn Fn(&Point) -> f64| {
        points
            .iter()
            .map(|p| (p.users as f64, f(p)))
            .collect::<Vec<_>>()
    };
    let generate = series(&|p| p.generate_seconds);
    let analyze = series(&|p| p.analyze_seconds);
    let gen_mem = series(&|p| p.generate_peak_bytes as f64 / 1048576.0);
    let ana_mem = series(&|p| p.analyze_peak_bytes as f64 / 1048576.0);
    let extent = |a: &[(f64, f64)], b: &[(f64, f64)]| {
        let ys = a.iter().chain(b).map(|p| p.1);
        (
            ys.clone().fold(f64::INFINITY, f64::min),
            ys.fold(0.0, f64::max),
        )
    };

    let (lo, hi) = extent(&generate, &analyze);
    let mut c = ChartBuilder::on(&left)
        .caption("Wall time", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            xs.clone().log_scale(),
            (lo.max(1e-3) * 0.7..hi * 1.4).log_scale(),
        )?;
    c.configure_mesh()
        .x_desc("users")
        .y_desc("seconds")
        .x_label_formatter(&|x| short(*x))
        .y_label_formatter(&|y| short(*y))
        .light_line_style(WHITE)
        .draw()?;
    for (k, (name, data)) in [("generate", &generate), ("analyze (exact)", &analyze)]
        .into_iter()
        .enumerate()
    {
        let color = Palette99::pick(k).to_rgba();
        c.draw_series(LineSeries::new(data.clone(), color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
        c.draw_series(data.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
    }
    c.configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;

    let (_, hi) = extent(&gen_mem, &ana_mem);
    let mut c = ChartBuilder::on(&right)
        .caption("Peak memory", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(xs.log_scale(), 0.0..hi * 1.2)?;
    c.configure_mesh()
        .x_desc("users")
        .y_desc("MiB")
        .x_label_formatter(&|x| short(*x))
        .light_line_style(WHITE)
        .draw()?;
    for (k, (name, data)) in [("generate", &gen_mem), ("analyze (exact)", &ana_mem)]
        .into_iter()
        .enumerate()
    {
        let color = Palette99::pick(k).to_rgba();
        c.draw_series(LineSeries::new(data.clone(), color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
        c.draw_series(data.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    root.present()?;
    Ok(())
}
