//! The machine report (`report.json`), the human one (`report.md`) and the terminal table:
//! one shape for built-in detectors and outside ones.

use std::collections::BTreeMap;

use blastradius_pages::doc::{Block, Column, Doc, Table};
use blastradius_pages::palette::{TRUTH, assign};
use blastradius_schema::time::format_utc;
use serde::Serialize;

use crate::output::{AppCounts, Catalog};
use crate::score::{Score, Scores};

mod view_as;
pub use view_as::{ViewAsDay, ViewAsReport};

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
    /// Exposures of the truth by the photo's surface, and how many each detector found.
    pub surfaces: Vec<SurfaceRow>,
    /// Exposures of the truth by the day they first happened, per surface.
    pub days: Vec<DayRow>,
    /// Message violations of the truth by partner and action.
    pub partners: Vec<PartnerRow>,
    /// The View-As incident, in a world that has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view_as: Option<ViewAsReport>,
}

/// Leaks of one surface.
#[derive(Debug, Serialize)]
pub struct SurfaceRow {
    pub surface: String,
    /// Exposures of photos on this surface in the truth.
    pub truth_exposures: u64,
    /// Of those, how many each detector reported (detectors that report exposures).
    pub found: BTreeMap<String, u64>,
}

/// Exposures first made on one day.
#[derive(Debug, Serialize)]
pub struct DayRow {
    pub day: String,
    pub exposures_by_surface: BTreeMap<String, u64>,
}

