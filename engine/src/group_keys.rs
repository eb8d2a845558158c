//! GROUP BY keys to dense group ids.

use datafusion::arrow::array::{Array, ArrayData, ArrayRef};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::row::{RowConverter, SortField};
use std::collections::BTreeMap;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashMap, HashTable};

use crate::error::Result;
use crate::key_encoding::{EncodedKeys, KeyEncoding};
use crate::state::{StateReader, StateWriter};

/// Interns composite group keys: each distinct key gets a `u32` id, once.
///
/// Each row's key is encoded into one reused buffer (no allocation per event) and looked up
/// at once: compactly ([`KeyEncoding`]) when every key column is a fixed-width primitive or
/// a string, in Arrow's row format otherwise. The table holds ids and compares through the
/// key bytes stored once per id; only a key seen for the first time is copied. Checkpoints
/// hold the row format either way. The ids index every accumulator's state vectors. Ids of
/// released keys (windows that closed or expired) are handed to new keys first, so under
/// retention the id space, and every state vector indexed by it, stops growing.
pub struct GroupKeys {
    converter: RowConverter,
    /// The compact encoding, when the key's types allow it.
    compact: Option<KeyEncoding>,
    /// One row's compact key, reused across rows; and keys encoded in bulk when loading.
    row: Vec<u8>,
    scratch: EncodedKeys,
    /// The ids of live keys by partition (a view's window), each found by its bytes' hash;
    /// a key's bytes are stored once, in `keys`, which equality reads through the id.
    /// Why per partition: a batch's rows fall in one or two windows, so the tables it
    /// probes are small and stay in cache, however many windows are open.
    tables: HashMap<i64, HashTable<u32>>,
    hasher: DefaultHashBuilder,
    /// Key bytes by id, to turn ids back into Arrow columns for output; empty when free.
    keys: Vec<Box<[u8]>>,
    /// Each key's hash by id, so growing the table does not hash the keys again.
    hashes: Vec<u64>,
    /// Released ids, reused before new ones.
    free: Vec<u32>,
}

