//! A view served to DataFusion queries: [`ViewProvider`], which keeps or skips whole windows
//! for filters on `window_start`.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, BooleanArray, Int64Array};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::ExecutionPlan;

use crate::operators::WHOLE_VIEW;
use crate::view_exec::{ScannedWindow, ViewScanExec};
use crate::view_table::{StoredWindow, ViewTable, WindowRows};

/// Serves a view from a snapshot taken at scan time.
///
/// Filters on `window_start` alone (a dashboard's time range) are applied here, exactly:
/// a window whose rows all share one `window_start` ([`StoredWindow::uniform_start`], which every
/// window of a view grouped by it does) is kept or skipped whole on that one value, so a
/// query over the last hour of a view holding days reads an hour of rows, and a range
/// that keeps every window costs no row-by-row filter or copy. Other windows are filtered
/// row by row. DataFusion then plans no filter of its own for them.
#[derive(Debug)]
pub struct ViewProvider(pub Arc<ViewTable>);

impl ViewProvider {
    /// Whether `filter` can be decided from the window column alone.
    fn on_window_column(&self, filter: &Expr) -> bool {
        let Some(column) = self.0.window_column() else {
            return false;
        };
        let schema = self.0.schema();
        let name = schema.field(column).name();
        let refs = filter.column_refs();
        // Subqueries and parameters are planned elsewhere or bound later; a volatile
        // function would be evaluated once per window instead of once per row.
        let other = filter
            .exists(|e| {
                Ok(matches!(
                    e,
                    Expr::ScalarSubquery(_)
                        | Expr::Exists(_)
                        | Expr::InSubquery(_)
                        | Expr::Placeholder(_)
                        | Expr::OuterReferenceColumn(..)
                ))
            })
            .unwrap_or(true);
        !refs.is_empty() && refs.iter().all(|c| c.name == *name) && !other && !filter.is_volatile()
    }

    /// The windows of `windows` that `predicate` keeps, in their order: uniform windows
    /// whole, others filtered row by row. `predicate` reads the window column alone, as
    /// column 0 of [`ViewProvider::window_schema`].
    fn filtered(
        &self,
        windows: Vec<WindowRows>,
        predicate: &Arc<dyn PhysicalExpr>,
    ) -> DfResult<Vec<ScannedWindow>> {
        let Some(column) = self.0.window_column() else {
            return Ok(windows.into_iter().map(scanned).collect());
        };
        // The uniform windows' starts, as one column: the predicate is evaluated once for
        // all of them.
        let starts: Int64Array = windows
            .iter()
            .filter_map(|w| w.window.uniform_start)
            .collect();
        let starts = cast(&starts, self.0.schema().field(column).data_type())?;
        let starts = RecordBatch::try_new(self.window_schema(), vec![starts])?;
        let keep_uniform = boolean(predicate, &starts)?;
        let mut kept = Vec::new();
        let mut uniform_at = 0;
        for window in windows {
            if window.window.uniform_start.is_some() {
                // NULL (a NULL window_start, or a NULL comparison) does not pass a WHERE.
                let keep = keep_uniform.is_valid(uniform_at) && keep_uniform.value(uniform_at);
                uniform_at += 1;
                if keep {
                    kept.push(scanned(window));
                }
                continue;
            }
            let rows = window
                .window
                .batches
                .iter()
                .map(|batch| {
                    let column = batch.project(&[column])?;
                    let mask = boolean(predicate, &column)?;
                    Ok(filter_record_batch(batch, &mask)?)
                })
                .collect::<DfResult<Vec<_>>>()?;
            kept.push(ScannedWindow {
                filtered: Some(rows),
                ..scanned(window)
            });
        }
        Ok(kept)
    }

    /// The window column alone, nullable (the NULL window).
    fn window_schema(&self) -> SchemaRef {
        let fields = self
            .0
            .window_column()
            .map(|c| self.0.schema().field(c).clone().with_nullable(true));
        Arc::new(Schema::new(fields.into_iter().collect::<Vec<_>>()))
    }
}

/// A window read whole.
fn scanned(window: WindowRows) -> ScannedWindow {
    ScannedWindow {
        key: window.key,
        window: window.window,
        filtered: None,
        settled: window.settled,
    }
}

