//! The leaderboard: every built-in detector and every outside command, on every preset,
//! clean and under the default damage, scored against the truth, timed as whole processes.
//!
//! Built-in detectors run as `blastradius analyze` children and outside ones as their own
//! commands, so each one's wall time and peak memory are its process's, measured the same
//! way (`wait4`), reading and writing included.

use std::path::{Path, PathBuf};
use std::time::Duration;

use blastradius_analyzer::analyze::truth_of;
use blastradius_analyzer::output::Catalog;
use blastradius_dataset::Dataset;
use blastradius_pages::chart::{Axis, Chart, Series, Style};
use blastradius_pages::doc::{Block, Column, Doc, Table};
use blastradius_pages::headline::{Cell, lowest_f1};
use blastradius_pages::palette::assign;
use blastradius_safefs::{Kind, Stage};
use serde::Serialize;

use crate::exec::{self, ExecDetector};
use crate::judge::Judge;
use crate::scaling::{child, machine};
use crate::{Error, argv};

/// The damage every preset is also scored under: a little of every fault, at once.
pub const DEFAULT_DAMAGE: &[&str] = &[
    "--drop",
    "0.01",
    "--duplicate",
    "0.01",
    "--reorder",
    "15m",
    "--skew",
    "5m",
    "--seed",
    "1",
];

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// This program, to run `generate`, `perturb` and `analyze` as children.
    pub exe: PathBuf,
    pub scenarios: Vec<String>,
    pub users: u64,
    pub seed: u64,
    pub detectors: Vec<String>,
    pub exec: Vec<ExecDetector>,
    pub timeout: Duration,
    pub out: PathBuf,
    pub force: bool,
    pub keep_data: bool,
}

/// One detector on one dataset.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    pub scenario: String,
    /// `clean`, or `damaged` (see [`DEFAULT_DAMAGE`]).
    pub condition: String,
    pub detector: String,
    pub origin: String,
    pub failure: Option<String>,
    pub user_f1: Option<f64>,
    pub exposure_f1: Option<f64>,
    pub violation_f1: Option<f64>,
    /// View-As levels, on a preset with that incident.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_f1: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view_as_user_f1: Option<f64>,
    pub events: u64,
    pub wall_seconds: f64,
    pub events_per_second: f64,
    pub peak_memory_bytes: u64,
}

/// One built-in discovery detector (never told the bug, data/README §14) on one dataset of a
/// preset: `clean`, `damaged` (false alarms counted before the deploy) or `control` (every
/// alarm false).
#[derive(Clone, Debug, Serialize)]
pub struct DiscoveryEntry {
    pub scenario: String,
    pub condition: String,
    pub detector: String,
    pub score: blastradius_analyzer::discover::score::Headline,
    pub wall_seconds: f64,
    pub peak_memory_bytes: u64,
}

/// Runs every built-in discovery detector as a `discover` child on `dataset`.
fn discover_on(
    options: &Options,
    scenario: &str,
    condition: &str,
    dataset: &Path,
    runs: &Path,
) -> Result<Vec<DiscoveryEntry>, Error> {
    use blastradius_analyzer::discover::{DETECTORS, score};
    let mut out = Vec::new();
    let opened = Dataset::open(dataset)?;
    for (name, _, _) in DETECTORS {
        if !blastradius_analyzer::discover::applies(&opened, name) {
            continue;
        }
        let dir = runs.join(format!("{scenario}-{condition}-discover-{name}"));
        let (wall, peak) = child(
            &options.exe,
            &argv::Discover {
                dataset,
                detector: name,
                out: &dir,
            }
            .args(),
        )?;
        let p = dir.join("discovery.json");
        let bad = |message: String| Error::Input {
            path: p.clone(),
            message,
        };
        let text = std::fs::read(&p).map_err(|e| bad(e.to_string()))?;
        let report: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
        let s: score::DiscoveryScore =
            serde_json::from_value(report["detectors"][0]["score"].clone())
                .map_err(|e| bad(format!("holds no score ({e})")))?;
        out.push(DiscoveryEntry {
            scenario: scenario.into(),
            condition: condition.into(),
            detector: name.to_string(),
            score: score::Headline::of(&s),
            wall_seconds: wall,
            peak_memory_bytes: peak,
        });
    }
    Ok(out)
}

