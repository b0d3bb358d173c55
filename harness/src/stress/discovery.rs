//! The stress sweep's discovery half (data/README §14): the built-in discovery detectors on
//! every copy, outside commands' alarms, and the page's tables of them.

use std::path::Path;

use blastradius_dataset::Dataset;
use blastradius_pages::doc::{Block, Column, Table};
use serde::{Deserialize, Serialize};

use super::{Context, Progress, StressReport};
use crate::Error;

/// One built-in discovery detector (never told the bug) on one copy: how soon, how often
/// wrong, how big at first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiscoveryCell {
    pub fault: String,
    pub level: f64,
    pub label: String,
    pub detector: String,
    /// `built-in`, or `outside` (a `--exec` command that wrote alarms).
    #[serde(default = "built_in")]
    pub origin: String,
    pub score: blastradius_analyzer::discover::score::Headline,
    pub wall_seconds: f64,
}

fn built_in() -> String {
    "built-in".into()
}

impl DiscoveryCell {
    /// The progress line of the cell.
    pub(super) fn line(&self) -> String {
        format!(
            "{:10} {:>14} {:18} discovery: time to detect {}, blamed {}, {} false alarms/day",
            self.fault,
            self.label,
            self.detector,
            blastradius_analyzer::discover::duration(self.score.time_to_detect_seconds),
            self.score.blamed(),
            self.score
                .false_alarms_per_day
                .map_or("–".into(), |v| format!("{v:.2}"))
        )
    }
}

impl Context<'_> {
    /// Runs the built-in discovery detectors on the copy at `copy`. They read the log as it
    /// is and never the bug's deploy kinds, so a scoping dataset's copy serves them as well
    /// as a discovery one.
    pub(super) fn discovery(
        &self,
        copy: &Path,
        fault: &str,
        level: f64,
        label: &str,
        progress: &mut dyn Progress,
    ) -> Result<Vec<DiscoveryCell>, Error> {
        use blastradius_analyzer::discover::{self, DETECTORS, score};
        let dataset = Dataset::open(copy)?;
        let mut out = Vec::new();
        for (name, incident, _) in DETECTORS {
            let Some(world) = self.worlds.and_then(|w| w.of(*incident)) else {
                continue; // token-rate, outside a View-As world
            };
            let found = discover::run(&dataset, name, self.options.threads)?;
            let headline = score::Headline::of(&score::score(&found.alarms, world));
            let cell = DiscoveryCell {
                fault: fault.into(),
                level,
                label: label.into(),
                detector: name.to_string(),
                origin: built_in(),
                score: headline,
                wall_seconds: found.wall_seconds.unwrap_or_default(),
            };
            progress.note(&cell.line());
            out.push(cell);
        }
        Ok(out)
    }

    /// Scores the alarms an outside command wrote in `dir` against the clean dataset's
    /// truth, as `score` does.
    pub(super) fn score_alarms(
        &self,
        dir: &Path,
        name: &str,
        universe: &blastradius_analyzer::findings::Universe,
        (fault, level, label): (&str, f64, &str),
    ) -> Result<DiscoveryCell, Error> {
        use blastradius_analyzer::discover::{score, score_outside};
        let scored = score_outside(dir, name, universe, self.worlds)?;
        Ok(DiscoveryCell {
            fault: fault.into(),
            level,
            label: label.into(),
            detector: name.into(),
            origin: "outside".into(),
            score: score::Headline::of(&scored),
            wall_seconds: 0.0,
        })
    }
}

/// What the discovery score needs of the clean dataset's truth: `None` (with a note) for a
/// truth that predates `bug_deploys.parquet`.
pub(super) fn worlds(
    options: &super::Options,
    clean: &Dataset,
    progress: &mut dyn Progress,
) -> Result<Option<blastradius_analyzer::discover::Worlds>, Error> {
    // A truth written before the deploys were part of the contract (an answer key of a
    // version 2 dataset) cannot time discovery: the sweep goes on without its table.
    let has_bug_deploys = match &options.truth_key {
        None => clean.file(blastradius_schema::path::BUG_DEPLOYS).is_some(),
        Some(k) => blastradius_dataset::Key::open(k)
            .map(|k| {
                k.manifest
                    .files
                    .iter()
                    .any(|f| f.path == blastradius_schema::path::BUG_DEPLOYS)
            })
            .unwrap_or(true),
    };
    Ok(match has_bug_deploys {
        true => Some(blastradius_analyzer::discover::worlds(
            clean,
            options.truth_key.as_deref(),
        )?),
        false => {
            progress.note("no discovery table: the truth has no bug_deploys.parquet (written before schema version 3)");
            None
        }
    })
}

/// The page's discovery section: nothing when no discovery detector ran.
pub(super) fn blocks(report: &StressReport) -> Vec<Block> {
    let mut blocks = Vec::new();
    if !report.discovery.is_empty() {
        use blastradius_analyzer::discover::score::Headline;
        blocks.push(Block::Heading("Discovery under damage".into()));
        blocks.push(Block::Paragraph(
            "The discovery detectors (data/README §14: the built-in ones, never told which deploy was the bug, and any --exec command that wrote alarms), on every copy: time to detect from the bug's deploy to the first alarm (at any confidence, and at 0.5 or more), whether that alarm blamed the bug's deploy, false alarms per day before it, and the 24 h estimate of affected users (precision, and recall of the users exposed by then). In a View-As world `token-rate` is timed from the attack's first theft instead, and has no deploy to blame.".into(),
        ));
        let damage = |d: &DiscoveryCell| match d.fault.as_str() {
            "clean" => "none (clean log)".to_string(),
            fault => format!("{fault} {}", d.label),
        };
        let table = |names: &[&str], cells: &dyn Fn(&DiscoveryCell) -> Vec<String>| {
            let mut columns = vec![Column::text("detector"), Column::text("damage")];
            columns.extend(names.iter().map(|c| Column::number(*c)));
            Table {
                caption: None,
                columns,
                rows: report
                    .discovery
                    .iter()
                    .map(|d| [vec![d.detector.clone(), damage(d)], cells(d)].concat())
                    .collect(),
            }
        };
        let mut soon: Vec<&str> = Headline::SOON.to_vec();
        soon.push("wall s");
        blocks.push(Block::Table(table(&soon, &|d| {
            let mut row = d.score.soon();
            row.push(format!("{:.2}", d.wall_seconds));
            row
        })));
        blocks.push(Block::Table(table(&Headline::WRONG, &|d| d.score.wrong())));
    }
    blocks
}
