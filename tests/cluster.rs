//! The sql detector on a Ballista cluster of separate processes: a scheduler and two
//! executors from this binary (`cluster scheduler|executor`) on loopback. Built with
//! `--features ballista`; CI runs it.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

/// A cluster node, stopped when the test ends (also when it fails).
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn node(args: &[&str], log: &Path) -> Node {
    let child = Command::new(env!("CARGO_BIN_EXE_blastradius"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(File::create(log).unwrap())
        .spawn()
        .expect("the binary runs");
    Node(child)
}

/// Executor `i` of one task slot, on free ports, logging to `t/executor-i.log`.
fn executor(scheduler: &str, t: &Path, i: usize, extra: &[&str]) -> Node {
    let (port, grpc) = (free_port(), free_port());
    let mut args = vec![
        "cluster",
        "executor",
        "--scheduler",
        scheduler,
        "--port",
        &port,
        "--grpc-port",
        &grpc,
        "--cores",
        "1",
    ];
    args.extend(extra);
    node(&args, &t.join(format!("executor-{i}.log")))
}

/// `analyze DATA --detector sql` on the cluster whose scheduler is at `scheduler`.
fn sql_on(data: &Path, scheduler: &str, out: &Path) -> std::process::Output {
    blastradius(&[
        "analyze",
        path_arg(data),
        "--detector",
        "sql",
        "--engine",
        &format!("ballista://{scheduler}"),
        "--out",
        path_arg(out),
    ])
}

fn free_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port().to_string()
}

/// What the nodes said, for a failure message.
fn logs(dir: &Path) -> String {
    ["scheduler", "executor-0", "executor-1"]
        .iter()
        .map(|n| {
            let text = std::fs::read_to_string(dir.join(format!("{n}.log"))).unwrap_or_default();
            format!("--- {n}:\n{text}")
        })
        .collect()
}

#[test]
fn sql_detector_on_a_ballista_cluster_finds_what_exact_finds() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path();
    let scheduler = format!("127.0.0.1:{}", free_port());
    let _scheduler = node(
        &["cluster", "scheduler", "--bind", &scheduler],
        &t.join("scheduler.log"),
    );
    let _executors: Vec<Node> = (0..2)
        .map(|i| {
            let work = t.join(format!("work-{i}"));
            std::fs::create_dir(&work).unwrap();
            executor(&scheduler, t, i, &["--work-dir", path_arg(&work)])
        })
        .collect();
    let engine = format!("ballista://{scheduler}");
    let scratch = t.join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    for (users, seed, scenario) in [
        ("4000", "1", "facebook-2018"),
        ("2500", "2", "messaging-partners"),
    ] {
        let data = t.join(format!("d{seed}"));
        generate_into(&data, users, seed, scenario);
        let exact = t.join(format!("exact{seed}"));
        assert_ok(&blastradius(&[
            "analyze",
            path_arg(&data),
            "--detector",
            "exact",
            "--out",
            path_arg(&exact),
        ]));
        let sql = t.join(format!("sql{seed}"));
        // No usable temporary folder: the run must use --scratch.
        let o = Command::new(env!("CARGO_BIN_EXE_blastradius"))
            .args([
                "analyze",
                path_arg(&data),
                "--detector",
                "sql",
                "--engine",
                &engine,
                "--scratch",
                path_arg(&scratch),
                "--out",
                path_arg(&sql),
            ])
            .env("TMPDIR", t.join("no-such-folder"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}\n{}", stderr(&o), logs(t));
        // The intermediate tables were made in a folder of the run's own, and removed.
        assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);
        let report = read_json(&sql.join("report.json"));
        let row = row(&report, "sql");
        for level in ["users", "exposures", "violations"] {
            let score = &row["scores"][level];
            assert_eq!(score["false_positives"], 0, "{level}, seed {seed}: {row}");
            assert_eq!(score["false_negatives"], 0, "{level}, seed {seed}: {row}");
        }
        let exposures = exposure_rows(&sql.join("sql/exposures.parquet"));
        assert!(!exposures.is_empty(), "seed {seed} has exposures to find");
        assert_eq!(
            exposures,
            exposure_rows(&exact.join("exact/exposures.parquet")),
            "seed {seed}"
        );
        for table in ["affected_users", "affected_apps"] {
            assert_eq!(
                batches(&sql.join(format!("sql/{table}.parquet"))),
                batches(&exact.join(format!("exact/{table}.parquet"))),
                "{table}, seed {seed}"
            );
        }
        if scenario == "messaging-partners" {
            assert!(
                row["scores"]["violations"]["true_positives"].as_u64() > Some(0),
                "{row}"
            );
        }
    }
}

#[test]
fn an_unreachable_cluster_is_named_with_what_to_start() {
    let data = small_dataset();
    let dir = tempfile::tempdir().unwrap();
    let scheduler = format!("127.0.0.1:{}", free_port());
    let o = sql_on(&data, &scheduler, &dir.path().join("r"));
    assert_error(&o, &[&scheduler, "blastradius cluster scheduler"]);
    assert!(!dir.path().join("r").exists());
}

// Issue 22: a job on a cluster whose executor had died waited for ever (still waiting after
// 5 minutes). Now the scheduler drops a dead executor and names it; the job runs on the
// executors left, or with none left fails in bounded time, and the client's error says where
// to look and what to start.
#[test]
fn a_dead_executor_is_named_and_a_job_does_not_wait_for_it() {
    let data = small_dataset();
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path();
    let scheduler = format!("127.0.0.1:{}", free_port());
    let log = t.join("scheduler.log");
    let _scheduler = node(
        &[
            "cluster",
            "scheduler",
            "--bind",
            &scheduler,
            "--executor-timeout",
            "10",
        ],
        &log,
    );
    let mut executors: Vec<Node> = (0..2).map(|i| executor(&scheduler, t, i, &[])).collect();
    let said = || std::fs::read_to_string(&log).unwrap();
    let until = Instant::now() + Duration::from_secs(120);
    while said().matches("joined").count() < 2 {
        assert!(Instant::now() < until, "{}", logs(t));
        std::thread::sleep(Duration::from_millis(200));
    }
    let analyze = |out: &str| {
        let started = Instant::now();
        let o = sql_on(&data, &scheduler, &t.join(out));
        (o, started.elapsed())
    };
    // Each is killed without a word: the scheduler still counts on it. With one left, the
    // job runs there and finds everything.
    let kill = |executors: &mut Vec<Node>| {
        let mut n = executors.pop().unwrap();
        n.0.kill().unwrap();
        n.0.wait().unwrap();
    };
    kill(&mut executors);
    let (o, _) = analyze("one-left");
    assert!(o.status.success(), "{}\n{}", stderr(&o), logs(t));
    let report = read_json(&t.join("one-left/report.json"));
    let row = row(&report, "sql");
    assert_eq!(row["scores"]["exposures"]["f1"], 1.0, "{row}");
    assert!(said().contains("lost"), "{}", said());
    // With none left, it fails within the executor timeout or two, naming what to do.
    kill(&mut executors);
    let (o, took) = analyze("none-left");
    assert_error(
        &o,
        &[&scheduler, "executor", "blastradius cluster executor"],
    );
    assert!(took < Duration::from_secs(90), "{took:?}");
    assert!(!t.join("none-left").exists());
    assert_eq!(said().matches("lost").count(), 2, "{}", said());
}
