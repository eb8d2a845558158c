//! COUNT(DISTINCT x).

use std::hash::BuildHasher;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::row::{RowConverter, SortField};
use hashbrown::hash_table::Entry;
use hashbrown::{DefaultHashBuilder, HashTable};

use super::value_counts::Ordinals;
use super::{GroupAccumulator, Rows};
use crate::error::{EngineError, Result};
use crate::state::{StateReader, StateWriter};

/// Distinct non-NULL values per group, kept as (group, value) -> count in one hash table for
/// all groups, so a retraction removes a value only at count zero, and the answer is a
/// per-group counter of the values present.
///
/// Why not the ordered multiset MIN/MAX and percentiles use ([`super::value_counts`]):
/// distinctness needs no order, and a hash probe costs one comparison where an ordered map
/// pays one per level, plus an allocation per group. Numbers and timestamps are keyed by
/// their order-preserving `u64` ([`Ordinals`]), strings by their UTF-8 bytes, other types by
/// Arrow's row encoding. A value's bytes are copied only when its group first sees it.
/// Resetting groups (their window closed) sweeps the table once. Checkpoints hold the same
/// format the ordered multiset writes: per group, row-encoded values in value order with
/// their counts.
pub struct CountDistinct {
    data_type: DataType,
    converter: RowConverter,
    values: Values,
    /// Values present per group.
    distinct: Vec<i64>,
    hasher: DefaultHashBuilder,
}

enum Values {
    Ordinal {
        kind: Ordinals,
        table: HashTable<OrdinalEntry>,
        /// The batch's keys, reused across batches.
        scratch: Vec<u64>,
    },
    Bytes {
        /// Whether values are Utf8 and keyed by their own bytes (else by the row encoding).
        utf8: bool,
        table: HashTable<BytesEntry>,
    },
}

struct OrdinalEntry {
    group: u32,
    value: u64,
    count: i64,
}

struct BytesEntry {
    hash: u64,
    group: u32,
    count: i64,
    value: Value,
}

/// Values up to this many bytes (an IPv4 address as text, a short name) are stored in the
/// entry itself.
const INLINE: usize = 22;

/// A value's key bytes: in the entry when short, so most inserts allocate nothing and a
/// probe compares bytes already in the cache line it read.
enum Value {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Value {
    fn new(value: &[u8]) -> Self {
        if value.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..value.len()].copy_from_slice(value);
            Value::Inline {
                len: value.len() as u8,
                bytes,
            }
        } else {
            Value::Heap(value.into())
        }
    }

    #[inline]
    fn as_bytes(&self) -> &[u8] {
        match self {
            Value::Inline { len, bytes } => &bytes[..*len as usize],
            Value::Heap(b) => b,
        }
    }
}

/// Adds `w` to the count of the entry `find` locates (hash `hash`), inserting `make()` when
/// there is none; an entry at count zero goes. Returns the change in the number of entries.
#[inline]
fn add<E>(
    table: &mut HashTable<E>,
    hash: u64,
    find: impl FnMut(&E) -> bool,
    rehash: impl Fn(&E) -> u64,
    count: impl Fn(&mut E) -> &mut i64,
    make: impl FnOnce() -> E,
    w: i64,
) -> i64 {
    match table.entry(hash, find, rehash) {
        Entry::Occupied(mut e) => {
            let c = count(e.get_mut());
            *c += w;
            if *c == 0 {
                e.remove();
                return -1;
            }
            0
        }
        Entry::Vacant(e) if w != 0 => {
            let mut entry = make();
            *count(&mut entry) = w;
            e.insert(entry);
            1
        }
        Entry::Vacant(_) => 0,
    }
}

impl CountDistinct {
    pub fn new(data_type: DataType) -> Result<Self> {
        let values = match Ordinals::of(&data_type) {
            Some(kind) => Values::Ordinal {
                kind,
                table: HashTable::new(),
                scratch: Vec::new(),
            },
            None => Values::Bytes {
                utf8: data_type == DataType::Utf8,
                table: HashTable::new(),
            },
        };
        Ok(CountDistinct {
            converter: RowConverter::new(vec![SortField::new(data_type.clone())])?,
            data_type,
            values,
            distinct: Vec::new(),
            hasher: DefaultHashBuilder::default(),
        })
    }

