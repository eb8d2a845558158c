//! End to end: the real `palisade` binary on a local port, driven the way users drive it —
//! tokio-postgres over the simple and the extended protocol, and psql — with exact expected
//! values. Each test starts its own server, so tests share no state and can run in parallel.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveDateTime};
use palisade_engine::{Database, DatabaseOptions};
use palisade_tests::format::rendered;
use palisade_tests::pg_cells::rendered_binary;
use palisade_tests::server_process::ServerProcess;
use tokio_postgres::error::{ErrorPosition, SqlState};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// The script `palisade serve -f` runs: a bounded datagen source of 5000 events and views.
fn datagen_script() -> PathBuf {
    palisade_tests::tests_dir().join("sql/e2e_datagen.sql")
}

/// Events of the datagen script (`datagen.rows.total`).
const DATAGEN_EVENTS: i64 = 5000;

/// An embedded source and two views over it, created before any event arrives (an embedded
/// source's events reach only the views that exist when they arrive).
const LOGS_SCHEMA: &str = "
CREATE SOURCE logs (ts TIMESTAMP, ip VARCHAR, status INT, rt DOUBLE PRECISION, ok BOOLEAN)
WITH (connector = 'embedded');
CREATE MATERIALIZED VIEW by_ip AS
SELECT ip, COUNT(*) AS n, SUM(rt) AS total_rt, MAX(ts) AS last_seen FROM logs GROUP BY ip;
CREATE MATERIALIZED VIEW recent AS SELECT * FROM logs;";

/// Four events for [`LOGS_SCHEMA`]: a fractional timestamp, a float whose shortest text is
/// exponential, and a row of NULLs.
const LOGS_EVENTS: &str = "INSERT INTO logs VALUES
('2024-01-25 12:30:00', '10.0.0.1', 200, 0.1, true),
('2024-01-25 12:30:00.25', '10.0.0.2', 500, 2.5, false),
('2024-01-25 12:31:00', '10.0.0.2', 404, 1e20, true),
('2024-01-25 12:32:00', NULL, NULL, NULL, NULL)";

/// A server that ran the datagen script, with every event delivered to every view.
async fn serve_datagen() -> ServerProcess {
    let server = ServerProcess::builder()
        .script(datagen_script())
        .start()
        .await;
    connect(&server)
        .await
        .simple_query("FLUSH")
        .await
        .expect("FLUSH");
    server
}

async fn connect(server: &ServerProcess) -> Client {
    server
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connecting to the server: {e}\n{}", server.log()))
}

/// A server with [`LOGS_SCHEMA`] and [`LOGS_EVENTS`] in it, and a client.
async fn serve_logs() -> (ServerProcess, Client) {
    let server = ServerProcess::builder().start().await;
    let client = connect(&server).await;
    client
        .batch_execute(&format!("{LOGS_SCHEMA}; {LOGS_EVENTS}; FLUSH"))
        .await
        .expect("the logs schema and events are accepted");
    (server, client)
}

/// The datagen script run in-process: what the server must answer, row for row.
async fn datagen_in_process() -> Database {
    let db = Database::new(DatabaseOptions::default());
    let script = std::fs::read_to_string(datagen_script()).expect("the script is readable");
    db.execute(&script)
        .await
        .expect("the script runs in-process");
    db.execute("FLUSH").await.expect("FLUSH in-process");
    db
}

async fn in_process_rows(db: &Database, sql: &str) -> Vec<Vec<String>> {
    let batches = db
        .query_batches(sql)
        .await
        .unwrap_or_else(|e| panic!("in-process {sql}: {e}"));
    rendered(&batches)
}

