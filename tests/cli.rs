//! End-to-end tests of the `blastradius` binary: flags, errors, and the committed sample.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn blastradius(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_blastradius"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn path_arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Asserts a failure with one clear line on stderr that contains every `needle`.
fn assert_error(output: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "expected failure, got success; stderr: {stderr}"
    );
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line of error, got: {stderr}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "`{needle}` missing from: {stderr}");
    }
}

#[test]
fn zero_users_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d");
    let o = blastradius(&["generate", "--users", "0", "--out", path_arg(&out)]);
    assert_error(&o, &["--users", "at least 1"]);
    assert!(!out.exists());
}

#[test]
fn a_shard_beyond_the_count_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d");
    let o = blastradius(&[
        "generate",
        "--users",
        "100",
        "--shard",
        "5/4",
        "--out",
        path_arg(&out),
    ]);
    assert_error(&o, &["--shard 5/4", "0 to N-1"]);
    let o = blastradius(&[
        "generate",
        "--users",
        "100",
        "--shard",
        "two",
        "--out",
        path_arg(&out),
    ]);
    assert_error(&o, &["--shard two", "I/N"]);
    let o = blastradius(&[
        "generate",
        "--users",
        "3",
        "--shards",
        "4",
        "--out",
        path_arg(&out),
    ]);
    assert_error(&o, &["--shards", "1 to 3"]);
}

#[test]
fn an_unwritable_output_folder_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "not a folder").unwrap();
    let out = file.join("d");
    let o = blastradius(&["generate", "--users", "50", "--out", path_arg(&out)]);
    assert_error(&o, &["plain-file"]);
}

#[test]
fn unknown_scenarios_and_bad_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d");
    let o = blastradius(&[
        "generate",
        "--users",
        "50",
        "--scenario",
        "facebook-2019",
        "--out",
        path_arg(&out),
    ]);
    assert_error(&o, &["unknown scenario `facebook-2019`", "facebook-2018"]);

    let malformed = dir.path().join("bad.toml");
    std::fs::write(&malformed, "[photo_apps\npage_size = 3\n").unwrap();
    let o = blastradius(&[
        "generate",
        "--users",
        "50",
        "--scenario",
        path_arg(&malformed),
        "--out",
        path_arg(&out),
    ]);
    assert_error(&o, &["bad.toml", "line 1"]);

    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "[photo_apps]\npage_sise = 3\n").unwrap();
    let o = blastradius(&[
        "generate",
        "--users",
        "50",
        "--scenario",
        path_arg(&typo),
        "--out",
        path_arg(&out),
    ]);
    assert_error(&o, &["typo.toml", "page_sise"]);

    let missing = dir.path().join("missing.toml");
    let o = blastradius(&[
        "generate",
        "--users",
        "50",
        "--scenario",
        path_arg(&missing),
        "--out",
        path_arg(&out),
    ]);
    assert_error(&o, &["missing.toml"]);
    assert!(!out.exists());
}

#[test]
fn an_existing_dataset_needs_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d");
    let args = [
        "generate",
        "--users",
        "60",
        "--shards",
        "2",
        "--out",
        path_arg(&out),
    ];
    assert!(blastradius(&args).status.success());
    let o = blastradius(&args);
    assert_error(&o, &["already there", "--force"]);
    let mut forced = args.to_vec();
    forced.push("--force");
    assert!(blastradius(&forced).status.success());

    // --force never deletes a folder that is not a dataset.
    let precious = dir.path().join("precious");
    std::fs::create_dir(&precious).unwrap();
    std::fs::write(precious.join("notes.txt"), "keep me").unwrap();
    let o = blastradius(&[
        "generate",
        "--users",
        "60",
        "--out",
        path_arg(&precious),
        "--force",
    ]);
    assert_error(&o, &["not a blastradius dataset"]);
    assert!(precious.join("notes.txt").exists());
}

