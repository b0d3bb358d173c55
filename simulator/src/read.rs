//! Reads an event shard back into the model's plain structs (for `perturb`).

use std::fs::File;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Int8Type, TimestampMicrosecondType, UInt16Type, UInt32Type, UInt64Type};
use blastradius_schema::{Action, Kind, Scope, Surface, col};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};
use crate::event::Event;

fn bad(path: &Path, column: &str) -> Error {
    Error::Scenario {
        origin: path.display().to_string(),
        message: format!(
            "column `{column}` is missing or not of the events schema; regenerate the dataset"
        ),
    }
}

/// Every event of an events shard, in file order.
///
/// # Errors
/// An unreadable or truncated file, or a column that does not match the events schema.
pub fn read_events(path: &Path) -> Result<Vec<Event>> {
    let file = File::open(path).map_err(Error::io(path))?;
    let perr = |source| Error::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(perr)?
        .build()
        .map_err(perr)?;
    let mut out = Vec::new();
    for batch in reader {
        let b = batch.map_err(|e| perr(e.into()))?;
        let c = |name: &str| {
            b.column_by_name(name)
                .cloned()
                .ok_or_else(|| bad(path, name))
        };
        macro_rules! prim {
            ($name:expr, $t:ty) => {{
                let a = c($name)?;
                a.as_primitive_opt::<$t>()
                    .cloned()
                    .ok_or_else(|| bad(path, $name))?
            }};
        }
        fn names<T: Copy>(
            a: &dyn Array,
            parse: fn(&str) -> Option<T>,
            fallback: T,
        ) -> Option<Vec<T>> {
            let d = a.as_dictionary_opt::<Int8Type>()?;
            let v = d.values().as_string_opt::<i32>()?;
            let lookup: Vec<T> = (0..v.len())
                .map(|i| parse(v.value(i)).unwrap_or(fallback))
                .collect();
            Some(
                d.keys()
                    .iter()
                    .map(|k| k.map_or(fallback, |k| lookup[k as usize]))
                    .collect(),
            )
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
        let kind = names(c(col::KIND)?.as_ref(), Kind::parse, Kind::UserRegistered)
            .ok_or_else(|| bad(path, col::KIND))?;
        let surface = names(c(col::SURFACE)?.as_ref(), Surface::parse, Surface::Timeline)
            .ok_or_else(|| bad(path, col::SURFACE))?;
        let scope = names(c(col::SCOPE)?.as_ref(), Scope::parse, Scope::UserPhotos)
            .ok_or_else(|| bad(path, col::SCOPE))?;
        let action = names(c(col::ACTION)?.as_ref(), Action::parse, Action::Read)
            .ok_or_else(|| bad(path, col::ACTION))?;
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
    }
    Ok(out)
}