/// `sql` over the extended protocol (binary results), rendered as the slt files render
/// (`format::TIMESTAMP_FORMAT`: a quarter second is `.250`).
async fn wire_rows(client: &Client, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Vec<Vec<String>> {
    let rows = client
        .query(sql, params)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rendered_binary(&rows).unwrap_or_else(|e| panic!("decoding {sql}: {e}"))
}

/// `sql` over the simple protocol, its messages as lines to compare whole: which statements
/// completed, with how many rows, and every value as the server's text.
async fn simple(client: &Client, sql: &str) -> Vec<String> {
    let messages = client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql:?}: {e}"));
    messages
        .iter()
        .map(|m| match m {
            SimpleQueryMessage::RowDescription(columns) => format!(
                "columns {}",
                columns
                    .iter()
                    .map(|c| c.name())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            SimpleQueryMessage::Row(row) => format!(
                "row {}",
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or("NULL"))
                    .collect::<Vec<_>>()
                    .join("|")
            ),
            SimpleQueryMessage::CommandComplete(n) => format!("complete {n}"),
            other => format!("unexpected {other:?}"),
        })
        .collect()
}

fn lines(expected: &[&str]) -> Vec<String> {
    expected.iter().map(|s| s.to_string()).collect()
}

fn table(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect()
}

