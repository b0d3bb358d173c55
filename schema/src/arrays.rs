//! Arrow arrays of the contract's integer types, built from the values held in memory.
//!
//! Files and streams store no unsigned integers: Spark, Trino, BigQuery, Snowflake and
//! Postgres have no unsigned 64-bit type and would read such ids as decimals. In memory the
//! values stay unsigned; these convert them on the way out.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};

/// A primitive column; `nulls` (when given) marks which rows are null.
pub fn primitive<T: ArrowPrimitiveType>(
    values: Vec<T::Native>,
    nulls: Option<NullBuffer>,
) -> ArrayRef {
    Arc::new(PrimitiveArray::<T>::new(values.into(), nulls))
}

/// A signed 64-bit column: ids and large counts, every one below 2^63.
pub fn int64<T: Into<u64>>(
    values: impl IntoIterator<Item = T>,
    nulls: Option<NullBuffer>,
) -> ArrayRef {
    let values = values
        .into_iter()
        .map(|v| i64::try_from(v.into()).expect("ids and counts are below 2^63"));
    primitive::<Int64Type>(values.collect(), nulls)
}

/// A signed 32-bit column of values below 2^31 (pages, page sizes, counts per user).
pub fn int32(values: impl IntoIterator<Item = u32>, nulls: Option<NullBuffer>) -> ArrayRef {
    let values = values
        .into_iter()
        .map(|v| i32::try_from(v).expect("values below 2^31"));
    primitive::<Int32Type>(values.collect(), nulls)
}

/// A signed 16-bit column of values below 2^15 (HTTP statuses).
pub fn int16(values: impl IntoIterator<Item = u16>, nulls: Option<NullBuffer>) -> ArrayRef {
    let values = values
        .into_iter()
        .map(|v| i16::try_from(v).expect("values below 2^15"));
    primitive::<Int16Type>(values.collect(), nulls)
}

/// A column of ids or counts of any integer type as `T`s: the truth's (signed since schema
/// version 2, unsigned before) or a detector's. `None` when it holds a null, a negative value
/// or one `T` cannot hold.
pub fn id_column<T: TryFrom<u64>>(a: &ArrayRef) -> Option<Vec<T>> {
    integers(a)?
        .into_iter()
        .map(|v| T::try_from(v?.ok()?).ok())
        .collect()
}

/// An integer column as `u64`s: `Err(v)` for a negative value, `None` for a null; `None`
/// for a column that is not of an integer type.
pub fn integers(a: &ArrayRef) -> Option<Vec<Option<std::result::Result<u64, i64>>>> {
    macro_rules! signed {
        ($t:ty) => {
            a.as_primitive::<$t>()
                .iter()
                .map(|v| v.map(|x| u64::try_from(x as i64).map_err(|_| x as i64)))
                .collect()
        };
    }
    macro_rules! unsigned {
        ($t:ty) => {
            a.as_primitive::<$t>()
                .iter()
                .map(|v| v.map(|x| Ok(x as u64)))
                .collect()
        };
    }
    Some(match a.data_type() {
        DataType::Int8 => signed!(Int8Type),
        DataType::Int16 => signed!(Int16Type),
        DataType::Int32 => signed!(Int32Type),
        DataType::Int64 => signed!(Int64Type),
        DataType::UInt8 => unsigned!(UInt8Type),
        DataType::UInt16 => unsigned!(UInt16Type),
        DataType::UInt32 => unsigned!(UInt32Type),
        DataType::UInt64 => unsigned!(UInt64Type),
        DataType::Dictionary(_, _) => {
            let d = a.as_any_dictionary();
            let values = integers(d.values())?;
            let keys = arrow::compute::cast(d.keys(), &DataType::UInt64).ok()?;
            keys.as_primitive::<UInt64Type>()
                .iter()
                .map(|k| k.and_then(|k| values.get(k as usize).copied().flatten()))
                .collect()
        }
        _ => return None,
    })
}

/// An integer column of any integer type, as an array of `T`: for readers that take a file
/// of this schema version (signed) or of version 1 (unsigned) alike.
pub trait Ints {
    /// The values cast to `T`. Panics on a value `T` cannot hold: for tests and for columns
    /// already checked.
    fn ints<T: ArrowPrimitiveType>(&self) -> PrimitiveArray<T>;
}

impl Ints for dyn Array + '_ {
    fn ints<T: ArrowPrimitiveType>(&self) -> PrimitiveArray<T> {
        let options = arrow::compute::CastOptions {
            safe: false,
            ..Default::default()
        };
        arrow::compute::cast_with_options(self, &T::DATA_TYPE, &options)
            .expect("an integer column whose values fit")
            .as_primitive::<T>()
            .clone()
    }
}

impl Ints for ArrayRef {
    fn ints<T: ArrowPrimitiveType>(&self) -> PrimitiveArray<T> {
        self.as_ref().ints()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::UInt64Array;

    #[test]
    fn values_keep_their_value_and_nulls_their_place() {
        let a = int64(
            [0u64, 5, (1 << 63) - 1],
            Some(NullBuffer::from(vec![true, false, true])),
        );
        let a = a.as_primitive::<Int64Type>();
        assert_eq!(a.values().as_ref(), &[0, 5, i64::MAX]);
        assert!(a.is_null(1));
        assert_eq!(int32([7u32], None).as_primitive::<Int32Type>().value(0), 7);
        assert_eq!(
            int16([503u16], None).as_primitive::<Int16Type>().value(0),
            503
        );
    }

    #[test]
    fn ints_reads_signed_and_unsigned_alike() {
        let old: ArrayRef = Arc::new(UInt64Array::from(vec![3, 9]));
        let new = int64([3u64, 9], None);
        assert_eq!(old.ints::<Int64Type>(), new.ints::<Int64Type>());
        let back = new.ints::<arrow::datatypes::UInt64Type>();
        assert_eq!(back.values().as_ref(), &[3, 9]);
    }

    #[test]
    #[should_panic(expected = "below 2^63")]
    fn an_id_of_2_pow_63_is_refused() {
        int64([1u64 << 63], None);
    }
}
