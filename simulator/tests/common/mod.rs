//! Reads generated files back with the plain Arrow reader, independent of the writer's code.

use blastradius_schema::arrays::Ints;
use std::fs::File;
use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int8Type, TimestampMicrosecondType, UInt16Type, UInt32Type, UInt64Type};
use blastradius_dataset::Manifest;
use blastradius_simulator::Scenario;
use blastradius_simulator::generate::{self, Options, Progress};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// One event as read back, with nulls kept.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub event_id: u64,
    pub ts: i64,
    pub kind: String,
    pub user_id: Option<u64>,
    pub app_id: Option<u32>,
    pub photo_id: Option<u64>,
    pub surface: Option<String>,
    pub scope: Option<String>,
    pub action: Option<String>,
    pub status: Option<u16>,
    pub page: Option<u32>,
    pub page_size: Option<u32>,
    pub items_returned: Option<u32>,
}

pub fn read_batches(path: &Path) -> Vec<RecordBatch> {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

fn opt<T: Copy>(a: &dyn Array, i: usize, get: impl Fn(usize) -> T) -> Option<T> {
    a.is_valid(i).then(|| get(i))
}

pub fn string_at(a: &dyn Array, i: usize) -> Option<String> {
    if a.is_null(i) {
        return None;
    }
    if let Some(dict) = a.as_dictionary_opt::<Int8Type>() {
        let values = dict.values().as_string::<i32>();
        return Some(values.value(dict.keys().value(i) as usize).to_string());
    }
    Some(a.as_string::<i32>().value(i).to_string())
}

pub fn read_events(path: &Path) -> Vec<Row> {
    let mut rows = Vec::new();
    for b in read_batches(path) {
        let c = |name: &str| b.column_by_name(name).unwrap().clone();
        let (event_id, ts, kind) = (c("event_id"), c("ts"), c("kind"));
        let (user, app, photo) = (c("user_id"), c("app_id"), c("photo_id"));
        let (surface, scope, action) = (c("surface"), c("scope"), c("action"));
        let (status, page, size, items) =
            (c("status"), c("page"), c("page_size"), c("items_returned"));
        for i in 0..b.num_rows() {
            rows.push(Row {
                event_id: event_id.ints::<UInt64Type>().value(i),
                ts: ts.as_primitive::<TimestampMicrosecondType>().value(i),
                kind: string_at(kind.as_ref(), i).unwrap(),
                user_id: opt(user.as_ref(), i, |i| user.ints::<UInt64Type>().value(i)),
                app_id: opt(app.as_ref(), i, |i| app.ints::<UInt32Type>().value(i)),
                photo_id: opt(photo.as_ref(), i, |i| photo.ints::<UInt64Type>().value(i)),
                surface: string_at(surface.as_ref(), i),
                scope: string_at(scope.as_ref(), i),
                action: string_at(action.as_ref(), i),
                status: opt(status.as_ref(), i, |i| status.ints::<UInt16Type>().value(i)),
                page: opt(page.as_ref(), i, |i| page.ints::<UInt32Type>().value(i)),
                page_size: opt(size.as_ref(), i, |i| size.ints::<UInt32Type>().value(i)),
                items_returned: opt(items.as_ref(), i, |i| items.ints::<UInt32Type>().value(i)),
            });
        }
    }
    rows
}

pub fn u64_column(b: &RecordBatch, name: &str) -> Vec<u64> {
    b.column_by_name(name)
        .unwrap()
        .ints::<UInt64Type>()
        .values()
        .to_vec()
}

pub fn u32_column(b: &RecordBatch, name: &str) -> Vec<u32> {
    b.column_by_name(name)
        .unwrap()
        .ints::<UInt32Type>()
        .values()
        .to_vec()
}

pub fn ts_column(b: &RecordBatch, name: &str) -> Vec<i64> {
    b.column_by_name(name)
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>()
        .values()
        .to_vec()
}

pub fn options(out: &Path, users: u64, seed: u64, scenario: &str, shards: u32) -> Options {
    Options {
        users,
        seed,
        scenario: Scenario::preset(scenario).unwrap(),
        shards,
        only_shard: None,
        threads: 2,
        out: out.to_path_buf(),
        force: false,
        compression: Default::default(),
        split_truth: None,
        discovery: false,
    }
}

pub fn generate(options: &Options) -> Manifest {
    generate::generate(options, &Progress::default())
        .unwrap_or_else(|e| panic!("generate failed: {e}"))
        .manifest
}
