//! Issue 10: live replay. The stream is the log, row for row; latency runs from intended
//! send times (an instant detector shows a few ms, a 200 ms one about 200 ms, a stalled
//! replayer its stall); detectors that leave, babble or stay silent get a report, not a hang.

use blastradius_schema::arrays::Ints;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

fn dataset() -> PathBuf {
    static ONCE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    dataset_in(&ONCE, "live", "12000", "51", "messaging-partners")
}

/// Starts `replay` listening on a free port; returns the child and the address it printed.
fn replay(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_blastradius"))
        .arg("replay")
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        line.clear();
        if err.read_line(&mut line).unwrap() == 0 {
            let _ = child.kill();
            let _ = child.wait();
            panic!("replay ended before listening");
        }
        if let Some(rest) = line.strip_prefix("listening on ") {
            let addr = rest.split(':').take(2).collect::<Vec<_>>().join(":");
            let addr = addr
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches(':')
                .to_string();
            // Keep draining stderr so the child never blocks on it.
            std::thread::spawn(move || {
                let mut rest = String::new();
                let _ = err.read_to_string(&mut rest);
            });
            return (child, addr);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("replay did not listen");
}

fn finish(mut child: Child) -> std::process::ExitStatus {
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < until, "replay hangs");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every line `replay --stdout` writes for `data`, as fast as it can (its report to `out`).
pub(crate) fn json_stream(data: &Path, out: &Path) -> Vec<serde_json::Value> {
    let o = blastradius(&[
        "replay",
        path_arg(data),
        "--stdout",
        "--rate",
        "1e9",
        "--wait",
        "0",
        "--out",
        path_arg(out),
    ]);
    assert_ok(&o);
    o.stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

#[test]
fn the_json_stream_is_the_log_row_for_row() {
    let data = dataset();
    let tmp = tempfile::tempdir().unwrap();
    let streamed = json_stream(&data, &tmp.path().join("r"));
    // The log read independently: every shard, deploys once, ordered by (ts, event_id).
    use arrow::array::{Array, AsArray};
    type Logged = (i64, u64, String, Option<u64>, Option<u64>);
    let mut log: Vec<Logged> = Vec::new();
    let mut deploys = std::collections::BTreeSet::new();
    for b in batches(&data.join("events")) {
        let ts = b
            .column_by_name("ts")
            .unwrap()
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        let id = b
            .column_by_name("event_id")
            .unwrap()
            .ints::<arrow::datatypes::UInt64Type>();
        let user = b
            .column_by_name("user_id")
            .unwrap()
            .ints::<arrow::datatypes::UInt64Type>();
        let photo = b
            .column_by_name("photo_id")
            .unwrap()
            .ints::<arrow::datatypes::UInt64Type>();
        let kind = arrow::compute::cast(
            b.column_by_name("kind").unwrap(),
            &arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        let kind = kind.as_string::<i32>();
        for i in 0..b.num_rows() {
            // The platform's deploys (system rows, ids below every user's) go once.
            if !user.is_valid(i) && !deploys.insert(id.value(i)) {
                continue;
            }
            log.push((
                ts.value(i),
                id.value(i),
                kind.value(i).to_string(),
                user.is_valid(i).then(|| user.value(i)),
                photo.is_valid(i).then(|| photo.value(i)),
            ));
        }
    }
    log.sort_by_key(|r| (r.0, r.1));
    assert_eq!(streamed.len(), log.len());
    for (k, (s, l)) in streamed.iter().zip(&log).enumerate() {
        assert_eq!(s["ts"], l.0, "row {k}");
        assert_eq!(s["event_id"], l.1, "row {k}");
        assert_eq!(s["kind"], l.2.as_str(), "row {k}");
        assert_eq!(s["user_id"].as_u64(), l.3, "row {k}");
        assert_eq!(s["photo_id"].as_u64(), l.4, "row {k}");
    }
}

/// A detector that answers each finding of the incremental exact `delay` after finding it.
fn delayed_detector(addr: String, delay: Duration) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let stream = TcpStream::connect(&addr).unwrap();
        let mut out = stream.try_clone().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<(Instant, String)>();
        let sender = std::thread::spawn(move || {
            for (at, line) in rx {
                if let Some(wait) = at.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let _ = out.write_all(line.as_bytes());
            }
            let _ = out.shutdown(std::net::Shutdown::Write);
        });
        let mut exact = blastradius_analyzer::exact::Incremental::new();
        for line in BufReader::new(stream).lines() {
            let row = blastradius_live::follow::json_row(&line.unwrap()).unwrap();
            let (exposures, violations) = exact.push(&row);
            for e in exposures {
                let f = format!(
                    "{{\"user_id\":{},\"app_id\":{},\"photo_id\":{}}}\n",
                    e.user_id, e.app_id, e.photo_id
                );
                tx.send((Instant::now() + delay, f)).unwrap();
            }
            for v in violations {
                tx.send((
                    Instant::now() + delay,
                    format!("{{\"event_id\":{}}}\n", v.event_id),
                ))
                .unwrap();
            }
        }
        drop(tx);
        sender.join().unwrap();
    })
}

