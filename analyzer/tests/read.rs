//! The events reader, as `exact` uses it: the key columns of every row, the others only for
//! the rows the detector picks.

use std::path::Path;

use blastradius_analyzer::detect::Row;
use blastradius_analyzer::exact::caller_rows;
use blastradius_analyzer::registry;
use blastradius_dataset::Dataset;
use blastradius_dataset::log::{ALL_COLUMNS, ShardLog, read_part_into};

#[test]
fn a_picked_read_holds_the_same_rows_as_a_full_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample");
    let dataset = Dataset::open(&root).unwrap();
    let exact = registry::by_name("exact").unwrap();
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

#[test]
fn damage_is_counted_on_every_row_whatever_is_picked() {
    use arrow::array::{AsArray, Int32Array, RecordBatch};
    use arrow::datatypes::Int32Type;
    use blastradius_dataset::log::{Damage, read_shard_into};
    use blastradius_schema::Kind;
    // The sample's first shard with every photo call's page_size set to 0 (a page that
    // cannot be served), written anew.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample");
    let file = std::fs::File::open(root.join("events/part-00000.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("damaged.parquet");
    let mut writer = None;
    for batch in reader {
        let batch = batch.unwrap();
        let schema = batch.schema();
        let sizes = batch
            .column_by_name("page_size")
            .unwrap()
            .as_primitive::<Int32Type>();
        let zeroed: Int32Array = sizes.unary::<_, Int32Type>(|_| 0);
        let mut columns = batch.columns().to_vec();
        columns[schema.index_of("page_size").unwrap()] = std::sync::Arc::new(zeroed);
        let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
        let w = writer.get_or_insert_with(|| {
            let out = std::fs::File::create(&path).unwrap();
            parquet::arrow::ArrowWriter::try_new(out, schema, None).unwrap()
        });
        w.write(&batch).unwrap();
    }
    writer.unwrap().close().unwrap();
    let (mut full, mut picked) = (ShardLog::default(), ShardLog::default());
    read_shard_into(&path, ALL_COLUMNS, None, &mut full).unwrap();
    read_shard_into(&path, ALL_COLUMNS, Some(caller_rows), &mut picked).unwrap();
    let calls: Vec<usize> = (0..full.len())
        .filter(|&i| full.kind[i] == Kind::PhotoApiCall)
        .collect();
    let rows = picked.selected.clone().unwrap();
    // Some of those calls are not picked (users whose every call failed): still counted.
    assert!(
        calls
            .iter()
            .any(|&i| rows.binary_search(&(i as u32)).is_err())
    );
    assert_eq!(
        full.damage.get(Damage::BAD_PAGE),
        Some(&(calls.len() as u64))
    );
    assert_eq!(picked.damage, full.damage);
}
