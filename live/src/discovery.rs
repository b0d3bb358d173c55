//! Discovery under live replay: the alarms a detector sends on the findings connection
//! (`{"alarm":{...}}`, data/README §14), timed by when they came. Plain code: the replay
//! hands it what it sent and what came back.
//!
//! An alarm is dated by the log time the stream had reached when it came (the latest event
//! sent by then), never by what it claims, and is then scored exactly as a batch alarm with
//! that `fired_ts` ([`score`]): time to detect in log time, false alarms, blame, the early
//! estimate. Wall time to detect runs from the **intended** send time of the incident's
//! first event (the bug's deploy row; the View-As attack's first theft) to the arrival of
//! the alarm that detected it, so a replayer that fell behind cannot hide the delay.

use blastradius_analyzer::discover::Incident;
use blastradius_analyzer::discover::alarms::Alarm;
use blastradius_analyzer::discover::score::{self, DiscoveryScore, THRESHOLDS, World};
use serde::Serialize;

use crate::wire::WireAlarm;

/// When each incident's first event was due to be sent.
#[derive(Clone, Debug, Default)]
pub struct Onsets {
    /// `(incident, onset log time, its row's event id if known)` not yet reached by the
    /// schedule. A row known by id is waited for by id: a row whose clock runs ahead (a
    /// skewed copy) must not stand in for it.
    pending: Vec<(Incident, i64, Option<u64>)>,
    /// `(incident, intended send time in µs after the start)`.
    due: Vec<(Incident, i64)>,
}

impl Onsets {
    /// Watches for the incidents' onsets `(incident, log time, event id if known)`.
    pub fn new(onsets: Vec<(Incident, i64, Option<u64>)>) -> Self {
        Onsets {
            pending: onsets,
            due: Vec::new(),
        }
    }

    /// The schedule gave the event `event_id` at log time `at` the send time `due`.
    #[inline]
    pub fn scheduled(&mut self, at: i64, event_id: u64, due: i64) {
        let reached = |p: &(Incident, i64, Option<u64>)| match p.2 {
            Some(id) => id == event_id,
            None => p.1 <= at,
        };
        if self.pending.iter().any(reached) {
            let (now, pending): (Vec<_>, Vec<_>) = self.pending.iter().partition(|p| reached(p));
            self.pending = pending;
            self.due.extend(now.into_iter().map(|p| (p.0, due)));
        }
    }

    /// The intended send time of `incident`'s first event, if the stream reached it.
    pub fn due(&self, incident: Incident) -> Option<i64> {
        self.due.iter().find(|d| d.0 == incident).map(|d| d.1)
    }
}

/// An alarm as it came.
#[derive(Clone, Debug)]
pub struct Received {
    pub alarm: WireAlarm,
    /// The log time of the latest event sent when it came.
    pub log_ts: i64,
    /// When it came, µs after the replay's start.
    pub received: i64,
}

/// The wall time to detect at one threshold.
#[derive(Clone, Debug, Serialize)]
pub struct WallAt {
    pub threshold: f64,
    /// From the intended send time of the incident's first event to the arrival of the first
    /// alarm at or above the threshold dated after it; `None`: none came.
    pub seconds: Option<f64>,
    /// The same alarm's own `fired_ts` less the onset, in log time (`None`: it gave none):
    /// what it claims, beside what the stream shows.
    pub claimed_seconds: Option<f64>,
}

/// One incident's alarms under live replay.
#[derive(Clone, Debug, Serialize)]
pub struct LiveDiscovery {
    pub incident: Incident,
    /// The alarms as `score` scores a batch folder, each dated by the log time reached when
    /// it came; `None` when the dataset has no truth to score against.
    pub score: Option<DiscoveryScore>,
    pub wall: Vec<WallAt>,
    /// When the incident's first event was due, seconds after the start (`None`: a control
    /// world, or a slice that ends before it).
    pub onset_due_seconds: Option<f64>,
    /// Alarms whose own `fired_ts` is later than the log time the stream had reached when
    /// they came: they claim to have seen events not yet sent.
    pub claims_ahead_of_stream: u64,
    /// Alarms naming a user the dataset does not have (counted wrong in the estimate).
    pub unknown_users: u64,
    /// The folder under the report's `--out` that holds the alarms as dated here, which
    /// `score DATASET FOLDER` scores again.
    pub folder: String,
    #[serde(skip)]
    pub dated: Vec<Alarm>,
}

