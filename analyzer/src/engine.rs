//! Runs detectors over a dataset, shards in parallel: detection only. Scoring and reports
//! are in [`crate::analyze`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use hdrhistogram::Histogram;

use crate::detect::{Detector, DetectorOutput, Partial, Settings, window_deploys};
use crate::error::{Error, Result};
use blastradius_dataset::Dataset;
use blastradius_dataset::log::{Pick, ShardLog, read_part_into};
use blastradius_dataset::open::undamaged;

/// One detector's run over the whole dataset.
#[derive(Debug)]
pub struct Run {
    pub detector: &'static str,
    pub findings: DetectorOutput,
    pub events: u64,
    pub wall_seconds: f64,
    /// Replay time of each batch of about 65,536 events (read excluded), in microseconds.
    pub batch_replay_us: Histogram<u64>,
    /// Time spent reading and decoding Parquet, summed over threads.
    pub read_seconds: f64,
    /// Values outside their range, per events file (see [`blastradius_dataset::log::Damage`]).
    pub damage: BTreeMap<PathBuf, BTreeMap<&'static str, u64>>,
}

/// A shard's deploy events, `(ts, event_id, introduces)`.
type Deploys = Vec<(i64, u64, bool)>;

/// What one worker hands back for a shard.
struct ShardOutcome {
    part: Partial,
    events: u64,
    read_seconds: f64,
    deploys: Deploys,
    damage: BTreeMap<&'static str, u64>,
}

