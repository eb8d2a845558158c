//! `palisade-bench`: the five website-security views under load, measured.
//!
//! # Layout
//! - `main.rs`: the command line; each scenario's setup, run and report.
//! - [`workload`]: the source, the five views and the events (generated or from a file).
//! - [`ingest`]: scenario (a), JSON lines in memory through the views; its decode-and-push
//!   step, which scenario (c) shares.
//! - [`kafka`]: scenario (b), a topic produced at a fixed rate by a child process (this
//!   executable's hidden `kafka-producer` subcommand) read by the Kafka source; the producer
//!   itself.
//! - [`panels`]: scenario (c), the Grafana dashboard's queries over the Postgres wire while
//!   ingesting.
//! - [`measure`]: CPU time (by process, thread and thread name), peak RSS, latency
//!   percentiles.
//! - [`check`]: the views against the batch oracle, dumped for the DuckDB comparison, sized.
//! - [`report`]: the figures, printed and as JSON.

mod check;
mod ingest;
mod kafka;
mod measure;
mod panels;
mod report;
mod workload;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use report::{Machine, Report};

/// The name of the runtime's threads, by which scenario (c) tells their CPU time apart.
const RUNTIME_THREAD: &str = "bench-runtime";

/// Palisade's benchmark: the website-security workload (one source of web access events,
/// five materialized views over one-minute tumbling windows) under load.
///
/// Every scenario prints events per CPU-second (all threads' CPU time, so a figure does not
/// depend on how many cores the machine has), freshness, peak RSS and state size, and with
/// --report writes them as JSON. --check compares every view with DataFusion running the
/// same SQL in batch over every event ingested, and fails the run if any differs.
#[derive(Parser)]
#[command(name = "palisade-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes generated events as JSON lines, the input of `ingest --file` and of
    /// bench/compare.sh's DuckDB run.
    Generate {
        /// How many events.
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        /// Events per second of event time.
        #[arg(long, default_value_t = workload::DEFAULT_EVENT_RATE)]
        rate: u64,
        /// Where to write them.
        #[arg(long)]
        out: PathBuf,
    },
    /// Scenario (a): JSON lines in memory, decoded and pushed through the five views on one
    /// thread as fast as they go.
    Ingest {
        #[command(flatten)]
        common: Common,
        /// Events to generate (ignored with --file).
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        /// Read the events from this JSON-lines file instead (one object per line, fields
        /// named as the source's columns); it is read whole into memory before timing.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Events per second of event time, for generated events.
        #[arg(long, default_value_t = workload::DEFAULT_EVENT_RATE)]
        rate: u64,
        /// Events per decoded batch.
        #[arg(long, default_value_t = 8192)]
        batch: usize,
        /// Write every view's rows as DIR/<view>.jsonl afterwards (untimed), for
        /// bench/compare_views.py.
        #[arg(long)]
        dump: Option<PathBuf>,
    },
    /// Scenario (b): events produced to a Kafka topic at a fixed rate, read by the Kafka
    /// source into the five views. The producer (and the mock broker) run in a child
    /// process, so the CPU time is Palisade's alone; at a fixed rate, events per CPU-second
    /// is what that rate costs, not the most Palisade can take.
    Kafka {
        #[command(flatten)]
        common: Common,
        /// `mock` (librdkafka's mock cluster, in the producer's process) or a
        /// Kafka-compatible broker's HOST:PORT; a topic of its own is created for the run.
        #[arg(long, default_value = kafka::MOCK)]
        broker: String,
        /// Events produced per second, in bursts every 5 ms.
        #[arg(long, default_value_t = 100_000)]
        rate: u64,
        /// Seconds of producing.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// The topic's partitions.
        #[arg(long, default_value_t = 4)]
        partitions: i32,
        /// Events per second of event time.
        #[arg(long, default_value_t = workload::DEFAULT_EVENT_RATE)]
        event_rate: u64,
        /// The source's `properties.fetch.wait.max.ms`, how long a fetch that finds nothing
        /// waits at the broker. Default: 5 on the mock broker (which, unlike Apache Kafka,
        /// does not answer early when events arrive), the source's (100) otherwise. Tansu
        /// holds every fetch for this long, so there it is a floor on freshness.
        #[arg(long)]
        fetch_wait_ms: Option<u64>,
        /// The producer's `linger.ms`: how long it gathers a partition's events into one
        /// batch before sending (freshness is measured from the broker's acknowledgement,
        /// so lingering does not count against it).
        #[arg(long, default_value_t = 5)]
        linger_ms: u64,
    },
    /// Scenario (c): the Grafana dashboard's panel queries over the Postgres wire, for the
    /// last --hours of event time, while live events are pushed.
    Panels {
        #[command(flatten)]
        common: Common,
        /// Hours of event time loaded before measuring (untimed); also the dashboard's
        /// time range.
        #[arg(long, default_value_t = 6)]
        hours: u64,
        /// Events per second of event time in that history.
        #[arg(long, default_value_t = 50)]
        rate: u64,
        /// Live events pushed per second while querying; their event time follows the
        /// wall clock from the history's end.
        #[arg(long, default_value_t = 20_000)]
        ingest_rate: u64,
        /// Seconds of querying.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Concurrent query clients, each a connection running the panels in turn.
        #[arg(long, default_value_t = 1)]
        clients: usize,
        /// A Grafana dashboard JSON file instead of grafana/dashboards/website_security.json
        /// (built in).
        #[arg(long)]
        dashboard: Option<PathBuf>,
    },
    /// The Kafka scenario's producer process (started by `kafka`, not by hand).
    #[command(hide = true)]
    KafkaProducer(kafka::ProducerArgs),
}

