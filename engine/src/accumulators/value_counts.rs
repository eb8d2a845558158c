//! value -> count per group, for any orderable type.

use std::collections::BTreeMap;

use datafusion::arrow::array::{ArrayRef, UInt32Array, new_null_array};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::row::{RowConverter, SortField};

use super::Rows;
use crate::error::Result;
use crate::state::{StateReader, StateWriter};

/// The multiset of non-NULL values of each group, keyed by Arrow's row encoding, whose byte
/// order is the value order for every type: one structure serves MIN/MAX, COUNT DISTINCT and
/// PERCENTILE_DISC over integers, strings and timestamps alike. A value's bytes are copied
/// only the first time a group sees it; a value whose count drops to zero is removed.
pub struct ValueCounts {
    data_type: DataType,
    converter: RowConverter,
    groups: Vec<BTreeMap<Box<[u8]>, i64>>,
}

impl ValueCounts {
    pub fn new(data_type: DataType) -> Result<Self> {
        Ok(ValueCounts {
            converter: RowConverter::new(vec![SortField::new(data_type.clone())])?,
            data_type,
            groups: Vec::new(),
        })
    }

    pub fn update(&mut self, values: &ArrayRef, rows: &Rows) -> Result<()> {
        if self.groups.len() < rows.num_groups {
            self.groups.resize_with(rows.num_groups, BTreeMap::new);
        }
        let encoded = self
            .converter
            .convert_columns(std::slice::from_ref(values))?;
        let maps = &mut self.groups;
        rows.for_each(Some(values.as_ref()), |i, g, w| {
            let bytes = encoded.row(i);
            let bytes = bytes.as_ref();
            let map = &mut maps[g];
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
        });
        Ok(())
    }

    /// Empties `groups`, releasing their values' memory.
    pub fn reset(&mut self, groups: &[u32]) {
        for &g in groups {
            if let Some(m) = self.groups.get_mut(g as usize) {
                *m = BTreeMap::new();
            }
        }
    }

    /// Every group's values (row-encoded) and counts.
    pub fn save(&self, out: &mut StateWriter) {
        out.tag("value_counts");
        out.len(self.groups.len());
        for map in &self.groups {
            out.len(map.len());
            for (value, count) in map {
                out.bytes(value);
                out.i64(*count);
            }
        }
    }

    pub fn load(&mut self, input: &mut StateReader) -> Result<()> {
        input.tag("value_counts")?;
        let groups = input.len()?;
        self.groups = Vec::with_capacity(groups);
        for _ in 0..groups {
            let mut map = BTreeMap::new();
            for _ in 0..input.len()? {
                let value: Box<[u8]> = input.bytes()?.into();
                map.insert(value, input.i64()?);
            }
            self.groups.push(map);
        }
        Ok(())
    }

    /// The values of group `g` in ascending order with their counts.
    pub fn group(&self, g: u32) -> Option<&BTreeMap<Box<[u8]>, i64>> {
        self.groups.get(g as usize)
    }

    /// Decodes one value per entry, NULL where `None`.
    pub fn decode(&self, picks: &[Option<&[u8]>]) -> Result<ArrayRef> {
        let present: Vec<&[u8]> = picks.iter().flatten().copied().collect();
        if present.is_empty() {
            return Ok(new_null_array(&self.data_type, picks.len()));
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
