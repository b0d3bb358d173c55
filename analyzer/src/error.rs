//! The analyzer's error is the dataset's ([`blastradius_dataset::Error`]): every message
//! names the file and what was expected, and an OS or Parquet message is part of the
//! variant's own text, so a printed error chain says each thing once.

pub use blastradius_dataset::error::{Error, Result};
