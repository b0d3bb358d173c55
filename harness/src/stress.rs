//! The stress sweep: damage a dataset's log at several levels of each fault, run every
//! detector (built-in, and outside ones as commands) on each damaged copy, score each against
//! the truth, and keep `report.json` and `stress.html`.
//!
//! The input is never modified; damaged copies and findings live in the output's staging
//! folder and are removed at the end unless kept. A detector that fails or hangs on a copy
//! is reported in its cell, and the sweep goes on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use blastradius_analyzer::analyze::{detect_into, summary, truth_of};
use blastradius_analyzer::detect::Settings;
use blastradius_pages::chart::{Axis, Chart, Series, Style};
use blastradius_pages::doc::{Block, Column, Doc, Table};
use blastradius_pages::headline::{self, lowest_f1};
use blastradius_pages::palette::assign;

use blastradius_analyzer::output::Catalog;
use blastradius_analyzer::report::TruthSummary;
use blastradius_analyzer::score::{Score, Scores, Truth};
use blastradius_dataset::Dataset;
use blastradius_safefs::{Kind, Stage};
use blastradius_schema::time::{MINUTE, parse_utc};
use blastradius_simulator::perturb::{Faults, Truncation, perturb};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::exec::{self, ExecDetector};
use crate::judge::Judge;

mod discovery;
mod memory;
pub use discovery::DiscoveryCell;
pub use memory::MemoryPoint;

/// A kind of damage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Events lost (level: probability per event).
    Drop,
    /// Events delivered twice (level: probability per event).
    Duplicate,
    /// Events delivered late, out of order (level: the bound, in minutes).
    Reorder,
    /// Each app's clock off by a fixed amount (level: the bound, in minutes).
    Skew,
    /// One shard cut short in the middle of the bug window (level: 1, on).
    Truncate,
}

impl Fault {
    pub const ALL: [Fault; 5] = [
        Fault::Drop,
        Fault::Duplicate,
        Fault::Reorder,
        Fault::Skew,
        Fault::Truncate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Drop => "drop",
            Fault::Duplicate => "duplicate",
            Fault::Reorder => "reorder",
            Fault::Skew => "skew",
            Fault::Truncate => "truncate",
        }
    }

    /// What the level measures, for axes.
    pub fn unit(self) -> &'static str {
        match self {
            Fault::Drop => "share of events dropped",
            Fault::Duplicate => "share of events delivered twice",
            Fault::Reorder => "events up to this late",
            Fault::Skew => "app clocks off by up to",
            Fault::Truncate => "one shard cut short",
        }
    }

    /// A level in words: `1%`, `15 min`, `mid-window`.
    pub fn label(self, level: f64) -> String {
        match self {
            Fault::Drop | Fault::Duplicate => {
                let pct = level * 100.0;
                format!("{}%", blastradius_pages::chart::short(pct))
            }
            Fault::Reorder | Fault::Skew => {
                format!("{} min", blastradius_pages::chart::short(level))
            }
            Fault::Truncate => "cut mid-window".into(),
        }
    }

    /// The levels swept by default.
    pub fn default_levels(self) -> Vec<f64> {
        match self {
            Fault::Drop | Fault::Duplicate => vec![0.001, 0.01, 0.05],
            Fault::Reorder | Fault::Skew => vec![1.0, 15.0, 72.0],
            Fault::Truncate => vec![1.0],
        }
    }

    /// The damage of this fault at `level`; `mid_window` is where truncation cuts.
    pub fn faults(self, level: f64, seed: u64, mid_window: i64) -> Faults {
        let mut f = Faults::none(seed);
        let minutes = (level * MINUTE as f64).round() as i64;
        match self {
            Fault::Drop => f.drop = level,
            Fault::Duplicate => f.duplicate = level,
            Fault::Reorder => f.reorder_us = minutes,
            Fault::Skew => f.skew_us = minutes,
            Fault::Truncate => f.truncation = Some(Truncation::At(mid_window)),
        }
        f
    }
}