#[test]
fn scenario_show_round_trips_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let show = blastradius(&["scenario", "show", "messaging-partners"]);
    assert!(show.status.success());
    let file = dir.path().join("mp.toml");
    std::fs::write(&file, &show.stdout).unwrap();
    let from_file = dir.path().join("a");
    let from_preset = dir.path().join("b");
    for (scenario, out) in [
        (path_arg(&file), &from_file),
        ("messaging-partners", &from_preset),
    ] {
        let o = blastradius(&[
            "generate",
            "--users",
            "80",
            "--shards",
            "1",
            "--scenario",
            scenario,
            "--out",
            path_arg(out),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let events = |root: &PathBuf| std::fs::read(root.join("events/part-00000.parquet")).unwrap();
    assert_eq!(events(&from_file), events(&from_preset));
}

/// The committed sample is still what the generator makes. Regenerating it is a deliberate
/// step: `cargo run --release -- generate --users 5000 --seed 7 --shards 2 --out data/sample --force`.
#[test]
fn the_committed_sample_is_reproduced_byte_for_byte() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sample");
    let o = blastradius(&[
        "generate",
        "--users",
        "5000",
        "--seed",
        "7",
        "--shards",
        "2",
        "--out",
        path_arg(&out),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sample.join("manifest.json")).unwrap()).unwrap();
    let mut files: Vec<String> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    files.push("manifest.json".into());
    for f in files {
        let want = std::fs::read(sample.join(&f)).unwrap();
        let got = std::fs::read(out.join(&f)).unwrap_or_default();
        assert!(
            want == got,
            "{f} differs from the committed sample ({} vs {} bytes); if the change is intended, regenerate data/sample as its README says and review the diff",
            want.len(),
            got.len()
        );
    }
}

fn generate_into(out: &Path, users: &str, seed: &str, scenario: &str) {
    let o = blastradius(&[
        "generate",
        "--users",
        users,
        "--seed",
        seed,
        "--scenario",
        scenario,
        "--shards",
        "3",
        "--out",
        path_arg(out),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn analyze_report(dataset: &Path, report_dir: &Path) -> serde_json::Value {
    let o = blastradius(&[
        "analyze",
        path_arg(dataset),
        "--out",
        path_arg(report_dir),
        "--verify",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&std::fs::read(report_dir.join("report.json")).unwrap()).unwrap()
}

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

    // A missing manifest.
    let o = analyze(&dir.path().join("nowhere"));
    assert_error(&o, &["manifest.json", "blastradius generate"]);

    // A truncated shard: the size check names it before any replay.
    let shard = data.join("events/part-00001.parquet");
    let bytes = std::fs::read(&shard).unwrap();
    std::fs::write(&shard, &bytes[..bytes.len() / 2]).unwrap();
    assert_error(&analyze(&data), &["part-00001.parquet", "truncated"]);

    // A column of the wrong type, in a file whose manifest entry still matches its size.
    std::fs::write(&shard, &bytes).unwrap();
    retype_status(&shard);
    let manifest_path = data.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    for f in manifest["files"].as_array_mut().unwrap() {
        if f["path"] == "events/part-00001.parquet" {
            f["bytes"] = std::fs::metadata(&shard).unwrap().len().into();
        }
    }
    std::fs::write(&manifest_path, serde_json::to_string(&manifest).unwrap()).unwrap();
    assert_error(
        &analyze(&data),
        &["part-00001.parquet", "`status`", "UInt16"],
    );
}

/// Rewrites a shard with `status` widened to UInt32, as a foreign pipeline might.
fn retype_status(path: &Path) {
    use arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
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
        let status = cols[i].as_primitive::<UInt16Type>();
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
    // Per-app counts: exact matches the truth for every app.
    for app in report["apps"].as_array().unwrap() {
        assert_eq!(app["truth_users"], app["detected_users"]["exact"], "{app}");
    }
}

#[test]
fn bench_scaling_keeps_a_table_and_a_chart() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("runs");
    let o = Command::new(env!("CARGO_BIN_EXE_blastradius"))
        .args([
            "bench",
            "scaling",
            "--users",
            "200,400",
            "--out",
            path_arg(&out),
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("scaling.json")).unwrap()).unwrap();
    let points = json["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    assert!(points[1]["events"].as_u64() > points[0]["events"].as_u64());
    assert!(
        points
            .iter()
            .all(|p| p["generate_peak_bytes"].as_u64().unwrap() > 0)
    );
    let svg = std::fs::read_to_string(out.join("scaling.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("Peak memory"));
    assert!(
        std::fs::read_to_string(out.join("scaling.md"))
            .unwrap()
            .contains("| 400 |")
    );
    assert!(
        !dir.path().join("data/generated/scaling-200").exists(),
        "datasets are removed unless kept"
    );
}

#[test]
fn perturb_is_deterministic_and_records_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    generate_into(&data, "1500", "6", "messaging-partners");
    let damaged = |name: &str| {
        let out = dir.path().join(name);
        let o = blastradius(&[
            "perturb",
            path_arg(&data),
            path_arg(&out),
            "--drop",
            "0.05",
            "--duplicate",
            "0.02",
            "--reorder",
            "2h",
            "--skew",
            "10m",
            "--truncate",
            "--seed",
            "3",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    };
    let (a, b) = (damaged("a"), damaged("b"));
    let manifest = |p: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p.join("manifest.json")).unwrap()).unwrap()
    };
    let (ma, mb) = (manifest(&a), manifest(&b));
    assert_eq!(ma["files"], mb["files"], "same seed, same bytes");
    let p = &ma["perturbation"];
    assert!(p["dropped"].as_u64().unwrap() > 0 && p["duplicated"].as_u64().unwrap() > 0);
    assert!(p["truncated_rows"].as_u64().unwrap() > 0);
    assert_eq!(p["faults"]["reorder_us"], 7_200_000_000i64);
    // The truth is copied unchanged.
    let original = manifest(&data);
    for f in original["files"].as_array().unwrap() {
        if f["path"].as_str().unwrap().starts_with("truth/") {
            assert!(ma["files"].as_array().unwrap().contains(f), "{f}");
        }
    }
    let o = blastradius(&["perturb", path_arg(&data), path_arg(&a), "--drop", "1.5"]);
    assert_error(&o, &["--drop", "probability"]);
    let o = blastradius(&[
        "perturb",
        path_arg(&data),
        path_arg(&dir.path().join("c")),
        "--reorder",
        "5 parsecs",
    ]);
    assert_error(&o, &["--reorder", "unit"]);
}

/// The codec changes size and speed only: every codec's files hold the same rows, each
/// file says which codec it uses, the manifest records it, and `perturb` keeps it.
#[test]
fn every_codec_holds_the_same_rows() {
    use parquet::basic::Compression;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    let dir = tempfile::tempdir().unwrap();
    let codec_of = |file: &Path| {
        let reader = SerializedFileReader::new(std::fs::File::open(file).unwrap()).unwrap();
        let row_group = reader.metadata().row_group(0);
        let codecs: Vec<&str> = row_group
            .columns()
            .iter()
            .map(|c| match c.compression() {
                Compression::ZSTD(_) => "zstd",
                Compression::LZ4_RAW => "lz4",
                Compression::SNAPPY => "snappy",
                Compression::UNCOMPRESSED => "none",
                other => panic!("{file:?}: unexpected codec {other:?}"),
            })
            .collect();
        assert!(
            codecs.windows(2).all(|w| w[0] == w[1]),
            "{file:?}: {codecs:?}"
        );
        codecs[0]
    };
    let rows = |file: &Path| -> Vec<arrow::array::RecordBatch> {
        parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(
            std::fs::File::open(file).unwrap(),
            1 << 14,
        )
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    let generate = |codec: &str| {
        let out = dir.path().join(codec);
        let o = blastradius(&[
            "generate",
            "--users",
            "1500",
            "--seed",
            "4",
            "--shards",
            "2",
            "--compression",
            codec,
            "--out",
            path_arg(&out),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    };
    let manifest = |p: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p.join("manifest.json")).unwrap()).unwrap()
    };
    let reference = generate("zstd");
    let shard = Path::new("events/part-00001.parquet");
    for name in ["zstd", "lz4", "snappy", "none"] {
        let data = if name == "zstd" {
            reference.clone()
        } else {
            generate(name)
        };
        let m = manifest(&data);
        assert_eq!(m["compression"], name);
        assert!(
            m["command"]
                .as_str()
                .unwrap()
                .ends_with(&format!("--compression {name}"))
        );
        for file in [
            "apps.parquet",
            "events/part-00000.parquet",
            "truth/affected_apps.parquet",
        ] {
            assert_eq!(codec_of(&data.join(file)), name, "{file}");
        }
        assert_eq!(
            rows(&data.join(shard)),
            rows(&reference.join(shard)),
            "{name}"
        );
    }
    // perturb writes the damaged log with its source's codec.
    let damaged = dir.path().join("damaged");
    let o = blastradius(&[
        "perturb",
        path_arg(&reference),
        path_arg(&damaged),
        "--drop",
        "0.01",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(manifest(&damaged)["compression"], "zstd");
    assert_eq!(codec_of(&damaged.join(shard)), "zstd");
    let o = blastradius(&["generate", "--users", "10", "--compression", "brotli"]);
    assert_error(&o, &["--compression brotli", "lz4, zstd, snappy, none"]);
}

/// Issue 5: no detector panics on any perturbation of a generated dataset.
#[test]
fn detectors_survive_every_perturbation() {
    let dir = tempfile::tempdir().unwrap();
    for seed in ["1", "2"] {
        let data = dir.path().join(format!("d{seed}"));
        generate_into(&data, "1200", seed, "facebook-2018");
        let cases: [&[&str]; 6] = [
            &["--drop", "0.2"],
            &["--duplicate", "0.3"],
            &["--reorder", "1d"],
            &["--skew", "6h"],
            &["--truncate"],
            &[
                "--drop",
                "0.01",
                "--duplicate",
                "0.01",
                "--reorder",
                "10m",
                "--skew",
                "1m",
                "--truncate",
            ],
        ];
        for (k, flags) in cases.iter().enumerate() {
            let out = dir.path().join(format!("p{seed}-{k}"));
            let mut args = vec!["perturb", path_arg(&data), path_arg(&out), "--seed", seed];
            args.extend_from_slice(flags);
            let o = blastradius(&args);
            assert!(
                o.status.success(),
                "{flags:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let report = analyze_report(&out, &dir.path().join(format!("r{seed}-{k}")));
            let exact = &report["detectors"][0];
            let recall = exact["scores"]["users"]["recall"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&recall), "{flags:?}");
            if flags == &["--duplicate", "0.3"] || flags == &["--reorder", "1d"] {
                // Duplicates are removed and order restored: nothing is lost.
                assert_eq!(
                    exact["scores"]["exposures"]["f1"], 1.0,
                    "{flags:?}: {exact}"
                );
            }
        }
    }
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
            assert_eq!(
                sql["scores"][level]["f1"], 1.0,
                "sql {level}, seed {seed}: {sql}"
            );
        }
    }
}

#[test]
fn stress_writes_a_page_whose_chart_data_is_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    generate_into(&data, "1500", "5", "facebook-2018");
    let out = dir.path().join("stress");
    let o = blastradius(&[
        "stress",
        path_arg(&data),
        "--out",
        path_arg(&out),
        "--rates",
        "0,0.05",
        "--memory-limits",
        "20000,2000000",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let page = std::fs::read_to_string(out.join("stress.html")).unwrap();
    let start = page.find("id=\"chart-data\">").unwrap() + "id=\"chart-data\">".len();
    let end = start + page[start..].find("</script>").unwrap();
    let charts: serde_json::Value =
        serde_json::from_str(&page[start..end].replace("<\\/", "</")).unwrap();
    // Every drawn F1 point is the report's (rate, user F1) of that fault and detector.
    let mut fault_charts = 0;
    for chart in charts.as_array().unwrap() {
        let title = chart["title"].as_str().unwrap();
        let Some(fault) = title.strip_prefix("F1 (users) under ") else {
            continue;
        };
        fault_charts += 1;
        for series in chart["series"].as_array().unwrap() {
            let want: Vec<serde_json::Value> = report["sweep"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["fault"] == fault && p["detector"] == series["name"])
                .map(|p| serde_json::json!([p["rate"], p["user_f1"]]))
                .collect();
            assert_eq!(series["points"].as_array().unwrap(), &want, "{title}");
        }
    }
    assert_eq!(fault_charts, 5);
    let memory_chart = charts.as_array().unwrap().last().unwrap();
    let drawn: Vec<f64> = memory_chart["series"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_f64().unwrap())
        .collect();
    let want: Vec<f64> = report["memory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user_f1"].as_f64().unwrap())
        .collect();
    assert_eq!(drawn, want);
    assert_eq!(
        page.matches("<svg").count(),
        7,
        "5 fault charts, throughput, memory"
    );
    // 5 faults x 2 rates x 3 detectors.
    assert_eq!(report["sweep"].as_array().unwrap().len(), 30);
    let clean_exact = report["sweep"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["rate"] == 0.0 && p["detector"] == "exact")
        .unwrap();
    assert_eq!(clean_exact["user_f1"], 1.0);
    let memory = report["memory"].as_array().unwrap();
    assert!(memory[0]["state_bytes"].as_u64() < memory[1]["state_bytes"].as_u64());
    assert!(memory[0]["exposure_f1"].as_f64() <= memory[1]["exposure_f1"].as_f64());
}
