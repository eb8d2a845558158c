//! Durability benchmark: what checkpoints cost while events arrive, and how long a restart
//! from one takes.
//!
//! `cargo bench -p palisade-tests --bench durability -- [EVENTS [RATE]]` (defaults
//! 2,000,000 events, 10,000 events per second of event time: the first 200 s of the hour
//! below). The figure, restart with one hour of state at 10 k events/s, is
//! `-- 36000000 10000`.
//!
//! Datagen events (seed 1) as JSON lines, their event time advancing RATE events per second
//! so the one-minute windows, and the state, grow as a stream of that rate would, are
//! decoded with arrow-json and pushed through the five website-security views in-process,
//! twice from fresh data directories:
//! 1. checkpoints off (written only when asked), then checkpoints every 1 s, after an
//!    unmeasured warm-up of up to 524,288 events in memory. Each run's CPU time is the whole
//!    process's (the checkpoint thread included) less the main thread's time generating the
//!    JSON, which happens in chunks so a long run never holds it all. For the checkpoints
//!    run, a table shows how the newest checkpoint and the longest single push grew with the
//!    state (a capture holds the dataflow lock, so a push that meets one waits).
//! 2. restart: after the checkpoints-off run, `Database::checkpoint`, drop the database and
//!    time `Database::open` on its directory; the restored views must equal the views
//!    before, row for row (that is checked; timings are only printed).
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
/// Events pushed through an in-memory database before the measured runs.
const WARM_UP: usize = 4 * CHUNK;
const FULL_SCALE: &str = "cargo bench -p palisade-tests --bench durability -- 36000000 10000";

fn main() {
    let mut numbers = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<u64>().ok());
    let events = numbers.next().unwrap_or(2_000_000) as usize;
    let rate = numbers.next().unwrap_or(10_000).max(1);
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

    // Unmeasured: the first events through fresh views pay one-time costs (lazily built
    // plans, the heap's first growth) that would otherwise fall on whichever run is first.
    let warm_up = Database::new(DatabaseOptions::default());
    runtime.block_on(palisade_tests::create_website_security(&warm_up));
    ingest(&warm_up, events.min(WARM_UP), rate, |_, _| false);
    drop(warm_up);

    // 1a. Checkpoints off; this database is then restarted (part 2) while nothing else
    // holds its directory.
    let off_dir = root.join("off");
    let off_db = runtime.block_on(open(&off_dir, Duration::ZERO));
    let off = ingest(&off_db, events, rate, |_, _| false);
    println!();
    println!(
        "ingest: JSON lines decoded and pushed in {}-event batches (generating them not counted)",
        palisade_tests::bench::BATCH
    );
    println!(
        "{:<22} {:>10} {:>8} {:>8} {:>13} {:>14} {:>11} {:>16}",
        "checkpoints",
        "events",
        "CPU s",
        "wall s",
        "events/CPU-s",
        "longest push s",
        "checkpoints",
        "last ckpt bytes"
    );
    off.print("off", None);

    // 2. Restart from the off run's state.
    let restart = restart(&runtime, off_db, &off_dir);

    // 1b. Checkpoints every second.
    let on_dir = root.join("every-1s");
    let on_db = runtime.block_on(open(&on_dir, Duration::from_secs(1)));
    let mut growth = vec![];
    let mark = events.div_ceil(GROWTH_LINES).max(1);
    let mut next_mark = mark;
    let on = ingest(&on_db, events, rate, |ingested, longest| {
        if ingested >= next_mark || ingested == events {
            while next_mark <= ingested {
                next_mark += mark;
            }
            growth.push((ingested, newest_checkpoint(&on_dir), longest));
            true
        } else {
            false
        }
    });
    let on_last = newest_checkpoint(&on_dir);
    drop(on_db);
    on.print("every 1 s", Some(on_last));
    println!(
        "ratio every-1-s/off (events per CPU-second): {:.3}",
        on.rate() / off.rate()
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

    restart.print();
    println!();
    println!("full scale (one hour of state at 10 k events/s): {FULL_SCALE}");
    let _ = std::fs::remove_dir_all(&root);
}

/// A database on `dir` holding the source and the five views.
async fn open(dir: &Path, checkpoint_interval: Duration) -> Database {
    let db = Database::open(DatabaseOptions {
        data_dir: Some(dir.to_path_buf()),
        checkpoint_interval,
        ..DatabaseOptions::default()
    })
    .await
    .expect("open the data directory");
    palisade_tests::create_website_security(&db).await;
    db
}

/// One ingest run's measurements.
struct Run {
    events: usize,
    cpu: f64,
    wall: f64,
    longest_push: Duration,
}

impl Run {
    fn rate(&self) -> f64 {
        self.events as f64 / self.cpu.max(1e-9)
    }

    fn print(&self, label: &str, checkpoints: Option<(u64, u64)>) {
        let (count, bytes) = checkpoints.map_or(("-".into(), "-".into()), |(c, b)| {
            (c.to_string(), b.to_string())
        });
        println!(
            "{label:<22} {:>10} {:>8.2} {:>8.2} {:>13.0} {:>14.3} {count:>11} {bytes:>16}",
            self.events,
            self.cpu,
            self.wall,
            self.rate(),
            self.longest_push.as_secs_f64()
        );
    }
}

/// Pushes `events` events, generated in chunks, into `db`. After each chunk `progress` gets
/// the events pushed so far and the longest push since it last returned true.
fn ingest(
    db: &Database,
    events: usize,
    rate: u64,
    mut progress: impl FnMut(usize, Duration) -> bool,
) -> Run {
    let mut generator = JsonEvents::new(events, rate);
    let mut lines = Vec::new();
    let mut run = Run {
        events: 0,
        cpu: 0.0,
        wall: 0.0,
        longest_push: Duration::ZERO,
    };
    let mut generating = 0.0;
    let mut longest_since = Duration::ZERO;
    let cpu0 = process_cpu_seconds();
    loop {
        let t = thread_cpu_seconds();
        generator.next_lines(CHUNK, &mut lines);
        generating += thread_cpu_seconds() - t;
        if lines.is_empty() {
            break;
        }
        let start = Instant::now();
        let pushed = push_json_lines(db, SOURCE_NAME, &lines);
        run.wall += start.elapsed().as_secs_f64();
        run.events += pushed.events;
        run.longest_push = run.longest_push.max(pushed.longest_push);
        longest_since = longest_since.max(pushed.longest_push);
        if progress(run.events, longest_since) {
            longest_since = Duration::ZERO;
        }
    }
    run.cpu = process_cpu_seconds() - cpu0 - generating;
    assert_eq!(run.events, events, "every event ingested");
    run
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
