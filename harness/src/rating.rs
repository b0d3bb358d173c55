//! The live rating: the highest constant rate at which a detector keeps up with the replayed
//! stream (it ends within 100 ms plus 5% of the schedule's length), with p99 detection
//! latency at most 1 s and user F1 at least 0.99 (after OpenMessaging's rate search and Linear Road's rating).
//!
//! Each attempt replays the whole dataset in this process while the detector runs as a
//! child command given the replayer's address (`{addr}`); the rate doubles until an attempt
//! fails, then a bisection narrows the rating down.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use blastradius_live::replay::{Options, Target, run};
use blastradius_live::report::LiveReport;
use blastradius_live::schedule::Shape;
use blastradius_live::wire::Format;
use serde::Serialize;

use crate::Error;

/// A detector to rate: a shell command holding `{addr}`.
#[derive(Clone, Debug)]
pub struct Contender {
    pub name: String,
    pub command: String,
    pub format: Format,
}

/// One attempt at one rate.
#[derive(Clone, Debug, Serialize)]
pub struct Attempt {
    pub rate: f64,
    pub passed: bool,
    /// The failure was one of speed (behind schedule, or late findings): a lower rate may
    /// pass. A detector that crashed or found too little while keeping up would fail at any
    /// rate, and the search stops there.
    pub slow: bool,
    pub why: String,
    pub seconds: f64,
    pub lag_max_ms: f64,
    pub p99_ms: Option<f64>,
    pub user_f1: Option<f64>,
    /// In a View-As world, when the detector named the attack's users.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view_as_user_f1: Option<f64>,
}

/// A detector's rating.
#[derive(Clone, Debug, Serialize)]
pub struct Rating {
    pub detector: String,
    pub format: String,
    /// The highest rate that passed, events per second (0: none did).
    pub rating: f64,
    pub attempts: Vec<Attempt>,
}

/// The search halves a failing rate down to the start rate over this, no lower (`bench live
/// --start` says so).
pub const FLOOR_DIVISOR: f64 = 64.0;

/// The criteria.
pub const MAX_P99_MS: f64 = 1000.0;
pub const MIN_USER_F1: f64 = 0.99;
/// Behind schedule at the end by at most this much, plus [`MAX_FINAL_LAG_SHARE`] of the
/// schedule's length: the detector kept up (a lag that grows through the replay ends far
/// beyond it).
pub const MAX_FINAL_LAG_MS: f64 = 100.0;
pub const MAX_FINAL_LAG_SHARE: f64 = 0.05;

fn spawn(command: &str, addr: &str) -> Result<Child, Error> {
    Command::new("sh")
        .arg("-c")
        .arg(command.replace("{addr}", addr))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::Input {
            path: PathBuf::from("sh"),
            message: format!("cannot start `{command}` ({e})"),
        })
}

/// Replays `dataset` at `rate` to `contender`.
///
/// # Errors
/// A dataset that cannot be read, a command that cannot start.
pub fn attempt(
    dataset: &std::path::Path,
    contender: &Contender,
    rate: f64,
) -> Result<Attempt, Error> {
    let (tx, rx) = mpsc::channel();
    let options = Options {
        dataset: dataset.to_path_buf(),
        target: Target::Listen("127.0.0.1:0".into()),
        findings: None,
        format: contender.format,
        shape: Shape::Constant(rate),
        from: None,
        until: None,
        truth_key: None,
        wait: Duration::from_secs(30),
        accept_timeout: Duration::from_secs(30),
        read_timeout: Duration::from_secs(30),
        heartbeat: None,
        stall: None,
        on_listen: Some(Box::new(move |a| {
            let _ = tx.send(a);
        })),
    };
    let command = contender.command.clone();
    let starter = std::thread::spawn(move || -> Result<Option<Child>, Error> {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => spawn(&command, &addr.to_string()).map(Some),
            Err(_) => Ok(None),
        }
    });
    let report = run(options);
    let child = starter.join().map_err(|_| Error::Input {
        path: PathBuf::from("sh"),
        message: "the starter thread failed".into(),
    })??;
    if let Some(mut c) = child {
        let _ = c.kill();
        let _ = c.wait();
    }
    Ok(judge(rate, &report?))
}

