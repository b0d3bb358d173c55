//! Reads one event shard into columns, checking its schema against the contract first.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Int8Type, TimestampMicrosecondType, UInt16Type, UInt32Type, UInt64Type,
};
use blastradius_schema::{Action, Kind, Scope, Surface, col, events_schema};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};

/// One shard of the event log, column by column. Null values read as 0 / the first variant;
/// which columns apply is given by the kind.
#[derive(Debug, Default)]
pub struct ShardLog {
    pub path: PathBuf,
    pub event_id: Vec<u64>,
    pub ts: Vec<i64>,
    pub kind: Vec<Kind>,
    pub user_id: Vec<u64>,
    pub app_id: Vec<u32>,
    pub photo_id: Vec<u64>,
    pub surface: Vec<Surface>,
    pub scope: Vec<Scope>,
    pub action: Vec<Action>,
    pub status: Vec<u16>,
    pub page: Vec<u32>,
    pub page_size: Vec<u32>,
}

impl ShardLog {
    pub fn len(&self) -> usize {
        self.event_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.event_id.is_empty()
    }

    /// Empties every column, keeping the allocations.
    pub fn clear(&mut self) {
        self.event_id.clear();
        self.ts.clear();
        self.kind.clear();
        self.user_id.clear();
        self.app_id.clear();
        self.photo_id.clear();
        self.surface.clear();
        self.scope.clear();
        self.action.clear();
        self.status.clear();
        self.page.clear();
        self.page_size.clear();
    }

    fn reserve(&mut self, rows: usize) {
        self.event_id.reserve(rows);
        self.ts.reserve(rows);
        self.kind.reserve(rows);
        self.user_id.reserve(rows);
        self.app_id.reserve(rows);
        self.photo_id.reserve(rows);
        self.surface.reserve(rows);
        self.scope.reserve(rows);
        self.action.reserve(rows);
        self.status.reserve(rows);
        self.page.reserve(rows);
        self.page_size.reserve(rows);
    }
}

/// Every column replay can use (`items_returned` is not: detectors recompute what was
/// returned). A detector names the subset it reads.
pub const ALL_COLUMNS: &[&str] = &[
    col::EVENT_ID,
    col::TS,
    col::KIND,
    col::USER_ID,
    col::APP_ID,
    col::PHOTO_ID,
    col::SURFACE,
    col::SCOPE,
    col::ACTION,
    col::STATUS,
    col::PAGE,
    col::PAGE_SIZE,
];

