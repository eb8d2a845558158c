//! What librdkafka tells a Kafka source outside of messages: client statistics (the
//! partitions' high watermarks, for lag) and its own log lines.

use std::sync::{Arc, Mutex};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;

use crate::source::Offsets;

/// The consumer's context. librdkafka calls it from `poll` (statistics, errors) and from
/// its own threads (logs), hence the shared, locked map.
pub struct SourceContext {
    topic: String,
    high_watermarks: Arc<Mutex<Offsets>>,
}

impl SourceContext {
    pub fn new(topic: &str) -> Self {
        SourceContext {
            topic: topic.to_string(),
            high_watermarks: Arc::default(),
        }
    }

    /// The high watermarks of the last statistics report (every partition the broker has
    /// told about; none before the first report).
    pub fn high_watermarks(&self) -> Offsets {
        self.high_watermarks
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }
}

impl ClientContext for SourceContext {
    // librdkafka logs every failed reconnect; the source runner reports an outage once
    // itself, so librdkafka's own lines are kept for RUST_LOG=debug.
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        tracing::debug!(target: "librdkafka", ?level, facility, "{message}");
    }

    // Errors also come back from `poll`, where the reader handles them.
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(target: "librdkafka", %error, reason, "client error");
    }

    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else {
            return;
        };
        let Ok(mut marks) = self.high_watermarks.lock() else {
            return;
        };
        for (&partition, p) in &topic.partitions {
            // Partition -1 is librdkafka's internal one; negative offsets mean "unknown yet".
            if partition >= 0 && p.hi_offset >= 0 {
                marks.insert(partition, p.hi_offset);
            }
        }
    }
}

impl ConsumerContext for SourceContext {}
