//! The filesystem rules every blastradius command follows, in one place.
//!
//! - **An output appears whole or not at all.** Work goes to a hidden sibling folder that is
//!   renamed into place at the end with a rename that never replaces anything (`--force`:
//!   an atomic exchange with what was there). A kill at any moment leaves the old folder or
//!   the new one, never a mix, and two runs into one folder cannot overwrite each other.
//! - **Only what a run created is deleted.** `--force` replaces a folder only when it is of
//!   the kind the command writes and holds nothing else, as it was written: a dataset whose
//!   manifest lists every file in it with its size, or an earlier output of the same command
//!   whose marker lists every file in it with its size and CRC-32C (checked again just
//!   before the exchange). A staging folder is removed only
//!   when the run that made it is dead.
//! - **Input and output never overlap.**
//! - **A path read from a manifest stays inside its dataset.**
//!
//! ```
//! use blastradius_safefs::{Kind, Stage};
//!
//! let tmp = tempfile::tempdir().unwrap();
//! let out = tmp.path().join("report");
//! let stage = Stage::begin(&out, Kind::Output("analyze"), false, "--out", &[]).unwrap();
//! std::fs::write(stage.path().join("report.md"), "# hello\n").unwrap();
//! assert!(!out.exists(), "nothing is visible before the commit");
//! stage.commit().unwrap();
//! assert!(out.join("report.md").is_file());
//! // A second run into the same folder needs --force.
//! let again = Stage::begin(&out, Kind::Output("analyze"), false, "--out", &[]);
//! assert!(again.unwrap_err().to_string().contains("--force"));
//! ```

mod folder;
mod paths;
mod rename;
mod stage;

use std::path::PathBuf;

pub use folder::{Kind, OUTPUT_MARKER, STAGING_MARKER, output_marker, unlisted_in_dataset};
pub use paths::{confined, disjoint};
pub use stage::{Stage, check};

/// What can go wrong; each message names the flag or file and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The output exists and `--force` was not given.
    #[error("{flag} {}: {what} is already there; pass --force to replace it, or choose another {flag}", path.display())]
    Exists {
        flag: &'static str,
        path: PathBuf,
        what: String,
    },
    /// The output may not be written there at all.
    #[error("{flag} {}: {problem}", path.display())]
    Refused {
        flag: &'static str,
        path: PathBuf,
        problem: String,
    },
    /// A filesystem call failed. The OS message is part of this one, not a separate cause,
    /// so it is printed once.
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |error| Error::Io { path, error }
}
