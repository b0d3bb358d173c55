//! The blastradius dataset on disk, in one room: the types of `manifest.json` and an answer
//! key's `key.json` (the simulator writes them, every reader reads them), the checked opener
//! ([`Dataset::open`]), and the reading of listed files, each checked against its checksum.
//!
//! The column-level contract (enums, column names, Arrow schemas) is `blastradius-schema`'s;
//! this crate is the folder around it.

pub mod access;
pub mod error;
pub mod key;
pub mod log;
pub mod manifest;
pub mod open;
pub mod perturbation;

pub use error::{Error, Result};
pub use key::{KEY_FORMAT, Key, KeyManifest, TruthCounts};
pub use manifest::{
    CalibrationRow, Codec, Counts, FORMAT, FileInfo, Manifest, ScenarioInfo, TruthKey, Window,
};
pub use open::{
    Dataset, listed_metadata, listed_reader, parquet_metadata, parquet_reader, parts_in,
    read_listed, undamaged,
};
pub use perturbation::{Faults, Perturbation, Truncation};
