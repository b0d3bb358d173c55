//! The streaming detector's memory-accuracy curve on the clean log: a stress sweep's other
//! axis, memory instead of damage.

use std::path::Path;

use blastradius_analyzer::analyze::{detect_into, universe};
use blastradius_analyzer::detect::Settings;
use blastradius_analyzer::output::Catalog;
use blastradius_analyzer::score::{Truth, score};
use blastradius_dataset::Dataset;
use serde::{Deserialize, Serialize};

use super::{Options, Progress};
use crate::Error;

/// One point of the streaming detector's memory-accuracy curve (clean log).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryPoint {
    pub memory_limit: u64,
    pub state_bytes: u64,
    pub photos_per_user: u64,
    pub users_not_tracked: u64,
    pub user_f1: Option<f64>,
    pub exposure_f1: Option<f64>,
}

pub(super) fn curve(
    options: &Options,
    clean: &Dataset,
    truth: &Truth,
    catalog: &Catalog,
    stage: &Path,
    progress: &mut dyn Progress,
) -> Result<Vec<MemoryPoint>, Error> {
    let universe = universe(clean, catalog);
    let by_app = catalog.providers_by_app();
    let mut out = Vec::new();
    for &limit in &options.memory_limits {
        let settings = Settings {
            memory_limit: limit,
            ..Settings::default()
        };
        let dir = stage.join("data").join("memory").join(limit.to_string());
        let (run, found) = detect_into(
            clean,
            "streaming",
            &settings,
            options.threads,
            &dir,
            &universe,
            &by_app,
        )?;
        let s = score(truth, &found);
        let stat = |k: &str| run.findings.stats.get(k).copied().unwrap_or(0);
        let point = MemoryPoint {
            memory_limit: limit,
            state_bytes: stat(blastradius_analyzer::streaming::STATE_BYTES),
            photos_per_user: stat(blastradius_analyzer::streaming::DEPTH),
            users_not_tracked: stat(blastradius_analyzer::streaming::UNTRACKED),
            user_f1: s.users.and_then(|u| u.f1),
            exposure_f1: s.exposures.and_then(|e| e.f1),
        };
        progress.note(&format!(
            "streaming at {limit} B: state {} B, {} photos per user, user F1 {}, exposure F1 {}",
            point.state_bytes,
            point.photos_per_user,
            blastradius_analyzer::report::ratio(point.user_f1),
            blastradius_analyzer::report::ratio(point.exposure_f1)
        ));
        out.push(point);
    }
    Ok(out)
}
