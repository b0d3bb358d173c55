//! The platform's deploys: a nightly release of the photo API and a few a working day across
//! its services, of which (in a world with an incident) the bug's introduction and its fix
//! are two.
//!
//! The schedule is drawn from a stream of its own (domain [`DEPLOYS`]), so adding it left
//! every user's draws, and so the traffic and the truth, as they were. Deploys are numbered
//! in log order from [`FIRST_DEPLOY_ID`]: an id says nothing about which deploy was the bug.

use blastradius_schema::Kind;
use blastradius_schema::time::{DAY, HOUR, MINUTE};

use crate::event::Event;
use crate::rng::{between, chance, entity_rng};
use crate::scenario::Timeline;

/// Domain of the deploy schedule's random stream.
pub const DEPLOYS: u64 = 4;

/// The id of the first deploy in log order; the others follow one by one.
pub const FIRST_DEPLOY_ID: u64 = 101;

/// The service the photo bug ships in (its introduction and its fix alike).
pub const BUG_SERVICE: &str = "photos-api";

/// The platform's services, which ordinary deploys pick from.
pub const SERVICES: &[&str] = &[
    "photos-api",
    "graph-api",
    "messaging-api",
    "feed",
    "auth",
    "search",
    "notifications",
    "ads",
];

/// What a deploy did to the photo bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BugChange {
    Introduced,
    Fixed,
}

impl BugChange {
    /// As written in `truth/bug_deploys.parquet`.
    pub fn as_str(self) -> &'static str {
        match self {
            BugChange::Introduced => "introduced",
            BugChange::Fixed => "fixed",
        }
    }
}

/// One deploy of the platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deploy {
    /// Its event id in the log, also its id in `deploys.parquet`.
    pub id: u64,
    pub ts: i64,
    pub service: &'static str,
    /// `Some` for the bug's two deploys.
    pub bug: Option<BugChange>,
}

impl Deploy {
    /// The deploy's row in the event log. In a discovery dataset every deploy is written as
    /// `deploy`; otherwise the bug's two say what they are (`bug_introduced`, `bug_fixed`).
    pub fn event(&self, discovery: bool) -> Event {
        let kind = match (self.bug, discovery) {
            (Some(BugChange::Introduced), false) => Kind::BugIntroduced,
            (Some(BugChange::Fixed), false) => Kind::BugFixed,
            _ => Kind::Deploy,
        };
        Event::new(kind, self.ts, self.id, 0)
    }

    /// The row the server model replays: the bug's deploys as what they are, whatever the
    /// log says.
    pub fn bug_event(&self) -> Option<Event> {
        let kind = match self.bug? {
            BugChange::Introduced => Kind::BugIntroduced,
            BugChange::Fixed => Kind::BugFixed,
        };
        Some(Event::new(kind, self.ts, self.id, 0))
    }
}

