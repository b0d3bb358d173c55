//! `exact`: event-sourced replay that rebuilds every successful photo call's page.

use blastradius_schema::{Kind, Scope, Surface};

use crate::detect::{
    BatchTimer, Detector, DetectorOutput, Exposure, LogOrder, Partial, Row, Slots, StreamGate,
    Unresolved, UserGrants, Violation, add_unresolved, bug_window_of, merge_exposures, prefetch,
};
use blastradius_dataset::log::ShardLog;
use blastradius_dataset::log::bug_active;

/// The exact detector: on a clean log it finds exactly the truth.
///
/// Every exposure and every violation comes from a successful API call, so only the users
/// with one (the callers) are replayed: the others (in a typical log most users and most
/// events, since few users grant an app anything) cannot change the answer. The reader
/// keeps the columns beyond the key columns for the callers' rows only ([`caller_rows`]),
/// and those rows are replayed in log order, each updating its caller's state.
/// [`Unresolved::UNKNOWN_PHOTO`] is therefore counted among the callers; duplicates and
/// out-of-order rows are counted over the whole shard.
pub struct Exact;

#[derive(Clone, Copy)]
struct Photo {
    uploaded: i64,
    id: u64,
    surface: Surface,
    deleted: bool,
}

/// A user's photos in log order; the API's order is the reverse of `(uploaded, id)`.
#[derive(Default)]
struct Album {
    photos: Vec<Photo>,
    /// Set when an upload arrived older than the newest photo: the album must be re-sorted.
    unsorted: bool,
}

fn visible(surface: Surface, bug: bool) -> bool {
    match surface {
        Surface::Timeline => true,
        Surface::Marketplace | Surface::Story | Surface::Draft => bug,
        Surface::Messenger => false,
    }
}

/// What replay keeps of one caller.
#[derive(Default)]
struct UserState {
    album: Album,
    grants: UserGrants,
    /// Every (app, scope) the user ever granted, to tell a revoked token from none.
    ever: UserGrants,
    /// The (app, photo) pairs already reported, so each exposure is reported once.
    exposed: Vec<(u32, u64)>,
}

/// The callers of a shard: users with at least one successful photo or message call, each
/// with a slot in the replay state.
struct Callers {
    /// Slots by user id from `min`: the usual case, a shard's users being a dense range.
    dense: Vec<u32>,
    /// One bit per entry of `dense`, set for callers: small enough to stay in cache while
    /// most rows (non-callers) are passed over.
    bits: Vec<u64>,
    min: u64,
    /// For ids too spread for the dense table.
    sparse: std::collections::HashMap<u64, u32>,
    count: usize,
}

impl Callers {
    const NONE: u32 = u32::MAX;

    /// The users in `users` (each any number of times), a slot each in the order they first
    /// come; `rows`, the shard's length, bounds the dense table.
    fn of(users: impl Iterator<Item = u64> + Clone, rows: usize) -> Self {
        let (min, max) = users
            .clone()
            .fold((u64::MAX, 0), |(a, b), u| (a.min(u), b.max(u)));
        let mut callers = Callers {
            dense: Vec::new(),
            bits: Vec::new(),
            min,
            sparse: Default::default(),
            count: 0,
        };
        if min > max {
            return callers;
        }
        // A dense table of at most 4 slots per row of the shard (or 4 Mi slots).
        let span = max - min;
        let dense = span / 4 <= (rows as u64).max(1 << 20);
        if dense {
            callers.dense = vec![Self::NONE; span as usize + 1];
            callers.bits = vec![0; (span / 64 + 1) as usize];
        }
        for user in users {
            let next = callers.count as u32;
            let slot = if dense {
                &mut callers.dense[(user - min) as usize]
            } else {
                callers.sparse.entry(user).or_insert(Self::NONE)
            };
            if *slot == Self::NONE {
                *slot = next;
                callers.count += 1;
            }
            if dense {
                let k = user - min;
                callers.bits[(k / 64) as usize] |= 1 << (k % 64);
            }
        }
        callers
    }

    /// Whether `user` is a caller.
    #[inline]
    fn has(&self, user: u64) -> bool {
        if self.sparse.is_empty() {
            let k = user.wrapping_sub(self.min);
            k / 64 < self.bits.len() as u64 && self.bits[(k / 64) as usize] >> (k % 64) & 1 == 1
        } else {
            self.sparse.contains_key(&user)
        }
    }

