//! The tools the incident's remedy promised: for each app's developer, its affected users and
//! the exact photos to delete; for the notification team, one row per affected user.
//!
//! Both read the truth (or an answer key), or any detector's findings through the findings
//! contract, so a team can export what its own detector found.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};
use blastradius_schema::arrays::int64;

use blastradius_safefs::{Kind, Stage};
use blastradius_schema::arrays::id_column;
use blastradius_schema::time::format_utc;
use blastradius_schema::{Action, Surface, path};
use serde::Serialize;

use crate::analyze::universe;
use crate::error::{Error, Result};
use crate::output::{Catalog, write_table};
use blastradius_dataset::{Dataset, FileInfo};

/// Where the exposures come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// The dataset's own truth.
    Truth,
    /// An answer key written apart (`generate --split-truth`).
    Key(PathBuf),
    /// A findings folder (any detector's).
    Findings(PathBuf),
}

/// One exposure with what is known of it (surface and time only from the truth).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Row {
    pub app_id: u32,
    pub user_id: u64,
    pub photo_id: u64,
    pub surface: Option<Surface>,
    pub first_exposed_ts: Option<i64>,
}

/// The parts of the truth table `dir` among `files`: only the part of `only_user`'s shard
/// when a user is given (one user's rows are in the truth part of the user's shard).
fn truth_parts<'a>(
    dataset: &Dataset,
    files: &'a [FileInfo],
    dir: &str,
    only_user: Option<u64>,
) -> Vec<&'a FileInfo> {
    let prefix = format!("{dir}/");
    let part = only_user.and_then(|u| {
        let m = &dataset.manifest;
        (m.shards > 0 && m.users > u).then(|| {
            let i = (0..m.shards)
                .find(|&i| blastradius_schema::shard_users(m.users, m.shards, i).contains(&u))
                .unwrap_or(0);
            format!("{prefix}{}", path::part(i))
        })
    });
    files
        .iter()
        .filter(|f| f.path.starts_with(&prefix))
        .filter(|f| part.as_ref().is_none_or(|p| &f.path == p))
        .collect()
}

/// Calls `each` with every batch of `parts`, read by `read`.
fn each_batch(
    dataset: &Dataset,
    parts: &[&FileInfo],
    read: &impl Fn(&FileInfo) -> blastradius_dataset::Result<bytes::Bytes>,
    mut each: impl FnMut(&Path, &RecordBatch) -> Result<()>,
) -> Result<()> {
    for entry in parts {
        let p = dataset.root.join(&entry.path);
        let reader = blastradius_dataset::parquet_reader(&p, read(entry)?)?
            .build()
            .map_err(Error::parquet(&p))?;
        for batch in reader {
            let b = batch.map_err(|e| Error::parquet(&p)(e.into()))?;
            each(&p, &b)?;
        }
    }
    Ok(())
}

/// The truth's exposures, every column, from `files` read by `read`.
fn truth_rows(
    dataset: &Dataset,
    files: &[FileInfo],
    read: impl Fn(&FileInfo) -> blastradius_dataset::Result<bytes::Bytes>,
    only_user: Option<u64>,
) -> Result<Vec<Row>> {
    let parts = truth_parts(dataset, files, path::EXPOSURES_DIR, only_user);
    let mut out = Vec::new();
    each_batch(dataset, &parts, &read, |p, b| {
        let bad = || Error::Schema {
            path: p.to_path_buf(),
            column: "app_id, user_id, photo_id, surface or first_exposed_ts".into(),
            problem: "is missing or of another type".into(),
            expected: "the truth schema of data/README.md".into(),
        };
        let col = |name: &str| b.column_by_name(name).cloned().ok_or_else(bad);
        let apps = col("app_id")?;
        let users = col("user_id")?;
        let photos = col("photo_id")?;
        let surfaces =
            arrow::compute::cast(&col("surface")?, &DataType::Utf8).map_err(|_| bad())?;
        let ts = col("first_exposed_ts")?;
        let (apps, users, photos) = (
            id_column::<u32>(&apps).ok_or_else(bad)?,
            id_column::<u64>(&users).ok_or_else(bad)?,
            id_column::<u64>(&photos).ok_or_else(bad)?,
        );
        let ts = ts
            .as_primitive_opt::<arrow::datatypes::TimestampMicrosecondType>()
            .ok_or_else(bad)?;
        let surfaces = surfaces.as_string::<i32>();
        for i in 0..b.num_rows() {
            if only_user.is_some_and(|u| u != users[i]) {
                continue;
            }
            out.push(Row {
                app_id: apps[i],
                user_id: users[i],
                photo_id: photos[i],
                surface: Surface::parse(surfaces.value(i)),
                first_exposed_ts: Some(ts.value(i)),
            });
        }
        Ok(())
    })?;
    out.sort();
    Ok(out)
}

