//! Retention benchmark: memory under a constant event rate, with and without retention.
//!
//! `cargo bench -p palisade-tests --bench retention -- [MINUTES [RATE]]` (defaults 120
//! minutes of event time at 2,000 events per second).
//!
//! Datagen events (seed 1), their event time advancing RATE events per second from
//! 2024-01-25 12:00:00, go through four per-minute views (COUNT DISTINCT and PERCENTILE_CONT
//! per window) on a source whose watermark trails event time by 5 s, in two configurations:
//! - retention: each view keeps only `window_start > NOW() - INTERVAL '10 MINUTES'`;
//! - no retention (the peer): the same views without that filter.
//!
//! RSS belongs to a process, so each configuration runs in a child process of its own (this
//! binary again, the configuration named in [`ROLE_ENV`]); the parent has them ingest one
//! minute of event time at a time, in turn (which goes first alternates), on a test clock
//! that follows the newest event. It prints RSS, live heap, view rows and open windows of
//! both, their growth over the second half and events per CPU-second. No timing is
//! asserted; what is checked: the retention views hold at most the bound's windows, their
//! rows stop growing once the bound is reached, and at the end they equal the peer's rows
//! in that bound.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use chrono::{DateTime, NaiveDateTime, Utc};
use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{Int64Type, TimestampMicrosecondType};
use datafusion::arrow::record_batch::RecordBatch;
use palisade_engine::{Database, DatabaseOptions};
use palisade_tests::bench::{
    BATCH, EVENT_TIME_START, JsonEvents, decode_json_lines, process_cpu_seconds,
};
use palisade_tests::events::{SOURCE_DDL, SOURCE_NAME};
use palisade_tests::format::rendered;

const ROLE_ENV: &str = "PALISADE_RETENTION_BENCH_ROLE";
const RETENTION_MINUTES: u64 = 10;
/// Events generated, then decoded, at a time (a minute of events may be more).
const CHUNK: u64 = 16 * BATCH as u64;
/// window_start comes first so the parent can group dumped rows by window.
const VIEWS: &str = "
CREATE MATERIALIZED VIEW user_minutes AS
SELECT window_start, username, COUNT(*) AS requests, AVG(response_time) AS avg_response_time,
    PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY response_time) AS median_response_time,
    COUNT(DISTINCT ip_address) AS unique_ips,
    SUM(CASE WHEN status_code >= 400 THEN 1 ELSE 0 END) AS errors
FROM TUMBLE(website_logs_source, request_timestamp, INTERVAL '1 MINUTE') {FILTER}
GROUP BY window_start, username;

CREATE MATERIALIZED VIEW status_minutes AS
SELECT window_start, status_code, COUNT(*) AS responses,
    PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY response_time) AS p95_response_time,
    COUNT(DISTINCT username) AS users
FROM TUMBLE(website_logs_source, request_timestamp, INTERVAL '1 MINUTE') {FILTER}
GROUP BY window_start, status_code;

CREATE MATERIALIZED VIEW referrer_minutes AS
SELECT window_start, referrer, COUNT(referrer) AS visits,
    SUM(CASE WHEN user_action IN ('view_page', 'navigate_page') THEN 1 ELSE 0 END) AS page_visits,
    COUNT(DISTINCT user_id) AS visitors
FROM TUMBLE(website_logs_source, request_timestamp, INTERVAL '1 MINUTE') {FILTER}
GROUP BY window_start, referrer;

CREATE MATERIALIZED VIEW security_minutes AS
SELECT window_start, security_level, COUNT(*) AS requests,
    PERCENTILE_CONT(0.99) WITHIN GROUP (ORDER BY response_time) AS p99_response_time,
    COUNT(DISTINCT ip_address) AS unique_ips
FROM TUMBLE(website_logs_source, request_timestamp, INTERVAL '1 MINUTE') {FILTER}
GROUP BY window_start, security_level;
";

fn main() {
    let mut numbers = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<u64>().ok());
    let minutes = numbers.next().unwrap_or(120);
    let rate = numbers.next().unwrap_or(2_000).max(1);
    match std::env::var(ROLE_ENV) {
        Ok(role) => child(role == "retention", minutes, rate),
        Err(_) => parent(minutes, rate),
    }
}

/// What a child reports after each minute.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    events: u64,
    rss_bytes: u64,
    /// Bytes the allocator has handed out and not got back: unlike RSS, free memory the
    /// allocator keeps does not count, so a leak shows here first.
    heap_bytes: u64,
    rows: i64,
    open_windows: i64,
    cpu: f64,
}

