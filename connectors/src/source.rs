//! The contracts between the engine and source connectors: [`SourceReader`] for sources that
//! are a pure function of row position (datagen), [`StreamReader`] for logs that deliver
//! records as they arrive and track their own offsets (Kafka).

use std::collections::BTreeMap;
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use crate::error::Result;

/// A source's events as a pure function of position: the engine asks for rows [start, end).
pub trait SourceReader: Send {
    /// Arrow schema of the batches this reader yields (exactly the declared columns, in order).
    fn schema(&self) -> SchemaRef;
    /// Rows [start, start+len) of the stream, as one RecordBatch of `schema()`. Returns fewer rows
    /// (possibly 0) only at the end of a bounded stream.
    fn read_range(&mut self, start: u64, len: usize) -> Result<RecordBatch>;
    /// Total rows if the stream is bounded (`datagen.rows.total`), else None.
    fn total_rows(&self) -> Option<u64>;
    /// Rows per wall-clock second the engine should pace delivery at; None = as fast as it can.
    fn rows_per_second(&self) -> Option<f64>;
}

/// The next offset to read, per partition: a log source's position. Offsets are not
/// contiguous in general, so "caught up" means "at or past", never "equal to last + 1".
pub type Offsets = BTreeMap<i32, i64>;

/// A log of records that arrive over time (a Kafka topic). The engine polls it from one
/// thread; the reader keeps its own offsets, which are the source's position.
pub trait StreamReader: Send {
    /// Arrow schema of the batches this reader yields (exactly the declared columns, in order).
    fn schema(&self) -> SchemaRef;
    /// Waits at most `wait` for a first record, then takes what has already arrived, up to
    /// `max` records. Never fails: a fault (broker gone) is reported in [`Polled::fault`]
    /// and the next poll tries again.
    fn poll(&mut self, max: usize, wait: Duration) -> Polled;
    /// The next offset to deliver per partition, counting every record returned so far.
    fn offsets(&self) -> &Offsets;
    /// The partitions' high watermarks as last reported by the client (no round trip; empty
    /// until the first report).
    fn high_watermarks(&self) -> Offsets;
    /// Every partition's end, asked of the broker now: what a FLUSH waits to have read.
    fn end_offsets(&mut self, timeout: Duration) -> Result<Offsets>;
}

/// What one [`StreamReader::poll`] returned.
#[derive(Debug)]
pub struct Polled {
    /// The records that decoded, in arrival order.
    pub batch: RecordBatch,
    /// The partition each row of `batch` came from (event time is tracked per partition).
    pub partitions: Vec<i32>,
    /// Records that could not be decoded. Their offsets are consumed all the same.
    pub dead_letters: Vec<DeadLetter>,
    /// Values taken from a JSON string into a numeric column in `batch`.
    pub coerced: u64,
    /// Why the poll could not reach the outside system, if it could not.
    pub fault: Option<String>,
}

/// A record the source could not decode, kept so it is never lost silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub partition: i32,
    pub offset: i64,
    pub error: String,
    /// The payload as text (invalid UTF-8 replaced), cut to [`DEAD_LETTER_PAYLOAD_BYTES`].
    pub payload: String,
    /// The payload's full length in bytes.
    pub payload_bytes: usize,
}

/// How much of a bad record's payload is kept: enough to see what went wrong, bounded so
/// a flood of huge bad records cannot exhaust memory.
pub const DEAD_LETTER_PAYLOAD_BYTES: usize = 1024;

impl DeadLetter {
    pub fn new(partition: i32, offset: i64, error: String, payload: &[u8]) -> Self {
        let mut end = payload.len().min(DEAD_LETTER_PAYLOAD_BYTES);
        // Never split a UTF-8 character: back off over continuation bytes (at most 3).
        let floor = end.saturating_sub(3);
        while end > floor && end < payload.len() && payload[end] & 0xC0 == 0x80 {
            end -= 1;
        }
        DeadLetter {
            partition,
            offset,
            error,
            payload: String::from_utf8_lossy(&payload[..end]).into_owned(),
            payload_bytes: payload.len(),
        }
    }
}

/// What a `CREATE SOURCE` statement asks for, after the engine has parsed it.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// The `connector = '...'` value.
    pub connector: String,
    /// The remaining `WITH (...)` options: keys lower-cased, values unquoted. The engine strips
    /// `connector` itself, but a leftover one is tolerated.
    pub options: BTreeMap<String, String>,
    /// The declared columns, in declaration order.
    pub schema: SchemaRef,
}

impl SourceSpec {
    /// Option keys that no connector understands, i.e. everything but `known` and `connector`.
    /// Sorted, so the error always names the same key first.
    pub fn unknown_options<'a>(&'a self, known: &[&str]) -> impl Iterator<Item = &'a str> + 'a {
        let known: Vec<String> = known.iter().map(|k| k.to_string()).collect();
        self.options
            .keys()
            .map(String::as_str)
            .filter(move |k| *k != "connector" && !known.iter().any(|kn| kn == k))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::Schema;

    use super::*;

    #[test]
    fn unknown_options_skips_connector_and_known_keys() {
        let spec = SourceSpec {
            connector: "datagen".into(),
            options: [
                ("connector", "datagen"),
                ("a", "1"),
                ("b", "2"),
                ("zz", "3"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            schema: Arc::new(Schema::empty()),
        };
        let unknown: Vec<&str> = spec.unknown_options(&["b"]).collect();
        assert_eq!(unknown, vec!["a", "zz"]);
    }
}