/// Scores the alarms an outside command wrote in `dir` (it ran `wall` s, `peak` bytes)
/// against `dataset`'s truth, as `score` does.
fn outside_discovery(
    dataset: &Path,
    dir: &Path,
    (scenario, condition, name): (&str, &str, &str),
    (wall, peak): (f64, u64),
) -> Result<DiscoveryEntry, blastradius_analyzer::Error> {
    use blastradius_analyzer::discover::{score, score_outside, worlds};
    let d = Dataset::open(dataset)?;
    let universe = blastradius_analyzer::analyze::universe(&d, &Catalog::read(&d)?);
    let scored = score_outside(dir, name, &universe, Some(&worlds(&d, None)?))?;
    Ok(DiscoveryEntry {
        scenario: scenario.into(),
        condition: condition.into(),
        detector: name.into(),
        score: score::Headline::of(&scored),
        wall_seconds: wall,
        peak_memory_bytes: peak,
    })
}

/// The outside detectors that failed in every cell they were run in.
pub fn failed_everywhere(board: &Leaderboard) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for e in board.entries.iter().filter(|e| e.origin == "outside") {
        if !names.contains(&e.detector) {
            names.push(e.detector.clone());
        }
    }
    // A discovery command whose alarms were scored somewhere did not fail everywhere.
    names.retain(|d| {
        !board.discovery.iter().any(|x| &x.detector == d)
            && board
                .entries
                .iter()
                .filter(|e| &e.detector == d)
                .all(|e| e.failure.is_some())
    });
    names
}

/// The kept results.
#[derive(Clone, Debug, Serialize)]
pub struct Leaderboard {
    pub command: String,
    pub machine: String,
    pub users: u64,
    pub seed: u64,
    pub damage: String,
    pub entries: Vec<Entry>,
    /// The discovery baselines on each preset: clean, damaged and its control world.
    pub discovery: Vec<DiscoveryEntry>,
}

/// Runs of each detector on the first preset's clean log, whose median is its speed and
/// memory.
pub const SPEED_RUNS: usize = 3;

/// The median wall time and the median peak memory of `runs`, each taken alone.
fn medians(runs: &[(f64, u64)]) -> (f64, u64) {
    let mut walls: Vec<f64> = runs.iter().map(|r| r.0).collect();
    let mut peaks: Vec<u64> = runs.iter().map(|r| r.1).collect();
    walls.sort_by(f64::total_cmp);
    peaks.sort_unstable();
    (walls[walls.len() / 2], peaks[peaks.len() / 2])
}

/// Runs the outside command `x` on `dataset` with `{out}` = `dir` (made first), its output
/// logged beside `dir`.
fn run_in(
    x: &ExecDetector,
    dataset: &Path,
    dir: &Path,
    timeout: Duration,
) -> Result<exec::Outcome, Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Input {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(exec::run(
        &x.command_for(dataset, dir),
        &suffixed(dir, ".log"),
        timeout,
    ))
}

