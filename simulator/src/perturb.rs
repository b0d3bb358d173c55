//! `perturb`: rewrites a dataset's event log the way real pipelines damage it.
//!
//! Faults touch user events only: the deploy events that bound the bug window are never
//! dropped, duplicated, skewed or cut (a detector told the wrong window is a different
//! experiment); late delivery may move them as it moves any row. The ground truth is
//! copied unchanged: it is what happened, not what was logged.

use std::path::Path;

use blastradius_schema::{path, time::parse_utc};

use crate::error::{Error, Result};
use crate::event::Event;
use crate::generate::write_staged;
use crate::rng::{between, chance, entity_rng};
use crate::viewas::AccessEvent;
use crate::write::{self, Provenance};
use blastradius_dataset::access::AccessRow;
use blastradius_dataset::log::{EVERY_COLUMN, ShardLog, read_part_into};
use blastradius_dataset::{Dataset, FileInfo, Manifest};

/// Domain of the perturbation streams; the entity is the shard index.
const PERTURB: u64 = 3;
/// Domain of per-app clock offsets; the entity is the app id.
const SKEW: u64 = 4;
/// Domain of the access log's perturbation streams; the entity is the shard index.
const PERTURB_ACCESS: u64 = 5;
/// The largest lateness or clock offset accepted: a year.
const YEAR_US: i64 = 365 * 86_400 * 1_000_000;

pub use blastradius_dataset::perturbation::{Faults, Perturbation, Truncation};

/// Checks every rate and bound of `faults`.
///
/// # Errors
/// [`Error::InvalidOption`] naming the flag.
pub fn validate(faults: &Faults) -> Result<()> {
    for (flag, p) in [("--drop", faults.drop), ("--duplicate", faults.duplicate)] {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::InvalidOption {
                flag,
                message: format!("{p} is not a probability in [0, 1]"),
            });
        }
    }
    for (flag, d) in [("--reorder", faults.reorder_us), ("--skew", faults.skew_us)] {
        if !(0..=YEAR_US).contains(&d) {
            return Err(Error::InvalidOption {
                flag,
                message: "must be between 0 and 365 days".into(),
            });
        }
    }
    if let Some(Truncation::BeforeEnd(d)) = faults.truncation
        && !(0..=100 * YEAR_US).contains(&d)
    {
        return Err(Error::InvalidOption {
            flag: "--truncate",
            message: "must be between 0 and 100 years before the end of the period".into(),
        });
    }
    Ok(())
}

/// The rows of `log`, read with [`EVERY_COLUMN`], as the model's events (the columns are
/// freed as soon as they are converted).
fn events_of(log: ShardLog) -> Vec<Event> {
    (0..log.len())
        .map(|i| Event {
            ts: log.ts[i],
            event_id: log.event_id[i],
            user_id: log.user_id[i],
            photo_id: log.photo_id[i],
            app_id: log.app_id[i],
            page: log.page[i],
            page_size: log.page_size[i],
            items_returned: log.items_returned[i],
            status: log.status[i],
            kind: log.kind[i],
            surface: log.surface[i],
            scope: log.scope[i],
            action: log.action[i],
        })
        .collect()
}

/// A row of either log, as `damage` sees it.
trait Row: Copy {
    fn ts(&self) -> i64;
    fn set_ts(&mut self, ts: i64);
    fn event_id(&self) -> u64;
    /// The platform's own events (deploys, the reset), which are never damaged.
    fn is_system(&self) -> bool;
    /// The app whose clock the row was stamped with, if any (skew is per app).
    fn app(&self) -> Option<u32>;
}

impl Row for Event {
    fn ts(&self) -> i64 {
        self.ts
    }
    fn set_ts(&mut self, ts: i64) {
        self.ts = ts;
    }
    fn event_id(&self) -> u64 {
        self.event_id
    }
    fn is_system(&self) -> bool {
        self.kind.is_system()
    }
    fn app(&self) -> Option<u32> {
        self.kind.columns().app_id.then_some(self.app_id)
    }
}

/// The access log has no app: skew leaves it as it is.
impl Row for AccessEvent {
    fn ts(&self) -> i64 {
        self.ts
    }
    fn set_ts(&mut self, ts: i64) {
        self.ts = ts;
    }
    fn event_id(&self) -> u64 {
        self.event_id
    }
    fn is_system(&self) -> bool {
        self.kind.is_system()
    }
    fn app(&self) -> Option<u32> {
        None
    }
}

/// One shard's damage: rows in delivery order, drops and duplicates.
struct Damaged<T> {
    events: Vec<T>,
    dropped: u64,
    duplicated: u64,
}

