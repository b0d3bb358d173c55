//! Issue 25: the View-As world end to end. `exact` equals the truth at every level and
//! stays there under duplicates and late delivery; the precautionary rule finds every victim
//! and many more; lookup and export say what the truth tables say, read here directly.
//! Live, the stream carries the access log and live `exact` finds the same truth.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};

use crate::live::{follow_exact_in, json_stream, live_report};
use crate::util::*;

/// `(user, tier, field groups)` of a truth or findings table, read with arrow directly.
fn victims(dir: &Path) -> BTreeMap<u64, (String, Vec<String>)> {
    let mut out = BTreeMap::new();
    for part in files_under(dir) {
        for b in batches(&part) {
            let users = arrow::compute::cast(
                b.column_by_name("user_id").unwrap(),
                &arrow::datatypes::DataType::Int64,
            )
            .unwrap();
            let users = users.as_primitive::<arrow::datatypes::Int64Type>();
            let tiers = arrow::compute::cast(
                b.column_by_name("tier").unwrap(),
                &arrow::datatypes::DataType::Utf8,
            )
            .unwrap();
            let tiers = tiers.as_string::<i32>();
            let groups = b.column_by_name("field_groups").unwrap().as_list::<i32>();
            for i in 0..b.num_rows() {
                let list = groups.value(i);
                let names = list.as_string::<i32>();
                out.insert(
                    users.value(i) as u64,
                    (
                        tiers.value(i).to_string(),
                        (0..names.len())
                            .map(|j| names.value(j).to_string())
                            .collect(),
                    ),
                );
            }
        }
    }
    out
}

fn view_as_scores(report: &serde_json::Value, detector: &str) -> (f64, f64, serde_json::Value) {
    let s = &row(report, detector)["scores"];
    let f1 = |level: &str| s[level]["f1"].as_f64().unwrap_or(-1.0);
    (
        f1("stolen_tokens"),
        f1("view_as_users"),
        s["view_as_tiers"].clone(),
    )
}

#[test]
fn exact_is_the_truth_on_clean_and_reordered_logs_and_the_precautionary_rule_a_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("va");
    generate_into(&data, "30000", "11", "view-as-2018");
    let report = analyze_report(&data, &tmp.path().join("clean"));
    let (tokens, users, tiers) = view_as_scores(&report, "exact");
    assert_eq!((tokens, users), (1.0, 1.0), "{report}");
    assert_eq!(tiers["agreed"], tiers["compared"]);
    // A clean log has no damage to report (the deploys, in every shard, are no duplicates).
    let unresolved = &row(&report, "exact")["unresolved"];
    assert!(unresolved.as_object().unwrap().is_empty(), "{unresolved}");
    assert!(tiers["compared"].as_u64().unwrap() > 300, "{tiers}");
    // The precautionary rule: every victim (each theft follows a look-up) and many others.
    let naive = &row(&report, "naive")["scores"]["view_as_users"];
    assert_eq!(naive["recall"], 1.0, "{naive}");
    assert!(naive["precision"].as_f64().unwrap() < 0.8, "{naive}");
    assert!(row(&report, "naive")["scores"]["stolen_tokens"].is_null());
    // Duplicates and late delivery change nothing; lost rows cost recall, never precision.
    for (flags, perfect) in [
        (&["--duplicate", "0.05", "--reorder", "15m"][..], true),
        (&["--drop", "0.05"][..], false),
    ] {
        let damaged = tmp.path().join(format!("d{}", flags.len()));
        let mut args = vec!["perturb", path_arg(&data), "--out", path_arg(&damaged)];
        args.extend(flags);
        assert_ok(&blastradius(&args));
        let report = analyze_report(&damaged, &tmp.path().join(format!("r{}", flags.len())));
        let s = &row(&report, "exact")["scores"];
        if perfect {
            assert_eq!(view_as_scores(&report, "exact").0, 1.0, "{flags:?}: {s}");
        } else {
            assert_eq!(s["stolen_tokens"]["precision"], 1.0, "{s}");
            let recall = s["stolen_tokens"]["recall"].as_f64().unwrap();
            assert!((0.85..1.0).contains(&recall), "{recall}");
        }
    }
}

