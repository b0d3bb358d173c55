//! The alarms contract: the folder a discovery detector writes (data/README §14), and its
//! reader.
//!
//! ```text
//! ALARMS/
//!   alarms.parquet                 alarm_id, fired_ts, confidence [, deploy_id]
//!   alarm_users.{parquet,csv}      alarm_id, user_id      (optional: the suspected users)
//!   alarm_apps.{parquet,csv}       alarm_id, app_id       (optional: the suspected apps)
//!   findings.json                  (optional) {"detector": ..., ...}
//! ```
//!
//! Each row of `alarms` is one page to a person: a detector that pages on every suspicious
//! call is scored as paging that often. `fired_ts` is the log time at which it would have
//! fired, having read only the events up to that time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use blastradius_schema::arrays::{int64, integers};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};
use crate::findings::{Table, Universe, column_names, locate};

/// The tables of an alarms folder.
pub const ALARMS: &str = "alarms";
pub const ALARM_USERS: &str = "alarm_users";
pub const ALARM_APPS: &str = "alarm_apps";

/// One alarm: when it fired (log time, µs), how sure it is, the deploy it blames, and the
/// users and apps it suspects (its early estimate of the blast radius).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Alarm {
    pub fired_ts: i64,
    pub confidence: f64,
    pub deploy_id: Option<u64>,
    pub users: Vec<u64>,
    pub apps: Vec<u32>,
}

fn alarms_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("alarm_id", DataType::Int64, false),
        Field::new(
            "fired_ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("confidence", DataType::Float64, false),
        Field::new("deploy_id", DataType::Int64, true),
    ]))
}

fn pairs_schema(second: &str) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("alarm_id", DataType::Int64, false),
        Field::new(second, DataType::Int64, false),
    ]))
}

/// Writes `alarms` under `dir` (ids count from 1 in the order given); returns the files.
///
/// # Errors
/// When a file cannot be written.
pub fn write(dir: &Path, alarms: &[Alarm]) -> Result<Vec<PathBuf>> {
    use crate::output::{ts_array, write_table};
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let ids = || 1..=alarms.len() as u64;
    let deploys: ArrayRef = Arc::new(
        alarms
            .iter()
            .map(|a| a.deploy_id.map(|d| d as i64))
            .collect::<arrow::array::Int64Array>(),
    );
    let mut written = vec![write_table(
        dir,
        &format!("{ALARMS}.parquet"),
        alarms_schema(),
        vec![
            int64(ids(), None),
            ts_array(alarms.iter().map(|a| a.fired_ts).collect()),
            Arc::new(Float64Array::from_iter_values(
                alarms.iter().map(|a| a.confidence),
            )),
            deploys,
        ],
    )?];
    let users: Vec<(u64, u64)> = ids()
        .zip(alarms)
        .flat_map(|(id, a)| a.users.iter().map(move |&u| (id, u)))
        .collect();
    written.push(write_table(
        dir,
        &format!("{ALARM_USERS}.parquet"),
        pairs_schema("user_id"),
        vec![
            int64(users.iter().map(|p| p.0), None),
            int64(users.iter().map(|p| p.1), None),
        ],
    )?);
    let apps: Vec<(u64, u64)> = ids()
        .zip(alarms)
        .flat_map(|(id, a)| a.apps.iter().map(move |&p| (id, p as u64)))
        .collect();
    written.push(write_table(
        dir,
        &format!("{ALARM_APPS}.parquet"),
        pairs_schema("app_id"),
        vec![
            int64(apps.iter().map(|p| p.0), None),
            int64(apps.iter().map(|p| p.1), None),
        ],
    )?);
    Ok(written)
}

/// Whether `dir` is an alarms folder (it holds `alarms.parquet`, `.csv` or `alarms/`).
pub fn is_alarms_folder(dir: &Path) -> bool {
    [
        dir.join(format!("{ALARMS}.parquet")),
        dir.join(format!("{ALARMS}.csv")),
        dir.join(ALARMS),
    ]
    .iter()
    .any(|p| p.exists())
}

fn schema_error(path: &Path, column: &str, problem: String) -> Error {
    Error::Schema {
        path: path.to_path_buf(),
        column: column.into(),
        problem,
        expected: "the alarms contract of data/README.md §14".into(),
    }
}

