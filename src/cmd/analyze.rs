//! `blastradius analyze`: replay a dataset with detectors and score them against the truth.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use blastradius_analyzer::detect::Settings;
use blastradius_analyzer::report::{DetectorReport, Report, Window, app_tables};
use blastradius_analyzer::{analyze, dataset::Dataset, output, score::Truth};

use super::util::{bytes, peak_rss_bytes, si};

/// Replay a dataset's event log with detection algorithms, and score them against truth/.
///
/// Writes, under --out: report.json, report.md, and per detector the detected exposures,
/// affected_users, affected_apps and message_violations as Parquet.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The dataset folder (written by `blastradius generate`).
    pub dataset: PathBuf,

    /// Which detector: exact (event-sourced replay), naive (the "up to" bound), streaming
    /// (one pass, bounded state: see --memory-limit), sql (DataFusion; only in builds with
    /// `--features datafusion`), or all.
    #[arg(long, default_value = "all")]
    pub detector: String,

    /// Worker threads, each replaying one shard at a time (memory follows shard size).
    /// Default: the number of cores.
    #[arg(long)]
    pub threads: Option<usize>,

    /// Output folder. Default: data/generated/reports/<dataset folder name>.
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// Check every file's SHA-256 against the manifest before replay (reads everything once).
    #[arg(long)]
    pub verify: bool,

    /// State budget per shard of the streaming detector, in bytes (e.g. 8000000). Less memory
    /// keeps fewer photos per user and misses exposures deep in heavy users' albums.
    #[arg(long, default_value_t = blastradius_analyzer::streaming::DEFAULT_LIMIT)]
    pub memory_limit: u64,
}

/// The detectors `--detector` names.
pub fn detector_names(flag: &str) -> Result<Vec<&'static str>> {
    let known = analyze::detector_names();
    match flag {
        "all" => Ok(known),
        "sql" if !known.contains(&"sql") => bail!(
            "--detector sql: this build has no DataFusion; build with `cargo build --release --features datafusion`"
        ),
        name => match known.iter().find(|d| **d == name) {
            Some(d) => Ok(vec![*d]),
            None => bail!(
                "--detector {name}: unknown detector; use one of {}, or all",
                known.join(", ")
            ),
        },
    }
}

/// The default report folder for a dataset.
pub fn default_out(dataset: &Path) -> PathBuf {
    let name = dataset
        .file_name()
        .map_or("dataset".into(), |n| n.to_string_lossy().into_owned());
    PathBuf::from("data/generated/reports").join(name)
}

pub fn run(args: Args) -> Result<()> {
    let names = detector_names(&args.detector)?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads == 0 {
        bail!("--threads: must be at least 1");
    }
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&args.dataset));
    let mut out = std::io::stdout().lock();
    let settings = Settings {
        memory_limit: args.memory_limit,
    };
    analyze_dataset(
        &args.dataset,
        &names,
        &settings,
        threads,
        &out_dir,
        args.verify,
        &mut out,
    )?;
    Ok(())
}

/// Runs `names` over the dataset, writes every output under `out_dir`, prints the summary.
pub fn analyze_dataset(
    root: &Path,
    names: &[&str],
    settings: &Settings,
    threads: usize,
    out_dir: &Path,
    verify: bool,
    out: &mut impl Write,
) -> Result<Report> {
    let dataset = Dataset::open(root)?;
    if verify {
        dataset.verify()?;
    }
    if !dataset.manifest.complete {
        writeln!(
            out,
            "note: {} holds one shard of a larger dataset; cross-shard figures (naive's calling apps) cover it alone",
            root.display()
        )?;
    }
    let truth = if dataset.has_truth() {
        Some(Truth::read(&dataset)?)
    } else {
        writeln!(
            out,
            "note: {} has no truth/; detections are not scored",
            root.display()
        )?;
        None
    };
    let providers = output::providers(&dataset)?;
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("--out {}: cannot create the folder", out_dir.display()))?;
    writeln!(
        out,
        "{:8} {:>10} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>12} {:>8} {:>10}",
        "detector",
        "users",
        "exposures",
        "violations",
        "user P",
        "user R",
        "user F1",
        "exp F1",
        "events/s",
        "wall s",
        "peak mem"
    )?;
    let mut reports = Vec::new();
    let mut app_counts = Vec::new();
    let mut window = None;
    for &name in names {
        let result = analyze::run_named(&dataset, name, settings, threads, truth.as_ref())?;
        window = window.or(result.findings.bug_window);
        let counts = output::app_counts(&result.findings, &providers);
        let files = output::write_findings(&out_dir.join(name), &result.findings, &counts)?;
        let s = result.summary();
        let peak = peak_rss_bytes();
        let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.4}"));
        let scores = s.scores.as_ref();
        writeln!(
            out,
            "{:8} {:>10} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>12} {:>8.2} {:>10}",
            s.detector,
            s.affected_users,
            s.exposures,
            s.message_violations,
            f(scores.map(|x| x.users.precision)),
            f(scores.map(|x| x.users.recall)),
            f(scores.map(|x| x.users.f1)),
            f(scores.and_then(|x| x.exposures.map(|e| e.f1))),
            si(s.events_per_second),
            s.wall_seconds,
            peak.map_or("?".into(), bytes),
        )?;
        reports.push(DetectorReport {
            summary: s,
            peak_memory_bytes: peak,
            files: files.iter().map(|p| p.display().to_string()).collect(),
        });
        app_counts.push((name.to_string(), counts));
    }
    let truth_apps = truth
        .as_ref()
        .filter(|t| !t.apps.is_empty())
        .map(|t| &t.apps);
    let (apps, provider_rows) = app_tables(truth_apps, &app_counts);
    let report = Report {
        dataset: root.display().to_string(),
        threads,
        complete: dataset.manifest.complete,
        scored: truth.is_some(),
        bug_window: Window::new(window),
        detectors: reports,
        apps,
        providers: provider_rows,
    };
    write_atomic(
        &out_dir.join("report.json"),
        &(serde_json::to_string_pretty(&report)? + "\n"),
    )?;
    write_atomic(&out_dir.join("report.md"), &report.to_markdown())?;
    writeln!(out, "report      {}", out_dir.join("report.md").display())?;
    Ok(report)
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let name = path
        .file_name()
        .map_or("report".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.partial"));
    std::fs::write(&tmp, text).with_context(|| format!("{}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(())
}
