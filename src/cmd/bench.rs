//! `blastradius bench`: the scaling run.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use super::util::Stdout;

/// Benchmarks kept as runs: the scaling run and the detectors' leaderboard.
#[derive(Debug, clap::Subcommand)]
pub enum Args {
    /// Every built-in detector and every --exec command on every preset, clean and under
    /// the default damage: user and exposure F1, events/s and peak memory of each whole
    /// process. Writes leaderboard.{json,md,html} under --out.
    Detectors {
        /// Presets (or scenario files), comma-separated.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "facebook-2018,messaging-partners,shallow-paging"
        )]
        scenarios: Vec<String>,
        /// Users of each generated dataset.
        #[arg(long, default_value_t = 200_000, value_parser = super::util::whole::<u64>)]
        users: u64,
        /// Seed of each generated dataset.
        #[arg(long, default_value_t = 7, value_parser = super::util::whole::<u64>)]
        seed: u64,
        /// Built-in detectors, comma-separated, or `none`.
        #[arg(long, value_delimiter = ',', default_value = "exact,naive,streaming")]
        detectors: Vec<String>,
        /// An outside detector: a shell command with {dataset} and {out} (see `stress`).
        #[arg(long, value_name = "CMD")]
        exec: Vec<String>,
        /// The name of each --exec detector, in order.
        #[arg(long)]
        name: Vec<String>,
        /// Seconds an outside detector may run on one dataset.
        #[arg(long, default_value_t = 3600, value_parser = super::util::whole::<u64>)]
        timeout: u64,
        /// Results folder. Default: benches/runs/<date>-<cores>c-<memory>g/leaderboard.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an earlier leaderboard at --out.
        #[arg(long)]
        force: bool,
        /// Keep the generated datasets and findings (under --out/data).
        #[arg(long)]
        keep_data: bool,
    },
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
    let (users, out, force, keep_data) = match args {
        Args::Scaling {
            users,
            out,
            force,
            keep_data,
        } => (users, out, force, keep_data),
        Args::Detectors {
            scenarios,
            users,
            seed,
            detectors,
            exec,
            name,
            timeout,
            out,
            force,
            keep_data,
        } => {
            return detectors_board(
                scenarios, users, seed, detectors, exec, name, timeout, out, force, keep_data,
            );
        }
    };
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

#[allow(clippy::too_many_arguments)]
fn detectors_board(
    scenarios: Vec<String>,
    users: u64,
    seed: u64,
    detectors: Vec<String>,
    exec: Vec<String>,
    names: Vec<String>,
    timeout: u64,
    out: Option<PathBuf>,
    force: bool,
    keep_data: bool,
) -> Result<()> {
    use blastradius_harness::exec::ExecDetector;
    if users == 0 {
        bail!("--users: give at least 1");
    }
    if names.len() > exec.len() {
        bail!(
            "--name: {} names for {} --exec commands; give one per command, in order",
            names.len(),
            exec.len()
        );
    }
    for s in &scenarios {
        super::util::load_scenario(s)?;
    }
    let known = blastradius_analyzer::analyze::detector_names();
    let detectors: Vec<String> = detectors.into_iter().filter(|d| d != "none").collect();
    if let Some(d) = detectors.iter().find(|d| !known.contains(&d.as_str())) {
        bail!(
            "--detectors {d}: unknown detector; use some of {}, or none",
            known.join(", ")
        );
    }
    let exec = exec
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let name = names.get(i).cloned().unwrap_or(format!("exec-{}", i + 1));
            ExecDetector::new(name, c.clone()).map_err(anyhow::Error::msg)
        })
        .collect::<Result<Vec<_>>>()?;
    let out = out.unwrap_or_else(|| runs_dir().join("leaderboard"));
    let options = blastradius_harness::leaderboard::Options {
        exe: std::env::current_exe().context("cannot find this executable")?,
        scenarios,
        users,
        seed,
        detectors,
        exec,
        timeout: std::time::Duration::from_secs(timeout.max(1)),
        out: out.clone(),
        force,
        keep_data,
    };
    let mut stdout = Stdout::default();
    let f = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.3}"));
    blastradius_harness::leaderboard::run(&options, |e| {
        let _ = match &e.failure {
            Some(why) => writeln!(
                stdout,
                "{:20} {:8} {:18} failed: {why}",
                e.scenario, e.condition, e.detector
            ),
            None => writeln!(
                stdout,
                "{:20} {:8} {:18} user F1 {}  exposure F1 {}  {:.2}M events/s  {:.0} MiB",
                e.scenario,
                e.condition,
                e.detector,
                f(e.user_f1),
                f(e.exposure_f1),
                e.events_per_second / 1e6,
                e.peak_memory_bytes as f64 / 1048576.0
            ),
        };
    })?;
    writeln!(stdout, "kept in {}", out.display())?;
    Ok(())
}