    /// Adds `w` occurrences of `value` to `group`.
    fn add_ordinal(&mut self, group: u32, value: u64, w: i64) {
        let Values::Ordinal { table, .. } = &mut self.values else {
            return;
        };
        let hasher = &self.hasher;
        let hash = hasher.hash_one((group, value));
        self.distinct[group as usize] += add(
            table,
            hash,
            |e| e.group == group && e.value == value,
            |e| hasher.hash_one((e.group, e.value)),
            |e| &mut e.count,
            || OrdinalEntry {
                group,
                value,
                count: 0,
            },
            w,
        );
    }

    /// Adds `w` occurrences of the value whose key bytes are `value` to `group`.
    fn add_bytes(
        table: &mut HashTable<BytesEntry>,
        hasher: &DefaultHashBuilder,
        distinct: &mut [i64],
        group: u32,
        value: &[u8],
        w: i64,
    ) {
        let hash = hasher.hash_one((group, value));
        distinct[group as usize] += add(
            table,
            hash,
            |e| e.hash == hash && e.group == group && e.value.as_bytes() == value,
            |e| e.hash,
            |e| &mut e.count,
            || BytesEntry {
                hash,
                group,
                count: 0,
                value: Value::new(value),
            },
            w,
        );
    }

    /// Every entry as (group, row-encoded value, count), in group then value order.
    fn entries(&self) -> Result<Vec<(u32, Vec<u8>, i64)>> {
        let encode = |array: ArrayRef| -> Result<Vec<Vec<u8>>> {
            let rows = self.converter.convert_columns(&[array])?;
            Ok(rows.iter().map(|r| r.as_ref().to_vec()).collect())
        };
        let mut out = match &self.values {
            Values::Ordinal { kind, table, .. } => {
                let mut entries: Vec<(u32, u64, i64)> =
                    table.iter().map(|e| (e.group, e.value, e.count)).collect();
                entries.sort_unstable_by_key(|e| (e.0, e.1));
                let keys: Vec<Option<u64>> = entries.iter().map(|e| Some(e.1)).collect();
                let values = encode(kind.decode(&keys, &self.data_type)?)?;
                entries
                    .into_iter()
                    .zip(values)
                    .map(|((g, _, c), v)| (g, v, c))
                    .collect::<Vec<_>>()
            }
            Values::Bytes { utf8: true, table } => {
                let entries: Vec<&BytesEntry> = table.iter().collect();
                let text = entries
                    .iter()
                    .map(|e| std::str::from_utf8(e.value.as_bytes()).map(Some))
                    .collect::<std::result::Result<StringArray, _>>()
                    .map_err(|_| EngineError::Internal("a distinct string is not UTF-8".into()))?;
                let values = encode(Arc::new(text))?;
                entries
                    .iter()
                    .zip(values)
                    .map(|(e, v)| (e.group, v, e.count))
                    .collect()
            }
            Values::Bytes { utf8: false, table } => table
                .iter()
                .map(|e| (e.group, e.value.as_bytes().to_vec(), e.count))
                .collect(),
        };
        // The row encoding sorts like the values.
        out.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        Ok(out)
    }
}

