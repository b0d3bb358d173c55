//! `streaming`: one pass in file order with compact, bounded per-user state.
//!
//! Each user keeps only the newest `depth` photos the API could ever reach (a fixed slab of
//! 16-byte entries) and a short list of grants. `depth` follows from the memory limit and the
//! shard's user count; when even one photo per user does not fit, only as many users as fit
//! are tracked. A deep page of a heavy user, a photo evicted before it is published or
//! deleted, and untracked users are where the error comes from. The state size is measured,
//! not estimated.

use std::collections::{HashMap, HashSet};

use blastradius_schema::{Kind, Surface};

use crate::detect::{
    BatchTimer, Detector, DetectorOutput, Exposure, Partial, Row, Slots, StreamGate, Unresolved,
    UserGrants, Violation, add_unresolved, bug_window, merge_exposures, prefetch,
};
use blastradius_dataset::log::ShardLog;
use blastradius_dataset::log::bug_active;

/// Default state budget per shard when `--shard-memory-limit` is not given.
pub use crate::detect::DEFAULT_MEMORY_LIMIT as DEFAULT_LIMIT;

/// A photo in 16 bytes. Slabs are kept in arrival order, which on a clean log is upload
/// order `(ts, photo_id)`, so the upload time itself need not be stored.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    id: u64,
    surface: u8,
    deleted: bool,
    used: bool,
}

/// The detector, with its state budget per shard in bytes.
pub struct Streaming {
    pub memory_limit: u64,
}

/// Bytes of bookkeeping per user besides its slab (map entry, grants, counters).
const USER_OVERHEAD: u64 = 64;

impl Streaming {
    /// Photos kept per user, and how many users fit in the budget at that depth (the rest
    /// are not tracked: their exposures are missed, which the score shows).
    fn plan_for(&self, users: u64) -> (usize, usize) {
        let per_user = self.memory_limit / users.max(1);
        let slot = std::mem::size_of::<Slot>() as u64;
        let depth = (per_user.saturating_sub(USER_OVERHEAD) / slot).clamp(1, 1024);
        let tracked = (self.memory_limit / (USER_OVERHEAD + depth * slot)).min(users);
        (depth as usize, tracked as usize)
    }
}

impl Detector for Streaming {
    fn name(&self) -> &'static str {
        "streaming"
    }

    fn shard(&self, log: &ShardLog) -> Partial {
        let mut part = Partial {
            bug_window: bug_window(log),
            ..Partial::default()
        };
        // The user count sizes the slabs; a real stream would take it from its source's
        // metadata, as this takes it from the shard. This sizing pass (8 bytes per event,
        // freed before replay) and the list of exposures found are outside the budget.
        let mut users: Vec<u64> = log
            .user_id
            .iter()
            .copied()
            .zip(&log.kind)
            .filter(|(_, k)| !k.is_system())
            .map(|(u, _)| u)
            .collect();
        users.sort_unstable();
        users.dedup();
        let users_total = users.len();
        let (depth, tracked) = self.plan_for(users.len() as u64);
        users.truncate(tracked);
        users.shrink_to_fit();
        let index: HashMap<u64, u32> = users
            .iter()
            .enumerate()
            .map(|(i, &u)| (u, i as u32))
            .collect();
        let mut slabs = vec![Slot::default(); users.len() * depth];
        let mut grants: Vec<UserGrants> = vec![UserGrants::default(); users.len()];
        let mut seen: HashSet<(u32, u64)> = HashSet::new();
        let mut timer = BatchTimer::new();
        let state_bytes = slabs.len() * std::mem::size_of::<Slot>()
            + index.capacity() * 16
            + grants.len() * std::mem::size_of::<UserGrants>();
        for i in 0..log.len() {
            timer.add(1, &mut part.batch_micros);
            let kind = log.kind[i];
            if kind.is_system() {
                continue;
            }
            let Some(&u) = index.get(&log.user_id[i]) else {
                continue; // a user beyond the budget
            };
            let u = u as usize;
            step(
                &Row::of(log, i),
                &log.deploys,
                &mut slabs[u * depth..(u + 1) * depth],
                &mut grants[u],
                &mut seen,
                &mut part,
            );
        }
        timer.flush(&mut part.batch_micros);
        let grant_bytes: usize = grants.iter().map(UserGrants::heap_bytes).sum();
        let peak = (state_bytes + grant_bytes + seen.capacity() * 24) as u64;
        part.stats.insert(STATE_BYTES, peak);
        part.stats.insert(DEPTH, depth as u64);
        part.stats.insert(UNTRACKED, (users_total - tracked) as u64);
        part.stats.insert(USERS, users_total as u64);
        part
    }

    fn finish(&self, parts: Vec<Partial>) -> DetectorOutput {
        let exposures = merge_exposures(&parts);
        let mut unresolved = std::collections::BTreeMap::new();
        let mut stats = std::collections::BTreeMap::new();
        for p in &parts {
            add_unresolved(&mut unresolved, &p.unresolved);
            for (k, v) in &p.stats {
                let e = stats.entry(*k).or_insert(0);
                // State sizes and depth are per shard: keep the largest; users add up.
                if *k == STATE_BYTES || *k == DEPTH {
                    *e = (*e).max(*v);
                } else {
                    *e += *v;
                }
            }
        }
        let mut user_apps: Vec<(u64, u32)> =
            exposures.iter().map(|e| (e.user_id, e.app_id)).collect();
        user_apps.sort_unstable();
        user_apps.dedup();
        let mut violations: Vec<Violation> = parts
            .iter()
            .flat_map(|p| p.violations.iter().copied())
            .collect();
        violations.sort_by_key(|v| v.event_id);
        DetectorOutput {
            reports: Default::default(),
            affected_users: exposures.iter().map(|e| e.user_id).collect(),
            user_apps,
            exposures,
            violations,
            out_of_order: 0,
            bug_window: parts.iter().find_map(|p| p.bug_window),
            unresolved,
            stats,
        }
    }
}

