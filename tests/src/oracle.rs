//! The oracle: a view's SQL run in batch by DataFusion over every event ingested.
//!
//! TUMBLE/HOP become plain `date_bin` SQL (the sql crate's batch rewrite), sources become
//! in-memory tables of the recorded batches, and upstream views become DataFusion views of
//! their own rewritten SQL. The maintained view must equal the result: same rows (floats
//! within 1e-9 relative), in the same order when the view has ORDER BY.

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use palisade_engine::Database;
use sqlparser::ast::Query;

use crate::format::{Cell, rows};

/// A DataFusion session holding every source's recorded events as a table and every view
/// as a DataFusion view of its batch SQL; returns it with each view's batch SQL.
async fn oracle_session(
    db: &Database,
) -> Result<(SessionContext, Vec<(String, String, bool)>), String> {
    let defs = db.definitions().await;
    let ctx = palisade_sql::planner::new_session();
    for s in &defs.sources {
        let table = MemTable::try_new(
            Arc::clone(&s.spec.schema),
            vec![db.recorded_inputs(&s.name)],
        )
        .map_err(|e| e.to_string())?;
        ctx.register_table(s.name.as_str(), Arc::new(table))
            .map_err(|e| e.to_string())?;
    }
    let mut views = Vec::new();
    for v in &defs.views {
        let sql = batch_sql(db, &v.query)?;
        ctx.sql(&format!("CREATE VIEW \"{}\" AS {sql}", v.name))
            .await
            .map_err(|e| format!("oracle: view {}: {e}", v.name))?;
        views.push((v.name.clone(), sql, v.query.order_by.is_some()));
    }
    Ok((ctx, views))
}

async fn run(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>, String> {
    // The view's own query, not the DataFusion view, so its ORDER BY is the outermost.
    let df = ctx
        .sql(sql)
        .await
        .map_err(|e| format!("oracle: {sql}: {e}"))?;
    df.collect()
        .await
        .map_err(|e| format!("oracle: {sql}: {e}"))
}

fn batch_sql(db: &Database, query: &Query) -> Result<String, String> {
    let mut q = query.clone();
    palisade_sql::ties::break_row_number_ties(&mut q);
    let columns = |rel: &str| {
        db.relation_schema(rel)
            .map(|s| s.fields().iter().map(|f| f.name().clone()).collect())
    };
    palisade_sql::window::rewrite_for_batch(&mut q, &columns).map_err(|e| e.to_string())?;
    Ok(q.to_string())
}

/// Compares one view with its oracle; the error describes the first difference.
pub async fn check_view(db: &Database, view: &str) -> Result<(), String> {
    check(db, Some(view)).await
}

/// Checks every view.
pub async fn check_all(db: &Database) -> Result<(), String> {
    check(db, None).await
}

async fn check(db: &Database, only: Option<&str>) -> Result<(), String> {
    let (ctx, views) = oracle_session(db).await?;
    for (name, sql, ordered) in &views {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let expected = rows(&run(&ctx, sql).await?);
        let actual = rows(
            &db.query_batches(&format!("SELECT * FROM \"{name}\""))
                .await
                .map_err(|e| e.to_string())?,
        );
        compare(name, expected, actual, *ordered)?;
    }
    if let Some(o) = only
        && !views.iter().any(|(n, _, _)| n == o)
    {
        return Err(format!("no materialized view {o}"));
    }
    Ok(())
}

fn sort_key(row: &[Cell]) -> Vec<String> {
    row.iter().map(Cell::render).collect()
}

fn compare(
    view: &str,
    mut expected: Vec<Vec<Cell>>,
    mut actual: Vec<Vec<Cell>>,
    ordered: bool,
) -> Result<(), String> {
    if !ordered {
        expected.sort_by_key(|r| sort_key(r));
        actual.sort_by_key(|r| sort_key(r));
    }
    let show = |r: &Vec<Cell>| sort_key(r).join(" | ");
    for (i, (e, a)) in expected.iter().zip(actual.iter()).enumerate() {
        if e != a {
            return Err(format!(
                "view {view}: row {i} differs from the oracle\n  oracle: {}\n  view:   {}",
                show(e),
                show(a)
            ));
        }
    }
    if expected.len() != actual.len() {
        let extra = if expected.len() > actual.len() {
            format!("missing from the view: {}", show(&expected[actual.len()]))
        } else {
            format!("not in the oracle: {}", show(&actual[expected.len()]))
        };
        return Err(format!(
            "view {view}: {} rows, oracle has {}; first {extra}",
            actual.len(),
            expected.len()
        ));
    }
    Ok(())
}
