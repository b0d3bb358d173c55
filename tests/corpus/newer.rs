//! Issue 22: the newer commands (stress --exec, generate --split-truth, export, lookup,
//! merge) and --force, on the inputs the hostile tour found them losing data or answering
//! wrong with exit 0.

use super::*;

/// `t/d` (the small dataset) and `t/o`, another one, analyzed by `exact` into `t/r`.
fn findings_of_another(t: &Path) {
    data(t);
    generate_into(&t.join("o"), "1500", "9", "messaging-partners");
    assert_ok(&blastradius(&[
        "analyze",
        path_arg(&t.join("o")),
        "--detector",
        "exact",
        "--out",
        path_arg(&t.join("r")),
    ]));
}

/// `t/a` made with its answer key at `t/key-a`.
fn split_dataset(t: &Path) {
    assert_ok(&blastradius(&[
        "generate",
        "--users",
        "1000",
        "--seed",
        "5",
        "--out",
        path_arg(&t.join("a")),
        "--split-truth",
        path_arg(&t.join("key-a")),
    ]));
}

/// Every other photo call of a batch dropped.
fn half_the_photo_calls(b: arrow::array::RecordBatch) -> arrow::array::RecordBatch {
    use arrow::array::{AsArray, BooleanArray};
    let kinds = arrow::compute::cast(
        b.column_by_name("kind").unwrap(),
        &arrow::datatypes::DataType::Utf8,
    )
    .unwrap();
    let mut n = 0;
    let keep: BooleanArray = kinds
        .as_string::<i32>()
        .iter()
        .map(|k| {
            let call = k.unwrap() == "photo_api_call";
            n += usize::from(call);
            Some(!call || n % 2 == 0)
        })
        .collect();
    arrow::compute::filter_record_batch(&b, &keep).unwrap()
}

/// `t/d` with half the photo calls of a shard gone and its manifest entry remade to match;
/// the totals left as they were, as such an edit leaves them.
fn entry_remade(t: &Path) {
    data(t);
    let before = read_json(&t.join("d/manifest.json"))["counts"].clone();
    rewrite_shard_in_place(t, half_the_photo_calls);
    let p = t.join("d/manifest.json");
    let mut m = read_json(&p);
    m["counts"] = before;
    write_json(&p, &m);
}

/// The two parts of a split run at `t/p0` and `t/p1`, the second edited as in
/// [`entry_remade`].
fn part_remade(t: &Path) {
    for i in 0..2 {
        assert_ok(&blastradius(&[
            "generate",
            "--users",
            "1000",
            "--seed",
            "5",
            "--shards",
            "2",
            "--shard",
            &format!("{i}/2"),
            "--out",
            path_arg(&t.join(format!("p{i}"))),
        ]));
    }
    let part = t.join("p1");
    let before = read_json(&part.join("manifest.json"))["counts"].clone();
    // rewrite_shard works on `t/d`: the part is moved there and back.
    std::fs::rename(&part, t.join("d")).unwrap();
    rewrite_shard_in_place(t, half_the_photo_calls);
    std::fs::rename(t.join("d"), &part).unwrap();
    let p = part.join("manifest.json");
    let mut m = read_json(&p);
    m["counts"] = before;
    write_json(&p, &m);
}

/// A folder of someone's, with an output marker written into it by hand that lists its file
/// (names only, as an older marker did).
fn marker_by_hand(t: &Path) {
    data(t);
    let mine = t.join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("thesis.tex"), "years of work").unwrap();
    std::fs::write(
        mine.join(".blastradius-output"),
        r#"{"written_by": "blastradius analyze", "files": ["thesis.tex"]}"#,
    )
    .unwrap();
}

/// `stress` of `t/d` with one outside detector, `$command` named `$name`, and no damage
/// worth the time.
macro_rules! stress_exec {
    ($command:literal, $name:literal) => {
        &[
            "stress",
            "{d}",
            "--out",
            "{t}/s",
            "--detectors",
            "none",
            "--drop",
            "0.01",
            "--duplicate",
            "0.01",
            "--reorder",
            "none",
            "--skew",
            "none",
            "--no-truncate",
            "--shard-memory-limits",
            "none",
            "--exec",
            $command,
            "--name",
            $name,
        ]
    };
}

#[test]
fn the_newer_commands_refuse_what_would_lose_data_or_lie() {
    run_cases(&[
        Case {
            name: "an outside detector that deletes its dataset",
            setup: data,
            args: stress_exec!("rm -rf {dataset} # {out}", "cleaner"),
            needles: &["`cleaner` changed the dataset copy"],
        },
        Case {
            name: "an outside detector that writes into its dataset",
            setup: data,
            args: stress_exec!("echo x >> {dataset}/providers.parquet # {out}", "scribbler"),
            needles: &["`scribbler` changed the dataset copy"],
        },
        Case {
            name: "--split-truth at another dataset's answer key",
            setup: split_dataset,
            args: &[
                "generate",
                "--users",
                "1000",
                "--seed",
                "6",
                "--out",
                "{t}/b",
                "--split-truth",
                "{t}/key-a",
                "--force",
            ],
            needles: &["--split-truth", "holds the answer key of another dataset"],
        },
        Case {
            name: "export users with findings of another dataset",
            setup: findings_of_another,
            args: &[
                "export",
                "users",
                "{d}",
                "--out",
                "{t}/x",
                "--findings",
                "{t}/r/exact",
            ],
            needles: &["made for another dataset"],
        },
        Case {
            name: "export apps with findings of another dataset",
            setup: findings_of_another,
            args: &[
                "export",
                "apps",
                "{d}",
                "--out",
                "{t}/x",
                "--findings",
                "{t}/r/exact",
            ],
            needles: &["made for another dataset"],
        },
        Case {
            name: "lookup with findings of another dataset",
            setup: findings_of_another,
            args: &["lookup", "{d}", "1", "--findings", "{t}/r/exact"],
            needles: &["made for another dataset"],
        },
        Case {
            name: "a manifest entry remade over an edited shard",
            setup: entry_remade,
            args: &["analyze", "{d}", "--out", "{t}/r"],
            needles: &["manifest.json", "events but its events files hold"],
        },
        Case {
            name: "merge --verify of a part whose entry was remade",
            setup: part_remade,
            args: &["merge", "{t}/p0", "{t}/p1", "--out", "{t}/m", "--verify"],
            needles: &["p1/manifest.json", "events but its events files hold"],
        },
        Case {
            name: "--force over a folder with a marker written by hand",
            setup: marker_by_hand,
            args: &["analyze", "{d}", "--out", "{t}/mine", "--force"],
            needles: &["--out", "mine"],
        },
    ]);
}
