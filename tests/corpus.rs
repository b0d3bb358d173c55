//! Issue 13: the bad-input corpus. Every case is one command on one bad input; each must exit
//! non-zero with one error line that names the file or flag (and the fix), and harm nothing.

use std::path::{Path, PathBuf};

use crate::util::*;

/// A case: a name, a command line (`{t}` is the case's own folder, `{d}` a fresh copy of the
/// small dataset, `{k}` its answer key when split), and words the error must hold.
struct Case {
    name: &'static str,
    setup: fn(&Path),
    args: &'static [&'static str],
    needles: &'static [&'static str],
}

fn none(_: &Path) {}

/// A fresh copy of the small dataset at `t/d`.
fn data(t: &Path) {
    copy_tree(&small_dataset(), &t.join("d"));
}

fn edit_manifest(t: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    data(t);
    let p = t.join("d/manifest.json");
    let mut m = read_json(&p);
    edit(&mut m);
    write_json(&p, &m);
}

fn file_entry<'a>(m: &'a mut serde_json::Value, path: &str) -> &'a mut serde_json::Value {
    m["files"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|f| f["path"] == path)
        .unwrap()
}

fn scenario(t: &Path, text: &str) {
    std::fs::write(t.join("s.toml"), text).unwrap();
}

/// Rewrites events shard 1 of `t/d` through `change`, then reseals its manifest entry (a
/// foreign pipeline that rewrote the file and updated the manifest).
fn rewrite_shard(t: &Path, change: fn(arrow::array::RecordBatch) -> arrow::array::RecordBatch) {
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    data(t);
    let path = t.join("d/events/part-00001.parquet");
    let batches: Vec<_> =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap())
            .unwrap()
            .build()
            .unwrap()
            .map(|b| change(b.unwrap()))
            .collect();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(&path).unwrap(),
        batches[0].schema(),
        None,
    )
    .unwrap();
    for b in batches {
        w.write(&b).unwrap();
    }
    w.close().unwrap();
    reseal(&t.join("d"), "events/part-00001.parquet");
}

/// `user_id` nulled on every photo row.
fn null_users(b: arrow::array::RecordBatch) -> arrow::array::RecordBatch {
    use arrow::array::{Array, AsArray, UInt64Array};
    use arrow::datatypes::UInt64Type;
    use std::sync::Arc;
    let kinds = arrow::compute::cast(
        b.column_by_name("kind").unwrap(),
        &arrow::datatypes::DataType::Utf8,
    )
    .unwrap();
    let kinds = kinds.as_string::<i32>();
    let users = b
        .column_by_name("user_id")
        .unwrap()
        .as_primitive::<UInt64Type>();
    let nulled: UInt64Array = (0..b.num_rows())
        .map(|i| {
            (users.is_valid(i) && !kinds.value(i).starts_with("photo")).then(|| users.value(i))
        })
        .collect();
    let i = b.schema().index_of("user_id").unwrap();
    let mut cols = b.columns().to_vec();
    cols[i] = Arc::new(nulled);
    let fields: Vec<_> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    arrow::array::RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), cols)
        .unwrap()
}

/// The deploy events removed.
fn no_deploys(b: arrow::array::RecordBatch) -> arrow::array::RecordBatch {
    use arrow::array::{AsArray, BooleanArray};
    let kinds = arrow::compute::cast(
        b.column_by_name("kind").unwrap(),
        &arrow::datatypes::DataType::Utf8,
    )
    .unwrap();
    let keep: BooleanArray = kinds
        .as_string::<i32>()
        .iter()
        .map(|k| Some(!k.unwrap().starts_with("bug_")))
        .collect();
    arrow::compute::filter_record_batch(&b, &keep).unwrap()
}