/// What to sweep.
#[derive(Clone, Debug)]
pub struct Options {
    pub dataset: PathBuf,
    pub out: PathBuf,
    pub force: bool,
    /// Each fault with its levels (an empty list leaves the fault out).
    pub faults: Vec<(Fault, Vec<f64>)>,
    /// Built-in detectors.
    pub detectors: Vec<String>,
    /// Outside detectors.
    pub exec: Vec<ExecDetector>,
    /// How long an outside detector may run on one copy.
    pub timeout: Duration,
    /// State budgets of the streaming detector for its memory-accuracy curve.
    pub memory_limits: Vec<u64>,
    pub threads: usize,
    /// Seed of the damage.
    pub seed: u64,
    /// Keep the damaged copies and every detector's findings under `out/data`.
    pub keep_data: bool,
    /// The answer key, for a blind dataset.
    pub truth_key: Option<PathBuf>,
}

/// Precision, recall and F1 of one level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Prf {
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
}

impl From<&Score> for Prf {
    fn from(s: &Score) -> Self {
        Prf {
            precision: s.precision,
            recall: s.recall,
            f1: s.f1,
        }
    }
}

/// One detector on one copy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub fault: String,
    /// The level (0 for the clean log, shared by every fault).
    pub level: f64,
    pub label: String,
    pub detector: String,
    /// `built-in` or `outside`.
    pub origin: String,
    /// Why the detector gave no findings, if it did not.
    pub failure: Option<String>,
    pub user: Option<Prf>,
    pub exposure: Option<Prf>,
    pub violation: Option<Prf>,
    /// View-As levels, in a world that has that incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Prf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_as_user: Option<Prf>,
    pub wall_seconds: Option<f64>,
    pub events_per_second: Option<f64>,
    pub peak_memory_bytes: Option<u64>,
}

/// What one damaged copy holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Damage {
    pub fault: String,
    pub label: String,
    pub dropped: u64,
    pub duplicated: u64,
    pub truncated_rows: u64,
    pub truncated_at: Option<String>,
}

/// A fault as swept: what its level measures, and each level with its label.
#[derive(Debug, Clone, Serialize)]
pub struct Swept {
    pub fault: String,
    pub unit: String,
    pub levels: Vec<(f64, String)>,
}

/// What `report.json` holds and the page draws.
#[derive(Debug, Clone, Serialize)]
pub struct StressReport {
    pub format: &'static str,
    pub dataset: String,
    pub seed: u64,
    pub truth: TruthSummary,
    /// The faults swept, with their levels in words.
    pub faults: Vec<Swept>,
    pub cells: Vec<Cell>,
    /// The built-in discovery detectors on every copy (data/README §14).
    pub discovery: Vec<DiscoveryCell>,
    pub damage: Vec<Damage>,
    pub memory: Vec<MemoryPoint>,
}

/// Where progress goes: a line per cell.
pub trait Progress {
    fn cell(&mut self, cell: &Cell);
    fn note(&mut self, text: &str);
}

/// The middle of the bug window of the opened dataset `dataset`, from its manifest.
fn mid_window(dataset: &Dataset) -> Result<i64, Error> {
    let m = &dataset.manifest;
    let path = dataset.root.join(blastradius_schema::path::MANIFEST);
    let Some(w) = &m.bug_window else {
        return Err(Error::Input {
            path,
            message: "names no bug_window: a discovery dataset (generate --discovery) does not say which deploy was the bug, and stress scores the scoping detectors; stress the dataset made without --discovery".into(),
        });
    };
    let (a, b) = (parse_utc(&w.start), parse_utc(&w.end));
    match (a, b) {
        (Ok(a), Ok(b)) => Ok(a + (b - a) / 2),
        _ => Err(Error::Input {
            path,
            message: "its bug_window is not two UTC instants".into(),
        }),
    }
}

