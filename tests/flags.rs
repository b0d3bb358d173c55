//! Issue 23: a flag means one thing in every command. Read from every command's `--help`, as
//! a user meets them.

use crate::util::*;

const COMMANDS: &[&[&str]] = &[
    &["generate"],
    &["perturb"],
    &["merge"],
    &["analyze"],
    &["score"],
    &["stress"],
    &["lookup"],
    &["export", "users"],
    &["export", "apps"],
    &["replay"],
    &["detect"],
    &["run"],
    &["bench", "detectors"],
    &["bench", "live"],
    &["bench", "scaling"],
    &["bench", "plan"],
];

fn help(command: &[&str]) -> String {
    let mut args = command.to_vec();
    args.push("--help");
    let o = blastradius(&args);
    assert_ok(&o);
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The text of `flag`'s entry in `help` (its line and the description under it).
fn entry(help: &str, flag: &str) -> Option<String> {
    let mut lines = help.lines().skip_while(|l| {
        let t = l.trim_start();
        !(t.starts_with(&format!("{flag} ")) || t == flag || t.starts_with(&format!("{flag}=")))
    });
    let first = lines.next()?;
    let rest: Vec<&str> = lines
        .take_while(|l| !l.trim_start().starts_with('-'))
        .collect();
    Some(format!("{first} {}", rest.join(" ")))
}

#[test]
fn a_flag_means_one_thing_in_every_command() {
    for command in COMMANDS {
        let text = help(command);
        // --findings is a findings folder wherever it is taken.
        if let Some(e) = entry(&text, "--findings") {
            assert!(
                e.contains("<DIR>")
                    || e.contains("<FINDINGS>")
                    || e.to_lowercase().contains("folder"),
                "{command:?}: --findings is not a folder here: {e}"
            );
        }
        // --memory-limit is the whole state's budget; a per-shard budget says so in its name.
        if let Some(e) = entry(&text, "--memory-limit") {
            assert!(
                e.contains("whole"),
                "{command:?}: --memory-limit is not the whole state's budget here: {e}"
            );
        }
        // Every command that writes a folder takes it as --out.
        if [
            "generate", "perturb", "merge", "analyze", "score", "stress", "replay",
        ]
        .contains(&command[0])
        {
            assert!(
                entry(&text, "--out").is_some(),
                "{command:?} does not take --out"
            );
        }
        // A world's seed defaults to 2018 wherever a world is generated.
        if ["generate", "run"].contains(&command[0]) || command == &["bench", "detectors"] {
            let e = entry(&text, "--seed").unwrap_or_default();
            assert!(
                e.contains("2018"),
                "{command:?}: the world's seed does not default to 2018: {e}"
            );
        }
        // An outside detector's time limit is the same wherever one runs.
        if let Some(e) = entry(&text, "--timeout") {
            assert!(e.contains("3600"), "{command:?}: {e}");
        }
    }
}

#[test]
fn perturb_takes_out_and_still_its_older_positional_form() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("d");
    generate_into(&data, "2000", "3", "facebook-2018");
    let a = t.path().join("a");
    assert_ok(&blastradius(&[
        "perturb",
        path_arg(&data),
        "--out",
        path_arg(&a),
        "--drop",
        "0.1",
    ]));
    let b = t.path().join("b");
    assert_ok(&blastradius(&[
        "perturb",
        path_arg(&data),
        path_arg(&b),
        "--drop",
        "0.1",
    ]));
    assert_eq!(
        std::fs::read(a.join("manifest.json")).unwrap(),
        std::fs::read(b.join("manifest.json")).unwrap(),
        "the same copy either way"
    );
    let both = blastradius(&[
        "perturb",
        path_arg(&data),
        path_arg(&b),
        "--out",
        path_arg(&a),
    ]);
    assert!(!both.status.success());
    let neither = blastradius(&["perturb", path_arg(&data)]);
    assert_error(&neither, &["--out"]);
}

