//! [`KafkaSource`]: a topic's messages as Arrow batches of the declared schema, with every
//! message that does not decode kept as a dead letter.

use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::options::KafkaOptions;
use super::reader::{KafkaReader, RawBatch};
use crate::error::Result;
use crate::json_decode::{Decoded, JsonDecoder, Rejected};
use crate::source::{DeadLetter, Offsets, Polled, SourceSpec, StreamReader};

/// One Kafka source: [`KafkaReader`] for the messages, [`JsonDecoder`] for their payloads.
/// Decoding happens on the polling thread, one poll's messages at a time, so the raw
/// buffer is reused and nothing waits in an unbounded queue: while the engine applies a
/// batch, the only messages held are librdkafka's prefetch, which it bounds itself
/// (`queued.max.messages.kbytes`).
pub struct KafkaSource {
    reader: KafkaReader,
    decoder: JsonDecoder,
    raw: RawBatch,
}

impl KafkaSource {
    /// Checks the options and the declared columns, connects, and assigns every partition
    /// from `resume` (or `scan.startup.*` for partitions not in it).
    pub fn open(name: &str, spec: &SourceSpec, resume: &Offsets) -> Result<Self> {
        let options = KafkaOptions::parse(&spec.options)?;
        let decoder = JsonDecoder::new(spec.schema.clone())?;
        let reader = KafkaReader::open(name, &options, resume)?;
        Ok(KafkaSource {
            reader,
            decoder,
            raw: RawBatch::default(),
        })
    }

    /// A reader of the records between `from` and `until` (exclusive), for a view created
    /// after the source started: it sees what the other views saw.
    pub fn replay(name: &str, spec: &SourceSpec, from: &Offsets, until: Offsets) -> Result<Self> {
        let mut source = Self::open(name, spec, from)?;
        source.reader.stop_at(until);
        Ok(source)
    }

    /// Whether a replay has read everything up to its end.
    pub fn replayed(&self) -> bool {
        self.reader.replayed()
    }
}

impl StreamReader for KafkaSource {
    fn schema(&self) -> SchemaRef {
        self.decoder.schema().clone()
    }

    fn poll(&mut self, max: usize, wait: Duration) -> Polled {
        self.raw.clear();
        let fault = self
            .reader
            .poll_into(&mut self.raw, max, wait)
            .err()
            .map(|e| e.to_string());
        let payloads: Vec<&[u8]> = (0..self.raw.len()).map(|i| self.raw.payload(i)).collect();
        let raw = &self.raw;
        let letter = |index: usize, reason: String| {
            DeadLetter::new(
                raw.partitions[index],
                raw.offsets[index],
                reason,
                raw.payload(index),
            )
        };
        let decoded = match self.decoder.decode(&payloads) {
            Ok(d) => d,
            // Only a bug gets here; the records' offsets are consumed, so they are kept
            // as dead letters rather than lost.
            Err(e) => Decoded {
                batch: RecordBatch::new_empty(self.decoder.schema().clone()),
                rejected: (0..raw.len())
                    .map(|index| Rejected {
                        index,
                        reason: format!("internal decoding error: {e}"),
                    })
                    .collect(),
                coerced: 0,
            },
        };
        // Rejected records are listed in input order, so the good rows' partitions are
        // the raw partitions with those indexes skipped.
        let mut partitions = Vec::with_capacity(decoded.batch.num_rows());
        let mut rejected = decoded.rejected.iter().map(|r| r.index).peekable();
        for (index, &partition) in raw.partitions.iter().enumerate() {
            if rejected.next_if_eq(&index).is_none() {
                partitions.push(partition);
            }
        }
        let dead_letters = decoded
            .rejected
            .into_iter()
            .map(|r| letter(r.index, r.reason))
            .collect();
        Polled {
            batch: decoded.batch,
            partitions,
            dead_letters,
            coerced: decoded.coerced,
            fault,
        }
    }

    fn offsets(&self) -> &Offsets {
        self.reader.positions()
    }

    fn high_watermarks(&self) -> Offsets {
        self.reader.reported_high_watermarks()
    }

    fn end_offsets(&mut self, timeout: Duration) -> Result<Offsets> {
        self.reader.end_offsets(timeout)
    }
}
