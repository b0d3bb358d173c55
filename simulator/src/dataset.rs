//! The driver: generates shards on worker threads and writes a complete dataset folder,
//! or nothing. Work goes to a hidden sibling folder that is renamed into place at the end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use blastradius_schema::{Kind, SCHEMA_VERSION, path, time::format_utc};
use sha2::{Digest, Sha256};

use crate::calibration::calibration;
use crate::error::{Error, Result};
use crate::manifest::{Counts, FORMAT, Manifest, ScenarioInfo, Window};
use crate::scenario::Scenario;
use crate::shard::{Buffers, ShardData, generate_shard};
use crate::user::World;
pub use crate::write::Codec;
use crate::write::{self, AffectedApp, FileInfo, Provenance};

/// What to generate and where.
#[derive(Clone, Debug)]
pub struct Options {
    pub users: u64,
    pub seed: u64,
    pub scenario: Scenario,
    pub shards: u32,
    /// Write only this shard (`--shard I/N`).
    pub only_shard: Option<u32>,
    pub threads: usize,
    pub out: PathBuf,
    /// Replace an existing dataset at `out`.
    pub force: bool,
    /// How every file's pages are compressed.
    pub compression: Codec,
}

/// Counters a caller can watch while [`generate`] runs on other threads.
#[derive(Debug, Default)]
pub struct Progress {
    pub events: AtomicU64,
    pub shards_done: AtomicU32,
}

/// Users per shard that the default shard count aims at: about 3M events, 200 MB of state.
pub const USERS_PER_SHARD: u64 = 125_000;

/// The default number of shards for `users`: at least 8 (so replay spreads over threads),
/// more for large populations so one shard's memory stays bounded.
pub fn default_shards(users: u64) -> u32 {
    users.div_ceil(USERS_PER_SHARD).max(8).min(users.max(1)) as u32
}

/// What a finished run reports.
#[derive(Debug)]
pub struct Summary {
    pub manifest: Manifest,
    pub out: PathBuf,
}

impl Options {
    /// Checks the options before any work starts.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming the flag and the accepted values.
    pub fn validate(&self) -> Result<()> {
        let invalid = |flag, message: String| Err(Error::InvalidOption { flag, message });
        if self.users == 0 {
            return invalid("--users", "must be at least 1".into());
        }
        if self.users >= 1 << 40 {
            return invalid("--users", "must be below 2^40".into());
        }
        if self.shards == 0 || self.shards as u64 > self.users {
            return invalid(
                "--shards",
                format!(
                    "{} shards for {} users: use 1 to {} shards",
                    self.shards, self.users, self.users
                ),
            );
        }
        if let Some(i) = self.only_shard
            && i >= self.shards
        {
            return invalid(
                "--shard",
                format!(
                    "shard {i}/{n} does not exist: shards are numbered 0 to {}",
                    self.shards - 1,
                    n = self.shards
                ),
            );
        }
        if self.threads == 0 {
            return invalid("--threads", "must be at least 1".into());
        }
        self.scenario.validate().map_err(|message| Error::Scenario {
            origin: self.scenario.name.clone(),
            message,
        })
    }

    /// The command that makes this dataset again (with `--shard` when `with_shard`).
    fn command(&self, scenario_sha: &str, with_shard: bool) -> String {
        let scenario = if crate::scenario::PRESETS.contains(&self.scenario.name.as_str())
            && Scenario::preset(&self.scenario.name).ok().as_ref() == Some(&self.scenario)
        {
            self.scenario.name.clone()
        } else {
            format!("FILE.toml (sha256 {scenario_sha}, the manifest's scenario.toml)")
        };
        let mut c = format!(
            "blastradius generate --users {} --seed {} --scenario {} --shards {} --compression {}",
            self.users,
            self.seed,
            scenario,
            self.shards,
            self.compression.as_str()
        );
        if let Some(i) = self.only_shard.filter(|_| with_shard) {
            c.push_str(&format!(" --shard {i}/{}", self.shards));
        }
        c
    }
}

/// Refuses to replace anything but a dataset (or an empty folder), even with `--force`.
fn check_out(out: &Path, force: bool) -> Result<()> {
    if !out.exists() {
        return Ok(());
    }
    if !force {
        return Err(Error::OutputExists { path: out.into() });
    }
    let is_dataset = out.join(path::MANIFEST).is_file();
    let is_empty = out.is_dir() && out.read_dir().map_err(Error::io(out))?.next().is_none();
    if !(is_dataset || is_empty) {
        return Err(Error::InvalidOption {
            flag: "--out",
            message: format!(
                "{} exists and is not a blastradius dataset; --force only replaces datasets, so choose another --out",
                out.display()
            ),
        });
    }
    Ok(())
}

