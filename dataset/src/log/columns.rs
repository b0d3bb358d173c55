//! One record batch of the event log into the log's columns: each column of the contract's
//! type (or of schema version 1's, converted on the way), only the rows kept, with the value
//! checks that name the event breaking them.

use std::path::Path;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Int8Type, Int16Type, Int32Type, Int64Type,
    TimestampMicrosecondType, UInt16Type, UInt32Type, UInt64Type,
};
use arrow::util::display::array_value_to_string;
use blastradius_schema::{Action, Kind, Scope, Surface, col, version_1_type};

use super::ShardLog;
use crate::error::{Error, Result};

/// Which rows of a batch to keep: `(rows, first)`, the kept rows' positions in the file
/// (ascending, within the batch) and the file position of the batch's first row. `None`: all.
pub(super) type Keep<'a> = Option<(&'a [u32], usize)>;

/// Appends `values` to `out`, or only the rows `keep` keeps.
fn extend<T: Copy>(out: &mut Vec<T>, values: &[T], keep: Keep) {
    match keep {
        None => out.extend_from_slice(values),
        Some((rows, first)) => out.extend(rows.iter().map(|&r| values[r as usize - first])),
    }
}

/// Appends `values` to `out` converted by `f`, or only the rows `keep` keeps.
fn extend_as<S: Copy, T>(out: &mut Vec<T>, values: &[S], keep: Keep, f: impl Fn(S) -> T) {
    match keep {
        None => out.extend(values.iter().map(|&v| f(v))),
        Some((rows, first)) => out.extend(rows.iter().map(|&r| f(values[r as usize - first]))),
    }
}

/// An unsigned integer the log holds in memory, read from a column stored signed (this
/// version) or unsigned (version 1).
trait Unsigned: Copy {
    const MAX: u64;
    /// The low bits of `v`, which the caller has checked is in `0..=MAX`.
    fn of(v: u64) -> Self;
}

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl Unsigned for $t {
            const MAX: u64 = <$t>::MAX as u64;
            fn of(v: u64) -> Self {
                v as $t
            }
        }
    )*};
}
unsigned!(u16, u32, u64);

/// An integer a column may store.
trait Stored: Copy + Into<i128> {
    /// Whether every one of `values` is in `0..=max`: one pass that ORs them together (a
    /// value outside has a bit the others cannot clear), which the compiler vectorizes.
    fn all_within(values: &[Self], max: u64) -> bool;
    /// The value's bits as a `u64` (for a value checked to be 0 or more).
    fn bits(self) -> u64;
}

macro_rules! stored {
    (signed $($t:ty),*) => {$(
        impl Stored for $t {
            fn all_within(values: &[Self], max: u64) -> bool {
                let or = values.iter().fold(0, |a, &v| a | v);
                or >= 0 && or as u64 <= max
            }
            fn bits(self) -> u64 {
                self as u64
            }
        }
    )*};
    (unsigned $($t:ty),*) => {$(
        impl Stored for $t {
            fn all_within(values: &[Self], max: u64) -> bool {
                values.iter().fold(0, |a, &v| a | v) as u64 <= max
            }
            fn bits(self) -> u64 {
                self as u64
            }
        }
    )*};
}
stored!(signed i16, i32, i64);
stored!(unsigned u16, u32, u64);

/// A batch being appended: its rows, where they come from, which of them are kept, and
/// their event ids (to name an event in an error).
struct Rows<'a> {
    b: &'a RecordBatch,
    path: &'a Path,
    keep: Keep<'a>,
    ids: Option<&'a ArrayRef>,
}

