//! `blastradius merge`: puts the parts of one run, each written alone by `generate --shard
//! I/N` (on as many machines), back together into the dataset the single run writes.
//!
//! The parts must be of one run (same generator, schema, seed, users, shard count, scenario
//! and compression), each a different shard, and all of them there. Their shard files are
//! linked into the new folder (copied only across filesystems); the per-app truth, the
//! counts, the calibration and the manifest are rebuilt with the single run's own code, so
//! the merged folder equals the single run's byte for byte. Parts are only read.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use blastradius_schema::arrays::id_column;
use blastradius_schema::{SCHEMA_VERSION, col, path};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::generate::{Options, add_counts, assemble, write_staged};
use crate::scenario::Scenario;
use crate::user::World;
use blastradius_dataset::{Counts, Dataset, FileInfo, Manifest};

/// What a merge did.
#[derive(Debug)]
pub struct Merged {
    pub manifest: Manifest,
    /// Files linked into the new folder, and files copied (the part was on another
    /// filesystem).
    pub linked: usize,
    pub copied: usize,
}

fn bad(part: &Path, message: impl Into<String>) -> Error {
    Error::Input {
        path: part.to_path_buf(),
        message: message.into(),
    }
}

/// Reads the manifest of the part at `dir`, refusing what is not a part.
fn read_part(dir: &Path) -> Result<Manifest> {
    let p = dir.join(path::MANIFEST);
    let m = Manifest::load(dir)?;
    let ours = format!("blastradius {}", env!("CARGO_PKG_VERSION"));
    if m.generator != ours {
        return Err(bad(
            &p,
            format!(
                "made by {} but this is {ours}: merge with the version that generated the parts",
                m.generator
            ),
        ));
    }
    if m.schema_version != SCHEMA_VERSION {
        return Err(bad(
            &p,
            format!(
                "is of schema version {} but this build writes version {SCHEMA_VERSION}: generate the parts again with this build",
                m.schema_version
            ),
        ));
    }
    if m.only_shard.is_none() {
        return Err(bad(
            dir,
            "is a whole dataset, not a part: merge takes the folders `generate --shard I/N` writes",
        ));
    }
    if m.perturbation.is_some() {
        return Err(bad(
            dir,
            "is a damaged copy (`perturb`); merge the parts as generated, then perturb the whole",
        ));
    }
    if m.truth_key.is_some() || m.seed.is_none() {
        return Err(bad(
            dir,
            "has its truth split off (--split-truth); merge parts generated with their truth",
        ));
    }
    Ok(m)
}

/// A part's seed as the refusal names it.
fn seed_text(seed: Option<u64>) -> String {
    seed.map_or_else(|| "none (a blind dataset)".into(), |s| s.to_string())
}

