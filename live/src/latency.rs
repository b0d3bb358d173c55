//! Matching a detector's findings to the truth, and their latency from the **intended** send
//! time of the call that made each one true: a replayer that stalls or falls behind cannot
//! hide the delay, since the clock starts when the call was due, not when it was written.
//!
//! Plain code: the replay feeds it what it sends and what comes back, with times in µs since
//! the replay started.

use std::collections::{BTreeSet, HashMap, HashSet};

use blastradius_analyzer::score::{Score, Truth};
use blastradius_schema::{AccessKind, Kind};
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::source::Item;
use crate::view_as_match::{First, ViewAsMatcher, ViewAsScores};
use crate::wire::Finding;

/// Latency percentiles of one level, in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Percentiles {
    /// First detections measured.
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

fn percentiles(h: &Histogram<u64>) -> Percentiles {
    let ms = |v: u64| v as f64 / 1000.0;
    Percentiles {
        count: h.len(),
        p50: ms(h.value_at_quantile(0.5)),
        p90: ms(h.value_at_quantile(0.9)),
        p99: ms(h.value_at_quantile(0.99)),
        p999: ms(h.value_at_quantile(0.999)),
        max: ms(h.max()),
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new(3).expect("valid precision")
}

/// The call that made an exposure true, as the stream can recognise it: its event id when
/// the truth names it (a damaged copy keeps ids, whatever its skew did to `ts`), else
/// `(user, app, ts)` for a truth written before it named ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Call {
    Id(u64),
    At(u64, u32, i64),
}

/// When an event that made something true was due, and its `ts` in the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sent {
    pub due: i64,
    pub ts: i64,
}

/// The levels latency is measured at.
#[derive(Clone, Copy)]
enum Level {
    Users,
    Exposures,
    Violations,
    Tokens,
    ViewAsUsers,
}

/// Users, exposures and violations of the truth.
type Carried = (BTreeSet<u64>, BTreeSet<(u32, u64, u64)>, BTreeSet<u64>);

/// The truth the findings are matched against, and when each exposing call was due.
pub struct Matcher {
    /// Per exposure, the call that first returned it, and when (the truth's
    /// `first_exposed_ts`).
    exposing: HashMap<(u32, u64, u64), (Call, i64)>,
    /// Per user, the calls that exposed them.
    user_calls: HashMap<u64, Vec<Call>>,
    /// The exposing calls, to recognise them in the stream.
    calls: HashSet<Call>,
    /// Intended send time of each exposing call, once sent.
    call_sent: HashMap<Call, Sent>,
    /// Intended send time of each violating call, once sent.
    violation_sent: HashMap<u64, Sent>,
    /// Per (app, user) of the truth, the latest `ts` of a successful photo call sent so far.
    /// In a stream delivered late, a later call returning the same photo can come before
    /// the truth's first one; a finding after such a call (one at or after the exposure's
    /// first time) is a detection, untimed, not a premature one. An earlier call cannot have
    /// returned it, so it does not count (or a client could name a pair's answers at its
    /// first call).
    photo_calls_sent: HashMap<(u32, u64), i64>,
    /// Per millisecond of the schedule, the latest `ts` due by its end: the log time the
    /// stream had reached at a given moment.
    timeline: Vec<(i64, i64)>,
    latest_ts: i64,
    /// First detections, in log time: from the call's `ts` to the log time the stream had
    /// reached when the finding came. A detector that holds events for an allowed lateness
    /// shows its wait here, whatever the replay's speed.
    pub log_time: Histogram<u64>,
    truth_users: BTreeSet<u64>,
    truth_exposures: BTreeSet<(u32, u64, u64)>,
    truth_violations: BTreeSet<u64>,
    found_users: BTreeSet<u64>,
    found_exposures: BTreeSet<(u32, u64, u64)>,
    found_violations: BTreeSet<u64>,
    /// True items named before the event that made them true had been sent (see
    /// [`Matcher::scores`]).
    early_users: BTreeSet<u64>,
    early_exposures: BTreeSet<(u32, u64, u64)>,
    early_violations: BTreeSet<u64>,
    reported_exposures: bool,
    reported_violations: bool,
    pub users: Histogram<u64>,
    pub exposures: Histogram<u64>,
    pub violations: Histogram<u64>,
    /// The View-As levels, in a View-As world.
    view_as: Option<ViewAsMatcher>,
    pub tokens: Histogram<u64>,
    pub view_as_users: Histogram<u64>,
    pub all: Histogram<u64>,
    /// First detections over wall time (see [`crate::timeline`]).
    pub detections: crate::timeline::Timeline,
    /// Findings that came after the replay ended.
    pub after_end: u64,
    /// Lines that were not findings.
    pub garbage: u64,
    pub findings: u64,
}