fn boolean(predicate: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> DfResult<BooleanArray> {
    let values = predicate.evaluate(batch)?.into_array(batch.num_rows())?;
    values
        .as_any()
        .downcast_ref::<BooleanArray>()
        .cloned()
        .ok_or_else(|| DataFusionError::Internal("a filter that is not boolean".into()))
}

#[async_trait]
impl TableProvider for ViewProvider {
    fn schema(&self) -> SchemaRef {
        self.0.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if self.on_window_column(f) {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if let Some(f) = filters.iter().find(|f| !self.on_window_column(f)) {
            return Err(DataFusionError::Internal(format!(
                "a filter was pushed into a view's scan that it cannot apply: {f}"
            )));
        }
        let windows = self.0.windows();
        let windows = match conjunction(filters.to_vec()) {
            None => windows.into_iter().map(scanned).collect(),
            Some(predicate) => {
                // The filter names the column as the query did (maybe qualified by the
                // view's name or an alias); the view's own schema has no qualifier.
                let predicate = predicate
                    .transform(|e| match e {
                        Expr::Column(c) => Ok(Transformed::yes(Expr::Column(
                            Column::new_unqualified(c.name),
                        ))),
                        other => Ok(Transformed::no(other)),
                    })?
                    .data;
                let schema = DFSchema::try_from(self.window_schema().as_ref().clone())?;
                let predicate = state.create_physical_expr(predicate, &schema)?;
                self.filtered(windows, &predicate)?
            }
        };
        let windows = match self.0.sorts_when_read() {
            // Sorted across windows: the rows no longer belong to one window each.
            true => {
                let batches = windows.iter().flat_map(|w| w.batches().to_vec()).collect();
                let rows = self
                    .0
                    .in_read_order(batches)
                    .map_err(|e| DataFusionError::External(Box::new(e)))?;
                vec![ScannedWindow {
                    key: WHOLE_VIEW,
                    window: Arc::new(StoredWindow::unversioned(rows)),
                    filtered: None,
                    settled: false,
                }]
            }
            false => windows,
        };
        let scan = ViewScanExec::try_new(Arc::clone(&self.0), windows, projection.cloned())?;
        Ok(Arc::new(scan))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int64Array, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    use super::*;
    use crate::operators::Change;
    use crate::view_table::ReadOrder;

    const MINUTE: i64 = 60_000_000;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new(
                "window_start",
                DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
                true,
            ),
        ]))
    }

    fn rows(n: Vec<i64>, starts: Vec<Option<i64>>) -> RecordBatch {
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int64Array::from(n)),
                Arc::new(TimestampMicrosecondArray::from(starts).with_timezone("+00:00")),
            ],
        )
        .expect("rows")
    }

    /// Four uniform windows, the NULL window, and a partition whose rows hold different
    /// window_starts (as a view could whose window_start is not its group key).
    fn windows() -> Vec<(i64, RecordBatch)> {
        let mut out: Vec<(i64, RecordBatch)> = (0..4)
            .map(|w| {
                let start = w * MINUTE;
                (start, rows(vec![w, w + 10, w + 20], vec![Some(start); 3]))
            })
            .collect();
        out.push((i64::MIN + 1, rows(vec![100, 101], vec![None, None])));
        out.push((
            99 * MINUTE,
            rows(
                vec![200, 201, 202],
                vec![Some(MINUTE), Some(5 * MINUTE), None],
            ),
        ));
        out
    }

    async fn run(ctx: &SessionContext, sql: &str) -> (String, String) {
        let df = ctx.sql(sql).await.expect("planned");
        let plan = df.clone().create_physical_plan().await.expect("physical");
        let plan = datafusion::physical_plan::displayable(plan.as_ref())
            .indent(true)
            .to_string();
        let batches = df.collect().await.expect("ran");
        let text = pretty_format_batches(&batches).expect("text").to_string();
        (text, plan)
    }

    /// Filters on window_start give exactly the rows DataFusion's own filter gives over
    /// the same rows, and leave no filter in the plan.
    #[tokio::test]
    async fn window_filters_are_exact_and_planned_into_the_scan() {
        // Windows still changing, and settled ones (read merged, block by block).
        for settled_after in [crate::view_table::SETTLED_AFTER, std::time::Duration::ZERO] {
            filters_against_oracle(settled_after).await;
        }
    }

    async fn filters_against_oracle(settled_after: std::time::Duration) {
        let table = Arc::new(ViewTable::new(schema(), ReadOrder::Any).settled_after(settled_after));
        let batches: Vec<RecordBatch> = windows().into_iter().map(|(_, b)| b).collect();
        table
            .apply(
                windows()
                    .into_iter()
                    .map(|(partition, b)| Change::Replace {
                        partition,
                        old: None,
                        new: Some(b),
                    })
                    .collect(),
            )
            .expect("stored");
        let ctx = SessionContext::new();
        ctx.register_table("v", Arc::new(ViewProvider(table)))
            .expect("registered");
        let oracle = MemTable::try_new(schema(), vec![batches]).expect("memtable");
        ctx.register_table("oracle", Arc::new(oracle))
            .expect("registered");
        let filters = [
            "window_start >= '1970-01-01T00:01:00Z' AND window_start <= '1970-01-01T00:02:00Z'",
            "window_start BETWEEN '1970-01-01T00:01:00Z' AND '1970-01-01T00:05:00Z'",
            "window_start = '1970-01-01T00:03:00Z'",
            "window_start IS NULL",
            "window_start IS NOT NULL AND window_start < '1970-01-01T00:02:00Z'",
            "v.window_start > '1970-01-01T00:00:00Z' OR window_start IS NULL",
            "window_start > '1970-01-01T00:00:00Z' OR n > 100",
            "date_bin(INTERVAL '2 minutes', window_start) = '1970-01-01T00:00:00Z'",
            "window_start < '1960-01-01T00:00:00Z'",
        ];
        for filter in filters {
            let sql =
                |t: &str| format!("SELECT n, window_start FROM {t} AS v WHERE {filter} ORDER BY n");
            let (got, plan) = run(&ctx, &sql("v")).await;
            let (want, _) = run(&ctx, &sql("oracle")).await;
            assert_eq!(got, want, "{filter}");
            let pushed = !filter.contains(" n ");
            assert_eq!(!plan.contains("FilterExec"), pushed, "{filter}\n{plan}");
        }
    }
}
