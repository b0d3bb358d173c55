//! The findings contract: the folder any detector writes, in the shapes of `truth/`, and
//! the loader `score` (and `analyze`, for its own detectors) reads it with.
//!
//! ```text
//! FINDINGS/
//!   exposures.parquet | exposures.csv | exposures/*.{parquet,csv}      app_id, user_id, photo_id
//!   affected_users...                                                   user_id
//!   message_violations...                                               event_id
//!   affected_apps...          (optional)                                app_id [, users]
//!   findings.json             (optional) {"detector": ..., "wall_seconds": ..., ...}
//! ```
//!
//! A detector writes only the levels it knows; the score says which were scored. Integer
//! columns may be any integer type; other columns are ignored. Every id is checked against
//! the dataset, so a finding about a user or app the dataset does not have is an error, not
//! a false positive.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, TimeUnit, UInt64Type};
use blastradius_schema::arrays::integers;
use blastradius_schema::event_owner;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The tables of a findings folder.
pub const EXPOSURES: &str = "exposures";
pub const AFFECTED_USERS: &str = "affected_users";
pub const MESSAGE_VIOLATIONS: &str = "message_violations";
pub const AFFECTED_APPS: &str = "affected_apps";
/// The View-As incident's levels (data/README §13).
pub const STOLEN_TOKENS: &str = "stolen_tokens";
pub const VIEW_AS_USERS: &str = "view_as_users";
/// The optional description of the run.
pub const META: &str = "findings.json";

/// `findings.json`: who found this and at what cost; every key optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<u64>,
    /// The world of the dataset the findings are of (`Manifest::world_id`), as blastradius
    /// writes it: findings that name another world are refused wherever they are read
    /// against a dataset. An outside detector may leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub world: Option<String>,
    /// Anything else the detector says about itself, kept as given.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// What the ids of a finding must belong to: the dataset's users and apps.
#[derive(Clone, Debug, Default)]
pub struct Universe {
    /// User ids are `0..users`.
    pub users: u64,
    pub apps: BTreeSet<u32>,
    /// The dataset's world: a `findings.json` that names another is refused.
    pub world: Option<String>,
}

/// A findings folder, loaded: each level present or not.
#[derive(Clone, Debug, Default)]
pub struct Findings {
    /// Distinct (app, user, photo).
    pub exposures: Option<BTreeSet<(u32, u64, u64)>>,
    /// From `affected_users`, or else the users of `exposures`.
    pub users: Option<BTreeSet<u64>>,
    /// Event ids of the violating calls.
    pub violations: Option<BTreeSet<u64>>,
    /// Distinct users per app: from `affected_apps` when it has `users`, else from
    /// `exposures`.
    pub app_users: Option<BTreeMap<u32, u64>>,
    /// View-As: the tokens said to be taken.
    pub stolen_tokens: Option<BTreeSet<u64>>,
    /// View-As: the users said to be affected, with the tier where the findings give one.
    pub view_as_users: Option<BTreeMap<u64, Option<blastradius_schema::Tier>>>,
    pub meta: Meta,
}

impl Findings {
    /// The levels present, in words, for reports.
    pub fn levels(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.users.is_some() {
            v.push("users");
        }
        if self.exposures.is_some() {
            v.push("exposures");
        }
        if self.violations.is_some() {
            v.push("violations");
        }
        if self.stolen_tokens.is_some() {
            v.push("stolen tokens");
        }
        if self.view_as_users.is_some() {
            v.push("view-as users");
        }
        v
    }
}

