//! `SHOW SOURCES` and `SHOW MATERIALIZED VIEWS`: the catalog and each object's progress as
//! rows; `SHOW name` of a session setting; and each view's size, for the benchmark.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;

use crate::database::{Database, StatementResult};
use crate::error::Result;

impl Database {
    /// One row per source: what it reads, how far it got, what it could not decode.
    pub(crate) async fn show_sources(&self) -> Result<StatementResult> {
        let catalog = self.inner.catalog.lock().await;
        let flow = self.dataflow();
        let (mut names, mut connectors, mut columns, mut rows) = (vec![], vec![], vec![], vec![]);
        let (mut dead, mut coerced, mut partitions, mut lag, mut status) =
            (vec![], vec![], vec![], vec![], vec![]);
        let (mut late, mut watermarks) = (vec![], vec![]);
        for name in catalog
            .order
            .iter()
            .filter(|n| catalog.sources.contains_key(*n))
        {
            let def = &catalog.sources[name];
            names.push(name.clone());
            connectors.push(def.spec.connector.clone());
            columns.push(
                def.spec
                    .schema
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            let source = flow.sources.get(name);
            let progress = source.map(|s| *s.progress.borrow()).unwrap_or_default();
            rows.push(progress.delivered as i64);
            let log = source.and_then(|s| s.log.as_ref());
            dead.push(log.map_or(0, |l| l.dead_lettered as i64));
            coerced.push(log.map_or(0, |l| l.coerced as i64));
            let watermark = source.and_then(|s| s.watermark.as_ref());
            late.push(watermark.map_or(0, |w| w.state.late as i64));
            watermarks.push(watermark.and_then(|w| w.watermark()));
            partitions.push(log.map(|l| l.offsets.len() as i32));
            // Unknown (NULL) until every partition's high watermark has been reported.
            lag.push(log.and_then(|l| {
                l.offsets
                    .iter()
                    .map(|(p, at)| l.high_watermarks.get(p).map(|hw| (hw - at).max(0)))
                    .sum::<Option<i64>>()
            }));
            let runner = catalog.runners.get(name);
            status.push(
                match (
                    runner.and_then(|r| r.failure()),
                    runner.and_then(|r| r.outage()),
                ) {
                    (Some(f), _) => format!("failed: {f}"),
                    (None, Some(why)) => format!("reconnecting: {why}"),
                    _ if progress.done => "finished".to_string(),
                    _ if runner.is_none() => "embedded".to_string(),
                    _ if source.is_some_and(|s| s.subscribers.is_empty()) => {
                        "idle (no views)".to_string()
                    }
                    _ => "running".to_string(),
                },
            );
        }
        rows_result(vec![
            ("name", strings(names)),
            ("connector", strings(connectors)),
            ("columns", strings(columns)),
            ("rows_ingested", Arc::new(Int64Array::from(rows))),
            ("dead_lettered", Arc::new(Int64Array::from(dead))),
            ("coerced", Arc::new(Int64Array::from(coerced))),
            ("late", Arc::new(Int64Array::from(late))),
            ("partitions", Arc::new(Int32Array::from(partitions))),
            ("lag", Arc::new(Int64Array::from(lag))),
            (
                "watermark",
                Arc::new(TimestampMicrosecondArray::from(watermarks)),
            ),
            ("status", strings(status)),
        ])
    }

    /// One row per view: its upstream, size, how it updates, its failures and its SQL.
    pub(crate) async fn show_views(&self) -> Result<StatementResult> {
        let catalog = self.inner.catalog.lock().await;
        let flow = self.dataflow();
        let (mut names, mut upstreams, mut rows, mut errors, mut last, mut defs) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        let (mut updates, mut open) = (vec![], vec![]);
        for name in catalog
            .order
            .iter()
            .filter(|n| catalog.views.contains_key(*n))
        {
            let def = &catalog.views[name];
            let Some(v) = flow.views.get(name) else {
                continue;
            };
            names.push(name.clone());
            updates.push(
                if def.whole_view {
                    "whole view"
                } else if def.replaces {
                    "per window"
                } else {
                    "append"
                }
                .to_string(),
            );
            upstreams.push(def.upstream.clone());
            rows.push(v.table.row_count() as i64);
            open.push(
                v.operators
                    .iter()
                    .find_map(|op| op.open_windows())
                    .map(|n| n as i64),
            );
            errors.push(v.errors as i64);
            last.push(v.last_error.clone());
            defs.push(def.sql.clone());
        }
        rows_result(vec![
            ("name", strings(names)),
            ("upstream", strings(upstreams)),
            ("rows", Arc::new(Int64Array::from(rows))),
            ("updates", strings(updates)),
            ("open_windows", Arc::new(Int64Array::from(open))),
            ("failed_batches", Arc::new(Int64Array::from(errors))),
            ("last_error", Arc::new(StringArray::from(last))),
            ("definition", strings(defs)),
        ])
    }
}

/// How much a view holds: its aggregate state and its rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewSize {
    pub name: String,
    pub rows: u64,
    /// The operators' state as a checkpoint writes it (keys, counters, value multisets).
    pub state_bytes: u64,
    /// The rows' Arrow buffers.
    pub row_bytes: u64,
    /// What queries keep computed from the view's settled windows
    /// ([`crate::block_cache`]), at most a fixed budget per view.
    pub cache_bytes: u64,
}

impl Database {
    /// Every view's size now. Serialises each view's operator state, so it costs about
    /// what a checkpoint's capture does: for reports, not for a hot path.
    pub fn view_sizes(&self) -> Result<Vec<ViewSize>> {
        let flow = self.dataflow();
        let mut out = Vec::with_capacity(flow.views.len());
        for (name, view) in &flow.views {
            let mut state = crate::state::StateWriter::default();
            for op in &view.operators {
                op.save(&mut state)?;
            }
            let partitions = view.table.partitions_shared();
            let batches = partitions.values().flatten();
            out.push(ViewSize {
                name: name.clone(),
                rows: batches.clone().map(|b| b.num_rows() as u64).sum(),
                state_bytes: state.into_bytes().len() as u64,
                row_bytes: batches.map(|b| b.get_array_memory_size() as u64).sum(),
                cache_bytes: (view.table.partials().bytes() + view.table.merged_rows().bytes())
                    as u64,
            });
        }
        Ok(out)
    }
}

/// `SHOW name`: one column named for the setting; `SHOW ALL`: name, setting, description,
/// as Postgres answers.
pub(crate) fn show_setting(
    session: &crate::session::Session,
    name: &str,
) -> Result<StatementResult> {
    let rows = session.show(name)?;
    if name == "all" {
        let (mut names, mut values, mut descriptions) = (vec![], vec![], vec![]);
        for (n, v, d) in rows {
            names.push(n);
            values.push(v);
            descriptions.push(d);
        }
        return rows_result(vec![
            ("name", strings(names)),
            ("setting", strings(values)),
            ("description", strings(descriptions)),
        ]);
    }
    let (column, value) = rows
        .into_iter()
        .next()
        .map(|(n, v, _)| (n, v))
        .unwrap_or_default();
    rows_result(vec![(column.as_str(), strings(vec![value]))])
}

fn strings(v: Vec<String>) -> ArrayRef {
    Arc::new(StringArray::from(v))
}

pub(crate) fn rows_result(columns: Vec<(&str, ArrayRef)>) -> Result<StatementResult> {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        columns.into_iter().map(|(_, a)| a).collect(),
    )?;
    Ok(StatementResult::Rows {
        schema,
        batches: vec![batch],
    })
}
