//! rdkafka's `StreamConsumer` (async, on a Tokio runtime) against `BaseConsumer` polled in a
//! blocking thread, as candidates for the Kafka source's read loop.
//!
//! ```text
//! cargo bench -p palisade-connectors --bench kafka_consumers [-- MESSAGES [ROUNDS]]
//! cargo test  -p palisade-connectors --bench kafka_consumers -- 20000     # quick smoke
//! ```
//!
//! The broker is librdkafka's `MockCluster`, run in a child process (this same executable,
//! started with `PALISADE_KAFKA_BENCH_BROKER=<messages>`), so that this process's CPU time
//! (`getrusage(RUSAGE_SELF)`: every thread, librdkafka's included) is the consumer's alone.
//! The broker's CPU time is read from `/proc/<pid>/stat` and shown apart (clock-tick
//! resolution).
//!
//! The topic has 4 partitions, or more when the mock broker could not keep all messages in 4
//! (it keeps 5 MiB per partition: 40 partitions for 400 000 messages); see [`partitions_for`].
//!
//! Every round is a fresh consumer configured as the source configures its own (group id,
//! no auto commit, no offset store, no partition EOF, fetch and queue sizes at their
//! defaults), with all partitions assigned explicitly at offset 0, reading all messages and
//! copying each payload into one reused buffer, cleared every `BATCH` messages as the
//! source's `RawBatch` is. Rounds of the different kinds alternate, in a rotating order.

use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

const TOPIC: &str = "web_logs";
/// The topic's partitions, at least: more are made when the messages do not fit (see
/// [`partitions_for`]).
const MIN_PARTITIONS: i32 = 4;
/// librdkafka's mock broker keeps at most 5 MiB of message sets per partition (hard-coded
/// in `rdkafka_mock.c`) and drops the oldest beyond that: with ~420-byte payloads (~440
/// bytes with record overhead), 10 000 messages per partition fit with room to spare.
const MESSAGES_PER_PARTITION: usize = 10_000;
const DEFAULT_MESSAGES: usize = 400_000;
const DEFAULT_ROUNDS: usize = 5;
/// Messages per buffer fill, as the source's `poll_into` max.
const BATCH: usize = 4096;
/// Set (to the message count) in the child process that hosts the mock broker.
const BROKER_ENV: &str = "PALISADE_KAFKA_BENCH_BROKER";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// `BaseConsumer::poll(100 ms)` in a loop on a plain thread.
    BasePoll,
    /// `StreamConsumer::recv().await` in a loop on a current-thread runtime.
    StreamRecvCurrent,
    /// `StreamConsumer::recv().await` in a loop, spawned on a 2-worker multi-thread runtime.
    StreamRecvMulti,
    /// One `StreamConsumer::stream()` held for the whole read, `next().await` in a loop, on a
    /// current-thread runtime (no waker-slot registration per message, unlike `recv`).
    StreamNextCurrent,
}

const KINDS: [Kind; 4] = [
    Kind::BasePoll,
    Kind::StreamRecvCurrent,
    Kind::StreamRecvMulti,
    Kind::StreamNextCurrent,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::BasePoll => "base poll (thread)",
            Kind::StreamRecvCurrent => "stream recv (current-thread)",
            Kind::StreamRecvMulti => "stream recv (multi-thread)",
            Kind::StreamNextCurrent => "stream next (current-thread)",
        }
    }
}

