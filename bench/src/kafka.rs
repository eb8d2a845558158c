//! Scenario (b): events produced to a Kafka topic at a fixed rate, read by Palisade's Kafka
//! source into the five views; freshness from a burst's acknowledgement by the broker to
//! the first SELECT that counts it.
//!
//! The producer, and the mock broker when there is one, run in a child process (this
//! executable again, with the hidden `kafka-producer` subcommand), so this process's CPU
//! time is Palisade's alone. The two talk over the child's stdin and stdout, a line each:
//!
//! ```text
//! child  → parent  READY <bootstrap>       the topic exists; waiting for GO
//! parent → child   GO                      the source and views exist: start producing
//! child  → parent  ACK <events> <unix µs>  every event up to the end of a burst is
//!                                          acknowledged, as of that wall-clock time
//! child  → parent  DONE <events>           all produced and acknowledged
//! child  → parent  ERROR <message>
//! ```
//!
//! The child serves until the parent closes its stdin, so a mock broker outlives the read.
//! Wall-clock times are `SystemTime` in both processes: one clock, so they compare.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use datafusion::arrow::array::{Array, Int64Array};
use palisade_engine::Database;
use palisade_tests::bench::JsonEvents;
use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use tokio::sync::mpsc;

use crate::measure::{self, Latencies};
use crate::workload::{self, SOURCE_NAME};

/// `--broker`'s value for librdkafka's mock cluster, run in the producer's process.
pub const MOCK: &str = "mock";
/// How often the producer sends a burst: small bursts, so an event waits at most this long
/// before it is sent and freshness is measured per few milliseconds of events.
const BURST_EVERY: Duration = Duration::from_millis(5);
/// How often the prober asks the views how many events they count.
const PROBE_EVERY: Duration = Duration::from_millis(5);
/// What the prober asks: every event has a status code (datagen never leaves it NULL), so
/// the sum over all windows is the number of events the views have taken in.
const PROBE_SQL: &str = "SELECT CAST(COALESCE(SUM(count_status_code), 0) AS BIGINT) \
                         FROM status_code_analysis_summary";
/// The longest the producer may stay silent (no acknowledgement, no DONE) while producing.
const PRODUCER_SILENCE: Duration = Duration::from_secs(60);
/// How long, after the last acknowledgement, every event may take to become visible.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);

/// What scenario (b) is asked to do.
#[derive(Debug, Clone)]
pub struct Settings {
    /// [`MOCK`], or a broker's `HOST:PORT`.
    pub broker: String,
    /// Events produced per second.
    pub rate: u64,
    pub seconds: u64,
    pub partitions: i32,
    /// Events per second of event time.
    pub event_rate: u64,
    /// The consumer's `fetch.wait.max.ms`; None leaves the source's default (100 ms).
    pub fetch_wait_ms: Option<u64>,
    /// The producer's `linger.ms`: how long it gathers a partition's events into one batch.
    pub linger_ms: u64,
}

impl Settings {
    pub fn events(&self) -> u64 {
        self.rate * self.seconds
    }

    /// `fetch.wait.max.ms` as the run sets it: as asked, or on the mock broker the burst
    /// interval. The mock answers a fetch that finds nothing only after the whole wait,
    /// even if events arrive meanwhile (`rdkafka_mock_handlers.c`), where Apache Kafka
    /// answers as soon as they do: at the source's 100 ms default, the mock's freshness
    /// would be its own wait. Tansu 0.6 holds every fetch for the wait, records or not, so
    /// there too the wait bounds freshness from below (see the source's comment in
    /// `connectors/src/kafka/reader.rs`); the default is left to the source, as a user
    /// would have it.
    pub fn fetch_wait(&self) -> Option<u64> {
        self.fetch_wait_ms
            .or_else(|| (self.broker == MOCK).then_some(BURST_EVERY.as_millis() as u64))
    }
}

/// What the run did and cost, from GO to every event visible.
pub struct Consumed {
    pub events: u64,
    /// Records the source dead-lettered.
    pub rejected: u64,
    pub cpu_seconds: f64,
    pub wall_seconds: f64,
    /// CPU time by thread kind: the source's thread (poll, decode, views), librdkafka's,
    /// the prober's, the rest.
    pub stages: BTreeMap<&'static str, f64>,
    /// Per burst: from the broker's acknowledgement to the first probe counting it.
    pub freshness: Latencies,
    pub topic: String,
}