/// Loads the alarms folder `dir`, checking every id against `universe`; alarms come back in
/// the order of their `alarm_id`.
///
/// # Errors
/// A folder without `alarms.parquet`; a missing column, a null, a confidence outside
/// `[0, 1]`, a repeated `alarm_id`; a suspect that names an alarm the folder lacks or a
/// user or app the dataset lacks. Each names the file, the column and the fix.
pub fn load(dir: &Path, universe: &Universe) -> Result<Vec<Alarm>> {
    if !dir.is_dir() {
        return Err(Error::dataset(
            dir,
            "no such alarms folder; give the folder your discovery detector wrote (data/README.md §14)",
        ));
    }
    let Some(parts) = locate(dir, ALARMS)? else {
        return Err(Error::dataset(
            dir,
            "holds no alarms.parquet; a discovery detector writes one row per alarm there (data/README.md §14); a folder with no alarm writes the file with no rows",
        ));
    };
    let mut by_id: BTreeMap<u64, Alarm> = BTreeMap::new();
    for part in &parts {
        if part.extension().is_some_and(|e| e == "csv") {
            return Err(Error::dataset(
                part,
                "alarms are read from Parquet only (fired_ts is a timestamp, confidence a float); write alarms.parquet (pyarrow, DuckDB, Spark and polars all can)",
            ));
        }
        read_alarms(part, &mut by_id)?;
    }
    for (table, column) in [(ALARM_USERS, "user_id"), (ALARM_APPS, "app_id")] {
        let Some(parts) = locate(dir, table)? else {
            continue;
        };
        for part in parts {
            Table::scan(&part, &["alarm_id", column], &[], |t, row| {
                let id = t.required(0, row)?;
                let value = t.required(1, row)?;
                let Some(alarm) = by_id.get_mut(&id) else {
                    return Err(schema_error(
                        &part,
                        "alarm_id",
                        format!(
                            "names alarm {id} on {}, which alarms.parquet lacks",
                            t.place(row)
                        ),
                    ));
                };
                if table == ALARM_USERS {
                    if value >= universe.users {
                        return Err(schema_error(
                            &part,
                            column,
                            format!(
                                "names user {value} on {}; the dataset's users are 0 to {}",
                                t.place(row),
                                universe.users.saturating_sub(1)
                            ),
                        ));
                    }
                    alarm.users.push(value);
                } else {
                    let app = u32::try_from(value)
                        .ok()
                        .filter(|a| universe.apps.contains(a));
                    let Some(app) = app else {
                        return Err(schema_error(
                            &part,
                            column,
                            format!(
                                "names app {value} on {}, which apps.parquet lacks",
                                t.place(row)
                            ),
                        ));
                    };
                    alarm.apps.push(app);
                }
                Ok(())
            })?;
        }
    }
    let mut alarms: Vec<Alarm> = by_id.into_values().collect();
    for a in &mut alarms {
        let (u, p): (BTreeSet<u64>, BTreeSet<u32>) =
            (a.users.drain(..).collect(), a.apps.drain(..).collect());
        a.users = u.into_iter().collect();
        a.apps = p.into_iter().collect();
    }
    Ok(alarms)
}

