//! Opens a dataset folder: the manifest, its schema version, and every file it lists.
//!
//! Nothing is taken on trust: every path must stay inside the folder, every listed file must
//! be there with its size, the folder may hold no shard the manifest does not list, and
//! every file is checked against its checksum as it is read (see [`Dataset::read`]).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use blastradius_schema::{path, time::parse_utc};
use bytes::Bytes;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::file::metadata::ParquetMetaDataReader;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::manifest::{FileInfo, Manifest, hex};

/// An opened dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub root: PathBuf,
    pub manifest: Manifest,
}

/// Folders that hold one Parquet part per shard.
const SHARDED: &[&str] = &[
    path::EVENTS_DIR,
    path::USERS_DIR,
    path::EXPOSURES_DIR,
    path::AFFECTED_USERS_DIR,
    path::MESSAGE_VIOLATIONS_DIR,
    path::ACCESS_DIR,
    path::FRIENDSHIPS_DIR,
    path::STOLEN_TOKENS_DIR,
    path::VIEW_AS_USERS_DIR,
];

/// The tables only a View-As world has (its manifest counts `access_events`).
const VIEW_AS_TABLES: &[&str] = &[
    path::ACCESS_DIR,
    path::FRIENDSHIPS_DIR,
    path::STOLEN_TOKENS_DIR,
    path::VIEW_AS_USERS_DIR,
];

/// The oldest time a log may hold: the history before a period reaches back at most 100
/// years (the scenario's limit).
const HISTORY_US: i64 = 36_500 * blastradius_schema::time::DAY;

impl Dataset {
    /// Opens `root`, checking the manifest, that every listed file exists inside `root` with
    /// its size, and that the folders hold exactly the shards the manifest lists.
    ///
    /// # Errors
    /// A missing or unreadable manifest, another schema version, a path that leaves the
    /// folder, a missing or resized file, a shard the manifest does not list, or a shard
    /// count that disagrees with the manifest.
    pub fn open(root: &Path) -> Result<Self> {
        let manifest_path = root.join(path::MANIFEST);
        if root.is_file() {
            return Err(Error::dataset(
                root,
                "is a file, not a dataset folder; give the folder `blastradius generate` wrote",
            ));
        }
        if !root.is_dir() {
            return Err(Error::dataset(
                root,
                "no such dataset folder; give the folder `blastradius generate` wrote",
            ));
        }
        let manifest = Manifest::load(root)?;
        for f in &manifest.files {
            let p = blastradius_safefs::confined(root, &f.path)
                .map_err(|m| Error::dataset(&manifest_path, m))?;
            let meta = std::fs::metadata(&p).map_err(|e| {
                Error::dataset(
                    &p,
                    format!(
                        "listed in the manifest but unreadable ({e}); restore it or regenerate the dataset"
                    ),
                )
            })?;
            if meta.len() != f.bytes {
                return Err(Error::dataset(
                    &p,
                    format!(
                        "{} bytes but the manifest says {}: the file is truncated or replaced",
                        meta.len(),
                        f.bytes
                    ),
                ));
            }
        }
        let dataset = Dataset {
            root: root.to_path_buf(),
            manifest,
        };
        dataset.check_folders()?;
        dataset.check_shards()?;
        dataset.check_rows()?;
        Ok(dataset)
    }