/// Applies one user's event to that user's slab and grants: the rule itself, shared by the
/// batch pass over a shard and the live [`Incremental`].
fn step(
    row: &Row,
    deploys: &[(i64, u64, bool)],
    slab: &mut [Slot],
    grants: &mut UserGrants,
    seen: &mut HashSet<(u32, u64)>,
    part: &mut Partial,
) {
    let depth = slab.len();
    let app = row.app_id;
    match row.kind {
        Kind::PermissionGranted => grants.grant(app, row.scope),
        Kind::PermissionRevoked => grants.revoke(app, row.scope),
        Kind::PhotoUploaded => {
            // The slab holds the newest photos, newest last; the oldest falls out.
            slab.rotate_left(1);
            slab[depth - 1] = Slot {
                id: row.photo_id,
                surface: row.surface as u8,
                deleted: false,
                used: true,
            };
        }
        Kind::PhotoPublished | Kind::PhotoDeleted => {
            let id = row.photo_id;
            let full = slab[0].used;
            match slab.iter_mut().rev().find(|s| s.used && s.id == id) {
                Some(s) if row.kind == Kind::PhotoPublished => s.surface = Surface::Timeline as u8,
                Some(s) => s.deleted = true,
                // Not in the slab: on a full slab (it fills from its end and stays full) the
                // photo may have been evicted under the memory limit, which is this
                // detector's limit and not damage in the log; on a slab never filled, nothing
                // was evicted, so the log never uploaded it.
                None if full => *part.stats.entry(EVICTED).or_default() += 1,
                None => {
                    *part
                        .unresolved
                        .entry(Unresolved::UNKNOWN_PHOTO)
                        .or_default() += 1
                }
            }
        }
        Kind::PhotoApiCall if row.status == 200 => {
            // The window comes from the deploys (or the user's --bug-window).
            let bug = bug_active(deploys, row.ts, row.event_id);
            let skip = row.page as usize * row.page_size as usize;
            let page = slab
                .iter()
                .rev()
                .filter(|s| s.used && !s.deleted)
                .filter(|s| {
                    let surface =
                        Surface::from_index(s.surface as usize).unwrap_or(Surface::Messenger);
                    surface == Surface::Timeline
                        || (bug
                            && matches!(
                                surface,
                                Surface::Marketplace | Surface::Story | Surface::Draft
                            ))
                })
                .skip(skip)
                .take(row.page_size as usize);
            for s in page {
                let surface = Surface::from_index(s.surface as usize).unwrap_or(Surface::Messenger);
                if surface != Surface::Timeline && seen.insert((app, s.id)) {
                    part.exposures.push(Exposure {
                        app_id: app,
                        user_id: row.user_id,
                        photo_id: s.id,
                        surface,
                        first_exposed_ts: row.ts,
                    });
                }
            }
        }
        Kind::MessageApiCall if row.status == 200 && !grants.has(app, row.action.scope()) => {
            part.violations.push(Violation {
                event_id: row.event_id,
                app_id: app,
                user_id: row.user_id,
                action: row.action,
                ts: row.ts,
                revoked: None,
            });
        }
        _ => {}
    }
}

