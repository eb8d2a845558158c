//! The decoded columns of one batch, written by the parser as it goes.

// Plain vectors rather than Arrow's builders: a record is only known to be good once its
// last byte is parsed, so its values must be undone when it is not, and a duplicate field
// replaces a value already written; Arrow's builders can do neither. The vectors become
// the arrays' buffers at the end without a copy.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array,
    StringArray, TimestampMicrosecondArray,
};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};

use super::{Column, Kind};

/// One column's values so far: the accepted records', then the current record's if it has
/// set one.
#[derive(Debug)]
pub(super) struct Out {
    /// False for a NULL; one entry per value, so its length is the column's.
    pub(super) valid: Vec<bool>,
    pub(super) data: Data,
}

#[derive(Debug)]
pub(super) enum Data {
    Boolean(Vec<bool>),
    Int16(Vec<i16>),
    Int32(Vec<i32>),
    Int64(Vec<i64>),
    Float32(Vec<f32>),
    Float64(Vec<f64>),
    /// Micros since the epoch, UTC.
    Timestamp(Vec<i64>),
    /// Arrow's layout: value `k` is `values[offsets[k]..offsets[k + 1]]`, valid UTF-8.
    Utf8 {
        offsets: Vec<i32>,
        values: Vec<u8>,
    },
}

impl Out {
    /// Room for `rows` values and, for text, `bytes` bytes.
    pub(super) fn new(kind: Kind, rows: usize, bytes: usize) -> Self {
        let data = match kind {
            Kind::Boolean => Data::Boolean(Vec::with_capacity(rows)),
            Kind::Int16 => Data::Int16(Vec::with_capacity(rows)),
            Kind::Int32 => Data::Int32(Vec::with_capacity(rows)),
            Kind::Int64 => Data::Int64(Vec::with_capacity(rows)),
            Kind::Float32 => Data::Float32(Vec::with_capacity(rows)),
            Kind::Float64 => Data::Float64(Vec::with_capacity(rows)),
            Kind::Timestamp => Data::Timestamp(Vec::with_capacity(rows)),
            Kind::Utf8 => {
                let mut offsets = Vec::with_capacity(rows + 1);
                offsets.push(0);
                Data::Utf8 {
                    offsets,
                    values: Vec::with_capacity(bytes),
                }
            }
        };
        Out {
            valid: Vec::with_capacity(rows),
            data,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.valid.len()
    }

    /// Bytes of text so far (0 for other kinds).
    pub(super) fn text_bytes(&self) -> usize {
        match &self.data {
            Data::Utf8 { values, .. } => values.len(),
            _ => 0,
        }
    }

    pub(super) fn push_null(&mut self) {
        self.valid.push(false);
        match &mut self.data {
            Data::Boolean(v) => v.push(false),
            Data::Int16(v) => v.push(0),
            Data::Int32(v) => v.push(0),
            Data::Int64(v) | Data::Timestamp(v) => v.push(0),
            Data::Float32(v) => v.push(0.0),
            Data::Float64(v) => v.push(0.0),
            Data::Utf8 { offsets, .. } => {
                let end = offsets.last().copied().unwrap_or(0);
                offsets.push(end);
            }
        }
    }

    /// Drops values until `len` are left, including text appended for a value that never
    /// got its offset.
    pub(super) fn truncate(&mut self, len: usize) {
        self.valid.truncate(len);
        match &mut self.data {
            Data::Boolean(v) => v.truncate(len),
            Data::Int16(v) => v.truncate(len),
            Data::Int32(v) => v.truncate(len),
            Data::Int64(v) | Data::Timestamp(v) => v.truncate(len),
            Data::Float32(v) => v.truncate(len),
            Data::Float64(v) => v.truncate(len),
            Data::Utf8 { offsets, values } => {
                offsets.truncate(len + 1);
                values.truncate(offsets.last().copied().unwrap_or(0) as usize);
            }
        }
    }

    /// The Arrow array of the values so far.
    pub(super) fn finish(self, column: &Column) -> ArrayRef {
        let nulls = if self.valid.iter().all(|v| *v) {
            None
        } else {
            Some(NullBuffer::from(self.valid))
        };
        match self.data {
            Data::Boolean(v) => Arc::new(BooleanArray::new(BooleanBuffer::from(v), nulls)),
            Data::Int16(v) => Arc::new(Int16Array::new(ScalarBuffer::from(v), nulls)),
            Data::Int32(v) => Arc::new(Int32Array::new(ScalarBuffer::from(v), nulls)),
            Data::Int64(v) => Arc::new(Int64Array::new(ScalarBuffer::from(v), nulls)),
            Data::Float32(v) => Arc::new(Float32Array::new(ScalarBuffer::from(v), nulls)),
            Data::Float64(v) => Arc::new(Float64Array::new(ScalarBuffer::from(v), nulls)),
            Data::Timestamp(v) => Arc::new(
                TimestampMicrosecondArray::new(ScalarBuffer::from(v), nulls)
                    .with_timezone_opt(column.tz.clone()),
            ),
            Data::Utf8 { offsets, values } => {
                let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
                // SAFETY: every value appended is UTF-8 (the parser checks a string's text
                // before it is appended, or writes it from escapes as chars), so `values` is
                // UTF-8 and each offset is at a character boundary; `OffsetBuffer::new` has
                // checked that the offsets start at 0 and never decrease, and the last one is
                // `values.len()` (`push_null` and `truncate` keep them so). Checking the
                // text again was about 5% of decoding in a profile of the benchmark.
                let array =
                    unsafe { StringArray::new_unchecked(offsets, Buffer::from_vec(values), nulls) };
                Arc::new(array)
            }
        }
    }
}