fn parent(minutes: u64, rate: u64) {
    // The half-way mark must already hold the bound's windows, or growth after it is expected.
    assert!(
        minutes >= 2 * RETENTION_MINUTES,
        "MINUTES must be at least {} (twice the retention bound)",
        2 * RETENTION_MINUTES
    );
    println!(
        "machine: {} cores; {minutes} minutes of event time at {rate} events/s: {} events per \
         configuration, 4 views over one-minute windows, retention {RETENTION_MINUTES} minutes",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        minutes * 60 * rate
    );
    let mut children =
        [true, false].map(|retention| Configuration::spawn(retention, minutes, rate));
    let (half, every) = (minutes / 2, minutes.div_ceil(12));
    println!();
    let columns = format!(
        "{:>8} {:>8} {:>9} {:>8}",
        "RSS MiB", "heap MiB", "view rows", "open win"
    );
    println!("{:20}| {:<37} | no retention (peer)", "", "retention");
    println!("{:>7} {:>11} | {columns} | {columns}", "minutes", "events");
    let mut samples = vec![children.each_mut().map(|c| c.read_sample())];
    print_line(0, &samples[0]);
    for minute in 1..=minutes {
        let order = if minute % 2 == 0 { [0, 1] } else { [1, 0] };
        let mut now = [Sample::default(); 2];
        for i in order {
            children[i].send("step");
            now[i] = children[i].read_sample();
        }
        assert_eq!(
            now[0].events, now[1].events,
            "both ingested the same events"
        );
        samples.push(now);
        if minute % every == 0 || minute == half || minute == minutes {
            print_line(minute, &now);
        }
    }

    println!();
    let (at_half, at_end) = (samples[half as usize], samples[minutes as usize]);
    let growth = |i: usize| {
        let (a, b) = (at_half[i], at_end[i]);
        let memory = |name: &str, a: u64, b: u64| {
            let (pct, a, b) = (percent(a as f64, b as f64), mib(a), mib(b));
            format!("{name} {pct:+.1}% ({a:.1} -> {b:.1} MiB)")
        };
        let rows = percent(a.rows as f64, b.rows as f64);
        format!(
            "{} over the second half, {}, view rows {rows:+.1}% ({} -> {})",
            memory("RSS", a.rss_bytes, b.rss_bytes),
            memory("live heap", a.heap_bytes, b.heap_bytes),
            a.rows,
            b.rows
        )
    };
    println!("retention:    {}", growth(0));
    println!("no retention: {}", growth(1));
    println!(
        "events per CPU-second (decode + push + clock): retention {:.0}, no retention {:.0}",
        at_end[0].events as f64 / at_end[0].cpu.max(1e-9),
        at_end[1].events as f64 / at_end[1].cpu.max(1e-9)
    );

    let [kept, peer_kept] = children.each_mut().map(|c| c.dump_rows());
    for c in children {
        c.finish();
    }
    check_bounded(&kept, at_half[0].rows, at_end[0].rows);
    assert_eq!(kept.len(), peer_kept.len(), "the same views");
    for ((name, rows), (_, peer_rows)) in kept.iter().zip(&peer_kept) {
        let first = rows.iter().zip(peer_rows).find(|(a, b)| a != b);
        assert!(
            rows == peer_rows,
            "{name}: {} rows with retention, {} in the peer's bound; first difference {first:?}",
            rows.len(),
            peer_rows.len()
        );
    }
    println!(
        "checked: retention views hold at most {RETENTION_MINUTES} windows, their rows stopped \
         growing, and equal the peer's rows with window_start > end clock - \
         {RETENTION_MINUTES} minutes ({} rows in {} views)",
        kept.iter().map(|(_, r)| r.len()).sum::<usize>(),
        kept.len()
    );
}