/// `streaming` fed one event at a time, as a live stream delivers them: the same slabs and
/// the same [`step`] as the batch pass. A stream does not say in advance how many users will
/// come, so the budget is planned for `users_hint` users and users are taken in the order
/// they first appear until it is spent; later ones are not tracked.
pub struct Incremental {
    depth: usize,
    capacity: usize,
    index: Slots,
    slabs: Vec<Slot>,
    grants: Vec<UserGrants>,
    seen: HashSet<(u32, u64)>,
    gate: StreamGate,
    part: Partial,
    untracked_events: u64,
}

impl Incremental {
    /// A state of `memory_limit` bytes planned for `users_hint` users.
    pub fn new(memory_limit: u64, users_hint: u64) -> Self {
        let (depth, capacity) = Streaming { memory_limit }.plan_for(users_hint);
        Self {
            depth,
            capacity,
            index: Slots::default(),
            slabs: Vec::new(),
            grants: Vec::new(),
            seen: HashSet::new(),
            gate: StreamGate::default(),
            part: Partial::default(),
            untracked_events: 0,
        }
    }

    /// A hint that `user`'s event comes soon: starts loading that user's slab into the
    /// cache. Does nothing else.
    #[inline]
    pub fn prefetch(&self, user: u64) {
        if let Some(u) = self.index.get(user) {
            let slab = &self.slabs[u * self.depth..(u + 1) * self.depth];
            // The newest photos, which a call pages through first, sit at the slab's end.
            prefetch(slab.as_ptr().wrapping_add(self.depth.saturating_sub(4)));
            prefetch(&self.grants[u]);
        }
    }

    /// Photos kept per user, and how many users the budget holds.
    pub fn plan(&self) -> (usize, usize) {
        (self.depth, self.capacity)
    }

    /// Applies `row` (events in log order); returns the exposures and violations it reveals.
    /// A row repeating the one before it (a duplicated delivery) is passed over.
    pub fn push(&mut self, row: &Row) -> (Vec<Exposure>, Vec<Violation>) {
        if !self.gate.admit(row) {
            return (Vec::new(), Vec::new());
        }
        let u = match self.index.get(row.user_id) {
            Some(u) => u,
            None if self.index.len() < self.capacity => {
                let u = self.index.insert(row.user_id);
                self.slabs
                    .resize(self.slabs.len() + self.depth, Slot::default());
                self.grants.push(UserGrants::default());
                u
            }
            None => {
                self.untracked_events += 1;
                return (Vec::new(), Vec::new());
            }
        };
        step(
            row,
            &self.gate.deploys,
            &mut self.slabs[u * self.depth..(u + 1) * self.depth],
            &mut self.grants[u],
            &mut self.seen,
            &mut self.part,
        );
        (
            std::mem::take(&mut self.part.exposures),
            std::mem::take(&mut self.part.violations),
        )
    }

    /// Users tracked, and events passed over because their user came after the budget was
    /// spent (counted, not remembered: the state stays within its budget).
    pub fn users(&self) -> (usize, u64) {
        (self.index.len(), self.untracked_events)
    }
}

/// The largest shard's state, in bytes.
pub const STATE_BYTES: &str = "state_bytes_largest_shard";
/// Photos kept per user.
pub const DEPTH: &str = "photos_kept_per_user";
/// Users left untracked to stay within the budget, over all shards.
pub const UNTRACKED: &str = "users_not_tracked";
/// Users seen, over all shards.
pub const USERS: &str = "users_seen";
/// Publishes and deletes of a photo no longer in a full slab (evicted under the memory
/// limit, as far as a bounded state can tell), over all shards.
pub const EVICTED: &str = "publishes_or_deletes_of_photos_evicted_under_its_memory_limit";

#[cfg(test)]
mod tests {
    use super::*;
    use blastradius_schema::{Action, Scope};

    fn row(
        event_id: u64,
        ts: i64,
        kind: Kind,
        user_id: u64,
        photo_id: u64,
        surface: Surface,
    ) -> Row {
        Row {
            event_id,
            ts,
            kind,
            user_id,
            app_id: 1,
            photo_id,
            surface,
            scope: Scope::UserPhotos,
            action: Action::Read,
            status: 200,
            page: 0,
            page_size: 10,
        }
    }