pub(crate) fn live_report(out: &Path) -> serde_json::Value {
    read_json(&out.join("report.json"))
}

#[test]
fn latency_is_measured_from_the_intended_send_time() {
    let data = dataset();
    let tmp = tempfile::tempdir().unwrap();
    // Replays at 40,000 events/s to a detector that answers after `delay`; the report.
    let run = |name: &str, delay: Duration, extra: &[&str]| {
        let out = tmp.path().join(name);
        let mut args = vec![
            path_arg(&data),
            "--rate",
            "40000",
            "--out",
            path_arg(&out),
            "--wait",
            "10",
        ];
        args.extend_from_slice(extra);
        let (child, addr) = replay(&args);
        let d = delayed_detector(addr, delay);
        assert!(finish(child).success());
        d.join().unwrap();
        (live_report(&out), out)
    };
    // Issue 20: no upper bound on a latency here (a busy machine made an instant detector's
    // p99 136 ms); only what the measurement must show whatever the load: a detector that
    // waits 200 ms is never measured faster than that, and an instant one is faster.
    let (r, _) = run("instant", Duration::ZERO, &[]);
    let instant = r["latency_ms"]["all"]["p50"].as_f64().unwrap();
    assert_eq!(r["scores"]["users"]["f1"], 1.0, "{r}");
    assert_eq!(r["scores"]["violations"]["f1"], 1.0, "{r}");
    let (r, _) = run("slow", Duration::from_millis(200), &[]);
    let p50 = r["latency_ms"]["all"]["p50"].as_f64().unwrap();
    let count = r["latency_ms"]["all"]["count"].as_u64().unwrap();
    assert!(count > 0 && p50 >= 195.0, "200 ms detector: p50 {p50}");
    assert!(
        instant < p50,
        "instant {instant} ms, 200 ms detector {p50} ms"
    );
    // An instant detector behind a replayer that stalls for a second inside the period (the
    // log's first events are its history, where nothing can be found): the stall shows (no
    // coordinated omission).
    let (r, out) = run("stall", Duration::ZERO, &["--inject-stall", "200000:1s"]);
    let max = r["latency_ms"]["all"]["max"].as_f64().unwrap();
    assert!(max > 900.0, "a 1 s stall shows: max {max} ms");
    assert!(r["lag_ms"]["max"].as_f64().unwrap() > 900.0);
    let hgrm = std::fs::read_to_string(out.join("latency.hgrm")).unwrap();
    assert!(hgrm.starts_with("       Value     Percentile"));
}

