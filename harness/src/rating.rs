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

use blastradius_live::replay::{LiveReport, Options, Target, run};
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
    pub why: String,
    pub seconds: f64,
    pub lag_max_ms: f64,
    pub p99_ms: Option<f64>,
    pub user_f1: Option<f64>,
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
    if r.lag_ms.last > allowed {
        why.push(format!(
            "fell {:.0} ms behind a {:.2} s schedule",
            r.lag_ms.last, r.intended_seconds
        ));
    }
    match p99 {
        Some(p) if p <= MAX_P99_MS => {}
        Some(p) => why.push(format!("p99 latency {p:.0} ms")),
        None => why.push("no latency measured".into()),
    }
    match f1 {
        Some(f) if f >= MIN_USER_F1 => {}
        Some(f) => why.push(format!("user F1 {f:.3}")),
        None => why.push("no user found".into()),
    }
    Attempt {
        rate,
        passed: why.is_empty(),
        why: why.join("; "),
        seconds: r.seconds,
        lag_max_ms: r.lag_ms.max,
        p99_ms: p99,
        user_f1: f1,
    }
}

/// Rates `contender`: doubles from `start` until an attempt fails (or `max` passes), then
/// bisects `steps` times between the last pass and the first failure.
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
    let mut attempts = Vec::new();
    let (mut good, mut bad) = (0.0f64, None::<f64>);
    let mut r = start;
    while r <= max {
        let a = attempt(dataset, contender, r)?;
        progress(&a);
        let passed = a.passed;
        attempts.push(a);
        if passed {
            good = r;
            r *= 2.0;
        } else {
            bad = Some(r);
            break;
        }
    }
    if let Some(mut hi) = bad {
        let mut lo = good;
        for _ in 0..steps {
            if lo == 0.0 {
                break;
            }
            let mid = ((lo + hi) / 2.0).round();
            let a = attempt(dataset, contender, mid)?;
            progress(&a);
            if a.passed {
                lo = mid;
            } else {
                hi = mid;
            }
            attempts.push(a);
        }
        good = lo;
    }
    Ok(Rating {
        detector: contender.name.clone(),
        format: match contender.format {
            Format::Json => "json".into(),
            Format::Arrow => "arrow".into(),
        },
        rating: good,
        attempts,
    })
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
        stall: None,
        on_listen: Some(Box::new(move |a| {
            let _ = tx.send(a);
        })),
    };
    let command = format!(
        "{} detect --follow {{addr}} --discard",
        crate::exec::quote(exe)
    );
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
