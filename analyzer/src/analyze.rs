//! Detect, then score: `analyze` runs built-in detectors and writes their findings in the
//! contract's shapes; `score` takes findings folders any detector wrote. Both then read the
//! findings back through [`crate::findings::load`] and score them with
//! [`crate::score::score`], so every detector, ours or not, is measured by one code path.
//!
//! Outputs are staged (see `blastradius_safefs`): a report folder appears whole or not at
//! all, and never replaces anything but an earlier report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::datatypes::{DataType, Field, Schema};
use blastradius_safefs::{Kind, Stage};
use blastradius_schema::arrays::int64;
use std::sync::Arc;

use crate::detect::Settings;
use crate::engine::{Run, run_named};
use crate::error::{Error, Result};
use crate::findings::{self, Findings, Meta, Universe};
use crate::output::{Catalog, app_counts, write_table};
use crate::report::{
    AppRow, BatchTimes, DetectorReport, ProviderRow, Report, TruthSummary, Window,
};
use crate::score::{Truth, differences, score};
use blastradius_dataset::Dataset;

/// Where progress goes while a command works: one line per detector as it finishes, and
/// notes the reader must not miss. The CLI prints them; tests collect them.
pub trait Console {
    /// A warning or note, one line.
    fn note(&mut self, text: &str);
    /// A detector's row is ready.
    fn row(&mut self, row: &DetectorReport);
}

/// A console that keeps everything (for tests and library users).
#[derive(Debug, Default)]
pub struct Collect {
    pub notes: Vec<String>,
    pub rows: usize,
}

impl Console for Collect {
    fn note(&mut self, text: &str) {
        self.notes.push(text.to_string());
    }
    fn row(&mut self, _: &DetectorReport) {
        self.rows += 1;
    }
}

/// What `analyze` does.
#[derive(Clone, Debug)]
pub struct AnalyzeOptions {
    pub detectors: Vec<String>,
    pub settings: Settings,
    pub threads: usize,
    /// Check every file's SHA-256 first (every file is checked against its CRC-32C as it is
    /// read anyway).
    pub verify: bool,
    /// An answer key written apart (`generate --split-truth`); default: the dataset's own
    /// `truth/`, if any.
    pub truth_key: Option<PathBuf>,
    /// Read the truth (if any) and score; `false` detects and writes findings only.
    pub score: bool,
    pub out: PathBuf,
    /// Replace an earlier report at `out`.
    pub force: bool,
}

/// The truth to score against, if any: the key given, or the dataset's own.
///
/// # Errors
/// An unreadable truth, or a key of another dataset.
pub fn truth_of(dataset: &Dataset, key: Option<&Path>) -> Result<Option<Truth>> {
    match key {
        Some(k) => Ok(Some(Truth::read_key(dataset, k)?)),
        None if dataset.has_truth() => Ok(Some(Truth::read(dataset)?)),
        None => Ok(None),
    }
}

/// The ids a finding about `dataset` may name.
pub fn universe(dataset: &Dataset, catalog: &Catalog) -> Universe {
    Universe {
        users: match dataset.manifest.users {
            0 => u64::MAX,
            n => n,
        },
        apps: catalog.apps.keys().copied().collect(),
        world: Some(dataset.manifest.world_id()),
    }
}

/// The size of `truth`, for reports.
pub fn summary(truth: &Truth) -> TruthSummary {
    TruthSummary {
        source: truth.source.clone(),
        affected_users: truth.users.len() as u64,
        exposures: truth.exposures.len() as u64,
        message_violations: truth.violations.len() as u64,
        affected_apps: truth.app_users().len() as u64,
    }
}

