//! What the benchmarks share: CPU time of the process and of one thread, datagen events as
//! JSON lines (generated whole or in chunks), and those lines decoded with arrow-json and
//! pushed into a database in 8192-event batches.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use datafusion::arrow::record_batch::RecordBatch;
use palisade_connectors::{DatagenReader, SourceReader, SourceSpec};
use palisade_engine::Database;

use crate::events::schema;

/// Events per decoded batch, as the sources deliver them.
pub const BATCH: usize = 8192;
/// Where the benchmarks' event time starts.
pub const EVENT_TIME_START: &str = "2024-01-25 12:00:00";

/// CPU time of the whole process (every thread, user + system), in seconds.
pub fn process_cpu_seconds() -> f64 {
    clock_seconds(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// CPU time of the calling thread (user + system), in seconds.
pub fn thread_cpu_seconds() -> f64 {
    clock_seconds(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn clock_seconds(clock: libc::clockid_t) -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the struct it is given.
    let ok = unsafe { libc::clock_gettime(clock, &mut t) };
    assert_eq!(ok, 0, "clock_gettime");
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// The website-security events of datagen seed 1 as JSON lines, event time advancing from
/// [`EVENT_TIME_START`] at a fixed rate; handed out in chunks so a long run never holds them
/// all.
pub struct JsonEvents {
    reader: DatagenReader,
    position: u64,
    total: u64,
}

impl JsonEvents {
    /// `total` events, event time advancing `rate` events per second.
    pub fn new(total: usize, rate: u64) -> Self {
        let options = BTreeMap::from([
            ("datagen.seed".to_string(), "1".to_string()),
            ("datagen.rows.total".to_string(), total.to_string()),
            (
                "datagen.event.time.start".to_string(),
                EVENT_TIME_START.to_string(),
            ),
            ("datagen.event.time.rate".to_string(), rate.to_string()),
        ]);
        let spec = SourceSpec {
            connector: "datagen".into(),
            options,
            schema: schema(),
        };
        let reader = DatagenReader::new(&spec, chrono::Utc::now()).expect("datagen reader");
        JsonEvents {
            reader,
            position: 0,
            total: total as u64,
        }
    }

    /// The next `max` events (fewer at the end) as whole JSON lines into `out`, which is
    /// cleared first; empty when every event was handed out.
    pub fn next_lines(&mut self, max: usize, out: &mut Vec<u8>) {
        out.clear();
        let end = self.total.min(self.position + max as u64);
        let mut writer = arrow_json::LineDelimitedWriter::new(out);
        while self.position < end {
            let len = (end - self.position).min(BATCH as u64) as usize;
            let batch = self.reader.read_range(self.position, len).expect("rows");
            if batch.num_rows() == 0 {
                break;
            }
            self.position += batch.num_rows() as u64;
            writer.write(&batch).expect("json");
        }
        writer.finish().expect("json");
    }
}

/// All `events` as JSON lines, event time advancing `rate` events per second.
pub fn json_lines(events: usize, rate: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(events * 400);
    JsonEvents::new(events, rate).next_lines(events, &mut out);
    out
}

/// Decodes whole JSON lines into batches of [`BATCH`] events (the last may be smaller),
/// handing each to `each`.
pub fn decode_json_lines(lines: &[u8], mut each: impl FnMut(RecordBatch)) {
    let mut decoder = arrow_json::ReaderBuilder::new(schema())
        .with_batch_size(BATCH)
        .build_decoder()
        .expect("decoder");
    let mut rest = lines;
    while !rest.is_empty() {
        let used = decoder.decode(rest).expect("decode");
        rest = &rest[used..];
        if let Some(batch) = decoder.flush().expect("flush") {
            each(batch);
        }
    }
    if let Some(batch) = decoder.flush().expect("flush") {
        each(batch);
    }
}

/// What [`push_json_lines`] delivered.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pushed {
    pub events: usize,
    /// The longest single `push_batch` (wall time): a checkpoint capture holds the dataflow
    /// lock, so a push that meets one waits for it.
    pub longest_push: Duration,
}

/// Decodes `lines` and pushes every batch into `source`.
pub fn push_json_lines(db: &Database, source: &str, lines: &[u8]) -> Pushed {
    let mut pushed = Pushed::default();
    decode_json_lines(lines, |batch| {
        pushed.events += batch.num_rows();
        let start = Instant::now();
        db.push_batch(source, batch).expect("push");
        pushed.longest_push = pushed.longest_push.max(start.elapsed());
    });
    pushed
}