/// `p` with `suffix` added to its name (a detector's name may hold dots of its own).
fn suffixed(p: &Path, suffix: &str) -> PathBuf {
    let mut name = p.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The rows of the dataset's logs: `events/`, and `access/` in a View-As world.
fn events_of(d: &Dataset) -> u64 {
    [
        blastradius_schema::path::EVENTS_DIR,
        blastradius_schema::path::ACCESS_DIR,
    ]
    .iter()
    .flat_map(|dir| d.parts(dir))
    .map(|f| f.rows)
    .sum()
}

/// Runs the leaderboard; writes leaderboard.{json,md,html} under `options.out`.
///
/// # Errors
/// A dataset that cannot be generated or damaged, a built-in detector that fails, an
/// output that may not be written. Outside commands' failures are entries.
pub fn run(options: &Options, mut progress: impl FnMut(&Entry)) -> Result<Leaderboard, Error> {
    let stage = Stage::begin(
        &options.out,
        Kind::Output("bench detectors"),
        options.force,
        "--out",
        &[],
    )?;
    let data = stage.path().join("data");
    let mut entries = Vec::new();
    let mut discovery = Vec::new();
    // Outside commands that wrote alarms: they run on the control worlds too.
    let mut discovery_commands = std::collections::BTreeSet::new();
    for scenario in &options.scenarios {
        let clean = data.join(scenario);
        child(
            &options.exe,
            &argv::Generate {
                users: options.users,
                seed: Some(options.seed),
                scenario: Some(scenario),
                out: &clean,
                ..Default::default()
            }
            .args(),
        )?;
        let damaged = data.join(format!("{scenario}-damaged"));
        child(
            &options.exe,
            &argv::Perturb {
                input: &clean,
                out: &damaged,
                faults: DEFAULT_DAMAGE,
            }
            .args(),
        )?;
        // The speed cell's earlier runs, apart from the runs whose findings are scored.
        let warmup = data.join("speed-runs");
        for (condition, dataset) in [("clean", &clean), ("damaged", &damaged)] {
            let d = Dataset::open(dataset)?;
            let events = events_of(&d);
            let truth = truth_of(&d, None)?.ok_or_else(|| Error::Input {
                path: dataset.clone(),
                message: "has no truth".into(),
            })?;
            let catalog = Catalog::read(&d)?;
            let judge = Judge::new(&truth, &d, &catalog);
            // The speed and memory column comes from this cell: timed as the median of
            // several runs, so that a cold first start (an interpreter and its libraries
            // read from disk) is not what a detector is rated by.
            let repeats = match (scenario == &options.scenarios[0], condition) {
                (true, "clean") => SPEED_RUNS,
                _ => 1,
            };
            for name in &options.detectors {
                let out = data
                    .join("runs")
                    .join(format!("{scenario}-{condition}-{name}"));
                let mut runs = Vec::new();
                for k in 1..=repeats {
                    // Earlier runs of the cell write apart from the one whose findings count.
                    let out = match k == repeats {
                        true => out.clone(),
                        false => warmup.join(format!("{scenario}-{name}-{k}")),
                    };
                    let args = argv::Analyze {
                        dataset,
                        detector: name,
                        threads: None,
                        out: &out,
                    }
                    .args();
                    runs.push(child(&options.exe, &args)?);
                }
                let (wall, peak) = medians(&runs);
                // Its findings, judged as an outside detector's are.
                let findings = out.join(blastradius_analyzer::analyze::safe_name(name));
                let scores = judge.score_dir(&findings).map_err(|e| Error::Input {
                    path: findings.clone(),
                    message: format!(
                        "the findings `analyze --detector {name}` wrote cannot be scored: {e}"
                    ),
                })?;
                let entry = Entry {
                    scenario: scenario.clone(),
                    condition: condition.into(),
                    detector: name.clone(),
                    origin: "built-in".into(),
                    failure: None,
                    user_f1: scores.users.and_then(|x| x.f1),
                    exposure_f1: scores.exposures.and_then(|x| x.f1),
                    violation_f1: scores.violations.and_then(|x| x.f1),
                    token_f1: scores.stolen_tokens.and_then(|x| x.f1),
                    view_as_user_f1: scores.view_as_users.and_then(|x| x.f1),
                    events,
                    wall_seconds: wall,
                    events_per_second: events as f64 / wall.max(1e-9),
                    peak_memory_bytes: peak,
                };
                progress(&entry);
                entries.push(entry);
            }
            for x in &options.exec {
                let dir = data.join("runs").join(format!(
                    "{scenario}-{condition}-{}",
                    blastradius_analyzer::analyze::safe_name(&x.name)
                ));
                let mut runs = Vec::new();
                let mut outcome = None;
                for k in 1..=repeats {
                    let dir = match k == repeats {
                        true => dir.clone(),
                        false => warmup.join(format!(
                            "{scenario}-{}-{k}",
                            blastradius_analyzer::analyze::safe_name(&x.name)
                        )),
                    };
                    let o = run_in(x, dataset, &dir, options.timeout)?;
                    runs.push((o.wall_seconds, o.peak_memory_bytes));
                    let failed = o.failure.is_some();
                    outcome = Some(o);
                    if failed {
                        break; // the failure is the cell's answer
                    }
                }
                let mut outcome = outcome.expect("at least one run");
                if outcome.failure.is_none() {
                    (outcome.wall_seconds, outcome.peak_memory_bytes) = medians(&runs);
                }
                let mut entry = Entry {
                    scenario: scenario.clone(),
                    condition: condition.into(),
                    detector: x.name.clone(),
                    origin: "outside".into(),
                    failure: outcome.failure.as_ref().map(|f| f.to_string()),
                    user_f1: None,
                    exposure_f1: None,
                    violation_f1: None,
                    token_f1: None,
                    view_as_user_f1: None,
                    events,
                    wall_seconds: outcome.wall_seconds,
                    events_per_second: events as f64 / outcome.wall_seconds.max(1e-9),
                    peak_memory_bytes: outcome.peak_memory_bytes,
                };
                // A discovery command wrote alarms: its cell is a discovery one.
                if entry.failure.is_none()
                    && blastradius_analyzer::discover::alarms::is_alarms_folder(&dir)
                {
                    let cell = (scenario.as_str(), condition, x.name.as_str());
                    let ran = (entry.wall_seconds, entry.peak_memory_bytes);
                    match outside_discovery(dataset, &dir, cell, ran) {
                        Ok(d) => {
                            discovery.push(d);
                            discovery_commands.insert(x.name.clone());
                            continue;
                        }
                        Err(e) => {
                            entry.failure = Some(format!("its alarms break the contract: {e}"))
                        }
                    }
                }
                if entry.failure.is_none() {
                    match judge.score_dir(&dir) {
                        Ok(sc) => {
                            entry.user_f1 = sc.users.and_then(|x| x.f1);
                            entry.exposure_f1 = sc.exposures.and_then(|x| x.f1);
                            entry.violation_f1 = sc.violations.and_then(|x| x.f1);
                            entry.token_f1 = sc.stolen_tokens.and_then(|x| x.f1);
                            entry.view_as_user_f1 = sc.view_as_users.and_then(|x| x.f1);
                        }
                        Err(e) => {
                            entry.failure = Some(format!("its findings break the contract: {e}"))
                        }
                    }
                }
                progress(&entry);
                entries.push(entry);
            }
        }
        // Discovery: the same clean and damaged logs, and the preset's control world.
        let control = data.join(format!("{scenario}-control"));
        child(
            &options.exe,
            &argv::Generate {
                users: options.users,
                seed: Some(options.seed),
                scenario: Some(scenario),
                no_incident: true,
                out: &control,
                ..Default::default()
            }
            .args(),
        )?;
        let runs = data.join("runs");
        for (condition, dataset) in [
            ("clean", &clean),
            ("damaged", &damaged),
            ("control", &control),
        ] {
            discovery.extend(discover_on(options, scenario, condition, dataset, &runs)?);
        }
        for x in options
            .exec
            .iter()
            .filter(|x| discovery_commands.contains(&x.name))
        {
            let dir = runs.join(format!(
                "{scenario}-control-{}",
                blastradius_analyzer::analyze::safe_name(&x.name)
            ));
            let o = run_in(x, &control, &dir, options.timeout)?;
            let cell = (scenario.as_str(), "control", x.name.as_str());
            let found = match &o.failure {
                None => {
                    outside_discovery(&control, &dir, cell, (o.wall_seconds, o.peak_memory_bytes))
                        .map_err(|e| format!("its alarms break the contract: {e}"))
                }
                Some(f) => Err(f.to_string()),
            };
            match found {
                Ok(d) => discovery.push(d),
                // Not silently absent: the control cell's failure is an entry of its own.
                Err(why) => entries.push(Entry {
                    scenario: scenario.clone(),
                    condition: "control".into(),
                    detector: x.name.clone(),
                    origin: "outside".into(),
                    failure: Some(why),
                    user_f1: None,
                    exposure_f1: None,
                    violation_f1: None,
                    token_f1: None,
                    view_as_user_f1: None,
                    events: 0,
                    wall_seconds: o.wall_seconds,
                    events_per_second: 0.0,
                    peak_memory_bytes: o.peak_memory_bytes,
                }),
            }
        }
        if !options.keep_data {
            let _ = std::fs::remove_dir_all(&data);
        }
    }
    let board = Leaderboard {
        command: format!(
            "blastradius bench detectors --users {} --seed {} --scenarios {}",
            options.users,
            options.seed,
            options.scenarios.join(",")
        ),
        machine: machine(),
        users: options.users,
        seed: options.seed,
        damage: format!("perturb {}", DEFAULT_DAMAGE.join(" ")),
        entries,
        discovery,
    };
    let write = |name: &str, text: String| {
        std::fs::write(stage.path().join(name), text).map_err(|e| Error::Input {
            path: options.out.join(name),
            message: format!("cannot write ({e})"),
        })
    };
    write(
        "leaderboard.json",
        serde_json::to_string_pretty(&board).expect("serializes") + "\n",
    )?;
    write("leaderboard.md", markdown(&board))?;
    write("leaderboard.html", html(&board))?;
    stage.commit()?;
    Ok(board)
}

fn ratio(x: Option<f64>) -> String {
    x.map_or("–".into(), |v| format!("{v:.3}"))
}

/// The detectors, in the order they ran.
fn detectors(board: &Leaderboard) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for e in &board.entries {
        if !names.contains(&e.detector) {
            names.push(e.detector.clone());
        }
    }
    names
}