/// Writes what `found` missed and reported wrongly under `dir`, for the detector's author.
///
/// # Errors
/// When a file cannot be written.
pub fn write_differences(dir: &Path, truth: &Truth, found: &Findings) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let d = differences(truth, found);
    let users = |name: &str| Arc::new(Schema::new(vec![Field::new(name, DataType::Int64, false)]));
    let exposures = Arc::new(Schema::new(vec![
        Field::new("app_id", DataType::Int64, false),
        Field::new("user_id", DataType::Int64, false),
        Field::new("photo_id", DataType::Int64, false),
    ]));
    if found.users.is_some() {
        for (name, list) in [
            ("missed_users", &d.missed_users),
            ("extra_users", &d.extra_users),
        ] {
            write_table(
                dir,
                &format!("{name}.parquet"),
                users("user_id"),
                vec![int64(list.iter().copied(), None)],
            )?;
        }
    }
    if found.exposures.is_some() {
        for (name, list) in [
            ("missed_exposures", &d.missed_exposures),
            ("extra_exposures", &d.extra_exposures),
        ] {
            write_table(
                dir,
                &format!("{name}.parquet"),
                exposures.clone(),
                vec![
                    int64(list.iter().map(|e| e.0), None),
                    int64(list.iter().map(|e| e.1), None),
                    int64(list.iter().map(|e| e.2), None),
                ],
            )?;
        }
    }
    Ok(())
}

/// A row of the report for findings `found`, scored against `truth` when given.
fn row(
    name: &str,
    origin: &'static str,
    findings_dir: String,
    found: &Findings,
    truth: Option<&Truth>,
) -> DetectorReport {
    let meta = &found.meta;
    DetectorReport {
        detector: name.to_string(),
        origin,
        findings: findings_dir,
        levels: found.levels(),
        affected_users: found.users.as_ref().map_or(0, |u| u.len() as u64),
        exposures: found.exposures.as_ref().map(|e| e.len() as u64),
        message_violations: found.violations.as_ref().map(|v| v.len() as u64),
        events: meta.events,
        wall_seconds: meta.wall_seconds,
        events_per_second: match (meta.events, meta.wall_seconds) {
            (Some(e), Some(w)) if w > 0.0 => Some(e as f64 / w),
            _ => None,
        },
        peak_memory_bytes: meta.peak_memory_bytes,
        read_seconds: None,
        batch_replay_ms: None,
        out_of_order_events: None,
        unresolved: BTreeMap::new(),
        stats: BTreeMap::new(),
        scores: truth.map(|t| score(t, found)),
    }
}

/// Starts a new measure of peak memory: the kernel forgets the process's peak so far (Linux;
/// elsewhere the peak stays that of the whole process).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory of this process since it started or since [`reset_peak_rss`],
/// where the OS reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `given`: the bug window came from `--bug-window`, not from the log's deploys.
fn notes_of(run: &Run, given: bool, notes: &mut Vec<String>, console: &mut dyn Console) {
    for (path, damage) in &run.damage {
        for (what, n) in damage {
            let text = format!(
                "{}: {n} row(s) with {what}; counted as damage in the report",
                path.display()
            );
            if !notes.contains(&text) {
                console.note(&text);
                notes.push(text);
            }
        }
    }
    if let Some((_, end)) = run.findings.bug_window
        && end == i64::MAX
    {
        let text = if given {
            "--bug-window ends `never`: the bug window runs to the end of the log"
        } else {
            "the log holds no bug_fixed deploy: the bug window runs to the end of the log"
        }
        .to_string();
        if !notes.contains(&text) {
            console.note(&text);
            notes.push(text);
        }
    }
    let s = &run.findings.stats;
    if let (Some(&untracked), Some(&users)) = (
        s.get(crate::streaming::UNTRACKED),
        s.get(crate::streaming::USERS),
    ) && untracked > 0
    {
        let text = format!(
            "streaming tracked {} of {users} users within its memory limit; the exposures of the others are missed",
            users - untracked
        );
        console.note(&text);
        notes.push(text);
    }
}

