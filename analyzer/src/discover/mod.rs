//! Discovery: noticing the incident without being told which deploy was the bug.
//!
//! A discovery detector reads the log and writes alarms ([`alarms`], data/README §14); the
//! score ([`score`]) measures how soon the first alarm came after the bug's deploy, how many
//! alarms came where nothing was wrong (per day, on a control world or before the deploy),
//! whether the alarm blamed the right deploy, and how good its first estimate of the
//! affected users and apps was. The built-in baselines never read the truth or the bug's
//! deploy kinds: every deploy is just a deploy to them.

pub mod aggregate;
pub mod alarms;
pub mod apps;
pub mod live;
pub mod pager;
pub mod policy;
pub mod score;
pub mod tokens;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use arrow::array::AsArray;
use std::time::Instant;

use blastradius_dataset::Dataset;
use blastradius_dataset::log::{EVERY_COLUMN, ShardLog};
use blastradius_safefs::{Kind as StageKind, Stage};
use blastradius_schema::time::format_utc;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::findings::{Meta, Universe};
use crate::score::Truth;
use alarms::Alarm;

/// Which incident a discovery detector watches for, and so which truth scores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Incident {
    /// The photo-API bug: timed from its deploy, which an alarm should blame.
    PhotoBug,
    /// The View-As token theft (data/README §13): timed from the attack's first theft; its
    /// flaw shipped before the period, so there is no deploy to blame.
    ViewAs,
}

impl Incident {
    pub fn as_str(self) -> &'static str {
        match self {
            Incident::PhotoBug => "photo-bug",
            Incident::ViewAs => "view-as",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Incident::PhotoBug, Incident::ViewAs]
            .into_iter()
            .find(|i| i.as_str() == text)
    }
}

/// The built-in discovery detectors: name, the incident it watches for, what it watches.
pub const DETECTORS: &[(&str, Incident, &str)] = &[
    (
        "policy-replay",
        Incident::PhotoBug,
        "replays the intended photo rule per user; pages on calls that returned more than it allows",
    ),
    (
        "app-shift",
        Incident::PhotoBug,
        "each app's daily mean of items returned, against its own previous two weeks (change points per app)",
    ),
    (
        "aggregate",
        Incident::PhotoBug,
        "the platform-wide hourly mean of items returned, against the week before (deliberately naive)",
    ),
    (
        "token-rate",
        Incident::ViewAs,
        "hourly tokens the video uploader issues, against the week before (View-As worlds only)",
    ),
];

/// How many standard deviations `value` stands above `past` (its population spread, taken as
/// at least `min_spread`): the rule of the baselines that compare a period with the ones
/// before it.
pub(crate) fn z_score(value: f64, past: &[f64], min_spread: f64) -> f64 {
    let mean = past.iter().sum::<f64>() / past.len() as f64;
    let var = past.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / past.len() as f64;
    (value - mean) / var.sqrt().max(min_spread)
}

/// The incident the built-in detector `name` watches for.
pub fn incident_of(name: &str) -> Option<Incident> {
    DETECTORS.iter().find(|d| d.0 == name).map(|d| d.1)
}

/// Whether the built-in detector `name` can run on `dataset` (`token-rate` needs an access
/// log).
pub fn applies(dataset: &Dataset, name: &str) -> bool {
    match incident_of(name) {
        Some(Incident::ViewAs) => blastradius_dataset::access::has_access_log(dataset),
        Some(Incident::PhotoBug) => true,
        None => false,
    }
}

/// What one detector's run gave.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub name: String,
    pub incident: Incident,
    pub alarms: Vec<Alarm>,
    /// `None` for an outside detector's folder (its own `findings.json` may say).
    pub wall_seconds: Option<f64>,
    pub events: Option<u64>,
}

/// The service that serves the photo API, whose rule both baselines watch: a page about it
/// blames that service's latest deploy (`deploys.parquet` names each deploy's service).
pub const WATCHED_SERVICE: &str = "photos-api";

/// Every deploy of the log, `(ts, deploy_id)` in log order, whatever its kind says; and, from
/// `deploys.parquet` when the dataset has one, which of them were the watched service's.
#[derive(Debug, Clone, Default)]
pub struct Deploys(Vec<(i64, u64)>, Option<BTreeSet<u64>>);

impl Deploys {
    fn of(log: &ShardLog) -> Self {
        let mut d: Vec<(i64, u64)> = (0..log.len())
            .filter(|&i| log.kind[i].is_system())
            .map(|i| (log.ts[i], log.event_id[i]))
            .collect();
        d.sort_unstable();
        d.dedup();
        Deploys(d, None)
    }

