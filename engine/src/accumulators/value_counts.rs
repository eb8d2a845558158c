//! value -> count per group, for any orderable type.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, StringArray, UInt32Array, UInt64Array,
    new_null_array,
};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use datafusion::arrow::row::{RowConverter, SortField};

use super::Rows;
use super::ordered_counts::OrderedCounts;
use crate::error::{EngineError, Result};
use crate::state::{StateReader, StateWriter};

/// One value of a group's multiset, as [`ValueCounts`] keys it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    Ordinal(u64),
    Encoded(&'a [u8]),
}

/// The multiset of non-NULL values of each group, ordered by value: one structure serves
/// MIN/MAX, COUNT DISTINCT and PERCENTILE_DISC over integers, floats, strings and timestamps
/// alike. A value whose count drops to zero is removed.
///
/// Numbers and timestamps are keyed by a `u64` whose unsigned order is the value order
/// ([`Ordinals`]): computed for a whole batch in one pass, compared as integers, never
/// allocated. Other types are keyed by Arrow's row encoding, whose byte order is the value
/// order; a value's bytes are copied only the first time a group sees it. Checkpoints hold
/// the row encoding for both, so the in-memory keying can change without a format change.
pub struct ValueCounts {
    data_type: DataType,
    converter: RowConverter,
    /// Utf8 values are keyed by their own bytes, which order as the row encoding does (both
    /// compare bytewise, a prefix first), so updates convert nothing; checkpoints and reads
    /// convert.
    utf8: bool,
    keys: Keys,
}

enum Keys {
    Ordinal {
        kind: Ordinals,
        groups: Vec<OrderedCounts>,
        /// The batch's keys, reused across batches.
        scratch: Vec<u64>,
    },
    Encoded(Vec<BTreeMap<Box<[u8]>, i64>>),
}

/// Fixed-width types whose values map to `u64` keeping their order (SQL's order; floats in
/// IEEE total order, so NaN sorts last as in PostgreSQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ordinals {
    Signed,
    Unsigned,
    Float,
}

const SIGN: u64 = 1 << 63;

fn float_key(v: f64) -> u64 {
    let b = v.to_bits();
    if b & SIGN != 0 { !b } else { b | SIGN }
}

fn float_from_key(k: u64) -> f64 {
    f64::from_bits(if k & SIGN != 0 { k & !SIGN } else { !k })
}

impl Ordinals {
    pub(crate) fn of(data_type: &DataType) -> Option<Self> {
        match data_type {
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Timestamp(_, _) => Some(Ordinals::Signed),
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
                Some(Ordinals::Unsigned)
            }
            DataType::Float32 | DataType::Float64 => Some(Ordinals::Float),
            _ => None,
        }
    }

    /// The keys of every row of `values` (NULL rows get an unused key) into `out`.
    pub(crate) fn keys(values: &dyn Array, out: &mut Vec<u64>) -> Result<()> {
        out.clear();
        let signed = |v: i64| (v as u64) ^ SIGN;
        match values.data_type() {
            DataType::Int8 => out.extend(
                values
                    .as_primitive::<Int8Type>()
                    .values()
                    .iter()
                    .map(|v| signed(*v as i64)),
            ),
            DataType::Int16 => out.extend(
                values
                    .as_primitive::<Int16Type>()
                    .values()
                    .iter()
                    .map(|v| signed(*v as i64)),
            ),
            DataType::Int32 => out.extend(
                values
                    .as_primitive::<Int32Type>()
                    .values()
                    .iter()
                    .map(|v| signed(*v as i64)),
            ),
            DataType::Int64 | DataType::Timestamp(_, _) => {
                // A timestamp's values are i64 in its unit.
                let data = values.to_data();
                out.extend(data.buffer::<i64>(0).iter().map(|v| signed(*v)));
            }
            DataType::UInt8 => out.extend(
                values
                    .as_primitive::<UInt8Type>()
                    .values()
                    .iter()
                    .map(|v| *v as u64),
            ),
            DataType::UInt16 => out.extend(
                values
                    .as_primitive::<UInt16Type>()
                    .values()
                    .iter()
                    .map(|v| *v as u64),
            ),
            DataType::UInt32 => out.extend(
                values
                    .as_primitive::<UInt32Type>()
                    .values()
                    .iter()
                    .map(|v| *v as u64),
            ),
            DataType::UInt64 => out.extend(values.as_primitive::<UInt64Type>().values().iter()),
            DataType::Float32 => out.extend(
                values
                    .as_primitive::<Float32Type>()
                    .values()
                    .iter()
                    .map(|v| float_key(*v as f64)),
            ),
            DataType::Float64 => out.extend(
                values
                    .as_primitive::<Float64Type>()
                    .values()
                    .iter()
                    .map(|v| float_key(*v)),
            ),
            other => {
                return Err(EngineError::Internal(format!(
                    "value_counts: {other} has no ordinal keys"
                )));
            }
        }
        Ok(())
    }

    /// An array of `data_type` holding the values of `keys` (NULL where None).
    pub(crate) fn decode(self, keys: &[Option<u64>], data_type: &DataType) -> Result<ArrayRef> {
        let wide: ArrayRef = match self {
            Ordinals::Signed => Arc::new(
                keys.iter()
                    .map(|k| k.map(|k| (k ^ SIGN) as i64))
                    .collect::<Int64Array>(),
            ),
            Ordinals::Unsigned => Arc::new(keys.iter().copied().collect::<UInt64Array>()),
            Ordinals::Float => Arc::new(
                keys.iter()
                    .map(|k| k.map(float_from_key))
                    .collect::<Float64Array>(),
            ),
        };
        // Every key came from a value of `data_type`, so narrowing it back is exact.
        Ok(cast(&wide, data_type)?)
    }
}

