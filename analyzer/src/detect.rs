//! Detectors behind one trait: each replays a shard on its own, then merges the shards.
//!
//! To add a detector, implement [`Detector`] in a new file and list it in
//! [`crate::registry::DETECTORS`] (see ARCHITECTURE.md).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use blastradius_schema::{Action, Kind, Scope, Surface};

use blastradius_dataset::log::ShardLog;

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
    /// `Some(true)`: the user had granted the scope to the app and revoked it (a token that
    /// outlived its revocation); `Some(false)`: never granted; `None`: the detector does not
    /// say.
    pub revoked: Option<bool>,
}

/// One event with every column replay uses (a column that does not apply to its kind holds
/// 0 or the first variant).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    pub event_id: u64,
    pub ts: i64,
    pub kind: Kind,
    pub user_id: u64,
    pub app_id: u32,
    pub photo_id: u64,
    pub surface: Surface,
    pub scope: Scope,
    pub action: Action,
    pub status: u16,
    pub page: u32,
    pub page_size: u32,
}

impl Row {
    /// Row `i` of `log` (which holds every replay column, for every row).
    #[inline]
    pub fn of(log: &ShardLog, i: usize) -> Row {
        assert!(log.selected.is_none(), "a log read for some rows only");
        Row::at(log, i, i)
    }

    /// Row `i` of `log`, whose columns other than the key columns are at position `j` (the
    /// row's place in [`ShardLog::selected`], or `i` when every row was read).
    #[inline]
    pub fn at(log: &ShardLog, i: usize, j: usize) -> Row {
        Row {
            event_id: log.event_id[i],
            ts: log.ts[i],
            kind: log.kind[i],
            user_id: log.user_id[i],
            app_id: log.app_id[j],
            photo_id: log.photo_id[j],
            surface: log.surface[j],
            scope: log.scope[j],
            action: log.action[j],
            status: log.status[i],
            page: log.page[j],
            page_size: log.page_size[j],
        }
    }
}

/// The stream-wide part of a detector fed one event at a time: the deploys seen so far, in
/// log order, and the last event, so that a repeated delivery is passed over.
#[derive(Debug, Default)]
pub struct StreamGate {
    pub deploys: Vec<(i64, u64, bool)>,
    last: Option<(i64, u64)>,
}

impl StreamGate {
    /// Takes in `row`: true when it is a user's event to replay; false for a repeat of the
    /// event before it, and for a deploy (kept among `deploys`).
    #[inline]
    pub fn admit(&mut self, row: &Row) -> bool {
        let key = (row.ts, row.event_id);
        if self.last == Some(key) {
            return false;
        }
        self.last = Some(key);
        if row.kind.is_bug_deploy() {
            let at = self.deploys.partition_point(|&(t, id, _)| (t, id) < key);
            self.deploys
                .insert(at, (row.ts, row.event_id, row.kind == Kind::BugIntroduced));
        }
        if row.kind.is_system() {
            return false;
        }
        true
    }
}

/// Slots by user id for detectors fed one event at a time, where the users are not known
/// in advance: a table indexed by id while ids stay dense (as the simulator's do: one
/// lookup, 4 bytes a user, small enough to stay cached), a map for ids far above the rest.
#[derive(Debug, Default)]
pub struct Slots {
    /// Slot + 1 by user id (0: none), for ids below the table's length.
    dense: Vec<u32>,
    sparse: HashMap<u64, u32>,
    len: usize,
}

impl Slots {
    /// The slot of `user`, if it has one.
    #[inline]
    pub fn get(&self, user: u64) -> Option<usize> {
        match usize::try_from(user).ok().and_then(|k| self.dense.get(k)) {
            Some(&s) if s != 0 => Some(s as usize - 1),
            _ => self.sparse.get(&user).map(|&s| s as usize),
        }
    }

