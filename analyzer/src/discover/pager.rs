//! When suspicious observations become pages: a rate against its own recent past.
//!
//! A healthy platform under damage (lost events, clocks that disagree) makes a steady trickle
//! of calls that look wrong; an access-control bug makes a step. The pager counts the
//! distinct suspected users of the last hour against the hourly mean of the day before, and
//! turns the excess into a confidence. It pages when the confidence first reaches one of
//! [`LEVELS`] in an episode, when it climbs to a higher level, and again after an hour's
//! quiet for fresh evidence. Each page carries the users and apps suspected since the last
//! page, and blames the deploy its caller names for the oldest observation of the last hour
//! (the built-in detectors: the photo API's latest deploy at or before it).

use std::collections::{BTreeSet, HashMap, VecDeque};

use blastradius_schema::time::HOUR;

use super::alarms::Alarm;

/// The confidences at which a page goes out (each a row of the score's curve).
pub const LEVELS: &[f64] = &[0.1, 0.25, 0.5, 0.75, 0.9, 0.99];

/// Hours of history the baseline rate is the mean of.
const BASELINE_HOURS: usize = 24;

/// Turns a stream of suspicious observations, in log order, into pages.
#[derive(Debug, Default)]
pub struct Pager {
    /// The last hour's observations `(ts, user)`, oldest first, and per user how many.
    recent: VecDeque<(i64, u64)>,
    in_window: HashMap<u64, u32>,
    /// Distinct suspected users per complete hour, the newest last (at most a day).
    hourly: VecDeque<u64>,
    hour: Option<i64>,
    this_hour: BTreeSet<u64>,
    last_page: Option<(i64, usize)>,
    pending_users: BTreeSet<u64>,
    pending_apps: BTreeSet<u32>,
}

impl Pager {
    /// Takes in one suspicious observation at log time `ts` (not before the last one) of
    /// `user` through `app`; `deploy_at` names the latest deploy at or before a log time.
    /// Returns the page it sends, if any.
    pub fn observe(
        &mut self,
        ts: i64,
        user: u64,
        app: u32,
        deploy_at: impl Fn(i64) -> Option<u64>,
    ) -> Option<Alarm> {
        self.roll_hours(ts);
        self.this_hour.insert(user);
        while let Some(&(t, u)) = self.recent.front() {
            if t > ts - HOUR {
                break;
            }
            self.recent.pop_front();
            if let Some(n) = self.in_window.get_mut(&u) {
                *n -= 1;
                if *n == 0 {
                    self.in_window.remove(&u);
                }
            }
        }
        self.recent.push_back((ts, user));
        *self.in_window.entry(user).or_default() += 1;
        self.pending_users.insert(user);
        self.pending_apps.insert(app);

        let confidence = confidence(self.in_window.len() as f64, self.baseline());
        let level = LEVELS.iter().rposition(|&l| confidence >= l)?;
        let page = match self.last_page {
            None => true,
            Some((t, l)) => ts - t >= HOUR || level > l,
        };
        if !page {
            return None;
        }
        self.last_page = Some((ts, level));
        let oldest = self.recent.front().map_or(ts, |r| r.0);
        Some(Alarm {
            fired_ts: ts,
            confidence,
            deploy_id: deploy_at(oldest),
            users: std::mem::take(&mut self.pending_users)
                .into_iter()
                .collect(),
            apps: std::mem::take(&mut self.pending_apps).into_iter().collect(),
        })
    }

    /// Closes the complete hours before `ts` into the baseline.
    fn roll_hours(&mut self, ts: i64) {
        let hour = ts.div_euclid(HOUR);
        let Some(current) = self.hour else {
            self.hour = Some(hour);
            return;
        };
        if hour == current {
            return;
        }
        self.hourly.push_back(self.this_hour.len() as u64);
        self.this_hour.clear();
        // Hours with no observation at all count as zeros.
        let quiet = (hour - current - 1).clamp(0, BASELINE_HOURS as i64) as usize;
        self.hourly.extend(std::iter::repeat_n(0, quiet));
        while self.hourly.len() > BASELINE_HOURS {
            self.hourly.pop_front();
        }
        self.hour = Some(hour);
    }