    /// Adds one deploy seen at log time `ts` (a live stream's, as it comes; once each).
    pub fn add(&mut self, ts: i64, id: u64) {
        let i = self.0.partition_point(|d| *d < (ts, id));
        if self.0.get(i) != Some(&(ts, id)) {
            self.0.insert(i, (ts, id));
        }
    }

    /// Whether it knows which deploys were [`WATCHED_SERVICE`]'s.
    pub fn knows_services(&self) -> bool {
        self.1.is_some()
    }

    fn merge(&mut self, other: Deploys) {
        self.0.extend(other.0);
        self.0.sort_unstable();
        self.0.dedup();
    }

    /// Reads which deploys were [`WATCHED_SERVICE`]'s from `deploys.parquet` (a dataset of
    /// schema version 2 or older has none: then every deploy is a suspect).
    ///
    /// # Errors
    /// A `deploys.parquet` that cannot be read, or of another shape.
    pub fn read_services(&mut self, dataset: &Dataset) -> Result<()> {
        let Some(entry) = dataset.file(blastradius_schema::path::DEPLOYS) else {
            return Ok(());
        };
        let p = dataset.root.join(&entry.path);
        let reader = blastradius_dataset::listed_reader(&p, dataset.read(entry)?, entry)?
            .build()
            .map_err(Error::parquet(&p))?;
        let mut watched = BTreeSet::new();
        for batch in reader {
            let b = batch.map_err(|e| Error::parquet(&p)(e.into()))?;
            let bad = || Error::Schema {
                path: p.clone(),
                column: "deploy_id or service".into(),
                problem: "is missing or of another type".into(),
                expected: "deploys.parquet as data/README.md §2 describes it".into(),
            };
            let ids = b
                .column_by_name("deploy_id")
                .and_then(blastradius_schema::arrays::id_column::<u64>)
                .ok_or_else(bad)?;
            let services = b
                .column_by_name("service")
                .and_then(|c| c.as_string_opt::<i32>().cloned())
                .ok_or_else(bad)?;
            for (i, id) in ids.into_iter().enumerate() {
                if services.value(i) == WATCHED_SERVICE {
                    watched.insert(id);
                }
            }
        }
        self.1 = Some(watched);
        Ok(())
    }

    /// The deploy to blame for evidence first seen at log time `ts`: the latest deploy of
    /// [`WATCHED_SERVICE`] at or before it, else (with no service named) the latest deploy.
    pub fn at(&self, ts: i64) -> Option<u64> {
        let n = self.0.partition_point(|d| d.0 <= ts);
        self.0[..n]
            .iter()
            .rev()
            .find(|d| self.1.as_ref().is_none_or(|w| w.contains(&d.1)))
            .map(|d| d.1)
    }
}

/// Reads every events shard (every column) on `threads` threads (the engine's pool) and
/// hands each to `each`; with each shard's deploys, and the events read.
fn per_shard<T: Send>(
    dataset: &Dataset,
    threads: usize,
    each: impl Fn(&ShardLog) -> T + Sync,
) -> Result<(Vec<(T, Deploys)>, u64)> {
    let results = crate::engine::for_each_shard(dataset, threads, EVERY_COLUMN, None, |log, _| {
        (each(log), Deploys::of(log), log.len() as u64)
    })?;
    let mut events = 0;
    let mut parts = Vec::new();
    for r in results {
        let (t, d, n) = r?;
        events += n;
        parts.push((t, d));
    }
    Ok((parts, events))
}

/// Whether `name` is a built-in discovery detector.
pub fn known(name: &str) -> bool {
    incident_of(name).is_some()
}

