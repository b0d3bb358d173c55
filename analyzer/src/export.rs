//! The tools the incident's remedy promised: for each app's developer, its affected users and
//! the exact photos to delete; for the notification team, one row per affected user.
//!
//! Both read the truth (or an answer key), or any detector's findings through the findings
//! contract, so a team can export what its own detector found.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, StringArray, TimestampMicrosecondArray, UInt32Array,
    UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit, UInt32Type, UInt64Type};
use blastradius_safefs::{Kind, Stage};
use blastradius_schema::time::format_utc;
use blastradius_schema::{Surface, path};
use serde::Serialize;

use crate::dataset::{Dataset, FileEntry};
use crate::error::{Error, Result};
use crate::evaluate::universe;
use crate::output::{Catalog, write_table};

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

/// The truth's exposures, every column, from `files` read by `read`.
fn truth_rows(
    dataset: &Dataset,
    files: &[FileEntry],
    read: impl Fn(&FileEntry) -> Result<bytes::Bytes>,
    only_user: Option<u64>,
) -> Result<Vec<Row>> {
    let prefix = format!("{}/", path::EXPOSURES_DIR);
    // One user's rows are in the truth part of the user's shard: read that part only.
    let part = only_user.and_then(|u| {
        let m = &dataset.manifest;
        (m.shards > 0 && m.users > u).then(|| {
            let i = (0..m.shards)
                .find(|&i| blastradius_schema::shard_users(m.users, m.shards, i).contains(&u))
                .unwrap_or(0);
            format!("{prefix}{}", path::part(i))
        })
    });
    let mut out = Vec::new();
    for entry in files
        .iter()
        .filter(|f| f.path.starts_with(&prefix))
        .filter(|f| part.as_ref().is_none_or(|p| &f.path == p))
    {
        let p = dataset.root.join(&entry.path);
        let reader = crate::dataset::parquet_reader(&p, read(entry)?)?
            .build()
            .map_err(Error::parquet(&p))?;
        for batch in reader {
            let b = batch.map_err(|e| Error::parquet(&p)(e.into()))?;
            let bad = || Error::Schema {
                path: p.clone(),
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
                apps.as_primitive_opt::<UInt32Type>().ok_or_else(bad)?,
                users.as_primitive_opt::<UInt64Type>().ok_or_else(bad)?,
                photos.as_primitive_opt::<UInt64Type>().ok_or_else(bad)?,
            );
            let ts = ts
                .as_primitive_opt::<arrow::datatypes::TimestampMicrosecondType>()
                .ok_or_else(bad)?;
            let surfaces = surfaces.as_string::<i32>();
            for i in 0..b.num_rows() {
                if only_user.is_some_and(|u| u != users.value(i)) {
                    continue;
                }
                out.push(Row {
                    app_id: apps.value(i),
                    user_id: users.value(i),
                    photo_id: photos.value(i),
                    surface: Surface::parse(surfaces.value(i)),
                    first_exposed_ts: Some(ts.value(i)),
                });
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The exposures of `source` (for `only_user`, when given).
///
/// # Errors
/// An unreadable truth or key, a key of another dataset, findings that break the contract.
pub fn rows(
    dataset: &Dataset,
    catalog: &Catalog,
    source: &Source,
    only_user: Option<u64>,
) -> Result<Vec<Row>> {
    match source {
        Source::Truth => {
            if !dataset.has_truth() {
                return Err(Error::dataset(
                    &dataset.root,
                    "has no truth/ (a blind dataset): give its answer key with --truth KEY, or a findings folder with --findings DIR",
                ));
            }
            truth_rows(
                dataset,
                &dataset.manifest.files,
                |e| dataset.read(e),
                only_user,
            )
        }
        Source::Key(k) => {
            let key = crate::key::Key::open(k)?;
            key.check_matches(dataset)?;
            truth_rows(dataset, &key.manifest.files, |e| key.read(e), only_user)
        }
        Source::Findings(dir) => {
            let found = crate::findings::load(dir, &universe(dataset, catalog))?;
            let exposures = found.exposures.ok_or_else(|| {
                Error::dataset(
                    dir,
                    "holds no exposures: an export lists photos, so it needs the exposures table",
                )
            })?;
            Ok(exposures
                .into_iter()
                .filter(|e| only_user.is_none_or(|u| u == e.1))
                .map(|(app_id, user_id, photo_id)| Row {
                    app_id,
                    user_id,
                    photo_id,
                    surface: None,
                    first_exposed_ts: None,
                })
                .collect())
        }
    }
}

/// What an export wrote.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub apps: u64,
    pub users: u64,
    pub photos: u64,
    pub files: Vec<String>,
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
        DataType::UInt32 => c.as_primitive::<UInt32Type>().value(row).to_string(),
        DataType::UInt64 => c.as_primitive::<UInt64Type>().value(row).to_string(),
        DataType::Utf8 => c.as_string::<i32>().value(row).to_string(),
        DataType::Timestamp(_, _) => format_utc(
            c.as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                .value(row),
        ),
        _ => String::new(),
    }
}

/// Writes, under `out` (staged), one folder per affected app (`app_id=N/`), holding the
/// photos to delete (`photos.parquet`: every exposed photo with its owner, surface and first
/// exposure) and the affected users (`users.parquet`), with the app's and its provider's
/// names on every row, and `apps.parquet` listing the apps with their counts; with `csv`,
/// a `.csv` beside each file. `app` exports one app only.
///
/// # Errors
/// As [`rows`]; an app the dataset does not have; an output that may not be written.
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
    let all = rows(&dataset, &catalog, source, None)?;
    let stage = Stage::begin(out, Kind::Output("export apps"), force, "--out", &inputs)?;
    let mut by_app: BTreeMap<u32, Vec<Row>> = BTreeMap::new();
    for r in all
        .into_iter()
        .filter(|r| app.is_none_or(|a| a == r.app_id))
    {
        by_app.entry(r.app_id).or_default().push(r);
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
    let mut summary_rows: Vec<(u32, u64, u64)> = Vec::new();
    let (mut users_total, mut photos_total) = (BTreeSet::new(), 0u64);
    for (&a, rows) in &by_app {
        let dir = stage.path().join(format!("app_id={a}"));
        std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        let (app_name, provider_id, provider_name) = names(a);
        let n = rows.len();
        let photos = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("app_id", DataType::UInt32, false),
                Field::new("app_name", DataType::Utf8, false),
                Field::new("provider_id", DataType::UInt32, false),
                Field::new("provider_name", DataType::Utf8, false),
                Field::new("user_id", DataType::UInt64, false),
                Field::new("photo_id", DataType::UInt64, false),
                Field::new("surface", DataType::Utf8, true),
                ts_field("first_exposed_ts"),
            ])),
            vec![
                Arc::new(UInt32Array::from(vec![a; n])),
                strings(vec![app_name.clone(); n]),
                Arc::new(UInt32Array::from(vec![provider_id; n])),
                strings(vec![provider_name.clone(); n]),
                Arc::new(UInt64Array::from_iter_values(
                    rows.iter().map(|r| r.user_id),
                )),
                Arc::new(UInt64Array::from_iter_values(
                    rows.iter().map(|r| r.photo_id),
                )),
                Arc::new(StringArray::from(
                    rows.iter()
                        .map(|r| r.surface.map(|s| s.as_str()))
                        .collect::<Vec<_>>(),
                )),
                ts_array(rows.iter().map(|r| r.first_exposed_ts).collect()),
            ],
        )
        .expect("columns match");
        let mut per_user: BTreeMap<u64, (u64, Option<i64>)> = BTreeMap::new();
        for r in rows {
            let e = per_user.entry(r.user_id).or_insert((0, None));
            e.0 += 1;
            e.1 = match (e.1, r.first_exposed_ts) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, y) => x.or(y),
            };
        }
        let m = per_user.len();
        let users = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("app_id", DataType::UInt32, false),
                Field::new("app_name", DataType::Utf8, false),
                Field::new("provider_name", DataType::Utf8, false),
                Field::new("user_id", DataType::UInt64, false),
                Field::new("photos", DataType::UInt64, false),
                ts_field("first_exposed_ts"),
            ])),
            vec![
                Arc::new(UInt32Array::from(vec![a; m])),
                strings(vec![app_name.clone(); m]),
                strings(vec![provider_name.clone(); m]),
                Arc::new(UInt64Array::from_iter_values(per_user.keys().copied())),
                Arc::new(UInt64Array::from_iter_values(
                    per_user.values().map(|v| v.0),
                )),
                ts_array(per_user.values().map(|v| v.1).collect()),
            ],
        )
        .expect("columns match");
        for (name, batch) in [("photos", &photos), ("users", &users)] {
            write_table(
                &dir,
                &format!("{name}.parquet"),
                batch.schema(),
                batch.columns().to_vec(),
            )?;
            files.push(format!("app_id={a}/{name}.parquet"));
            if csv {
                write_csv(&dir, &format!("{name}.csv"), batch)?;
                files.push(format!("app_id={a}/{name}.csv"));
            }
        }
        users_total.extend(per_user.keys().copied());
        photos_total += n as u64;
        summary_rows.push((a, m as u64, n as u64));
    }
    let k = summary_rows.len();
    let list = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("app_id", DataType::UInt32, false),
            Field::new("app_name", DataType::Utf8, false),
            Field::new("provider_id", DataType::UInt32, false),
            Field::new("provider_name", DataType::Utf8, false),
            Field::new("users", DataType::UInt64, false),
            Field::new("photos", DataType::UInt64, false),
        ])),
        vec![
            Arc::new(UInt32Array::from_iter_values(
                summary_rows.iter().map(|r| r.0),
            )),
            strings(summary_rows.iter().map(|r| names(r.0).0).collect()),
            Arc::new(UInt32Array::from_iter_values(
                summary_rows.iter().map(|r| names(r.0).1),
            )),
            strings(summary_rows.iter().map(|r| names(r.0).2).collect()),
            Arc::new(UInt64Array::from_iter_values(
                summary_rows.iter().map(|r| r.1),
            )),
            Arc::new(UInt64Array::from_iter_values(
                summary_rows.iter().map(|r| r.2),
            )),
        ],
    )
    .expect("columns match");
    debug_assert_eq!(list.num_rows(), k);
    write_table(
        stage.path(),
        "apps.parquet",
        list.schema(),
        list.columns().to_vec(),
    )?;
    files.push("apps.parquet".into());
    if csv {
        write_csv(stage.path(), "apps.csv", &list)?;
        files.push("apps.csv".into());
    }
    stage.commit()?;
    Ok(Summary {
        apps: k as u64,
        users: users_total.len() as u64,
        photos: photos_total,
        files,
    })
}