    /// The slot of `user`, if a caller.
    #[inline]
    fn slot(&self, user: u64) -> Option<usize> {
        if !self.has(user) {
            return None;
        }
        let slot = match self.sparse.is_empty() {
            true => self.dense[(user - self.min) as usize],
            false => self.sparse[&user],
        };
        (slot != Self::NONE).then_some(slot as usize)
    }
}

/// The rows of `log`'s callers (users with a successful photo or message call), system rows
/// left out: positions in the file, ascending. The only rows whose columns beyond the key
/// columns `exact` reads.
pub fn caller_rows(log: &ShardLog) -> Vec<u32> {
    let (kinds, users) = (&log.kind[..], &log.user_id[..log.kind.len()]);
    let status = &log.status[..kinds.len()];
    // The users of the successful calls (a few percent of the rows), in one pass.
    let callers: Vec<u64> = (0..kinds.len())
        .filter(|&i| {
            matches!(kinds[i], Kind::PhotoApiCall | Kind::MessageApiCall) && status[i] == 200
        })
        .map(|i| users[i])
        .collect();
    let callers = Callers::of(callers.into_iter(), kinds.len());
    let mut rows = Vec::new();
    if callers.count == 0 {
        return rows;
    }
    // A plain loop: this runs on every row of the shard.
    for (i, (&user, kind)) in users.iter().zip(kinds).enumerate() {
        if callers.has(user) && !kind.is_system() {
            rows.push(i as u32);
        }
    }
    rows
}

/// Applies row `i` of the log to its user's state.
fn replay_row(row: &Row, deploys: &[(i64, u64, bool)], state: &mut UserState, part: &mut Partial) {
    let UserState {
        album,
        grants,
        ever,
        exposed,
    } = state;
    let (user, app) = (row.user_id, row.app_id);
    match row.kind {
        Kind::PermissionGranted => {
            grants.grant(app, row.scope);
            ever.grant(app, row.scope);
        }
        Kind::PermissionRevoked => grants.revoke(app, row.scope),
        Kind::PhotoUploaded => {
            let photo = Photo {
                uploaded: row.ts,
                id: row.photo_id,
                surface: row.surface,
                deleted: false,
            };
            if album
                .photos
                .last()
                .is_some_and(|p| (p.uploaded, p.id) > (photo.uploaded, photo.id))
            {
                album.unsorted = true;
            }
            album.photos.push(photo);
        }
        Kind::PhotoPublished | Kind::PhotoDeleted => {
            let published = row.kind == Kind::PhotoPublished;
            match album.photos.iter_mut().rev().find(|p| p.id == row.photo_id) {
                Some(p) if published => p.surface = Surface::Timeline,
                Some(p) => p.deleted = true,
                None => {
                    *part
                        .unresolved
                        .entry(Unresolved::UNKNOWN_PHOTO)
                        .or_default() += 1
                }
            }
        }
        Kind::PhotoApiCall => {
            if row.status != 200 {
                return;
            }
            if !grants.has(app, Scope::UserPhotos) {
                // The grant was lost from the log; the call still returned photos.
                *part
                    .unresolved
                    .entry(Unresolved::UNGRANTED_SUCCESS)
                    .or_default() += 1;
            }
            if album.unsorted {
                album.photos.sort_by_key(|p| (p.uploaded, p.id));
                album.unsorted = false;
            }
            let bug = bug_active(deploys, row.ts, row.event_id);
            if !bug {
                // Only timeline photos are visible: nothing can be exposed.
                return;
            }
            let skip = row.page as usize * row.page_size as usize;
            let page = album
                .photos
                .iter()
                .rev()
                .filter(|p| !p.deleted && visible(p.surface, bug))
                .skip(skip)
                .take(row.page_size as usize);
            for p in page {
                if p.surface != Surface::Timeline && !exposed.contains(&(app, p.id)) {
                    exposed.push((app, p.id));
                    part.exposures.push(Exposure {
                        app_id: app,
                        user_id: user,
                        photo_id: p.id,
                        surface: p.surface,
                        first_exposed_ts: row.ts,
                    });
                }
            }
        }
        Kind::MessageApiCall => {
            let action = row.action;
            if row.status == 200 && !grants.has(app, action.scope()) {
                part.violations.push(Violation {
                    event_id: row.event_id,
                    app_id: app,
                    user_id: user,
                    action,
                    ts: row.ts,
                    revoked: Some(ever.has(app, action.scope())),
                });
            }
        }
        Kind::UserRegistered | Kind::BugIntroduced | Kind::BugFixed | Kind::Deploy => {}
    }
}

