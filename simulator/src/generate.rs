//! The driver: generates shards on worker threads and writes a complete dataset folder,
//! or nothing. Work goes to a hidden sibling folder that is renamed into place at the end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use blastradius_safefs::{Kind as StageKind, Stage};
use blastradius_schema::{AccessKind, Kind, SCHEMA_VERSION, Tier, path, time::format_utc};
use sha2::{Digest, Sha256};

use crate::calibration::calibration;
use crate::error::{Error, Result};
use crate::scenario::Scenario;
use crate::shard::{Buffers, ShardData, generate_shard};
use crate::user::World;
use crate::write::{self, AffectedApp, Provenance};
pub use blastradius_dataset::Codec;
use blastradius_dataset::manifest::hex;
use blastradius_dataset::{
    Counts, FORMAT, FileInfo, KEY_FORMAT, KeyManifest, Manifest, ScenarioInfo, TruthCounts,
    TruthKey, Window,
};

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
    /// Write the truth apart, to this answer-key folder, leaving a blind dataset.
    pub split_truth: Option<PathBuf>,
    /// Write the bug's two deploys as ordinary `deploy` rows, for discovery detectors.
    pub discovery: bool,
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

/// What a run will cost, estimated before it starts from a sample of its own users.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    pub events: u64,
    /// Bytes of Parquet on disk.
    pub bytes: u64,
    /// Peak memory of the run: every worker holds one shard.
    pub memory: u64,
    /// Events of the largest shard.
    pub events_per_shard: u64,
}

/// Users drawn to estimate a run: enough for a stable mean, cheap enough to be free.
const SAMPLE_USERS: u64 = 2_000;
/// Bytes of memory per event of the shard a worker holds: the event buffer and its sorted
/// copy (56 bytes each), the sort's 8-byte keys, plus the Parquet encoder's buffers
/// (measured: 630 MiB peak for two workers of 2.4M events each).
pub const MEMORY_PER_EVENT: u64 = 128;
/// Memory besides the shards: the catalog, the truth and the writer (measured).
const MEMORY_BASE: u64 = 64 << 20;
/// Bytes on disk each shard costs whatever its events: five Parquet files (events, users,
/// three truth tables), each with its schema, footer and provenance (measured: 17.9 KB a
/// shard, 400 users in 400 shards against 1).
const BYTES_PER_SHARD: u64 = 18 << 10;
/// Bytes on disk per row of `friendships/` (measured: 2.8 at 1M users, zstd).
const BYTES_PER_FRIENDSHIP: f64 = 3.0;
/// Bytes of memory per friendship row a worker holds (two ids).
const MEMORY_PER_FRIENDSHIP: u64 = 16;

impl Options {
    /// Estimates events, bytes and memory by generating a sample of the run's users.
    pub fn estimate(&self) -> Estimate {
        let world = World::new(self.scenario.clone(), self.seed);
        let n = self.users.min(SAMPLE_USERS);
        let mut scratch = crate::user::Scratch::default();
        let mut sink = crate::user::UserSink::default();
        for k in 0..n {
            // Spread over the whole id range: activity does not depend on the id, but the
            // sample should not lean on one corner of it.
            let user = (self.users as u128 * k as u128 / n as u128) as u64;
            crate::user::generate_user(&world, user, &mut scratch, &mut sink);
        }
        let per_user = sink.events.len() as f64 / n.max(1) as f64;
        let users_per_shard = self.users.div_ceil(self.shards as u64);
        // A View-As world's access log and friendships, from its rates (a sample would need
        // the friend graph): per user a few logins with their reads, an upload now and then,
        // a look-up, the attack's rows (at most 8 per token taken); and about the mean
        // weight in friends (an upper bound: near pairs saturate).
        let (access, friends) = self.scenario.view_as.as_ref().map_or((0.0, 0.0), |v| {
            let (b, a, g) = (&v.background, &v.attack, &v.graph);
            let attack = if self.scenario.incident {
                8.0 * a.stolen_share
            } else {
                0.0
            };
            let access =
                b.logins_mean * (1.0 + b.reads_mean + b.uploader_share) + b.view_as_share + attack;
            let friends = (g.median_degree * (g.degree_sigma * g.degree_sigma / 2.0).exp())
                .min(g.max_degree as f64)
                .min(4.0 * g.reach as f64);
            (access, friends)
        });
        let events = ((per_user + access) * self.users as f64) as u64 + 2 * self.shards as u64;
        let events_per_shard = ((per_user + access) * users_per_shard as f64) as u64 + 2;
        let workers = self.threads.min(self.shards as usize).max(1) as u64;
        Estimate {
            events,
            bytes: (events as f64 * self.compression.bytes_per_event()) as u64
                + (friends * self.users as f64 * BYTES_PER_FRIENDSHIP) as u64
                + self.shards as u64 * BYTES_PER_SHARD,
            memory: MEMORY_BASE
                + workers
                    * (events_per_shard * MEMORY_PER_EVENT
                        + (friends * users_per_shard as f64) as u64 * MEMORY_PER_FRIENDSHIP),
            events_per_shard,
        }
    }
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

