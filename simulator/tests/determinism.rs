//! Same seed and parameters, same bytes: whatever the threads, and shard by shard.

use std::path::Path;

use blastradius_simulator::generate::{self, Progress};
use sha2::{Digest, Sha256};

use crate::common::{generate, options};

fn file_bytes(root: &Path, relative: &str) -> Vec<u8> {
    std::fs::read(root.join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

#[test]
fn thread_count_does_not_change_a_byte() {
    for scenario in ["facebook-2018", "view-as-2018"] {
        threads_do_not_change_a_byte(scenario, true);
    }
    // A control world (`--no-incident`) too.
    threads_do_not_change_a_byte("view-as-2018", false);
}

fn threads_do_not_change_a_byte(scenario: &str, incident: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut one = options(&dir.path().join("one"), 3_000, 11, scenario, 5);
    one.threads = 1;
    one.scenario.incident = incident;
    let mut three = options(&dir.path().join("three"), 3_000, 11, scenario, 5);
    three.threads = 3;
    three.scenario.incident = incident;
    let a = generate(&one);
    let b = generate(&three);
    assert_eq!(a, b);
    for f in &a.files {
        assert_eq!(
            file_bytes(&one.out, &f.path),
            file_bytes(&three.out, &f.path),
            "{}",
            f.path
        );
    }
    assert_eq!(
        file_bytes(&one.out, "manifest.json"),
        file_bytes(&three.out, "manifest.json")
    );
}

#[test]
fn shards_generated_alone_equal_the_whole_run() {
    for scenario in ["messaging-partners", "view-as-2018"] {
        shards_alone_equal_the_whole(scenario);
    }
}

fn shards_alone_equal_the_whole(scenario: &str) {
    let dir = tempfile::tempdir().unwrap();
    let whole_opts = options(&dir.path().join("whole"), 2_000, 5, scenario, 4);
    let whole = generate(&whole_opts);
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..4 {
        let mut alone = options(
            &dir.path().join(format!("alone-{i}")),
            2_000,
            5,
            scenario,
            4,
        );
        alone.only_shard = Some(i);
        let m = generate(&alone);
        assert!(!m.complete);
        assert_eq!(m.only_shard, Some(i));
        for f in &m.files {
            let same = whole
                .files
                .iter()
                .find(|w| w.path == f.path)
                .expect("file of the whole run");
            assert_eq!(f, same, "{}", f.path);
            assert_eq!(
                file_bytes(&alone.out, &f.path),
                file_bytes(&whole_opts.out, &f.path)
            );
            seen.insert(f.path.clone());
        }
    }
    // Together the shards cover every file of the whole run but the two whole-run truth
    // tables (the per-app aggregate, and the bug's deploys, which `merge` writes).
    let all: std::collections::BTreeSet<_> = whole.files.iter().map(|f| f.path.clone()).collect();
    let missing: Vec<_> = all.difference(&seen).collect();
    assert_eq!(
        missing,
        vec!["truth/affected_apps.parquet", "truth/bug_deploys.parquet"]
    );
}

#[test]
fn another_seed_gives_another_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let a = generate(&options(&dir.path().join("a"), 500, 1, "facebook-2018", 2));
    let b = generate(&options(&dir.path().join("b"), 500, 2, "facebook-2018", 2));
    let events = |m: &blastradius_dataset::Manifest| {
        m.files
            .iter()
            .find(|f| f.path == "events/part-00000.parquet")
            .unwrap()
            .sha256
            .clone()
    };
    assert_ne!(events(&a), events(&b));
}

#[test]
fn manifest_checksums_match_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(&dir.path().join("d"), 800, 3, "facebook-2018", 3);
    let m = generate(&opts);
    for f in &m.files {
        let bytes = file_bytes(&opts.out, &f.path);
        assert_eq!(bytes.len() as u64, f.bytes, "{}", f.path);
        let digest: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(digest, f.sha256, "{}", f.path);
    }
    // Every file in the folder is listed, and nothing else is there.
    let mut on_disk = Vec::new();
    for entry in walk(&opts.out) {
        let rel = entry
            .strip_prefix(&opts.out)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if rel != "manifest.json" {
            on_disk.push(rel);
        }
    }
    on_disk.sort();
    let listed: Vec<_> = m.files.iter().map(|f| f.path.clone()).collect();
    assert_eq!(on_disk, listed);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn a_failed_run_leaves_no_dataset_behind() {
    let dir = tempfile::tempdir().unwrap();
    // The output's parent is a file: nothing can be written, and nothing must be left.
    let blocker = dir.path().join("not-a-folder");
    std::fs::write(&blocker, "x").unwrap();
    let opts = options(&blocker.join("d"), 100, 1, "facebook-2018", 1);
    let err = generate::generate(&opts, &Progress::default()).unwrap_err();
    assert!(err.to_string().contains("not-a-folder"), "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1);
}

// The estimate a run is refused on counts a View-As world's access log and friendships
// (issue 25's review: it counted the photo log alone).
#[test]
fn the_estimate_counts_a_view_as_worlds_tables() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(&dir.path().join("va"), 20_000, 3, "view-as-2018", 2);
    let estimate = opts.estimate();
    let m = generate(&opts);
    let events = m.counts.events + m.counts.access_events.unwrap();
    let ratio = estimate.events as f64 / events as f64;
    assert!(
        (0.85..1.3).contains(&ratio),
        "events {} estimated {}",
        events,
        estimate.events
    );
    let bytes: u64 = m.files.iter().map(|f| f.bytes).sum();
    assert!(
        estimate.bytes as f64 >= 0.8 * bytes as f64,
        "bytes {bytes} estimated {}",
        estimate.bytes
    );
}
