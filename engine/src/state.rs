//! View state as bytes, for checkpoints: [`StateWriter`] and [`StateReader`], and
//! [`Stateful`], what every piece of state implements.
//!
//! Why not Arrow IPC for everything: most state is maps of row-encoded keys to counts and
//! vectors of counters, not columns; a flat little-endian encoding writes them as they are.
//! Record batches (a view's rows) go in as Arrow IPC streams. Every section starts with a
//! tag that the reader checks, so a checkpoint read by a pipeline of another shape fails
//! loudly instead of loading nonsense.

use std::io::Cursor;

use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::{EngineError, Result};

/// Something whose state a checkpoint keeps.
pub trait Stateful {
    fn save(&self, out: &mut StateWriter) -> Result<()>;
    /// Replaces this value's state with what `save` wrote.
    fn load(&mut self, input: &mut StateReader) -> Result<()>;
}

#[derive(Debug, Default)]
pub struct StateWriter {
    buf: Vec<u8>,
}

impl StateWriter {
    /// Goes on writing after `bytes`.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        StateWriter { buf: bytes }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Marks the start of a section; [`StateReader::tag`] expects the same text.
    pub fn tag(&mut self, name: &str) {
        self.bytes(name.as_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    pub fn len(&mut self, n: usize) {
        self.u64(n as u64);
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.buf.extend_from_slice(b);
    }

    pub fn i64s(&mut self, v: &[i64]) {
        self.len(v.len());
        for x in v {
            self.i64(*x);
        }
    }

    pub fn u32s(&mut self, v: &[u32]) {
        self.len(v.len());
        for x in v {
            self.buf.extend_from_slice(&x.to_le_bytes());
        }
    }

    /// Record batches of one schema (at least one batch, or none at all).
    pub fn batches(&mut self, batches: &[RecordBatch]) -> Result<()> {
        let Some(first) = batches.first() else {
            self.bytes(&[]);
            return Ok(());
        };
        let mut ipc = Vec::new();
        {
            let mut writer = StreamWriter::try_new(&mut ipc, &first.schema())?;
            for b in batches {
                writer.write(b)?;
            }
            writer.finish()?;
        }
        self.bytes(&ipc);
        Ok(())
    }
}

pub struct StateReader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> StateReader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        StateReader { buf, at: 0 }
    }

    pub fn is_done(&self) -> bool {
        self.at == self.buf.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.buf.len())
            .ok_or_else(|| damaged(format!("{n} bytes wanted at byte {}", self.at)))?;
        let out = &self.buf[self.at..end];
        self.at = end;
        Ok(out)
    }

    pub fn tag(&mut self, name: &str) -> Result<()> {
        let found = self.bytes()?;
        if found != name.as_bytes() {
            return Err(damaged(format!(
                "expected section {name:?}, found {:?}",
                String::from_utf8_lossy(found)
            )));
        }
        Ok(())
    }

    pub fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(
            b.try_into().map_err(|_| damaged("u64"))?,
        ))
    }

    pub fn i64(&mut self) -> Result<i64> {
        let b = self.take(8)?;
        Ok(i64::from_le_bytes(
            b.try_into().map_err(|_| damaged("i64"))?,
        ))
    }

    pub fn bool(&mut self) -> Result<bool> {
        Ok(self.take(1)?[0] != 0)
    }

    /// A length, checked against what is left so a damaged one cannot ask for a huge
    /// allocation.
    pub fn len(&mut self) -> Result<usize> {
        let n = self.u64()?;
        let left = (self.buf.len() - self.at) as u64;
        if n > left.max(1) * 8 {
            return Err(damaged(format!("a length of {n} with {left} bytes left")));
        }
        Ok(n as usize)
    }

    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }

    pub fn i64s(&mut self) -> Result<Vec<i64>> {
        let n = self.len()?;
        (0..n).map(|_| self.i64()).collect()
    }

    pub fn u32s(&mut self) -> Result<Vec<u32>> {
        let n = self.len()?;
        (0..n)
            .map(|_| {
                let b = self.take(4)?;
                Ok(u32::from_le_bytes(
                    b.try_into().map_err(|_| damaged("u32"))?,
                ))
            })
            .collect()
    }

    pub fn batches(&mut self) -> Result<Vec<RecordBatch>> {
        let ipc = self.bytes()?;
        if ipc.is_empty() {
            return Ok(vec![]);
        }
        let reader = StreamReader::try_new(Cursor::new(ipc), None)?;
        reader
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| damaged(format!("record batches: {e}")))
    }
}

fn damaged(what: impl std::fmt::Display) -> EngineError {
    EngineError::Storage(format!("checkpoint state is damaged: {what}"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn values_read_back_in_order() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None])),
                Arc::new(StringArray::from(vec![Some("a"), Some("b")])),
            ],
        )
        .unwrap();
        let mut w = StateWriter::default();
        w.tag("t");
        w.u64(7);
        w.i64(-3);
        w.bool(true);
        w.bytes(b"key");
        w.i64s(&[1, -2]);
        w.u32s(&[4, 5]);
        w.batches(std::slice::from_ref(&batch)).unwrap();
        w.batches(&[]).unwrap();
        let bytes = w.into_bytes();
        let mut r = StateReader::new(&bytes);
        r.tag("t").unwrap();
        assert_eq!(r.u64().unwrap(), 7);
        assert_eq!(r.i64().unwrap(), -3);
        assert!(r.bool().unwrap());
        assert_eq!(r.bytes().unwrap(), b"key");
        assert_eq!(r.i64s().unwrap(), vec![1, -2]);
        assert_eq!(r.u32s().unwrap(), vec![4, 5]);
        assert_eq!(r.batches().unwrap(), vec![batch]);
        assert!(r.batches().unwrap().is_empty());
        assert!(r.is_done());
    }

    #[test]
    fn a_wrong_section_or_a_short_buffer_is_an_error() {
        let mut w = StateWriter::default();
        w.tag("count");
        w.i64s(&[1, 2, 3]);
        let bytes = w.into_bytes();
        assert!(StateReader::new(&bytes).tag("sum").is_err());
        let mut r = StateReader::new(&bytes[..bytes.len() - 4]);
        r.tag("count").unwrap();
        assert!(r.i64s().is_err());
    }
}
