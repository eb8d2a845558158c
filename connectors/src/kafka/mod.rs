//! The Kafka source: RisingWave's `connector = 'kafka'` options (`options.rs`), the consumer
//! that reads every partition from Palisade's own positions (`reader.rs`), what librdkafka
//! reports besides messages (`client_context.rs`), and the [`StreamReader`] that turns
//! messages into Arrow batches and dead letters (`source.rs`).
//!
//! [`StreamReader`]: crate::source::StreamReader

pub mod client_context;
pub mod options;
pub mod reader;
pub mod source;

pub use options::{KafkaOptions, StartFrom};
pub use reader::{KafkaReader, RawBatch};
pub use source::KafkaSource;
