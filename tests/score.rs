//! Issue 9: any detector is scored like ours. `score` reproduces `analyze`, scores findings
//! written by hand (CSV) with the counts they must give, and blind datasets are scored later
//! with their own key only.

use std::path::{Path, PathBuf};

use crate::util::*;

/// The truth's exposures of a dataset, read with the plain Parquet reader.
fn truth_exposures(dataset: &Path) -> Vec<(u32, u64, u64)> {
    let mut out = exposure_rows(&dataset.join("truth/exposures"));
    out.sort();
    out
}

#[test]
fn score_reproduces_analyze_for_the_built_in_detectors() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    generate_into(&data, "6000", "21", "messaging-partners");
    let analyzed = tmp.path().join("a");
    let a = analyze_report(&data, &analyzed);
    let scored = tmp.path().join("s");
    let o = blastradius(&[
        "score",
        path_arg(&data),
        path_arg(&analyzed.join("exact")),
        path_arg(&analyzed.join("naive")),
        path_arg(&analyzed.join("streaming")),
        "--out",
        path_arg(&scored),
    ]);
    assert_ok(&o);
    let s = read_json(&scored.join("report.json"));
    for name in ["exact", "naive", "streaming"] {
        let (from_analyze, from_score) = (row(&a, name), row(&s, name));
        assert_eq!(from_analyze["scores"], from_score["scores"], "{name}");
        assert_eq!(from_analyze["levels"], from_score["levels"], "{name}");
        assert_eq!(
            from_analyze["affected_users"], from_score["affected_users"],
            "{name}"
        );
        assert_eq!(from_score["origin"], "outside");
        // The timing travels in findings.json.
        assert_eq!(from_analyze["wall_seconds"], from_score["wall_seconds"]);
    }
    assert_eq!(row(&s, "naive")["levels"], serde_json::json!(["users"]));
    assert_eq!(a["apps"], s["apps"], "per-app counts agree");
    assert_eq!(a["providers"], s["providers"]);
}