/// Runs scenario (b): starts the producer process, reads its topic into a new database
/// (recording its inputs with `record`), and returns the database with the figures.
pub async fn run(settings: &Settings, record: bool) -> Result<(Database, Consumed), String> {
    let topic = format!(
        "palisade_bench_{}_{}",
        std::process::id(),
        unix_micros() / 1000
    );
    let mut producer = ProducerProcess::start(settings, &topic)?;
    let bootstrap = match producer.next(Duration::from_secs(60)).await? {
        Line::Ready(bootstrap) => bootstrap,
        other => return Err(format!("the producer process said {other:?} before READY")),
    };
    let properties: Vec<(&str, String)> = settings
        .fetch_wait()
        .map(|ms| ("fetch.wait.max.ms", ms.to_string()))
        .into_iter()
        .collect();
    let db = workload::kafka_database(record, &topic, &bootstrap, &properties).await?;
    // FLUSH returns once the source knows the (empty) topic's ends, so the consumer is
    // connected and assigned before the first event is sent: the first bursts' freshness
    // is not the consumer's start-up.
    tokio::time::timeout(Duration::from_secs(60), db.execute("FLUSH"))
        .await
        .map_err(|_| format!("the Kafka source did not reach {bootstrap} within 60 s"))?
        .map_err(|e| format!("FLUSH: {e}"))?;

    let stop = Arc::new(AtomicBool::new(false));
    let latest = Arc::new(AtomicU64::new(0));
    let prober = Prober::spawn(db.clone(), Arc::clone(&stop), Arc::clone(&latest))?;

    let threads0 = measure::threads_cpu_seconds(thread_kind);
    let cpu0 = measure::process_cpu_seconds();
    let wall0 = Instant::now();
    producer.go()?;

    let mut acks: Vec<(u64, i64)> = Vec::new();
    let produced = loop {
        match producer.next(PRODUCER_SILENCE).await? {
            Line::Ack { events, micros } => acks.push((events, micros)),
            Line::Done(events) => break events,
            Line::Error(message) => return Err(format!("the producer failed: {message}")),
            Line::Ready(_) => return Err("the producer said READY twice".into()),
        }
    };
    if produced != settings.events() {
        return Err(format!(
            "the producer reports {produced} events, {} were asked for",
            settings.events()
        ));
    }

    let drain = Instant::now();
    while latest.load(Ordering::Relaxed) < produced {
        if prober.thread.is_finished() {
            // It only ends early on an error.
            return Err(prober
                .join()
                .err()
                .unwrap_or_else(|| "the prober stopped".into()));
        }
        if drain.elapsed() > DRAIN_TIMEOUT {
            stop.store(true, Ordering::Relaxed);
            let hint = if settings.broker == MOCK {
                " The mock broker keeps only 5 MiB per partition and drops the oldest: a \
                 source that falls further behind loses events (try more --partitions or a \
                 lower --rate)."
            } else {
                ""
            };
            return Err(format!(
                "only {} of {produced} events are visible {} s after the last was \
                 acknowledged.{hint}",
                latest.load(Ordering::Relaxed),
                DRAIN_TIMEOUT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let cpu_seconds = measure::process_cpu_seconds() - cpu0;
    let wall_seconds = wall0.elapsed().as_secs_f64();
    let threads1 = measure::threads_cpu_seconds(thread_kind);
    stop.store(true, Ordering::Relaxed);
    let seen = prober.join()?;
    producer.stop();

    let visible = seen.last().map_or(0, |s| s.1);
    let ingested = db
        .rows_ingested()
        .into_iter()
        .find(|(name, _)| name == SOURCE_NAME)
        .map_or(0, |(_, n)| n);
    if visible != produced || ingested != produced {
        return Err(format!(
            "{produced} events produced, but the source delivered {ingested} and the views \
             count {visible}"
        ));
    }
    let rejected = dead_letters(&db).await?;
    Ok((
        db,
        Consumed {
            events: produced,
            rejected,
            cpu_seconds,
            wall_seconds,
            stages: measure::cpu_between(&threads0, &threads1),
            freshness: freshness(&acks, &seen),
            topic,
        },
    ))
}

/// The thread kinds a Kafka run's CPU time is split into, by thread name.
fn thread_kind(name: &str) -> &'static str {
    if name.starts_with("rdk:") {
        "librdkafka"
    } else if name.starts_with("source-") {
        "source"
    } else if name == PROBE_THREAD {
        "probe"
    } else {
        "other"
    }
}

/// Per acknowledged burst (`acks`: cumulative events and wall-clock µs, in order), the time
/// to the first probe (`seen`: wall-clock µs and count, counts increasing) whose count
/// covers it. The count is of events, not of which ones: with several partitions, a later
/// burst's events may be counted before an earlier one's, so this is exact only per
/// partition, and close across them.
///
/// A probe can count a burst before its acknowledgement reached the producer (the broker
/// appended and served it first): that is no delay, so it counts as zero.
fn freshness(acks: &[(u64, i64)], seen: &[(i64, u64)]) -> Latencies {
    let mut out = Latencies::default();
    let mut probe = 0;
    for &(events, acked) in acks {
        while probe < seen.len() && seen[probe].1 < events {
            probe += 1;
        }
        let Some(&(at, _)) = seen.get(probe) else {
            break;
        };
        out.push(Duration::from_micros((at - acked).max(0) as u64));
    }
    out
}

/// Records the source dead-lettered: none are expected, datagen's events are all good.
async fn dead_letters(db: &Database) -> Result<u64, String> {
    let sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM palisade.dead_letters WHERE source = '{SOURCE_NAME}'"
    );
    let batches = db
        .query_batches(&sql)
        .await
        .map_err(|e| format!("{sql}: {e}"))?;
    first_i64(&batches).map(|n| n.max(0) as u64)
}

fn first_i64(batches: &[datafusion::arrow::array::RecordBatch]) -> Result<i64, String> {
    let column = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .ok_or("no row")?
        .column(0);
    let numbers = column
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| format!("a {} where a BIGINT was expected", column.data_type()))?;
    Ok(if numbers.is_null(0) {
        0
    } else {
        numbers.value(0)
    })
}

fn unix_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

// ---------------------------------------------------------------------------------------
// The prober: how many events the views count, every few milliseconds.

const PROBE_THREAD: &str = "bench-probe";

/// A thread of its own, so its CPU time is told apart from the engine's.
struct Prober {
    thread: std::thread::JoinHandle<Result<Vec<(i64, u64)>, String>>,
}

impl Prober {
    /// Probes until `stop`, keeping `latest` at the last count; the thread's result is each
    /// count the first time it was seen, with the wall-clock µs its answer arrived.
    fn spawn(db: Database, stop: Arc<AtomicBool>, latest: Arc<AtomicU64>) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("the prober's runtime: {e}"))?;
        let thread = std::thread::Builder::new()
            .name(PROBE_THREAD.into())
            .spawn(move || -> Result<Vec<(i64, u64)>, String> {
                let mut seen = Vec::new();
                let mut last = 0;
                loop {
                    // Once more after the stop, so the last sample is the final count.
                    let stopping = stop.load(Ordering::Relaxed);
                    let batches = runtime
                        .block_on(db.query_batches(PROBE_SQL))
                        .map_err(|e| format!("{PROBE_SQL}: {e}"))?;
                    let at = unix_micros();
                    let count = first_i64(&batches)?.max(0) as u64;
                    if count != last || seen.is_empty() {
                        seen.push((at, count));
                        last = count;
                        latest.store(count, Ordering::Relaxed);
                    }
                    if stopping {
                        return Ok(seen);
                    }
                    std::thread::sleep(PROBE_EVERY);
                }
            })
            .map_err(|e| format!("starting the prober: {e}"))?;
        Ok(Prober { thread })
    }

    fn join(self) -> Result<Vec<(i64, u64)>, String> {
        self.thread
            .join()
            .map_err(|_| "the prober panicked".to_string())?
    }
}

