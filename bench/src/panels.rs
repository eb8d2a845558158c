//! Scenario (c): the Grafana dashboard's panel queries over the Postgres wire while events
//! keep arriving. Hours of event time are loaded first (untimed); then, for the measured
//! seconds, one thread pushes live events at a fixed rate, their event time continuing from
//! the history's end at the wall clock's pace, while clients run every panel's SQL in turn,
//! its Grafana macros expanded for the last `--hours` of event time up to the newest event,
//! as a dashboard set to "Last N hours" refreshes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use futures::TryStreamExt;
use palisade_engine::Database;
use palisade_server::server::{ServerOptions, serve};
use palisade_tests::bench::JsonEvents;
use palisade_tests::grafana_macros::expand_macros;
use tokio_postgres::{NoTls, SimpleQueryMessage};

use crate::ingest::{Ingested, Pusher};
use crate::measure::{self, Latencies};
use crate::workload::{self, Lines};

/// The dashboard `grafana/` provisions, built in so the binary runs from anywhere.
const DASHBOARD: &str = include_str!("../../grafana/dashboards/website_security.json");
/// Events per pushed batch while loading the history, as the sources deliver them.
const HISTORY_BATCH: usize = 8192;
/// How often live events are pushed: each push is what arrived since the last, as a
/// source's poll takes what is there.
const PUSH_EVERY: Duration = Duration::from_millis(10);
/// The most live events one push takes when ingest has fallen behind.
const MAX_PUSH: usize = 8192;
/// The datagen seed of the live events: other events than the history's (seed 1).
const LIVE_SEED: u64 = 2;
/// The thread that pushes live events, named so its CPU time is told apart.
const INGEST_THREAD: &str = "bench-ingest";

/// What scenario (c) is asked to do.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Event time loaded before measuring, and the dashboard's time range.
    pub hours: u64,
    /// Events per second of event time in the history.
    pub rate: u64,
    /// Live events pushed per second while querying.
    pub ingest_rate: u64,
    pub seconds: u64,
    pub clients: usize,
    /// A dashboard JSON file instead of the built-in one.
    pub dashboard: Option<PathBuf>,
}

/// What the run did and cost.
pub struct PanelRun {
    pub history: Ingested,
    pub history_wall_seconds: f64,
    /// The live events, pushed while querying: their decode and views CPU time and each
    /// push's latency.
    pub live: Ingested,
    /// The whole process over the measured seconds: ingest and queries together.
    pub cpu_seconds: f64,
    pub wall_seconds: f64,
    /// CPU time of the runtime's threads (the server, DataFusion, the clients) and of the
    /// rest, over the measured seconds.
    pub queries_cpu_seconds: f64,
    pub other_cpu_seconds: f64,
    pub queries: Latencies,
    pub per_panel: BTreeMap<String, Latencies>,
}

/// One query of one panel.
#[derive(Debug, Clone)]
struct Panel {
    title: String,
    raw_sql: String,
}

