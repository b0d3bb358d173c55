//! `perturb`: bad inputs, outputs and fault flags.

use super::*;

#[test]
fn perturb_refuses_bad_input() {
    run_cases(&[
        // Issue 22: `--reorder 5` meant five seconds, silently.
        Case {
            name: "a duration without its unit",
            setup: data,
            args: &["perturb", "{d}", "{t}/o", "--reorder", "5"],
            needles: &["--reorder 5", "unit", "5s"],
        },
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
            name: "a damaged shard",
            setup: |t| flip_byte(t, "events/part-00001.parquet"),
            args: &["perturb", "{d}", "{t}/o", "--drop", "0.1"],
            needles: &["part-00001.parquet", "SHA-256", "damaged"],
        },
        Case {
            name: "a shard the manifest does not list",
            setup: |t| {
                data(t);
                let events = t.join("d/events");
                std::fs::copy(
                    events.join("part-00000.parquet"),
                    events.join("extra.parquet"),
                )
                .unwrap();
            },
            args: &["perturb", "{d}", "{t}/o", "--drop", "0.1"],
            needles: &["extra.parquet", "not in its manifest"],
        },
        Case {
            name: "rows edited in the manifest",
            setup: |t| {
                data(t);
                edit_manifest(t, |m| {
                    file_entry(m, "events/part-00001.parquet")["rows"] = 1.into()
                })
            },
            args: &["perturb", "{d}", "{t}/o", "--drop", "0.1"],
            needles: &["part-00001.parquet", "manifest says 1"],
        },
        Case {
            name: "a truncation date without its time",
            setup: data,
            args: &["perturb", "{d}", "{t}/o", "--truncate", "2018-09-20"],
            needles: &["--truncate 2018-09-20", "2018-09-20T00:00:00Z"],
        },
        Case {
            name: "an events shard lost with its line in the manifest",
            setup: |t| lose_part(t, "events/part-00001.parquet"),
            args: &["perturb", "{d}", "{t}/o", "--drop", "0.1"],
            needles: &["does not list events/part-00001.parquet"],
        },
        Case {
            name: "output reached through a missing folder and ..",
            setup: data,
            args: &[
                "perturb",
                "{d}",
                "{t}/nope/../d",
                "--force",
                "--drop",
                "0.1",
            ],
            needles: &["itself"],
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
            needles: &["manifest.json", "not a valid manifest"],
        },
        Case {
            name: "nulls where they apply",
            setup: |t| rewrite_shard(t, null_users),
            args: &["perturb", "{d}", "{t}/o", "--drop", "0.1"],
            needles: &["part-00001.parquet", "user_id", "null"],
        },
    ]);
}