// ---------------------------------------------------------------------------------------
// The parent's side of the producer process.

/// A line from the producer process.
#[derive(Debug)]
enum Line {
    Ready(String),
    Ack { events: u64, micros: i64 },
    Done(u64),
    Error(String),
}

impl Line {
    fn parse(text: &str) -> Result<Line, String> {
        let mut words = text.split_whitespace();
        let number = |w: Option<&str>| -> Result<i64, String> {
            w.and_then(|w| w.parse().ok())
                .ok_or_else(|| format!("a malformed line from the producer: {text:?}"))
        };
        match words.next() {
            Some("READY") => Ok(Line::Ready(
                words.next().ok_or("READY without an address")?.to_string(),
            )),
            Some("ACK") => Ok(Line::Ack {
                events: number(words.next())?.max(0) as u64,
                micros: number(words.next())?,
            }),
            Some("DONE") => Ok(Line::Done(number(words.next())?.max(0) as u64)),
            Some("ERROR") => Ok(Line::Error(
                text.trim_start()
                    .trim_start_matches("ERROR")
                    .trim()
                    .to_string(),
            )),
            _ => Err(format!("an unknown line from the producer: {text:?}")),
        }
    }
}

/// The producer process, killed if dropped while running.
struct ProducerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<Result<Line, String>>,
}