fn print_line(minute: u64, s: &[Sample; 2]) {
    let columns = |s: &Sample| {
        let (rss, heap) = (mib(s.rss_bytes), mib(s.heap_bytes));
        format!("{rss:>8.1} {heap:>8.1} {:>9} {:>8}", s.rows, s.open_windows)
    };
    let [a, b] = s.each_ref().map(columns);
    println!("{minute:>7} {:>11} | {a} | {b}", s[0].events);
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn percent(from: f64, to: f64) -> f64 {
    100.0 * (to - from) / from.max(1.0)
}

/// The retention run's rows must stop growing at the bound: at most the bound's windows per
/// view, and the end differing from the half-way mark by less than one window's rows (the
/// minute-to-minute variation of, say, how many users were active), where the peer grows by
/// half the run's windows.
fn check_bounded(views: &[(String, Vec<String>)], at_half: i64, at_end: i64) {
    let mut one_window = 0;
    for (name, rows) in views {
        let mut per_window: BTreeMap<&str, i64> = BTreeMap::new();
        for row in rows {
            let start = row.split('|').next().unwrap_or_default();
            *per_window.entry(start).or_default() += 1;
        }
        assert!(
            per_window.len() as u64 <= RETENTION_MINUTES,
            "{name}: {} windows under a {RETENTION_MINUTES}-minute retention: {:?}",
            per_window.len(),
            per_window.keys().collect::<Vec<_>>()
        );
        one_window += per_window.values().max().copied().unwrap_or(0);
    }
    assert!(
        (at_end - at_half).abs() <= one_window,
        "retention view rows not bounded: {at_half} at the half-way mark, {at_end} at the end \
         (one window holds up to {one_window})"
    );
}

/// A child process running one configuration, driven over its stdin and stdout.
struct Configuration {
    process: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Configuration {
    fn spawn(retention: bool, minutes: u64, rate: u64) -> Configuration {
        let mut process = Command::new(std::env::current_exe().expect("this binary"))
            .args([minutes.to_string(), rate.to_string()])
            .env(ROLE_ENV, if retention { "retention" } else { "peer" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a configuration");
        let input = process.stdin.take().expect("stdin");
        let output = BufReader::new(process.stdout.take().expect("stdout"));
        Configuration {
            process,
            input,
            output,
        }
    }

    fn send(&mut self, command: &str) {
        writeln!(self.input, "{command}").expect("child alive");
        self.input.flush().expect("child alive");
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        let n = self.output.read_line(&mut line).expect("child output");
        assert!(n > 0, "a configuration exited early (its panic is above)");
        line.trim_end_matches('\n').to_string()
    }

    fn read_sample(&mut self) -> Sample {
        let line = self.line();
        let f: Vec<f64> = match line.strip_prefix("sample ") {
            Some(numbers) => numbers
                .split(' ')
                .map(|n| n.parse().expect("a number"))
                .collect(),
            None => panic!("unexpected: {line}"),
        };
        Sample {
            events: f[0] as u64,
            rss_bytes: f[1] as u64,
            heap_bytes: f[2] as u64,
            rows: f[3] as i64,
            open_windows: f[4] as i64,
            cpu: f[5],
        }
    }

    /// Each view's rows in the retention bound, sorted, by view.
    fn dump_rows(&mut self) -> Vec<(String, Vec<String>)> {
        self.send("rows");
        let mut views: Vec<(String, Vec<String>)> = vec![];
        loop {
            let line = self.line();
            if let Some(name) = line.strip_prefix("view ") {
                views.push((name.to_string(), vec![]));
            } else if line == "end" {
                return views;
            } else {
                views.last_mut().expect("a view first").1.push(line);
            }
        }
    }

    fn finish(mut self) {
        drop(self.input);
        let status = self.process.wait().expect("wait");
        assert!(status.success(), "a configuration failed: {status}");
    }
}

fn child(retention: bool, minutes: u64, rate: u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let start = NaiveDateTime::parse_from_str(EVENT_TIME_START, "%Y-%m-%d %H:%M:%S")
        .expect("start")
        .and_utc();
    let db = Database::new(DatabaseOptions {
        test_clock: true,
        now: Some(start),
        ..DatabaseOptions::default()
    });
    let watermark =
        ", WATERMARK FOR request_timestamp AS request_timestamp - INTERVAL '5 SECONDS')";
    let source = SOURCE_DDL.replacen("VARCHAR\n)", &format!("VARCHAR{watermark}"), 1);
    assert_ne!(
        source, SOURCE_DDL,
        "the source DDL's column list ends as expected"
    );
    let filter = format!("WHERE window_start > NOW() - INTERVAL '{RETENTION_MINUTES} MINUTES'");
    let views = VIEWS.replace("{FILTER}", if retention { &filter } else { "" });
    runtime.block_on(async {
        db.execute(&source).await.expect("source");
        db.execute(&views).await.expect("views");
    });

    let per_minute = 60 * rate;
    let mut generator = JsonEvents::new((minutes * per_minute) as usize, rate);
    let (mut lines, mut events, mut cpu) = (Vec::new(), 0u64, 0.0);
    let mut clock = start.timestamp_micros();
    let mut out = std::io::stdout().lock();
    let report = |out: &mut std::io::StdoutLock, events: u64, cpu: f64| {
        let (rows, open) = runtime.block_on(view_sizes(&db));
        let (rss, heap) = (rss_bytes(), heap_bytes());
        writeln!(out, "sample {events} {rss} {heap} {rows} {open} {cpu:.6}").expect("stdout");
        out.flush().expect("stdout");
    };
    report(&mut out, 0, 0.0);
    for command in std::io::stdin().lock().lines() {
        match command.expect("stdin").as_str() {
            "step" => {
                let minute_end = events + per_minute;
                while events < minute_end {
                    // Generation is the workload's, not the engine's: outside the CPU count.
                    generator.next_lines(CHUNK.min(minute_end - events) as usize, &mut lines);
                    assert!(!lines.is_empty(), "more events than MINUTES");
                    let cpu0 = process_cpu_seconds();
                    decode_json_lines(&lines, |batch| {
                        // One second of events per push, then the clock to the newest, as
                        // the clock thread ticks each second. Longer steps would let the
                        // source's idle timeout (10 s) move its event time on between pushes
                        // and turn the next events late.
                        let mut at = 0;
                        while at < batch.num_rows() {
                            let len = ((rate - events % rate) as usize).min(batch.num_rows() - at);
                            let piece = batch.slice(at, len);
                            let ts = piece.column(0).as_primitive::<TimestampMicrosecondType>();
                            if let Some(newest) = datafusion::arrow::compute::max(ts) {
                                clock = clock.max(newest);
                            }
                            db.push_batch(SOURCE_NAME, piece).expect("push");
                            let advance = format!("ADVANCE CLOCK TO '{}'", timestamp(clock));
                            runtime
                                .block_on(db.execute(&advance))
                                .expect("advance the clock");
                            at += len;
                            events += len as u64;
                        }
                    });
                    cpu += process_cpu_seconds() - cpu0;
                }
                report(&mut out, events, cpu);
            }
            "rows" => {
                // The retention run's views are read whole, so a window kept too long shows.
                let bound = clock - RETENTION_MINUTES as i64 * 60_000_000;
                let restrict = match retention {
                    true => String::new(),
                    false => format!("WHERE window_start > TIMESTAMP '{}'", timestamp(bound)),
                };
                for view in runtime.block_on(db.definitions()).views {
                    let sql = format!("SELECT * FROM {} {restrict}", view.name);
                    let batches = runtime
                        .block_on(db.query_batches(&sql))
                        .expect("view reads");
                    let mut rows: Vec<String> = rendered(&batches)
                        .into_iter()
                        .map(|c| c.join("|"))
                        .collect();
                    rows.sort();
                    writeln!(out, "view {}", view.name).expect("stdout");
                    for row in rows {
                        writeln!(out, "{row}").expect("stdout");
                    }
                }
                writeln!(out, "end").expect("stdout");
                out.flush().expect("stdout");
            }
            other => panic!("unknown command {other}"),
        }
    }
}

fn timestamp(micros: i64) -> String {
    let t: DateTime<Utc> = DateTime::from_timestamp_micros(micros).expect("a timestamp");
    t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

/// Total rows and open windows over every view, from SHOW MATERIALIZED VIEWS.
async fn view_sizes(db: &Database) -> (i64, i64) {
    let batches = db
        .query_batches("SHOW MATERIALIZED VIEWS")
        .await
        .expect("show");
    let sum = |name: &str| -> i64 {
        let column = |b: &RecordBatch| {
            b.column_by_name(name)
                .expect("column")
                .as_primitive::<Int64Type>()
                .iter()
                .flatten()
                .sum::<i64>()
        };
        batches.iter().map(column).sum()
    };
    (sum("rows"), sum("open_windows"))
}

/// This process's resident set, from /proc/self/statm (pages).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page as u64
}

/// Bytes in use from glibc's allocator (all arenas, plus its own mmapped blocks); 0 where
/// that allocator is not the one.
fn heap_bytes() -> u64 {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads the allocator's counters.
        let info = unsafe { libc::mallinfo2() };
        (info.uordblks + info.hblkhd) as u64
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    0
}