fn main() {
    if let Ok(count) = std::env::var(BROKER_ENV) {
        run_broker(count.parse().expect("message count"));
        return;
    }
    let mut numbers = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(|a| {
            a.parse::<usize>().unwrap_or_else(|_| {
                eprintln!("usage: kafka_consumers [MESSAGES [ROUNDS_PER_KIND]], got {a:?}");
                std::process::exit(2)
            })
        });
    let messages = numbers.next().unwrap_or(DEFAULT_MESSAGES).max(1);
    let rounds = numbers.next().unwrap_or(DEFAULT_ROUNDS).max(1);

    let broker = Broker::start(messages);
    println!(
        "{messages} messages in {} partitions, {:.0} payload bytes on average; \
         broker pid {}; {rounds} rounds per kind after one warm-up round",
        partitions_for(messages),
        broker.bytes as f64 / messages as f64,
        broker.pid()
    );
    println!("load average before: {}", load_average());
    println!(
        "CPU s: this process (getrusage); rdk s: its librdkafka threads (rdk:*), app s: the \
         others (the reading thread or runtime workers), both from /proc/self/task/*/schedstat"
    );
    println!();
    println!(
        "{:<30} {:>8} {:>7} {:>7} {:>11} {:>11} {:>7} {:>7} {:>9}",
        "kind",
        "messages",
        "wall s",
        "CPU s",
        "msg/wall-s",
        "msg/CPU-s",
        "rdk s",
        "app s",
        "broker s"
    );

    let warm_up = run(Kind::BasePoll, &broker, 0, messages);
    print_row("(warm-up) ", &warm_up);
    let mut samples = Vec::new();
    let mut round = 1;
    for cycle in 0..rounds {
        for i in 0..KINDS.len() {
            let kind = KINDS[(cycle + i) % KINDS.len()];
            let sample = run(kind, &broker, round, messages);
            print_row("", &sample);
            samples.push(sample);
            round += 1;
        }
    }

    println!("load average after: {}", load_average());
    println!();
    println!("medians over {rounds} rounds per kind:");
    println!(
        "{:<30} {:>11} {:>11} {:>12} {:>12} {:>11} {:>11}",
        "kind",
        "msg/wall-s",
        "msg/CPU-s",
        "vs base wall",
        "vs base CPU",
        "rdk ns/msg",
        "app ns/msg"
    );
    let median_of = |kind: Kind, f: fn(&Sample) -> f64| {
        median(samples.iter().filter(|s| s.kind == kind).map(f).collect())
    };
    let base_wall = median_of(Kind::BasePoll, Sample::per_wall_second);
    let base_cpu = median_of(Kind::BasePoll, Sample::per_cpu_second);
    for kind in KINDS {
        let wall = median_of(kind, Sample::per_wall_second);
        let cpu = median_of(kind, Sample::per_cpu_second);
        println!(
            "{:<30} {:>11.0} {:>11.0} {:>11.3}x {:>11.3}x {:>11.0} {:>11.0}",
            kind.name(),
            wall,
            cpu,
            wall / base_wall,
            cpu / base_cpu,
            median_of(kind, |s| s.rdk_cpu * 1e9 / s.messages as f64),
            median_of(kind, |s| s.app_cpu * 1e9 / s.messages as f64),
        );
    }
    broker.stop();
}

