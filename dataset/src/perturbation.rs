//! What `perturb` did to a dataset's event log, as its manifest records it.

use serde::{Deserialize, Serialize};

/// Where a truncated shard ends. Cut by time, not by rows, so the fault means the same thing
/// whatever the size of the dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Truncation {
    /// The shard loses its last this many microseconds: it ends that long before the end of
    /// the simulated period.
    BeforeEnd(i64),
    /// The shard ends at this instant (microseconds since the epoch).
    At(i64),
}

/// The damage to apply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Faults {
    /// Probability that a user event is dropped.
    pub drop: f64,
    /// Probability that a user event is delivered twice (same event_id).
    pub duplicate: f64,
    /// Events are delivered up to this many microseconds late: the file order is shuffled
    /// within that bound; `ts` is unchanged.
    pub reorder_us: i64,
    /// Each app's clock is off by a fixed amount drawn in [-skew, +skew] microseconds, added
    /// to the `ts` of that app's events (grants, revocations, calls).
    pub skew_us: i64,
    /// One shard (chosen by the seed) loses every user event from this point on.
    #[serde(default)]
    pub truncation: Option<Truncation>,
    pub seed: u64,
}

/// What `perturb` did, recorded in the manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Perturbation {
    pub faults: Faults,
    /// The command that made the dataset this one was perturbed from.
    pub source_command: String,
    pub dropped: u64,
    pub duplicated: u64,
    pub truncated_shard: Option<u32>,
    /// Where the truncated shard ends, as UTC text.
    #[serde(default)]
    pub truncated_at: Option<String>,
    pub truncated_rows: u64,
}

impl Faults {
    /// No damage at all, with `seed`.
    pub fn none(seed: u64) -> Self {
        Faults {
            drop: 0.0,
            duplicate: 0.0,
            reorder_us: 0,
            skew_us: 0,
            truncation: None,
            seed,
        }
    }
}