/// Runs detectors over the dataset at `root`, writes their findings, scores them (against
/// the key given, or the dataset's own truth, if any) and writes the reports, all staged
/// under `options.out`.
///
/// # Errors
/// An unreadable or damaged dataset, a detector that fails, an output that may not be
/// written.
pub fn analyze(root: &Path, options: &AnalyzeOptions, console: &mut dyn Console) -> Result<Report> {
    let dataset = Dataset::open(root)?;
    if options.verify {
        dataset.verify()?;
    }
    // A window the log's calls never fall in finds nothing, which would read as "nobody
    // was exposed": refused before any work.
    let p = &dataset.manifest.period;
    if let Some((start, end)) = options.settings.bug_window
        && let (Ok(first), Ok(last)) = (
            blastradius_schema::time::parse_utc(&p.start),
            blastradius_schema::time::parse_utc(&p.end),
        )
        && (end <= first || start >= last)
    {
        return Err(Error::dataset(
            root,
            format!(
                "--bug-window lies outside the log's period ({} to {}): no call of the log falls in it, so nothing could be found; give a window inside the period",
                p.start, p.end
            ),
        ));
    }
    let truth = if options.score {
        truth_of(&dataset, options.truth_key.as_deref())?
    } else {
        None
    };
    let catalog = Catalog::read(&dataset)?;
    let universe = universe(&dataset, &catalog);
    let stage = Stage::begin(
        &options.out,
        Kind::Output("analyze"),
        options.force,
        "--out",
        &[root],
    )?;
    let mut notes = Vec::new();
    for stale in &stage.stale_removed {
        console.note(&format!(
            "removed {}, left by a run that was killed",
            stale.display()
        ));
    }
    if !dataset.manifest.complete {
        let text = format!(
            "{} holds one shard of a larger dataset; cross-shard figures (naive's calling apps) cover it alone, and a View-As world's levels are not scored (a theft is logged in the pivot's shard, its truth kept in the owner's)",
            root.display()
        );
        console.note(&text);
        notes.push(text);
    }
    if dataset.manifest.control {
        let text = format!(
            "{} is a control world (generate --no-incident): no incident happened in it, its truth is empty, and every finding is a false positive",
            root.display()
        );
        console.note(&text);
        notes.push(text);
    }
    if truth.is_none() {
        let text = "no truth/ in this dataset and no --truth KEY: findings are written, not scored"
            .to_string();
        console.note(&text);
        notes.push(text);
    }
    let by_app = catalog.providers_by_app();
    let mut rows = Vec::new();
    let mut detected: Vec<(String, Findings)> = Vec::new();
    let mut causes: Option<BTreeMap<u64, bool>> = None;
    let mut window = None;
    for name in &options.detectors {
        let dir = stage.path().join(name);
        let (run, found) = detect_into(
            &dataset,
            name,
            &options.settings,
            options.threads,
            &dir,
            &universe,
            &by_app,
        )?;
        notes_of(
            &run,
            options.settings.bug_window.is_some(),
            &mut notes,
            console,
        );
        window = window.or(run.findings.bug_window);
        if let Some(t) = &truth {
            write_differences(&dir, t, &found)?;
        }
        let mut r = row(name, "built-in", name.clone(), &found, truth.as_ref());
        let ms = |q: f64| run.batch_replay_us.value_at_quantile(q) as f64 / 1000.0;
        r.read_seconds = Some(run.read_seconds);
        r.batch_replay_ms = (!run.batch_replay_us.is_empty()).then(|| BatchTimes {
            p50: ms(0.5),
            p99: ms(0.99),
            max: run.batch_replay_us.max() as f64 / 1000.0,
        });
        r.out_of_order_events = Some(run.findings.out_of_order);
        r.unresolved = run
            .findings
            .unresolved
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        r.stats = run
            .findings
            .stats
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        console.row(&r);
        if name == "exact" {
            causes = Some(
                run.findings
                    .violations
                    .iter()
                    .filter_map(|v| Some((v.event_id, v.revoked?)))
                    .collect(),
            );
        }
        detected.push((name.clone(), found));
        rows.push(r);
    }
    let report = finish(
        "analyze",
        &dataset,
        Some(options.threads),
        truth.as_ref(),
        &catalog,
        Window::new(window, options.settings.bug_window.is_some()),
        notes,
        rows,
        &detected,
        causes.as_ref(),
    );
    write_reports(&stage, &report)?;
    stage.commit()?;
    Ok(report)
}