/// Reads every events shard of `dataset` on `threads` threads (the `columns` of the rows
/// `pick` chooses), each thread holding one shard at a time in a log buffer it reuses, and
/// hands each shard to `each` with the seconds its read took.
///
/// Returns what each shard gave, in shard order, for the shards that were started: a reader
/// or an `each` that panics on a malformed file is an error about that file, not an abort of
/// the whole run, and after the first error no new shard is started. Callers take the
/// results in order, so the first shard that fails any check is the one reported.
///
/// # Errors
/// A manifest that lists no events shard.
pub fn for_each_shard<T: Send>(
    dataset: &Dataset,
    threads: usize,
    columns: &[&str],
    pick: Option<Pick>,
    each: impl Fn(&mut ShardLog, f64) -> T + Sync,
) -> Result<Vec<Result<T>>> {
    let shards = dataset.parts(blastradius_schema::path::EVENTS_DIR);
    if shards.is_empty() {
        return Err(Error::dataset(
            &dataset.root,
            "the manifest lists no events/ shard",
        ));
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<T>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, shards.len()) {
            scope.spawn(|| {
                let mut log = ShardLog::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(entry) = shards.get(i) else { break };
                    let t0 = Instant::now();
                    let path = dataset.root.join(&entry.path);
                    let result = undamaged(&path, || {
                        read_part_into(dataset, entry, columns, pick, &mut log)
                            .map(|()| each(&mut log, t0.elapsed().as_secs_f64()))
                    });
                    let failed = result.is_err();
                    if failed {
                        // What a panic left half-read is not carried to the next shard.
                        log = ShardLog::default();
                    }
                    results
                        .lock()
                        .expect("no panic while locked")
                        .push((i, result));
                    if failed {
                        next.store(usize::MAX / 2, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let mut results = results.into_inner().expect("workers finished");
    results.sort_by_key(|r| r.0);
    Ok(results.into_iter().map(|r| r.1).collect())
}

/// Runs `detector` over every event shard of `dataset` on `threads` threads, each holding
/// one shard at a time.
///
/// The bug window comes from each shard's deploy events, which every shard carries; they
/// must agree. `settings.bug_window` replaces them, for a log that lost them.
///
/// # Errors
/// The first shard that cannot be read or does not match the contract; a shard without a
/// `bug_introduced` deploy (unless `settings.bug_window` is given); shards whose deploys
/// disagree.
pub fn run(
    dataset: &Dataset,
    detector: &dyn Detector,
    threads: usize,
    settings: &Settings,
) -> Result<Run> {
    let shards = dataset.parts(blastradius_schema::path::EVENTS_DIR);
    let started = Instant::now();
    let results = for_each_shard(
        dataset,
        threads,
        detector.columns(),
        detector.rows(),
        |log, read_seconds| {
            let deploys = std::mem::take(&mut log.deploys);
            log.deploys = match settings.bug_window {
                Some(w) => window_deploys(w),
                None => deploys.clone(),
            };
            let mut part = detector.shard(log);
            let damage = std::mem::take(&mut log.damage);
            for (k, v) in &damage {
                *part.unresolved.entry(k).or_default() += v;
            }
            ShardOutcome {
                part,
                events: log.len() as u64,
                read_seconds,
                deploys,
                damage,
            }
        },
    )?;
    let mut parts = Vec::with_capacity(results.len());
    let mut hist = Histogram::<u64>::new(3).expect("valid precision");
    let (mut events, mut read_seconds) = (0, 0.0);
    let mut damage = BTreeMap::new();
    let mut first_deploys: Option<(usize, Deploys)> = None;
    for (i, r) in results.into_iter().enumerate() {
        let mut out = r?;
        let path = dataset.root.join(&shards[i].path);
        // A control world's bug never deploys: no window, and nothing to find.
        if settings.bug_window.is_none() && !dataset.manifest.control {
            if !out.deploys.iter().any(|d| d.2) && dataset.manifest.discovery {
                return Err(Error::dataset(
                    &path,
                    "is a discovery dataset (generate --discovery): its log does not say which \
                     deploy was the bug, so a scoping detector has no window; pass --bug-window \
                     START/END (from the truth's bug_deploys.parquet) to scope it, or run a \
                     discovery detector (discover)",
                ));
            }
            if !out.deploys.iter().any(|d| d.2) {
                return Err(Error::dataset(
                    &path,
                    "holds no bug_introduced deploy event, so the bug window is unknown; every \
                     shard carries the deploys, so the log is damaged: pass --bug-window \
                     START/END to analyze it with a window you know",
                ));
            }
            match &first_deploys {
                None => first_deploys = Some((i, out.deploys.clone())),
                Some((j, d)) if *d != out.deploys => {
                    return Err(Error::dataset(
                        &path,
                        format!(
                            "its deploy events differ from those of {}; every shard carries the same deploys, so one of them is damaged: pass --bug-window START/END to analyze with a window you know",
                            shards[*j].path
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        for us in std::mem::take(&mut out.part.batch_micros) {
            hist.record(us.max(1)).expect("auto-resizing histogram");
        }
        if !out.damage.is_empty() {
            damage.insert(path, out.damage);
        }
        parts.push(out.part);
        events += out.events;
        read_seconds += out.read_seconds;
    }
    let findings = detector.finish(parts);
    Ok(Run {
        detector: detector.name(),
        findings,
        events,
        wall_seconds: started.elapsed().as_secs_f64(),
        batch_replay_us: hist,
        read_seconds,
        damage,
    })
}

/// Every detector `--detector all` runs: the batch detectors of [`crate::registry`] this
/// build has (`sql` with the `datafusion` feature).
pub fn detector_names() -> Vec<&'static str> {
    crate::registry::names(crate::registry::Mode::Batch)
}

/// Runs the detector called `name` (see [`detector_names`]).
///
/// # Errors
/// An unknown name, or as [`run`].
pub fn run_named(
    dataset: &Dataset,
    name: &str,
    settings: &Settings,
    threads: usize,
) -> Result<Run> {
    #[cfg(feature = "datafusion")]
    if name == "sql" {
        // Its SQL takes the window from the log's bug_introduced row, which a discovery
        // dataset does not have: it would find nothing and say so as if that were an answer.
        if dataset.manifest.discovery {
            return Err(Error::dataset(
                &dataset.root,
                "is a discovery dataset (generate --discovery): its log does not say which deploy was the bug, and the sql detector takes the window from the log; scope it with `--detector exact --bug-window START/END` (from the truth's bug_deploys.parquet), or run a discovery detector (discover)",
            ));
        }
        let (findings, wall_seconds) = crate::sql::run(dataset, threads, &settings.engine)?;
        let events = dataset
            .parts(blastradius_schema::path::EVENTS_DIR)
            .iter()
            .map(|f| f.rows)
            .sum();
        return Ok(Run {
            detector: "sql",
            findings,
            events,
            wall_seconds,
            batch_replay_us: Histogram::<u64>::new(3).expect("valid precision"),
            read_seconds: 0.0,
            damage: BTreeMap::new(),
        });
    }
    let entry = crate::registry::find(name, crate::registry::Mode::Batch)
        .map_err(|why| Error::dataset(&dataset.root, format!("detector {name}: {why}")))?;
    let detector = entry.make.map(|make| make(settings)).ok_or_else(|| {
        Error::dataset(&dataset.root, format!("`{name}` is not a replay detector"))
    })?;
    run(dataset, detector.as_ref(), threads, settings)
}
