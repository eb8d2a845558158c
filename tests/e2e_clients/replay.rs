//! The exact statements psql 15 and Grafana's PostgreSQL data source send, captured from the
//! real clients against PostgreSQL 15 (`tests/replay/`, see its README), replayed against
//! the real binary over the simple query protocol, as both clients send them.
//!
//! Every statement must answer in Postgres' shape: the same column names, types a client
//! reads the same way, and the same number of rows as PostgreSQL gave, except where
//! Palisade's catalog truly differs ([`PSQL_ROWS_DIFFER`]). Grafana's panel queries must
//! also answer exactly what the same SQL answers in-process. Then real psql runs each
//! backslash command and must print what it printed against PostgreSQL, except for the
//! three outputs whose differences are Palisade's by design (checked against
//! `tests/replay/palisade/`).

use std::path::PathBuf;

use palisade_engine::{Database, DatabaseOptions};
use palisade_tests::format::{Cell, rows};
use palisade_tests::pg_cells::text_cell;
use palisade_tests::server_process::ServerProcess;
use palisade_tests::simple_client::{Answer, SimpleQueryClient};
use tokio_postgres::types::Type;

/// The demo's source, bounded and seeded, with event time on 2024-01-01 from midnight, so
/// the Grafana panel queries' range (00:00 to 06:00 that day) holds three windows.
fn source() -> String {
    palisade_tests::seeded_demo_source(11, 3000, "2024-01-01 00:00:00", 20)
}

/// psql's commands: fixture name and the command.
const PSQL_COMMANDS: &[(&str, &str)] = &[
    ("d", "\\d"),
    ("dt", "\\dt"),
    ("dv", "\\dv"),
    ("dm", "\\dm"),
    ("d_source", "\\d website_logs_source"),
    ("d_view", "\\d website_user_metrics"),
    ("d_plus_view", "\\d+ website_user_metrics"),
    ("l", "\\l"),
    ("dn", "\\dn"),
];

/// psql statements (fixture, 1-based statement) whose row count differs from PostgreSQL's,
/// and why.
const PSQL_ROWS_DIFFER: &[(&str, usize, &str)] = &[
    (
        "l",
        1,
        "one database, dev: no postgres, template0 or template1",
    ),
    (
        "dn",
        1,
        "the palisade schema of system tables besides public",
    ),
];

/// psql outputs that differ from PostgreSQL's by design, so they are checked against
/// Palisade's own expected output in `tests/replay/palisade/`: `\l` and `\dn` for the
/// reasons in [`PSQL_ROWS_DIFFER`], `\d+` because a view's definition is the SQL as the
/// user wrote it (TUMBLE and all), not PostgreSQL's rewrite of a stand-in.
const OWN_OUTPUTS: &[&str] = &["l", "dn", "d_plus_view"];

/// Grafana statements (1-based) and the rows Palisade must answer where they differ from
/// the capture's: Grafana's pickers list Palisade's views, which PostgreSQL leaves out of
/// information_schema, and the panels run over this test's events, not the capture's.
const GRAFANA_ROWS: &[(usize, usize)] = &[
    // Table picker (search path): the source and the five views.
    (5, 6),
    // Column pickers: twelve columns each.
    (6, 12),
    (7, 12),
    // Table picker over every schema: also the palisade schema's three system tables.
    (8, 9),
    (9, 12),
    // Schemas: palisade and public.
    (10, 2),
    (11, 6),
];

fn replay_dir() -> PathBuf {
    palisade_tests::tests_dir().join("replay")
}

