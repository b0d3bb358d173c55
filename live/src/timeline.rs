//! What happened when, over a replay's wall time: events the schedule asked for and events
//! sent, how far behind schedule, and how late each first detection came. A stall in the
//! middle of a run shows here as an event in time, where the percentiles hide it.
//!
//! Plain code: the replayer records into it as chunks go out, the matcher as detections
//! come back; [`Timeline::points`] gives the report's series.

use serde::Serialize;

/// Width of a bin while recording, in µs of wall time.
const BIN_US: i64 = 100_000;
/// The report's series hold at most this many points (neighbouring bins are merged).
pub const MAX_POINTS: usize = 240;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Bin {
    /// Events the schedule asked for in the bin (by their intended send time).
    intended: u64,
    /// Events sent in the bin (by when their chunk was written).
    sent: u64,
    /// The most any chunk written in the bin was behind schedule, µs.
    lag_max: i64,
    /// First detections received in the bin, and the latest of them, µs.
    detections: u64,
    latency_max: i64,
}

impl Bin {
    fn merge(&mut self, o: &Bin) {
        self.intended += o.intended;
        self.sent += o.sent;
        self.lag_max = self.lag_max.max(o.lag_max);
        self.detections += o.detections;
        self.latency_max = self.latency_max.max(o.latency_max);
    }
}

/// The record, bin by bin.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    bins: Vec<Bin>,
    /// The latest time recorded, µs: where the last bin ends.
    end: i64,
    /// The bins up to this one hold the lag of every chunk written so far (see
    /// [`Timeline::sent`]).
    lag_done: usize,
}

/// One point of the report's series.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    /// The bin's start, seconds of wall time since the replay began, and the seconds it
    /// covers (the last one may be shorter).
    pub t_s: f64,
    pub width_s: f64,
    /// Events per second the schedule asked for in the bin, and that were sent.
    pub intended_per_s: f64,
    pub sent_per_s: f64,
    /// The most the replay was behind schedule in the bin, ms.
    pub lag_max_ms: f64,
    /// First detections received in the bin, and the latest of them (ms from the call's
    /// intended send time); `None` when none came.
    pub detections: u64,
    pub latency_max_ms: Option<f64>,
}

impl Timeline {
    fn bin(&mut self, at_us: i64) -> &mut Bin {
        self.end = self.end.max(at_us);
        let i = (at_us.max(0) / BIN_US) as usize;
        if self.bins.len() <= i {
            self.bins.resize(i + 1, Bin::default());
        }
        &mut self.bins[i]
    }

    /// A chunk of `events` due at `due_us` was written at `now_us` (both from the start).
    /// From its due time until it went out the replay was behind by the time since: every
    /// bin in between holds that lag (at its end), so a stall shows while it lasts, not only
    /// when it ends. Chunks come in schedule order, so the earliest one still waiting
    /// decides a bin: each bin is settled once.
    pub fn sent(&mut self, events: u64, due_us: i64, now_us: i64) {
        self.bin(due_us).intended += events;
        self.bin(now_us).sent += events;
        if now_us <= due_us {
            return;
        }
        let (first, last) = (
            (due_us.max(0) / BIN_US) as usize,
            (now_us / BIN_US) as usize,
        );
        for i in first.max(self.lag_done)..=last {
            let bin_end = (i as i64 + 1) * BIN_US;
            let lag = bin_end.min(now_us) - due_us;
            let b = &mut self.bins[i];
            b.lag_max = b.lag_max.max(lag);
        }
        self.lag_done = self.lag_done.max(last);
    }

    /// A first detection received at `received_us`, `latency_us` after its call was due.
    pub fn detection(&mut self, received_us: i64, latency_us: i64) {
        let b = self.bin(received_us);
        b.detections += 1;
        b.latency_max = b.latency_max.max(latency_us);
    }

    /// Adds what `other` recorded (the matcher's detections to the replayer's sends).
    pub fn merge(&mut self, other: &Timeline) {
        if self.bins.len() < other.bins.len() {
            self.bins.resize(other.bins.len(), Bin::default());
        }
        for (a, b) in self.bins.iter_mut().zip(&other.bins) {
            a.merge(b);
        }
        self.end = self.end.max(other.end);
    }