/// Loads the history into `db` (which has the in-process source and the five views), then
/// runs the live phase against it.
pub async fn run(db: &Database, settings: &Settings) -> Result<PanelRun, String> {
    let panels = Arc::new(panel_queries(&read_dashboard(settings)?)?);
    let start = workload::event_time_start_micros()?;
    let span = i64::try_from(settings.hours * 3600 * 1_000_000)
        .map_err(|_| "--hours is too large".to_string())?;
    let history_end = start + span;

    let loaded = Instant::now();
    let history = tokio::task::block_in_place(|| load_history(db, settings))?;
    let history_wall_seconds = loaded.elapsed().as_secs_f64();
    println!(
        "loaded {} events ({} hours of event time) in {history_wall_seconds:.1} s",
        history.events, settings.hours
    );

    let live_events = usize::try_from(settings.ingest_rate * settings.seconds)
        .map_err(|_| "--ingest-rate × --seconds is too large".to_string())?;
    let live_lines =
        workload::generated_from(LIVE_SEED, history_end, settings.ingest_rate, live_events)?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("listening on 127.0.0.1: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("the server's address: {e}"))?
        .port();
    let server = tokio::spawn(serve(listener, db.clone(), ServerOptions::default()));
    let mut connections = Vec::new();
    for _ in 0..settings.clients.max(1) {
        connections.push(connect(port).await?);
    }

    let newest = Arc::new(AtomicI64::new(history_end));
    let range = TimeDelta::microseconds(span);
    let threads0 = measure::threads_cpu_seconds(thread_kind);
    let cpu0 = measure::process_cpu_seconds();
    let wall0 = Instant::now();
    let until = wall0 + Duration::from_secs(settings.seconds);
    let ingester = {
        let (db, newest) = (db.clone(), Arc::clone(&newest));
        let rate = settings.ingest_rate;
        std::thread::Builder::new()
            .name(INGEST_THREAD.into())
            .spawn(move || ingest_live(&db, &live_lines, rate, until, &newest, history_end))
            .map_err(|e| format!("starting the ingest thread: {e}"))?
    };
    let mut clients = Vec::new();
    for (i, client) in connections.into_iter().enumerate() {
        let (panels, newest) = (Arc::clone(&panels), Arc::clone(&newest));
        // Clients start at different panels, so together they do not ask the same at once.
        let offset = i * panels.len() / settings.clients.max(1);
        clients.push(tokio::spawn(query_loop(
            client, panels, offset, until, newest, range,
        )));
    }
    let mut timings = Vec::new();
    let mut failure = None;
    for client in clients {
        match client.await {
            Ok(Ok(t)) => timings.extend(t),
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(e) => failure = failure.or(Some(format!("a query client panicked: {e}"))),
        }
    }
    let live = tokio::task::block_in_place(|| ingester.join())
        .map_err(|_| "the ingest thread panicked".to_string())?;
    let cpu_seconds = measure::process_cpu_seconds() - cpu0;
    let wall_seconds = wall0.elapsed().as_secs_f64();
    let threads = measure::cpu_between(&threads0, &measure::threads_cpu_seconds(thread_kind));
    server.abort();
    if let Some(e) = failure {
        return Err(e);
    }
    let live = live?;

    let mut queries = Latencies::default();
    let mut per_panel: BTreeMap<String, Latencies> = BTreeMap::new();
    for (panel, took) in timings {
        queries.push(took);
        per_panel
            .entry(panels[panel].title.clone())
            .or_default()
            .push(took);
    }
    Ok(PanelRun {
        history,
        history_wall_seconds,
        live,
        cpu_seconds,
        wall_seconds,
        queries_cpu_seconds: threads.get("runtime").copied().unwrap_or(0.0),
        other_cpu_seconds: threads.get("other").copied().unwrap_or(0.0),
        queries,
        per_panel,
    })
}

/// The runtime's workers serve the connections and run the queries; the ingest thread's
/// time is split by [`Pusher`] itself.
fn thread_kind(name: &str) -> &'static str {
    if name == INGEST_THREAD {
        "ingest"
    } else if name.starts_with(crate::RUNTIME_THREAD) {
        "runtime"
    } else {
        "other"
    }
}

