//! The one scorer: findings (any detector's, loaded through [`crate::findings`]) against the
//! truth, at user, exposure and violation level.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use arrow::array::{Array, AsArray};
use blastradius_schema::{Action, FieldGroup, Surface, Tier, path};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::findings::Findings;
use blastradius_dataset::{Dataset, FileInfo};

/// The ground truth as sets.
#[derive(Debug, Default)]
pub struct Truth {
    pub exposures: BTreeSet<(u32, u64, u64)>,
    pub users: BTreeSet<u64>,
    pub violations: BTreeSet<u64>,
    /// Per app: (provider, distinct users, exposures), from `truth/affected_apps.parquet`
    /// when present (a one-shard dataset has none).
    pub apps: crate::output::AppCounts,
    /// Where the truth was read from, for reports.
    pub source: String,
    /// Per exposure: the photo's surface when first exposed, and when.
    pub exposure_info: BTreeMap<(u32, u64, u64), (Surface, i64)>,
    /// Per exposure: the event id of the call that first returned it (empty for a truth
    /// written before the column existed).
    pub exposure_calls: BTreeMap<(u32, u64, u64), u64>,
    /// Per violation (event id): the partner app, the user, the action, when.
    pub violation_info: BTreeMap<u64, (u32, u64, Action, i64)>,
    /// The View-As truth, when the world has one (`None` otherwise).
    pub view_as: Option<ViewAsTruth>,
    /// The bug's deploys, `(deploy_id, ts, introduced)` in log order, from
    /// `truth/bug_deploys.parquet`; `None` for a truth written before the table existed (or
    /// a one-shard part's), empty for a control world.
    pub bug_deploys: Option<Vec<(u64, i64, bool)>>,
}

/// The View-As incident's truth: tokens taken and affected users (data/README §13).
#[derive(Debug, Default)]
pub struct ViewAsTruth {
    /// Per token taken: owner, when, hop, pivot.
    pub tokens: BTreeMap<u64, (u64, i64, u32, u64)>,
    /// Per token taken: the `event_id` of the row that took it (rule 1), which a live
    /// replay recognises in the stream whatever damage did to its `ts`.
    pub theft_events: BTreeMap<u64, u64>,
    /// Per affected user: tier and field groups read.
    pub users: BTreeMap<u64, (Tier, Vec<FieldGroup>)>,
}

/// How often the tiers a detector gives agree with the truth's, over the users both name.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TierAgreement {
    pub compared: u64,
    pub agreed: u64,
}

/// Precision, recall and F1 of one level, with the counts they come from. A ratio with
/// nothing to divide by is `None` ("–" in reports): precision when nothing was reported,
/// recall when there was nothing to find.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Score {
    pub true_positives: u64,
    pub false_positives: u64,
    pub false_negatives: u64,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
}

impl Score {
    /// Scores `found` against `truth`.
    pub fn of<T: Ord>(found: &BTreeSet<T>, truth: &BTreeSet<T>) -> Self {
        let tp = found.intersection(truth).count() as u64;
        Self::counts(tp, found.len() as u64 - tp, truth.len() as u64 - tp)
    }

    /// The score of these counts.
    pub fn counts(tp: u64, fp: u64, fn_: u64) -> Self {
        let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        let (precision, recall) = (ratio(tp, tp + fp), ratio(tp, tp + fn_));
        let f1 = match (precision, recall) {
            (None, None) => None,
            (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
            // Something reported where nothing was to be found, or nothing reported where
            // something was: no true positive, F1 0.
            _ => Some(0.0),
        };
        Score {
            true_positives: tp,
            false_positives: fp,
            false_negatives: fn_,
            precision,
            recall,
            f1,
        }
    }

    /// This score with `n` more false positives (items reported that are not counted among
    /// the findings' set, such as a live finding sent before its event), ratios recomputed.
    pub fn with_false_positives(self, n: u64) -> Self {
        Self::counts(
            self.true_positives,
            self.false_positives + n,
            self.false_negatives,
        )
    }
}

/// Scores at each level the findings report; `None` for a level they do not.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Scores {
    pub users: Option<Score>,
    pub exposures: Option<Score>,
    pub violations: Option<Score>,
    /// View-As levels: scored when the world has that incident and the findings the level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stolen_tokens: Option<Score>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view_as_users: Option<Score>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view_as_tiers: Option<TierAgreement>,
}

