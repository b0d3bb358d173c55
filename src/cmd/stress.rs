//! `blastradius stress`: sweep fault × level × detector, built-in and outside.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use blastradius_harness::exec::ExecDetector;
use blastradius_harness::stress::{Cell, Fault, Options, Progress, sweep};

use super::perturb::parse_duration;
use super::util::{Stdout, positive, threads, whole};

/// Stress-test detectors: damage the dataset's log at several levels of each fault, run every
/// detector on every damaged copy, score each against the truth.
///
/// Writes report.json and stress.html (charts of user and exposure F1 per fault) under --out.
/// Outside detectors run as commands (--exec) and are scored like the built-in ones; one that
/// fails or hangs is reported in its cell and the sweep goes on. The dataset is not modified.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The dataset to damage (it is not modified).
    pub dataset: PathBuf,
    /// Output folder. Default: data/generated/stress/<dataset folder name>.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace an earlier stress output at --out (never anything else).
    #[arg(long)]
    pub force: bool,
    /// Shares of events dropped, or `none` to leave the fault out.
    #[arg(long, value_delimiter = ',', default_value = "0.001,0.01,0.05")]
    pub drop: Vec<String>,
    /// Shares of events delivered twice, or `none`.
    #[arg(long, value_delimiter = ',', default_value = "0.001,0.01,0.05")]
    pub duplicate: Vec<String>,
    /// How late events may arrive, out of order (durations: 30s, 15m, 2h), or `none`.
    #[arg(long, value_delimiter = ',', default_value = "1m,15m,72m")]
    pub reorder: Vec<String>,
    /// How far each app's clock may be off (durations), or `none`.
    #[arg(long, value_delimiter = ',', default_value = "1m,15m,72m")]
    pub skew: Vec<String>,
    /// Leave out the truncated shard (cut in the middle of the bug window).
    #[arg(long)]
    pub no_truncate: bool,
    /// Built-in detectors to run, comma-separated (exact, naive, streaming; sql in builds
    /// with `--features datafusion`), or `none`.
    #[arg(long, value_delimiter = ',', default_value = "exact,naive,streaming")]
    pub detectors: Vec<String>,
    /// An outside detector, as a shell command with {dataset} (the damaged copy) and {out}
    /// (an empty folder for its findings: see data/README.md, "Findings"). Repeatable.
    #[arg(long, value_name = "CMD")]
    pub exec: Vec<String>,
    /// The name of each --exec detector, in order (default: exec-1, exec-2, ...).
    #[arg(long)]
    pub name: Vec<String>,
    /// Seconds an outside detector may run on one copy before it is killed (3600, as in
    /// `bench detectors`).
    #[arg(long, default_value_t = 3600, value_parser = positive)]
    pub timeout: u64,
    /// State budgets (bytes per shard) for the streaming detector's memory-accuracy curve;
    /// `none` to skip it.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "250000,1000000,4000000,16000000,64000000"
    )]
    pub shard_memory_limits: Vec<String>,
    /// Keep the damaged copies and every detector's findings (under --out/data).
    #[arg(long)]
    pub keep_data: bool,
    /// Worker threads. Default: the number of cores.
    #[arg(long, value_parser = whole::<usize>)]
    pub threads: Option<usize>,
    /// Seed of the damage (not the world's: that is the dataset's own); its default is every
    /// command's (2018).
    #[arg(long, default_value_t = super::generate::DEFAULT_SEED, value_parser = whole::<u64>)]
    pub seed: u64,
    /// The answer key, for a blind dataset.
    #[arg(long, value_name = "KEY")]
    pub truth: Option<PathBuf>,
}

struct Lines(Stdout);