    /// The slot of `user`, given the next free one when new.
    pub fn insert(&mut self, user: u64) -> usize {
        if let Some(s) = self.get(user) {
            return s;
        }
        let slot = self.len;
        self.len += 1;
        // The table grows while it stays within 8 entries (32 bytes) per user.
        let k = usize::try_from(user).unwrap_or(usize::MAX);
        let limit = 8 * (self.len + (1 << 16));
        if k < self.dense.len() || k < limit {
            if k >= self.dense.len() {
                let len = (k + 1).max(self.dense.len() * 2).min(limit);
                self.dense.resize(len, 0);
            }
            self.dense[k] = slot as u32 + 1;
        } else {
            self.sparse.insert(user, slot as u32);
        }
        slot
    }

    /// Users with a slot.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Asks the CPU to start loading the cache line at `p`; a hint only, never a read.
#[inline]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that reads nothing and cannot fault, whatever the
    // address; SSE is part of x86-64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
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
    /// Replay time of each batch of about [`BATCH`] events, in microseconds.
    pub batch_micros: Vec<u64>,
    /// What the detector could not explain in a damaged log, by kind (see [`Unresolved`]).
    pub unresolved: BTreeMap<&'static str, u64>,
    /// What the detector says about itself (state size, depth), by name.
    pub stats: BTreeMap<&'static str, u64>,
}

/// The kinds of damage a detector counts instead of failing on.
pub struct Unresolved;

impl Unresolved {
    /// Rows with an event id seen before: dropped, so a duplicate counts once.
    pub const DUPLICATE: &'static str = "duplicate event ids removed";
    /// A publish or delete of a photo whose upload the log does not hold (`exact` counts it
    /// only among the users it replays: those with a successful call).
    pub const UNKNOWN_PHOTO: &'static str = "publish or delete of a photo never uploaded";
    /// A 200 photo call although the log holds no active grant (a lost grant event).
    pub const UNGRANTED_SUCCESS: &'static str = "successful photo call without a logged grant";
}

/// Adds `from`'s counts into `into`.
pub fn add_unresolved(into: &mut BTreeMap<&'static str, u64>, from: &BTreeMap<&'static str, u64>) {
    for (k, v) in from {
        *into.entry(k).or_default() += v;
    }
}

/// Events per timed batch of replay (the latency histogram's unit).
pub const BATCH: usize = 1 << 16;

/// Times consecutive batches of about [`BATCH`] events.
#[derive(Debug)]
pub struct BatchTimer {
    started: std::time::Instant,
    events: usize,
}

impl BatchTimer {
    pub fn new() -> Self {
        BatchTimer {
            started: std::time::Instant::now(),
            events: 0,
        }
    }

    /// Counts `n` more events; closes a batch into `out` each time it holds [`BATCH`] (events
    /// passed over at once fill several batches: all but the first take no time).
    #[inline]
    pub fn add(&mut self, mut n: usize, out: &mut Vec<u64>) {
        while self.events + n >= BATCH {
            n -= BATCH - self.events;
            self.events = BATCH;
            self.flush(out);
        }
        self.events += n;
    }

    /// Closes the current batch, if it holds any event.
    pub fn flush(&mut self, out: &mut Vec<u64>) {
        if self.events > 0 {
            out.push(self.started.elapsed().as_micros() as u64);
            self.started = std::time::Instant::now();
            self.events = 0;
        }
    }
}

impl Default for BatchTimer {
    fn default() -> Self {
        Self::new()
    }
}

/// The levels a detector reports besides affected users.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reports {
    pub exposures: bool,
    pub violations: bool,
}

impl Default for Reports {
    fn default() -> Self {
        Reports {
            exposures: true,
            violations: true,
        }
    }
}

/// What a detector found in the whole dataset, in process: written to a findings folder by
/// [`crate::findings::write`], and scored as every detector's is, read back from there as
/// [`crate::findings::Findings`].
#[derive(Debug, Default)]
pub struct DetectorOutput {
    /// Which levels are findings: a detector that names users only leaves `exposures` and
    /// `violations` empty without claiming there are none.
    pub reports: Reports,
    /// Exposures by (app, user, photo); empty for detectors that only name users.
    pub exposures: Vec<Exposure>,
    pub affected_users: BTreeSet<u64>,
    /// The (user, app) pairs the detector blames, sorted: for `exact` those with an
    /// exposure, for `naive` every grant to an app that called in the window.
    pub user_apps: Vec<(u64, u32)>,
    pub violations: Vec<Violation>,
    pub out_of_order: u64,
    pub bug_window: Option<(i64, i64)>,
    pub unresolved: BTreeMap<&'static str, u64>,
    /// What the detector says about itself (see [`Partial::stats`]).
    pub stats: BTreeMap<&'static str, u64>,
}

