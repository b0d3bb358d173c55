//! Integration tests of the analyzer: one binary, a module per area.

mod properties;
mod read;
