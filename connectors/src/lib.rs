//! Palisade's connectors: where a `CREATE SOURCE` gets its rows from.
//!
//! The engine parses `CREATE SOURCE ... WITH (connector = '...', ...)` into a
//! [`SourceSpec`] and calls [`open_source`]. Datagen returns a [`SourceReader`], a pure
//! function of row position, so the engine can re-read any range (e.g. to backfill a newly
//! created view) and get identical rows. Kafka returns a [`StreamReader`], polled as records
//! arrive; it keeps offsets per partition, and [`Replay`] reads a range of them again.
//!
//! # Layout
//!
//! - [`error`]: the crate's single error enum, [`ConnectorError`], and [`Result`].
//! - [`source`]: the connector-facing contracts: [`SourceReader`] (rows by position),
//!   [`StreamReader`] (a log polled as it grows, with [`DeadLetter`]s), [`SourceSpec`].
//! - [`registry`]: the list of known connectors, [`open_source`], which dispatches on name,
//!   and [`Replay`], a log source read again between two offsets.
//! - [`datagen`]: the synthetic website access-log source, [`DatagenReader`]:
//!   - `datagen/options.rs`: parsing and validating the `datagen.*` options;
//!   - `datagen/rng.rs`: the counter-based random numbers (row i depends only on seed and i);
//!   - `datagen/tables.rs`: weighted value tables (actions, user agents, referrers, ...);
//!   - `datagen/event.rs`: the event model, one row's values and their correlations;
//!   - `datagen/columns.rs`: mapping declared columns to datagen fields and Arrow arrays.
//! - [`json_decode`]: [`JsonDecoder`], JSON object payloads (one per Kafka message) to one
//!   Arrow batch, rejecting bad records with a reason; `json_decode/parse.rs` is its tokenizer
//!   and value conversion, `json_decode/tests.rs` its tests.
//! - [`kafka`]: the Kafka source, [`KafkaSource`]: `kafka/options.rs` validates RisingWave's
//!   kafka options, `kafka/reader.rs` consumes every partition from Palisade's own offsets,
//!   `kafka/client_context.rs` takes librdkafka's statistics and logs, `kafka/source.rs`
//!   decodes messages into batches and dead letters.

pub mod datagen;
pub mod error;
pub mod json_decode;
pub mod kafka;
pub mod registry;
pub mod source;

pub use datagen::DatagenReader;
pub use error::{ConnectorError, Result};
pub use json_decode::{Decoded, JsonDecoder, Rejected};
pub use kafka::KafkaSource;
pub use registry::{ConnectorInfo, Opened, Replay, connectors, open_source};
pub use source::{
    DEAD_LETTER_PAYLOAD_BYTES, DeadLetter, Offsets, Polled, SourceReader, SourceSpec, StreamReader,
};
