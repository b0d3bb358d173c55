//! The dataset contract shared by the blastradius simulator and analyzer.
//!
//! This crate holds only what both sides must agree on: the names of event kinds and enum
//! values, which column applies to which kind, the Arrow schemas of every table and the
//! timestamp helpers. It holds no behaviour of the simulated server, so a bug in the
//! simulator's model cannot silently reappear in the analyzer.
//!
//! ```
//! use blastradius_schema::{Kind, events_schema, col};
//! let schema = events_schema();
//! assert_eq!(schema.field(0).name(), col::EVENT_ID);
//! assert_eq!(Kind::parse("photo_api_call"), Some(Kind::PhotoApiCall));
//! ```

mod enums;
mod tables;
pub mod time;

pub use enums::{Action, Columns, Kind, Scope, Surface};
pub use tables::*;

/// Version of the dataset layout. Bumped whenever a column is renamed, removed or retyped.
pub const SCHEMA_VERSION: u32 = 1;

/// Event ids below this value belong to `system` events; user events start above it.
pub const FIRST_USER_EVENT_ID: u64 = 1 << EVENT_SEQ_BITS;

/// A user's events are numbered `(user_id + 1) << EVENT_SEQ_BITS | seq`, so ids are unique
/// and deterministic without any coordination between shards.
pub const EVENT_SEQ_BITS: u32 = 24;