fn print_row(prefix: &str, s: &Sample) {
    println!(
        "{:<30} {:>8} {:>7.3} {:>7.3} {:>11.0} {:>11.0} {:>7.3} {:>7.3} {:>9.2}",
        format!("{prefix}{}", s.kind.name()),
        s.messages,
        s.wall,
        s.cpu,
        s.per_wall_second(),
        s.per_cpu_second(),
        s.rdk_cpu,
        s.app_cpu,
        s.broker_cpu
    );
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

// ---------------------------------------------------------------------------------------
// The broker, in a child process.

/// How many partitions the topic needs so that the mock broker keeps all `messages`: 4 for
/// up to 40 000 messages, more beyond (40 for the default 400 000). A topic of 4 partitions
/// cannot hold 400 000 messages of this size in the mock broker, and reading a smaller one
/// round and round (seeking back at its end) would stall every pass on the broker's
/// `fetch.wait.max.ms` wait for an empty fetch.
fn partitions_for(messages: usize) -> i32 {
    (messages.div_ceil(MESSAGES_PER_PARTITION) as i32).max(MIN_PARTITIONS)
}

/// The child process's side: a mock cluster holding the topic, filled, served until the
/// parent closes our stdin (or exits).
fn run_broker(messages: usize) {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster
        .create_topic(TOPIC, partitions_for(messages), 1)
        .expect("topic");
    let bootstrap = cluster.bootstrap_servers();
    let started = Instant::now();
    let bytes = produce(&bootstrap, messages);
    eprintln!(
        "broker: produced {messages} messages ({:.1} MB) in {:.2} s",
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    let mut out = std::io::stdout().lock();
    writeln!(out, "READY {bootstrap} {bytes}").expect("stdout");
    out.flush().expect("stdout");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(cluster);
}

/// Produces `messages` access-log events round-robin over the partitions, flushes, and
/// checks that the partitions hold them all. Returns the payload bytes produced.
fn produce(bootstrap: &str, messages: usize) -> u64 {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("producer");
    let partitions = partitions_for(messages);
    let mut payload = String::with_capacity(512);
    let mut bytes = 0;
    for i in 0..messages {
        payload.clear();
        access_log_event(i as u64, &mut payload);
        bytes += payload.len() as u64;
        let partition = (i % partitions as usize) as i32;
        loop {
            let record = BaseRecord::<(), str>::to(TOPIC)
                .payload(payload.as_str())
                .partition(partition);
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    producer.poll(Duration::from_millis(20));
                }
                Err((e, _)) => panic!("producing message {i}: {e}"),
            }
        }
        if i % 10_000 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer
        .flush(Duration::from_secs(300))
        .expect("flushed in time");
    let mut stored = 0;
    for p in 0..partitions {
        let (low, high) = producer
            .client()
            .fetch_watermarks(TOPIC, p, Duration::from_secs(10))
            .expect("watermarks");
        assert_eq!(
            low, 0,
            "partition {p} lost its oldest messages to the mock's retention"
        );
        stored += high;
    }
    assert_eq!(stored, messages as i64, "messages stored in the topic");
    bytes
}

/// A JSON web access-log event of about 420 bytes; message `i` is always the same.
fn access_log_event(i: u64, out: &mut String) {
    use std::fmt::Write;
    const METHODS: [&str; 8] = ["GET", "GET", "GET", "GET", "GET", "POST", "POST", "PUT"];
    const PAGES: [&str; 8] = [
        "/products/",
        "/products/",
        "/category/",
        "/cart/items/",
        "/api/v1/search?page=",
        "/checkout/step/",
        "/account/orders/",
        "/static/img/",
    ];
    const STATUS: [u16; 8] = [200, 200, 200, 200, 200, 304, 404, 500];
    const AGENTS: [&str; 4] = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    ];
    const REFERRERS: [&str; 4] = [
        "https://www.google.com/",
        "https://www.bing.com/search?q=running+shoes",
        "https://shop.example.com/",
        "",
    ];
    let r = mix(i);
    let pick = |shift: u32, n: usize| ((r >> shift) as usize) % n;
    // 2024-01-25T12:30:45.678Z plus 7 ms per event.
    let ms = (12 * 3600 + 30 * 60 + 45) * 1000 + 678 + i * 7;
    let _ = write!(
        out,
        concat!(
            r#"{{"request_timestamp":"2024-01-25T{:02}:{:02}:{:02}.{:03}Z","#,
            r#""ip_address":"10.{}.{}.{}","user_id":{},"session_id":"{:012x}","#,
            r#""http_method":"{}","url":"{}{}","#,
            r#""status_code":{},"response_time_ms":{:.2},"bytes_sent":{},"#,
            r#""referrer":"{}","user_agent":"{}","country":"{}","cache_hit":{}}}"#
        ),
        ms / 3_600_000 % 24,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000,
        pick(0, 256),
        pick(8, 256),
        pick(16, 256),
        100_000 + pick(24, 900_000),
        mix(r) >> 16,
        METHODS[pick(3, METHODS.len())],
        PAGES[pick(6, PAGES.len())],
        pick(12, 100_000),
        STATUS[pick(20, STATUS.len())],
        (pick(28, 50_000)) as f64 / 100.0,
        200 + pick(40, 60_000),
        REFERRERS[pick(44, REFERRERS.len())],
        AGENTS[pick(48, AGENTS.len())],
        ["DE", "US", "FR", "JP", "BR", "IN"][pick(52, 6)],
        pick(56, 3) == 0,
    );
}

/// splitmix64's finaliser: a well-mixed 64-bit value from a counter.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The parent's handle on the broker process.
struct Broker {
    child: Child,
    stdin: Option<ChildStdin>,
    bootstrap: String,
    bytes: u64,
}