fn parquet_err(path: &Path) -> impl Fn(parquet::errors::ParquetError) -> Error + '_ {
    move |source| Error::Parquet {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads `path`, checking that every needed column exists with the contract's type.
///
/// # Errors
/// [`Error::Schema`] naming the column and the expected type, [`Error::Parquet`] for a
/// truncated or corrupt file, [`Error::Io`] when it cannot be opened.
pub fn read_shard(path: &Path) -> Result<ShardLog> {
    let mut log = ShardLog::default();
    read_shard_into(path, ALL_COLUMNS, &mut log)?;
    Ok(log)
}

/// Reads only `columns` of `path` (always with `event_id`, `ts` and `kind`, which log order
/// and the deploy events need) into `log`, reusing its allocations; the other columns of
/// `log` are left empty.
///
/// # Errors
/// As [`read_shard`].
pub fn read_shard_into(path: &Path, columns: &[&str], log: &mut ShardLog) -> Result<()> {
    log.clear();
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_err(path))?;
    let contract = events_schema();
    let schema = builder.schema().clone();
    let mut indices = Vec::new();
    let always = [col::EVENT_ID, col::TS, col::KIND];
    let wanted = ALL_COLUMNS
        .iter()
        .filter(|c| always.contains(c) || columns.contains(c));
    for name in wanted {
        let want = contract.field_with_name(name).expect("contract column");
        let Some((i, got)) = schema.column_with_name(name) else {
            return Err(Error::Schema {
                path: path.into(),
                column: name.to_string(),
                problem: "is missing".into(),
                expected: format!("{}", want.data_type()),
            });
        };
        let compatible = match (want.data_type(), got.data_type()) {
            (DataType::Dictionary(..), DataType::Dictionary(k, v)) => {
                k.as_ref() == &DataType::Int8 && v.as_ref() == &DataType::Utf8
            }
            (w, g) => w == g,
        };
        if !compatible {
            return Err(Error::Schema {
                path: path.into(),
                column: name.to_string(),
                problem: format!("has type {}", got.data_type()),
                expected: format!("{}", want.data_type()),
            });
        }
        indices.push(i);
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
    let rows = builder.metadata().file_metadata().num_rows() as usize;
    let reader = builder
        .with_projection(mask)
        .with_batch_size(1 << 16)
        .build()
        .map_err(parquet_err(path))?;
    log.path = path.to_path_buf();
    log.reserve(rows);
    for batch in reader {
        let batch = batch.map_err(|e| Error::Parquet {
            path: path.to_path_buf(),
            source: e.into(),
        })?;
        append(log, &batch, path)?;
    }
    Ok(())
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a ArrayRef {
    batch.column_by_name(name).expect("projected column")
}

/// Appends a dictionary column to `out` as enum values, mapped through their names; unknown
/// names are an error. Nulls read as `fallback`.
fn enum_values<T: Copy>(
    out: &mut Vec<T>,
    array: &ArrayRef,
    parse: fn(&str) -> Option<T>,
    fallback: T,
    path: &Path,
    name: &str,
) -> Result<()> {
    let dict = array.as_dictionary::<Int8Type>();
    let names = dict.values().as_string::<i32>();
    // Indexed by the key's byte, so any key maps without a bounds check.
    let mut lookup = [fallback; 256];
    for (i, slot) in lookup.iter_mut().enumerate().take(names.len().min(128)) {
        let text = names.value(i);
        match parse(text) {
            Some(v) => *slot = v,
            None if dict.keys().iter().flatten().any(|k| k as usize == i) => {
                return Err(Error::Schema {
                    path: path.into(),
                    column: name.to_string(),
                    problem: format!("holds the unknown value `{text}`"),
                    expected: "one of the values listed in data/README.md".into(),
                });
            }
            None => {}
        }
    }
    let keys = dict.keys();
    if keys.null_count() == 0 {
        out.extend(keys.values().iter().map(|&k| lookup[k as u8 as usize]));
    } else {
        out.extend(
            keys.iter()
                .map(|k| k.map_or(fallback, |k| lookup[k as u8 as usize])),
        );
    }
    Ok(())
}

fn append(log: &mut ShardLog, b: &RecordBatch, path: &Path) -> Result<()> {
    let has = |name: &str| b.column_by_name(name).is_some();
    let u64s = |name| column(b, name).as_primitive::<UInt64Type>().values();
    let u32s = |name| column(b, name).as_primitive::<UInt32Type>().values();
    if has(col::EVENT_ID) {
        log.event_id.extend_from_slice(u64s(col::EVENT_ID));
    }
    if has(col::TS) {
        let ts = column(b, col::TS).as_primitive::<TimestampMicrosecondType>();
        log.ts.extend_from_slice(ts.values());
    }
    if has(col::KIND) {
        if column(b, col::KIND).null_count() > 0 {
            return Err(Error::Schema {
                path: path.into(),
                column: col::KIND.into(),
                problem: "has nulls".into(),
                expected: "an event kind on every row".into(),
            });
        }
        let kind = column(b, col::KIND);
        enum_values(
            &mut log.kind,
            kind,
            Kind::parse,
            Kind::UserRegistered,
            path,
            col::KIND,
        )?;
    }
    if has(col::USER_ID) {
        log.user_id.extend_from_slice(u64s(col::USER_ID));
    }
    if has(col::APP_ID) {
        log.app_id.extend_from_slice(u32s(col::APP_ID));
    }
    if has(col::PHOTO_ID) {
        log.photo_id.extend_from_slice(u64s(col::PHOTO_ID));
    }
    if has(col::SURFACE) {
        let c = column(b, col::SURFACE);
        enum_values(
            &mut log.surface,
            c,
            Surface::parse,
            Surface::Timeline,
            path,
            col::SURFACE,
        )?;
    }
    if has(col::SCOPE) {
        let c = column(b, col::SCOPE);
        enum_values(
            &mut log.scope,
            c,
            Scope::parse,
            Scope::UserPhotos,
            path,
            col::SCOPE,
        )?;
    }
    if has(col::ACTION) {
        let c = column(b, col::ACTION);
        enum_values(
            &mut log.action,
            c,
            Action::parse,
            Action::Read,
            path,
            col::ACTION,
        )?;
    }
    if has(col::STATUS) {
        let status = column(b, col::STATUS).as_primitive::<UInt16Type>();
        log.status.extend_from_slice(status.values());
    }
    if has(col::PAGE) {
        log.page.extend_from_slice(u32s(col::PAGE));
    }
    if has(col::PAGE_SIZE) {
        log.page_size.extend_from_slice(u32s(col::PAGE_SIZE));
    }
    Ok(())
}