/// Everything one copy needs to be scored.
struct Context<'a> {
    options: &'a Options,
    truth: &'a Truth,
    catalog: &'a Catalog,
    stage: &'a Path,
    /// What the discovery score needs of the clean dataset's truth.
    worlds: Option<&'a blastradius_analyzer::discover::Worlds>,
    /// Outside commands that wrote alarms (data/README §14) instead of findings: their
    /// discovery cells, taken by the sweep after each copy.
    outside_alarms: std::cell::RefCell<Vec<DiscoveryCell>>,
}

impl Context<'_> {
    /// What a cell says of findings that break the contract, naming the file where it will
    /// be (under `--out`), not where this run is staging it.
    fn contract_failure(&self, error: &str) -> String {
        let error = error.replace(
            &format!("{}/", self.stage.display()),
            &format!("{}/", self.options.out.display()),
        );
        let kept = if self.options.keep_data {
            ""
        } else {
            " (rerun with --keep-data to keep the findings)"
        };
        format!("its findings break the contract: {error}{kept}")
    }

    /// Runs every detector on the copy at `copy`, as cells of (`fault`, `level`).
    fn cells(
        &self,
        copy: &Path,
        fault: &str,
        level: f64,
        label: &str,
        progress: &mut dyn Progress,
    ) -> Result<Vec<Cell>, Error> {
        let dataset = Dataset::open(copy)?;
        let judge = Judge::new(self.truth, &dataset, self.catalog);
        let by_app = self.catalog.providers_by_app();
        // The rows of both logs (the access log in a View-As world): one count for every
        // cell, built-in or outside, whatever part of the logs a detector reads.
        let events: u64 = [
            blastradius_schema::path::EVENTS_DIR,
            blastradius_schema::path::ACCESS_DIR,
        ]
        .iter()
        .flat_map(|dir| dataset.parts(dir))
        .map(|f| f.rows)
        .sum();
        let cell_dir = self
            .stage
            .join("data")
            .join("findings")
            .join(format!("{fault}-{}", slug(label)));
        let mut out = Vec::new();
        let blank = |detector: &str, origin: &str| Cell {
            fault: fault.to_string(),
            level,
            label: label.to_string(),
            detector: detector.to_string(),
            origin: origin.to_string(),
            failure: None,
            user: None,
            exposure: None,
            violation: None,
            token: None,
            view_as_user: None,
            wall_seconds: None,
            events_per_second: None,
            peak_memory_bytes: None,
        };
        let scored = |mut cell: Cell, s: &Scores| {
            cell.user = s.users.as_ref().map(Prf::from);
            cell.exposure = s.exposures.as_ref().map(Prf::from);
            cell.violation = s.violations.as_ref().map(Prf::from);
            cell.token = s.stolen_tokens.as_ref().map(Prf::from);
            cell.view_as_user = s.view_as_users.as_ref().map(Prf::from);
            cell
        };
        for name in &self.options.detectors {
            let dir = cell_dir.join(name);
            let (run, found) = detect_into(
                &dataset,
                name,
                &Settings::default(),
                self.options.threads,
                &dir,
                &judge.universe,
                &by_app,
            )?;
            let mut cell = scored(blank(name, "built-in"), &judge.score(&found));
            cell.wall_seconds = Some(run.wall_seconds);
            cell.events_per_second = Some(events as f64 / run.wall_seconds.max(1e-9));
            cell.peak_memory_bytes = found.meta.peak_memory_bytes;
            progress.cell(&cell);
            out.push(cell);
        }
        for x in &self.options.exec {
            let dir = cell_dir.join(blastradius_analyzer::analyze::safe_name(&x.name));
            std::fs::create_dir_all(&dir).map_err(|e| Error::Input {
                path: dir.clone(),
                message: e.to_string(),
            })?;
            let logs = self.stage.join("logs");
            std::fs::create_dir_all(&logs).map_err(|e| Error::Input {
                path: logs.clone(),
                message: e.to_string(),
            })?;
            let log = logs.join(format!(
                "{fault}-{}-{}",
                slug(label),
                blastradius_analyzer::analyze::safe_name(&x.name)
            ));
            let outcome = exec::run(&x.command_for(copy, &dir), &log, self.options.timeout);
            // Every outside detector reads a copy, and the next one must read it as made.
            unchanged(copy, &x.name)?;
            let mut cell = blank(&x.name, "outside");
            cell.wall_seconds = Some(outcome.wall_seconds);
            cell.peak_memory_bytes = Some(outcome.peak_memory_bytes);
            cell.events_per_second = Some(events as f64 / outcome.wall_seconds.max(1e-9));
            cell = match outcome.failure {
                Some(f) => Cell {
                    failure: Some(f.to_string()),
                    ..cell
                },
                // A discovery detector's alarms: a discovery cell, not a findings one.
                None if blastradius_analyzer::discover::alarms::is_alarms_folder(&dir) => {
                    match self.score_alarms(&dir, &x.name, &judge.universe, (fault, level, label)) {
                        Ok(found) => {
                            progress.note(&found.line());
                            self.outside_alarms.borrow_mut().push(DiscoveryCell {
                                wall_seconds: outcome.wall_seconds,
                                ..found
                            });
                            continue;
                        }
                        Err(e) => Cell {
                            failure: Some(self.contract_failure(&e.to_string())),
                            ..cell
                        },
                    }
                }
                None => match judge.score_dir(&dir) {
                    Ok(scores) => scored(cell, &scores),
                    Err(e) => Cell {
                        failure: Some(self.contract_failure(&e.to_string())),
                        ..cell
                    },
                },
            };
            progress.cell(&cell);
            out.push(cell);
        }
        Ok(out)
    }
}

