//! Discovery (issue 26): deploys in every log, discovery datasets whose log does not mark the
//! bug, the built-in discovery detectors, and the alarms contract through `score`.

use std::collections::BTreeSet;
use std::path::Path;

use crate::control::{log, rows_of};
use crate::util::*;

/// `(deploy_id, ts, change)` of `truth/bug_deploys.parquet` under `dir`.
fn bug_deploys(dir: &Path) -> Vec<Vec<String>> {
    batches(&dir.join("truth/bug_deploys.parquet"))
        .iter()
        .flat_map(rows_of)
        .collect()
}

fn affected_users(dir: &Path) -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    for part in files_under(&dir.join("truth/affected_users")) {
        for b in batches(&part) {
            for r in rows_of(&b) {
                out.insert(r[0].parse().unwrap());
            }
        }
    }
    out
}

#[test]
fn a_discovery_dataset_is_the_same_log_with_the_bug_unmarked() {
    let t = tempfile::tempdir().unwrap();
    let (scoping, discovery) = (t.path().join("s"), t.path().join("d"));
    generate_into(&scoping, "3000", "5", "facebook-2018");
    generate_with(&discovery, "3000", "5", "facebook-2018", &["--discovery"]);
    let (a, b) = (log(&scoping.join("events")), log(&discovery.join("events")));
    assert_eq!(a.len(), b.len());
    let bugs = bug_deploys(&discovery);
    assert_eq!(bugs, bug_deploys(&scoping));
    assert_eq!(
        bugs.iter().map(|r| r[2].as_str()).collect::<Vec<_>>(),
        ["introduced", "fixed"]
    );
    let bug_ids: BTreeSet<&String> = bugs.iter().map(|r| &r[0]).collect();
    let mut differ = 0;
    for (k, row) in &a {
        let other = &b[k];
        if row == other {
            continue;
        }
        differ += 1;
        // Only the kind of the bug's two rows: marked in one, a plain deploy in the other.
        assert!(bug_ids.contains(&row[0]), "{row:?} vs {other:?}");
        assert!(row[2].starts_with("bug_") && other[2] == "deploy");
        let mut same = row.clone();
        same[2] = "deploy".into();
        assert_eq!(&same, other);
    }
    assert_eq!(differ, 2);
    // deploys.parquet lists every platform row of the log, with its service.
    let listed: BTreeSet<String> = batches(&discovery.join("deploys.parquet"))
        .iter()
        .flat_map(rows_of)
        .map(|r| {
            assert!(!r[2].is_empty());
            format!("{}@{}", r[0], r[1])
        })
        .collect();
    let in_log: BTreeSet<String> = b
        .values()
        .filter(|r| r[3] == "∅")
        .map(|r| format!("{}@{}", r[0], r[1]))
        .collect();
    assert_eq!(listed, in_log);
    assert!(listed.len() > 100, "a few deploys a working day");
    // The manifest names no window and says what it is; the truth is the same.
    let m = read_json(&discovery.join("manifest.json"));
    assert!(m.get("bug_window").is_none());
    assert_eq!(m["discovery"], true);
    assert!(m["command"].as_str().unwrap().contains("--discovery"));
    assert!(
        read_json(&scoping.join("manifest.json"))
            .get("discovery")
            .is_none()
    );
    assert_eq!(affected_users(&scoping), affected_users(&discovery));

    // A scoping detector is told it has no window, and how to give one.
    let unused = t.path().join("unused");
    let o = blastradius(&["analyze", path_arg(&discovery), "--out", path_arg(&unused)]);
    assert_error(
        &o,
        &["discovery dataset", "--bug-window", "bug_deploys.parquet"],
    );
    assert!(!unused.exists());
    // Given the window from the truth, it scopes the incident exactly.
    let ts = |r: &Vec<String>| blastradius_schema::time::format_utc(r[1].parse::<i64>().unwrap());
    let window = format!("{}/{}", ts(&bugs[0]), ts(&bugs[1]));
    let out = t.path().join("report");
    assert_ok(&blastradius(&[
        "analyze",
        path_arg(&discovery),
        "--detector",
        "exact",
        "--bug-window",
        &window,
        "--out",
        path_arg(&out),
    ]));
    let r = read_json(&out.join("report.json"));
    assert_eq!(row(&r, "exact")["scores"]["exposures"]["f1"], 1.0);
}

