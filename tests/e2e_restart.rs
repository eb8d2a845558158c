//! End to end: the real `palisade` binary stopped and started again on one data directory.
//! Every source and view comes back after a SIGKILL, views are rebuilt exactly, start-up
//! scripts do not run twice, DROP persists, SIGTERM exits 0, and a second server cannot
//! share a directory. A Kafka source on a real broker (Tansu) survives ten SIGKILLs, some
//! while new events arrive, with every event counted once and every view exact at the end
//! (needs Tansu; skipped without it outside CI, as in `e2e_kafka.rs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use palisade_tests::broker::{Broker, tansu_binary};
use palisade_tests::kafka_workload::{PARTITIONS, TOPIC, ends, workload};
use palisade_tests::server_process::ServerProcess;
use palisade_tests::view_check::{
    check_dead_letters, check_source_counters, check_views, flush, kafka_views_script, number,
    show_source,
};
use tokio_postgres::{Client, SimpleQueryMessage};

/// Good events of the Kafka test.
const KAFKA_EVENTS: usize = 20_000;
/// Bad records among them: one of each kind.
const KAFKA_BAD_RECORDS: usize = 10;
/// SIGKILLs of the Kafka test's server.
const KILLS: u32 = 10;
/// The kill after which the second half of the events is produced, while the server is
/// started, killed and started again.
const SECOND_HALF_AFTER_KILL: u32 = 5;
/// How long a server lives at least and at most before it is killed, in milliseconds. Tansu's
/// debug build takes 2.5 to 4 s to answer a new consumer's first fetch (10 000 messages come
/// back in one burst then), so a server killed sooner has read nothing: the upper bound lets
/// some kills land after the server has read and while it reads.
const LIFETIME_MS: (u64, u64) = (200, 5_000);
/// Fixes the seed of the lifetimes, to replay a failed run.
const KILL_SEED_VAR: &str = "PALISADE_KILL_SEED";
/// How long the final `FLUSH` may take to read everything.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(300);
/// The engine's log line when it brings back a stored catalog, with the object count: the
/// source and its five views.
const RESTORED: &str = "restored the catalog objects=6";

