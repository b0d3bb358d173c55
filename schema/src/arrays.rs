//! Arrow arrays of the contract's integer types, built from the values held in memory.
//!
//! Files and streams store no unsigned integers: Spark, Trino, BigQuery, Snowflake and
//! Postgres have no unsigned 64-bit type and would read such ids as decimals. In memory the
//! values stay unsigned; these convert them on the way out.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{ArrowPrimitiveType, Int16Type, Int32Type, Int64Type};

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
