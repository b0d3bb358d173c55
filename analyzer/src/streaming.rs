//! `streaming`: one pass in file order with compact, bounded per-user state.
//!
//! Each user keeps only the newest `depth` photos the API could ever reach (a fixed slab of
//! 16-byte entries) and a short list of grants. `depth` follows from the memory limit and the
//! shard's user count; when even one photo per user does not fit, only as many users as fit
//! are tracked. A deep page of a heavy user, a photo evicted before it is published or
//! deleted, and untracked users are where the error comes from. The state size is measured,
//! not estimated.

use std::collections::HashMap;

use blastradius_schema::{Kind, Surface};

use crate::detect::{
    BatchTimer, Detector, Exposure, Findings, Partial, Unresolved, UserGrants, Violation,
    add_unresolved, bug_active, bug_window, merge_exposures,
};
use crate::log::ShardLog;

/// Default state budget per shard when `--memory-limit` is not given.
pub const DEFAULT_LIMIT: u64 = 64 << 20;

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
    fn plan(&self, users: u64) -> (usize, usize) {
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
        let (depth, tracked) = self.plan(users.len() as u64);
        users.truncate(tracked);
        users.shrink_to_fit();
        let index: HashMap<u64, u32> = users
            .iter()
            .enumerate()
            .map(|(i, &u)| (u, i as u32))
            .collect();
        let mut slabs = vec![Slot::default(); users.len() * depth];
        let mut grants: Vec<UserGrants> = vec![UserGrants::default(); users.len()];
        let mut seen: HashMap<(u32, u64), ()> = HashMap::new();
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
            let slab = &mut slabs[u * depth..(u + 1) * depth];
            let app = log.app_id[i];
            match kind {
                Kind::PermissionGranted => grants[u].grant(app, log.scope[i]),
                Kind::PermissionRevoked => grants[u].revoke(app, log.scope[i]),
                Kind::PhotoUploaded => {
                    // The slab holds the newest photos, newest last; the oldest falls out.
                    let id = log.photo_id[i];
                    slab.rotate_left(1);
                    slab[depth - 1] = Slot {
                        id,
                        surface: log.surface[i] as u8,
                        deleted: false,
                        used: true,
                    };
                }
                Kind::PhotoPublished | Kind::PhotoDeleted => {
                    let id = log.photo_id[i];
                    match slab.iter_mut().rev().find(|s| s.used && s.id == id) {
                        Some(s) if kind == Kind::PhotoPublished => {
                            s.surface = Surface::Timeline as u8
                        }
                        Some(s) => s.deleted = true,
                        None => {
                            *part
                                .unresolved
                                .entry(Unresolved::UNKNOWN_PHOTO)
                                .or_default() += 1
                        }
                    }
                }
                Kind::PhotoApiCall if log.status[i] == 200 => {
                    // The window comes from the deploys (or the user's --bug-window).
                    let bug = bug_active(&log.deploys, log.ts[i], log.event_id[i]);
                    let skip = log.page[i] as usize * log.page_size[i] as usize;
                    let page = slab
                        .iter()
                        .rev()
                        .filter(|s| s.used && !s.deleted)
                        .filter(|s| {
                            let surface = Surface::from_index(s.surface as usize)
                                .unwrap_or(Surface::Messenger);
                            surface == Surface::Timeline
                                || (bug
                                    && matches!(
                                        surface,
                                        Surface::Marketplace | Surface::Story | Surface::Draft
                                    ))
                        })
                        .skip(skip)
                        .take(log.page_size[i] as usize);
                    for s in page {
                        let surface =
                            Surface::from_index(s.surface as usize).unwrap_or(Surface::Messenger);
                        let photo = s.id;
                        if surface != Surface::Timeline && seen.insert((app, photo), ()).is_none() {
                            part.exposures.push(Exposure {
                                app_id: app,
                                user_id: log.user_id[i],
                                photo_id: photo,
                                surface,
                                first_exposed_ts: log.ts[i],
                            });
                        }
                    }
                }
                Kind::MessageApiCall => {
                    let action = log.action[i];
                    if log.status[i] == 200 && !grants[u].has(app, action.scope()) {
                        part.violations.push(Violation {
                            event_id: log.event_id[i],
                            app_id: app,
                            user_id: log.user_id[i],
                            action,
                            ts: log.ts[i],
                            revoked: None,
                        });
                    }
                }
                _ => {}
            }
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

    fn finish(&self, parts: Vec<Partial>) -> Findings {
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
        Findings {
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

/// The largest shard's state, in bytes.
pub const STATE_BYTES: &str = "state_bytes_largest_shard";
/// Photos kept per user.
pub const DEPTH: &str = "photos_kept_per_user";
/// Users left untracked to stay within the budget, over all shards.
pub const UNTRACKED: &str = "users_not_tracked";
/// Users seen, over all shards.
pub const USERS: &str = "users_seen";
