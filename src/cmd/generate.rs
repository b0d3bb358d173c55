//! `blastradius generate`: write a deterministic, labelled dataset.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use blastradius_simulator::generate::{self, Codec, Options, Progress};
use blastradius_simulator::resources::{self, Limits, Refusal};
use indicatif::{ProgressBar, ProgressStyle};

use super::util::{bytes, load_scenario, peak_rss_bytes, si};

/// The seed when none is given (and the dataset is not blind).
pub const DEFAULT_SEED: u64 = 2018;

/// What world to simulate: shared by `generate` and `run`, so both have the same defaults.
#[derive(Debug, Clone, clap::Args)]
pub struct World {
    /// Number of users. Cost grows linearly: about 19 events and 8 ms of one core per 1,000
    /// users.
    #[arg(long, default_value_t = 1_000_000, value_parser = super::util::whole::<u64>)]
    pub users: u64,

    /// Seed of every random draw; the same seed gives the same bytes. Default 2018, except
    /// for a blind dataset (--split-truth), which draws a fresh one: the seed rebuilds the
    /// answer key, so a blind dataset never carries it and only its key records it.
    #[arg(long, value_parser = super::util::whole::<u64>)]
    pub seed: Option<u64>,

    /// A preset (facebook-2018, messaging-partners, shallow-paging) or a TOML file overriding a preset
    /// (see `blastradius scenario show`).
    #[arg(long, default_value = "facebook-2018")]
    pub scenario: String,

    /// A control world: the same world, users and traffic as without the flag (same seed,
    /// same draws), with no incident ever happening: the bug never deploys, no partner's
    /// token outlives its revocation or reads without a grant, no View-As flaw or attack.
    /// Its truth is empty; a detector's alarms on it are false alarms.
    #[arg(long)]
    pub no_incident: bool,

    /// Codec of the Parquet files: lz4 (the default, fastest to read; Spark needs 3.5 or
    /// later), zstd (about 13% smaller, slower to read), snappy (read by every Parquet reader,
    /// old ones included) or none (about 2% larger than lz4: the big columns are delta-packed,
    /// and lz4 and snappy leave those uncompressed anyway).
    #[arg(long, default_value = "lz4")]
    pub compression: String,
}

/// Generate a dataset: dimension tables, the sharded event log, the ground truth and a manifest.
///
/// The same seed and parameters give byte-identical files, whatever --threads is.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub world: World,

    /// Number of event-log shards (users split into contiguous ranges). More shards bound the
    /// memory of generation and replay (one shard in memory per thread) but add files.
    /// Default: max(8, users / 125,000).
    #[arg(long, value_parser = super::util::whole::<u32>)]
    pub shards: Option<u32>,

    /// Write only shard I of N (numbered from 0), e.g. to spread one dataset over machines.
    /// Its files equal those of the full run byte for byte.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,

    /// Worker threads (each holds one shard in memory). Default: the number of cores.
    #[arg(long, value_parser = super::util::whole::<usize>)]
    pub threads: Option<usize>,

    /// Output folder. Default: data/generated/<scenario>-<users>u-seed<seed>.
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// Replace an existing dataset at --out (never anything else).
    #[arg(long)]
    pub force: bool,

    /// Write the ground truth apart, to this answer-key folder, leaving a blind dataset a
    /// detector team can have without the answers; score it later with `--truth KEY`.
    #[arg(long, value_name = "KEY")]
    pub split_truth: Option<PathBuf>,

    /// A discovery dataset: the same world and bytes, except that the bug's two deploys are
    /// written as ordinary `deploy` rows, so the log no longer says which deploy was the bug
    /// (only the truth's bug_deploys.parquet does), and the manifest names no bug window.
    /// For detectors that must notice the incident unaided (`blastradius discover`).
    #[arg(long)]
    pub discovery: bool,

    /// Start even when the estimate says the disk or the memory cannot hold the run.
    #[arg(long)]
    pub skip_resource_check: bool,
}

fn parse_shard(text: &str) -> Result<(u32, u32)> {
    let parsed = text
        .split_once('/')
        .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
    match parsed {
        Some((i, n)) if n > 0 && i < n => Ok((i, n)),
        Some((i, n)) => bail!(
            "--shard {text}: shard {i} of {n} does not exist; shards are numbered 0 to N-1 (e.g. --shard 0/{})",
            n.max(1)
        ),
        None => bail!("--shard {text}: expected I/N, e.g. --shard 0/8"),
    }
}