impl ProducerProcess {
    fn start(settings: &Settings, topic: &str) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| format!("this executable's path: {e}"))?;
        let mut child = Command::new(exe)
            .arg("kafka-producer")
            .args(["--broker", &settings.broker, "--topic", topic])
            .args(["--partitions", &settings.partitions.to_string()])
            .args(["--rate", &settings.rate.to_string()])
            .args(["--seconds", &settings.seconds.to_string()])
            .args(["--event-rate", &settings.event_rate.to_string()])
            .args(["--linger-ms", &settings.linger_ms.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting the producer process: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("the producer's stdout")?;
        let (send, lines) = mpsc::unbounded_channel();
        // A plain thread: the pipe blocks, and lines must be taken as they come, whatever
        // the runtime is doing, or ACK timestamps would sit in the pipe.
        std::thread::Builder::new()
            .name("bench-pipe".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let parsed = line
                        .map_err(|e| format!("reading the producer's output: {e}"))
                        .and_then(|l| Line::parse(&l));
                    if send.send(parsed).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| format!("starting the pipe reader: {e}"))?;
        Ok(ProducerProcess {
            child,
            stdin,
            lines,
        })
    }

    async fn next(&mut self, within: Duration) -> Result<Line, String> {
        match tokio::time::timeout(within, self.lines.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => Err("the producer process ended early (its messages are above)".into()),
            Err(_) => Err(format!(
                "the producer process said nothing for {} s",
                within.as_secs()
            )),
        }
    }

    fn go(&mut self) -> Result<(), String> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or("the producer's stdin is closed")?;
        stdin
            .write_all(b"GO\n")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("starting the producer: {e}"))
    }

    /// Closes the child's stdin, which ends it; kills it if it is still there after 10 s.
    fn stop(mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("palisade-bench: the producer process did not exit; killing it");
    }
}

impl Drop for ProducerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------
// The producer process.

/// The hidden `kafka-producer` subcommand: what the parent asks of the producer process.
#[derive(Args, Debug)]
pub struct ProducerArgs {
    #[arg(long)]
    broker: String,
    #[arg(long)]
    topic: String,
    #[arg(long)]
    partitions: i32,
    #[arg(long)]
    rate: u64,
    #[arg(long)]
    seconds: u64,
    #[arg(long)]
    event_rate: u64,
    #[arg(long)]
    linger_ms: u64,
}