#[test]
fn a_detector_that_leaves_babbles_or_stays_silent_gets_a_report() {
    let data = dataset();
    let tmp = tempfile::tempdir().unwrap();
    // Leaves after a few lines.
    let out = tmp.path().join("leaves");
    let (child, addr) = replay(&[
        path_arg(&data),
        "--rate",
        "100000",
        "--out",
        path_arg(&out),
        "--wait",
        "1",
    ]);
    {
        let stream = TcpStream::connect(&addr).unwrap();
        let mut lines = BufReader::new(stream).lines();
        for _ in 0..100 {
            lines.next();
        }
    }
    assert!(finish(child).success());
    let r = live_report(&out);
    assert!(
        r["stopped"].as_str().unwrap().contains("stopped reading"),
        "{r}"
    );
    // Babbles.
    let out = tmp.path().join("babbles");
    let (child, addr) = replay(&[
        path_arg(&data),
        "--rate",
        "1e9",
        "--out",
        path_arg(&out),
        "--wait",
        "5",
    ]);
    {
        let mut stream = TcpStream::connect(&addr).unwrap();
        // Issue 22: a line that is not UTF-8 ended the channel; the findings after it count.
        stream
            .write_all(b"\xff\xfe\nhello\nnot json at all\n{\"app_id\": 1}\n{\"user_id\": 1}\n{\"user_id\": 2}\n")
            .unwrap();
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
    assert!(finish(child).success());
    let r = live_report(&out);
    assert_eq!(r["unparsed_lines"], 4, "{r}");
    assert_eq!(r["findings"], 2, "{r}");
    // Counted and named: the first one, by its line on the channel.
    let first = r["first_unparsed"].as_str().unwrap();
    assert!(first.starts_with("line 1 (not UTF-8)"), "{first}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("The first line not understood: line 1"), "{md}");
    // Stays silent: nothing found, recall 0, no hang.
    let out = tmp.path().join("silent");
    let (child, addr) = replay(&[
        path_arg(&data),
        "--rate",
        "1e9",
        "--out",
        path_arg(&out),
        "--wait",
        "1",
    ]);
    let reader = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(&addr).unwrap();
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
        std::thread::sleep(Duration::from_secs(3)); // never closes its side in time
    });
    assert!(finish(child).success());
    let r = live_report(&out);
    assert_eq!(r["findings"], 0);
    assert_eq!(r["scores"]["users"]["recall"], 0.0, "{r}");
    reader.join().unwrap();
    // Connects and never reads: once the socket's buffers are full the replay cannot send,
    // and stops after --read-timeout with a report, not a hang.
    let out = tmp.path().join("stuck");
    let (child, addr) = replay(&[
        path_arg(&data),
        "--rate",
        "1e9",
        "--out",
        path_arg(&out),
        "--wait",
        "1",
        "--read-timeout",
        "2",
    ]);
    let stream = TcpStream::connect(&addr).unwrap();
    let started = Instant::now();
    assert!(finish(child).success());
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    drop(stream);
    let r = live_report(&out);
    assert!(
        r["stopped"]
            .as_str()
            .unwrap()
            .contains("read nothing for 2 s"),
        "{r}"
    );
}

#[test]
fn replay_stops_cleanly_on_a_closed_pipe_and_on_ctrl_c() {
    let data = dataset();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pipe");
    let script = format!(
        "'{}' replay '{}' --stdout --rate 1e9 --wait 0 --out '{}' | head -c 1000 >/dev/null",
        env!("CARGO_BIN_EXE_blastradius"),
        data.display(),
        out.display()
    );
    let o = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    assert_ok(&o);
    assert!(live_report(&out)["stopped"].is_string());
    // Ctrl-C while a slow reader holds the stream.
    let out = tmp.path().join("interrupted");
    let (child, addr) = replay(&[
        path_arg(&data),
        "--rate",
        "2000",
        "--out",
        path_arg(&out),
        "--wait",
        "1",
    ]);
    let reader = std::thread::spawn(move || {
        let stream = TcpStream::connect(&addr).unwrap();
        let mut lines = BufReader::new(stream).lines();
        while let Some(Ok(_)) = lines.next() {}
    });
    std::thread::sleep(Duration::from_secs(1));
    // SAFETY: signals our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert!(finish(child).success());
    let r = live_report(&out);
    assert!(
        r["stopped"].as_str().unwrap().contains("interrupted"),
        "{r}"
    );
    reader.join().unwrap();
}