/// Runs the built-in discovery detector `name` (one of [`DETECTORS`]) over `dataset`.
///
/// # Errors
/// A shard that cannot be read.
///
/// # Panics
/// On a name that is not [`known`]: callers check names first, with the user's flag.
pub fn run(dataset: &Dataset, name: &str, threads: usize) -> Result<Discovered> {
    let started = Instant::now();
    let (alarms, events) = match name {
        "policy-replay" => {
            let (parts, events) = per_shard(dataset, threads, policy::flags)?;
            let mut deploys = Deploys::default();
            let mut flags = Vec::new();
            for (f, d) in parts {
                flags.extend(f);
                deploys.merge(d);
            }
            flags.sort_unstable();
            deploys.read_services(dataset)?;
            let mut pager = pager::Pager::default();
            let alarms = flags
                .iter()
                .filter_map(|f| pager.observe(f.ts, f.user, f.app, |t| deploys.at(t)))
                .collect();
            (alarms, events)
        }
        "app-shift" => {
            let (parts, events) = per_shard(dataset, threads, apps::days)?;
            let mut deploys = Deploys::default();
            let mut days = apps::Days::new();
            for (d, dep) in parts {
                apps::merge(&mut days, d);
                deploys.merge(dep);
            }
            deploys.read_services(dataset)?;
            (apps::alarms(&days, |t| deploys.at(t)), events)
        }
        "aggregate" => {
            let (parts, events) = per_shard(dataset, threads, aggregate::hours)?;
            let mut deploys = Deploys::default();
            let mut hours = aggregate::Hours::new();
            for (h, d) in parts {
                for (k, (sum, n)) in h {
                    let e = hours.entry(k).or_default();
                    e.0 += sum;
                    e.1 += n;
                }
                deploys.merge(d);
            }
            deploys.read_services(dataset)?;
            (aggregate::alarms(&hours, |t| deploys.at(t)), events)
        }
        "token-rate" => {
            let rows = blastradius_dataset::access::read(dataset)?;
            let m = &dataset.manifest;
            let (start, end) = (
                period(dataset, &m.period.start)?,
                period(dataset, &m.period.end)?,
            );
            (tokens::alarms(&rows, start, end), rows.len() as u64)
        }
        other => panic!("`{other}` is not a discovery detector; check names with known()"),
    };
    Ok(Discovered {
        name: name.to_string(),
        incident: incident_of(name).expect("a known name"),
        alarms,
        wall_seconds: Some(started.elapsed().as_secs_f64()),
        events: Some(events),
    })
}

/// A time of the manifest's period, in microseconds.
fn period(dataset: &Dataset, text: &str) -> Result<i64> {
    blastradius_schema::time::parse_utc(text)
        .map_err(|e| Error::dataset(dataset.root.join("manifest.json"), e))
}

/// The scorer's view of the dataset's incidents, from its truth (or answer key) and
/// manifest, and where the truth came from.
#[derive(Debug, Clone)]
pub struct Worlds {
    pub source: String,
    /// The photo bug's deploy `(deploy_id, ts)`, `None` in a control world.
    pub bug: Option<(u64, i64)>,
    pub photo: score::World,
    /// The View-As attack's, in a View-As world.
    pub view_as: Option<score::World>,
}

impl Worlds {
    /// The world that scores alarms about `incident` (`None`: the dataset has no such
    /// incident, or not even a quiet version of it).
    pub fn of(&self, incident: Incident) -> Option<&score::World> {
        match incident {
            Incident::PhotoBug => Some(&self.photo),
            Incident::ViewAs => self.view_as.as_ref(),
        }
    }
}

/// Reads [`Worlds`] of `dataset`.
///
/// # Errors
/// A truth that cannot be read; a truth without `bug_deploys.parquet` (written before
/// deploys were part of the contract, or one shard's), which cannot say when the bug came.
pub fn worlds(dataset: &Dataset, key: Option<&Path>) -> Result<Worlds> {
    let truth = match key {
        Some(k) => Truth::read_key(dataset, k)?,
        None => Truth::read(dataset)?,
    };
    worlds_of(dataset, &truth)
}

