//! An allowed lateness for a live detector: events are held until the stream's watermark
//! (the latest `ts` seen, less the lateness) has passed them, then released in log order
//! `(ts, event_id)`. A damaged stream whose events arrive at most that late is thus put back
//! in order, and a detector behind it gives the batch answer, at the cost of the lateness
//! in detection latency (log time: the wall cost is that divided by the replay's speed-up).
//!
//! [`Disorder`] measures how far a stream strays from log order: the replayer reports it,
//! and the watermark here follows it.
//!
//! Plain code: the follower pushes each event as it arrives and feeds what comes out.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use blastradius_analyzer::detect::Row;
use serde::Serialize;

use crate::source::Item;

/// A row of the stream, with its place in log order `(ts, event_id)`.
pub trait Logged: Copy {
    fn log_key(&self) -> (i64, u64);
}

impl Logged for Row {
    fn log_key(&self) -> (i64, u64) {
        (self.ts, self.event_id)
    }
}

impl Logged for Item {
    fn log_key(&self) -> (i64, u64) {
        self.key()
    }
}

/// An event waiting for the watermark, ordered by `(ts, event_id)`, then arrival.
struct Held<T> {
    row: T,
    arrival: u64,
}

impl<T: Logged> Held<T> {
    fn key(&self) -> (i64, u64, u64) {
        let (ts, id) = self.row.log_key();
        (ts, id, self.arrival)
    }
}

impl<T: Logged> PartialEq for Held<T> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl<T: Logged> Eq for Held<T> {}
impl<T: Logged> PartialOrd for Held<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T: Logged> Ord for Held<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// How far a stream strays from log order `(ts, event_id)`: events that come after one
/// later than themselves (a damaged copy delivered late), and by how much log time at most.
/// A live detector that waits at least `max_late_us` (an allowed lateness) can put every
/// event back in order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Disorder {
    /// Events that came after an event later in log order.
    pub late_events: u64,
    /// The most log time (µs) by which an event trailed the latest `ts` sent before it.
    pub max_late_us: i64,
    #[serde(skip)]
    last: Option<(i64, u64)>,
}

impl Disorder {
    /// The latest `ts` noted (of the latest event in log order).
    pub fn latest_ts(&self) -> Option<i64> {
        self.last.map(|(ts, _)| ts)
    }

    /// Notes the next event sent.
    pub fn observe(&mut self, ts: i64, event_id: u64) {
        match self.last {
            Some(last) if (ts, event_id) < last => {
                self.late_events += 1;
                self.max_late_us = self.max_late_us.max(last.0 - ts);
            }
            _ => self.last = Some((ts, event_id)),
        }
    }
}

/// The buffer, and what it saw.
pub struct Lateness<T: Logged = Row> {
    allowed_us: i64,
    held: BinaryHeap<Reverse<Held<T>>>,
    arrivals: u64,
    /// How far the stream strays from log order; its latest `ts` makes the watermark.
    disorder: Disorder,
    released: Option<(i64, u64)>,
    /// Events that arrived after their place in log order had been released: later than
    /// the allowed lateness. They are applied as they come (the answer may then differ
    /// from the batch one), and counted.
    pub too_late: u64,
    /// The most events held at once.
    pub most_held: usize,
}

impl<T: Logged> Lateness<T> {
    /// A buffer that waits `allowed_us` of log time for late events (0: none, but equal
    /// times are still put in `event_id` order).
    pub fn new(allowed_us: i64) -> Self {
        Lateness {
            allowed_us: allowed_us.max(0),
            held: BinaryHeap::new(),
            arrivals: 0,
            disorder: Disorder::default(),
            released: None,
            too_late: 0,
            most_held: 0,
        }
    }

