//! A shard: a contiguous range of users, all their events in log order, and their truth.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::event::Event;
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
    /// The View-As world's tables, when the scenario has one.
    pub view_as: Option<crate::viewas::ViewAsShard>,
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
    let view_as = world.view_as.as_ref().map(|v| v.shard(range.clone()));
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
    events.extend(world.deploys.iter().map(|d| d.event(world.discovery)));
    sort_events(&mut events, &mut buffers.sorted);
    ShardData {
        index,
        events,
        users: sink.registered_at,
        affected_users: affected_users(&sink.exposures),
        exposures: sink.exposures,
        violations: sink.violations,
        view_as,
    }
}

/// Sorts into log order. A counting pass first groups the events into buckets of about 72
/// minutes by 8-byte keys (the time within the bucket above the event's index); each bucket's
/// keys (a few thousand, cache-resident) are sorted, and the events are gathered in key order,
/// each 56-byte event moved once. Events of equal time are then put in `event_id` order.
/// When the buckets must be wider than 2^32 us (a span longer than 1024 or more buckets of
/// 72 minutes, one per event at most) or there are more than 2^32 events, the events
/// themselves are sorted in each bucket instead. `scratch` is reused memory; the keys are
/// the call's own.
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
    let offset = |e: &Event| (e.ts as i128 - min as i128) as u128;
    let bucket = |e: &Event| (offset(e) >> shift) as usize;
    let buckets = (span >> shift) as usize + 1;
    let mut starts = vec![0usize; buckets + 1];
    for e in events.iter() {
        starts[bucket(e) + 1] += 1;
    }
    for i in 0..buckets {
        starts[i + 1] += starts[i];
    }
    let mut fill = starts.clone();
    let gathered = scratch;
    gathered.clear();
    if shift == 32 && events.len() as u64 <= 1 << 32 {
        let mut keys = vec![0u64; events.len()];
        for (i, e) in events.iter().enumerate() {
            let b = bucket(e);
            keys[fill[b]] = ((offset(e) as u64) << 32) | i as u64;
            fill[b] += 1;
        }
        for w in starts.windows(2) {
            keys[w[0]..w[1]].sort_unstable();
        }
        gathered.extend(keys.iter().map(|k| events[(k & 0xffff_ffff) as usize]));
        // Equal times came out in input order: put each such run in event_id order.
        for run in gathered.chunk_by_mut(|a, b| a.ts == b.ts) {
            if run.len() > 1 {
                run.sort_unstable_by_key(|e| e.event_id);
            }
        }
    } else {
        gathered.resize(events.len(), events[0]);
        for e in events.iter() {
            let b = bucket(e);
            gathered[fill[b]] = *e;
            fill[b] += 1;
        }
        for w in starts.windows(2) {
            gathered[w[0]..w[1]].sort_unstable_by_key(|e| {
                ((e.ts as u64 ^ (1 << 63)) as u128) << 64 | e.event_id as u128
            });
        }
    }
    std::mem::swap(events, gathered);
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

    proptest::proptest! {
        // Any times and distinct event ids: the bucketed sort gives exactly the order of a
        // plain sort on (ts, event_id). Mostly spans of one to about 40 buckets full of ties
        // (the keyed path); a quarter of the cases add times anywhere in i64 (the other path).
        #[test]
        fn sorts_like_a_plain_sort(
            times in proptest::collection::vec(-300i64..300, 0..300),
            scale in proptest::sample::select(vec![1i64, 1_000, 1 << 24, 1 << 28]),
            wide in proptest::collection::vec(proptest::num::i64::ANY, 1..50),
            use_wide in proptest::bool::weighted(0.25),
            ids in proptest::collection::hash_set(proptest::num::u64::ANY, 350),
        ) {
            use blastradius_schema::Kind::UserRegistered;
            let wide = if use_wide { wide } else { Vec::new() };
            let ts = times.iter().map(|t| t * scale).chain(wide.iter().copied());
            let mut events: Vec<Event> = ts
                .zip(ids)
                .map(|(t, id)| Event::new(UserRegistered, t, id, 0))
                .collect();
            let mut want = events.clone();
            want.sort_by_key(|e| e.order_key());
            sort_events(&mut events, &mut Vec::new());
            let got: Vec<_> = events.iter().map(|e| e.order_key()).collect();
            let want: Vec<_> = want.iter().map(|e| e.order_key()).collect();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
