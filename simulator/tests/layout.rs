//! The structure of written files: schema, row groups, sort order and footer metadata.

use std::fs::File;

use std::sync::Arc;

use blastradius_schema::{
    access_schema, events_schema, exposures_schema, friendships_schema, stolen_tokens_schema,
    users_schema, view_as_users_schema,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, Encoding};
use parquet::file::reader::{FileReader, SerializedFileReader};

use crate::common::{generate, options};

#[test]
fn event_files_carry_the_contract_schema_order_and_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(&dir.path().join("d"), 1_000, 4, "facebook-2018", 2);
    generate(&opts);
    let path = opts.out.join("events/part-00001.parquet");

    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
    // Issue 13: files declare enum columns as plain strings (dictionary-encoded on disk), so
    // readers see one type across files and row groups.
    assert_same_fields(builder.schema(), &stored(&events_schema()), "events");

    let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
    let meta = reader.metadata();
    let kv: std::collections::HashMap<_, _> = meta
        .file_metadata()
        .key_value_metadata()
        .unwrap()
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
        .collect();
    assert_eq!(kv["blastradius.seed"], "4");
    assert_eq!(kv["blastradius.users"], "1000");
    assert_eq!(kv["blastradius.scenario"], "facebook-2018");
    assert_eq!(kv["blastradius.shard"], "1/2");
    assert_eq!(
        kv["blastradius.schema_version"],
        blastradius_schema::SCHEMA_VERSION.to_string()
    );
    assert!(kv["blastradius.command"].starts_with("blastradius generate --users 1000 --seed 4"));
    assert!(kv["blastradius.scenario_toml"].contains("[photo_apps]"));
    assert_eq!(kv["blastradius.scenario_sha256"].len(), 64);

    assert_eq!(
        meta.num_row_groups(),
        1,
        "a 1,000-user shard fits one row group"
    );
    let rg = meta.row_group(0);
    let sorting = rg.sorting_columns().expect("sort order recorded");
    let cols: Vec<i32> = sorting.iter().map(|s| s.column_idx).collect();
    assert_eq!(cols, vec![1, 0], "sorted by (ts, event_id)");
    assert!(sorting.iter().all(|s| !s.descending));
    // event_id, ts, user_id, photo_id: delta-packed, which lz4 leaves as it is.
    let packed = [0, 1, 3, 5];
    for (i, c) in rg.columns().iter().enumerate() {
        let delta = c.encodings().any(|e| e == Encoding::DELTA_BINARY_PACKED);
        assert_eq!(delta, packed.contains(&i), "{:?}", c.column_path());
        let codec = if delta {
            Compression::UNCOMPRESSED
        } else {
            Compression::LZ4_RAW
        };
        assert_eq!(c.compression(), codec, "{:?}", c.column_path());
    }
    for enum_column in [2, 6, 7, 8] {
        let c = rg.column(enum_column);
        assert!(
            c.encodings().any(|e| e == Encoding::RLE_DICTIONARY),
            "{:?} is dictionary-encoded",
            c.column_path()
        );
        assert!(
            c.statistics().is_none(),
            "{:?}: no min/max for an enum",
            c.column_path()
        );
    }
    let ts = rg.column(1).statistics().expect("ts keeps its statistics");
    assert!(ts.min_bytes_opt().is_some() && ts.max_bytes_opt().is_some());
}

#[test]
fn dimension_and_truth_files_carry_their_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(&dir.path().join("d"), 300, 4, "facebook-2018", 1);
    generate(&opts);
    let view_as = options(&dir.path().join("v"), 300, 4, "view-as-2018", 1);
    generate(&view_as);
    for (root, file, schema) in [
        (&opts.out, "users/part-00000.parquet", users_schema()),
        (
            &opts.out,
            "truth/exposures/part-00000.parquet",
            exposures_schema(),
        ),
        (&view_as.out, "access/part-00000.parquet", access_schema()),
        (
            &view_as.out,
            "friendships/part-00000.parquet",
            friendships_schema(),
        ),
        (
            &view_as.out,
            "truth/stolen_tokens/part-00000.parquet",
            stolen_tokens_schema(),
        ),
        (
            &view_as.out,
            "truth/view_as_users/part-00000.parquet",
            view_as_users_schema(),
        ),
    ] {
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(File::open(root.join(file)).unwrap()).unwrap();
        assert_same_fields(builder.schema(), &stored(&schema), file);
    }
}

fn stored(schema: &arrow::datatypes::SchemaRef) -> arrow::datatypes::SchemaRef {
    Arc::new(blastradius_schema::stored(schema))
}

/// Names, types and nullability equal (the footer adds metadata the contract does not fix).
fn assert_same_fields(
    got: &arrow::datatypes::SchemaRef,
    want: &arrow::datatypes::SchemaRef,
    what: &str,
) {
    let shape = |s: &arrow::datatypes::SchemaRef| {
        s.fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(got), shape(want), "{what}");
}
