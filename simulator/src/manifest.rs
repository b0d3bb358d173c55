//! `manifest.json`: what a dataset is, how to make it again, and every file's checksum.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::write::{Codec, FileInfo};

/// Identifies a dataset folder.
pub const FORMAT: &str = "blastradius-dataset";

/// The manifest of a dataset. Holds no wall-clock time, so it is as reproducible as the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub schema_version: u32,
    /// `blastradius <version>` that wrote the dataset.
    pub generator: String,
    /// The command that makes this dataset again; for a blind dataset, the command without
    /// its seed (which only the answer key holds).
    pub command: String,
    pub scenario: ScenarioInfo,
    /// The seed; absent from a blind dataset (`generate --split-truth`), whose answer key
    /// alone holds it: with it, the key could be made again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    pub users: u64,
    pub shards: u32,
    /// The shard written, when the run wrote only one (`--shard I/N`).
    pub only_shard: Option<u32>,
    /// `false` when only one shard was written: totals then cover that shard alone.
    pub complete: bool,
    /// The codec of every file (datasets made before the choice existed are zstd).
    #[serde(default = "zstd")]
    pub compression: Codec,
    pub period: Window,
    pub bug_window: Window,
    pub counts: Counts,
    pub calibration: Vec<CalibrationRow>,
    pub files: Vec<FileInfo>,
    /// What `blastradius perturb` did to the event log, when it made this dataset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perturbation: Option<crate::perturb::Perturbation>,
    /// For a blind dataset (`generate --split-truth`): the answer key it belongs with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth_key: Option<TruthKey>,
}

/// What a blind dataset says of its answer key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthKey {
    /// SHA-256 of the key's `key.json`.
    pub sha256: String,
}

/// The scenario a dataset was made from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioInfo {
    pub name: String,
    /// SHA-256 of the scenario's TOML form.
    pub sha256: String,
    /// Every parameter, as `blastradius scenario show` prints it.
    pub toml: String,
}

/// Two instants, as RFC 3339 UTC text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: String,
    pub end: String,
}

/// Totals over the files written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Rows of `events/`, the deploy events counted once per shard.
    pub events: u64,
    pub events_by_kind: BTreeMap<String, u64>,
    pub photo_calls_by_status: BTreeMap<u16, u64>,
    pub message_calls_by_status: BTreeMap<u16, u64>,
    pub users: u64,
    pub providers: u64,
    pub photo_apps: u64,
    pub partner_apps: u64,
    /// The truth's counts: absent from a blind dataset, whose answer they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposures: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affected_users: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affected_apps: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affected_providers: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_violations: Option<u64>,
}

impl Counts {
    /// Leaves out the truth's counts (for a blind dataset).
    pub fn blind(&mut self) {
        self.exposures = None;
        self.affected_users = None;
        self.affected_apps = None;
        self.affected_providers = None;
        self.message_violations = None;
    }
}

/// A simulated figure beside the public one it is calibrated against.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibrationRow {
    pub figure: String,
    pub target: String,
    pub source: String,
    pub simulated: String,
}

fn zstd() -> Codec {
    Codec::Zstd
}

impl Manifest {
    /// The manifest as pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a manifest always serializes");
        s.push('\n');
        s
    }
}