/// A detection algorithm.
pub trait Detector: Sync {
    /// The name used by `--detector`.
    fn name(&self) -> &'static str;
    /// The event columns the detector reads; the others stay empty in the [`ShardLog`].
    fn columns(&self) -> &'static [&'static str] {
        blastradius_dataset::log::ALL_COLUMNS
    }
    /// When the detector needs its columns other than [`blastradius_dataset::log::KEY_COLUMNS`] on some
    /// rows only: the function that picks those rows from the key columns of a whole shard.
    /// The reader then keeps the other columns for the picked rows alone (see
    /// [`ShardLog::selected`]); `None`: every row. The key columns are then read whatever
    /// [`Detector::columns`] says.
    fn rows(&self) -> Option<blastradius_dataset::log::Pick> {
        None
    }
    /// Replays one shard.
    fn shard(&self, log: &ShardLog) -> Partial;
    /// Merges the shards' partial results.
    fn finish(&self, parts: Vec<Partial>) -> DetectorOutput;
}

/// The streaming detector's state budget per shard when none is given (`--shard-memory-limit`).
pub const DEFAULT_MEMORY_LIMIT: u64 = 64 << 20;

/// Settings some detectors take.
#[derive(Clone, Debug)]
pub struct Settings {
    /// State budget of the streaming detector per shard, in bytes.
    pub memory_limit: u64,
    /// The bug window `(introduced, fixed)` to use instead of the log's deploy events
    /// (`i64::MAX`: never fixed), for a log that lost them.
    pub bug_window: Option<(i64, i64)>,
    /// Where the `sql` detector's plan runs.
    pub engine: Engine,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            memory_limit: DEFAULT_MEMORY_LIMIT,
            bug_window: None,
            engine: Engine::Local,
        }
    }
}

/// Where the `sql` detector's plan runs (`--engine`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Engine {
    /// DataFusion in this process.
    #[default]
    Local,
    /// A Ballista cluster: its scheduler's HOST:PORT, and the folder (on storage every
    /// executor reads and writes) in which the intermediate tables are made; `None`: the
    /// system's temporary folder, for executors on this machine.
    Ballista {
        scheduler: String,
        scratch: Option<std::path::PathBuf>,
    },
}

impl Engine {
    /// Reads `local` or `ballista://HOST:PORT`.
    ///
    /// # Errors
    /// Anything else, with the two forms it takes.
    pub fn parse(flag: &str) -> std::result::Result<Engine, String> {
        if flag == "local" {
            return Ok(Engine::Local);
        }
        let Some(address) = flag.strip_prefix("ballista://") else {
            return Err(format!(
                "--engine {flag}: give `local` (DataFusion in this process) or `ballista://HOST:PORT` (a Ballista scheduler)"
            ));
        };
        let address = address.trim_end_matches('/');
        if host_port(address).is_none() {
            return Err(format!(
                "--engine {flag}: give the scheduler as ballista://HOST:PORT, e.g. ballista://127.0.0.1:50050"
            ));
        }
        Ok(Engine::Ballista {
            scheduler: address.to_string(),
            scratch: None,
        })
    }
}

/// A HOST:PORT address split into its host (as written: a name, an IP, `[::1]`) and a port
/// above 0; `None` when it is not one. The cluster's flags and `--engine` read it alike.
pub fn host_port(address: &str) -> Option<(&str, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
    (!host.is_empty()).then_some((host, port))
}

#[cfg(test)]
mod engine_tests {
    use super::Engine;

    #[test]
    fn engine_flag() {
        assert_eq!(Engine::parse("local"), Ok(Engine::Local));
        assert_eq!(
            Engine::parse("ballista://10.0.0.5:50050/"),
            Ok(Engine::Ballista {
                scheduler: "10.0.0.5:50050".into(),
                scratch: None,
            })
        );
        for bad in [
            "",
            "ballista",
            "df://h:1",
            "ballista://h",
            "ballista://:5",
            "ballista://h:0",
            "ballista://h:99999",
        ] {
            assert!(
                Engine::parse(bad)
                    .unwrap_err()
                    .starts_with(&format!("--engine {bad}:")),
                "{bad}"
            );
        }
    }
}