impl Args {
    /// The seed given, else 2018, else (for a blind dataset) a fresh one from the operating
    /// system's randomness, which nobody can guess or rebuild.
    fn seed(&self) -> u64 {
        match (self.world.seed, &self.split_truth) {
            (Some(seed), _) => seed,
            (None, None) => DEFAULT_SEED,
            (None, Some(_)) => {
                use std::hash::{BuildHasher, Hasher};
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_u128(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos()),
                );
                h.finish()
            }
        }
    }

    /// The library options these flags describe.
    pub fn options(&self) -> Result<Options> {
        let mut scenario = load_scenario(&self.world.scenario)?;
        if self.world.no_incident {
            scenario.incident = false;
        }
        let Some(compression) = Codec::parse(&self.world.compression) else {
            bail!(
                "--compression {}: unknown codec; use one of {}",
                self.world.compression,
                Codec::ALL.map(Codec::as_str).join(", ")
            );
        };
        let (only_shard, shards) = match (&self.shard, self.shards) {
            (Some(text), explicit) => {
                let (i, n) = parse_shard(text)?;
                if explicit.is_some_and(|s| s != n) {
                    bail!(
                        "--shard {text} and --shards {} disagree on the number of shards; give one of them",
                        explicit.unwrap()
                    );
                }
                (Some(i), n)
            }
            (None, Some(n)) => (None, n),
            (None, None) => (None, generate::default_shards(self.world.users)),
        };
        let threads = self
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if self.split_truth.is_some() && only_shard.is_some() && self.world.seed.is_none() {
            bail!(
                "--shard with --split-truth needs --seed: each part would draw a fresh seed of its own, a world of its own; give one seed (hard to guess) to every part"
            );
        }
        if self.split_truth.is_some() && self.world.seed.is_some() {
            eprintln!(
                "note: a blind dataset is only as blind as its seed is hard to guess: a small --seed can be found by trying seeds against its files; leave --seed out to draw a fresh one"
            );
        }
        let seed = self.seed();
        let out = self.out.clone().unwrap_or_else(|| {
            // A blind dataset's folder must not name its seed either.
            let mut tail = match self.split_truth {
                Some(_) => "blind".to_string(),
                None => format!("seed{seed}"),
            };
            if !scenario.incident {
                tail.push_str("-control");
            }
            if self.discovery {
                tail.push_str("-discovery");
            }
            PathBuf::from("data/generated")
                .join(format!("{}-{}u-{tail}", scenario.name, self.world.users))
        });
        Ok(Options {
            users: self.world.users,
            seed,
            scenario,
            shards,
            only_shard,
            threads,
            out,
            force: self.force,
            compression,
            split_truth: self.split_truth.clone(),
            discovery: self.discovery,
        })
    }
}

pub fn run(args: Args) -> Result<()> {
    let options = args.options()?;
    options.validate()?;
    // Fail on the output before the estimate's work.
    blastradius_safefs::check(
        &options.out,
        blastradius_safefs::Kind::Dataset,
        options.force,
        "--out",
        &[],
    )?;
    if let Some(key) = &options.split_truth {
        // Another dataset's key is refused first, with or without --force: "pass --force"
        // would be advice that --force then refuses.
        generate::check_key_target(key, &options.out)?;
        blastradius_safefs::check(
            key,
            blastradius_safefs::Kind::Output("generate --split-truth"),
            options.force,
            "--split-truth",
            &[&options.out],
        )?;
    }
    check_resources(&options, args.skip_resource_check)?;
    generate(&options)?;
    Ok(())
}

/// Estimates the run and refuses one the disk or the memory cannot hold (the policy is
/// `blastradius_simulator::resources`; here it is worded with the flags).
pub fn check_resources(options: &Options, skip: bool) -> Result<()> {
    let e = options.estimate();
    eprintln!(
        "estimate    {} events, {} on disk, {} of memory",
        si(resources::events_written(options, &e) as f64),
        bytes(resources::bytes_written(options, &e)),
        bytes(e.memory)
    );
    if skip {
        return Ok(());
    }
    let override_hint = "or pass --skip-resource-check to try anyway";
    match resources::check(options, &e, &Limits::measure(&options.out)) {
        Ok(()) => Ok(()),
        Err(Refusal::Disk { needed, free }) => bail!(
            "--users {}: the dataset would take about {} but {} is free where --out {} goes; lower --users, free some space, {override_hint}",
            options.users,
            bytes(needed),
            bytes(free),
            options.out.display()
        ),
        Err(Refusal::Memory {
            needed,
            available,
            source,
            events_per_shard,
            shards_that_fit,
            workers_that_fit,
        }) => bail!(
            "--shards {}: each worker holds a shard of about {} events, {} of memory in all, more than the {} {}; raise --shards to about {} (smaller shards), or lower --threads (each worker holds one shard; about {} fit), {override_hint}",
            options.shards,
            si(events_per_shard as f64),
            bytes(needed),
            bytes(available),
            source.describe(),
            shards_that_fit,
            workers_that_fit
        ),
    }
}