#[test]
fn lookup_and_export_say_what_the_truth_tables_say() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("va");
    generate_into(&data, "20000", "12", "view-as-2018");
    let truth = victims(&data.join("truth/view_as_users"));
    assert!(!truth.is_empty());
    let pick = |tier: &str| truth.iter().find(|(_, v)| v.0 == tier).map(|(u, _)| *u);
    let unaffected = (0..20_000u64).find(|u| !truth.contains_key(u)).unwrap();
    for user in [
        pick("pivot"),
        pick("contact"),
        pick("contact_profile"),
        Some(unaffected),
    ]
    .into_iter()
    .flatten()
    {
        let o = blastradius(&["lookup", path_arg(&data), &user.to_string(), "--json"]);
        assert_ok(&o);
        let answer: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let v = &answer["view_as"];
        match truth.get(&user) {
            None => assert_eq!(v["affected"], false, "{answer}"),
            Some((tier, groups)) => {
                assert_eq!(v["affected"], true);
                assert_eq!(v["tier"], tier.as_str());
                assert_eq!(v["accessed"], serde_json::json!(groups), "{answer}");
                assert!(v["taken"].as_str().unwrap().starts_with("2018-09-"), "{v}");
            }
        }
    }
    let out = tmp.path().join("notify");
    assert_ok(&blastradius(&[
        "export",
        "users",
        path_arg(&data),
        "--out",
        path_arg(&out),
    ]));
    let mut listed: BTreeMap<u64, String> = BTreeMap::new();
    for b in batches(&out.join("users.parquet")) {
        let users = b
            .column_by_name("user_id")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int64Type>()
            .clone();
        let tiers = b
            .column_by_name("view_as_tier")
            .unwrap()
            .as_string::<i32>()
            .clone();
        for i in 0..b.num_rows() {
            if !tiers.value(i).is_empty() {
                listed.insert(users.value(i) as u64, tiers.value(i).to_string());
            }
        }
    }
    let want: BTreeMap<u64, String> = truth.iter().map(|(u, v)| (*u, v.0.clone())).collect();
    assert_eq!(listed, want);
}

#[test]
fn view_as_findings_that_break_the_contract_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("va");
    generate_into(&data, "3000", "13", "view-as-2018");
    let bad = tmp.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("view_as_users.csv"),
        "user_id,tier\n5,pivot\n6,everything\n",
    )
    .unwrap();
    let o = blastradius(&[
        "score",
        path_arg(&data),
        path_arg(&bad),
        "--out",
        path_arg(&tmp.path().join("s1")),
    ]);
    assert_error(&o, &["view_as_users.csv", "tier", "everything", "line 3"]);
    std::fs::remove_file(bad.join("view_as_users.csv")).unwrap();
    std::fs::write(bad.join("stolen_tokens.csv"), "token_id\n42\n").unwrap();
    let o = blastradius(&[
        "score",
        path_arg(&data),
        path_arg(&bad),
        "--out",
        path_arg(&tmp.path().join("s2")),
    ]);
    assert_error(
        &o,
        &["stolen_tokens.csv", "token_id", "not a token of a user"],
    );
    // A View-As level alone is findings enough, and scores.
    std::fs::write(bad.join("stolen_tokens.csv"), "token_id\n").unwrap();
    let out = tmp.path().join("s3");
    assert_ok(&blastradius(&[
        "score",
        path_arg(&data),
        path_arg(&bad),
        "--out",
        path_arg(&out),
    ]));
    let report = read_json(&out.join("report.json"));
    assert_eq!(
        report["detectors"][0]["scores"]["stolen_tokens"]["recall"], 0.0,
        "{report}"
    );
}