#[test]
fn bench_live_rates_the_incremental_detectors_and_keeps_the_run() {
    let data = dataset();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("live");
    let o = blastradius(&[
        "bench",
        "live",
        path_arg(&data),
        "--start",
        "100000",
        "--max",
        "200000",
        "--steps",
        "0",
        "--out",
        path_arg(&out),
    ]);
    assert_ok(&o);
    let r = read_json(&out.join("live.json"));
    for (i, name) in ["exact (incremental)", "streaming (incremental, 512 MiB)"]
        .iter()
        .enumerate()
    {
        let rating = &r["ratings"][i];
        assert_eq!(rating["detector"], *name);
        // Issue 20: a test asserts behaviour, never speed (a busy machine rated 50,000): the
        // rating is the highest rate among the attempts that passed (0 when none did),
        // whatever those rates were.
        let attempts = rating["attempts"].as_array().unwrap();
        assert!(!attempts.is_empty(), "{rating}");
        let best = attempts
            .iter()
            .filter(|a| a["passed"].as_bool().unwrap())
            .map(|a| a["rate"].as_f64().unwrap())
            .fold(0.0, f64::max);
        assert_eq!(rating["rating"].as_f64(), Some(best), "{rating}");
    }
    for row in r["replayer_alone"].as_array().unwrap() {
        assert!(
            row["events_per_second"].as_f64().is_some_and(|v| v > 0.0),
            "{row}"
        );
    }
    assert!(
        std::fs::read_to_string(out.join("live.md"))
            .unwrap()
            .contains("| exact (incremental) | arrow |")
    );
}

/// Runs `detect --follow` against a hand-made replayer that sends `lines` and then keeps
/// the connection open without a word; returns the detector's exit and its standard error.
fn follow_a_fake_replayer(lines: &'static str, extra: &[&str]) -> (bool, String, Duration) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(lines.as_bytes()).unwrap();
        // Silent from here on, until the detector hangs up.
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    });
    let started = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_blastradius"))
        .args(["detect", "--follow", &addr])
        .args(extra)
        .output()
        .unwrap();
    let took = started.elapsed();
    server.join().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    (o.status.success(), err, took)
}