/// Where the table `name` of a findings folder is: one file or a folder of parts.
pub(crate) fn locate(dir: &Path, name: &str) -> Result<Option<Vec<PathBuf>>> {
    let candidates = [
        dir.join(format!("{name}.parquet")),
        dir.join(format!("{name}.csv")),
        dir.join(name),
    ];
    let present: Vec<&PathBuf> = candidates.iter().filter(|p| p.exists()).collect();
    match present.as_slice() {
        [] => Ok(None),
        [one] if one.is_dir() => {
            let mut parts: Vec<PathBuf> = std::fs::read_dir(one)
                .map_err(Error::io(*one))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let n = p.file_name().map(|n| n.to_string_lossy().into_owned());
                    n.is_some_and(|n| {
                        !n.starts_with('.') && (n.ends_with(".parquet") || n.ends_with(".csv"))
                    })
                })
                .collect();
            if parts.is_empty() {
                return Err(Error::dataset(
                    *one,
                    "holds no .parquet or .csv part; write the table's rows there, or remove the empty folder",
                ));
            }
            parts.sort();
            Ok(Some(parts))
        }
        [one] => Ok(Some(vec![(*one).clone()])),
        _ => Err(Error::dataset(
            dir,
            format!(
                "holds {name} more than once ({}); keep one",
                present
                    .iter()
                    .map(|p| p.file_name().unwrap_or_default().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// Loads the findings folder `dir`, checking every id against `universe`.
///
/// # Errors
/// A folder with no findings table, a table missing a required column or with a column of
/// the wrong type, a null, a negative or unknown id, a CSV row that does not parse, or an
/// unreadable `findings.json`: each names the file (and column, row) and the fix.
pub fn load(dir: &Path, universe: &Universe) -> Result<Findings> {
    if !dir.is_dir() {
        return Err(Error::dataset(
            dir,
            "no such findings folder; give the folder your detector wrote (data/README.md, \"Findings\")",
        ));
    }
    let mut found = Findings::default();
    let meta_path = dir.join(META);
    if meta_path.exists() {
        let text = std::fs::read_to_string(&meta_path).map_err(Error::io(&meta_path))?;
        found.meta = serde_json::from_str(&text).map_err(|e| {
            Error::dataset(
                &meta_path,
                format!("not valid ({e}); it is optional: fix it or remove it"),
            )
        })?;
        if let (Some(theirs), Some(ours)) = (&found.meta.world, &universe.world)
            && theirs != ours
        {
            return Err(Error::dataset(
                &meta_path,
                format!(
                    "names the world `{theirs}`, the dataset is of `{ours}`: these findings were made for another dataset; give the findings of this one"
                ),
            ));
        }
        if let Some(w) = found.meta.wall_seconds
            && !(w.is_finite() && w >= 0.0)
        {
            return Err(Error::dataset(
                &meta_path,
                format!(
                    "wall_seconds is {w}: give the seconds the run took (0 or more), or leave the key out"
                ),
            ));
        }
    }
    let check = Check { universe };
    if let Some(parts) = locate(dir, EXPOSURES)? {
        let mut set = BTreeSet::new();
        for part in &parts {
            Table::scan(part, &["app_id", "user_id", "photo_id"], &[], |t, row| {
                let app = check.app(t, 0, row)?;
                let user = check.user(t, 1, row)?;
                let photo = check.photo(t, 2, row, user)?;
                set.insert((app, user, photo));
                Ok(())
            })?;
        }
        found.exposures = Some(set);
    }
    found.users = id_set(dir, AFFECTED_USERS, "user_id", |t, row| {
        check.user(t, 0, row)
    })?;
    found.violations = id_set(dir, MESSAGE_VIOLATIONS, "event_id", |t, row| {
        check.event(t, 0, row)
    })?;
    if let Some(parts) = locate(dir, AFFECTED_APPS)? {
        let mut counts = BTreeMap::new();
        for part in &parts {
            Table::scan(part, &["app_id"], &["users"], |t, row| {
                let app = check.app(t, 0, row)?;
                if let Some(users) = t.value(1, row)? {
                    counts.insert(app, users);
                }
                Ok(())
            })?;
        }
        if !counts.is_empty() {
            found.app_users = Some(counts);
        }
    }
    found.stolen_tokens = id_set(dir, STOLEN_TOKENS, "token_id", |t, row| {
        check.token(t, 0, row)
    })?;
    if let Some(parts) = locate(dir, VIEW_AS_USERS)? {
        let mut users = BTreeMap::new();
        for part in &parts {
            Table::scan(part, &["user_id"], &[], |t, row| {
                users.insert(check.user(t, 0, row)?, None);
                Ok(())
            })?;
            for (user, tier) in tiers(part)? {
                if let Some(slot) = users.get_mut(&user) {
                    *slot = Some(tier);
                }
            }
        }
        found.view_as_users = Some(users);
    }
    if found.exposures.is_none()
        && found.users.is_none()
        && found.violations.is_none()
        && found.stolen_tokens.is_none()
        && found.view_as_users.is_none()
    {
        return Err(Error::dataset(
            dir,
            "holds no findings: write exposures, affected_users or message_violations there \
             (or, for a View-As world, stolen_tokens or view_as_users), as .parquet or .csv \
             (data/README.md, \"Findings\")",
        ));
    }
    if found.users.is_none()
        && let Some(e) = &found.exposures
    {
        found.users = Some(e.iter().map(|x| x.1).collect());
    }
    if found.app_users.is_none()
        && let Some(e) = &found.exposures
    {
        let pairs: BTreeSet<(u32, u64)> = e.iter().map(|x| (x.0, x.1)).collect();
        let mut counts = BTreeMap::new();
        for (app, _) in pairs {
            *counts.entry(app).or_default() += 1;
        }
        found.app_users = Some(counts);
    }
    Ok(found)
}

/// The distinct ids of the one-column table `name` of the findings in `dir`, each checked by
/// `check`; `None` when the folder does not hold the table.
fn id_set(
    dir: &Path,
    name: &str,
    column: &str,
    check: impl Fn(&Table, usize) -> Result<u64>,
) -> Result<Option<BTreeSet<u64>>> {
    let Some(parts) = locate(dir, name)? else {
        return Ok(None);
    };
    let mut set = BTreeSet::new();
    for part in &parts {
        Table::scan(part, &[column], &[], |t, row| {
            set.insert(check(t, row)?);
            Ok(())
        })?;
    }
    Ok(Some(set))
}

/// The `tier` column of a `view_as_users` part, where it has one: `(user, tier)` for every
/// row that gives both. A tier that is not one of the four is an error naming the row.
fn tiers(part: &Path) -> Result<Vec<(u64, blastradius_schema::Tier)>> {
    use blastradius_schema::Tier;
    let bad = |row: String, value: &str| Error::Schema {
        path: part.to_path_buf(),
        column: "tier".into(),
        problem: format!("holds `{value}` on {row}"),
        expected: "pivot, contact_profile, contact or token_only (or an empty cell)".into(),
    };
    let mut out = Vec::new();
    if part.extension().is_some_and(|e| e == "csv") {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_path(part)
            .map_err(|e| Error::dataset(part, format!("cannot read CSV ({e})")))?;
        let headers = reader
            .headers()
            .map_err(|e| Error::dataset(part, format!("cannot read the CSV header ({e})")))?
            .clone();
        let (Some(u), Some(t)) = (
            headers.iter().position(|h| h == "user_id"),
            headers.iter().position(|h| h == "tier"),
        ) else {
            return Ok(out);
        };
        for (row, record) in reader.records().enumerate() {
            let Ok(record) = record else { continue };
            let (Some(user), Some(text)) = (
                record.get(u).and_then(|c| c.parse::<u64>().ok()),
                record.get(t).filter(|c| !c.is_empty()),
            ) else {
                continue;
            };
            let tier = Tier::parse(text).ok_or_else(|| bad(format!("line {}", row + 2), text))?;
            out.push((user, tier));
        }
        return Ok(out);
    }
    let file = std::fs::File::open(part).map_err(Error::io(part))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(Error::parquet(part))?
        .build()
        .map_err(Error::parquet(part))?;
    let mut rows = 0;
    for batch in reader {
        let b = batch.map_err(|e| Error::parquet(part)(e.into()))?;
        let (Some(users), Some(tier)) = (b.column_by_name("user_id"), b.column_by_name("tier"))
        else {
            rows += b.num_rows();
            continue;
        };
        let users = integers(users).unwrap_or_default();
        let text = arrow::compute::cast(tier, &DataType::Utf8).map_err(|_| Error::Schema {
            path: part.to_path_buf(),
            column: "tier".into(),
            problem: format!("has type {}", tier.data_type()),
            expected: "a string".into(),
        })?;
        let text = text.as_string::<i32>();
        for i in 0..b.num_rows() {
            // An empty tier is not said, as an empty CSV cell is.
            if let (Some(Some(Ok(user))), true) =
                (users.get(i), text.is_valid(i) && !text.value(i).is_empty())
            {
                let tier = Tier::parse(text.value(i))
                    .ok_or_else(|| bad(format!("row {}", rows + i), text.value(i)))?;
                out.push((*user, tier));
            }
        }
        rows += b.num_rows();
    }
    Ok(out)
}

/// An exposure's surface and first time, where the findings give them.
pub type Detail = (Option<blastradius_schema::Surface>, Option<i64>);

/// What a findings folder's exposures carry beyond the key (`surface`, `first_exposed_ts`),
/// for answers that show them (lookup, export). Read after [`load`] has checked the ids.
#[derive(Debug, Default)]
pub struct ExposureDetails {
    /// Which of `surface` and `first_exposed_ts` the exposures table has.
    pub columns: Vec<String>,
    pub rows: BTreeMap<(u32, u64, u64), Detail>,
}

/// The optional columns of the findings' exposures in `dir` (see [`ExposureDetails`]): a
/// surface by its name, a time as a Parquet timestamp (or microseconds) or, in CSV, a UTC
/// instant such as `2018-09-14T10:00:00Z`. A value that does not parse is left unknown.
///
/// # Errors
/// A file that cannot be read.
pub fn exposure_details(dir: &Path) -> Result<ExposureDetails> {
    use blastradius_schema::Surface;
    let mut out = ExposureDetails::default();
    let Some(parts) = locate(dir, EXPOSURES)? else {
        return Ok(out);
    };
    let mut columns = BTreeSet::new();
    for part in &parts {
        if part.extension().is_some_and(|e| e == "csv") {
            let mut reader = csv::ReaderBuilder::new()
                .trim(csv::Trim::All)
                .from_path(part)
                .map_err(|e| Error::dataset(part, format!("cannot read CSV ({e})")))?;
            let headers = reader
                .headers()
                .map_err(|e| Error::dataset(part, format!("cannot read the CSV header ({e})")))?
                .clone();
            let at = |name: &str| headers.iter().position(|h| h == name);
            let (surface, ts) = (at("surface"), at("first_exposed_ts"));
            columns.extend(surface.map(|_| "surface"));
            columns.extend(ts.map(|_| "first_exposed_ts"));
            let (Some(a), Some(u), Some(p)) = (at("app_id"), at("user_id"), at("photo_id")) else {
                continue;
            };
            for record in reader.records().flatten() {
                let id = |i: usize| record.get(i).and_then(|c| c.parse::<u64>().ok());
                let (Some(app), Some(user), Some(photo)) = (id(a), id(u), id(p)) else {
                    continue;
                };
                let s = surface.and_then(|i| record.get(i)).and_then(Surface::parse);
                let t = ts
                    .and_then(|i| record.get(i))
                    .and_then(|c| blastradius_schema::time::parse_utc(c).ok());
                out.rows.insert((app as u32, user, photo), (s, t));
            }
            continue;
        }
        let file = std::fs::File::open(part).map_err(Error::io(part))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(Error::parquet(part))?
            .build()
            .map_err(Error::parquet(part))?;
        for batch in reader {
            let b = batch.map_err(|e| Error::parquet(part)(e.into()))?;
            let ids = |name: &str| {
                b.column_by_name(name)
                    .and_then(|c| arrow::compute::cast(c, &DataType::UInt64).ok())
            };
            let (Some(a), Some(u), Some(p)) = (ids("app_id"), ids("user_id"), ids("photo_id"))
            else {
                continue;
            };
            let surface = b
                .column_by_name("surface")
                .and_then(|c| arrow::compute::cast(c, &DataType::Utf8).ok());
            let ts = b.column_by_name("first_exposed_ts").and_then(|c| {
                arrow::compute::cast(c, &DataType::Timestamp(TimeUnit::Microsecond, None)).ok()
            });
            columns.extend(surface.as_ref().map(|_| "surface"));
            columns.extend(ts.as_ref().map(|_| "first_exposed_ts"));
            let (a, u, p) = (
                a.as_primitive::<UInt64Type>(),
                u.as_primitive::<UInt64Type>(),
                p.as_primitive::<UInt64Type>(),
            );
            let surface = surface.as_ref().map(|c| c.as_string::<i32>());
            let ts = ts
                .as_ref()
                .map(|c| c.as_primitive::<arrow::datatypes::TimestampMicrosecondType>());
            for i in 0..b.num_rows() {
                if a.is_null(i) || u.is_null(i) || p.is_null(i) {
                    continue;
                }
                let s = surface
                    .filter(|c| c.is_valid(i))
                    .and_then(|c| Surface::parse(c.value(i)));
                let t = ts.filter(|c| c.is_valid(i)).map(|c| c.value(i));
                out.rows
                    .insert((a.value(i) as u32, u.value(i), p.value(i)), (s, t));
            }
        }
    }
    out.columns = columns.into_iter().map(String::from).collect();
    Ok(out)
}

/// Checks of ids against the dataset.
struct Check<'a> {
    universe: &'a Universe,
}

impl Check<'_> {
    fn unknown(&self, t: &Table, column: usize, row: usize, v: u64, what: String) -> Error {
        Error::Schema {
            path: t.path.clone(),
            column: t.names[column].clone(),
            problem: format!("holds {v} on {}, {what}", t.place(row)),
            expected: "ids of this dataset".into(),
        }
    }

    fn user(&self, t: &Table, column: usize, row: usize) -> Result<u64> {
        let v = t.required(column, row)?;
        if v >= self.universe.users {
            return Err(self.unknown(
                t,
                column,
                row,
                v,
                format!(
                    "which is not a user of this dataset (its users are 0 to {})",
                    self.universe.users.saturating_sub(1)
                ),
            ));
        }
        Ok(v)
    }

    fn app(&self, t: &Table, column: usize, row: usize) -> Result<u32> {
        let v = t.required(column, row)?;
        match u32::try_from(v) {
            Ok(a) if self.universe.apps.contains(&a) => Ok(a),
            _ => Err(self.unknown(
                t,
                column,
                row,
                v,
                "which is not an app of this dataset (apps.parquet lists them)".into(),
            )),
        }
    }

    /// A photo id is the event id of its upload, so it names its owner.
    fn photo(&self, t: &Table, column: usize, row: usize, user: u64) -> Result<u64> {
        let v = t.required(column, row)?;
        if event_owner(v) != Some(user) {
            return Err(self.unknown(
                t,
                column,
                row,
                v,
                format!(
                    "which is not a photo of user {user} (a photo id is the event_id of its upload)"
                ),
            ));
        }
        Ok(v)
    }

    /// A token id names its owner as an event id does (data/README §13).
    fn token(&self, t: &Table, column: usize, row: usize) -> Result<u64> {
        let v = t.required(column, row)?;
        if event_owner(v).is_none_or(|u| u >= self.universe.users) {
            return Err(self.unknown(
                t,
                column,
                row,
                v,
                "which is not a token of a user of this dataset".into(),
            ));
        }
        Ok(v)
    }

    fn event(&self, t: &Table, column: usize, row: usize) -> Result<u64> {
        let v = t.required(column, row)?;
        let owner = event_owner(v);
        if owner.is_none_or(|u| u >= self.universe.users) {
            return Err(self.unknown(
                t,
                column,
                row,
                v,
                "which is not a user event of this dataset".into(),
            ));
        }
        Ok(v)
    }
}

/// Some integer columns of one file, as `u64`, a chunk of rows at a time (a findings file
/// may hold many millions of rows, most of them repeats: only the distinct findings are
/// kept, never the whole file), with where each came from for messages.
pub(crate) struct Table {
    path: PathBuf,
    names: Vec<String>,
    /// Per column, per row of the chunk: `None` for a null (or an optional column that is
    /// absent).
    values: Vec<Vec<Option<u64>>>,
    /// Rows of the file before the chunk.
    rows: usize,
    /// CSV line numbers start at 2 (after the header); Parquet rows at 0.
    csv: bool,
}

/// The columns `b` has, for an error that names the one it lacks.
pub(crate) fn column_names(b: &RecordBatch) -> String {
    b.schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows of a CSV findings file decoded at a time.
const CSV_CHUNK: usize = 1 << 16;

impl Table {
    /// Where the chunk's row `row` is in the file, in words.
    pub(crate) fn place(&self, row: usize) -> String {
        let row = self.rows + row;
        if self.csv {
            format!("line {}", row + 2)
        } else {
            format!("row {row}")
        }
    }

    pub(crate) fn required(&self, column: usize, row: usize) -> Result<u64> {
        self.values[column][row].ok_or_else(|| Error::Schema {
            path: self.path.clone(),
            column: self.names[column].clone(),
            problem: format!("is empty (null) on {}", self.place(row)),
            expected: "a value on every row".into(),
        })
    }

    fn value(&self, column: usize, row: usize) -> Result<Option<u64>> {
        Ok(self.values[column][row])
    }

    /// Reads the `required` and `optional` columns of `path` (Parquet or CSV) a chunk at a
    /// time, calling `each` with every row of each chunk.
    pub(crate) fn scan(
        path: &Path,
        required: &[&str],
        optional: &[&str],
        mut each: impl FnMut(&Table, usize) -> Result<()>,
    ) -> Result<()> {
        let names: Vec<String> = required
            .iter()
            .chain(optional)
            .map(|s| s.to_string())
            .collect();
        let csv = path.extension().is_some_and(|e| e == "csv");
        let mut table = Table {
            path: path.to_path_buf(),
            values: vec![Vec::new(); names.len()],
            names,
            rows: 0,
            csv,
        };
        if csv {
            table.read_csv(required.len(), &mut each)
        } else {
            table.read_parquet(required.len(), &mut each)
        }
    }

    /// Calls `each` with every row of the chunk, then moves past it.
    fn flush(&mut self, each: &mut impl FnMut(&Table, usize) -> Result<()>) -> Result<()> {
        let n = self.values.first().map_or(0, Vec::len);
        for row in 0..n {
            each(self, row)?;
        }
        self.rows += n;
        self.values.iter_mut().for_each(Vec::clear);
        Ok(())
    }

    fn missing(&self, column: &str, have: &str) -> Error {
        Error::Schema {
            path: self.path.clone(),
            column: column.to_string(),
            problem: format!("is missing (the file has: {have})"),
            expected: "the column names of data/README.md, \"Findings\"".into(),
        }
    }

    fn read_parquet(
        &mut self,
        required: usize,
        each: &mut impl FnMut(&Table, usize) -> Result<()>,
    ) -> Result<()> {
        let file = std::fs::File::open(&self.path).map_err(Error::io(&self.path))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(Error::parquet(&self.path))?
            .build()
            .map_err(Error::parquet(&self.path))?;
        for batch in reader {
            let b = batch.map_err(|e| Error::parquet(&self.path)(e.into()))?;
            self.append_batch(&b, required)?;
            self.flush(each)?;
        }
        Ok(())
    }

    fn append_batch(&mut self, b: &RecordBatch, required: usize) -> Result<()> {
        for (c, name) in self.names.clone().iter().enumerate() {
            let Some(array) = b.column_by_name(name) else {
                if c < required {
                    return Err(self.missing(name, &column_names(b)));
                }
                self.values[c].extend(std::iter::repeat_n(None, b.num_rows()));
                continue;
            };
            let values = integers(array).ok_or_else(|| Error::Schema {
                path: self.path.clone(),
                column: name.clone(),
                problem: format!("has type {}", array.data_type()),
                expected: "an integer column".into(),
            })?;
            for (i, v) in values.into_iter().enumerate() {
                match v {
                    Some(Err(negative)) => {
                        return Err(Error::Schema {
                            path: self.path.clone(),
                            column: name.clone(),
                            problem: format!("holds {negative} on row {}", self.rows + i),
                            expected: "ids, which are never negative".into(),
                        });
                    }
                    Some(Ok(x)) => self.values[c].push(Some(x)),
                    None => self.values[c].push(None),
                }
            }
        }
        Ok(())
    }

    fn read_csv(
        &mut self,
        required: usize,
        each: &mut impl FnMut(&Table, usize) -> Result<()>,
    ) -> Result<()> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_path(&self.path)
            .map_err(|e| Error::dataset(&self.path, format!("cannot read CSV ({e})")))?;
        let headers = reader
            .headers()
            .map_err(|e| Error::dataset(&self.path, format!("cannot read the CSV header ({e})")))?
            .clone();
        let have = headers.iter().collect::<Vec<_>>().join(", ");
        let mut index = Vec::new();
        for (c, name) in self.names.iter().enumerate() {
            // A column named twice: which one is meant cannot be told.
            if headers.iter().filter(|h| h == name).count() > 1 {
                return Err(Error::dataset(
                    &self.path,
                    format!("names the column `{name}` twice in its header ({have}); keep one"),
                ));
            }
            match headers.iter().position(|h| h == name) {
                Some(i) => index.push(Some(i)),
                None if c < required => return Err(self.missing(name, &have)),
                None => index.push(None),
            }
        }
        for (row, record) in reader.records().enumerate() {
            let record = record.map_err(|e| {
                Error::dataset(&self.path, format!("line {}: not valid CSV ({e})", row + 2))
            })?;
            for (c, at) in index.iter().enumerate() {
                let cell = at.and_then(|i| record.get(i)).unwrap_or("");
                if cell.is_empty() {
                    self.values[c].push(None);
                    continue;
                }
                let v: u64 = cell.parse().map_err(|_| Error::Schema {
                    path: self.path.clone(),
                    column: self.names[c].clone(),
                    problem: format!("holds `{cell}` on line {}", row + 2),
                    expected: "a non-negative integer".into(),
                })?;
                self.values[c].push(Some(v));
            }
            if self.values[0].len() == CSV_CHUNK {
                self.flush(each)?;
            }
        }
        self.flush(each)
    }
}

/// Writes `findings` under `dir` in the contract's shapes (only the levels the detector
/// reports), with `meta` as `findings.json`; returns the files written.
///
/// # Errors
/// When the folder or a file cannot be written.
pub fn write(
    dir: &Path,
    findings: &crate::detect::DetectorOutput,
    apps: &crate::output::AppCounts,
    meta: &Meta,
) -> Result<Vec<PathBuf>> {
    use crate::output::write_table;
    use arrow::array::{Int32Array, Int64Array};
    use blastradius_schema::arrays::{int32, int64};
    use blastradius_schema::{
        Action, Surface, affected_apps_schema, affected_users_schema, exposures_schema,
        message_violations_schema,
    };
    use std::sync::Arc;
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let mut written = Vec::new();
    let e = &findings.exposures;
    if findings.reports.exposures {
        written.push(write_table(
            dir,
            &format!("{EXPOSURES}.parquet"),
            exposures_schema(),
            vec![
                int64(e.iter().map(|x| x.app_id), None),
                int64(e.iter().map(|x| x.user_id), None),
                int64(e.iter().map(|x| x.photo_id), None),
                crate::output::enum_array(Surface::ALL, e.iter().map(|x| x.surface)),
                crate::output::ts_array(e.iter().map(|x| x.first_exposed_ts).collect()),
            ],
        )?);
    }
    let mut per_user: BTreeMap<u64, (u32, BTreeSet<u64>)> = BTreeMap::new();
    for &(user, _) in &findings.user_apps {
        per_user.entry(user).or_default().0 += 1;
    }
    for &user in &findings.affected_users {
        per_user.entry(user).or_default();
    }
    for x in e {
        per_user.entry(x.user_id).or_default().1.insert(x.photo_id);
    }
    let photos: Int32Array = per_user
        .values()
        .map(|v| findings.reports.exposures.then_some(v.1.len() as i32))
        .collect();
    written.push(write_table(
        dir,
        &format!("{AFFECTED_USERS}.parquet"),
        affected_users_schema(),
        vec![
            int64(per_user.keys().copied(), None),
            int32(per_user.values().map(|v| v.0), None),
            Arc::new(photos),
        ],
    )?);
    let app_photos: Int64Array = apps
        .values()
        .map(|v| findings.reports.exposures.then_some(v.2 as i64))
        .collect();
    written.push(write_table(
        dir,
        &format!("{AFFECTED_APPS}.parquet"),
        affected_apps_schema(),
        vec![
            int64(apps.keys().copied(), None),
            int64(apps.values().map(|v| v.0), None),
            int64(apps.values().map(|v| v.1), None),
            Arc::new(app_photos),
        ],
    )?);
    if findings.reports.violations {
        let v = &findings.violations;
        written.push(write_table(
            dir,
            &format!("{MESSAGE_VIOLATIONS}.parquet"),
            message_violations_schema(),
            vec![
                int64(v.iter().map(|x| x.event_id), None),
                int64(v.iter().map(|x| x.app_id), None),
                int64(v.iter().map(|x| x.user_id), None),
                crate::output::enum_array(Action::ALL, v.iter().map(|x| x.action)),
                crate::output::ts_array(v.iter().map(|x| x.ts).collect()),
            ],
        )?);
    }
    let meta_path = dir.join(META);
    let text = serde_json::to_string_pretty(meta).expect("meta serializes") + "\n";
    std::fs::write(&meta_path, text).map_err(Error::io(&meta_path))?;
    written.push(meta_path);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Issue 22: a findings file of 60M rows (8 MB of Parquet) was read whole, 2.9 GB, and
    // aborted under a 2 GB limit. It is read a chunk at a time; what a row is called in a
    // message must not depend on the chunk it fell in.
    #[test]
    fn a_findings_file_is_read_in_chunks_and_rows_keep_their_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("affected_users.csv");
        let bad = CSV_CHUNK + 10;
        let mut text = String::from("user_id\n");
        for i in 0..bad + 5 {
            text.push_str(if i == bad { "x\n" } else { "7\n" });
        }
        std::fs::write(&path, &text).unwrap();
        let mut seen = 0;
        let err = Table::scan(&path, &["user_id"], &[], |t, row| {
            assert_eq!(t.value(0, row).unwrap(), Some(7));
            seen += 1;
            Ok(())
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains(&format!("line {}", bad + 2)), "{err}");
        assert_eq!(
            seen, CSV_CHUNK,
            "the first chunk was handed on before the error"
        );

        std::fs::write(&path, "user_id\n".to_string() + &"7\n".repeat(bad) + "\n").unwrap();
        let universe = Universe {
            users: 5,
            apps: BTreeSet::new(),
            world: None,
        };
        let err = Table::scan(&path, &["user_id"], &[], |t, row| {
            Check {
                universe: &universe,
            }
            .user(t, 0, row)
            .map(drop)
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("line 2"),
            "the first row, named by its line: {err}"
        );
        let mut rows = 0;
        Table::scan(&path, &["user_id"], &[], |_, _| {
            rows += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(rows, bad, "every row, across chunks, once");
    }
}
