//! Issue 13: no data loss. Outputs appear whole or not at all, whatever kills a run and
//! whoever else writes to the same folder; nothing a run did not create is deleted.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use crate::util::*;

fn spawn(args: &[&str], dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_blastradius"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `dir` is a complete dataset: a manifest whose every file is there with its
/// checksum. Returns the manifest's command when it is.
fn complete_dataset(dir: &Path) -> Option<String> {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).ok()?).ok()?;
    for f in m["files"].as_array()? {
        let bytes = std::fs::read(dir.join(f["path"].as_str()?)).ok()?;
        if sha256(&bytes) != f["sha256"].as_str()? {
            return None;
        }
    }
    Some(m["command"].as_str()?.to_string())
}

/// Whether `dir` is a complete report: report.json, report.md, and the findings of every
/// detector it lists, of the dataset it names.
fn complete_report(dir: &Path) -> Option<String> {
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).ok()?).ok()?;
    std::fs::metadata(dir.join("report.md")).ok()?;
    for d in r["detectors"].as_array()? {
        let name = d["detector"].as_str()?;
        std::fs::metadata(dir.join(name).join("findings.json")).ok()?;
        let listed = d["affected_users"].as_u64()?;
        if rows(&dir.join(name).join("affected_users.parquet")) != listed {
            return None;
        }
    }
    Some(r["dataset"].as_str()?.to_string())
}

/// Hidden folders runs leave beside `dir`.
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::read_dir(dir.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!(".{name}."))
        })
        .collect()
}

/// Kills `args` at `points` moments spread over its usual run time, and after each kill checks
/// that `out` is absent, the old output, or the new one: `state` tells which.
fn kill_at_random_points(
    dir: &Path,
    args: &[&str],
    out: &Path,
    state: impl Fn(&Path) -> Option<String>,
    allowed: &[Option<String>],
    points: usize,
) {
    let started = Instant::now();
    let mut child = spawn(args, dir);
    assert!(child.wait().unwrap().success(), "a full run succeeds");
    let full = started.elapsed();
    // A fixed pseudo-random sequence of moments, so a failure replays.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for k in 0..points {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let at = full.mul_f64((x % 1000) as f64 / 1000.0 * 1.1);
        let mut child = spawn(args, dir);
        std::thread::sleep(at);
        let _ = child.kill();
        let _ = child.wait();
        let now = state(out);
        assert!(
            allowed.contains(&now) || (now.is_none() && !out.exists()),
            "kill {k} at {at:?} of {full:?}: {} is neither absent, the old output nor the new one ({now:?})",
            out.display()
        );
    }
    // The next run cleans up after the killed ones and succeeds.
    let o = Command::new(env!("CARGO_BIN_EXE_blastradius"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert_ok(&o);
    assert!(leftovers(out).is_empty(), "{:?}", leftovers(out));
}

#[test]
fn killed_generate_leaves_the_old_dataset_or_the_new_one() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("d");
    generate_into(&out, "2000", "1", "facebook-2018");
    let old = complete_dataset(&out);
    let args = [
        "generate", "--users", "40000", "--seed", "2", "--out", "d", "--force",
    ];
    let new = Some(
        "blastradius generate --users 40000 --seed 2 --scenario facebook-2018 --shards 8 --compression lz4"
            .to_string(),
    );
    kill_at_random_points(tmp.path(), &args, &out, complete_dataset, &[old, new], 10);
}

#[test]
fn killed_perturb_leaves_the_old_copy_or_the_new_one() {
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("src");
    generate_into(&source, "20000", "3", "facebook-2018");
    let out = tmp.path().join("p");
    let o = blastradius(&[
        "perturb",
        path_arg(&source),
        path_arg(&out),
        "--drop",
        "0.1",
    ]);
    assert_ok(&o);
    let state = |p: &Path| {
        complete_dataset(p)?;
        let m = read_json(&p.join("manifest.json"));
        Some(m["perturbation"]["faults"]["drop"].to_string())
    };
    let old = state(&out);
    let args = [
        "perturb",
        "src",
        "p",
        "--drop",
        "0.2",
        "--reorder",
        "1h",
        "--force",
    ];
    kill_at_random_points(
        tmp.path(),
        &args,
        &out,
        state,
        &[old, Some("0.2".into())],
        10,
    );
}

