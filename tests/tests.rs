//! End-to-end tests of the `blastradius` binary: one test binary, a module per area.

mod analyze;
mod browser;
#[cfg(feature = "ballista")]
mod cluster;
mod control;
mod corpus;
mod discovery;
mod export;
mod flags;
mod generate;
mod live;
mod merge;
mod perturb;
mod presets;
mod safety;
mod score;
mod stress;
mod util;
mod versions;
mod view_as;
