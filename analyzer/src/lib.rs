//! Replay engine, detectors and scoring for blastradius datasets.
//!
//! The analyzer reads only the dataset contract (`blastradius-schema`); it never links the
//! simulator, so a bug in the simulator's server model cannot hide by being shared.
//!
//! ```no_run
//! use blastradius_analyzer::{analyze, dataset::Dataset, detect, score::Truth};
//!
//! let dataset = Dataset::open(std::path::Path::new("data/sample")).unwrap();
//! let truth = Truth::read(&dataset).unwrap();
//! let exact = detect::by_name("exact").unwrap();
//! let run = analyze::run(&dataset, exact.as_ref(), 2, Some(&truth)).unwrap();
//! assert_eq!(run.scores.unwrap().users.recall, 1.0);
//! ```

pub mod analyze;
pub mod dataset;
pub mod detect;
pub mod error;
pub mod exact;
pub mod log;
pub mod naive;
pub mod output;
pub mod report;
pub mod score;
#[cfg(feature = "datafusion")]
pub mod sql;
pub mod streaming;

pub use error::{Error, Result};