/// Scores `found` against `truth`, at the levels `found` reports.
pub fn score(truth: &Truth, found: &Findings) -> Scores {
    let view_as = truth.view_as.as_ref();
    Scores {
        stolen_tokens: view_as.zip(found.stolen_tokens.as_ref()).map(|(t, f)| {
            let truth: BTreeSet<u64> = t.tokens.keys().copied().collect();
            Score::of(f, &truth)
        }),
        view_as_users: view_as.zip(found.view_as_users.as_ref()).map(|(t, f)| {
            let truth: BTreeSet<u64> = t.users.keys().copied().collect();
            let found: BTreeSet<u64> = f.keys().copied().collect();
            Score::of(&found, &truth)
        }),
        view_as_tiers: view_as
            .zip(found.view_as_users.as_ref())
            .and_then(|(t, f)| {
                let pairs: Vec<(Tier, Tier)> = f
                    .iter()
                    .filter_map(|(u, tier)| Some((t.users.get(u)?.0, (*tier)?)))
                    .collect();
                (!pairs.is_empty() || f.values().any(Option::is_some)).then(|| TierAgreement {
                    compared: pairs.len() as u64,
                    agreed: pairs.iter().filter(|(a, b)| a == b).count() as u64,
                })
            }),
        users: found.users.as_ref().map(|u| Score::of(u, &truth.users)),
        exposures: found
            .exposures
            .as_ref()
            .map(|e| Score::of(e, &truth.exposures)),
        violations: found
            .violations
            .as_ref()
            .map(|v| Score::of(v, &truth.violations)),
    }
}

/// What a detector missed and what it reported wrongly, for its author to look at.
#[derive(Debug, Default)]
pub struct Differences {
    pub missed_users: Vec<u64>,
    pub extra_users: Vec<u64>,
    pub missed_exposures: Vec<(u32, u64, u64)>,
    pub extra_exposures: Vec<(u32, u64, u64)>,
}

/// The differences between `found` and `truth` at the levels `found` reports.
pub fn differences(truth: &Truth, found: &Findings) -> Differences {
    let mut d = Differences::default();
    if let Some(users) = &found.users {
        d.missed_users = truth.users.difference(users).copied().collect();
        d.extra_users = users.difference(&truth.users).copied().collect();
    }
    if let Some(e) = &found.exposures {
        d.missed_exposures = truth.exposures.difference(e).copied().collect();
        d.extra_exposures = e.difference(&truth.exposures).copied().collect();
    }
    d
}

/// Reads every batch of `entries` into `each`; `columns` names what `each` needs, for the
/// error when a batch lacks it.
fn read_parts<'a>(
    dataset: &Dataset,
    columns: &str,
    entries: impl IntoIterator<Item = &'a FileInfo>,
    mut each: impl FnMut(&arrow::array::RecordBatch) -> Option<()>,
    read: impl Fn(&FileInfo) -> blastradius_dataset::Result<bytes::Bytes>,
) -> Result<()> {
    for entry in entries {
        let p = dataset.root.join(&entry.path);
        let reader = blastradius_dataset::listed_reader(&p, read(entry)?, entry)?
            .build()
            .map_err(Error::parquet(&p))?;
        for batch in reader {
            let b = batch.map_err(|e| Error::parquet(&p)(e.into()))?;
            each(&b).ok_or_else(|| Error::Schema {
                path: p.clone(),
                column: columns.into(),
                problem: "is missing, has another type, or has nulls".into(),
                expected: "the truth schema of data/README.md".into(),
            })?;
        }
    }
    Ok(())
}

fn ids<T: TryFrom<u64>>(b: &arrow::array::RecordBatch, name: &str) -> Option<Vec<T>> {
    blastradius_schema::arrays::id_column(b.column_by_name(name)?)
}

fn texts(b: &arrow::array::RecordBatch, name: &str) -> Option<Vec<String>> {
    let a =
        arrow::compute::cast(b.column_by_name(name)?, &arrow::datatypes::DataType::Utf8).ok()?;
    let s = a.as_string_opt::<i32>()?;
    (s.null_count() == 0).then(|| (0..s.len()).map(|i| s.value(i).to_string()).collect())
}

fn times(b: &arrow::array::RecordBatch, name: &str) -> Option<Vec<i64>> {
    let a = b.column_by_name(name)?;
    if a.null_count() > 0 {
        return None;
    }
    Some(
        a.as_primitive_opt::<arrow::datatypes::TimestampMicrosecondType>()?
            .values()
            .to_vec(),
    )
}

impl Truth {
    /// Reads the dataset's own `truth/`, each file checked against the manifest.
    ///
    /// # Errors
    /// A truth file that cannot be read or does not match its checksum or schema.
    pub fn read(dataset: &Dataset) -> Result<Self> {
        let mut t = Self::read_files(dataset, &dataset.manifest.files, |e| dataset.read(e))?;
        t.source = format!("{}/truth", dataset.root.display());
        Ok(t)
    }

