//! Integration tests of the simulator: one binary, a module per area.

mod common;
mod determinism;
mod hand_built;
mod layout;
mod properties;
mod scenarios;