/// The first field in which `m` differs from `first`, as (name, theirs, ours).
fn differs(first: &Manifest, m: &Manifest) -> Option<(&'static str, String, String)> {
    let fields: [(&'static str, String, String); 7] = [
        ("generator", first.generator.clone(), m.generator.clone()),
        ("seed", seed_text(first.seed), seed_text(m.seed)),
        ("users", first.users.to_string(), m.users.to_string()),
        (
            "discovery",
            first.discovery.to_string(),
            m.discovery.to_string(),
        ),
        ("shards", first.shards.to_string(), m.shards.to_string()),
        (
            "scenario",
            format!("{} (sha256 {})", first.scenario.name, first.scenario.sha256),
            format!("{} (sha256 {})", m.scenario.name, m.scenario.sha256),
        ),
        (
            "compression",
            first.compression.as_str().to_string(),
            m.compression.as_str().to_string(),
        ),
    ];
    fields.into_iter().find(|(_, a, b)| a != b)
}

/// Checks that `parts` are every shard of one run; returns their manifests in shard order.
fn check_parts(parts: &[PathBuf]) -> Result<Vec<(PathBuf, Manifest)>> {
    if parts.is_empty() {
        return Err(Error::InvalidOption {
            flag: "PART",
            message: "give the part folders to merge".into(),
        });
    }
    let mut read = Vec::new();
    for dir in parts {
        read.push((dir.clone(), read_part(dir)?));
    }
    let (first_dir, first) = (&read[0].0, &read[0].1);
    for (dir, m) in &read[1..] {
        if let Some((field, theirs, ours)) = differs(first, m) {
            return Err(bad(
                dir,
                format!(
                    "is a part of another run: its {field} is {ours}, but {} has {theirs}",
                    first_dir.display()
                ),
            ));
        }
    }
    let n = first.shards;
    let mut by_index: BTreeMap<u32, &PathBuf> = BTreeMap::new();
    for (dir, m) in &read {
        let i = m.only_shard.expect("checked: a part");
        if let Some(other) = by_index.insert(i, dir) {
            return Err(bad(
                dir,
                format!(
                    "is shard {i}/{n}, and so is {}: give each shard once",
                    other.display()
                ),
            ));
        }
    }
    let missing: Vec<String> = (0..n)
        .filter(|i| !by_index.contains_key(i))
        .map(|i| format!("{i}/{n}"))
        .collect();
    if !missing.is_empty() {
        let shown = missing
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let more = if missing.len() > 10 {
            format!(" and {} more", missing.len() - 10)
        } else {
            String::new()
        };
        return Err(Error::InvalidOption {
            flag: "PART",
            message: format!(
                "{} of {n} shards are missing ({shown}{more}); generate them with `{} --shard I/{n}` and give every part",
                missing.len(),
                first
                    .command
                    .rsplit_once(" --shard ")
                    .map_or(first.command.as_str(), |(run, _)| run)
            ),
        });
    }
    read.sort_by_key(|(_, m)| m.only_shard);
    Ok(read)
}

/// Every file a part lists, checked present with its size; the shared tables (providers,
/// apps) must be the same in every part.
fn check_files(parts: &[(PathBuf, Manifest)]) -> Result<()> {
    let shared: HashMap<&str, &FileInfo> = parts[0]
        .1
        .files
        .iter()
        .filter(|f| !f.path.contains('/'))
        .map(|f| (f.path.as_str(), f))
        .collect();
    for (dir, m) in parts {
        for f in &m.files {
            let p = blastradius_safefs::confined(dir, &f.path).map_err(|e| bad(dir, e))?;
            let len = std::fs::metadata(&p)
                .map_err(|e| bad(&p, format!("listed in the part's manifest but unreadable ({e}); regenerate the part")))?
                .len();
            if len != f.bytes {
                return Err(bad(
                    &p,
                    format!(
                        "{len} bytes but the part's manifest says {}: truncated or replaced; regenerate the part",
                        f.bytes
                    ),
                ));
            }
            if let Some(s) = shared.get(f.path.as_str())
                && s.sha256 != f.sha256
            {
                return Err(bad(
                    &p,
                    format!(
                        "differs from {} of {}: the parts are not of one run",
                        f.path,
                        parts[0].0.display()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Checks every listed file of every part against its size and SHA-256.
fn verify(parts: &[(PathBuf, Manifest)]) -> Result<()> {
    for (dir, m) in parts {
        for f in &m.files {
            f.check(&dir.join(&f.path), "regenerate the part")?;
        }
    }
    Ok(())
}

/// Links `from` to `to`, or copies it when a link cannot be made (another filesystem, or
/// links not allowed). Returns whether it copied.
fn link_or_copy(from: &Path, to: &Path) -> Result<bool> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
    }
    match std::fs::hard_link(from, to) {
        Ok(()) => Ok(false),
        Err(_) => {
            std::fs::copy(from, to).map_err(Error::io(to))?;
            Ok(true)
        }
    }
}

/// Per app of a part's `truth/exposures` file: (distinct users, exposures).
fn per_app_of(file: &Path, into: &mut BTreeMap<u32, (u64, u64)>) -> Result<()> {
    let perr = |error| Error::Parquet {
        path: file.to_path_buf(),
        error,
    };
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(File::open(file).map_err(Error::io(file))?)
            .map_err(perr)?;
    let schema = builder.parquet_schema();
    let wanted: Vec<usize> = [col::APP_ID, col::USER_ID]
        .iter()
        .map(|name| {
            (0..schema.num_columns())
                .find(|&i| schema.column(i).name() == *name)
                .ok_or_else(|| bad(file, format!("has no `{name}` column")))
        })
        .collect::<Result<_>>()?;
    let mask = ProjectionMask::leaves(schema, wanted);
    let mut pairs: HashMap<(u32, u64), u64> = HashMap::new();
    for batch in builder.with_projection(mask).build().map_err(perr)? {
        let batch = batch.map_err(|e| bad(file, format!("cannot read it ({e})")))?;
        // Signed in this schema version, unsigned in version 1; a missing column, a null or a
        // value out of range is refused.
        let wrong = |name: &str| bad(file, format!("`{name}` is not a column of ids"));
        let column = |name: &str| batch.column_by_name(name).ok_or_else(|| wrong(name));
        let apps = id_column::<u32>(column(col::APP_ID)?).ok_or_else(|| wrong(col::APP_ID))?;
        let users = id_column::<u64>(column(col::USER_ID)?).ok_or_else(|| wrong(col::USER_ID))?;
        for (app, user) in apps.iter().zip(users.iter()) {
            *pairs.entry((*app, *user)).or_default() += 1;
        }
    }
    for ((app, _), photos) in pairs {
        let e = into.entry(app).or_default();
        e.0 += 1;
        e.1 += photos;
    }
    Ok(())
}

/// Merges the parts at `parts` into a dataset at `out` (replaced only with `force`);
/// `verify` checks every part file's SHA-256 first.
///
/// # Errors
/// A part that is missing, repeated, of another run, damaged or unreadable; an output that
/// may not be written. On error nothing is left at `out`.
pub fn merge(parts: &[PathBuf], out: &Path, force: bool, verify_files: bool) -> Result<Merged> {
    let parts = check_parts(parts)?;
    check_files(&parts)?;
    // Then each part's shape as every reader checks it (its one shard listed once, no
    // unlisted shard in its folders).
    for (dir, _) in &parts {
        Dataset::open(dir)?;
    }
    if verify_files {
        verify(&parts)?;
    }
    let first = &parts[0].1;
    let scenario = Scenario::from_toml(&first.scenario.toml, "the parts' manifest")?;
    let sha = blastradius_dataset::manifest::hex(&Sha256::digest(scenario.to_toml().as_bytes()));
    if sha != first.scenario.sha256 {
        return Err(bad(
            &parts[0].0.join(path::MANIFEST),
            "its scenario does not match its own checksum: the manifest was edited; regenerate the part",
        ));
    }
    // Every part was checked to name its seed.
    let seed = first.seed.unwrap_or_default();
    let options = Options {
        users: first.users,
        seed,
        scenario: scenario.clone(),
        shards: first.shards,
        only_shard: None,
        threads: 1,
        out: out.to_path_buf(),
        force,
        compression: first.compression,
        split_truth: None,
        discovery: first.discovery,
    };
    let world = World::new(scenario, seed);
    let inputs: Vec<&Path> = parts.iter().map(|(d, _)| d.as_path()).collect();
    write_staged(out, force, "--out", &inputs, |root| {
        let (mut linked, mut copied) = (0, 0);
        let mut files = Vec::new();
        let mut counts = Counts::default();
        let mut per_app = BTreeMap::new();
        for (k, (dir, m)) in parts.iter().enumerate() {
            add_counts(&mut counts, &m.counts);
            for f in &m.files {
                // The shared tables once, from the first part.
                if !f.path.contains('/') && k > 0 {
                    continue;
                }
                if link_or_copy(&dir.join(&f.path), &root.join(&f.path))? {
                    copied += 1;
                } else {
                    linked += 1;
                }
                if f.path.starts_with(&format!("{}/", path::EXPOSURES_DIR)) {
                    per_app_of(&dir.join(&f.path), &mut per_app)?;
                }
                files.push(f.clone());
            }
        }
        let manifest = assemble(&options, &world, root, counts, &per_app, files)?;
        Ok(Merged {
            manifest,
            linked,
            copied,
        })
    })
}
