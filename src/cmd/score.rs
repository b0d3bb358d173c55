//! `blastradius score`: score findings written by any detector against the truth.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Result, bail};
use blastradius_analyzer::analyze::{Outside, score_findings};

use super::util::Terminal;

/// Score findings folders written by any detector (yours, in any language) against the
/// dataset's truth, with the scorer `analyze` uses for the built-in detectors.
///
/// A findings folder holds exposures, affected_users and/or message_violations as Parquet or
/// CSV, one file or a folder of parts each, and optionally findings.json (data/README.md,
/// "Findings"). Writes report.json and report.md under --out, and per detector the users and
/// exposures it missed (missed_*.parquet) and reported wrongly (extra_*.parquet).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The dataset the findings are about.
    pub dataset: PathBuf,

    /// One or more findings folders.
    #[arg(required = true)]
    pub findings: Vec<PathBuf>,

    /// The name of each findings folder in the report, in order (default: findings.json's
    /// `detector`, else the folder's name). Repeat it once per folder.
    #[arg(long)]
    pub name: Vec<String>,

    /// Score against this answer key (written by `generate --split-truth`) instead of the
    /// dataset's own truth/; it must be the key of this dataset.
    #[arg(long, value_name = "KEY")]
    pub truth: Option<PathBuf>,

    /// Output folder. Default: data/generated/scores/<dataset folder name>.
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// Replace an earlier report at --out (never anything else).
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: Args) -> Result<()> {
    if args.name.len() > args.findings.len() {
        bail!(
            "--name: {} names for {} findings folders; give at most one per folder, in order",
            args.name.len(),
            args.findings.len()
        );
    }
    let alarms: Vec<bool> = args
        .findings
        .iter()
        .map(|d| blastradius_analyzer::discover::alarms::is_alarms_folder(d))
        .collect();
    if alarms.iter().all(|&a| a) {
        return score_alarms(&args);
    }
    if let Some(k) = alarms.iter().position(|&a| a) {
        if let Some(missing) = args.findings.iter().find(|d| !d.is_dir()) {
            bail!(
                "{}: no such folder; give the alarms folders your discovery detectors wrote (data/README.md §14)",
                missing.display()
            );
        }
        bail!(
            "{} holds alarms (a discovery detector's) but other folders hold findings (a scoping detector's); score each kind in its own run",
            args.findings[k].display()
        );
    }
    let outside: Vec<Outside> = args
        .findings
        .iter()
        .enumerate()
        .map(|(i, dir)| Outside {
            name: args.name.get(i).cloned(),
            dir: dir.clone(),
        })
        .collect();
    let out = out_of(&args);
    let mut terminal = Terminal::default();
    score_findings(
        &args.dataset,
        &outside,
        args.truth.as_deref(),
        &out,
        args.force,
        &mut terminal,
    )?;
    writeln!(
        terminal.out,
        "report      {}",
        out.join("report.md").display()
    )?;
    Ok(())
}

/// `score` of alarms folders (data/README.md §14): the discovery report.
fn score_alarms(args: &Args) -> Result<()> {
    use blastradius_analyzer::analyze::universe;
    use blastradius_analyzer::discover;
    use blastradius_analyzer::output::Catalog;
    let dataset = blastradius_dataset::Dataset::open(&args.dataset)?;
    let catalog = Catalog::read(&dataset)?;
    let found = discover::load_outside(&args.findings, &args.name, &universe(&dataset, &catalog))?;
    if args.truth.is_none() && dataset.manifest.truth_key.is_some() {
        bail!(
            "{} is blind: give its answer key with --truth KEY to score alarms",
            args.dataset.display()
        );
    }
    let worlds = discover::worlds(&dataset, args.truth.as_deref())?;
    let out = out_of(args);
    let report = discover::report(
        &dataset,
        Some(&worlds),
        &found,
        &args.findings,
        &out,
        args.force,
    )?;
    super::discover::print(&report, &found)?;
    println!("report      {}", out.join("discovery.md").display());
    Ok(())
}

/// `--out`, else data/generated/scores/<dataset folder name>.
fn out_of(args: &Args) -> PathBuf {
    args.out.clone().unwrap_or_else(|| {
        let name = args
            .dataset
            .file_name()
            .map_or("dataset".into(), |n| n.to_string_lossy().into_owned());
        PathBuf::from("data/generated/scores").join(name)
    })
}