#[test]
fn damaged_copies_and_parts_count_and_cut_both_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("va");
    generate_into(&data, "6000", "14", "view-as-2018");
    // Per-kind counts of a damaged copy add up to its rows (every shard counted).
    let damaged = tmp.path().join("dropped");
    assert_ok(&blastradius(&[
        "perturb",
        path_arg(&data),
        "--out",
        path_arg(&damaged),
        "--drop",
        "0.05",
    ]));
    let m = read_json(&damaged.join("manifest.json"));
    let by_kind: u64 = m["counts"]["access_events_by_kind"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(by_kind, m["counts"]["access_events"].as_u64().unwrap());
    let rows_of = |dir: &Path| files_under(dir).iter().map(|f| rows(f)).sum::<u64>();
    assert_eq!(rows_of(&damaged.join("access")), by_kind);
    // One shard of three: its truth and its log's thefts are not the same ones, so the
    // View-As levels are not scored (and the report says why), while the photo levels are.
    let part = tmp.path().join("part");
    assert_ok(&blastradius(&[
        "generate",
        "--users",
        "6000",
        "--seed",
        "14",
        "--scenario",
        "view-as-2018",
        "--shards",
        "3",
        "--shard",
        "1/3",
        "--out",
        path_arg(&part),
    ]));
    let report = analyze_report(&part, &tmp.path().join("part-report"));
    let exact = row(&report, "exact");
    assert!(exact["scores"]["stolen_tokens"].is_null(), "{exact}");
    assert_eq!(exact["scores"]["users"]["f1"], 1.0);
    assert!(
        report["notes"]
            .to_string()
            .contains("View-As world's levels are not scored"),
        "{}",
        report["notes"]
    );
    // Truncating that part cuts its access log at the same instant as its events.
    let cut = tmp.path().join("cut");
    assert_ok(&blastradius(&[
        "perturb",
        path_arg(&part),
        "--out",
        path_arg(&cut),
        "--truncate",
        "20d",
    ]));
    let m = read_json(&cut.join("manifest.json"));
    let lost = m["perturbation"]["truncated_rows"].as_u64().unwrap();
    let before = read_json(&part.join("manifest.json"))["counts"]["access_events"]
        .as_u64()
        .unwrap();
    let after = m["counts"]["access_events"].as_u64().unwrap();
    assert!(
        after < before,
        "the access log was cut too: {before} -> {after}"
    );
    assert!(lost > before - after, "the events were cut as well: {lost}");
}

#[test]
fn lookup_says_only_what_a_rule_that_names_users_says() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("va");
    generate_into(&data, "3000", "15", "view-as-2018");
    let found = tmp.path().join("named");
    std::fs::create_dir_all(&found).unwrap();
    std::fs::write(found.join("view_as_users.csv"), "user_id,tier\n7,\n").unwrap();
    let o = blastradius(&[
        "lookup",
        path_arg(&data),
        "7",
        "--findings",
        path_arg(&found),
    ]);
    assert_ok(&o);
    let text = String::from_utf8(o.stdout).unwrap();
    let first = text.lines().next().unwrap();
    assert!(first.contains("named as possibly affected"), "{text}");
    assert!(
        !text.contains("no app saw"),
        "the findings hold no exposures: {text}"
    );
    assert!(!text.contains("token was taken"), "{text}");
}

#[test]
fn findings_without_the_view_as_level_say_it_is_not_answered() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("va");
    generate_into(&data, "3000", "16", "view-as-2018");
    let report = tmp.path().join("r");
    // streaming has no View-As form: its findings hold the photo levels only.
    assert_ok(&blastradius(&[
        "analyze",
        path_arg(&data),
        "--detector",
        "streaming",
        "--out",
        path_arg(&report),
    ]));
    let found = report.join("streaming");
    let o = blastradius(&[
        "export",
        "users",
        path_arg(&data),
        "--findings",
        path_arg(&found),
        "--out",
        path_arg(&tmp.path().join("x")),
    ]);
    assert_ok(&o);
    assert!(
        stderr(&o).contains("the View-As incident is not answered"),
        "{}",
        stderr(&o)
    );
    let o = blastradius(&[
        "lookup",
        path_arg(&data),
        "7",
        "--findings",
        path_arg(&found),
    ]);
    assert_ok(&o);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("Not answered: the findings hold no view_as_users"),
        "{text}"
    );
    assert!(!text.contains("was not affected"), "{text}");
}

