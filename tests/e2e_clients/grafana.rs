//! `grafana/`: the provisioned data source and the website-security dashboard, used the way
//! Grafana uses them. Each panel's SQL has its `$__` macros expanded as Grafana's PostgreSQL
//! data source expands them ([`expand_macros`]), goes to the real binary over the simple query
//! protocol with text results, as Grafana sends it ([`SimpleQueryClient`]), and must answer
//! what the same SQL answers in-process, in columns whose types Grafana turns into time and
//! number fields.
//!
//! The server runs a bounded, seeded datagen source shaped like the demo's ([`source`]), with
//! event time from a fixed start, and the five website-security views, so the dashboard's
//! time range ([`time_range`]) is known: it starts inside the first minute of events and ends
//! on a window start, so the time filter must drop the first windows and keep the last one.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Utc};
use datafusion::arrow::datatypes::DataType;
use palisade_engine::{Database, DatabaseOptions};
use palisade_tests::format::{Cell, rows};
use palisade_tests::grafana_macros::expand_macros;
use palisade_tests::pg_cells::text_cell;
use palisade_tests::server_process::ServerProcess;
use palisade_tests::simple_client::{Answer, Column, SimpleQueryClient};
use serde_json::Value;
use tokio_postgres::types::Type;

/// The dashboard, relative to the workspace.
const DASHBOARD: &str = "grafana/dashboards/website_security.json";
/// The data source provisioning file, relative to the workspace.
const DATASOURCE: &str = "grafana/provisioning/datasources/palisade.yaml";
/// The five views, as `palisade demo` creates them, relative to the workspace.
const VIEWS_SCRIPT: &str = "pgwire-server/demo/website_security_views.sql";

/// The demo's source, bounded and seeded: 6000 events, 20 per simulated second from
/// 2024-01-25 00:00:00, so five one-minute windows (and a few events moved back before the
/// start, as datagen moves some out of order).
fn source() -> String {
    palisade_tests::seeded_demo_source(3, 6000, "2024-01-25 00:00:00", 20)
}

/// The `$__interval` Grafana would compute for [`time_range`] on a panel about 1000 pixels
/// wide (the range over the panel's data points, rounded). No panel uses it today.
const INTERVAL: Duration = Duration::from_millis(200);

/// The dashboard's time range in the test: from half a minute and half a second into the
/// data (a fraction, so Grafana's RFC 3339 text keeps one) to the start of the last window.
fn time_range() -> (DateTime<Utc>, DateTime<Utc>) {
    let from = Utc.with_ymd_and_hms(2024, 1, 25, 0, 0, 30).unwrap() + TimeDelta::milliseconds(500);
    let to = Utc.with_ymd_and_hms(2024, 1, 25, 0, 4, 0).unwrap();
    (from, to)
}