/// Runs the built-in detector `name`, writes its findings under `dir` in the contract's
/// shapes and loads them back as any detector's would be: detect, then score the same way.
/// Its peak memory is measured from a reset (see [`reset_peak_rss`]).
///
/// # Errors
/// As [`run_named`], or when the findings cannot be written.
pub fn detect_into(
    dataset: &Dataset,
    name: &str,
    settings: &Settings,
    threads: usize,
    dir: &Path,
    universe: &Universe,
    by_app: &BTreeMap<u32, u32>,
) -> Result<(Run, Findings)> {
    reset_peak_rss();
    let mut run = run_named(dataset, name, settings, threads)?;
    // A View-As world: the detector's form for that incident too, over the access log, into
    // the same folder (its time and memory are counted with the rest).
    let form = crate::registry::find(name, crate::registry::Mode::Batch)
        .ok()
        .and_then(|e| e.view_as);
    // One shard of a larger dataset holds the thefts its users made and the truth of its
    // users' tokens, which are not the same thefts: the View-As levels need the whole world.
    let view_as = match form {
        Some(form)
            if blastradius_dataset::access::has_access_log(dataset)
                && dataset.manifest.complete =>
        {
            let started = std::time::Instant::now();
            let rows = blastradius_dataset::access::read(dataset)?;
            run.events += rows.len() as u64;
            let out = form(rows);
            run.wall_seconds += started.elapsed().as_secs_f64();
            if out.duplicates > 0 {
                run.findings.unresolved.insert(
                    "access-log rows the View-As rules use, delivered twice",
                    out.duplicates,
                );
            }
            Some(out)
        }
        _ => None,
    };
    let counts = app_counts(&run.findings, by_app);
    let meta = Meta {
        detector: Some(name.to_string()),
        wall_seconds: Some(run.wall_seconds),
        peak_memory_bytes: peak_rss_bytes(),
        events: Some(run.events),
        world: Some(dataset.manifest.world_id()),
        other: BTreeMap::new(),
    };
    findings::write(dir, &run.findings, &counts, &meta)?;
    if let Some(out) = &view_as {
        crate::view_as::write(dir, out)?;
    }
    // Our own findings come from the log: when they break the contract (an id beyond the
    // manifest's users, say), the log and its manifest disagree. Say so, about the dataset,
    // not about a file in this run's staging folder.
    let found = findings::load(dir, universe).map_err(|e| match e {
        Error::Schema { .. } => {
            let what = e.to_string().replace(&format!("{}/", dir.display()), "");
            Error::dataset(
                dataset.root.join("manifest.json"),
                format!(
                    "disagrees with the events: the findings of `{name}` break it ({what}); the manifest was edited or the dataset is damaged: regenerate it"
                ),
            )
        }
        other => other,
    })?;
    Ok((run, found))
}

/// Findings folders to score, each with the name it goes by in the report.
#[derive(Clone, Debug)]
pub struct Outside {
    pub name: Option<String>,
    pub dir: PathBuf,
}

/// Scores findings folders written by any detector against the truth of the dataset at
/// `root` (or the key given), and writes the reports staged under `out`.
///
/// # Errors
/// A dataset without truth and no key, a key of another dataset, findings that break the
/// contract (each error names the file and column), an output that may not be written.
pub fn score_findings(
    root: &Path,
    outside: &[Outside],
    truth_key: Option<&Path>,
    out: &Path,
    force: bool,
    console: &mut dyn Console,
) -> Result<Report> {
    let dataset = Dataset::open(root)?;
    let truth = truth_of(&dataset, truth_key)?.ok_or_else(|| {
        Error::dataset(
            root,
            "has no truth/ to score against (a blind dataset): give its answer key with --truth KEY",
        )
    })?;
    let catalog = Catalog::read(&dataset)?;
    let universe = universe(&dataset, &catalog);
    let mut loaded = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for o in outside {
        let found = findings::load(&o.dir, &universe)?;
        let name = o
            .name
            .clone()
            .or_else(|| found.meta.detector.clone())
            .unwrap_or_else(|| {
                o.dir
                    .file_name()
                    .map_or("findings".into(), |n| n.to_string_lossy().into_owned())
            });
        let mut unique = name.clone();
        let mut k = 2;
        while names.contains(&unique) {
            unique = format!("{name}-{k}");
            k += 1;
        }
        names.push(unique);
        loaded.push(found);
    }
    let inputs: Vec<&Path> = std::iter::once(root)
        .chain(outside.iter().map(|o| o.dir.as_path()))
        .collect();
    let stage = Stage::begin(out, Kind::Output("score"), force, "--out", &inputs)?;
    for stale in &stage.stale_removed {
        console.note(&format!(
            "removed {}, left by a run that was killed",
            stale.display()
        ));
    }
    let mut rows = Vec::new();
    let mut detected = Vec::new();
    for ((name, found), o) in names.iter().zip(loaded).zip(outside) {
        write_differences(&stage.path().join(safe_name(name)), &truth, &found)?;
        let r = row(
            name,
            "outside",
            o.dir.display().to_string(),
            &found,
            Some(&truth),
        );
        console.row(&r);
        detected.push((name.clone(), found));
        rows.push(r);
    }
    let report = finish(
        "score",
        &dataset,
        None,
        Some(&truth),
        &catalog,
        None,
        Vec::new(),
        rows,
        &detected,
        None,
    );
    write_reports(&stage, &report)?;
    stage.commit()?;
    Ok(report)
}