/// The smallest state budget (`--shard-memory-limit`, `--memory-limit`) the streaming detector takes: a budget that tracks nobody
/// measures nothing.
pub const MIN_MEMORY_LIMIT: u64 = 4096;

/// The deploys a window given by the user stands for.
pub fn window_deploys((start, end): (i64, i64)) -> Vec<(i64, u64, bool)> {
    let mut d = vec![(start, 0, true)];
    if end != i64::MAX {
        d.push((end, 0, false));
    }
    d
}

/// The order of a shard's rows in the log, `(ts, event_id)`: the file's order is checked,
/// never assumed.
#[derive(Debug)]
pub struct LogOrder {
    /// The rows in log order, when the file's order is not already that.
    permutation: Option<Vec<u32>>,
    len: usize,
    /// Rows of the file that come before a row that is earlier in the log.
    pub out_of_order: u64,
    /// Rows that repeat the position of the row before them in log order (duplicated
    /// events): when there are any, replay checks each row against the previous one, a cost
    /// a clean log does not pay.
    pub duplicates: u64,
}

impl LogOrder {
    pub fn of(log: &ShardLog) -> Self {
        let key = |i: usize| (log.ts[i], log.event_id[i]);
        let (mut out_of_order, mut duplicates) = (0, 0);
        for i in 1..log.len() {
            match key(i - 1).cmp(&key(i)) {
                std::cmp::Ordering::Greater => out_of_order += 1,
                std::cmp::Ordering::Equal => duplicates += 1,
                std::cmp::Ordering::Less => {}
            }
        }
        let mut permutation = None;
        if out_of_order > 0 {
            // A stable sort: rows at the same position keep their file order.
            let mut order: Vec<u32> = (0..log.len() as u32).collect();
            order.sort_by_key(|&i| key(i as usize));
            duplicates = order
                .windows(2)
                .filter(|w| key(w[0] as usize) == key(w[1] as usize))
                .count() as u64;
            permutation = Some(order);
        }
        LogOrder {
            permutation,
            len: log.len(),
            out_of_order,
            duplicates,
        }
    }

    /// The rows in log order, when the file's order differs from it (`None`: it is `0..len`).
    pub fn permutation(&self) -> Option<&[u32]> {
        self.permutation.as_deref()
    }

    /// The rows in log order, as a list.
    pub fn to_vec(&self) -> Vec<u32> {
        match &self.permutation {
            Some(p) => p.clone(),
            None => (0..self.len as u32).collect(),
        }
    }
}

/// The positions of the log's rows in log order `(ts, event_id)`, and how many rows the file
/// had out of that order (see [`LogOrder`]).
pub fn log_order(log: &ShardLog) -> (Vec<u32>, u64) {
    let order = LogOrder::of(log);
    (order.to_vec(), order.out_of_order)
}

/// The bug window of one shard's deploys (see [`bug_window_of`]).
pub fn bug_window(log: &ShardLog) -> Option<(i64, i64)> {
    bug_window_of(&log.deploys)
}

/// [`bug_window`] from the shard's [`deploys`].
pub fn bug_window_of(deploys: &[(i64, u64, bool)]) -> Option<(i64, i64)> {
    let introduced = deploys.iter().filter(|d| d.2).map(|d| d.0).min()?;
    let fixed = deploys
        .iter()
        .filter(|d| !d.2 && d.0 >= introduced)
        .map(|d| d.0)
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

/// One user's active grants: a short list, since a user grants few apps.
#[derive(Clone, Debug, Default)]
pub struct UserGrants(Vec<(u32, Scope)>);

impl UserGrants {
    pub fn grant(&mut self, app: u32, scope: Scope) {
        if !self.has(app, scope) {
            self.0.push((app, scope));
        }
    }

    pub fn revoke(&mut self, app: u32, scope: Scope) {
        self.0.retain(|&g| g != (app, scope));
    }

    pub fn has(&self, app: u32, scope: Scope) -> bool {
        self.0.contains(&(app, scope))
    }

    pub fn iter(&self) -> impl Iterator<Item = (u32, Scope)> + '_ {
        self.0.iter().copied()
    }

    /// Bytes of heap the list holds.
    pub fn heap_bytes(&self) -> usize {
        self.0.capacity() * std::mem::size_of::<(u32, Scope)>()
    }
}