/// One shard's replay: the callers' states, fed the callers' rows in log order.
struct Replay<'a> {
    log: &'a ShardLog,
    deploys: &'a [(i64, u64, bool)],
    callers: Callers,
    states: Vec<UserState>,
    /// Whether the log holds duplicated events to pass over.
    dedupe: bool,
    /// The last row replayed, `(ts, event_id)`, to pass over its duplicate.
    previous: Option<(i64, u64)>,
}

impl Replay<'_> {
    /// Replays the caller's row at file position `i`, whose columns beyond the key columns
    /// are at `j`.
    #[inline]
    fn step(&mut self, i: usize, j: usize, part: &mut Partial) {
        let log = self.log;
        let slot = self.callers.slot(log.user_id[i]).expect("a caller's row");
        // A duplicate sits next to its original: same (ts, event_id) in log order.
        if self.dedupe {
            let key = (log.ts[i], log.event_id[i]);
            if self.previous == Some(key) {
                return;
            }
            self.previous = Some(key);
        }
        replay_row(
            &Row::at(log, i, j),
            self.deploys,
            &mut self.states[slot],
            part,
        );
    }

    /// Replays `rows` (the callers' rows, ascending), the file being in log order. `compact`:
    /// the log holds the other columns for these rows only.
    fn scan(&mut self, rows: &[u32], compact: bool, part: &mut Partial) {
        let mut timer = BatchTimer::new();
        let mut passed = 0;
        for (j, &i) in rows.iter().enumerate() {
            let i = i as usize;
            // Every row up to this one counts as replayed, the passed-over ones included.
            timer.add(i + 1 - passed, &mut part.batch_micros);
            passed = i + 1;
            self.step(i, if compact { j } else { i }, part);
        }
        timer.add(self.log.len() - passed, &mut part.batch_micros);
        timer.flush(&mut part.batch_micros);
    }

    /// Replays `rows` (as for [`Replay::scan`]) in the order of `order`, the file's rows in
    /// log order.
    fn scan_in(&mut self, order: &[u32], rows: &[u32], compact: bool, part: &mut Partial) {
        let log = self.log;
        let mut timer = BatchTimer::new();
        for (n, &i) in order.iter().enumerate() {
            if n % 4096 == 4095 {
                timer.add(4096, &mut part.batch_micros);
            }
            let i = i as usize;
            if log.kind[i].is_system() || self.callers.slot(log.user_id[i]).is_none() {
                continue;
            }
            let j = match compact {
                true => rows.binary_search(&(i as u32)).expect("a caller's row"),
                false => i,
            };
            self.step(i, j, part);
        }
        timer.add(log.len() % 4096, &mut part.batch_micros);
        timer.flush(&mut part.batch_micros);
    }
}