/// One mailbox call without a grant (the messaging incident): which partner, whose
/// mailbox, what it did, when. Answers from the truth or findings do not say why
/// (`revoked` is `None`); `lookup` tells it from the user's grants.
pub use crate::detect::Violation;

/// The truth's message violations, from `files` read by `read`.
fn truth_violations(
    dataset: &Dataset,
    files: &[FileInfo],
    read: impl Fn(&FileInfo) -> blastradius_dataset::Result<bytes::Bytes>,
    only_user: Option<u64>,
) -> Result<Vec<Violation>> {
    let parts = truth_parts(dataset, files, path::MESSAGE_VIOLATIONS_DIR, only_user);
    let mut out = Vec::new();
    each_batch(dataset, &parts, &read, |p, b| {
        let bad = || Error::Schema {
            path: p.to_path_buf(),
            column: "event_id, app_id, user_id, action or ts".into(),
            problem: "is missing or of another type".into(),
            expected: "the truth schema of data/README.md".into(),
        };
        let col = |name: &str| b.column_by_name(name).cloned().ok_or_else(bad);
        let (events, apps, users, ts) = (
            col("event_id")?,
            col("app_id")?,
            col("user_id")?,
            col("ts")?,
        );
        let actions = arrow::compute::cast(&col("action")?, &DataType::Utf8).map_err(|_| bad())?;
        let (events, apps, users) = (
            id_column::<u64>(&events).ok_or_else(bad)?,
            id_column::<u32>(&apps).ok_or_else(bad)?,
            id_column::<u64>(&users).ok_or_else(bad)?,
        );
        let ts = ts
            .as_primitive_opt::<arrow::datatypes::TimestampMicrosecondType>()
            .ok_or_else(bad)?;
        let actions = actions.as_string::<i32>();
        for i in 0..b.num_rows() {
            if only_user.is_some_and(|u| u != users[i]) {
                continue;
            }
            out.push(Violation {
                event_id: events[i],
                app_id: apps[i],
                user_id: users[i],
                action: Action::parse(actions.value(i)).ok_or_else(bad)?,
                ts: ts.value(i),
                revoked: None,
            });
        }
        Ok(())
    })?;
    out.sort_by_key(|v| v.event_id);
    Ok(out)
}