impl Rows<'_> {
    /// " (event N)" for row `row` of the batch, or " (row N of a batch)" without ids.
    fn event(&self, row: usize) -> String {
        match self.ids.map(|ids| array_value_to_string(ids, row)) {
            Some(Ok(id)) => format!(" (event {id})"),
            _ => format!(" (row {row} of a batch)"),
        }
    }

    /// Appends the integer column `name`, when the batch has it, to `out`, only the rows
    /// kept. A value `T` cannot hold (negative, or too large) is an error naming the first
    /// event holding one. The range is checked with the column's minimum and maximum, so
    /// the common case costs two vectorized passes and a copy.
    fn ints<T: Unsigned>(&self, out: &mut Vec<T>, name: &str) -> Result<()> {
        let Some(a) = self.b.column_by_name(name) else {
            return Ok(());
        };
        // The largest value the column holds in this schema version (signed), so a value
        // of a version 1 file that this version could not write back is refused at once.
        let max = match name {
            col::STATUS => i16::MAX as u64,
            col::PAGE | col::PAGE_SIZE | col::ITEMS_RETURNED => i32::MAX as u64,
            _ => i64::MAX as u64,
        }
        .min(T::MAX);
        fn take<P: ArrowPrimitiveType, T: Unsigned>(
            rows: &Rows,
            out: &mut Vec<T>,
            name: &str,
            a: &ArrayRef,
            max: u64,
        ) -> Result<()>
        where
            P::Native: Stored,
        {
            let p = a.as_primitive::<P>();
            let outside = |v: P::Native| !(0..=max as i128).contains(&v.into());
            // The fast check reads null rows' slots too; only when it fails are the valid
            // rows looked at one by one. (`max` is 2^k - 1, which the OR test needs.)
            let bad = match P::Native::all_within(p.values(), max) {
                true => None,
                false => (0..p.len()).find(|&r| p.is_valid(r) && outside(p.value(r))),
            };
            if let Some(row) = bad {
                return Err(Error::Schema {
                    path: rows.path.into(),
                    column: name.to_string(),
                    problem: match p.value(row).into() {
                        v if v < 0 => format!("holds the negative value {v}{}", rows.event(row)),
                        v => format!("holds {v}{}, above {max}", rows.event(row)),
                    },
                    expected: "the range data/README.md gives the column".into(),
                });
            }
            extend_as(out, p.values(), rows.keep, |v| T::of(v.bits()));
            Ok(())
        }
        match a.data_type() {
            DataType::Int64 => take::<Int64Type, T>(self, out, name, a, max),
            DataType::Int32 => take::<Int32Type, T>(self, out, name, a, max),
            DataType::Int16 => take::<Int16Type, T>(self, out, name, a, max),
            DataType::UInt64 => take::<UInt64Type, T>(self, out, name, a, max),
            DataType::UInt32 => take::<UInt32Type, T>(self, out, name, a, max),
            DataType::UInt16 => take::<UInt16Type, T>(self, out, name, a, max),
            other => unreachable!("`{name}` of type {other} passed the contract's type check"),
        }
    }

    /// Appends the dictionary column `name`, when the batch has it, to `out` as enum values,
    /// mapped through their names; unknown names, and keys outside the dictionary, are an
    /// error naming the first event that holds one. Nulls read as `fallback`. Only the rows
    /// kept.
    fn enums<T: Copy>(
        &self,
        out: &mut Vec<T>,
        name: &str,
        parse: fn(&str) -> Option<T>,
        fallback: T,
    ) -> Result<()> {
        let Some(array) = self.b.column_by_name(name) else {
            return Ok(());
        };
        let (path, keep) = (self.path, self.keep);
        let dict = array.as_dictionary::<Int8Type>();
        let names = dict.values().as_string::<i32>();
        let keys = dict.keys();
        let of_event = |wrong: &dyn Fn(i8) -> bool| {
            let row = (0..keys.len()).find(|&r| keys.is_valid(r) && wrong(keys.value(r)));
            row.map(|r| self.event(r)).unwrap_or_default()
        };
        let outside = |k: i8| k < 0 || k as usize >= names.len();
        if keys.values().iter().any(|&k| outside(k)) {
            let at = of_event(&outside);
            if !at.is_empty() {
                return Err(Error::Schema {
                    path: path.into(),
                    column: name.to_string(),
                    problem: format!("holds a key outside its dictionary{at}"),
                    expected: "a dictionary of the values listed in data/README.md".into(),
                });
            }
        }
        // Indexed by the key's byte, so any key maps without a bounds check.
        let mut lookup = [fallback; 256];
        for (i, slot) in lookup.iter_mut().enumerate().take(names.len().min(128)) {
            let text = names.value(i);
            match parse(text) {
                Some(v) => *slot = v,
                None if keys.iter().flatten().any(|k| k as usize == i) => {
                    return Err(Error::Schema {
                        path: path.into(),
                        column: name.to_string(),
                        problem: format!(
                            "holds the unknown value `{text}`{}",
                            of_event(&|k| k as usize == i)
                        ),
                        expected: "one of the values listed in data/README.md".into(),
                    });
                }
                None => {}
            }
        }
        let value = |i: usize| match keys.is_valid(i) {
            true => lookup[keys.value(i) as u8 as usize],
            false => fallback,
        };
        match keep {
            None if keys.null_count() == 0 => {
                out.extend(keys.values().iter().map(|&k| lookup[k as u8 as usize]))
            }
            None => out.extend((0..keys.len()).map(value)),
            Some((rows, first)) => out.extend(rows.iter().map(|&r| value(r as usize - first))),
        }
        Ok(())
    }
}

