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
}

/// One point of the report's series.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    /// The bin's start, seconds of wall time since the replay began.
    pub t_s: f64,
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
        let i = (at_us.max(0) / BIN_US) as usize;
        if self.bins.len() <= i {
            self.bins.resize(i + 1, Bin::default());
        }
        &mut self.bins[i]
    }

    /// A chunk of `events` due at `due_us` was written at `now_us` (both from the start).
    pub fn sent(&mut self, events: u64, due_us: i64, now_us: i64) {
        self.bin(due_us).intended += events;
        let b = self.bin(now_us);
        b.sent += events;
        b.lag_max = b.lag_max.max(now_us - due_us);
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
    }

    /// The series, at most [`MAX_POINTS`] points: bins merged in groups of a whole number,
    /// rates per second of the merged width.
    pub fn points(&self) -> Vec<Point> {
        let group = self.bins.len().div_ceil(MAX_POINTS).max(1);
        let width_s = group as f64 * BIN_US as f64 / 1e6;
        self.bins
            .chunks(group)
            .enumerate()
            .map(|(i, bins)| {
                let mut b = Bin::default();
                bins.iter().for_each(|x| b.merge(x));
                Point {
                    t_s: i as f64 * width_s,
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
        assert_eq!(p[5].intended_per_s, 10_000.0);
        assert_eq!(p[5].sent_per_s, 10_000.0);
        assert_eq!(p[25].sent_per_s, 0.0, "nothing went out during the stall");
        assert_eq!(p[25].intended_per_s, 10_000.0);
        assert_eq!(p[50].lag_max_ms, 3000.0);
        assert_eq!(p[5].latency_max_ms, Some(2.0));
        assert_eq!(p[51].latency_max_ms, Some(3100.0));
        assert_eq!(p[6].latency_max_ms, None);
        let total: f64 = p.iter().map(|x| x.sent_per_s * 0.1).sum();
        assert!((total - 50_000.0).abs() < 1e-6);
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
        let group = 10_000usize.div_ceil(MAX_POINTS);
        let width = group as f64 * 0.1;
        let sent: f64 = p.iter().map(|x| x.sent_per_s * width).sum();
        assert!((sent - 100_000.0).abs() < 1e-6, "{sent}");
        assert_eq!(p.iter().map(|x| x.detections).sum::<u64>(), 1);
        assert!(p.iter().any(|x| x.latency_max_ms == Some(7.0)));
    }
}