/// Checks findings against the dataset's log (of `only_user`'s shard when given) and resolves
/// their violations: every photo must be an upload of its user, seen by an app with a
/// successful photo call for that user, and every violation a message call, in this log. Findings made for another dataset pass the id-range checks of
/// [`crate::findings::load`] (same size, same apps) and would answer for users and photos
/// this dataset does not have. A findings folder names violations by event id alone; the
/// log says whose mailbox, which partner, what and when.
///
/// # Errors
/// A photo or violation the log does not hold, named with the folder; as
/// [`blastradius_dataset::log::read_part_into`].
fn check_in_log(
    dataset: &Dataset,
    dir: &Path,
    exposures: &[Row],
    ids: &BTreeSet<u64>,
    only_user: Option<u64>,
) -> Result<Vec<Violation>> {
    use blastradius_schema::{Kind as EventKind, col};
    let photos: BTreeSet<(u64, u64)> = exposures.iter().map(|r| (r.user_id, r.photo_id)).collect();
    let pairs: BTreeSet<(u64, u32)> = exposures.iter().map(|r| (r.user_id, r.app_id)).collect();
    let mut out = Vec::new();
    let mut uploaded = BTreeSet::new();
    let mut called = BTreeSet::new();
    let mut log = blastradius_dataset::log::ShardLog::default();
    for entry in dataset.parts(path::EVENTS_DIR) {
        if only_user.is_some_and(|u| {
            dataset
                .shard_users(entry)
                .is_some_and(|range| !range.contains(&u))
        }) {
            continue;
        }
        blastradius_dataset::log::read_part_into(
            dataset,
            entry,
            &[
                col::USER_ID,
                col::APP_ID,
                col::ACTION,
                col::PHOTO_ID,
                col::STATUS,
            ],
            None,
            &mut log,
        )?;
        for i in 0..log.len() {
            match log.kind[i] {
                EventKind::MessageApiCall
                    if ids.contains(&log.event_id[i])
                        && only_user.is_none_or(|u| u == log.user_id[i]) =>
                {
                    out.push(Violation {
                        event_id: log.event_id[i],
                        app_id: log.app_id[i],
                        user_id: log.user_id[i],
                        action: log.action[i],
                        ts: log.ts[i],
                        revoked: None,
                    })
                }
                EventKind::PhotoUploaded if photos.contains(&(log.user_id[i], log.photo_id[i])) => {
                    uploaded.insert((log.user_id[i], log.photo_id[i]));
                }
                EventKind::PhotoApiCall
                    if log.status[i] == 200 && pairs.contains(&(log.user_id[i], log.app_id[i])) =>
                {
                    called.insert((log.user_id[i], log.app_id[i]));
                }
                _ => {}
            }
        }
    }
    let foreign = |what: String| {
        Error::dataset(
            dir,
            format!(
                "names {what}, which {} does not hold: these findings were made for another dataset; give the findings of this one",
                dataset.root.display()
            ),
        )
    };
    if let Some((user, photo)) = photos.iter().find(|p| !uploaded.contains(*p)) {
        return Err(foreign(format!("photo {photo} of user {user}")));
    }
    if let Some((user, app)) = pairs.iter().find(|p| !called.contains(*p)) {
        return Err(foreign(format!(
            "an exposure of user {user} to app {app}, an app with no successful photo call for that user"
        )));
    }
    out.sort_by_key(|v| v.event_id);
    // A duplicated delivery repeats the call: one violation.
    out.dedup_by_key(|v| v.event_id);
    let resolved: BTreeSet<u64> = out.iter().map(|v| v.event_id).collect();
    if let Some(id) = ids
        .iter()
        .filter(|&&id| only_user.is_none_or(|u| blastradius_schema::event_owner(id) == Some(u)))
        .find(|id| !resolved.contains(*id))
    {
        return Err(foreign(format!("the message call {id}")));
    }
    Ok(out)
}

/// What `source` says happened (for `only_user`, when given): its photo exposures and its
/// mailbox violations, each `None` when the source does not report that level (findings
/// that hold no such table).
pub struct Answers {
    pub exposures: Option<Vec<Row>>,
    pub violations: Option<Vec<Violation>>,
    /// Users findings name as affected without their exposures (an `affected_users` table
    /// alone); `None` from a truth or key, or findings that give exposures.
    pub named_users: Option<BTreeSet<u64>>,
    /// What the source left out that an answer would show (a findings folder without
    /// `surface` or `first_exposed_ts`), in words.
    pub missing: Vec<String>,
}

