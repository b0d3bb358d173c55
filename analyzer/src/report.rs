//! The machine report (`report.json`), the human one (`report.md`) and the terminal table:
//! one shape for built-in detectors and outside ones.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use blastradius_schema::time::format_utc;
use serde::Serialize;

use crate::output::{AppCounts, Catalog};
use crate::score::{Score, Scores};

/// Everything a report says.
#[derive(Debug, Serialize)]
pub struct Report {
    /// `blastradius-report`, so a folder holding one is recognised.
    pub format: &'static str,
    /// `analyze` or `score`.
    pub command: String,
    pub dataset: String,
    pub threads: Option<usize>,
    /// `false` for a one-shard dataset: cross-shard figures cover that shard alone.
    pub complete: bool,
    /// What the findings were scored against; `None` when they were not scored.
    pub truth: Option<TruthSummary>,
    pub bug_window: Option<Window>,
    /// What the reader of the figures must know: damage found in the log, a window that was
    /// never closed, a level that could not be scored.
    pub notes: Vec<String>,
    pub detectors: Vec<DetectorReport>,
    /// Per app with any detection or truth: truth and each detector's distinct users.
    pub apps: Vec<AppRow>,
    /// The same, summed per provider.
    pub providers: Vec<ProviderRow>,
}

/// The size of the truth the findings were scored against.
#[derive(Debug, Clone, Serialize)]
pub struct TruthSummary {
    pub source: String,
    pub affected_users: u64,
    pub exposures: u64,
    pub message_violations: u64,
    pub affected_apps: u64,
}

/// The bug window read from the log's deploy events.
#[derive(Debug, Serialize)]
pub struct Window {
    pub start: String,
    pub end: String,
}

impl Window {
    pub fn new(window: Option<(i64, i64)>) -> Option<Self> {
        window.map(|(s, e)| Window {
            start: format_utc(s),
            end: if e == i64::MAX {
                "never fixed".into()
            } else {
                format_utc(e)
            },
        })
    }
}

/// Replay time of batches of about 65,536 events (reading excluded), in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BatchTimes {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// One detector's row: what it found, what it cost, how it scored.
#[derive(Debug, Serialize)]
pub struct DetectorReport {
    pub detector: String,
    /// `built-in` (run by this command) or `outside` (a findings folder given to `score`).
    pub origin: &'static str,
    /// The findings folder, relative to the report's folder for built-in detectors.
    pub findings: String,
    /// The levels the findings hold: users, exposures, violations.
    pub levels: Vec<&'static str>,
    pub affected_users: u64,
    /// `None` when the detector does not report the level.
    pub exposures: Option<u64>,
    pub message_violations: Option<u64>,
    pub events: Option<u64>,
    pub wall_seconds: Option<f64>,
    pub events_per_second: Option<f64>,
    /// Peak resident memory: of the process after this detector ran (built-in), or as the
    /// detector reported it (outside).
    pub peak_memory_bytes: Option<u64>,
    /// Time spent reading and decoding Parquet, summed over threads.
    pub read_seconds: Option<f64>,
    pub batch_replay_ms: Option<BatchTimes>,
    pub out_of_order_events: Option<u64>,
    /// Damage the detector counted instead of failing on, by what it was.
    pub unresolved: BTreeMap<String, u64>,
    /// What the detector says about itself (streaming: state size, photos kept per user).
    pub stats: BTreeMap<String, u64>,
    pub scores: Option<Scores>,
}

/// One app: the truth's distinct users (if known) and each detector's.
#[derive(Debug, Serialize)]
pub struct AppRow {
    pub app_id: u32,
    pub name: String,
    pub provider_id: u32,
    pub provider: String,
    pub truth_users: Option<u64>,
    pub truth_exposures: Option<u64>,
    /// Per detector that reports apps.
    pub detected_users: BTreeMap<String, u64>,
}

/// One provider: its apps' distinct-user counts added up (a user exposed through two of its
/// apps counts twice).
#[derive(Debug, Serialize)]
pub struct ProviderRow {
    pub provider_id: u32,
    pub name: String,
    pub apps: u64,
    pub truth_users: Option<u64>,
    pub detected_users: BTreeMap<String, u64>,
}

