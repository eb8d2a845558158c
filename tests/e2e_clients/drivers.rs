//! Postgres drivers reading every seed view from the real binary: tokio-postgres here, psycopg 3
//! and asyncpg through `tests/drivers/python/check_views.py`, node-postgres through
//! `tests/drivers/node/check_views.mjs`.
//!
//! The server runs the demo's source, bounded and seeded (`palisade_tests::seeded_demo_source`),
//! and the five seed views. The same scripts run in-process give the expected rows, so every
//! value a driver decodes is compared exactly with the engine's own answer. Each driver reads
//! every view over the extended protocol in the result formats it supports, runs a query with
//! a timestamp and an integer parameter, and sends timestamps (microseconds included) as
//! parameters to read them back.
//!
//! Drivers and the harness meet on canonical text: integers and NUMERIC as digits, floats as
//! the shortest text that reads back to the same double, timestamps as
//! `YYYY-MM-DD HH:MM:SS[.ffffff]`, NULL as `None`. Rows are compared as sorted sets: views
//! that keep no ORDER BY have no order to check.
//!
//! Outside CI a driver that is not installed (Python modules from `.ci/run`'s venv, found
//! through `PALISADE_PYTHON`; `npm ci` in `tests/drivers/node`) makes its test print that it
//! is skipped; under CI (`CI` set) that is a failure.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use palisade_engine::{Database, DatabaseOptions};
use palisade_tests::server_process::ServerProcess;
use palisade_tests::tests_dir;
use serde_json::{Value, json};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, SimpleQueryMessage};

/// The five seed views, in the demo's order.
const VIEWS: [&str; 5] = [
    "website_user_metrics",
    "top_user_actions",
    "referrer_activity_summary",
    "status_code_analysis_summary",
    "security_level_analysis_summary",
];

/// The parameterised query every driver runs, with [`SINCE`] and [`MORE_THAN`] bound.
const PARAMS_QUERY: &str =
    "SELECT * FROM website_user_metrics WHERE window_start >= $1 AND total_requests > $2";
/// The middle of the three windows the source's events cover.
const SINCE: &str = "2024-01-25 12:00:00";
const MORE_THAN: i64 = 3;

/// Timestamps sent as parameters and read back, in canonical form: microseconds, none, one
/// before Postgres' epoch (negative in binary), and one past 32-bit Unix seconds.
const ROUNDTRIP: [&str; 4] = [
    "2024-01-25 12:30:45.123456",
    "2024-01-25 12:30:45",
    "1999-12-31 23:59:59.000001",
    "2038-01-19 03:14:08.500000",
];

/// How long one driver script may take (a busy 2-core machine; they take seconds).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

/// A row as canonical text; `None` is NULL.
type Row = Vec<Option<String>>;
/// Rows by check name (`"<driver> <format> <view>"`, `"<driver> params <format>"`,
/// `"<driver> roundtrip <format>"`), each sorted.
type Checks = BTreeMap<String, Vec<Row>>;

