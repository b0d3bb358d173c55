//! Scoring alarms: how soon, how often wrong, and how big the incident looked at first.

use std::collections::{BTreeMap, BTreeSet};

use blastradius_schema::time::{DAY, HOUR};
use serde::Serialize;

use super::alarms::Alarm;

/// The confidence thresholds of the time-to-detect curve.
pub const THRESHOLDS: &[f64] = &[0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99];

/// Hours after the incident's onset at which the early estimate is scored.
pub const ESTIMATE_HOURS: &[i64] = &[24, 72];

/// What the scorer knows of one incident of the world: the period, when the incident began,
/// what should be blamed, the final truth.
#[derive(Debug, Clone, Default)]
pub struct World {
    pub start: i64,
    pub end: i64,
    /// When the incident began: the bug's deploy, or the attack's first theft; `None` in a
    /// control world.
    pub onset: Option<i64>,
    /// The deploy an alarm should blame (`None`: there is none to blame in the period, as
    /// for the View-As attack, whose flaw shipped a year before it).
    pub culprit: Option<u64>,
    pub affected_users: BTreeSet<u64>,
    pub affected_apps: BTreeSet<u32>,
    /// Per affected user, when they were first exposed (empty when the truth does not say).
    pub first_exposed: BTreeMap<u64, i64>,
}

/// One row of the curve: alarms at or above `threshold`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct AtThreshold {
    pub threshold: f64,
    /// From the incident's onset to the first alarm after it (`None`: never, or a control
    /// world).
    pub time_to_detect_seconds: Option<f64>,
    /// Whether that first alarm blamed the culprit deploy (`None`: there is none).
    pub attributed: Option<bool>,
    /// Alarms where nothing was wrong: the whole period of a control world, or up to the
    /// onset (one at its very instant included).
    pub false_alarms: u64,
    pub false_alarms_per_day: Option<f64>,
    /// Alarms after the onset.
    pub alarms_after: u64,
}

/// The early estimate of the blast radius: the users and apps named by the alarms fired from
/// the onset up to `hours` after it, against the final truth.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Estimate {
    pub hours: i64,
    pub users_named: u64,
    pub user_precision: Option<f64>,
    /// Against every user the incident ever affected (the final truth).
    pub user_recall: Option<f64>,
    /// Users already exposed by then, and the share of them named: the most an estimate at
    /// that hour could know.
    pub users_exposed_by_then: u64,
    pub user_recall_of_exposed: Option<f64>,
    pub apps_named: u64,
    pub app_precision: Option<f64>,
    pub app_recall: Option<f64>,
}

/// Everything the score says of one detector's alarms.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct DiscoveryScore {
    pub alarms: u64,
    pub control: bool,
    /// Days over which false alarms were counted.
    pub quiet_days: f64,
    pub curve: Vec<AtThreshold>,
    pub estimates: Vec<Estimate>,
}

/// The few numbers of a score a table has room for: time to detect, blame and false alarms
/// at any confidence and at 0.5 or more, and the 24 h estimate.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Headline {
    pub alarms: u64,
    pub time_to_detect_seconds: Option<f64>,
    pub time_to_detect_at_half_seconds: Option<f64>,
    pub attributed: Option<bool>,
    pub false_alarms_per_day: Option<f64>,
    pub false_alarms_per_day_at_half: Option<f64>,
    pub estimate_24h_user_precision: Option<f64>,
    pub estimate_24h_recall_of_exposed: Option<f64>,
}

impl Headline {
    pub fn of(s: &DiscoveryScore) -> Self {
        let at = |t: f64| s.curve.iter().find(|c| c.threshold == t);
        let e = s.estimates.iter().find(|e| e.hours == 24);
        Headline {
            alarms: s.alarms,
            time_to_detect_seconds: at(0.0).and_then(|c| c.time_to_detect_seconds),
            time_to_detect_at_half_seconds: at(0.5).and_then(|c| c.time_to_detect_seconds),
            attributed: at(0.0).and_then(|c| c.attributed),
            false_alarms_per_day: at(0.0).and_then(|c| c.false_alarms_per_day),
            false_alarms_per_day_at_half: at(0.5).and_then(|c| c.false_alarms_per_day),
            estimate_24h_user_precision: e.and_then(|e| e.user_precision),
            estimate_24h_recall_of_exposed: e.and_then(|e| e.user_recall_of_exposed),
        }
    }

