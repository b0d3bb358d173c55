//! What can go wrong opening and reading a dataset; every message names the file and what
//! was expected, and says what to do.
//!
//! An OS or Parquet message is part of the variant's own text, never a separate cause, so a
//! printed error chain says each thing once. The analyzer's error is this one (it reads and
//! writes nothing a dataset's error cannot say); the simulator turns these into its own,
//! variant for variant, with the same words (the enum is exhaustive so that a new variant
//! must be given its place there).

use std::path::PathBuf;

/// An error of the dataset on disk.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The folder, the manifest, a key or a listed file is not what the contract says.
    #[error("{}: {message}", path.display())]
    Dataset { path: PathBuf, message: String },

    /// A column of a file has another type than the contract's, or a null where it applies.
    #[error("{}: column `{column}` {problem}; expected {expected}", path.display())]
    Schema {
        path: PathBuf,
        column: String,
        problem: String,
        expected: String,
    },

    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },

    /// A file that cannot be decoded.
    #[error("{}: cannot read Parquet ({error}); the file is truncated or not Parquet: regenerate it", path.display())]
    Parquet {
        path: PathBuf,
        error: parquet::errors::ParquetError,
    },

    /// An output that cannot be written (a full disk, a folder without permission).
    #[error("{}: cannot write ({error})", path.display())]
    Write { path: PathBuf, error: String },

    /// Where an output may go: see `blastradius_safefs`.
    #[error(transparent)]
    Output(#[from] blastradius_safefs::Error),
}

/// The dataset crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A [`Error::Dataset`] naming `path`.
    pub fn dataset(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Dataset {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Wraps an I/O error of `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |error| Error::Io { path, error }
    }

    /// Wraps a Parquet error met while writing `path`.
    pub fn write(path: impl Into<PathBuf>) -> impl Fn(parquet::errors::ParquetError) -> Error {
        let path = path.into();
        move |error| Error::Write {
            path: path.clone(),
            error: match error {
                parquet::errors::ParquetError::External(e) => e.to_string(),
                other => other.to_string(),
            },
        }
    }

    /// Wraps a Parquet error of `path`.
    pub fn parquet(path: impl Into<PathBuf>) -> impl Fn(parquet::errors::ParquetError) -> Error {
        let path = path.into();
        move |error| Error::Parquet {
            path: path.clone(),
            error,
        }
    }
}
