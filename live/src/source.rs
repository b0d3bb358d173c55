//! The event log as one stream: every shard merged in log order `(ts, event_id)`, the deploy
//! events (which every shard carries) once, optionally only a slice of time. In a View-As
//! world the access log's shards are merged in too (data/README §11, §13).
//!
//! Shards are read batch by batch, so memory follows the number of shards, not their size.
//! Each file is checked against its checksum before it is streamed.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::RecordBatch;
use blastradius_analyzer::detect::Row;
use blastradius_dataset::Dataset;
use blastradius_dataset::access::AccessRow;
use blastradius_dataset::log::ShardLog;
use blastradius_schema::path;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};

use crate::Error;

/// One event of the stream: every column of the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub row: Row,
    pub items_returned: u32,
}

/// One row of the stream: an event of the photo log, or a row of a View-As world's access
/// log. Their ids never meet, except the platform's own events, which each log numbers apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item {
    Photo(Event),
    Access(AccessRow),
}

impl Item {
    pub fn ts(&self) -> i64 {
        match self {
            Item::Photo(e) => e.row.ts,
            Item::Access(a) => a.ts,
        }
    }

    pub fn event_id(&self) -> u64 {
        match self {
            Item::Photo(e) => e.row.event_id,
            Item::Access(a) => a.event_id,
        }
    }

    /// The platform's own events (deploys, the token reset), which every shard carries.
    pub fn is_system(&self) -> bool {
        match self {
            Item::Photo(e) => e.row.kind.is_system(),
            Item::Access(a) => a.kind.is_system(),
        }
    }

    /// The account the row belongs to (0 for the platform's own events).
    pub fn user_id(&self) -> u64 {
        match self {
            Item::Photo(e) => e.row.user_id,
            Item::Access(a) => a.user_id,
        }
    }

    /// The photo-log event, if it is one.
    pub fn photo(&self) -> Option<&Event> {
        match self {
            Item::Photo(e) => Some(e),
            Item::Access(_) => None,
        }
    }

    /// The access-log row, if it is one.
    pub fn access(&self) -> Option<&AccessRow> {
        match self {
            Item::Access(a) => Some(a),
            Item::Photo(_) => None,
        }
    }

    /// The row's place in log order `(ts, event_id)`.
    pub fn key(&self) -> (i64, u64) {
        (self.ts(), self.event_id())
    }
}

/// A shard being read, one batch at a time.
struct Cursor {
    reader: ParquetRecordBatchReader,
    path: PathBuf,
    batch: Vec<Item>,
    /// The batch as the log's reader decodes it, before it becomes `batch`.
    columns: ShardLog,
    /// An access-log part (else an events one), and the rows of it read so far.
    access: Option<Vec<AccessRow>>,
    events: Vec<Event>,
    rows_read: usize,
    at: usize,
}

impl Cursor {
    fn head(&self) -> Option<&Item> {
        self.batch.get(self.at)
    }

