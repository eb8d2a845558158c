//! The contract between the engine and every source connector.

use std::collections::BTreeMap;

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