/// [`Worlds`] of `dataset` from its `truth`, already read.
///
/// # Errors
/// As [`worlds`].
pub fn worlds_of(dataset: &Dataset, truth: &Truth) -> Result<Worlds> {
    let m = &dataset.manifest;
    let (start, end) = (
        period(dataset, &m.period.start)?,
        period(dataset, &m.period.end)?,
    );
    let Some(bug_deploys) = &truth.bug_deploys else {
        return Err(Error::dataset(
            &dataset.root,
            "its truth has no bug_deploys.parquet (a dataset made before schema version 3, or one shard of a run), so the bug's deploy time is unknown; generate it again with this build",
        ));
    };
    let bug = bug_deploys
        .iter()
        .find(|d| d.2)
        .map(|&(id, ts, _)| (id, ts));
    let mut apps: BTreeSet<u32> = truth.apps.keys().copied().collect();
    apps.extend(truth.exposures.iter().map(|e| e.0));
    let mut first_exposed: BTreeMap<u64, i64> = BTreeMap::new();
    for (&(_, user, _), &(_, ts)) in &truth.exposure_info {
        let e = first_exposed.entry(user).or_insert(ts);
        *e = (*e).min(ts);
    }
    let photo = score::World {
        start,
        end,
        onset: bug.map(|b| b.1),
        culprit: bug.map(|b| b.0),
        affected_users: truth.users.clone(),
        affected_apps: apps,
        first_exposed,
    };
    // A View-As world's attack (a control one's truth is empty: nothing ever began).
    let view_as = match (
        &truth.view_as,
        blastradius_dataset::access::has_access_log(dataset),
    ) {
        (Some(v), _) => {
            let mut first: BTreeMap<u64, i64> = BTreeMap::new();
            for &(owner, ts, _, _) in v.tokens.values() {
                let e = first.entry(owner).or_insert(ts);
                *e = (*e).min(ts);
            }
            Some(score::World {
                start,
                end,
                onset: v.tokens.values().map(|t| t.1).min(),
                culprit: None,
                affected_users: v.users.keys().copied().collect(),
                affected_apps: BTreeSet::new(),
                first_exposed: first,
            })
        }
        (None, true) if m.control => Some(score::World {
            start,
            end,
            ..score::World::default()
        }),
        (None, true) => {
            return Err(Error::dataset(
                &dataset.root,
                "has an access log but its truth has no View-As tables (one shard of a run?), so the attack's first theft is unknown; score the whole dataset",
            ));
        }
        (None, false) => None,
    };
    Ok(Worlds {
        source: truth.source.clone(),
        bug,
        photo,
        view_as,
    })
}

/// One detector's row of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub detector: String,
    pub incident: Incident,
    pub alarms_folder: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<u64>,
    /// `None` when there was no truth to score against (a blind dataset without its key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<score::DiscoveryScore>,
}

/// `discovery.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub dataset: String,
    /// Where the truth came from; `None`: not scored.
    pub truth: Option<String>,
    pub control: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bug_deploy_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bug_deployed: Option<String>,
    /// A View-As world's first theft.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view_as_began: Option<String>,
    pub period: (String, String),
    pub detectors: Vec<Row>,
}

/// Scores `found` against `worlds` (when there is a truth) and writes the alarms (of
/// built-in detectors), then `discovery.json` and `discovery.md`, into a staged `out`
/// (replaced only with `force`). `outside` names the folders the first of `found` came from.
///
/// # Errors
/// Alarms about an incident the dataset does not have; an output that may not be written.
pub fn report(
    dataset: &Dataset,
    worlds: Option<&Worlds>,
    found: &[Discovered],
    outside: &[PathBuf],
    out: &Path,
    force: bool,
) -> Result<Report> {
    let mut inputs: Vec<&Path> = vec![dataset.root.as_path()];
    inputs.extend(outside.iter().map(PathBuf::as_path));
    if let Some(w) = worlds
        && let Some(d) = found.iter().find(|d| w.of(d.incident).is_none())
    {
        return Err(Error::dataset(
            &dataset.root,
            format!(
                "has no {} incident to score `{}`'s alarms against (a View-As detector needs a world made with --scenario view-as-2018; an outside folder says its incident in its findings.json)",
                d.incident.as_str(),
                d.name
            ),
        ));
    }
    let stage = Stage::begin(out, StageKind::Output("discover"), force, "--out", &inputs)?;
    let mut rows = Vec::new();
    for (k, d) in found.iter().enumerate() {
        let folder = match outside.get(k) {
            Some(dir) => dir.display().to_string(),
            None => {
                let meta = Meta {
                    detector: Some(d.name.clone()),
                    wall_seconds: d.wall_seconds,
                    events: d.events,
                    world: Some(dataset.manifest.world_id()),
                    ..Meta::default()
                };
                write_folder(&stage.path().join(&d.name), &d.alarms, d.incident, meta)?;
                out.join(&d.name).display().to_string()
            }
        };
        rows.push(Row {
            detector: d.name.clone(),
            incident: d.incident,
            alarms_folder: folder,
            wall_seconds: d.wall_seconds,
            events: d.events,
            score: worlds
                .and_then(|w| w.of(d.incident))
                .map(|w| score::score(&d.alarms, w)),
        });
    }
    let bug = worlds.and_then(|w| w.bug);
    let report = Report {
        dataset: dataset.root.display().to_string(),
        truth: worlds.map(|w| w.source.clone()),
        control: dataset.manifest.control,
        bug_deploy_id: bug.map(|b| b.0),
        bug_deployed: bug.map(|b| format_utc(b.1)),
        view_as_began: worlds
            .and_then(|w| w.view_as.as_ref())
            .and_then(|v| v.onset)
            .map(format_utc),
        period: (
            dataset.manifest.period.start.clone(),
            dataset.manifest.period.end.clone(),
        ),
        detectors: rows,
    };
    let json = serde_json::to_string_pretty(&report).expect("serializable") + "\n";
    let p = stage.path().join("discovery.json");
    std::fs::write(&p, json).map_err(Error::io(&p))?;
    let p = stage.path().join("discovery.md");
    std::fs::write(&p, markdown(&report)).map_err(Error::io(&p))?;
    stage.commit()?;
    Ok(report)
}