/// A detector's name as a folder name: letters, digits, `-`, `_` and `.` kept.
pub fn safe_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
}

#[allow(clippy::too_many_arguments)]
fn finish(
    command: &str,
    dataset: &Dataset,
    threads: Option<usize>,
    truth: Option<&Truth>,
    catalog: &Catalog,
    bug_window: Option<Window>,
    notes: Vec<String>,
    detectors: Vec<DetectorReport>,
    detected: &[(String, Findings)],
    causes: Option<&BTreeMap<u64, bool>>,
) -> Report {
    let truth_apps = truth.map(|t| {
        let mut apps = t.apps.clone();
        if apps.is_empty() {
            // A one-shard dataset has no affected_apps: count from the exposures.
            for (app, users) in t.app_users() {
                let exposures = t.exposures.iter().filter(|e| e.0 == app).count() as u64;
                apps.insert(app, (catalog.provider_of(app), users, exposures));
            }
        }
        apps
    });
    let per_app: Vec<(String, BTreeMap<u32, u64>)> = detected
        .iter()
        .filter_map(|(n, f)| Some((n.clone(), f.app_users.clone()?)))
        .collect();
    let truth_providers = truth
        .map(|t| crate::report::provider_users(catalog, t.exposures.iter().map(|e| (e.0, e.1))));
    let detected_providers: Vec<(String, BTreeMap<u32, u64>)> = detected
        .iter()
        .filter_map(|(n, f)| {
            let e = f.exposures.as_ref()?;
            Some((
                n.clone(),
                crate::report::provider_users(catalog, e.iter().map(|x| (x.0, x.1))),
            ))
        })
        .collect();
    let (apps, providers): (Vec<AppRow>, Vec<ProviderRow>) = crate::report::app_tables(
        catalog,
        truth_apps.as_ref(),
        &per_app,
        truth_providers.as_ref(),
        &detected_providers,
    );
    let (surfaces, days, partners) = match truth {
        Some(t) => breakdowns(t, catalog, detected, causes),
        None => (Vec::new(), Vec::new(), Vec::new()),
    };
    Report {
        format: "blastradius-report",
        command: command.to_string(),
        dataset: dataset.root.display().to_string(),
        threads,
        complete: dataset.manifest.complete,
        truth: truth.map(summary),
        bug_window,
        notes,
        detectors,
        apps,
        providers,
        surfaces,
        days,
        partners,
        view_as: view_as_report(dataset, truth),
    }
}