// Issue 25: the View-As world live. The stream carries the access log beside the events, row
// for row; live `exact` (its View-As form, one row at a time) finds the truth's tokens, users
// and tiers, timed from each theft row's intended send time, and on a damaged copy scores
// what batch `exact` scores.
fn view_as_dataset() -> PathBuf {
    static ONCE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    dataset_in(&ONCE, "live-va", "6000", "5", "view-as-2018")
}

#[test]
fn the_stream_carries_the_access_log_and_live_exact_finds_the_view_as_truth() {
    let data = view_as_dataset();
    let tmp = tempfile::tempdir().unwrap();
    // The JSON stream's access rows are the access log's, read here with arrow: each user row
    // once, the platform's own rows once (every shard holds them), in log order with the
    // events.
    let streamed = json_stream(&data, &tmp.path().join("stdout"));
    let keys: Vec<(i64, u64)> = streamed
        .iter()
        .map(|v| (v["ts"].as_i64().unwrap(), v["event_id"].as_u64().unwrap()))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "in log order");
    use arrow::array::{Array, AsArray};
    type Row = (
        i64,
        u64,
        String,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<String>,
    );
    let mut log: Vec<Row> = Vec::new();
    let mut system = std::collections::BTreeSet::new();
    for part in files_under(&data.join("access")) {
        for b in batches(&part) {
            let int = |name: &str| {
                arrow::compute::cast(
                    b.column_by_name(name).unwrap(),
                    &arrow::datatypes::DataType::Int64,
                )
                .unwrap()
            };
            let text = |name: &str| {
                arrow::compute::cast(
                    b.column_by_name(name).unwrap(),
                    &arrow::datatypes::DataType::Utf8,
                )
                .unwrap()
            };
            let (ts, id, user, target, token) = (
                int("ts"),
                int("event_id"),
                int("user_id"),
                int("target_id"),
                int("token_id"),
            );
            let (kind, group) = (text("kind"), text("field_group"));
            let v = |a: &arrow::array::ArrayRef, i: usize| {
                let a = a.as_primitive::<arrow::datatypes::Int64Type>();
                a.is_valid(i).then(|| a.value(i))
            };
            for i in 0..b.num_rows() {
                let id_i = v(&id, i).unwrap() as u64;
                let kind_i = kind.as_string::<i32>().value(i).to_string();
                if v(&user, i).is_none() && !system.insert(id_i) {
                    continue;
                }
                let g = group.as_string::<i32>();
                log.push((
                    v(&ts, i).unwrap(),
                    id_i,
                    kind_i,
                    v(&user, i),
                    v(&target, i),
                    v(&token, i),
                    g.is_valid(i).then(|| g.value(i).to_string()),
                ));
            }
        }
    }
    log.sort();
    let mut sent: Vec<Row> = streamed
        .iter()
        .filter(|v| v.get("target_id").is_some() || v["kind"].as_str().unwrap().contains("flaw"))
        .chain(streamed.iter().filter(|v| v["kind"] == "tokens_reset"))
        .map(|v| {
            (
                v["ts"].as_i64().unwrap(),
                v["event_id"].as_u64().unwrap(),
                v["kind"].as_str().unwrap().to_string(),
                v["user_id"].as_i64(),
                v["target_id"].as_i64(),
                v["token_id"].as_i64(),
                v["field_group"].as_str().map(str::to_string),
            )
        })
        .collect();
    sent.sort();
    assert_eq!(sent.len(), log.len());
    assert!(sent == log, "the stream's access rows are the files'");
    assert_eq!(system.len(), 3, "flaw introduced, fixed, tokens reset");

    // Live exact, in either encoding: every level right, each token timed once.
    let tokens: u64 = files_under(&data.join("truth/stolen_tokens"))
        .iter()
        .map(|p| rows(p))
        .sum();
    assert!(tokens > 20, "the world has an attack to find: {tokens}");
    for format in ["json", "arrow"] {
        let (r, _) = follow_exact_in(format, &data, &tmp.path().join(format), &[]);
        let v = &r["scores"]["view_as"];
        assert_eq!(v["stolen_tokens"]["f1"], 1.0, "{format}: {v}");
        assert_eq!(v["view_as_users"]["f1"], 1.0, "{format}: {v}");
        assert_eq!(v["view_as_tiers"]["agreed"], tokens, "{format}: {v}");
        assert_eq!(v["view_as_tiers"]["compared"], tokens, "{format}: {v}");
        assert_eq!(r["latency_ms"]["stolen_tokens"]["count"], tokens, "{r}");
        assert_eq!(r["latency_ms"]["view_as_users"]["count"], tokens, "{r}");
        assert_eq!(r["premature_findings"], 0, "{r}");
        // The photo bug of the same world, in the same stream, is still found.
        assert_eq!(r["scores"]["users"]["f1"], 1.0, "{r}");
    }

    // A copy that lost 3% of its rows: live scores what batch scores, level by level.
    let dropped = tmp.path().join("dropped");
    assert_ok(&blastradius(&[
        "perturb",
        path_arg(&data),
        path_arg(&dropped),
        "--drop",
        "0.03",
    ]));
    let (live, _) = follow_exact_in("arrow", &dropped, &tmp.path().join("live-dropped"), &[]);
    assert_ok(&blastradius(&[
        "analyze",
        path_arg(&dropped),
        "--detector",
        "exact",
        "--out",
        path_arg(&tmp.path().join("batch-dropped")),
    ]));
    let batch = read_json(&tmp.path().join("batch-dropped/report.json"));
    let batch = &row(&batch, "exact")["scores"];
    let v = &live["scores"]["view_as"];
    assert!(
        batch["stolen_tokens"]["f1"].as_f64().unwrap() < 1.0,
        "{batch}"
    );
    for level in ["stolen_tokens", "view_as_users"] {
        assert_eq!(v[level], batch[level], "{level}");
    }
    assert_eq!(v["view_as_tiers"], batch["view_as_tiers"]);
}