/// Builds the per-app and per-provider tables from each detector's per-app user counts and
/// the truth's.
pub fn app_tables(
    catalog: &Catalog,
    truth: Option<&AppCounts>,
    detected: &[(String, BTreeMap<u32, u64>)],
) -> (Vec<AppRow>, Vec<ProviderRow>) {
    let mut apps: BTreeMap<u32, AppRow> = BTreeMap::new();
    let row = |app: u32| {
        let info = catalog.apps.get(&app);
        let provider_id = info.map_or(u32::MAX, |a| a.provider_id);
        AppRow {
            app_id: app,
            name: info.map_or_else(|| "?".into(), |a| a.name.clone()),
            provider_id,
            provider: catalog
                .providers
                .get(&provider_id)
                .cloned()
                .unwrap_or_else(|| "?".into()),
            truth_users: truth.map(|_| 0),
            truth_exposures: truth.map(|_| 0),
            detected_users: BTreeMap::new(),
        }
    };
    if let Some(t) = truth {
        for (&app, &(_, users, exposures)) in t {
            let r = apps.entry(app).or_insert_with(|| row(app));
            r.truth_users = Some(users);
            r.truth_exposures = Some(exposures);
        }
    }
    for (name, counts) in detected {
        for (&app, &users) in counts {
            apps.entry(app)
                .or_insert_with(|| row(app))
                .detected_users
                .insert(name.clone(), users);
        }
    }
    let mut providers: BTreeMap<u32, ProviderRow> = BTreeMap::new();
    for a in apps.values() {
        let p = providers
            .entry(a.provider_id)
            .or_insert_with(|| ProviderRow {
                provider_id: a.provider_id,
                name: a.provider.clone(),
                apps: 0,
                truth_users: truth.map(|_| 0),
                detected_users: BTreeMap::new(),
            });
        p.apps += 1;
        if let (Some(total), Some(u)) = (p.truth_users.as_mut(), a.truth_users) {
            *total += u;
        }
        for (d, u) in &a.detected_users {
            *p.detected_users.entry(d.clone()).or_default() += u;
        }
    }
    (
        apps.into_values().collect(),
        providers.into_values().collect(),
    )
}

/// A ratio with four decimals, or "–".
pub fn ratio(x: Option<f64>) -> String {
    x.map_or("–".into(), |v| format!("{v:.4}"))
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("–".into(), |b| {
        format!("{:.0} MiB", b as f64 / (1u64 << 20) as f64)
    })
}

fn count(x: Option<u64>) -> String {
    x.map_or("–".into(), group)
}

/// `1234567` as `1,234,567`.
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The terminal table's header line.
pub fn terminal_header() -> String {
    format!(
        "{:18} {:>9} {:>10} {:>10} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9} {:>8} {:>9}",
        "detector",
        "users",
        "exposures",
        "violations",
        "user P",
        "user R",
        "user F1",
        "exp F1",
        "viol F1",
        "events/s",
        "wall s",
        "peak mem"
    )
}

/// A detector's line of the terminal table.
pub fn terminal_row(d: &DetectorReport) -> String {
    let sc = d.scores.as_ref();
    let users = sc.and_then(|s| s.users.as_ref());
    let short = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.4}"));
    format!(
        "{:18} {:>9} {:>10} {:>10} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9} {:>8} {:>9}",
        d.detector,
        d.affected_users,
        count(d.exposures),
        count(d.message_violations),
        short(users.and_then(|u| u.precision)),
        short(users.and_then(|u| u.recall)),
        short(users.and_then(|u| u.f1)),
        short(sc.and_then(|s| s.exposures.as_ref()).and_then(|s| s.f1)),
        short(sc.and_then(|s| s.violations.as_ref()).and_then(|s| s.f1)),
        d.events_per_second
            .map_or("–".into(), |e| format!("{:.2}M", e / 1e6)),
        d.wall_seconds.map_or("–".into(), |w| format!("{w:.2}")),
        mib(d.peak_memory_bytes),
    )
}

