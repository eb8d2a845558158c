//! `palisade-bench`: the five website-security views under load, measured.
//!
//! # Layout
//! - `main.rs`: the command line; each scenario's setup, run and report.
//! - [`workload`]: the source, the five views and the events (generated or from a file).
//! - [`ingest`]: scenario (a), JSON lines in memory through the views.
//! - [`measure`]: CPU time, peak RSS, latency percentiles.
//! - [`check`]: the views against the batch oracle, dumped for the DuckDB comparison, sized.
//! - [`report`]: the figures, printed and as JSON.

mod check;
mod ingest;
mod measure;
mod report;
mod workload;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use report::{Machine, Report};

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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
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
    let (rows, bytes) = check::sizes(db)?;
    report.view_rows = rows;
    report.state_bytes = bytes;
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