/// Scores the `received` alarms about each incident present among them; `world_of` gives
/// an incident's world (`None`: no truth).
pub fn score_all(
    received: &[Received],
    onsets: &Onsets,
    users: u64,
    world_of: impl Fn(Incident) -> Option<World>,
) -> Vec<LiveDiscovery> {
    let mut incidents: Vec<Incident> = received.iter().map(|r| r.alarm.incident).collect();
    incidents.sort();
    incidents.dedup();
    incidents
        .into_iter()
        .map(|incident| {
            let mine: Vec<&Received> = received
                .iter()
                .filter(|r| r.alarm.incident == incident)
                .collect();
            let world = world_of(incident);
            let due = onsets.due(incident);
            let onset = world.as_ref().and_then(|w| w.onset);
            let alarms: Vec<Alarm> = mine
                .iter()
                .map(|r| Alarm {
                    fired_ts: r.log_ts,
                    confidence: r.alarm.confidence,
                    deploy_id: r.alarm.deploy_id,
                    users: r.alarm.users.clone(),
                    apps: r.alarm.apps.clone(),
                })
                .collect();
            let wall = THRESHOLDS
                .iter()
                .map(|&threshold| {
                    let first = onset.and_then(|t| {
                        mine.iter()
                            .filter(|r| r.alarm.confidence >= threshold && r.log_ts > t)
                            .min_by_key(|r| r.received)
                    });
                    WallAt {
                        threshold,
                        seconds: first
                            .zip(due)
                            .map(|(r, due)| (r.received - due).max(0) as f64 / 1e6),
                        claimed_seconds: first
                            .zip(onset)
                            .and_then(|(r, t)| r.alarm.fired_ts.map(|f| (f - t) as f64 / 1e6)),
                    }
                })
                .collect();
            LiveDiscovery {
                incident,
                score: world.as_ref().map(|w| score::score(&alarms, w)),
                unknown_users: mine
                    .iter()
                    .filter(|r| r.alarm.users.iter().any(|&u| u >= users))
                    .count() as u64,
                folder: format!("alarms-{}", incident.as_str()),
                dated: alarms,
                wall,
                onset_due_seconds: due.map(|d| d as f64 / 1e6),
                claims_ahead_of_stream: mine
                    .iter()
                    .filter(|r| r.alarm.fired_ts.is_some_and(|f| f > r.log_ts))
                    .count() as u64,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use blastradius_schema::time::{DAY, HOUR};

    fn got(confidence: f64, log_ts: i64, received: i64, claimed: i64) -> Received {
        Received {
            alarm: WireAlarm {
                incident: Incident::PhotoBug,
                confidence,
                deploy_id: Some(42),
                users: vec![1],
                apps: vec![1],
                fired_ts: Some(claimed),
            },
            log_ts,
            received,
        }
    }

    #[test]
    fn alarms_are_dated_by_the_stream_and_timed_from_the_onsets_intended_send_time() {
        let world = World {
            start: 0,
            end: 30 * DAY,
            onset: Some(10 * DAY),
            culprit: Some(42),
            affected_users: [1].into_iter().collect(),
            affected_apps: [1].into_iter().collect(),
            first_exposed: [(1, 10 * DAY + 1)].into_iter().collect(),
        };
        let mut onsets = Onsets::new(vec![(Incident::PhotoBug, 10 * DAY, Some(42))]);
        onsets.scheduled(9 * DAY, 1, 1_000_000);
        // A row whose clock runs ahead is not the deploy.
        onsets.scheduled(10 * DAY + 5, 2, 2_000_000);
        assert_eq!(onsets.due(Incident::PhotoBug), None);
        onsets.scheduled(10 * DAY, 42, 5_000_000);
        onsets.scheduled(10 * DAY + 1, 3, 6_000_000);
        assert_eq!(onsets.due(Incident::PhotoBug), Some(5_000_000));
        // Known by time alone (the View-As attack's first theft): the first row at or after it.
        let mut by_time = Onsets::new(vec![(Incident::ViewAs, 10 * DAY, None)]);
        by_time.scheduled(9 * DAY, 1, 1);
        by_time.scheduled(10 * DAY, 2, 7);
        by_time.scheduled(10 * DAY, 3, 8);
        assert_eq!(by_time.due(Incident::ViewAs), Some(7));
        let received = vec![
            // Before the deploy was sent: false, whatever it claims.
            got(0.5, 2 * DAY, 500_000, 2 * DAY),
            // A minute of log time after, 2.5 s of wall time after the deploy was due.
            got(0.5, 10 * DAY + 60_000_000, 7_500_000, 10 * DAY + 60_000_000),
            // Sure, later; it claims a log time the stream had not reached.
            got(0.9, 10 * DAY + HOUR, 9_000_000, 11 * DAY),
        ];
        let s = score_all(&received, &onsets, 10, |_| Some(world.clone()));
        assert_eq!(s.len(), 1);
        let d = &s[0];
        let score = d.score.as_ref().unwrap();
        assert_eq!(score.curve[0].time_to_detect_seconds, Some(60.0));
        assert_eq!(score.curve[0].false_alarms, 1);
        assert_eq!(d.wall[0].seconds, Some(2.5));
        assert_eq!(d.wall[0].claimed_seconds, Some(60.0));
        let at = |t: f64| d.wall.iter().find(|w| w.threshold == t).unwrap().seconds;
        assert_eq!(at(0.9), Some(4.0));
        assert_eq!(at(0.99), None);
        assert_eq!(d.onset_due_seconds, Some(5.0));
        assert_eq!(d.claims_ahead_of_stream, 1);
        // No truth: timed alarms, no score; no alarm of an incident: no entry.
        let s = score_all(&received, &onsets, 10, |_| None);
        assert!(s[0].score.is_none() && s[0].wall.iter().all(|w| w.seconds.is_none()));
        assert!(score_all(&[], &onsets, 10, |_| Some(world.clone())).is_empty());
    }
}