fn read(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fixture's statements, split as `tests/replay/README.md` says.
fn statements(path: &PathBuf) -> Vec<String> {
    let text = read(path);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    text.split("\n-- next\n").map(str::to_string).collect()
}

/// One statement's answer as PostgreSQL gave it: columns (name, type OID) and row count;
/// `None` columns for an EmptyQueryResponse.
#[derive(Debug)]
struct Shape {
    columns: Option<Vec<(String, u32)>>,
    rows: usize,
}

/// Parses a `.shape` file.
fn shapes(path: &PathBuf) -> Vec<Shape> {
    let mut out: Vec<Shape> = vec![];
    for line in read(path).lines() {
        if line.starts_with("-- statement") {
            out.push(Shape {
                columns: None,
                rows: 0,
            });
        } else if let (Some(columns), Some(last)) = (line.strip_prefix("columns "), out.last_mut())
        {
            last.columns = Some(
                columns
                    .split(", ")
                    .map(|c| {
                        // name:oid(type); a name may itself hold ':' or '(' (`?column?`).
                        let (name, rest) = c.rsplit_once(':').expect("name:oid(type)");
                        let oid = rest.split('(').next().expect("oid").parse().expect("oid");
                        (name.to_string(), oid)
                    })
                    .collect(),
            );
        } else if let (Some(rows), Some(last)) = (line.strip_prefix("rows "), out.last_mut()) {
            last.rows = rows.parse().expect("a row count");
        }
    }
    out
}

/// Types clients read alike: psql and Grafana read every value as text and Grafana turns
/// every number type into a number, so `name`, `"char"`, `regclass` and `varchar` columns
/// are text to them, and integer and numeric types are numbers. Palisade announces the
/// former as `text`, and keeps exact integers where Postgres widens to `numeric` (`sum` of
/// a `bigint`).
fn family(oid: u32) -> &'static str {
    match oid {
        16 => "boolean",
        18 | 19 | 25 | 1042 | 1043 | 2205 => "text",
        20 | 21 | 23 | 26 | 700 | 701 | 1700 => "number",
        1114 => "timestamp",
        1184 => "timestamptz",
        _ => "other",
    }
}

fn check_shape(what: &str, answer: &Answer, expected: &Shape) -> Result<(), String> {
    let Some(columns) = &expected.columns else {
        return Ok(());
    };
    let got: Vec<(&str, &str)> = answer
        .columns
        .iter()
        .map(|c| (c.name.as_str(), family(c.type_oid)))
        .collect();
    let want: Vec<(&str, &str)> = columns
        .iter()
        .map(|(name, oid)| (name.as_str(), family(*oid)))
        .collect();
    if got != want {
        return Err(format!("{what}: columns {got:?}, PostgreSQL's {want:?}"));
    }
    Ok(())
}

async fn serve() -> ServerProcess {
    let script = std::env::temp_dir().join(format!("palisade-replay-{}.sql", std::process::id()));
    std::fs::write(&script, source()).expect("writing the replay script");
    let server = ServerProcess::builder()
        .script(script)
        .script(
            palisade_tests::tests_dir().join("../pgwire-server/demo/website_security_views.sql"),
        )
        .start()
        .await;
    let mut client = SimpleQueryClient::connect(server.port()).await;
    client.query("FLUSH").await.expect("FLUSH");
    server
}

