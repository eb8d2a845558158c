//! Reading a topic's partitions into raw message batches, from positions Palisade keeps
//! itself: the broker's consumer-group offsets are never the source of truth.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::client_context::SourceContext;
use super::options::{KafkaOptions, StartFrom};
use crate::error::{ConnectorError, Result};
use crate::source::Offsets;

/// How long metadata and offset lookups may take before the source reports the broker
/// unreachable.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Messages of one or more polls, payloads back to back in one buffer so a batch costs a
/// few allocations, not one per message.
#[derive(Debug, Default)]
pub struct RawBatch {
    data: Vec<u8>,
    ends: Vec<usize>,
    pub partitions: Vec<i32>,
    pub offsets: Vec<i64>,
}

impl RawBatch {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Message `i`'s value; a message without one (a tombstone) is empty.
    pub fn payload(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.data[start..self.ends[i]]
    }

    pub fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
        self.partitions.clear();
        self.offsets.clear();
    }

    fn push(&mut self, partition: i32, offset: i64, payload: &[u8]) {
        self.data.extend_from_slice(payload);
        self.ends.push(self.data.len());
        self.partitions.push(partition);
        self.offsets.push(offset);
    }
}

/// One Kafka source's consumer. Every partition of the topic is assigned explicitly (no
/// group rebalancing), starting from the positions the source resumes from or, for
/// partitions without one, from `scan.startup.*`.
pub struct KafkaReader {
    consumer: BaseConsumer<SourceContext>,
    topic: String,
    /// The next offset to deliver per partition: the last delivered offset + 1. Offsets are
    /// not contiguous in general (compaction, transaction markers), so nothing here
    /// assumes they are.
    positions: Offsets,
    /// Where a replay stops: records at or past these offsets are passed over.
    until: Option<Offsets>,
}

impl KafkaReader {
    /// Connects as consumer group `<group.id.prefix>-<source>` and assigns every partition.
    pub fn open(source: &str, options: &KafkaOptions, resume: &Offsets) -> Result<Self> {
        let consumer: BaseConsumer<SourceContext> = client_config(source, options)
            .create_with_context(SourceContext::new(&options.topic))
            .map_err(|e| unavailable(&options.topic, e))?;
        let metadata = consumer
            .fetch_metadata(Some(&options.topic), METADATA_TIMEOUT)
            .map_err(|e| unavailable(&options.topic, e))?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == options.topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if partitions.is_empty() {
            return Err(ConnectorError::Unavailable {
                system: format!("kafka topic '{}'", options.topic),
                message: "the topic does not exist or has no partitions".into(),
            });
        }
        // Every partition starts at a concrete offset, recorded as its position at once, so
        // a restart resumes each partition where this run began even if it delivered
        // nothing yet (with 'latest', a partition left to start "at the end" again would
        // skip what arrived in between).
        let mut positions = resume.clone();
        let mut by_time = TopicPartitionList::new();
        for &p in &partitions {
            if positions.contains_key(&p) {
                continue;
            }
            let (low, high) = consumer
                .fetch_watermarks(&options.topic, p, METADATA_TIMEOUT)
                .map_err(|e| unavailable(&options.topic, e))?;
            match options.start {
                StartFrom::Earliest => {
                    positions.insert(p, low);
                }
                StartFrom::Latest => {
                    positions.insert(p, high);
                }
                StartFrom::Timestamp(millis) => {
                    // Until the lookup answers: the end (no message at or after `millis`).
                    positions.insert(p, high);
                    by_time
                        .add_partition_offset(&options.topic, p, Offset::Offset(millis))
                        .map_err(|e| unavailable(&options.topic, e))?;
                }
            }
        }
        if by_time.count() > 0 {
            let found = consumer
                .offsets_for_times(by_time, METADATA_TIMEOUT)
                .map_err(|e| unavailable(&options.topic, e))?;
            for e in found.elements() {
                if let Offset::Offset(offset) = e.offset() {
                    positions.insert(e.partition(), offset);
                }
            }
        }
        let mut assignment = TopicPartitionList::new();
        for (&p, &next) in &positions {
            assignment
                .add_partition_offset(&options.topic, p, Offset::Offset(next))
                .map_err(|e| unavailable(&options.topic, e))?;
        }
        consumer
            .assign(&assignment)
            .map_err(|e| unavailable(&options.topic, e))?;
        Ok(KafkaReader {
            consumer,
            topic: options.topic.clone(),
            positions,
            until: None,
        })
    }