    /// Moves to the next event, reading the next batch when this one is done.
    fn advance(&mut self) -> Result<(), Error> {
        self.at += 1;
        while self.at >= self.batch.len() {
            if !self.next_batch()? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Reads the next batch into `batch` at position 0; false at the end of the file (the
    /// batch is then left as it was).
    fn next_batch(&mut self) -> Result<bool, Error> {
        let Some(b) = self.reader.next() else {
            return Ok(false);
        };
        let b = b.map_err(|e| Error::Input {
            path: self.path.clone(),
            message: format!("cannot read Parquet ({e})"),
        })?;
        match self.access.as_mut() {
            Some(rows) => {
                rows.clear();
                // The reader's message names the file already.
                blastradius_dataset::access::decode(&self.path, &b, self.rows_read, rows).map_err(
                    |e| {
                        let text = e.to_string();
                        let prefix = format!("{}: ", self.path.display());
                        Error::Input {
                            path: self.path.clone(),
                            message: text.strip_prefix(&prefix).unwrap_or(&text).to_string(),
                        }
                    },
                )?;
                self.batch.clear();
                self.batch.extend(rows.iter().map(|&a| Item::Access(a)));
            }
            None => {
                events_into(&b, &mut self.columns, &mut self.events).map_err(|message| {
                    Error::Input {
                        path: self.path.clone(),
                        message,
                    }
                })?;
                self.batch.clear();
                self.batch
                    .extend(self.events.iter().map(|&e| Item::Photo(e)));
            }
        }
        self.rows_read += b.num_rows();
        self.at = 0;
        Ok(true)
    }
}

/// The dataset's log in log order.
pub struct Merged {
    cursors: Vec<Cursor>,
    heads: BinaryHeap<Reverse<(i64, u64, usize)>>,
    /// The platform's events sent, by log (the access log's or not) and id.
    deploys_sent: HashSet<(bool, u64)>,
    from: Option<i64>,
    until: Option<i64>,
    /// Events the whole dataset holds (the deploys counted once per shard), both logs.
    pub events_in_files: u64,
    /// Whether the stream carries an access log (a View-As world).
    pub access: bool,
    /// Rows passed over so far, readable while another thread merges.
    pub skipped: Arc<Skipped>,
}

/// Rows of the files that are not sent, and why.
#[derive(Debug, Default)]
pub struct Skipped {
    /// A deploy's copies in the second and later shards (each deploy is sent once).
    pub repeated_deploys: AtomicU64,
    /// Events outside `--from`/`--until`.
    pub outside_slice: AtomicU64,
}

/// The events of a record batch of the log (a shard's, or one a replayer sent), decoded and
/// checked by the log's one reader ([`blastradius_dataset::log::append_stream`]).
///
/// # Errors
/// A message naming the column when the batch is not the events schema: a missing column or
/// one of another type, a value the contract does not know, or a null where the event's
/// kind needs a value.
pub fn events(b: &RecordBatch) -> Result<Vec<Event>, String> {
    let mut out = Vec::new();
    events_into(b, &mut ShardLog::default(), &mut out)?;
    Ok(out)
}

/// The rows of a record batch a replayer sent: the events schema's columns alone, or (a
/// View-As world, data/README §11) those and the access log's, each row read by its kind.
///
/// # Errors
/// As [`events`], and for the access rows as the access log's reader refuses a part.
pub fn items(b: &RecordBatch) -> Result<Vec<Item>, String> {
    use arrow::array::{Array, AsArray, BooleanArray};
    use arrow::compute::{cast, filter_record_batch, not};
    use blastradius_schema::{AccessKind, col};
    if b.column_by_name(col::TARGET_ID).is_none() {
        return Ok(events(b)?.into_iter().map(Item::Photo).collect());
    }
    let kind = b
        .column_by_name(col::KIND)
        .ok_or("column `kind` is missing")?;
    // Which rows are of the access log: from the dictionary's values, each parsed once (a
    // sender may also send the kinds as plain strings).
    let is_access: BooleanArray = match kind.as_any_dictionary_opt() {
        Some(d) if d.values().as_string_opt::<i32>().is_some() => {
            let values = d.values().as_string::<i32>();
            let access: Vec<bool> = (0..values.len())
                .map(|k| values.is_valid(k) && AccessKind::parse(values.value(k)).is_some())
                .collect();
            let keys = cast(d.keys(), &arrow::datatypes::DataType::Int64)
                .map_err(|e| format!("column `kind` has keys that are not integers ({e})"))?;
            let keys = keys.as_primitive::<arrow::datatypes::Int64Type>();
            (0..keys.len())
                .map(|i| {
                    Some(keys.is_valid(i) && access.get(keys.value(i) as usize) == Some(&true))
                })
                .collect()
        }
        _ => {
            let text = cast(kind, &arrow::datatypes::DataType::Utf8)
                .map_err(|e| format!("column `kind` is not a string enum ({e})"))?;
            let text = text.as_string::<i32>();
            (0..text.len())
                .map(|i| Some(text.is_valid(i) && AccessKind::parse(text.value(i)).is_some()))
                .collect()
        }
    };
    // Each log's rows as a batch of its own columns (each log's reader passes over the
    // other log's kinds in the dictionary, which its rows do not use).
    let part = |keep: &BooleanArray, names: Vec<String>| -> Result<RecordBatch, String> {
        let rows = filter_record_batch(b, keep).map_err(|e| e.to_string())?;
        let mut fields = Vec::new();
        let mut columns = Vec::new();
        for name in &names {
            let Ok(i) = rows.schema().index_of(name) else {
                return Err(format!("column `{name}` is missing"));
            };
            fields.push(rows.schema().field(i).clone());
            columns.push(rows.column(i).clone());
        }
        RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), columns)
            .map_err(|e| e.to_string())
    };
    let names = |schema: arrow::datatypes::SchemaRef| -> Vec<String> {
        schema.fields().iter().map(|f| f.name().clone()).collect()
    };
    let photo = events(&part(
        &not(&is_access).map_err(|e| e.to_string())?,
        names(blastradius_schema::events_schema()),
    )?)?;
    let mut access = Vec::new();
    blastradius_dataset::access::decode(
        std::path::Path::new("the stream's access-log rows"),
        &part(&is_access, names(blastradius_schema::access_schema()))?,
        0,
        &mut access,
    )
    .map_err(|e| e.to_string())?;
    // Back in the batch's order.
    let (mut photo, mut access) = (photo.into_iter(), access.into_iter());
    Ok((0..b.num_rows())
        .filter_map(|i| match is_access.value(i) {
            true => access.next().map(Item::Access),
            false => photo.next().map(Item::Photo),
        })
        .collect())
}

/// [`events`] into `out`, through `log`: both cleared first, their allocations reused.
fn events_into(b: &RecordBatch, log: &mut ShardLog, out: &mut Vec<Event>) -> Result<(), String> {
    log.clear();
    out.clear();
    blastradius_dataset::log::append_stream(b, log)?;
    out.extend((0..log.len()).map(|i| Event {
        row: Row {
            event_id: log.event_id[i],
            ts: log.ts[i],
            kind: log.kind[i],
            user_id: log.user_id[i],
            app_id: log.app_id[i],
            photo_id: log.photo_id[i],
            surface: log.surface[i],
            scope: log.scope[i],
            action: log.action[i],
            status: log.status[i],
            page: log.page[i],
            page_size: log.page_size[i],
        },
        items_returned: log.items_returned[i],
    }));
    Ok(())
}

impl Merged {
    /// Opens every events shard of `dataset` (and, in a View-As world, every access-log
    /// part), each checked against its checksum first; only events with `from <= ts < until`
    /// are streamed (the platform's own events always are).
    ///
    /// # Errors
    /// A shard that cannot be read or is damaged.
    pub fn open(dataset: &Dataset, from: Option<i64>, until: Option<i64>) -> Result<Self, Error> {
        let mut cursors = Vec::new();
        let mut events_in_files = 0;
        let access = blastradius_dataset::access::has_access_log(dataset);
        let parts = dataset
            .parts(path::EVENTS_DIR)
            .into_iter()
            .map(|e| (e, false));
        let access_parts = dataset
            .parts(path::ACCESS_DIR)
            .into_iter()
            .map(|e| (e, true));
        for (entry, is_access) in parts.chain(access_parts.filter(|_| access)) {
            let p = dataset.root.join(&entry.path);
            // The checksum first; the bytes are then streamed from the file.
            drop(dataset.read(entry)?);
            events_in_files += entry.rows;
            let file = File::open(&p).map_err(|e| Error::Input {
                path: p.clone(),
                message: e.to_string(),
            })?;
            let perr = |e: parquet::errors::ParquetError| Error::Input {
                path: p.clone(),
                message: format!("cannot read Parquet ({e})"),
            };
            let plain =
                ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(perr)?;
            let hint = Arc::new(blastradius_schema::reading(plain.schema()));
            let meta = ArrowReaderMetadata::try_new(
                plain.metadata().clone(),
                ArrowReaderOptions::new().with_schema(hint),
            )
            .map_err(perr)?;
            let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta)
                .with_batch_size(8192)
                .build()
                .map_err(perr)?;
            let mut cursor = Cursor {
                reader,
                path: p,
                batch: Vec::new(),
                columns: ShardLog::default(),
                access: is_access.then(Vec::new),
                events: Vec::new(),
                rows_read: 0,
                at: 0,
            };
            cursor.advance_first()?;
            cursors.push(cursor);
        }
        let mut heads = BinaryHeap::new();
        for (k, c) in cursors.iter().enumerate() {
            if let Some(e) = c.head() {
                heads.push(Reverse((e.ts(), e.event_id(), k)));
            }
        }
        Ok(Merged {
            cursors,
            heads,
            deploys_sent: HashSet::new(),
            from,
            until,
            events_in_files,
            access,
            skipped: Arc::default(),
        })
    }