impl GroupAccumulator for CountDistinct {
    fn update(&mut self, args: &[ArrayRef], rows: &Rows) -> Result<()> {
        if self.distinct.len() < rows.num_groups {
            self.distinct.resize(rows.num_groups, 0);
        }
        let values = &args[0];
        match &mut self.values {
            Values::Ordinal { scratch, .. } => {
                let mut keys = std::mem::take(scratch);
                Ordinals::keys(values.as_ref(), &mut keys)?;
                rows.for_each(Some(values.as_ref()), |i, g, w| {
                    self.add_ordinal(g as u32, keys[i], w)
                });
                if let Values::Ordinal { scratch, .. } = &mut self.values {
                    *scratch = keys;
                }
            }
            Values::Bytes { utf8: true, table } => {
                let strings = values.as_string_opt::<i32>().ok_or_else(|| {
                    EngineError::Internal(format!(
                        "COUNT(DISTINCT) over Utf8 got {}",
                        values.data_type()
                    ))
                })?;
                let (hasher, distinct) = (&self.hasher, &mut self.distinct);
                rows.for_each(Some(values.as_ref()), |i, g, w| {
                    let value = strings.value(i).as_bytes();
                    Self::add_bytes(table, hasher, distinct, g as u32, value, w)
                });
            }
            Values::Bytes { utf8: false, table } => {
                let encoded = self
                    .converter
                    .convert_columns(std::slice::from_ref(values))?;
                let (hasher, distinct) = (&self.hasher, &mut self.distinct);
                rows.for_each(Some(values.as_ref()), |i, g, w| {
                    let value = encoded.row(i);
                    Self::add_bytes(table, hasher, distinct, g as u32, value.as_ref(), w)
                });
            }
        }
        Ok(())
    }

    fn evaluate(&self, groups: &[u32]) -> Result<ArrayRef> {
        Ok(Arc::new(Int64Array::from_iter_values(groups.iter().map(
            |&g| self.distinct.get(g as usize).copied().unwrap_or(0),
        ))))
    }

    fn reset(&mut self, groups: &[u32]) {
        let mut gone = vec![false; self.distinct.len()];
        let mut any = false;
        for &g in groups {
            if let Some(d) = self.distinct.get_mut(g as usize) {
                any |= *d != 0;
                gone[g as usize] = true;
                *d = 0;
            }
        }
        if !any {
            return;
        }
        let keep = |g: u32| !gone[g as usize];
        match &mut self.values {
            Values::Ordinal { table, .. } => table.retain(|e| keep(e.group)),
            Values::Bytes { table, .. } => table.retain(|e| keep(e.group)),
        }
    }

    fn save(&self, out: &mut StateWriter) -> Result<()> {
        out.tag("value_counts");
        out.len(self.distinct.len());
        let entries = self.entries()?;
        let mut next = entries.iter().peekable();
        for g in 0..self.distinct.len() as u32 {
            out.len(self.distinct[g as usize].max(0) as usize);
            while let Some((_, value, count)) = next.next_if(|e| e.0 == g) {
                out.bytes(value);
                out.i64(*count);
            }
        }
        Ok(())
    }

