//! The benchmark's harnesses, as library code the CLI only calls: the stress sweep over
//! damaged copies ([`stress`]), outside detectors run as commands ([`exec`]), the
//! leaderboard of every detector on every preset ([`leaderboard`]), the scaling run
//! ([`scaling`]), the plan for a population past one machine ([`plan`]) and the live
//! rating ([`rating`]) and its board ([`live_board`]).
//!
//! This crate links both the simulator (to damage and generate) and the analyzer (to detect
//! and score); the analyzer itself never links the simulator.

pub mod argv;
pub mod exec;
pub mod judge;
pub mod leaderboard;
pub mod live_board;
pub mod plan;
pub mod rating;
pub mod scaling;
pub mod stress;

use std::path::PathBuf;

/// What can go wrong in a harness.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Analyzer(#[from] blastradius_analyzer::Error),
    #[error(transparent)]
    Simulator(#[from] blastradius_simulator::Error),
    #[error(transparent)]
    Output(#[from] blastradius_safefs::Error),
    #[error(transparent)]
    Live(#[from] blastradius_live::Error),
    #[error("{}: {message}", path.display())]
    Input { path: PathBuf, message: String },
}
