//! Answer keys written apart from their dataset (`generate --split-truth`), so a dataset can
//! go to a detector team blind and be scored later.
//!
//! A key folder holds `truth/` and `key.json`, which names the world it belongs to and
//! lists its files with their checksums. The blind dataset's manifest records the SHA-256
//! of that `key.json`: a key is used only for the dataset (or a damaged copy of it) it was
//! written with.

use std::path::{Path, PathBuf};

use blastradius_schema::path;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::manifest::{CalibrationRow, Counts, FileInfo};
use crate::open::{Dataset, read_listed};

/// Identifies an answer key's `key.json`.
pub const KEY_FORMAT: &str = "blastradius-key";

/// `key.json`: the answer key's own manifest. It alone holds what the blind dataset must
/// not: the seed (and the command with it), the truth's counts and the calibration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyManifest {
    pub format: String,
    /// The world the truth is of ([`blastradius_schema::world_id`]).
    pub world: String,
    pub seed: u64,
    /// The command that makes the dataset and its truth again.
    pub dataset_command: String,
    pub counts: TruthCounts,
    pub calibration: Vec<CalibrationRow>,
    pub files: Vec<FileInfo>,
}

/// The truth's counts, which a blind dataset's manifest leaves out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthCounts {
    pub affected_apps: Option<u64>,
    pub affected_providers: Option<u64>,
    pub affected_users: Option<u64>,
    pub exposures: Option<u64>,
    pub message_violations: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stolen_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_as_users_by_tier: Option<std::collections::BTreeMap<String, u64>>,
}

impl TruthCounts {
    /// The truth's counts of `counts` (a dataset's, before it is made blind).
    pub fn of(counts: &Counts) -> Self {
        TruthCounts {
            affected_apps: counts.affected_apps,
            affected_providers: counts.affected_providers,
            affected_users: counts.affected_users,
            exposures: counts.exposures,
            message_violations: counts.message_violations,
            stolen_tokens: counts.stolen_tokens,
            view_as_users_by_tier: counts.view_as_users_by_tier.clone(),
        }
    }
}

/// An opened answer key.
#[derive(Debug, Clone)]
pub struct Key {
    pub root: PathBuf,
    pub manifest: KeyManifest,
    /// SHA-256 of `key.json` as read.
    pub sha256: String,
}

impl Key {
    /// Opens the key folder `root`.
    ///
    /// # Errors
    /// A folder without a readable `key.json`, or a listed file that is missing, leaves the
    /// folder or has another size.
    pub fn open(root: &Path) -> Result<Key> {
        let p = root.join(path::KEY);
        let bytes = std::fs::read(&p).map_err(|e| {
            Error::dataset(
                &p,
                format!("cannot read the answer key ({e}); give the folder `generate --split-truth` wrote"),
            )
        })?;
        let manifest: KeyManifest = serde_json::from_slice(&bytes)
            .map_err(|e| Error::dataset(&p, format!("not a blastradius answer key ({e})")))?;
        if manifest.format != KEY_FORMAT {
            return Err(Error::dataset(&p, "not a blastradius answer key"));
        }
        for f in &manifest.files {
            let full =
                blastradius_safefs::confined(root, &f.path).map_err(|m| Error::dataset(&p, m))?;
            let len = std::fs::metadata(&full)
                .map_err(|e| {
                    Error::dataset(&full, format!("listed in the key but unreadable ({e})"))
                })?
                .len();
            if len != f.bytes {
                return Err(Error::dataset(
                    &full,
                    format!(
                        "{len} bytes but the key says {}: the file is truncated or replaced",
                        f.bytes
                    ),
                ));
            }
        }
        Ok(Key {
            root: root.to_path_buf(),
            sha256: Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            manifest,
        })
    }

    /// Checks that this key belongs with `dataset`.
    ///
    /// # Errors
    /// When the dataset names another key, or is of another world.
    pub fn check_matches(&self, dataset: &Dataset) -> Result<()> {
        let refuse = |why: String| {
            Error::dataset(
                self.root.join(path::KEY),
                format!(
                    "is not the answer key of {}: {why}; give the key written with that dataset",
                    dataset.root.display()
                ),
            )
        };
        if let Some(expected) = &dataset.manifest.truth_key {
            if expected.sha256 != self.sha256 {
                return Err(refuse(format!(
                    "the dataset's manifest names the key with SHA-256 {}, this one is {}",
                    expected.sha256, self.sha256
                )));
            }
            // The checksum binds the two exactly; a blind dataset does not carry the seed
            // its world is named by (only the key does), so there is no world to compare.
            return Ok(());
        }
        let world = dataset.manifest.world_id();
        if world != self.manifest.world {
            return Err(refuse(format!(
                "it is the truth of `{}`, the dataset is `{world}`",
                self.manifest.world
            )));
        }
        Ok(())
    }

    /// Reads a file of the key whole, checked against the key's checksum.
    ///
    /// # Errors
    /// An unreadable file, or one whose bytes differ from what the key recorded.
    pub fn read(&self, entry: &FileInfo) -> Result<bytes::Bytes> {
        let mut buffer = Vec::new();
        read_listed(&self.root, entry, &mut buffer)?;
        Ok(bytes::Bytes::from(buffer))
    }
}