impl Detector for Exact {
    fn name(&self) -> &'static str {
        "exact"
    }

    fn rows(&self) -> Option<blastradius_dataset::log::Pick> {
        Some(caller_rows)
    }

    fn shard(&self, log: &ShardLog) -> Partial {
        let order = LogOrder::of(log);
        let deploys = &log.deploys;
        let mut part = Partial {
            out_of_order: order.out_of_order,
            bug_window: bug_window_of(deploys),
            ..Partial::default()
        };
        if order.duplicates > 0 {
            part.unresolved
                .insert(Unresolved::DUPLICATE, order.duplicates);
        }
        // The reader kept the callers' rows (see `rows`); a log built otherwise holds all.
        let all;
        let (rows, compact) = match &log.selected {
            Some(rows) => (rows.as_slice(), true),
            None => {
                all = caller_rows(log);
                (all.as_slice(), false)
            }
        };
        let mut replay = Replay {
            log,
            deploys,
            callers: Callers::of(rows.iter().map(|&i| log.user_id[i as usize]), log.len()),
            states: Vec::new(),
            dedupe: order.duplicates > 0,
            previous: None,
        };
        replay
            .states
            .resize_with(replay.callers.count, UserState::default);
        match order.permutation() {
            None => replay.scan(rows, compact, &mut part),
            Some(order) => replay.scan_in(order, rows, compact, &mut part),
        }
        part
    }

    fn finish(&self, parts: Vec<Partial>) -> DetectorOutput {
        let exposures = merge_exposures(&parts);
        let mut violations: Vec<Violation> = parts
            .iter()
            .flat_map(|p| p.violations.iter().copied())
            .collect();
        violations.sort_by_key(|v| v.event_id);
        let mut user_apps: Vec<(u64, u32)> =
            exposures.iter().map(|e| (e.user_id, e.app_id)).collect();
        user_apps.sort_unstable();
        user_apps.dedup();
        let mut unresolved = std::collections::BTreeMap::new();
        for p in &parts {
            add_unresolved(&mut unresolved, &p.unresolved);
        }
        DetectorOutput {
            reports: Default::default(),
            unresolved,
            user_apps,
            affected_users: exposures.iter().map(|e| e.user_id).collect(),
            exposures,
            violations,
            out_of_order: parts.iter().map(|p| p.out_of_order).sum(),
            bug_window: parts.iter().find_map(|p| p.bug_window),
            stats: Default::default(),
        }
    }
}

/// `exact` fed one event at a time, as a live stream delivers them: the same per-user state
/// and the same [`replay_row`] as the batch replay. A stream does not say in advance who will
/// call, so every user's state is kept (about 500 bytes a user with the default scenario).
///
/// Users are found through a table indexed by id while ids stay dense (as the simulator's
/// do), else through a map; the states themselves sit in one vector. With a million users
/// the states outgrow the caches and each event waits on memory: [`Incremental::prefetch`]
/// lets a caller that holds a batch ask for a user's state a few events ahead.
#[derive(Default)]
pub struct Incremental {
    slots: Slots,
    states: Vec<UserState>,
    gate: StreamGate,
    part: Partial,
}

impl Incremental {
    pub fn new() -> Self {
        Self::default()
    }

    /// A hint that `user`'s event comes soon: starts loading that user's state (and, when
    /// the state is already cached, the user's photos) into the cache. Does nothing else.
    #[inline]
    pub fn prefetch(&self, user: u64, photos_too: bool) {
        if let Some(s) = self.slots.get(user) {
            let state = &self.states[s];
            prefetch(state);
            if photos_too {
                prefetch(state.album.photos.as_ptr());
            }
        }
    }

    /// Applies `row` (events must come in log order); returns the exposures and violations
    /// it reveals. A row repeating the one before it (a duplicated delivery) is passed over.
    pub fn push(&mut self, row: &Row) -> (Vec<Exposure>, Vec<Violation>) {
        if !self.gate.admit(row) {
            return (Vec::new(), Vec::new());
        }
        let slot = self.slots.insert(row.user_id);
        if slot == self.states.len() {
            self.states.push(UserState::default());
        }
        replay_row(
            row,
            &self.gate.deploys,
            &mut self.states[slot],
            &mut self.part,
        );
        if self.part.exposures.is_empty() && self.part.violations.is_empty() {
            return (Vec::new(), Vec::new());
        }
        (
            std::mem::take(&mut self.part.exposures),
            std::mem::take(&mut self.part.violations),
        )
    }

