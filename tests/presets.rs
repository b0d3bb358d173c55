//! Issue 9: a preset on which a crude rule cannot pass for an exact one. The crude rule
//! ("paging-blind": every live marketplace, story or draft photo at a successful call in the
//! window counts as exposed) is written here a second time, in Rust, so the claim is checked
//! without Python; `examples/detectors/paging_blind.py` is the same rule in DuckDB, run in CI.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use blastradius_dataset::log::read_shard;
use blastradius_schema::{Kind, Surface};

use crate::util::*;

/// The paging-blind rule over every shard of `dataset`.
fn paging_blind(dataset: &Path) -> BTreeSet<(u32, u64, u64)> {
    let mut found = BTreeSet::new();
    let mut parts: Vec<_> = std::fs::read_dir(dataset.join("events"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    parts.sort();
    for part in parts {
        let log = read_shard(&part).unwrap();
        let window = log.deploys.clone();
        let bug = |ts: i64, id: u64| {
            let before = window.partition_point(|d| (d.0, d.1) < (ts, id));
            before > 0 && window[before - 1].2
        };
        // The file is in log order: live off-timeline photos per user as of each row.
        let mut live: BTreeMap<u64, BTreeMap<u64, Surface>> = BTreeMap::new();
        for i in 0..log.len() {
            let user = log.user_id[i];
            match log.kind[i] {
                Kind::PhotoUploaded
                    if log.surface[i] != Surface::Timeline
                        && log.surface[i] != Surface::Messenger =>
                {
                    live.entry(user)
                        .or_default()
                        .insert(log.photo_id[i], log.surface[i]);
                }
                Kind::PhotoPublished | Kind::PhotoDeleted => {
                    live.entry(user).or_default().remove(&log.photo_id[i]);
                }
                Kind::PhotoApiCall if log.status[i] == 200 && bug(log.ts[i], log.event_id[i]) => {
                    for photo in live.get(&user).into_iter().flat_map(|m| m.keys()) {
                        found.insert((log.app_id[i], user, *photo));
                    }
                }
                _ => {}
            }
        }
    }
    found
}

fn f1(found: &BTreeSet<(u32, u64, u64)>, truth: &BTreeSet<(u32, u64, u64)>) -> f64 {
    let tp = found.intersection(truth).count() as f64;
    2.0 * tp / (found.len() + truth.len()) as f64
}

fn truth(dataset: &Path) -> BTreeSet<(u32, u64, u64)> {
    let report = analyze_report(dataset, &dataset.with_extension("report"));
    let exact = row(&report, "exact");
    // The exact detector is the truth here (checked: P = R = 1), so read its findings.
    assert_eq!(exact["scores"]["exposures"]["f1"], 1.0, "{exact}");
    assert_eq!(exact["scores"]["users"]["f1"], 1.0, "{exact}");
    let file = dataset
        .with_extension("report")
        .join("exact/exposures.parquet");
    exposure_rows(&file).into_iter().collect()
}

#[test]
fn shallow_paging_tells_a_crude_rule_from_an_exact_one() {
    let tmp = tempfile::tempdir().unwrap();
    // Seeds the preset was not tuned on.
    for seed in ["101", "102"] {
        let data = tmp.path().join(format!("sp{seed}"));
        generate_into(&data, "15000", seed, "shallow-paging");
        let t = truth(&data);
        assert!(t.len() > 200, "a truth worth scoring: {}", t.len());
        let crude = paging_blind(&data);
        assert!(crude.is_superset(&t), "the crude rule never misses");
        let score = f1(&crude, &t);
        assert!(
            score <= 0.8,
            "seed {seed}: the crude rule scores {score:.3}"
        );
    }
    // On the default preset the same rule nearly passes: that is why the preset exists.
    let data = tmp.path().join("fb");
    generate_into(&data, "15000", "101", "facebook-2018");
    let t = truth(&data);
    let score = f1(&paging_blind(&data), &t);
    assert!(score > 0.95, "facebook-2018: {score:.3}");
}