impl Matcher {
    /// A matcher for `truth`.
    pub fn new(truth: &Truth) -> Self {
        let exposing: HashMap<(u32, u64, u64), (Call, i64)> = truth
            .exposure_info
            .iter()
            .map(|(&(app, user, photo), &(_, ts))| {
                let call = match truth.exposure_calls.get(&(app, user, photo)) {
                    Some(&id) => Call::Id(id),
                    None => Call::At(user, app, ts),
                };
                ((app, user, photo), (call, ts))
            })
            .collect();
        let mut user_calls: HashMap<u64, Vec<Call>> = HashMap::new();
        for (&(_, user, _), &(call, _)) in &exposing {
            user_calls.entry(user).or_default().push(call);
        }
        Matcher {
            calls: exposing.values().map(|&(call, _)| call).collect(),
            exposing,
            user_calls,
            call_sent: HashMap::new(),
            violation_sent: HashMap::new(),
            photo_calls_sent: HashMap::new(),
            timeline: Vec::new(),
            latest_ts: i64::MIN,
            log_time: histogram(),
            truth_users: truth.users.clone(),
            truth_exposures: truth.exposures.clone(),
            truth_violations: truth.violations.clone(),
            found_users: BTreeSet::new(),
            found_exposures: BTreeSet::new(),
            found_violations: BTreeSet::new(),
            early_users: BTreeSet::new(),
            early_exposures: BTreeSet::new(),
            early_violations: BTreeSet::new(),
            reported_exposures: false,
            reported_violations: false,
            users: histogram(),
            exposures: histogram(),
            violations: histogram(),
            view_as: truth.view_as.as_ref().map(ViewAsMatcher::new),
            tokens: histogram(),
            view_as_users: histogram(),
            all: histogram(),
            detections: crate::timeline::Timeline::default(),
            after_end: 0,
            garbage: 0,
            findings: 0,
        }
    }

    /// Records that an event of log time `ts` is due at `intended` µs (call it for every
    /// event, in order, as it is scheduled): the log time the schedule reaches when.
    pub fn scheduled(&mut self, ts: i64, intended: i64) {
        self.latest_ts = self.latest_ts.max(ts);
        let ms = intended.div_euclid(1000);
        match self.timeline.last_mut() {
            Some(last) if last.0 == ms => last.1 = self.latest_ts,
            _ => self.timeline.push((ms, self.latest_ts)),
        }
    }

    /// Whether [`Matcher::sent`] needs to see `item`: successful photo calls, message calls
    /// and token issues.
    pub fn matters(item: &Item) -> bool {
        match item {
            Item::Photo(e) => matches!(
                (e.row.kind, e.row.status),
                (Kind::PhotoApiCall, 200) | (Kind::MessageApiCall, _)
            ),
            // Only a theft's shape (rule 1 of data/README §13) can time a finding.
            Item::Access(a) => {
                a.kind == AccessKind::TokenIssued
                    && a.path == Some(blastradius_schema::TokenPath::VideoUploader)
                    && a.target_id != a.user_id
            }
        }
    }

    /// Records that `item`, due at `intended` µs, goes out to the detector (call it as its
    /// bytes are written, not when they are queued: a finding before that is premature).
    pub fn sent(&mut self, item: &Item, intended: i64) {
        let e = match item {
            Item::Photo(e) => e,
            Item::Access(a) => {
                let at = Sent {
                    due: intended,
                    ts: a.ts,
                };
                if let Some(v) = self.view_as.as_mut() {
                    v.sent(a, at);
                }
                return;
            }
        };
        let r = &e.row;
        let at = Sent {
            due: intended,
            ts: r.ts,
        };
        match r.kind {
            Kind::PhotoApiCall if r.status == 200 => {
                if self.truth_users.contains(&r.user_id) {
                    let latest = self
                        .photo_calls_sent
                        .entry((r.app_id, r.user_id))
                        .or_insert(r.ts);
                    *latest = (*latest).max(r.ts);
                }
                for key in [Call::Id(r.event_id), Call::At(r.user_id, r.app_id, r.ts)] {
                    if self.calls.contains(&key) {
                        self.call_sent.entry(key).or_insert(at);
                    }
                }
            }
            Kind::MessageApiCall if self.truth_violations.contains(&r.event_id) => {
                self.violation_sent.entry(r.event_id).or_insert(at);
            }
            _ => {}
        }
    }