/// Whether a replay at `rate` passed, and why not.
pub fn judge(rate: f64, r: &LiveReport) -> Attempt {
    let p99 = r.latency_ms.as_ref().map(|l| l.all.p99);
    let f1 = r.scores.as_ref().and_then(|s| s.users.f1);
    let mut why = Vec::new();
    if let Some(s) = &r.stopped {
        why.push(s.clone());
    }
    let allowed = MAX_FINAL_LAG_MS + MAX_FINAL_LAG_SHARE * r.intended_seconds * 1000.0;
    let mut slow = false;
    if r.lag_ms.last > allowed {
        slow = true;
        why.push(format!(
            "fell {:.0} ms behind a {:.2} s schedule",
            r.lag_ms.last, r.intended_seconds
        ));
    }
    match p99 {
        Some(p) if p <= MAX_P99_MS => {}
        Some(p) => {
            slow = true;
            why.push(format!("p99 latency {p:.0} ms"))
        }
        None => why.push("no latency measured".into()),
    }
    if r.premature_findings > 0 {
        // Knowing an answer before the event that makes it true is not detection: such a
        // contender fails at every rate, however fast it answers.
        why.push(format!(
            "{} premature findings (named before the event that made them true)",
            r.premature_findings
        ));
    }
    match f1 {
        Some(f) if f >= MIN_USER_F1 => {}
        Some(f) => why.push(format!("user F1 {f:.3}")),
        None => why.push("no user found".into()),
    }
    // In a View-As world, the users the attack reached are held to the same mark when the
    // contender names them (a detector with no View-As form is rated on the photo bug).
    let view_as = r.scores.as_ref().and_then(|s| s.view_as.as_ref());
    let view_as_f1 = view_as
        .and_then(|v| v.view_as_users.as_ref())
        .and_then(|u| u.f1);
    if let Some(f) = view_as_f1
        && f < MIN_USER_F1
    {
        why.push(format!("View-As user F1 {f:.3}"));
    }
    Attempt {
        rate,
        passed: why.is_empty(),
        slow: slow && r.stopped.is_none(),
        why: why.join("; "),
        seconds: r.seconds,
        lag_max_ms: r.lag_ms.max,
        p99_ms: p99,
        user_f1: f1,
        view_as_user_f1: view_as_f1,
    }
}

/// Rates `contender`: from `start` the rate doubles while attempts pass (up to `max`) or
/// halves while they fail for being too slow (down to `start / 64`), then `steps`
/// bisections narrow the rating between the highest pass and the lowest failure. A failure
/// that is not about speed (a crash, too little found) ends the search: rating 0.
///
/// # Errors
/// As [`attempt`].
pub fn rate(
    dataset: &std::path::Path,
    contender: &Contender,
    start: f64,
    max: f64,
    steps: u32,
    mut progress: impl FnMut(&Attempt),
) -> Result<Rating, Error> {
    let (rating, attempts) = search(start, max, steps, |r| {
        let a = attempt(dataset, contender, r)?;
        progress(&a);
        Ok(a)
    })?;
    Ok(Rating {
        detector: contender.name.clone(),
        format: match contender.format {
            Format::Json => "json".into(),
            Format::Arrow => "arrow".into(),
        },
        rating,
        attempts,
    })
}

/// The search of [`rate`] over any `try_rate`: the rating (0 when nothing down to the floor
/// passed) and every attempt in the order made.
///
/// # Errors
/// The first error of `try_rate`.
pub fn search(
    start: f64,
    max: f64,
    steps: u32,
    mut try_rate: impl FnMut(f64) -> Result<Attempt, Error>,
) -> Result<(f64, Vec<Attempt>), Error> {
    let mut attempts = Vec::new();
    let floor = start / FLOOR_DIVISOR;
    let (mut good, mut bad) = (None::<f64>, None::<f64>);
    let mut r = start;
    loop {
        let a = try_rate(r)?;
        let passed = a.passed;
        attempts.push(a);
        if passed {
            good = Some(r);
            if bad.is_some() || r * 2.0 > max {
                break;
            }
            r *= 2.0;
        } else {
            let slow = attempts.last().is_some_and(|a| a.slow);
            bad = Some(r);
            if good.is_some() || !slow || r / 2.0 < floor {
                break;
            }
            r = (r / 2.0).round();
        }
    }
    let (Some(mut lo), Some(mut hi)) = (good, bad) else {
        return Ok((good.unwrap_or(0.0), attempts));
    };
    for _ in 0..steps {
        let mid = ((lo + hi) / 2.0).round();
        if mid <= lo || mid >= hi {
            break;
        }
        let a = try_rate(mid)?;
        if a.passed {
            lo = mid;
        } else {
            hi = mid;
        }
        attempts.push(a);
    }
    Ok((lo, attempts))
}

