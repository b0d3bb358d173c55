//! The one reader of a View-As world's access log (`access/part-*.parquet`, data/README
//! §13): every part read through [`Dataset::read`] (checked against the manifest), each
//! column checked against the contract's type, and each row against the kind's columns.

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use blastradius_schema::arrays::integers;
use blastradius_schema::{AccessKind, Client, FieldGroup, TokenPath, col, path};

use crate::error::{Error, Result};
use crate::open::Dataset;

/// One row of the access log. Ids that do not apply to the row's kind are 0; `token_id` is
/// `None` where the log holds none (a login).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessRow {
    pub event_id: u64,
    pub ts: i64,
    pub kind: AccessKind,
    pub user_id: u64,
    pub target_id: u64,
    pub token_id: Option<u64>,
    pub issued_token_id: u64,
    pub session_id: u64,
    pub client: Option<Client>,
    pub network: u64,
    pub path: Option<TokenPath>,
    pub field_group: Option<FieldGroup>,
}

/// Whether `dataset` is of a View-As world (its manifest counts an access log).
pub fn has_access_log(dataset: &Dataset) -> bool {
    dataset.manifest.counts.access_events.is_some()
}

/// Reads every row of one access-log part (`entry`, listed in the manifest), in file order.
///
/// # Errors
/// As [`read`].
pub fn read_part(dataset: &Dataset, entry: &crate::FileInfo) -> Result<Vec<AccessRow>> {
    let mut rows = Vec::new();
    let p = dataset.root.join(&entry.path);
    let reader = crate::listed_reader(&p, dataset.read(entry)?, entry)?
        .build()
        .map_err(Error::parquet(&p))?;
    for batch in reader {
        let b = batch.map_err(|e| Error::parquet(&p)(e.into()))?;
        decode(&p, &b, rows.len(), &mut rows)?;
    }
    Ok(rows)
}

/// Reads every row of the access log of `dataset`, in file order.
///
/// # Errors
/// A dataset with no access log, a file that does not match the manifest, a column missing or
/// of another type, or a null where the row's kind needs a value: each names the file, the
/// column and the event.
pub fn read(dataset: &Dataset) -> Result<Vec<AccessRow>> {
    if !has_access_log(dataset) {
        return Err(Error::dataset(
            dataset.root.join(path::MANIFEST),
            "counts no access log: this is not a View-As world (generate one with --scenario view-as-2018)",
        ));
    }
    // The parts on as many threads as the machine has, each decoded alone; in file order.
    let parts = dataset.parts(path::ACCESS_DIR);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(parts.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, Result<Vec<AccessRow>>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(entry) = parts.get(i) else { break };
                        mine.push((i, read_part(dataset, entry)));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a reader thread does not panic"))
            .collect()
    });
    done.sort_by_key(|d| d.0);
    let mut rows = Vec::new();
    for (_, part) in done {
        rows.append(&mut part?);
    }
    Ok(rows)
}

fn column<'a>(p: &std::path::Path, b: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    b.column_by_name(name).ok_or_else(|| Error::Schema {
        path: p.to_path_buf(),
        column: name.into(),
        problem: "is missing".into(),
        expected: "the access log's columns (data/README.md §13)".into(),
    })
}

/// An id column as values (0 for a null), refusing a negative value or another type.
fn ids(p: &std::path::Path, b: &RecordBatch, name: &str) -> Result<(Vec<u64>, Vec<bool>)> {
    let a = column(p, b, name)?;
    if a.data_type() != &DataType::Int64 {
        return Err(Error::Schema {
            path: p.to_path_buf(),
            column: name.into(),
            problem: format!("has type {}", a.data_type()),
            expected: "Int64".into(),
        });
    }
    let values = integers(a).expect("an integer column");
    let mut out = Vec::with_capacity(values.len());
    let mut valid = Vec::with_capacity(values.len());
    for v in values {
        match v {
            Some(Ok(x)) => {
                out.push(x);
                valid.push(true);
            }
            Some(Err(negative)) => {
                return Err(Error::Schema {
                    path: p.to_path_buf(),
                    column: name.into(),
                    problem: format!("holds the negative value {negative}"),
                    expected: "ids, which are never negative".into(),
                });
            }
            None => {
                out.push(0);
                valid.push(false);
            }
        }
    }
    Ok((out, valid))
}

