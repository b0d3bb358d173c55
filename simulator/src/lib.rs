//! Deterministic simulator of photo- and messaging-API access logs, with ground truth.
//!
//! The world model ([`scenario`], [`catalog`], [`user`], [`server`]) is plain Rust with no
//! I/O; [`write`] adapts it to Arrow and Parquet; [`generate`] drives worker threads and
//! writes a complete dataset folder or nothing.
//!
//! ```
//! use blastradius_simulator::{generate, Scenario};
//!
//! let out = tempfile::tempdir().unwrap().path().join("tiny");
//! let options = generate::Options {
//!     users: 200,
//!     seed: 1,
//!     scenario: Scenario::preset("facebook-2018").unwrap(),
//!     shards: 2,
//!     only_shard: None,
//!     threads: 2,
//!     out: out.clone(),
//!     force: false,
//!     compression: generate::Codec::default(),
//!     split_truth: None,
//!     discovery: false,
//! };
//! let summary = generate::generate(&options, &generate::Progress::default()).unwrap();
//! assert_eq!(summary.manifest.counts.users, 200);
//! assert!(out.join("events/part-00001.parquet").is_file());
//! ```

pub mod calibration;
pub mod catalog;
pub mod deploys;
pub mod error;
pub mod event;
pub mod generate;
pub mod graph;
pub mod merge;
pub mod perturb;
pub mod resources;
pub mod rng;
pub mod scenario;
pub mod server;
pub mod shard;
pub mod user;
pub mod viewas;
pub mod write;

pub use error::{Error, Result};
pub use scenario::Scenario;