#[test]
fn the_policy_replay_finds_the_bug_unaided_and_is_quiet_on_a_control_world() {
    let t = tempfile::tempdir().unwrap();
    let (incident, control) = (t.path().join("d"), t.path().join("c"));
    generate_with(&incident, "5000", "7", "facebook-2018", &["--discovery"]);
    generate_with(&control, "5000", "7", "facebook-2018", &["--no-incident"]);
    let out = t.path().join("found");
    let o = blastradius(&["discover", path_arg(&incident), "--out", path_arg(&out)]);
    assert_ok(&o);
    let printed = String::from_utf8_lossy(&o.stdout).to_string();
    let r = read_json(&out.join("discovery.json"));
    let bug = &bug_deploys(&incident)[0];
    assert_eq!(r["bug_deploy_id"].to_string(), bug[0]);
    let policy = &r["detectors"][0];
    assert_eq!(policy["detector"], "policy-replay");
    let s = &policy["score"];
    let any = &s["curve"][0];
    assert_eq!(any["threshold"], 0.0);
    assert_eq!(
        any["false_alarms"], 0,
        "a clean log: nothing before the bug"
    );
    assert_eq!(any["attributed"], true, "it blames the bug's deploy");
    // The first alarm comes after the first exposure (nothing showed before it) and within
    // the hour after it (a small world's first exposure may come hours after the deploy).
    let ttd = any["time_to_detect_seconds"].as_f64().unwrap();
    let first_exposure = files_under(&incident.join("truth/exposures"))
        .iter()
        .flat_map(|p| batches(p))
        .flat_map(|b| {
            rows_of(&b)
                .into_iter()
                .map(|r| r[4].parse::<i64>().unwrap())
        })
        .min()
        .unwrap();
    let fired = bug[1].parse::<i64>().unwrap() + (ttd * 1e6).round() as i64;
    assert!(
        (first_exposure..first_exposure + 3_600_000_000).contains(&fired),
        "first exposure {first_exposure}, first alarm {fired}"
    );
    // The terminal says the same numbers.
    assert!(printed.contains("policy-replay"), "{printed}");
    assert!(
        printed.contains(&blastradius_analyzer::discover::duration(Some(ttd))),
        "{printed}"
    );
    // Every user it names is one the bug affected, as the alarms files say.
    let truth = affected_users(&incident);
    let named: BTreeSet<u64> = batches(&out.join("policy-replay/alarm_users.parquet"))
        .iter()
        .flat_map(rows_of)
        .map(|r| r[1].parse().unwrap())
        .collect();
    assert!(!named.is_empty() && named.is_subset(&truth), "{named:?}");
    let est = &s["estimates"][1];
    assert_eq!(est["hours"], 72);
    assert_eq!(est["user_precision"], 1.0);
    // A flagged call returned a photo the timeline did not hold: its user was exposed by
    // then, so every user named by 72 h is among those exposed by 72 h.
    let exposed = est["users_exposed_by_then"].as_u64().unwrap();
    assert!(est["users_named"].as_u64().unwrap() <= exposed);
    assert_eq!(
        est["user_recall_of_exposed"].as_f64().unwrap() * exposed as f64,
        est["users_named"].as_f64().unwrap()
    );

    // Scored again from its folder through `score`: the same numbers.
    let again = t.path().join("scored");
    assert_ok(&blastradius(&[
        "score",
        path_arg(&incident),
        path_arg(&out.join("policy-replay")),
        "--out",
        path_arg(&again),
    ]));
    let r2 = read_json(&again.join("discovery.json"));
    assert_eq!(r2["detectors"][0]["score"], *s);

    // The control world: no alarm at all from the policy replay.
    let quiet = t.path().join("quiet");
    assert_ok(&blastradius(&[
        "discover",
        path_arg(&control),
        "--detector",
        "policy-replay",
        "--out",
        path_arg(&quiet),
    ]));
    let r = read_json(&quiet.join("discovery.json"));
    assert_eq!(r["control"], true);
    assert_eq!(r["detectors"][0]["score"]["alarms"], 0);
}

