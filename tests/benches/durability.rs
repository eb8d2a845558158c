//! Durability benchmark: what checkpoints cost while events arrive, and how long a restart
//! from one takes.
//!
//! `cargo bench -p palisade-tests --bench durability -- [EVENTS [RATE [restart-only] [watermark]]]`
//! (defaults 2,000,000 events, 10,000 events per second of event time: the first 200 s of
//! the hour below). The figure, restart with one hour of state at 10 k events/s, is
//! `-- 36000000 10000 restart-only`: at that size a checkpoint every second cannot keep up
//! (each one copies the whole state), so only the checkpoints-off run is made. `watermark`
//! declares `WATERMARK FOR request_timestamp AS request_timestamp - INTERVAL '5 SECONDS'` on
//! the source, so closed windows drop their aggregate state and the checkpoint holds
//! mostly the views' rows.
//!
//! Datagen events (seed 1) as JSON lines, their event time advancing RATE events per second
//! so the one-minute windows, and the state, grow as a stream of that rate would, are
//! decoded with arrow-json and pushed through the five website-security views in-process:
//! 1. into two databases on fresh data directories, one with checkpoints off (written only
//!    when asked), one with checkpoints every 1 s, chunk by chunk in turn (which goes first
//!    alternates), so both see the same events and the same machine. Generating the JSON is
//!    not counted. A run's CPU time is the main thread's while pushing into it (ingest runs
//!    on the pushing thread), plus, for the checkpoints run, the checkpoint thread's; its
//!    wall time, the pushes' (a capture holds the dataflow lock, so a push that meets one
//!    waits). A table shows how the newest checkpoint and the longest single push grew.
//! 2. restart: then `Database::checkpoint` on the checkpoints-off database, drop it and time
//!    `Database::open` on its directory; the restored views must equal the views before,
//!    row for row (that is checked; timings are only printed).
//!
//! The data directories are under Cargo's target tmp directory and removed afterwards.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use palisade_engine::{Database, DatabaseOptions};
use palisade_tests::bench::{JsonEvents, process_cpu_seconds, push_json_lines, thread_cpu_seconds};
use palisade_tests::events::SOURCE_NAME;
use palisade_tests::sorted_views;

/// Events generated, then decoded and pushed, at a time.
const CHUNK: usize = 16 * palisade_tests::bench::BATCH;
/// Lines of the checkpoint growth table.
const GROWTH_LINES: usize = 8;
const FULL_SCALE: &str =
    "cargo bench -p palisade-tests --bench durability -- 36000000 10000 restart-only";