#[test]
fn killed_analyze_leaves_a_report_that_matches_its_findings() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    generate_into(&a, "3000", "4", "facebook-2018");
    generate_into(&b, "30000", "5", "messaging-partners");
    let out = tmp.path().join("r");
    let o = blastradius_in(tmp.path(), &["analyze", "a", "--out", "r"]);
    assert_ok(&o);
    let old = complete_report(&out);
    assert_eq!(old.as_deref(), Some("a"));
    let args = ["analyze", "b", "--out", "r", "--force"];
    kill_at_random_points(
        tmp.path(),
        &args,
        &out,
        complete_report,
        &[old, Some("b".into())],
        10,
    );
}

// Issue 13: the existence check was at the start, the rename at the end, so two runs both
// "succeeded" and one dataset silently replaced the other.
#[test]
fn two_runs_into_one_folder_cannot_both_win() {
    let tmp = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let out = format!("d{round}");
        let mut first = Command::new(env!("CARGO_BIN_EXE_blastradius"))
            .args(["generate", "--users", "20000", "--seed", "1", "--out", &out])
            .current_dir(tmp.path())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let second = Command::new(env!("CARGO_BIN_EXE_blastradius"))
            .args(["generate", "--users", "20000", "--seed", "2", "--out", &out])
            .current_dir(tmp.path())
            .output()
            .unwrap();
        let first_ok = first.wait().unwrap().success();
        let mut first_err = String::new();
        use std::io::Read;
        first
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut first_err)
            .unwrap();
        assert!(
            first_ok != second.status.success(),
            "exactly one wins: {first_err} / {}",
            stderr(&second)
        );
        let loser = if first_ok { stderr(&second) } else { first_err };
        assert!(
            loser.contains("another run") || loser.contains("already there"),
            "{loser}"
        );
        let winner_seed = if first_ok { "--seed 1" } else { "--seed 2" };
        let command = complete_dataset(&tmp.path().join(&out)).expect("a complete dataset");
        assert!(command.contains(winner_seed), "{command}");
    }
}

// Issue 13: a reused report folder kept the folders of detectors the new run did not run.
#[test]
fn a_replaced_report_holds_only_the_new_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = small_dataset();
    let out = tmp.path().join("r");
    assert_ok(&blastradius(&[
        "analyze",
        path_arg(&data),
        "--out",
        path_arg(&out),
    ]));
    assert!(out.join("naive").is_dir());
    let again = blastradius(&[
        "analyze",
        path_arg(&data),
        "--out",
        path_arg(&out),
        "--detector",
        "exact",
    ]);
    assert_error(&again, &["already there", "--force"]);
    assert_ok(&blastradius(&[
        "analyze",
        path_arg(&data),
        "--out",
        path_arg(&out),
        "--detector",
        "exact",
        "--force",
    ]));
    assert!(out.join("exact").is_dir() && !out.join("naive").exists());
}

// Issue 13: `stress --out DIR` deleted DIR/work, and the input with it when it lived there.
#[test]
fn stress_never_deletes_what_it_did_not_make() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("s");
    let input = out.join("work");
    copy_tree(&small_dataset(), &input);
    let before = std::fs::read(input.join("manifest.json")).unwrap();
    let o = blastradius(&[
        "stress",
        path_arg(&input),
        "--out",
        path_arg(&out),
        "--force",
    ]);
    assert_error(&o, &["holds the input"]);
    assert_eq!(std::fs::read(input.join("manifest.json")).unwrap(), before);
    assert!(complete_dataset(&input).is_some());
}

// Issue 13: `analyze | head -1` stopped at the broken pipe, exit 0, with no report.
#[test]
fn a_closed_pipe_does_not_stop_the_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    let script = format!(
        "'{}' analyze '{}' --out '{}' | head -1 >/dev/null",
        env!("CARGO_BIN_EXE_blastradius"),
        small_dataset().display(),
        out.display()
    );
    let o = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    assert_ok(&o);
    assert!(complete_report(&out).is_some(), "the report is written");
}

// Issue 22: the kill tests cover the newer commands that write folders too.
#[test]
fn killed_merge_leaves_the_old_dataset_or_the_new_one() {
    let tmp = tempfile::tempdir().unwrap();
    for (seed, parts) in [("2", "a"), ("3", "b")] {
        for i in 0..2 {
            let o = blastradius_in(
                tmp.path(),
                &[
                    "generate",
                    "--users",
                    "30000",
                    "--seed",
                    seed,
                    "--shards",
                    "2",
                    "--shard",
                    &format!("{i}/2"),
                    "--out",
                    &format!("{parts}{i}"),
                ],
            );
            assert_ok(&o);
        }
    }
    let out = tmp.path().join("m");
    assert_ok(&blastradius_in(
        tmp.path(),
        &["merge", "a0", "a1", "--out", "m"],
    ));
    let old = complete_dataset(&out);
    assert!(
        old.as_deref().is_some_and(|c| c.contains("--seed 2")),
        "{old:?}"
    );
    let new = Some(old.clone().unwrap().replace("--seed 2", "--seed 3"));
    let args = ["merge", "b0", "b1", "--out", "m", "--force", "--verify"];
    kill_at_random_points(tmp.path(), &args, &out, complete_dataset, &[old, new], 10);
}