/// Damages one shard's rows of one log, with draws from the stream `(domain, shard)`.
///
/// # Errors
/// When a clock offset would take a timestamp past the range of the type.
fn damage<T: Row>(
    events: Vec<T>,
    faults: &Faults,
    domain: u64,
    shard: u32,
) -> std::result::Result<Damaged<T>, String> {
    let mut rng = entity_rng(faults.seed, domain, shard as u64);
    let skew = |app: u32| {
        let mut r = entity_rng(faults.seed, SKEW, app as u64);
        between(&mut r, -faults.skew_us, faults.skew_us + 1)
    };
    let (mut dropped, mut duplicated) = (0, 0);
    let mut out = Vec::with_capacity(events.len());
    for mut e in events {
        if e.is_system() {
            out.push(e);
            continue;
        }
        if chance(&mut rng, faults.drop) {
            dropped += 1;
            continue;
        }
        if faults.skew_us > 0
            && let Some(app) = e.app()
        {
            let ts = e.ts().checked_add(skew(app)).ok_or_else(|| {
                format!(
                    "event {}: ts {} plus a clock offset overflows; the input holds a timestamp near the limit",
                    e.event_id(),
                    e.ts()
                )
            })?;
            e.set_ts(ts);
        }
        out.push(e);
        if chance(&mut rng, faults.duplicate) {
            duplicated += 1;
            out.push(e);
        }
    }
    if faults.reorder_us > 0 {
        let mut keyed: Vec<(i64, usize, T)> = out
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                let late = between(&mut rng, 0, faults.reorder_us + 1);
                (e.ts().saturating_add(late), i, e)
            })
            .collect();
        keyed.sort_by_key(|k| (k.0, k.1));
        out = keyed.into_iter().map(|k| k.2).collect();
    } else if faults.skew_us > 0 {
        // The pipeline orders by the (skewed) recorded time.
        out.sort_by_key(|e| (e.ts(), e.event_id()));
    }
    Ok(Damaged {
        events: out,
        dropped,
        duplicated,
    })
}

/// The shard of an access-log part (`access/part-NNNNN.parquet`), `None` for another file.
fn access_shard(f: &FileInfo) -> Option<u32> {
    f.path
        .strip_prefix(&format!("{}/part-", path::ACCESS_DIR))?
        .strip_suffix(".parquet")?
        .parse()
        .ok()
}

/// The rows of an access-log part as the model's events (nulls as zeros and defaults, which
/// the writer turns back into nulls by the same rule).
fn access_events_of(rows: Vec<AccessRow>) -> Vec<AccessEvent> {
    use blastradius_schema::{Client, FieldGroup, TokenPath};
    rows.into_iter()
        .map(|r| AccessEvent {
            ts: r.ts,
            event_id: r.event_id,
            user_id: r.user_id,
            target_id: r.target_id,
            token_id: r.token_id.unwrap_or(0),
            issued_token_id: r.issued_token_id,
            session_id: r.session_id,
            network: r.network,
            kind: r.kind,
            client: r.client.unwrap_or(Client::Web),
            path: r.path.unwrap_or(TokenPath::Login),
            group: r.field_group.unwrap_or(FieldGroup::Contact),
        })
        .collect()
}