/// Copies the dataset `from` (its manifest and every file it lists) to `to`: real copies,
/// not links, so that nothing done to them reaches the user's files.
fn copy_dataset(from: &Dataset, to: &Path) -> Result<(), Error> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| Error::Input {
            path,
            message: format!("cannot copy the dataset for the outside detectors ({e})"),
        }
    };
    let manifest = blastradius_schema::path::MANIFEST;
    let listed = from.manifest.files.iter().map(|f| f.path.as_str());
    for relative in std::iter::once(manifest).chain(listed) {
        let (a, b) = (from.root.join(relative), to.join(relative));
        if let Some(parent) = b.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::copy(&a, &b).map_err(io(&a))?;
    }
    Ok(())
}

/// Checks that the copy at `copy` is still what its manifest lists, after the outside
/// detector `name` read it.
fn unchanged(copy: &Path, name: &str) -> Result<(), Error> {
    let changed = |what: String| Error::Input {
        path: copy.to_path_buf(),
        message: format!(
            "the outside detector `{name}` changed the dataset copy it was given ({what}); a detector must only read {{dataset}} and write under {{out}}"
        ),
    };
    let dataset = Dataset::open(copy).map_err(|e| changed(e.to_string()))?;
    dataset.verify().map_err(|e| changed(e.to_string()))?;
    // Nothing added either: the next detector reads the folder as it was made.
    match blastradius_safefs::unlisted_in_dataset(copy) {
        Some(file) => Err(changed(format!("it added {}", copy.join(file).display()))),
        None => Ok(()),
    }
}

