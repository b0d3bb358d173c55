//! Replay engine, detectors and scoring for blastradius datasets.
//!
//! The analyzer reads only the dataset contract (`blastradius-schema`); it never links the
//! simulator, so a bug in the simulator's server model cannot hide by being shared.
//!
//! ```no_run
//! use blastradius_analyzer::analyze::{AnalyzeOptions, Collect, analyze};
//!
//! let options = AnalyzeOptions {
//!     detectors: vec!["exact".into()],
//!     settings: Default::default(),
//!     threads: 2,
//!     verify: false,
//!     truth_key: None,
//!     score: true,
//!     out: "target/sample-report".into(),
//!     force: true,
//! };
//! let report = analyze("data/sample".as_ref(), &options, &mut Collect::default()).unwrap();
//! let users = report.detectors[0].scores.as_ref().unwrap().users.unwrap();
//! assert_eq!(users.recall, Some(1.0));
//! ```

pub mod analyze;
pub mod detect;
pub mod discover;
pub mod engine;
pub mod error;
pub mod exact;
pub mod export;
pub mod findings;
pub mod lookup;
pub mod naive;
pub mod output;
pub mod registry;
pub mod report;
pub mod score;
#[cfg(feature = "datafusion")]
pub mod sql;
pub mod sql_script;
pub mod streaming;
pub mod view_as;

pub use error::{Error, Result};

/// Asks the allocator to keep freed memory in the process for reuse, instead of handing it
/// back to the kernel. Meant for the start of `main`: it applies to the whole process.
///
/// Reading Parquet allocates and frees buffers of a few hundred KiB per column and batch.
/// glibc serves those from fresh mappings and trims them on free, so every batch paid for
/// page faults and zeroed pages: a quarter of `exact`'s time on the default dataset,
/// measured with `perf`. Raising both thresholds costs about 70 MiB of peak memory there.
/// Elsewhere than glibc on Linux it does nothing.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes the allocator's own lock and only changes two tuning
    // parameters; no memory is touched.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}