fn source_script() -> PathBuf {
    // 37 events per simulated second put events 27027.027 µs apart, so event times carry
    // microseconds; 4000 of them span about 108 s, three one-minute windows.
    let sql = palisade_tests::seeded_demo_source(6, 4000, "2024-01-25 11:59:30", 37);
    let path = std::env::temp_dir().join(format!("palisade-drivers-{}.sql", std::process::id()));
    std::fs::write(&path, sql).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

fn views_script() -> PathBuf {
    tests_dir()
        .parent()
        .expect("tests/ is in the workspace")
        .join("pgwire-server/demo/website_security_views.sql")
}

/// A server that ran the source and view scripts, every event delivered to every view.
async fn serve() -> ServerProcess {
    let server = ServerProcess::builder()
        .script(source_script())
        .script(views_script())
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

/// The engine's own answers for the same scripts.
struct Expected {
    views: BTreeMap<&'static str, Vec<Row>>,
    params: Vec<Row>,
}

async fn expected() -> Expected {
    let db = Database::new(DatabaseOptions::default());
    for script in [source_script(), views_script()] {
        let sql = std::fs::read_to_string(&script)
            .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
        db.execute(&sql)
            .await
            .unwrap_or_else(|e| panic!("{} in-process: {e}", script.display()));
    }
    db.execute("FLUSH").await.expect("FLUSH in-process");
    let rows = async |sql: &str| {
        let batches = db
            .query_batches(sql)
            .await
            .unwrap_or_else(|e| panic!("in-process {sql}: {e}"));
        sorted(canonical_rows(&batches))
    };
    let mut views = BTreeMap::new();
    for view in VIEWS {
        let view_rows = rows(&format!("SELECT * FROM {view}")).await;
        assert!(view_rows.len() > 1, "{view}: too few rows to compare");
        views.insert(view, view_rows);
    }
    let params = rows(&format!(
        "SELECT * FROM website_user_metrics \
         WHERE window_start >= TIMESTAMP '{SINCE}' AND total_requests > {MORE_THAN}"
    ))
    .await;
    // The parameters must select: some rows, not all of them.
    assert!(
        !params.is_empty() && params.len() < views["website_user_metrics"].len(),
        "the parameterised query selects {} of {} rows",
        params.len(),
        views["website_user_metrics"].len()
    );
    Expected { views, params }
}

impl Expected {
    /// What `driver` must report for each result format in `formats`: every view, the
    /// parameterised query and the round trip.
    fn checks(&self, driver: &str, formats: &[&str]) -> Checks {
        let roundtrip: Vec<Row> = sorted(ROUNDTRIP.iter().map(|t| vec![Some(t.to_string())]));
        let mut checks = Checks::new();
        for format in formats {
            for (view, rows) in &self.views {
                checks.insert(format!("{driver} {format} {view}"), rows.clone());
            }
            checks.insert(format!("{driver} params {format}"), self.params.clone());
            checks.insert(format!("{driver} roundtrip {format}"), roundtrip.clone());
        }
        checks
    }
}

fn sorted(rows: impl IntoIterator<Item = Row>) -> Vec<Row> {
    let mut rows: Vec<Row> = rows.into_iter().collect();
    rows.sort();
    rows
}

/// Arrow rows as canonical text.
fn canonical_rows(batches: &[RecordBatch]) -> Vec<Row> {
    let mut rows = vec![];
    for batch in batches {
        let columns: Vec<Vec<Option<String>>> = batch
            .columns()
            .iter()
            .map(|c| canonical_column(c))
            .collect();
        for row in 0..batch.num_rows() {
            rows.push(columns.iter().map(|c| c[row].clone()).collect());
        }
    }
    rows
}

fn canonical_column(array: &dyn Array) -> Vec<Option<String>> {
    let present = |i: usize| !array.is_null(i);
    match array.data_type() {
        DataType::Float64 => {
            let a = array.as_primitive::<Float64Type>();
            (0..a.len())
                .map(|i| present(i).then(|| float(a.value(i))))
                .collect()
        }
        DataType::Float32 => {
            let a = array.as_primitive::<Float32Type>();
            (0..a.len())
                .map(|i| present(i).then(|| float(f64::from(a.value(i)))))
                .collect()
        }
        DataType::Timestamp(_, None) => {
            let micros = cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None))
                .expect("timestamps cast to microseconds");
            let a = micros.as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>();
            (0..a.len())
                .map(|i| {
                    present(i).then(|| {
                        let t = chrono::DateTime::from_timestamp_micros(a.value(i))
                            .expect("a timestamp in chrono's range");
                        timestamp_text(t.naive_utc())
                    })
                })
                .collect()
        }
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Decimal128(_, _)
        | DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View => {
            let formatter = ArrayFormatter::try_new(array, &FormatOptions::default())
                .expect("a displayable column");
            (0..array.len())
                .map(|i| present(i).then(|| formatter.value(i).to_string()))
                .collect()
        }
        other => panic!("no canonical text for {other} yet: a seed view has a new type"),
    }
}

/// The shortest text that reads back to `v` (Rust's, so each driver's float is parsed and
/// printed again here rather than compared as the driver printed it).
fn float(v: f64) -> String {
    format!("{v}")
}

fn timestamp_text(t: NaiveDateTime) -> String {
    let micros = t.and_utc().timestamp_subsec_micros();
    let whole = t.format("%Y-%m-%d %H:%M:%S");
    if micros == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{micros:06}")
    }
}

