//! End to end through a real broker: the `palisade` binary reads a 4-partition Kafka topic on
//! Tansu (`connector = 'kafka'`, the RisingWave DDL) into the five website-security views,
//! while the broker is killed with SIGKILL mid-stream and restarted. Everything is exact:
//! every good event counted once, every bad record dead-lettered at the partition and offset
//! the broker gave it, one log line for the loss and one for the reconnect, and each view
//! equal, row for row, to the same events pushed in-process (which the batch oracle checks).
//!
//! Needs Tansu (`bash .ci/run` installs it; `PALISADE_TANSU` points elsewhere). Without it the
//! test prints that it is skipped and passes, except under CI, where it fails.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use palisade_engine::{Database, DatabaseOptions};
use palisade_tests::broker::{Broker, tansu_binary};
use palisade_tests::events::SOURCE_DDL;
use palisade_tests::format::{Cell, rows};
use palisade_tests::kafka_workload::{ends, kafka_ddl, workload};
use palisade_tests::pg_cells::{binary_cell, decodes_binary};
use palisade_tests::server_process::ServerProcess;
use tokio_postgres::{Client, SimpleQueryMessage};

const TOPIC: &str = "website_logs";
const SOURCE: &str = "website_logs_source";
const PARTITIONS: i32 = 4;
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

/// The good events pushed in-process through the same views, checked against the batch
/// oracle: what the server's views must hold.
async fn oracle(batches: &[RecordBatch]) -> Database {
    let db = Database::new(DatabaseOptions {
        record_inputs: true,
        ..DatabaseOptions::default()
    });
    // Views first: an embedded source's events reach only the views that exist.
    db.execute(&format!(
        "{SOURCE_DDL};\n{}",
        palisade_tests::website_security_views()
    ))
    .await
    .expect("the source and views are created in-process");
    for batch in batches {
        db.push_batch(SOURCE, batch.clone())
            .expect("the in-process source takes the events");
    }
    palisade_tests::oracle::check_all(&db)
        .await
        .unwrap_or_else(|e| panic!("the in-process views differ from batch SQL: {e}"));
    db
}

/// `SHOW SOURCES`' row for [`SOURCE`], by column name, as the server's text.
async fn show_source(client: &Client) -> BTreeMap<String, String> {
    let messages = client
        .simple_query("SHOW SOURCES")
        .await
        .unwrap_or_else(|e| panic!("SHOW SOURCES: {}", pg_error(&e)));
    let row = messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) if r.get("name") == Some(SOURCE) => Some(r),
            _ => None,
        })
        .unwrap_or_else(|| panic!("SHOW SOURCES has no {SOURCE}: {messages:?}"));
    row.columns()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let value = row.get(i).unwrap_or("NULL");
            (c.name().to_string(), value.to_string())
        })
        .collect()
}

fn number(source: &BTreeMap<String, String>, column: &str) -> i64 {
    let text = source
        .get(column)
        .unwrap_or_else(|| panic!("SHOW SOURCES has no column {column}: {source:?}"));
    text.parse()
        .unwrap_or_else(|_| panic!("SHOW SOURCES {column} = {text:?} is not a number"))
}

/// A view's rows over the wire (extended protocol, binary values), as cells.
async fn wire_cells(client: &Client, sql: &str) -> Vec<Vec<Cell>> {
    let rows = client
        .query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {}", pg_error(&e)));
    rows.iter()
        .map(|row| {
            (0..row.len())
                .map(|i| {
                    let ty = row.columns()[i].type_();
                    assert!(decodes_binary(ty), "{sql}: column {i} has type {ty}");
                    binary_cell(row, i).unwrap_or_else(|e| panic!("{sql}: column {i}: {e}"))
                })
                .collect()
        })
        .collect()
}

fn render(row: &[Cell]) -> String {
    row.iter().map(Cell::render).collect::<Vec<_>>().join(" | ")
}

/// The server's rows of `view` against the in-process rows: equal in order when the view has
/// ORDER BY, else as multisets; floats within 1e-9 relative.
fn compare_view(
    view: &str,
    ordered: bool,
    mut expected: Vec<Vec<Cell>>,
    mut actual: Vec<Vec<Cell>>,
) {
    if !ordered {
        expected.sort_by_cached_key(|r| render(r));
        actual.sort_by_cached_key(|r| render(r));
    }
    if let Some(i) = (0..expected.len().min(actual.len())).find(|&i| expected[i] != actual[i]) {
        panic!(
            "view {view}: row {i} differs (of {} rows on the server, {} in-process)\n  \
             in-process: {}\n  server:     {}",
            actual.len(),
            expected.len(),
            render(&expected[i]),
            render(&actual[i])
        );
    }
    assert_eq!(
        actual.len(),
        expected.len(),
        "view {view}: the server has {} rows, in-process {}; first extra: {}",
        actual.len(),
        expected.len(),
        render(
            expected
                .get(actual.len())
                .or(actual.get(expected.len()))
                .expect("one side is longer")
        )
    );
}