#[test]
fn a_detector_gives_up_on_a_silent_replayer_and_names_a_broken_event() {
    // Accepts and never sends: the detector gives up after --idle-timeout, not never.
    let (ok, err, took) = follow_a_fake_replayer("", &["--idle-timeout", "1"]);
    assert!(!ok, "{err}");
    assert!(
        err.contains("sent nothing") && err.contains("--idle-timeout"),
        "{err}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
    // Sends a good event, then one without the user a photo call needs: the detector stops
    // on it with its id instead of handing the call to user 0.
    let good = "{\"event_id\":1,\"ts\":1000,\"kind\":\"user_registered\",\"user_id\":4}\n";
    let bad = "{\"event_id\":2,\"ts\":2000,\"kind\":\"photo_api_call\",\"app_id\":3,\"status\":200,\"scope\":\"user_photos\",\"page\":0,\"page_size\":10,\"items_returned\":0}\n";
    let lines: &'static str = Box::leak(format!("{good}{bad}").into_boxed_str());
    let (ok, err, _) = follow_a_fake_replayer(lines, &["--idle-timeout", "30"]);
    assert!(!ok, "{err}");
    assert!(
        err.contains("event 2") && err.contains("`user_id`"),
        "{err}"
    );
    // --idle-timeout 0 is refused, as replay's timeouts are.
    let o = Command::new(env!("CARGO_BIN_EXE_blastradius"))
        .args(["detect", "--follow", "127.0.0.1:9", "--idle-timeout", "0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("--idle-timeout"),
        "{err}"
    );
}

/// Replays `data` to our own `detect --follow --detector exact` (with `extra` flags); the
/// replay's report and what the detector said on standard error.
fn follow_exact(data: &Path, out: &Path, extra: &[&str]) -> (serde_json::Value, String) {
    follow_exact_in("json", data, out, extra)
}

/// [`follow_exact`], the stream in `format`.
pub(crate) fn follow_exact_in(
    format: &str,
    data: &Path,
    out: &Path,
    extra: &[&str],
) -> (serde_json::Value, String) {
    let (child, addr) = replay(&[
        path_arg(data),
        "--rate",
        "1000000",
        "--format",
        format,
        "--out",
        path_arg(out),
        "--wait",
        "30",
    ]);
    let o = Command::new(env!("CARGO_BIN_EXE_blastradius"))
        .args(["detect", "--follow", &addr, "--detector", "exact"])
        .args(extra)
        .output()
        .unwrap();
    assert_ok(&o);
    assert!(finish(child).success());
    (live_report(out), stderr(&o))
}

/// The batch scores of `analyze --detector exact` on `data`: (user, exposure, violation) F1.
fn batch_exact(data: &Path, out: &Path) -> [serde_json::Value; 3] {
    assert_ok(&blastradius(&[
        "analyze",
        path_arg(data),
        "--detector",
        "exact",
        "--out",
        path_arg(out),
    ]));
    let r = read_json(&out.join("report.json"));
    let s = &r["detectors"][0]["scores"];
    [
        s["users"]["f1"].clone(),
        s["exposures"]["f1"].clone(),
        s["violations"]["f1"].clone(),
    ]
}

fn live_f1(r: &serde_json::Value) -> [serde_json::Value; 3] {
    let s = &r["scores"];
    [
        s["users"]["f1"].clone(),
        s["exposures"]["f1"].clone(),
        s["violations"]["f1"].clone(),
    ]
}

// Issue 20: on a `perturb --skew 5m` copy, live exact scored exposure F1 0.0000 ("0 of 259
// exposures carried", 259 "premature"), though `score` of the same findings gave 1.0.
#[test]
fn live_exact_on_a_skewed_copy_scores_what_batch_exact_does() {
    let data = dataset();
    let tmp = tempfile::tempdir().unwrap();
    let skewed = tmp.path().join("skewed");
    assert_ok(&blastradius(&[
        "perturb",
        path_arg(&data),
        path_arg(&skewed),
        "--skew",
        "5m",
    ]));
    let (r, _) = follow_exact(&skewed, &tmp.path().join("live"), &[]);
    assert_eq!(r["premature_findings"], 0, "{r}");
    assert_eq!(r["scores"]["truth_carried"], r["scores"]["truth_whole"]);
    let batch = batch_exact(&skewed, &tmp.path().join("batch"));
    assert_eq!(live_f1(&r), batch, "{r}");
    assert_eq!(batch, [1.0, 1.0, 1.0].map(serde_json::Value::from));
}

// Issue 20: on a `perturb --reorder 15m` copy the stream is out of log order; live exact
// reported false exposures and nobody said why. With --lateness 15m it gives the batch
// answer; the replay report says how late events came.
#[test]
fn live_exact_with_lateness_on_a_reordered_copy_gives_the_batch_answer() {
    let data = dataset();
    let tmp = tempfile::tempdir().unwrap();
    let late = tmp.path().join("late");
    assert_ok(&blastradius(&[
        "perturb",
        path_arg(&data),
        path_arg(&late),
        "--reorder",
        "15m",
        "--duplicate",
        "0.01",
    ]));
    let (r, err) = follow_exact(&late, &tmp.path().join("live"), &["--lateness", "15m"]);
    let late_events = r["late_events"].as_u64().unwrap();
    assert!(late_events > 0, "{r}");
    let max_late = r["max_late_ms"].as_f64().unwrap();
    assert!(max_late > 0.0 && max_late <= 15.0 * 60_000.0, "{r}");
    assert!(err.contains("within --lateness"), "{err}");
    // What the lateness cost, in log time: no finding before the stream was 15 min past
    // its event.
    let waited = r["latency_ms"]["log_time"]["p50"].as_f64().unwrap();
    assert!(waited >= 15.0 * 60_000.0, "{r}");
    assert_eq!(r["premature_findings"], 0, "{r}");
    let batch = batch_exact(&late, &tmp.path().join("batch"));
    assert_eq!(live_f1(&r), batch, "{r}");
    let md = std::fs::read_to_string(tmp.path().join("live/report.md")).unwrap();
    assert!(md.contains("Out of log order"), "{md}");
    // Without it, the disorder is said, not hidden.
    let (_, err) = follow_exact(&late, &tmp.path().join("live-none"), &[]);
    assert!(err.contains("came after a later one"), "{err}");
}

// Issue 20: a "detector" that sent the whole answer key at connect scored F1 1.0.
#[test]
fn findings_sent_before_their_event_are_not_detections() {
    let data = dataset();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cheat");
    let (child, addr) = replay(&[
        path_arg(&data),
        "--rate",
        "200000",
        "--out",
        path_arg(&out),
        "--wait",
        "10",
    ]);
    // The answer, read from the truth, sent before the first event is read.
    let mut key = String::new();
    for b in batches(&data.join("truth/exposures")) {
        use arrow::datatypes::{UInt32Type, UInt64Type};
        let col = |n: &str| b.column_by_name(n).unwrap().clone();
        let (a, u, p) = (col("app_id"), col("user_id"), col("photo_id"));
        for i in 0..b.num_rows() {
            key.push_str(&format!(
                "{{\"app_id\":{},\"user_id\":{},\"photo_id\":{}}}\n",
                a.ints::<UInt32Type>().value(i),
                u.ints::<UInt64Type>().value(i),
                p.ints::<UInt64Type>().value(i)
            ));
        }
    }
    assert!(!key.is_empty());
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream.write_all(key.as_bytes()).unwrap();
    let mut sink = Vec::new();
    let _ = stream.try_clone().unwrap().read_to_end(&mut sink);
    drop(stream);
    assert!(finish(child).success());
    let r = live_report(&out);
    let sent = key.lines().count() as u64;
    // Every finding was premature (a user named by a premature exposure is counted with
    // it), and every user named that way is a false positive at user level.
    let users = r["scores"]["truth_whole"][0].as_u64().unwrap();
    assert_eq!(r["premature_findings"].as_u64().unwrap(), sent, "{r}");
    assert_eq!(
        r["scores"]["users"]["false_positives"].as_u64(),
        Some(users)
    );
    let e = &r["scores"]["exposures"];
    assert_eq!(e["true_positives"], 0, "{r}");
    assert_eq!(e["false_positives"].as_u64().unwrap(), sent, "{r}");
    assert_eq!(e["f1"], 0.0, "{r}");
    assert_eq!(r["scores"]["users"]["f1"], 0.0, "{r}");
    assert_eq!(r["latency_ms"]["all"]["count"], 0, "{r}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("premature"), "{md}");
}

// Issue 22: without a heartbeat, a detector's --idle-timeout could not tell a pause of the
// replayer from a stuck one.
#[test]
fn a_heartbeat_tells_a_pausing_replayer_from_a_stuck_one() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset();
    let follow = |format: &str, stall: &str, heartbeat: bool| {
        let out = tmp
            .path()
            .join(format!("{format}-{}-{heartbeat}", stall.replace(':', "-")));
        let mut args = vec![
            path_arg(&data),
            "--rate",
            "1000000",
            "--format",
            format,
            "--inject-stall",
            stall,
            "--out",
            path_arg(&out),
        ];
        if heartbeat {
            args.extend(["--heartbeat", "1"]);
        }
        let (child, addr) = replay(&args);
        let o = Command::new(env!("CARGO_BIN_EXE_blastradius"))
            .args(["detect", "--follow", &addr, "--idle-timeout", "2"])
            .output()
            .unwrap();
        let replayed = finish(child).success();
        (o, replayed, out)
    };
    // Mid-stream, and before the first event (Arrow's schema goes out first, so heartbeats
    // can start before any event does).
    for (format, stall) in [("json", "2000:3s"), ("arrow", "2000:3s"), ("arrow", "0:3s")] {
        // A 3 s pause with a heartbeat every second: followed to the end.
        let (o, replayed, out) = follow(format, stall, true);
        assert_ok(&o);
        assert!(replayed);
        let r = live_report(&out);
        assert_eq!(r["stopped"], serde_json::Value::Null, "{r}");
        assert_eq!(
            r["events_sent"],
            r["events_in_files"].as_u64().unwrap() - r["repeated_deploys"].as_u64().unwrap(),
            "{r}"
        );
        assert_eq!(r["scores"]["exposures"]["f1"], 1.0, "{r}");
    }
    // The same pause without one: taken for a stuck replayer, and the error says what to do.
    let (o, _, _) = follow("json", "2000:3s", false);
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("sent nothing") && err.contains("--heartbeat"),
        "{err}"
    );
}

/// Follows a replayer that sends `lines` and closes; detect's exit and standard error.
fn follow_lines(lines: &'static str) -> (bool, String) {
    follow_lines_with(lines, &[])
}

/// [`follow_lines`], with `extra` flags for `detect`.
fn follow_lines_with(lines: &'static str, extra: &[&str]) -> (bool, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(lines.as_bytes()).unwrap();
        // The end of the stream: the detector finishes and hangs up.
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    });
    let o = Command::new(env!("CARGO_BIN_EXE_blastradius"))
        .args(["detect", "--follow", &addr, "--idle-timeout", "30"])
        .args(extra)
        .output()
        .unwrap();
    server.join().unwrap();
    (o.status.success(), stderr(&o))
}