impl Broker {
    fn start(messages: usize) -> Broker {
        let mut child = Command::new(std::env::current_exe().expect("own executable"))
            .env(BROKER_ENV, messages.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("broker process");
        let stdin = child.stdin.take();
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("broker stdout"))
            .read_line(&mut line)
            .expect("broker's READY line");
        let mut words = line.split_whitespace();
        let (Some("READY"), Some(bootstrap), Some(bytes)) =
            (words.next(), words.next(), words.next())
        else {
            let _ = child.kill();
            panic!("the broker process did not start: {line:?}");
        };
        Broker {
            bootstrap: bootstrap.to_string(),
            bytes: bytes.parse().expect("byte count"),
            child,
            stdin,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes the broker's stdin, which ends it; kills it if it has not ended in 10 s.
    fn stop(mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("broker process did not exit; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// Measuring.

struct Sample {
    kind: Kind,
    messages: usize,
    wall: f64,
    cpu: f64,
    /// CPU time of this process's librdkafka threads.
    rdk_cpu: f64,
    /// CPU time of this process's other threads: the reading thread or runtime workers.
    app_cpu: f64,
    broker_cpu: f64,
}

impl Sample {
    fn per_wall_second(&self) -> f64 {
        self.messages as f64 / self.wall
    }

    fn per_cpu_second(&self) -> f64 {
        self.messages as f64 / self.cpu
    }
}

/// Wall time, this process's CPU time (all of it, and split by thread kind) and the
/// broker's CPU time since `start`.
struct Meter {
    broker_pid: u32,
    wall: Instant,
    cpu: f64,
    threads: (f64, f64),
    broker_cpu: f64,
}

impl Meter {
    fn start(broker_pid: u32) -> Meter {
        let broker_cpu = process_cpu_seconds_of(broker_pid);
        let threads = threads_cpu_seconds();
        let cpu = own_cpu_seconds();
        Meter {
            broker_pid,
            wall: Instant::now(),
            cpu,
            threads,
            broker_cpu,
        }
    }

    fn stop(self, kind: Kind, sink: &Sink) -> Sample {
        let wall = self.wall.elapsed().as_secs_f64();
        let cpu = own_cpu_seconds() - self.cpu;
        let (rdk, app) = threads_cpu_seconds();
        let broker_cpu = process_cpu_seconds_of(self.broker_pid) - self.broker_cpu;
        Sample {
            kind,
            messages: sink.messages,
            wall,
            cpu,
            rdk_cpu: rdk - self.threads.0,
            app_cpu: app - self.threads.1,
            broker_cpu,
        }
    }
}

/// CPU time of this process's threads, librdkafka's (named `rdk:*`) and the others, from
/// the scheduler's nanosecond run times. A thread that ends between two readings drops
/// out of the second; none should while a round is measured (consumers are dropped after).
fn threads_cpu_seconds() -> (f64, f64) {
    let (mut rdk, mut other) = (0u64, 0u64);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (f64::NAN, f64::NAN);
    };
    for task in tasks.flatten() {
        let path = task.path();
        let (Ok(name), Ok(stat)) = (
            std::fs::read_to_string(path.join("comm")),
            std::fs::read_to_string(path.join("schedstat")),
        ) else {
            continue;
        };
        let ns: u64 = stat
            .split_whitespace()
            .next()
            .and_then(|f| f.parse().ok())
            .unwrap_or(0);
        if name.starts_with("rdk:") {
            rdk += ns;
        } else {
            other += ns;
        }
    }
    (rdk as f64 / 1e9, other as f64 / 1e9)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// User plus system CPU time of every thread of this process.
fn own_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut usage), 0);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// User plus system CPU time of process `pid`, from `/proc/<pid>/stat` (clock ticks).
fn process_cpu_seconds_of(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // Fields after the parenthesised command name start at field 3 (state); utime and
    // stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) as f64 / per_second
}

/// The work done per message: the source's, minus decoding. Payloads are appended to one
/// reused buffer, cleared every `BATCH` messages; offsets are checked to only go forward.
struct Sink {
    buffer: Vec<u8>,
    in_buffer: usize,
    messages: usize,
    bytes: u64,
    /// Per partition, the last offset delivered + 1.
    next: Vec<i64>,
    errors: usize,
}

impl Sink {
    fn new(partitions: i32) -> Sink {
        Sink {
            buffer: Vec::with_capacity(BATCH * 512),
            in_buffer: 0,
            messages: 0,
            bytes: 0,
            next: vec![0; partitions as usize],
            errors: 0,
        }
    }

    fn take<M: Message>(&mut self, message: &M) {
        let (partition, offset) = (message.partition(), message.offset());
        let next = &mut self.next[partition as usize];
        assert!(
            offset >= *next,
            "partition {partition}: offset {offset} delivered after {}",
            *next - 1
        );
        *next = offset + 1;
        self.buffer
            .extend_from_slice(message.payload().unwrap_or_default());
        self.in_buffer += 1;
        self.messages += 1;
        if self.in_buffer == BATCH {
            self.flush();
        }
    }

    fn error(&mut self, e: KafkaError) {
        self.errors += 1;
        if self.errors <= 10 {
            eprintln!("consumer error (continuing): {e}");
        }
    }

    fn flush(&mut self) {
        black_box(&self.buffer);
        self.bytes += self.buffer.len() as u64;
        self.buffer.clear();
        self.in_buffer = 0;
    }

    /// Everything was read, once.
    fn check(&mut self, broker: &Broker, messages: usize) {
        self.flush();
        assert_eq!(self.messages, messages);
        assert_eq!(self.bytes, broker.bytes, "payload bytes read");
        let partitions = self.next.len();
        let per_partition =
            |p: usize| (messages / partitions + usize::from(p < messages % partitions)) as i64;
        for (p, &next) in self.next.iter().enumerate() {
            assert_eq!(next, per_partition(p), "partition {p}'s last offset + 1");
        }
    }
}

fn consumer_config(bootstrap: &str, round: usize) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("palisade-bench-{round}"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "earliest");
    config
}

/// Every partition, from offset 0.
fn assignment(partitions: i32) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(TOPIC, p, Offset::Offset(0))
            .expect("partition");
    }
    list
}

