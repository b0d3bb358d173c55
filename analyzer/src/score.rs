//! Scores findings against the dataset's `truth/`.

use std::collections::BTreeSet;
use std::fs::File;

use arrow::array::AsArray;
use arrow::datatypes::{UInt32Type, UInt64Type};
use blastradius_schema::path;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;

use crate::dataset::Dataset;
use crate::detect::Findings;
use crate::error::{Error, Result};

/// The ground truth as sets.
#[derive(Debug, Default)]
pub struct Truth {
    pub exposures: BTreeSet<(u32, u64, u64)>,
    pub users: BTreeSet<u64>,
    pub violations: BTreeSet<u64>,
    /// Per app: (provider, distinct users, exposures), from `truth/affected_apps.parquet`
    /// when present (a one-shard dataset has none).
    pub apps: crate::output::AppCounts,
}

/// Precision, recall and F1 of one level, with the counts they come from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Score {
    pub true_positives: u64,
    pub false_positives: u64,
    pub false_negatives: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl Score {
    /// Scores `found` against `truth`. An empty set predicted for an empty truth scores 1.
    pub fn of<T: Ord>(found: &BTreeSet<T>, truth: &BTreeSet<T>) -> Self {
        let tp = found.intersection(truth).count() as u64;
        let (fp, fn_) = (found.len() as u64 - tp, truth.len() as u64 - tp);
        let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
        let (precision, recall) = (ratio(tp, tp + fp), ratio(tp, tp + fn_));
        let f1 = if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
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
}

/// Scores at user level, exposure level and for message violations.
#[derive(Debug, Clone, Serialize)]
pub struct Scores {
    pub users: Score,
    /// `None` for detectors that name users only.
    pub exposures: Option<Score>,
    pub violations: Option<Score>,
}

fn read_parts(
    dataset: &Dataset,
    dir: &str,
    mut each: impl FnMut(&arrow::array::RecordBatch) -> Option<()>,
) -> Result<()> {
    for f in dataset.parts(dir) {
        read_file(dataset, &f.path, &mut each)?;
    }
    Ok(())
}

fn read_file(
    dataset: &Dataset,
    relative: &str,
    mut each: impl FnMut(&arrow::array::RecordBatch) -> Option<()>,
) -> Result<()> {
    {
        let p = dataset.root.join(relative);
        let file = File::open(&p).map_err(|source| Error::Io {
            path: p.clone(),
            source,
        })?;
        let perr = |source| Error::Parquet {
            path: p.clone(),
            source,
        };
        for batch in ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(perr)?
            .build()
            .map_err(perr)?
        {
            each(&batch.map_err(|e| perr(e.into()))?).ok_or_else(|| Error::Schema {
                path: p.clone(),
                column: "app_id, user_id, photo_id or event_id".into(),
                problem: "is missing or has another type".into(),
                expected: "the truth schema of data/README.md".into(),
            })?;
        }
    }
    Ok(())
}

impl Truth {
    /// Reads `truth/` (exposures and message violations).
    ///
    /// # Errors
    /// A truth file that cannot be read.
    pub fn read(dataset: &Dataset) -> Result<Self> {
        let mut t = Truth::default();
        read_parts(dataset, path::EXPOSURES_DIR, |b| {
            let apps = b
                .column_by_name("app_id")?
                .as_primitive_opt::<UInt32Type>()?;
            let users = b
                .column_by_name("user_id")?
                .as_primitive_opt::<UInt64Type>()?;
            let photos = b
                .column_by_name("photo_id")?
                .as_primitive_opt::<UInt64Type>()?;
            for i in 0..b.num_rows() {
                t.exposures
                    .insert((apps.value(i), users.value(i), photos.value(i)));
                t.users.insert(users.value(i));
            }
            Some(())
        })?;
        read_parts(dataset, path::MESSAGE_VIOLATIONS_DIR, |b| {
            let ids = b
                .column_by_name("event_id")?
                .as_primitive_opt::<UInt64Type>()?;
            t.violations.extend(ids.values().iter().copied());
            Some(())
        })?;
        if dataset
            .manifest
            .files
            .iter()
            .any(|f| f.path == path::AFFECTED_APPS)
        {
            read_file(dataset, path::AFFECTED_APPS, |b| {
                let apps = b
                    .column_by_name("app_id")?
                    .as_primitive_opt::<UInt32Type>()?;
                let owners = b
                    .column_by_name("provider_id")?
                    .as_primitive_opt::<UInt32Type>()?;
                let users = b
                    .column_by_name("users")?
                    .as_primitive_opt::<UInt64Type>()?;
                let photos = b
                    .column_by_name("photos")?
                    .as_primitive_opt::<UInt64Type>()?;
                for i in 0..b.num_rows() {
                    t.apps.insert(
                        apps.value(i),
                        (owners.value(i), users.value(i), photos.value(i)),
                    );
                }
                Some(())
            })?;
        }
        Ok(t)
    }

    /// Scores `findings`; exposure and violation levels only for detectors that report them.
    pub fn score(&self, findings: &Findings, reports_exposures: bool) -> Scores {
        let exposures: BTreeSet<_> = findings
            .exposures
            .iter()
            .map(|e| (e.app_id, e.user_id, e.photo_id))
            .collect();
        let violations: BTreeSet<_> = findings.violations.iter().map(|v| v.event_id).collect();
        Scores {
            users: Score::of(&findings.affected_users, &self.users),
            exposures: reports_exposures.then(|| Score::of(&exposures, &self.exposures)),
            violations: reports_exposures.then(|| Score::of(&violations, &self.violations)),
        }
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
        assert!((s.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((s.recall - 0.5).abs() < 1e-12);
        assert!((s.f1 - 4.0 / 7.0).abs() < 1e-12);
        let empty = BTreeSet::<u32>::new();
        assert_eq!(Score::of(&empty, &empty).f1, 1.0);
        assert_eq!(Score::of(&empty, &truth).recall, 0.0);
    }
}