impl ValueCounts {
    pub fn new(data_type: DataType) -> Result<Self> {
        let keys = match Ordinals::of(&data_type) {
            Some(kind) => Keys::Ordinal {
                kind,
                groups: Vec::new(),
                scratch: Vec::new(),
            },
            None => Keys::Encoded(Vec::new()),
        };
        Ok(ValueCounts {
            converter: RowConverter::new(vec![SortField::new(data_type.clone())])?,
            utf8: data_type == DataType::Utf8,
            data_type,
            keys,
        })
    }

    pub fn update(&mut self, values: &ArrayRef, rows: &Rows) -> Result<()> {
        match &mut self.keys {
            Keys::Ordinal {
                groups, scratch, ..
            } => {
                if groups.len() < rows.num_groups {
                    groups.resize_with(rows.num_groups, OrderedCounts::default);
                }
                Ordinals::keys(values.as_ref(), scratch)?;
                let keys = &*scratch;
                rows.for_each(Some(values.as_ref()), |i, g, w| groups[g].add(keys[i], w));
            }
            Keys::Encoded(groups) => {
                if groups.len() < rows.num_groups {
                    groups.resize_with(rows.num_groups, BTreeMap::new);
                }
                if self.utf8 {
                    let strings = values.as_string_opt::<i32>().ok_or_else(|| {
                        EngineError::Internal(format!("Utf8 values of type {}", values.data_type()))
                    })?;
                    rows.for_each(Some(values.as_ref()), |i, g, w| {
                        add_bytes(&mut groups[g], strings.value(i).as_bytes(), w)
                    });
                } else {
                    let encoded = self
                        .converter
                        .convert_columns(std::slice::from_ref(values))?;
                    rows.for_each(Some(values.as_ref()), |i, g, w| {
                        add_bytes(&mut groups[g], encoded.row(i).as_ref(), w)
                    });
                }
            }
        }
        Ok(())
    }

    /// Empties `groups`, releasing their values' memory.
    pub fn reset(&mut self, groups: &[u32]) {
        for &g in groups {
            let g = g as usize;
            match &mut self.keys {
                Keys::Ordinal { groups, .. } => {
                    if let Some(m) = groups.get_mut(g) {
                        *m = OrderedCounts::default();
                    }
                }
                Keys::Encoded(groups) => {
                    if let Some(m) = groups.get_mut(g) {
                        *m = BTreeMap::new();
                    }
                }
            }
        }
    }

    /// How many groups have state (some may be empty).
    pub fn groups(&self) -> usize {
        match &self.keys {
            Keys::Ordinal { groups, .. } => groups.len(),
            Keys::Encoded(groups) => groups.len(),
        }
    }

    /// Distinct values of group `g` (COUNT DISTINCT keeps its own table; tests use this).
    #[cfg(test)]
    pub fn distinct(&self, g: u32) -> usize {
        match &self.keys {
            Keys::Ordinal { groups, .. } => groups.get(g as usize).map_or(0, OrderedCounts::len),
            Keys::Encoded(groups) => groups.get(g as usize).map_or(0, BTreeMap::len),
        }
    }

