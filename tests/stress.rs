//! `stress` and `bench scaling`: the sweep, outside detectors in it, the kept results.

use crate::util::*;

#[test]
fn stress_scores_outside_commands_beside_ours_and_survives_their_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let data = small_dataset();
    let out = tmp.path().join("stress");
    // An "oracle" that copies the truth (so it must score 1 on every damaged copy: the
    // truth is copied unchanged), one that fails, one that hangs.
    let oracle =
        "mkdir -p {out}/exposures && cp {dataset}/truth/exposures/*.parquet {out}/exposures/";
    let o = blastradius(&[
        "stress",
        path_arg(&data),
        "--out",
        path_arg(&out),
        "--drop",
        "0.05",
        "--duplicate",
        "0.05",
        "--reorder",
        "1h",
        "--skew",
        "30m",
        "--shard-memory-limits",
        "20000,2000000",
        "--exec",
        oracle,
        "--name",
        "oracle",
        "--exec",
        "echo no luck >&2; exit 4 # {out}",
        "--name",
        "broken",
        "--exec",
        "sleep 60 # {dataset} {out}",
        "--name",
        "stuck",
        "--exec",
        "mkdir -p {out} && printf 'app_id,user_id,photo_id\\nx,1,2\\n' > {out}/exposures.csv # {dataset}",
        "--name",
        "liar",
        "--timeout",
        "1",
    ]);
    // Issue 20: three named detectors gave no findings on any copy; the sweep's report is
    // kept, and the run fails so that a script sees it.
    assert!(!o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("broken, stuck, liar gave no findings on any copy"),
        "{err}"
    );
    let report = read_json(&out.join("report.json"));
    let cells = report["cells"].as_array().unwrap();
    // clean + 4 faults at one level + truncate, each with 3 built-in and 4 outside.
    assert_eq!(cells.len(), 6 * 7, "{report}");
    // Issue 26: the three photo discovery baselines on every copy; on the clean log the policy
    // replay finds the bug and never cries wolf before it. (Whether it blames the right
    // nightly release depends on the first exposure coming the same day: in this small
    // world it comes a day later.)
    let discovery = report["discovery"].as_array().unwrap();
    assert_eq!(discovery.len(), 6 * 3, "{report}");
    let clean = discovery
        .iter()
        .find(|d| d["fault"] == "clean" && d["detector"] == "policy-replay")
        .unwrap();
    assert_eq!(clean["score"]["false_alarms_per_day"], 0.0, "{clean}");
    assert!(
        clean["score"]["time_to_detect_seconds"].as_f64().is_some(),
        "{clean}"
    );
    assert!(
        std::fs::read_to_string(out.join("stress.html"))
            .unwrap()
            .contains("Discovery under damage")
    );
    for c in cells {
        match c["detector"].as_str().unwrap() {
            "oracle" => {
                assert_eq!(c["user"]["f1"], 1.0, "{c}");
                assert_eq!(c["exposure"]["f1"], 1.0, "{c}");
                assert!(c["peak_memory_bytes"].as_u64().unwrap() > 0);
            }
            "broken" => assert!(
                c["failure"].as_str().unwrap().contains("exit 4: no luck"),
                "{c}"
            ),
            "stuck" => assert!(c["failure"].as_str().unwrap().contains("killed"), "{c}"),
            "liar" => {
                // Named where the findings would be kept, not in the run's staging folder.
                let f = c["failure"].as_str().unwrap();
                assert!(f.contains("break the contract"), "{c}");
                assert!(f.contains(&format!("{}/data/", out.display())), "{c}");
                assert!(f.contains("--keep-data") && !f.contains(".partial-"), "{c}");
            }
            "exact"
                if c["fault"] == "clean"
                    || c["fault"] == "duplicate"
                    || c["fault"] == "reorder" =>
            {
                assert_eq!(
                    c["exposure"]["f1"], 1.0,
                    "duplicates and lateness are undone: {c}"
                )
            }
            _ => {}
        }
    }
    // The truncated copy was cut inside the bug window, so it costs exact something.
    let truncated = &report["damage"].as_array().unwrap().last().unwrap();
    assert_eq!(truncated["fault"], "truncate");
    assert!(truncated["truncated_rows"].as_u64().unwrap() > 0);
    assert!(
        truncated["truncated_at"]
            .as_str()
            .unwrap()
            .starts_with("2018-09-1")
    );
    // The logs of outside commands are kept; damaged copies are not.
    assert!(out.join("logs/clean-clean-broken.stderr").is_file());
    assert!(!out.join("data").exists());

    // Every drawn point is the report's.
    let page = std::fs::read_to_string(out.join("stress.html")).unwrap();
    let start = page.find("id=\"chart-data\">").unwrap() + "id=\"chart-data\">".len();
    let end = start + page[start..].find("</script>").unwrap();
    let charts: serde_json::Value =
        serde_json::from_str(&page[start..end].replace("<\\/", "</")).unwrap();
    let mut checked = 0;
    for chart in charts.as_array().unwrap() {
        let title = chart["title"].as_str().unwrap();
        let Some(fault) = title.strip_prefix("user F1 under ") else {
            continue;
        };
        for series in chart["series"].as_array().unwrap() {
            let name = &series["name"];
            let mut want = vec![];
            let clean = cells
                .iter()
                .find(|c| c["fault"] == "clean" && &c["detector"] == name)
                .unwrap();
            want.push(serde_json::json!([0.0, clean["user"]["f1"]]));
            for c in cells
                .iter()
                .filter(|c| c["fault"] == fault && &c["detector"] == name)
            {
                want.push(serde_json::json!([1.0, c["user"]["f1"]]));
            }
            assert_eq!(
                series["points"].as_array().unwrap(),
                &want,
                "{title} {name}"
            );
            checked += 1;
        }
    }
    // 5 faults x 4 detectors with scores (the failing ones draw nothing).
    assert_eq!(checked, 5 * 4);
    assert_eq!(
        page.matches("<svg").count(),
        5 * 2 + 2,
        "user and exposure F1 per fault, throughput, memory"
    );
    let memory = report["memory"].as_array().unwrap();
    assert!(memory[0]["state_bytes"].as_u64() < memory[1]["state_bytes"].as_u64());
}

