//! Writes what a detector found as Parquet, in the dataset's truth shapes, so the list of
//! affected users can go straight into a notification pipeline.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, DictionaryArray, Int8Array, RecordBatch, StringArray,
    TimestampMicrosecondArray, UInt32Array, UInt64Array,
};
use arrow::datatypes::{Int8Type, SchemaRef, UInt32Type};
use blastradius_schema::{
    Action, Surface, affected_apps_schema, affected_users_schema, exposures_schema,
    message_violations_schema, path,
};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::dataset::Dataset;
use crate::detect::Findings;
use crate::error::{Error, Result};

/// Per app: (provider, distinct users, exposures).
pub type AppCounts = BTreeMap<u32, (u32, u64, u64)>;

/// Reads `apps.parquet`: app id to provider id.
///
/// # Errors
/// When the file is missing, unreadable, or lacks `app_id` / `provider_id` as UInt32.
pub fn providers(dataset: &Dataset) -> Result<BTreeMap<u32, u32>> {
    let p = dataset.root.join(path::APPS);
    let file = File::open(&p).map_err(|source| Error::Io {
        path: p.clone(),
        source,
    })?;
    let perr = |source| Error::Parquet {
        path: p.clone(),
        source,
    };
    let mut out = BTreeMap::new();
    for batch in ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(perr)?
        .build()
        .map_err(perr)?
    {
        let b = batch.map_err(|e| perr(e.into()))?;
        let column = |name: &str| {
            b.column_by_name(name)
                .and_then(|c| c.as_primitive_opt::<UInt32Type>().cloned())
                .ok_or_else(|| Error::Schema {
                    path: p.clone(),
                    column: name.into(),
                    problem: "is missing or not UInt32".into(),
                    expected: "UInt32".into(),
                })
        };
        let (apps, owners) = (column("app_id")?, column("provider_id")?);
        out.extend(
            apps.values()
                .iter()
                .copied()
                .zip(owners.values().iter().copied()),
        );
    }
    Ok(out)
}

/// Distinct users and exposures per app for `findings`.
pub fn app_counts(findings: &Findings, providers: &BTreeMap<u32, u32>) -> AppCounts {
    let mut counts: AppCounts = BTreeMap::new();
    for &(_, app) in &findings.user_apps {
        let provider = providers.get(&app).copied().unwrap_or(u32::MAX);
        counts.entry(app).or_insert((provider, 0, 0)).1 += 1;
    }
    for e in &findings.exposures {
        if let Some(c) = counts.get_mut(&e.app_id) {
            c.2 += 1;
        }
    }
    counts
}

fn enum_array(names: Vec<&str>, keys: Vec<i8>) -> ArrayRef {
    let values = Arc::new(StringArray::from(names));
    Arc::new(
        DictionaryArray::<Int8Type>::try_new(Int8Array::from(keys), values)
            .expect("keys index names"),
    )
}

fn ts_array(values: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"))
}

fn write(dir: &Path, name: &str, schema: SchemaRef, columns: Vec<ArrayRef>) -> Result<PathBuf> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.partial"));
    let perr = |source| Error::Parquet {
        path: path.clone(),
        source,
    };
    let file = File::create(&tmp).map_err(|source| Error::Io {
        path: tmp.clone(),
        source,
    })?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("valid level"),
        ))
        .build();
    let batch = RecordBatch::try_new(schema.clone(), columns).expect("columns match the schema");
    let mut writer = ArrowWriter::try_new(file, schema, Some(props)).map_err(perr)?;
    writer.write(&batch).map_err(perr)?;
    writer.close().map_err(perr)?;
    std::fs::rename(&tmp, &path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Writes `exposures`, `affected_users`, `affected_apps` and `message_violations` under `dir`.
///
/// # Errors
/// When the folder or a file cannot be written.
pub fn write_findings(dir: &Path, findings: &Findings, apps: &AppCounts) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.into(),
        source,
    })?;
    let surfaces: Vec<&str> = Surface::ALL.iter().map(|s| s.as_str()).collect();
    let actions: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
    let e = &findings.exposures;
    let exposures = write(
        dir,
        "exposures.parquet",
        exposures_schema(),
        vec![
            Arc::new(UInt32Array::from_iter_values(e.iter().map(|x| x.app_id))),
            Arc::new(UInt64Array::from_iter_values(e.iter().map(|x| x.user_id))),
            Arc::new(UInt64Array::from_iter_values(e.iter().map(|x| x.photo_id))),
            enum_array(surfaces, e.iter().map(|x| x.surface as i8).collect()),
            ts_array(e.iter().map(|x| x.first_exposed_ts).collect()),
        ],
    )?;
    let mut per_user: BTreeMap<u64, (u32, BTreeSet<u64>)> = BTreeMap::new();
    for &(user, _) in &findings.user_apps {
        per_user.entry(user).or_default().0 += 1;
    }
    for x in e {
        per_user.entry(x.user_id).or_default().1.insert(x.photo_id);
    }
    let users = write(
        dir,
        "affected_users.parquet",
        affected_users_schema(),
        vec![
            Arc::new(UInt64Array::from_iter_values(per_user.keys().copied())),
            Arc::new(UInt32Array::from_iter_values(
                per_user.values().map(|v| v.0),
            )),
            Arc::new(UInt32Array::from_iter_values(
                per_user.values().map(|v| v.1.len() as u32),
            )),
        ],
    )?;
    let app_file = write(
        dir,
        "affected_apps.parquet",
        affected_apps_schema(),
        vec![
            Arc::new(UInt32Array::from_iter_values(apps.keys().copied())),
            Arc::new(UInt32Array::from_iter_values(apps.values().map(|v| v.0))),
            Arc::new(UInt64Array::from_iter_values(apps.values().map(|v| v.1))),
            Arc::new(UInt64Array::from_iter_values(apps.values().map(|v| v.2))),
        ],
    )?;
    let v = &findings.violations;
    let violations = write(
        dir,
        "message_violations.parquet",
        message_violations_schema(),
        vec![
            Arc::new(UInt64Array::from_iter_values(v.iter().map(|x| x.event_id))),
            Arc::new(UInt32Array::from_iter_values(v.iter().map(|x| x.app_id))),
            Arc::new(UInt64Array::from_iter_values(v.iter().map(|x| x.user_id))),
            enum_array(actions, v.iter().map(|x| x.action as i8).collect()),
            ts_array(v.iter().map(|x| x.ts).collect()),
        ],
    )?;
    Ok(vec![exposures, users, app_file, violations])
}