    /// Group `g`'s smallest value, or its largest when `last`.
    pub fn extreme(&self, g: u32, last: bool) -> Option<Key<'_>> {
        match &self.keys {
            Keys::Ordinal { groups, .. } => groups.get(g as usize)?.extreme(last).map(Key::Ordinal),
            Keys::Encoded(groups) => {
                let m = groups.get(g as usize)?;
                let kv = if last {
                    m.last_key_value()
                } else {
                    m.first_key_value()
                };
                kv.map(|(k, _)| Key::Encoded(k.as_ref()))
            }
        }
    }

    /// The value at 0-based `rank` of group `g`'s values in ascending order (descending when
    /// `descending`), each value counted as often as it occurs.
    pub fn nth(&self, g: u32, rank: u64, descending: bool) -> Option<Key<'_>> {
        match &self.keys {
            Keys::Ordinal { groups, .. } => groups
                .get(g as usize)?
                .nth(rank, descending)
                .map(Key::Ordinal),
            Keys::Encoded(groups) => {
                nth(groups.get(g as usize)?, rank, descending).map(|k| Key::Encoded(k.as_ref()))
            }
        }
    }

    /// Every group's values (row-encoded) and counts.
    pub fn save(&self, out: &mut StateWriter) -> Result<()> {
        out.tag("value_counts");
        match &self.keys {
            Keys::Encoded(groups) => {
                let values: Vec<&[u8]> =
                    groups.iter().flat_map(|m| m.keys()).map(|k| &**k).collect();
                let strings = self
                    .utf8
                    .then(|| self.rows_of_strings(&values))
                    .transpose()?;
                let mut next = 0;
                out.len(groups.len());
                for map in groups {
                    out.len(map.len());
                    for (value, count) in map {
                        match &strings {
                            Some(rows) => out.bytes(rows.row(next).as_ref()),
                            None => out.bytes(value),
                        }
                        out.i64(*count);
                        next += 1;
                    }
                }
            }
            Keys::Ordinal { kind, groups, .. } => {
                // Every group's keys decoded and row-encoded in one batch, not per group.
                let keys: Vec<Option<u64>> = groups
                    .iter()
                    .flat_map(|m| m.iter().map(|(k, _)| Some(k)))
                    .collect();
                let values = kind.decode(&keys, &self.data_type)?;
                let encoded = self.converter.convert_columns(&[values])?;
                let mut next = 0;
                out.len(groups.len());
                for map in groups {
                    out.len(map.len());
                    for (_, count) in map.iter() {
                        out.bytes(encoded.row(next).as_ref());
                        out.i64(count);
                        next += 1;
                    }
                }
            }
        }
        Ok(())
    }

    pub fn load(&mut self, input: &mut StateReader) -> Result<()> {
        input.tag("value_counts")?;
        let n = input.len()?;
        match &mut self.keys {
            Keys::Encoded(groups) => {
                let mut saved = Vec::with_capacity(n);
                for _ in 0..n {
                    let entries = input.len()?;
                    let mut group = Vec::with_capacity(entries);
                    for _ in 0..entries {
                        group.push((input.bytes()?, input.i64()?));
                    }
                    saved.push(group);
                }
                let strings = if self.utf8 {
                    let parser = self.converter.parser();
                    let all = saved.iter().flatten().map(|(b, _)| parser.parse(b));
                    let mut columns = self.converter.convert_rows(all)?;
                    columns.pop()
                } else {
                    None
                };
                let strings = strings.as_ref().and_then(|c| c.as_string_opt::<i32>());
                let mut next = 0;
                *groups = Vec::with_capacity(n);
                for group in saved {
                    let mut map = BTreeMap::new();
                    for (value, count) in group {
                        let key = match strings {
                            Some(s) => s.value(next).as_bytes(),
                            None => value,
                        };
                        map.insert(Box::<[u8]>::from(key), count);
                        next += 1;
                    }
                    groups.push(map);
                }
            }
            Keys::Ordinal {
                groups, scratch, ..
            } => {
                *groups = Vec::with_capacity(n);
                let parser = self.converter.parser();
                for _ in 0..n {
                    let entries = input.len()?;
                    let mut encoded = Vec::with_capacity(entries);
                    let mut counts = Vec::with_capacity(entries);
                    for _ in 0..entries {
                        encoded.push(input.bytes()?);
                        counts.push(input.i64()?);
                    }
                    let mut map = OrderedCounts::default();
                    if entries > 0 {
                        let values = self
                            .converter
                            .convert_rows(encoded.iter().map(|b| parser.parse(b)))?
                            .remove(0);
                        Ordinals::keys(values.as_ref(), scratch)?;
                        for (key, count) in scratch.iter().zip(counts) {
                            map.add(*key, count);
                        }
                    }
                    groups.push(map);
                }
            }
        }
        Ok(())
    }

    /// Utf8 keys (their own bytes) as a StringArray, NULL where None.
    fn strings<'k>(keys: impl Iterator<Item = Option<&'k [u8]>>) -> Result<StringArray> {
        keys.map(|k| k.map(std::str::from_utf8).transpose())
            .collect::<std::result::Result<StringArray, _>>()
            .map_err(|_| EngineError::Internal("a Utf8 value's key is not UTF-8".into()))
    }

    /// Utf8 keys in Arrow's row format, as checkpoints store them.
    fn rows_of_strings(&self, keys: &[&[u8]]) -> Result<datafusion::arrow::row::Rows> {
        let strings = Self::strings(keys.iter().map(|k| Some(*k)))?;
        Ok(self.converter.convert_columns(&[Arc::new(strings)])?)
    }

    /// Decodes one value per entry, NULL where `None`.
    pub fn decode(&self, picks: &[Option<Key<'_>>]) -> Result<ArrayRef> {
        if let Keys::Ordinal { kind, .. } = &self.keys {
            let keys: Vec<Option<u64>> = picks
                .iter()
                .map(|p| match p {
                    Some(Key::Ordinal(k)) => Some(*k),
                    _ => None,
                })
                .collect();
            return kind.decode(&keys, &self.data_type);
        }
        let present: Vec<&[u8]> = picks
            .iter()
            .filter_map(|p| match p {
                Some(Key::Encoded(b)) => Some(*b),
                _ => None,
            })
            .collect();
        if present.is_empty() {
            return Ok(new_null_array(&self.data_type, picks.len()));
        }
        if self.utf8 {
            return Ok(Arc::new(Self::strings(picks.iter().map(|p| match p {
                Some(Key::Encoded(b)) => Some(*b),
                _ => None,
            }))?));
        }
        let parser = self.converter.parser();
        let decoded = self
            .converter
            .convert_rows(present.iter().map(|b| parser.parse(b)))?
            .remove(0);
        let mut next = 0u32;
        let indices: UInt32Array = picks
            .iter()
            .map(|p| {
                p.map(|_| {
                    next += 1;
                    next - 1
                })
            })
            .collect();
        Ok(take(decoded.as_ref(), &indices, None)?)
    }
}