/// Writes the notification list under `out` (staged): `users.csv` (ready for a mail merge)
/// and `users.parquet`, one row per affected user with the apps involved (ids and names),
/// the surfaces of the exposed photos, how many photos, and the first exposure.
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
    let all = rows(&dataset, &catalog, source, None)?;
    let stage = Stage::begin(out, Kind::Output("export users"), force, "--out", &inputs)?;
    #[derive(Default)]
    struct User {
        apps: BTreeSet<u32>,
        photos: BTreeSet<u64>,
        surfaces: BTreeSet<&'static str>,
        first: Option<i64>,
    }
    let mut users: BTreeMap<u64, User> = BTreeMap::new();
    for r in &all {
        let u = users.entry(r.user_id).or_default();
        u.apps.insert(r.app_id);
        u.photos.insert(r.photo_id);
        if let Some(s) = r.surface {
            u.surfaces.insert(s.as_str());
        }
        u.first = match (u.first, r.first_exposed_ts) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
    }
    let join = |items: Vec<String>| items.join("; ");
    let app_name = |a: &u32| {
        catalog
            .apps
            .get(a)
            .map_or_else(|| a.to_string(), |x| x.name.clone())
    };
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::UInt64, false),
            Field::new("apps", DataType::UInt64, false),
            Field::new("app_ids", DataType::Utf8, false),
            Field::new("app_names", DataType::Utf8, false),
            Field::new("photos", DataType::UInt64, false),
            Field::new("surfaces", DataType::Utf8, false),
            ts_field("first_exposed_ts"),
        ])),
        vec![
            Arc::new(UInt64Array::from_iter_values(users.keys().copied())),
            Arc::new(UInt64Array::from_iter_values(
                users.values().map(|u| u.apps.len() as u64),
            )),
            strings(
                users
                    .values()
                    .map(|u| join(u.apps.iter().map(|a| a.to_string()).collect()))
                    .collect(),
            ),
            strings(
                users
                    .values()
                    .map(|u| join(u.apps.iter().map(app_name).collect()))
                    .collect(),
            ),
            Arc::new(UInt64Array::from_iter_values(
                users.values().map(|u| u.photos.len() as u64),
            )),
            strings(
                users
                    .values()
                    .map(|u| join(u.surfaces.iter().map(|s| s.to_string()).collect()))
                    .collect(),
            ),
            ts_array(users.values().map(|u| u.first).collect()),
        ],
    )
    .expect("columns match");
    write_table(
        stage.path(),
        "users.parquet",
        batch.schema(),
        batch.columns().to_vec(),
    )?;
    write_csv(stage.path(), "users.csv", &batch)?;
    stage.commit()?;
    Ok(Summary {
        apps: all.iter().map(|r| r.app_id).collect::<BTreeSet<_>>().len() as u64,
        users: users.len() as u64,
        photos: all.len() as u64,
        files: vec!["users.parquet".into(), "users.csv".into()],
    })
}
