//! `blastradius discover`: run the built-in discovery detectors, which are not told which
//! deploy was the bug, and score their alarms: how soon, how often wrong, how big at first.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use blastradius_analyzer::discover::{self, DETECTORS, Discovered, Report};
use blastradius_dataset::Dataset;

use super::util::{Stdout, threads};

/// Run discovery detectors over a dataset: each writes alarms (data/README.md §14), which
/// are scored against the truth: time to detect the bug's deploy at each confidence,
/// false alarms per day (on a control world, or before the deploy), whether the alarm
/// blamed the right deploy, and the early estimate of affected users and apps at 24 h and
/// 72 h. Best on a discovery dataset (`generate --discovery`), whose log does not say which
/// deploy was the bug; the built-in detectors never read that either way.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The dataset to watch.
    pub dataset: PathBuf,

    /// Detectors to run, comma-separated: policy-replay (the intended photo rule replayed per
    /// user), aggregate (the platform-wide hourly mean, deliberately naive), token-rate (tokens
    /// the video uploader issues per hour; View-As worlds). Default: every one that applies.
    #[arg(long, value_delimiter = ',')]
    pub detector: Vec<String>,

    /// Score against this answer key (written by `generate --split-truth`) instead of the
    /// dataset's own truth/.
    #[arg(long, value_name = "KEY")]
    pub truth: Option<PathBuf>,

    /// Worker threads, each reading one shard at a time.
    #[arg(long)]
    pub threads: Option<usize>,

    /// Output folder: one alarms folder per detector, discovery.json and discovery.md.
    /// Default: data/generated/discovery/<dataset folder name>.
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// Replace an earlier report at --out (never anything else).
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: Args) -> Result<()> {
    for name in &args.detector {
        if !discover::known(name.trim()) {
            bail!(
                "--detector {name}: no discovery detector is called that; the built-in ones are {} (the scoping detectors, exact and the rest, are `analyze`'s)",
                DETECTORS.iter().map(|d| d.0).collect::<Vec<_>>().join(", ")
            );
        }
    }
    let dataset = Dataset::open(&args.dataset)?;
    // By default every built-in one that applies (token-rate needs a View-As world).
    let names: Vec<String> = match args.detector.is_empty() {
        true => DETECTORS
            .iter()
            .filter(|d| discover::applies(&dataset, d.0))
            .map(|d| d.0.to_string())
            .collect(),
        false => {
            let mut names: Vec<String> = Vec::new();
            for d in &args.detector {
                if !names.iter().any(|n| n == d.trim()) {
                    names.push(d.trim().to_string());
                }
            }
            names
        }
    };
    if let Some(name) = names.iter().find(|n| !discover::applies(&dataset, n)) {
        bail!(
            "--detector {name}: {} has no access log; {name} watches a View-As world's (generate --scenario view-as-2018)",
            args.dataset.display()
        );
    }
    let worlds = worlds_or_note(&dataset, args.truth.as_deref())?;
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("data/generated/discovery").join(folder_name(&args.dataset))
    });
    // Fail on the output before the work.
    blastradius_safefs::check(
        &out,
        blastradius_safefs::Kind::Output("discover"),
        args.force,
        "--out",
        &[&args.dataset],
    )?;
    let threads = threads(args.threads)?;
    let mut found = Vec::new();
    for name in &names {
        found.push(discover::run(&dataset, name, threads)?);
    }
    let report = discover::report(&dataset, worlds.as_ref(), &found, &[], &out, args.force)?;
    print(&report, &found)?;
    println!("report      {}", out.join("discovery.md").display());
    Ok(())
}

fn folder_name(dataset: &Path) -> String {
    dataset
        .canonicalize()
        .unwrap_or_else(|_| dataset.to_path_buf())
        .file_name()
        .map_or("dataset".into(), |n| n.to_string_lossy().into_owned())
}

/// The worlds to score against, or `None` (with a note) for a blind dataset without its key.
pub fn worlds_or_note(dataset: &Dataset, key: Option<&Path>) -> Result<Option<discover::Worlds>> {
    if key.is_none() && dataset.manifest.truth_key.is_some() {
        eprintln!(
            "note: a blind dataset and no --truth KEY: the alarms are written, not scored (score them later with `blastradius score DATASET FOLDER --truth KEY`)"
        );
        return Ok(None);
    }
    Ok(Some(discover::worlds(dataset, key)?))
}

/// The terminal table: one row per detector.
pub fn print(report: &Report, found: &[Discovered]) -> Result<()> {
    let mut out = Stdout::default();
    match (&report.bug_deployed, report.bug_deploy_id) {
        (Some(at), Some(id)) => writeln!(out, "bug deploy  {id} at {at}")?,
        _ if report.truth.is_some() => writeln!(
            out,
            "control     nothing went wrong in this world: every alarm is a false one"
        )?,
        _ => {}
    }
    if let Some(t) = &report.view_as_began {
        writeln!(
            out,
            "View-As     the attack's first theft at {t} (a View-As detector is timed from it)"
        )?;
    }
    let w = report
        .detectors
        .iter()
        .map(|r| r.detector.chars().count())
        .max()
        .unwrap_or(0)
        .max(16);
    writeln!(
        out,
        "{:<w$} {:>7} {:>10} {:>10} {:>10} {:>7} {:>11} {:>11} {:>15} {:>8}",
        "detector",
        "alarms",
        "TTD any",
        "TTD ≥0.5",
        "TTD ≥0.9",
        "blamed",
        "false/d any",
        "false/d≥0.5",
        "24h P/R exp.",
        "wall s"
    )?;
    for (row, d) in report.detectors.iter().zip(found) {
        let wall = d.wall_seconds.map_or("–".into(), |w| format!("{w:.2}"));
        let Some(s) = &row.score else {
            writeln!(
                out,
                "{:<w$} {:>7} {:>10} {:>10} {:>10} {:>7} {:>11} {:>11} {:>15} {:>8}",
                row.detector,
                d.alarms.len(),
                "–",
                "–",
                "–",
                "–",
                "–",
                "–",
                "–",
                wall
            )?;
            continue;
        };
        let at = |t: f64| s.curve.iter().find(|c| c.threshold == t);
        let ttd = |t: f64| discover::duration(at(t).and_then(|c| c.time_to_detect_seconds));
        let per_day = |t: f64| {
            at(t)
                .and_then(|c| c.false_alarms_per_day)
                .map_or("–".into(), |v| format!("{v:.2}"))
        };
        let blamed = at(0.0)
            .and_then(|c| c.attributed)
            .map_or("–", |a| if a { "yes" } else { "no" });
        let estimate = s.estimates.first().map_or("–".into(), |e| {
            let f = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.2}"));
            format!("{}/{}", f(e.user_precision), f(e.user_recall_of_exposed))
        });
        writeln!(
            out,
            "{:<w$} {:>7} {:>10} {:>10} {:>10} {:>7} {:>11} {:>11} {:>15} {:>8}",
            row.detector,
            s.alarms,
            ttd(0.0),
            ttd(0.5),
            ttd(0.9),
            blamed,
            per_day(0.0),
            per_day(0.5),
            estimate,
            wall
        )?;
    }
    Ok(())
}
