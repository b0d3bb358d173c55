//! Reads an event shard back into the model's plain structs (for `perturb`).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{Int8Type, TimestampMicrosecondType, UInt16Type, UInt32Type, UInt64Type};
use blastradius_schema::{Action, Kind, Scope, Surface, col};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};

use crate::error::{Error, Result};
use crate::event::Event;

fn bad(path: &Path, message: String) -> Error {
    Error::Input {
        path: path.to_path_buf(),
        message,
    }
}

/// Opens `path` for reading with enum columns decoded as dictionaries.
fn open(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let file = File::open(path).map_err(Error::io(path))?;
    let perr = |error| Error::Parquet {
        path: path.to_path_buf(),
        error,
    };
    let plain = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(perr)?;
    let hint = Arc::new(blastradius_schema::reading(plain.schema()));
    let meta = ArrowReaderMetadata::try_new(
        plain.metadata().clone(),
        ArrowReaderOptions::new().with_schema(hint),
    )
    .map_err(perr)?;
    Ok(ParquetRecordBatchReaderBuilder::new_with_metadata(
        file, meta,
    ))
}

/// Values of an enum column, nulls as `fallback` (the null check comes first).
fn names<T: Copy>(
    path: &Path,
    name: &str,
    a: &ArrayRef,
    parse: fn(&str) -> Option<T>,
    fallback: T,
) -> Result<Vec<T>> {
    let d = a
        .as_dictionary_opt::<Int8Type>()
        .ok_or_else(|| bad(path, format!("column `{name}` is not a string column")))?;
    let v = d.values().as_string::<i32>();
    let mut lookup = Vec::with_capacity(v.len());
    for i in 0..v.len() {
        match parse(v.value(i)) {
            Some(x) => lookup.push(x),
            None => {
                return Err(bad(
                    path,
                    format!(
                        "column `{name}` holds the unknown value `{}`; see data/README.md for the values",
                        v.value(i)
                    ),
                ));
            }
        }
    }
    Ok(d.keys()
        .iter()
        .map(|k| k.map_or(fallback, |k| lookup[k as usize]))
        .collect())
}

/// Every event of an events shard, in file order.
///
/// # Errors
/// An unreadable or truncated file, a column that does not match the events schema, or a
/// null where the row's kind says the column applies.
pub fn read_events(path: &Path) -> Result<Vec<Event>> {
    let perr = |error| Error::Parquet {
        path: path.to_path_buf(),
        error,
    };
    let reader = open(path)?.build().map_err(perr)?;
    let mut out = Vec::new();
    let mut row = 0;
    for batch in reader {
        let b = batch.map_err(|e| perr(e.into()))?;
        append(path, &b, row, &mut out)?;
        row += b.num_rows();
    }
    Ok(out)
}

fn append(path: &Path, b: &RecordBatch, first_row: usize, out: &mut Vec<Event>) -> Result<()> {
    let c = |name: &str| {
        b.column_by_name(name)
            .cloned()
            .ok_or_else(|| bad(path, format!("column `{name}` is missing")))
    };
    macro_rules! prim {
        ($name:expr, $t:ty) => {{
            let a = c($name)?;
            a.as_primitive_opt::<$t>().cloned().ok_or_else(|| {
                bad(
                    path,
                    format!(
                        "column `{}` has type {}, not the events schema's",
                        $name,
                        a.data_type()
                    ),
                )
            })?
        }};
    }
    let kind_col = c(col::KIND)?;
    if kind_col.null_count() > 0 {
        return Err(bad(path, "column `kind` has nulls".into()));
    }
    let kind = names(
        path,
        col::KIND,
        &kind_col,
        Kind::parse,
        Kind::UserRegistered,
    )?;
    // A null where the kind says the column applies would read as 0: refuse it.
    for field in b.schema().fields() {
        let array = b.column_by_name(field.name()).expect("own field");
        let Some(nulls) = array.nulls().filter(|n| n.null_count() > 0) else {
            continue;
        };
        if let Some(i) = nulls
            .iter()
            .enumerate()
            .position(|(i, valid)| !valid && kind[i].columns().applies(field.name()) == Some(true))
        {
            return Err(bad(
                path,
                format!(
                    "column `{}` is null on row {} (a {} event, where it applies); the file is damaged",
                    field.name(),
                    first_row + i,
                    kind[i]
                ),
            ));
        }
    }
    let event_id = prim!(col::EVENT_ID, UInt64Type);
    let ts = prim!(col::TS, TimestampMicrosecondType);
    let user = prim!(col::USER_ID, UInt64Type);
    let app = prim!(col::APP_ID, UInt32Type);
    let photo = prim!(col::PHOTO_ID, UInt64Type);
    let status = prim!(col::STATUS, UInt16Type);
    let page = prim!(col::PAGE, UInt32Type);
    let size = prim!(col::PAGE_SIZE, UInt32Type);
    let items = prim!(col::ITEMS_RETURNED, UInt32Type);
    let surface = names(
        path,
        col::SURFACE,
        &c(col::SURFACE)?,
        Surface::parse,
        Surface::Timeline,
    )?;
    let scope = names(
        path,
        col::SCOPE,
        &c(col::SCOPE)?,
        Scope::parse,
        Scope::UserPhotos,
    )?;
    let action = names(
        path,
        col::ACTION,
        &c(col::ACTION)?,
        Action::parse,
        Action::Read,
    )?;
    for i in 0..b.num_rows() {
        out.push(Event {
            ts: ts.value(i),
            event_id: event_id.value(i),
            user_id: user.value(i),
            photo_id: photo.value(i),
            app_id: app.value(i),
            page: page.value(i),
            page_size: size.value(i),
            items_returned: items.value(i),
            status: status.value(i),
            kind: kind[i],
            surface: surface[i],
            scope: scope[i],
            action: action[i],
        });
    }
    Ok(())
}