#[test]
fn bad_discovery_input_gets_one_clear_error() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("d");
    generate_with(&data, "600", "2", "facebook-2018", &["--discovery"]);
    let o = blastradius(&["discover", path_arg(&data), "--detector", "exact"]);
    assert_error(&o, &["--detector exact", "policy-replay", "analyze"]);
    // An alarms folder with a confidence out of range names the file, column and rule.
    let alarms = t.path().join("mine");
    std::fs::create_dir(&alarms).unwrap();
    let bad = arrow::array::RecordBatch::try_from_iter([
        (
            "alarm_id",
            std::sync::Arc::new(arrow::array::Int64Array::from(vec![1])) as _,
        ),
        (
            "fired_ts",
            std::sync::Arc::new(arrow::array::Int64Array::from(vec![1_536_800_000_000_000])) as _,
        ),
        (
            "confidence",
            std::sync::Arc::new(arrow::array::Float64Array::from(vec![2.0])) as _,
        ),
    ])
    .unwrap();
    let f = std::fs::File::create(alarms.join("alarms.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, bad.schema(), None).unwrap();
    w.write(&bad).unwrap();
    w.close().unwrap();
    let out = t.path().join("score");
    let o = blastradius(&[
        "score",
        path_arg(&data),
        path_arg(&alarms),
        "--out",
        path_arg(&out),
    ]);
    assert_error(&o, &["alarms.parquet", "confidence", "between 0 and 1"]);
    assert!(!out.exists(), "nothing written");
    // Alarms and findings in one run are refused.
    let findings = t.path().join("findings");
    std::fs::create_dir(&findings).unwrap();
    let o = blastradius(&[
        "score",
        path_arg(&data),
        path_arg(&alarms),
        path_arg(&findings),
    ]);
    assert_error(&o, &["holds alarms", "its own run"]);
}

#[test]
fn the_view_as_baseline_is_timed_from_the_first_theft_and_blames_no_deploy() {
    let t = tempfile::tempdir().unwrap();
    let world = t.path().join("va");
    // At 40,000 users the attack's spike stands out of the uploader's background (at 20,000
    // it does not yet).
    generate_with(&world, "40000", "3", "view-as-2018", &["--discovery"]);
    let out = t.path().join("found");
    let o = blastradius(&["discover", path_arg(&world), "--out", path_arg(&out)]);
    assert_ok(&o);
    let printed = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(printed.contains("the attack's first theft at"), "{printed}");
    let r = read_json(&out.join("discovery.json"));
    let rows = r["detectors"].as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|d| d["detector"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["policy-replay", "app-shift", "aggregate", "token-rate"]
    );
    let tokens = &rows[3];
    assert_eq!(tokens["incident"], "view-as");
    // No deploy to blame: the flaw shipped before the period.
    assert!(
        tokens["score"]["curve"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["attributed"].is_null())
    );
    // Its alarms are timed from the truth's earliest theft.
    let first_theft = files_under(&world.join("truth/stolen_tokens"))
        .iter()
        .flat_map(|p| batches(p))
        .flat_map(|b| {
            rows_of(&b)
                .into_iter()
                .map(|r| r[2].parse::<i64>().unwrap())
        })
        .min()
        .unwrap();
    assert_eq!(
        r["view_as_began"],
        blastradius_schema::time::format_utc(first_theft)
    );
    let fired: Vec<i64> = batches(&out.join("token-rate/alarms.parquet"))
        .iter()
        .flat_map(rows_of)
        .map(|r| r[1].parse().unwrap())
        .collect();
    let after = fired.iter().filter(|&&f| f > first_theft).min();
    assert!(after.is_some(), "the spike pages: {fired:?}");
    let ttd = tokens["score"]["curve"][0]["time_to_detect_seconds"].as_f64();
    assert_eq!(ttd, after.map(|f| (f - first_theft) as f64 / 1e6));
    // The findings.json it wrote says its incident, so `score` scores it the same way.
    let again = t.path().join("again");
    assert_ok(&blastradius(&[
        "score",
        path_arg(&world),
        path_arg(&out.join("token-rate")),
        "--out",
        path_arg(&again),
    ]));
    let r2 = read_json(&again.join("discovery.json"));
    assert_eq!(r2["detectors"][0]["score"], tokens["score"]);
    // A photo world has no access log: the View-As baseline is refused by name.
    let photo = t.path().join("photo");
    generate_with(&photo, "600", "3", "facebook-2018", &[]);
    let o = blastradius(&["discover", path_arg(&photo), "--detector", "token-rate"]);
    assert_error(
        &o,
        &["--detector token-rate", "no access log", "view-as-2018"],
    );
    // An incident the contract does not know is refused, naming findings.json.
    std::fs::write(
        out.join("token-rate/findings.json"),
        r#"{"detector": "x", "incident": "meteor"}"#,
    )
    .unwrap();
    let o = blastradius(&[
        "score",
        path_arg(&world),
        path_arg(&out.join("token-rate")),
        "--out",
        path_arg(&t.path().join("never")),
    ]);
    assert_error(&o, &["findings.json", "meteor", "photo-bug"]);
}

#[test]
fn a_blind_discovery_dataset_is_watched_without_its_key_and_scored_with_it() {
    let t = tempfile::tempdir().unwrap();
    let (data, key) = (t.path().join("blind"), t.path().join("key"));
    assert_ok(&blastradius(&[
        "generate",
        "--users",
        "5000",
        "--discovery",
        "--split-truth",
        path_arg(&key),
        "--out",
        path_arg(&data),
    ]));
    let m = read_json(&data.join("manifest.json"));
    assert!(m.get("bug_window").is_none() && m["calibration"] == serde_json::json!([]));
    // Without the key: alarms written, nothing scored, and it says so.
    let out = t.path().join("found");
    let o = blastradius(&["discover", path_arg(&data), "--out", path_arg(&out)]);
    assert_ok(&o);
    assert!(stderr(&o).contains("not scored"), "{}", stderr(&o));
    let r = read_json(&out.join("discovery.json"));
    assert!(
        r["truth"].is_null() && r["detectors"][0]["score"].is_null(),
        "{r}"
    );
    assert!(out.join("policy-replay/alarms.parquet").exists());
    // `score` needs the key, and with it scores the same alarms as `discover --truth` does.
    let o = blastradius(&[
        "score",
        path_arg(&data),
        path_arg(&out.join("policy-replay")),
    ]);
    assert_error(&o, &["is blind", "--truth KEY"]);
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    assert_ok(&blastradius(&[
        "score",
        path_arg(&data),
        path_arg(&out.join("policy-replay")),
        "--truth",
        path_arg(&key),
        "--out",
        path_arg(&a),
    ]));
    assert_ok(&blastradius(&[
        "discover",
        path_arg(&data),
        "--detector",
        "policy-replay",
        "--truth",
        path_arg(&key),
        "--out",
        path_arg(&b),
    ]));
    let (ra, rb) = (
        read_json(&a.join("discovery.json")),
        read_json(&b.join("discovery.json")),
    );
    assert_eq!(ra["detectors"][0]["score"], rb["detectors"][0]["score"]);
    assert_eq!(ra["bug_deploy_id"], rb["bug_deploy_id"]);
    assert!(ra["bug_deploy_id"].is_u64());
    // Alarms of another world are refused: the findings.json says whose they are.
    let other = t.path().join("other");
    generate_with(&other, "5000", "8", "facebook-2018", &[]);
    let o = blastradius(&[
        "score",
        path_arg(&other),
        path_arg(&out.join("policy-replay")),
    ]);
    assert_error(
        &o,
        &["findings.json", "world", "dataset they were made from"],
    );
}
