//! Detectors behind one trait: each replays a shard on its own, then merges the shards.
//!
//! To add a detector, implement [`Detector`] in a new file and list it in [`by_name`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use blastradius_schema::{Action, Kind, Scope, Surface};

use crate::log::ShardLog;

/// One (app, user, photo) a detector says was exposed, with the first call that exposed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exposure {
    pub app_id: u32,
    pub user_id: u64,
    pub photo_id: u64,
    pub surface: Surface,
    pub first_exposed_ts: i64,
}

/// A successful message call without the matching scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Violation {
    pub event_id: u64,
    pub app_id: u32,
    pub user_id: u64,
    pub action: Action,
    pub ts: i64,
}

/// What a detector found in one shard.
#[derive(Debug, Default)]
pub struct Partial {
    pub exposures: Vec<Exposure>,
    pub violations: Vec<Violation>,
    /// (user, app) pairs with a `user_photos` grant active at some moment of the bug window.
    pub grants_in_window: Vec<(u64, u32)>,
    /// Apps that made a photo call during the bug window.
    pub apps_calling_in_window: BTreeSet<u32>,
    /// Events the detector could not place (see the report's notes).
    pub out_of_order: u64,
    pub bug_window: Option<(i64, i64)>,
}

/// What a detector found in the whole dataset.
#[derive(Debug, Default)]
pub struct Findings {
    /// Exposures by (app, user, photo); empty for detectors that only name users.
    pub exposures: Vec<Exposure>,
    pub affected_users: BTreeSet<u64>,
    pub violations: Vec<Violation>,
    pub out_of_order: u64,
    pub bug_window: Option<(i64, i64)>,
}

/// A detection algorithm.
pub trait Detector: Sync {
    /// The name used by `--detector`.
    fn name(&self) -> &'static str;
    /// Replays one shard.
    fn shard(&self, log: &ShardLog) -> Partial;
    /// Merges the shards' partial results.
    fn finish(&self, parts: Vec<Partial>) -> Findings;
}

/// The detectors `--detector` knows, by name.
pub fn by_name(name: &str) -> Option<Box<dyn Detector>> {
    match name {
        "exact" => Some(Box::new(crate::exact::Exact)),
        "naive" => Some(Box::new(crate::naive::Naive)),
        _ => None,
    }
}

/// Every detector's name.
pub const ALL: &[&str] = &["exact", "naive"];

/// The positions of the log's rows in log order `(ts, event_id)`, and how many rows the file
/// had out of that order. The file order is checked, never assumed.
pub fn log_order(log: &ShardLog) -> (Vec<u32>, u64) {
    let key = |i: usize| (log.ts[i], log.event_id[i]);
    let out_of_order = (1..log.len()).filter(|&i| key(i - 1) > key(i)).count() as u64;
    let mut order: Vec<u32> = (0..log.len() as u32).collect();
    if out_of_order > 0 {
        order.sort_by_key(|&i| key(i as usize));
    }
    (order, out_of_order)
}

/// The bug window read from the deploy events of one shard: first `bug_introduced`, and the
/// first `bug_fixed` after it (open-ended when the fix is missing).
pub fn bug_window(log: &ShardLog) -> Option<(i64, i64)> {
    let introduced = (0..log.len())
        .filter(|&i| log.kind[i] == Kind::BugIntroduced)
        .map(|i| log.ts[i])
        .min()?;
    let fixed = (0..log.len())
        .filter(|&i| log.kind[i] == Kind::BugFixed && log.ts[i] >= introduced)
        .map(|i| log.ts[i])
        .min()
        .unwrap_or(i64::MAX);
    Some((introduced, fixed))
}

/// Merges partial exposures, keeping the earliest exposure of each (app, user, photo).
pub fn merge_exposures(parts: &[Partial]) -> Vec<Exposure> {
    let mut all: BTreeMap<(u32, u64, u64), Exposure> = BTreeMap::new();
    for e in parts.iter().flat_map(|p| &p.exposures) {
        all.entry((e.app_id, e.user_id, e.photo_id))
            .and_modify(|k| {
                if e.first_exposed_ts < k.first_exposed_ts {
                    *k = *e;
                }
            })
            .or_insert(*e);
    }
    all.into_values().collect()
}

/// Each user's grants, for detectors that need only those.
#[derive(Debug, Default)]
pub struct Grants(HashMap<u64, Vec<(u32, Scope)>>);

impl Grants {
    pub fn grant(&mut self, user: u64, app: u32, scope: Scope) {
        let g = self.0.entry(user).or_default();
        if !g.contains(&(app, scope)) {
            g.push((app, scope));
        }
    }

    pub fn revoke(&mut self, user: u64, app: u32, scope: Scope) {
        if let Some(g) = self.0.get_mut(&user) {
            g.retain(|&x| x != (app, scope));
        }
    }

    pub fn has(&self, user: u64, app: u32, scope: Scope) -> bool {
        self.0.get(&user).is_some_and(|g| g.contains(&(app, scope)))
    }

    pub fn of(&self, user: u64) -> &[(u32, Scope)] {
        self.0.get(&user).map_or(&[], |g| g.as_slice())
    }

    pub fn users(&self) -> impl Iterator<Item = (&u64, &Vec<(u32, Scope)>)> {
        self.0.iter()
    }
}
