//! `generate`: bad flags, scenarios and outputs.

use super::*;

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
            name: "out is a dataset with a file added",
            setup: |t| {
                data(t);
                std::fs::create_dir(t.join("d/mywork")).unwrap();
                std::fs::write(t.join("d/mywork/q.sql"), "keep").unwrap();
            },
            args: &["generate", "--users", "10", "--out", "{d}", "--force"],
            needles: &["holds `mywork/q.sql`", "manifest does not list"],
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
