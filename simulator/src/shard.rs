//! A shard: a contiguous range of users, all their events in log order, and their truth.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::event::{Event, system_events};
use crate::server::{Exposure, Violation};
use crate::user::{Scratch, UserSink, World, generate_user};

/// One user's affected-user row: how many distinct apps saw how many distinct photos.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AffectedUser {
    pub user_id: u64,
    pub apps: u32,
    pub photos: u32,
}

/// Everything one shard writes.
#[derive(Debug, Default)]
pub struct ShardData {
    pub index: u32,
    /// The shard's events sorted by `(ts, event_id)`, the deploy events included.
    pub events: Vec<Event>,
    /// `(user_id, registered_at)` in user order.
    pub users: Vec<(u64, i64)>,
    /// Exposures by user, then app, then photo.
    pub exposures: Vec<Exposure>,
    pub affected_users: Vec<AffectedUser>,
    /// Violations by user, then log order.
    pub violations: Vec<Violation>,
}

pub use blastradius_schema::shard_users;

/// Allocations a worker reuses from one shard to the next: a shard's event buffers are
/// hundreds of megabytes, and fresh ones cost page faults on every shard.
#[derive(Debug, Default)]
pub struct Buffers {
    events: Vec<Event>,
    sorted: Vec<Event>,
}

impl Buffers {
    /// Takes back the event buffer of a shard that has been written.
    pub fn recycle(&mut self, data: ShardData) {
        let mut events = data.events;
        events.clear();
        self.events = events;
    }
}

/// Generates shard `index` of `shards`. `progress` counts generated events as they are made.
pub fn generate_shard(
    world: &World,
    users: u64,
    shards: u32,
    index: u32,
    progress: &AtomicU64,
    buffers: &mut Buffers,
) -> ShardData {
    let range = shard_users(users, shards, index);
    let mut sink = UserSink {
        events: std::mem::take(&mut buffers.events),
        ..UserSink::default()
    };
    let mut scratch = Scratch::default();
    let mut reported = 0;
    for user_id in range {
        generate_user(world, user_id, &mut scratch, &mut sink);
        if sink.events.len() - reported >= 1 << 16 {
            progress.fetch_add((sink.events.len() - reported) as u64, Ordering::Relaxed);
            reported = sink.events.len();
        }
    }
    progress.fetch_add((sink.events.len() - reported) as u64, Ordering::Relaxed);
    let mut events = sink.events;
    events.extend(system_events(
        world.timeline.bug_introduced,
        world.timeline.bug_fixed,
    ));
    sort_events(&mut events, &mut buffers.sorted);
    ShardData {
        index,
        events,
        users: sink.registered_at,
        affected_users: affected_users(&sink.exposures),
        exposures: sink.exposures,
        violations: sink.violations,
    }
}

/// Sorts into log order. A counting pass first scatters events into buckets of about 72
/// minutes, then each bucket (a few thousand events, cache-resident) is sorted on one packed
/// u128 key: several times faster than one comparison sort over the whole shard.
/// `scratch` is reused memory; it ends holding the unsorted input.
pub fn sort_events(events: &mut Vec<Event>, scratch: &mut Vec<Event>) {
    let Some(min) = events.iter().map(|e| e.ts).min() else {
        return;
    };
    let max = events.iter().map(|e| e.ts).max().unwrap_or(min);
    // Buckets of 2^32 us (72 minutes), wider when the span would need more buckets than
    // there are events: the bucket table never outgrows the events, whatever the span.
    let span = (max as i128 - min as i128) as u128;
    let mut shift = 32;
    while (span >> shift) as usize >= events.len().max(1024) {
        shift += 1;
    }
    let bucket = |e: &Event| ((e.ts as i128 - min as i128) as u128 >> shift) as usize;
    let buckets = bucket(&Event {
        ts: max,
        ..events[0]
    }) + 1;
    let mut starts = vec![0usize; buckets + 1];
    for e in events.iter() {
        starts[bucket(e) + 1] += 1;
    }
    for i in 0..buckets {
        starts[i + 1] += starts[i];
    }
    let mut fill = starts.clone();
    let sorted = scratch;
    sorted.clear();
    sorted.resize(events.len(), events[0]);
    for e in events.iter() {
        let b = bucket(e);
        sorted[fill[b]] = *e;
        fill[b] += 1;
    }
    for w in starts.windows(2) {
        sorted[w[0]..w[1]].sort_unstable_by_key(|e| {
            ((e.ts as u64 ^ (1 << 63)) as u128) << 64 | e.event_id as u128
        });
    }
    std::mem::swap(events, sorted);
}

/// Groups exposures (sorted by user, then app, then photo) into affected-user rows.
pub fn affected_users(exposures: &[Exposure]) -> Vec<AffectedUser> {
    let mut out = Vec::new();
    for group in exposures.chunk_by(|a, b| a.user_id == b.user_id) {
        let mut apps: Vec<u32> = group.iter().map(|e| e.app_id).collect();
        apps.dedup();
        let mut photos: Vec<u64> = group.iter().map(|e| e.photo_id).collect();
        photos.sort_unstable();
        photos.dedup();
        out.push(AffectedUser {
            user_id: group[0].user_id,
            apps: apps.len() as u32,
            photos: photos.len() as u32,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_ranges_partition_the_users() {
        for (users, shards) in [(10, 3), (1, 4), (1_000_003, 8)] {
            let mut next = 0;
            for i in 0..shards {
                let r = shard_users(users, shards, i);
                assert_eq!(r.start, next);
                next = r.end;
            }
            assert_eq!(next, users);
        }
    }

    // Issue 13: a span of centuries made the bucket table outgrow memory.
    #[test]
    fn a_huge_span_sorts_without_a_huge_table() {
        use blastradius_schema::Kind::UserRegistered;
        let mut events = vec![
            Event::new(UserRegistered, i64::MAX, 1, 0),
            Event::new(UserRegistered, i64::MIN, 2, 0),
            Event::new(UserRegistered, 0, 3, 0),
        ];
        sort_events(&mut events, &mut Vec::new());
        let ts: Vec<i64> = events.iter().map(|e| e.ts).collect();
        assert_eq!(ts, vec![i64::MIN, 0, i64::MAX]);
    }

    #[test]
    fn sort_key_orders_negative_timestamps_first() {
        let mut events = vec![
            Event::new(
                blastradius_schema::Kind::UserRegistered,
                5 + (9 << 33),
                1,
                0,
            ),
            Event::new(blastradius_schema::Kind::UserRegistered, 5, 9, 0),
            Event::new(blastradius_schema::Kind::UserRegistered, -5, 10, 0),
            Event::new(blastradius_schema::Kind::UserRegistered, 5, 3, 0),
        ];
        sort_events(&mut events, &mut Vec::new());
        let keys: Vec<_> = events.iter().map(|e| e.order_key()).collect();
        assert_eq!(keys, vec![(-5, 10), (5, 3), (5, 9), (5 + (9 << 33), 1)]);
    }
}
