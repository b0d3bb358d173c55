//! Opens a dataset folder: the manifest, its schema version, and optionally every checksum.

use std::io::Read;
use std::path::{Path, PathBuf};

use blastradius_schema::{SCHEMA_VERSION, path};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The parts of `manifest.json` the analyzer relies on.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub schema_version: u32,
    pub files: Vec<FileEntry>,
    #[serde(default)]
    pub complete: bool,
}

/// A file listed in the manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// An opened dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub root: PathBuf,
    pub manifest: Manifest,
}

impl Dataset {
    /// Opens `root`, checking the manifest and that every listed file exists with its size.
    ///
    /// # Errors
    /// A missing or unreadable manifest, another schema version, or a missing or resized file.
    pub fn open(root: &Path) -> Result<Self> {
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
        if manifest.format != "blastradius-dataset" {
            return Err(Error::dataset(
                &manifest_path,
                "not a blastradius dataset manifest",
            ));
        }
        if manifest.schema_version != SCHEMA_VERSION {
            return Err(Error::dataset(
                &manifest_path,
                format!(
                    "schema version {} but this analyzer reads version {SCHEMA_VERSION}; regenerate the dataset with this version",
                    manifest.schema_version
                ),
            ));
        }
        for f in &manifest.files {
            let p = root.join(&f.path);
            let meta = std::fs::metadata(&p).map_err(|e| {
                Error::dataset(&p, format!("listed in the manifest but unreadable ({e})"))
            })?;
            if meta.len() != f.bytes {
                return Err(Error::dataset(
                    &p,
                    format!(
                        "{} bytes but the manifest says {}: the file is truncated or replaced",
                        meta.len(),
                        f.bytes
                    ),
                ));
            }
        }
        Ok(Dataset {
            root: root.to_path_buf(),
            manifest,
        })
    }

    /// Checks every file's SHA-256 against the manifest.
    ///
    /// # Errors
    /// The first file whose checksum differs, or that cannot be read.
    pub fn verify(&self) -> Result<()> {
        for f in &self.manifest.files {
            let p = self.root.join(&f.path);
            let mut file = std::fs::File::open(&p).map_err(|source| Error::Io {
                path: p.clone(),
                source,
            })?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = file.read(&mut buf).map_err(|source| Error::Io {
                    path: p.clone(),
                    source,
                })?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            let digest: String = hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            if digest != f.sha256 {
                return Err(Error::dataset(
                    &p,
                    "checksum differs from the manifest: the file is damaged; regenerate it",
                ));
            }
        }
        Ok(())
    }

    /// The files of a sharded table, in shard order (`events`, `truth/exposures`, ...).
    pub fn parts(&self, dir: &str) -> Vec<&FileEntry> {
        let prefix = format!("{dir}/");
        self.manifest
            .files
            .iter()
            .filter(|f| f.path.starts_with(&prefix) && !f.path[prefix.len()..].contains('/'))
            .collect()
    }

    /// Whether the ground truth is present (a user's own log has none).
    pub fn has_truth(&self) -> bool {
        !self.parts(path::EXPOSURES_DIR).is_empty()
    }
}
