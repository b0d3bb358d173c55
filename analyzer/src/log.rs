//! Reads one event shard into columns, checking it against the contract as it goes.
//!
//! Checks that make the read fail (the answer would be wrong): the schema of every column
//! read, and a null where the row's kind says the column applies (it would read as 0, and a
//! null `user_id` would hand the row to user 0). Checks that count instead (the log is
//! damaged but still replays): values outside their range, reported as damage beside the
//! findings and on the terminal.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Int8Type, TimestampMicrosecondType, UInt16Type, UInt32Type, UInt64Type,
};
use blastradius_schema::{Action, Kind, Scope, Surface, col, events_schema};
use bytes::Bytes;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::dataset::{Dataset, FileEntry, listed_reader, parquet_reader};
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
    /// The deploys in log order, `(ts, event_id, introduces)`: the shard's own system rows,
    /// or the window the user gave instead (see [`crate::detect::Settings::bug_window`]).
    pub deploys: Vec<(i64, u64, bool)>,
    /// Values outside their range, by what is wrong (see [`Damage`]).
    pub damage: BTreeMap<&'static str, u64>,
    /// The file's bytes, kept from one read to the next for their allocation.
    pub(crate) buffer: Vec<u8>,
}

/// Bytes a reader shares while it decodes, given back whole afterwards.
struct Shared(std::sync::Arc<Vec<u8>>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// What the reader counts as damage instead of failing on.
pub struct Damage;

impl Damage {
    pub const USER_OUT_OF_SHARD: &'static str = "user id outside its shard's range of users";
    pub const TIME_OUT_OF_PERIOD: &'static str =
        "timestamp after the period, or more than 100 years before it";
    pub const BAD_STATUS: &'static str = "API call with an HTTP status outside 100-599";
    pub const BAD_PAGE: &'static str =
        "photo call with page_size 0, or a first item past 2^32 (page x page_size)";
    /// Every kind, for reports that list them.
    pub const ALL: &'static [&'static str] = &[
        Self::USER_OUT_OF_SHARD,
        Self::TIME_OUT_OF_PERIOD,
        Self::BAD_STATUS,
        Self::BAD_PAGE,
    ];
}

/// What the manifest says a shard may hold, for the range checks.
#[derive(Clone, Debug, Default)]
pub struct Expect {
    /// The users of the shard.
    pub users: Option<Range<u64>>,
    /// The earliest and latest time of the log.
    pub time: Option<(i64, i64)>,
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
        self.deploys.clear();
        self.damage.clear();
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

/// Reads every column of the file at `path`, without a manifest to check it against (for
/// tests and benches; [`read_part_into`] is the checked read).
///
/// # Errors
/// [`Error::Schema`] naming the column and the expected type, or a misplaced null;
/// [`Error::Parquet`] for a truncated or corrupt file, [`Error::Io`] when it cannot be read.
pub fn read_shard(path: &Path) -> Result<ShardLog> {
    let mut log = ShardLog::default();
    read_shard_into(path, ALL_COLUMNS, &mut log)?;
    Ok(log)
}

/// Reads only `columns` of the file at `path` into `log` (see [`read_shard`]).
///
/// # Errors
/// As [`read_shard`].
pub fn read_shard_into(path: &Path, columns: &[&str], log: &mut ShardLog) -> Result<()> {
    let data = Bytes::from(std::fs::read(path).map_err(Error::io(path))?);
    decode(
        path,
        parquet_reader(path, data)?,
        columns,
        log,
        &Expect::default(),
    )
}

/// Reads only `columns` (always with `event_id`, `ts` and `kind`, which log order and the
/// deploy events need) of the events part `entry` of `dataset` into `log`, reusing its
/// allocations; the other columns of `log` are left empty. The file is checked against the
/// manifest first (checksum, rows), then its contents against the contract.
///
/// # Errors
/// As [`Dataset::reader`] and [`read_shard`].
pub fn read_part_into(
    dataset: &Dataset,
    entry: &FileEntry,
    columns: &[&str],
    log: &mut ShardLog,
) -> Result<()> {
    let path = dataset.root.join(&entry.path);
    let mut buffer = std::mem::take(&mut log.buffer);
    dataset.read_into(entry, &mut buffer)?;
    let shared = std::sync::Arc::new(buffer);
    let result = (|| {
        let builder = listed_reader(&path, Bytes::from_owner(Shared(shared.clone())), entry)?;
        decode(&path, builder, columns, log, &dataset.expect(entry))
    })();
    // Every reader of the bytes is gone: the allocation comes back for the next file.
    log.buffer = std::sync::Arc::try_unwrap(shared).unwrap_or_default();
    result
}

fn decode(
    path: &Path,
    builder: ParquetRecordBatchReaderBuilder<Bytes>,
    columns: &[&str],
    log: &mut ShardLog,
    expect: &Expect,
) -> Result<()> {
    log.clear();
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
                expected: format!("{} (see data/README.md)", want.data_type()),
            });
        };
        let compatible = match (want.data_type(), got.data_type()) {
            (DataType::Dictionary(..), DataType::Dictionary(k, v)) => {
                k.as_ref() == &DataType::Int8 && v.as_ref() == &DataType::Utf8
            }
            (DataType::Timestamp(wu, _), DataType::Timestamp(gu, Some(tz))) => {
                wu == gu && matches!(tz.as_ref(), "UTC" | "+00:00" | "Z")
            }
            (w, g) => w == g,
        };
        if !compatible {
            return Err(Error::Schema {
                path: path.into(),
                column: name.to_string(),
                problem: format!("has type {}", got.data_type()),
                expected: format!("{} (see data/README.md)", want.data_type()),
            });
        }
        indices.push(i);
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
    let rows = builder.metadata().file_metadata().num_rows() as usize;
    let mut group_ends = Vec::new();
    let mut end = 0;
    for g in builder.metadata().row_groups() {
        end += g.num_rows() as u64;
        group_ends.push(end);
    }
    let reader = builder
        .with_projection(mask)
        .with_batch_size(1 << 16)
        .build()
        .map_err(Error::parquet(path))?;
    log.path = path.to_path_buf();
    log.reserve(rows);
    for batch in reader {
        let batch = batch.map_err(|e| Error::parquet(path)(e.into()))?;
        let first = log.len();
        append(log, &batch, path)?;
        check_nulls(&batch, &log.kind[first..], path, first, &group_ends)?;
        count_damage(log, first, expect);
    }
    log.deploys = crate::detect::deploys(log);
    Ok(())
}

