//! GROUP BY keys as compact bytes, for hashing and equality only.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayData, ArrayRef, StringArray, make_array};
use datafusion::arrow::buffer::{Buffer, MutableBuffer, NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::DataType;

use crate::error::{EngineError, Result};

/// How one key column is laid out in a key's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Column {
    /// A validity byte, then the value's `width` little-endian bytes (zeros when NULL).
    Fixed { width: usize, data_type: DataType },
    /// A validity byte, then the length as a little-endian u32 and the UTF-8 bytes.
    Utf8,
}

/// Encodes composite GROUP BY keys into one byte string each: fixed-width values copied as
/// they are, strings length-prefixed.
///
/// Why not Arrow's row format here: its bytes sort like the values, which grouping never
/// needs, and it pays for that with per-byte transforms and strings padded to 32-byte
/// blocks. These keys are a third shorter for a name and two timestamps, so hashing and
/// comparing them is cheaper, and encoding a batch is a copy per field. Types other than
/// fixed-width primitives and strings are not supported ([`KeyEncoding::new`] says None),
/// and the caller keeps the row format for them.
#[derive(Debug, Clone)]
pub struct KeyEncoding {
    columns: Vec<Column>,
}

/// One batch's keys: row `i` is `bytes[ends[i - 1]..ends[i]]`.
#[derive(Debug, Default)]
pub struct EncodedKeys {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl EncodedKeys {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn row(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }
}

/// Encodes one batch's keys row by row, each into a caller's buffer.
pub struct RowEncoder<'a> {
    views: Vec<ColumnView<'a>>,
    rows: usize,
}

impl RowEncoder<'_> {
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends row `row`'s key to `out`.
    #[inline]
    pub fn encode(&self, row: usize, out: &mut Vec<u8>) {
        for view in &self.views {
            view.encode(row, out);
        }
    }
}

/// One key column's buffers, resolved once per batch so encoding a row is plain slicing.
/// Eight-byte values (timestamps, BIGINT) get their own variant: a constant-size copy the
/// compiler inlines, where a runtime width costs a memcpy call per value.
enum ColumnView<'a> {
    Fixed8 {
        values: &'a [u8],
        nulls: Option<&'a NullBuffer>,
    },
    Fixed {
        width: usize,
        values: &'a [u8],
        nulls: Option<&'a NullBuffer>,
    },
    Utf8 {
        offsets: &'a [i32],
        values: &'a [u8],
        nulls: Option<&'a NullBuffer>,
    },
}

impl<'a> ColumnView<'a> {
    fn of(column: &Column, d: &'a ArrayData) -> Self {
        match column {
            Column::Fixed { width, .. } => {
                let values = &d.buffers()[0].as_slice()[d.offset() * width..];
                if *width == 8 {
                    ColumnView::Fixed8 {
                        values,
                        nulls: d.nulls(),
                    }
                } else {
                    ColumnView::Fixed {
                        width: *width,
                        values,
                        nulls: d.nulls(),
                    }
                }
            }
            Column::Utf8 => ColumnView::Utf8 {
                offsets: d.buffer::<i32>(0),
                values: d.buffers()[1].as_slice(),
                nulls: d.nulls(),
            },
        }
    }

    #[inline]
    fn encode(&self, row: usize, out: &mut Vec<u8>) {
        match self {
            ColumnView::Fixed8 { values, nulls } => {
                let mut field = [0u8; 9];
                if !nulls.is_some_and(|n| n.is_null(row)) {
                    field[0] = 1;
                    field[1..].copy_from_slice(&values[row * 8..row * 8 + 8]);
                }
                out.extend_from_slice(&field);
            }
            ColumnView::Fixed {
                width,
                values,
                nulls,
            } => {
                if nulls.is_some_and(|n| n.is_null(row)) {
                    out.push(0);
                    out.resize(out.len() + width, 0);
                } else {
                    out.push(1);
                    out.extend_from_slice(&values[row * width..(row + 1) * width]);
                }
            }
            ColumnView::Utf8 {
                offsets,
                values,
                nulls,
            } => {
                let value: &[u8] = if nulls.is_some_and(|n| n.is_null(row)) {
                    &[]
                } else {
                    &values[offsets[row] as usize..offsets[row + 1] as usize]
                };
                let mut head = [0u8; 5];
                head[0] = u8::from(!nulls.is_some_and(|n| n.is_null(row)));
                head[1..].copy_from_slice(&(value.len() as u32).to_le_bytes());
                out.extend_from_slice(&head);
                out.extend_from_slice(value);
            }
        }
    }
}