    /// The end of the slice streamed (`--until`), if any.
    pub fn until(&self) -> Option<i64> {
        self.until
    }

    /// The next row in log order, or `None` at the end.
    ///
    /// # Errors
    /// A batch that cannot be read.
    pub fn next_item(&mut self) -> Result<Option<Item>, Error> {
        while let Some(Reverse((_, _, k))) = self.heads.pop() {
            let cursor = &mut self.cursors[k];
            let item = *cursor.head().expect("a head was pushed");
            cursor.advance()?;
            if let Some(e) = cursor.head() {
                self.heads.push(Reverse((e.ts(), e.event_id(), k)));
            }
            if item.is_system() {
                let log = matches!(item, Item::Access(_));
                if self.deploys_sent.insert((log, item.event_id())) {
                    return Ok(Some(item));
                }
                self.skipped
                    .repeated_deploys
                    .fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let ts = item.ts();
            if self.from.is_some_and(|f| ts < f) || self.until.is_some_and(|u| ts >= u) {
                self.skipped.outside_slice.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            return Ok(Some(item));
        }
        Ok(None)
    }
}

impl Cursor {
    /// Reads the first batch.
    fn advance_first(&mut self) -> Result<(), Error> {
        self.batch.clear();
        while self.batch.is_empty() {
            if !self.next_batch()? {
                break;
            }
        }
        self.at = 0;
        Ok(())
    }
}
