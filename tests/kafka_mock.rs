//! Kafka in `cargo test`: librdkafka's in-process mock cluster holds a 4-partition topic of
//! seed-shaped JSON events with bad records of every kind among them, and an in-process
//! database reads it through the RisingWave DDL (`connector = 'kafka'`). After FLUSH, the
//! source has ingested exactly the good events, the five website-security views equal the
//! batch oracle, every bad record is in `palisade.dead_letters` at its partition and offset
//! with its reason, and a view created afterwards (which replays the topic) is exact too.
//!
//! The real-broker test, with a broker killed mid-stream, is `e2e_kafka.rs`.

use std::collections::BTreeMap;

use datafusion::arrow::array::RecordBatch;
use palisade_engine::{Database, DatabaseOptions, StatementResult};
use palisade_tests::format::{Cell, rows};
use palisade_tests::kafka_workload::{BAD_KINDS, Delivered, kafka_ddl, produce, workload};
use rdkafka::mocking::MockCluster;

const TOPIC: &str = "website_logs";
const SOURCE: &str = "website_logs_source";
const PARTITIONS: i32 = 4;
/// librdkafka's mock broker keeps 5 MiB per partition: 20 000 events of about 420 bytes
/// fit in four.
const EVENTS: usize = 20_000;
const BAD_RECORDS: usize = 20;

/// What each kind of bad record's error starts with, in [`BAD_KINDS`] order.
const REASONS: [&str; 10] = [
    "not JSON",
    "not JSON",
    "column status_code",
    "column response_time",
    "not a JSON object",
    "not a JSON object",
    "not JSON",
    "column request_timestamp",
    "column status_code",
    "column user_agent",
];

fn sorted(batches: &[RecordBatch]) -> Vec<Vec<Cell>> {
    let mut rows = rows(batches);
    rows.sort_by_cached_key(|r| r.iter().map(Cell::render).collect::<Vec<_>>());
    rows
}

