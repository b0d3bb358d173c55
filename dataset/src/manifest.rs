//! `manifest.json`: what a dataset is, how to make it again, and every file's checksum.
//! The simulator writes these types and every reader reads them: one definition of each.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use parquet::basic::{Compression, ZstdLevel};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use blastradius_schema::{OLDEST_SCHEMA_VERSION, SCHEMA_VERSION, path};

use crate::error::{Error, Result};

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
    /// The bug's window as the scenario sets it. In a control world (`control`) the bug
    /// never deploys: nothing happens in it. Absent from a discovery dataset (`discovery`),
    /// whose log does not say which deploys are the bug's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bug_window: Option<Window>,
    /// A discovery dataset (`generate --discovery`): every deploy is written as `deploy`,
    /// the bug's two unmarked; only the truth (`truth/bug_deploys.parquet`) says which they
    /// are. Left out when `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub discovery: bool,
    /// A control world (`generate --no-incident`): the same world and traffic as its
    /// scenario's, no incident ever happening; the truth is empty. Left out when `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub control: bool,
    pub counts: Counts,
    pub calibration: Vec<CalibrationRow>,
    pub files: Vec<FileInfo>,
    /// What `blastradius perturb` did to the event log, when it made this dataset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perturbation: Option<crate::perturbation::Perturbation>,
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
    /// Rows of `access/` (the system events counted once per shard), in a View-As world.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_events: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_events_by_kind: Option<BTreeMap<String, u64>>,
    /// Rows of `friendships/` (each friendship twice, once from each end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friendships: Option<u64>,
    /// The View-As truth: tokens taken, and affected users by tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stolen_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_as_users_by_tier: Option<BTreeMap<String, u64>>,
}

impl Counts {
    /// Leaves out the truth's counts (for a blind dataset).
    pub fn blind(&mut self) {
        self.exposures = None;
        self.affected_users = None;
        self.affected_apps = None;
        self.affected_providers = None;
        self.message_violations = None;
        self.stolen_tokens = None;
        self.view_as_users_by_tier = None;
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
    /// Reads and checks `root/manifest.json`: a blastradius dataset manifest of this schema
    /// version. The folder itself is [`crate::Dataset::open`]'s to check.
    ///
    /// # Errors
    /// [`Error::Dataset`] naming the manifest: unreadable, not valid, not a dataset's, or of
    /// another schema version.
    pub fn load(root: &Path) -> Result<Manifest> {
        let manifest_path = root.join(path::MANIFEST);
        let text = std::fs::read_to_string(&manifest_path).map_err(|e| {
            Error::dataset(
                &manifest_path,
                format!("cannot read the manifest ({e}); is this a folder written by `blastradius generate`?"),
            )
        })?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
            Error::dataset(
                &manifest_path,
                format!("not a valid manifest ({e}); regenerate the dataset"),
            )
        })?;
        if manifest.format != FORMAT {
            return Err(Error::dataset(
                &manifest_path,
                "not a blastradius dataset manifest",
            ));
        }
        if !(OLDEST_SCHEMA_VERSION..=SCHEMA_VERSION).contains(&manifest.schema_version) {
            return Err(Error::dataset(
                &manifest_path,
                format!(
                    "schema version {} but this build of blastradius reads versions {OLDEST_SCHEMA_VERSION} to {SCHEMA_VERSION}; regenerate the dataset with this version (the command is in the manifest)",
                    manifest.schema_version
                ),
            ));
        }
        Ok(manifest)
    }

    /// The manifest as pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a manifest always serializes");
        s.push('\n');
        s
    }

    /// The identity of the world this dataset was made from (see
    /// [`blastradius_schema::world_id`]); a blind dataset, which carries no seed, names it
    /// with seed 0.
    pub fn world_id(&self) -> String {
        blastradius_schema::world_id(
            &self.generator,
            self.seed.unwrap_or(0),
            self.users,
            &self.scenario.sha256,
        )
    }
}