/// The hidden sibling folder a run writes into before renaming it to `out`.
fn staging_dir(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dataset".into());
    out.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

struct ShardResult {
    index: u32,
    files: Vec<FileInfo>,
    counts: Counts,
    /// Per app: distinct users and exposures in this shard (users belong to one shard, so
    /// these add up exactly across shards).
    per_app: BTreeMap<u32, (u64, u64)>,
}

/// Generates the dataset described by `options`.
///
/// # Errors
/// Invalid options, an existing output without `force`, or any I/O failure; on error the
/// staging folder is removed and `out` is left as it was.
pub fn generate(options: &Options, progress: &Progress) -> Result<Summary> {
    options.validate()?;
    let manifest = write_staged(&options.out, options.force, |staging| {
        write_dataset(options, staging, progress)
    })?;
    Ok(Summary {
        manifest,
        out: options.out.clone(),
    })
}

/// Runs `write` into a hidden staging folder beside `out`, then puts the result in place of
/// `out`. On error the staging folder is removed and `out` is left as it was; a replaced
/// dataset steps aside until the new one is in place, so a failed rename loses neither.
pub(crate) fn write_staged<T>(
    out: &Path,
    force: bool,
    write: impl FnOnce(&Path) -> Result<T>,
) -> Result<T> {
    check_out(out, force)?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(Error::io(&parent))?;
    let staging = staging_dir(out);
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(Error::io(&staging))?;
    }
    std::fs::create_dir(&staging).map_err(Error::io(&staging))?;
    let result = write(&staging).and_then(|value| {
        let backup = staging.with_extension("replaced");
        let replacing = out.exists();
        if replacing {
            std::fs::rename(out, &backup).map_err(Error::io(out))?;
        }
        if let Err(e) = std::fs::rename(&staging, out) {
            if replacing {
                let _ = std::fs::rename(&backup, out);
            }
            return Err(Error::io(out)(e));
        }
        if replacing {
            std::fs::remove_dir_all(&backup).map_err(Error::io(&backup))?;
        }
        Ok(value)
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

fn write_dataset(options: &Options, root: &Path, progress: &Progress) -> Result<Manifest> {
    let scenario_toml = options.scenario.to_toml();
    let scenario_sha = write::hex(&Sha256::digest(scenario_toml.as_bytes()));
    let world = World::new(options.scenario.clone(), options.seed);
    let provenance = |shard: Option<u32>| {
        let mut kv = vec![
            (
                "blastradius.version".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            ),
            (
                "blastradius.schema_version".into(),
                SCHEMA_VERSION.to_string(),
            ),
            // The full run's command: a shard made alone must carry the same bytes.
            (
                "blastradius.command".into(),
                options.command(&scenario_sha, false),
            ),
            ("blastradius.seed".into(), options.seed.to_string()),
            ("blastradius.users".into(), options.users.to_string()),
            ("blastradius.scenario".into(), options.scenario.name.clone()),
            ("blastradius.scenario_sha256".into(), scenario_sha.clone()),
            ("blastradius.scenario_toml".into(), scenario_toml.clone()),
        ];
        if let Some(i) = shard {
            kv.push((
                "blastradius.shard".into(),
                format!("{i}/{}", options.shards),
            ));
        }
        Provenance {
            metadata: kv,
            codec: options.compression,
        }
    };

    let mut files = vec![
        write::write_providers(root, &world.catalog, &provenance(None))?,
        write::write_apps(root, &world.catalog, &provenance(None))?,
    ];
    let todo: Vec<u32> = match options.only_shard {
        Some(i) => vec![i],
        None => (0..options.shards).collect(),
    };
    let next = AtomicU32::new(0);
    let failed = AtomicBool::new(false);
    let results = Mutex::new(Vec::<Result<ShardResult>>::new());
    std::thread::scope(|scope| {
        for _ in 0..options.threads.min(todo.len()) {
            scope.spawn(|| {
                let mut buffers = Buffers::default();
                while !failed.load(Ordering::Relaxed) {
                    let Some(&index) = todo.get(next.fetch_add(1, Ordering::Relaxed) as usize)
                    else {
                        break;
                    };
                    let generated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        generate_shard(
                            &world,
                            options.users,
                            options.shards,
                            index,
                            &progress.events,
                            &mut buffers,
                        )
                    }));
                    // A panic in the model becomes an error, so the staging folder is removed.
                    let result = match generated {
                        Ok(data) => {
                            let result = write_shard(root, &data, &provenance(Some(index)));
                            buffers.recycle(data);
                            result
                        }
                        Err(panic) => Err(Error::Internal(format!(
                            "shard {index}: {}",
                            panic
                                .downcast_ref::<String>()
                                .map(String::as_str)
                                .or_else(|| panic.downcast_ref::<&str>().copied())
                                .unwrap_or("the generator panicked")
                        ))),
                    };
                    failed.fetch_or(result.is_err(), Ordering::Relaxed);
                    progress.shards_done.fetch_add(1, Ordering::Relaxed);
                    results
                        .lock()
                        .expect("no worker panics while holding the lock")
                        .push(result);
                }
            });
        }
    });
    let mut shards = results
        .into_inner()
        .expect("workers finished")
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    shards.sort_by_key(|s| s.index);

    let mut counts = Counts::default();
    let mut per_app: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    for shard in &shards {
        add_counts(&mut counts, &shard.counts);
        for (&app, &(users, photos)) in &shard.per_app {
            let entry = per_app.entry(app).or_default();
            entry.0 += users;
            entry.1 += photos;
        }
        files.extend(shard.files.iter().cloned());
    }
    let affected_apps: Vec<AffectedApp> = per_app
        .iter()
        .map(|(&app_id, &(users, photos))| AffectedApp {
            app_id,
            provider_id: world.catalog.provider_of(app_id),
            users,
            photos,
        })
        .collect();
    counts.providers = world.catalog.providers.len() as u64;
    counts.photo_apps = world.catalog.photo_apps as u64;
    counts.partner_apps = (world.catalog.apps.len() as u32 - world.catalog.photo_apps) as u64;
    counts.affected_apps = affected_apps.len() as u64;
    let mut providers: Vec<u32> = affected_apps.iter().map(|a| a.provider_id).collect();
    providers.dedup();
    providers.sort_unstable();
    providers.dedup();
    counts.affected_providers = providers.len() as u64;
    // The aggregate over apps needs every shard, so a one-shard run leaves it out.
    if options.only_shard.is_none() {
        files.push(write::write_affected_apps(
            root,
            &affected_apps,
            &provenance(None),
        )?);
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));

    let t = world.timeline;
    let manifest = Manifest {
        format: FORMAT.into(),
        schema_version: SCHEMA_VERSION,
        generator: format!("blastradius {}", env!("CARGO_PKG_VERSION")),
        command: options.command(&scenario_sha, true),
        scenario: ScenarioInfo {
            name: options.scenario.name.clone(),
            sha256: scenario_sha.clone(),
            toml: scenario_toml.clone(),
        },
        seed: options.seed,
        users: options.users,
        shards: options.shards,
        only_shard: options.only_shard,
        complete: options.only_shard.is_none(),
        compression: options.compression,
        period: Window {
            start: format_utc(t.start),
            end: format_utc(t.end),
        },
        bug_window: Window {
            start: format_utc(t.bug_introduced),
            end: format_utc(t.bug_fixed),
        },
        calibration: calibration(&options.scenario, &counts),
        counts,
        files,
        perturbation: None,
    };
    let manifest_path = root.join(path::MANIFEST);
    std::fs::write(&manifest_path, manifest.to_json()).map_err(Error::io(&manifest_path))?;
    Ok(manifest)
}