impl Progress for Lines {
    fn cell(&mut self, c: &Cell) {
        let f = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.4}"));
        let _ = match &c.failure {
            Some(why) => writeln!(
                self.0,
                "{:10} {:>14} {:18} failed: {why}",
                c.fault, c.label, c.detector
            ),
            None => writeln!(
                self.0,
                "{:10} {:>14} {:18} user F1 {}  exposure F1 {}  violation F1 {}  {:.2} s",
                c.fault,
                c.label,
                c.detector,
                f(c.user.and_then(|p| p.f1)),
                f(c.exposure.and_then(|p| p.f1)),
                f(c.violation.and_then(|p| p.f1)),
                c.wall_seconds.unwrap_or(0.0)
            ),
        };
    }

    fn note(&mut self, text: &str) {
        let _ = writeln!(self.0, "{text}");
    }
}

fn durations(flag: &str, list: &[String]) -> Result<Vec<f64>> {
    list.iter()
        .filter(|t| t.as_str() != "none")
        .map(|t| Ok(parse_duration(flag, t)? as f64 / 60e6))
        .collect()
}

/// The levels of a fault given as shares of events, `none` left out.
fn shares(flag: &str, list: &[String]) -> Result<Vec<f64>> {
    list.iter()
        .filter(|t| t.as_str() != "none")
        .map(|t| match t.parse::<f64>() {
            Ok(r) if r > 0.0 && r <= 1.0 => Ok(r),
            _ => bail!("{flag} {t}: every level must be a share in (0, 1], or `none`"),
        })
        .collect()
}

pub fn run(args: Args) -> Result<()> {
    if args.name.len() > args.exec.len() {
        bail!(
            "--name: {} names for {} --exec commands; give one per command, in order",
            args.name.len(),
            args.exec.len()
        );
    }
    let exec = args
        .exec
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let name = args
                .name
                .get(i)
                .cloned()
                .unwrap_or(format!("exec-{}", i + 1));
            ExecDetector::new(name, c.clone()).map_err(anyhow::Error::msg)
        })
        .collect::<Result<Vec<_>>>()?;
    let detectors: Vec<String> = args
        .detectors
        .iter()
        .filter(|d| d.as_str() != "none")
        .cloned()
        .collect();
    super::analyze::batch_detectors(&detectors)?;
    blastradius_harness::exec::check_names(&detectors, &exec).map_err(anyhow::Error::msg)?;
    let memory_limits = args
        .shard_memory_limits
        .iter()
        .filter(|t| t.as_str() != "none")
        .map(|t| {
            let v: u64 = whole(t).map_err(|e| anyhow::anyhow!("--shard-memory-limits {t}: {e}"))?;
            super::analyze::memory_limit("--shard-memory-limits", v)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut faults = vec![
        (Fault::Drop, shares("--drop", &args.drop)?),
        (Fault::Duplicate, shares("--duplicate", &args.duplicate)?),
        (Fault::Reorder, durations("--reorder", &args.reorder)?),
        (Fault::Skew, durations("--skew", &args.skew)?),
    ];
    if !args.no_truncate {
        faults.push((Fault::Truncate, vec![1.0]));
    }
    let out = args.out.clone().unwrap_or_else(|| {
        let name = args
            .dataset
            .file_name()
            .map_or("dataset".into(), |n| n.to_string_lossy().into_owned());
        PathBuf::from("data/generated/stress").join(name)
    });
    let options = Options {
        dataset: args.dataset.clone(),
        out: out.clone(),
        force: args.force,
        faults,
        detectors,
        exec,
        timeout: Duration::from_secs(args.timeout.max(1)),
        memory_limits,
        threads: threads(args.threads)?,
        seed: args.seed,
        keep_data: args.keep_data,
        truth_key: args.truth.clone(),
    };
    let mut lines = Lines(Stdout::default());
    let report = sweep(&options, &mut lines)?;
    writeln!(lines.0, "page        {}", out.join("stress.html").display())?;
    let failed = blastradius_harness::stress::failed_everywhere(&report);
    if !failed.is_empty() {
        bail!(
            "{} gave no findings on any copy (every cell failed; the page says why): nothing of it was measured",
            failed.join(", ")
        );
    }
    Ok(())
}
