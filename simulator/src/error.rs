//! The simulator's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while building a scenario or writing a dataset.
/// Each message names the file or flag involved and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("unknown scenario `{0}`: use one of {presets}, or the path of a .toml file", presets = crate::scenario::PRESETS.join(", "))]
    UnknownScenario(String),

    #[error("scenario {origin}: {message}")]
    Scenario { origin: String, message: String },

    #[error("{flag}: {message}")]
    InvalidOption { flag: &'static str, message: String },

    #[error("{}: a dataset is already there; pass --force to replace it, or choose another --out", path.display())]
    OutputExists { path: PathBuf },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("internal error: {0}; please report it with the command line that caused it")]
    Internal(String),

    #[error("{}: writing Parquet failed: {source}", path.display())]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
}

/// The simulator's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