// Issue 22: a JSON stream opening with a byte-order mark, a blank line or spaces was taken
// for Arrow IPC and refused; a stream without a deploy was followed silently.
#[test]
fn a_json_stream_may_open_with_a_bom_and_must_carry_its_deploys() {
    let (ok, err) = follow_lines(
        "\u{feff}\n  \n{\"event_id\":1,\"ts\":500,\"kind\":\"bug_introduced\"}\n \
         {\"event_id\":70,\"ts\":1000,\"kind\":\"user_registered\",\"user_id\":4}\n",
    );
    assert!(ok, "{err}");
    assert!(err.contains("followed    2 events"), "{err}");
    // A first byte that is a newline or a space alone is JSON too, not Arrow.
    for start in ["\n", " "] {
        let lines: &'static str = Box::leak(
            format!("{start}{{\"event_id\":1,\"ts\":500,\"kind\":\"bug_introduced\"}}\n")
                .into_boxed_str(),
        );
        let (ok, err) = follow_lines(lines);
        assert!(
            ok && err.contains("followed    1 events"),
            "{start:?}: {err}"
        );
    }
    let (ok, err) =
        follow_lines("{\"event_id\":70,\"ts\":1000,\"kind\":\"user_registered\",\"user_id\":4}\n");
    assert!(!ok);
    assert!(
        err.contains("no bug deploy") && err.contains("--control") && err.contains("--discovery"),
        "{err}"
    );
    // A control world's stream has none, and says so.
    let (ok, err) = follow_lines_with(
        "{\"event_id\":70,\"ts\":1000,\"kind\":\"user_registered\",\"user_id\":4}\n",
        &["--control"],
    );
    assert!(ok && err.contains("followed    1 events"), "{err}");
}

