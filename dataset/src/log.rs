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
    ArrowPrimitiveType, DataType, Int32Type, Int64Type, UInt32Type, UInt64Type,
};
use blastradius_schema::{Action, Kind, Scope, Surface, col, events_schema};
use bytes::Bytes;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};

use crate::error::{Error, Result};
use crate::manifest::FileInfo;
use crate::open::{Dataset, listed_metadata, parquet_metadata, undamaged};

mod columns;
use columns::{append, compatible};

/// One shard of the event log, column by column. Null values read as 0 / the first variant;
/// which columns apply is given by the kind.
///
/// The [`KEY_COLUMNS`] hold a value for every row of the file. So do the others, unless
/// `selected` is set: then they hold one value for each row it lists, in its order (a
/// detector that needs them only on some rows picks them, see [`Pick`]).
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
    /// Read only when asked for (see [`EVERY_COLUMN`]): detectors recompute what a call
    /// returned, `perturb` copies it.
    pub items_returned: Vec<u32>,
    /// The deploys in log order, `(ts, event_id, introduces)`: the shard's own system rows,
    /// or a window given in their place by the caller.
    pub deploys: Vec<(i64, u64, bool)>,
    /// The rows (positions in the file, ascending) the columns other than [`KEY_COLUMNS`]
    /// were read for; `None`: every row.
    pub selected: Option<Vec<u32>>,
    /// Values outside their range, by what is wrong (see [`Damage`]).
    pub damage: BTreeMap<&'static str, u64>,
    /// The file's bytes, kept from one read to the next for their allocation.
    pub buffer: ReadBuffer,
}

/// The allocation a [`ShardLog`] reads its file's bytes into, reused from one read to the
/// next (opaque: only the reader touches it).
#[derive(Debug, Default)]
pub struct ReadBuffer(Vec<u8>);

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

impl Expect {
    /// What the manifest of `dataset` says its events part `entry` may hold.
    pub fn of(dataset: &Dataset, entry: &FileInfo) -> Self {
        Expect {
            users: dataset.shard_users(entry),
            time: dataset.time_range(),
        }
    }
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
        self.items_returned.clear();
        self.deploys.clear();
        self.selected = None;
        self.damage.clear();
    }

    fn reserve_keys(&mut self, rows: usize) {
        self.event_id.reserve(rows);
        self.ts.reserve(rows);
        self.kind.reserve(rows);
        self.user_id.reserve(rows);
        self.status.reserve(rows);
    }

    fn reserve_others(&mut self, rows: usize) {
        self.app_id.reserve(rows);
        self.photo_id.reserve(rows);
        self.surface.reserve(rows);
        self.scope.reserve(rows);
        self.action.reserve(rows);
        self.page.reserve(rows);
        self.page_size.reserve(rows);
    }
}

/// The columns that say which rows an event is, whose, when, in what order, and whether it
/// succeeded: read for every row (see [`ShardLog`]).
pub const KEY_COLUMNS: &[&str] = &[col::EVENT_ID, col::TS, col::KIND, col::USER_ID, col::STATUS];

/// Picks, from the [`KEY_COLUMNS`] of a whole shard, the rows whose other columns a detector
/// needs: positions in the file, ascending.
pub type Pick = fn(&ShardLog) -> Vec<u32>;

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

/// Every column of the events table: [`ALL_COLUMNS`] and `items_returned`, for a reader that
/// copies the log (`perturb`).
pub const EVERY_COLUMN: &[&str] = &[
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
    col::ITEMS_RETURNED,
];

/// Reads every column of the file at `path`, without a manifest to check it against (for
/// tests and benches; [`read_part_into`] is the checked read).
///
/// # Errors
/// [`Error::Schema`] naming the column and the expected type, or a misplaced null;
/// [`Error::Parquet`] for a truncated or corrupt file, [`Error::Io`] when it cannot be read.
pub fn read_shard(path: &Path) -> Result<ShardLog> {
    let mut log = ShardLog::default();
    read_shard_into(path, ALL_COLUMNS, None, &mut log)?;
    Ok(log)
}