/// The answers of `source` (for `only_user`, when given).
///
/// # Errors
/// An unreadable truth or key, a key of another dataset, findings that break the contract.
pub fn answers(
    dataset: &Dataset,
    catalog: &Catalog,
    source: &Source,
    only_user: Option<u64>,
) -> Result<Answers> {
    match source {
        Source::Truth => {
            if !dataset.has_truth() {
                return Err(Error::dataset(
                    &dataset.root,
                    "has no truth/ (a blind dataset): give its answer key with --truth KEY, or a findings folder with --findings DIR",
                ));
            }
            let files = &dataset.manifest.files;
            Ok(Answers {
                exposures: Some(truth_rows(dataset, files, |e| dataset.read(e), only_user)?),
                violations: Some(truth_violations(
                    dataset,
                    files,
                    |e| dataset.read(e),
                    only_user,
                )?),
                missing: Vec::new(),
                named_users: None,
            })
        }
        Source::Key(k) => {
            let key = blastradius_dataset::Key::open(k)?;
            key.check_matches(dataset)?;
            let files = &key.manifest.files;
            Ok(Answers {
                exposures: Some(truth_rows(dataset, files, |e| key.read(e), only_user)?),
                violations: Some(truth_violations(
                    dataset,
                    files,
                    |e| key.read(e),
                    only_user,
                )?),
                missing: Vec::new(),
                named_users: None,
            })
        }
        Source::Findings(dir) => {
            let found = crate::findings::load(dir, &universe(dataset, catalog))?;
            let mut missing = Vec::new();
            let exposures = match found.exposures {
                None => None,
                Some(set) => {
                    let carried = crate::findings::exposure_details(dir)?;
                    for column in ["surface", "first_exposed_ts"] {
                        if !carried.columns.iter().any(|c| c == column) {
                            missing
                                .push(format!("the findings' exposures have no `{column}` column"));
                        }
                    }
                    Some(
                        set.into_iter()
                            .filter(|e| only_user.is_none_or(|u| u == e.1))
                            .map(|key| {
                                let (surface, ts) =
                                    carried.rows.get(&key).copied().unwrap_or((None, None));
                                Row {
                                    app_id: key.0,
                                    user_id: key.1,
                                    photo_id: key.2,
                                    surface,
                                    first_exposed_ts: ts,
                                }
                            })
                            .collect(),
                    )
                }
            };
            let none = BTreeSet::new();
            let ids = found.violations.as_ref().unwrap_or(&none);
            let rows = exposures.as_deref().unwrap_or_default();
            let resolved = check_in_log(dataset, dir, rows, ids, only_user)?;
            let violations = found.violations.is_some().then_some(resolved);
            if exposures.is_none() {
                missing.push(
                    "the findings hold no exposures: apps and photos are not answered".into(),
                );
            }
            if violations.is_none() {
                missing.push(
                    "the findings hold no message_violations: mailboxes are not answered".into(),
                );
            }
            let named_users = match (&exposures, found.users) {
                (None, Some(users)) => Some(
                    users
                        .into_iter()
                        .filter(|u| only_user.is_none_or(|x| x == *u))
                        .collect(),
                ),
                _ => None,
            };
            Ok(Answers {
                exposures,
                violations,
                missing,
                named_users,
            })
        }
    }
}

/// What an export wrote.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub apps: u64,
    pub users: u64,
    /// Distinct photos exposed (a photo seen by three apps counts once).
    pub photos: u64,
    /// Copies held by apps: (app, photo) pairs, what the apps' developers must delete.
    pub copies: u64,
    /// Mailbox calls without a grant (the messaging incident).
    pub violations: u64,
    /// Messaging partners among the apps (whose calls were violations).
    pub partners: u64,
    pub files: Vec<String>,
    /// What the source does not answer, in words (findings without a level or column).
    pub warnings: Vec<String>,
}

/// Refuses findings that answer neither incident (an export lists photos or mailbox calls).
fn needs_a_level(answers: &Answers, source: &Source) -> Result<()> {
    match source {
        Source::Findings(dir) if answers.exposures.is_none() && answers.violations.is_none() => {
            Err(Error::dataset(
                dir,
                "holds neither exposures nor message_violations: an export lists the photos apps saw and the mailbox calls made without a grant, so it needs at least one of them (affected_users alone names no app)",
            ))
        }
        _ => Ok(()),
    }
}

fn ts_array(values: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"))
}

fn ts_field(name: &str) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        true,
    )
}

