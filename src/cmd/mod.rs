//! One module per subcommand; each turns parsed flags into library calls and prints.

pub mod analyze;
pub mod bench;
pub mod cluster;
pub mod discover;
pub mod export;
pub mod generate;
pub mod lookup;
pub mod merge;
pub mod perturb;
pub mod replay;
pub mod run;
pub mod scenario;
pub mod score;
pub mod stress;
mod util;