/// The replayer alone: events per second to a client that throws everything away, the rate
/// unbounded.
///
/// # Errors
/// As [`attempt`].
pub fn throughput(
    dataset: &std::path::Path,
    exe: &std::path::Path,
    format: Format,
) -> Result<LiveReport, Error> {
    let (tx, rx) = mpsc::channel();
    let options = Options {
        dataset: dataset.to_path_buf(),
        target: Target::Listen("127.0.0.1:0".into()),
        findings: None,
        format,
        shape: Shape::Constant(1e12),
        from: None,
        until: None,
        truth_key: None,
        wait: Duration::from_secs(5),
        accept_timeout: Duration::from_secs(30),
        read_timeout: Duration::from_secs(30),
        heartbeat: None,
        stall: None,
        on_listen: Some(Box::new(move |a| {
            let _ = tx.send(a);
        })),
    };
    let command = crate::argv::Follow {
        streaming: None,
        discard: true,
    }
    .command(exe);
    let starter = std::thread::spawn(move || -> Result<Option<Child>, Error> {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => spawn(&command, &addr.to_string()).map(Some),
            Err(_) => Ok(None),
        }
    });
    let report = run(options);
    if let Ok(Some(mut c)) = starter.join().unwrap_or(Ok(None)) {
        let _ = c.wait();
    }
    Ok(report?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A detector that keeps up below `capacity` events/s.
    fn up_to(capacity: f64) -> impl FnMut(f64) -> Result<Attempt, Error> {
        move |rate| {
            Ok(Attempt {
                rate,
                passed: rate <= capacity,
                slow: rate > capacity,
                why: String::new(),
                seconds: 1.0,
                lag_max_ms: 0.0,
                p99_ms: Some(1.0),
                user_f1: Some(1.0),
                view_as_user_f1: None,
            })
        }
    }

    fn rates(a: &[Attempt]) -> Vec<f64> {
        a.iter().map(|a| a.rate).collect()
    }

    #[test]
    fn the_search_climbs_then_bisects() {
        let (rating, attempts) = search(100.0, 1e6, 2, up_to(500.0)).unwrap();
        assert_eq!(rates(&attempts), [100.0, 200.0, 400.0, 800.0, 600.0, 500.0]);
        assert_eq!(rating, 500.0);
    }

    #[test]
    fn the_search_descends_when_the_start_is_too_fast() {
        let (rating, attempts) = search(1000.0, 1e6, 1, up_to(300.0)).unwrap();
        assert_eq!(rates(&attempts), [1000.0, 500.0, 250.0, 375.0]);
        assert_eq!(rating, 250.0);
    }

    #[test]
    fn the_search_stops_at_the_bounds() {
        let (rating, attempts) = search(1000.0, 3000.0, 3, up_to(1e9)).unwrap();
        assert_eq!(rates(&attempts), [1000.0, 2000.0]);
        assert_eq!(rating, 2000.0);
        let (rating, attempts) = search(1024.0, 1e6, 3, up_to(0.5)).unwrap();
        assert_eq!(attempts.len(), 7, "1024 down to 16");
        assert_eq!(rating, 0.0);
    }

    #[test]
    fn a_failure_a_lower_rate_cannot_cure_ends_the_search() {
        let inaccurate = |rate| {
            Ok(Attempt {
                rate,
                passed: false,
                slow: false,
                why: "user F1 0.9".into(),
                seconds: 1.0,
                lag_max_ms: 0.0,
                p99_ms: Some(1.0),
                user_f1: Some(0.9),
                view_as_user_f1: None,
            })
        };
        let (rating, attempts) = search(1000.0, 1e6, 3, inaccurate).unwrap();
        assert_eq!((rating, attempts.len()), (0.0, 1));
    }

    // Issue 20: a client that sent the answer key at connect was rated 500,000 events/s.
    #[test]
    fn a_premature_finding_fails_the_attempt_at_any_rate() {
        use blastradius_analyzer::score::Score;
        use blastradius_live::latency::{LatencyReport, LevelScores, Percentiles};
        use blastradius_live::report::Lag;
        let fast = Percentiles {
            count: 1,
            p50: 0.1,
            p90: 0.1,
            p99: 0.1,
            p999: 0.1,
            max: 0.1,
        };
        let mut report = LiveReport {
            format: "blastradius-live",
            dataset: "d".into(),
            events_sent: 10,
            events_in_files: 10,
            repeated_deploys: 0,
            outside_slice: 0,
            intended_seconds: 1.0,
            seconds: 1.0,
            events_per_second: 10.0,
            lag_ms: Lag {
                p50: 0.0,
                p99: 0.0,
                max: 0.0,
                last: 0.0,
            },
            stopped: None,
            notes: Vec::new(),
            late_events: 0,
            max_late_ms: 0.0,
            findings: 1,
            alarms: 0,
            discovery: Vec::new(),
            world: String::new(),
            findings_after_end: 0,
            premature_findings: 0,
            unparsed_lines: 0,
            first_unparsed: None,
            latency_ms: Some(LatencyReport {
                users: fast.clone(),
                exposures: fast.clone(),
                violations: fast.clone(),
                stolen_tokens: None,
                view_as_users: None,
                all: fast.clone(),
                log_time: fast,
            }),
            scores: Some(LevelScores {
                users: Score::counts(1, 0, 0),
                exposures: None,
                violations: None,
                view_as: None,
                whole: true,
                truth_carried: (1, 0, 0),
                truth_whole: (1, 0, 0),
            }),
            histogram: None,
            timeline: Vec::new(),
        };
        assert!(judge(1000.0, &report).passed);
        report.premature_findings = 1;
        let a = judge(1000.0, &report);
        assert!(!a.passed && !a.slow, "{a:?}");
        assert!(a.why.contains("1 premature"), "{}", a.why);
    }
}