    /// Two users, a bug window 100..200: user 7's story and user 8's draft are exposed by
    /// calls inside it; user 7's mailbox is read by an app never granted it.
    fn world() -> Vec<Row> {
        let t = Surface::Timeline;
        vec![
            row(1, 5, Kind::PermissionGranted, 7, 0, t),
            row(2, 10, Kind::PhotoUploaded, 7, 10, t),
            row(3, 11, Kind::PhotoUploaded, 7, 11, Surface::Story),
            row(4, 12, Kind::PhotoUploaded, 8, 20, Surface::Draft),
            row(5, 100, Kind::BugIntroduced, 0, 0, t),
            row(6, 150, Kind::PhotoApiCall, 7, 0, t),
            row(7, 160, Kind::PhotoApiCall, 8, 0, t),
            row(8, 170, Kind::MessageApiCall, 7, 0, t),
            row(9, 200, Kind::BugFixed, 0, 0, t),
            row(10, 210, Kind::PhotoApiCall, 8, 0, t),
        ]
    }

    fn log(rows: &[Row]) -> ShardLog {
        let mut l = ShardLog::default();
        for r in rows {
            l.event_id.push(r.event_id);
            l.ts.push(r.ts);
            l.kind.push(r.kind);
            l.user_id.push(r.user_id);
            l.app_id.push(r.app_id);
            l.photo_id.push(r.photo_id);
            l.surface.push(r.surface);
            l.scope.push(r.scope);
            l.action.push(r.action);
            l.status.push(r.status);
            l.page.push(r.page);
            l.page_size.push(r.page_size);
        }
        l.deploys = blastradius_dataset::log::deploys(&l);
        l
    }

    fn live(state: &mut Incremental, rows: &[Row]) -> (Vec<Exposure>, Vec<Violation>) {
        let (mut exposures, mut violations) = (Vec::new(), Vec::new());
        for r in rows {
            let (e, v) = state.push(r);
            exposures.extend(e);
            violations.extend(v);
        }
        exposures.sort_by_key(|e| (e.app_id, e.user_id, e.photo_id));
        (exposures, violations)
    }

    #[test]
    fn the_incremental_streaming_finds_what_the_batch_one_does() {
        let rows = world();
        let detector = Streaming {
            memory_limit: 1 << 20,
        };
        let batch = detector.finish(vec![detector.shard(&log(&rows))]);
        let (exposures, violations) = live(&mut Incremental::new(1 << 20, 2), &rows);
        assert_eq!(exposures, batch.exposures);
        assert_eq!(violations, batch.violations);
        let found: Vec<(u64, u64)> = exposures.iter().map(|e| (e.user_id, e.photo_id)).collect();
        assert_eq!(found, [(7, 11), (8, 20)]);
        assert_eq!(violations.len(), 1);
    }

    #[test]
    fn users_beyond_the_live_budget_are_counted_and_not_tracked() {
        // 80 bytes: one user of one photo.
        let mut state = Incremental::new(80, 1);
        assert_eq!(state.plan(), (1, 1));
        let (exposures, _) = live(&mut state, &world());
        assert_eq!(exposures.iter().map(|e| e.user_id).collect::<Vec<_>>(), [7]);
        assert_eq!(state.users(), (1, 3)); // user 8's upload and two calls
    }

    // Issue 20: on a clean log, the publishes of photos it had evicted were reported as
    // "damage in the log" (525 at 1M users).
    #[test]
    fn a_photo_evicted_under_the_limit_is_not_damage_in_the_log() {
        let t = Surface::Timeline;
        let rows = vec![
            row(1, 10, Kind::PhotoUploaded, 7, 10, Surface::Draft),
            row(2, 11, Kind::PhotoUploaded, 7, 11, t),
            row(3, 12, Kind::PhotoUploaded, 7, 12, t),
            // Photo 10 fell out of a slab of 2: its publish is the detector's limit.
            row(4, 13, Kind::PhotoPublished, 7, 10, t),
            // User 8 uploaded nothing: this delete is damage.
            row(5, 14, Kind::PhotoDeleted, 8, 99, t),
        ];
        let mut part = Partial::default();
        let mut seen = HashSet::new();
        let mut slabs = [[Slot::default(); 2], [Slot::default(); 2]];
        let mut grants = [UserGrants::default(), UserGrants::default()];
        for r in &rows {
            let u = (r.user_id - 7) as usize;
            step(r, &[], &mut slabs[u], &mut grants[u], &mut seen, &mut part);
        }
        assert_eq!(part.stats.get(EVICTED), Some(&1));
        assert_eq!(part.unresolved.get(Unresolved::UNKNOWN_PHOTO), Some(&1));
    }
}
