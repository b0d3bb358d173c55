//! `analyze` and `run`: detection against the truth, damaged files named.

use blastradius_schema::arrays::Ints;
use std::path::Path;
use std::process::Command;

use crate::util::*;

#[test]
fn exact_finds_exactly_the_truth_and_naive_bounds_it() {
    let dir = tempfile::tempdir().unwrap();
    for (users, seed, scenario) in [
        ("4000", "1", "facebook-2018"),
        ("2500", "2", "messaging-partners"),
        ("7000", "3", "facebook-2018"),
    ] {
        let data = dir.path().join(format!("d{seed}"));
        generate_into(&data, users, seed, scenario);
        let report = analyze_report(&data, &dir.path().join(format!("r{seed}")));
        let detectors = report["detectors"].as_array().unwrap();
        let exact = detectors.iter().find(|d| d["detector"] == "exact").unwrap();
        for level in ["users", "exposures", "violations"] {
            let s = &exact["scores"][level];
            let truth = match level {
                "users" => &report["truth"]["affected_users"],
                "exposures" => &report["truth"]["exposures"],
                _ => &report["truth"]["message_violations"],
            };
            if truth == 0 {
                // Nothing to find and nothing reported: no ratio, not a perfect 1.0.
                assert_eq!(s["f1"], serde_json::Value::Null, "seed {seed}: {s}");
                assert_eq!(s["false_positives"], 0, "seed {seed}: {s}");
                continue;
            }
            assert_eq!(
                s["precision"], 1.0,
                "exact {level} precision, seed {seed}: {s}"
            );
            assert_eq!(s["recall"], 1.0, "exact {level} recall, seed {seed}: {s}");
        }
        assert!(exact["affected_users"].as_u64().unwrap() > 0, "seed {seed}");
        let naive = detectors.iter().find(|d| d["detector"] == "naive").unwrap();
        assert_eq!(
            naive["scores"]["users"]["recall"], 1.0,
            "naive recall, seed {seed}"
        );
        assert!(
            naive["scores"]["users"]["precision"].as_f64().unwrap() < 1.0,
            "naive over-counts"
        );
    }
}

#[test]
fn analyze_names_the_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    generate_into(&data, "300", "4", "facebook-2018");
    let analyze = |root: &Path| {
        blastradius(&[
            "analyze",
            path_arg(root),
            "--out",
            path_arg(&dir.path().join("r")),
        ])
    };

    // A missing dataset, and a folder without a manifest.
    let o = analyze(&dir.path().join("nowhere"));
    assert_error(&o, &["nowhere", "no such dataset folder"]);
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let o = analyze(&dir.path().join("empty"));
    assert_error(&o, &["manifest.json", "blastradius generate"]);

    // A truncated shard: the size check names it before any replay.
    let shard = data.join("events/part-00001.parquet");
    let bytes = std::fs::read(&shard).unwrap();
    std::fs::write(&shard, &bytes[..bytes.len() / 2]).unwrap();
    assert_error(&analyze(&data), &["part-00001.parquet", "truncated"]);

    // A column of the wrong type, in a file whose manifest entry was updated to match it
    // (size and checksums), as a foreign pipeline that rewrote the shard would.
    std::fs::write(&shard, &bytes).unwrap();
    retype_status(&shard);
    reseal(&data, "events/part-00001.parquet");
    assert_error(
        &analyze(&data),
        &["part-00001.parquet", "`status`", "Int16"],
    );
}

