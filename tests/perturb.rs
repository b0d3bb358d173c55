//! `perturb`: deterministic damage, and detectors that survive it.

use std::path::Path;

use crate::util::*;

#[test]
fn perturb_is_deterministic_and_records_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    generate_into(&data, "1500", "6", "messaging-partners");
    let damaged = |name: &str| {
        let out = dir.path().join(name);
        let o = blastradius(&[
            "perturb",
            path_arg(&data),
            path_arg(&out),
            "--drop",
            "0.05",
            "--duplicate",
            "0.02",
            "--reorder",
            "2h",
            "--skew",
            "10m",
            "--truncate",
            "60d",
            "--seed",
            "3",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    };
    let (a, b) = (damaged("a"), damaged("b"));
    let manifest = |p: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p.join("manifest.json")).unwrap()).unwrap()
    };
    let (ma, mb) = (manifest(&a), manifest(&b));
    assert_eq!(ma["files"], mb["files"], "same seed, same bytes");
    let p = &ma["perturbation"];
    assert!(p["dropped"].as_u64().unwrap() > 0 && p["duplicated"].as_u64().unwrap() > 0);
    assert!(p["truncated_rows"].as_u64().unwrap() > 0);
    assert_eq!(p["faults"]["reorder_us"], 7_200_000_000i64);
    // The truth is copied unchanged.
    let original = manifest(&data);
    for f in original["files"].as_array().unwrap() {
        if f["path"].as_str().unwrap().starts_with("truth/") {
            assert!(ma["files"].as_array().unwrap().contains(f), "{f}");
        }
    }
    let o = blastradius(&["perturb", path_arg(&data), path_arg(&a), "--drop", "1.5"]);
    assert_error(&o, &["--drop", "probability"]);
    let o = blastradius(&[
        "perturb",
        path_arg(&data),
        path_arg(&dir.path().join("c")),
        "--reorder",
        "5 parsecs",
    ]);
    assert_error(&o, &["--reorder", "unit"]);
}

/// Issue 5: no detector panics on any perturbation of a generated dataset.
#[test]
fn detectors_survive_every_perturbation() {
    let dir = tempfile::tempdir().unwrap();
    for seed in ["1", "2"] {
        let data = dir.path().join(format!("d{seed}"));
        generate_into(&data, "1200", seed, "facebook-2018");
        let cases: [&[&str]; 6] = [
            &["--drop", "0.2"],
            &["--duplicate", "0.3"],
            &["--reorder", "1d"],
            &["--skew", "6h"],
            &["--truncate", "2018-09-19T00:00:00Z"],
            &[
                "--drop",
                "0.01",
                "--duplicate",
                "0.01",
                "--reorder",
                "10m",
                "--skew",
                "1m",
                "--truncate",
                "30d",
            ],
        ];
        for (k, flags) in cases.iter().enumerate() {
            let out = dir.path().join(format!("p{seed}-{k}"));
            let mut args = vec!["perturb", path_arg(&data), path_arg(&out), "--seed", seed];
            args.extend_from_slice(flags);
            let o = blastradius(&args);
            assert!(
                o.status.success(),
                "{flags:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let report = analyze_report(&out, &dir.path().join(format!("r{seed}-{k}")));
            let exact = &report["detectors"][0];
            let recall = exact["scores"]["users"]["recall"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&recall), "{flags:?}");
            if flags == &["--duplicate", "0.3"] || flags == &["--reorder", "1d"] {
                // Duplicates are removed and order restored: nothing is lost.
                assert_eq!(
                    exact["scores"]["exposures"]["f1"], 1.0,
                    "{flags:?}: {exact}"
                );
            }
        }
    }
}