    /// Users whose state is kept.
    pub fn users(&self) -> usize {
        self.states.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use blastradius_schema::Action;

    /// A hand-built log, one row per call of `row`.
    #[derive(Default)]
    struct Build(ShardLog);

    impl Build {
        #[allow(clippy::too_many_arguments)]
        fn row(
            &mut self,
            id: u64,
            ts: i64,
            kind: Kind,
            app: u32,
            photo: u64,
            surface: Surface,
            scope: Scope,
            status: u16,
            page: u32,
        ) -> &mut Self {
            let l = &mut self.0;
            l.event_id.push(id);
            l.ts.push(ts);
            l.kind.push(kind);
            l.user_id.push(if kind.is_system() { 0 } else { 7 });
            l.app_id.push(app);
            l.photo_id.push(photo);
            l.surface.push(surface);
            l.scope.push(scope);
            l.action.push(Action::Read);
            l.status.push(status);
            l.page.push(page);
            l.page_size.push(2);
            self
        }
        fn upload(&mut self, id: u64, ts: i64, s: Surface) -> &mut Self {
            self.row(
                id,
                ts,
                Kind::PhotoUploaded,
                0,
                id,
                s,
                Scope::UserPhotos,
                0,
                0,
            )
        }
        fn call(&mut self, id: u64, ts: i64, status: u16, page: u32) -> &mut Self {
            self.row(
                id,
                ts,
                Kind::PhotoApiCall,
                3,
                0,
                Surface::Timeline,
                Scope::UserPhotos,
                status,
                page,
            )
        }
        fn grant(&mut self, id: u64, ts: i64, kind: Kind) -> &mut Self {
            self.row(
                id,
                ts,
                kind,
                3,
                0,
                Surface::Timeline,
                Scope::UserPhotos,
                0,
                0,
            )
        }
        fn system(&mut self, id: u64, ts: i64, kind: Kind) -> &mut Self {
            self.row(
                id,
                ts,
                kind,
                0,
                0,
                Surface::Timeline,
                Scope::UserPhotos,
                0,
                0,
            )
        }
    }

    fn exposed(log: ShardLog) -> Vec<(u64, i64)> {
        let f = run(&log);
        f.exposures
            .iter()
            .map(|e| (e.photo_id, e.first_exposed_ts))
            .collect()
    }

    #[test]
    fn a_hand_built_log_yields_the_stated_exposures() {
        let mut b = Build::default();
        b.system(1, 100, Kind::BugIntroduced)
            .system(2, 200, Kind::BugFixed);
        b.grant(10, 5, Kind::PermissionGranted);
        // API order at the calls: 15 (messenger, never visible), 14, 13, 12 (story), 11.
        b.upload(11, 10, Surface::Timeline)
            .upload(12, 11, Surface::Story);
        b.upload(13, 12, Surface::Timeline)
            .upload(14, 13, Surface::Draft);
        b.upload(15, 14, Surface::Messenger);
        b.call(20, 99, 200, 0); // before the deploy: timeline only
        b.call(21, 100, 200, 0); // same ts as the deploy, after it: 14 (draft), 13
        b.call(22, 101, 429, 1); // rate limited: nothing
        b.call(23, 102, 200, 1); // page 1: 12 (story), 11
        b.call(24, 103, 200, 2); // beyond the end
        b.row(
            25,
            110,
            Kind::PhotoDeleted,
            0,
            12,
            Surface::Timeline,
            Scope::UserPhotos,
            0,
            0,
        );
        b.grant(26, 120, Kind::PermissionRevoked)
            .call(27, 121, 403, 0);
        b.grant(28, 130, Kind::PermissionGranted)
            .call(29, 131, 200, 0);
        b.call(30, 200, 200, 0); // at the fix: nothing hidden
        assert_eq!(exposed(b.0), vec![(12, 102), (14, 100)]);
    }

    #[test]
    fn file_order_is_checked_not_assumed() {
        let mut b = Build::default();
        b.grant(10, 5, Kind::PermissionGranted)
            .upload(12, 11, Surface::Story);
        b.call(21, 150, 200, 0).system(1, 100, Kind::BugIntroduced);
        let f = run(&b.0);
        assert_eq!(f.out_of_order, 1);
        assert_eq!(f.exposures.len(), 1);
    }

    /// `exact`'s findings on `log`, checked to be the same whether the log holds every
    /// column for every row or, as the reader leaves it, the columns beyond the key columns
    /// for the callers' rows only.
    fn run(log: &ShardLog) -> DetectorOutput {
        let mut full = copy(log);
        full.deploys = blastradius_dataset::log::deploys(&full);
        let mut picked = compact(&full);
        picked.deploys = full.deploys.clone();
        let (a, b) = (
            Exact.finish(vec![Exact.shard(&full)]),
            Exact.finish(vec![Exact.shard(&picked)]),
        );
        assert_eq!(a.exposures, b.exposures);
        assert_eq!(a.violations, b.violations);
        assert_eq!(a.unresolved, b.unresolved);
        assert_eq!(a.out_of_order, b.out_of_order);
        a
    }

    /// `l` as the reader leaves it for `exact`: the columns beyond the key columns kept for
    /// the callers' rows only.
    fn compact(l: &ShardLog) -> ShardLog {
        let rows = caller_rows(l);
        fn pick<T: Copy>(rows: &[u32], v: &[T]) -> Vec<T> {
            rows.iter().map(|&i| v[i as usize]).collect()
        }
        ShardLog {
            app_id: pick(&rows, &l.app_id),
            photo_id: pick(&rows, &l.photo_id),
            surface: pick(&rows, &l.surface),
            scope: pick(&rows, &l.scope),
            action: pick(&rows, &l.action),
            page: pick(&rows, &l.page),
            page_size: pick(&rows, &l.page_size),
            selected: Some(rows),
            ..copy(l)
        }
    }

    fn copy(l: &ShardLog) -> ShardLog {
        ShardLog {
            path: l.path.clone(),
            event_id: l.event_id.clone(),
            ts: l.ts.clone(),
            kind: l.kind.clone(),
            user_id: l.user_id.clone(),
            app_id: l.app_id.clone(),
            photo_id: l.photo_id.clone(),
            surface: l.surface.clone(),
            scope: l.scope.clone(),
            action: l.action.clone(),
            status: l.status.clone(),
            page: l.page.clone(),
            page_size: l.page_size.clone(),
            ..ShardLog::default()
        }
    }

    /// A world with one story exposed by a call during the bug.
    fn world() -> Build {
        let mut b = Build::default();
        b.system(1, 100, Kind::BugIntroduced)
            .system(2, 200, Kind::BugFixed);
        b.grant(10, 5, Kind::PermissionGranted);
        b.upload(11, 10, Surface::Timeline)
            .upload(12, 11, Surface::Story);
        b.call(20, 150, 200, 0);
        b
    }

    // Issue 5: each fault on a hand-built log, with its stated effect.
    #[test]
    fn a_dropped_grant_leaves_an_unexplained_success() {
        let b = world();
        let grant =
            b.0.kind
                .iter()
                .position(|k| *k == Kind::PermissionGranted)
                .unwrap();
        let log = remove_row(b.0, grant);
        let f = run(&log);
        assert_eq!(f.exposures.len(), 1, "the call still returned the story");
        assert_eq!(f.unresolved.get(Unresolved::UNGRANTED_SUCCESS), Some(&1));
    }

    #[test]
    fn a_duplicated_upload_is_counted_once() {
        let mut b = Build::default();
        b.system(1, 100, Kind::BugIntroduced)
            .system(2, 200, Kind::BugFixed);
        b.grant(10, 5, Kind::PermissionGranted);
        b.upload(11, 10, Surface::Story)
            .upload(12, 11, Surface::Story);
        b.upload(12, 11, Surface::Story); // same event id, delivered twice
        b.call(20, 150, 200, 0).call(21, 160, 200, 1);
        let f = run(&b.0);
        // Page 0 (size 2) holds 12 and 11; counted twice, 12 would push 11 to page 1 at 160.
        let first: Vec<(u64, i64)> = f
            .exposures
            .iter()
            .map(|e| (e.photo_id, e.first_exposed_ts))
            .collect();
        assert_eq!(first, vec![(11, 150), (12, 150)]);
        assert_eq!(f.unresolved.get(Unresolved::DUPLICATE), Some(&1));
    }

    #[test]
    fn a_publish_of_a_photo_never_uploaded_is_counted() {
        let mut b = world();
        b.row(
            30,
            120,
            Kind::PhotoPublished,
            0,
            99,
            Surface::Timeline,
            Scope::UserPhotos,
            0,
            0,
        );
        let f = run(&b.0);
        assert_eq!(f.unresolved.get(Unresolved::UNKNOWN_PHOTO), Some(&1));
        assert_eq!(f.exposures.len(), 1);
    }

    #[test]
    fn a_reordered_publish_is_put_back_in_log_order() {
        let mut b = Build::default();
        b.system(1, 100, Kind::BugIntroduced)
            .system(2, 200, Kind::BugFixed);
        b.grant(10, 5, Kind::PermissionGranted)
            .upload(12, 110, Surface::Draft);
        // Delivered out of order: the call (ts 150) arrives before the publish (ts 140).
        b.call(20, 150, 200, 0);
        b.row(
            13,
            140,
            Kind::PhotoPublished,
            0,
            12,
            Surface::Timeline,
            Scope::UserPhotos,
            0,
            0,
        );
        let f = run(&b.0);
        assert!(
            f.exposures.is_empty(),
            "the draft was published before the call"
        );
        assert!(f.out_of_order >= 1);
    }

    /// `log` with the user of rows `from..` set to `user`.
    fn as_user(mut log: ShardLog, from: usize, user: u64) -> ShardLog {
        for u in &mut log.user_id[from..] {
            *u = user;
        }
        log
    }

    #[test]
    fn interleaved_users_each_keep_their_own_state() {
        let mut b = world(); // user 7: one story (12) exposed at 150
        let from = b.0.len();
        b.grant(40, 6, Kind::PermissionGranted)
            .upload(41, 12, Surface::Draft)
            .upload(42, 13, Surface::Timeline)
            .call(43, 149, 200, 0);
        let log = as_user(b.0, from, 8);
        let f = run(&log);
        let found: Vec<(u64, u64, i64)> = f
            .exposures
            .iter()
            .map(|e| (e.user_id, e.photo_id, e.first_exposed_ts))
            .collect();
        assert_eq!(found, vec![(7, 12, 150), (8, 41, 149)]);
    }

    #[test]
    fn only_users_with_a_successful_call_are_replayed() {
        let mut b = world(); // user 7: a caller
        let quiet = b.0.len();
        // User 8 grants and uploads a story, but every call of the app fails, and the log
        // holds a publish of a photo it never uploaded: nothing to find, nothing counted.
        b.grant(40, 6, Kind::PermissionGranted)
            .upload(41, 12, Surface::Story)
            .call(42, 150, 403, 0)
            .row(
                43,
                160,
                Kind::PhotoPublished,
                0,
                99,
                Surface::Timeline,
                Scope::UserPhotos,
                0,
                0,
            );
        let messaging = b.0.len();
        // User 9 only reads a mailbox without a grant: a caller through a message call.
        b.row(
            50,
            150,
            Kind::MessageApiCall,
            5,
            0,
            Surface::Timeline,
            Scope::ReadMailbox,
            200,
            0,
        );
        let log = as_user(as_user(b.0, quiet, 8), messaging, 9);
        let f = run(&log);
        assert_eq!(
            f.affected_users.iter().copied().collect::<Vec<_>>(),
            vec![7]
        );
        assert_eq!(f.violations.len(), 1);
        assert_eq!(f.violations[0].user_id, 9);
        assert_eq!(f.unresolved.get(Unresolved::UNKNOWN_PHOTO), None);
    }

    // Issue 10: the live exact is the batch exact, one event at a time.
    #[test]
    fn the_incremental_exact_finds_what_the_batch_one_does() {
        let mut b = world();
        let from = b.0.len();
        b.grant(40, 6, Kind::PermissionGranted)
            .upload(41, 12, Surface::Draft)
            .upload(42, 13, Surface::Timeline)
            .call(43, 149, 200, 0)
            .row(
                44,
                151,
                Kind::MessageApiCall,
                9,
                0,
                Surface::Timeline,
                Scope::ReadMailbox,
                200,
                0,
            );
        let log = as_user(b.0, from, 8);
        let batch = run(&log);
        let mut rows: Vec<Row> = (0..log.len()).map(|i| Row::of(&log, i)).collect();
        rows.sort_by_key(|r| (r.ts, r.event_id));
        let mut live = Incremental::new();
        let (mut exposures, mut violations) = (Vec::new(), Vec::new());
        for r in &rows {
            let (e, v) = live.push(r);
            exposures.extend(e);
            violations.extend(v);
        }
        exposures.sort_by_key(|e| (e.app_id, e.user_id, e.photo_id));
        assert_eq!(exposures, batch.exposures);
        assert_eq!(violations, batch.violations);
        assert!(!exposures.is_empty() && !violations.is_empty());
    }

    /// `log` without row `i`.
    fn remove_row(mut log: ShardLog, i: usize) -> ShardLog {
        log.event_id.remove(i);
        log.ts.remove(i);
        log.kind.remove(i);
        log.user_id.remove(i);
        log.app_id.remove(i);
        log.photo_id.remove(i);
        log.surface.remove(i);
        log.scope.remove(i);
        log.action.remove(i);
        log.status.remove(i);
        log.page.remove(i);
        log.page_size.remove(i);
        log
    }
}