/// The producer process: makes the topic (and the mock broker), says READY, produces on
/// GO, says DONE, and serves until its stdin closes.
pub fn producer_main(args: &ProducerArgs) -> Result<(), String> {
    let mock = if args.broker == MOCK {
        let cluster = MockCluster::new(1).map_err(|e| format!("the mock cluster: {e}"))?;
        cluster
            .create_topic(&args.topic, args.partitions, 1)
            .map_err(|e| format!("creating {} on the mock cluster: {e}", args.topic))?;
        Some(cluster)
    } else {
        create_topic(&args.broker, &args.topic, args.partitions)?;
        None
    };
    let bootstrap = mock.as_ref().map_or_else(
        || args.broker.clone(),
        |cluster| cluster.bootstrap_servers(),
    );
    let stdout = Arc::new(Mutex::new(std::io::stdout()));
    if !say(&stdout, &format!("READY {bootstrap}")) {
        return Ok(());
    }
    let mut stdin = std::io::stdin().lock();
    let mut line = String::new();
    if stdin.read_line(&mut line).is_err() || line.trim() != "GO" {
        // The parent gave up before starting us.
        return Ok(());
    }
    match produce(args, &bootstrap, &stdout) {
        Ok(events) => say(&stdout, &format!("DONE {events}")),
        Err(e) => say(&stdout, &format!("ERROR {e}")),
    };
    // The mock broker holds the topic: serve it until the parent has read everything.
    let _ = std::io::copy(&mut stdin, &mut std::io::sink());
    drop(mock);
    Ok(())
}

/// One line to the parent; false when it is gone.
fn say(stdout: &Mutex<std::io::Stdout>, line: &str) -> bool {
    let Ok(mut out) = stdout.lock() else {
        return false;
    };
    writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
}