fn run_cases(cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        (case.setup)(t);
        let before = snapshot(t);
        let args: Vec<String> = case
            .args
            .iter()
            .map(|a| {
                a.replace("{t}", path_arg(t))
                    .replace("{d}", path_arg(&t.join("d")))
            })
            .collect();
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = blastradius_in(t, &refs);
        let needles: Vec<String> = case
            .needles
            .iter()
            .map(|n| n.replace("{t}", path_arg(t)))
            .collect();
        let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        if let Err(e) = check_error(&o, &needles) {
            failures.push(format!("{}: {e}", case.name));
            continue;
        }
        // Nothing harmed: every file that was there is there with the same bytes.
        let after = snapshot(t);
        for (path, bytes) in &before {
            if after.get(path) != Some(bytes) {
                failures.push(format!(
                    "{}: {} changed or vanished",
                    case.name,
                    path.display()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every file under `root` with its contents' checksum.
fn snapshot(root: &Path) -> std::collections::BTreeMap<PathBuf, u32> {
    let mut out = std::collections::BTreeMap::new();
    fn walk(p: &Path, out: &mut std::collections::BTreeMap<PathBuf, u32>) {
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            let path = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(&path, out);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.insert(path, crc32c::crc32c(&bytes));
            }
        }
    }
    walk(root, &mut out);
    out
}

#[test]
fn generate_refuses_bad_input() {
    run_cases(&[
        Case {
            name: "zero users",
            setup: none,
            args: &["generate", "--users", "0", "--out", "{t}/o"],
            needles: &["--users", "at least 1"],
        },
        Case {
            name: "too many users",
            setup: none,
            args: &["generate", "--users", "1099511627776", "--out", "{t}/o"],
            needles: &["--users", "2^40"],
        },
        Case {
            name: "negative users",
            setup: none,
            args: &["generate", "--users", "-5", "--out", "{t}/o"],
            needles: &["--users", "must not be negative"],
        },
        Case {
            name: "users not a number",
            setup: none,
            args: &["generate", "--users", "many", "--out", "{t}/o"],
            needles: &["--users", "not a whole number"],
        },
        Case {
            name: "negative seed",
            setup: none,
            args: &["generate", "--seed", "-1", "--out", "{t}/o"],
            needles: &["--seed", "must not be negative"],
        },
        Case {
            name: "zero shards",
            setup: none,
            args: &[
                "generate", "--users", "10", "--shards", "0", "--out", "{t}/o",
            ],
            needles: &["--shards"],
        },
        Case {
            name: "more shards than users",
            setup: none,
            args: &[
                "generate", "--users", "3", "--shards", "4", "--out", "{t}/o",
            ],
            needles: &["--shards", "1 to 3"],
        },
        Case {
            name: "shard past the count",
            setup: none,
            args: &[
                "generate", "--users", "100", "--shard", "5/4", "--out", "{t}/o",
            ],
            needles: &["--shard 5/4", "0 to N-1"],
        },
        Case {
            name: "shard not I/N",
            setup: none,
            args: &[
                "generate", "--users", "100", "--shard", "two", "--out", "{t}/o",
            ],
            needles: &["--shard two", "I/N"],
        },
        Case {
            name: "shard and shards disagree",
            setup: none,
            args: &[
                "generate", "--users", "100", "--shard", "1/4", "--shards", "8", "--out", "{t}/o",
            ],
            needles: &["disagree"],
        },
        Case {
            name: "zero threads",
            setup: none,
            args: &[
                "generate",
                "--users",
                "10",
                "--threads",
                "0",
                "--out",
                "{t}/o",
            ],
            needles: &["--threads"],
        },
        Case {
            name: "unknown codec",
            setup: none,
            args: &[
                "generate",
                "--users",
                "10",
                "--compression",
                "brotli",
                "--out",
                "{t}/o",
            ],
            needles: &["--compression brotli", "lz4, zstd, snappy, none"],
        },
        Case {
            name: "unknown scenario",
            setup: none,
            args: &[
                "generate",
                "--users",
                "10",
                "--scenario",
                "facebook-2019",
                "--out",
                "{t}/o",
            ],
            needles: &["facebook-2019", "facebook-2018"],
        },
        Case {
            name: "missing scenario file",
            setup: none,
            args: &[
                "generate",
                "--users",
                "10",
                "--scenario",
                "{t}/missing.toml",
                "--out",
                "{t}/o",
            ],
            needles: &["missing.toml"],
        },
        Case {
            name: "malformed TOML",
            setup: |t| scenario(t, "[photo_apps\npage_size = 3\n"),
            args: &[
                "generate",
                "--users",
                "10",
                "--scenario",
                "{t}/s.toml",
                "--out",
                "{t}/o",
            ],
            needles: &["s.toml", "line 1"],
        },
        Case {
            name: "unknown key",
            setup: |t| scenario(t, "[photo_apps]\npage_sise = 3\n"),
            args: &[
                "generate",
                "--users",
                "10",
                "--scenario",
                "{t}/s.toml",
                "--out",
                "{t}/o",
            ],
            needles: &["page_sise"],
        },
        Case {
            name: "negative page size",
            setup: |t| scenario(t, "[photo_apps]\npage_size = -5\n"),
            args: &[
                "generate",
                "--users",
                "10",
                "--scenario",
                "{t}/s.toml",
                "--out",
                "{t}/o",
            ],
            needles: &["photo_apps.page_size"],
        },
        Case {
            name: "a century of history and more",
            setup: |t| scenario(t, "[users]\nhistory_days = 100000000\n"),
            args: &[
                "generate",
                "--users",
                "10",
                "--scenario",
                "{t}/s.toml",
                "--out",
                "{t}/o",
            ],
            needles: &["users.history_days", "out of range"],
        },
        Case {
            name: "history overflowing u32 days",
            setup: |t| scenario(t, "[users]\nhistory_days = 4294967295\n"),
            args: &[
                "generate",
                "--users",
                "10",
                "--scenario",
                "{t}/s.toml",
                "--out",
                "{t}/o",
            ],
            needles: &["users.history_days"],
        },
        Case {
            name: "endless drafts",
            setup: |t| scenario(t, "[photos]\ndraft_expiry_hours = 1e300\n"),
            args: &[
                "generate",
                "--users",
                "10",
                "--scenario",
                "{t}/s.toml",
                "--out",
                "{t}/o",
            ],
            needles: &["photos.draft_expiry_hours", "out of range"],
        },
        Case {
            name: "endless stories",
            setup: |t| scenario(t, "[photos]\nstory_lifetime_hours = 1e15\n"),
            args: &[
                "generate",
                "--users",
                "10",
                "--scenario",
                "{t}/s.toml",
                "--out",
                "{t}/o",
            ],
            needles: &["photos.story_lifetime_hours"],
        },
        Case {
            name: "period backwards",
            setup: |t| scenario(t, "[period]\nstart = \"2018-11-01T00:00:00Z\"\n"),
            args: &[
                "generate",
                "--users",
                "10",
                "--scenario",
                "{t}/s.toml",
                "--out",
                "{t}/o",
            ],
            needles: &["period.start"],
        },
        Case {
            name: "a probability above 1",
            setup: |t| scenario(t, "[photo_apps]\nrate_limited = 1.5\n"),
            args: &[
                "generate",
                "--users",
                "10",
                "--scenario",
                "{t}/s.toml",
                "--out",
                "{t}/o",
            ],
            needles: &["photo_apps.rate_limited"],
        },
        Case {
            name: "out is a file",
            setup: |t| std::fs::write(t.join("f"), "x").unwrap(),
            args: &["generate", "--users", "10", "--out", "{t}/f"],
            needles: &["{t}/f", "is a file"],
        },
        Case {
            name: "out under a file",
            setup: |t| std::fs::write(t.join("f"), "x").unwrap(),
            args: &["generate", "--users", "10", "--out", "{t}/f/o"],
            needles: &["f/o"],
        },
        Case {
            name: "out is someone's folder",
            setup: |t| {
                std::fs::create_dir(t.join("mine")).unwrap();
                std::fs::write(t.join("mine/notes.txt"), "keep").unwrap();
            },
            args: &["generate", "--users", "10", "--out", "{t}/mine", "--force"],
            needles: &["mine", "replaces only what it wrote"],
        },
        Case {
            name: "out is a dataset, no --force",
            setup: data,
            args: &["generate", "--users", "10", "--out", "{d}"],
            needles: &["already there", "--force"],
        },
        Case {
            name: "out is the current folder",
            setup: none,
            args: &["generate", "--users", "10", "--out", "."],
            needles: &["--out .", "new folder"],
        },
        Case {
            name: "a run the disk or memory cannot hold",
            setup: none,
            args: &[
                "generate",
                "--users",
                "200000000",
                "--shards",
                "1",
                "--out",
                "{t}/o",
            ],
            needles: &["--skip-resource-check"],
        },
        Case {
            name: "a key inside the dataset",
            setup: none,
            args: &[
                "generate",
                "--users",
                "10",
                "--out",
                "{t}/o",
                "--split-truth",
                "{t}/o/key",
            ],
            needles: &["--split-truth", "inside"],
        },
    ]);
}

#[test]
fn perturb_refuses_bad_input() {
    run_cases(&[
        Case {
            name: "missing input",
            setup: none,
            args: &["perturb", "{t}/nowhere", "{t}/o", "--drop", "0.1"],
            needles: &["nowhere"],
        },
        Case {
            name: "input not a dataset",
            setup: |t| std::fs::create_dir(t.join("e")).unwrap(),
            args: &["perturb", "{t}/e", "{t}/o"],
            needles: &["manifest.json"],
        },
        Case {
            name: "output is the input",
            setup: data,
            args: &["perturb", "{d}", "{d}", "--force", "--drop", "0.1"],
            needles: &["itself"],
        },
        Case {
            name: "output inside the input",
            setup: data,
            args: &["perturb", "{d}", "{d}/events/x", "--drop", "0.1"],
            needles: &["inside the input"],
        },
        Case {
            name: "output holds the input",
            setup: data,
            args: &["perturb", "{d}", "{t}", "--force"],
            needles: &["current folder"],
        },
        Case {
            name: "output exists",
            setup: |t| {
                data(t);
                copy_tree(&t.join("d"), &t.join("o"));
            },
            args: &["perturb", "{d}", "{t}/o"],
            needles: &["already there", "--force"],
        },
        Case {
            name: "drop above 1",
            setup: data,
            args: &["perturb", "{d}", "{t}/o", "--drop", "1.5"],
            needles: &["--drop", "probability"],
        },
        Case {
            name: "negative duplicate",
            setup: data,
            args: &["perturb", "{d}", "{t}/o", "--duplicate", "-0.1"],
            needles: &["--duplicate", "probability"],
        },
        Case {
            name: "unknown unit",
            setup: data,
            args: &["perturb", "{d}", "{t}/o", "--reorder", "5 parsecs"],
            needles: &["--reorder", "unit"],
        },
        Case {
            name: "negative skew",
            setup: data,
            args: &["perturb", "{d}", "{t}/o", "--skew=-5m"],
            needles: &["--skew", "negative"],
        },
        Case {
            name: "reorder past a year",
            setup: data,
            args: &["perturb", "{d}", "{t}/o", "--reorder", "400d"],
            needles: &["--reorder", "365 days"],
        },
        Case {
            name: "truncate not a time",
            setup: data,
            args: &["perturb", "{d}", "{t}/o", "--truncate", "soon"],
            needles: &["--truncate"],
        },
        Case {
            name: "truncate at a bad date",
            setup: data,
            args: &[
                "perturb",
                "{d}",
                "{t}/o",
                "--truncate",
                "2018-13-01T00:00:00Z",
            ],
            needles: &["--truncate", "UTC time"],
        },
        Case {
            name: "manifest names an absolute path",
            setup: |t| {
                edit_manifest(t, |m| {
                    file_entry(m, "apps.parquet")["path"] = "/etc/hostname".into()
                })
            },
            args: &["perturb", "{d}", "{t}/o"],
            needles: &["manifest.json", "/etc/hostname", "relative path"],
        },
        Case {
            name: "manifest climbs out",
            setup: |t| {
                edit_manifest(t, |m| {
                    file_entry(m, "apps.parquet")["path"] = "../outside.parquet".into()
                })
            },
            args: &["perturb", "{d}", "{t}/o"],
            needles: &["manifest.json", "../outside.parquet"],
        },
        Case {
            name: "manifest not JSON",
            setup: |t| {
                data(t);
                std::fs::write(t.join("d/manifest.json"), "{").unwrap();
            },
            args: &["perturb", "{d}", "{t}/o"],
            needles: &["manifest.json", "not a blastradius manifest"],
        },
        Case {
            name: "nulls where they apply",
            setup: |t| rewrite_shard(t, null_users),
            args: &["perturb", "{d}", "{t}/o", "--drop", "0.1"],
            needles: &["part-00001.parquet", "user_id", "null"],
        },
    ]);
}

#[test]
fn analyze_refuses_bad_input() {
    run_cases(&[
        Case {
            name: "missing folder",
            setup: none,
            args: &["analyze", "{t}/nowhere", "--out", "{t}/r"],
            needles: &["nowhere", "no such dataset folder"],
        },
        Case {
            name: "no manifest",
            setup: |t| std::fs::create_dir(t.join("e")).unwrap(),
            args: &["analyze", "{t}/e", "--out", "{t}/r"],
            needles: &["manifest.json", "blastradius generate"],
        },
        Case {
            name: "manifest not JSON",
            setup: |t| {
                data(t);
                std::fs::write(t.join("d/manifest.json"), "[1,").unwrap();
            },
            args: &["analyze", "{d}", "--out", "{t}/r"],
            needles: &["manifest.json", "not a valid manifest"],
        },
        Case {
            name: "manifest of something else",
            setup: |t| edit_manifest(t, |m| m["format"] = "other".into()),
            args: &["analyze", "{d}", "--out", "{t}/r"],
            needles: &["manifest.json", "not a blastradius dataset"],
        },
        Case {
            name: "another schema version",
            setup: |t| edit_manifest(t, |m| m["schema_version"] = 99.into()),
            args: &["analyze", "{d}", "--out", "{t}/r"],
            needles: &["schema version 99", "regenerate"],
        },
        Case {
            name: "a listed file missing",
            setup: |t| {
                data(t);
                std::fs::remove_file(t.join("d/events/part-00002.parquet")).unwrap();
            },
            args: &["analyze", "{d}", "--out", "{t}/r"],
            needles: &["part-00002.parquet", "listed in the manifest"],
        },
        Case {
            name: "a truncated shard",
            setup: |t| {
                data(t);
                let p = t.join("d/events/part-00001.parquet");
                let b = std::fs::read(&p).unwrap();
                std::fs::write(&p, &b[..b.len() / 2]).unwrap();
            },
            args: &["analyze", "{d}", "--out", "{t}/r"],
            needles: &["part-00001.parquet", "truncated"],
        },
        Case {
            name: "one flipped byte",
            setup: |t| {
                data(t);
                let p = t.join("d/events/part-00001.parquet");
                let mut b = std::fs::read(&p).unwrap();
                let i = b.len() / 3;
                b[i] ^= 0x10;
                std::fs::write(&p, &b).unwrap();
            },
            args: &["analyze", "{d}", "--out", "{t}/r"],
            needles: &["part-00001.parquet", "CRC-32C", "damaged"],
        },
        Case {
            name: "manifest names an absolute path",
            setup: |t| {
                edit_manifest(t, |m| {
                    file_entry(m, "apps.parquet")["path"] = "/etc/hostname".into()
                })
            },
            args: &["analyze", "{d}", "--out", "{t}/r"],
            needles: &["/etc/hostname", "relative path"],
        },
        Case {
            name: "manifest climbs out",
            setup: |t| {
                edit_manifest(t, |m| {
                    file_entry(m, "apps.parquet")["path"] = "events/../../x.parquet".into()
                })
            },
            args: &["analyze", "{d}", "--out", "{t}/r"],
            needles: &["../../x.parquet"],
        },
        Case {
            name: "a link out of the dataset",
            setup: |t| {
                data(t);
                std::fs::write(t.join("outside.parquet"), "x").unwrap();
                std::os::unix::fs::symlink(
                    t.join("outside.parquet"),
                    t.join("d/events/link.parquet"),
                )
                .unwrap();
                let p = t.join("d/manifest.json");
                let mut m = read_json(&p);
                m["files"].as_array_mut().unwrap().push(serde_json::json!({"path": "events/link.parquet", "rows": 1, "bytes": 1, "sha256": "0"}));
                write_json(&p, &m);
            },
            args: &["analyze", "{d}", "--out", "{t}/r"],
            needles: &["symbolic link"],
        },
        Case {
            name: "an unlisted extra shard",
            setup: |t| {
                data(t);
                std::fs::copy(
                    t.join("d/events/part-00001.parquet"),
                    t.join("d/events/part-00003.parquet"),
                )
                .unwrap();
            },
            args: &["analyze", "{d}", "--out", "{t}/r"],
            needles: &["part-00003.parquet", "not in its manifest"],
        },
        Case {
            name: "a shard left out of the manifest",
            setup: |t| {
                edit_manifest(t, |m| {
                    m["files"]
                        .as_array_mut()
                        .unwrap()
                        .retain(|f| f["path"] != "events/part-00001.parquet")
                })
            },
            args: &["analyze", "{d}", "--out", "{t}/r"],
            needles: &["part-00001.parquet", "not in its manifest"],
        },
        Case {
            name: "a shard count that disagrees",
            setup: |t| edit_manifest(t, |m| m["shards"] = 4.into()),
            args: &["analyze", "{d}", "--out", "{t}/r"],
            needles: &["manifest.json", "part-00003.parquet"],
        },
        Case {
            name: "a 0-row shard",
            setup: |t| {
                edit_manifest(t, |m| {
                    file_entry(m, "events/part-00001.parquet")["rows"] = 0.into()
                })
            },
            args: &["analyze", "{d}", "--out", "{t}/r"],
            needles: &["part-00001.parquet", "no rows"],
        },
        Case {
            name: "nulls where they apply",
            setup: |t| rewrite_shard(t, null_users),
            args: &["analyze", "{d}", "--out", "{t}/r"],
            needles: &["part-00001.parquet", "`user_id`", "null on row"],
        },
        Case {
            name: "no deploy events",
            setup: |t| rewrite_shard(t, no_deploys),
            args: &["analyze", "{d}", "--out", "{t}/r"],
            needles: &["part-00001.parquet", "bug_introduced", "--bug-window"],
        },
        Case {
            name: "a bad --bug-window",
            setup: data,
            args: &[
                "analyze",
                "{d}",
                "--out",
                "{t}/r",
                "--bug-window",
                "last week",
            ],
            needles: &["--bug-window", "START/END"],
        },
        Case {
            name: "a backwards --bug-window",
            setup: data,
            args: &[
                "analyze",
                "{d}",
                "--out",
                "{t}/r",
                "--bug-window",
                "2018-09-25T00:00:00Z/2018-09-13T00:00:00Z",
            ],
            needles: &["--bug-window", "before"],
        },
        Case {
            name: "unknown detector",
            setup: data,
            args: &["analyze", "{d}", "--out", "{t}/r", "--detector", "psychic"],
            needles: &["--detector psychic", "exact"],
        },
        Case {
            name: "zero memory",
            setup: data,
            args: &["analyze", "{d}", "--out", "{t}/r", "--memory-limit", "0"],
            needles: &["--memory-limit", "at least"],
        },
        Case {
            name: "zero threads",
            setup: data,
            args: &["analyze", "{d}", "--out", "{t}/r", "--threads", "0"],
            needles: &["--threads"],
        },
        Case {
            name: "out is someone's folder",
            setup: |t| {
                data(t);
                std::fs::create_dir(t.join("r")).unwrap();
                std::fs::write(t.join("r/mine.txt"), "keep").unwrap();
            },
            args: &["analyze", "{d}", "--out", "{t}/r", "--force"],
            needles: &["replaces only what it wrote"],
        },
        Case {
            name: "out inside the dataset",
            setup: data,
            args: &["analyze", "{d}", "--out", "{d}/report"],
            needles: &["inside the input"],
        },
        Case {
            name: "out is a file",
            setup: |t| {
                data(t);
                std::fs::write(t.join("r"), "x").unwrap();
            },
            args: &["analyze", "{d}", "--out", "{t}/r"],
            needles: &["is a file"],
        },
        Case {
            name: "a key that is not a key",
            setup: |t| {
                data(t);
                std::fs::create_dir(t.join("k")).unwrap();
            },
            args: &["analyze", "{d}", "--out", "{t}/r", "--truth", "{t}/k"],
            needles: &["key.json", "answer key"],
        },
    ]);
}

/// A findings folder at `t/f` holding `exposures.csv` with `text`.
fn csv_findings(t: &Path, text: &str) {
    data(t);
    std::fs::create_dir_all(t.join("f")).unwrap();
    std::fs::write(t.join("f/exposures.csv"), text).unwrap();
}

/// The first truth exposure of the small dataset, as a CSV row.
fn a_true_exposure() -> String {
    use arrow::array::AsArray;
    use arrow::datatypes::{UInt32Type, UInt64Type};
    let d = small_dataset();
    for part in 0..3 {
        let f = d.join(format!("truth/exposures/part-{part:05}.parquet"));
        let batches = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(f).unwrap(),
        )
        .unwrap()
        .build()
        .unwrap();
        for b in batches {
            let b = b.unwrap();
            if b.num_rows() > 0 {
                let app = b.column(0).as_primitive::<UInt32Type>().value(0);
                let user = b.column(1).as_primitive::<UInt64Type>().value(0);
                let photo = b.column(2).as_primitive::<UInt64Type>().value(0);
                return format!("{app},{user},{photo}");
            }
        }
    }
    panic!("the small dataset has no exposure");
}

#[test]
fn score_refuses_bad_findings() {
    run_cases(&[
        Case {
            name: "no findings folder given",
            setup: data,
            args: &["score", "{d}"],
            needles: &["FINDINGS"],
        },
        Case {
            name: "missing findings folder",
            setup: data,
            args: &["score", "{d}", "{t}/nowhere", "--out", "{t}/r"],
            needles: &["nowhere", "no such findings folder"],
        },
        Case {
            name: "empty findings folder",
            setup: |t| {
                data(t);
                std::fs::create_dir(t.join("f")).unwrap();
            },
            args: &["score", "{d}", "{t}/f", "--out", "{t}/r"],
            needles: &["holds no findings", "exposures"],
        },
        Case {
            name: "empty exposures folder",
            setup: |t| {
                data(t);
                std::fs::create_dir_all(t.join("f/exposures")).unwrap();
            },
            args: &["score", "{d}", "{t}/f", "--out", "{t}/r"],
            needles: &["exposures", "no .parquet or .csv part"],
        },
        Case {
            name: "a missing column",
            setup: |t| csv_findings(t, "app_id,user_id\n1,2\n"),
            args: &["score", "{d}", "{t}/f", "--out", "{t}/r"],
            needles: &["exposures.csv", "`photo_id` is missing"],
        },
        Case {
            name: "a CSV row that does not parse",
            setup: |t| {
                csv_findings(
                    t,
                    &format!("app_id,user_id,photo_id\n{}\n1,abc,3\n", a_true_exposure()),
                )
            },
            args: &["score", "{d}", "{t}/f", "--out", "{t}/r"],
            needles: &["exposures.csv", "`user_id`", "line 3", "`abc`"],
        },
        Case {
            name: "an unknown user",
            setup: |t| csv_findings(t, "app_id,user_id,photo_id\n1,99999999,3\n"),
            args: &["score", "{d}", "{t}/f", "--out", "{t}/r"],
            needles: &["`user_id`", "99999999", "not a user of this dataset"],
        },
        Case {
            name: "an unknown app",
            setup: |t| csv_findings(t, "app_id,user_id,photo_id\n77777,2,3\n"),
            args: &["score", "{d}", "{t}/f", "--out", "{t}/r"],
            needles: &["`app_id`", "77777", "not an app"],
        },
        Case {
            name: "a photo of another user",
            setup: |t| csv_findings(t, "app_id,user_id,photo_id\n1,2,3\n"),
            args: &["score", "{d}", "{t}/f", "--out", "{t}/r"],
            needles: &["`photo_id`", "not a photo of user 2"],
        },
        Case {
            name: "an empty cell",
            setup: |t| csv_findings(t, "app_id,user_id,photo_id\n1,,3\n"),
            args: &["score", "{d}", "{t}/f", "--out", "{t}/r"],
            needles: &["`user_id`", "null", "line 2"],
        },
        Case {
            name: "a table given twice",
            setup: |t| {
                csv_findings(t, "app_id,user_id,photo_id\n");
                std::fs::create_dir(t.join("f/exposures")).unwrap();
            },
            args: &["score", "{d}", "{t}/f", "--out", "{t}/r"],
            needles: &["exposures", "more than once"],
        },
        Case {
            name: "a string id column",
            setup: |t| {
                data(t);
                std::fs::create_dir(t.join("f")).unwrap();
                write_parquet_strings(&t.join("f/affected_users.parquet"));
            },
            args: &["score", "{d}", "{t}/f", "--out", "{t}/r"],
            needles: &["affected_users.parquet", "`user_id`", "integer"],
        },
        Case {
            name: "a negative id",
            setup: |t| {
                data(t);
                std::fs::create_dir(t.join("f")).unwrap();
                write_parquet_negative(&t.join("f/affected_users.parquet"));
            },
            args: &["score", "{d}", "{t}/f", "--out", "{t}/r"],
            needles: &["`user_id`", "-3", "never negative"],
        },
        Case {
            name: "a broken findings.json",
            setup: |t| {
                csv_findings(t, "app_id,user_id,photo_id\n");
                std::fs::write(t.join("f/findings.json"), "{\"wall_seconds\": \"fast\"}").unwrap();
            },
            args: &["score", "{d}", "{t}/f", "--out", "{t}/r"],
            needles: &["findings.json", "not valid"],
        },
        Case {
            name: "more names than folders",
            setup: |t| csv_findings(t, "app_id,user_id,photo_id\n"),
            args: &[
                "score", "{d}", "{t}/f", "--name", "a", "--name", "b", "--out", "{t}/r",
            ],
            needles: &["--name"],
        },
        Case {
            name: "findings inside the out folder",
            setup: |t| csv_findings(t, "app_id,user_id,photo_id\n"),
            args: &["score", "{d}", "{t}/f", "--out", "{t}/f/r"],
            needles: &["inside the input"],
        },
    ]);
}

fn write_parquet_strings(path: &Path) {
    use arrow::array::{RecordBatch, StringArray};
    use std::sync::Arc;
    let b = RecordBatch::try_from_iter([(
        "user_id",
        Arc::new(StringArray::from(vec!["12"])) as arrow::array::ArrayRef,
    )])
    .unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        b.schema(),
        None,
    )
    .unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
}

fn write_parquet_negative(path: &Path) {
    use arrow::array::{Int64Array, RecordBatch};
    use std::sync::Arc;
    let b = RecordBatch::try_from_iter([(
        "user_id",
        Arc::new(Int64Array::from(vec![5, -3])) as arrow::array::ArrayRef,
    )])
    .unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        b.schema(),
        None,
    )
    .unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
}