impl GroupKeys {
    pub fn new(types: &[DataType]) -> Result<Self> {
        Ok(GroupKeys {
            converter: RowConverter::new(
                types.iter().map(|t| SortField::new(t.clone())).collect(),
            )?,
            compact: KeyEncoding::new(types),
            row: Vec::new(),
            scratch: EncodedKeys::default(),
            tables: HashMap::new(),
            hasher: DefaultHashBuilder::default(),
            keys: Vec::new(),
            hashes: Vec::new(),
            free: Vec::new(),
        })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Fills `out` with the id of each row's key, creating ids for new keys; calls
    /// `on_new(id, row)` for each new key. `partition(row)` is the row's partition, a value
    /// the key determines (its window's start).
    pub fn intern(
        &mut self,
        columns: &[ArrayRef],
        partition: impl Fn(usize) -> i64,
        out: &mut Vec<u32>,
        mut on_new: impl FnMut(u32, usize),
    ) -> Result<()> {
        out.clear();
        out.reserve(columns.first().map_or(0, |c| c.len()));
        match &self.compact {
            Some(encoding) => {
                // Each row is encoded into one small buffer and looked up at once, so a
                // batch's keys never sit in memory together.
                let data: Vec<ArrayData> = columns.iter().map(|c| c.to_data()).collect();
                let encoder = encoding.encoder(&data)?;
                let mut key = std::mem::take(&mut self.row);
                let mut current = None;
                for i in 0..encoder.rows() {
                    key.clear();
                    encoder.encode(i, &mut key);
                    let part = partition(i);
                    let table = self.table(&mut current, part);
                    out.push(self.lookup(table, &key, i, &mut on_new));
                }
                self.put_back(current);
                self.row = key;
            }
            None => {
                let rows = self.converter.convert_columns(columns)?;
                let mut current = None;
                for i in 0..rows.num_rows() {
                    let part = partition(i);
                    let table = self.table(&mut current, part);
                    out.push(self.lookup(table, rows.row(i).data(), i, &mut on_new));
                }
                self.put_back(current);
            }
        }
        Ok(())
    }

    /// The table of `part`, taken out of the map: `current` holds it while consecutive rows
    /// share a partition (one map lookup per run of rows, not per row).
    fn table<'c>(
        &mut self,
        current: &'c mut Option<(i64, HashTable<u32>)>,
        part: i64,
    ) -> &'c mut HashTable<u32> {
        if current.as_ref().map(|c| c.0) != Some(part) {
            let table = self.tables.remove(&part).unwrap_or_default();
            self.put_back(current.replace((part, table)));
        }
        // Some by now: the closure never runs.
        &mut current.get_or_insert_with(|| (part, HashTable::new())).1
    }

    fn put_back(&mut self, current: Option<(i64, HashTable<u32>)>) {
        if let Some((part, table)) = current {
            self.tables.insert(part, table);
        }
    }

    /// The id of `bytes` in its partition's `table`, a new one (announced to `on_new` with
    /// `row`) if unseen.
    #[inline]
    fn lookup(
        &mut self,
        table: &mut HashTable<u32>,
        bytes: &[u8],
        row: usize,
        on_new: &mut impl FnMut(u32, usize),
    ) -> u32 {
        let hash = self.hasher.hash_one(bytes);
        let keys = &self.keys;
        if let Some(id) = table.find(hash, |&id| keys[id as usize].as_ref() == bytes) {
            return *id;
        }
        let id = self.add(table, bytes.into(), hash);
        on_new(id, row);
        id
    }

    /// Stores a new key under a free id or a fresh one, in its partition's `table`, and
    /// returns the id.
    fn add(&mut self, table: &mut HashTable<u32>, key: Box<[u8]>, hash: u64) -> u32 {
        let id = match self.free.pop() {
            Some(id) => {
                self.keys[id as usize] = key;
                self.hashes[id as usize] = hash;
                id
            }
            None => {
                self.keys.push(key);
                self.hashes.push(hash);
                (self.keys.len() - 1) as u32
            }
        };
        let hashes = &self.hashes;
        table.insert_unique(hash, id, |&id| hashes[id as usize]);
        id
    }

    /// Forgets every key of partition `part` (a window that closed or expired); their ids go
    /// to the next new keys.
    pub fn release(&mut self, part: i64) {
        let Some(table) = self.tables.remove(&part) else {
            return;
        };
        for id in table {
            self.keys[id as usize] = Box::default();
            self.free.push(id);
        }
    }

    /// Every key's bytes in Arrow's row format, by id (empty for a free id), and the free
    /// ids, for a checkpoint.
    pub fn save(&self, out: &mut StateWriter) -> Result<()> {
        out.tag("group_keys");
        out.len(self.keys.len());
        let Some(encoding) = &self.compact else {
            for key in &self.keys {
                out.bytes(key);
            }
            out.u32s(&self.free);
            return Ok(());
        };
        let free = self.free_flags(self.keys.len())?;
        let live: Vec<&[u8]> = self
            .keys
            .iter()
            .zip(&free)
            .filter(|(_, f)| !**f)
            .map(|(k, _)| k.as_ref())
            .collect();
        let rows = self
            .converter
            .convert_columns(&encoding.decode(live.iter().copied())?)?;
        let mut next = 0;
        for is_free in free {
            if is_free {
                out.bytes(&[]);
            } else {
                out.bytes(rows.row(next).data());
                next += 1;
            }
        }
        out.u32s(&self.free);
        Ok(())
    }

    /// Which of `n` ids are free; an id out of range is damage.
    fn free_flags(&self, n: usize) -> Result<Vec<bool>> {
        let mut free = vec![false; n];
        for &g in &self.free {
            match free.get_mut(g as usize) {
                Some(f) => *f = true,
                None => {
                    return Err(crate::error::EngineError::Storage(
                        "checkpoint state is damaged: a free group id out of range".into(),
                    ));
                }
            }
        }
        Ok(free)
    }

    /// Replaces the keys with what [`GroupKeys::save`] wrote; ids stay the same.
    /// `partitions` holds each id's partition (ids it leaves out are in none, as free ids).
    pub fn load(
        &mut self,
        input: &mut StateReader,
        partitions: &BTreeMap<i64, Vec<u32>>,
    ) -> Result<()> {
        input.tag("group_keys")?;
        let n = input.len()?;
        let mut saved = Vec::with_capacity(n);
        for _ in 0..n {
            saved.push(input.bytes()?);
        }
        self.free = input.u32s()?;
        let free = self.free_flags(n)?;
        self.keys = saved.iter().map(|k| Box::<[u8]>::from(*k)).collect();
        if let Some(encoding) = &self.compact {
            let parser = self.converter.parser();
            let live: Vec<usize> = (0..n).filter(|&i| !free[i]).collect();
            let columns = self
                .converter
                .convert_rows(live.iter().map(|&i| parser.parse(saved[i])))?;
            if !live.is_empty() {
                encoding.encode(&columns, &mut self.scratch)?;
                for (j, &i) in live.iter().enumerate() {
                    self.keys[i] = self.scratch.row(j).into();
                }
            }
        }
        self.hashes = self
            .keys
            .iter()
            .map(|k| self.hasher.hash_one(&**k))
            .collect();
        self.tables = HashMap::new();
        let damaged = |what: &str| {
            crate::error::EngineError::Storage(format!("checkpoint state is damaged: {what}"))
        };
        let mut placed = vec![false; n];
        for (part, ids) in partitions {
            let table = self.tables.entry(*part).or_default();
            for &id in ids {
                let i = id as usize;
                if i >= n || free[i] || placed[i] {
                    return Err(damaged("a group in no key, a free key or two windows"));
                }
                placed[i] = true;
                table.insert_unique(self.hashes[i], id, |&id| self.hashes[id as usize]);
            }
        }
        if (0..n).any(|i| !free[i] && !placed[i]) {
            return Err(damaged("a group key in no window"));
        }
        Ok(())
    }

    /// The key columns of `groups`, in that order.
    pub fn columns(&self, groups: &[u32]) -> Result<Vec<ArrayRef>> {
        let key = |g: &u32| self.keys[*g as usize].as_ref();
        if let Some(encoding) = &self.compact {
            return encoding.decode(groups.iter().map(key));
        }
        let parser = self.converter.parser();
        Ok(self
            .converter
            .convert_rows(groups.iter().map(|g| parser.parse(key(g))))?)
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
        k.intern(&cols, |_| 0, &mut ids, |id, row| new.push((id, row)))
            .unwrap();
        assert_eq!(ids, vec![0, 1, 0, 2]);
        assert_eq!(new, vec![(0, 0), (1, 1), (2, 3)]);
        let back = k.columns(&[2, 0]).unwrap();
        let s = back[0].as_any().downcast_ref::<StringArray>().unwrap();
        assert!(s.is_null(0));
        assert_eq!(s.value(1), "a");
    }

    #[test]
    fn released_ids_are_reused_and_survive_a_checkpoint() {
        let mut k = GroupKeys::new(&[DataType::Int32]).unwrap();
        let mut ids = vec![];
        let col = |v: Vec<i32>| -> Vec<ArrayRef> { vec![Arc::new(Int32Array::from(v))] };
        // Partition = value / 100: 10 and 30 in partition 0, 120 in partition 1.
        let part = |values: &[i32]| {
            let values = values.to_vec();
            move |row: usize| i64::from(values[row] / 100)
        };
        k.intern(
            &col(vec![10, 120, 30]),
            part(&[10, 120, 30]),
            &mut ids,
            |_, _| {},
        )
        .unwrap();
        assert_eq!(ids, vec![0, 1, 2]);
        k.release(1);
        k.release(7); // no such partition: nothing happens
        let mut out = StateWriter::default();
        k.save(&mut out).unwrap();
        let bytes = out.into_bytes();
        let mut restored = GroupKeys::new(&[DataType::Int32]).unwrap();
        restored
            .load(
                &mut StateReader::new(&bytes),
                &BTreeMap::from([(0, vec![0, 2])]),
            )
            .unwrap();
        for keys in [&mut k, &mut restored] {
            let values = [140, 10, 120, 30];
            keys.intern(&col(values.to_vec()), part(&values), &mut ids, |_, _| {})
                .unwrap();
            // 140 takes the released id 1; 120 was forgotten with its partition, so it is
            // new too; partition 0's keys keep their ids.
            assert_eq!(ids, vec![1, 0, 3, 2]);
            assert_eq!(keys.len(), 4);
        }
        // A checkpoint whose windows name a free id is damaged.
        let mut other = GroupKeys::new(&[DataType::Int32]).unwrap();
        let wrong = BTreeMap::from([(0, vec![0, 1, 2])]);
        assert!(other.load(&mut StateReader::new(&bytes), &wrong).is_err());
    }
}