/// Rewrites a shard with `status` widened to UInt32, as a foreign pipeline might.
fn retype_status(path: &Path) {
    use arrow::array::{Array, RecordBatch, UInt32Array};
    use arrow::datatypes::{DataType, Field, Schema, UInt16Type};
    use std::sync::Arc;
    let file = std::fs::File::open(path).unwrap();
    let batches: Vec<RecordBatch> =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
            .map(|b| b.unwrap())
            .collect();
    let old = batches[0].schema();
    let fields: Vec<Field> = old
        .fields()
        .iter()
        .map(|f| {
            if f.name() == "status" {
                Field::new("status", DataType::UInt32, true)
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let out = std::fs::File::create(path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(out, schema.clone(), None).unwrap();
    for b in batches {
        let mut cols = b.columns().to_vec();
        let i = old.index_of("status").unwrap();
        let status = cols[i].ints::<UInt16Type>();
        let widened: UInt32Array = (0..status.len())
            .map(|r| status.is_valid(r).then(|| status.value(r) as u32))
            .collect();
        cols[i] = Arc::new(widened);
        writer
            .write(&RecordBatch::try_new(schema.clone(), cols).unwrap())
            .unwrap();
    }
    writer.close().unwrap();
}

#[test]
fn run_generates_once_then_reuses_and_writes_every_report() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_blastradius"))
            .args(["run", "--users", "3000", "--seed", "8"])
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let first = run();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = run();
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(stdout.contains("reusing"), "{stdout}");
    let reports = dir
        .path()
        .join("data/generated/reports/facebook-2018-3000u-seed8");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports.join("report.json")).unwrap()).unwrap();
    let md = std::fs::read_to_string(reports.join("report.md")).unwrap();
    assert!(md.contains("| exact |") && md.contains("| naive |"), "{md}");
    let exact = &report["detectors"][0];
    assert_eq!(exact["detector"], "exact");
    assert_eq!(exact["scores"]["exposures"]["recall"], 1.0);
    // The Parquet findings hold what the report counts, in the truth's shape.
    let rows = |name: &str| -> u64 {
        let file = std::fs::File::open(reports.join("exact").join(name)).unwrap();
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .metadata()
            .file_metadata()
            .num_rows() as u64
    };
    assert_eq!(
        rows("exposures.parquet"),
        exact["exposures"].as_u64().unwrap()
    );
    assert_eq!(
        rows("affected_users.parquet"),
        exact["affected_users"].as_u64().unwrap()
    );
    assert_eq!(
        rows("message_violations.parquet"),
        exact["message_violations"].as_u64().unwrap()
    );
    // Per-app counts: exact matches the truth for every app, and apps carry their names.
    for app in report["apps"].as_array().unwrap() {
        let exact = app["detected_users"]["exact"].as_u64().unwrap_or(0);
        assert_eq!(app["truth_users"].as_u64().unwrap(), exact, "{app}");
        assert!(app["name"].as_str().unwrap().len() > 1, "{app}");
    }
}

/// `run` reuses the dataset at its default path only when it is the same one, and replaces
/// a different one (here another codec) only when told to.
#[test]
fn run_replaces_a_different_dataset_only_with_regenerate() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data/generated/facebook-2018-3000u-seed9");
    let codec = || read_json(&data.join("manifest.json"))["compression"].clone();
    let o = blastradius_in(
        dir.path(),
        &[
            "generate",
            "--users",
            "3000",
            "--seed",
            "9",
            "--compression",
            "zstd",
            "--out",
            "data/generated/facebook-2018-3000u-seed9",
        ],
    );
    assert_ok(&o);
    let o = blastradius_in(dir.path(), &["run", "--users", "3000", "--seed", "9"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("compression zstd") && e.contains("--regenerate"),
        "{e}"
    );
    assert_eq!(codec(), "zstd", "the other dataset is left as it was");
    let o = blastradius_in(
        dir.path(),
        &["run", "--users", "3000", "--seed", "9", "--regenerate"],
    );
    assert_ok(&o);
    assert_eq!(codec(), "lz4");
}

/// The report says where the bug window came from: the log, or `--bug-window`.
#[test]
fn the_report_names_where_the_bug_window_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    generate_into(&data, "1500", "4", "facebook-2018");
    let window = |out: &str, extra: &[&str]| {
        let out = dir.path().join(out);
        let mut args = vec!["analyze", path_arg(&data), "--detector", "exact", "--out"];
        args.push(path_arg(&out));
        args.extend_from_slice(extra);
        assert_ok(&blastradius(&args));
        let md = std::fs::read_to_string(out.join("report.md")).unwrap();
        (
            read_json(&out.join("report.json"))["bug_window"].clone(),
            md,
        )
    };
    let (log, md) = window("r1", &[]);
    assert_eq!(log["source"], "the log's deploy events", "{log}");
    assert!(
        md.contains("Bug window (from the log's deploy events): 2018-09-13"),
        "{md}"
    );
    let given = "2018-09-14T00:00:00Z/2018-09-15T00:00:00Z";
    let (flag, md) = window("r2", &["--bug-window", given]);
    assert_eq!(flag["source"], "--bug-window", "{flag}");
    assert_eq!(flag["start"], "2018-09-14T00:00:00Z", "{flag}");
    assert!(
        md.contains("Bug window (from --bug-window): 2018-09-14"),
        "{md}"
    );
}