#[test]
fn stress_scenario_and_bench_refuse_bad_input() {
    run_cases(&[
        Case {
            name: "exec without {out}",
            setup: data,
            args: &[
                "stress",
                "{d}",
                "--out",
                "{t}/s",
                "--exec",
                "python detect.py",
            ],
            needles: &["--exec", "{out}"],
        },
        Case {
            name: "a drop share above 1",
            setup: data,
            args: &["stress", "{d}", "--out", "{t}/s", "--drop", "2"],
            needles: &["--drop", "(0, 1]"],
        },
        Case {
            name: "unknown detector",
            setup: data,
            args: &["stress", "{d}", "--out", "{t}/s", "--detectors", "psychic"],
            needles: &["--detectors psychic"],
        },
        Case {
            name: "zero memory",
            setup: data,
            args: &["stress", "{d}", "--out", "{t}/s", "--memory-limits", "0"],
            needles: &["--memory-limit", "at least"],
        },
        Case {
            name: "out inside the dataset",
            setup: data,
            args: &["stress", "{d}", "--out", "{d}/s"],
            needles: &["inside the input"],
        },
        Case {
            name: "out is someone's folder",
            setup: |t| {
                data(t);
                std::fs::create_dir_all(t.join("s/work")).unwrap();
                std::fs::write(t.join("s/work/mine.txt"), "keep").unwrap();
            },
            args: &["stress", "{d}", "--out", "{t}/s", "--force"],
            needles: &["replaces only what it wrote"],
        },
        Case {
            name: "a blind dataset without its key",
            setup: |t| {
                let o = blastradius(&[
                    "generate",
                    "--users",
                    "300",
                    "--out",
                    path_arg(&t.join("d")),
                    "--split-truth",
                    path_arg(&t.join("k")),
                ]);
                assert_ok(&o);
            },
            args: &["stress", "{d}", "--out", "{t}/s"],
            needles: &["--truth KEY"],
        },
        Case {
            name: "scenario show of nothing",
            setup: none,
            args: &["scenario", "show", "facebook-2019"],
            needles: &["facebook-2019"],
        },
        Case {
            name: "bench with no users",
            setup: none,
            args: &["bench", "scaling", "--users", "0", "--out", "{t}/b"],
            needles: &["--users"],
        },
        Case {
            name: "names without commands",
            setup: data,
            args: &["stress", "{d}", "--out", "{t}/s", "--name", "x"],
            needles: &["--name"],
        },
    ]);
}
