//! `blastradius analyze`: replay a dataset with detectors, score them, write the reports.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use blastradius_analyzer::analyze::{AnalyzeOptions, analyze};
use blastradius_analyzer::detect::{Engine, MIN_MEMORY_LIMIT, Settings};

use super::util::{Terminal, parse_window, threads};

/// Replay a dataset's event log with detection algorithms, and score them against the truth.
///
/// Writes, under --out: report.json and report.md, and per detector its findings in the
/// truth's shapes (the findings contract of data/README.md), with the users and exposures it
/// missed or reported wrongly. Every file is checked against the manifest's checksum as it is
/// read. Without truth/ (a blind dataset), findings are written and not scored.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The dataset folder (written by `blastradius generate`).
    pub dataset: PathBuf,

    /// Which detector: exact (event-sourced replay), naive (the "up to" bound), streaming
    /// (one pass, bounded state: see --shard-memory-limit), sql (DataFusion; only in builds with
    /// `--features datafusion`), or all.
    #[arg(long, default_value = "all")]
    pub detector: String,

    /// Worker threads, each replaying one shard at a time (memory follows shard size).
    /// Default: the number of cores.
    #[arg(long, value_parser = super::util::whole::<usize>)]
    pub threads: Option<usize>,

    /// Output folder. Default: data/generated/reports/<dataset folder name>.
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// Replace an earlier report at --out (never anything else).
    #[arg(long)]
    pub force: bool,

    /// Also check every file's SHA-256 against the manifest before replay, including files
    /// no detector reads (each file read is checked against its CRC-32C anyway).
    #[arg(long)]
    pub verify: bool,

    /// State budget of the streaming detector for each shard, in bytes (e.g. 8000000; the
    /// whole run holds one per thread at a time). Less memory keeps fewer photos per user and
    /// misses exposures deep in heavy users' albums. (`detect --follow --memory-limit` is the
    /// budget of the whole stream.)
    #[arg(long, default_value_t = blastradius_analyzer::streaming::DEFAULT_LIMIT, value_parser = super::util::whole::<u64>)]
    pub shard_memory_limit: u64,

    /// Detect and write findings only: do not read the truth or score (as on a blind
    /// dataset). For timing detection alone.
    #[arg(long, conflicts_with = "truth")]
    pub no_score: bool,

    /// Score against this answer key (written by `generate --split-truth`) instead of the
    /// dataset's own truth/.
    #[arg(long, value_name = "KEY")]
    pub truth: Option<PathBuf>,

    /// Use this bug window instead of the log's deploy events, for a log that lost them:
    /// START/END as UTC instants, END `never` for a bug never fixed.
    #[arg(long, value_name = "START/END")]
    pub bug_window: Option<String>,

    /// Where the sql detector runs: local (DataFusion in this process) or
    /// ballista://HOST:PORT (a Ballista cluster started with `blastradius cluster`; its
    /// executors must read the dataset at the same path). Only with --detector sql.
    #[arg(long, default_value = "local", value_name = "engine")]
    pub engine: String,

    /// With --engine ballista://…: a folder on storage every executor can read and write, in
    /// which the sql detector makes its intermediate tables (in a new folder, removed at the
    /// end). Default: the system's temporary folder, enough when the executors run here.
    #[arg(long, value_name = "DIR")]
    pub scratch: Option<PathBuf>,
}

/// Checks `--engine` and `--scratch` against the detectors they would serve.
pub fn engine(flag: &str, scratch: Option<&Path>, detectors: &[String]) -> Result<Engine> {
    let mut engine = Engine::parse(flag).map_err(anyhow::Error::msg)?;
    match &mut engine {
        Engine::Local => {
            if let Some(dir) = scratch {
                bail!(
                    "--scratch {}: only a cluster needs one; add --engine ballista://HOST:PORT or leave it out",
                    dir.display()
                );
            }
        }
        Engine::Ballista { scratch: s, .. } => {
            if detectors != ["sql"] {
                bail!("--engine {flag} runs the sql detector on a cluster; add --detector sql");
            }
            if !cfg!(feature = "ballista") {
                bail!(
                    "--engine {flag}: this build has no Ballista client; build with `cargo build --release --features ballista`"
                );
            }
            if let Some(dir) = scratch
                && !dir.is_dir()
            {
                bail!(
                    "--scratch {}: not a folder; create it on storage every executor mounts at the same path",
                    dir.display()
                );
            }
            *s = scratch.map(Path::to_path_buf);
        }
    }
    Ok(engine)
}

/// The detectors `--detector` names (`all`: every batch detector of this build).
pub fn detector_names(flag: &str) -> Result<Vec<String>> {
    use blastradius_analyzer::registry::{Mode, find, names};
    match flag {
        "all" => Ok(names(Mode::Batch).iter().map(|s| s.to_string()).collect()),
        name => match find(name, Mode::Batch) {
            Ok(d) => Ok(vec![d.name.to_string()]),
            Err(why) => bail!("--detector {name}: {why}{}", or(&why, "all")),
        },
    }
}

/// Checks a `--detectors` list of batch detectors (`none` already removed).
pub fn batch_detectors(detectors: &[String]) -> Result<()> {
    use blastradius_analyzer::registry::{Mode, find};
    for d in detectors {
        find(d, Mode::Batch)
            .map_err(|why| anyhow::anyhow!("--detectors {d}: {why}{}", or(&why, "none")))?;
    }
    Ok(())
}

/// After an unknown name's list of detectors, the word the flag also takes.
pub fn or(why: &blastradius_analyzer::registry::Refusal, word: &str) -> String {
    match why {
        blastradius_analyzer::registry::Refusal::Unknown(_) => format!(", or {word}"),
        _ => String::new(),
    }
}

/// The default report folder for a dataset.
pub fn default_out(dataset: &Path) -> PathBuf {
    let name = dataset
        .file_name()
        .map_or("dataset".into(), |n| n.to_string_lossy().into_owned());
    PathBuf::from("data/generated/reports").join(name)
}

/// Checks a memory budget given by `flag` (named in the error).
pub fn memory_limit(flag: &str, limit: u64) -> Result<u64> {
    if limit < MIN_MEMORY_LIMIT {
        bail!(
            "{flag} {limit}: give at least {MIN_MEMORY_LIMIT} bytes; a budget that tracks nobody measures nothing"
        );
    }
    Ok(limit)
}

pub fn run(args: Args) -> Result<()> {
    let detectors = detector_names(&args.detector)?;
    let options = AnalyzeOptions {
        settings: Settings {
            memory_limit: memory_limit("--shard-memory-limit", args.shard_memory_limit)?,
            bug_window: args.bug_window.as_deref().map(parse_window).transpose()?,
            engine: engine(&args.engine, args.scratch.as_deref(), &detectors)?,
        },
        detectors,
        threads: threads(args.threads)?,
        verify: args.verify,
        truth_key: args.truth.clone(),
        score: !args.no_score,
        out: args
            .out
            .clone()
            .unwrap_or_else(|| default_out(&args.dataset)),
        force: args.force,
    };
    if let Engine::Ballista { scheduler, .. } = &options.settings.engine {
        eprintln!(
            "note: sql runs on the Ballista cluster at {scheduler}; its jobs wait while no executor is registered there (start one with `blastradius cluster executor --scheduler {scheduler}`)"
        );
    }
    let mut terminal = Terminal::default();
    analyze(&args.dataset, &options, &mut terminal)?;
    writeln!(
        terminal.out,
        "report      {}",
        options.out.join("report.md").display()
    )?;
    Ok(())
}