/// Reads only `columns` of the file at `path` into `log` (see [`read_shard`]); with `pick`,
/// the columns other than [`KEY_COLUMNS`] only for the rows it picks.
///
/// # Errors
/// As [`read_shard`].
pub fn read_shard_into(
    path: &Path,
    columns: &[&str],
    pick: Option<Pick>,
    log: &mut ShardLog,
) -> Result<()> {
    let data = Bytes::from(std::fs::read(path).map_err(Error::io(path))?);
    let meta = parquet_metadata(path, &data)?;
    decode(path, data, meta, columns, pick, log, &Expect::default())
}

/// Reads only `columns` (always with `event_id`, `ts` and `kind`, which log order and the
/// deploy events need) of the events part `entry` of `dataset` into `log`, reusing its
/// allocations; the other columns of `log` are left empty. With `pick`, the columns other
/// than [`KEY_COLUMNS`] are kept only for the rows it picks (see [`ShardLog`]). The file is
/// checked against the manifest first (checksum, rows), then its contents against the
/// contract, on every row whatever is picked.
///
/// # Errors
/// As [`Dataset::reader`] and [`read_shard`].
pub fn read_part_into(
    dataset: &Dataset,
    entry: &FileInfo,
    columns: &[&str],
    pick: Option<Pick>,
    log: &mut ShardLog,
) -> Result<()> {
    let path = dataset.root.join(&entry.path);
    let mut buffer = std::mem::take(&mut log.buffer.0);
    dataset.read_into(entry, &mut buffer)?;
    let shared = std::sync::Arc::new(buffer);
    let result = undamaged(&path, || {
        let data = Bytes::from_owner(Shared(shared.clone()));
        let meta = listed_metadata(&path, &data, entry)?;
        let expect = Expect::of(dataset, entry);
        decode(&path, data, meta, columns, pick, log, &expect)
    });
    if result.is_err() {
        // A failed read leaves no half-filled columns behind.
        log.clear();
    }
    // Every reader of the bytes is gone: the allocation comes back for the next file.
    log.buffer = ReadBuffer(std::sync::Arc::try_unwrap(shared).unwrap_or_default());
    result
}

