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
}

/// The columns replay needs (`items_returned` is not: detectors recompute what was returned).
const NEEDED: &[&str] = &[
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
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_err(path))?;
    let contract = events_schema();
    let schema = builder.schema().clone();
    let mut indices = Vec::new();
    for name in NEEDED {
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
    let mut log = ShardLog {
        path: path.to_path_buf(),
        ..Default::default()
    };
    log.event_id.reserve(rows);
    for batch in reader {
        let batch = batch.map_err(|e| Error::Parquet {
            path: path.to_path_buf(),
            source: e.into(),
        })?;
        append(&mut log, &batch, path)?;
    }
    Ok(log)
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a ArrayRef {
    batch.column_by_name(name).expect("projected column")
}

/// Maps a dictionary column to enum values through their names; unknown names are an error.
fn enum_values<T: Copy>(
    array: &ArrayRef,
    parse: fn(&str) -> Option<T>,
    fallback: T,
    path: &Path,
    name: &str,
) -> Result<Vec<T>> {
    let dict = array.as_dictionary::<Int8Type>();
    let names = dict.values().as_string::<i32>();
    let mut lookup = Vec::with_capacity(names.len());
    for i in 0..names.len() {
        let text = names.value(i);
        match parse(text) {
            Some(v) => lookup.push(v),
            None if dict.keys().iter().flatten().any(|k| k as usize == i) => {
                return Err(Error::Schema {
                    path: path.into(),
                    column: name.to_string(),
                    problem: format!("holds the unknown value `{text}`"),
                    expected: "one of the values listed in data/README.md".into(),
                });
            }
            None => lookup.push(fallback),
        }
    }
    Ok(dict
        .keys()
        .iter()
        .map(|k| k.map_or(fallback, |k| lookup[k as usize]))
        .collect())
}

fn append(log: &mut ShardLog, b: &RecordBatch, path: &Path) -> Result<()> {
    let u64s = |name| {
        column(b, name)
            .as_primitive::<UInt64Type>()
            .values()
            .iter()
            .copied()
    };
    let u32s = |name| {
        column(b, name)
            .as_primitive::<UInt32Type>()
            .values()
            .iter()
            .copied()
    };
    log.event_id.extend(u64s(col::EVENT_ID));
    log.ts.extend(
        column(b, col::TS)
            .as_primitive::<TimestampMicrosecondType>()
            .values()
            .iter()
            .copied(),
    );
    log.kind.extend(enum_values(
        column(b, col::KIND),
        Kind::parse,
        Kind::UserRegistered,
        path,
        col::KIND,
    )?);
    if column(b, col::KIND).null_count() > 0 {
        return Err(Error::Schema {
            path: path.into(),
            column: col::KIND.into(),
            problem: "has nulls".into(),
            expected: "an event kind on every row".into(),
        });
    }
    log.user_id.extend(u64s(col::USER_ID));
    log.app_id.extend(u32s(col::APP_ID));
    log.photo_id.extend(u64s(col::PHOTO_ID));
    log.surface.extend(enum_values(
        column(b, col::SURFACE),
        Surface::parse,
        Surface::Timeline,
        path,
        col::SURFACE,
    )?);
    log.scope.extend(enum_values(
        column(b, col::SCOPE),
        Scope::parse,
        Scope::UserPhotos,
        path,
        col::SCOPE,
    )?);
    log.action.extend(enum_values(
        column(b, col::ACTION),
        Action::parse,
        Action::Read,
        path,
        col::ACTION,
    )?);
    log.status.extend(
        column(b, col::STATUS)
            .as_primitive::<UInt16Type>()
            .values()
            .iter()
            .copied(),
    );
    log.page.extend(u32s(col::PAGE));
    log.page_size.extend(u32s(col::PAGE_SIZE));
    Ok(())
}