/// The View-As section of a report, for a View-As world: the truth's tokens per day and hop.
fn view_as_report(dataset: &Dataset, truth: Option<&Truth>) -> Option<crate::report::ViewAsReport> {
    if !blastradius_dataset::access::has_access_log(dataset) {
        return None;
    }
    let mut report = crate::report::ViewAsReport::default();
    if let Some(v) = truth.and_then(|t| t.view_as.as_ref()) {
        report.truth_tokens = Some(v.tokens.len() as u64);
        for (tier, _) in v.users.values() {
            *report
                .truth_users_by_tier
                .entry(tier.as_str().to_string())
                .or_default() += 1;
        }
        let mut days: BTreeMap<String, BTreeMap<u32, u64>> = BTreeMap::new();
        for &(_, ts, hop, _) in v.tokens.values() {
            let day = blastradius_schema::time::format_utc(ts)[..10].to_string();
            *days.entry(day).or_default().entry(hop).or_default() += 1;
        }
        report.days = days
            .into_iter()
            .map(|(day, by_hop)| crate::report::ViewAsDay { day, by_hop })
            .collect();
    }
    Some(report)
}

/// The truth's leaks by surface and by day, and its violations by partner and action, each
/// with what every detector found of them.
fn breakdowns(
    truth: &Truth,
    catalog: &Catalog,
    detected: &[(String, Findings)],
    causes: Option<&BTreeMap<u64, bool>>,
) -> (
    Vec<crate::report::SurfaceRow>,
    Vec<crate::report::DayRow>,
    Vec<crate::report::PartnerRow>,
) {
    use crate::report::{DayRow, PartnerRow, SurfaceRow};
    use blastradius_schema::time::{DAY, format_utc};
    let mut surfaces: BTreeMap<String, SurfaceRow> = BTreeMap::new();
    let mut days: BTreeMap<i64, BTreeMap<String, u64>> = BTreeMap::new();
    for (key, (surface, ts)) in &truth.exposure_info {
        let row = surfaces
            .entry(surface.as_str().to_string())
            .or_insert_with(|| SurfaceRow {
                surface: surface.as_str().into(),
                truth_exposures: 0,
                found: detected
                    .iter()
                    .filter(|(_, f)| f.exposures.is_some())
                    .map(|(n, _)| (n.clone(), 0))
                    .collect(),
            });
        row.truth_exposures += 1;
        for (name, f) in detected {
            if f.exposures.as_ref().is_some_and(|e| e.contains(key)) {
                *row.found.entry(name.clone()).or_default() += 1;
            }
        }
        *days
            .entry(ts.div_euclid(DAY))
            .or_default()
            .entry(surface.as_str().into())
            .or_default() += 1;
    }
    let mut partners: BTreeMap<(u32, &'static str), PartnerRow> = BTreeMap::new();
    for (event, (app, _, action, _)) in &truth.violation_info {
        let row = partners
            .entry((*app, action.as_str()))
            .or_insert_with(|| PartnerRow {
                app_id: *app,
                partner: catalog
                    .apps
                    .get(app)
                    .map_or_else(|| app.to_string(), |a| a.name.clone()),
                action: action.as_str().into(),
                truth_violations: 0,
                found: detected
                    .iter()
                    .filter(|(_, f)| f.violations.is_some())
                    .map(|(n, _)| (n.clone(), 0))
                    .collect(),
                revoked_token: causes.map(|_| 0),
                never_granted: causes.map(|_| 0),
            });
        row.truth_violations += 1;
        for (name, f) in detected {
            if f.violations.as_ref().is_some_and(|v| v.contains(event)) {
                *row.found.entry(name.clone()).or_default() += 1;
            }
        }
        match causes.and_then(|c| c.get(event)) {
            Some(true) => *row.revoked_token.get_or_insert(0) += 1,
            Some(false) => *row.never_granted.get_or_insert(0) += 1,
            None => {}
        }
    }
    (
        surfaces.into_values().collect(),
        days.into_iter()
            .map(|(d, by)| DayRow {
                day: format_utc(d * DAY)[..10].to_string(),
                exposures_by_surface: by,
            })
            .collect(),
        partners.into_values().collect(),
    )
}

fn write_reports(stage: &Stage, report: &Report) -> Result<()> {
    let json = serde_json::to_string_pretty(report).expect("a report serializes") + "\n";
    for (name, text) in [
        ("report.json", json),
        ("report.md", report.to_markdown()),
        ("report.html", report.to_html()),
    ] {
        let p = stage.path().join(name);
        std::fs::write(&p, text).map_err(|e| Error::Write {
            path: stage.target().join(name),
            error: e.to_string(),
        })?;
    }
    Ok(())
}