fn parse_timestamp(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Asserts `got` holds exactly the `expected` checks with exactly their rows; one message
/// lists every difference. `context` (a script's stderr) is shown with it.
fn assert_checks(got: &Checks, errors: &[String], expected: &Checks, context: &str) {
    let mut problems: Vec<String> = errors.to_vec();
    for (check, rows) in expected {
        match got.get(check) {
            None if errors.iter().any(|e| e.starts_with(&format!("{check}:"))) => {}
            None => problems.push(format!("{check}: not reported")),
            Some(got_rows) if got_rows != rows => {
                let first = got_rows
                    .iter()
                    .zip(rows)
                    .find(|(g, e)| g != e)
                    .map(|(g, e)| format!("; first difference: got {g:?}, expected {e:?}"))
                    .unwrap_or_default();
                problems.push(format!(
                    "{check}: {} rows, expected {}{first}",
                    got_rows.len(),
                    rows.len()
                ));
            }
            Some(_) => {}
        }
    }
    for check in got.keys().filter(|c| !expected.contains_key(*c)) {
        problems.push(format!("{check}: reported but not expected"));
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}\n{context}",
        problems.len(),
        problems.join("\n")
    );
}

/// A driver script's output: `{"check", "rows"}` or `{"check", "error"}` per line.
struct ScriptOutput {
    checks: Checks,
    errors: Vec<String>,
    stderr: String,
}

/// Runs `command` (a driver script given the spec as its last argument) to its end and reads
/// its checks. Output goes through files: a script printing more than a pipe holds must not
/// block while we wait for it.
fn run_script(mut command: Command, spec: &Value) -> ScriptOutput {
    let dir = std::env::temp_dir();
    let stem = format!("palisade-driver-{}-{}", std::process::id(), unique());
    let (out_path, err_path) = (
        dir.join(format!("{stem}.out")),
        dir.join(format!("{stem}.err")),
    );
    let out = File::create(&out_path).unwrap_or_else(|e| panic!("{}: {e}", out_path.display()));
    let err = File::create(&err_path).unwrap_or_else(|e| panic!("{}: {e}", err_path.display()));
    command
        .arg(spec.to_string())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the script's status can be read") {
            break Some(status);
        }
        if started.elapsed() > SCRIPT_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);

    let mut output = ScriptOutput {
        checks: Checks::new(),
        errors: vec![],
        stderr,
    };
    match status {
        None => output.errors.push(format!(
            "{command:?}: still running after {SCRIPT_TIMEOUT:?}"
        )),
        Some(status) if !status.success() && stdout.is_empty() => output
            .errors
            .push(format!("{command:?}: {status} before any check")),
        Some(_) => {}
    }
    for line in stdout.lines() {
        let record: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a script line is JSON ({e}): {line}"));
        let check = record["check"]
            .as_str()
            .unwrap_or_else(|| panic!("a script line names its check: {line}"))
            .to_string();
        if let Some(error) = record["error"].as_str() {
            output.errors.push(format!("{check}: {error}"));
            continue;
        }
        let rows: Vec<Row> = record["rows"]
            .as_array()
            .unwrap_or_else(|| panic!("{check}: rows or an error: {line}"))
            .iter()
            .map(|row| {
                row.as_array()
                    .unwrap_or_else(|| panic!("{check}: a row is an array: {row}"))
                    .iter()
                    .map(|cell| script_cell(&check, cell))
                    .collect()
            })
            .collect();
        output.checks.insert(check, sorted(rows));
    }
    output
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A script's cell: a string is canonical text already; `{"number": TEXT}` is a double the
/// script printed in its own shortest form, printed again in ours.
fn script_cell(check: &str, cell: &Value) -> Option<String> {
    match cell {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Object(o) if o.len() == 1 && o["number"].is_string() => {
            let text = o["number"].as_str().unwrap_or_default();
            let v: f64 = text
                .parse()
                .unwrap_or_else(|e| panic!("{check}: number {text}: {e}"));
            Some(float(v))
        }
        other => panic!("{check}: a cell is null, a string or {{\"number\": ...}}: {other}"),
    }
}

/// What the scripts read: where the server is and what to send.
fn spec(server: &ServerProcess) -> Value {
    json!({
        "host": "127.0.0.1",
        "port": server.port(),
        "views": VIEWS,
        "since": SINCE,
        "more_than": MORE_THAN,
        "roundtrip": ROUNDTRIP,
    })
}