/// Ends the whole process if a round is stuck (a hang in librdkafka or a lost message),
/// rather than letting the benchmark wait forever.
fn watchdog(kind: Kind, messages: usize) -> Arc<AtomicBool> {
    let done = Arc::new(AtomicBool::new(false));
    let limit = Duration::from_secs(60 + (messages / 2_000) as u64);
    let flag = done.clone();
    std::thread::spawn(move || {
        let started = Instant::now();
        while !flag.load(Ordering::Relaxed) {
            if started.elapsed() > limit {
                eprintln!(
                    "{} round still running after {limit:?}: giving up",
                    kind.name()
                );
                std::process::exit(1);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    done
}

/// One round: a fresh consumer of `kind` reads all `messages`.
fn run(kind: Kind, broker: &Broker, round: usize, messages: usize) -> Sample {
    let done = watchdog(kind, messages);
    let config = consumer_config(&broker.bootstrap, round);
    let pid = broker.pid();
    let (sample, mut sink) = match kind {
        Kind::BasePoll => std::thread::scope(|scope| {
            scope
                .spawn(|| read_with_base(&config, pid, messages))
                .join()
                .expect("consumer thread")
        }),
        Kind::StreamRecvCurrent | Kind::StreamNextCurrent => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(read_with_stream(kind, config, pid, messages))
        }
        Kind::StreamRecvMulti => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            // Spawned, not `block_on`'s own future, so that it runs on a worker thread as
            // it would inside the engine's runtime.
            let task = runtime.spawn(read_with_stream(kind, config, pid, messages));
            runtime.block_on(task).expect("consumer task")
        }
    };
    done.store(true, Ordering::Relaxed);
    sink.check(broker, messages);
    sample
}

fn read_with_base(config: &ClientConfig, broker_pid: u32, messages: usize) -> (Sample, Sink) {
    let meter = Meter::start(broker_pid);
    let consumer: BaseConsumer = config.create().expect("consumer");
    consumer
        .assign(&assignment(partitions_for(messages)))
        .expect("assign");
    let mut sink = Sink::new(partitions_for(messages));
    while sink.messages < messages {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => sink.take(&message),
            Some(Err(e)) => sink.error(e),
            None => {}
        }
    }
    let sample = meter.stop(Kind::BasePoll, &sink);
    drop(consumer);
    (sample, sink)
}

async fn read_with_stream(
    kind: Kind,
    config: ClientConfig,
    broker_pid: u32,
    messages: usize,
) -> (Sample, Sink) {
    let meter = Meter::start(broker_pid);
    // Inside the runtime: StreamConsumer spawns its wake-up task on creation.
    let consumer: StreamConsumer = config.create().expect("consumer");
    consumer
        .assign(&assignment(partitions_for(messages)))
        .expect("assign");
    let mut sink = Sink::new(partitions_for(messages));
    if kind == Kind::StreamNextCurrent {
        let mut stream = consumer.stream();
        while sink.messages < messages {
            match stream.next().await.expect("kafka streams never end") {
                Ok(message) => sink.take(&message),
                Err(e) => sink.error(e),
            }
        }
    } else {
        while sink.messages < messages {
            match consumer.recv().await {
                Ok(message) => sink.take(&message),
                Err(e) => sink.error(e),
            }
        }
    }
    let sample = meter.stop(kind, &sink);
    drop(consumer);
    (sample, sink)
}
