//! Checks of a running `palisade` server that reads the Kafka workload
//! ([`crate::kafka_workload`]) into the five website-security views: its `SHOW SOURCES`
//! counters, its dead letters, and each view over the wire against the same good events
//! pushed in-process (which the batch oracle checks first). Shared by the end-to-end tests
//! that kill the broker (`e2e_kafka.rs`) and the server (`e2e_restart.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use palisade_engine::{Database, DatabaseOptions};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::events::{SOURCE_DDL, SOURCE_NAME};
use crate::format::{Cell, rows};
use crate::kafka_workload::{Delivered, Workload, kafka_ddl};
use crate::pg_cells::{binary_cell, decodes_binary};
use crate::server_process::ServerProcess;

/// The good events pushed in-process through the same views, checked against the batch
/// oracle: what the server's views must hold.
pub async fn oracle(batches: &[RecordBatch]) -> Database {
    let db = Database::new(DatabaseOptions {
        record_inputs: true,
        ..DatabaseOptions::default()
    });
    // Views first: an embedded source's events reach only the views that exist.
    db.execute(&format!(
        "{SOURCE_DDL};\n{}",
        crate::website_security_views()
    ))
    .await
    .expect("the source and views are created in-process");
    for batch in batches {
        db.push_batch(SOURCE_NAME, batch.clone())
            .expect("the in-process source takes the events");
    }
    crate::oracle::check_all(&db)
        .await
        .unwrap_or_else(|e| panic!("the in-process views differ from batch SQL: {e}"));
    db
}

/// Every view of the server behind `client` against the in-process views fed `batches`
/// (see [`oracle`]), row for row.
///
/// # Panics
/// At the first view that differs, with the first row that does.
pub async fn check_views(client: &Client, batches: &[RecordBatch]) {
    let db = oracle(batches).await;
    for view in db.definitions().await.views {
        let sql = format!("SELECT * FROM \"{}\"", view.name);
        let expected = rows(
            &db.query_batches(&sql)
                .await
                .unwrap_or_else(|e| panic!("in-process {sql}: {e}")),
        );
        assert!(expected.len() > 1, "{}: too few rows to compare", view.name);
        let actual = wire_cells(client, &sql).await;
        eprintln!("view {}: {} rows", view.name, actual.len());
        compare_view(&view.name, view.query.order_by.is_some(), expected, actual);
    }
}

/// `SHOW SOURCES`' row for [`SOURCE_NAME`], by column name, as the server's text.
pub async fn show_source(client: &Client) -> BTreeMap<String, String> {
    let messages = client
        .simple_query("SHOW SOURCES")
        .await
        .unwrap_or_else(|e| panic!("SHOW SOURCES: {}", pg_error(&e)));
    let row = messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) if r.get("name") == Some(SOURCE_NAME) => Some(r),
            _ => None,
        })
        .unwrap_or_else(|| panic!("SHOW SOURCES has no {SOURCE_NAME}: {messages:?}"));
    row.columns()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let value = row.get(i).unwrap_or("NULL");
            (c.name().to_string(), value.to_string())
        })
        .collect()
}

/// Column `column` of a [`show_source`] row as a number.
pub fn number(source: &BTreeMap<String, String>, column: &str) -> i64 {
    let text = source
        .get(column)
        .unwrap_or_else(|| panic!("SHOW SOURCES has no column {column}: {source:?}"));
    text.parse()
        .unwrap_or_else(|_| panic!("SHOW SOURCES {column} = {text:?} is not a number"))
}

/// `FLUSH` on `client`, a connection to `server`: waits until the server has read its
/// sources up to where they ended when it was asked, and prints how long that took.
///
/// # Panics
/// When `FLUSH` fails or takes longer than `within`, with the source's row and the log.
pub async fn flush(server: &ServerProcess, client: &Client, within: Duration) {
    let t = Instant::now();
    match tokio::time::timeout(within, client.simple_query("FLUSH")).await {
        Ok(Ok(_)) => eprintln!("FLUSH took {:?}", t.elapsed()),
        Ok(Err(e)) => panic!("FLUSH: {}\n{}", pg_error(&e), server.log()),
        Err(_) => panic!(
            "FLUSH did not finish within {within:?}: {:?}\n{}",
            show_source(client).await,
            server.log()
        ),
    }
}

/// Checks that the server's Kafka source has read all of `work` from a topic of
/// `partitions` partitions, exactly: every good event ingested once, every bad record
/// dead-lettered once, the coerced values counted, no lag. Returns the `SHOW SOURCES` row.
pub async fn check_source_counters(
    client: &Client,
    work: &Workload,
    partitions: i32,
) -> BTreeMap<String, String> {
    let source = show_source(client).await;
    eprintln!("SHOW SOURCES: {source:?}");
    let events: usize = work.batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(source.get("connector").map(String::as_str), Some("kafka"));
    for (column, expected) in [
        ("rows_ingested", events as i64),
        ("dead_lettered", work.bad.len() as i64),
        ("coerced", work.coerced as i64),
        ("partitions", i64::from(partitions)),
        ("lag", 0),
    ] {
        assert_eq!(number(&source, column), expected, "{column}: {source:?}");
    }
    source
}

/// Checks that `palisade.dead_letters` holds exactly the bad records of `work`, each once,
/// with an error, at the partition and offset the broker gave it (`delivered`, in the order
/// of `work.messages`).
pub async fn check_dead_letters(client: &Client, work: &Workload, delivered: &[Delivered]) {
    let mut expected: Vec<(i32, i64, &str)> = work
        .bad
        .iter()
        .map(|&i| {
            let d = delivered[i];
            (d.partition, d.offset, work.messages[i].payload.as_str())
        })
        .collect();
    expected.sort();
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
            assert_eq!(text(0), SOURCE_NAME);
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
    assert_eq!(dead, expected, "palisade.dead_letters");
}

/// A view's rows over the wire (extended protocol, binary values), as cells.
pub async fn wire_cells(client: &Client, sql: &str) -> Vec<Vec<Cell>> {
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
pub fn compare_view(
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
pub fn pg_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// Writes a server start-up script (`-f`) to a file named for `test` and this process in the
/// system temp dir: the Kafka source reading `topic` from `bootstrap` and the five views.
/// Returns its path.
pub fn kafka_views_script(test: &str, topic: &str, bootstrap: &str) -> PathBuf {
    let sql = format!(
        "{};\n{}",
        kafka_ddl(topic, bootstrap),
        crate::website_security_views()
    );
    let path = std::env::temp_dir().join(format!("palisade-{test}-{}.sql", std::process::id()));
    std::fs::write(&path, sql).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}
