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

pub mod arrays;
mod enums;
mod tables;
pub mod time;

pub use enums::{
    AccessColumns, AccessKind, Action, Client, Columns, FieldGroup, Kind, Scope, Surface, Tier,
    TokenPath,
};
pub use tables::*;

/// Version of the dataset layout. Bumped whenever a column is renamed, removed or retyped.
/// Version 2 stores every integer signed, and every id (`event_id`, `user_id`, `photo_id`,
/// `app_id`, `provider_id`) as a 64-bit integer: engines without unsigned types (Spark, Trino,
/// BigQuery, Snowflake, Postgres) read version 1's unsigned 64-bit ids as decimals. Readers
/// accept version 1 still (see [`version_1_type`]). Version 3 adds the platform's ordinary
/// deploys: the `deploy` kind, `deploys.parquet` and `truth/bug_deploys.parquet` (a build
/// that predates them would stop at the unknown kind; the version says why instead).
/// Versions 1 and 2 have none, and read as before.
pub const SCHEMA_VERSION: u32 = 3;

/// The oldest schema version this build reads.
pub const OLDEST_SCHEMA_VERSION: u32 = 1;

/// Event ids below this value belong to `system` events; user events start above it.
pub const FIRST_USER_EVENT_ID: u64 = 1 << EVENT_SEQ_BITS;

/// The users of shard `index` of `shards` over `users` users: shard `i` holds the contiguous
/// range `floor(users·i/shards) .. floor(users·(i+1)/shards)`. Part of the contract, so a
/// reader can tell a user id that does not belong in a shard.
///
/// ```
/// assert_eq!(blastradius_schema::shard_users(10, 3, 1), 3..6);
/// ```
pub fn shard_users(users: u64, shards: u32, index: u32) -> std::ops::Range<u64> {
    let at = |i: u32| (users as u128 * i as u128 / shards.max(1) as u128) as u64;
    at(index)..at(index + 1)
}

/// The identity of a simulated world: what its truth depends on. A dataset and every damaged
/// copy of it share it, so an answer key written apart (`generate --split-truth`) scores
/// them all and no other.
pub fn world_id(generator: &str, seed: u64, users: u64, scenario_sha256: &str) -> String {
    format!("{generator}; seed {seed}; {users} users; scenario sha256 {scenario_sha256}")
}

/// A user's events are numbered `(user_id + 1) << EVENT_SEQ_BITS | seq`, so ids are unique
/// and deterministic without any coordination between shards.
pub const EVENT_SEQ_BITS: u32 = 24;

/// The user whose event `event_id` is (`None` for a system event, below the first user's).
pub fn event_owner(event_id: u64) -> Option<u64> {
    (event_id >> EVENT_SEQ_BITS).checked_sub(1)
}