/// Writes a damaged copy of the dataset at `input` to `output`. The input is opened with
/// [`Dataset::open`] (its shape: a folder, every shard listed once, none unlisted, the truth
/// whole), and each file is checked against the manifest (size, SHA-256, the shards' rows)
/// as it is copied.
///
/// # Errors
/// A missing or unreadable input, invalid faults, an existing output without `force`, an
/// output that overlaps the input, a manifest path that leaves the input, or a file that
/// differs from the manifest.
pub fn perturb(input: &Path, output: &Path, faults: &Faults, force: bool) -> Result<Manifest> {
    validate(faults)?;
    // The folder's shape first (every listed file inside it with its size, each shard
    // listed once and none unlisted, the truth whole), before anything is read.
    let dataset = Dataset::open(input)?;
    let source = &dataset.manifest;
    let manifest_path = input.join(path::MANIFEST);
    // The copy's log is written in this version's types and its other files are copied as
    // they are: one copy of two versions would be neither.
    if source.schema_version != blastradius_schema::SCHEMA_VERSION {
        return Err(Error::Input {
            path: manifest_path,
            message: format!(
                "is of schema version {}, older than this build's {}: generate it again with this build (`{}`), then perturb that",
                source.schema_version,
                blastradius_schema::SCHEMA_VERSION,
                source.command
            ),
        });
    }
    let sources: Vec<_> = source.files.iter().map(|f| input.join(&f.path)).collect();
    let is_shard = |f: &FileInfo| f.path.starts_with(&format!("{}/", path::EVENTS_DIR));
    let shards = source.files.iter().filter(|f| is_shard(f)).count();
    let truncated_shard = (faults.truncation.is_some() && shards > 0).then(|| {
        let mut r = entity_rng(faults.seed, PERTURB, u64::MAX);
        between(&mut r, 0, shards as i64) as u32
    });
    let cut = match faults.truncation {
        None => None,
        Some(Truncation::At(t)) => Some(t),
        Some(Truncation::BeforeEnd(d)) => {
            let end = parse_utc(&source.period.end).map_err(|e| Error::Input {
                path: manifest_path.clone(),
                message: format!("period.end: {e}"),
            })?;
            Some(end.checked_sub(d).ok_or_else(|| Error::InvalidOption {
                flag: "--truncate",
                message: "reaches before the start of time".into(),
            })?)
        }
    };
    write_staged(output, force, "OUT", &[input], |root: &Path| {
        let mut files = Vec::new();
        let provenance = Provenance {
            metadata: vec![
                (
                    "blastradius.version".into(),
                    env!("CARGO_PKG_VERSION").into(),
                ),
                ("blastradius.source_command".into(), source.command.clone()),
                (
                    "blastradius.perturbation".into(),
                    serde_json::to_string(faults).expect("faults serialize"),
                ),
            ],
            codec: source.compression,
        };
        let (mut dropped, mut duplicated, mut truncated_rows) = (0, 0, 0);
        let mut access_rows = 0u64;
        // The access parts in manifest order, numbered as the events parts are (0 for the
        // one part of a one-shard dataset), so the truncated shard is the same in both logs.
        let mut access_index = 0u32;
        let mut counts = source.counts.clone();
        if let Some(by_kind) = counts.access_events_by_kind.as_mut() {
            by_kind.values_mut().for_each(|v| *v = 0);
        }
        counts.events = 0;
        counts.events_by_kind.values_mut().for_each(|v| *v = 0);
        let mut index = 0u32;
        for (f, from) in source.files.iter().zip(&sources) {
            let to = root.join(&f.path);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
            }
            // A damaged input must not come out as a clean-looking copy with new checksums.
            f.check(
                from,
                "regenerate the dataset (perturb copies only a sound one)",
            )?;
            if let Some(shard) = access_shard(f) {
                let ordinal = access_index;
                access_index += 1;
                let events = access_events_of(blastradius_dataset::access::read_part(&dataset, f)?);
                let damaged =
                    damage(events, faults, PERTURB_ACCESS, ordinal).map_err(|message| {
                        Error::Input {
                            path: from.clone(),
                            message,
                        }
                    })?;
                let (mut events, d, u) = (damaged.events, damaged.dropped, damaged.duplicated);
                dropped += d;
                duplicated += u;
                if let (Some(cut), true) = (cut, truncated_shard == Some(ordinal)) {
                    let before = events.len();
                    events.retain(|e| e.kind.is_system() || e.ts < cut);
                    truncated_rows += (before - events.len()) as u64;
                }
                let by_kind = counts.access_events_by_kind.get_or_insert_default();
                for e in &events {
                    *by_kind.entry(e.kind.as_str().to_string()).or_default() += 1;
                }
                access_rows += events.len() as u64;
                let mut info = write::write_access_as(
                    root,
                    shard,
                    &events,
                    &provenance,
                    faults.reorder_us == 0,
                )?;
                info.path = f.path.clone();
                files.push(info);
                continue;
            }
            if !is_shard(f) {
                std::fs::copy(from, &to).map_err(Error::io(from))?;
                files.push(f.clone());
                continue;
            }
            // The one log reader: checksum and rows against the manifest, every column
            // against the contract.
            // A shard's columns live only until they are the model's events: the damaged
            // copy is made from those.
            let mut log = ShardLog::default();
            read_part_into(&dataset, f, EVERY_COLUMN, None, &mut log)?;
            let events = events_of(log);
            let mut d = damage(events, faults, PERTURB, index).map_err(|message| Error::Input {
                path: from.clone(),
                message,
            })?;
            dropped += d.dropped;
            duplicated += d.duplicated;
            if let (Some(cut), true) = (cut, truncated_shard == Some(index)) {
                let before = d.events.len();
                // The file ends at the cut: every user event from then on is lost; the
                // deploys, never damaged, stay.
                d.events.retain(|e| e.kind.is_system() || e.ts < cut);
                truncated_rows += (before - d.events.len()) as u64;
            }
            for e in &d.events {
                counts.events += 1;
                *counts
                    .events_by_kind
                    .entry(e.kind.as_str().to_string())
                    .or_default() += 1;
            }
            let sorted = faults.reorder_us == 0;
            let mut info = write::write_events_as(
                root,
                index,
                &d.events,
                &provenance,
                sorted,
                write::EVENTS_ROW_GROUP,
            )?;
            let written = root.join(&info.path);
            if written != to {
                std::fs::rename(&written, &to).map_err(Error::io(&to))?;
            }
            info.path = f.path.clone();
            files.push(info);
            index += 1;
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        if counts.access_events.is_some() {
            counts.access_events = Some(access_rows);
        }
        let manifest = Manifest {
            counts,
            files,
            perturbation: Some(Perturbation {
                faults: faults.clone(),
                source_command: source.command.clone(),
                dropped,
                duplicated,
                truncated_shard,
                truncated_at: cut.map(blastradius_schema::time::format_utc),
                truncated_rows,
            }),
            ..source.clone()
        };
        let path = root.join(path::MANIFEST);
        std::fs::write(&path, manifest.to_json()).map_err(Error::io(&path))?;
        Ok(manifest)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use blastradius_schema::Kind;

    fn log() -> Vec<Event> {
        let mut v = vec![Event::new(Kind::BugIntroduced, 50, 1, 0)];
        for i in 0..1000 {
            let mut e = Event::new(Kind::PhotoApiCall, 100 + i * 10, 100 + i as u64, 7);
            e.app_id = (i % 5) as u32;
            v.push(e);
        }
        v
    }

    fn faults() -> Faults {
        Faults::none(1)
    }

    fn damage(events: Vec<Event>, faults: &Faults, shard: u32) -> (Vec<Event>, u64, u64) {
        let d = super::damage(events, faults, PERTURB, shard).unwrap();
        (d.events, d.dropped, d.duplicated)
    }

    #[test]
    fn drops_and_duplicates_at_their_rates_and_never_touch_deploys() {
        let (out, dropped, duplicated) = damage(
            log(),
            &Faults {
                drop: 0.1,
                duplicate: 0.05,
                ..faults()
            },
            0,
        );
        assert!((60..140).contains(&dropped), "{dropped}");
        assert!((20..80).contains(&duplicated), "{duplicated}");
        assert_eq!(out.len() as u64, 1001 - dropped + duplicated);
        assert!(out.iter().any(|e| e.kind == Kind::BugIntroduced));
        assert_eq!(
            damage(
                log(),
                &Faults {
                    drop: 0.1,
                    ..faults()
                },
                0
            )
            .0,
            damage(
                log(),
                &Faults {
                    drop: 0.1,
                    ..faults()
                },
                0
            )
            .0
        );
    }

    #[test]
    fn reorder_stays_within_its_bound_and_keeps_ts() {
        let (out, _, _) = damage(
            log(),
            &Faults {
                reorder_us: 35,
                ..faults()
            },
            0,
        );
        let moved = out.windows(2).filter(|w| w[0].ts > w[1].ts).count();
        assert!(moved > 0, "some events arrive late");
        // An event can only be overtaken by events at most 35 us younger.
        for (i, e) in out.iter().enumerate() {
            assert!(out[i..].iter().all(|later| later.ts >= e.ts - 35), "{e:?}");
        }
        let mut ts: Vec<i64> = out.iter().map(|e| e.ts).collect();
        ts.sort_unstable();
        let mut original: Vec<i64> = log().iter().map(|e| e.ts).collect();
        original.sort_unstable();
        assert_eq!(ts, original);
    }

    #[test]
    fn a_skew_past_the_range_of_time_is_an_error_not_a_wrap() {
        let offset = |app: u64| {
            let mut r = entity_rng(1, SKEW, app);
            between(&mut r, -1000, 1001)
        };
        let app = (0..5)
            .find(|&a| offset(a) > 10)
            .expect("some app runs ahead") as u32;
        let mut events = log();
        let i = events
            .iter()
            .position(|e| e.app_id == app && !e.kind.is_system())
            .unwrap();
        events[i].ts = i64::MAX - 10;
        let skewed = Faults {
            skew_us: 1000,
            ..faults()
        };
        let e = super::damage(events, &skewed, PERTURB, 0)
            .err()
            .expect("an error");
        assert!(e.contains("overflows"), "{e}");
    }

    #[test]
    fn skew_is_one_offset_per_app() {
        let (out, _, _) = damage(
            log(),
            &Faults {
                skew_us: 1000,
                ..faults()
            },
            0,
        );
        let original = log();
        let mut offsets = std::collections::BTreeMap::new();
        for e in &out {
            if let Some(o) = original.iter().find(|x| x.event_id == e.event_id)
                && e.kind == Kind::PhotoApiCall
            {
                let d = e.ts - o.ts;
                assert!(d.abs() <= 1000);
                assert_eq!(*offsets.entry(e.app_id).or_insert(d), d, "app {}", e.app_id);
            }
        }
        assert!(
            out.windows(2)
                .all(|w| (w[0].ts, w[0].event_id) <= (w[1].ts, w[1].event_id))
        );
    }
}