/// Fails on a null where the row's kind says the column applies. Counting first keeps the
/// common case cheap: a file written to the contract holds exactly one value per row the
/// column applies to, so only a batch whose counts disagree is scanned row by row. (A file
/// that swapped a null and a value between rows keeps its counts; its checksum catches it.)
fn check_nulls(
    batch: &RecordBatch,
    kinds: &[Kind],
    path: &Path,
    first_row: usize,
    group_ends: &[u64],
) -> Result<()> {
    let mut per_kind = [0usize; 16];
    for k in kinds {
        per_kind[*k as usize] += 1;
    }
    for field in batch.schema().fields() {
        let name = field.name().as_str();
        let array = batch.column_by_name(name).expect("own column");
        let nulls = array.null_count();
        if nulls == 0 {
            continue;
        }
        let applies = |k: Kind| k.columns().applies(name) == Some(true);
        let required: usize = Kind::ALL
            .iter()
            .filter(|k| applies(**k))
            .map(|k| per_kind[*k as usize])
            .sum();
        if kinds.len() - nulls == required {
            continue;
        }
        let validity = array.logical_nulls().expect("has nulls");
        if let Some(i) = (0..kinds.len()).find(|&i| validity.is_null(i) && applies(kinds[i])) {
            let row = first_row + i;
            let group = group_ends.partition_point(|&e| e <= row as u64);
            return Err(Error::Schema {
                path: path.into(),
                column: name.to_string(),
                problem: format!(
                    "is null on row {row} (row group {group}), a `{}` event",
                    kinds[i]
                ),
                expected: "a value wherever it applies; the file is damaged: regenerate it".into(),
            });
        }
    }
    Ok(())
}

/// Counts values outside their range in the rows from `first` on.
fn count_damage(log: &mut ShardLog, first: usize, expect: &Expect) {
    let end = log.len();
    let mut found: Vec<(&'static str, u64)> = Vec::new();
    let mut add = |what: &'static str, n: u64| found.push((what, n));
    let kinds = &log.kind[first..end];
    if let (Some(users), false) = (&expect.users, log.user_id.is_empty()) {
        let n = kinds
            .iter()
            .zip(&log.user_id[first..end])
            .filter(|(k, u)| !k.is_system() && !users.contains(u))
            .count() as u64;
        add(Damage::USER_OUT_OF_SHARD, n);
    }
    if let Some((lo, hi)) = expect.time {
        let ts = &log.ts[first..end];
        let (min, max) = ts
            .iter()
            .fold((i64::MAX, i64::MIN), |(a, b), &t| (a.min(t), b.max(t)));
        if min < lo || max > hi {
            add(
                Damage::TIME_OUT_OF_PERIOD,
                ts.iter().filter(|&&t| t < lo || t > hi).count() as u64,
            );
        }
    }
    if !log.status.is_empty() {
        let n = kinds
            .iter()
            .zip(&log.status[first..end])
            .filter(|(k, s)| {
                matches!(k, Kind::PhotoApiCall | Kind::MessageApiCall) && !(100..=599).contains(*s)
            })
            .count() as u64;
        add(Damage::BAD_STATUS, n);
    }
    if !log.page.is_empty() && !log.page_size.is_empty() {
        let n = (first..end)
            .filter(|&i| {
                log.kind[i] == Kind::PhotoApiCall
                    && (log.page_size[i] == 0
                        || log.page[i] as u64 * log.page_size[i] as u64 >= 1 << 32)
            })
            .count() as u64;
        add(Damage::BAD_PAGE, n);
    }
    for (what, n) in found.into_iter().filter(|f| f.1 > 0) {
        *log.damage.entry(what).or_default() += n;
    }
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