/// A fresh data directory under the system temp dir, named for the test.
fn data_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("palisade-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A bounded datagen source of 5000 events and two views.
fn datagen_script() -> PathBuf {
    palisade_tests::tests_dir().join("sql/e2e_datagen.sql")
}

async fn connect(server: &ServerProcess) -> Client {
    server
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connecting to the server: {e}\n{}", server.log()))
}

/// The rows of `sql` as text, over the simple protocol.
async fn text_rows(client: &Client, sql: &str) -> Vec<Vec<String>> {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("NULL").to_string())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// What the datagen script's objects hold once every event is in: the view names SHOW
/// MATERIALIZED VIEWS lists, then each view's rows.
async fn datagen_state(client: &Client) -> Vec<Vec<Vec<String>>> {
    client.simple_query("FLUSH").await.expect("FLUSH");
    let views = text_rows(client, "SHOW MATERIALIZED VIEWS").await;
    vec![
        views.into_iter().map(|r| vec![r[0].clone()]).collect(),
        text_rows(client, "SELECT * FROM status_mix ORDER BY status_code").await,
        text_rows(client, "SELECT * FROM per_minute ORDER BY window_start").await,
    ]
}

/// The checkpoint files in `dir`, newest first.
fn checkpoints(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("checkpoints"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "bin"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files.reverse();
    files
}

/// Waits until the server has written a checkpoint after everything it holds now
/// (checkpoints come every second by default).
async fn wait_for_a_checkpoint(dir: &Path) {
    let before = checkpoints(dir).first().cloned();
    let started = std::time::Instant::now();
    while checkpoints(dir).first() == before.as_ref() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no checkpoint in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn after_a_sigkill_every_object_is_back_and_exact() {
    let dir = data_dir("restart");
    let mut first = ServerProcess::builder()
        .script(datagen_script())
        .data_dir(&dir)
        .start()
        .await;
    let before = datagen_state(&connect(&first).await).await;
    assert_eq!(
        before[0],
        vec![
            vec!["status_mix".to_string()],
            vec!["per_minute".to_string()]
        ]
    );
    assert!(before[1].len() > 1 && before[2].len() > 1, "{before:?}");
    wait_for_a_checkpoint(&dir).await;
    first.kill9();

    // The same command again: the script is skipped, the catalog restored, the views
    // loaded from the checkpoint.
    let mut second = ServerProcess::builder()
        .script(datagen_script())
        .data_dir(&dir)
        .start()
        .await;
    assert_eq!(datagen_state(&connect(&second).await).await, before);
    let log = second.log();
    assert!(log.contains("start-up scripts are skipped"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("restored the catalog") && !l.contains("checkpoint=0 ")),
        "not restored from a checkpoint:\n{log}"
    );
    wait_for_a_checkpoint(&dir).await;
    second.kill9();

    // A torn newest checkpoint: the one before is used, and the log names the torn file.
    let newest = checkpoints(&dir).remove(0);
    let bytes = std::fs::read(&newest).expect("the checkpoint reads");
    std::fs::write(&newest, &bytes[..bytes.len() / 2]).expect("the checkpoint is cut");
    let mut third = ServerProcess::builder().data_dir(&dir).start().await;
    let client = connect(&third).await;
    assert_eq!(datagen_state(&client).await, before);
    let log = third.log();
    let name = newest
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    assert!(
        log.lines()
            .any(|l| l.contains("skipping a damaged checkpoint") && l.contains(name)),
        "{log}"
    );

    // DROP is saved too.
    client
        .simple_query("DROP MATERIALIZED VIEW per_minute")
        .await
        .expect("DROP");
    third.kill9();
    let fourth = ServerProcess::builder().data_dir(&dir).start().await;
    let views = text_rows(&connect(&fourth).await, "SHOW MATERIALIZED VIEWS").await;
    assert_eq!(
        views.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(),
        vec!["status_mix"]
    );
    drop(fourth);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_the_server_with_exit_code_zero() {
    let dir = data_dir("sigterm");
    let mut server = ServerProcess::builder().data_dir(&dir).start().await;
    let status = tokio::task::block_in_place(|| server.terminate(Duration::from_secs(30)))
        .unwrap_or_else(|| panic!("still running 30 s after SIGTERM\n{}", server.log()));
    assert!(status.success(), "{status}\n{}", server.log());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_second_server_cannot_share_a_data_directory() {
    let dir = data_dir("shared");
    let _first = ServerProcess::builder().data_dir(&dir).start().await;
    let output = std::process::Command::new(palisade_tests::server_process::palisade_binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .output()
        .expect("palisade runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("in use by another palisade process"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Pseudo-random server lifetimes (xorshift64) from a seed printed by the test, so a failing
/// sequence of kills can be replayed with [`KILL_SEED_VAR`].
struct Lifetimes(u64);

impl Lifetimes {
    /// The seed of [`KILL_SEED_VAR`], else one from the clock.
    fn seed() -> u64 {
        match std::env::var(KILL_SEED_VAR) {
            Ok(text) => text
                .parse()
                .unwrap_or_else(|_| panic!("{KILL_SEED_VAR}={text:?} is not a u64")),
            Err(_) => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("the clock is after 1970")
                .as_nanos() as u64,
        }
    }

    fn new(seed: u64) -> Self {
        // xorshift's state must not be 0; mix the seed so close seeds differ at once.
        Lifetimes(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> Duration {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        let (low, high) = LIFETIME_MS;
        Duration::from_millis(low + x % (high - low + 1))
    }
}

/// The Kafka test's server: `-f script` (skipped once the catalog is stored) on `dir`.
async fn kafka_server(script: &Path, dir: &Path) -> ServerProcess {
    ServerProcess::builder()
        .script(script)
        .data_dir(dir)
        .env("RUST_LOG", "info")
        .start()
        .await
}

/// The names SHOW MATERIALIZED VIEWS lists.
async fn view_names(client: &Client) -> Vec<String> {
    text_rows(client, "SHOW MATERIALIZED VIEWS")
        .await
        .into_iter()
        .map(|r| r[0].clone())
        .collect()
}

/// Checks that a server just started on a stored catalog has restored it: its log says so,
/// skips the script, and SHOW SOURCES and SHOW MATERIALIZED VIEWS list everything at once.
async fn check_restored(server: &ServerProcess, client: &Client, views: &[String]) {
    let log = server.log();
    assert!(
        log.contains(RESTORED) && log.contains("start-up scripts are skipped"),
        "no {RESTORED:?} and skipped scripts in the log:\n{log}"
    );
    let source = show_source(client).await;
    assert_eq!(source.get("connector").map(String::as_str), Some("kafka"));
    assert_eq!(view_names(client).await, views, "SHOW MATERIALIZED VIEWS");
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_views_are_exact_after_ten_sigkills() {
    let Some(tansu) = tansu_binary() else {
        return;
    };
    let started = Instant::now();
    let work = workload(KAFKA_EVENTS, KAFKA_BAD_RECORDS, PARTITIONS);
    let broker = Arc::new(tokio::task::block_in_place(|| {
        let broker = Broker::start(&tansu);
        broker.create_topic(TOPIC, PARTITIONS);
        broker
    }));
    let (first, second) = work.messages.split_at(work.messages.len() / 2);
    let mut delivered = tokio::task::block_in_place(|| broker.produce(TOPIC, first));
    eprintln!(
        "produced the first {} messages; high watermarks {:?}",
        first.len(),
        ends(&delivered, PARTITIONS)
    );

    let dir = data_dir("kafka-sigkills");
    let script = kafka_views_script("restart-kafka", TOPIC, &broker.bootstrap());
    let mut server = kafka_server(&script, &dir).await;
    let mut client = connect(&server).await;
    let views = view_names(&client).await;
    assert_eq!(views.len(), 5, "SHOW MATERIALIZED VIEWS: {views:?}");

    let seed = Lifetimes::seed();
    eprintln!("kill seed {seed} ({KILL_SEED_VAR}={seed} replays these lifetimes)");
    let mut lifetimes = Lifetimes::new(seed);
    let mut producing = None;
    for kill in 1..=KILLS {
        let lifetime = lifetimes.next();
        tokio::time::sleep(lifetime).await;
        let ingested = number(&show_source(&client).await, "rows_ingested");
        server.kill9();
        if kill == SECOND_HALF_AFTER_KILL {
            let (broker, second) = (Arc::clone(&broker), second.to_vec());
            producing = Some(tokio::task::spawn_blocking(move || {
                let t = Instant::now();
                let delivered = broker.produce(TOPIC, &second);
                eprintln!(
                    "produced the second {} messages in {:?}",
                    second.len(),
                    t.elapsed()
                );
                delivered
            }));
        }
        let t = Instant::now();
        server = kafka_server(&script, &dir).await;
        client = connect(&server).await;
        check_restored(&server, &client, &views).await;
        eprintln!(
            "kill {kill}: after {lifetime:?} with rows_ingested {ingested}; accepting again \
             with the catalog restored in {:?}",
            t.elapsed()
        );
    }
    delivered.extend(
        producing
            .expect("the second half is being produced")
            .await
            .expect("producing does not panic"),
    );
    let watermarks = tokio::task::block_in_place(|| broker.high_watermarks(TOPIC, PARTITIONS));
    assert_eq!(watermarks, ends(&delivered, PARTITIONS), "high watermarks");

    flush(&server, &client, FLUSH_TIMEOUT).await;
    check_source_counters(&client, &work, PARTITIONS).await;
    check_views(&client, &work.batches).await;
    let log = server.log();
    assert!(log.contains(RESTORED), "the last server's log:\n{log}");
    check_dead_letters(&client, &work, &delivered).await;
    drop(server);
    let _ = std::fs::remove_file(&script);
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("done in {:?}", started.elapsed());
}
