//! Palisade's connectors: where a `CREATE SOURCE` gets its rows from.
//!
//! The engine parses `CREATE SOURCE ... WITH (connector = '...', ...)` into a
//! [`SourceSpec`], calls [`open_source`], and then pulls row ranges from the returned
//! [`SourceReader`]. Sources are pure functions of row position, so the engine can re-read any
//! range (e.g. to backfill a newly created view) and get identical rows.
//!
//! # Layout
//!
//! - [`error`]: the crate's single error enum, [`ConnectorError`], and [`Result`].
//! - [`source`]: the connector-facing contract, [`SourceReader`] and [`SourceSpec`].
//! - [`registry`]: the list of known connectors and [`open_source`], which dispatches on name.
//! - [`datagen`]: the synthetic website access-log source, [`DatagenReader`]:
//!   - `datagen/options.rs`: parsing and validating the `datagen.*` options;
//!   - `datagen/rng.rs`: the counter-based random numbers (row i depends only on seed and i);
//!   - `datagen/tables.rs`: weighted value tables (actions, user agents, referrers, ...);
//!   - `datagen/event.rs`: the event model, one row's values and their correlations;
//!   - `datagen/columns.rs`: mapping declared columns to datagen fields and Arrow arrays.
//! - [`json_decode`]: [`JsonDecoder`], JSON object payloads (one per Kafka message) to one
//!   Arrow batch, rejecting bad records with a reason; `json_decode/parse.rs` is its tokenizer
//!   and value conversion, `json_decode/tests.rs` its tests.
//! - [`kafka`]: the Kafka source; `kafka/options.rs` validates RisingWave's kafka options.

pub mod datagen;
pub mod error;
pub mod json_decode;
pub mod kafka;
pub mod registry;
pub mod source;

pub use datagen::DatagenReader;
pub use error::{ConnectorError, Result};
pub use json_decode::{Decoded, JsonDecoder, Rejected};
pub use registry::{ConnectorInfo, connectors, open_source};
pub use source::{SourceReader, SourceSpec};