/// Appends the columns `b` holds to `log`'s, only the rows `keep` keeps.
pub(super) fn append(log: &mut ShardLog, b: &RecordBatch, path: &Path, keep: Keep) -> Result<()> {
    let ids = b.column_by_name(col::EVENT_ID);
    let rows = Rows { b, path, keep, ids };
    rows.ints(&mut log.event_id, col::EVENT_ID)?;
    if let Some(ts) = b.column_by_name(col::TS) {
        let ts = ts.as_primitive::<TimestampMicrosecondType>();
        extend(&mut log.ts, ts.values(), keep);
    }
    if b.column_by_name(col::KIND)
        .is_some_and(|k| k.null_count() > 0)
    {
        return Err(Error::Schema {
            path: path.into(),
            column: col::KIND.into(),
            problem: "has nulls".into(),
            expected: "an event kind on every row".into(),
        });
    }
    rows.enums(&mut log.kind, col::KIND, Kind::parse, Kind::UserRegistered)?;
    rows.ints(&mut log.user_id, col::USER_ID)?;
    rows.ints(&mut log.app_id, col::APP_ID)?;
    rows.ints(&mut log.photo_id, col::PHOTO_ID)?;
    rows.enums(
        &mut log.surface,
        col::SURFACE,
        Surface::parse,
        Surface::Timeline,
    )?;
    rows.enums(&mut log.scope, col::SCOPE, Scope::parse, Scope::UserPhotos)?;
    rows.enums(&mut log.action, col::ACTION, Action::parse, Action::Read)?;
    rows.ints(&mut log.status, col::STATUS)?;
    for (name, out) in [
        (col::PAGE, &mut log.page),
        (col::PAGE_SIZE, &mut log.page_size),
        (col::ITEMS_RETURNED, &mut log.items_returned),
    ] {
        rows.ints(out, name)?;
    }
    Ok(())
}

/// Whether column `name` of type `got` reads as the contract's `want`: the same type, or the
/// type schema version 1 stored it as, a string dictionary keyed by Int8 for an enum, a
/// timestamp of the same unit in UTC however the zone is spelt. Files at open and stream
/// batches are held to this one rule.
pub(super) fn compatible(name: &str, want: &DataType, got: &DataType) -> bool {
    match (want, got) {
        (DataType::Dictionary(..), DataType::Dictionary(k, v)) => {
            k.as_ref() == &DataType::Int8 && v.as_ref() == &DataType::Utf8
        }
        (DataType::Timestamp(wu, _), DataType::Timestamp(gu, Some(tz))) => {
            wu == gu && matches!(tz.as_ref(), "UTC" | "+00:00" | "Z")
        }
        (w, g) => w == g || version_1_type(name, w).as_ref() == Some(g),
    }
}
