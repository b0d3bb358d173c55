//! How every contender is judged: its findings folder, loaded against the dataset's universe
//! (ids it does not have are a contract error, not false positives) and scored against the
//! truth by the analyzer's one scorer. Built-in detectors, in process or as child `analyze`
//! processes, and outside commands all end here, so a number in the stress table and one in
//! the leaderboard mean the same thing.

use std::path::Path;

use blastradius_analyzer::analyze::universe;
use blastradius_analyzer::findings::{self, Findings, Universe};
use blastradius_analyzer::output::Catalog;
use blastradius_analyzer::score::{Scores, Truth, score};
use blastradius_dataset::Dataset;

/// The truth of a dataset and the ids its findings may name.
pub struct Judge<'a> {
    pub truth: &'a Truth,
    pub universe: Universe,
}

impl<'a> Judge<'a> {
    /// Judges findings about `dataset` (whose catalog is `catalog`) against `truth`.
    pub fn new(truth: &'a Truth, dataset: &Dataset, catalog: &Catalog) -> Self {
        Judge {
            truth,
            universe: universe(dataset, catalog),
        }
    }

    /// The scores of findings already loaded.
    pub fn score(&self, found: &Findings) -> Scores {
        score(self.truth, found)
    }

    /// Loads the findings folder `dir` and scores it.
    ///
    /// # Errors
    /// A folder that breaks the findings contract (see `blastradius_analyzer::findings`).
    pub fn score_dir(&self, dir: &Path) -> Result<Scores, blastradius_analyzer::Error> {
        let found = findings::load(dir, &self.universe)?;
        Ok(self.score(&found))
    }
}
