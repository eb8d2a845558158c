//! The Kafka tests' workload: seed-shaped events from datagen as JSON messages, bad records
//! of every kind the source must dead-letter, and a producer that reports where each message
//! landed. Used against librdkafka's mock cluster (`tests/kafka_mock.rs`) and a real broker
//! (`tests/e2e_kafka.rs`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Int32Type, TimeUnit, TimestampMicrosecondType};
use palisade_connectors::{DatagenReader, SourceReader, SourceSpec};
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;

use crate::events::{SOURCE_DDL, schema};

/// The topic the end-to-end Kafka tests produce to.
pub const TOPIC: &str = "website_logs";
/// Its partitions.
pub const PARTITIONS: i32 = 4;

/// Every this many events, one numeric field is sent as a JSON string (`"200"`): still a
/// good event, counted in `coerced`.
const COERCE_EVERY: usize = 997;

/// What the test produces and what it expects of it.
pub struct Workload {
    /// The good events as datagen made them, in order: what the oracle is fed.
    pub batches: Vec<RecordBatch>,
    /// Every message in produce order, good and bad interleaved.
    pub messages: Vec<Outgoing>,
    /// Indexes into `messages` of the bad records.
    pub bad: Vec<usize>,
    /// Numeric values of good events sent as strings.
    pub coerced: u64,
}

