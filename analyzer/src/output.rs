//! The dataset's dimension tables as the reports need them (names of apps and providers),
//! per-app counts, and the one Parquet writer every output of the analyzer goes through.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, Int8Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Int8Type, Schema, SchemaRef};
use blastradius_schema::{col, path};
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::arrow::{ARROW_SCHEMA_META_KEY, ArrowWriter, encode_arrow_schema};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::detect::DetectorOutput;
use crate::error::{Error, Result};
use blastradius_dataset::Dataset;

/// Per app: (provider, distinct users, exposures).
pub type AppCounts = BTreeMap<u32, (u32, u64, u64)>;

/// One app of the dataset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct App {
    pub provider_id: u32,
    pub name: String,
    pub category: String,
}

/// The names of the dataset's apps and providers.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub apps: BTreeMap<u32, App>,
    pub providers: BTreeMap<u32, String>,
}

impl Catalog {
    /// Reads `apps.parquet` and `providers.parquet` (each checked against the manifest).
    ///
    /// # Errors
    /// When a file is missing from the manifest, unreadable, or lacks its columns.
    pub fn read(dataset: &Dataset) -> Result<Self> {
        let mut catalog = Catalog::default();
        for file in [path::APPS, path::PROVIDERS] {
            let entry = dataset.file(file).ok_or_else(|| {
                Error::dataset(
                    dataset.root.join(path::MANIFEST),
                    format!("does not list {file}; regenerate the dataset"),
                )
            })?;
            let p = dataset.root.join(file);
            let reader = dataset.reader(entry)?.build().map_err(Error::parquet(&p))?;
            for batch in reader {
                let b = batch.map_err(|e| Error::parquet(&p)(e.into()))?;
                let column = |name: &str| {
                    b.column_by_name(name)
                        .cloned()
                        .ok_or_else(|| Error::Schema {
                            path: p.clone(),
                            column: name.into(),
                            problem: "is missing".into(),
                            expected: "the columns of data/README.md".into(),
                        })
                };
                let ids = |name: &str| -> Result<Vec<u32>> {
                    let c = column(name)?;
                    blastradius_schema::arrays::id_column::<u32>(&c).ok_or_else(|| Error::Schema {
                        path: p.clone(),
                        column: name.into(),
                        problem: format!(
                            "has type {}, a null, or an id out of range",
                            c.data_type()
                        ),
                        expected: "Int64 (UInt32 before schema version 2)".into(),
                    })
                };
                let text = |name: &str| -> Result<Vec<String>> {
                    let c = column(name)?;
                    let s =
                        arrow::compute::cast(&c, &DataType::Utf8).map_err(|_| Error::Schema {
                            path: p.clone(),
                            column: name.into(),
                            problem: format!("has type {}", c.data_type()),
                            expected: "Utf8".into(),
                        })?;
                    let s = s.as_string::<i32>();
                    Ok((0..s.len()).map(|i| s.value(i).to_string()).collect())
                };
                if file == path::APPS {
                    let (apps, owners) = (ids(col::APP_ID)?, ids(col::PROVIDER_ID)?);
                    let (names, categories) = (text(col::NAME)?, text(col::CATEGORY)?);
                    for i in 0..apps.len() {
                        catalog.apps.insert(
                            apps[i],
                            App {
                                provider_id: owners[i],
                                name: names[i].clone(),
                                category: categories[i].clone(),
                            },
                        );
                    }
                } else {
                    let (ids, names) = (ids(col::PROVIDER_ID)?, text(col::NAME)?);
                    catalog.providers.extend(ids.into_iter().zip(names));
                }
            }
        }
        Ok(catalog)
    }

    /// The provider of `app`, or `u32::MAX` for an app the catalog does not know.
    pub fn provider_of(&self, app: u32) -> u32 {
        self.apps.get(&app).map_or(u32::MAX, |a| a.provider_id)
    }

    /// App id to provider id.
    pub fn providers_by_app(&self) -> BTreeMap<u32, u32> {
        self.apps.iter().map(|(&a, x)| (a, x.provider_id)).collect()
    }
}

/// Distinct users and exposures per app for `findings`.
pub fn app_counts(findings: &DetectorOutput, providers: &BTreeMap<u32, u32>) -> AppCounts {
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

/// An enum column: a dictionary of every value's name, keyed by position.
pub fn enum_array<T: EnumName>(all: &[T], values: impl Iterator<Item = T>) -> ArrayRef {
    let names: Vec<&str> = all.iter().map(|v| v.name()).collect();
    let keys: Int8Array = values.map(|v| v.key()).collect();
    Arc::new(
        DictionaryArray::<Int8Type>::try_new(keys, Arc::new(StringArray::from(names)))
            .expect("keys index names"),
    )
}

/// The text of an enum value (implemented for the schema's enums).
pub trait EnumName {
    fn name(&self) -> &'static str;
    fn key(&self) -> i8;
}

macro_rules! enum_name {
    ($($t:ty),*) => {$(
        impl EnumName for $t {
            fn name(&self) -> &'static str {
                self.as_str()
            }
            fn key(&self) -> i8 {
                self.index() as i8
            }
        }
    )*};
}
enum_name!(
    blastradius_schema::Surface,
    blastradius_schema::Action,
    blastradius_schema::Kind,
    blastradius_schema::Scope
);

/// A timestamp column in microseconds, UTC.
pub fn ts_array(values: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"))
}

/// Writes one record batch of `schema` to `dir/name` (written aside, then renamed), as the
/// dataset's files are written: zstd, and an Arrow schema that declares enum columns as
/// plain strings. A column with nulls makes its field nullable.
///
/// # Errors
/// When the file cannot be written (the message says why: a full disk, permissions).
pub fn write_table(
    dir: &Path,
    name: &str,
    schema: SchemaRef,
    columns: Vec<ArrayRef>,
) -> Result<PathBuf> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.partial"));
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .zip(&columns)
        .map(|(f, c)| {
            f.as_ref()
                .clone()
                .with_nullable(f.is_nullable() || c.null_count() > 0)
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let werr = Error::write(path.clone());
    let file = std::fs::File::create(&tmp).map_err(|e| Error::Write {
        path: path.clone(),
        error: e.to_string(),
    })?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("valid level"),
        ))
        .set_key_value_metadata(Some(vec![KeyValue::new(
            ARROW_SCHEMA_META_KEY.to_string(),
            encode_arrow_schema(&blastradius_schema::stored(&schema)),
        )]))
        .build();
    let batch = RecordBatch::try_new(schema.clone(), columns).expect("columns match the schema");
    let options = ArrowWriterOptions::new()
        .with_properties(props)
        .with_skip_arrow_metadata(true);
    let mut writer = ArrowWriter::try_new_with_options(file, schema, options).map_err(&werr)?;
    writer.write(&batch).map_err(&werr)?;
    writer.close().map_err(&werr)?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::Write {
        path: path.clone(),
        error: e.to_string(),
    })?;
    Ok(path)
}
