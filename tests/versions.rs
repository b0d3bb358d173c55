//! Datasets of schema version 1 (unsigned ids, 32-bit app and provider ids), as the build
//! before version 2 wrote them (committed under tests/fixtures/v1), read by this build: every
//! answer must be its twin's of today (version 3), made by the same command.

use std::path::{Path, PathBuf};

use crate::util::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/v1")
        .join(name)
}

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample")
}

/// The Parquet files under `dir`, by path relative to it, with their bytes.
fn parquet_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .map(|p| {
            (
                p.strip_prefix(dir).unwrap().to_path_buf(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

fn schema_version(dataset: &Path) -> u64 {
    read_json(&dataset.join("manifest.json"))["schema_version"]
        .as_u64()
        .unwrap()
}

/// The same findings, byte for byte, in every file `analyze` wrote, from both versions.
fn assert_same_findings(old: &Path, new: &Path) {
    let (a, b) = (parquet_under(old), parquet_under(new));
    assert!(!a.is_empty());
    assert_eq!(
        a.iter().map(|f| &f.0).collect::<Vec<_>>(),
        b.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for ((path, x), (_, y)) in a.iter().zip(&b) {
        assert!(
            x == y,
            "{} differs between the two versions",
            path.display()
        );
    }
}

#[test]
fn a_version_1_dataset_answers_as_its_twin_of_today() {
    let (old, new) = (fixture("sample"), sample());
    // Version 3 added the platform's ordinary deploys, which change no answer.
    assert_eq!((schema_version(&old), schema_version(&new)), (1, 3));
    let t = tempfile::tempdir().unwrap();
    let a = analyze_report(&old, &t.path().join("a1"));
    let b = analyze_report(&new, &t.path().join("a2"));
    assert_same_findings(&t.path().join("a1"), &t.path().join("a2"));
    for detector in ["exact", "naive", "streaming"] {
        assert_eq!(row(&a, detector)["scores"], row(&b, detector)["scores"]);
    }
    assert_eq!(row(&a, "exact")["scores"]["exposures"]["f1"], 1.0);

    // lookup: an affected user (the first of the truth's) and one who is not.
    let affected = exposure_rows(&new.join("truth/exposures"))[0].1.to_string();
    for user in [affected.as_str(), "1"] {
        let answer = |d: &Path| {
            let o = blastradius(&["lookup", path_arg(d), user, "--json"]);
            assert_ok(&o);
            let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            v.as_object_mut().unwrap().remove("milliseconds");
            v
        };
        assert_eq!(answer(&old), answer(&new), "lookup of user {user}");
    }

    // export: the same notification lists and per-app files.
    for what in ["apps", "users"] {
        let out = |n: &str| t.path().join(format!("{what}-{n}"));
        for (d, n) in [(&old, "1"), (&new, "2")] {
            assert_ok(&blastradius(&[
                "export",
                what,
                path_arg(d),
                "--out",
                path_arg(&out(n)),
            ]));
        }
        assert_same_findings(&out("1"), &out("2"));
    }
}

#[test]
fn a_damaged_version_1_copy_and_a_blind_one_with_its_key_still_score() {
    let t = tempfile::tempdir().unwrap();
    // Its twin: the same preset, size and seed, damaged by the same faults.
    let twin = t.path().join("mp");
    let old = fixture("mp-damaged");
    let made_by = read_json(&old.join("manifest.json"))["perturbation"]["source_command"].clone();
    assert_eq!(
        made_by,
        "blastradius generate --users 600 --seed 7 --scenario messaging-partners --shards 1 --compression lz4"
    );
    assert_ok(&blastradius(&[
        "generate",
        "--users",
        "600",
        "--seed",
        "7",
        "--scenario",
        "messaging-partners",
        "--shards",
        "1",
        "--out",
        path_arg(&twin),
    ]));
    let faults = &read_json(&old.join("manifest.json"))["perturbation"]["faults"];
    assert!(faults.is_object(), "the fixture records its faults");
    let damaged = t.path().join("mp-damaged");
    assert_ok(&blastradius(&[
        "perturb",
        path_arg(&twin),
        "--out",
        path_arg(&damaged),
        "--drop",
        "0.01",
        "--duplicate",
        "0.01",
        "--reorder",
        "5m",
        "--skew",
        "30s",
        "--truncate",
        "25d",
    ]));
    assert_eq!(
        &read_json(&damaged.join("manifest.json"))["perturbation"]["faults"],
        faults,
        "the twin is damaged as the fixture was"
    );
    let a = analyze_report(&old, &t.path().join("a1"));
    let b = analyze_report(&damaged, &t.path().join("a2"));
    assert_same_findings(&t.path().join("a1"), &t.path().join("a2"));
    assert_eq!(row(&a, "exact")["scores"], row(&b, "exact")["scores"]);
    let found = &row(&a, "exact")["scores"]["violations"]["true_positives"];
    assert!(found.as_u64().unwrap() > 0, "{found}");

    // A blind dataset of version 1, scored with its version 1 answer key.
    let out = t.path().join("blind");
    let o = blastradius(&[
        "analyze",
        path_arg(&fixture("blind")),
        "--truth",
        path_arg(&fixture("key")),
        "--detector",
        "exact",
        "--out",
        path_arg(&out),
    ]);
    assert_ok(&o);
    let report = read_json(&out.join("report.json"));
    assert_eq!(row(&report, "exact")["scores"]["violations"]["f1"], 1.0);
}

#[test]
fn version_1_is_read_but_never_written_over() {
    let t = tempfile::tempdir().unwrap();
    // perturb would write its log in this version's types beside files of the old one.
    let o = blastradius(&[
        "perturb",
        path_arg(&fixture("sample")),
        "--out",
        path_arg(&t.path().join("p")),
        "--drop",
        "0.1",
    ]);
    assert_error(
        &o,
        &[
            "manifest.json",
            "schema version 1",
            "blastradius generate --users 5000 --seed 7",
        ],
    );
    assert!(!t.path().join("p").exists());
    // stress damages copies with perturb: refused before any detector runs.
    let o = blastradius(&[
        "stress",
        path_arg(&fixture("sample")),
        "--out",
        path_arg(&t.path().join("s")),
    ]);
    assert_error(&o, &["manifest.json", "schema version 1", "stress"]);
    assert!(!t.path().join("s").exists());
}