/// A label as part of a file name.
fn slug(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Runs the sweep and writes `report.json` and `stress.html` under `options.out`.
///
/// # Errors
/// An unreadable dataset or truth, a damage that cannot be written, a built-in detector that
/// fails, an output that may not be written. Outside detectors' failures are cells, not
/// errors.
pub fn sweep(options: &Options, progress: &mut dyn Progress) -> Result<StressReport, Error> {
    let clean = Dataset::open(&options.dataset)?;
    // The damaged copies are made by `perturb`, which writes this version only: refused
    // here, before any detector runs, rather than after the clean cells.
    let version = clean.manifest.schema_version;
    if version != blastradius_schema::SCHEMA_VERSION {
        return Err(Error::Input {
            path: options.dataset.join("manifest.json"),
            message: format!(
                "is of schema version {version}, and stress damages copies of this build's version {} only: generate it again with this build (`{}`)",
                blastradius_schema::SCHEMA_VERSION,
                clean.manifest.command
            ),
        });
    }
    // F1 under damage needs something to find; a control world's findings are all false
    // positives, which `analyze` counts.
    if clean.manifest.control {
        return Err(Error::Input {
            path: options.dataset.join("manifest.json"),
            message: "is a control world (generate --no-incident): with nothing to find, there is no F1 to sweep; count its false positives with `blastradius analyze`, or stress the world it controls (the same command without --no-incident)".into(),
        });
    }
    let truth = truth_of(&clean, options.truth_key.as_deref())?.ok_or_else(|| Error::Input {
        path: options.dataset.clone(),
        message: "has no truth/ to score against: give its answer key with --truth KEY".into(),
    })?;
    let catalog = Catalog::read(&clean)?;
    let mid = mid_window(&clean)?;
    let worlds = discovery::worlds(options, &clean, progress)?;
    let stage = Stage::begin(
        &options.out,
        Kind::Output("stress"),
        options.force,
        "--out",
        &[&options.dataset],
    )?;
    for stale in &stage.stale_removed {
        progress.note(&format!(
            "removed {}, left by a run that was killed",
            stale.display()
        ));
    }
    let context = Context {
        options,
        truth: &truth,
        catalog: &catalog,
        stage: stage.path(),
        worlds: worlds.as_ref(),
        outside_alarms: std::cell::RefCell::new(Vec::new()),
    };
    // Outside detectors get a copy of the clean log too, never the user's own folder (one
    // that cleans up after itself, or writes a scratch file, must not touch it).
    let clean_copy = stage.path().join("data").join("clean");
    let clean_input = if options.exec.is_empty() {
        options.dataset.clone()
    } else {
        // Checked first, so that a change found at the end is this run's to explain.
        clean.verify()?;
        copy_dataset(&clean, &clean_copy)?;
        clean_copy.clone()
    };
    let mut cells = context.cells(&clean_input, "clean", 0.0, "clean", progress)?;
    let mut discovery = context.discovery(&clean_input, "clean", 0.0, "clean", progress)?;
    discovery.append(&mut context.outside_alarms.borrow_mut());
    let mut damage = Vec::new();
    for (fault, levels) in &options.faults {
        for &level in levels {
            let label = fault.label(level);
            let copy = stage
                .path()
                .join("data")
                .join(format!("{}-{}", fault.name(), slug(&label)));
            let m = perturb(
                &options.dataset,
                &copy,
                &fault.faults(level, options.seed, mid),
                false,
            )?;
            if let Some(p) = &m.perturbation {
                damage.push(Damage {
                    fault: fault.name().into(),
                    label: label.clone(),
                    dropped: p.dropped,
                    duplicated: p.duplicated,
                    truncated_rows: p.truncated_rows,
                    truncated_at: p.truncated_at.clone(),
                });
            }
            cells.extend(context.cells(&copy, fault.name(), level, &label, progress)?);
            discovery.extend(context.discovery(&copy, fault.name(), level, &label, progress)?);
            discovery.append(&mut context.outside_alarms.borrow_mut());
            if !options.keep_data {
                std::fs::remove_dir_all(&copy).map_err(|e| Error::Input {
                    path: copy.clone(),
                    message: e.to_string(),
                })?;
            }
        }
    }
    let memory = memory::curve(options, &clean, &truth, &catalog, stage.path(), progress)?;
    // The user's dataset, checked whole against its own checksums after a sweep that ran
    // outside commands.
    Dataset::open(&options.dataset)
        .and_then(|d| match options.exec.is_empty() {
            true => Ok(()),
            false => d.verify(),
        })
        .map_err(|e| Error::Input {
            path: options.dataset.clone(),
            message: format!(
                "changed during the sweep ({e}): it was whole when the sweep began, and no detector was given it; something else wrote to it"
            ),
        })?;
    if !options.keep_data {
        let _ = std::fs::remove_dir_all(stage.path().join("data"));
    }
    let report = StressReport {
        format: "blastradius-stress",
        dataset: options.dataset.display().to_string(),
        seed: options.seed,
        truth: summary(&truth),
        faults: options
            .faults
            .iter()
            .filter(|(_, l)| !l.is_empty())
            .map(|(f, levels)| Swept {
                fault: f.name().to_string(),
                unit: f.unit().to_string(),
                levels: levels.iter().map(|&l| (l, f.label(l))).collect(),
            })
            .collect(),
        cells,
        discovery,
        damage,
        memory,
    };
    let json = serde_json::to_string_pretty(&report).expect("serializes") + "\n";
    for (name, text) in [("report.json", json), ("stress.html", html(&report))] {
        let p = stage.path().join(name);
        std::fs::write(&p, text).map_err(|e| Error::Input {
            path: options.out.join(name),
            message: format!("cannot write ({e})"),
        })?;
    }
    stage.commit()?;
    Ok(report)
}

/// The detectors of a report, in the order they ran.
fn detectors(report: &StressReport) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for c in &report.cells {
        if !names.contains(&c.detector) {
            names.push(c.detector.clone());
        }
    }
    names
}

