//! `blastradius analyze`: replay a dataset with detectors and score them against the truth.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use blastradius_analyzer::{analyze, dataset::Dataset, detect, score::Truth};

use super::util::{bytes, peak_rss_bytes, si};

/// Replay a dataset's event log with detection algorithms, and score them against truth/.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The dataset folder (written by `blastradius generate`).
    pub dataset: PathBuf,

    /// Which detector: exact (event-sourced replay), naive (the "up to" bound), or all.
    #[arg(long, default_value = "all")]
    pub detector: String,

    /// Worker threads, each replaying one shard at a time (memory follows shard size).
    /// Default: the number of cores.
    #[arg(long)]
    pub threads: Option<usize>,

    /// Where report.json goes. Default: data/generated/reports/<dataset folder name>.
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// Check every file's SHA-256 against the manifest before replay (reads everything once).
    #[arg(long)]
    pub verify: bool,
}

pub fn run(args: Args) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let names: Vec<&str> = match args.detector.as_str() {
        "all" => detect::ALL.to_vec(),
        name if detect::by_name(name).is_some() => vec![name],
        other => bail!(
            "--detector {other}: unknown detector; use one of {}, or all",
            detect::ALL.join(", ")
        ),
    };
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads == 0 {
        bail!("--threads: must be at least 1");
    }
    let dataset = Dataset::open(&args.dataset)?;
    if args.verify {
        dataset.verify()?;
    }
    if !dataset.manifest.complete {
        writeln!(
            out,
            "note: {} holds one shard of a larger dataset; cross-shard figures (naive's calling apps) cover it alone",
            args.dataset.display()
        )?;
    }
    let truth = if dataset.has_truth() {
        Some(Truth::read(&dataset)?)
    } else {
        writeln!(
            out,
            "note: {} has no truth/; detections are not scored",
            args.dataset.display()
        )?;
        None
    };
    let mut summaries = Vec::new();
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
    for name in names {
        let detector = detect::by_name(name).expect("known detector");
        let result = analyze::run(&dataset, detector.as_ref(), threads, truth.as_ref())?;
        let s = result.summary();
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
            peak_rss_bytes().map_or("?".into(), bytes),
        )?;
        summaries.push(s);
    }
    let out_dir = args.out.clone().unwrap_or_else(|| {
        let name = args
            .dataset
            .file_name()
            .map_or("dataset".into(), |n| n.to_string_lossy().into_owned());
        PathBuf::from("data/generated/reports").join(name)
    });
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("--out {}: cannot create the folder", out_dir.display()))?;
    let report = serde_json::json!({
        "dataset": args.dataset.display().to_string(),
        "threads": threads,
        "scored": truth.is_some(),
        "complete": dataset.manifest.complete,
        "detectors": summaries,
    });
    let path = out_dir.join("report.json");
    let tmp = out_dir.join(".report.json.partial");
    std::fs::write(&tmp, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("{}: cannot write the report", tmp.display()))?;
    std::fs::rename(&tmp, &path)
        .with_context(|| format!("{}: cannot write the report", path.display()))?;
    writeln!(out, "report      {}", path.display())?;
    Ok(())
}