/// Whether a missing driver skips its test (outside CI) rather than failing it.
fn skip_missing(what: &str, why: &str) -> bool {
    if std::env::var_os("CI").is_some() {
        panic!("{what} is missing under CI ({why}); .ci/run installs it");
    }
    eprintln!("skipped: {what} is not installed ({why})");
    true
}

#[tokio::test(flavor = "multi_thread")]
async fn tokio_postgres_reads_every_view_exactly() {
    let server = serve().await;
    let client = connect(&server).await;
    let expected = expected().await;
    let mut got = Checks::new();

    for view in VIEWS {
        let sql = format!("SELECT * FROM {view}");
        let statement = client
            .prepare(&sql)
            .await
            .unwrap_or_else(|e| panic!("prepare {sql}: {e}"));
        // tokio-postgres reads extended-protocol results in binary.
        let rows = client
            .query(&statement, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        got.insert(
            format!("tokio-postgres binary {view}"),
            sorted(rows.iter().map(binary_row)),
        );
        // Text comes over the simple protocol; the prepared statement says the types.
        let types: Vec<Type> = statement
            .columns()
            .iter()
            .map(|c| c.type_().clone())
            .collect();
        got.insert(
            format!("tokio-postgres text {view}"),
            sorted(text_rows(&client, &sql, &types).await),
        );
    }

    let statement = client.prepare(PARAMS_QUERY).await.expect("prepare");
    assert_eq!(statement.params(), [Type::TIMESTAMP, Type::INT8]);
    let rows = client
        .query(&statement, &[&parse_timestamp(SINCE), &MORE_THAN])
        .await
        .expect("the parameterised query");
    got.insert(
        "tokio-postgres params binary".into(),
        sorted(rows.iter().map(binary_row)),
    );

    // The cast gives `$1` its type, as in Postgres.
    let cast = client
        .prepare("SELECT $1::timestamp")
        .await
        .expect("prepare");
    assert_eq!(cast.params(), [Type::TIMESTAMP]);
    // A type declared at Parse types an otherwise open `$1`, and the column it returns.
    let declared = client
        .prepare_typed("SELECT $1", &[Type::TIMESTAMP])
        .await
        .expect("prepare");
    assert_eq!(declared.params(), [Type::TIMESTAMP]);
    assert_eq!(declared.columns()[0].type_(), &Type::TIMESTAMP);
    let mut roundtrip = vec![];
    for text in ROUNDTRIP {
        let t = parse_timestamp(text);
        let mut read_back = vec![];
        for statement in [&cast, &declared] {
            let row = client
                .query_one(statement, &[&t])
                .await
                .unwrap_or_else(|e| panic!("{text}: {e}"));
            read_back.push(binary_row(&row));
        }
        assert_eq!(read_back[0], read_back[1], "{text}: cast and declared");
        roundtrip.push(read_back.swap_remove(0));
    }
    got.insert("tokio-postgres roundtrip binary".into(), sorted(roundtrip));

    // tokio-postgres sends no text parameters; a text round trip is a literal read back.
    let mut roundtrip = vec![];
    for text in ROUNDTRIP {
        let sql = format!("SELECT TIMESTAMP '{text}'");
        roundtrip.extend(text_rows(&client, &sql, &[Type::TIMESTAMP]).await);
    }
    got.insert("tokio-postgres roundtrip text".into(), sorted(roundtrip));

    let mut want = expected.checks("tokio-postgres", &["binary", "text"]);
    want.remove("tokio-postgres params text");
    assert_checks(&got, &[], &want, "");
}

/// A binary-format row as canonical text, decoded by the column types.
fn binary_row(row: &tokio_postgres::Row) -> Row {
    (0..row.len())
        .map(|i| {
            let ty = row.columns()[i].type_();
            let text = match *ty {
                Type::INT2 => row.get::<_, Option<i16>>(i).map(|v| v.to_string()),
                Type::INT4 => row.get::<_, Option<i32>>(i).map(|v| v.to_string()),
                Type::INT8 => row.get::<_, Option<i64>>(i).map(|v| v.to_string()),
                Type::FLOAT4 => row.get::<_, Option<f32>>(i).map(|v| float(f64::from(v))),
                Type::FLOAT8 => row.get::<_, Option<f64>>(i).map(float),
                Type::TEXT | Type::VARCHAR => row.get::<_, Option<String>>(i),
                Type::TIMESTAMP => row.get::<_, Option<NaiveDateTime>>(i).map(timestamp_text),
                _ => panic!("column {i} has type {ty}: decode it here"),
            };
            text
        })
        .collect()
}

/// `sql`'s rows over the simple protocol (text), as canonical text by `types`.
async fn text_rows(client: &Client, sql: &str, types: &[Type]) -> Vec<Row> {
    let messages = client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                types
                    .iter()
                    .enumerate()
                    .map(|(i, ty)| {
                        let value = row.get(i)?;
                        Some(match *ty {
                            Type::FLOAT4 | Type::FLOAT8 => float(
                                value
                                    .parse()
                                    .unwrap_or_else(|e| panic!("{sql}: {value}: {e}")),
                            ),
                            Type::TIMESTAMP => timestamp_text(parse_timestamp(value)),
                            _ => value.to_string(),
                        })
                    })
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// The Python interpreter with psycopg and asyncpg: `PALISADE_PYTHON` (.ci/run's venv), else
/// `python3`; `None` when they cannot be imported and the test is skipped.
fn python() -> Option<PathBuf> {
    let python = std::env::var_os("PALISADE_PYTHON").map_or("python3".into(), PathBuf::from);
    let probe = Command::new(&python)
        .args(["-c", "import psycopg, asyncpg"])
        .output();
    let why = match probe {
        Ok(out) if out.status.success() => return Some(python),
        // The traceback's last line names the module.
        Ok(out) => String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or_default()
            .to_string(),
        Err(e) => format!("{}: {e}", python.display()),
    };
    skip_missing("psycopg or asyncpg", &why);
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn psycopg_and_asyncpg_read_every_view_exactly() {
    let Some(python) = python() else {
        return;
    };
    let server = serve().await;
    let expected = expected().await;
    let mut command = Command::new(python);
    command.arg(tests_dir().join("drivers/python/check_views.py"));
    let spec = spec(&server);
    let output = tokio::task::spawn_blocking(move || run_script(command, &spec))
        .await
        .expect("the script runs");
    let mut want = expected.checks("psycopg", &["text", "binary"]);
    // asyncpg reads results in binary only.
    want.extend(expected.checks("asyncpg", &["binary"]));
    assert_checks(&output.checks, &output.errors, &want, &output.stderr);
}

/// `tests/drivers/node`, with `npm ci` done; `None` when node or pg is missing and the test
/// is skipped.
fn node_dir() -> Option<PathBuf> {
    let dir = tests_dir().join("drivers/node");
    let why = match Command::new("node").arg("--version").output() {
        Err(e) => format!("node: {e}"),
        Ok(_) if !dir.join("node_modules/pg/package.json").exists() => {
            format!(
                "no {} (npm ci there)",
                dir.join("node_modules/pg").display()
            )
        }
        Ok(_) => return Some(dir),
    };
    skip_missing("node-postgres", &why);
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn node_postgres_reads_every_view_exactly() {
    let Some(dir) = node_dir() else {
        return;
    };
    let server = serve().await;
    let expected = expected().await;
    let mut command = Command::new("node");
    // pg sends a Date parameter with the local offset: a zone half an hour off UTC shows
    // that the server takes a TIMESTAMP's wall-clock time and ignores the offset, as
    // Postgres does.
    command
        .current_dir(&dir)
        .env("TZ", "Asia/Kolkata")
        .arg(Path::new("check_views.mjs"));
    let spec = spec(&server);
    let output = tokio::task::spawn_blocking(move || run_script(command, &spec))
        .await
        .expect("the script runs");
    // Text only: pg 8.23 decodes every result value as UTF-8 before its binary parsers see
    // it, so `binary: true` corrupts values (node-postgres issue 3495, open).
    let mut want = expected.checks("pg", &["text"]);
    want.insert("pg date text".into(), vec![vec![Some(SINCE.to_string())]]);
    assert_checks(&output.checks, &output.errors, &want, &output.stderr);
}
