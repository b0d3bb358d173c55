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

use arrow::array::RecordBatch;
use blastradius_analyzer::detect::Row;
use blastradius_dataset::Dataset;
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

/// A shard being read, one batch at a time.
struct Cursor {
    reader: ParquetRecordBatchReader,
    path: PathBuf,
    batch: Vec<Event>,
    /// The batch as the log's reader decodes it, before it becomes `batch`.
    columns: ShardLog,
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
        events_into(&b, &mut self.columns, &mut self.batch).map_err(|message| Error::Input {
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
                columns: ShardLog::default(),
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