    /// The log time the stream had reached at `at` µs of the schedule.
    fn log_time_at(&self, at: i64) -> Option<i64> {
        let ms = at.div_euclid(1000);
        let i = self.timeline.partition_point(|&(m, _)| m <= ms);
        i.checked_sub(1).map(|i| self.timeline[i].1)
    }

    /// A first detection at `received` of an item its event `sent` made true, at `level`.
    fn first(&mut self, level: Level, received: i64, sent: Sent) {
        let v = (received - sent.due).max(1) as u64;
        let h = match level {
            Level::Users => &mut self.users,
            Level::Exposures => &mut self.exposures,
            Level::Violations => &mut self.violations,
            Level::Tokens => &mut self.tokens,
            Level::ViewAsUsers => &mut self.view_as_users,
        };
        let _ = h.record(v);
        let _ = self.all.record(v);
        self.detections.detection(received, v as i64);
        if let Some(now) = self.log_time_at(received) {
            let _ = self.log_time.record((now - sent.ts).max(1) as u64);
        }
    }

    /// Records a finding received at `received` µs; `ended` when the replay had finished.
    /// A true item named before the event that makes it true was sent is held apart
    /// ("early"): whether it was known ahead or found another way is told at the end (see
    /// [`Matcher::scores`]).
    pub fn finding(&mut self, f: Finding, received: i64, ended: bool) {
        self.findings += 1;
        if ended {
            self.after_end += 1;
        }
        match f {
            Finding::Exposure {
                app_id,
                user_id,
                photo_id,
            } => {
                self.reported_exposures = true;
                let key = (app_id, user_id, photo_id);
                // Whether a true exposure was found (not named ahead of its event).
                let exposing = self.exposing.get(&key);
                let revealed = match exposing.map(|(c, first)| (self.call_sent.get(c), *first)) {
                    Some((Some(&sent), _)) => {
                        if self.found_exposures.insert(key) {
                            self.first(Level::Exposures, received, sent);
                        }
                        true
                    }
                    // Its first call not sent yet, but one of that app for that user was: a
                    // damaged stream's other way to it, found and not timed.
                    Some((None, first))
                        if self
                            .photo_calls_sent
                            .get(&(app_id, user_id))
                            .is_some_and(|&call| call >= first) =>
                    {
                        self.found_exposures.insert(key);
                        true
                    }
                    Some((None, _)) => {
                        self.early_exposures.insert(key);
                        false
                    }
                    // Not a true exposure: a false positive, whenever it came.
                    None => {
                        self.found_exposures.insert(key);
                        false
                    }
                };
                // The user's first finding of any kind times the user, even when this
                // exposure itself is wrong: the user was named, and named this soon.
                self.user(user_id, received, revealed);
            }
            Finding::User { user_id } => self.user(user_id, received, false),
            Finding::Token { token_id } => {
                let first = self.view_as.as_mut().and_then(|v| v.token(token_id));
                self.first_view_as(first, received);
            }
            Finding::ViewAsUser { user_id, tier } => {
                let first = self.view_as.as_mut().and_then(|v| v.user(user_id, tier));
                self.first_view_as(first, received);
            }
            Finding::Violation { event_id } => {
                self.reported_violations = true;
                match self.violation_sent.get(&event_id) {
                    _ if !self.truth_violations.contains(&event_id) => {
                        self.found_violations.insert(event_id);
                    }
                    Some(&sent) => {
                        if self.found_violations.insert(event_id) {
                            self.first(Level::Violations, received, sent)
                        }
                    }
                    None => {
                        self.early_violations.insert(event_id);
                    }
                }
            }
        }
    }

