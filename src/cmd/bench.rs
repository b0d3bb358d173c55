//! `blastradius bench`: the scaling run.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use super::util::Stdout;

/// Measure how generation and replay grow with the number of users.
#[derive(Debug, clap::Subcommand)]
pub enum Args {
    /// Generate and analyze (exact) datasets of each size in child processes; write
    /// scaling.{json,md,html} under --out, and nothing anywhere else.
    Scaling {
        /// Comma-separated numbers of users.
        #[arg(
            long,
            default_value = "10000,100000,1000000,10000000",
            value_delimiter = ','
        )]
        users: Vec<u64>,
        /// Results folder. Default: benches/runs/<date>-<cores>c-<memory>g/scaling.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an earlier scaling output at --out.
        #[arg(long)]
        force: bool,
        /// Keep the generated datasets (under --out/data).
        #[arg(long)]
        keep_data: bool,
    },
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

pub fn run(args: Args) -> Result<()> {
    let Args::Scaling {
        users,
        out,
        force,
        keep_data,
    } = args;
    if users.is_empty() || users.contains(&0) {
        bail!("--users: give positive numbers, e.g. --users 10000,100000");
    }
    let out = out.unwrap_or_else(|| runs_dir().join("scaling"));
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let mut stdout = Stdout::default();
    blastradius_harness::scaling::run(&exe, &users, &out, force, keep_data, |p| {
        let _ = writeln!(
            stdout,
            "{:>10} users: {:>12} events, generate {:7.2} s ({:6.0} MiB), analyze {:7.2} s ({:6.0} MiB)",
            p.users,
            p.events,
            p.generate_seconds,
            p.generate_peak_bytes as f64 / 1048576.0,
            p.analyze_seconds,
            p.analyze_peak_bytes as f64 / 1048576.0
        );
    })?;
    writeln!(stdout, "kept in {}", out.display())?;
    Ok(())
}
