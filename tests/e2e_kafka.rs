//! End to end through a real broker: the `palisade` binary reads a 4-partition Kafka topic on
//! Tansu (`connector = 'kafka'`, the RisingWave DDL) into the five website-security views,
//! while the broker is killed with SIGKILL mid-stream and restarted. Everything is exact:
//! every good event counted once, every bad record dead-lettered at the partition and offset
//! the broker gave it, one log line for the loss and one for the reconnect, and each view
//! equal, row for row, to the same events pushed in-process (which the batch oracle checks).
//!
//! Needs Tansu (`bash .ci/run` installs it; `PALISADE_TANSU` points elsewhere). Without it the
//! test prints that it is skipped and passes, except under CI, where it fails.

use std::time::{Duration, Instant};

use palisade_tests::broker::{Broker, tansu_binary};
use palisade_tests::kafka_workload::{PARTITIONS, TOPIC, ends, workload};
use palisade_tests::server_process::ServerProcess;
use palisade_tests::view_check::{
    check_dead_letters, check_source_counters, check_views, flush, kafka_views_script, number,
    show_source,
};

/// Good events produced. Tansu's debug build takes about 11 k of these 400-byte messages a
/// second; the whole test takes about 45 s.
const EVENTS: usize = 100_000;
/// Bad records produced among them: 3 of each of [`BAD_KINDS`].
const BAD_RECORDS: usize = 30;
/// How long the broker stays dead at least.
const OUTAGE: Duration = Duration::from_secs(2);
/// How long the server may take to log the broker's loss.
const LOSS_NOTICED_WITHIN: Duration = Duration::from_secs(30);
/// The server's log lines (one each) for a source's broker going away and coming back.
const LOST: &str = "lost its Kafka broker";
const RECONNECTED: &str = "reconnected to its Kafka broker";
/// How long `FLUSH` may take to deliver everything after the restart.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread")]
async fn kafka_source_survives_a_broker_kill_and_matches_the_oracle() {
    let Some(tansu) = tansu_binary() else {
        return;
    };
    let started = Instant::now();
    let work = workload(EVENTS, BAD_RECORDS, PARTITIONS);
    let bytes: usize = work.messages.iter().map(|m| m.payload.len()).sum();
    eprintln!(
        "{} messages ({} bad, {} values coerced), {} bytes on average, made in {:?}",
        work.messages.len(),
        work.bad.len(),
        work.coerced,
        bytes / work.messages.len(),
        started.elapsed()
    );

    let mut broker = tokio::task::block_in_place(|| {
        let t = Instant::now();
        let broker = Broker::start(&tansu);
        eprintln!("tansu on {} ready in {:?}", broker.bootstrap(), t.elapsed());
        broker.create_topic(TOPIC, PARTITIONS);
        broker
    });

    // The first half, all acknowledged, before the server starts: it then has a backlog to
    // read when the broker dies, and reads the second half live.
    let half = work.messages.len() / 2;
    let (first, second) = work.messages.split_at(half);
    let t = Instant::now();
    let mut delivered = tokio::task::block_in_place(|| broker.produce(TOPIC, first));
    eprintln!(
        "produced {} messages in {:?} ({:.0}/s); high watermarks {:?}",
        first.len(),
        t.elapsed(),
        first.len() as f64 / t.elapsed().as_secs_f64(),
        ends(&delivered, PARTITIONS)
    );

    let script = kafka_views_script("e2e-kafka", TOPIC, &broker.bootstrap());
    let server = ServerProcess::builder()
        .script(&script)
        .env("RUST_LOG", "info")
        .start()
        .await;
    let _ = std::fs::remove_file(&script);
    let client = server
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connecting: {e}\n{}", server.log()));

    // Kill the broker as soon as the server has read something: mid-backlog.
    let t = Instant::now();
    loop {
        let ingested = number(&show_source(&client).await, "rows_ingested");
        if ingested > 0 {
            eprintln!(
                "rows_ingested {ingested} after {:?}: killing the broker",
                t.elapsed()
            );
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "nothing ingested 60 s after the server started: {:?}\n{}",
            show_source(&client).await,
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::task::block_in_place(|| broker.kill9());
    let killed = Instant::now();
    tokio::time::sleep(OUTAGE).await;
    eprintln!(
        "while the broker was down: {:?}",
        show_source(&client).await
    );
    // The broker stays down until the server has noticed (it may first drain what librdkafka
    // had fetched), so the loss line is due whatever the timing.
    while !server.log().contains(LOST) {
        assert!(
            killed.elapsed() < LOSS_NOTICED_WITHIN,
            "the server did not log {LOST:?} within {LOSS_NOTICED_WITHIN:?} of the broker's \
             death: {:?}\n{}",
            show_source(&client).await,
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "the loss was logged; restarting the broker {:?} after the kill",
        killed.elapsed()
    );
    tokio::task::block_in_place(|| {
        let t = Instant::now();
        broker.restart();
        eprintln!("tansu restarted, ready in {:?}", t.elapsed());
        // What FLUSH will wait for: the broker must still know every acknowledged message.
        assert_eq!(
            broker.high_watermarks(TOPIC, PARTITIONS),
            ends(&delivered, PARTITIONS),
            "the restarted broker's high watermarks differ from the acknowledged offsets"
        );
    });

    // The second half, with a new producer; nothing acknowledged is ever sent again.
    let t = Instant::now();
    delivered.extend(tokio::task::block_in_place(|| {
        broker.produce(TOPIC, second)
    }));
    eprintln!(
        "produced {} messages in {:?}; high watermarks {:?}",
        second.len(),
        t.elapsed(),
        ends(&delivered, PARTITIONS)
    );
    let watermarks = tokio::task::block_in_place(|| broker.high_watermarks(TOPIC, PARTITIONS));
    assert_eq!(
        watermarks,
        ends(&delivered, PARTITIONS),
        "high watermarks after producing"
    );

    flush(&server, &client, FLUSH_TIMEOUT).await;

    check_source_counters(&client, &work, PARTITIONS).await;
    check_dead_letters(&client, &work, &delivered).await;

    // One line for the loss, one for the reconnect.
    let log = server.log();
    for needle in [LOST, RECONNECTED] {
        let found: Vec<&str> = log.lines().filter(|l| l.contains(needle)).collect();
        assert_eq!(
            found.len(),
            1,
            "log lines with {needle:?}: {found:#?}\n{log}"
        );
    }

    check_views(&client, &work.batches).await;
    eprintln!("done in {:?}", started.elapsed());
}
