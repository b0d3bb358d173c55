//! Issue 13: random damage fed to the readers. Whatever the bytes, the manifest or the
//! findings, a reader answers with a result (usually an error naming the file), never a
//! panic. The base is the committed sample dataset.

use std::path::{Path, PathBuf};

use blastradius_analyzer::findings::{Universe, load};
use blastradius_dataset::Dataset;
use blastradius_dataset::log::{ShardLog, read_part_into};
use proptest::prelude::*;

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample")
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A JSON value of any shape, for manifests' fields.
fn any_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        prop_oneof![
            Just("../../etc/passwd".to_string()),
            Just("/etc/hostname".to_string()),
            Just("events/part-00000.parquet".to_string()),
            Just("".to_string()),
            "[a-z/._-]{0,20}",
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop::collection::vec(inner, 0..4).prop_map(serde_json::Value::from)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// A manifest with one field replaced (or one file entry's field) opens or is refused.
    #[test]
    fn any_manifest_opens_or_is_refused(
        field in prop::sample::select(vec!["format", "schema_version", "files", "users", "shards", "only_shard", "period", "complete", "truth_key"]),
        file_field in prop::sample::select(vec!["path", "rows", "bytes", "sha256", "crc32c"]),
        on_file in any::<bool>(),
        index in 0usize..13,
        value in any_json(),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("d");
        copy_tree(&sample(), &d);
        let p = d.join("manifest.json");
        let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        if on_file {
            let files = m["files"].as_array_mut().unwrap();
            let n = files.len();
            files[index % n][file_field] = value;
        } else {
            m[field] = value;
        }
        std::fs::write(&p, serde_json::to_vec(&m).unwrap()).unwrap();
        if let Ok(dataset) = Dataset::open(&d) {
            let mut log = ShardLog::default();
            for entry in dataset.parts("events") {
                let _ = read_part_into(&dataset, entry, blastradius_dataset::log::ALL_COLUMNS, None, &mut log);
            }
        }
    }

    /// A shard with bytes flipped, cut or appended, its manifest entry resealed so the
    /// reader goes past the checksum, decodes or fails with an error.
    #[test]
    fn any_damaged_shard_reads_or_fails_cleanly(
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 0..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
        extra in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("d");
        copy_tree(&sample(), &d);
        let rel = "events/part-00001.parquet";
        let path = d.join(rel);
        let mut bytes = std::fs::read(&path).unwrap();
        for (at, x) in &flips {
            let i = at.index(bytes.len());
            bytes[i] ^= x;
        }
        if let Some(at) = cut {
            bytes.truncate(at.index(bytes.len()));
        }
        bytes.extend_from_slice(&extra);
        std::fs::write(&path, &bytes).unwrap();
        let p = d.join("manifest.json");
        let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        for f in m["files"].as_array_mut().unwrap() {
            if f["path"] == rel {
                f["bytes"] = bytes.len().into();
                f["crc32c"] = format!("{:08x}", crc32c(&bytes)).into();
            }
        }
        std::fs::write(&p, serde_json::to_vec(&m).unwrap()).unwrap();
        // The open reads each file's footer (its rows against the manifest's): a damaged
        // footer fails there, cleanly, with an error.
        let Ok(dataset) = Dataset::open(&d) else {
            return Ok(());
        };
        let entry = dataset.parts("events").into_iter().find(|f| f.path == rel).unwrap().clone();
        let mut log = ShardLog::default();
        let _ = read_part_into(&dataset, &entry, blastradius_dataset::log::ALL_COLUMNS, None, &mut log);
        // And as `exact` reads it: the key columns first, the others for its callers' rows.
        let pick = Some(blastradius_analyzer::exact::caller_rows as blastradius_dataset::log::Pick);
        if read_part_into(&dataset, &entry, blastradius_dataset::log::ALL_COLUMNS, pick, &mut log).is_ok() {
            // What reads must replay without a panic.
            blastradius_analyzer::registry::by_name("exact").unwrap().shard(&log);
        }
    }

    /// Any CSV text as findings loads or is refused.
    #[test]
    fn any_csv_findings_load_or_are_refused(
        header in prop::sample::select(vec!["app_id,user_id,photo_id", "user_id", "photo_id,app_id", "x", ""]),
        body in "[0-9a-z,\\-\" \n]{0,200}",
        table in prop::sample::select(vec!["exposures", "affected_users", "message_violations", "affected_apps"]),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(format!("{table}.csv")), format!("{header}\n{body}")).unwrap();
        let universe = Universe { users: 5000, apps: (0..1504).collect(), world: None };
        let _ = load(tmp.path(), &universe);
    }
}

/// CRC-32C, as the manifest records it.
fn crc32c(bytes: &[u8]) -> u32 {
    // Bitwise, to stay independent of the crate the reader uses.
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