    /// The schema version of the dataset at `out`, when it has a readable manifest.
    pub fn existing_schema_version(&self) -> Option<u32> {
        Manifest::load(&self.out).ok().map(|m| m.schema_version)
    }

    /// What differs between the dataset at `out` and the one these options make: `None`
    /// when there is no manifest there; an empty list when it was made by this version with
    /// these parameters and is whole (its files' presence and sizes are then the opener's to
    /// check), whatever its schema version (the same world: see
    /// [`Self::existing_schema_version`]). `run` reuses such a dataset rather than generating
    /// it again.
    pub fn differences_from_existing(&self) -> Option<Vec<String>> {
        if !self.out.join(path::MANIFEST).is_file() {
            return None;
        }
        let Ok(m) = Manifest::load(&self.out) else {
            return Some(vec![
                "its manifest is of another version of blastradius, or damaged".into(),
            ]);
        };
        let version = format!("blastradius {}", env!("CARGO_PKG_VERSION"));
        let mut differ = Vec::new();
        let mut check = |same: bool, what: String| {
            if !same {
                differ.push(what);
            }
        };
        check(
            m.complete,
            "it is incomplete (one shard of a split run)".into(),
        );
        check(
            m.perturbation.is_none(),
            "it is a damaged copy (made by perturb)".into(),
        );
        check(
            m.truth_key.is_none(),
            "its truth is split off (blind)".into(),
        );
        check(m.generator == version, format!("made by {}", m.generator));
        check(m.users == self.users, format!("{} users", m.users));
        check(
            m.seed == Some(self.seed),
            format!("seed {}", m.seed.map_or("none".into(), |s| s.to_string())),
        );
        check(m.shards == self.shards, format!("{} shards", m.shards));
        check(
            m.compression == self.compression,
            format!("compression {}", m.compression.as_str()),
        );
        check(
            m.scenario.toml == self.scenario.to_toml(),
            match (m.control, self.scenario.incident) {
                (true, true) => format!("a control world of {}", m.scenario.name),
                (false, false) => format!("{} with its incident", m.scenario.name),
                _ => format!("another scenario ({})", m.scenario.name),
            },
        );
        Some(differ)
    }

    /// The command that makes this dataset again (with `--shard` when `with_shard`). For a
    /// blind dataset (`split_truth`), the same without `--seed`: the seed would rebuild the
    /// key, so only the key names it (see [`Self::command_with_seed`]).
    fn command(&self, scenario_sha: &str, with_shard: bool) -> String {
        match &self.split_truth {
            Some(_) => {
                self.command_with_seed(scenario_sha, with_shard)
                    .replace(&format!(" --seed {}", self.seed), "")
                    + " --split-truth KEY (the seed is in the answer key only)"
            }
            None => self.command_with_seed(scenario_sha, with_shard),
        }
    }