/// The deploys of a world over `timeline`, in log order. Every day at 00:00 UTC the photo
/// API ([`BUG_SERVICE`]) ships its nightly release; working days add two to five deploys
/// between 08:00 and 20:00 UTC at whole minutes, weekends one in three days a deploy. A world
/// with an incident ships the bug's two at the scenario's instants: at a nightly release's
/// instant, as that release (so that neither its time, its day nor its service sets it apart
/// from the other nightlies; every preset's bug comes and goes at midnight), else as a deploy
/// of its own, which a control world ships too, unmarked.
pub fn schedule(seed: u64, timeline: &Timeline, incident: bool) -> Vec<Deploy> {
    let mut rng = entity_rng(seed, DEPLOYS, 0);
    let mut times: Vec<(i64, &'static str, Option<BugChange>)> = Vec::new();
    let first_day = timeline.start.div_euclid(DAY);
    let last_day = (timeline.end - 1).div_euclid(DAY);
    for day in first_day..=last_day {
        if (timeline.start..timeline.end).contains(&(day * DAY)) {
            times.push((day * DAY, BUG_SERVICE, None));
        }
        // 1970-01-01 was a Thursday: day 2 (mod 7) is a Saturday, 3 a Sunday.
        let weekend = matches!(day.rem_euclid(7), 2 | 3);
        let n = match weekend {
            true => chance(&mut rng, 1.0 / 3.0) as i64,
            false => between(&mut rng, 2, 6),
        };
        for _ in 0..n {
            let ts = day * DAY + 8 * HOUR + between(&mut rng, 0, 12 * HOUR / MINUTE) * MINUTE;
            let service = SERVICES[between(&mut rng, 0, SERVICES.len() as i64) as usize];
            if (timeline.start..timeline.end).contains(&ts) {
                times.push((ts, service, None));
            }
        }
    }
    // The bug's instants carry a `photos-api` deploy in a control world too (an ordinary
    // one), so that both worlds have the same deploys, ids included, wherever a scenario
    // puts the bug.
    for (ts, change) in [
        (timeline.bug_introduced, BugChange::Introduced),
        (timeline.bug_fixed, BugChange::Fixed),
    ] {
        let at = times
            .iter()
            .position(|t| t.0 == ts && t.1 == BUG_SERVICE && t.2.is_none());
        let at = at.unwrap_or_else(|| {
            times.push((ts, BUG_SERVICE, None));
            times.len() - 1
        });
        if incident {
            times[at].2 = Some(change);
        }
    }
    // Whole minutes for the ordinary ones: a tie with a bug's instant keeps the bug second.
    times.sort_by_key(|&(ts, _, bug)| (ts, bug.is_some()));
    times
        .into_iter()
        .enumerate()
        .map(|(i, (ts, service, bug))| Deploy {
            id: FIRST_DEPLOY_ID + i as u64,
            ts,
            service,
            bug,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use blastradius_schema::time::parse_utc;

    fn timeline() -> Timeline {
        Timeline {
            start: parse_utc("2018-08-01T00:00:00Z").unwrap(),
            end: parse_utc("2018-11-01T00:00:00Z").unwrap(),
            bug_introduced: parse_utc("2018-09-13T10:00:00Z").unwrap(),
            bug_fixed: parse_utc("2018-09-25T16:00:00Z").unwrap(),
        }
    }

    #[test]
    fn a_few_deploys_a_working_day_and_the_bugs_two_among_them() {
        let t = timeline();
        let d = schedule(7, &t, true);
        assert_eq!(d, schedule(7, &t, true), "deterministic");
        assert_ne!(d, schedule(8, &t, true), "another seed, another schedule");
        let days = (t.end - t.start) as f64 / DAY as f64;
        let per_day = d.len() as f64 / days;
        assert!((3.0..5.0).contains(&per_day), "{per_day} a day");
        assert!(
            d.windows(2)
                .all(|w| (w[0].ts, w[0].id) < (w[1].ts, w[1].id))
        );
        assert!(
            d.iter()
                .enumerate()
                .all(|(i, x)| x.id == FIRST_DEPLOY_ID + i as u64)
        );
        assert!(d.iter().all(|x| (t.start..t.end).contains(&x.ts)));
        let bugs: Vec<_> = d.iter().filter(|x| x.bug.is_some()).collect();
        assert_eq!(bugs.len(), 2);
        assert_eq!(bugs[0].ts, t.bug_introduced);
        assert_eq!(bugs[0].bug, Some(BugChange::Introduced));
        assert_eq!(bugs[1].ts, t.bug_fixed);
        // Neither the first nor the last id: the ids do not point at the bug.
        assert!(bugs[0].id > FIRST_DEPLOY_ID + 10);
        // Every deploy is a nightly release or in working hours.
        let nightly = |x: &Deploy| x.ts.rem_euclid(DAY) == 0 && x.service == BUG_SERVICE;
        let day_time = |x: &Deploy| (8 * HOUR..20 * HOUR).contains(&x.ts.rem_euclid(DAY));
        assert!(d.iter().all(|x| nightly(x) || day_time(x)));
        assert_eq!(d.iter().filter(|x| nightly(x)).count() as f64, days);
    }

    /// In every preset the bug's deploys are nightly releases: nothing in `deploys.parquet`
    /// (time of day, second, weekday, service) tells them from the others.
    #[test]
    fn a_presets_bug_deploys_look_like_every_other_nightly_release() {
        for name in crate::scenario::PRESETS {
            let t = crate::scenario::Scenario::preset(name).unwrap().timeline();
            let d = schedule(2018, &t, true);
            let bugs: Vec<&Deploy> = d.iter().filter(|x| x.bug.is_some()).collect();
            assert_eq!(bugs.len(), 2, "{name}");
            for b in bugs {
                assert_eq!(
                    (b.ts.rem_euclid(DAY), b.service),
                    (0, BUG_SERVICE),
                    "{name}"
                );
            }
            // One deploy a midnight, the bug's included: none of them doubled.
            let midnights: Vec<i64> = d
                .iter()
                .filter(|x| x.ts.rem_euclid(DAY) == 0)
                .map(|x| x.ts)
                .collect();
            let mut unique = midnights.clone();
            unique.dedup();
            assert_eq!(midnights, unique, "{name}");
            // The control world has the very same deploys, ids included.
            let ids = |d: &[Deploy]| -> Vec<(u64, i64, &'static str)> {
                d.iter().map(|x| (x.id, x.ts, x.service)).collect()
            };
            assert_eq!(ids(&schedule(2018, &t, false)), ids(&d), "{name}");
        }
    }

    #[test]
    fn a_control_world_has_the_same_deploys_wherever_the_bug_is() {
        let t = timeline();
        let with = schedule(3, &t, true);
        let without = schedule(3, &t, false);
        let plain = |d: &[Deploy]| -> Vec<(u64, i64, &'static str)> {
            d.iter().map(|x| (x.id, x.ts, x.service)).collect()
        };
        assert_eq!(plain(&with), plain(&without));
        assert!(without.iter().all(|x| x.bug.is_none()));
        assert_eq!(with.iter().filter(|x| x.bug.is_some()).count(), 2);
    }

    #[test]
    fn a_discovery_log_does_not_mark_the_bug() {
        let d = schedule(1, &timeline(), true);
        let bug = d.iter().find(|x| x.bug.is_some()).unwrap();
        assert_eq!(bug.event(false).kind, Kind::BugIntroduced);
        assert_eq!(bug.event(true).kind, Kind::Deploy);
        assert_eq!(bug.bug_event().unwrap().kind, Kind::BugIntroduced);
        assert!(
            d.iter()
                .filter(|x| x.bug.is_none())
                .all(|x| x.event(false).kind == Kind::Deploy)
        );
    }
}
