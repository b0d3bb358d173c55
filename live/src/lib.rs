//! Live replay: the event log streamed at a chosen rate to any detector (JSON lines or Arrow
//! IPC, over TCP or standard output), its findings taken back, and detection latency
//! measured from each exposing call's **intended** send time, into an HdrHistogram.
//!
//! Tokio lives in [`replay`] alone; the merge ([`source`]), the schedule ([`schedule`]), the
//! encoders ([`wire`]) and the matcher ([`latency`]) are plain code with plain tests.
//! [`follow`] runs our own incremental `exact` as a client of the stream.

pub mod discovery;
pub mod follow;
pub mod latency;
pub mod lateness;
pub mod replay;
pub mod report;
pub mod schedule;
pub mod source;
pub mod timeline;
pub mod view_as_match;
pub mod wire;

use std::path::PathBuf;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Analyzer(#[from] blastradius_analyzer::Error),
    #[error(transparent)]
    Output(#[from] blastradius_safefs::Error),
    #[error("{}: {message}", path.display())]
    Input { path: PathBuf, message: String },
    /// The network, or what came over it.
    #[error("{0}")]
    Wire(String),
}