/// A duration in words a person reads at a glance.
pub fn duration(seconds: Option<f64>) -> String {
    match seconds {
        None => "never".into(),
        Some(s) if s < 120.0 => format!("{s:.0} s"),
        Some(s) if s < 2.0 * 3600.0 => format!("{:.1} min", s / 60.0),
        Some(s) if s < 2.0 * 86_400.0 => format!("{:.1} h", s / 3600.0),
        Some(s) => format!("{:.1} d", s / 86_400.0),
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.digits$}"))
}

/// `discovery.md`.
pub fn markdown(r: &Report) -> String {
    let mut s = format!("# Discovery: {}\n\n", r.dataset);
    match (&r.truth, &r.bug_deployed, r.bug_deploy_id) {
        (None, _, _) => s.push_str(
            "Not scored: the dataset is blind and no answer key was given (`blastradius score DATASET FOLDER --truth KEY` scores these alarms).\n",
        ),
        (Some(truth), Some(at), Some(id)) => s.push_str(&format!(
            "The bug was deployed at {at} (deploy {id}). Time to detect runs from it to the first alarm at or above each threshold; false alarms are those before it, per day from {} to the deploy.{}\n\nTruth: {truth}.\n",
            r.period.0,
            r.view_as_began.as_ref().map_or(String::new(), |t| format!(
                " A View-As detector's alarms are timed from the attack's first theft instead, at {t}, and none has a deploy to blame."
            ))
        )),
        (Some(truth), _, _) => s.push_str(&format!(
            "A control world: nothing ever went wrong, so every alarm is a false alarm.\n\nTruth: {truth}.\n"
        )),
    }
    for row in &r.detectors {
        let Some(sc) = &row.score else {
            s.push_str(&format!(
                "\n## {}\n\nAlarms in {}.\n",
                row.detector, row.alarms_folder
            ));
            continue;
        };
        s.push_str(&format!(
            "\n## {} ({})\n\n{} alarms (folder {}){}.\n\n",
            row.detector,
            row.incident.as_str(),
            sc.alarms,
            row.alarms_folder,
            row.wall_seconds
                .map_or(String::new(), |w| format!(", {w:.2} s"))
        ));
        let (blamed, onset) = match row.incident {
            Incident::PhotoBug => ("blamed the bug's deploy", "the deploy"),
            Incident::ViewAs => ("blamed a deploy (none to blame)", "the first theft"),
        };
        s.push_str(&format!("| confidence ≥ | time to detect | {blamed} | false alarms | per day | alarms after {onset} |\n|---|---|---|---|---|---|\n"));
        for c in &sc.curve {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                c.threshold,
                duration(c.time_to_detect_seconds),
                c.attributed.map_or("–", |a| if a { "yes" } else { "no" }),
                c.false_alarms,
                opt(c.false_alarms_per_day, 2),
                c.alarms_after
            ));
        }
        if !sc.estimates.is_empty() {
            s.push_str("\n| estimate at | users named | user precision | user recall (final truth) | users exposed by then | recall of those | apps named | app precision | app recall |\n|---|---|---|---|---|---|---|---|---|\n");
            for e in &sc.estimates {
                s.push_str(&format!(
                    "| {} h | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                    e.hours,
                    e.users_named,
                    opt(e.user_precision, 3),
                    opt(e.user_recall, 3),
                    e.users_exposed_by_then,
                    opt(e.user_recall_of_exposed, 3),
                    e.apps_named,
                    opt(e.app_precision, 3),
                    opt(e.app_recall, 3)
                ));
            }
        }
    }
    s
}

