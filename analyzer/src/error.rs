//! The analyzer's one error type; every message names the file and what was expected.

use std::path::PathBuf;

/// What can go wrong reading or analyzing a dataset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{}: {message}", path.display())]
    Dataset { path: PathBuf, message: String },

    #[error("{}: column `{column}` {problem}; expected {expected} (regenerate the dataset with this version of blastradius)", path.display())]
    Schema {
        path: PathBuf,
        column: String,
        problem: String,
        expected: String,
    },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: cannot read Parquet ({source}); the file is truncated or not Parquet: regenerate it", path.display())]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
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
}