fn timestamp(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn script_given_with_dash_f_is_served_exactly() {
    let server = serve_datagen().await;
    let client = connect(&server).await;

    // Every event counted once, in each view.
    for sql in [
        "SELECT SUM(requests) AS total FROM status_mix",
        "SELECT SUM(requests) AS total FROM per_minute",
    ] {
        let row = client
            .query_one(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(row.get::<_, i64>("total"), DATAGEN_EVENTS, "{sql}");
    }

    // Every row equals the engine's own answer for the same script.
    let db = datagen_in_process().await;
    for sql in [
        "SELECT * FROM status_mix ORDER BY status_code",
        "SELECT * FROM per_minute ORDER BY window_start",
    ] {
        let expected = in_process_rows(&db, sql).await;
        assert!(expected.len() > 1, "{sql}: too few rows to compare");
        assert_eq!(wire_rows(&client, sql, &[]).await, expected, "{sql}");
    }

    assert_eq!(
        simple(&client, "SHOW SOURCES").await,
        lines(&[
            "columns name,connector,columns,rows_ingested,dead_lettered,coerced,late,partitions,lag,watermark,status",
            "row web|datagen|request_timestamp, status_code, http_method, response_time, username|5000|0|0|0|NULL|NULL|NULL|finished",
            "complete 1",
        ])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn simple_protocol_answers_each_statement_of_a_batch() {
    let server = ServerProcess::builder().start().await;
    let client = connect(&server).await;
    let batch = format!(
        "{LOGS_SCHEMA};
         {LOGS_EVENTS};
         FLUSH;
         SELECT ip, n, total_rt, last_seen FROM by_ip ORDER BY ip;
         SELECT ts, ip, rt, ok FROM recent ORDER BY ts"
    );
    // Text values as PostgreSQL writes them: shortest floats, `t`/`f`, microseconds only
    // when non-zero.
    assert_eq!(
        simple(&client, &batch).await,
        lines(&[
            "complete 0",
            "complete 0",
            "complete 0",
            // `INSERT 0 4`: clients read the row count from the tag.
            "complete 4",
            "complete 0",
            "columns ip,n,total_rt,last_seen",
            "row 10.0.0.1|1|0.1|2024-01-25 12:30:00",
            "row 10.0.0.2|2|1e+20|2024-01-25 12:31:00",
            "row NULL|1|NULL|2024-01-25 12:32:00",
            "complete 3",
            "columns ts,ip,rt,ok",
            "row 2024-01-25 12:30:00|10.0.0.1|0.1|t",
            "row 2024-01-25 12:30:00.25|10.0.0.2|2.5|f",
            "row 2024-01-25 12:31:00|10.0.0.2|1e+20|t",
            "row 2024-01-25 12:32:00|NULL|NULL|NULL",
            "complete 4",
        ])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn extended_protocol_binds_text_int_and_timestamp_parameters() {
    let (_server, client) = serve_logs().await;

    let by_ip = "SELECT ts, status FROM recent WHERE ip = $1 ORDER BY ts";
    assert_eq!(
        wire_rows(&client, by_ip, &[&"10.0.0.2"]).await,
        table(&[
            &["2024-01-25 12:30:00.250", "500"],
            &["2024-01-25 12:31:00", "404"],
        ])
    );

    let by_status = "SELECT ts, ip FROM recent WHERE status = $1";
    let statement = client.prepare(by_status).await.expect("prepare");
    assert_eq!(statement.params(), &[Type::INT4]);
    assert_eq!(
        wire_rows(&client, by_status, &[&404i32]).await,
        table(&[&["2024-01-25 12:31:00", "10.0.0.2"]])
    );

    let since = "SELECT ip, status FROM recent WHERE ts >= $1 ORDER BY ts";
    let statement = client.prepare(since).await.expect("prepare");
    assert_eq!(statement.params(), &[Type::TIMESTAMP]);
    assert_eq!(
        wire_rows(&client, since, &[&timestamp("2024-01-25 12:30:00.25")]).await,
        table(&[
            &["10.0.0.2", "500"],
            &["10.0.0.2", "404"],
            &["NULL", "NULL"],
        ])
    );

    // Two parameters, and one statement executed twice with different values.
    let both = client
        .prepare("SELECT ts FROM recent WHERE ip = $1 AND status < $2 ORDER BY ts")
        .await
        .expect("prepare");
    for (limit, expected) in [
        (450i32, vec![vec!["2024-01-25 12:31:00".to_string()]]),
        (
            600,
            table(&[&["2024-01-25 12:30:00.250"], &["2024-01-25 12:31:00"]]),
        ),
    ] {
        let rows = client
            .query(&both, &[&"10.0.0.2", &limit])
            .await
            .expect("execute");
        assert_eq!(
            rendered_binary(&rows).expect("decode"),
            expected,
            "< {limit}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn binary_results_decode_to_exact_values() {
    let (_server, client) = serve_logs().await;

    let rows = client
        .query(
            "SELECT ip, n, total_rt, last_seen FROM by_ip ORDER BY ip",
            &[],
        )
        .await
        .expect("query");
    let types: Vec<_> = rows[0]
        .columns()
        .iter()
        .map(|c| c.type_().clone())
        .collect();
    assert_eq!(types[1..], [Type::INT8, Type::FLOAT8, Type::TIMESTAMP]);
    let values: Vec<(Option<String>, i64, Option<f64>, NaiveDateTime)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        values,
        [
            (
                Some("10.0.0.1".to_string()),
                1,
                Some(0.1),
                timestamp("2024-01-25 12:30:00")
            ),
            (
                Some("10.0.0.2".to_string()),
                2,
                Some(2.5 + 1e20),
                timestamp("2024-01-25 12:31:00")
            ),
            (None, 1, None, timestamp("2024-01-25 12:32:00")),
        ]
    );

    let rows = client
        .query("SELECT ts, status, ok FROM recent ORDER BY ts", &[])
        .await
        .expect("query");
    let values: Vec<(NaiveDateTime, Option<i32>, Option<bool>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let quarter_past = NaiveDate::from_ymd_opt(2024, 1, 25)
        .and_then(|d| d.and_hms_milli_opt(12, 30, 0, 250))
        .expect("a valid timestamp");
    assert_eq!(
        values,
        [
            (timestamp("2024-01-25 12:30:00"), Some(200), Some(true)),
            (quarter_past, Some(500), Some(false)),
            (timestamp("2024-01-25 12:31:00"), Some(404), Some(true)),
            (timestamp("2024-01-25 12:32:00"), None, None),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_queries_return_nothing_and_no_error() {
    let server = ServerProcess::builder().start().await;
    let client = connect(&server).await;
    for sql in [";", "-- ping", "", " ;; "] {
        // PostgreSQL answers EmptyQueryResponse, which tokio-postgres reports as a
        // completion of no rows.
        assert_eq!(
            simple(&client, sql).await,
            lines(&["complete 0"]),
            "{sql:?}"
        );
        let rows = client
            .query(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("extended {sql:?}: {e}"));
        assert!(rows.is_empty(), "{sql:?}");
    }
    let one = client
        .query_one("SELECT 1 AS one", &[])
        .await
        .expect("SELECT 1");
    assert_eq!(one.get::<_, i64>("one"), 1);
}

/// An error the server must report: its SQLSTATE, the engine's message and the position.
struct ExpectedError {
    sql: &'static str,
    code: SqlState,
    message: &'static str,
    /// PostgreSQL's 1-based character position in the query string.
    position: Option<u32>,
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_sql_gets_its_sqlstate_and_position_and_the_connection_goes_on() {
    let (_server, client) = serve_logs().await;
    let cases = [
        ExpectedError {
            sql: "SELECT * FROM;",
            code: SqlState::SYNTAX_ERROR,
            message: "syntax error at line 1, column 14: Expected: identifier, found: ;",
            position: Some(14),
        },
        ExpectedError {
            sql: "CREATE MATERIALIZED VIEW v AS SELECT * FROM nope",
            code: SqlState::UNDEFINED_TABLE,
            message: "relation \"nope\" does not exist (at line 1, column 45)",
            position: Some(45),
        },
        // Line 2: the position counts the characters of line 1 and its newline.
        ExpectedError {
            sql: "SELECT ip\nFROM nope",
            code: SqlState::UNDEFINED_TABLE,
            message: "relation \"nope\" does not exist (at line 2, column 6)",
            position: Some(16),
        },
        ExpectedError {
            sql: "CREATE MATERIALIZED VIEW v AS SELECT ipx FROM logs",
            code: SqlState::UNDEFINED_COLUMN,
            message: "column \"ipx\" does not exist (at line 1, column 38)",
            position: Some(38),
        },
        ExpectedError {
            sql: "CREATE MATERIALIZED VIEW v AS SELECT no_such_fn(ip) FROM logs",
            code: SqlState::UNDEFINED_FUNCTION,
            message: "function no_such_fn() does not exist (did you mean to_char?) \
                      (at line 1, column 38)",
            position: Some(38),
        },
        ExpectedError {
            sql: "CREATE TABLE t (a INT)",
            code: SqlState::FEATURE_NOT_SUPPORTED,
            message: "CREATE TABLE is not supported (at line 1, column 1)",
            position: Some(1),
        },
        // Errors of running a statement rather than planning it are placed at its start.
        ExpectedError {
            sql: "CREATE SOURCE logs (ts TIMESTAMP) WITH (connector = 'embedded')",
            code: SqlState::DUPLICATE_TABLE,
            message: "source \"logs\" already exists (at line 1, column 1)",
            position: Some(1),
        },
        ExpectedError {
            sql: "DROP SOURCE logs",
            code: SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
            message: "cannot drop source \"logs\": materialized view \"by_ip\" depends on it (at line 1, column 1)",
            position: Some(1),
        },
        ExpectedError {
            sql: "SELECT status / 0 FROM recent",
            code: SqlState::DIVISION_BY_ZERO,
            message: "data error: Divide by zero error",
            position: None,
        },
        ExpectedError {
            sql: "SELECT CAST(ip AS INT) FROM recent",
            code: SqlState::INVALID_TEXT_REPRESENTATION,
            message: "data error: Cast error: Cannot cast string '10.0.0.1' to value of Int32 type",
            position: None,
        },
        ExpectedError {
            sql: "SELECT ipx FROM recent",
            code: SqlState::UNDEFINED_COLUMN,
            message: "column \"ipx\" does not exist (at line 1, column 8)",
            position: Some(8),
        },
        // The second statement of a batch fails: the position is in the whole string.
        ExpectedError {
            sql: "FLUSH; SELECT nope FROM recent",
            code: SqlState::UNDEFINED_COLUMN,
            message: "column \"nope\" does not exist (at line 1, column 15)",
            position: Some(15),
        },
    ];
    // Every case over both protocols (a batch of several statements cannot be prepared, so
    // those only over the simple one); all mismatches are reported together.
    let mut mismatches = Vec::new();
    for case in &cases {
        for protocol in [Protocol::Simple, Protocol::Extended] {
            let batch = case.sql.trim_end().trim_end_matches(';').contains(';');
            if protocol == Protocol::Extended && batch {
                continue;
            }
            let result = match protocol {
                Protocol::Simple => client.simple_query(case.sql).await.map(drop),
                Protocol::Extended => client.query(case.sql, &[]).await.map(drop),
            };
            let actual = match result {
                Ok(()) => "no error".to_string(),
                Err(e) => match e.as_db_error() {
                    Some(db) => {
                        format!("{} {} {:?}", db.code().code(), db.message(), db.position())
                    }
                    None => format!("client error: {e}"),
                },
            };
            let expected = format!(
                "{} {} {:?}",
                case.code.code(),
                case.message,
                case.position.map(ErrorPosition::Original)
            );
            if actual != expected {
                mismatches.push(format!(
                    "{protocol:?} {}\n  expected {expected}\n  actual   {actual}",
                    case.sql
                ));
            }
            // The connection is still good for the next statement.
            let row = client
                .query_one("SELECT COUNT(*) AS n FROM recent", &[])
                .await
                .unwrap_or_else(|e| panic!("after {protocol:?} {}: {e}", case.sql));
            assert_eq!(row.get::<_, i64>("n"), 4, "after {protocol:?} {}", case.sql);
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Protocol {
    Simple,
    Extended,
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_clients_all_get_exact_answers() {
    let server = serve_datagen().await;
    let db = datagen_in_process().await;
    let expected = in_process_rows(
        &db,
        "SELECT status_code, requests FROM status_mix ORDER BY status_code",
    )
    .await;
    let statuses: Vec<i32> = expected
        .iter()
        .map(|r| r[0].parse().expect("status codes are integers"))
        .collect();

    const CLIENTS: usize = 8;
    const ROUNDS: usize = 10;
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let client = connect(&server).await;
        let (expected, statuses) = (expected.clone(), statuses.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..ROUNDS {
                // Each client asks for a different status each round, by parameter...
                let i = (c + round) % statuses.len();
                let rows = wire_rows(
                    &client,
                    "SELECT status_code, requests FROM status_mix WHERE status_code = $1",
                    &[&statuses[i]],
                )
                .await;
                assert_eq!(rows, [expected[i].clone()], "client {c} round {round}");
                // ...and for the total over the simple protocol.
                assert_eq!(
                    simple(&client, "SELECT SUM(requests) AS total FROM status_mix").await,
                    lines(&["columns total", "row 5000", "complete 1"]),
                    "client {c} round {round}"
                );
            }
        }));
    }
    for task in tasks {
        task.await.expect("every client gets exact answers");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_request_stops_a_slow_query() {
    let server = ServerProcess::builder().start().await;
    let client = connect(&server).await;
    let cancel = client.cancel_token();
    let started = Instant::now();
    let slow = tokio::spawn(async move {
        let result = client.query(SLOW_QUERY, &[]).await;
        (client, result)
    });
    // A cancel that arrives before the query runs cancels nothing (as in PostgreSQL), so
    // it is repeated until the query ends.
    while !slow.is_finished() && started.elapsed() < CANCEL_DEADLINE {
        tokio::time::sleep(Duration::from_millis(500)).await;
        cancel
            .cancel_query(NoTls)
            .await
            .expect("the cancel request is delivered");
    }
    let (client, result) = tokio::time::timeout(Duration::from_secs(5), slow)
        .await
        .unwrap_or_else(|_| panic!("the slow query was not cancelled within {CANCEL_DEADLINE:?}"))
        .expect("the query task does not panic");
    let error = result.expect_err("a cancelled query fails");
    let db = error.as_db_error().expect("a server error");
    assert_eq!(db.code(), &SqlState::QUERY_CANCELED, "{}", db.message());
    assert!(
        started.elapsed() < CANCEL_DEADLINE,
        "cancelled only after {:?}",
        started.elapsed()
    );
    // The connection is usable afterwards.
    let one = client
        .query_one("SELECT 1 AS one", &[])
        .await
        .expect("the connection goes on after a cancel");
    assert_eq!(one.get::<_, i64>("one"), 1);
}

/// A query that runs far longer than [`CANCEL_DEADLINE`] unless cancelled: 10^12 rows from
/// a scan, which yields between batches, so the cancelled work stops too (a cross join
/// would answer the cancel but compute on until its next yield).
const SLOW_QUERY: &str = "SELECT MAX(value) FROM generate_series(1, 1000000000000)";

/// How long a cancelled query may take to end.
const CANCEL_DEADLINE: Duration = Duration::from_secs(20);

/// psql's output for `args`, or `None` (with a notice) when psql is not installed outside CI.
fn psql(server: &ServerProcess, args: &[&str]) -> Option<std::process::Output> {
    let port = server.port().to_string();
    let output = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-d",
            "dev",
            "-U",
            "root",
            "-X",
            "-A",
            "-t",
        ])
        .args(args)
        .env("PGCONNECT_TIMEOUT", "10")
        .output();
    match output {
        Ok(output) => Some(output),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && std::env::var_os("CI").is_none() => {
            eprintln!("skipped: psql is not installed");
            None
        }
        Err(e) => panic!("running psql: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn psql_prints_exact_rows() {
    let server = serve_datagen().await;
    let sql = "SELECT status_code, requests FROM status_mix ORDER BY status_code";
    let expected: String = in_process_rows(&datagen_in_process().await, sql)
        .await
        .iter()
        .map(|r| format!("{}\n", r.join("|")))
        .collect();
    let Some(output) = tokio::task::block_in_place(|| psql(&server, &["-c", sql])) else {
        return;
    };
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    assert!(output.status.success(), "{:?}", output.status);
    assert_eq!(String::from_utf8_lossy(&output.stdout), expected);

    let typed = "SELECT 0.1::DOUBLE PRECISION, TIMESTAMP '2024-01-25 12:30:00.5', true, 'x'";
    let output = tokio::task::block_in_place(|| psql(&server, &["-c", typed]))
        .expect("psql was found a moment ago");
    assert!(output.status.success(), "{:?}", output.status);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "0.1|2024-01-25 12:30:00.5|t|x\n"
    );
}

/// `--test-clock` gives the binary a clock only ADVANCE CLOCK moves, so a window closes
/// exactly when a test says; without it ADVANCE CLOCK is refused and the next statement works.
#[tokio::test(flavor = "multi_thread")]
async fn the_test_clock_closes_windows_on_command_and_only_with_the_flag() {
    let server = ServerProcess::builder().start().await;
    let client = connect(&server).await;
    let error = client
        .simple_query("ADVANCE CLOCK BY INTERVAL '1 MINUTE'")
        .await
        .expect_err("the wall clock does not move on command");
    let message = error.as_db_error().map(|d| d.message().to_string());
    assert!(
        message.as_deref().is_some_and(
            |m| m.contains("needs the test clock (start the server with --test-clock)")
        ),
        "{error:?}"
    );
    assert_eq!(simple(&client, "SELECT 1 AS one").await[1], "row 1");

    let server = ServerProcess::builder().test_clock().start().await;
    let client = connect(&server).await;
    let setup = "ADVANCE CLOCK TO '2024-01-25 12:00:00';
        CREATE SOURCE auth (ts TIMESTAMP, username VARCHAR,
                            WATERMARK FOR ts AS ts - INTERVAL '5 SECONDS')
        WITH (connector = 'embedded', watermark.idle_timeout = '1 minute');
        CREATE MATERIALIZED VIEW attempts AS
        SELECT username, COUNT(*) AS n, window_start
        FROM TUMBLE(auth, ts, INTERVAL '1 MINUTE') GROUP BY username, window_start
        EMIT ON WINDOW CLOSE;
        INSERT INTO auth VALUES ('2024-01-25 12:00:10', 'mallory'), ('2024-01-25 12:00:20', 'mallory');";
    client.batch_execute(setup).await.expect("setup");
    let rows = "SELECT username, n, window_start FROM attempts";
    assert_eq!(
        simple(&client, rows).await,
        lines(&["columns username,n,window_start", "complete 0"])
    );
    client
        .simple_query("ADVANCE CLOCK BY INTERVAL '59 SECONDS'")
        .await
        .expect("advance");
    assert_eq!(
        simple(&client, rows).await.len(),
        2,
        "still open within the idle timeout"
    );
    client
        .simple_query("ADVANCE CLOCK TO '2024-01-25 12:01:00'")
        .await
        .expect("advance");
    assert_eq!(
        simple(&client, rows).await,
        lines(&[
            "columns username,n,window_start",
            "row mallory|2|2024-01-25 12:00:00",
            "complete 1"
        ])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn psql_reports_an_error_and_fails() {
    let server = ServerProcess::builder().start().await;
    let Some(output) = tokio::task::block_in_place(|| psql(&server, &["-c", "SELECT * FROM nope"]))
    else {
        return;
    };
    // psql shows the statement and a caret under the error's position.
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "ERROR:  relation \"nope\" does not exist (at line 1, column 15)\n\
         LINE 1: SELECT * FROM nope\n\
         \x20                     ^\n"
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_start_with_the_parameters_psql_and_drivers_read() {
    let server = ServerProcess::builder().start().await;
    let (_client, connection) = tokio_postgres::connect(&server.connection_string(), NoTls)
        .await
        .expect("connects");
    let parameter = |name: &str| connection.parameter(name).map(str::to_string);
    let version = parameter("server_version").expect("server_version is sent");
    let major: u32 = version
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("server_version {version:?} starts with a major version"));
    assert!(major >= 15, "server_version {version}");
    for (name, value) in [
        ("server_encoding", "UTF8"),
        ("client_encoding", "UTF8"),
        ("DateStyle", "ISO, MDY"),
        ("integer_datetimes", "on"),
        ("standard_conforming_strings", "on"),
        ("TimeZone", "UTC"),
    ] {
        assert_eq!(parameter(name).as_deref(), Some(value), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_query_does_not_stall_ingest() {
    let server = ServerProcess::builder().start().await;
    let admin = connect(&server).await;
    admin
        .batch_execute(
            "CREATE SOURCE live (request_timestamp TIMESTAMP, status_code INT)
             WITH (connector = 'datagen', datagen.rows.per.second = '2000');
             CREATE MATERIALIZED VIEW live_counts AS
             SELECT status_code, COUNT(*) AS n FROM live GROUP BY status_code",
        )
        .await
        .expect("the paced source and its view are created");
    let slow_client = connect(&server).await;
    let cancel = slow_client.cancel_token();
    let slow = tokio::spawn(async move { slow_client.query(SLOW_QUERY, &[]).await });
    // Wait until the slow query is surely running, then watch the view grow.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let total = || async {
        let row = admin
            .query_one("SELECT SUM(n) AS total FROM live_counts", &[])
            .await
            .expect("the view answers while the slow query runs");
        row.get::<_, Option<i64>>("total").unwrap_or(0)
    };
    let before = total().await;
    let started = Instant::now();
    let mut after = before;
    while after <= before && started.elapsed() < CANCEL_DEADLINE {
        tokio::time::sleep(Duration::from_millis(200)).await;
        after = total().await;
    }
    assert!(
        !slow.is_finished(),
        "the slow query was still running while the view was read"
    );
    assert!(
        after > before,
        "the view stayed at {before} events while a slow query ran"
    );
    cancel
        .cancel_query(NoTls)
        .await
        .expect("the cancel request is delivered");
    let result = tokio::time::timeout(CANCEL_DEADLINE, slow)
        .await
        .expect("the slow query ends after the cancel")
        .expect("the query task does not panic");
    let error = result.expect_err("a cancelled query fails");
    assert_eq!(
        error.as_db_error().map(|d| d.code()),
        Some(&SqlState::QUERY_CANCELED)
    );
}