    /// The mean distinct suspected users per hour over the last day (0 with no history).
    fn baseline(&self) -> f64 {
        match self.hourly.len() {
            0 => 0.0,
            n => self.hourly.iter().sum::<u64>() as f64 / n as f64,
        }
    }
}

/// How sure a rate of `now` distinct suspects in the last hour makes us, against a usual
/// `baseline` per hour: each excess suspect beyond the usual (scaled by the baseline's own
/// Poisson spread) halves the doubt. With no baseline, one suspect gives 0.5, two 0.75.
pub fn confidence(now: f64, baseline: f64) -> f64 {
    let excess = (now - baseline).max(0.0) / (1.0 + baseline.sqrt());
    1.0 - 0.5f64.powf(excess)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy(ts: i64) -> Option<u64> {
        (ts >= 100).then_some(7)
    }

    #[test]
    fn one_suspect_on_a_quiet_platform_pages_and_more_escalate() {
        let mut p = Pager::default();
        let a = p
            .observe(1_000, 5, 2, deploy)
            .expect("the first suspect pages");
        assert_eq!(a.confidence, 0.5);
        assert_eq!(
            (a.users.clone(), a.apps.clone(), a.deploy_id),
            (vec![5], vec![2], Some(7))
        );
        // The same user again adds nothing: no new level, no page.
        assert!(p.observe(2_000, 5, 2, deploy).is_none());
        // A second user: 0.75, a higher level: a page with the suspects seen since the last.
        let b = p.observe(3_000, 6, 3, deploy).unwrap();
        assert_eq!(b.confidence, 0.75);
        assert_eq!(b.users, vec![5, 6]);
        assert_eq!(b.apps, vec![2, 3]);
        // Nothing new for an hour. The first hour (two suspects) is now the baseline, so one
        // more suspect in the last hour is not enough; a second is, at a lower level than
        // the last page: paged anew, since the last page is an hour old.
        assert!(p.observe(3_000 + HOUR / 2, 6, 3, deploy).is_none());
        assert!(p.observe(3_000 + HOUR + 1, 8, 3, deploy).is_none());
        let c = (9..12)
            .find_map(|u| p.observe(3_000 + HOUR + 2, u, 3, deploy))
            .unwrap();
        assert!(c.fired_ts > b.fired_ts + HOUR);
        assert!(
            c.confidence >= 0.1 && c.confidence < 0.5,
            "{}",
            c.confidence
        );
        assert_eq!(c.users, vec![6, 8, 9]);
    }

    #[test]
    fn a_steady_trickle_stops_paging_once_it_is_the_baseline_and_a_step_pages() {
        let mut p = Pager::default();
        let mut pages = Vec::new();
        // Ten new suspects an hour for three days: a damaged but healthy platform.
        let mut user = 0;
        for hour in 0..72i64 {
            for k in 0..10 {
                user += 1;
                if let Some(a) = p.observe(hour * HOUR + k * HOUR / 10, user, 1, |_| None) {
                    pages.push((hour, a.confidence));
                }
            }
        }
        let late: Vec<_> = pages.iter().filter(|(h, _)| *h >= 26).collect();
        assert!(
            late.iter().all(|(_, c)| *c < 0.5),
            "once learned, the trickle never pages at 0.5: {late:?}"
        );
        // Then a step: 60 suspects in ten minutes.
        let mut top: f64 = 0.0;
        for k in 0..60 {
            user += 1;
            if let Some(a) = p.observe(72 * HOUR + k * 10_000_000, user, 1, |_| None) {
                top = top.max(a.confidence);
            }
        }
        assert!(top >= 0.99, "the step pages at the top level: {top}");
    }

    #[test]
    fn confidence_grows_with_the_excess_over_the_baseline() {
        assert_eq!(confidence(0.0, 0.0), 0.0);
        assert_eq!(confidence(1.0, 0.0), 0.5);
        assert_eq!(confidence(10.0, 10.0), 0.0);
        assert!(confidence(20.0, 10.0) > confidence(15.0, 10.0));
        assert!(confidence(1_000.0, 10.0) > 0.999);
    }
}