impl KeyEncoding {
    /// The encoding of keys of these types, when every one is supported.
    pub fn new(types: &[DataType]) -> Option<Self> {
        let columns = types
            .iter()
            .map(|t| match t {
                DataType::Utf8 => Some(Column::Utf8),
                t if t.is_primitive() => t.primitive_width().map(|width| Column::Fixed {
                    width,
                    data_type: t.clone(),
                }),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        Some(KeyEncoding { columns })
    }

    /// Encodes every row of `columns` (one array per key column) into `out`.
    pub fn encode(&self, columns: &[ArrayRef], out: &mut EncodedKeys) -> Result<()> {
        out.bytes.clear();
        out.ends.clear();
        let data: Vec<ArrayData> = columns.iter().map(|c| c.to_data()).collect();
        let encoder = self.encoder(&data)?;
        out.ends.reserve(encoder.rows);
        for row in 0..encoder.rows {
            encoder.encode(row, &mut out.bytes);
            out.ends.push(out.bytes.len());
        }
        Ok(())
    }

    /// An encoder of the rows of `data` (one per key column, as `ArrayData`), checked
    /// against this encoding's types.
    pub fn encoder<'a>(&self, data: &'a [ArrayData]) -> Result<RowEncoder<'a>> {
        let rows = data.first().map_or(0, |c| c.len());
        let mut views = Vec::with_capacity(self.columns.len());
        for (column, d) in self.columns.iter().zip(data) {
            let expected = match column {
                Column::Fixed { data_type, .. } => data_type,
                Column::Utf8 => &DataType::Utf8,
            };
            if d.data_type() != expected || d.len() != rows {
                return Err(EngineError::Internal(format!(
                    "group key column of type {} ({} rows), expected {expected} ({rows} rows)",
                    d.data_type(),
                    d.len()
                )));
            }
            views.push(ColumnView::of(column, d));
        }
        Ok(RowEncoder { views, rows })
    }

    /// The key columns of `keys`, in that order.
    pub fn decode<'a>(
        &self,
        keys: impl Iterator<Item = &'a [u8]> + Clone,
    ) -> Result<Vec<ArrayRef>> {
        let mut at: Vec<&[u8]> = keys.collect();
        let n = at.len();
        let mut out = Vec::with_capacity(self.columns.len());
        let damaged = || EngineError::Internal("a group key's bytes are damaged".into());
        for column in &self.columns {
            let mut valid = Vec::with_capacity(n);
            match column {
                Column::Fixed { width, data_type } => {
                    // Arrow's own buffer: 64-byte aligned, as a Vec<u8> need not be for
                    // the values' type.
                    let mut values = MutableBuffer::with_capacity(n * width);
                    for key in at.iter_mut() {
                        let (field, rest) = key.split_at_checked(1 + width).ok_or_else(damaged)?;
                        valid.push(field[0] == 1);
                        values.extend_from_slice(&field[1..]);
                        *key = rest;
                    }
                    let data = ArrayData::builder(data_type.clone())
                        .len(n)
                        .add_buffer(values.into())
                        .nulls(Some(NullBuffer::from(valid)))
                        .build()?;
                    out.push(make_array(data));
                }
                Column::Utf8 => {
                    let mut offsets = Vec::with_capacity(n + 1);
                    let mut values = Vec::new();
                    offsets.push(0i32);
                    for key in at.iter_mut() {
                        let (head, rest) = key.split_at_checked(5).ok_or_else(damaged)?;
                        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
                        let (text, rest) =
                            rest.split_at_checked(len as usize).ok_or_else(damaged)?;
                        valid.push(head[0] == 1);
                        values.extend_from_slice(text);
                        offsets.push(i32::try_from(values.len()).map_err(|_| damaged())?);
                        *key = rest;
                    }
                    let array = StringArray::try_new(
                        OffsetBuffer::new(offsets.into()),
                        Buffer::from_vec(values),
                        Some(NullBuffer::from(valid)),
                    )?;
                    out.push(Arc::new(array));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int32Array, TimestampMicrosecondArray};

    #[test]
    fn keys_round_trip_and_equal_keys_have_equal_bytes() {
        let types = [
            DataType::Utf8,
            DataType::Int32,
            DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Microsecond, None),
        ];
        let encoding = KeyEncoding::new(&types).unwrap();
        let names = StringArray::from(vec![Some("ann"), None, Some(""), Some("ann")]);
        // A slice, so the arrays' offsets are not zero.
        let columns: Vec<ArrayRef> = vec![
            Arc::new(names.slice(0, 4)),
            Arc::new(
                Int32Array::from(vec![Some(0), Some(7), Some(1), Some(9), Some(7)]).slice(1, 4),
            ),
            Arc::new(TimestampMicrosecondArray::from(vec![
                Some(-5),
                None,
                Some(3),
                Some(-5),
            ])),
        ];
        let mut keys = EncodedKeys::default();
        encoding.encode(&columns, &mut keys).unwrap();
        assert_eq!(keys.len(), 4);
        // Rows 0 and 3 are both (ann, 7, -5).
        assert_eq!(keys.row(0), keys.row(3));
        assert_ne!(keys.row(1), keys.row(2), "NULL and empty string differ");
        let back = encoding.decode((0..4).map(|i| keys.row(i))).unwrap();
        for (a, b) in back.iter().zip(&columns) {
            assert_eq!(a.as_ref(), b.as_ref());
        }
        assert!(KeyEncoding::new(&[DataType::Boolean, DataType::Utf8]).is_none());
    }
}
