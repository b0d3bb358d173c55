//! The machine report (`report.json`) and the human one (`report.md`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use blastradius_schema::time::format_utc;
use serde::Serialize;

use crate::analyze::RunSummary;
use crate::output::AppCounts;

/// Everything a report says.
#[derive(Debug, Serialize)]
pub struct Report {
    pub dataset: String,
    pub threads: usize,
    /// `false` for a one-shard dataset: cross-shard figures cover that shard alone.
    pub complete: bool,
    /// Whether `truth/` was present and detections were scored.
    pub scored: bool,
    pub bug_window: Option<Window>,
    pub detectors: Vec<DetectorReport>,
    /// Per app with any detection or truth: truth and each detector's distinct users.
    pub apps: Vec<AppRow>,
    /// The same, summed per provider.
    pub providers: Vec<ProviderRow>,
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

/// One detector's figures, its peak memory and where its findings were written.
#[derive(Debug, Serialize)]
pub struct DetectorReport {
    #[serde(flatten)]
    pub summary: RunSummary,
    /// Peak resident memory of the process after this detector ran.
    pub peak_memory_bytes: Option<u64>,
    pub files: Vec<String>,
}

/// One app: the truth's distinct users (if known) and each detector's.
#[derive(Debug, Serialize)]
pub struct AppRow {
    pub app_id: u32,
    pub provider_id: u32,
    pub truth_users: Option<u64>,
    pub truth_exposures: Option<u64>,
    pub detected_users: BTreeMap<String, u64>,
}

/// One provider: its apps' distinct-user counts added up (a user exposed through two of its
/// apps counts twice).
#[derive(Debug, Serialize)]
pub struct ProviderRow {
    pub provider_id: u32,
    pub truth_users: Option<u64>,
    pub detected_users: BTreeMap<String, u64>,
}

/// Builds the per-app and per-provider tables from each detector's counts and the truth's.
pub fn app_tables(
    truth: Option<&AppCounts>,
    detected: &[(String, AppCounts)],
) -> (Vec<AppRow>, Vec<ProviderRow>) {
    let mut apps: BTreeMap<u32, AppRow> = BTreeMap::new();
    let row = |app: u32, provider: u32| AppRow {
        app_id: app,
        provider_id: provider,
        truth_users: truth.map(|_| 0),
        truth_exposures: truth.map(|_| 0),
        detected_users: detected.iter().map(|(d, _)| (d.clone(), 0)).collect(),
    };
    if let Some(t) = truth {
        for (&app, &(provider, users, exposures)) in t {
            let r = apps.entry(app).or_insert_with(|| row(app, provider));
            r.truth_users = Some(users);
            r.truth_exposures = Some(exposures);
        }
    }
    for (name, counts) in detected {
        for (&app, &(provider, users, _)) in counts {
            apps.entry(app)
                .or_insert_with(|| row(app, provider))
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
                truth_users: truth.map(|_| 0),
                detected_users: detected.iter().map(|(d, _)| (d.clone(), 0)).collect(),
            });
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

fn pct(x: Option<f64>) -> String {
    x.map_or("–".into(), |v| format!("{v:.4}"))
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("–".into(), |b| {
        format!("{:.0} MiB", b as f64 / (1u64 << 20) as f64)
    })
}

impl Report {
    /// The report as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# blastradius analysis of `{}`\n", self.dataset);
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
        if !self.scored {
            let _ = writeln!(
                md,
                "No `truth/` in this dataset: detections are not scored.\n"
            );
        }
        let _ = writeln!(md, "## Detectors\n");
        let _ = writeln!(
            md,
            "| detector | affected users | exposures | violations | user P | user R | user F1 | exposure F1 | violation F1 | events/s | wall s | read s | batch p50 / p99 / max ms | peak memory |"
        );
        let _ = writeln!(
            md,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"
        );
        for d in &self.detectors {
            let s = &d.summary;
            let sc = s.scores.as_ref();
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2}M | {:.2} | {:.2} | {:.1} / {:.1} / {:.1} | {} |",
                s.detector,
                s.affected_users,
                s.exposures,
                s.message_violations,
                pct(sc.map(|x| x.users.precision)),
                pct(sc.map(|x| x.users.recall)),
                pct(sc.map(|x| x.users.f1)),
                pct(sc.and_then(|x| x.exposures.map(|e| e.f1))),
                pct(sc.and_then(|x| x.violations.map(|e| e.f1))),
                s.events_per_second / 1e6,
                s.wall_seconds,
                s.read_seconds,
                s.batch_replay_ms_p50,
                s.batch_replay_ms_p99,
                s.batch_replay_ms_max,
                mib(d.peak_memory_bytes),
            );
        }
        let _ = writeln!(
            md,
            "\nRead seconds are summed over threads. Batches hold about 65,536 events; their \
             replay time excludes reading.\n"
        );
        for d in &self.detectors {
            for (what, n) in &d.summary.unresolved {
                let _ = writeln!(md, "- `{}`: {n} × {what}.", d.summary.detector);
            }
            if d.summary.out_of_order_events > 0 {
                let _ = writeln!(
                    md,
                    "- `{}`: {} events were out of log order in their files and were re-sorted.",
                    d.summary.detector, d.summary.out_of_order_events
                );
            }
        }
        let mut top: Vec<&AppRow> = self.apps.iter().collect();
        top.sort_by_key(|a| {
            std::cmp::Reverse((
                a.truth_users.unwrap_or(0),
                a.detected_users.values().max().copied().unwrap_or(0),
            ))
        });
        let names: Vec<&String> = self
            .detectors
            .iter()
            .map(|d| &d.summary.detector)
            .collect::<Vec<_>>();
        let names: Vec<String> = names.into_iter().cloned().collect();
        let _ = writeln!(md, "\n## Top apps by affected users\n");
        let _ = write!(md, "| app | provider | truth users |");
        for n in &names {
            let _ = write!(md, " {n} users |");
        }
        let _ = writeln!(md, "\n|---:|---:|---:|{}", "---:|".repeat(names.len()));
        for a in top.iter().take(15) {
            let _ = write!(
                md,
                "| {} | {} | {} |",
                a.app_id,
                a.provider_id,
                a.truth_users.map_or("–".into(), |u| u.to_string())
            );
            for n in &names {
                let _ = write!(md, " {} |", a.detected_users.get(n).copied().unwrap_or(0));
            }
            let _ = writeln!(md);
        }
        let _ = writeln!(
            md,
            "\n{} apps and {} providers in all; `report.json` lists every one.",
            self.apps.len(),
            self.providers.len()
        );
        md
    }
}