fn strings(values: Vec<String>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

/// Writes `batch` as CSV to `dir/name`: a header, RFC 4180 quoting, timestamps as UTC text.
fn write_csv(dir: &Path, name: &str, batch: &RecordBatch) -> Result<PathBuf> {
    let path = dir.join(name);
    let mut w = csv::Writer::from_path(&path).map_err(|e| Error::Write {
        path: path.clone(),
        error: e.to_string(),
    })?;
    let schema = batch.schema();
    let header: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let werr = |e: csv::Error| Error::Write {
        path: path.clone(),
        error: e.to_string(),
    };
    w.write_record(&header).map_err(werr)?;
    for row in 0..batch.num_rows() {
        let cells: Vec<String> = batch
            .columns()
            .iter()
            .map(|c| cell(c.as_ref(), row))
            .collect();
        w.write_record(&cells).map_err(werr)?;
    }
    w.flush().map_err(|e| Error::Write {
        path: path.clone(),
        error: e.to_string(),
    })?;
    Ok(path)
}

fn cell(c: &dyn Array, row: usize) -> String {
    if c.is_null(row) {
        return String::new();
    }
    match c.data_type() {
        DataType::Int64 => c.as_primitive::<Int64Type>().value(row).to_string(),
        DataType::Utf8 => c.as_string::<i32>().value(row).to_string(),
        DataType::Timestamp(_, _) => format_utc(
            c.as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                .value(row),
        ),
        _ => String::new(),
    }
}

/// Writes, under `out` (staged), one folder per affected app (`app_id=N/`): for a photo
/// app the photos to delete (`photos.parquet`: every exposed photo with its owner, surface
/// and first exposure), for a partner its mailbox calls without a grant
/// (`violations.parquet`), and the app's affected users (`users.parquet`: photos seen and
/// mailbox calls, per user), with the app's and its provider's names on every row; and
/// `apps.parquet` listing the apps with their counts. With `csv`, a `.csv` beside each
/// file. `app` exports one app only.
///
/// # Errors
/// As [`answers`]; an app the dataset does not have; an output that may not be written.
pub fn export_apps(
    root: &Path,
    source: &Source,
    app: Option<u32>,
    out: &Path,
    force: bool,
    csv: bool,
) -> Result<Summary> {
    let dataset = Dataset::open(root)?;
    let catalog = Catalog::read(&dataset)?;
    if let Some(a) = app
        && !catalog.apps.contains_key(&a)
    {
        return Err(Error::dataset(
            root.join(path::APPS),
            format!("lists no app {a}: --app takes an app_id of this dataset"),
        ));
    }
    let mut inputs: Vec<&Path> = vec![root];
    if let Source::Findings(d) | Source::Key(d) = source {
        inputs.push(d);
    }
    let answers = answers(&dataset, &catalog, source, None)?;
    needs_a_level(&answers, source)?;
    let answers_missing = answers.missing.clone();
    let stage = Stage::begin(out, Kind::Output("export apps"), force, "--out", &inputs)?;
    let wanted = |a: u32| app.is_none_or(|x| x == a);
    let mut by_app: BTreeMap<u32, (Vec<Row>, Vec<Violation>)> = BTreeMap::new();
    for r in answers
        .exposures
        .iter()
        .flatten()
        .filter(|r| wanted(r.app_id))
    {
        by_app.entry(r.app_id).or_default().0.push(*r);
    }
    for v in answers
        .violations
        .iter()
        .flatten()
        .filter(|v| wanted(v.app_id))
    {
        by_app.entry(v.app_id).or_default().1.push(*v);
    }
    let names = |a: u32| {
        let info = catalog.apps.get(&a);
        let provider = info.map_or(u32::MAX, |i| i.provider_id);
        (
            info.map_or_else(String::new, |i| i.name.clone()),
            provider,
            catalog
                .providers
                .get(&provider)
                .cloned()
                .unwrap_or_default(),
        )
    };
    let mut files = Vec::new();
    let mut write = |dir: &Path, relative: String, batch: &RecordBatch| -> Result<()> {
        let name = relative.rsplit('/').next().unwrap_or(&relative).to_string();
        write_table(
            dir,
            &format!("{name}.parquet"),
            batch.schema(),
            batch.columns().to_vec(),
        )?;
        files.push(format!("{relative}.parquet"));
        if csv {
            write_csv(dir, &format!("{name}.csv"), batch)?;
            files.push(format!("{relative}.csv"));
        }
        Ok(())
    };
    // Per app: (users, photos, violations).
    let mut summary_rows: Vec<(u32, u64, u64, u64)> = Vec::new();
    let (mut users_total, mut photos_total) = (BTreeSet::new(), BTreeSet::new());
    let (mut copies, mut violations_total) = (0u64, 0u64);
    for (&a, (rows, violations)) in &by_app {
        let dir = stage.path().join(format!("app_id={a}"));
        std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        let (app_name, provider_id, provider_name) = names(a);
        if !rows.is_empty() {
            let n = rows.len();
            let photos = RecordBatch::try_new(
                Arc::new(Schema::new(vec![
                    Field::new("app_id", DataType::Int64, false),
                    Field::new("app_name", DataType::Utf8, false),
                    Field::new("provider_id", DataType::Int64, false),
                    Field::new("provider_name", DataType::Utf8, false),
                    Field::new("user_id", DataType::Int64, false),
                    Field::new("photo_id", DataType::Int64, false),
                    Field::new("surface", DataType::Utf8, true),
                    ts_field("first_exposed_ts"),
                ])),
                vec![
                    int64(vec![a; n], None),
                    strings(vec![app_name.clone(); n]),
                    int64(vec![provider_id; n], None),
                    strings(vec![provider_name.clone(); n]),
                    int64(rows.iter().map(|r| r.user_id), None),
                    int64(rows.iter().map(|r| r.photo_id), None),
                    Arc::new(StringArray::from(
                        rows.iter()
                            .map(|r| r.surface.map(|s| s.as_str()))
                            .collect::<Vec<_>>(),
                    )),
                    ts_array(rows.iter().map(|r| r.first_exposed_ts).collect()),
                ],
            )
            .expect("columns match");
            write(&dir, format!("app_id={a}/photos"), &photos)?;
        }
        if !violations.is_empty() {
            let n = violations.len();
            let calls = RecordBatch::try_new(
                Arc::new(Schema::new(vec![
                    Field::new("app_id", DataType::Int64, false),
                    Field::new("app_name", DataType::Utf8, false),
                    Field::new("provider_name", DataType::Utf8, false),
                    Field::new("event_id", DataType::Int64, false),
                    Field::new("user_id", DataType::Int64, false),
                    Field::new("action", DataType::Utf8, false),
                    ts_field("ts"),
                ])),
                vec![
                    int64(vec![a; n], None),
                    strings(vec![app_name.clone(); n]),
                    strings(vec![provider_name.clone(); n]),
                    int64(violations.iter().map(|v| v.event_id), None),
                    int64(violations.iter().map(|v| v.user_id), None),
                    strings(
                        violations
                            .iter()
                            .map(|v| v.action.as_str().into())
                            .collect(),
                    ),
                    ts_array(violations.iter().map(|v| Some(v.ts)).collect()),
                ],
            )
            .expect("columns match");
            write(&dir, format!("app_id={a}/violations"), &calls)?;
        }
        let per_user = UserAnswer::of(rows, violations);
        let m = per_user.len();
        let users = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("app_id", DataType::Int64, false),
                Field::new("app_name", DataType::Utf8, false),
                Field::new("provider_name", DataType::Utf8, false),
                Field::new("user_id", DataType::Int64, false),
                Field::new("photos", DataType::Int64, false),
                ts_field("first_exposed_ts"),
                Field::new("violations", DataType::Int64, false),
                ts_field("first_violation_ts"),
            ])),
            vec![
                int64(vec![a; m], None),
                strings(vec![app_name.clone(); m]),
                strings(vec![provider_name.clone(); m]),
                int64(per_user.keys().copied(), None),
                int64(per_user.values().map(|u| u.photos.len() as u64), None),
                ts_array(per_user.values().map(|u| u.first_exposed).collect()),
                int64(per_user.values().map(|u| u.violations), None),
                ts_array(per_user.values().map(|u| u.first_violation).collect()),
            ],
        )
        .expect("columns match");
        write(&dir, format!("app_id={a}/users"), &users)?;
        users_total.extend(per_user.keys().copied());
        photos_total.extend(rows.iter().map(|r| r.photo_id));
        copies += rows.len() as u64;
        violations_total += violations.len() as u64;
        summary_rows.push((a, m as u64, rows.len() as u64, violations.len() as u64));
    }
    let k = summary_rows.len();
    let list = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("app_id", DataType::Int64, false),
            Field::new("app_name", DataType::Utf8, false),
            Field::new("provider_id", DataType::Int64, false),
            Field::new("provider_name", DataType::Utf8, false),
            Field::new("users", DataType::Int64, false),
            Field::new("photos", DataType::Int64, false),
            Field::new("violations", DataType::Int64, false),
        ])),
        vec![
            int64(summary_rows.iter().map(|r| r.0), None),
            strings(summary_rows.iter().map(|r| names(r.0).0).collect()),
            int64(summary_rows.iter().map(|r| names(r.0).1), None),
            strings(summary_rows.iter().map(|r| names(r.0).2).collect()),
            int64(summary_rows.iter().map(|r| r.1), None),
            int64(summary_rows.iter().map(|r| r.2), None),
            int64(summary_rows.iter().map(|r| r.3), None),
        ],
    )
    .expect("columns match");
    debug_assert_eq!(list.num_rows(), k);
    write(stage.path(), "apps".into(), &list)?;
    stage.commit()?;
    Ok(Summary {
        apps: k as u64,
        users: users_total.len() as u64,
        photos: photos_total.len() as u64,
        copies,
        violations: violations_total,
        partners: summary_rows.iter().filter(|r| r.3 > 0).count() as u64,
        files,
        warnings: answers_missing,
    })
}