impl Report {
    /// The report as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# blastradius {} of `{}`\n", self.command, self.dataset);
        if let Some(w) = &self.bug_window {
            let _ = writeln!(
                md,
                "Bug window read from the log's deploy events: {} to {}.\n",
                w.start, w.end
            );
        }
        if !self.complete {
            let _ = writeln!(
                md,
                "**This dataset is one shard of a larger one**: cross-shard figures cover it alone.\n"
            );
        }
        match &self.truth {
            Some(t) => {
                let _ = writeln!(
                    md,
                    "Scored against {}: {} affected users, {} exposures, {} message violations, {} affected apps.\n",
                    t.source,
                    group(t.affected_users),
                    group(t.exposures),
                    group(t.message_violations),
                    group(t.affected_apps)
                );
            }
            None => {
                let _ = writeln!(
                    md,
                    "**Not scored**: the dataset holds no `truth/` (a blind dataset); score the findings later with `blastradius score --truth KEY`.\n"
                );
            }
        }
        for note in &self.notes {
            let _ = writeln!(md, "- **Note**: {note}");
        }
        if !self.notes.is_empty() {
            md.push('\n');
        }
        let _ = writeln!(md, "## Detectors\n");
        let _ = writeln!(
            md,
            "Counts are what each detector reports: distinct affected users, distinct (app, user, photo) exposures, and message calls it calls violations; \"–\" where it does not report the level. P, R and F1 are precision, recall and F1 against the truth (\"–\": nothing to divide by, e.g. no violation in the truth and none reported).\n"
        );
        let _ = writeln!(
            md,
            "| detector | users | exposures | violations | user P / R / F1 | exposure P / R / F1 | violation P / R / F1 | events/s | wall s | peak memory |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---|---|---|---:|---:|---:|");
        let prf = |s: Option<&Score>| {
            s.map_or("–".into(), |s| {
                format!(
                    "{} / {} / {}",
                    ratio(s.precision),
                    ratio(s.recall),
                    ratio(s.f1)
                )
            })
        };
        for d in &self.detectors {
            let sc = d.scores.as_ref();
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                d.detector,
                group(d.affected_users),
                count(d.exposures),
                count(d.message_violations),
                prf(sc.and_then(|s| s.users.as_ref())),
                prf(sc.and_then(|s| s.exposures.as_ref())),
                prf(sc.and_then(|s| s.violations.as_ref())),
                d.events_per_second
                    .map_or("–".into(), |e| format!("{:.2}M", e / 1e6)),
                d.wall_seconds.map_or("–".into(), |w| format!("{w:.2}")),
                mib(d.peak_memory_bytes),
            );
        }
        let _ = writeln!(md);
        for d in &self.detectors {
            if let Some(s) = &d.scores {
                let mut levels = Vec::new();
                for (name, level) in [
                    ("users", &s.users),
                    ("exposures", &s.exposures),
                    ("violations", &s.violations),
                ] {
                    if let Some(l) = level {
                        levels.push(format!(
                            "{name}: {} found, {} wrongly reported, {} missed",
                            group(l.true_positives),
                            group(l.false_positives),
                            group(l.false_negatives)
                        ));
                    }
                }
                let _ = writeln!(md, "- `{}`: {}.", d.detector, levels.join("; "));
            }
            for (what, n) in &d.unresolved {
                let _ = writeln!(
                    md,
                    "- `{}` found damage in the log: {what}: {}.",
                    d.detector,
                    group(*n)
                );
            }
            if d.out_of_order_events.unwrap_or(0) > 0 {
                let _ = writeln!(
                    md,
                    "- `{}`: {} events were out of log order in their files and were re-sorted.",
                    d.detector,
                    group(d.out_of_order_events.unwrap_or(0))
                );
            }
            for (what, n) in &d.stats {
                let _ = writeln!(md, "- `{}` states {what} = {}.", d.detector, group(*n));
            }
        }
        let names: Vec<String> = self.detectors.iter().map(|d| d.detector.clone()).collect();
        let mut top: Vec<&AppRow> = self.apps.iter().collect();
        top.sort_by_key(|a| {
            std::cmp::Reverse((
                a.truth_users.unwrap_or(0),
                a.detected_users.values().max().copied().unwrap_or(0),
            ))
        });
        let _ = writeln!(md, "\n## Top apps by affected users\n");
        let _ = writeln!(
            md,
            "Distinct users each app exposed, by the truth and by each detector.\n"
        );
        let _ = write!(md, "| app | provider | truth users |");
        for n in &names {
            let _ = write!(md, " {n} users |");
        }
        let _ = writeln!(md, "\n|---|---|---:|{}", "---:|".repeat(names.len()));
        for a in top.iter().take(15) {
            let _ = write!(
                md,
                "| {} ({}) | {} ({}) | {} |",
                a.name,
                a.app_id,
                a.provider,
                a.provider_id,
                count(a.truth_users)
            );
            for n in &names {
                let _ = write!(md, " {} |", count(a.detected_users.get(n).copied()));
            }
            let _ = writeln!(md);
        }
        let truth_apps = self
            .apps
            .iter()
            .filter(|a| a.truth_users.unwrap_or(0) > 0)
            .count();
        let _ = writeln!(md);
        if self.truth.is_some() {
            let _ = writeln!(
                md,
                "The truth has {} affected apps.",
                group(truth_apps as u64)
            );
        }
        for n in &names {
            let k = self
                .apps
                .iter()
                .filter(|a| a.detected_users.get(n).copied().unwrap_or(0) > 0)
                .count();
            let _ = writeln!(md, "`{n}` blames {} apps.", group(k as u64));
        }
        let _ = writeln!(md, "\n`report.json` lists every app and provider.");
        md
    }
}
