//! The simulator's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while building a scenario or writing a dataset.
/// Each message names the file or flag involved and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A scenario name that is neither a preset (`presets` lists them) nor a file.
    #[error("unknown scenario `{name}`: use one of {presets}, or the path of a .toml file")]
    UnknownScenario { name: String, presets: String },

    #[error("scenario {origin}: {message}")]
    Scenario { origin: String, message: String },

    #[error("{flag}: {message}")]
    InvalidOption { flag: &'static str, message: String },

    /// The OS message is part of this one (not a separate cause), so it prints once.
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },

    #[error("{}: {message}", path.display())]
    Input { path: PathBuf, message: String },

    /// Where an output may be written: see `blastradius_safefs`.
    #[error(transparent)]
    Output(#[from] blastradius_safefs::Error),

    #[error("internal error: {0}; please report it with the command line that caused it")]
    Internal(String),

    #[error("{}: {}", path.display(), parquet_message(error))]
    Parquet {
        path: PathBuf,
        error: parquet::errors::ParquetError,
    },
}

/// The simulator's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |error| Error::Io { path, error }
    }
}

impl From<blastradius_dataset::Error> for Error {
    /// The dataset's words, kept: damage to an input is [`Error::Input`].
    fn from(e: blastradius_dataset::Error) -> Self {
        use blastradius_dataset::Error as D;
        match e {
            D::Dataset { path, message } => Error::Input { path, message },
            D::Io { path, error } => Error::Io { path, error },
            D::Parquet { path, error } => Error::Parquet { path, error },
            D::Schema {
                path,
                column,
                problem,
                expected,
            } => Error::Input {
                path,
                message: format!("column `{column}` {problem}; expected {expected}"),
            },
            D::Write { path, error } => Error::Input {
                path,
                message: format!("cannot write ({error})"),
            },
            D::Output(e) => Error::Output(e),
        }
    }
}

/// A Parquet error in words: a write that failed for lack of space says so, rather than
/// reading as damage.
fn parquet_message(e: &parquet::errors::ParquetError) -> String {
    use parquet::errors::ParquetError;
    match e {
        ParquetError::External(inner) => match inner.downcast_ref::<std::io::Error>() {
            Some(io) => format!("{io}"),
            None => format!("{inner}"),
        },
        other => format!("not readable as Parquet ({other}); the file is damaged or truncated"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_that_ran_out_of_space_says_so_not_damage() {
        // What arrow-rs's writer returns when the disk is full (os error 28).
        let full = std::io::Error::from_raw_os_error(28);
        let e = Error::Parquet {
            path: "out/events/part-00002.parquet".into(),
            error: parquet::errors::ParquetError::External(Box::new(full)),
        };
        let text = e.to_string();
        assert!(
            text.starts_with("out/events/part-00002.parquet: "),
            "{text}"
        );
        assert!(text.contains("No space left on device"), "{text}");
        assert!(!text.contains("damaged"), "{text}");
    }
}