/// Options every scenario takes.
#[derive(Args)]
struct Common {
    /// Compare every view with the batch oracle after the run (untimed; keeps a copy of
    /// every event in memory).
    #[arg(long)]
    check: bool,
    /// Write the report as JSON to this file.
    #[arg(long)]
    report: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::KafkaProducer(args) = &cli.command {
        // No runtime: the producer process is librdkafka's threads and a pacing loop.
        return match kafka::producer_main(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("palisade-bench kafka-producer: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(RUNTIME_THREAD)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("palisade-bench: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("palisade-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Generate { events, rate, out } => {
            workload::write_generated(&out, events, rate)?;
            println!("wrote {events} events to {}", out.display());
            Ok(())
        }
        Command::Ingest {
            common,
            events,
            file,
            rate,
            batch,
            dump,
        } => {
            let machine = Machine::read();
            let lines = match &file {
                Some(path) => workload::read_file(path)?,
                None => workload::generated(events, rate),
            };
            let db = workload::database(common.check).await?;
            // Decoding and the views run on this thread: block_in_place keeps the runtime's
            // other workers free for the clock and anything else the database spawns.
            let ingested = tokio::task::block_in_place(|| ingest::run(&db, &lines, batch.max(1)))?;
            let mut settings =
                BTreeMap::from([("batch", json!(batch)), ("bytes", json!(lines.len()))]);
            match &file {
                Some(path) => settings.insert("file", json!(path.display().to_string())),
                None => settings.insert("event_rate", json!(rate)),
            };
            drop(lines);
            let report = finish(
                &db,
                &common,
                Report {
                    scenario: "ingest",
                    settings,
                    machine,
                    events: ingested.events,
                    rejected: ingested.rejected,
                    cpu_seconds: ingested.cpu_seconds,
                    wall_seconds: ingested.wall_seconds,
                    events_per_cpu_second: ingested.events as f64 / ingested.cpu_seconds.max(1e-9),
                    events_per_wall_second: ingested.events as f64
                        / ingested.wall_seconds.max(1e-9),
                    stages: BTreeMap::from([
                        ("decode", ingested.decode_cpu_seconds),
                        ("views", ingested.views_cpu_seconds),
                    ]),
                    freshness: ingested.freshness.summary(),
                    panel_queries: None,
                    panels: BTreeMap::new(),
                    peak_rss_bytes: None,
                    state_bytes: 0,
                    query_cache_bytes: 0,
                    view_rows: BTreeMap::new(),
                    checked: false,
                },
            )
            .await?;
            if let Some(dir) = dump {
                check::dump(&db, &dir).await?;
                println!("  views written to {}", dir.display());
            }
            let _ = report;
            Ok(())
        }
        Command::Kafka {
            common,
            broker,
            rate,
            seconds,
            partitions,
            event_rate,
            fetch_wait_ms,
            linger_ms,
        } => {
            let machine = Machine::read();
            let settings = kafka::Settings {
                broker,
                rate,
                seconds,
                partitions: partitions.max(1),
                event_rate,
                fetch_wait_ms,
                linger_ms,
            };
            let (db, run) = kafka::run(&settings, common.check).await?;
            let settings = BTreeMap::from([
                ("broker", json!(settings.broker)),
                ("rate", json!(settings.rate)),
                ("seconds", json!(settings.seconds)),
                ("partitions", json!(settings.partitions)),
                ("event_rate", json!(settings.event_rate)),
                ("linger_ms", json!(settings.linger_ms)),
                (
                    "fetch_wait_ms",
                    settings
                        .fetch_wait()
                        .map_or(json!("librdkafka's default"), |ms| json!(ms)),
                ),
                ("topic", json!(run.topic)),
                (
                    "note",
                    json!(
                        "events are produced at a fixed rate: events per CPU-second is what \
                         that rate costs Palisade (CPU from the first event sent to the last \
                         visible, the prober's included, the producer's and broker's not), \
                         not its maximum throughput"
                    ),
                ),
            ]);
            finish(
                &db,
                &common,
                Report {
                    scenario: "kafka",
                    settings,
                    machine,
                    events: run.events,
                    rejected: run.rejected,
                    cpu_seconds: run.cpu_seconds,
                    wall_seconds: run.wall_seconds,
                    events_per_cpu_second: run.events as f64 / run.cpu_seconds.max(1e-9),
                    events_per_wall_second: run.events as f64 / run.wall_seconds.max(1e-9),
                    stages: run.stages,
                    freshness: run.freshness.summary(),
                    panel_queries: None,
                    panels: BTreeMap::new(),
                    peak_rss_bytes: None,
                    state_bytes: 0,
                    query_cache_bytes: 0,
                    view_rows: BTreeMap::new(),
                    checked: false,
                },
            )
            .await?;
            Ok(())
        }
        Command::Panels {
            common,
            hours,
            rate,
            ingest_rate,
            seconds,
            clients,
            dashboard,
        } => {
            let machine = Machine::read();
            let settings = panels::Settings {
                hours,
                rate: rate.max(1),
                ingest_rate: ingest_rate.max(1),
                seconds,
                clients: clients.max(1),
                dashboard,
            };
            let db = workload::database(common.check).await?;
            let run = panels::run(&db, &settings).await?;
            let live = &run.live;
            let mut report_settings = BTreeMap::from([
                ("hours", json!(settings.hours)),
                ("rate", json!(settings.rate)),
                ("ingest_rate", json!(settings.ingest_rate)),
                ("seconds", json!(settings.seconds)),
                ("clients", json!(settings.clients)),
                ("history_events", json!(run.history.events)),
                ("history_load_seconds", json!(run.history_wall_seconds)),
                (
                    "note",
                    json!(
                        "events are the live events pushed while querying; CPU is the whole \
                         process's over those seconds, queries included (see stages); \
                         freshness is each live push's latency"
                    ),
                ),
            ]);
            if let Some(path) = &settings.dashboard {
                report_settings.insert("dashboard", json!(path.display().to_string()));
            }
            finish(
                &db,
                &common,
                Report {
                    scenario: "panels",
                    settings: report_settings,
                    machine,
                    events: live.events,
                    rejected: live.rejected + run.history.rejected,
                    cpu_seconds: run.cpu_seconds,
                    wall_seconds: run.wall_seconds,
                    events_per_cpu_second: live.events as f64 / run.cpu_seconds.max(1e-9),
                    events_per_wall_second: live.events as f64 / run.wall_seconds.max(1e-9),
                    stages: BTreeMap::from([
                        ("decode", live.decode_cpu_seconds),
                        ("views", live.views_cpu_seconds),
                        ("queries", run.queries_cpu_seconds),
                        ("other", run.other_cpu_seconds),
                    ]),
                    freshness: live.freshness.summary(),
                    panel_queries: Some(run.queries.summary()),
                    panels: run
                        .per_panel
                        .iter()
                        .map(|(title, l)| (title.clone(), l.summary()))
                        .collect(),
                    peak_rss_bytes: None,
                    state_bytes: 0,
                    query_cache_bytes: 0,
                    view_rows: BTreeMap::new(),
                    checked: false,
                },
            )
            .await?;
            Ok(())
        }
        Command::KafkaProducer(_) => Err("kafka-producer runs without a runtime".into()),
    }
}

/// Fills in what every scenario reports after its run (sizes, peak RSS, the oracle's
/// verdict), prints the report and writes it.
async fn finish(
    db: &palisade_engine::Database,
    common: &Common,
    mut report: Report,
) -> Result<Report, String> {
    report.peak_rss_bytes = measure::peak_rss_bytes();
    let (rows, bytes, cache) = check::sizes(db)?;
    report.view_rows = rows;
    report.state_bytes = bytes;
    report.query_cache_bytes = cache;
    if common.check {
        check::oracle(db).await?;
        report.checked = true;
    }
    report.print();
    if let Some(path) = &common.report {
        report.write(path)?;
        println!("  report written to {}", path.display());
    }
    Ok(report)
}