/// The DataFusion query finds exactly the truth too (built with `--features datafusion`).
#[cfg(feature = "datafusion")]
#[test]
fn sql_detector_finds_exactly_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    for (users, seed, scenario) in [
        ("4000", "1", "facebook-2018"),
        ("2500", "2", "messaging-partners"),
    ] {
        let data = dir.path().join(format!("d{seed}"));
        generate_into(&data, users, seed, scenario);
        let reports = dir.path().join(format!("r{seed}"));
        let o = blastradius(&[
            "analyze",
            path_arg(&data),
            "--detector",
            "sql",
            "--out",
            path_arg(&reports),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(reports.join("report.json")).unwrap()).unwrap();
        let sql = &report["detectors"][0];
        assert_eq!(sql["detector"], "sql");
        for level in ["users", "exposures", "violations"] {
            let score = &sql["scores"][level];
            assert_eq!(
                score["false_positives"], 0,
                "sql {level}, seed {seed}: {sql}"
            );
            assert_eq!(
                score["false_negatives"], 0,
                "sql {level}, seed {seed}: {sql}"
            );
            // A level with nothing to find (no violations in facebook-2018) has no F1 at all.
            if score["true_positives"] != 0 {
                assert_eq!(score["f1"], 1.0, "sql {level}, seed {seed}: {sql}");
            }
        }
        assert!(
            sql["scores"]["users"]["true_positives"].as_u64().unwrap() > 0,
            "seed {seed} must have someone to find: {sql}"
        );
        if scenario == "messaging-partners" {
            assert!(
                sql["scores"]["violations"]["true_positives"]
                    .as_u64()
                    .unwrap()
                    > 0,
                "messaging-partners must have violations to find: {sql}"
            );
        }
    }
}

// Issue 21: which detectors exist is decided in one registry; every command that takes
// `--detector(s)` names the same ones in its help, and refuses with one wording.
#[test]
fn every_detector_flag_names_the_registrys_detectors() {
    use blastradius_analyzer::registry::{DETECTORS, Mode, names};
    let help = |args: &[&str]| String::from_utf8(blastradius(args).stdout).unwrap();
    for args in [
        &["analyze", "--help"][..],
        &["stress", "--help"],
        &["bench", "detectors", "--help"],
    ] {
        let text = help(args);
        for d in DETECTORS {
            assert!(text.contains(d.name), "{args:?} does not name {}", d.name);
        }
    }
    for args in [&["detect", "--help"][..], &["bench", "live", "--help"]] {
        let text = help(args);
        let line = text
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("--detector"))
            .take(3)
            .collect::<String>();
        for d in DETECTORS {
            assert_eq!(
                line.contains(d.name),
                d.live,
                "{args:?}: {} in `{line}`",
                d.name
            );
        }
    }
    // One wording of refusal, whatever the command.
    let batch = format!(
        "psychic: not a detector; the batch detectors are {}",
        names(Mode::Batch).join(", ")
    );
    for args in [
        &["analyze", "x", "--detector", "psychic"][..],
        &["stress", "x", "--detectors", "psychic"],
        &["bench", "detectors", "--detectors", "psychic"],
    ] {
        let err = stderr(&blastradius(args));
        assert!(err.contains(&batch), "{args:?}: {err}");
    }
    let live = "naive: not a live detector; the live detectors are exact, streaming";
    let err = stderr(&blastradius(&[
        "detect",
        "--follow",
        "127.0.0.1:9",
        "--detector",
        "naive",
    ]));
    assert!(err.contains(live), "{err}");
    let data = small_dataset();
    let err = stderr(&blastradius(&[
        "bench",
        "live",
        path_arg(&data),
        "--detectors",
        "naive",
    ]));
    assert!(err.contains(live), "{err}");
}