/// The outside detectors that gave no findings in any cell (a command that always exits
/// non-zero, times out or writes nothing): the sweep measured nothing of them, which a
/// script must be able to tell from a good run.
pub fn failed_everywhere(report: &StressReport) -> Vec<String> {
    detectors(report)
        .into_iter()
        .filter(|d| {
            let mut cells = report
                .cells
                .iter()
                .filter(|c| &c.detector == d && c.origin == "outside")
                .peekable();
            // A discovery command's alarms, scored on some copy, are a measurement.
            let alarms = report.discovery.iter().any(|c| &c.detector == d);
            cells.peek().is_some() && cells.all(|c| c.failure.is_some()) && !alarms
        })
        .collect()
}

/// Whether the truth has violations to find: their F1 is shown only then.
fn has_violations(report: &StressReport) -> bool {
    report.truth.message_violations > 0
}

/// The charts of a report: per fault, user F1 and exposure F1 against the level (the clean
/// log first), throughput on the clean log, and the streaming detector's memory curve.
pub fn charts(report: &StressReport) -> Vec<Chart> {
    let names = detectors(report);
    let styles = assign(&names);
    let style_of = |d: &String| styles[names.iter().position(|n| n == d).unwrap_or(0)];
    let mut out = Vec::new();
    for Swept {
        fault,
        unit,
        levels,
    } in &report.faults
    {
        let mut categories = vec!["clean".to_string()];
        categories.extend(levels.iter().map(|l| l.1.clone()));
        for (metric, pick) in [
            (
                "user F1",
                (|c: &Cell| c.user.and_then(|p| p.f1)) as fn(&Cell) -> Option<f64>,
            ),
            ("exposure F1", |c: &Cell| c.exposure.and_then(|p| p.f1)),
            ("violation F1", |c: &Cell| c.violation.and_then(|p| p.f1)),
            ("View-As token F1", |c: &Cell| c.token.and_then(|p| p.f1)),
            ("View-As user F1", |c: &Cell| {
                c.view_as_user.and_then(|p| p.f1)
            }),
        ] {
            if metric == "violation F1" && !has_violations(report) {
                continue;
            }
            let series: Vec<Series> = names
                .iter()
                .map(|d| {
                    let mut points = Vec::new();
                    let clean = report
                        .cells
                        .iter()
                        .find(|c| c.fault == "clean" && &c.detector == d);
                    if let Some(v) = clean.and_then(pick) {
                        points.push((0.0, v));
                    }
                    for (i, (level, _)) in levels.iter().enumerate() {
                        let cell = report
                            .cells
                            .iter()
                            .find(|c| &c.fault == fault && c.level == *level && &c.detector == d);
                        if let Some(v) = cell.and_then(pick) {
                            points.push(((i + 1) as f64, v));
                        }
                    }
                    Series::new(d.clone(), points).styled(style_of(d))
                })
                .filter(|s| !s.points.is_empty())
                .collect();
            if series.is_empty() {
                continue;
            }
            out.push(Chart {
                title: format!("{metric} under {fault}"),
                x_label: format!("{unit} (categories, not to scale)"),
                y_label: metric.into(),
                x: Axis::Category(categories.clone()),
                unit_interval: true,
                series,
                ..Chart::default()
            });
        }
    }
    let clean: Vec<Series> = names
        .iter()
        .filter_map(|d| {
            let c = report
                .cells
                .iter()
                .find(|c| c.fault == "clean" && &c.detector == d)?;
            Some(
                Series::new(d.clone(), vec![(0.0, c.events_per_second? / 1e6)]).styled(style_of(d)),
            )
        })
        .collect();
    out.push(Chart {
        title: "Throughput on the clean log".into(),
        x_label: "whole run, reading included".into(),
        y_label: "M events/s".into(),
        x: Axis::Category(vec!["clean".into()]),
        style: Style::Bars,
        series: clean,
        ..Chart::default()
    });
    if !report.memory.is_empty() {
        let mib = |b: u64| b.max(1) as f64 / 1048576.0;
        out.push(Chart {
            title: "streaming: state against accuracy".into(),
            x_label: "state of the largest shard, MiB (log scale)".into(),
            y_label: "F1 on the clean log".into(),
            x: Axis::Log,
            unit_interval: true,
            series: vec![
                Series::new(
                    "users",
                    report
                        .memory
                        .iter()
                        .filter_map(|m| Some((mib(m.state_bytes), m.user_f1?)))
                        .collect(),
                ),
                Series::new(
                    "exposures",
                    report
                        .memory
                        .iter()
                        .filter_map(|m| Some((mib(m.state_bytes), m.exposure_f1?)))
                        .collect(),
                ),
            ],
            ..Chart::default()
        });
    }
    out
}