/// The window starts [`time_range`] selects: 00:01 to 00:04 (BETWEEN includes its ends).
fn expected_windows() -> BTreeSet<NaiveDateTime> {
    (1..=4)
        .map(|minute| {
            Utc.with_ymd_and_hms(2024, 1, 25, 0, minute, 0)
                .unwrap()
                .naive_utc()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Grafana's macros
// ---------------------------------------------------------------------------------------------

fn workspace_file(relative: &str) -> PathBuf {
    palisade_tests::tests_dir()
        .parent()
        .expect("tests/ is in the workspace")
        .join(relative)
}

fn read(relative: &str) -> String {
    let path = workspace_file(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn dashboard() -> Value {
    serde_json::from_str(&read(DASHBOARD)).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}"))
}

/// One query of one panel, as Grafana's panel editor stores it.
struct PanelQuery {
    panel: String,
    /// `time_series` or `table`.
    format: String,
    raw_sql: String,
    datasource_type: String,
    datasource_uid: String,
}

/// Every query of every panel, rows' nested panels included, in dashboard order.
fn panel_queries(dashboard: &Value) -> Vec<PanelQuery> {
    fn walk(panels: &[Value], out: &mut Vec<PanelQuery>) {
        for panel in panels {
            let title = panel["title"].as_str().unwrap_or("(untitled)").to_string();
            for target in panel["targets"].as_array().into_iter().flatten() {
                let datasource = if target["datasource"].is_object() {
                    &target["datasource"]
                } else {
                    &panel["datasource"]
                };
                out.push(PanelQuery {
                    panel: title.clone(),
                    format: target["format"].as_str().unwrap_or("time_series").into(),
                    raw_sql: target["rawSql"].as_str().unwrap_or_default().into(),
                    datasource_type: datasource["type"].as_str().unwrap_or_default().into(),
                    datasource_uid: datasource["uid"].as_str().unwrap_or_default().into(),
                });
            }
            if let Some(nested) = panel["panels"].as_array() {
                walk(nested, out);
            }
        }
    }
    let mut out = vec![];
    walk(
        dashboard["panels"]
            .as_array()
            .expect("the dashboard has panels"),
        &mut out,
    );
    out
}

/// The value of the first `key: value` line of a provisioning file whose key is `key`.
fn yaml_value(yaml: &str, key: &str) -> Option<String> {
    yaml.lines().find_map(|line| {
        let line = line.trim_start().trim_start_matches("- ");
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        Some(value.trim().trim_matches(['"', '\'']).to_string())
    })
}

/// The views the demo script creates, in order.
fn view_names() -> Vec<String> {
    palisade_tests::website_security_views()
        .split("CREATE MATERIALIZED VIEW")
        .skip(1)
        .map(|rest| {
            rest.split_whitespace()
                .next()
                .expect("a view name")
                .to_string()
        })
        .collect()
}

/// Whether `sql` names `view` as a whole word.
fn mentions(sql: &str, view: &str) -> bool {
    sql.match_indices(view).any(|(at, _)| {
        let word = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
        let bytes = sql.as_bytes();
        !word(at.checked_sub(1).and_then(|i| bytes.get(i))) && !word(bytes.get(at + view.len()))
    })
}

#[test]
fn dashboard_charts_the_five_views_through_the_provisioned_data_source() {
    let dashboard = dashboard();
    assert_eq!(dashboard["time"]["from"], "now-1h");
    assert_eq!(dashboard["time"]["to"], "now");
    assert_eq!(dashboard["refresh"], "5s");
    assert!(
        dashboard["uid"].as_str().is_some_and(|uid| !uid.is_empty()),
        "a provisioned dashboard keeps its URL through a fixed uid"
    );

    let datasource = read(DATASOURCE);
    let uid = yaml_value(&datasource, "uid").expect("the data source has a uid");
    let plugin = yaml_value(&datasource, "type").expect("the data source has a type");
    assert_eq!(plugin, "grafana-postgresql-datasource");
    assert_eq!(
        yaml_value(&datasource, "url").as_deref(),
        Some("localhost:4566")
    );
    assert_eq!(yaml_value(&datasource, "database").as_deref(), Some("dev"));

    let queries = panel_queries(&dashboard);
    let views = view_names();
    assert_eq!(views.len(), 5, "{views:?}");
    for view in &views {
        assert!(
            queries.iter().any(|q| mentions(&q.raw_sql, view)),
            "no panel charts {view}"
        );
    }
    let (from, to) = time_range();
    for q in &queries {
        assert_eq!(
            (q.datasource_type.as_str(), q.datasource_uid.as_str()),
            (plugin.as_str(), uid.as_str()),
            "{}: not the provisioned data source",
            q.panel
        );
        assert!(
            views.iter().any(|v| mentions(&q.raw_sql, v)),
            "{}: reads none of the five views",
            q.panel
        );
        assert!(
            q.raw_sql.contains("$__timeFilter(window_start)"),
            "{}: not limited to the dashboard's time range",
            q.panel
        );
        match q.format.as_str() {
            "time_series" => assert!(
                q.raw_sql.trim_end().ends_with("ORDER BY 1") || q.raw_sql.contains("ORDER BY 1,"),
                "{}: a time series must come sorted by time",
                q.panel
            ),
            "table" => {}
            other => panic!("{}: format {other}", q.panel),
        }
        let expanded = expand_macros(&q.raw_sql, from, to, INTERVAL)
            .unwrap_or_else(|e| panic!("{}: {e}", q.panel));
        assert!(!expanded.contains("$__"), "{}: {expanded}", q.panel);
    }
}

// ---------------------------------------------------------------------------------------------
// The wire, as Grafana's data source uses it
// ---------------------------------------------------------------------------------------------

const NUMERIC_OIDS: [u32; 6] = [21, 23, 20, 700, 701, 1700];
const TEXT_OIDS: [u32; 4] = [25, 1043, 1042, 19];
const TIME_OIDS: [u32; 3] = [1114, 1184, 1082];

fn oid_name(oid: u32) -> String {
    Type::from_oid(oid).map_or_else(|| format!("OID {oid}"), |t| t.name().to_uppercase())
}

/// The column types Grafana needs of `answer`, given the types the same SQL has in-process:
/// a `time` column of a date/time or numeric type; in a time series every other column but
/// `metric` (text) numeric, as Grafana turns them into values; in a table each column of the
/// family of its in-process type.
fn check_types(format: &str, columns: &[Column], in_process: &[DataType]) -> Result<(), String> {
    let mut wrong = vec![];
    for (column, data_type) in columns.iter().zip(in_process) {
        let oid = column.type_oid;
        let wanted: Vec<u32> = if column.name == "time" {
            [TIME_OIDS.as_slice(), NUMERIC_OIDS.as_slice()].concat()
        } else if format == "time_series" && column.name == "metric" {
            TEXT_OIDS.to_vec()
        } else if format == "time_series" || data_type.is_numeric() {
            NUMERIC_OIDS.to_vec()
        } else if matches!(
            data_type,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ) {
            TEXT_OIDS.to_vec()
        } else if matches!(data_type, DataType::Timestamp(..) | DataType::Date32) {
            TIME_OIDS.to_vec()
        } else {
            continue;
        };
        if !wanted.contains(&oid) {
            wrong.push(format!(
                "column {} is {} (in-process {data_type})",
                column.name,
                oid_name(oid)
            ));
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!("Grafana cannot chart it: {}", wrong.join(", ")))
    }
}

/// The window starts in the `time` column, read as Grafana reads it: a timestamp as UTC, a
/// number as Unix seconds.
fn times(answer: &Answer) -> Option<Result<BTreeSet<NaiveDateTime>, String>> {
    let at = answer.columns.iter().position(|c| c.name == "time")?;
    let oid = answer.columns[at].type_oid;
    Some(
        answer
            .rows
            .iter()
            .map(|row| {
                let text = row[at].as_deref().ok_or("a NULL time")?;
                if NUMERIC_OIDS.contains(&oid) {
                    let seconds: f64 = text.parse().map_err(|e| format!("time {text}: {e}"))?;
                    DateTime::from_timestamp(seconds as i64, 0)
                        .map(|t| t.naive_utc())
                        .ok_or(format!("time {text} out of range"))
                } else {
                    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                        .map_err(|e| format!("time {text}: {e}"))
                }
            })
            .collect(),
    )
}

/// One panel query, expanded: over the wire and in-process, compared.
async fn check_panel(
    connection: &mut SimpleQueryClient,
    db: &Database,
    query: &PanelQuery,
    sql: &str,
) -> Result<(), String> {
    let answer = connection
        .query(sql)
        .await
        .map_err(|e| format!("over the wire: {e}"))?;
    let batches = db
        .query_batches(sql)
        .await
        .map_err(|e| format!("in-process: {e}"))?;
    let schema = batches
        .first()
        .map(|b| b.schema())
        .ok_or("in-process: no batch")?;
    let names: Vec<&str> = answer.columns.iter().map(|c| c.name.as_str()).collect();
    let in_process_names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    if names != in_process_names {
        return Err(format!(
            "columns {names:?} over the wire, {in_process_names:?} in-process"
        ));
    }
    let types: Vec<DataType> = schema
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    check_types(&query.format, &answer.columns, &types)?;
    if answer.rows.is_empty() {
        return Err("no rows".into());
    }
    let wire: Vec<Vec<Cell>> = answer
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .zip(&answer.columns)
                .map(|(value, column)| {
                    let ty = Type::from_oid(column.type_oid).unwrap_or(Type::TEXT);
                    text_cell(&ty, value.as_deref())
                })
                .collect()
        })
        .collect();
    let expected = rows(&batches);
    if wire != expected {
        return Err(format!(
            "rows differ:\n    over the wire: {wire:?}\n    in-process:    {expected:?}"
        ));
    }
    if let Some(times) = times(&answer) {
        let times = times?;
        if times != expected_windows() {
            return Err(format!(
                "time values {times:?}, expected the windows {:?}",
                expected_windows()
            ));
        }
    }
    Ok(())
}

/// The server's start-up script for the source ([`source`]), in a file of its own.
fn source_script() -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "palisade-grafana-source-{}.sql",
        std::process::id()
    ));
    std::fs::write(&path, source()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

/// [`source`] and the five views in-process, every event delivered.
async fn in_process() -> Database {
    let db = Database::new(DatabaseOptions::default());
    db.execute(&source()).await.expect("the source in-process");
    db.execute(&palisade_tests::website_security_views())
        .await
        .expect("the views in-process");
    db.execute("FLUSH").await.expect("FLUSH in-process");
    db
}

#[tokio::test]
async fn panels_answer_over_the_wire_as_in_process() {
    let queries = panel_queries(&dashboard());
    let script = source_script();
    let server = ServerProcess::builder()
        .script(&script)
        .script(workspace_file(VIEWS_SCRIPT))
        .start()
        .await;
    let _ = std::fs::remove_file(&script);
    let mut connection = SimpleQueryClient::connect(server.port()).await;
    connection
        .query("FLUSH")
        .await
        .unwrap_or_else(|e| panic!("FLUSH: {e}\n{}", server.log()));
    let db = in_process().await;

    let (from, to) = time_range();
    let mut failures = vec![];
    for query in &queries {
        let sql = expand_macros(&query.raw_sql, from, to, INTERVAL)
            .unwrap_or_else(|e| panic!("{}: {e}", query.panel));
        if let Err(failure) = check_panel(&mut connection, &db, query, &sql).await {
            failures.push(format!("panel {:?}: {failure}\n  SQL: {sql}", query.panel));
        }
    }
    // Every failing panel is listed, not only the first.
    assert!(
        failures.is_empty(),
        "{} of {} panel queries fail:\n{}",
        failures.len(),
        queries.len(),
        failures.join("\n\n")
    );
}

// ---------------------------------------------------------------------------------------------
// expand_macros, against the expansions Grafana documents and tests
// ---------------------------------------------------------------------------------------------