    /// Takes in the next event of the stream; calls `out` with each event the watermark
    /// now releases, in log order.
    pub fn push(&mut self, row: T, out: &mut impl FnMut(&T)) {
        let key = row.log_key();
        self.disorder.observe(key.0, key.1);
        if self.released.is_some_and(|r| key < r) {
            self.too_late += 1;
            out(&row);
            return;
        }
        self.held.push(Reverse(Held {
            row,
            arrival: self.arrivals,
        }));
        self.arrivals += 1;
        self.most_held = self.most_held.max(self.held.len());
        // An event at the watermark itself could still be joined by one of equal `ts` and
        // a smaller id: release only what lies strictly before it.
        let watermark = self
            .disorder
            .latest_ts()
            .unwrap_or(i64::MIN)
            .saturating_sub(self.allowed_us);
        while self
            .held
            .peek()
            .is_some_and(|h| h.0.row.log_key().0 < watermark)
        {
            self.release(out);
        }
    }

    /// Events that arrived after an event later in log order (whether or not the lateness
    /// covered them).
    pub fn out_of_order(&self) -> u64 {
        self.disorder.late_events
    }

    /// The end of the stream: releases everything held, in log order.
    pub fn finish(&mut self, out: &mut impl FnMut(&T)) {
        while !self.held.is_empty() {
            self.release(out);
        }
    }

    fn release(&mut self, out: &mut impl FnMut(&T)) {
        if let Some(Reverse(h)) = self.held.pop() {
            self.released = Some(h.row.log_key());
            out(&h.row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use blastradius_schema::{Action, Kind, Scope, Surface};

    fn row(ts: i64, event_id: u64) -> Row {
        Row {
            event_id,
            ts,
            kind: Kind::PhotoUploaded,
            user_id: 1,
            app_id: 0,
            photo_id: event_id,
            surface: Surface::Timeline,
            scope: Scope::UserPhotos,
            action: Action::Read,
            status: 0,
            page: 0,
            page_size: 0,
        }
    }

    fn run(lateness: i64, arrivals: &[(i64, u64)]) -> (Vec<(i64, u64)>, Lateness<Row>) {
        let mut l = Lateness::new(lateness);
        let mut out = Vec::new();
        for &(ts, id) in arrivals {
            l.push(row(ts, id), &mut |r| out.push((r.ts, r.event_id)));
        }
        l.finish(&mut |r| out.push((r.ts, r.event_id)));
        (out, l)
    }

    #[test]
    fn events_late_by_at_most_the_lateness_come_out_in_log_order() {
        // Each event at most 10 late; a duplicate (30, 3) arrives apart from its original.
        let arrivals = [
            (10, 1),
            (30, 3),
            (20, 2),
            (25, 4),
            (40, 5),
            (30, 3),
            (35, 6),
        ];
        let (out, l) = run(10, &arrivals);
        let mut sorted = arrivals.to_vec();
        sorted.sort();
        assert_eq!(out, sorted, "the duplicate is now next to its original");
        assert_eq!(l.too_late, 0);
        assert_eq!(l.out_of_order(), 4);
    }

    #[test]
    fn an_event_later_than_the_lateness_is_counted_and_passed_on() {
        let (out, l) = run(5, &[(10, 1), (20, 2), (30, 3), (12, 4)]);
        assert_eq!(out, [(10, 1), (20, 2), (12, 4), (30, 3)]);
        assert_eq!((l.too_late, l.out_of_order()), (1, 1));
    }

    #[test]
    fn nothing_is_released_before_the_watermark_passes_it() {
        let mut l: Lateness<Row> = Lateness::new(100);
        let mut out = Vec::new();
        for (ts, id) in [(0, 1), (50, 2), (100, 3)] {
            l.push(row(ts, id), &mut |r| out.push(r.event_id));
        }
        assert!(
            out.is_empty(),
            "the watermark is 0: event 1 may still be joined"
        );
        l.push(row(101, 4), &mut |r| out.push(r.event_id));
        assert_eq!(out, [1]);
        assert_eq!(l.most_held, 4);
    }

    #[test]
    fn disorder_counts_late_events_and_how_late() {
        let mut d = Disorder::default();
        for (ts, id) in [(10, 1), (20, 2), (15, 3), (20, 1), (30, 4), (5, 5)] {
            d.observe(ts, id);
        }
        assert_eq!(d.late_events, 3);
        assert_eq!(d.max_late_us, 25);
    }
}