fn scenarios(board: &Leaderboard) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for e in &board.entries {
        if !names.contains(&e.scenario) {
            names.push(e.scenario.clone());
        }
    }
    names
}

fn find<'a>(
    board: &'a Leaderboard,
    scenario: &str,
    condition: &str,
    detector: &str,
) -> Option<&'a Entry> {
    board
        .entries
        .iter()
        .find(|e| e.scenario == scenario && e.condition == condition && e.detector == detector)
}

/// The leaderboard as a document: the headline, the charts, the F1 table (a row per detector
/// and dataset, a column per level), the speed table, the method.
pub fn doc(board: &Leaderboard) -> Doc {
    let scen = scenarios(board);
    let names = detectors(board);
    let first = scen.first().map_or("", String::as_str);
    let view_as = board
        .entries
        .iter()
        .any(|e| e.token_f1.is_some() || e.view_as_user_f1.is_some());
    let width = if view_as { 5 } else { 3 };
    let mut f1_rows = Vec::new();
    for d in &names {
        for s in &scen {
            for c in ["clean", "damaged"] {
                let dataset = match c {
                    "clean" => s.clone(),
                    _ => format!("{s} damaged"),
                };
                let mut cells = match find(board, s, c, d) {
                    None => vec!["–".to_string(); width],
                    Some(e) if e.failure.is_some() => vec!["failed".to_string(); width],
                    Some(e) => vec![
                        ratio(e.user_f1),
                        ratio(e.exposure_f1),
                        ratio(e.violation_f1),
                        ratio(e.token_f1),
                        ratio(e.view_as_user_f1),
                    ],
                };
                cells.truncate(width);
                f1_rows.push([vec![d.clone(), dataset], cells].concat());
            }
        }
    }
    let speed_rows = names
        .iter()
        .map(|d| {
            // A failed run's time is how long it took to fail, not a speed.
            let rated = find(board, first, "clean", d).filter(|e| e.failure.is_none());
            let origin = board
                .entries
                .iter()
                .find(|e| &e.detector == d)
                .map_or("", |e| e.origin.as_str());
            match rated {
                Some(e) => vec![
                    d.clone(),
                    origin.to_string(),
                    format!("{:.2}M", e.events_per_second / 1e6),
                    format!("{:.0}", e.peak_memory_bytes as f64 / 1048576.0),
                ],
                None => vec![d.clone(), origin.to_string(), "–".into(), "–".into()],
            }
        })
        .collect();
    let [soon, wrong] = discovery_tables(board);
    Doc {
        title: "Detectors on every preset".into(),
        headline: Some(headline(board)),
        blocks: vec![
            Block::Paragraph(format!(
                "`{}` on {}. F1 at user, exposure and message-violation level{} (\"–\": the level is not reported, or there is nothing to find). \"damaged\": `{}`. Speed and memory: whole process (reading the dataset and writing findings included), the median of {} runs on the clean `{first}` log.",
                board.command,
                board.machine,
                if view_as {
                    ", and on a View-As world at stolen-token and View-As user level (data/README §13)"
                } else {
                    ""
                },
                board.damage,
                SPEED_RUNS
            )),
            Block::Charts(charts(board)),
            Block::Heading("F1 by dataset".into()),
            Block::Table(Table {
                caption: None,
                columns: [
                    Column::text("detector"),
                    Column::text("dataset"),
                    Column::number("user F1"),
                    Column::number("exposure F1"),
                    Column::number("violation F1"),
                    Column::number("View-As token F1"),
                    Column::number("View-As user F1"),
                ]
                .into_iter()
                .take(2 + width)
                .collect(),
                rows: f1_rows,
            }),
            Block::Heading("Speed and memory".into()),
            Block::Table(Table {
                caption: None,
                columns: vec![
                    Column::text("detector"),
                    Column::text("origin"),
                    Column::number("events/s"),
                    Column::number("peak memory (MiB)"),
                ],
                rows: speed_rows,
            }),
            Block::Heading("Discovery: noticing the bug unaided".into()),
            Block::Paragraph(
                "The built-in discovery detectors (data/README §14), never told which deploy was the bug. Time to detect: from the bug's deploy to the first alarm (at any confidence, and at 0.5 or more), on the clean log and on the damaged one. Blamed: whether the first alarm on the clean log named the bug's deploy. False alarms per day: on the preset's control world (`generate --no-incident`, nothing ever wrong), and on the damaged log before the deploy. The 24 h estimate of affected users on the clean log: precision, and recall of the users exposed by then. `token-rate` (view-as-2018 only) is timed from the attack's first theft, and has no deploy to blame.".into(),
            ),
            Block::Table(soon),
            Block::Table(wrong),
            Block::Paragraph("Charts: [leaderboard.html](leaderboard.html).".into()),
        ],
        method: vec![format!(
            "`{}` on {}, {} users per preset, seed {}. Built-in detectors run as `blastradius analyze` child processes, outside ones as their own commands; every one's findings are loaded and scored the same way. events/s: the clean `{first}` log's events over the whole process's wall time; peak memory: the largest peak resident set among the detector's processes (`wait4`, and /proc sampled every 50 ms for those it starts without waiting for them, such as Spark's JVM). `leaderboard.json` holds every cell.",
            board.command, board.machine, board.users, board.seed
        )],
    }
}

