//! The events reader, as `exact` uses it: the key columns of every row, the others only for
//! the rows the detector picks.

use std::path::Path;

use blastradius_analyzer::dataset::Dataset;
use blastradius_analyzer::detect::{self, Row};
use blastradius_analyzer::exact::caller_rows;
use blastradius_analyzer::log::{ALL_COLUMNS, ShardLog, read_part_into};

#[test]
fn a_picked_read_holds_the_same_rows_as_a_full_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample");
    let dataset = Dataset::open(&root).unwrap();
    let exact = detect::by_name("exact").unwrap();
    let pick = exact.rows();
    assert!(pick.is_some(), "exact reads only its callers' rows in full");
    for entry in dataset.parts("events") {
        let (mut full, mut picked) = (ShardLog::default(), ShardLog::default());
        read_part_into(&dataset, entry, ALL_COLUMNS, None, &mut full).unwrap();
        read_part_into(&dataset, entry, ALL_COLUMNS, pick, &mut picked).unwrap();
        let rows = picked
            .selected
            .clone()
            .expect("a picked read lists its rows");
        assert_eq!(rows, caller_rows(&full));
        assert!(
            !rows.is_empty() && rows.len() < full.len() / 2,
            "{}",
            rows.len()
        );
        assert!(full.selected.is_none());
        // Every row's key columns, only the picked rows' others, in their order.
        assert_eq!(picked.event_id, full.event_id);
        assert_eq!(picked.ts, full.ts);
        assert_eq!(picked.kind, full.kind);
        assert_eq!(picked.user_id, full.user_id);
        assert_eq!(picked.status, full.status);
        assert_eq!(picked.photo_id.len(), rows.len());
        for (j, &i) in rows.iter().enumerate() {
            assert_eq!(Row::at(&picked, i as usize, j), Row::of(&full, i as usize));
        }
        assert_eq!(picked.deploys, full.deploys);
        assert_eq!(picked.damage, full.damage);
        let (a, b) = (exact.shard(&full), exact.shard(&picked));
        assert_eq!(a.exposures, b.exposures);
        assert_eq!(a.violations, b.violations);
        assert!(!a.exposures.is_empty());
    }
}