    /// Reads the truth from the answer key at `key`, written apart from `dataset` by
    /// `generate --split-truth`: refused unless the key was made for this dataset.
    ///
    /// # Errors
    /// A key of another dataset, or one whose files do not match its own checksums.
    pub fn read_key(dataset: &Dataset, key: &Path) -> Result<Self> {
        let key_set = blastradius_dataset::Key::open(key)?;
        key_set.check_matches(dataset)?;
        let mut t = Self::read_files(dataset, &key_set.manifest.files, |e| key_set.read(e))?;
        t.source = format!("{} (answer key)", key.display());
        Ok(t)
    }

    /// The View-As truth of the dataset (or of the answer key at `key`), read alone: `None`
    /// outside a View-As world, or for one shard of a larger one (its truth names its users'
    /// tokens, its log the thefts its users made; they are not the same).
    ///
    /// # Errors
    /// As [`Truth::read`] and [`Truth::read_key`].
    pub fn read_view_as(dataset: &Dataset, key: Option<&Path>) -> Result<Option<ViewAsTruth>> {
        match key {
            None => Self::read_view_as_files(dataset, &dataset.manifest.files, |e| dataset.read(e)),
            Some(key) => {
                let key_set = blastradius_dataset::Key::open(key)?;
                key_set.check_matches(dataset)?;
                Self::read_view_as_files(dataset, &key_set.manifest.files, |e| key_set.read(e))
            }
        }
    }

    fn read_view_as_files(
        dataset: &Dataset,
        files: &[FileInfo],
        read: impl Fn(&FileInfo) -> blastradius_dataset::Result<bytes::Bytes> + Copy,
    ) -> Result<Option<ViewAsTruth>> {
        let parts = |dir: &str| blastradius_dataset::parts_in(files, dir);
        let mut view_as = ViewAsTruth::default();
        let stolen = parts(path::STOLEN_TOKENS_DIR);
        let affected = parts(path::VIEW_AS_USERS_DIR);
        let has_view_as = !stolen.is_empty() || !affected.is_empty();
        read_parts(
            dataset,
            "token_id, user_id, stolen_ts, hop, pivot_id or stolen_event_id",
            stolen,
            |b| {
                let tokens = ids::<u64>(b, "token_id")?;
                let users = ids::<u64>(b, "user_id")?;
                let ts = times(b, "stolen_ts")?;
                let hops = ids::<u32>(b, "hop")?;
                let pivots = ids::<u64>(b, "pivot_id")?;
                let events = ids::<u64>(b, "stolen_event_id")?;
                for i in 0..b.num_rows() {
                    view_as
                        .tokens
                        .insert(tokens[i], (users[i], ts[i], hops[i], pivots[i]));
                    view_as.theft_events.insert(tokens[i], events[i]);
                }
                Some(())
            },
            read,
        )?;
        read_parts(
            dataset,
            "user_id, tier or field_groups",
            affected,
            |b| {
                let users = ids::<u64>(b, "user_id")?;
                let tiers = texts(b, "tier")?;
                let groups = b.column_by_name("field_groups")?.as_list_opt::<i32>()?;
                for i in 0..b.num_rows() {
                    let list = groups.value(i);
                    let names = list.as_string_opt::<i32>()?;
                    let read: Option<Vec<FieldGroup>> = (0..names.len())
                        .map(|j| FieldGroup::parse(names.value(j)))
                        .collect();
                    view_as
                        .users
                        .insert(users[i], (Tier::parse(&tiers[i])?, read?));
                }
                Some(())
            },
            read,
        )?;
        // One shard of a larger world: its truth names its users' tokens, its log the thefts
        // its users made; they are not the same, so the View-As levels are not scored.
        Ok((has_view_as && dataset.manifest.complete).then_some(view_as))
    }