#[test]
fn hand_written_csv_findings_score_as_they_must() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    generate_into(&data, "12000", "22", "facebook-2018");
    let truth = truth_exposures(&data);
    assert!(truth.len() > 10, "enough truth to play with");
    // Findings: every true exposure but the first user's, plus one invented exposure of a
    // user who has none (a photo of theirs that no app saw).
    let missed_user = truth[0].1;
    let kept: Vec<_> = truth.iter().filter(|e| e.1 != missed_user).collect();
    let invented_user = (0..12000u64)
        .find(|u| truth.iter().all(|e| e.1 != *u))
        .unwrap();
    let invented_photo = ((invented_user + 1) << 24) | 5;
    let dir = tmp.path().join("mine");
    std::fs::create_dir(&dir).unwrap();
    let mut csv = String::from("app_id,user_id,photo_id,note\n");
    for e in &kept {
        csv.push_str(&format!("{},{},{},seen\n", e.0, e.1, e.2));
    }
    csv.push_str(&format!(
        "{},{invented_user},{invented_photo},guess\n",
        truth[0].0
    ));
    std::fs::write(dir.join("exposures.csv"), csv).unwrap();
    std::fs::write(
        dir.join("findings.json"),
        r#"{"detector": "by hand", "wall_seconds": 2.0, "events": 1000000, "peak_memory_bytes": 1048576}"#,
    )
    .unwrap();
    let out = tmp.path().join("s");
    assert_ok(&blastradius(&[
        "score",
        path_arg(&data),
        path_arg(&dir),
        "--out",
        path_arg(&out),
    ]));
    let r = read_json(&out.join("report.json"));
    let me = row(&r, "by hand");
    let missed = truth.iter().filter(|e| e.1 == missed_user).count() as u64;
    let e = &me["scores"]["exposures"];
    assert_eq!(e["true_positives"], kept.len() as u64);
    assert_eq!(e["false_positives"], 1);
    assert_eq!(e["false_negatives"], missed);
    let u = &me["scores"]["users"];
    assert_eq!(
        (u["false_positives"].as_u64(), u["false_negatives"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(me["levels"], serde_json::json!(["users", "exposures"]));
    assert!(
        me["scores"]["violations"].is_null(),
        "not reported, not scored"
    );
    assert_eq!(me["events_per_second"], 500000.0);
    // The users it missed and invented, as Parquet, for its author.
    let missed_file = out.join("by_hand/missed_users.parquet");
    assert_eq!(rows(&missed_file), 1);
    assert_eq!(rows(&out.join("by_hand/extra_users.parquet")), 1);
    assert_eq!(rows(&out.join("by_hand/missed_exposures.parquet")), missed);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("| by hand |"), "{md}");

    // A detector names itself: whatever the name, the report's tables keep their columns.
    let odd = tmp.path().join("odd");
    std::fs::create_dir(&odd).unwrap();
    std::fs::write(odd.join("exposures.csv"), "app_id,user_id,photo_id\n").unwrap();
    std::fs::write(
        odd.join("findings.json"),
        r#"{"detector": "a|b`c\nd", "wall_seconds": 1.0}"#,
    )
    .unwrap();
    let out = tmp.path().join("s2");
    assert_ok(&blastradius(&[
        "score",
        path_arg(&data),
        path_arg(&odd),
        "--out",
        path_arg(&out),
    ]));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("| a\\|b'c d |"), "{md}");
    // And a run cannot take less than no time.
    std::fs::write(odd.join("findings.json"), r#"{"wall_seconds": -5}"#).unwrap();
    let o = blastradius(&[
        "score",
        path_arg(&data),
        path_arg(&odd),
        "--out",
        path_arg(&tmp.path().join("s3")),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("wall_seconds is -5"), "{}", stderr(&o));
}

#[test]
fn a_blind_dataset_is_analyzed_blind_and_scored_with_its_own_key_only() {
    let tmp = tempfile::tempdir().unwrap();
    let (blind, key) = (tmp.path().join("blind"), tmp.path().join("key"));
    assert_ok(&blastradius(&[
        "generate",
        "--users",
        "5000",
        "--seed",
        "23",
        "--shards",
        "2",
        "--out",
        path_arg(&blind),
        "--split-truth",
        path_arg(&key),
    ]));
    assert!(
        !blind.join("truth").exists(),
        "the dataset travels without its answers"
    );
    let manifest = read_json(&blind.join("manifest.json"));
    assert!(
        manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| !f["path"].as_str().unwrap().starts_with("truth/"))
    );
    use sha2::Digest;
    let key_sha: String = sha2::Sha256::digest(std::fs::read(key.join("key.json")).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(manifest["truth_key"]["sha256"], key_sha.as_str());

    // Analyzed blind: findings written, nothing scored, and it says so.
    let out = tmp.path().join("r");
    let o = blastradius(&["analyze", path_arg(&blind), "--out", path_arg(&out)]);
    assert_ok(&o);
    assert!(stderr(&o).contains("not scored"), "{}", stderr(&o));
    let r = read_json(&out.join("report.json"));
    assert!(r["truth"].is_null() && row(&r, "exact")["scores"].is_null());
    // Scored later with the key, exactly.
    let scored = tmp.path().join("s");
    assert_ok(&blastradius(&[
        "score",
        path_arg(&blind),
        path_arg(&out.join("exact")),
        "--truth",
        path_arg(&key),
        "--out",
        path_arg(&scored),
    ]));
    let s = read_json(&scored.join("report.json"));
    assert_eq!(row(&s, "exact")["scores"]["exposures"]["f1"], 1.0);
    // The same key scores a damaged copy of the dataset (the truth is what happened)...
    let damaged = tmp.path().join("damaged");
    assert_ok(&blastradius(&[
        "perturb",
        path_arg(&blind),
        path_arg(&damaged),
        "--drop",
        "0.05",
    ]));
    assert_ok(&blastradius(&[
        "analyze",
        path_arg(&damaged),
        "--truth",
        path_arg(&key),
        "--out",
        path_arg(&tmp.path().join("rd")),
        "--detector",
        "exact",
    ]));
    // ...and no other dataset.
    let other = tmp.path().join("other");
    let other_key = tmp.path().join("other-key");
    assert_ok(&blastradius(&[
        "generate",
        "--users",
        "5000",
        "--seed",
        "24",
        "--shards",
        "2",
        "--out",
        path_arg(&other),
        "--split-truth",
        path_arg(&other_key),
    ]));
    let o = blastradius(&[
        "score",
        path_arg(&blind),
        path_arg(&out.join("exact")),
        "--truth",
        path_arg(&other_key),
        "--out",
        path_arg(&tmp.path().join("x")),
    ]);
    assert_error(&o, &["other-key", "not the answer key", "SHA-256"]);
    // A dataset with its truth inside refuses a key of another world too.
    let full = tmp.path().join("full");
    generate_into(&full, "5000", "25", "facebook-2018");
    let o = blastradius(&[
        "analyze",
        path_arg(&full),
        "--truth",
        path_arg(&key),
        "--out",
        path_arg(&tmp.path().join("y")),
    ]);
    assert_error(&o, &["not the answer key", "seed 23"]);
}

/// Every key-value pair in the footer of every Parquet file under `dir`.
fn footers(dir: &Path) -> Vec<(PathBuf, String, String)> {
    use parquet::file::reader::FileReader;
    let mut out = Vec::new();
    for p in files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
    {
        let file = std::fs::File::open(&p).unwrap();
        let reader = parquet::file::serialized_reader::SerializedFileReader::new(file).unwrap();
        let meta = reader.metadata().file_metadata().clone();
        for kv in meta.key_value_metadata().into_iter().flatten() {
            out.push((
                p.clone(),
                kv.key.clone(),
                kv.value.clone().unwrap_or_default(),
            ));
        }
    }
    out
}

// Issue 20: a blind dataset's manifest held the answer counts, and its manifest and every
// footer the seed and the whole command: re-running it rebuilt the key byte for byte.
#[test]
fn a_blind_dataset_carries_nothing_that_rebuilds_its_key() {
    let tmp = tempfile::tempdir().unwrap();
    let (blind, key) = (tmp.path().join("blind"), tmp.path().join("key"));
    let o = blastradius(&[
        "generate",
        "--users",
        "4000",
        "--scenario",
        "messaging-partners",
        "--out",
        path_arg(&blind),
        "--split-truth",
        path_arg(&key),
    ]);
    assert_ok(&o);
    let printed = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(printed.contains("seed in the answer key only"), "{printed}");
    let key_json = read_json(&key.join("key.json"));
    let seed = key_json["seed"].as_u64().expect("the key holds the seed");
    assert_ne!(seed, 2018, "a blind run draws a fresh seed");
    assert!(key_json["counts"]["exposures"].as_u64().is_some());
    assert!(!key_json["calibration"].as_array().unwrap().is_empty());

    // Nothing answer-derived, no seed, in the manifest.
    let m = read_json(&blind.join("manifest.json"));
    assert!(m.get("seed").is_none(), "{m}");
    for answer in [
        "exposures",
        "affected_users",
        "affected_apps",
        "affected_providers",
        "message_violations",
    ] {
        assert!(m["counts"].get(answer).is_none(), "counts.{answer}: {m}");
    }
    assert_eq!(m["calibration"], serde_json::json!([]));
    let command = m["command"].as_str().unwrap();
    assert!(!command.contains("--seed"), "{command}");
    let text = std::fs::read_to_string(blind.join("manifest.json")).unwrap();
    assert!(
        !text.contains(&seed.to_string()),
        "the seed is nowhere in it"
    );
    // ... nor in any footer.
    let kv = footers(&blind);
    assert!(!kv.is_empty());
    for (p, k, v) in &kv {
        assert!(k != "blastradius.seed", "{}: {k}", p.display());
        assert!(!v.contains(&seed.to_string()), "{}: {k} = {v}", p.display());
        assert!(!v.contains("--seed"), "{}: {k} = {v}", p.display());
    }

    // Fed back: the command it names (its flags, the default seed) gives another world,
    // whose truth is not the key's and which the key refuses to score.
    let again = tmp.path().join("again");
    let mut args: Vec<String> = command
        .split(" --split-truth")
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(String::from)
        .collect();
    args.extend(["--out".into(), path_arg(&again).into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_ok(&blastradius(&args));
    // The rows, not the bytes: a blind run's files carry no seed in their footers.
    let read = |d: &Path| truth_exposures(d);
    assert!(
        read(&again) != read(&key),
        "the fed-back world is another one"
    );
    let o = blastradius(&[
        "score",
        path_arg(&blind),
        path_arg(&again.join("truth")),
        "--truth",
        path_arg(&key),
        "--out",
        path_arg(&tmp.path().join("s")),
    ]);
    assert_ok(&o);
    let s = read_json(&tmp.path().join("s/report.json"));
    let f1 = s["detectors"][0]["scores"]["exposures"]["f1"]
        .as_f64()
        .unwrap();
    assert!(f1 < 0.5, "the fed-back truth scores {f1} against the key");
    // With the key's seed (which only the key holds), the world is the blind one.
    let same = tmp.path().join("same");
    let seed_text = seed.to_string();
    let mut with_seed = args.clone();
    with_seed.pop();
    with_seed.pop();
    with_seed.extend(["--seed", &seed_text, "--out", path_arg(&same)]);
    assert_ok(&blastradius(&with_seed));
    assert!(
        read(&same) == read(&key),
        "the key's seed makes the blind world"
    );
}

// Issue 22: `generate --split-truth KEY_OF_ANOTHER_DATASET --out NEW --force` replaced that
// other dataset's key.
#[test]
fn force_never_replaces_the_key_of_another_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let t = |n: &str| tmp.path().join(n);
    let make = |out: &Path, key: &Path, seed: &str, force: bool| {
        let mut args = vec![
            "generate",
            "--users",
            "2000",
            "--seed",
            seed,
            "--out",
            path_arg(out),
            "--split-truth",
            path_arg(key),
        ];
        if force {
            args.push("--force");
        }
        blastradius(&args)
    };
    assert_ok(&make(&t("a"), &t("key-a"), "5", false));
    let key_before = std::fs::read(t("key-a/key.json")).unwrap();
    // Another dataset's output, A's key: refused, the key untouched.
    let o = make(&t("b"), &t("key-a"), "6", true);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("holds the answer key of another dataset"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(t("key-a/key.json")).unwrap(), key_before);
    assert!(!t("b").exists());
    // A made again over itself with its own key: allowed.
    assert_ok(&make(&t("a"), &t("key-a"), "5", true));
}