#[test]
fn replay_refuses_a_rate_its_ramp_would_ignore() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("d");
    generate_into(&data, "2000", "3", "facebook-2018");
    let o = blastradius(&[
        "replay",
        path_arg(&data),
        "--stdout",
        "--rate",
        "5",
        "--shape",
        "ramp:200000:400000:1s",
    ]);
    assert_error(&o, &["--rate and --shape ramp", "leave --rate out"]);
}

/// Every command line a harness runs as a child parses: a flag renamed in the binary and not
/// in `harness::argv` fails here, not in a benchmark an hour in.
#[test]
fn every_command_line_a_harness_builds_parses() {
    use blastradius_harness::argv::{Analyze, Discover, Follow, Generate, Perturb};
    use std::path::Path;
    let (d, o) = (Path::new("d"), Path::new("o"));
    let lines = [
        Generate {
            users: 10,
            seed: Some(1),
            scenario: Some("facebook-2018"),
            shards: Some(4),
            shard: Some(2),
            threads: Some(1),
            skip_resource_check: true,
            no_incident: true,
            out: o,
        }
        .args(),
        Discover {
            dataset: d,
            detector: "policy-replay",
            out: o,
        }
        .args(),
        Perturb {
            input: d,
            out: o,
            faults: blastradius_harness::leaderboard::DEFAULT_DAMAGE,
        }
        .args(),
        Analyze {
            dataset: d,
            detector: "exact",
            threads: Some(1),
            out: o,
        }
        .args(),
        Follow {
            streaming: Some((100, 1 << 20)),
            discard: true,
        }
        .args(),
    ];
    for args in lines {
        // The parser checks every flag before it prints the help that --help asks for.
        let mut with_help: Vec<&str> = args.iter().map(String::as_str).collect();
        with_help.push("--help");
        let o = blastradius(&with_help);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    }
}

/// Flags whose default is the command's own workload or sweep, not a shared setting: the
/// population a command works at (`--users`: the main dataset's million for generate and run,
/// a benchmark's own size for the others), the presets and detectors a command runs (analyze
/// every batch one, a live follower one), the
/// levels a stress sweep tries where perturb applies one (`--drop` and the other faults),
/// and where each command writes.
const PER_COMMAND: &[&str] = &[
    "--users",
    "--scenarios",
    "--detectors",
    "--detector",
    "--drop",
    "--duplicate",
    "--reorder",
    "--skew",
    "--out",
];

/// Every `--flag` of `help` with its default, if it shows one.
fn defaults(help: &str) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in help.lines() {
        let t = line.trim_start();
        // An option's own line is indented a little (`  -h, --help`, `      --out`); a
        // description wrapped onto a line that starts with `--` is indented further.
        let indent = line.len() - t.len();
        let t = t.strip_prefix("-h, ").unwrap_or(t);
        if let Some(rest) = t.strip_prefix("--").filter(|_| indent <= 6) {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            out.push((format!("--{name}"), t.to_string()));
        } else if let Some(last) = out.last_mut() {
            last.1.push(' ');
            last.1.push_str(t);
        }
    }
    out.into_iter()
        .map(|(flag, text)| {
            let default = text
                .split_once("[default: ")
                .and_then(|(_, rest)| rest.split_once(']'))
                .map(|(d, _)| d.to_string());
            (flag, default)
        })
        .collect()
}

#[test]
fn a_flag_has_one_default_across_commands() {
    let mut seen: std::collections::BTreeMap<String, Vec<(String, String)>> = Default::default();
    for command in COMMANDS {
        for (flag, default) in defaults(&help(command)) {
            if let Some(d) = default {
                seen.entry(flag).or_default().push((command.join(" "), d));
            }
        }
    }
    assert!(seen.contains_key("--seed") && seen.contains_key("--timeout"));
    for (flag, uses) in &seen {
        if PER_COMMAND.contains(&flag.as_str()) {
            continue;
        }
        let first = &uses[0].1;
        assert!(
            uses.iter().all(|(_, d)| d == first),
            "{flag} has several defaults: {uses:?}"
        );
    }
    // The seed's one default is the main dataset's.
    assert!(
        seen["--seed"].iter().all(|(_, d)| d == "2018"),
        "{:?}",
        seen["--seed"]
    );
}