async fn query(db: &Database, sql: &str) -> Vec<Vec<String>> {
    let batches = db
        .query_batches(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows(&batches)
        .iter()
        .map(|r| r.iter().map(Cell::render).collect())
        .collect()
}

/// SHOW SOURCES' row for [`SOURCE`], by column name.
async fn show_source(db: &Database) -> BTreeMap<String, String> {
    let results = db.execute("SHOW SOURCES").await.expect("SHOW SOURCES");
    let Some(StatementResult::Rows { schema, batches }) = results.last() else {
        panic!("SHOW SOURCES returned no rows");
    };
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    rows(batches)
        .into_iter()
        .map(|r| {
            names
                .iter()
                .cloned()
                .zip(r.iter().map(Cell::render))
                .collect::<BTreeMap<_, _>>()
        })
        .find(|r| r.get("name").map(String::as_str) == Some(SOURCE))
        .expect("SHOW SOURCES lists the source")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_source_on_the_mock_cluster_matches_the_oracle() {
    let work = workload(EVENTS, BAD_RECORDS, PARTITIONS);
    let cluster = MockCluster::new(1).expect("a mock cluster");
    cluster
        .create_topic(TOPIC, PARTITIONS, 1)
        .expect("the topic is created");
    let bootstrap = cluster.bootstrap_servers();
    let delivered: Vec<Delivered> =
        tokio::task::block_in_place(|| produce(&bootstrap, TOPIC, &work.messages))
            .unwrap_or_else(|e| panic!("{e}"));

    let db = Database::new(DatabaseOptions {
        record_inputs: true,
        ..DatabaseOptions::default()
    });
    db.execute(&format!(
        "{};\n{}",
        kafka_ddl(TOPIC, &bootstrap),
        palisade_tests::website_security_views()
    ))
    .await
    .expect("the Kafka source and the five views are created");
    db.execute("FLUSH").await.expect("FLUSH");

    // Exactly the good events, each once.
    let ingested = sorted(&db.recorded_inputs(SOURCE));
    let produced = sorted(&work.batches);
    assert_eq!(ingested.len(), EVENTS, "events ingested");
    assert!(
        ingested == produced,
        "the ingested events differ from those produced"
    );
    palisade_tests::oracle::check_all(&db)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let source = show_source(&db).await;
    let expect = |column: &str, value: String| {
        assert_eq!(source.get(column), Some(&value), "{column} in {source:?}")
    };
    expect("connector", "kafka".into());
    expect("rows_ingested", EVENTS.to_string());
    expect("dead_lettered", BAD_RECORDS.to_string());
    expect("coerced", work.coerced.to_string());
    expect("partitions", PARTITIONS.to_string());
    expect("status", "running".into());

    // Every bad record, where it landed, with the reason for its kind.
    let mut expected: Vec<(String, String, String)> = work
        .bad
        .iter()
        .enumerate()
        .map(|(j, &i)| {
            let at = delivered[i];
            let reason = REASONS[j % BAD_KINDS.len()];
            (
                at.partition.to_string(),
                at.offset.to_string(),
                reason.into(),
            )
        })
        .collect();
    expected.sort();
    let mut dead: Vec<(String, String, String)> = query(
        &db,
        "SELECT kafka_partition, kafka_offset, error FROM palisade.dead_letters \
         WHERE source = 'website_logs_source'",
    )
    .await
    .into_iter()
    .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
    .collect();
    dead.sort();
    assert_eq!(dead.len(), expected.len(), "{dead:#?}");
    for (d, e) in dead.iter().zip(&expected) {
        assert_eq!((&d.0, &d.1), (&e.0, &e.1), "dead letter position");
        assert!(
            d.2.starts_with(&e.2),
            "{d:?}: expected a reason starting {:?}",
            e.2
        );
    }

    // Lag is known and nothing is left once FLUSH returned.
    let partitions = query(
        &db,
        "SELECT kafka_partition, next_offset, high_watermark, lag \
         FROM palisade.source_partitions ORDER BY kafka_partition",
    )
    .await;
    let mut ends = vec![0i64; PARTITIONS as usize];
    for d in &delivered {
        ends[d.partition as usize] = ends[d.partition as usize].max(d.offset + 1);
    }
    let expected_partitions: Vec<Vec<String>> = ends
        .iter()
        .enumerate()
        .map(|(p, end)| vec![p.to_string(), end.to_string(), end.to_string(), "0".into()])
        .collect();
    assert_eq!(partitions, expected_partitions);

    // A view created now reads the topic again up to where the others are.
    db.execute(
        "CREATE MATERIALIZED VIEW late_status AS \
         SELECT status_code, COUNT(*) AS requests FROM website_logs_source GROUP BY status_code",
    )
    .await
    .expect("a late view");
    palisade_tests::oracle::check_view(&db, "late_status")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let total = query(&db, "SELECT SUM(requests) FROM late_status").await;
    assert_eq!(total, vec![vec![EVENTS.to_string()]]);

    // A watermarked source over the same topic. Datagen's events are at most 2 s out of
    // order within the stream, and each partition keeps its share in order, but the reader
    // takes partitions in chunks far apart in event time: only a watermark kept per
    // partition declares none of them late.
    let ddl = kafka_ddl(TOPIC, &bootstrap)
        .replace(
            "CREATE SOURCE website_logs_source (",
            "CREATE SOURCE watermarked (",
        )
        .replace(
            "security_level VARCHAR\n)",
            "security_level VARCHAR,\n    WATERMARK FOR request_timestamp AS request_timestamp - INTERVAL '2 SECONDS'\n)",
        );
    assert!(
        ddl.contains("WATERMARK") && ddl.contains("watermarked"),
        "{ddl}"
    );
    db.execute(&format!(
        "{ddl};
         CREATE MATERIALIZED VIEW watermarked_per_minute AS
         SELECT status_code, COUNT(*) AS requests, window_start
         FROM TUMBLE(watermarked, request_timestamp, INTERVAL '1 MINUTE')
         GROUP BY status_code, window_start;
         FLUSH;"
    ))
    .await
    .expect("a watermarked source and a view over it");
    let late = query(
        &db,
        "SELECT COUNT(*) FROM palisade.late_events WHERE source = 'watermarked'",
    )
    .await;
    assert_eq!(late, vec![vec!["0".to_string()]]);
    let total = query(&db, "SELECT SUM(requests) FROM watermarked_per_minute").await;
    assert_eq!(total, vec![vec![EVENTS.to_string()]]);
    palisade_tests::oracle::check_view(&db, "watermarked_per_minute")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The mock broker goes down between two halves of the events and comes back: SHOW SOURCES
/// says the source is reconnecting while it is down, and afterwards every event is in the
/// view exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_loses_and_repeats_nothing() {
    const EVENTS: usize = 4_000;
    let work = workload(EVENTS, 0, PARTITIONS);
    let half = work.messages.len() / 2;
    let cluster = MockCluster::new(1).expect("a mock cluster");
    cluster
        .create_topic(TOPIC, PARTITIONS, 1)
        .expect("the topic is created");
    let bootstrap = cluster.bootstrap_servers();
    tokio::task::block_in_place(|| produce(&bootstrap, TOPIC, &work.messages[..half]))
        .unwrap_or_else(|e| panic!("{e}"));

    let db = Database::new(DatabaseOptions {
        record_inputs: true,
        ..DatabaseOptions::default()
    });
    db.execute(&format!(
        "{};\nCREATE MATERIALIZED VIEW per_status AS \
         SELECT status_code, COUNT(*) AS requests FROM website_logs_source GROUP BY status_code;\n\
         FLUSH",
        kafka_ddl(TOPIC, &bootstrap)
    ))
    .await
    .expect("the source and a view");

    cluster.broker_down(1).expect("the broker goes down");
    let started = std::time::Instant::now();
    loop {
        let status = show_source(&db).await["status"].clone();
        if status.starts_with("reconnecting") {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the outage is not reported: {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    cluster.broker_up(1).expect("the broker comes back");
    tokio::task::block_in_place(|| produce(&bootstrap, TOPIC, &work.messages[half..]))
        .unwrap_or_else(|e| panic!("{e}"));
    db.execute("FLUSH").await.expect("FLUSH after the outage");

    assert_eq!(show_source(&db).await["status"], "running");
    let total = query(&db, "SELECT SUM(requests) FROM per_status").await;
    assert_eq!(total, vec![vec![EVENTS.to_string()]]);
    assert!(
        sorted(&db.recorded_inputs(SOURCE)) == sorted(&work.batches),
        "the ingested events differ from those produced"
    );
    palisade_tests::oracle::check_all(&db)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// FLUSH over a topic with nothing to read is answered before the source first copies the
/// partitions' ends for SHOW SOURCES; the ends FLUSH learnt count, so the lag is known (0)
/// at once, not a second later (seen in e2e_restart after a restart with nothing left).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_is_known_as_soon_as_flush_returns() {
    let cluster = MockCluster::new(1).expect("a mock cluster");
    cluster
        .create_topic(TOPIC, PARTITIONS, 1)
        .expect("the topic is created");
    let db = Database::new(DatabaseOptions::default());
    db.execute(&format!(
        "{};\nCREATE MATERIALIZED VIEW n AS SELECT COUNT(*) AS n FROM {SOURCE}",
        kafka_ddl(TOPIC, &cluster.bootstrap_servers())
    ))
    .await
    .expect("the Kafka source and a view are created");
    db.execute("FLUSH").await.expect("FLUSH");
    let source = show_source(&db).await;
    assert_eq!(
        source.get("lag").map(String::as_str),
        Some("0"),
        "{source:?}"
    );
}