/// Writes an alarms folder (data/README §14): `alarms` and a `findings.json` of `meta` that
/// says their `incident`.
///
/// # Errors
/// When a file cannot be written.
pub fn write_folder(
    dir: &Path,
    alarms: &[Alarm],
    incident: Incident,
    mut meta: Meta,
) -> Result<()> {
    alarms::write(dir, alarms)?;
    meta.other
        .insert("incident".to_string(), incident.as_str().into());
    let text = serde_json::to_string_pretty(&meta).expect("serializable");
    let p = dir.join(crate::findings::META);
    std::fs::write(&p, text + "\n").map_err(Error::io(&p))
}

/// Scores one outside alarms folder as `score` does: the alarms in `dir`, under `name`,
/// against the world of the incident they are about.
///
/// # Errors
/// As [`load_outside`]; alarms about an incident `worlds` cannot time (`None`: a truth
/// without `bug_deploys.parquet`).
pub fn score_outside(
    dir: &Path,
    name: &str,
    universe: &Universe,
    worlds: Option<&Worlds>,
) -> Result<score::DiscoveryScore> {
    let found = load_outside(&[dir.to_path_buf()], &[name.to_string()], universe)?;
    let found = found.into_iter().next().expect("one folder, one detector");
    let world = worlds.and_then(|w| w.of(found.incident)).ok_or_else(|| {
        Error::dataset(
            dir,
            format!(
                "holds alarms about the {} incident, which this dataset's truth cannot time",
                found.incident.as_str()
            ),
        )
    })?;
    Ok(score::score(&found.alarms, world))
}

/// Loads outside detectors' alarms folders, named as `names` says (else `findings.json`'s
/// `detector`, else the folder's name).
///
/// # Errors
/// As [`alarms::load`].
pub fn load_outside(
    dirs: &[PathBuf],
    names: &[String],
    universe: &Universe,
) -> Result<Vec<Discovered>> {
    let mut out = Vec::new();
    let mut seen = BTreeMap::new();
    for (k, dir) in dirs.iter().enumerate() {
        let alarms = alarms::load(dir, universe)?;
        let meta_path = dir.join(crate::findings::META);
        let meta: Option<Meta> = match std::fs::read(&meta_path) {
            Err(_) => None,
            Ok(b) => Some(serde_json::from_slice(&b).map_err(|e| {
                Error::dataset(
                    &meta_path,
                    format!("is not the JSON object data/README.md §7 describes ({e}); fix it or remove it"),
                )
            })?),
        };
        // Alarms written for another world are refused, as findings are.
        if let (Some(theirs), Some(ours)) = (
            meta.as_ref().and_then(|m| m.world.as_ref()),
            &universe.world,
        ) && theirs != ours
        {
            return Err(Error::dataset(
                &meta_path,
                format!(
                    "says the alarms are of the world `{theirs}`, but the dataset is `{ours}`; score alarms against the dataset they were made from"
                ),
            ));
        }
        let name = names
            .get(k)
            .cloned()
            .or_else(|| meta.as_ref().and_then(|m| m.detector.clone()))
            .unwrap_or_else(|| {
                dir.file_name()
                    .map_or("alarms".into(), |n| n.to_string_lossy().into_owned())
            });
        if let Some(previous) = seen.insert(name.clone(), dir.clone()) {
            return Err(Error::dataset(
                dir,
                format!(
                    "is called `{name}`, as {} is; name each folder (--name, once per folder, in order)",
                    previous.display()
                ),
            ));
        }
        // findings.json may say which incident the alarms are about (the photo bug if not).
        let said = meta.as_ref().and_then(|m| m.other.get("incident"));
        let incident = match said {
            None => Incident::PhotoBug,
            Some(v) => v.as_str().and_then(Incident::parse).ok_or_else(|| {
                Error::dataset(
                    dir.join(crate::findings::META),
                    format!(
                        "says \"incident\": {v}; it is \"photo-bug\" or \"view-as\" (data/README.md §14)"
                    ),
                )
            })?,
        };
        out.push(Discovered {
            name,
            incident,
            alarms,
            wall_seconds: meta.as_ref().and_then(|m| m.wall_seconds),
            events: meta.as_ref().and_then(|m| m.events),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_blames_the_watched_services_latest_deploy_else_the_latest() {
        let mut d = Deploys(vec![(10, 101), (20, 102), (30, 103)], None);
        assert_eq!(d.at(5), None);
        assert_eq!(d.at(20), Some(102), "at its very instant");
        assert_eq!(d.at(29), Some(102));
        d.1 = Some([101].into_iter().collect());
        assert_eq!(d.at(29), Some(101), "102 was another service's");
        d.1 = Some(BTreeSet::new());
        assert_eq!(d.at(29), None, "no deploy of the service yet");
    }
}