    /// Makes this reader a replay of [its start, `until`): records at or past a partition's
    /// `until` offset are passed over, and [`Self::replayed`] says when every partition
    /// got there.
    pub fn stop_at(&mut self, until: Offsets) {
        self.until = Some(until);
    }

    /// Whether a replay reached its `until` offsets in every partition.
    pub fn replayed(&self) -> bool {
        self.until.as_ref().is_some_and(|until| {
            until
                .iter()
                .all(|(p, end)| self.positions.get(p).is_some_and(|at| at >= end))
        })
    }

    /// Appends up to `max` messages to `batch`, waiting at most `wait` for the first and
    /// not at all for the rest. Returns how many were appended. On an error (the broker out
    /// of reach), what was appended before it stays in `batch`, counted in the positions.
    pub fn poll_into(&mut self, batch: &mut RawBatch, max: usize, wait: Duration) -> Result<usize> {
        let mut added = 0;
        while added < max {
            let timeout = if added == 0 { wait } else { Duration::ZERO };
            let Some(polled) = self.consumer.poll(timeout) else {
                break;
            };
            let message = polled.map_err(|e| unavailable(&self.topic, e))?;
            let (partition, offset) = (message.partition(), message.offset());
            let next = self.positions.entry(partition).or_insert(0);
            // A fetch restarted below our position (librdkafka resetting an out-of-range
            // offset to the earliest one, say) must not deliver a record twice.
            if offset < *next {
                continue;
            }
            *next = offset + 1;
            if self
                .until
                .as_ref()
                .and_then(|u| u.get(&partition))
                .is_some_and(|end| offset >= *end)
            {
                continue;
            }
            batch.push(partition, offset, message.payload().unwrap_or_default());
            added += 1;
        }
        Ok(added)
    }

    /// The next offset to deliver, for every partition.
    pub fn positions(&self) -> &Offsets {
        &self.positions
    }

    /// The high watermarks of librdkafka's last statistics report (refreshed every second
    /// by default; empty before the first).
    pub fn reported_high_watermarks(&self) -> Offsets {
        self.consumer.context().high_watermarks()
    }

    /// Each partition's high watermark (the offset the next produced message gets), asked of
    /// the broker now.
    pub fn end_offsets(&self, timeout: Duration) -> Result<Offsets> {
        let assignment = self
            .consumer
            .assignment()
            .map_err(|e| unavailable(&self.topic, e))?;
        let mut out = BTreeMap::new();
        for e in assignment.elements() {
            let (_, high) = self
                .consumer
                .fetch_watermarks(&self.topic, e.partition(), timeout)
                .map_err(|e| unavailable(&self.topic, e))?;
            out.insert(e.partition(), high);
        }
        Ok(out)
    }
}

/// The consumer's librdkafka configuration: Palisade's defaults, then the user's
/// `properties.*`, then what the source cannot do without.
fn client_config(source: &str, options: &KafkaOptions) -> ClientConfig {
    let mut config = ClientConfig::new();
    // Statistics carry the high watermarks SHOW SOURCES reports lag from, without a
    // round trip per question; a user's own interval wins.
    config.set("statistics.interval.ms", "1000");
    // librdkafka waits up to 10 s between reconnects by default; a source that has
    // lost its broker should notice its return sooner.
    config.set("reconnect.backoff.max.ms", "2000");
    // How long the broker may hold a fetch (librdkafka's default is 500 ms). Apache
    // Kafka answers as soon as a record is there, so against it this only paces the
    // empty fetches of a quiet topic (10 a second instead of 2). Some Kafka-compatible
    // brokers hold every fetch for the wait even when records are there: Tansu 0.6
    // answers after the whole wait, or half of it from 250 ms up (tansu-storage's
    // service/fetch.rs), and librdkafka's mock broker waits it out when a fetch finds
    // nothing. There a source sees records at most once per wait, so the wait is its
    // freshness: on Tansu at 2k events/s, p50 490 ms at 500 and 160 ms at 100. Lower
    // costs such a broker a fetch per wait (Tansu's debug build spends ~8 ms of CPU on
    // a fetch of 4 partitions); a user's own value wins.
    config.set("fetch.wait.max.ms", "100");
    for (key, value) in &options.client_config {
        config.set(key, value);
    }
    // Set after the user's properties: positions are ours, so the group never commits,
    // and a position past the retained log restarts at the oldest message rather than
    // skipping ahead.
    config
        .set("group.id", format!("{}-{source}", options.group_id_prefix))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "earliest");
    config
}