/// The positions of the columns `names` in the file `meta` describes, each checked against
/// the contract's type.
///
/// # Errors
/// [`Error::Schema`] naming a missing column or one of another type.
fn contract_columns(
    path: &Path,
    meta: &ArrowReaderMetadata,
    names: &[&'static str],
) -> Result<Vec<(&'static str, usize)>> {
    let contract = events_schema();
    let schema = meta.schema();
    let mut indices = Vec::new();
    for name in names {
        let want = contract.field_with_name(name).expect("contract column");
        let Some((i, got)) = schema.column_with_name(name) else {
            return Err(Error::Schema {
                path: path.into(),
                column: name.to_string(),
                problem: "is missing".into(),
                expected: format!("{} (see data/README.md)", want.data_type()),
            });
        };
        if !compatible(name, want.data_type(), got.data_type()) {
            return Err(Error::Schema {
                path: path.into(),
                column: name.to_string(),
                problem: format!("has type {}", got.data_type()),
                expected: format!("{} (see data/README.md)", want.data_type()),
            });
        }
        indices.push((*name, i));
    }
    Ok(indices)
}

/// The events of one user in the events part `entry` (a lookup's): `columns` (with
/// `event_id`, `kind` and `user_id`) for that user's rows only, in file order, checked as
/// every read is (the file against the manifest, the columns against the contract, no null
/// where a row's kind needs a value, no unknown value). Only `user_id` is decoded for every
/// row; the other columns only where the user's rows are (a Parquet row filter), which is
/// what keeps a lookup fast on any dataset. `log.selected` is `None`: every column holds the
/// user's rows. Deploy rows have no user and are never among them.
///
/// # Errors
/// As [`read_part_into`].
pub fn read_part_of_user(
    dataset: &Dataset,
    entry: &FileInfo,
    user: u64,
    columns: &[&str],
    log: &mut ShardLog,
) -> Result<()> {
    log.clear();
    let path = dataset.root.join(&entry.path);
    let data = dataset.read(entry)?;
    let meta = listed_metadata(&path, &data, entry)?;
    let always = [col::EVENT_ID, col::KIND, col::USER_ID];
    let wanted: Vec<&'static str> = EVERY_COLUMN
        .iter()
        .filter(|c| always.contains(c) || columns.contains(c))
        .copied()
        .collect();
    let indices = contract_columns(&path, &meta, &wanted)?;
    let result = undamaged(&path, || user_rows(&path, data, meta, &indices, user, log));
    if result.is_err() {
        log.clear();
    }
    result
}

/// The decoding of [`read_part_of_user`].
fn user_rows(
    path: &Path,
    data: Bytes,
    meta: ArrowReaderMetadata,
    indices: &[(&'static str, usize)],
    user: u64,
    log: &mut ShardLog,
) -> Result<()> {
    use arrow::array::BooleanArray;
    use parquet::arrow::arrow_reader::{ArrowPredicateFn, RowFilter};
    let path = path.to_path_buf();
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(data, meta);
    let schema = builder.parquet_schema();
    let position = |name: &str| indices.iter().find(|c| c.0 == name).map(|c| c.1);
    let by_user = ProjectionMask::roots(schema, position(col::USER_ID));
    let mask = ProjectionMask::roots(schema, indices.iter().map(|c| c.1));
    let predicate = ArrowPredicateFn::new(by_user, move |batch| {
        let users = batch.column(0);
        // Signed, or unsigned in a version 1 dataset.
        Ok(match users.as_primitive_opt::<Int64Type>() {
            Some(users) => BooleanArray::from_iter(
                users
                    .iter()
                    .map(|u| Some(u.is_some_and(|u| u as u64 == user))),
            ),
            None => BooleanArray::from_iter(
                users
                    .as_primitive::<UInt64Type>()
                    .iter()
                    .map(|u| Some(u == Some(user))),
            ),
        })
    });
    let reader = builder
        .with_row_filter(RowFilter::new(vec![Box::new(predicate)]))
        .with_projection(mask)
        .build()
        .map_err(Error::parquet(&path))?;
    log.path = path.clone();
    for batch in reader {
        let batch = batch.map_err(|e| Error::parquet(&path)(e.into()))?;
        let start = log.len();
        append(log, &batch, &path, None)?;
        let kinds = &log.kind[start..];
        let required = Required::new(kinds);
        for field in batch.schema().fields() {
            let name = field.name().as_str();
            let array = batch.column_by_name(name).expect("own column");
            if let Some(i) = required.first_missing(name, array) {
                return Err(Error::Schema {
                    path: path.clone(),
                    column: name.to_string(),
                    problem: format!(
                        "is null on event {} (a `{}` event of user {user})",
                        log.event_id[start + i],
                        kinds[i]
                    ),
                    expected: "a value wherever it applies; the file is damaged: regenerate it"
                        .into(),
                });
            }
        }
    }
    Ok(())
}

/// `data` is the file's bytes, `meta` their metadata.
#[allow(clippy::too_many_arguments)]
fn decode(
    path: &Path,
    data: Bytes,
    meta: ArrowReaderMetadata,
    columns: &[&str],
    pick: Option<Pick>,
    log: &mut ShardLog,
    expect: &Expect,
) -> Result<()> {
    log.clear();
    // A pick reads every key column: it chooses rows by them.
    let always = match pick {
        Some(_) => KEY_COLUMNS,
        None => &[col::EVENT_ID, col::TS, col::KIND],
    };
    let wanted: Vec<&'static str> = EVERY_COLUMN
        .iter()
        .filter(|c| always.contains(c) || columns.contains(c))
        .copied()
        .collect();
    let indices = contract_columns(path, &meta, &wanted)?;
    let rows = meta.metadata().file_metadata().num_rows() as usize;
    let mut group_ends = Vec::new();
    let mut end = 0;
    for g in meta.metadata().row_groups() {
        end += g.num_rows() as u64;
        group_ends.push(end);
    }
    log.path = path.to_path_buf();
    // With a pick, two passes: the key columns of every row, then the others, kept for the
    // picked rows only. Each column is decoded once either way; the second pass saves
    // copying and holding the rows nobody replays (arrow-rs's own row selection, measured on
    // a 2.4M-row shard, decoded those columns in twice the time of a plain read).
    let (first, later): (Vec<_>, Vec<_>) = match pick {
        Some(_) => indices
            .iter()
            .partition(|(name, _)| KEY_COLUMNS.contains(name)),
        None => (indices.iter().collect(), Vec::new()),
    };
    let reader = |columns: &[&(&str, usize)]| {
        let builder =
            ParquetRecordBatchReaderBuilder::new_with_metadata(data.clone(), meta.clone());
        let mask = ProjectionMask::roots(builder.parquet_schema(), columns.iter().map(|c| c.1));
        builder
            .with_projection(mask)
            .with_batch_size(1 << 16)
            .build()
            .map_err(Error::parquet(path))
    };
    log.reserve_keys(rows);
    if later.is_empty() {
        log.reserve_others(rows);
    }
    // Only a reader that copies the log asks for it (detectors recompute it).
    if indices.iter().any(|(name, _)| *name == col::ITEMS_RETURNED) {
        log.items_returned.reserve(rows);
    }
    let mut start = 0;
    for batch in reader(&first)? {
        let batch = batch.map_err(|e| Error::parquet(path)(e.into()))?;
        append(log, &batch, path, None)?;
        check_nulls(&batch, &log.kind[start..], path, start, &group_ends)?;
        count_damage(log, start, &batch, expect);
        start = log.len();
    }
    if let (Some(pick), false) = (pick, later.is_empty()) {
        let selected = pick(log);
        log.reserve_others(selected.len());
        let mut start = 0;
        let mut next = 0;
        // Both passes must cover the same rows, and every picked row.
        let keys = log.len();
        let uneven = |rows: String| Error::Schema {
            path: path.into(),
            column: later.iter().map(|c| c.0).collect::<Vec<_>>().join(", "),
            problem: format!("hold {rows} rows, the key columns {keys}"),
            expected: "one value per row in every column; the file is damaged: regenerate it"
                .into(),
        };
        for batch in reader(&later)? {
            let batch = batch.map_err(|e| Error::parquet(path)(e.into()))?;
            let end = start + batch.num_rows();
            let kinds = log
                .kind
                .get(start..end)
                .ok_or_else(|| uneven(format!("{end} or more")))?;
            check_nulls(&batch, kinds, path, start, &group_ends)?;
            count_bad_pages(log, start, &batch);
            let upto = next + selected[next..].partition_point(|&r| (r as usize) < end);
            append(log, &batch, path, Some((&selected[next..upto], start)))?;
            (start, next) = (end, upto);
        }
        if start != keys || next != selected.len() {
            return Err(uneven(start.to_string()));
        }
        log.selected = Some(selected);
    }
    log.deploys = deploys(log);
    Ok(())
}

/// Finds the rows of a batch that lack a value their kind needs. Counting first keeps the
/// common case cheap: a batch written to the contract holds exactly one value per row a
/// column applies to, so only a column whose count differs is searched row by row. (A null
/// and a stray value elsewhere in the same column cancel out: files have their checksum for
/// that; a stream has nothing.) Used for files and for streams ([`append_stream`]).
struct Required<'a> {
    kinds: &'a [Kind],
    /// Rows of each kind, counted at the first column with nulls.
    per_kind: std::cell::OnceCell<[usize; 16]>,
}

impl<'a> Required<'a> {
    /// For a batch whose rows have the kinds `kinds`.
    fn new(kinds: &'a [Kind]) -> Self {
        Required {
            kinds,
            per_kind: std::cell::OnceCell::new(),
        }
    }

    /// The first row where `array`, the column `name`, is null although the row's kind says
    /// the column applies.
    fn first_missing(&self, name: &str, array: &dyn Array) -> Option<usize> {
        let nulls = array.null_count();
        if nulls == 0 {
            return None;
        }
        let per_kind = self.per_kind.get_or_init(|| count_kinds(self.kinds));
        let applies = |k: Kind| k.columns().applies(name) == Some(true);
        let required: usize = Kind::ALL
            .iter()
            .filter(|k| applies(**k))
            .map(|k| per_kind[*k as usize])
            .sum();
        if self.kinds.len() - nulls == required {
            return None;
        }
        let validity = array.logical_nulls()?;
        (0..self.kinds.len()).find(|&i| validity.is_null(i) && applies(self.kinds[i]))
    }
}

/// Fails on a null where the row's kind says the column applies (see [`Required`]).
fn check_nulls(
    batch: &RecordBatch,
    kinds: &[Kind],
    path: &Path,
    first_row: usize,
    group_ends: &[u64],
) -> Result<()> {
    let required = Required::new(kinds);
    for field in batch.schema().fields() {
        let name = field.name().as_str();
        let array = batch.column_by_name(name).expect("own column");
        if let Some(i) = required.first_missing(name, array) {
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

/// How many rows of each kind `kinds` holds, by the kind's number.
fn count_kinds(kinds: &[Kind]) -> [usize; 16] {
    // Four tables, so that a run of one kind does not wait on its own count.
    let mut tables = [[0usize; 16]; 4];
    let mut chunks = kinds.chunks_exact(4);
    for c in &mut chunks {
        for (table, k) in tables.iter_mut().zip(c) {
            table[*k as usize] += 1;
        }
    }
    for k in chunks.remainder() {
        tables[0][*k as usize] += 1;
    }
    std::array::from_fn(|i| tables.iter().map(|t| t[i]).sum())
}

/// Counts values outside their range in the rows from `first` on (`batch` holds them).
fn count_damage(log: &mut ShardLog, first: usize, batch: &RecordBatch, expect: &Expect) {
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
    for (what, n) in found.into_iter().filter(|f| f.1 > 0) {
        *log.damage.entry(what).or_default() += n;
    }
    count_bad_pages(log, first, batch);
}

/// Counts the photo calls among `batch`'s rows (the log's rows from `first` on) whose page
/// cannot be served, when the batch holds `page` and `page_size`.
fn count_bad_pages(log: &mut ShardLog, first: usize, batch: &RecordBatch) {
    let (Some(page), Some(size)) = (
        batch.column_by_name(col::PAGE),
        batch.column_by_name(col::PAGE_SIZE),
    ) else {
        return;
    };
    let kinds = &log.kind[first..first + batch.num_rows()];
    // Signed 32-bit, or unsigned in a version 1 dataset; both columns of one type, else
    // widened to one.
    let n = match (page.data_type(), size.data_type()) {
        (DataType::Int32, DataType::Int32) => bad_pages::<Int32Type>(kinds, page, size),
        (DataType::UInt32, DataType::UInt32) => bad_pages::<UInt32Type>(kinds, page, size),
        _ => {
            let wide = |a: &ArrayRef| arrow::compute::cast(a, &DataType::Int64);
            match (wide(page), wide(size)) {
                (Ok(page), Ok(size)) => bad_pages::<Int64Type>(kinds, &page, &size),
                _ => 0,
            }
        }
    };
    if n > 0 {
        *log.damage.entry(Damage::BAD_PAGE).or_default() += n;
    }
}

/// The photo calls among `kinds` whose page (`page` × `page_size`, row by row) cannot be
/// served: a size of 0, or a first item at 2^32 or beyond. (A negative page or size is an
/// error of the read, not counted here.)
fn bad_pages<P: ArrowPrimitiveType>(kinds: &[Kind], page: &ArrayRef, size: &ArrayRef) -> u64
where
    P::Native: Into<i64>,
{
    let (page, size) = (
        page.as_primitive::<P>().values(),
        size.as_primitive::<P>().values(),
    );
    kinds
        .iter()
        .zip(page.iter().zip(size))
        .filter(|(k, (p, s))| {
            let (p, s) = ((**p).into() as u32 as u64, (**s).into() as u32 as u64);
            **k == Kind::PhotoApiCall && (s == 0 || p * s >= 1 << 32)
        })
        .count() as u64
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a ArrayRef {
    batch.column_by_name(name).expect("projected column")
}

/// Appends the events of a record batch from a stream to `log` (the live replayer's shards
/// and the Arrow stream a detector follows): the same decoding as a file's, with the checks a
/// file passed when it was opened made on every batch, since a stream has no footer or
/// checksum. Every column of the contract, of its type; enum values the contract knows; a
/// value wherever the event's kind needs one.
///
/// # Errors
/// A message naming the column, and the event (or, without an id, the row) that breaks it.
pub fn append_stream(b: &RecordBatch, log: &mut ShardLog) -> std::result::Result<(), String> {
    for field in events_schema().fields() {
        let name = field.name();
        let Some(array) = b.column_by_name(name) else {
            return Err(format!("column `{name}` is missing"));
        };
        if !compatible(name, field.data_type(), array.data_type()) {
            return Err(format!(
                "column `{name}` is {}, not {}",
                array.data_type(),
                field.data_type()
            ));
        }
    }
    // Without an id, a time and a kind the event cannot even be named: its row is.
    for name in [col::EVENT_ID, col::TS, col::KIND] {
        let array = column(b, name);
        if array.null_count() == 0 {
            continue;
        }
        if let Some(i) = (0..array.len()).find(|&i| array.is_null(i)) {
            return Err(format!(
                "row {i} of a batch has no `{name}`, which every event needs"
            ));
        }
    }
    let start = log.len();
    append(log, b, Path::new("the stream"), None).map_err(|e| match e {
        Error::Schema {
            column, problem, ..
        } => format!("column `{column}` {problem} (the values are listed in data/README.md)"),
        e => e.to_string(),
    })?;
    let kinds = &log.kind[start..];
    let required = Required::new(kinds);
    for field in b.schema().fields() {
        let name = field.name().as_str();
        let array = column(b, name);
        if let Some(i) = required.first_missing(name, array) {
            return Err(format!(
                "event {} (`{}`) has no `{name}`, which its kind needs (see data/README.md)",
                log.event_id[start + i],
                kinds[i]
            ));
        }
    }
    Ok(())
}

/// The bug's deploy events of a shard in log order: `(ts, event_id, introduces)`. The bug is
/// active at a position when the last of them before it introduced the bug. Ordinary
/// `deploy` rows are not among them.
pub fn deploys(log: &ShardLog) -> Vec<(i64, u64, bool)> {
    let mut deploys: Vec<(i64, u64, bool)> = (0..log.len())
        .filter(|&i| log.kind[i].is_bug_deploy())
        .map(|i| {
            (
                log.ts[i],
                log.event_id[i],
                log.kind[i] == Kind::BugIntroduced,
            )
        })
        .collect();
    deploys.sort_by_key(|&(ts, id, _)| (ts, id));
    deploys
}

/// Whether the bug is active at log position `(ts, event_id)`, given the shard's deploys.
#[inline]
pub fn bug_active(deploys: &[(i64, u64, bool)], ts: i64, event_id: u64) -> bool {
    let before = deploys.partition_point(|&(t, id, _)| (t, id) < (ts, event_id));
    before > 0 && deploys[before - 1].2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bug_is_active_between_deploys_in_log_order() {
        let deploys = [(100, 1, true), (200, 2, false)];
        assert!(!bug_active(&deploys, 99, 50));
        assert!(
            bug_active(&deploys, 100, 50),
            "same ts, larger id: after the deploy"
        );
        assert!(
            !bug_active(&deploys, 100, 0),
            "same ts, smaller id: before it"
        );
        assert!(bug_active(&deploys, 199, 9));
        assert!(!bug_active(&deploys, 200, 9));
    }
}