/// Violations of one partner app and action.
#[derive(Debug, Serialize)]
pub struct PartnerRow {
    pub app_id: u32,
    pub partner: String,
    pub action: String,
    pub truth_violations: u64,
    /// Of those, how many each detector reported.
    pub found: BTreeMap<String, u64>,
    /// Of the truth's, calls by a token that outlived its revocation, and calls never
    /// granted at all (as `exact` tells them apart; `None` when it did not run).
    pub revoked_token: Option<u64>,
    pub never_granted: Option<u64>,
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

/// The bug window the detectors used, and where it came from.
#[derive(Debug, Serialize)]
pub struct Window {
    pub start: String,
    pub end: String,
    /// "the log's deploy events", or "--bug-window" when the user gave it.
    pub source: &'static str,
}

impl Window {
    /// `given`: the window came from `--bug-window`, not from the log.
    pub fn new(window: Option<(i64, i64)>, given: bool) -> Option<Self> {
        window.map(|(s, e)| Window {
            start: format_utc(s),
            end: if e == i64::MAX {
                "never fixed".into()
            } else {
                format_utc(e)
            },
            source: if given {
                "--bug-window"
            } else {
                "the log's deploy events"
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

/// Distinct users per provider from `(app, user)` pairs: a user exposed through two of a
/// provider's apps counts once.
pub fn provider_users<'a>(
    catalog: &Catalog,
    pairs: impl Iterator<Item = (u32, u64)> + 'a,
) -> BTreeMap<u32, u64> {
    let distinct: std::collections::BTreeSet<(u32, u64)> = pairs
        .map(|(app, user)| (catalog.provider_of(app), user))
        .collect();
    let mut out = BTreeMap::new();
    for (provider, _) in distinct {
        *out.entry(provider).or_default() += 1;
    }
    out
}

/// Builds the per-app and per-provider tables from each detector's per-app user counts and
/// the truth's. A provider's users are distinct users, from `truth_providers` and
/// `detected_providers` (see [`provider_users`]); a detector that gave per-app counts only
/// (no exposures or users) has no provider figure.
pub fn app_tables(
    catalog: &Catalog,
    truth: Option<&AppCounts>,
    detected: &[(String, BTreeMap<u32, u64>)],
    truth_providers: Option<&BTreeMap<u32, u64>>,
    detected_providers: &[(String, BTreeMap<u32, u64>)],
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
    }
    for p in providers.values_mut() {
        if let Some(t) = truth_providers {
            p.truth_users = Some(t.get(&p.provider_id).copied().unwrap_or(0));
        }
        for (d, counts) in detected_providers {
            if let Some(&u) = counts.get(&p.provider_id) {
                p.detected_users.insert(d.clone(), u);
            }
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

/// A table of `rows` that the truth counts and each detector may have found: the row's own
/// cells (`cells`, under `columns`), then a "found by" column per detector of `found` (the
/// detectors of the first row, as every row names the same).
fn found_by<R>(
    mut columns: Vec<Column>,
    rows: &[R],
    cells: impl Fn(&R) -> Vec<String>,
    found: impl Fn(&R) -> &BTreeMap<String, u64>,
) -> Table {
    let detectors: Vec<&String> = rows
        .first()
        .map(|r| found(r).keys().collect())
        .unwrap_or_default();
    columns.extend(
        detectors
            .iter()
            .map(|n| Column::number(format!("found by {}", md_name(n)))),
    );
    Table {
        caption: None,
        columns,
        rows: rows
            .iter()
            .map(|r| {
                let mut row = cells(r);
                row.extend(
                    detectors
                        .iter()
                        .map(|n| group(found(r).get(*n).copied().unwrap_or(0))),
                );
                row
            })
            .collect(),
    }
}

/// A detector's name as Markdown shows it: in a table cell or a code span, whatever the
/// name (an outside detector names itself): `|` escaped, backticks and line breaks replaced.
fn md_name(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '`' => '\''.to_string(),
            '|' => "\\|".to_string(),
            c if c.is_control() => ' '.to_string(),
            c => c.to_string(),
        })
        .collect()
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
    ) + &view_as::terminal(d)
}

impl Report {
    /// The report as a document: what `report.md` and `report.html` both render.
    pub fn doc(&self) -> Doc {
        let mut blocks = Vec::new();
        if let Some(w) = &self.bug_window {
            blocks.push(Block::Paragraph(format!(
                "Bug window (from {}): {} to {}.",
                w.source, w.start, w.end
            )));
        }
        if !self.complete {
            blocks.push(Block::Paragraph(
                "**This dataset is one shard of a larger one**: cross-shard figures cover it alone."
                    .into(),
            ));
        }
        blocks.push(Block::Paragraph(match &self.truth {
            Some(t) => format!(
                "Scored against {}: {} affected users, {} exposures, {} message violations, {} affected apps.",
                t.source,
                group(t.affected_users),
                group(t.exposures),
                group(t.message_violations),
                group(t.affected_apps)
            ),
            None => "**Not scored**: no truth was read (a blind dataset, or `--no-score`); score the findings later with `blastradius score` (`--truth KEY` for a blind dataset).".into(),
        }));
        blocks.push(Block::List(
            self.notes
                .iter()
                .map(|n| format!("**Note**: {n}"))
                .collect(),
        ));
        blocks.push(Block::Heading("Detectors".into()));
        blocks.push(Block::Paragraph(
            "Counts are what each detector reports: distinct affected users, distinct (app, user, photo) exposures, and message calls it calls violations; \"–\" where it does not report the level. P, R and F1 are precision, recall and F1 against the truth (\"–\": nothing to divide by, e.g. no violation in the truth and none reported).".into(),
        ));
        let figure = |s: Option<&Score>, f: fn(&Score) -> Option<f64>| {
            s.map_or("–".into(), |s| ratio(f(s)))
        };
        blocks.push(Block::Table(Table {
            caption: None,
            columns: vec![
                Column::text("detector"),
                Column::number("users"),
                Column::number("exposures"),
                Column::number("violations"),
                Column::number("events/s"),
                Column::number("wall s"),
                Column::number("peak memory"),
            ],
            rows: self
                .detectors
                .iter()
                .map(|d| {
                    vec![
                        md_name(&d.detector),
                        group(d.affected_users),
                        count(d.exposures),
                        count(d.message_violations),
                        d.events_per_second
                            .map_or("–".into(), |e| format!("{:.2}M", e / 1e6)),
                        d.wall_seconds.map_or("–".into(), |w| format!("{w:.2}")),
                        mib(d.peak_memory_bytes),
                    ]
                })
                .collect(),
        }));
        if self.detectors.iter().any(|d| d.scores.is_some()) {
            let mut columns = vec![Column::text("detector")];
            for level in ["user", "exposure", "violation"] {
                for figure in ["P", "R", "F1"] {
                    columns.push(Column::number(format!("{level} {figure}")));
                }
            }
            blocks.push(Block::Table(Table {
                caption: Some("Against the truth".into()),
                columns,
                rows: self
                    .detectors
                    .iter()
                    .map(|d| {
                        let sc = d.scores.as_ref();
                        let mut row = vec![md_name(&d.detector)];
                        for level in [
                            sc.and_then(|s| s.users.as_ref()),
                            sc.and_then(|s| s.exposures.as_ref()),
                            sc.and_then(|s| s.violations.as_ref()),
                        ] {
                            row.push(figure(level, |s| s.precision));
                            row.push(figure(level, |s| s.recall));
                            row.push(figure(level, |s| s.f1));
                        }
                        row
                    })
                    .collect(),
            }));
        }
        let mut said = Vec::new();
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
                said.push(format!(
                    "`{}`: {}.",
                    md_name(&d.detector),
                    levels.join("; ")
                ));
            }
            for (what, n) in &d.unresolved {
                said.push(format!(
                    "`{}` found damage in the log: {what}: {}.",
                    md_name(&d.detector),
                    group(*n)
                ));
            }
            if d.out_of_order_events.unwrap_or(0) > 0 {
                said.push(format!(
                    "`{}`: {} events were out of log order in their files and were re-sorted.",
                    md_name(&d.detector),
                    group(d.out_of_order_events.unwrap_or(0))
                ));
            }
            if !d.stats.is_empty() {
                let stats: Vec<String> = d
                    .stats
                    .iter()
                    .map(|(what, n)| match what.as_str() {
                        "state_bytes_largest_shard" => format!(
                            "state of the largest shard {:.1} MiB",
                            *n as f64 / 1048576.0
                        ),
                        other => format!("{} {}", other.replace('_', " "), group(*n)),
                    })
                    .collect();
                said.push(format!(
                    "`{}` says: {}.",
                    md_name(&d.detector),
                    stats.join("; ")
                ));
            }
        }
        blocks.push(Block::List(said));
        blocks.push(Block::Charts(self.charts()));
        if let Some(v) = &self.view_as {
            blocks.extend(view_as::blocks(&self.detectors, v));
        }
        let names: Vec<String> = self.detectors.iter().map(|d| d.detector.clone()).collect();
        let mut top: Vec<&AppRow> = self.apps.iter().collect();
        top.sort_by_key(|a| {
            std::cmp::Reverse((
                a.truth_users.unwrap_or(0),
                a.detected_users.values().max().copied().unwrap_or(0),
            ))
        });
        blocks.push(Block::Heading("Top apps by affected users".into()));
        blocks.push(Block::Paragraph(
            "Distinct users each app exposed, by the truth and by each detector.".into(),
        ));
        let mut columns = vec![
            Column::text("app"),
            Column::text("provider"),
            Column::number("truth users"),
        ];
        columns.extend(
            names
                .iter()
                .map(|n| Column::number(format!("{} users", md_name(n)))),
        );
        blocks.push(Block::Table(Table {
            caption: None,
            columns,
            rows: top
                .iter()
                .take(15)
                .map(|a| {
                    let mut row = vec![
                        format!("{} ({})", a.name, a.app_id),
                        format!("{} ({})", a.provider, a.provider_id),
                        count(a.truth_users),
                    ];
                    row.extend(
                        names
                            .iter()
                            .map(|n| count(a.detected_users.get(n).copied())),
                    );
                    row
                })
                .collect(),
        }));
        let mut blame = Vec::new();
        if self.truth.is_some() {
            let truth_apps = self
                .apps
                .iter()
                .filter(|a| a.truth_users.unwrap_or(0) > 0)
                .count();
            blame.push(format!(
                "The truth has {} affected apps.",
                group(truth_apps as u64)
            ));
        }
        for n in &names {
            let k = self
                .apps
                .iter()
                .filter(|a| a.detected_users.get(n).copied().unwrap_or(0) > 0)
                .count();
            blame.push(format!("`{}` blames {} apps.", md_name(n), group(k as u64)));
        }
        blocks.push(Block::Lines(blame));
        if !self.surfaces.is_empty() {
            blocks.push(Block::Heading("Leaks by surface".into()));
            blocks.push(Block::Paragraph(
                "Exposures in the truth by the surface the photo was on when an app first received it, and how many of them each detector reported.".into(),
            ));
            blocks.push(Block::Table(found_by(
                vec![Column::text("surface"), Column::number("truth exposures")],
                &self.surfaces,
                |r| vec![r.surface.clone(), group(r.truth_exposures)],
                |r| &r.found,
            )));
        }
        if !self.partners.is_empty() {
            blocks.push(Block::Heading(
                "Message violations by partner and action".into(),
            ));
            blocks.push(Block::Paragraph(
                "Successful mailbox calls without the scope, in the truth, by partner app and action; a revoked token is one the user had granted and revoked (as `exact` tells them apart), a never-granted call had no grant at all.".into(),
            ));
            blocks.push(Block::Table(found_by(
                vec![
                    Column::text("partner"),
                    Column::text("action"),
                    Column::number("truth violations"),
                    Column::number("revoked token"),
                    Column::number("never granted"),
                ],
                &self.partners,
                |r| {
                    vec![
                        format!("{} ({})", r.partner, r.app_id),
                        r.action.clone(),
                        group(r.truth_violations),
                        count(r.revoked_token),
                        count(r.never_granted),
                    ]
                },
                |r| &r.found,
            )));
        }
        let mut providers: Vec<&ProviderRow> = self.providers.iter().collect();
        providers.sort_by_key(|p| std::cmp::Reverse(p.truth_users.unwrap_or(0)));
        if self.truth.is_some() && !providers.is_empty() {
            blocks.push(Block::Heading("Top providers by affected users".into()));
            blocks.push(Block::Paragraph(
                "Distinct users per provider: a user exposed through two of its apps counts once."
                    .into(),
            ));
            blocks.push(Block::Table(Table {
                caption: None,
                columns: vec![
                    Column::text("provider"),
                    Column::number("apps"),
                    Column::number("truth users"),
                ],
                rows: providers
                    .iter()
                    .take(10)
                    .map(|p| {
                        vec![
                            format!("{} ({})", p.name, p.provider_id),
                            p.apps.to_string(),
                            count(p.truth_users),
                        ]
                    })
                    .collect(),
            }));
        }
        blocks.push(Block::Paragraph(
            "`report.json` lists every app and provider; `report.html` draws the charts.".into(),
        ));
        Doc {
            title: format!("blastradius {} of `{}`", self.command, self.dataset),
            headline: Some(self.headline()),
            blocks,
            method: vec![format!(
                "`blastradius {}` of `{}`{}; each detector's figures are its own run over every shard (events/s, wall time and peak memory of this process, {}). `report.json` holds every number of this page.",
                self.command,
                self.dataset,
                self.threads
                    .map_or(String::new(), |t| format!(" with {t} threads")),
                self.truth
                    .as_ref()
                    .map_or("not scored".to_string(), |t| format!(
                        "scored against {}",
                        t.source
                    )),
            )],
        }
    }

    /// The answer first: each detector's F1 at each level it was scored at.
    fn headline(&self) -> String {
        if self.truth.is_none() {
            return "Not scored: no truth was read; the findings and counts below are what each detector reported.".into();
        }
        let each: Vec<String> = self
            .detectors
            .iter()
            .map(|d| {
                let sc = d.scores.as_ref();
                let levels: Vec<String> = [
                    ("user", sc.and_then(|s| s.users.as_ref())),
                    ("exposure", sc.and_then(|s| s.exposures.as_ref())),
                    ("violation", sc.and_then(|s| s.violations.as_ref())),
                ]
                .into_iter()
                .filter_map(|(name, s)| s.and_then(|s| s.f1).map(|f| (name, f)))
                .map(|(name, f)| format!("{name} F1 {f:.3}"))
                .collect();
                match levels.is_empty() {
                    true => format!("`{}`: not scored", md_name(&d.detector)),
                    false => format!("`{}`: {}", md_name(&d.detector), levels.join(", ")),
                }
            })
            .collect();
        format!("{}.", each.join("; "))
    }

    /// The report as Markdown.
    pub fn to_markdown(&self) -> String {
        self.doc().to_markdown()
    }

    /// The charts of the HTML page: exposures over the bug window by day and surface, the
    /// top apps, and each detector's F1 per level.
    pub fn charts(&self) -> Vec<blastradius_pages::chart::Chart> {
        use blastradius_pages::chart::{Axis, Chart, Series, Style};
        let names: Vec<&str> = self.detectors.iter().map(|d| d.detector.as_str()).collect();
        let styles = assign(&names);
        let style_of = |d: &str| styles[names.iter().position(|n| *n == d).unwrap_or(0)];
        let mut out = Vec::new();
        if !self.days.is_empty() {
            let surfaces: std::collections::BTreeSet<&String> = self
                .days
                .iter()
                .flat_map(|d| d.exposures_by_surface.keys())
                .collect();
            let labels: Vec<String> = self.days.iter().map(|d| d.day[5..].to_string()).collect();
            out.push(Chart {
                title: "Exposures by the day they began".into(),
                x_label: "day (UTC, month-day)".into(),
                y_label: "exposures first made".into(),
                x: Axis::Category(labels),
                series: surfaces
                    .iter()
                    .map(|s| {
                        Series::new(
                            s.to_string(),
                            self.days
                                .iter()
                                .enumerate()
                                .map(|(i, d)| {
                                    (
                                        i as f64,
                                        d.exposures_by_surface.get(*s).copied().unwrap_or(0) as f64,
                                    )
                                })
                                .collect(),
                        )
                    })
                    .collect(),
                y_range: Some((
                    0.0,
                    self.days
                        .iter()
                        .flat_map(|d| d.exposures_by_surface.values())
                        .copied()
                        .max()
                        .unwrap_or(1) as f64
                        * 1.15,
                )),
                ..Chart::default()
            });
        }
        let mut top: Vec<&AppRow> = self.apps.iter().collect();
        top.sort_by_key(|a| std::cmp::Reverse(a.truth_users.unwrap_or(0)));
        let top: Vec<&AppRow> = top.into_iter().take(8).collect();
        if !top.is_empty() && self.truth.is_some() {
            let mut series = vec![
                Series::new(
                    "truth",
                    top.iter()
                        .enumerate()
                        .map(|(i, a)| (i as f64, a.truth_users.unwrap_or(0) as f64))
                        .collect(),
                )
                .styled(TRUTH),
            ];
            for d in &self.detectors {
                series.push(
                    Series::new(
                        d.detector.clone(),
                        top.iter()
                            .enumerate()
                            .map(|(i, a)| {
                                (
                                    i as f64,
                                    a.detected_users.get(&d.detector).copied().unwrap_or(0) as f64,
                                )
                            })
                            .collect(),
                    )
                    .styled(style_of(&d.detector)),
                );
            }
            out.push(Chart {
                title: "Top apps by affected users".into(),
                x_label: "app".into(),
                y_label: "distinct users".into(),
                x: Axis::Category(top.iter().map(|a| a.name.clone()).collect()),
                style: Style::Bars,
                series,
                ..Chart::default()
            });
        }
        let scored: Vec<(usize, &DetectorReport)> = self
            .detectors
            .iter()
            .enumerate()
            .filter(|(_, d)| d.scores.is_some())
            .collect();
        if !scored.is_empty() {
            let levels = ["users", "exposures", "violations"];
            out.push(Chart {
                title: "F1 of each detector by level".into(),
                x_label: "level (\u{2013}: not reported or nothing to find, not drawn)".into(),
                y_label: "F1".into(),
                x: Axis::Category(levels.iter().map(|l| l.to_string()).collect()),
                style: Style::Bars,
                y_range: Some((0.0, 1.1)),
                series: scored
                    .iter()
                    .map(|(_, d)| {
                        let s = d.scores.as_ref().expect("scored");
                        Series::new(
                            d.detector.clone(),
                            [&s.users, &s.exposures, &s.violations]
                                .iter()
                                .enumerate()
                                .filter_map(|(i, l)| Some((i as f64, l.as_ref()?.f1?)))
                                .collect(),
                        )
                        .styled(style_of(&d.detector))
                    })
                    .collect(),
                ..Chart::default()
            });
        }
        out
    }

    /// The report as one self-contained HTML page (see [`Doc::to_html`]).
    pub fn to_html(&self) -> String {
        self.doc().to_html()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::App;

    // Issue 20: a provider with 79 "truth users" had 78: one user was exposed through two of
    // its apps and counted twice.
    #[test]
    fn a_provider_counts_a_user_of_two_of_its_apps_once() {
        let mut catalog = Catalog::default();
        for (app, provider) in [(1, 10), (2, 10), (3, 20)] {
            catalog.apps.insert(
                app,
                App {
                    provider_id: provider,
                    name: format!("app {app}"),
                    category: "photo".into(),
                },
            );
        }
        catalog.providers.insert(10, "ten".into());
        catalog.providers.insert(20, "twenty".into());
        // User 7 through apps 1 and 2 (both of provider 10), user 8 through app 2, user 9
        // through app 3.
        let pairs = [(1, 7), (2, 7), (2, 8), (3, 9)];
        let by_provider = provider_users(&catalog, pairs.iter().copied());
        assert_eq!(by_provider, BTreeMap::from([(10, 2), (20, 1)]));
        let mut per_app: crate::output::AppCounts = BTreeMap::new();
        per_app.insert(1, (10, 1, 1));
        per_app.insert(2, (10, 2, 2));
        per_app.insert(3, (20, 1, 1));
        let detected = vec![(
            "exact".to_string(),
            BTreeMap::from([(1, 1), (2, 2), (3, 1)]),
        )];
        let (_, providers) = app_tables(
            &catalog,
            Some(&per_app),
            &detected,
            Some(&by_provider),
            &[("exact".to_string(), by_provider.clone())],
        );
        let ten = providers.iter().find(|p| p.provider_id == 10).unwrap();
        assert_eq!((ten.apps, ten.truth_users), (2, Some(2)), "not 1 + 2 = 3");
        assert_eq!(ten.detected_users.get("exact"), Some(&2));
    }
}