    /// The command that makes this dataset again, seed included.
    fn command_with_seed(&self, scenario_sha: &str, with_shard: bool) -> String {
        // A preset's control world is the preset with --no-incident.
        let with_incident = Scenario {
            incident: true,
            ..self.scenario.clone()
        };
        let control = if self.scenario.incident {
            ""
        } else {
            " --no-incident"
        };
        let scenario = if crate::scenario::PRESETS.contains(&self.scenario.name.as_str())
            && Scenario::preset(&self.scenario.name).ok().as_ref() == Some(&with_incident)
        {
            format!("{}{control}", self.scenario.name)
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
        if self.discovery {
            c.push_str(" --discovery");
        }
        if let Some(i) = self.only_shard.filter(|_| with_shard) {
            c.push_str(&format!(" --shard {i}/{}", self.shards));
        }
        c
    }
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
    if let Some(key) = &options.split_truth {
        check_key_target(key, &options.out)?;
    }
    let key = match &options.split_truth {
        Some(k) => Some(Stage::begin(
            k,
            StageKind::Output("generate --split-truth"),
            options.force,
            "--split-truth",
            &[&options.out],
        )?),
        None => None,
    };
    let stage = Stage::begin(
        &options.out,
        StageKind::Dataset,
        options.force,
        "--out",
        &[],
    )?;
    for stale in &stage.stale_removed {
        eprintln!(
            "note: removed {}, left by a run that was killed",
            stale.display()
        );
    }
    let mut manifest = write_dataset(options, stage.path(), progress)?;
    if let Some(key) = key {
        let full_command = options.command_with_seed(&manifest.scenario.sha256, true);
        split_truth(
            stage.path(),
            key.path(),
            &mut manifest,
            options.seed,
            full_command,
        )?;
        // The key first: a key without its dataset is harmless, a blind dataset without
        // its key cannot be scored. So the dataset is checked first: once the old key is
        // replaced, the dataset's commit should not fail for a file found in the old one.
        stage.recheck()?;
        key.commit()?;
    }
    stage.commit()?;
    Ok(Summary {
        manifest,
        out: options.out.clone(),
    })
}

/// Refuses a `--split-truth` folder that holds the answer key of another dataset than the
/// one at `out` (which `--force` replaces): `--force` replaces what `--out` names, and a key
/// is its dataset's, so another dataset's key is never written over.
///
/// # Errors
/// [`Error::InvalidOption`] naming `--split-truth`, when the folder holds another's key.
pub fn check_key_target(key: &Path, out: &Path) -> Result<()> {
    let Ok(text) = std::fs::read(key.join(path::KEY)) else {
        return Ok(()); // no key there: the output checks decide
    };
    let sha = hex(&Sha256::digest(&text));
    let ours = std::fs::read(out.join(path::MANIFEST))
        .ok()
        .and_then(|m| serde_json::from_slice::<Manifest>(&m).ok())
        .and_then(|m| m.truth_key)
        .is_some_and(|k| k.sha256 == sha);
    if ours {
        return Ok(());
    }
    Err(Error::InvalidOption {
        flag: "--split-truth",
        message: format!(
            "{} holds the answer key of another dataset than {} (its key.json is not the one that dataset names); --force replaces only the dataset at --out and its own key: give a new folder for the key",
            key.display(),
            out.display()
        ),
    })
}

/// Moves `truth/` from the dataset at `root` to the key folder `key`, writes the key's
/// manifest, and records its checksum in the dataset's.
fn split_truth(
    root: &Path,
    key: &Path,
    manifest: &mut Manifest,
    seed: u64,
    command: String,
) -> Result<()> {
    let (from, to) = (root.join(path::TRUTH_DIR), key.join(path::TRUTH_DIR));
    if std::fs::rename(&from, &to).is_err() {
        // Another filesystem: copy, then remove.
        copy_tree(&from, &to)?;
        std::fs::remove_dir_all(&from).map_err(Error::io(&from))?;
    }
    let prefix = format!("{}/", path::TRUTH_DIR);
    let (truth, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut manifest.files)
        .into_iter()
        .partition(|f| f.path.starts_with(&prefix));
    manifest.files = rest;
    let c = &manifest.counts;
    let key_manifest = KeyManifest {
        format: KEY_FORMAT.into(),
        world: blastradius_schema::world_id(
            &manifest.generator,
            seed,
            manifest.users,
            &manifest.scenario.sha256,
        ),
        seed,
        dataset_command: command,
        counts: TruthCounts::of(c),
        calibration: std::mem::take(&mut manifest.calibration),
        files: truth,
    };
    // Blind: nothing from which the key could be read off or made again.
    manifest.seed = None;
    manifest.counts.blind();
    let text = serde_json::to_string_pretty(&key_manifest).expect("serializes") + "\n";
    let key_json = key.join(path::KEY);
    std::fs::write(&key_json, &text).map_err(Error::io(&key_json))?;
    manifest.truth_key = Some(TruthKey {
        sha256: hex(&Sha256::digest(text.as_bytes())),
    });
    let m = root.join(path::MANIFEST);
    std::fs::write(&m, manifest.to_json()).map_err(Error::io(&m))?;
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(Error::io(to))?;
    for entry in std::fs::read_dir(from).map_err(Error::io(from))? {
        let entry = entry.map_err(Error::io(from))?;
        let (a, b) = (entry.path(), to.join(entry.file_name()));
        if a.is_dir() {
            copy_tree(&a, &b)?;
        } else {
            std::fs::copy(&a, &b).map_err(Error::io(&a))?;
        }
    }
    Ok(())
}

/// Runs `write` into a hidden staging folder beside `out`, then puts the result in place of
/// `out` (see [`blastradius_safefs::Stage`]): absent, or a dataset replaced with `force`.
/// On error the staging folder is removed and `out` is left as it was. `inputs` are folders
/// this run reads, which `out` may not overlap.
pub(crate) fn write_staged<T>(
    out: &Path,
    force: bool,
    flag: &'static str,
    inputs: &[&Path],
    write: impl FnOnce(&Path) -> Result<T>,
) -> Result<T> {
    let stage = Stage::begin(out, StageKind::Dataset, force, flag, inputs)?;
    for stale in &stage.stale_removed {
        eprintln!(
            "note: removed {}, left by a run that was killed",
            stale.display()
        );
    }
    let value = write(stage.path())?;
    stage.commit()?;
    Ok(value)
}

/// What every file of the run `options` describes carries in its footer.
fn provenance(
    options: &Options,
    scenario_toml: &str,
    scenario_sha: &str,
    shard: Option<u32>,
) -> Provenance {
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
            options.command(scenario_sha, false),
        ),
        ("blastradius.users".into(), options.users.to_string()),
        ("blastradius.scenario".into(), options.scenario.name.clone()),
        (
            "blastradius.scenario_sha256".into(),
            scenario_sha.to_string(),
        ),
        (
            "blastradius.scenario_toml".into(),
            scenario_toml.to_string(),
        ),
    ];
    // A blind dataset's files name the world but not its seed, which would rebuild the key.
    if options.split_truth.is_none() {
        kv.insert(3, ("blastradius.seed".into(), options.seed.to_string()));
    }
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
}

