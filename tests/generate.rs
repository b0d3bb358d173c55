//! `generate`: flags, errors, outputs, the committed sample, codecs.

use std::path::{Path, PathBuf};

use crate::util::*;

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
    assert_error(
        &o,
        &["precious", "not a dataset", "replaces only what it wrote"],
    );
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

/// The codec changes size and speed only: every codec's files hold the same rows, each
/// file says which codec it uses, the manifest records it, and `perturb` keeps it.
#[test]
fn every_codec_holds_the_same_rows() {
    use parquet::basic::{Compression, Encoding};
    use parquet::file::reader::{FileReader, SerializedFileReader};

    let dir = tempfile::tempdir().unwrap();
    // The file's codec: every column's, but for delta-packed columns, which lz4 and snappy
    // leave as encoded (they find nothing to shrink there) and zstd compresses too.
    let codec_of = |file: &Path| {
        let reader = SerializedFileReader::new(std::fs::File::open(file).unwrap()).unwrap();
        let row_group = reader.metadata().row_group(0);
        let codecs: Vec<(bool, &str)> = row_group
            .columns()
            .iter()
            .map(|c| {
                let packed = c.encodings().any(|e| e == Encoding::DELTA_BINARY_PACKED);
                let codec = match c.compression() {
                    Compression::ZSTD(_) => "zstd",
                    Compression::LZ4_RAW => "lz4",
                    Compression::SNAPPY => "snappy",
                    Compression::UNCOMPRESSED => "none",
                    other => panic!("{file:?}: unexpected codec {other:?}"),
                };
                (packed, codec)
            })
            .collect();
        let (packed, others): (Vec<_>, Vec<_>) = codecs.into_iter().partition(|c| c.0);
        let codec = others[0].1;
        assert!(others.iter().all(|c| c.1 == codec), "{file:?}: {others:?}");
        let packed_codec = if matches!(codec, "lz4" | "snappy") {
            "none"
        } else {
            codec
        };
        assert!(
            packed.iter().all(|c| c.1 == packed_codec),
            "{file:?}: {packed:?}"
        );
        codec
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

/// Issue 13: every scenario number's range is documented, and the documentation is what
/// the code checks.
#[test]
fn data_readme_lists_every_scenario_range() {
    let o = blastradius(&["scenario", "ranges"]);
    assert_ok(&o);
    let table = String::from_utf8(o.stdout).unwrap();
    assert!(table.lines().count() > 40, "{table}");
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/README.md"))
            .unwrap();
    assert!(
        readme.contains(&table),
        "data/README.md §9 must hold the output of `blastradius scenario ranges`"
    );
}

#[test]
fn the_memory_estimate_is_judged_against_the_process_limit_not_the_machine() {
    // Under `ulimit -v` (1.2 GB here), a run whose workers need 6.9 GiB is refused before it
    // starts, naming the limit that decides, however much memory the machine has.
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("big");
    let o = std::process::Command::new("sh")
        .args([
            "-c",
            "ulimit -v 1200000 && exec \"$0\" \"$@\"",
            env!("CARGO_BIN_EXE_blastradius"),
            "generate",
            "--users",
            "3000000",
            "--shards",
            "1",
            "--out",
            path_arg(&out),
        ])
        .output()
        .unwrap();
    assert_error(
        &o,
        &[
            "--shards 1",
            "address-space limit (ulimit -v)",
            "raise --shards",
            "--skip-resource-check",
        ],
    );
    assert!(!out.exists());
}