#[test]
fn bench_live_help_says_how_low_the_search_goes() {
    let o = blastradius(&["bench", "live", "--help"]);
    assert_ok(&o);
    let help = String::from_utf8_lossy(&o.stdout);
    let floor = format!(
        "down to 1/{} of it",
        blastradius_harness::rating::FLOOR_DIVISOR
    );
    assert!(help.contains(&floor), "{floor} missing from: {help}");
}

// Issue 24: a dataset of schema version 1 (unsigned ids) replays as this version's stream.
#[test]
fn a_version_1_dataset_replays_to_the_same_answer() {
    let v1 = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1/sample");
    let tmp = tempfile::tempdir().unwrap();
    let (r, _) = follow_exact(&v1, &tmp.path().join("live"), &[]);
    assert_eq!(live_f1(&r), batch_exact(&v1, &tmp.path().join("batch")));
    assert_eq!(r["scores"]["exposures"]["f1"], 1.0);
}

/// Issue 26: a discovery baseline on the live stream sends alarms; the replay dates each by
/// the log time it had sent when it came, times it from the bug deploy's intended send time,
/// and scores it as `score` scores the folder it writes.
#[test]
fn a_live_discovery_baseline_pages_as_in_batch_and_its_alarms_score_as_a_folder_does() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("d");
    generate_with(&data, "5000", "7", "facebook-2018", &["--discovery"]);
    let batch = t.path().join("batch");
    assert_ok(&blastradius(&[
        "discover",
        path_arg(&data),
        "--detector",
        "policy-replay",
        "--out",
        path_arg(&batch),
    ]));
    let b = read_json(&batch.join("discovery.json"))["detectors"][0]["score"].clone();
    let out = t.path().join("live");
    let (child, addr) = replay(&[
        path_arg(&data),
        "--rate",
        "1000000",
        "--format",
        "arrow",
        "--out",
        path_arg(&out),
        "--wait",
        "30",
    ]);
    let o = Command::new(env!("CARGO_BIN_EXE_blastradius"))
        .args(["detect", "--follow", &addr, "--detector", "policy-replay"])
        .args(["--deploys", path_arg(&data)])
        .output()
        .unwrap();
    assert_ok(&o);
    assert!(finish(child).success());
    let r = live_report(&out);
    // The same flags, the same pager: the batch run's pages, none a finding. Each page says
    // the same (confidence, blamed deploy, users, apps); only its dating is the stream's.
    assert_eq!(r["alarms"], b["alarms"], "{}", stderr(&o));
    let table = |dir: &Path, name: &str, drop_column: Option<usize>| -> Vec<Vec<String>> {
        batches(&dir.join(name))
            .iter()
            .flat_map(crate::control::rows_of)
            .map(|mut row| {
                if let Some(k) = drop_column {
                    row.remove(k);
                }
                row
            })
            .collect()
    };
    let (live_dir, batch_dir) = (out.join("alarms-photo-bug"), batch.join("policy-replay"));
    for (name, drop_column) in [
        ("alarms.parquet", Some(1)),
        ("alarm_users.parquet", None),
        ("alarm_apps.parquet", None),
    ] {
        let live_rows = table(&live_dir, name, drop_column);
        assert!(!live_rows.is_empty(), "{name}");
        assert_eq!(live_rows, table(&batch_dir, name, drop_column), "{name}");
    }
    assert_eq!(r["findings"], 0);
    assert!(stderr(&o).contains(&format!("{} alarms sent", b["alarms"])));
    let d = &r["discovery"][0];
    assert_eq!(d["incident"], "photo-bug");
    assert_eq!(
        d["claims_ahead_of_stream"], 0,
        "our pages never claim the future"
    );
    let (live_any, batch_any) = (&d["score"]["curve"][0], &b["curve"][0]);
    assert_eq!(live_any["attributed"], batch_any["attributed"]);
    assert_eq!(live_any["false_alarms"], 0);
    // Dated by the stream, an alarm is never earlier than the evidence it paged on.
    let ttd = |c: &serde_json::Value| c["time_to_detect_seconds"].as_f64().unwrap();
    assert!(ttd(live_any) >= ttd(batch_any), "{live_any} vs {batch_any}");
    let wall = d["wall"][0]["seconds"].as_f64().unwrap();
    let seconds = r["seconds"].as_f64().unwrap();
    assert!((0.0..seconds).contains(&wall), "{wall} of {seconds}");
    assert!(
        d["onset_due_seconds"].as_f64().unwrap() + wall <= seconds + 30.0,
        "{d}"
    );
    // The folder it wrote scores the same through `score`: every number of the table.
    let again = t.path().join("again");
    assert_ok(&blastradius(&[
        "score",
        path_arg(&data),
        path_arg(&out.join("alarms-photo-bug")),
        "--out",
        path_arg(&again),
    ]));
    let s = read_json(&again.join("discovery.json"));
    assert_eq!(s["detectors"][0]["score"], d["score"]);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("time to detect (wall)"), "{md}");
    assert!(
        !md.contains("user F1"),
        "no finding came: no F1 to show\n{md}"
    );

    // A baseline with no live form, and --deploys for a scoping detector, are refused.
    let e = blastradius(&[
        "detect",
        "--follow",
        "127.0.0.1:9",
        "--detector",
        "aggregate",
    ]);
    assert!(
        !e.status.success() && stderr(&e).contains("no live form"),
        "{}",
        stderr(&e)
    );
    let e = blastradius(&[
        "detect",
        "--follow",
        "127.0.0.1:9",
        "--deploys",
        path_arg(&data),
    ]);
    assert!(
        !e.status.success() && stderr(&e).contains("--deploys is for"),
        "{}",
        stderr(&e)
    );
}