    /// Every folder of shards holds only the parts the manifest lists.
    fn check_folders(&self) -> Result<()> {
        for dir in SHARDED {
            let folder = self.root.join(dir);
            let Ok(entries) = std::fs::read_dir(&folder) else {
                continue;
            };
            let listed: Vec<&str> = self.parts(dir).iter().map(|f| f.path.as_str()).collect();
            let mut names: Vec<String> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.') && n.ends_with(".parquet"))
                .collect();
            names.sort();
            for name in names {
                let relative = format!("{dir}/{name}");
                if !listed.contains(&relative.as_str()) {
                    return Err(Error::dataset(
                        folder.join(&name),
                        "is in the dataset folder but not in its manifest (a shard of another \
                         run, or one the manifest lost); move it out, or regenerate the dataset",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The manifest lists each file once, one events part per shard it declares (none of
    /// them empty), and so for the users and, unless split off, every truth table: a part
    /// lost together with its line in the manifest would otherwise go unseen.
    fn check_shards(&self) -> Result<()> {
        let m = &self.manifest;
        let manifest = self.root.join(path::MANIFEST);
        let mut seen = std::collections::HashSet::new();
        if let Some(twice) = m.files.iter().find(|f| !seen.insert(f.path.as_str())) {
            return Err(Error::dataset(
                &manifest,
                format!(
                    "lists {} twice; the manifest is damaged: regenerate the dataset",
                    twice.path
                ),
            ));
        }
        let truth = [
            path::EXPOSURES_DIR,
            path::AFFECTED_USERS_DIR,
            path::MESSAGE_VIOLATIONS_DIR,
            path::STOLEN_TOKENS_DIR,
            path::VIEW_AS_USERS_DIR,
        ];
        let has_truth = truth.iter().any(|dir| !self.parts(dir).is_empty());
        let view_as = m.counts.access_events.is_some();
        for dir in SHARDED {
            if truth.contains(dir) && !has_truth {
                continue; // split off into an answer key
            }
            if VIEW_AS_TABLES.contains(dir) && !view_as {
                if let Some(f) = self.parts(dir).first() {
                    return Err(Error::dataset(
                        &manifest,
                        format!(
                            "lists {} but counts no access events, as only a View-As world's manifest does; the manifest is damaged: regenerate the dataset",
                            f.path
                        ),
                    ));
                }
                continue;
            }
            if *dir == path::USERS_DIR && self.parts(dir).is_empty() {
                continue; // a dataset of an older layout
            }
            self.check_parts(dir)?;
        }
        let parts = self.parts(path::EVENTS_DIR);
        if let Some(empty) = parts.iter().find(|f| f.rows == 0) {
            return Err(Error::dataset(
                self.root.join(&empty.path),
                "holds no rows; every events shard holds at least the deploy events, so the \
                 shard is damaged: regenerate the dataset",
            ));
        }
        Ok(())
    }

    /// Each listed Parquet file's footer holds the rows the manifest lists for it, and the
    /// manifest's totals are its files': a manifest remade to match an edited file, but not
    /// its totals (or the other way round), is found before any figure is made. Footers
    /// only: a few small reads a file.
    fn check_rows(&self) -> Result<()> {
        let manifest = self.root.join(path::MANIFEST);
        for f in self
            .manifest
            .files
            .iter()
            .filter(|f| f.path.ends_with(".parquet"))
        {
            let p = self.root.join(&f.path);
            let file = std::fs::File::open(&p).map_err(Error::io(&p))?;
            let meta = undamaged(&p, || {
                ParquetMetaDataReader::new()
                    .parse_and_finish(&file)
                    .map_err(Error::parquet(&p))
            })?;
            let rows = meta.file_metadata().num_rows() as u64;
            if rows != f.rows {
                return Err(Error::dataset(
                    &p,
                    format!(
                        "holds {rows} rows but the manifest says {}: the file was replaced or the manifest edited; regenerate the dataset",
                        f.rows
                    ),
                ));
            }
        }
        let m = &self.manifest;
        let sum = |dir: &str| self.parts(dir).iter().map(|f| f.rows).sum::<u64>();
        let events = sum(path::EVENTS_DIR);
        if events != m.counts.events {
            return Err(Error::dataset(
                &manifest,
                format!(
                    "counts {} events but its events files hold {events} rows: the manifest was edited; regenerate the dataset",
                    m.counts.events
                ),
            ));
        }
        if let Some(access) = m.counts.access_events {
            let rows = sum(path::ACCESS_DIR);
            if rows != access {
                return Err(Error::dataset(
                    &manifest,
                    format!(
                        "counts {access} access events but its access files hold {rows} rows: the manifest was edited; regenerate the dataset"
                    ),
                ));
            }
        }
        let users = sum(path::USERS_DIR);
        if !self.parts(path::USERS_DIR).is_empty() && users != m.counts.users {
            return Err(Error::dataset(
                &manifest,
                format!(
                    "counts {} users but its users files hold {users} rows: the manifest was edited; regenerate the dataset",
                    m.counts.users
                ),
            ));
        }
        Ok(())
    }

    /// The parts of the sharded table in `dir` are exactly one per declared shard.
    fn check_parts(&self, dir: &str) -> Result<()> {
        let m = &self.manifest;
        let expected: Vec<String> = match (m.only_shard, m.shards) {
            (_, 0) => return Ok(()), // a manifest from before the count was recorded
            (Some(i), _) => vec![format!("{dir}/{}", path::part(i))],
            (None, n) => (0..n).map(|i| format!("{dir}/{}", path::part(i))).collect(),
        };
        let listed: Vec<String> = self.parts(dir).iter().map(|f| f.path.clone()).collect();
        let table = dir.trim_start_matches("truth/");
        if let Some(missing) = expected.iter().find(|e| !listed.contains(e)) {
            return Err(Error::dataset(
                self.root.join(path::MANIFEST),
                format!(
                    "declares {} {table} shard(s) but does not list {missing}; the dataset is \
                     incomplete: regenerate it, or merge its parts",
                    expected.len()
                ),
            ));
        }
        if let Some(extra) = listed.iter().find(|l| !expected.contains(l)) {
            return Err(Error::dataset(
                self.root.join(path::MANIFEST),
                format!(
                    "lists {extra}, which is not one of its {} declared shard(s)",
                    expected.len()
                ),
            ));
        }
        Ok(())
    }

    /// Checks every file's SHA-256 against the manifest.
    ///
    /// # Errors
    /// The first file whose checksum differs, or that cannot be read.
    pub fn verify(&self) -> Result<()> {
        for f in &self.manifest.files {
            let p = self.root.join(&f.path);
            let mut file = std::fs::File::open(&p).map_err(Error::io(&p))?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = file.read(&mut buf).map_err(Error::io(&p))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            if hex(&hasher.finalize()) != f.sha256 {
                return Err(damaged(&p, "SHA-256"));
            }
        }
        Ok(())
    }

    /// Reads a listed file whole and checks it against the manifest: its size, and its
    /// CRC-32C (or, for datasets without one, its SHA-256). Reading the file once into
    /// memory costs less than the many small reads of decoding it from disk, and the
    /// check then runs over bytes already in cache.
    ///
    /// # Errors
    /// A file that cannot be read, or whose bytes differ from what the manifest recorded.
    pub fn read(&self, entry: &FileInfo) -> Result<Bytes> {
        let mut buffer = Vec::new();
        self.read_into(entry, &mut buffer)?;
        Ok(Bytes::from(buffer))
    }

    /// [`Dataset::read`] into `buffer`, reusing its allocation: a worker that reads shard
    /// after shard then pays for fresh pages once, not once per shard (page faults and
    /// zeroing were a tenth of `exact`'s time with a new buffer per file).
    ///
    /// # Errors
    /// As [`Dataset::read`].
    pub fn read_into(&self, entry: &FileInfo, buffer: &mut Vec<u8>) -> Result<()> {
        read_listed(&self.root, entry, buffer)
    }

    /// A reader of a listed Parquet file, checked by [`Dataset::read`], whose row count must
    /// match the manifest's and whose enum columns decode as dictionaries.
    ///
    /// # Errors
    /// As [`Dataset::read`], a file that is not Parquet, or another row count.
    pub fn reader(&self, entry: &FileInfo) -> Result<ParquetRecordBatchReaderBuilder<Bytes>> {
        let p = self.root.join(&entry.path);
        listed_reader(&p, self.read(entry)?, entry)
    }

    /// The files of a sharded table, in shard order (`events`, `truth/exposures`, ...).
    pub fn parts(&self, dir: &str) -> Vec<&FileInfo> {
        parts_in(&self.manifest.files, dir)
    }

    /// The listed file at `relative`, if any.
    pub fn file(&self, relative: &str) -> Option<&FileInfo> {
        self.manifest.files.iter().find(|f| f.path == relative)
    }

    /// Whether the ground truth is present (a user's own log has none; a blind dataset's
    /// is in its answer key).
    pub fn has_truth(&self) -> bool {
        !self.parts(path::EXPOSURES_DIR).is_empty()
    }

    /// The users the events part `entry` may hold (see [`blastradius_schema::shard_users`]),
    /// when the manifest says how users were split.
    pub fn shard_users(&self, entry: &FileInfo) -> Option<std::ops::Range<u64>> {
        let m = &self.manifest;
        if m.shards == 0 || m.users == 0 {
            return None;
        }
        let name = entry.path.rsplit('/').next()?;
        let index: u32 = name
            .strip_prefix("part-")?
            .strip_suffix(".parquet")?
            .parse()
            .ok()?;
        (index < m.shards).then(|| blastradius_schema::shard_users(m.users, m.shards, index))
    }

    /// The times a log may hold: from 100 years before the period to its end.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let p = &self.manifest.period;
        let (start, end) = (parse_utc(&p.start).ok()?, parse_utc(&p.end).ok()?);
        Some((start.saturating_sub(HISTORY_US), end))
    }
}

/// A reader of `data`, the bytes of the file at `path` that `entry` lists, whose row count
/// must be the listed one.
///
/// # Errors
/// As [`parquet_reader`], or another row count (a replaced file, or an edited manifest).
pub fn listed_reader(
    path: &Path,
    data: Bytes,
    entry: &FileInfo,
) -> Result<ParquetRecordBatchReaderBuilder<Bytes>> {
    let meta = listed_metadata(path, &data, entry)?;
    Ok(ParquetRecordBatchReaderBuilder::new_with_metadata(
        data, meta,
    ))
}

/// The files of the sharded table `dir` among `files` (a dataset's manifest, or an answer
/// key's), in the order listed: those directly under `dir/`.
pub fn parts_in<'a>(files: &'a [FileInfo], dir: &str) -> Vec<&'a FileInfo> {
    let prefix = format!("{dir}/");
    files
        .iter()
        .filter(|f| f.path.starts_with(&prefix) && !f.path[prefix.len()..].contains('/'))
        .collect()
}

/// The metadata of the Parquet file `data`, read as [`parquet_metadata`] does, whose row
/// count must be what the manifest's `entry` says.
pub fn listed_metadata(path: &Path, data: &Bytes, entry: &FileInfo) -> Result<ArrowReaderMetadata> {
    let meta = parquet_metadata(path, data)?;
    let rows = meta.metadata().file_metadata().num_rows() as u64;
    if rows != entry.rows {
        return Err(Error::dataset(
            path,
            format!(
                "holds {rows} rows but the manifest says {}: the file was replaced or the manifest edited; regenerate the dataset",
                entry.rows
            ),
        ));
    }
    Ok(meta)
}

/// A Parquet reader over `data` (the file at `path`, not listed in a manifest) whose enum
/// columns decode as dictionaries (see [`blastradius_schema::reading`]).
///
/// # Errors
/// When `data` is not Parquet.
pub fn parquet_reader(path: &Path, data: Bytes) -> Result<ParquetRecordBatchReaderBuilder<Bytes>> {
    let meta = parquet_metadata(path, &data)?;
    Ok(ParquetRecordBatchReaderBuilder::new_with_metadata(
        data, meta,
    ))
}

/// The metadata of the Parquet file `data`, its schema read with the contract's types (see
/// [`blastradius_schema::reading`]).
pub fn parquet_metadata(path: &Path, data: &Bytes) -> Result<ArrowReaderMetadata> {
    let perr = Error::parquet(path);
    let plain = ArrowReaderMetadata::load(data, ArrowReaderOptions::new()).map_err(&perr)?;
    let hint = Arc::new(blastradius_schema::reading(plain.schema()));
    ArrowReaderMetadata::try_new(
        plain.metadata().clone(),
        ArrowReaderOptions::new().with_schema(hint),
    )
    .map_err(&perr)
}

fn damaged(path: &Path, sum: &str) -> Error {
    Error::dataset(
        path,
        format!(
            "its {sum} differs from the manifest: the file is damaged (a changed byte) or \
             replaced; restore it from a copy, or regenerate the dataset"
        ),
    )
}

/// Reads the file `entry` lists under `root` whole into `buffer` and checks it: its size, and
/// its CRC-32C (or, for files listed without one, its SHA-256). Used for a dataset's files
/// and an answer key's alike.
///
/// # Errors
/// A file that cannot be read, or whose bytes differ from what the listing recorded.
pub fn read_listed(root: &Path, entry: &FileInfo, buffer: &mut Vec<u8>) -> Result<()> {
    let p = root.join(&entry.path);
    buffer.clear();
    buffer.reserve(entry.bytes as usize);
    std::fs::File::open(&p)
        .and_then(|mut f| f.read_to_end(buffer))
        .map_err(Error::io(&p))?;
    let data: &[u8] = buffer;
    if data.len() as u64 != entry.bytes {
        return Err(Error::dataset(
            &p,
            format!(
                "{} bytes but the manifest says {}: the file is truncated or replaced",
                data.len(),
                entry.bytes
            ),
        ));
    }
    match &entry.crc32c {
        Some(expected) => {
            if format!("{:08x}", crc32c::crc32c(data)) != *expected {
                return Err(damaged(&p, "CRC-32C"));
            }
        }
        None => {
            if hex(&Sha256::digest(data)) != entry.sha256 {
                return Err(damaged(&p, "SHA-256"));
            }
        }
    }
    Ok(())
}

/// Runs `read` over the file at `path`, turning a panic of the Parquet decoder into an error
/// naming the file. A file whose checksum matches can still be damaged (a manifest remade
/// after the damage), and arrow-rs panics on some damaged pages instead of returning an
/// error (an out-of-range bit offset in definition levels, found by
/// `analyzer/tests/properties.rs`); no caller should abort for it. A caller that runs more
/// than the reader inside (a detector over the rows) gets the same words for its panic.
pub fn undamaged<T, E: From<Error>>(
    path: &Path,
    read: impl FnOnce() -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("unknown");
        Err(Error::dataset(
            path,
            format!("cannot be read ({why}); the file is damaged: regenerate it"),
        )
        .into())
    })
}