/// Creates `topic` on a real broker, which need not create topics on first use (Tansu
/// does not), and waits until its metadata shows every partition.
fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(|e| format!("an admin client for {bootstrap}: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let results = runtime
        .block_on(admin.create_topics([&new], &options))
        .map_err(|e| format!("creating topic {topic} on {bootstrap}: {e}"))?;
    for result in results {
        if let Err((name, code)) = result {
            return Err(format!("creating topic {name} on {bootstrap}: {code}"));
        }
    }
    let started = Instant::now();
    loop {
        let seen = admin
            .inner()
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .map(|m| {
                m.topics()
                    .iter()
                    .find(|t| t.name() == topic && t.error().is_none())
                    .map_or(0, |t| t.partitions().len())
            })
            .unwrap_or(0);
        if seen == partitions as usize {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(30) {
            return Err(format!(
                "topic {topic} shows {seen} of {partitions} partitions after 30 s"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Produces `rate × seconds` events, a burst every [`BURST_EVERY`] sized to keep to the
/// rate, round robin over the partitions; acknowledgements are told to the parent as they
/// come (see [`Acks`]). Returns the events produced, all acknowledged.
fn produce(
    args: &ProducerArgs,
    bootstrap: &str,
    stdout: &Arc<Mutex<std::io::Stdout>>,
) -> Result<u64, String> {
    let total = args.rate * args.seconds;
    let partitions = args.partitions.max(1) as u64;
    let acks = Acks {
        stdout: Arc::clone(stdout),
        state: Mutex::default(),
    };
    // ThreadedProducer: a thread of librdkafka's own serves the delivery reports as they
    // arrive, so an acknowledgement's time is not held up by this loop's sleeping.
    let producer: ThreadedProducer<Acks> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        // Tansu acknowledges snappy batches but cannot serve them.
        .set("compression.type", "none")
        .set("linger.ms", args.linger_ms.to_string())
        .set("acks", "all")
        // A slow broker can time a request out; the retry must not store it twice.
        .set("enable.idempotence", "true")
        .create_with_context(acks)
        .map_err(|e| format!("a producer for {bootstrap}: {e}"))?;
    let mut payloads = Payloads {
        events: JsonEvents::new(total as usize, args.event_rate),
        buf: Vec::new(),
        at: 0,
    };
    let started = Instant::now();
    let mut sent = 0u64;
    let mut tick = 0u32;
    while sent < total {
        tick += 1;
        let due = started + BURST_EVERY * tick;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let elapsed = started.elapsed().as_micros() as u64;
        let target =
            (u128::from(args.rate) * u128::from(elapsed) / 1_000_000).min(u128::from(total)) as u64;
        if target <= sent {
            continue;
        }
        let burst = producer.context().begin_burst(target - sent)?;
        while sent < target {
            let line = payloads.next().ok_or("the generator ran out of events")?;
            let mut record = BaseRecord::<(), [u8], usize>::with_opaque_to(&args.topic, burst)
                .payload(line)
                .partition((sent % partitions) as i32);
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((e, back))
                        if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) =>
                    {
                        record = back;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err((e, _)) => return Err(format!("producing event {sent}: {e}")),
                }
            }
            sent += 1;
        }
        producer.context().check()?;
    }
    producer
        .flush(Duration::from_secs(300))
        .map_err(|e: KafkaError| format!("flushing the producer: {e}"))?;
    producer.context().check()?;
    let acknowledged = producer.context().acknowledged();
    if acknowledged != total {
        return Err(format!(
            "{acknowledged} of {total} events acknowledged after the flush"
        ));
    }
    Ok(total)
}

/// Generated events as JSON lines, one at a time, generated a chunk ahead.
struct Payloads {
    events: JsonEvents,
    buf: Vec<u8>,
    at: usize,
}

impl Payloads {
    fn next(&mut self) -> Option<&[u8]> {
        if self.at >= self.buf.len() {
            self.events
                .next_lines(palisade_tests::bench::BATCH, &mut self.buf);
            self.at = 0;
            if self.buf.is_empty() {
                return None;
            }
        }
        let start = self.at;
        let len = memchr::memchr(b'\n', &self.buf[start..]).unwrap_or(self.buf.len() - start);
        self.at = start + len + 1;
        Some(&self.buf[start..start + len])
    }
}

/// Delivery reports, counted per burst; tells the parent when a burst and every one before
/// it are acknowledged.
struct Acks {
    stdout: Arc<Mutex<std::io::Stdout>>,
    state: Mutex<AckState>,
}

#[derive(Default)]
struct AckState {
    /// Per burst: its events, and how many are acknowledged.
    sizes: Vec<u64>,
    acked: Vec<u64>,
    /// The first burst not yet wholly acknowledged, and the events before it.
    next: usize,
    cumulative: u64,
    failure: Option<String>,
}

impl Acks {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, AckState>, String> {
        self.state
            .lock()
            .map_err(|_| "a delivery report panicked".to_string())
    }

    /// Registers a burst of `events` about to be sent; its index is the messages' opaque.
    fn begin_burst(&self, events: u64) -> Result<usize, String> {
        let mut state = self.lock()?;
        state.sizes.push(events);
        state.acked.push(0);
        Ok(state.sizes.len() - 1)
    }

    /// The first failed delivery, if any.
    fn check(&self) -> Result<(), String> {
        match &self.lock()?.failure {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn acknowledged(&self) -> u64 {
        self.lock().map_or(0, |s| s.cumulative)
    }
}

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, burst: usize) {
        let at = unix_micros();
        let Ok(mut guard) = self.state.lock() else {
            return;
        };
        let state = &mut *guard;
        if let Err((e, _)) = result {
            if state.failure.is_none() {
                state.failure = Some(format!("an event was not delivered: {e}"));
            }
            return;
        }
        if let Some(acked) = state.acked.get_mut(burst) {
            *acked += 1;
        }
        let mut lines = String::new();
        while state.next < state.sizes.len() && state.acked[state.next] == state.sizes[state.next] {
            state.cumulative += state.sizes[state.next];
            state.next += 1;
            lines.push_str(&format!("ACK {} {at}\n", state.cumulative));
        }
        drop(guard);
        if !lines.is_empty() {
            say(&self.stdout, lines.trim_end());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_is_from_acknowledgement_to_the_first_probe_that_counts_it() {
        let acks = [(10, 1_000), (20, 2_000), (30, 3_000)];
        // 20 counted before its acknowledgement was seen: zero, not negative.
        let seen = [(500, 0), (1_900, 25), (4_000, 30)];
        let s = freshness(&acks, &seen).summary();
        assert_eq!(s.count, 3);
        assert_eq!(s.max_ms, 1.0);
        assert_eq!(s.p50_ms, 0.9);
    }

    #[test]
    fn producer_lines_parse() {
        assert!(matches!(
            Line::parse("ACK 500 1700000000000000"),
            Ok(Line::Ack {
                events: 500,
                micros: 1_700_000_000_000_000
            })
        ));
        assert!(
            matches!(Line::parse("READY 127.0.0.1:9092"), Ok(Line::Ready(a)) if a == "127.0.0.1:9092")
        );
        assert!(
            matches!(Line::parse("ERROR broker down"), Ok(Line::Error(e)) if e == "broker down")
        );
        assert!(Line::parse("ACK x").is_err());
        assert!(Line::parse("HELLO").is_err());
    }
}