fn main() {
    let mut numbers = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<u64>().ok());
    let events = numbers.next().unwrap_or(2_000_000) as usize;
    let rate = numbers.next().unwrap_or(10_000).max(1);
    let restart_only = std::env::args().any(|a| a == "restart-only");
    let watermark = std::env::args().any(|a| a == "watermark");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let span = events as f64 / rate as f64;
    println!(
        "machine: {} cores; {events} events, event time advancing {rate} events/s: {span:.0} s \
         of event time, {} one-minute windows",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        (span / 60.0).ceil()
    );
    println!("full scale (one hour of state at 10 k events/s): {FULL_SCALE}");
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("palisade-durability-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);

    if restart_only {
        let mut off = Run::open(&runtime, "off", root.join("off"), Duration::ZERO, watermark);
        let mut generator = JsonEvents::new(events, rate);
        let mut lines = Vec::new();
        loop {
            generator.next_lines(CHUNK, &mut lines);
            if lines.is_empty() {
                break;
            }
            off.push(&lines);
        }
        assert_eq!(off.events, events, "every event ingested");
        println!(
            "ingested {} events (checkpoints off) in {:.1} CPU s: {:.0} events per CPU-second",
            off.events,
            off.cpu,
            off.rate()
        );
        restart(&runtime, off.db, &off.dir).print();
        let _ = std::fs::remove_dir_all(&root);
        return;
    }

    // 1. Both runs, chunk by chunk.
    let mut off = Run::open(&runtime, "off", root.join("off"), Duration::ZERO, watermark);
    let every_second = Duration::from_secs(1);
    let mut on = Run::open(
        &runtime,
        "every 1 s",
        root.join("every-1s"),
        every_second,
        watermark,
    );
    let mut generator = JsonEvents::new(events, rate);
    let mut lines = Vec::new();
    let mut growth = vec![];
    let mark = events.div_ceil(GROWTH_LINES).max(1);
    let mut next_mark = mark;
    let mut longest_since = Duration::ZERO;
    for chunk in 0.. {
        generator.next_lines(CHUNK, &mut lines);
        if lines.is_empty() {
            break;
        }
        let longest = if chunk % 2 == 0 {
            off.push(&lines);
            on.push(&lines)
        } else {
            let longest = on.push(&lines);
            off.push(&lines);
            longest
        };
        longest_since = longest_since.max(longest);
        if on.events >= next_mark || on.events == events {
            while next_mark <= on.events {
                next_mark += mark;
            }
            growth.push((on.events, newest_checkpoint(&on.dir), longest_since));
            longest_since = Duration::ZERO;
        }
    }
    let checkpointer_cpu = thread_cpu_named("checkpointer");
    on.cpu += checkpointer_cpu;
    let on_last = newest_checkpoint(&on.dir);
    for run in [&off, &on] {
        assert_eq!(run.events, events, "{}: every event ingested", run.label);
    }

    println!();
    println!(
        "ingest: JSON lines decoded and pushed in {}-event batches, both runs in turn",
        palisade_tests::bench::BATCH
    );
    println!(
        "{:<12} {:>10} {:>8} {:>13} {:>8} {:>13} {:>14} {:>11} {:>16}",
        "checkpoints",
        "events",
        "CPU s",
        "of which ckpt",
        "wall s",
        "events/CPU-s",
        "longest push s",
        "checkpoints",
        "last ckpt bytes"
    );
    off.print(0.0, None);
    on.print(checkpointer_cpu, Some(on_last));
    println!(
        "ratio every-1-s/off: {:.3} (events per CPU-second), {:.3} (events per push wall-second)",
        on.rate() / off.rate(),
        off.wall / on.wall.max(1e-9)
    );
    println!();
    println!(
        "checkpoints every 1 s, as the state grew (a push waits while a capture holds the lock)"
    );
    println!(
        "{:>10} {:>13} {:>11} {:>17} {:>30}",
        "events",
        "event time s",
        "checkpoints",
        "newest ckpt bytes",
        "longest push since last line s"
    );
    for (ingested, (count, bytes), longest) in growth {
        println!(
            "{ingested:>10} {:>13.0} {count:>11} {bytes:>17} {:>30.3}",
            ingested as f64 / rate as f64,
            longest.as_secs_f64()
        );
    }
    // Its checkpoint thread ends at its next tick; the restart is timed without it.
    drop(on.db);
    while threads_named("checkpointer").next().is_some() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_dir_all(&on.dir);

    // 2. Restart from the checkpoints-off database.
    restart(&runtime, off.db, &off.dir).print();
    println!();
    println!("full scale (one hour of state at 10 k events/s): {FULL_SCALE}");
    let _ = std::fs::remove_dir_all(&root);
}

/// One ingest run: its database and what pushing into it cost.
struct Run {
    label: &'static str,
    db: Database,
    dir: PathBuf,
    events: usize,
    /// The pushing thread's CPU seconds (and, once added, the checkpoint thread's).
    cpu: f64,
    /// Wall seconds in pushes.
    wall: f64,
    longest_push: Duration,
}

impl Run {
    /// A database on `dir` holding the source and the five views.
    fn open(
        runtime: &tokio::runtime::Runtime,
        label: &'static str,
        dir: PathBuf,
        checkpoint_interval: Duration,
        watermark: bool,
    ) -> Run {
        let db = runtime
            .block_on(Database::open(DatabaseOptions {
                data_dir: Some(dir.clone()),
                checkpoint_interval,
                ..DatabaseOptions::default()
            }))
            .expect("open the data directory");
        if watermark {
            let ddl = palisade_tests::events::SOURCE_DDL.replace(
                "security_level VARCHAR\n)",
                "security_level VARCHAR,\n    WATERMARK FOR request_timestamp AS request_timestamp - INTERVAL '5 SECONDS'\n)",
            );
            assert_ne!(
                ddl,
                palisade_tests::events::SOURCE_DDL,
                "the DDL takes a watermark"
            );
            runtime.block_on(async {
                db.execute(&ddl).await.expect("source");
                db.execute(&palisade_tests::website_security_views())
                    .await
                    .expect("views");
            });
        } else {
            runtime.block_on(palisade_tests::create_website_security(&db));
        }
        Run {
            label,
            db,
            dir,
            events: 0,
            cpu: 0.0,
            wall: 0.0,
            longest_push: Duration::ZERO,
        }
    }

    /// Decodes and pushes `lines`; returns the longest single push.
    fn push(&mut self, lines: &[u8]) -> Duration {
        let cpu0 = thread_cpu_seconds();
        let start = Instant::now();
        let pushed = push_json_lines(&self.db, SOURCE_NAME, lines);
        self.wall += start.elapsed().as_secs_f64();
        self.cpu += thread_cpu_seconds() - cpu0;
        self.events += pushed.events;
        self.longest_push = self.longest_push.max(pushed.longest_push);
        pushed.longest_push
    }