/// An enum column as values of `T` (`None` for a null), refusing a value the enum lacks.
fn enums<T: Copy>(
    p: &std::path::Path,
    b: &RecordBatch,
    name: &str,
    parse: fn(&str) -> Option<T>,
    offset: usize,
) -> Result<Vec<Option<T>>> {
    let a = column(p, b, name)?;
    let bad = |i: usize, v: &str| Error::Schema {
        path: p.to_path_buf(),
        column: name.into(),
        problem: format!("holds `{v}` on row {}", offset + i),
        expected: "one of the values data/README.md §13 lists".into(),
    };
    // Decoded as a dictionary (the reader asks for enums so): each value parsed once.
    if let Some(d) = a.as_any_dictionary_opt()
        && let Some(values) = d.values().as_string_opt::<i32>()
    {
        let parsed: Vec<Option<T>> = (0..values.len()).map(|k| parse(values.value(k))).collect();
        let keys = arrow::compute::cast(d.keys(), &DataType::Int64).map_err(|_| Error::Schema {
            path: p.to_path_buf(),
            column: name.into(),
            problem: format!("has type {}", a.data_type()),
            expected: "a string enum".into(),
        })?;
        let keys = keys.as_primitive::<arrow::datatypes::Int64Type>();
        let mut out = Vec::with_capacity(keys.len());
        for i in 0..keys.len() {
            if keys.is_null(i) {
                out.push(None);
                continue;
            }
            let k = keys.value(i) as usize;
            match parsed.get(k).copied().flatten() {
                Some(v) => out.push(Some(v)),
                None if k < values.len() => return Err(bad(i, values.value(k))),
                None => return Err(bad(i, "a key past its dictionary")),
            }
        }
        return Ok(out);
    }
    let text = arrow::compute::cast(a, &DataType::Utf8).map_err(|_| Error::Schema {
        path: p.to_path_buf(),
        column: name.into(),
        problem: format!("has type {}", a.data_type()),
        expected: "a string enum".into(),
    })?;
    let s = text.as_string::<i32>();
    let mut out = Vec::with_capacity(s.len());
    for i in 0..s.len() {
        if s.is_null(i) {
            out.push(None);
            continue;
        }
        let v = parse(s.value(i)).ok_or_else(|| bad(i, s.value(i)))?;
        out.push(Some(v));
    }
    Ok(out)
}

/// Appends the rows of one record batch of the access log's columns to `rows`: a batch of a
/// part (`p` names the file in messages, and `offset` rows of it came before the batch), or
/// the access rows of a live stream (data/README §11).
///
/// # Errors
/// As [`read`]: a column missing or of another type, a value the contract does not know, or a
/// null where the row's kind needs a value.
pub fn decode(
    p: &std::path::Path,
    b: &RecordBatch,
    offset: usize,
    rows: &mut Vec<AccessRow>,
) -> Result<()> {
    let (event_id, event_valid) = ids(p, b, col::EVENT_ID)?;
    let ts_array = column(p, b, col::TS)?;
    let ts = ts_array
        .as_primitive_opt::<arrow::datatypes::TimestampMicrosecondType>()
        .filter(|a| a.null_count() == 0)
        .ok_or_else(|| Error::Schema {
            path: p.to_path_buf(),
            column: col::TS.into(),
            problem: format!("has type {} or nulls", ts_array.data_type()),
            expected: "Timestamp(µs, UTC) on every row".into(),
        })?;
    let kind = enums(p, b, col::KIND, AccessKind::parse, offset)?;
    let (user, user_valid) = ids(p, b, col::USER_ID)?;
    let (target, target_valid) = ids(p, b, col::TARGET_ID)?;
    let (token, token_valid) = ids(p, b, col::TOKEN_ID)?;
    let (issued, issued_valid) = ids(p, b, col::ISSUED_TOKEN_ID)?;
    let (session, session_valid) = ids(p, b, col::SESSION_ID)?;
    let (network, network_valid) = ids(p, b, col::NETWORK)?;
    let client = enums(p, b, col::CLIENT, Client::parse, offset)?;
    let path_ = enums(p, b, col::PATH, TokenPath::parse, offset)?;
    let group = enums(p, b, col::FIELD_GROUP, FieldGroup::parse, offset)?;
    for i in 0..b.num_rows() {
        let missing = |column: &str| Error::Schema {
            path: p.to_path_buf(),
            column: column.into(),
            problem: format!("is null on row {} (event {})", offset + i, event_id[i]),
            expected: "a value wherever the row's kind has one (data/README.md §13)".into(),
        };
        if !event_valid[i] {
            return Err(missing(col::EVENT_ID));
        }
        let kind = kind[i].ok_or_else(|| missing(col::KIND))?;
        let c = kind.columns();
        if c.session {
            for (valid, name) in [
                (user_valid[i], col::USER_ID),
                (session_valid[i], col::SESSION_ID),
                (network_valid[i], col::NETWORK),
                (client[i].is_some(), col::CLIENT),
            ] {
                if !valid {
                    return Err(missing(name));
                }
            }
        }
        if c.target_id && !target_valid[i] {
            return Err(missing(col::TARGET_ID));
        }
        if c.issued && (!issued_valid[i] || path_[i].is_none()) {
            return Err(missing(if issued_valid[i] {
                col::PATH
            } else {
                col::ISSUED_TOKEN_ID
            }));
        }
        if c.field_group && group[i].is_none() {
            return Err(missing(col::FIELD_GROUP));
        }
        let login = kind == AccessKind::TokenIssued && path_[i] == Some(TokenPath::Login);
        if c.token_id && !login && !token_valid[i] {
            return Err(missing(col::TOKEN_ID));
        }
        // A column the kind does not have reads as 0 (or none), whatever a writer put there.
        let id = |applies: bool, v: u64| if applies { v } else { 0 };
        rows.push(AccessRow {
            event_id: event_id[i],
            ts: ts.value(i),
            kind,
            user_id: id(c.session, user[i]),
            target_id: id(c.target_id, target[i]),
            token_id: (c.token_id && token_valid[i]).then_some(token[i]),
            issued_token_id: id(c.issued, issued[i]),
            session_id: id(c.session, session[i]),
            client: if c.session { client[i] } else { None },
            network: id(c.session, network[i]),
            path: if c.issued { path_[i] } else { None },
            field_group: if c.field_group { group[i] } else { None },
        });
    }
    Ok(())
}