#[tokio::test(flavor = "multi_thread")]
async fn psql_describe_statements_answer_in_postgres_shape() {
    let server = serve().await;
    let mut client = SimpleQueryClient::connect(server.port()).await;
    let mut failures = vec![];
    for (fixture, command) in PSQL_COMMANDS {
        let dir = replay_dir().join("psql15");
        let sent = statements(&dir.join(format!("{fixture}.sql")));
        let expected = shapes(&dir.join(format!("{fixture}.shape")));
        assert_eq!(
            sent.len(),
            expected.len(),
            "{fixture}: statements and shapes"
        );
        let mut oid: Option<String> = None;
        for (i, (sql, shape)) in sent.iter().zip(&expected).enumerate() {
            let what = format!("{command} statement {}", i + 1);
            let sql = match &oid {
                Some(oid) => sql.replace("{oid}", oid),
                None => sql.clone(),
            };
            let answer = match client.query(&sql).await {
                Ok(answer) => answer,
                Err(e) => {
                    failures.push(format!("{what}: {e}\n{sql}"));
                    continue;
                }
            };
            if let Err(e) = check_shape(&what, &answer, shape) {
                failures.push(e);
            }
            let differs = PSQL_ROWS_DIFFER
                .iter()
                .any(|(f, n, _)| f == fixture && *n == i + 1);
            if !differs && answer.rows.len() != shape.rows {
                failures.push(format!(
                    "{what}: {} rows, PostgreSQL {}",
                    answer.rows.len(),
                    shape.rows
                ));
            }
            // psql's first statement of `\d NAME` finds the OID every later one names.
            if i == 0 && answer.columns.first().is_some_and(|c| c.name == "oid") {
                oid = answer.rows.first().and_then(|r| r[0].clone());
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn grafana_statements_answer_in_postgres_shape_and_exactly() {
    let server = serve().await;
    let db = Database::new(DatabaseOptions::default());
    db.execute(&source()).await.expect("the source in-process");
    db.execute(&palisade_tests::website_security_views())
        .await
        .expect("the views in-process");
    db.execute("FLUSH").await.expect("FLUSH in-process");

    let mut client = SimpleQueryClient::connect(server.port()).await;
    let sent = statements(&replay_dir().join("grafana.sql"));
    let expected = shapes(&replay_dir().join("grafana.shape"));
    assert_eq!(sent.len(), expected.len(), "grafana statements and shapes");
    let mut failures = vec![];
    for (i, (block, shape)) in sent.iter().zip(&expected).enumerate() {
        let n = i + 1;
        // The block's first line describes it; the rest is the statement.
        let (description, sql) = block.split_once('\n').expect("a description line");
        let what = format!("Grafana statement {n} ({description})");
        let answer = match client.query(sql).await {
            Ok(answer) => answer,
            Err(e) => {
                failures.push(format!("{what}: {e}"));
                continue;
            }
        };
        if let Err(e) = check_shape(&what, &answer, shape) {
            failures.push(e);
        }
        let Some(_) = &shape.columns else {
            // Health checks: an empty query answers nothing.
            if !answer.columns.is_empty() || !answer.rows.is_empty() {
                failures.push(format!("{what}: answered rows to an empty query"));
            }
            continue;
        };
        match GRAFANA_ROWS.iter().find(|(s, _)| *s == n) {
            Some((_, rows)) => {
                if answer.rows.len() != *rows {
                    failures.push(format!(
                        "{what}: {} rows, expected {rows}",
                        answer.rows.len()
                    ));
                }
            }
            // Probes and panels: exactly what the same SQL answers in-process.
            None => {
                let batches = match db.query_batches(sql).await {
                    Ok(b) => b,
                    Err(e) => {
                        failures.push(format!("{what}: in-process: {e}"));
                        continue;
                    }
                };
                let wire: Vec<Vec<Cell>> = answer
                    .rows
                    .iter()
                    .map(|row| {
                        row.iter()
                            .zip(&answer.columns)
                            .map(|(v, c)| {
                                let ty = Type::from_oid(c.type_oid).unwrap_or(Type::TEXT);
                                text_cell(&ty, v.as_deref())
                            })
                            .collect()
                    })
                    .collect();
                let in_process = rows(&batches);
                if wire != in_process {
                    failures.push(format!(
                        "{what}: over the wire {wire:?}, in-process {in_process:?}"
                    ));
                }
                let has_data =
                    description.contains("panel") && !description.contains("TimescaleDB");
                if has_data && wire.is_empty() && !sql.contains("timescaledb") {
                    failures.push(format!(
                        "{what}: no rows; the test's events cover its range"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// psql's output for `command`, or `None` with a notice when psql is missing outside CI.
fn psql(server: &ServerProcess, command: &str) -> Option<std::process::Output> {
    let output = std::process::Command::new("psql")
        .args(["-X", "-h", "127.0.0.1", "-d", "dev", "-U", "root", "-p"])
        .arg(server.port().to_string())
        .args(["-c", command])
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
async fn psql_prints_what_it_prints_against_postgres() {
    let server = serve().await;
    let mut failures = vec![];
    for (fixture, command) in PSQL_COMMANDS {
        let Some(output) = tokio::task::block_in_place(|| psql(&server, command)) else {
            return;
        };
        let dir = if OWN_OUTPUTS.contains(fixture) {
            replay_dir().join("palisade")
        } else {
            replay_dir().join("psql15")
        };
        let expected = read(&dir.join(format!("{fixture}.out")));
        let stdout = String::from_utf8_lossy(&output.stdout);
        if stdout != expected {
            failures.push(format!(
                "{command}:\n--- expected ({})\n{expected}--- psql printed\n{stdout}--- stderr\n{}",
                dir.display(),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let err_file = replay_dir().join("psql15").join(format!("{fixture}.err"));
        let expected_err = std::fs::read_to_string(&err_file).unwrap_or_default();
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr != expected_err {
            failures.push(format!(
                "{command}: stderr {stderr:?}, expected {expected_err:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