    fn load(&mut self, input: &mut StateReader) -> Result<()> {
        input.tag("value_counts")?;
        let groups = input.len()?;
        let mut saved = Vec::new();
        for g in 0..groups as u32 {
            for _ in 0..input.len()? {
                saved.push((g, input.bytes()?, input.i64()?));
            }
        }
        *self = CountDistinct::new(self.data_type.clone())?;
        self.distinct = vec![0; groups];
        if saved.is_empty() {
            return Ok(());
        }
        let parser = self.converter.parser();
        let damaged =
            || EngineError::Storage("checkpoint state is damaged: COUNT(DISTINCT)".into());
        let decoded = || -> Result<ArrayRef> {
            let mut columns = self
                .converter
                .convert_rows(saved.iter().map(|(_, b, _)| parser.parse(b)))?;
            columns.pop().ok_or_else(damaged)
        };
        match &mut self.values {
            Values::Ordinal { .. } => {
                let mut keys = Vec::new();
                Ordinals::keys(decoded()?.as_ref(), &mut keys)?;
                for ((g, _, count), key) in saved.iter().zip(keys) {
                    self.add_ordinal(*g, key, *count);
                }
            }
            Values::Bytes { utf8: true, .. } => {
                let array = decoded()?;
                let strings = array.as_string_opt::<i32>().ok_or_else(damaged)?;
                let Values::Bytes { table, .. } = &mut self.values else {
                    return Err(damaged());
                };
                for (i, (g, _, count)) in saved.iter().enumerate() {
                    let value = strings.value(i).as_bytes();
                    Self::add_bytes(table, &self.hasher, &mut self.distinct, *g, value, *count);
                }
            }
            Values::Bytes { utf8: false, table } => {
                for (g, value, count) in &saved {
                    Self::add_bytes(table, &self.hasher, &mut self.distinct, *g, value, *count);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accumulators::test_rows as rows;
    use crate::accumulators::value_counts::ValueCounts;
    use datafusion::arrow::array::{Int32Array, TimestampMicrosecondArray};

    fn counts(c: &CountDistinct, groups: &[u32]) -> Vec<i64> {
        let out = c.evaluate(groups).unwrap();
        out.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .values()
            .to_vec()
    }

    /// Strings, integers and timestamps: counted, retracted to zero, reset, and written in
    /// exactly the bytes the ordered multiset writes for the same values, so checkpoints
    /// taken before this accumulator existed still load.
    #[test]
    fn counts_retracts_resets_and_checkpoints_like_the_multiset() {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![
                Some("b"),
                Some("a"),
                None,
                Some("b"),
                Some("c"),
            ])),
            Arc::new(Int32Array::from(vec![
                Some(-3),
                Some(7),
                Some(7),
                None,
                Some(-3),
            ])),
            Arc::new(TimestampMicrosecondArray::from(vec![5, 5, -1, 2, 9])),
            Arc::new(datafusion::arrow::array::BooleanArray::from(vec![
                true, false, true, true, false,
            ])),
        ];
        let groups = [1, 1, 1, 0, 0];
        for column in &columns {
            let data_type = column.data_type().clone();
            let mut distinct = CountDistinct::new(data_type.clone()).unwrap();
            let mut multiset = ValueCounts::new(data_type.clone()).unwrap();
            let batch = std::slice::from_ref(column);
            distinct.update(batch, &rows(&groups, None, 3)).unwrap();
            multiset.update(column, &rows(&groups, None, 3)).unwrap();
            // Retract the first row: its value leaves group 1 when no other row has it.
            let first = column.slice(0, 1);
            distinct
                .update(&[first.clone()], &rows(&[1], Some(&[-1]), 3))
                .unwrap();
            multiset
                .update(&first, &rows(&[1], Some(&[-1]), 3))
                .unwrap();

            let mut a = StateWriter::default();
            distinct.save(&mut a).unwrap();
            let mut b = StateWriter::default();
            multiset.save(&mut b).unwrap();
            let bytes = a.into_bytes();
            assert_eq!(bytes, b.into_bytes(), "{data_type}");

            let mut restored = CountDistinct::new(data_type.clone()).unwrap();
            restored.load(&mut StateReader::new(&bytes)).unwrap();
            let expected = counts(&distinct, &[0, 1, 2]);
            assert_eq!(counts(&restored, &[0, 1, 2]), expected, "{data_type}");
            for c in [&mut distinct, &mut restored] {
                c.reset(&[0]);
                assert_eq!(counts(c, &[0, 1, 2]), vec![0, expected[1], 0]);
            }
        }
        // The strings case by hand: group 1 keeps "a" (NULL never counts), group 0 has b, c.
        let mut d = CountDistinct::new(DataType::Utf8).unwrap();
        d.update(&columns[0..1], &rows(&groups, None, 2)).unwrap();
        assert_eq!(counts(&d, &[0, 1]), vec![2, 2]);
        d.update(&[columns[0].slice(0, 1)], &rows(&[1], Some(&[-1]), 2))
            .unwrap();
        assert_eq!(counts(&d, &[0, 1]), vec![2, 1]);
        // Values longer than the entry holds inline, and one exactly at the limit.
        let long = "2001:0db8:85a3:0000:0000:8a2e:0370:7334";
        let edge = "x".repeat(INLINE);
        let values: ArrayRef = Arc::new(StringArray::from(vec![long, &edge, long, "b"]));
        d.update(&[values], &rows(&[0, 0, 0, 0], None, 2)).unwrap();
        assert_eq!(counts(&d, &[0, 1]), vec![4, 1]);
        let mut saved = StateWriter::default();
        d.save(&mut saved).unwrap();
        let bytes = saved.into_bytes();
        let mut restored = CountDistinct::new(DataType::Utf8).unwrap();
        restored.load(&mut StateReader::new(&bytes)).unwrap();
        assert_eq!(counts(&restored, &[0, 1]), vec![4, 1]);
    }
}
