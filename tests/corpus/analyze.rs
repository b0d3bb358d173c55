//! `analyze`: damaged datasets, manifests and flags.

use super::*;

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
            setup: |t| flip_byte(t, "events/part-00001.parquet"),
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
        // Issue 22: a window in 1990 on a 2018 log found "0 affected users", exit 0.
        Case {
            name: "a --bug-window outside the log",
            setup: data,
            args: &[
                "analyze",
                "{d}",
                "--out",
                "{t}/r",
                "--bug-window",
                "1990-01-01T00:00:00Z/1990-02-01T00:00:00Z",
            ],
            needles: &["--bug-window", "outside the log's period", "2018-08-01"],
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
            args: &[
                "analyze",
                "{d}",
                "--out",
                "{t}/r",
                "--shard-memory-limit",
                "0",
            ],
            needles: &["--shard-memory-limit", "at least"],
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
            name: "out is another command's output (an answer key)",
            setup: |t| {
                data(t);
                std::fs::create_dir(t.join("r")).unwrap();
                std::fs::write(t.join("r/key.json"), "{}").unwrap();
                std::fs::write(
                    t.join("r/.blastradius-output"),
                    r#"{"written_by": "blastradius generate --split-truth", "files": ["key.json"]}"#,
                )
                .unwrap();
            },
            args: &["analyze", "{d}", "--out", "{t}/r", "--force"],
            needles: &["is the output of `blastradius generate --split-truth`"],
        },
        Case {
            name: "out is an earlier report with a file added",
            setup: |t| {
                data(t);
                let r = t.join("r");
                assert_ok(&blastradius(&[
                    "analyze",
                    path_arg(&t.join("d")),
                    "--detector",
                    "naive",
                    "--out",
                    path_arg(&r),
                ]));
                std::fs::write(r.join("naive/notes.txt"), "keep").unwrap();
            },
            args: &["analyze", "{d}", "--out", "{t}/r", "--force"],
            needles: &["holds `naive/notes.txt`", "does not list"],
        },
        Case {
            name: "fewer users in the manifest than in the log",
            setup: |t| {
                edit_manifest(t, |m| {
                    let users = m["users"].as_u64().unwrap();
                    m["users"] = (users / 10).into();
                })
            },
            args: &["analyze", "{d}", "--out", "{t}/r", "--detector", "exact"],
            needles: &["manifest.json", "disagrees with the events", "regenerate"],
        },
        Case {
            name: "the dataset is a file",
            setup: |t| std::fs::write(t.join("f"), "x").unwrap(),
            args: &["analyze", "{t}/f", "--out", "{t}/r"],
            needles: &["is a file, not a dataset folder"],
        },
        Case {
            name: "a truth part lost with its line in the manifest",
            setup: |t| lose_part(t, "truth/exposures/part-00001.parquet"),
            args: &["analyze", "{d}", "--out", "{t}/r"],
            needles: &[
                "does not list truth/exposures/part-00001.parquet",
                "regenerate",
            ],
        },
        Case {
            name: "a file listed twice",
            setup: |t| {
                edit_manifest(t, |m| {
                    let files = m["files"].as_array_mut().unwrap();
                    let again = files
                        .iter()
                        .find(|f| f["path"] == "events/part-00001.parquet")
                        .unwrap()
                        .clone();
                    files.push(again);
                })
            },
            args: &["analyze", "{d}", "--out", "{t}/r"],
            needles: &["events/part-00001.parquet twice"],
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
        Case {
            name: "an engine that is not one",
            setup: data,
            args: &["analyze", "{d}", "--out", "{t}/r", "--engine", "spark"],
            needles: &["--engine spark", "ballista://HOST:PORT"],
        },
        Case {
            name: "a cluster engine without a port",
            setup: data,
            args: &[
                "analyze",
                "{d}",
                "--out",
                "{t}/r",
                "--engine",
                "ballista://h",
            ],
            needles: &["--engine ballista://h", "HOST:PORT"],
        },
        Case {
            name: "a cluster engine for detectors that are not sql",
            setup: data,
            args: &[
                "analyze",
                "{d}",
                "--out",
                "{t}/r",
                "--detector",
                "exact",
                "--engine",
                "ballista://127.0.0.1:1",
            ],
            needles: &["--engine ballista://127.0.0.1:1", "--detector sql"],
        },
        Case {
            name: "a scratch folder without a cluster",
            setup: data,
            args: &["analyze", "{d}", "--out", "{t}/r", "--scratch", "{t}"],
            needles: &["--scratch", "--engine ballista://HOST:PORT"],
        },
        Case {
            name: "a scratch folder that is not there",
            setup: data,
            args: &[
                "analyze",
                "{d}",
                "--out",
                "{t}/r",
                "--detector",
                "sql",
                "--engine",
                "ballista://127.0.0.1:1",
                "--scratch",
                "{t}/nowhere",
            ],
            needles: if cfg!(feature = "datafusion") {
                &["--scratch", "nowhere", "not a folder"] as &[&str]
            } else {
                &["--detector sql", "--features datafusion"]
            },
        },
    ]);
}