/// What a written file is: its path inside the dataset, rows, bytes, SHA-256, and a CRC-32C
/// that readers check on every read (about 14 GB/s here, against 2 GB/s for SHA-256).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FileInfo {
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
    /// Absent in datasets written before readers checked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<String>,
}

impl FileInfo {
    /// Checks the file at `path`, the one this entry describes, against it: its size, then
    /// its SHA-256. `fix` ends the message (what to regenerate).
    ///
    /// # Errors
    /// [`Error::Dataset`] naming the file, what differs and `fix`; [`Error::Io`] when it
    /// cannot be read.
    pub fn check(&self, path: &Path, fix: &str) -> Result<()> {
        let damaged = |what: String| {
            Error::dataset(
                path,
                format!("{what}: the file is damaged or was replaced; {fix}"),
            )
        };
        let mut file = File::open(path).map_err(Error::io(path))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut bytes = 0u64;
        loop {
            let n = std::io::Read::read(&mut file, &mut buf).map_err(Error::io(path))?;
            if n == 0 {
                break;
            }
            bytes += n as u64;
            hasher.update(&buf[..n]);
        }
        if bytes != self.bytes {
            return Err(damaged(format!(
                "{bytes} bytes where the manifest says {}",
                self.bytes
            )));
        }
        if hex(&hasher.finalize()) != self.sha256 {
            return Err(damaged("its SHA-256 differs from the manifest's".into()));
        }
        Ok(())
    }
}

/// How a dataset's Parquet pages are compressed. Readers find the codec in each file, so
/// this changes only size and speed, never content.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Codec {
    /// LZ4 (Parquet's `LZ4_RAW`): `exact` replays the default dataset in 0.62 s against 0.70 s
    /// for zstd (whole process), files about 15% larger.
    #[default]
    Lz4,
    /// zstd level 1: the smallest files.
    Zstd,
    /// Snappy: the codec every Parquet reader has, old ones included.
    Snappy,
    /// No compression.
    #[serde(rename = "none")]
    Uncompressed,
}

impl Codec {
    /// Every codec, in the order `--compression` lists them.
    pub const ALL: [Codec; 4] = [Codec::Lz4, Codec::Zstd, Codec::Snappy, Codec::Uncompressed];

    /// The codec named `name` (as [`Codec::as_str`] names it).
    pub fn parse(name: &str) -> Option<Codec> {
        Codec::ALL.into_iter().find(|c| c.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Codec::Lz4 => "lz4",
            Codec::Zstd => "zstd",
            Codec::Snappy => "snappy",
            Codec::Uncompressed => "none",
        }
    }

    /// Bytes per event of a dataset in this codec, measured on the default scenario at 1M
    /// users (the whole folder over 18.93M events).
    pub fn bytes_per_event(self) -> f64 {
        match self {
            Codec::Lz4 => 17.6,
            Codec::Zstd => 15.4,
            Codec::Snappy => 17.6,
            Codec::Uncompressed => 17.9,
        }
    }

    /// Whether the writer runs the codec on delta-packed columns: zstd shrinks the packed
    /// event and photo ids by 1.3×, while lz4 and snappy find nothing in them (1.00×), so
    /// under those the packed columns are stored as encoded (sizes by column:
    /// `benches/runs/2026-11-26-2c-24g/generate/generate.md`).
    pub fn compresses_packed_columns(self) -> bool {
        matches!(self, Codec::Zstd)
    }

    /// The Parquet codec.
    pub fn compression(self) -> Compression {
        match self {
            Codec::Lz4 => Compression::LZ4_RAW,
            Codec::Zstd => Compression::ZSTD(ZstdLevel::try_new(1).expect("valid level")),
            Codec::Snappy => Compression::SNAPPY,
            Codec::Uncompressed => Compression::UNCOMPRESSED,
        }
    }
}

/// Lower-case hex of `bytes` (the form of every checksum in a manifest).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