/// Keeps every other photo call of an events part (the rest of its rows as they are).
fn drop_half_the_photo_calls(path: &Path) {
    use arrow::array::{AsArray, BooleanArray};
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let batches: Vec<_> =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
            .unwrap()
            .build()
            .unwrap()
            .map(|b| {
                let b = b.unwrap();
                let kinds = arrow::compute::cast(
                    b.column_by_name("kind").unwrap(),
                    &arrow::datatypes::DataType::Utf8,
                )
                .unwrap();
                let kinds = kinds.as_string::<i32>();
                let mut k = 0;
                let keep: BooleanArray = (0..b.num_rows())
                    .map(|i| {
                        let photo_call = kinds.value(i) == "photo_api_call";
                        k += usize::from(photo_call);
                        Some(!photo_call || k % 2 == 0)
                    })
                    .collect();
                arrow::compute::filter_record_batch(&b, &keep).unwrap()
            })
            .collect();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        batches[0].schema(),
        None,
    )
    .unwrap();
    for b in batches {
        w.write(&b).unwrap();
    }
    w.close().unwrap();
}

// Issue 22: a shard that lost half its photo calls, its manifest entry remade to match (size,
// checksums, rows), gave recall 0.94 with no warning; so did merge --verify of such a part.
// The manifest's totals no longer match its files, and every open says so.
#[test]
fn a_manifest_entry_remade_to_match_an_edited_file_is_caught_by_the_totals() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("d");
    generate_into(&data, "3000", "5", "facebook-2018");
    let before = read_json(&data.join("manifest.json"))["counts"].clone();
    drop_half_the_photo_calls(&data.join("events/part-00001.parquet"));
    reseal(&data, "events/part-00001.parquet");
    // The entry is remade; the totals are left as they were, as such an edit leaves them.
    let mut m = read_json(&data.join("manifest.json"));
    m["counts"] = before;
    write_json(&data.join("manifest.json"), &m);
    let claimed = m["counts"]["events"].as_u64().unwrap();
    let o = blastradius(&[
        "analyze",
        path_arg(&data),
        "--out",
        path_arg(&t.path().join("r")),
    ]);
    assert_error(
        &o,
        &[
            "manifest.json",
            &format!("counts {claimed} events but its events files hold"),
            "regenerate the dataset",
        ],
    );
    assert!(!t.path().join("r").exists());

    // A part of a split run, edited the same way, is refused by merge (with or without
    // --verify): its totals are checked as every open checks them.
    let parts: Vec<_> = (0..2)
        .map(|i| {
            let p = t.path().join(format!("p{i}"));
            assert_ok(&blastradius(&[
                "generate",
                "--users",
                "3000",
                "--seed",
                "5",
                "--shards",
                "2",
                "--shard",
                &format!("{i}/2"),
                "--out",
                path_arg(&p),
            ]));
            p
        })
        .collect();
    let part = parts[1].join("events/part-00001.parquet");
    let before = read_json(&parts[1].join("manifest.json"))["counts"].clone();
    drop_half_the_photo_calls(&part);
    reseal(&parts[1], "events/part-00001.parquet");
    let mut m = read_json(&parts[1].join("manifest.json"));
    m["counts"] = before;
    write_json(&parts[1].join("manifest.json"), &m);
    let merged = t.path().join("merged");
    let o = blastradius(&[
        "merge",
        path_arg(&parts[0]),
        path_arg(&parts[1]),
        "--out",
        path_arg(&merged),
        "--verify",
    ]);
    assert_error(
        &o,
        &["p1/manifest.json", "events but its events files hold"],
    );
    assert!(!merged.exists());
}