fn read_dashboard(settings: &Settings) -> Result<serde_json::Value, String> {
    let (text, name) = match &settings.dashboard {
        Some(path) => (
            std::fs::read_to_string(path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?,
            path.display().to_string(),
        ),
        None => (DASHBOARD.to_string(), "the built-in dashboard".to_string()),
    };
    serde_json::from_str(&text).map_err(|e| format!("{name}: {e}"))
}

/// Every query of every panel (rows' nested panels too), in dashboard order. A title that
/// comes again gets its query's refId, so each is reported apart.
fn panel_queries(dashboard: &serde_json::Value) -> Result<Vec<Panel>, String> {
    fn walk(panels: &[serde_json::Value], out: &mut Vec<Panel>) {
        for panel in panels {
            let title = panel["title"].as_str().unwrap_or("(untitled)");
            for target in panel["targets"].as_array().into_iter().flatten() {
                let Some(sql) = target["rawSql"].as_str().filter(|s| !s.trim().is_empty()) else {
                    continue;
                };
                let mut name = title.to_string();
                if out.iter().any(|p| p.title == name) {
                    let id = target["refId"].as_str().unwrap_or("?");
                    name = format!("{title} ({id}, query {})", out.len() + 1);
                }
                out.push(Panel {
                    title: name,
                    raw_sql: sql.to_string(),
                });
            }
            if let Some(nested) = panel["panels"].as_array() {
                walk(nested, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        dashboard["panels"]
            .as_array()
            .ok_or("the dashboard has no panels")?,
        &mut out,
    );
    if out.is_empty() {
        return Err("the dashboard's panels have no SQL".into());
    }
    Ok(out)
}

/// `hours × 3600 × rate` generated events pushed in batches, generated a chunk at a time
/// so the history's JSON is never all in memory.
fn load_history(db: &Database, settings: &Settings) -> Result<Ingested, String> {
    let total = usize::try_from(settings.hours * 3600 * settings.rate)
        .map_err(|_| "--hours × --rate is too large".to_string())?;
    let mut events = JsonEvents::new(total, settings.rate);
    let mut pusher = Pusher::new(db)?;
    let mut chunk = Vec::new();
    loop {
        events.next_lines(16 * HISTORY_BATCH, &mut chunk);
        if chunk.is_empty() {
            return Ok(pusher.done);
        }
        let mut lines = Lines::new(&chunk);
        let mut payloads = Vec::with_capacity(HISTORY_BATCH);
        loop {
            lines.next_batch(HISTORY_BATCH, &mut payloads);
            if payloads.is_empty() {
                break;
            }
            pusher.push(&payloads)?;
        }
    }
}

/// Pushes `lines` at `rate` a second until `until` (or the lines run out), keeping
/// `newest` at the newest event time pushed: event `i` is at `start + i / rate`.
fn ingest_live(
    db: &Database,
    lines: &[u8],
    rate: u64,
    until: Instant,
    newest: &AtomicI64,
    start: i64,
) -> Result<Ingested, String> {
    let mut pusher = Pusher::new(db)?;
    let mut lines = Lines::new(lines);
    let mut payloads = Vec::with_capacity(MAX_PUSH);
    let started = Instant::now();
    let mut pushed = 0u64;
    let mut tick = 0u32;
    loop {
        tick += 1;
        let due = started + PUSH_EVERY * tick;
        if due >= until {
            break;
        }
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let elapsed = started.elapsed().as_micros() as u64;
        let target = (u128::from(rate) * u128::from(elapsed) / 1_000_000) as u64;
        let wanted = target.saturating_sub(pushed).min(MAX_PUSH as u64) as usize;
        if wanted == 0 {
            continue;
        }
        lines.next_batch(wanted, &mut payloads);
        if payloads.is_empty() {
            break;
        }
        pusher.push(&payloads)?;
        pushed += payloads.len() as u64;
        let offset = (pushed - 1) * 1_000_000 / rate.max(1);
        newest.store(start + offset as i64, Ordering::Relaxed);
    }
    Ok(pusher.done)
}

async fn connect(port: u16) -> Result<tokio_postgres::Client, String> {
    let (client, connection) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=root dbname=dev"),
        NoTls,
    )
    .await
    .map_err(|e| format!("connecting to the server on port {port}: {e}"))?;
    // Ends when the client is dropped.
    tokio::spawn(connection);
    Ok(client)
}

/// Runs the panels' queries in turn from `offset` until `until`, as Grafana's data source
/// sends them (simple queries, text results); returns each query's panel and its time from
/// sending to the last row received.
async fn query_loop(
    client: tokio_postgres::Client,
    panels: Arc<Vec<Panel>>,
    offset: usize,
    until: Instant,
    newest: Arc<AtomicI64>,
    range: TimeDelta,
) -> Result<Vec<(usize, Duration)>, String> {
    // Grafana's $__interval: the range over about a panel's width in pixels.
    let interval = range.to_std().unwrap_or_default() / 1000;
    let mut out = Vec::new();
    let mut next = offset;
    while Instant::now() < until {
        let panel = next % panels.len();
        next += 1;
        // Grafana sends whole milliseconds.
        let to_micros = newest.load(Ordering::Relaxed) / 1000 * 1000;
        let to = DateTime::<Utc>::from_timestamp_micros(to_micros)
            .ok_or_else(|| format!("event time {to_micros} µs is out of range"))?;
        let sql = expand_macros(&panels[panel].raw_sql, to - range, to, interval)
            .map_err(|e| format!("panel {:?}: {e}", panels[panel].title))?;
        let sent = Instant::now();
        let failed = |e: tokio_postgres::Error| {
            let message = e
                .as_db_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_string());
            format!("panel {:?}: {message}\n  SQL: {sql}", panels[panel].title)
        };
        let stream = client.simple_query_raw(&sql).await.map_err(&failed)?;
        let mut stream = std::pin::pin!(stream);
        let mut took = None;
        while let Some(message) = stream.try_next().await.map_err(&failed)? {
            match message {
                SimpleQueryMessage::Row(_) => took = Some(sent.elapsed()),
                SimpleQueryMessage::CommandComplete(_) if took.is_none() => {
                    took = Some(sent.elapsed())
                }
                _ => {}
            }
        }
        out.push((panel, took.unwrap_or_else(|| sent.elapsed())));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_dashboard_has_every_panels_sql() {
        let panels =
            panel_queries(&serde_json::from_str(DASHBOARD).expect("JSON")).expect("panels");
        assert!(panels.len() >= 5, "{panels:?}");
        let to = Utc::now();
        for p in &panels {
            let sql = expand_macros(
                &p.raw_sql,
                to - TimeDelta::hours(6),
                to,
                Duration::from_secs(20),
            )
            .expect("expands");
            assert!(!sql.contains("$__"), "{}: {sql}", p.title);
        }
        let mut titles: Vec<&str> = panels.iter().map(|p| p.title.as_str()).collect();
        titles.sort_unstable();
        titles.dedup();
        assert_eq!(titles.len(), panels.len(), "titles are unique");
    }
}