/// `events` seed-shaped events from datagen (seed 3, 100 a simulated second from
/// 2024-01-25 00:00:00, so 100 000 events span about 17 one-minute windows), as JSON messages
/// spread round robin over `partitions`, keyed by user id, with `bad_records` bad ones spaced
/// evenly among them.
pub fn workload(events: usize, bad_records: usize, partitions: i32) -> Workload {
    let options: BTreeMap<String, String> = [
        ("datagen.seed", "3"),
        ("datagen.rows.total", &events.to_string()),
        ("datagen.event.time.start", "2024-01-25 00:00:00"),
        ("datagen.event.time.rate", "100"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let spec = SourceSpec {
        connector: "datagen".into(),
        options,
        schema: schema(),
    };
    let mut reader = DatagenReader::new(&spec, chrono::Utc::now()).expect("datagen options");
    let mut batches = Vec::new();
    let mut produced = 0;
    while produced < events {
        let batch = reader
            .read_range(produced as u64, 8192)
            .expect("datagen rows");
        assert!(batch.num_rows() > 0, "datagen ended after {produced} rows");
        produced += batch.num_rows();
        batches.push(batch);
    }

    let mut good = Vec::with_capacity(events);
    let mut coerced = 0;
    let mut index = 0;
    for batch in &batches {
        for row in 0..batch.num_rows() {
            let coerce = index % COERCE_EVERY == COERCE_EVERY - 1;
            let (payload, strings) = event_json(batch, row, index, coerce, None);
            coerced += strings;
            good.push((user_id(batch, row), payload));
            index += 1;
        }
    }

    // Bad record j goes after good event (j + 1) * events / (bad_records + 1), so each half
    // of the stream has half of them. Each is made from a different event's JSON.
    let mut messages = Vec::with_capacity(events + bad_records);
    let mut bad = Vec::with_capacity(bad_records);
    let mut next_bad = 0;
    for (i, (key, payload)) in good.into_iter().enumerate() {
        messages.push((key, payload));
        while next_bad < bad_records && i + 1 == (next_bad + 1) * events / (bad_records + 1) {
            let (batch, row) = (&batches[next_bad % batches.len()], next_bad * 37);
            let base = |field: Option<(&str, &str)>| event_json(batch, row, 0, false, field).0;
            bad.push(messages.len());
            messages.push((None, bad_payload(next_bad, &base)));
            next_bad += 1;
        }
    }
    assert_eq!(bad.len(), bad_records);
    let messages = messages
        .into_iter()
        .enumerate()
        .map(|(i, (key, payload))| Outgoing {
            partition: i as i32 % partitions,
            key,
            payload,
        })
        .collect();
    Workload {
        batches,
        messages,
        bad,
        coerced,
    }
}

/// What makes each bad record bad; record j is of kind `j % BAD_KINDS.len()`.
pub const BAD_KINDS: [&str; 10] = [
    "not JSON",
    "truncated JSON",
    "status_code \"abc\"",
    "response_time 1.5",
    "an array",
    "a string",
    "trailing data",
    "a number timestamp",
    "status_code out of INTEGER range",
    "an object for a TEXT column",
];

/// Bad record `j`, from `base` (a good event's JSON, with one field's JSON text replaced).
fn bad_payload(j: usize, base: &dyn Fn(Option<(&str, &str)>) -> String) -> String {
    match j % BAD_KINDS.len() {
        0 => format!("bad record {j}: not JSON at all"),
        1 => {
            let whole = base(None);
            let mut cut = whole.len() / 2;
            while !whole.is_char_boundary(cut) {
                cut -= 1;
            }
            whole[..cut].to_string()
        }
        2 => base(Some(("status_code", "\"abc\""))),
        3 => base(Some(("response_time", "1.5"))),
        4 => format!("[{}]", base(None)),
        5 => format!("\"bad record {j}\""),
        6 => format!("{} {{\"extra\":{j}}}", base(None)),
        7 => base(Some(("request_timestamp", "1706140800"))),
        8 => base(Some(("status_code", "99999999999"))),
        _ => base(Some(("user_agent", "{\"nested\":true}"))),
    }
}

fn user_id(batch: &RecordBatch, row: usize) -> Option<String> {
    let column = batch.column_by_name("user_id")?;
    (!column.is_null(row)).then(|| column.as_string::<i32>().value(row).to_string())
}

/// Row `row` of `batch` as one JSON object. Timestamps are RFC 3339 with `Z` and as many
/// fractional digits as they need (0, 3, 6); NULLs are `null` for even `index` and left out
/// for odd. With `coerce`, `status_code` (or else `response_time`) is written as a string;
/// the second value is how many values were. `replace` writes one field's value as the given
/// JSON text instead.
pub fn event_json(
    batch: &RecordBatch,
    row: usize,
    index: usize,
    coerce: bool,
    replace: Option<(&str, &str)>,
) -> (String, u64) {
    let mut out = String::with_capacity(512);
    let mut coerced = 0;
    out.push('{');
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let name = field.name().as_str();
        let value = match replace {
            Some((replaced, text)) if replaced == name => Some(text.to_string()),
            _ if column.is_null(row) => (index % 2 == 0).then(|| "null".to_string()),
            _ => Some(match column.data_type() {
                DataType::Timestamp(TimeUnit::Microsecond, None) => {
                    let micros = column.as_primitive::<TimestampMicrosecondType>().value(row);
                    let t = DateTime::from_timestamp_micros(micros).expect("a valid timestamp");
                    json_string(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
                }
                DataType::Int32 => {
                    let n = column.as_primitive::<Int32Type>().value(row).to_string();
                    if coerce && coerced == 0 && matches!(name, "status_code" | "response_time") {
                        coerced += 1;
                        json_string(&n)
                    } else {
                        n
                    }
                }
                DataType::Utf8 => json_string(column.as_string::<i32>().value(row)),
                other => panic!("column {name}: no JSON rendering for {other}"),
            }),
        };
        if let Some(value) = value {
            if out.len() > 1 {
                out.push(',');
            }
            let _ = write!(out, "{}:{value}", json_string(name));
        }
    }
    out.push('}');
    (out, coerced)
}

pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The Kafka source's DDL: the tests' embedded source with RisingWave's Kafka options.
pub fn kafka_ddl(topic: &str, bootstrap: &str) -> String {
    let embedded = "WITH (connector = 'embedded')";
    assert!(SOURCE_DDL.contains(embedded), "{SOURCE_DDL}");
    SOURCE_DDL.replace(
        embedded,
        &format!(
            "WITH (connector = 'kafka', topic = '{topic}', \
             properties.bootstrap.server = '{bootstrap}', scan.startup.mode = 'earliest')"
        ),
    )
}

/// The offset after the last message delivered to each partition.
pub fn ends(delivered: &[Delivered], partitions: i32) -> Vec<i64> {
    let mut ends = vec![0; partitions as usize];
    for d in delivered {
        let end = &mut ends[d.partition as usize];
        *end = (*end).max(d.offset + 1);
    }
    ends
}

/// Produces `messages` to `topic` with a new producer and waits for every delivery
/// report; returns where each message landed, in input order. The producer lingers 5 ms
/// and does not compress: Tansu acknowledges snappy batches but cannot serve them, and its
/// debug build takes lz4 batches at half the rate of plain ones (about 5 k against 10 k
/// messages of 400 bytes a second, measured).
///
/// Fails when any message is not acknowledged within 10 minutes (generous: a debug broker on
/// a loaded 2-core machine can crawl): the test cannot know then
/// whether the broker has it, and resending could duplicate it.
pub fn produce(
    bootstrap: &str,
    topic: &str,
    messages: &[Outgoing],
) -> Result<Vec<Delivered>, String> {
    let reports = Reports {
        delivered: Mutex::new(vec![None; messages.len()]),
    };
    let producer: BaseProducer<Reports> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("compression.type", "none")
        .set("linger.ms", "5")
        .set("acks", "all")
        // A slow broker (Tansu's debug build on a loaded machine) can take longer than the
        // default 30 s to answer; a timed-out request is retried, and the broker then
        // stores the batch twice. Idempotence makes the broker drop the retry's copy.
        .set("enable.idempotence", "true")
        .create_with_context(reports)
        .expect("a producer");
    let deadline = Instant::now() + Duration::from_secs(600);
    for (index, message) in messages.iter().enumerate() {
        let mut record = BaseRecord::with_opaque_to(topic, index)
            .payload(message.payload.as_bytes())
            .partition(message.partition);
        if let Some(key) = &message.key {
            record = record.key(key.as_bytes());
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, back)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                    assert!(Instant::now() < deadline, "producing timed out: {e}");
                    record = back;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(format!("producing message {index}: {e}")),
            }
        }
        if index % 1000 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer
        .flush(deadline.saturating_duration_since(Instant::now()))
        .map_err(|e| format!("flushing the producer: {e}"))?;
    // Delivery callbacks run in poll (flush polls); every message has reported now.
    let delivered = std::mem::take(
        &mut *producer
            .context()
            .delivered
            .lock()
            .expect("no delivery callback panicked"),
    );
    delivered
        .into_iter()
        .enumerate()
        .map(|(i, r)| match r {
            Some(Ok(d)) => Ok(d),
            Some(Err(e)) => Err(format!("message {i} was not delivered: {e}")),
            None => Err(format!("message {i} has no delivery report after flush")),
        })
        .collect()
}

/// One message to produce: to an explicit partition, with an optional key.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub partition: i32,
    pub key: Option<String>,
    pub payload: String,
}

/// Where the broker put a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
}

/// Delivery reports, by message index (the delivery opaque).
struct Reports {
    delivered: Mutex<Vec<Option<Result<Delivered, String>>>>,
}

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, index: usize) {
        let report = match result {
            Ok(m) => Ok(Delivered {
                partition: m.partition(),
                offset: m.offset(),
            }),
            Err((e, _)) => Err(e.to_string()),
        };
        if let Ok(mut delivered) = self.delivered.lock() {
            delivered[index] = Some(report);
        }
    }
}
