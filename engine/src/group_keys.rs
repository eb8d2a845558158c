//! GROUP BY keys to dense group ids.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::row::{RowConverter, SortField};
use hashbrown::HashMap;

use crate::error::Result;
use crate::state::{StateReader, StateWriter};

/// Interns composite group keys: each distinct key gets the next `u32` id, once.
///
/// Keys are encoded per batch with Arrow's row format (one buffer for the whole batch, no
/// allocation per event) and looked up by their bytes; only a key seen for the first time is
/// copied into the map. The ids index every accumulator's state vectors.
pub struct GroupKeys {
    converter: RowConverter,
    ids: HashMap<Box<[u8]>, u32>,
    /// Key bytes by id, to turn ids back into Arrow columns for output.
    keys: Vec<Box<[u8]>>,
}

impl GroupKeys {
    pub fn new(types: &[DataType]) -> Result<Self> {
        Ok(GroupKeys {
            converter: RowConverter::new(
                types.iter().map(|t| SortField::new(t.clone())).collect(),
            )?,
            ids: HashMap::new(),
            keys: Vec::new(),
        })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Fills `out` with the id of each row's key, creating ids for new keys; calls
    /// `on_new(id, row)` for each new key.
    pub fn intern(
        &mut self,
        columns: &[ArrayRef],
        out: &mut Vec<u32>,
        mut on_new: impl FnMut(u32, usize),
    ) -> Result<()> {
        out.clear();
        let rows = self.converter.convert_columns(columns)?;
        out.reserve(rows.num_rows());
        for i in 0..rows.num_rows() {
            let row = rows.row(i);
            let bytes = row.as_ref();
            let id = match self.ids.get(bytes) {
                Some(id) => *id,
                None => {
                    let id = self.keys.len() as u32;
                    let owned: Box<[u8]> = bytes.into();
                    self.ids.insert(owned.clone(), id);
                    self.keys.push(owned);
                    on_new(id, i);
                    id
                }
            };
            out.push(id);
        }
        Ok(())
    }

    /// Every key's bytes, by id, for a checkpoint.
    pub fn save(&self, out: &mut StateWriter) {
        out.tag("group_keys");
        out.len(self.keys.len());
        for key in &self.keys {
            out.bytes(key);
        }
    }

    /// Replaces the keys with what [`GroupKeys::save`] wrote; ids stay the same.
    pub fn load(&mut self, input: &mut StateReader) -> Result<()> {
        input.tag("group_keys")?;
        let n = input.len()?;
        self.keys = Vec::with_capacity(n);
        self.ids = HashMap::with_capacity(n);
        for id in 0..n {
            let key: Box<[u8]> = input.bytes()?.into();
            self.ids.insert(key.clone(), id as u32);
            self.keys.push(key);
        }
        Ok(())
    }

    /// The key columns of `groups`, in that order.
    pub fn columns(&self, groups: &[u32]) -> Result<Vec<ArrayRef>> {
        let parser = self.converter.parser();
        Ok(self
            .converter
            .convert_rows(groups.iter().map(|&g| parser.parse(&self.keys[g as usize])))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, Int32Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn same_key_same_id_and_round_trip() {
        let mut k = GroupKeys::new(&[DataType::Utf8, DataType::Int32]).unwrap();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![
                Some("a"),
                Some("b"),
                Some("a"),
                None,
            ])),
            Arc::new(Int32Array::from(vec![1, 1, 1, 2])),
        ];
        let mut ids = vec![];
        let mut new = vec![];
        k.intern(&cols, &mut ids, |id, row| new.push((id, row)))
            .unwrap();
        assert_eq!(ids, vec![0, 1, 0, 2]);
        assert_eq!(new, vec![(0, 0), (1, 1), (2, 3)]);
        let back = k.columns(&[2, 0]).unwrap();
        let s = back[0].as_any().downcast_ref::<StringArray>().unwrap();
        assert!(s.is_null(0));
        assert_eq!(s.value(1), "a");
    }
}