    fn rate(&self) -> f64 {
        self.events as f64 / self.cpu.max(1e-9)
    }

    fn print(&self, checkpointer_cpu: f64, checkpoints: Option<(u64, u64)>) {
        let (count, bytes) = checkpoints.map_or(("-".into(), "-".into()), |(c, b)| {
            (c.to_string(), b.to_string())
        });
        println!(
            "{:<12} {:>10} {:>8.2} {checkpointer_cpu:>13.2} {:>8.2} {:>13.0} {:>14.3} \
             {count:>11} {bytes:>16}",
            self.label,
            self.events,
            self.cpu,
            self.wall,
            self.rate(),
            self.longest_push.as_secs_f64()
        );
    }
}

/// This process's threads named `name`, as their /proc/self/task directories.
fn threads_named(name: &str) -> impl Iterator<Item = PathBuf> {
    std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .filter_map(|t| t.ok())
        .map(|t| t.path())
        .filter(move |t| std::fs::read_to_string(t.join("comm")).is_ok_and(|c| c.trim() == name))
}

/// CPU seconds of this process's threads named `name`, from their schedstat (nanoseconds on
/// a CPU).
fn thread_cpu_named(name: &str) -> f64 {
    threads_named(name)
        .filter_map(|t| {
            let stat = std::fs::read_to_string(t.join("schedstat")).ok()?;
            stat.split_whitespace().next()?.parse::<f64>().ok()
        })
        .sum::<f64>()
        * 1e-9
}

/// The newest checkpoint file in `dir`: (its sequence number, which counts the checkpoints
/// written since the directory was created, and its size in bytes); (0, 0) when none.
fn newest_checkpoint(dir: &Path) -> (u64, u64) {
    let Ok(entries) = std::fs::read_dir(dir.join("checkpoints")) else {
        return (0, 0);
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let sequence = name
                .strip_prefix("checkpoint-")?
                .strip_suffix(".bin")?
                .parse()
                .ok()?;
            Some((sequence, e.metadata().ok()?.len()))
        })
        .max()
        .unwrap_or((0, 0))
}

struct Restart {
    checkpoint_wall: f64,
    checkpoint_bytes: u64,
    open_wall: f64,
    open_cpu: f64,
    rows: Vec<(String, usize)>,
}

/// Checkpoints `db`, drops it, reopens `dir` and checks the views came back whole.
fn restart(runtime: &tokio::runtime::Runtime, db: Database, dir: &Path) -> Restart {
    let start = Instant::now();
    db.checkpoint()
        .expect("checkpoint")
        .expect("a data directory");
    let checkpoint_wall = start.elapsed().as_secs_f64();
    let (_, checkpoint_bytes) = newest_checkpoint(dir);
    let before = runtime.block_on(sorted_views(&db));
    drop(db);

    let cpu0 = process_cpu_seconds();
    let start = Instant::now();
    let restored = runtime
        .block_on(Database::open(DatabaseOptions {
            data_dir: Some(dir.to_path_buf()),
            ..DatabaseOptions::default()
        }))
        .expect("reopen the data directory");
    let open_wall = start.elapsed().as_secs_f64();
    let open_cpu = process_cpu_seconds() - cpu0;

    let after = runtime.block_on(sorted_views(&restored));
    let names = |views: &[(String, Vec<String>)]| -> Vec<String> {
        views.iter().map(|(name, _)| name.clone()).collect()
    };
    assert_eq!(
        names(&before),
        names(&after),
        "the same views after the restart"
    );
    for ((name, rows), (_, restored_rows)) in before.iter().zip(&after) {
        assert_eq!(
            rows.len(),
            restored_rows.len(),
            "{name}: as many rows after the restart"
        );
        if let Some((b, a)) = rows.iter().zip(restored_rows).find(|(b, a)| b != a) {
            panic!("{name} differs after the restart: before {b}, after {a}");
        }
    }
    Restart {
        checkpoint_wall,
        checkpoint_bytes,
        open_wall,
        open_cpu,
        rows: after.into_iter().map(|(n, r)| (n, r.len())).collect(),
    }
}

impl Restart {
    fn print(&self) {
        println!();
        println!(
            "restart (checkpoints-off run's state): checkpoint (capture + write) {:.3} s wall, \
             {} bytes",
            self.checkpoint_wall, self.checkpoint_bytes
        );
        println!(
            "Database::open (catalog + checkpoint load + restore of all five views): {:.3} s \
             wall, {:.3} CPU s; {} view rows restored, equal to the views before the restart",
            self.open_wall,
            self.open_cpu,
            self.rows.iter().map(|r| r.1).sum::<usize>()
        );
        for (name, rows) in &self.rows {
            println!("  {name}: {rows} rows");
        }
    }
}