/// A client error with the server's message and SQLSTATE, which `Display` leaves out.
fn pg_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
        None => e.to_string(),
    }
}

fn script_file(sql: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("palisade-e2e-kafka-{}.sql", std::process::id()));
    std::fs::write(&path, sql).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

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

    let script = script_file(&format!(
        "{};\n{}",
        kafka_ddl(TOPIC, &broker.bootstrap()),
        palisade_tests::website_security_views()
    ));
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

    let t = Instant::now();
    match tokio::time::timeout(FLUSH_TIMEOUT, client.simple_query("FLUSH")).await {
        Ok(Ok(_)) => eprintln!("FLUSH took {:?}", t.elapsed()),
        Ok(Err(e)) => panic!("FLUSH: {}\n{}", pg_error(&e), server.log()),
        Err(_) => panic!(
            "FLUSH did not finish within {FLUSH_TIMEOUT:?}: {:?}\n{}",
            show_source(&client).await,
            server.log()
        ),
    }

    // Counters.
    let source = show_source(&client).await;
    eprintln!("SHOW SOURCES after FLUSH: {source:?}");
    assert_eq!(source.get("connector").map(String::as_str), Some("kafka"));
    assert_eq!(
        number(&source, "rows_ingested"),
        EVENTS as i64,
        "{source:?}"
    );
    assert_eq!(
        number(&source, "dead_lettered"),
        BAD_RECORDS as i64,
        "{source:?}"
    );
    assert_eq!(
        number(&source, "coerced"),
        work.coerced as i64,
        "{source:?}"
    );
    assert_eq!(
        number(&source, "partitions"),
        i64::from(PARTITIONS),
        "{source:?}"
    );
    assert_eq!(number(&source, "lag"), 0, "{source:?}");

    // Dead letters: exactly the bad records, where the broker put them.
    let mut expected_dead: Vec<(i32, i64, &str)> = work
        .bad
        .iter()
        .map(|&i| {
            let d = delivered[i];
            (d.partition, d.offset, work.messages[i].payload.as_str())
        })
        .collect();
    expected_dead.sort();
    let messages = client
        .simple_query(
            "SELECT source, kafka_partition, kafka_offset, error, payload FROM palisade.dead_letters",
        )
        .await
        .unwrap_or_else(|e| panic!("palisade.dead_letters: {}", pg_error(&e)));
    let mut dead: Vec<(i32, i64, String)> = messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .map(|r| {
            let text = |i: usize| r.get(i).unwrap_or("NULL").to_string();
            assert_eq!(text(0), SOURCE);
            let error = text(3);
            assert!(
                !error.is_empty() && error != "NULL",
                "dead letter without an error: {:?}",
                (text(1), text(2), text(4))
            );
            let partition = text(1).parse().expect("kafka_partition is a number");
            let offset = text(2).parse().expect("kafka_offset is a number");
            eprintln!("dead letter {partition}/{offset}: {error}");
            (partition, offset, text(4))
        })
        .collect();
    dead.sort();
    let dead: Vec<(i32, i64, &str)> = dead.iter().map(|(p, o, s)| (*p, *o, s.as_str())).collect();
    assert_eq!(dead, expected_dead, "palisade.dead_letters");

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

    // Every view, row for row.
    let db = oracle(&work.batches).await;
    for view in db.definitions().await.views {
        let sql = format!("SELECT * FROM \"{}\"", view.name);
        let expected = rows(
            &db.query_batches(&sql)
                .await
                .unwrap_or_else(|e| panic!("in-process {sql}: {e}")),
        );
        assert!(expected.len() > 1, "{}: too few rows to compare", view.name);
        let actual = wire_cells(&client, &sql).await;
        eprintln!("view {}: {} rows", view.name, actual.len());
        compare_view(&view.name, view.query.order_by.is_some(), expected, actual);
    }
    eprintln!("done in {:?}", started.elapsed());
}
