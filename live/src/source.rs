//! The event log as one stream: every shard merged in log order `(ts, event_id)`, the deploy
//! events (which every shard carries) once, optionally only a slice of time.
//!
//! Shards are read batch by batch, so memory follows the number of shards, not their size.
//! Each file is checked against its checksum before it is streamed.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int8Type, TimestampMicrosecondType, UInt16Type, UInt32Type, UInt64Type};
use blastradius_analyzer::detect::Row;
use blastradius_dataset::Dataset;
use blastradius_dataset::log::Required;
use blastradius_schema::{Action, Kind, Scope, Surface, col, path};
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

/// A shard being read, one batch at a time.
struct Cursor {
    reader: ParquetRecordBatchReader,
    path: PathBuf,
    batch: Vec<Event>,
    at: usize,
}

impl Cursor {
    fn head(&self) -> Option<&Event> {
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
        self.batch = events(&b).map_err(|message| Error::Input {
            path: self.path.clone(),
            message,
        })?;
        self.at = 0;
        Ok(true)
    }
}

/// The dataset's log in log order.
pub struct Merged {
    cursors: Vec<Cursor>,
    heads: BinaryHeap<Reverse<(i64, u64, usize)>>,
    deploys_sent: HashSet<u64>,
    from: Option<i64>,
    until: Option<i64>,
    /// Events the whole dataset holds (the deploys counted once per shard).
    pub events_in_files: u64,
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

/// Values of the enum column `name` of `b`, nulls as `fallback` (see [`check_required`]); a
/// value the contract does not know, on any row, is an error naming it.
fn names<T: Copy>(
    b: &RecordBatch,
    ids: &[u64],
    name: &str,
    parse: fn(&str) -> Option<T>,
    fallback: T,
) -> Result<Vec<T>, String> {
    let d = b
        .column_by_name(name)
        .ok_or_else(|| format!("column `{name}` is missing"))?
        .as_dictionary_opt::<Int8Type>()
        .ok_or_else(|| format!("column `{name}` is not a string dictionary"))?;
    let v = d
        .values()
        .as_string_opt::<i32>()
        .ok_or_else(|| format!("column `{name}` is not a dictionary of strings"))?;
    // Indexed by the key's byte, so that any key maps without a bounds check; a key with
    // no known value behind it maps to `None`.
    let mut lookup = [None; 256];
    for (i, slot) in lookup.iter_mut().enumerate().take(v.len().min(128)) {
        *slot = parse(v.value(i));
    }
    let keys = d.keys();
    let value = |i: usize| lookup[keys.values()[i] as u8 as usize];
    let mut out = Vec::with_capacity(keys.len());
    let mut unknown = false;
    if keys.null_count() == 0 {
        out.extend(keys.values().iter().map(|&k| {
            let v = lookup[k as u8 as usize];
            unknown |= v.is_none();
            v.unwrap_or(fallback)
        }));
    } else {
        out.extend((0..keys.len()).map(|i| match keys.is_valid(i) {
            true => {
                unknown |= value(i).is_none();
                value(i).unwrap_or(fallback)
            }
            false => fallback,
        }));
    }
    // Only a batch with an unknown value is looked at again, to name it.
    let first_unknown = || (0..keys.len()).find(|&i| keys.is_valid(i) && value(i).is_none());
    if let Some(i) = unknown.then(first_unknown).flatten() {
        let k = keys.values()[i];
        return Err(match usize::try_from(k).ok().filter(|&k| k < v.len()) {
            Some(k) => format!(
                "event {} has the unknown {name} `{}` (the values are listed in data/README.md)",
                ids[i],
                v.value(k)
            ),
            None => format!(
                "event {}: `{name}` holds a key outside its dictionary",
                ids[i]
            ),
        });
    }
    Ok(out)
}

/// Fails on a null where the event's kind says the column applies: it would read as 0, and
/// a null `user_id` would hand the event to user 0 (the file reader's check, [`Required`]).
fn check_required(b: &RecordBatch, kinds: &[Kind], ids: &[u64]) -> Result<(), String> {
    let required = Required::new(kinds);
    for field in b.schema().fields() {
        let name = field.name().as_str();
        let array = b.column_by_name(name).expect("own column");
        if let Some(i) = required.first_missing(name, array) {
            // Without an id or a kind the event cannot be named: its row is.
            return Err(match name {
                col::EVENT_ID | col::TS | col::KIND => {
                    format!("row {i} of a batch has no `{name}`, which every event needs")
                }
                _ => format!(
                    "event {} (`{}`) has no `{name}`, which its kind needs (see data/README.md)",
                    ids[i], kinds[i]
                ),
            });
        }
    }
    Ok(())
}

/// The events of a record batch of the log.
///
/// # Errors
/// A message naming the column when the batch is not the events schema: a missing column or
/// one of another type, a value the contract does not know, or a null where the event's
/// kind needs a value.
pub fn events(b: &RecordBatch) -> Result<Vec<Event>, String> {
    let c = |name: &str| {
        b.column_by_name(name)
            .ok_or_else(|| format!("column `{name}` is missing"))
    };
    let u64s = |name: &str| -> Result<Vec<u64>, String> {
        Ok(c(name)?
            .as_primitive_opt::<UInt64Type>()
            .ok_or_else(|| format!("column `{name}` is not UInt64"))?
            .values()
            .to_vec())
    };
    let u32s = |name: &str| -> Result<Vec<u32>, String> {
        Ok(c(name)?
            .as_primitive_opt::<UInt32Type>()
            .ok_or_else(|| format!("column `{name}` is not UInt32"))?
            .values()
            .to_vec())
    };
    let (ids, users, photos) = (
        u64s(col::EVENT_ID)?,
        u64s(col::USER_ID)?,
        u64s(col::PHOTO_ID)?,
    );
    let (apps, pages, sizes, items) = (
        u32s(col::APP_ID)?,
        u32s(col::PAGE)?,
        u32s(col::PAGE_SIZE)?,
        u32s(col::ITEMS_RETURNED)?,
    );
    let ts = c(col::TS)?
        .as_primitive_opt::<TimestampMicrosecondType>()
        .ok_or("column `ts` is not a timestamp")?
        .values()
        .to_vec();
    let status = c(col::STATUS)?
        .as_primitive_opt::<UInt16Type>()
        .ok_or("column `status` is not UInt16")?
        .values()
        .to_vec();
    let kinds = names(b, &ids, col::KIND, Kind::parse, Kind::UserRegistered)?;
    check_required(b, &kinds, &ids)?;
    let surfaces = names(b, &ids, col::SURFACE, Surface::parse, Surface::Timeline)?;
    let scopes = names(b, &ids, col::SCOPE, Scope::parse, Scope::UserPhotos)?;
    let actions = names(b, &ids, col::ACTION, Action::parse, Action::Read)?;
    Ok((0..b.num_rows())
        .map(|i| Event {
            row: Row {
                event_id: ids[i],
                ts: ts[i],
                kind: kinds[i],
                user_id: users[i],
                app_id: apps[i],
                photo_id: photos[i],
                surface: surfaces[i],
                scope: scopes[i],
                action: actions[i],
                status: status[i],
                page: pages[i],
                page_size: sizes[i],
            },
            items_returned: items[i],
        })
        .collect())
}

impl Merged {
    /// Opens every events shard of `dataset`, each checked against its checksum first; only
    /// events with `from <= ts < until` are streamed (the deploys always are).
    ///
    /// # Errors
    /// A shard that cannot be read or is damaged.
    pub fn open(dataset: &Dataset, from: Option<i64>, until: Option<i64>) -> Result<Self, Error> {
        let mut cursors = Vec::new();
        let mut events_in_files = 0;
        for entry in dataset.parts(path::EVENTS_DIR) {
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
                at: 0,
            };
            cursor.advance_first()?;
            cursors.push(cursor);
        }
        let mut heads = BinaryHeap::new();
        for (k, c) in cursors.iter().enumerate() {
            if let Some(e) = c.head() {
                heads.push(Reverse((e.row.ts, e.row.event_id, k)));
            }
        }
        Ok(Merged {
            cursors,
            heads,
            deploys_sent: HashSet::new(),
            from,
            until,
            events_in_files,
            skipped: Arc::default(),
        })
    }

    /// The next event in log order, or `None` at the end.
    ///
    /// # Errors
    /// A batch that cannot be read.
    pub fn next_event(&mut self) -> Result<Option<Event>, Error> {
        while let Some(Reverse((_, _, k))) = self.heads.pop() {
            let cursor = &mut self.cursors[k];
            let event = *cursor.head().expect("a head was pushed");
            cursor.advance()?;
            if let Some(e) = cursor.head() {
                self.heads.push(Reverse((e.row.ts, e.row.event_id, k)));
            }
            let row = &event.row;
            if row.kind.is_system() {
                if self.deploys_sent.insert(row.event_id) {
                    return Ok(Some(event));
                }
                self.skipped
                    .repeated_deploys
                    .fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if self.from.is_some_and(|f| row.ts < f) || self.until.is_some_and(|u| row.ts >= u) {
                self.skipped.outside_slice.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            return Ok(Some(event));
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