    /// The columns of [`Self::soon`]: how soon.
    pub const SOON: [&'static str; 3] = ["time to detect", "time to detect at ≥ 0.5", "blamed"];

    /// The columns of [`Self::wrong`]: how often wrong, and how big it looked at first.
    pub const WRONG: [&'static str; 4] = [
        "false alarms/day",
        "false alarms/day at ≥ 0.5",
        "24 h users P",
        "24 h recall of exposed",
    ];

    /// Whether the first alarm blamed the culprit, in words.
    pub fn blamed(&self) -> String {
        self.attributed
            .map_or("–", |a| if a { "yes" } else { "no" })
            .into()
    }

    /// The cells of [`Self::SOON`].
    pub fn soon(&self) -> Vec<String> {
        vec![
            super::duration(self.time_to_detect_seconds),
            super::duration(self.time_to_detect_at_half_seconds),
            self.blamed(),
        ]
    }

    /// The cells of [`Self::WRONG`].
    pub fn wrong(&self) -> Vec<String> {
        let f = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.2}"));
        vec![
            f(self.false_alarms_per_day),
            f(self.false_alarms_per_day_at_half),
            f(self.estimate_24h_user_precision),
            f(self.estimate_24h_recall_of_exposed),
        ]
    }
}

fn ratio(a: usize, b: usize) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// Scores `alarms` against `world`.
pub fn score(alarms: &[Alarm], world: &World) -> DiscoveryScore {
    // On a control world every alarm is false, even one dated past the period's end; the
    // rate is per day of the period.
    let quiet_until = world.onset.unwrap_or(i64::MAX);
    // Up to the onset, within the period scored (a live slice may end before the onset).
    let quiet_until_end = world
        .onset
        .unwrap_or(world.end)
        .min(world.end)
        .max(world.start);
    let quiet_days = (quiet_until_end - world.start).max(0) as f64 / DAY as f64;
    let curve = THRESHOLDS
        .iter()
        .map(|&threshold| {
            let over: Vec<&Alarm> = alarms
                .iter()
                .filter(|a| a.confidence >= threshold)
                .collect();
            // An alarm at the deploy's own instant has seen nothing the deploy did: false.
            let false_alarms = over.iter().filter(|a| a.fired_ts <= quiet_until).count() as u64;
            let after: Vec<&&Alarm> = match world.onset {
                Some(t) => over.iter().filter(|a| a.fired_ts > t).collect(),
                None => Vec::new(),
            };
            let first = after.iter().min_by_key(|a| a.fired_ts);
            AtThreshold {
                threshold,
                time_to_detect_seconds: world
                    .onset
                    .zip(first)
                    .map(|(t, a)| (a.fired_ts - t) as f64 / 1e6),
                attributed: world
                    .culprit
                    .zip(first)
                    .map(|(id, a)| a.deploy_id == Some(id)),
                false_alarms,
                false_alarms_per_day: (quiet_days > 0.0).then(|| false_alarms as f64 / quiet_days),
                alarms_after: after.len() as u64,
            }
        })
        .collect();
    let estimates = match world.onset {
        None => Vec::new(),
        Some(t) => ESTIMATE_HOURS
            .iter()
            .map(|&hours| {
                let named = alarms
                    .iter()
                    .filter(|a| a.fired_ts > t && a.fired_ts <= t + hours * HOUR);
                let users: BTreeSet<u64> = named.clone().flat_map(|a| a.users.clone()).collect();
                let apps: BTreeSet<u32> = named.flat_map(|a| a.apps.clone()).collect();
                let right_users = users.intersection(&world.affected_users).count();
                let right_apps = apps.intersection(&world.affected_apps).count();
                let until = t + hours * HOUR;
                let exposed: BTreeSet<u64> = world
                    .first_exposed
                    .iter()
                    .filter(|(_, ts)| **ts <= until)
                    .map(|(u, _)| *u)
                    .collect();
                Estimate {
                    hours,
                    users_named: users.len() as u64,
                    user_precision: ratio(right_users, users.len()),
                    user_recall: ratio(right_users, world.affected_users.len()),
                    users_exposed_by_then: exposed.len() as u64,
                    user_recall_of_exposed: ratio(
                        users.intersection(&exposed).count(),
                        exposed.len(),
                    ),
                    apps_named: apps.len() as u64,
                    app_precision: ratio(right_apps, apps.len()),
                    app_recall: ratio(right_apps, world.affected_apps.len()),
                }
            })
            .collect(),
    };
    DiscoveryScore {
        alarms: alarms.len() as u64,
        control: world.onset.is_none(),
        quiet_days,
        curve,
        estimates,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm(ts: i64, confidence: f64, deploy: Option<u64>, users: &[u64]) -> Alarm {
        Alarm {
            fired_ts: ts,
            confidence,
            deploy_id: deploy,
            users: users.to_vec(),
            apps: vec![1],
        }
    }

    fn world() -> World {
        World {
            start: 0,
            end: 30 * DAY,
            onset: Some(10 * DAY),
            culprit: Some(42),
            affected_users: [1, 2, 3, 4].into_iter().collect(),
            affected_apps: [1, 2].into_iter().collect(),
            // Users 1 and 2 exposed on the first day, 3 on the third, 4 late.
            first_exposed: [
                (1, 10 * DAY + 1),
                (2, 10 * DAY + HOUR),
                (3, 12 * DAY),
                (4, 20 * DAY),
            ]
            .into_iter()
            .collect(),
        }
    }

    #[test]
    fn time_to_detect_false_alarms_attribution_and_the_early_estimate() {
        let alarms = vec![
            alarm(2 * DAY, 0.5, Some(40), &[9]), // before the bug: false
            alarm(10 * DAY + 60_000_000, 0.25, Some(42), &[1, 9]), // a minute after, low
            alarm(10 * DAY + HOUR, 0.9, Some(41), &[2]), // an hour after, sure, wrong deploy
            alarm(12 * DAY, 0.99, Some(42), &[3]), // two days after
        ];
        let s = score(&alarms, &world());
        let at = |t: f64| s.curve.iter().find(|c| c.threshold == t).unwrap().clone();
        assert_eq!(at(0.0).time_to_detect_seconds, Some(60.0));
        assert_eq!(at(0.0).attributed, Some(true));
        assert_eq!(at(0.0).false_alarms, 1);
        assert_eq!(at(0.0).false_alarms_per_day, Some(0.1));
        assert_eq!(at(0.0).alarms_after, 3);
        assert_eq!(at(0.5).time_to_detect_seconds, Some(3_600.0));
        assert_eq!(at(0.5).attributed, Some(false));
        assert_eq!(at(0.99).time_to_detect_seconds, Some(2.0 * 86_400.0));
        assert_eq!(at(0.75).false_alarms, 0, "the false alarm was at 0.5");
        // An alarm at the deploy's very instant saw nothing of it: a false one.
        let at_deploy = score(&[alarm(10 * DAY, 0.5, Some(42), &[1])], &world());
        assert_eq!(at_deploy.curve[0].false_alarms, 1);
        assert_eq!(at_deploy.curve[0].time_to_detect_seconds, None);
        assert_eq!(at_deploy.estimates[0].users_named, 0);
        let e24 = &s.estimates[0];
        assert_eq!((e24.hours, e24.users_named), (24, 3)); // 1, 9, 2
        assert_eq!(e24.user_precision, Some(2.0 / 3.0));
        assert_eq!(e24.user_recall, Some(0.5));
        assert_eq!(e24.app_recall, Some(0.5));
        assert_eq!(e24.users_exposed_by_then, 2);
        assert_eq!(e24.user_recall_of_exposed, Some(1.0));
        let e72 = &s.estimates[1];
        assert_eq!(e72.user_recall, Some(0.75));
    }

    #[test]
    fn on_a_control_world_every_alarm_is_false() {
        let w = World {
            onset: None,
            culprit: None,
            ..world()
        };
        let s = score(
            &[alarm(DAY, 0.3, None, &[]), alarm(40 * DAY, 0.3, None, &[])],
            &w,
        );
        assert!(s.control && s.estimates.is_empty());
        assert_eq!(s.curve[0].false_alarms, 2, "one past the period's end too");
        assert_eq!(s.curve[0].false_alarms_per_day, Some(2.0 / 30.0));
        assert_eq!(s.curve[0].time_to_detect_seconds, None);
        assert_eq!(s.curve[3].false_alarms, 0);
        // A period cut to nothing (a live replay that stopped before sending any event):
        // no day to divide by, and no overflow.
        let empty = World {
            start: 5 * DAY,
            end: 0,
            ..w.clone()
        };
        let s0 = score(&[alarm(0, 0.3, None, &[])], &empty);
        assert_eq!(
            (s0.quiet_days, s0.curve[0].false_alarms_per_day),
            (0.0, None)
        );
        // No alarm at all: nothing detected, nothing false.
        let s = score(&[], &world());
        assert!(
            s.curve
                .iter()
                .all(|c| c.time_to_detect_seconds.is_none() && c.false_alarms == 0)
        );
    }
}