    fn read_files(
        dataset: &Dataset,
        files: &[FileInfo],
        read: impl Fn(&FileInfo) -> blastradius_dataset::Result<bytes::Bytes> + Copy,
    ) -> Result<Self> {
        let parts = |dir: &str| blastradius_dataset::parts_in(files, dir);
        let mut t = Truth::default();
        read_parts(
            dataset,
            "app_id, user_id, photo_id, surface, first_exposed_ts or first_exposed_event_id",
            parts(path::EXPOSURES_DIR),
            |b| {
                let apps = ids::<u32>(b, "app_id")?;
                let users = ids::<u64>(b, "user_id")?;
                let photos = ids::<u64>(b, "photo_id")?;
                let surfaces = texts(b, "surface")?;
                let ts = times(b, "first_exposed_ts")?;
                // Optional: older truths lack it; a column that is there must be whole.
                let calls = match b.column_by_name("first_exposed_event_id") {
                    Some(_) => Some(ids::<u64>(b, "first_exposed_event_id")?),
                    None => None,
                };
                for i in 0..b.num_rows() {
                    let key = (apps[i], users[i], photos[i]);
                    t.exposures.insert(key);
                    t.users.insert(users[i]);
                    let surface = Surface::parse(&surfaces[i])?;
                    t.exposure_info.insert(key, (surface, ts[i]));
                    if let Some(c) = &calls {
                        t.exposure_calls.insert(key, c[i]);
                    }
                }
                Some(())
            },
            read,
        )?;
        read_parts(
            dataset,
            "event_id, app_id, user_id, action or ts",
            parts(path::MESSAGE_VIOLATIONS_DIR),
            |b| {
                let events = ids::<u64>(b, "event_id")?;
                let apps = ids::<u32>(b, "app_id")?;
                let users = ids::<u64>(b, "user_id")?;
                let actions = texts(b, "action")?;
                let ts = times(b, "ts")?;
                for i in 0..b.num_rows() {
                    t.violations.insert(events[i]);
                    let action = Action::parse(&actions[i])?;
                    t.violation_info
                        .insert(events[i], (apps[i], users[i], action, ts[i]));
                }
                Some(())
            },
            read,
        )?;
        t.view_as = Self::read_view_as_files(dataset, files, read)?;
        read_parts(
            dataset,
            "app_id, provider_id, users or photos",
            files.iter().filter(|f| f.path == path::AFFECTED_APPS),
            |b| {
                let apps = ids::<u32>(b, "app_id")?;
                let owners = ids::<u32>(b, "provider_id")?;
                let users = ids::<u64>(b, "users")?;
                let photos = ids::<u64>(b, "photos")?;
                for i in 0..b.num_rows() {
                    t.apps.insert(apps[i], (owners[i], users[i], photos[i]));
                }
                Some(())
            },
            read,
        )?;
        let bug_deploys: Vec<&FileInfo> = files
            .iter()
            .filter(|f| f.path == path::BUG_DEPLOYS)
            .collect();
        if !bug_deploys.is_empty() {
            let mut deploys = Vec::new();
            read_parts(
                dataset,
                "deploy_id, ts or change (introduced, fixed)",
                bug_deploys,
                |b| {
                    let ids = ids::<u64>(b, "deploy_id")?;
                    let ts = times(b, "ts")?;
                    let change = texts(b, "change")?;
                    for i in 0..b.num_rows() {
                        let introduced = match change[i].as_str() {
                            "introduced" => true,
                            "fixed" => false,
                            _ => return None,
                        };
                        deploys.push((ids[i], ts[i], introduced));
                    }
                    Some(())
                },
                read,
            )?;
            deploys.sort_by_key(|&(id, ts, _)| (ts, id));
            t.bug_deploys = Some(deploys);
        }
        Ok(t)
    }

    /// Distinct users per app, from the truth's exposures.
    pub fn app_users(&self) -> BTreeMap<u32, u64> {
        let pairs: BTreeSet<(u32, u64)> = self.exposures.iter().map(|e| (e.0, e.1)).collect();
        let mut out = BTreeMap::new();
        for (app, _) in pairs {
            *out.entry(app).or_default() += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_recall_f1() {
        let truth: BTreeSet<u32> = [1, 2, 3, 4].into();
        let found: BTreeSet<u32> = [3, 4, 5].into();
        let s = Score::of(&found, &truth);
        assert_eq!(
            (s.true_positives, s.false_positives, s.false_negatives),
            (2, 1, 2)
        );
        assert!((s.precision.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!((s.recall.unwrap() - 0.5).abs() < 1e-12);
        assert!((s.f1.unwrap() - 4.0 / 7.0).abs() < 1e-12);
    }

    // Issue 11: a level with nothing to find is "–", not a perfect 1.0.
    #[test]
    fn undefined_ratios_are_none_not_one() {
        let empty = BTreeSet::<u32>::new();
        let truth: BTreeSet<u32> = [1].into();
        let nothing = Score::of(&empty, &empty);
        assert_eq!(
            (nothing.precision, nothing.recall, nothing.f1),
            (None, None, None)
        );
        let missed = Score::of(&empty, &truth);
        assert_eq!(
            (missed.precision, missed.recall, missed.f1),
            (None, Some(0.0), Some(0.0))
        );
        let invented = Score::of(&truth, &empty);
        assert_eq!(
            (invented.precision, invented.recall, invented.f1),
            (Some(0.0), None, Some(0.0))
        );
    }
}
