//! `merge`: parts written apart become the single run's dataset; wrong parts are refused.

use std::path::{Path, PathBuf};

use crate::util::*;

/// Every file under `root`, relative, sorted, hidden ones left out.
fn files(root: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().unwrap().to_string_lossy().starts_with('.') {
                continue;
            }
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn part(t: &Path, i: u32, seed: &str) -> PathBuf {
    let out = t.join(format!("part{i}-seed{seed}"));
    assert_ok(&blastradius(&[
        "generate",
        "--users",
        "3000",
        "--seed",
        seed,
        "--shards",
        "3",
        "--shard",
        &format!("{i}/3"),
        "--out",
        path_arg(&out),
    ]));
    out
}

/// The single-machine run the parts come from, at `t/whole`.
fn whole_run(t: &Path) -> PathBuf {
    let whole = t.join("whole");
    assert_ok(&blastradius(&[
        "generate",
        "--users",
        "3000",
        "--seed",
        "5",
        "--shards",
        "3",
        "--out",
        path_arg(&whole),
    ]));
    whole
}

#[test]
fn parts_written_apart_merge_into_the_single_run_byte_for_byte() {
    let t = tempfile::tempdir().unwrap();
    let whole = whole_run(t.path());
    // Each part by its own process into its own folder, as on three machines.
    let parts: Vec<PathBuf> = [2, 0, 1].iter().map(|&i| part(t.path(), i, "5")).collect();
    let contents = || -> Vec<Vec<u8>> {
        parts
            .iter()
            .flat_map(|p| {
                files(p)
                    .into_iter()
                    .map(move |f| std::fs::read(p.join(f)).unwrap())
            })
            .collect()
    };
    let before = contents();
    let merged = t.path().join("merged");
    let mut args = vec!["merge"];
    args.extend(parts.iter().map(|p| path_arg(p)));
    args.extend(["--out", path_arg(&merged), "--verify"]);
    let o = blastradius(&args);
    assert_ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("merged      3 parts"));
    assert_eq!(files(&merged), files(&whole));
    for f in files(&whole) {
        assert!(
            std::fs::read(whole.join(&f)).unwrap() == std::fs::read(merged.join(&f)).unwrap(),
            "{} differs",
            f.display()
        );
    }
    // The merged dataset analyzes as the whole one does.
    let a = analyze_report(&merged, &t.path().join("report"));
    assert_eq!(row(&a, "exact")["scores"]["users"]["f1"], 1.0);
    // The parts are left as they were.
    assert!(before == contents(), "a part changed");
}

#[test]
fn missing_repeated_foreign_and_whole_parts_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let (p0, p1, p2) = (
        part(t.path(), 0, "5"),
        part(t.path(), 1, "5"),
        part(t.path(), 2, "5"),
    );
    let foreign = part(t.path(), 2, "6");
    let out = t.path().join("out");
    let merge = |parts: &[&PathBuf]| {
        let mut args = vec!["merge"];
        args.extend(parts.iter().map(|p| path_arg(p)));
        args.extend(["--out", path_arg(&out)]);
        blastradius(&args)
    };
    assert_error(
        &merge(&[&p0, &p1]),
        &[
            "1 of 3 shards are missing (2/3)",
            "--shards 3 --compression lz4 --shard I/3",
        ],
    );
    // A part of another version of blastradius (its manifest says so).
    let old = t.path().join("old");
    copy_tree(&p2, &old);
    let m = old.join("manifest.json");
    let text = std::fs::read_to_string(&m).unwrap();
    let ours = format!("\"blastradius {}\"", env!("CARGO_PKG_VERSION"));
    assert!(text.contains(&ours), "{text}");
    std::fs::write(&m, text.replace(&ours, "\"blastradius 0.0.1\"")).unwrap();
    assert_error(
        &merge(&[&p0, &p1, &old]),
        &[
            "made by blastradius 0.0.1",
            "the version that generated the parts",
        ],
    );
    assert_error(
        &merge(&[&p0, &p1, &p1]),
        &["is shard 1/3, and so is", "once"],
    );
    assert_error(
        &merge(&[&p0, &p1, &foreign]),
        &["part2-seed6", "another run", "seed is 6", "has 5"],
    );
    let whole = whole_run(t.path());
    assert_error(&merge(&[&whole]), &["whole dataset, not a part"]);
    // A part's shard damaged after it was written: sizes always, checksums with --verify.
    let shard = p2.join("events/part-00002.parquet");
    let mut bytes = std::fs::read(&shard).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&shard, &bytes).unwrap();
    let o = blastradius(&[
        "merge",
        path_arg(&p0),
        path_arg(&p1),
        path_arg(&p2),
        "--out",
        path_arg(&out),
        "--verify",
    ]);
    assert_error(&o, &["part-00002.parquet", "SHA-256"]);
    std::fs::write(&shard, &bytes[..n - 10]).unwrap();
    assert_error(
        &merge(&[&p0, &p1, &p2]),
        &["part-00002.parquet", "bytes but the part's manifest says"],
    );
    assert!(!out.exists(), "nothing is left behind by a refused merge");
}

#[test]
fn a_folder_of_copied_parts_is_refused_by_analyze() {
    // The mistake a merge prevents: copying the parts' files into one folder leaves one
    // part's manifest beside every shard.
    let t = tempfile::tempdir().unwrap();
    let (p0, p1) = (part(t.path(), 0, "5"), part(t.path(), 1, "5"));
    let mixed = t.path().join("mixed");
    copy_tree(&p0, &mixed);
    for dir in [
        "events",
        "users",
        "truth/exposures",
        "truth/affected_users",
        "truth/message_violations",
    ] {
        for e in std::fs::read_dir(p1.join(dir)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), mixed.join(dir).join(e.file_name())).unwrap();
        }
    }
    let o = blastradius(&[
        "analyze",
        path_arg(&mixed),
        "--out",
        path_arg(&t.path().join("r")),
    ]);
    assert_error(&o, &["part-00001.parquet", "not in its manifest"]);
}