#[test]
fn killed_export_leaves_the_old_export_or_the_new_one() {
    let tmp = tempfile::tempdir().unwrap();
    generate_into(&tmp.path().join("a"), "3000", "4", "facebook-2018");
    generate_into(&tmp.path().join("b"), "60000", "5", "facebook-2018");
    let out = tmp.path().join("e");
    // Whole: both files, the CSV holding the Parquet's rows; which export: how many users.
    let state = |p: &Path| {
        let n = rows(&p.join("users.parquet"));
        let csv = std::fs::read_to_string(p.join("users.csv")).ok()?;
        (csv.lines().count() as u64 == n + 1).then(|| n.to_string())
    };
    assert_ok(&blastradius_in(
        tmp.path(),
        &["export", "users", "a", "--out", "e"],
    ));
    let old = state(&out);
    assert!(old.is_some());
    let args = ["export", "users", "b", "--out", "e", "--force"];
    assert_ok(&blastradius_in(
        tmp.path(),
        &["export", "users", "b", "--out", "e2"],
    ));
    let new = state(&tmp.path().join("e2"));
    assert_ne!(old, new, "the two exports differ");
    kill_at_random_points(tmp.path(), &args, &out, state, &[old, new], 10);
}

#[test]
fn killed_score_leaves_a_report_that_matches_its_findings() {
    let tmp = tempfile::tempdir().unwrap();
    generate_into(&tmp.path().join("a"), "3000", "4", "facebook-2018");
    generate_into(&tmp.path().join("b"), "30000", "5", "messaging-partners");
    for d in ["a", "b"] {
        let o = blastradius_in(
            tmp.path(),
            &[
                "analyze",
                d,
                "--detector",
                "exact",
                "--out",
                &format!("{d}-r"),
            ],
        );
        assert_ok(&o);
    }
    let out = tmp.path().join("s");
    assert_ok(&blastradius_in(
        tmp.path(),
        &["score", "a", "a-r/exact", "--name", "mine", "--out", "s"],
    ));
    // A score's report holds no findings (they are the detector's folder): report.json,
    // report.md and, per detector, what it missed and added.
    let state = |p: &Path| {
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(p.join("report.json")).ok()?).ok()?;
        std::fs::metadata(p.join("report.md")).ok()?;
        for d in r["detectors"].as_array()? {
            let dir = p.join(d["detector"].as_str()?);
            std::fs::metadata(dir.join("missed_users.parquet")).ok()?;
            std::fs::metadata(dir.join("extra_users.parquet")).ok()?;
        }
        Some(r["dataset"].as_str()?.to_string())
    };
    let old = state(&out);
    assert_eq!(old.as_deref(), Some("a"));
    let args = [
        "score",
        "b",
        "b-r/exact",
        "--name",
        "mine",
        "--out",
        "s",
        "--force",
    ];
    kill_at_random_points(tmp.path(), &args, &out, state, &[old, Some("b".into())], 10);
}

#[test]
fn killed_replay_leaves_the_old_report_or_the_new_one() {
    let tmp = tempfile::tempdir().unwrap();
    generate_into(&tmp.path().join("a"), "3000", "4", "facebook-2018");
    generate_into(&tmp.path().join("b"), "30000", "5", "facebook-2018");
    let out = tmp.path().join("r");
    // Whole: every file of the report, report.json naming the dataset it replayed.
    let state = |p: &Path| {
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(p.join("report.json")).ok()?).ok()?;
        for f in ["report.md", "live.html", "latency.hgrm"] {
            std::fs::metadata(p.join(f)).ok()?;
        }
        Some(r["dataset"].as_str()?.to_string())
    };
    let replay = |dataset: &'static str, force: bool| {
        let mut args = vec![
            "replay", dataset, "--stdout", "--rate", "200000", "--out", "r",
        ];
        if force {
            args.push("--force");
        }
        args
    };
    let o = Command::new(env!("CARGO_BIN_EXE_blastradius"))
        .args(replay("a", false))
        .current_dir(tmp.path())
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert_ok(&o);
    let old = state(&out);
    assert_eq!(old.as_deref(), Some("a"));
    kill_at_random_points(
        tmp.path(),
        &replay("b", true),
        &out,
        state,
        &[old, Some("b".into())],
        10,
    );
}