fn unavailable(topic: &str, e: KafkaError) -> ConnectorError {
    ConnectorError::Unavailable {
        system: format!("kafka topic '{topic}'"),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};

    use super::*;

    const TOPIC: &str = "web_logs";

    fn options(bootstrap: &str, start: StartFrom) -> KafkaOptions {
        KafkaOptions {
            topic: TOPIC.into(),
            start,
            group_id_prefix: "test".into(),
            client_config: BTreeMap::from([("bootstrap.servers".into(), bootstrap.into())]),
        }
    }

    /// Produces `count` messages `{"n": i}` round-robin over the partitions.
    fn produce(bootstrap: &str, count: usize, partitions: i32) {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .create()
            .expect("producer");
        for i in 0..count {
            let payload = format!("{{\"n\": {i}}}");
            let key = i.to_string();
            producer
                .send(
                    BaseRecord::to(TOPIC)
                        .payload(&payload)
                        .key(&key)
                        .partition(i as i32 % partitions),
                )
                .expect("queued");
        }
        producer.flush(Duration::from_secs(10)).expect("flushed");
    }

    /// A mock cluster holding [`TOPIC`] with `partitions` partitions and `messages`
    /// messages; the cluster lives as long as the returned handle.
    fn topic_with(
        partitions: i32,
        messages: usize,
    ) -> (MockCluster<'static, DefaultProducerContext>, String) {
        let cluster = MockCluster::new(1).expect("mock cluster");
        cluster.create_topic(TOPIC, partitions, 1).expect("topic");
        let bootstrap = cluster.bootstrap_servers();
        produce(&bootstrap, messages, partitions);
        (cluster, bootstrap)
    }

    fn read_all(reader: &mut KafkaReader, want: usize) -> RawBatch {
        let mut batch = RawBatch::default();
        for _ in 0..200 {
            if batch.len() >= want {
                break;
            }
            let missing = want - batch.len();
            reader
                .poll_into(&mut batch, missing, Duration::from_millis(100))
                .expect("polls");
        }
        batch
    }

    #[test]
    fn reads_every_partition_once_and_resumes_from_its_own_positions() {
        let (_cluster, bootstrap) = topic_with(4, 100);

        let mut reader = KafkaReader::open(
            "s",
            &options(&bootstrap, StartFrom::Earliest),
            &BTreeMap::new(),
        )
        .expect("opens");
        assert_eq!(
            reader.positions(),
            &BTreeMap::from([(0, 0), (1, 0), (2, 0), (3, 0)]),
            "every partition has a position before it delivers"
        );
        let first = read_all(&mut reader, 60);
        assert_eq!(first.len(), 60);
        let positions = reader.positions().clone();
        drop(reader);

        // A new reader from the first one's positions delivers exactly the other 40.
        let mut resumed =
            KafkaReader::open("s", &options(&bootstrap, StartFrom::Latest), &positions)
                .expect("reopens");
        let rest = read_all(&mut resumed, 40);
        assert_eq!(rest.len(), 40);
        let mut extra = RawBatch::default();
        resumed
            .poll_into(&mut extra, 10, Duration::from_millis(300))
            .expect("polls");
        assert_eq!(extra.len(), 0, "nothing is delivered twice");

        let mut seen = BTreeSet::new();
        for batch in [&first, &rest] {
            for i in 0..batch.len() {
                let text = std::str::from_utf8(batch.payload(i)).expect("utf8");
                assert!(seen.insert(text.to_string()), "{text} delivered twice");
            }
        }
        let expected: BTreeSet<String> = (0..100).map(|i| format!("{{\"n\": {i}}}")).collect();
        assert_eq!(seen, expected);
        assert_eq!(
            resumed.positions(),
            &BTreeMap::from([(0, 25), (1, 25), (2, 25), (3, 25)])
        );
        assert_eq!(
            resumed.end_offsets(METADATA_TIMEOUT).expect("watermarks"),
            BTreeMap::from([(0, 25), (1, 25), (2, 25), (3, 25)])
        );
        // Statistics come every second, served by poll.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while resumed.reported_high_watermarks().len() < 4 && std::time::Instant::now() < deadline {
            resumed
                .poll_into(&mut extra, 10, Duration::from_millis(100))
                .expect("polls");
        }
        assert_eq!(
            resumed.reported_high_watermarks(),
            BTreeMap::from([(0, 25), (1, 25), (2, 25), (3, 25)])
        );
    }

    #[test]
    fn fetch_wait_defaults_to_100_ms_and_the_user_decides() {
        let o = options("b:9092", StartFrom::Earliest);
        assert_eq!(client_config("s", &o).get("fetch.wait.max.ms"), Some("100"));
        let mut own = o.clone();
        own.client_config
            .insert("fetch.wait.max.ms".into(), "500".into());
        own.client_config
            .insert("enable.auto.commit".into(), "true".into());
        let config = client_config("s", &own);
        assert_eq!(config.get("fetch.wait.max.ms"), Some("500"));
        // What the source relies on is not the user's to change.
        assert_eq!(config.get("enable.auto.commit"), Some("false"));
        assert_eq!(config.get("group.id"), Some("test-s"));
    }

    #[test]
    fn latest_skips_what_was_produced_before() {
        let (_cluster, bootstrap) = topic_with(2, 10);
        let mut reader = KafkaReader::open(
            "s",
            &options(&bootstrap, StartFrom::Latest),
            &BTreeMap::new(),
        )
        .expect("opens");
        assert_eq!(reader.positions(), &BTreeMap::from([(0, 5), (1, 5)]));
        let mut batch = RawBatch::default();
        reader
            .poll_into(&mut batch, 10, Duration::from_millis(500))
            .expect("polls");
        assert_eq!(batch.len(), 0);
    }

    /// librdkafka refuses settings its build lacks (SSL without OpenSSL, say) when the
    /// client is created; a SASL_SSL cluster must get as far as trying to connect.
    #[test]
    fn sasl_ssl_settings_are_accepted() {
        let mut o = options("127.0.0.1:1", StartFrom::Earliest);
        for (k, v) in [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "palisade"),
            ("sasl.password", "secret"),
            ("socket.timeout.ms", "1000"),
        ] {
            o.client_config.insert(k.into(), v.into());
        }
        match KafkaReader::open("s", &o, &BTreeMap::new()) {
            Err(ConnectorError::Unavailable { message, .. }) => assert!(
                !message.contains("build") && !message.contains("onfiguration"),
                "{message}"
            ),
            Err(other) => panic!("expected unavailable, got {other}"),
            Ok(_) => panic!("no broker listens on port 1"),
        }
    }

    #[test]
    fn a_missing_topic_is_reported_by_name() {
        let cluster = MockCluster::new(1).expect("mock cluster");
        let mut o = options(&cluster.bootstrap_servers(), StartFrom::Earliest);
        o.topic = "nope".into();
        match KafkaReader::open("s", &o, &BTreeMap::new()) {
            Err(ConnectorError::Unavailable { system, .. }) => {
                assert_eq!(system, "kafka topic 'nope'")
            }
            Err(other) => panic!("expected unavailable, got {other}"),
            Ok(_) => panic!("expected an error"),
        }
    }
}
