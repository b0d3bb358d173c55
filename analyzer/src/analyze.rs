//! Runs detectors over a dataset, shards in parallel, and scores them.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::dataset::Dataset;
use crate::detect::{Detector, Findings, Partial};
use crate::error::{Error, Result};
use crate::log::read_shard_into;
use crate::score::{Scores, Truth};

/// One detector's run over the whole dataset.
#[derive(Debug)]
pub struct Run {
    pub detector: &'static str,
    pub findings: Findings,
    pub scores: Option<Scores>,
    pub events: u64,
    pub wall_seconds: f64,
    /// Replay time of each batch of about 65,536 events (read excluded), in microseconds.
    pub batch_replay_us: Histogram<u64>,
    /// Time spent reading and decoding Parquet, summed over threads.
    pub read_seconds: f64,
}

/// Summary figures of a run, as written to `report.json`.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub detector: String,
    pub affected_users: u64,
    pub exposures: u64,
    pub message_violations: u64,
    pub events: u64,
    pub wall_seconds: f64,
    pub events_per_second: f64,
    pub batch_replay_ms_p50: f64,
    pub batch_replay_ms_p99: f64,
    pub batch_replay_ms_max: f64,
    pub read_seconds: f64,
    pub out_of_order_events: u64,
    /// Damage the detector counted instead of failing on.
    pub unresolved: std::collections::BTreeMap<String, u64>,
    pub scores: Option<Scores>,
}

impl Run {
    pub fn summary(&self) -> RunSummary {
        let ms = |q: f64| self.batch_replay_us.value_at_quantile(q) as f64 / 1000.0;
        RunSummary {
            detector: self.detector.to_string(),
            affected_users: self.findings.affected_users.len() as u64,
            exposures: self.findings.exposures.len() as u64,
            message_violations: self.findings.violations.len() as u64,
            events: self.events,
            wall_seconds: self.wall_seconds,
            events_per_second: self.events as f64 / self.wall_seconds.max(1e-9),
            batch_replay_ms_p50: ms(0.5),
            batch_replay_ms_p99: ms(0.99),
            batch_replay_ms_max: self.batch_replay_us.max() as f64 / 1000.0,
            read_seconds: self.read_seconds,
            out_of_order_events: self.findings.out_of_order,
            unresolved: self
                .findings
                .unresolved
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            scores: self.scores.clone(),
        }
    }
}

/// A shard's partial result, events, replay microseconds and read seconds.
type ShardOutcome = (Partial, u64, u64, f64);

/// Runs `detector` over every event shard of `dataset` on `threads` threads, each holding
/// one shard at a time, and scores it against `truth` when given.
///
/// # Errors
/// The first shard that cannot be read or does not match the contract.
pub fn run(
    dataset: &Dataset,
    detector: &dyn Detector,
    threads: usize,
    truth: Option<&Truth>,
) -> Result<Run> {
    let shards = dataset.parts(blastradius_schema::path::EVENTS_DIR);
    if shards.is_empty() {
        return Err(Error::dataset(
            &dataset.root,
            "the manifest lists no events/ shard",
        ));
    }
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<ShardOutcome>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, shards.len()) {
            scope.spawn(|| {
                // One shard's columns per thread, reused from shard to shard.
                let mut log = crate::log::ShardLog::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(entry) = shards.get(i) else { break };
                    let t0 = Instant::now();
                    let path = dataset.root.join(&entry.path);
                    let result = read_shard_into(&path, detector.columns(), &mut log).map(|()| {
                        let read = t0.elapsed().as_secs_f64();
                        let t1 = Instant::now();
                        let part = detector.shard(&log);
                        (
                            part,
                            log.len() as u64,
                            t1.elapsed().as_micros() as u64,
                            read,
                        )
                    });
                    let failed = result.is_err();
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
    let mut parts = Vec::with_capacity(results.len());
    let mut hist = Histogram::<u64>::new(3).expect("valid precision");
    let (mut events, mut read_seconds) = (0, 0.0);
    for (_, r) in results {
        let (mut part, n, _, read) = r?;
        for us in std::mem::take(&mut part.batch_micros) {
            hist.record(us.max(1)).expect("auto-resizing histogram");
        }
        parts.push(part);
        events += n;
        read_seconds += read;
    }
    let findings = detector.finish(parts);
    let wall_seconds = started.elapsed().as_secs_f64();
    let reports_exposures = detector.name() != "naive";
    Ok(Run {
        detector: detector.name(),
        scores: truth.map(|t| t.score(&findings, reports_exposures)),
        findings,
        events,
        wall_seconds,
        batch_replay_us: hist,
        read_seconds,
    })
}

/// Every detector `--detector all` runs: the replay detectors, and `sql` when built with the
/// `datafusion` feature.
pub fn detector_names() -> Vec<&'static str> {
    #[allow(unused_mut)]
    let mut names = crate::detect::ALL.to_vec();
    #[cfg(feature = "datafusion")]
    names.push("sql");
    names
}

/// Runs the detector called `name` (see [`detector_names`]).
///
/// # Errors
/// An unknown name, or as [`run`].
pub fn run_named(
    dataset: &Dataset,
    name: &str,
    settings: &crate::detect::Settings,
    threads: usize,
    truth: Option<&Truth>,
) -> Result<Run> {
    #[cfg(feature = "datafusion")]
    if name == "sql" {
        let (findings, wall_seconds) = crate::sql::run(dataset, threads)?;
        let events = dataset
            .parts(blastradius_schema::path::EVENTS_DIR)
            .iter()
            .map(|f| f.rows)
            .sum();
        return Ok(Run {
            detector: "sql",
            scores: truth.map(|t| t.score(&findings, true)),
            findings,
            events,
            wall_seconds,
            batch_replay_us: Histogram::<u64>::new(3).expect("valid precision"),
            read_seconds: 0.0,
        });
    }
    let detector = crate::detect::by_name_with(name, settings).ok_or_else(|| {
        Error::dataset(
            &dataset.root,
            format!(
                "unknown detector `{name}`; use one of {}",
                detector_names().join(", ")
            ),
        )
    })?;
    run(dataset, detector.as_ref(), threads, truth)
}