#[test]
fn bench_scaling_keeps_its_results_under_its_out_only() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs/scaling");
    let o = blastradius_in(
        tmp.path(),
        &[
            "bench",
            "scaling",
            "--users",
            "200,400",
            "--out",
            path_arg(&out),
        ],
    );
    assert_ok(&o);
    let json = read_json(&out.join("scaling.json"));
    let points = json["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    assert!(points[1]["events"].as_u64() > points[0]["events"].as_u64());
    assert!(
        points
            .iter()
            .all(|p| p["generate_peak_bytes"].as_u64().unwrap() > 0)
    );
    let html = std::fs::read_to_string(out.join("scaling.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("Peak memory"));
    assert!(
        std::fs::read_to_string(out.join("scaling.md"))
            .unwrap()
            .contains("| 400 |")
    );
    // Issue 13: nothing is written outside --out.
    let mut written: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(written, vec!["runs"]);
    assert!(
        !out.join("data").exists(),
        "datasets are removed unless kept"
    );
}

#[test]
fn bench_detectors_ranks_ours_and_outside_commands_on_every_preset() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("board");
    let oracle = "mkdir -p {out} && cp -r {dataset}/truth/exposures {dataset}/truth/message_violations {out}/";
    let o = blastradius(&[
        "bench",
        "detectors",
        "--users",
        "8000",
        "--detectors",
        "exact,naive",
        "--exec",
        oracle,
        "--name",
        "oracle",
        "--out",
        path_arg(&out),
        "--keep-data",
    ]);
    assert_ok(&o);
    // The speed cell (first preset, clean) is the median of 3 runs of each detector, the
    // others one run each.
    let speed = out.join("data/speed-runs");
    for d in ["exact", "oracle"] {
        assert!(speed.join(format!("facebook-2018-{d}-2")).exists());
        assert!(!speed.join(format!("facebook-2018-{d}-3")).exists());
        assert!(!speed.join(format!("messaging-partners-{d}-1")).exists());
    }
    let board = read_json(&out.join("leaderboard.json"));
    let entries = board["entries"].as_array().unwrap();
    // 4 presets x clean/damaged x 3 detectors.
    assert_eq!(entries.len(), 24);
    // The View-As preset's own levels: exact is the truth on the clean log, naive (the
    // precautionary rule) names users only, the oracle (which copies the photo truth) neither.
    for e in entries.iter().filter(|e| e["scenario"] == "view-as-2018") {
        match e["detector"].as_str().unwrap() {
            "exact" if e["condition"] == "clean" => {
                assert_eq!(
                    (&e["token_f1"], &e["view_as_user_f1"]),
                    (&1.0.into(), &1.0.into()),
                    "{e}"
                )
            }
            "naive" => assert!(
                e["token_f1"].is_null() && e["view_as_user_f1"].as_f64().unwrap() < 0.9,
                "{e}"
            ),
            "oracle" => assert!(e["view_as_user_f1"].is_null(), "{e}"),
            _ => {}
        }
    }
    for e in entries {
        assert!(e["failure"].is_null(), "{e}");
        assert!(e["peak_memory_bytes"].as_u64().unwrap() > 0, "{e}");
        if e["detector"] == "oracle" || (e["detector"] == "exact" && e["condition"] == "clean") {
            assert_eq!(e["user_f1"], 1.0, "{e}");
        }
        if e["detector"] == "naive" {
            assert!(e["exposure_f1"].is_null(), "naive names users only: {e}");
        }
    }
    // Issue 26: the discovery baselines on every preset, clean, damaged and on its control
    // world, where the policy replay never pages; the View-As one on the View-As preset.
    let discovery = board["discovery"].as_array().unwrap();
    assert_eq!(discovery.len(), 4 * 3 * 3 + 3, "{board}");
    assert!(
        discovery
            .iter()
            .filter(|d| d["detector"] == "token-rate")
            .all(|d| d["scenario"] == "view-as-2018")
    );
    for d in discovery
        .iter()
        .filter(|d| d["condition"] == "control" && d["detector"] == "policy-replay")
    {
        assert_eq!(d["score"]["alarms"], 0, "{d}");
    }
    let md = std::fs::read_to_string(out.join("leaderboard.md")).unwrap();
    assert!(md.contains("Discovery: noticing the bug unaided"), "{md}");
    assert!(
        md.contains("| oracle |")
            && md.contains("shallow-paging damaged")
            && md.contains("the median of 3 runs"),
        "{md}"
    );
    // Issue 20: violation F1 is charted where violations exist (messaging-partners).
    let html = std::fs::read_to_string(out.join("leaderboard.html")).unwrap();
    assert!(
        html.contains("message-violation F1, clean"),
        "no violation chart"
    );
}

// Issue 22: for the undamaged cell `{dataset}` was the user's own folder: a detector that
// cleaned up after itself deleted it, one that wrote a scratch file changed it.
#[test]
fn outside_detectors_never_get_the_users_dataset() {
    // A dataset of its own: were the copy ever dropped, `rm -rf` must not take the
    // fixture the other tests share.
    let own = tempfile::tempdir().unwrap();
    let data = own.path().join("d");
    generate_into(&data, "2000", "3", "facebook-2018");
    let before = dataset_digest(&data);
    for (name, command) in [
        ("cleaner", "rm -rf {dataset} # {out}"),
        ("scribbler", "echo x >> {dataset}/providers.parquet # {out}"),
        ("litterer", "touch {dataset}/scratch.tmp # {out}"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let o = blastradius(&[
            "stress",
            path_arg(&data),
            "--out",
            path_arg(&tmp.path().join("s")),
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
            command,
            "--name",
            name,
        ]);
        let err = stderr(&o);
        assert!(!o.status.success(), "{name}: {err}");
        assert!(
            err.contains(&format!("`{name}` changed the dataset copy")),
            "{name}: {err}"
        );
        assert_eq!(
            dataset_digest(&data),
            before,
            "{name} reached the user's files"
        );
    }
}

/// The SHA-256 of every file under `dir`, by relative path.
fn dataset_digest(dir: &std::path::Path) -> Vec<(String, String)> {
    use sha2::Digest;
    files_under(dir)
        .into_iter()
        .map(|p| {
            let sum: String = sha2::Sha256::digest(std::fs::read(&p).unwrap())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            (p.strip_prefix(dir).unwrap().display().to_string(), sum)
        })
        .collect()
}

// Issue 26: an outside discovery command in the sweep: its alarms are scored on every copy
// as the built-in baselines are, and it is not "failed" for writing no findings.
#[test]
fn stress_scores_an_outside_discovery_commands_alarms_on_every_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let data = small_dataset();
    // The built-in policy replay's alarms of the clean log, which the command hands in.
    let found = tmp.path().join("found");
    assert_ok(&blastradius(&[
        "discover",
        path_arg(&data),
        "--detector",
        "policy-replay",
        "--out",
        path_arg(&found),
    ]));
    let alarms = found.join("policy-replay");
    let command = format!(
        "mkdir -p {{out}} && cp {}/* {{out}}/ # {{dataset}}",
        alarms.display()
    );
    let out = tmp.path().join("stress");
    let o = blastradius(&[
        "stress",
        path_arg(&data),
        "--out",
        path_arg(&out),
        "--drop",
        "0.05",
        "--duplicate",
        "0.05",
        "--reorder",
        "1h",
        "--skew",
        "30m",
        "--no-truncate",
        "--detectors",
        "exact",
        "--exec",
        &command,
        "--name",
        "copied",
    ]);
    assert_ok(&o);
    let report = read_json(&out.join("report.json"));
    let mine: Vec<&serde_json::Value> = report["discovery"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["detector"] == "copied")
        .collect();
    assert_eq!(mine.len(), 5, "{report}");
    assert!(mine.iter().all(|d| d["origin"] == "outside"));
    // On the clean log the same alarms score as the built-in's did.
    let built_in = report["discovery"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["detector"] == "policy-replay" && d["fault"] == "clean")
        .unwrap();
    let clean = mine.iter().find(|d| d["fault"] == "clean").unwrap();
    assert_eq!(clean["score"], built_in["score"]);
    // No findings cell for it: it is a discovery detector.
    assert!(
        report["cells"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["detector"] != "copied")
    );
}

// Issue 26: an outside discovery command on the leaderboard: its alarms are scored on the
// clean and damaged logs and on the control world, beside the built-in baselines, and it is
// not taken for a findings detector that failed.
#[test]
fn the_leaderboard_scores_an_outside_discovery_command_on_every_world() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("board");
    // Our own policy replay, run as an outside command would be.
    let command = format!(
        "{} discover {{dataset}} --detector policy-replay --out {{out}}/run && cp {{out}}/run/policy-replay/* {{out}}/",
        env!("CARGO_BIN_EXE_blastradius")
    );
    let o = blastradius(&[
        "bench",
        "detectors",
        "--users",
        "3000",
        "--scenarios",
        "facebook-2018",
        "--detectors",
        "exact",
        "--exec",
        &command,
        "--name",
        "mine",
        "--out",
        path_arg(&out),
    ]);
    assert_ok(&o);
    let board = read_json(&out.join("leaderboard.json"));
    let cell = |detector: &str, condition: &str| {
        board["discovery"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["detector"] == detector && d["condition"] == condition)
            .unwrap_or_else(|| panic!("no {detector} {condition} cell: {board}"))
            .clone()
    };
    for condition in ["clean", "damaged", "control"] {
        assert_eq!(
            cell("mine", condition)["score"],
            cell("policy-replay", condition)["score"],
            "{condition}"
        );
    }
    assert_eq!(cell("mine", "control")["score"]["alarms"], 0);
    assert!(
        board["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["detector"] != "mine"),
        "no findings cell for a discovery command: {board}"
    );
    let md = std::fs::read_to_string(out.join("leaderboard.md")).unwrap();
    assert!(md.contains("| mine |"), "{md}");
    assert!(!md.contains("failed"), "{md}");
}