    /// Records a first detection at a View-As level, if it is one. (Outside a View-As world
    /// there is no such truth: those findings are only counted.)
    fn first_view_as(&mut self, first: Option<First>, received: i64) {
        match first {
            Some(First::Token(at)) => self.first(Level::Tokens, received, at),
            Some(First::User(at)) => self.first(Level::ViewAsUsers, received, at),
            None => {}
        }
    }

    /// A user named at `received`: timed from the earliest of their exposing calls sent so
    /// far. When none was sent yet, the user was found another way if `revealed` (the
    /// finding is a true exposure found after a call that could return it); else held apart
    /// as early, settled at the end (see [`Matcher::scores`]).
    fn user(&mut self, user: u64, received: i64, revealed: bool) {
        if !self.truth_users.contains(&user) {
            self.found_users.insert(user);
            return;
        }
        let due = self
            .user_calls
            .get(&user)
            .into_iter()
            .flatten()
            .filter_map(|call| self.call_sent.get(call))
            .min_by_key(|s| (s.due, s.ts))
            .copied();
        match due {
            Some(sent) => {
                if self.found_users.insert(user) {
                    self.first(Level::Users, received, sent);
                }
            }
            None if revealed => {
                self.found_users.insert(user);
            }
            None => {
                self.early_users.insert(user);
            }
        }
    }

    /// The truth whose event was sent: exposures whose first exposing call was, users with
    /// such a call, violating calls.
    fn carried(&self) -> Carried {
        let sent = |c: &Call| self.call_sent.contains_key(c);
        let exposures = self
            .truth_exposures
            .iter()
            .filter(|k| self.exposing.get(*k).is_some_and(|(c, _)| sent(c)))
            .copied()
            .collect();
        let users = self
            .truth_users
            .iter()
            .filter(|u| {
                self.user_calls
                    .get(*u)
                    .is_some_and(|calls| calls.iter().any(sent))
            })
            .copied()
            .collect();
        let violations = self
            .truth_violations
            .iter()
            .filter(|v| self.violation_sent.contains_key(*v))
            .copied()
            .collect();
        (users, exposures, violations)
    }

    /// Findings that named a true item before its event was sent, the event came later,
    /// and the item was not named again after it: known ahead, not detected.
    pub fn premature(&self) -> u64 {
        let (users, exposures, violations) = self.carried();
        let early_exposures: Vec<&(u32, u64, u64)> = self
            .early_exposures
            .iter()
            .filter(|e| exposures.contains(*e) && !self.found_exposures.contains(*e))
            .collect();
        let named: BTreeSet<u64> = early_exposures.iter().map(|e| e.1).collect();
        let early_users = self
            .early_users
            .iter()
            .filter(|u| users.contains(*u) && !self.found_users.contains(*u))
            .filter(|u| !named.contains(*u))
            .count();
        let early_violations = self
            .early_violations
            .iter()
            .filter(|v| violations.contains(*v) && !self.found_violations.contains(*v))
            .count();
        (early_exposures.len() + early_users + early_violations) as u64
            + self.view_as.as_ref().map_or(0, ViewAsMatcher::premature)
    }

    /// The scores of what was found, at the levels reported. With `whole` (the stream ran
    /// from the start to the end of the log) against the whole truth, as a batch run is:
    /// on a damaged copy, truth whose first event was dropped or cut off counts as missed
    /// unless found through a later event. Otherwise (a `--from`/`--until` slice, a replay
    /// stopped early) against the truth whose event was sent, a true finding outside it
    /// counting neither way. An item named before its event was sent, and not named again
    /// after, is a false positive (known, not detected); one whose event never came was
    /// found another way and counts as found.
    pub fn scores(&self, whole: bool) -> LevelScores {
        let (users, exposures, violations) = self.carried();
        LevelScores {
            users: level(
                &self.found_users,
                &self.early_users,
                &self.truth_users,
                &users,
                whole,
            ),
            exposures: self.reported_exposures.then(|| {
                level(
                    &self.found_exposures,
                    &self.early_exposures,
                    &self.truth_exposures,
                    &exposures,
                    whole,
                )
            }),
            violations: self.reported_violations.then(|| {
                level(
                    &self.found_violations,
                    &self.early_violations,
                    &self.truth_violations,
                    &violations,
                    whole,
                )
            }),
            view_as: self.view_as.as_ref().map(|v| v.scores(whole)),
            whole,
            truth_carried: (users.len(), exposures.len(), violations.len()),
            truth_whole: (
                self.truth_users.len(),
                self.truth_exposures.len(),
                self.truth_violations.len(),
            ),
        }
    }