    /// The series, at most [`MAX_POINTS`] points: bins merged in groups of a whole number,
    /// rates per second of the time each point covers (the last bin ends with the last thing
    /// recorded, so a short tail does not read as a drop).
    pub fn points(&self) -> Vec<Point> {
        let group = self.bins.len().div_ceil(MAX_POINTS).max(1);
        let n = self.bins.len();
        // The last bin's width: up to the last time recorded (at least 1 ms).
        let width_us = |i: usize| match i + 1 == n {
            true => (self.end - i as i64 * BIN_US).clamp(1_000, BIN_US),
            false => BIN_US,
        };
        self.bins
            .chunks(group)
            .enumerate()
            .map(|(k, bins)| {
                let mut b = Bin::default();
                bins.iter().for_each(|x| b.merge(x));
                let first = k * group;
                let width_s = (first..first + bins.len()).map(width_us).sum::<i64>() as f64 / 1e6;
                Point {
                    t_s: (first as i64 * BIN_US) as f64 / 1e6,
                    width_s,
                    intended_per_s: b.intended as f64 / width_s,
                    sent_per_s: b.sent as f64 / width_s,
                    lag_max_ms: b.lag_max.max(0) as f64 / 1000.0,
                    detections: b.detections,
                    latency_max_ms: (b.detections > 0).then(|| b.latency_max as f64 / 1000.0),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_shows_where_it_happened() {
        let mut t = Timeline::default();
        // 1,000 events due every 100 ms for 5 s; the chunks due from 2.0 s go out 3 s late.
        for k in 0..50 {
            let due = k * BIN_US;
            let now = if k >= 20 {
                due + 3_000_000
            } else {
                due + 1_000
            };
            t.sent(1_000, due, now);
        }
        t.detection(500_000, 2_000);
        t.detection(5_100_000, 3_100_000);
        let p = t.points();
        assert_eq!(p.len(), 80, "8 s of 100 ms bins");
        // Behind schedule while the stall lasts, growing, not only when it ends.
        assert_eq!(p[20].lag_max_ms, 100.0, "2.0 s due, still waiting at 2.1 s");
        assert_eq!(
            p[35].lag_max_ms, 1600.0,
            "waiting since 2.0 s at the end of 3.6 s"
        );
        assert!(
            p[21..50]
                .windows(2)
                .all(|w| w[1].lag_max_ms > w[0].lag_max_ms)
        );
        assert_eq!(p[5].intended_per_s, 10_000.0);
        assert_eq!(p[5].sent_per_s, 10_000.0);
        assert_eq!(p[25].sent_per_s, 0.0, "nothing went out during the stall");
        assert_eq!(p[25].intended_per_s, 10_000.0);
        assert_eq!(p[50].lag_max_ms, 3000.0);
        assert_eq!(p[5].latency_max_ms, Some(2.0));
        assert_eq!(p[51].latency_max_ms, Some(3100.0));
        assert_eq!(p[6].latency_max_ms, None);
        let total: f64 = p.iter().map(|x| x.sent_per_s * x.width_s).sum();
        assert!((total - 50_000.0).abs() < 1e-6);
    }

    #[test]
    fn the_last_point_is_not_a_drop() {
        // 10 s at 1,000 events per 100 ms, then 20 ms more: the last bin is 20 ms wide.
        let mut t = Timeline::default();
        for k in 0..100 {
            t.sent(1_000, k * BIN_US, k * BIN_US);
        }
        t.sent(200, 10_000_000, 10_020_000);
        let p = t.points();
        assert_eq!(p.last().unwrap().sent_per_s, 10_000.0, "{:?}", p.last());
        // Grouped: 10,000 bins in groups of 42, the last group of 4 bins.
        let mut t = Timeline::default();
        for k in 0..10_000 {
            t.sent(10, k * BIN_US, k * BIN_US + BIN_US - 1);
        }
        let last = t.points().pop().unwrap();
        assert!((last.sent_per_s - 100.0).abs() < 0.01, "{last:?}");
    }

    #[test]
    fn a_long_run_is_merged_to_few_points_keeping_the_totals() {
        let mut t = Timeline::default();
        for k in 0..10_000 {
            t.sent(10, k * BIN_US, k * BIN_US + 5);
        }
        let mut d = Timeline::default();
        d.detection(999 * BIN_US, 7_000);
        t.merge(&d);
        let p = t.points();
        assert!(p.len() <= MAX_POINTS, "{}", p.len());
        let sent: f64 = p.iter().map(|x| x.sent_per_s * x.width_s).sum();
        assert!((sent - 100_000.0).abs() < 1e-6, "{sent}");
        assert_eq!(p.iter().map(|x| x.detections).sum::<u64>(), 1);
        assert!(p.iter().any(|x| x.latency_max_ms == Some(7.0)));
    }
}