fn add_counts(total: &mut Counts, shard: &Counts) {
    total.events += shard.events;
    for (k, v) in &shard.events_by_kind {
        *total.events_by_kind.entry(k.clone()).or_default() += v;
    }
    for (k, v) in &shard.photo_calls_by_status {
        *total.photo_calls_by_status.entry(*k).or_default() += v;
    }
    for (k, v) in &shard.message_calls_by_status {
        *total.message_calls_by_status.entry(*k).or_default() += v;
    }
    total.users += shard.users;
    total.exposures += shard.exposures;
    total.affected_users += shard.affected_users;
    total.message_violations += shard.message_violations;
}

fn write_shard(root: &Path, data: &ShardData, provenance: &Provenance) -> Result<ShardResult> {
    let i = data.index;
    let files = vec![
        write::write_events(root, i, &data.events, provenance)?,
        write::write_users(root, i, &data.users, provenance)?,
        write::write_exposures(root, i, &data.exposures, provenance)?,
        write::write_affected_users(root, i, &data.affected_users, provenance)?,
        write::write_violations(root, i, &data.violations, provenance)?,
    ];
    let mut by_kind = [0u64; 10];
    let mut counts = Counts::default();
    for e in &data.events {
        by_kind[e.kind as usize] += 1;
        match e.kind {
            Kind::PhotoApiCall => *counts.photo_calls_by_status.entry(e.status).or_default() += 1,
            Kind::MessageApiCall => {
                *counts.message_calls_by_status.entry(e.status).or_default() += 1
            }
            _ => {}
        }
    }
    counts.events = data.events.len() as u64;
    counts.events_by_kind = Kind::ALL
        .iter()
        .map(|k| (k.as_str().to_string(), by_kind[*k as usize]))
        .collect();
    counts.users = data.users.len() as u64;
    counts.exposures = data.exposures.len() as u64;
    counts.affected_users = data.affected_users.len() as u64;
    counts.message_violations = data.violations.len() as u64;
    let mut per_app: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    for user in data.exposures.chunk_by(|a, b| a.user_id == b.user_id) {
        for app in user.chunk_by(|a, b| a.app_id == b.app_id) {
            let entry = per_app.entry(app[0].app_id).or_default();
            entry.0 += 1;
            entry.1 += app.len() as u64;
        }
    }
    Ok(ShardResult {
        index: i,
        files,
        counts,
        per_app,
    })
}