    /// Whether exposing calls are matched by event id (the truth names them), not by time.
    pub fn by_event_id(&self) -> bool {
        self.exposing
            .values()
            .all(|(c, _)| matches!(c, Call::Id(_)))
    }

    /// The percentiles of every level.
    pub fn latency(&self) -> LatencyReport {
        LatencyReport {
            users: percentiles(&self.users),
            exposures: percentiles(&self.exposures),
            violations: percentiles(&self.violations),
            stolen_tokens: self.view_as.is_some().then(|| percentiles(&self.tokens)),
            view_as_users: self
                .view_as
                .is_some()
                .then(|| percentiles(&self.view_as_users)),
            all: percentiles(&self.all),
            log_time: percentiles(&self.log_time),
        }
    }
}

/// One level's score: found items against the whole truth (`whole`) or the truth carried;
/// an item named early and not again is premature (a false positive) when its event came,
/// and found another way when it never did (see [`Matcher::scores`]).
pub fn level<T: Ord + Copy>(
    found: &BTreeSet<T>,
    early: &BTreeSet<T>,
    all: &BTreeSet<T>,
    carried: &BTreeSet<T>,
    whole: bool,
) -> Score {
    let reference = if whole { all } else { carried };
    let mut scored: BTreeSet<T> = found
        .iter()
        .filter(|f| reference.contains(*f) || !all.contains(*f))
        .copied()
        .collect();
    let mut premature = 0;
    for e in early.iter().filter(|e| !found.contains(*e)) {
        if carried.contains(e) {
            premature += 1;
        } else if whole {
            scored.insert(*e);
        }
    }
    Score::of(&scored, reference).with_false_positives(premature)
}

/// Scores at the end of the replay.
#[derive(Clone, Debug, Serialize)]
pub struct LevelScores {
    pub users: Score,
    pub exposures: Option<Score>,
    pub violations: Option<Score>,
    /// The View-As levels, in a View-As world.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view_as: Option<ViewAsScores>,
    /// Scored against the whole truth (a whole replay), or only the truth carried (a slice,
    /// or a replay stopped early).
    pub whole: bool,
    /// Users, exposures and violations whose event the stream carried, and in the whole
    /// truth.
    pub truth_carried: (usize, usize, usize),
    pub truth_whole: (usize, usize, usize),
}

/// Latency of first detections, per level.
#[derive(Clone, Debug, Serialize)]
pub struct LatencyReport {
    pub users: Percentiles,
    pub exposures: Percentiles,
    pub violations: Percentiles,
    /// The View-As levels, in a View-As world: from the intended send time of the row that
    /// took the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stolen_tokens: Option<Percentiles>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view_as_users: Option<Percentiles>,
    /// Every first detection of any level.
    pub all: Percentiles,
    /// Every first detection, in log time (ms): how far the log had gone past the event
    /// when the finding came. What an allowed lateness costs shows here.
    pub log_time: Percentiles,
}