/// Two tables, each a row per discovery detector and preset (see [`DiscoveryEntry`]): how
/// soon (clean and damaged), and how often wrong and how big at first.
fn discovery_tables(board: &Leaderboard) -> [Table; 2] {
    use blastradius_analyzer::discover::duration;
    let f = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.2}"));
    let (mut soon, mut wrong) = (Vec::new(), Vec::new());
    let mut seen = Vec::new();
    for e in &board.discovery {
        let key = (e.detector.clone(), e.scenario.clone());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let at = |condition: &str| {
            board
                .discovery
                .iter()
                .find(|x| {
                    x.detector == e.detector && x.scenario == e.scenario && x.condition == condition
                })
                .map(|x| (&x.score, x.wall_seconds))
        };
        let (clean, damaged, control) = (at("clean"), at("damaged"), at("control"));
        let head = vec![e.detector.clone(), e.scenario.clone()];
        soon.push(
            [
                head.clone(),
                vec![
                    duration(clean.and_then(|c| c.0.time_to_detect_seconds)),
                    duration(clean.and_then(|c| c.0.time_to_detect_at_half_seconds)),
                    clean.map_or("–".into(), |c| c.0.blamed()),
                    duration(damaged.and_then(|c| c.0.time_to_detect_seconds)),
                    clean.map_or("–".into(), |c| format!("{:.2}", c.1)),
                ],
            ]
            .concat(),
        );
        wrong.push(
            [
                head,
                vec![
                    f(control.and_then(|c| c.0.false_alarms_per_day)),
                    f(control.and_then(|c| c.0.false_alarms_per_day_at_half)),
                    f(damaged.and_then(|c| c.0.false_alarms_per_day)),
                    f(clean.and_then(|c| c.0.estimate_24h_user_precision)),
                    f(clean.and_then(|c| c.0.estimate_24h_recall_of_exposed)),
                ],
            ]
            .concat(),
        );
    }
    let columns = |names: &[&str]| {
        [Column::text("detector"), Column::text("preset")]
            .into_iter()
            .chain(names.iter().map(|n| Column::number(*n)))
            .collect()
    };
    [
        Table {
            caption: None,
            columns: columns(&[
                "time to detect",
                "time to detect at ≥ 0.5",
                "blamed",
                "time to detect, damaged",
                "wall s",
            ]),
            rows: soon,
        },
        Table {
            caption: None,
            columns: columns(&[
                "false alarms/day, control",
                "false alarms/day at ≥ 0.5, control",
                "false alarms/day, damaged",
                "24 h users P",
                "24 h recall of exposed",
            ]),
            rows: wrong,
        },
    ]
}