fn write_dataset(options: &Options, root: &Path, progress: &Progress) -> Result<Manifest> {
    let scenario_toml = options.scenario.to_toml();
    let scenario_sha = hex(&Sha256::digest(scenario_toml.as_bytes()));
    let provenance = |shard: Option<u32>| provenance(options, &scenario_toml, &scenario_sha, shard);

    let mut world = World::for_run(options.scenario.clone(), options.seed, options.users);
    world.discovery = options.discovery;
    let mut files = vec![
        write::write_providers(root, &world.catalog, &provenance(None))?,
        write::write_apps(root, &world.catalog, &provenance(None))?,
        write::write_deploys(root, &world.deploys, &provenance(None))?,
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
    assemble(options, &world, root, counts, &per_app, files)
}

/// Completes a dataset at `root` whose shards are written: the per-app truth (a full run
/// only), the manifest's counts, calibration and file list; writes `manifest.json`. Shared
/// by a generating run and by [`crate::merge`], so a merged dataset's manifest is the
/// single run's, byte for byte.
pub(crate) fn assemble(
    options: &Options,
    world: &World,
    root: &Path,
    mut counts: Counts,
    per_app: &BTreeMap<u32, (u64, u64)>,
    mut files: Vec<FileInfo>,
) -> Result<Manifest> {
    let scenario_toml = options.scenario.to_toml();
    let scenario_sha = hex(&Sha256::digest(scenario_toml.as_bytes()));
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
    counts.affected_apps = Some(affected_apps.len() as u64);
    let mut providers: Vec<u32> = affected_apps.iter().map(|a| a.provider_id).collect();
    providers.sort_unstable();
    providers.dedup();
    counts.affected_providers = Some(providers.len() as u64);
    // The aggregate over apps needs every shard, so a one-shard run leaves it out, and with
    // it the bug's deploys (a part's truth holds only its shard's rows; merge writes both).
    if options.only_shard.is_none() {
        let provenance = provenance(options, &scenario_toml, &scenario_sha, None);
        files.push(write::write_affected_apps(
            root,
            &affected_apps,
            &provenance,
        )?);
        files.push(write::write_bug_deploys(root, &world.deploys, &provenance)?);
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
        seed: Some(options.seed),
        users: options.users,
        shards: options.shards,
        only_shard: options.only_shard,
        complete: options.only_shard.is_none(),
        compression: options.compression,
        period: Window {
            start: format_utc(t.start),
            end: format_utc(t.end),
        },
        bug_window: (!options.discovery).then(|| Window {
            start: format_utc(t.bug_introduced),
            end: format_utc(t.bug_fixed),
        }),
        discovery: options.discovery,
        control: !options.scenario.incident,
        // Its rows date the bug window, which a discovery dataset does not say.
        calibration: match options.discovery {
            true => Vec::new(),
            false => calibration(&options.scenario, &counts),
        },
        counts,
        files,
        perturbation: None,
        truth_key: None,
    };
    let manifest_path = root.join(path::MANIFEST);
    std::fs::write(&manifest_path, manifest.to_json()).map_err(Error::io(&manifest_path))?;
    Ok(manifest)
}

pub(crate) fn add_counts(total: &mut Counts, shard: &Counts) {
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
    let add = |a: &mut Option<u64>, b: Option<u64>| {
        *a = match (*a, b) {
            (Some(x), Some(y)) => Some(x + y),
            (x, y) => x.or(y),
        }
    };
    add(&mut total.exposures, shard.exposures);
    add(&mut total.affected_users, shard.affected_users);
    add(&mut total.message_violations, shard.message_violations);
    add(&mut total.access_events, shard.access_events);
    add(&mut total.friendships, shard.friendships);
    add(&mut total.stolen_tokens, shard.stolen_tokens);
    let add_map = |a: &mut Option<BTreeMap<String, u64>>, b: &Option<BTreeMap<String, u64>>| {
        if let Some(b) = b {
            let a = a.get_or_insert_with(BTreeMap::new);
            for (k, v) in b {
                *a.entry(k.clone()).or_default() += v;
            }
        }
    };
    add_map(
        &mut total.access_events_by_kind,
        &shard.access_events_by_kind,
    );
    add_map(
        &mut total.view_as_users_by_tier,
        &shard.view_as_users_by_tier,
    );
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
    let mut files = files;
    let mut counts = Counts::default();
    if let Some(v) = &data.view_as {
        files.extend([
            write::write_access(root, i, &v.access, provenance)?,
            write::write_friendships(root, i, &v.friendships, provenance)?,
            write::write_stolen_tokens(root, i, &v.thefts, provenance)?,
            write::write_view_as_users(root, i, &v.victims, provenance)?,
        ]);
        let mut by_kind: BTreeMap<String, u64> = AccessKind::ALL
            .iter()
            .map(|k| (k.as_str().to_string(), 0))
            .collect();
        for e in &v.access {
            *by_kind.get_mut(e.kind.as_str()).expect("every kind") += 1;
        }
        let mut tiers: BTreeMap<String, u64> = Tier::ALL
            .iter()
            .map(|t| (t.as_str().to_string(), 0))
            .collect();
        for u in &v.victims {
            *tiers.get_mut(u.tier.as_str()).expect("every tier") += 1;
        }
        counts.access_events = Some(v.access.len() as u64);
        counts.access_events_by_kind = Some(by_kind);
        counts.friendships = Some(v.friendships.len() as u64);
        counts.stolen_tokens = Some(v.thefts.len() as u64);
        counts.view_as_users_by_tier = Some(tiers);
    }
    let mut by_kind = [0u64; Kind::ALL.len()];
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
    counts.exposures = Some(data.exposures.len() as u64);
    counts.affected_users = Some(data.affected_users.len() as u64);
    counts.message_violations = Some(data.violations.len() as u64);
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