/// Generates with a progress bar and prints the summary; returns the manifest.
pub fn generate(options: &Options) -> Result<blastradius_dataset::Manifest> {
    let shards_todo = if options.only_shard.is_some() {
        1
    } else {
        options.shards
    };
    let bar = ProgressBar::new(shards_todo as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} generate [{elapsed_precise}] {bar:30} {pos}/{len} shards  {msg}",
        )
        .expect("valid template"),
    );
    let progress = Progress::default();
    let started = Instant::now();
    let summary = std::thread::scope(|scope| {
        // The worker says when it is done, so the run ends then, not at the next tick.
        let (done, finished) = std::sync::mpsc::channel();
        let shared = &progress;
        let worker = scope.spawn(move || {
            let summary = generate::generate(options, shared);
            let _ = done.send(());
            summary
        });
        while let Err(RecvTimeoutError::Timeout) = finished.recv_timeout(Duration::from_millis(100))
        {
            let events = progress.events.load(Ordering::Relaxed) as f64;
            bar.set_position(progress.shards_done.load(Ordering::Relaxed) as u64);
            bar.set_message(format!(
                "{} events, {} events/s",
                si(events),
                si(events / started.elapsed().as_secs_f64())
            ));
        }
        worker.join().expect("the generator does not panic")
    });
    bar.finish_and_clear();
    let summary = summary?;
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let wall = started.elapsed().as_secs_f64();
    let m = &summary.manifest;
    let size: u64 = m.files.iter().map(|f| f.bytes).sum();
    writeln!(out, "dataset     {}", summary.out.display())?;
    writeln!(
        out,
        "scenario    {} (seed {}, {} users, {} shards{})",
        m.scenario.name,
        m.seed
            .map_or_else(|| "in the answer key only".to_string(), |s| s.to_string()),
        m.users,
        m.shards,
        m.only_shard
            .map(|i| format!(", shard {i} only"))
            .unwrap_or_default()
    )?;
    if m.control {
        writeln!(
            out,
            "incident    none: a control world (--no-incident), the same traffic with nothing wrong; its truth is empty, and any alarm on it is a false one"
        )?;
    }
    writeln!(
        out,
        "events      {} ({} on disk, {:.1} bytes/event)",
        m.counts.events,
        bytes(size),
        size as f64 / m.counts.events.max(1) as f64
    )?;
    writeln!(
        out,
        "time        {wall:.2} s wall, {} events/s, peak memory {}",
        si(m.counts.events as f64 / wall),
        peak_rss_bytes().map_or("unknown".into(), bytes)
    )?;
    let c = &m.counts;
    match (
        c.affected_users,
        c.exposures,
        c.affected_apps,
        c.message_violations,
    ) {
        (Some(users), Some(exposures), Some(apps), Some(violations)) => writeln!(
            out,
            "truth       {users} affected users, {exposures} exposures, {apps} apps, {violations} message violations"
        )?,
        // Blind: the counts, the calibration and the seed went to the key alone.
        _ => {
            writeln!(
                out,
                "truth       in the answer key only (its key.json holds the counts, the calibration and the seed)"
            )?;
            return Ok(summary.manifest);
        }
    }
    if m.control {
        writeln!(
            out,
            "calibration none: a control world has no incident to measure"
        )?;
    } else if m.discovery {
        writeln!(
            out,
            "calibration left out of the manifest: its rows date the bug, which a discovery dataset does not say"
        )?;
    } else if m.calibration.is_empty() {
        writeln!(
            out,
            "calibration none: scenario `{}` is not calibrated to a public incident (only the photo rates of facebook-2018 and messaging-partners are)",
            m.scenario.name
        )?;
    } else {
        writeln!(out, "calibration")?;
    }
    for row in &m.calibration {
        writeln!(
            out,
            "  {:32} target {:38} simulated {}",
            row.figure, row.target, row.simulated
        )?;
    }
    Ok(summary.manifest)
}
