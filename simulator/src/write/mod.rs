//! The Arrow/Parquet layer: turns the model's plain structs into the dataset's files.
//!
//! Every file is written through a hashing writer, so its size and SHA-256 are known without
//! reading it back, and carries the provenance of the run in its footer's key-value metadata.

mod arrays;
mod tables;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, SchemaRef};
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::arrow::{ARROW_SCHEMA_META_KEY, ArrowWriter, encode_arrow_schema};
use parquet::basic::{Compression, Encoding};
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use blastradius_dataset::manifest::hex;
use blastradius_dataset::{Codec, FileInfo};

pub use arrays::{access_batch, events_batch};
pub use tables::*;

/// Rows per row group in the event log: large enough for efficient scans, small enough that
/// a reader can spread one shard's row groups over threads.
pub const EVENTS_ROW_GROUP: usize = 1 << 20;

/// What every file of one run carries: key-value pairs for its footer (where it came from),
/// and the codec its pages are compressed with.
#[derive(Clone, Debug)]
pub struct Provenance {
    pub metadata: Vec<(String, String)>,
    pub codec: Codec,
}

/// A writer that hashes and counts what passes through it.
struct Hashing<W: Write> {
    inner: W,
    hasher: Sha256,
    crc: u32,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// How a table is laid out on disk.
pub(crate) struct Layout<'a> {
    /// Low-cardinality columns that benefit from dictionary encoding.
    pub dictionary: &'a [&'a str],
    /// Integer columns stored as deltas, bit-packed: sorted ones (time) become small numbers,
    /// and ids drawn from a narrow range (a shard's users and their events) need far fewer
    /// than 64 bits each.
    pub delta: &'a [&'a str],
    /// Columns (by index) the rows are sorted by, recorded in the row-group metadata.
    pub sorted_by: &'a [usize],
    pub row_group: usize,
}

fn properties(provenance: &Provenance, layout: &Layout, schema: &SchemaRef) -> WriterProperties {
    // The Arrow schema the file declares: enum columns as plain strings (see
    // `blastradius_schema::stored`), written here in place of the writer's own.
    let declared = (
        ARROW_SCHEMA_META_KEY.to_string(),
        encode_arrow_schema(&blastradius_schema::stored(schema)),
    );
    let mut b = WriterProperties::builder()
        .set_compression(provenance.codec.compression())
        .set_max_row_group_row_count(Some(layout.row_group))
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_key_value_metadata(Some(
            std::iter::once(&declared)
                .chain(&provenance.metadata)
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                .collect(),
        ));
    for column in layout.dictionary {
        b = b.set_column_dictionary_enabled(ColumnPath::from(*column), true);
    }
    // Enum columns keep no statistics (min/max, null count): every row group holds nearly
    // all of their few values, so min/max would prune nothing, and arrow-rs computes them
    // string by string (about 2% of a `generate` run).
    for field in schema.fields() {
        if matches!(field.data_type(), DataType::Dictionary(_, v) if **v == DataType::Utf8) {
            b = b.set_column_statistics_enabled(
                ColumnPath::from(field.name().as_str()),
                EnabledStatistics::None,
            );
        }
    }
    for column in layout.delta {
        b = b.set_column_encoding(ColumnPath::from(*column), Encoding::DELTA_BINARY_PACKED);
        if !provenance.codec.compresses_packed_columns() {
            b = b.set_column_compression(ColumnPath::from(*column), Compression::UNCOMPRESSED);
        }
    }
    if !layout.sorted_by.is_empty() {
        b = b.set_sorting_columns(Some(
            layout
                .sorted_by
                .iter()
                .map(|&i| SortingColumn {
                    column_idx: i as i32,
                    descending: false,
                    nulls_first: false,
                })
                .collect(),
        ));
    }
    b.build()
}

/// Writes `batches` of `schema` to `root/relative`, returning what was written.
pub(crate) fn write_parquet(
    root: &Path,
    relative: &str,
    schema: SchemaRef,
    batches: impl IntoIterator<Item = RecordBatch>,
    provenance: &Provenance,
    layout: &Layout,
) -> Result<FileInfo> {
    let path = root.join(relative);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
    }
    let file = File::create(&path).map_err(Error::io(&path))?;
    let sink = Hashing {
        inner: BufWriter::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
        crc: 0,
        bytes: 0,
    };
    let parquet_err = |error| Error::Parquet {
        path: path.clone(),
        error,
    };
    let options = ArrowWriterOptions::new()
        .with_properties(properties(provenance, layout, &schema))
        .with_skip_arrow_metadata(true);
    let mut writer =
        ArrowWriter::try_new_with_options(sink, schema, options).map_err(parquet_err)?;
    let mut rows = 0;
    for batch in batches {
        rows += batch.num_rows() as u64;
        writer.write(&batch).map_err(parquet_err)?;
    }
    let mut sink = writer.into_inner().map_err(parquet_err)?;
    sink.flush().map_err(Error::io(&path))?;
    let file = sink.inner.into_inner().map_err(|e| Error::Io {
        path: path.clone(),
        error: e.into_error(),
    })?;
    file.sync_all().map_err(Error::io(&path))?;
    Ok(FileInfo {
        path: relative.to_string(),
        rows,
        bytes: sink.bytes,
        sha256: hex(&sink.hasher.finalize()),
        crc32c: Some(format!("{:08x}", sink.crc)),
    })
}
