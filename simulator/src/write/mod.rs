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
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub use arrays::events_batch;
pub use tables::*;

/// Rows per row group in the event log: large enough for efficient scans, small enough that
/// a reader can spread one shard's row groups over threads.
pub const EVENTS_ROW_GROUP: usize = 1 << 20;

/// What a written file is: its path inside the dataset, rows, bytes, SHA-256, and a CRC-32C
/// that readers check on every read (about 14 GB/s here, against 2 GB/s for SHA-256).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FileInfo {
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
    /// Absent in datasets written before readers checked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<String>,
}

impl FileInfo {
    /// Checks the file at `path`, the one this entry describes, against it: its size, then
    /// its SHA-256. `fix` ends the message (what to regenerate).
    ///
    /// # Errors
    /// [`Error::Input`] naming the file, what differs and `fix`; [`Error::Io`] when it cannot
    /// be read.
    pub fn check(&self, path: &Path, fix: &str) -> Result<()> {
        let damaged = |what: String| Error::Input {
            path: path.to_path_buf(),
            message: format!("{what}: the file is damaged or was replaced; {fix}"),
        };
        let mut file = File::open(path).map_err(Error::io(path))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut bytes = 0u64;
        loop {
            let n = std::io::Read::read(&mut file, &mut buf).map_err(Error::io(path))?;
            if n == 0 {
                break;
            }
            bytes += n as u64;
            hasher.update(&buf[..n]);
        }
        if bytes != self.bytes {
            return Err(damaged(format!(
                "{bytes} bytes where the manifest says {}",
                self.bytes
            )));
        }
        if hex(&hasher.finalize()) != self.sha256 {
            return Err(damaged("its SHA-256 differs from the manifest's".into()));
        }
        Ok(())
    }
}

/// What every file of one run carries: key-value pairs for its footer (where it came from),
/// and the codec its pages are compressed with.
#[derive(Clone, Debug)]
pub struct Provenance {
    pub metadata: Vec<(String, String)>,
    pub codec: Codec,
}

/// How a dataset's Parquet pages are compressed. Readers find the codec in each file, so
/// this changes only size and speed, never content.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Codec {
    /// LZ4 (Parquet's `LZ4_RAW`): `exact` replays the default dataset in 0.62 s against 0.70 s
    /// for zstd (whole process), files about 15% larger.
    #[default]
    Lz4,
    /// zstd level 1: the smallest files.
    Zstd,
    /// Snappy: the codec every Parquet reader has, old ones included.
    Snappy,
    /// No compression.
    #[serde(rename = "none")]
    Uncompressed,
}

impl Codec {
    /// Every codec, in the order `--compression` lists them.
    pub const ALL: [Codec; 4] = [Codec::Lz4, Codec::Zstd, Codec::Snappy, Codec::Uncompressed];

    /// The codec named `name` (as [`Codec::as_str`] names it).
    pub fn parse(name: &str) -> Option<Codec> {
        Codec::ALL.into_iter().find(|c| c.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Codec::Lz4 => "lz4",
            Codec::Zstd => "zstd",
            Codec::Snappy => "snappy",
            Codec::Uncompressed => "none",
        }
    }

    /// Bytes per event of a dataset in this codec, measured on the default scenario at 1M
    /// users (the whole folder over 18.93M events).
    pub fn bytes_per_event(self) -> f64 {
        match self {
            Codec::Lz4 => 17.6,
            Codec::Zstd => 15.4,
            Codec::Snappy => 17.6,
            Codec::Uncompressed => 17.9,
        }
    }

    /// Whether the writer runs the codec on delta-packed columns: zstd shrinks the packed
    /// event and photo ids by 1.3×, while lz4 and snappy find nothing in them (1.00×), so
    /// under those the packed columns are stored as encoded (sizes by column:
    /// `benches/runs/2026-11-26-2c-24g/generate/generate.md`).
    pub fn compresses_packed_columns(self) -> bool {
        matches!(self, Codec::Zstd)
    }

    /// The Parquet codec.
    pub fn compression(self) -> Compression {
        match self {
            Codec::Lz4 => Compression::LZ4_RAW,
            Codec::Zstd => Compression::ZSTD(ZstdLevel::try_new(1).expect("valid level")),
            Codec::Snappy => Compression::SNAPPY,
            Codec::Uncompressed => Compression::UNCOMPRESSED,
        }
    }
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

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