/// What one user went through, over both incidents.
#[derive(Default)]
struct UserAnswer {
    apps: BTreeSet<u32>,
    photos: BTreeSet<u64>,
    surfaces: BTreeSet<&'static str>,
    first_exposed: Option<i64>,
    partners: BTreeSet<u32>,
    violations: u64,
    first_violation: Option<i64>,
    /// View-As: the tier (if the source gives one) and the field groups read.
    view_as: Option<(Option<blastradius_schema::Tier>, Vec<&'static str>)>,
}

impl UserAnswer {
    /// Per user, from their exposures and violations.
    fn of(rows: &[Row], violations: &[Violation]) -> BTreeMap<u64, UserAnswer> {
        let earliest = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        let mut users: BTreeMap<u64, UserAnswer> = BTreeMap::new();
        for r in rows {
            let u = users.entry(r.user_id).or_default();
            u.apps.insert(r.app_id);
            u.photos.insert(r.photo_id);
            if let Some(s) = r.surface {
                u.surfaces.insert(s.as_str());
            }
            u.first_exposed = earliest(u.first_exposed, r.first_exposed_ts);
        }
        for v in violations {
            let u = users.entry(v.user_id).or_default();
            u.partners.insert(v.app_id);
            u.violations += 1;
            u.first_violation = earliest(u.first_violation, Some(v.ts));
        }
        users
    }