/// `h` in HdrHistogram's percentile-distribution text format (values in milliseconds), as
/// HdrHistogram's own tools print and plot it.
pub fn hgrm(h: &Histogram<u64>) -> String {
    use std::fmt::Write;
    let mut s = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    if h.is_empty() {
        s.push_str("#[Mean    =        0.000, StdDeviation   =        0.000]\n#[Max     =        0.000, Total count    =            0]\n");
        return s;
    }
    for v in h.iter_quantiles(5) {
        let p = v.quantile_iterated_to();
        let inverse = if p < 1.0 {
            format!("{:14.2}", 1.0 / (1.0 - p))
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "{:12.3} {:14.12} {:10} {}",
            v.value_iterated_to() as f64 / 1000.0,
            p,
            v.count_since_last_iteration(),
            inverse
        );
    }
    let _ = writeln!(
        s,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        h.mean() / 1000.0,
        h.stdev() / 1000.0
    );
    let _ = writeln!(
        s,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        h.max() as f64 / 1000.0,
        h.len()
    );
    let _ = writeln!(
        s,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        h.distinct_values()
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Event;
    use blastradius_analyzer::detect::Row;
    use blastradius_schema::{Action, Scope, Surface};

    fn truth() -> Truth {
        let mut t = Truth::default();
        t.exposures.insert((3, 7, 100));
        t.users.insert(7);
        t.exposure_info.insert((3, 7, 100), (Surface::Story, 5_000));
        t
    }

    /// Schedules `e` and writes it at once.
    fn send(m: &mut Matcher, e: &Event, intended: i64) {
        m.scheduled(e.row.ts, intended);
        m.sent(&Item::Photo(*e), intended);
    }

    fn call(ts: i64) -> Event {
        Event {
            row: Row {
                event_id: 1,
                ts,
                kind: Kind::PhotoApiCall,
                user_id: 7,
                app_id: 3,
                photo_id: 0,
                surface: Surface::Timeline,
                scope: Scope::UserPhotos,
                action: Action::Read,
                status: 200,
                page: 0,
                page_size: 25,
            },
            items_returned: 1,
        }
    }

    #[test]
    fn latency_runs_from_the_intended_send_time() {
        let mut m = Matcher::new(&truth());
        // The call was due at 1 s; the replayer wrote it late, which does not matter.
        send(&mut m, &call(5_000), 1_000_000);
        m.finding(
            Finding::Exposure {
                app_id: 3,
                user_id: 7,
                photo_id: 100,
            },
            1_200_000,
            false,
        );
        let l = m.latency();
        assert_eq!(l.exposures.count, 1);
        assert!((l.exposures.p50 - 200.0).abs() < 1.0, "{l:?}");
        assert!((l.users.p50 - 200.0).abs() < 1.0, "{l:?}");
        let s = m.scores(true);
        assert_eq!(s.users.f1, Some(1.0));
        assert_eq!(s.exposures.unwrap().f1, Some(1.0));
    }

    #[test]
    fn a_users_first_finding_times_the_user_even_when_the_exposure_is_wrong() {
        let mut m = Matcher::new(&truth());
        send(&mut m, &call(5_000), 1_000_000);
        // A photo of user 7 that no app received, then the true one.
        for (photo_id, at) in [(999, 1_300_000), (100, 1_500_000)] {
            m.finding(
                Finding::Exposure {
                    app_id: 3,
                    user_id: 7,
                    photo_id,
                },
                at,
                false,
            );
        }
        let l = m.latency();
        assert_eq!(l.users.count, 1, "{l:?}");
        assert!((l.users.p50 - 300.0).abs() < 1.0, "{l:?}");
        assert!((l.exposures.p50 - 500.0).abs() < 1.0, "{l:?}");
        assert_eq!(m.premature(), 0);
        // A true exposure before its call is one premature finding, not two (the user it
        // names is counted with it), once the call is sent.
        let mut m = Matcher::new(&truth());
        m.finding(
            Finding::Exposure {
                app_id: 3,
                user_id: 7,
                photo_id: 100,
            },
            10,
            false,
        );
        assert_eq!(m.premature(), 0, "its call may never come");
        send(&mut m, &call(5_000), 1_000);
        assert_eq!(m.premature(), 1);
    }

    // Issue 20: under `perturb --skew` the stream's `ts` of an exposing call is not the
    // truth's; matched by (user, app, ts) nothing was "carried" and exposure F1 read 0.
    #[test]
    fn exposing_calls_are_matched_by_event_id_whatever_their_ts() {
        let mut t = truth();
        t.exposure_calls.insert((3, 7, 100), 1);
        let mut m = Matcher::new(&t);
        // The same call (event 1), its clock skewed by 5 minutes.
        send(&mut m, &call(5_000 + 300_000_000), 1_000_000);
        m.finding(
            Finding::Exposure {
                app_id: 3,
                user_id: 7,
                photo_id: 100,
            },
            1_100_000,
            false,
        );
        let s = m.scores(true);
        assert_eq!(s.truth_carried, (1, 1, 0));
        assert_eq!(s.exposures.unwrap().f1, Some(1.0));
        assert_eq!(m.premature(), 0);
        assert_eq!(m.latency().exposures.count, 1);
    }

    // Issue 20: a "detector" that sent the answer key at connect scored F1 1.0.
    #[test]
    fn a_premature_finding_is_a_false_positive_unless_named_again_in_time() {
        let mut t = truth();
        t.violations.insert(42);
        t.violation_info.insert(42, (3, 7, Action::Read, 6_000));
        let exposure = Finding::Exposure {
            app_id: 3,
            user_id: 7,
            photo_id: 100,
        };
        let mut m = Matcher::new(&t);
        m.finding(exposure, 10, false);
        m.finding(Finding::Violation { event_id: 42 }, 10, false);
        send(&mut m, &call(5_000), 1_000_000);
        let mut violation = call(6_000);
        violation.row.kind = Kind::MessageApiCall;
        violation.row.event_id = 42;
        send(&mut m, &violation, 1_500_000);
        let s = m.scores(true);
        let e = s.exposures.unwrap();
        assert_eq!((e.true_positives, e.false_positives), (0, 1), "{e:?}");
        assert_eq!(e.f1, Some(0.0));
        assert_eq!((s.users.true_positives, s.users.false_positives), (0, 1));
        let v = s.violations.unwrap();
        assert_eq!((v.true_positives, v.false_positives), (0, 1));
        assert_eq!(m.premature(), 2);
        assert_eq!(m.latency().all.count, 0, "nothing early is timed");
        // Named again once the call was sent, it is a detection, and only that.
        m.finding(exposure, 1_200_000, false);
        let s = m.scores(true);
        assert_eq!(s.exposures.unwrap().f1, Some(1.0));
        assert_eq!(s.users.f1, Some(1.0));
        assert_eq!(m.latency().exposures.count, 1);
    }

    // Issue 20: what an allowed lateness costs, measured in log time by the replay.
    #[test]
    fn log_time_latency_is_how_far_the_stream_had_gone_past_the_call() {
        let mut t = truth();
        t.exposure_calls.insert((3, 7, 100), 1);
        let mut m = Matcher::new(&t);
        send(&mut m, &call(5_000), 1_000);
        // The stream goes on: an event at ts 905,000 due at 2 ms.
        let mut later = call(905_000);
        later.row.event_id = 2;
        later.row.kind = Kind::UserRegistered;
        send(&mut m, &later, 2_000);
        // The finding comes once the stream is at 905,000: 900 ms of log time after the call.
        m.finding(
            Finding::Exposure {
                app_id: 3,
                user_id: 7,
                photo_id: 100,
            },
            2_500,
            false,
        );
        let l = m.latency();
        assert_eq!(l.log_time.count, 2, "the exposure and its user");
        assert!((l.log_time.p50 - 900.0).abs() < 1.0, "{l:?}");
    }

    // Review of issue 20: on a dropped copy, a detector that found a user through a later
    // call (the truth's first one lost) was marked premature once another exposing call of
    // that user came, and failed `bench live` at every rate.
    #[test]
    fn a_finding_after_another_call_of_that_app_for_that_user_is_not_premature() {
        let mut t = truth();
        t.exposure_calls.insert((3, 7, 100), 1);
        // A second exposure of user 7, by app 4, whose call (event 9) comes later.
        t.exposures.insert((4, 7, 101));
        t.exposure_info.insert((4, 7, 101), (Surface::Draft, 9_000));
        t.exposure_calls.insert((4, 7, 101), 9);
        let mut m = Matcher::new(&t);
        // Event 1 was dropped; a later call of app 3 for user 7 (event 5) reveals photo 100.
        let mut later = call(7_000);
        later.row.event_id = 5;
        send(&mut m, &later, 1_000);
        m.finding(
            Finding::Exposure {
                app_id: 3,
                user_id: 7,
                photo_id: 100,
            },
            1_500,
            false,
        );
        let mut second = call(9_000);
        second.row.event_id = 9;
        second.row.app_id = 4;
        send(&mut m, &second, 2_000);
        assert_eq!(m.premature(), 0);
        let s = m.scores(true);
        assert_eq!((s.users.true_positives, s.users.false_positives), (1, 0));
        let e = s.exposures.unwrap();
        assert_eq!(
            (e.true_positives, e.false_positives, e.false_negatives),
            (1, 0, 1)
        );
    }

    // Review of issue 20: naming a pair's answers at its first successful call (long before
    // the exposing one) passed `bench live`; a call before the exposure's time reveals
    // nothing.
    #[test]
    fn a_call_before_the_exposure_happened_reveals_nothing() {
        let mut t = truth();
        t.exposure_calls.insert((3, 7, 100), 1);
        let mut m = Matcher::new(&t);
        let mut early_call = call(1_000);
        early_call.row.event_id = 0;
        send(&mut m, &early_call, 10);
        m.finding(
            Finding::Exposure {
                app_id: 3,
                user_id: 7,
                photo_id: 100,
            },
            20,
            false,
        );
        send(&mut m, &call(5_000), 1_000);
        assert_eq!(m.premature(), 1);
        let s = m.scores(true);
        assert_eq!(s.exposures.unwrap().f1, Some(0.0));
        assert_eq!(s.users.f1, Some(0.0));
    }

    #[test]
    fn a_finding_before_its_call_is_premature_and_wrong_ones_are_false_positives() {
        let mut m = Matcher::new(&truth());
        m.finding(Finding::User { user_id: 7 }, 10, false);
        m.finding(Finding::User { user_id: 8 }, 10, true);
        assert_eq!(m.after_end, 1);
        // User 8 is wrong. User 7's call never came: in a slice, naming 7 counts neither
        // way; in a whole replay (the call was dropped) 7 was found another way.
        assert_eq!(m.scores(false).users.false_positives, 1);
        assert_eq!(m.scores(true).users.true_positives, 1);
        send(&mut m, &call(5_000), 20);
        // Now it was sent, and 7 was named before it only: a false positive too.
        assert_eq!(m.premature(), 1);
        assert_eq!(m.scores(true).users.false_positives, 2);
        assert!(
            m.scores(true).exposures.is_none(),
            "not reported, not scored"
        );
    }

    #[test]
    fn a_slice_is_scored_against_the_truth_it_carried() {
        let mut t = truth();
        // A second exposure of user 8, whose call lies outside the slice and is never sent.
        t.exposures.insert((3, 8, 200));
        t.users.insert(8);
        t.exposure_info.insert((3, 8, 200), (Surface::Story, 9_000));
        let mut m = Matcher::new(&t);
        send(&mut m, &call(5_000), 0);
        for (user_id, photo_id) in [(7, 100), (8, 200), (9, 300)] {
            m.finding(
                Finding::Exposure {
                    app_id: 3,
                    user_id,
                    photo_id,
                },
                10,
                false,
            );
        }
        let s = m.scores(false);
        let e = s.exposures.unwrap();
        // (8, 200) is true but not carried: neither a hit nor a false positive; (9, 300) is.
        assert_eq!(
            (e.true_positives, e.false_positives, e.false_negatives),
            (1, 1, 0)
        );
        assert_eq!(s.truth_carried, (1, 1, 0));
        assert_eq!(s.truth_whole, (2, 2, 0));
    }

    // Issue 20 (the differential suite): on a dropped copy, an exposure whose first call
    // was lost and which a later call revealed was counted as neither found nor missed,
    // and the truth of lost calls vanished from the score; live differed from batch.
    #[test]
    fn a_whole_replay_of_a_damaged_copy_is_scored_against_the_whole_truth() {
        let mut t = truth();
        t.exposures.insert((3, 8, 200));
        t.users.insert(8);
        t.exposure_info.insert((3, 8, 200), (Surface::Story, 9_000));
        t.exposures.insert((3, 9, 300));
        t.users.insert(9);
        t.exposure_info.insert((3, 9, 300), (Surface::Draft, 9_500));
        let mut m = Matcher::new(&t);
        // User 7's call is sent; user 8's and 9's first calls were dropped. A later call of
        // user 8 revealed (8, 200); nobody found (9, 300).
        send(&mut m, &call(5_000), 0);
        for (user_id, photo_id) in [(7, 100), (8, 200)] {
            let f = Finding::Exposure {
                app_id: 3,
                user_id,
                photo_id,
            };
            m.finding(f, 10, false);
        }
        let e = m.scores(true).exposures.unwrap();
        assert_eq!(
            (e.true_positives, e.false_positives, e.false_negatives),
            (2, 0, 1),
            "as batch scores it"
        );
        assert_eq!(m.premature(), 0);
    }

    #[test]
    fn hgrm_is_hdrhistograms_format() {
        let mut h = histogram();
        for v in [1_000u64, 2_000, 200_000] {
            h.record(v).unwrap();
        }
        let text = hgrm(&h);
        assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)"));
        assert!(text.contains("#[Max     ="));
        assert!(text.contains("Total count    =            3"));
    }
}