/// Adds `w` occurrences of the value keyed `bytes` (negative: removes them).
#[inline]
fn add_bytes(map: &mut BTreeMap<Box<[u8]>, i64>, bytes: &[u8], w: i64) {
    match map.get_mut(bytes) {
        Some(c) => {
            *c += w;
            if *c == 0 {
                map.remove(bytes);
            }
        }
        None if w != 0 => {
            map.insert(bytes.into(), w);
        }
        None => {}
    }
}

/// The key at 0-based `rank` of an ordered multiset walked in the given direction.
fn nth<K>(map: &BTreeMap<K, i64>, rank: u64, descending: bool) -> Option<&K> {
    fn walk<'a, K: 'a>(
        entries: impl Iterator<Item = (&'a K, &'a i64)>,
        rank: u64,
    ) -> Option<&'a K> {
        let mut seen = 0u64;
        for (k, c) in entries {
            seen += (*c).max(0) as u64;
            if seen > rank {
                return Some(k);
            }
        }
        None
    }
    if descending {
        walk(map.iter().rev(), rank)
    } else {
        walk(map.iter(), rank)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accumulators::test_rows as rows;
    use datafusion::arrow::array::{Int32Array, StringArray, TimestampMillisecondArray};

    /// Every group's values in order with their counts, decoded, as text.
    fn contents(v: &ValueCounts, groups: u32) -> Vec<Vec<(String, i64)>> {
        (0..groups)
            .map(|g| {
                (0..v.distinct(g) as u64)
                    .map(|i| {
                        // The i-th distinct value is the first whose rank passes the others'.
                        let key = v.nth_distinct(g, i);
                        let array = v.decode(&[key]).unwrap();
                        let text =
                            datafusion::arrow::util::display::array_value_to_string(&array, 0)
                                .unwrap();
                        (text, v.count_of(g, key.unwrap()))
                    })
                    .collect()
            })
            .collect()
    }

    impl ValueCounts {
        fn nth_distinct(&self, g: u32, i: u64) -> Option<Key<'_>> {
            match &self.keys {
                Keys::Ordinal { groups, .. } => groups[g as usize]
                    .iter()
                    .nth(i as usize)
                    .map(|(k, _)| Key::Ordinal(k)),
                Keys::Encoded(groups) => groups[g as usize]
                    .keys()
                    .nth(i as usize)
                    .map(|k| Key::Encoded(k.as_ref())),
            }
        }

        fn count_of(&self, g: u32, key: Key<'_>) -> i64 {
            match (&self.keys, key) {
                (Keys::Ordinal { groups, .. }, Key::Ordinal(k)) => groups[g as usize]
                    .iter()
                    .find_map(|(key, c)| (key == k).then_some(c))
                    .unwrap_or(0),
                (Keys::Encoded(groups), Key::Encoded(b)) => groups[g as usize][b],
                _ => unreachable!(),
            }
        }
    }

    #[test]
    fn ordinal_keys_keep_the_value_order() {
        let ints = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
        let keys: Vec<u64> = ints.iter().map(|v| (*v as u64) ^ SIGN).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        let floats = [
            f64::NEG_INFINITY,
            -2.5,
            -0.0,
            0.0,
            1.0,
            f64::INFINITY,
            f64::NAN,
        ];
        let keys: Vec<u64> = floats.iter().map(|v| float_key(*v)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        for v in floats {
            assert_eq!(float_from_key(float_key(v)).to_bits(), v.to_bits());
        }
    }

    #[test]
    fn ints_strings_and_timestamps_count_retract_and_survive_a_checkpoint() {
        // Rows 0 and 3 hold the same value; row 2 is NULL.
        let cases: Vec<(ArrayRef, [&str; 3])> = vec![
            (
                Arc::new(Int32Array::from(vec![
                    Some(5),
                    Some(-3),
                    None,
                    Some(5),
                    Some(9),
                ])),
                ["-3", "5", "9"],
            ),
            (
                Arc::new(StringArray::from(vec![
                    Some("b"),
                    Some("a"),
                    None,
                    Some("b"),
                    Some("c"),
                ])),
                ["a", "b", "c"],
            ),
            (
                Arc::new(TimestampMillisecondArray::from(vec![
                    Some(2000),
                    Some(1000),
                    None,
                    Some(2000),
                    Some(-1000),
                ])),
                [
                    "1970-01-01T00:00:01",
                    "1970-01-01T00:00:02",
                    "1969-12-31T23:59:59",
                ],
            ),
        ];
        for (values, [low, high, other]) in cases {
            let mut v = ValueCounts::new(values.data_type().clone()).unwrap();
            let groups = [0, 0, 0, 0, 1];
            // Row 0's value: 2 + 2 - 3 = 1; row 1's: 1 + 1 = 2; a zero weight changes nothing.
            v.update(&values, &rows(&groups, None, 2)).unwrap();
            v.update(&values, &rows(&groups, Some(&[1, 1, 1, 1, 0]), 2))
                .unwrap();
            v.update(&values, &rows(&groups, Some(&[-2, 0, 0, -1, 0]), 2))
                .unwrap();
            let expected = vec![
                vec![(low.to_string(), 2), (high.to_string(), 1)],
                vec![(other.to_string(), 1)],
            ];
            assert_eq!(contents(&v, 2), expected, "{}", values.data_type());
            let mut out = StateWriter::default();
            v.save(&mut out).unwrap();
            let bytes = out.into_bytes();
            let mut restored = ValueCounts::new(values.data_type().clone()).unwrap();
            restored.load(&mut StateReader::new(&bytes)).unwrap();
            assert_eq!(contents(&restored, 2), expected);
            assert_eq!(restored.extreme(0, true), v.extreme(0, true));
            // Rank 1 of (low, low, high) is low; descending, it is low too; rank 2 is high.
            assert_eq!(v.nth(0, 1, false), v.extreme(0, false));
            assert_eq!(v.nth(0, 2, false), v.extreme(0, true));
            assert_eq!(v.nth(0, 0, true), v.extreme(0, true));
            v.reset(&[0]);
            assert_eq!(v.distinct(0), 0);
            assert_eq!(contents(&v, 2)[1], expected[1]);
        }
    }
}
