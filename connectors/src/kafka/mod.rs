//! The Kafka source: RisingWave's `connector = 'kafka'` options (`options.rs`) and the
//! consumer that reads every partition from Palisade's own positions (`reader.rs`). Not yet
//! registered as a connector: the engine's source runner drives position-addressed
//! readers only, and the Kafka runner, decoding and dead-lettering come next.

pub mod options;
pub mod reader;

pub use options::{KafkaOptions, StartFrom};
pub use reader::{KafkaReader, RawBatch};