/// Each detector's worst F1 across presets, conditions and levels, and where: the answer a
/// reader wants first.
fn headline(board: &Leaderboard) -> String {
    let cells = board.entries.iter().map(|e| Cell {
        detector: &e.detector,
        on: match e.condition.as_str() {
            "clean" => e.scenario.clone(),
            "control" => format!("{} control world", e.scenario),
            _ => format!("{} damaged", e.scenario),
        },
        failed: e.failure.is_some(),
        f1: [
            ("user", e.user_f1),
            ("exposure", e.exposure_f1),
            ("violation", e.violation_f1),
            ("stolen-token", e.token_f1),
            ("View-As user", e.view_as_user_f1),
        ],
    });
    lowest_f1(&detectors(board), cells, "on")
}

/// The leaderboard as Markdown (see [`doc`]).
pub fn markdown(board: &Leaderboard) -> String {
    doc(board).to_markdown()
}

fn charts(board: &Leaderboard) -> Vec<Chart> {
    let scen = scenarios(board);
    let names = detectors(board);
    let styles = assign(&names);
    let style_of = |d: &String| styles[names.iter().position(|n| n == d).unwrap_or(0)];
    let mut out = Vec::new();
    for (metric, pick) in [
        (
            "exposure F1",
            (|e: &Entry| e.exposure_f1) as fn(&Entry) -> Option<f64>,
        ),
        ("user F1", |e: &Entry| e.user_f1),
        ("message-violation F1", |e: &Entry| e.violation_f1),
        ("View-As user F1", |e: &Entry| e.view_as_user_f1),
    ] {
        if !board.entries.iter().any(|e| pick(e).is_some())
            && !matches!(metric, "exposure F1" | "user F1")
        {
            continue;
        }
        for condition in ["clean", "damaged"] {
            out.push(Chart {
                title: format!("{metric}, {condition}"),
                x_label: "preset".into(),
                y_label: metric.into(),
                x: Axis::Category(scen.clone()),
                y_range: Some((0.0, 1.05)),
                style: Style::Bars,
                series: names
                    .iter()
                    .map(|d| {
                        Series::new(
                            d.clone(),
                            scen.iter()
                                .enumerate()
                                .filter_map(|(i, s)| {
                                    Some((i as f64, pick(find(board, s, condition, d)?)?))
                                })
                                .collect(),
                        )
                        .styled(style_of(d))
                    })
                    .collect(),
                ..Chart::default()
            });
        }
    }
    out
}

fn html(board: &Leaderboard) -> String {
    doc(board).to_html()
}