/// Every user's grants, for detectors that replay a shard in log order.
#[derive(Debug, Default)]
pub struct Grants(HashMap<u64, UserGrants>);

impl Grants {
    pub fn grant(&mut self, user: u64, app: u32, scope: Scope) {
        self.0.entry(user).or_default().grant(app, scope);
    }

    pub fn revoke(&mut self, user: u64, app: u32, scope: Scope) {
        if let Some(g) = self.0.get_mut(&user) {
            g.revoke(app, scope);
        }
    }

    pub fn users(&self) -> impl Iterator<Item = (&u64, &UserGrants)> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_gate_passes_over_repeats_and_keeps_deploys_in_log_order() {
        let row = |event_id, ts, kind| Row {
            event_id,
            ts,
            kind,
            user_id: 1,
            app_id: 0,
            photo_id: 0,
            surface: Surface::Timeline,
            scope: Scope::UserPhotos,
            action: Action::Read,
            status: 200,
            page: 0,
            page_size: 25,
        };
        let mut g = StreamGate::default();
        assert!(g.admit(&row(5, 10, Kind::PhotoApiCall)));
        assert!(!g.admit(&row(5, 10, Kind::PhotoApiCall)), "a repeat");
        assert!(!g.admit(&row(9, 30, Kind::BugFixed)));
        assert!(!g.admit(&row(7, 20, Kind::BugIntroduced)), "a late deploy");
        assert!(
            g.admit(&row(5, 10, Kind::PhotoApiCall)),
            "not the event before"
        );
        assert_eq!(g.deploys, vec![(20, 7, true), (30, 9, false)]);
    }

    #[test]
    fn slots_are_stable_whether_ids_are_dense_or_far_apart() {
        let mut slots = Slots::default();
        let ids = [5, 0, 5, u64::MAX, 1 << 40, 3, u64::MAX, 70_000];
        let got: Vec<usize> = ids.iter().map(|&u| slots.insert(u)).collect();
        assert_eq!(got, [0, 1, 0, 2, 3, 4, 2, 5]);
        assert_eq!(slots.len(), 6);
        for (&u, &s) in ids.iter().zip(&got) {
            assert_eq!(slots.get(u), Some(s));
        }
        assert_eq!(slots.get(4), None);
        assert!(slots.sparse.contains_key(&u64::MAX) && slots.sparse.contains_key(&(1 << 40)));
        assert!(slots.dense.len() <= 8 * (slots.len() + (1 << 16)));
    }

    fn log_at(keys: &[(i64, u64)]) -> ShardLog {
        ShardLog {
            ts: keys.iter().map(|k| k.0).collect(),
            event_id: keys.iter().map(|k| k.1).collect(),
            kind: vec![Kind::UserRegistered; keys.len()],
            ..ShardLog::default()
        }
    }

    #[test]
    fn log_order_is_checked_and_sorted_only_when_needed() {
        let sorted = LogOrder::of(&log_at(&[(1, 5), (2, 1), (2, 1), (2, 3)]));
        assert_eq!(sorted.permutation(), None, "already in log order");
        assert_eq!((sorted.out_of_order, sorted.duplicates), (0, 1));
        assert_eq!(sorted.to_vec(), vec![0, 1, 2, 3]);

        // Three rows follow a later one (same ts with a smaller id counts); the twins, rows 1
        // and 4, meet once sorted.
        let shuffled = LogOrder::of(&log_at(&[(2, 7), (2, 3), (1, 9), (3, 0), (2, 3)]));
        assert_eq!(shuffled.out_of_order, 3);
        assert_eq!(shuffled.duplicates, 1);
        assert_eq!(shuffled.permutation(), Some(&[2, 1, 4, 0, 3][..]));
    }
}