fn ratio(x: Option<f64>) -> String {
    x.map_or("–".into(), |v| format!("{v:.3}"))
}

/// The page as a document: the answer first, the charts, a table of every cell (a row per
/// detector and damaged copy, a column per figure), what each copy holds, the method.
pub fn doc(report: &StressReport) -> Doc {
    let names = detectors(report);
    let t = &report.truth;
    let violations = has_violations(report);
    let f = |p: Option<Prf>, pick: fn(&Prf) -> Option<f64>| ratio(p.as_ref().and_then(pick));
    let mut columns = vec![
        Column::text("detector"),
        Column::text("damage"),
        Column::number("user P"),
        Column::number("user R"),
        Column::number("user F1"),
        Column::number("exposure F1"),
    ];
    if violations {
        columns.push(Column::number("violation F1"));
    }
    let view_as = report
        .cells
        .iter()
        .any(|c| c.token.is_some() || c.view_as_user.is_some());
    if view_as {
        columns.push(Column::number("View-As token F1"));
        columns.push(Column::number("View-As user F1"));
    }
    columns.push(Column::number("events/s"));
    let mut rows = Vec::new();
    for d in &names {
        for c in report.cells.iter().filter(|c| &c.detector == d) {
            let damage = match c.fault.as_str() {
                "clean" => "none (clean log)".to_string(),
                fault => format!("{fault} {}", c.label),
            };
            let mut row = vec![d.clone(), damage];
            match &c.failure {
                // The reason is under Failures: a long one would stretch the table.
                Some(_) => {
                    row.push("failed".into());
                    row.extend(std::iter::repeat_n("–".to_string(), columns.len() - 3));
                }
                None => {
                    row.push(f(c.user, |p| p.precision));
                    row.push(f(c.user, |p| p.recall));
                    row.push(f(c.user, |p| p.f1));
                    row.push(f(c.exposure, |p| p.f1));
                    if violations {
                        row.push(f(c.violation, |p| p.f1));
                    }
                    if view_as {
                        row.push(f(c.token, |p| p.f1));
                        row.push(f(c.view_as_user, |p| p.f1));
                    }
                    row.push(
                        c.events_per_second
                            .map_or("–".into(), |e| format!("{:.2}M", e / 1e6)),
                    );
                }
            }
            rows.push(row);
        }
    }
    let damage_rows = report
        .damage
        .iter()
        .map(|d| {
            vec![
                d.fault.clone(),
                d.label.clone(),
                d.dropped.to_string(),
                d.duplicated.to_string(),
                format!(
                    "{}{}",
                    d.truncated_rows,
                    d.truncated_at
                        .as_ref()
                        .map(|t| format!(" (from {t})"))
                        .unwrap_or_default()
                ),
            ]
        })
        .collect();
    let failures: Vec<String> = report
        .cells
        .iter()
        .filter(|c| c.failure.is_some())
        .map(|c| {
            format!(
                "`{}` on {} {}: {}",
                c.detector,
                c.fault,
                c.label,
                c.failure.as_deref().unwrap_or("")
            )
        })
        .collect();
    let mut blocks = vec![
        Block::Paragraph(format!(
            "Dataset `{}`, damage seed {}. Scored against {}: **{} affected users**, {} exposures, {} message violations, so one user is {:.2} points of user recall. Levels are categories, not to scale; the clean log is the first point of every curve. P, R, F1: precision, recall, F1; \"–\": nothing to divide by.",
            report.dataset,
            report.seed,
            t.source,
            t.affected_users,
            t.exposures,
            t.message_violations,
            100.0 / t.affected_users.max(1) as f64
        )),
        Block::Charts(charts(report)),
        Block::Heading("Every cell".into()),
        Block::Table(Table {
            caption: None,
            columns,
            rows,
        }),
    ];
    if !failures.is_empty() {
        blocks.push(Block::Heading("Failures".into()));
        blocks.push(Block::List(failures));
    }
    blocks.extend(discovery::blocks(report));
    blocks.push(Block::Heading("What each damaged copy holds".into()));
    blocks.push(Block::Table(Table {
        caption: None,
        columns: vec![
            Column::text("fault"),
            Column::text("level"),
            Column::number("dropped"),
            Column::number("duplicated"),
            Column::number("rows cut"),
        ],
        rows: damage_rows,
    }));
    Doc {
        title: format!("blastradius stress: `{}`", report.dataset),
        headline: Some(headline(report)),
        blocks,
        method: vec![format!(
            "`blastradius stress` of `{}`: each fault applied alone at each level to a copy of the dataset (`perturb`, seed {}); every detector run on every copy, its findings loaded and scored against the truth of the clean dataset (what happened, not what was logged). events/s: the events of the copy over the detector's wall time, reading included. `report.json` holds every cell.",
            report.dataset, report.seed
        )],
    }
}

/// Each detector's lowest F1 over every cell, and where: the answer a reader wants first.
fn headline(report: &StressReport) -> String {
    let f1 = |p: Option<Prf>| p.and_then(|p| p.f1);
    let cells = report.cells.iter().map(|c| headline::Cell {
        detector: &c.detector,
        on: match c.fault.as_str() {
            "clean" => "the clean log".to_string(),
            fault => format!("{fault} {}", c.label),
        },
        failed: c.failure.is_some(),
        f1: [
            ("user", f1(c.user)),
            ("exposure", f1(c.exposure)),
            ("violation", f1(c.violation)),
            ("stolen-token", f1(c.token)),
            ("View-As user", f1(c.view_as_user)),
        ],
    });
    lowest_f1(&detectors(report), cells, "under")
}

/// The page (see [`doc`]).
pub fn html(report: &StressReport) -> String {
    doc(report).to_html()
}

/// Per-detector cells by fault, for callers that tabulate (the leaderboard).
pub fn by_detector(report: &StressReport) -> BTreeMap<String, Vec<&Cell>> {
    let mut out: BTreeMap<String, Vec<&Cell>> = BTreeMap::new();
    for c in &report.cells {
        out.entry(c.detector.clone()).or_default().push(c);
    }
    out
}