    /// The incidents that touched the user, as the notification says them.
    fn incidents(&self) -> String {
        let mut which = Vec::new();
        if !self.photos.is_empty() {
            which.push("photo-api");
        }
        if self.violations > 0 {
            which.push("messaging");
        }
        if self.view_as.is_some() {
            which.push("view-as");
        }
        which.join("; ")
    }
}

/// Writes the notification list under `out` (staged): `users.csv` (ready for a mail merge)
/// and `users.parquet`, one row per affected user, whichever incident touched them: the
/// apps that saw their photos (ids and names), the surfaces, how many distinct photos and
/// the first exposure; the partners that used their mailbox without a grant, how many
/// calls and the first; and `incidents` naming which (`photo-api`, `messaging`).
///
/// # Errors
/// As [`export_apps`].
pub fn export_users(root: &Path, source: &Source, out: &Path, force: bool) -> Result<Summary> {
    let dataset = Dataset::open(root)?;
    let catalog = Catalog::read(&dataset)?;
    let mut inputs: Vec<&Path> = vec![root];
    if let Source::Findings(d) | Source::Key(d) = source {
        inputs.push(d);
    }
    let answers = answers(&dataset, &catalog, source, None)?;
    // A View-As world: its notification list is the affected users by tier.
    let view_as = crate::view_as::answers(&dataset, &catalog, source)?;
    if view_as.is_none() {
        needs_a_level(&answers, source)?;
    }
    let stage = Stage::begin(out, Kind::Output("export users"), force, "--out", &inputs)?;
    let mut warnings = answers.missing.clone();
    warnings.extend(crate::view_as::unanswered(&dataset, source, &view_as));
    let rows = answers.exposures.unwrap_or_default();
    let violations = answers.violations.unwrap_or_default();
    let mut users = UserAnswer::of(&rows, &violations);
    if let Some(v) = &view_as {
        for (&user, (tier, groups)) in &v.users {
            let u = users.entry(user).or_default();
            u.view_as = Some((*tier, groups.iter().map(|g| g.as_str()).collect()));
        }
    }
    let join = |items: Vec<String>| items.join("; ");
    let app_name = |a: &u32| {
        catalog
            .apps
            .get(a)
            .map_or_else(|| a.to_string(), |x| x.name.clone())
    };
    let ids = |set: &BTreeSet<u32>| join(set.iter().map(|a| a.to_string()).collect());
    let names = |set: &BTreeSet<u32>| join(set.iter().map(app_name).collect());
    let mut fields = vec![
        Field::new("user_id", DataType::Int64, false),
        Field::new("apps", DataType::Int64, false),
        Field::new("app_ids", DataType::Utf8, false),
        Field::new("app_names", DataType::Utf8, false),
        Field::new("photos", DataType::Int64, false),
        Field::new("surfaces", DataType::Utf8, false),
        ts_field("first_exposed_ts"),
        Field::new("violations", DataType::Int64, false),
        Field::new("partner_ids", DataType::Utf8, false),
        Field::new("partner_names", DataType::Utf8, false),
        ts_field("first_violation_ts"),
        Field::new("incidents", DataType::Utf8, false),
    ];
    let mut columns = vec![
        int64(users.keys().copied(), None),
        int64(users.values().map(|u| u.apps.len() as u64), None),
        strings(users.values().map(|u| ids(&u.apps)).collect()),
        strings(users.values().map(|u| names(&u.apps)).collect()),
        int64(users.values().map(|u| u.photos.len() as u64), None),
        strings(
            users
                .values()
                .map(|u| join(u.surfaces.iter().map(|s| s.to_string()).collect()))
                .collect(),
        ),
        ts_array(users.values().map(|u| u.first_exposed).collect()),
        int64(users.values().map(|u| u.violations), None),
        strings(users.values().map(|u| ids(&u.partners)).collect()),
        strings(users.values().map(|u| names(&u.partners)).collect()),
        ts_array(users.values().map(|u| u.first_violation).collect()),
        strings(users.values().map(UserAnswer::incidents).collect()),
    ];
    if view_as.is_some() {
        // The View-As columns, only in a View-As world (the other presets' lists keep
        // their shape): the tier (empty when the source gives none, or the user was not
        // touched by it) and the field groups read.
        fields.push(Field::new("view_as_tier", DataType::Utf8, false));
        fields.push(Field::new("view_as_accessed", DataType::Utf8, false));
        columns.push(strings(
            users
                .values()
                .map(|u| {
                    u.view_as
                        .as_ref()
                        .and_then(|v| v.0)
                        .map_or(String::new(), |t| t.as_str().to_string())
                })
                .collect(),
        ));
        columns.push(strings(
            users
                .values()
                .map(|u| u.view_as.as_ref().map_or(String::new(), |v| v.1.join("; ")))
                .collect(),
        ));
    }
    let batch =
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("columns match");
    write_table(
        stage.path(),
        "users.parquet",
        batch.schema(),
        batch.columns().to_vec(),
    )?;
    write_csv(stage.path(), "users.csv", &batch)?;
    stage.commit()?;
    // The apps that saw photos, and apart from them the partners that used mailboxes.
    let apps: BTreeSet<u32> = rows.iter().map(|r| r.app_id).collect();
    let partners: BTreeSet<u32> = violations.iter().map(|v| v.app_id).collect();
    Ok(Summary {
        apps: apps.len() as u64,
        partners: partners.len() as u64,
        warnings,
        users: users.len() as u64,
        photos: rows
            .iter()
            .map(|r| r.photo_id)
            .collect::<BTreeSet<_>>()
            .len() as u64,
        copies: rows.len() as u64,
        violations: violations.len() as u64,
        files: vec!["users.parquet".into(), "users.csv".into()],
    })
}