// Review of issue 25: a speed-up schedule ran from the stream's first row, which in a
// View-As world is the flaw's deploy of July 2017: 13 months of log time of silence before
// the first event (9.5 h at --speedup 1000). The platform's rows no longer set the clock.
#[test]
fn a_speed_up_slice_of_a_view_as_world_starts_at_its_first_event() {
    let data = view_as_dataset();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("slice");
    let started = Instant::now();
    let o = blastradius(&[
        "replay",
        path_arg(&data),
        "--stdout",
        "--speedup",
        "864000",
        "--from",
        "2018-09-20T00:00:00Z",
        "--until",
        "2018-09-21T00:00:00Z",
        "--wait",
        "0",
        "--out",
        path_arg(&out),
    ]);
    assert_ok(&o);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let r = live_report(&out);
    // A day at 864,000 times: 0.1 s of schedule, not the 400 days since the flaw.
    let intended = r["intended_seconds"].as_f64().unwrap();
    assert!(intended < 1.0, "{r}");
    let kinds: Vec<String> = o
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice::<serde_json::Value>(l).unwrap()["kind"].to_string())
        .collect();
    for kind in [
        "flaw_introduced",
        "flaw_fixed",
        "tokens_reset",
        "bug_introduced",
    ] {
        assert!(kinds.iter().any(|k| k.contains(kind)), "{kind} is sent");
    }
}
