//! The analyzer's one error type; every message names the file and what was expected.
//!
//! An OS or Parquet message is part of the variant's own text, never a separate cause, so a
//! printed error chain says each thing once.

use std::path::PathBuf;

/// What can go wrong reading or analyzing a dataset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{}: {message}", path.display())]
    Dataset { path: PathBuf, message: String },

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

impl From<blastradius_dataset::Error> for Error {
    /// Variant for variant, the same words.
    fn from(e: blastradius_dataset::Error) -> Self {
        use blastradius_dataset::Error as D;
        match e {
            D::Dataset { path, message } => Error::Dataset { path, message },
            D::Schema {
                path,
                column,
                problem,
                expected,
            } => Error::Schema {
                path,
                column,
                problem,
                expected,
            },
            D::Io { path, error } => Error::Io { path, error },
            D::Parquet { path, error } => Error::Parquet { path, error },
        }
    }
}

/// The analyzer's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn dataset(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Dataset {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |error| Error::Io { path, error }
    }

    pub(crate) fn parquet(
        path: impl Into<PathBuf>,
    ) -> impl Fn(parquet::errors::ParquetError) -> Error {
        let path = path.into();
        move |error| Error::Parquet {
            path: path.clone(),
            error,
        }
    }

    pub(crate) fn write(
        path: impl Into<PathBuf>,
    ) -> impl Fn(parquet::errors::ParquetError) -> Error {
        let path = path.into();
        move |error| Error::Write {
            path: path.clone(),
            error: match error {
                parquet::errors::ParquetError::External(e) => e.to_string(),
                other => other.to_string(),
            },
        }
    }
}
