//! The Kafka source: RisingWave's `connector = 'kafka'` options. The consumer that reads
//! partitions into Arrow batches builds on these.

pub mod options;

pub use options::{KafkaOptions, StartFrom};