fn read_alarms(path: &Path, by_id: &mut BTreeMap<u64, Alarm>) -> Result<()> {
    let file = std::fs::File::open(path).map_err(Error::io(path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(Error::parquet(path))?
        .build()
        .map_err(Error::parquet(path))?;
    let mut rows = 0usize;
    for batch in reader {
        let b = batch.map_err(|e| Error::parquet(path)(e.into()))?;
        let column = |name: &str| {
            b.column_by_name(name).ok_or_else(|| {
                schema_error(
                    path,
                    name,
                    format!("is missing (the file has: {})", column_names(&b)),
                )
            })
        };
        let no_nulls = |name: &str, a: &ArrayRef| match a.null_count() {
            0 => Ok(()),
            _ => Err(schema_error(
                path,
                name,
                "has nulls; every alarm needs one".into(),
            )),
        };
        let ids_array = column("alarm_id")?;
        no_nulls("alarm_id", ids_array)?;
        let ids = integers(ids_array)
            .ok_or_else(|| schema_error(path, "alarm_id", "is not of an integer type".into()))?;
        let fired = column("fired_ts")?;
        no_nulls("fired_ts", fired)?;
        let fired = micros(fired).ok_or_else(|| {
            schema_error(
                path,
                "fired_ts",
                format!(
                    "is of type {}, not a timestamp (or microseconds since 1970 as an integer)",
                    fired.data_type()
                ),
            )
        })?;
        let confidence = column("confidence")?;
        no_nulls("confidence", confidence)?;
        let confidence = arrow::compute::cast(confidence, &DataType::Float64)
            .ok()
            .filter(|_| confidence.data_type().is_floating() || confidence.data_type().is_integer())
            .ok_or_else(|| schema_error(path, "confidence", "is not a number".into()))?;
        let confidence = confidence.as_primitive::<arrow::datatypes::Float64Type>();
        // A column of nulls only (pandas and pyarrow write one as type Null) blames nothing.
        let deploys = match b.column_by_name("deploy_id") {
            Some(d) if d.data_type() == &DataType::Null => None,
            Some(d) => Some(integers(d).ok_or_else(|| {
                schema_error(path, "deploy_id", "is not of an integer type".into())
            })?),
            None => None,
        };
        for i in 0..b.num_rows() {
            let place = format!("row {}", rows + i);
            let Some(Ok(id)) = ids[i] else {
                return Err(schema_error(
                    path,
                    "alarm_id",
                    format!("is negative on {place}"),
                ));
            };
            let c = confidence.value(i);
            if !(0.0..=1.0).contains(&c) {
                return Err(schema_error(
                    path,
                    "confidence",
                    format!("is {c} on {place}; a confidence is between 0 and 1"),
                ));
            }
            let deploy_id = match deploys.as_ref().and_then(|d| d[i]) {
                None => None,
                Some(Ok(d)) => Some(d),
                Some(Err(_)) => {
                    return Err(schema_error(
                        path,
                        "deploy_id",
                        format!("is negative on {place}; it is a deploy's event_id, or null"),
                    ));
                }
            };
            let alarm = Alarm {
                fired_ts: fired[i],
                confidence: c,
                deploy_id,
                ..Alarm::default()
            };
            if by_id.insert(id, alarm).is_some() {
                return Err(schema_error(
                    path,
                    "alarm_id",
                    format!("repeats alarm {id} on {place}; each alarm has its own id"),
                ));
            }
        }
        rows += b.num_rows();
    }
    Ok(())
}

/// A timestamp column (any unit) or an integer one (microseconds) as microseconds.
fn micros(a: &ArrayRef) -> Option<Vec<i64>> {
    let target = DataType::Timestamp(TimeUnit::Microsecond, None);
    match a.data_type() {
        DataType::Timestamp(_, _) => {
            let plain = arrow::compute::cast(a, &target).ok()?;
            let p = plain.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            Some(p.values().to_vec())
        }
        t if t.is_integer() => Some(
            integers(a)?
                .into_iter()
                .map(|v| match v {
                    Some(Ok(u)) => u as i64,
                    Some(Err(n)) => n,
                    None => 0,
                })
                .collect(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn universe() -> Universe {
        Universe {
            users: 100,
            apps: [1, 2, 3].into_iter().collect(),
            world: None,
        }
    }

    #[test]
    fn alarms_written_are_read_back() {
        let t = tempfile::tempdir().unwrap();
        let alarms = vec![
            Alarm {
                fired_ts: 1_000,
                confidence: 0.5,
                deploy_id: Some(107),
                users: vec![4, 9],
                apps: vec![2],
            },
            Alarm {
                fired_ts: 2_000,
                confidence: 1.0,
                deploy_id: None,
                users: vec![],
                apps: vec![],
            },
        ];
        write(t.path(), &alarms).unwrap();
        assert!(is_alarms_folder(t.path()));
        assert_eq!(load(t.path(), &universe()).unwrap(), alarms);
        // No alarm at all: an empty table, read as none.
        let e = t.path().join("empty");
        write(&e, &[]).unwrap();
        assert!(load(&e, &universe()).unwrap().is_empty());
    }

    #[test]
    fn a_deploy_id_column_of_nulls_only_blames_nothing() {
        let t = tempfile::tempdir().unwrap();
        let b = arrow::array::RecordBatch::try_from_iter([
            (
                "alarm_id",
                Arc::new(arrow::array::Int32Array::from(vec![7])) as ArrayRef,
            ),
            (
                "fired_ts",
                Arc::new(arrow::array::Int64Array::from(vec![5_000])) as ArrayRef,
            ),
            (
                "confidence",
                Arc::new(Float64Array::from(vec![0.5])) as ArrayRef,
            ),
            (
                "deploy_id",
                Arc::new(arrow::array::NullArray::new(1)) as ArrayRef,
            ),
        ])
        .unwrap();
        let f = std::fs::File::create(t.path().join("alarms.parquet")).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(f, b.schema(), None).unwrap();
        w.write(&b).unwrap();
        w.close().unwrap();
        let a = load(t.path(), &universe()).unwrap();
        assert_eq!((a[0].fired_ts, a[0].deploy_id), (5_000, None));
    }

    #[test]
    fn a_bad_alarms_folder_is_refused_with_the_file_and_column() {
        let t = tempfile::tempdir().unwrap();
        let err = load(t.path(), &universe()).unwrap_err().to_string();
        assert!(err.contains("holds no alarms.parquet"), "{err}");
        let bad = |alarm: Alarm| {
            let d = tempfile::tempdir().unwrap();
            write(d.path(), &[alarm]).unwrap();
            load(d.path(), &universe()).unwrap_err().to_string()
        };
        let err = bad(Alarm {
            confidence: 1.5,
            ..Alarm::default()
        });
        assert!(
            err.contains("confidence") && err.contains("between 0 and 1"),
            "{err}"
        );
        let err = bad(Alarm {
            users: vec![100],
            ..Alarm::default()
        });
        assert!(
            err.contains("alarm_users.parquet") && err.contains("user 100"),
            "{err}"
        );
        let err = bad(Alarm {
            apps: vec![9],
            ..Alarm::default()
        });
        assert!(err.contains("app 9"), "{err}");
    }
}
