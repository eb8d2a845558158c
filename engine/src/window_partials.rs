//! Partial aggregates of a view's settled windows, kept between queries.
//!
//! A dashboard asks the same aggregates over the same view every few seconds, and between
//! two refreshes only the newest windows change. DataFusion aggregates in two steps: a
//! partial aggregate turns rows into per-group states, a final one merges the states. The
//! partial states of a set of windows that has not changed are the same as last time, so
//! [`CacheWindowPartials`] (a physical optimizer rule) puts a [`WindowPartialsExec`] in place
//! of a partial aggregate over a view's scan: it reads the states of settled windows from
//! the view's [`BlockCache`](crate::block_cache::BlockCache), block by block, and
//! aggregates only the rest (the windows still changing, or filtered row by row) as
//! DataFusion would have. A panel then merges a few states per block instead of
//! aggregating every row of every window.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result, internal_err};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Volatility;
use datafusion::physical_expr::expressions::{
    BinaryExpr, CaseExpr, CastExpr, Column, InListExpr, IsNotNullExpr, IsNullExpr, LikeExpr,
    Literal, NegativeExpr, NotExpr, TryCastExpr,
};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr, ScalarFunctionExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties,
    Partitioning, PlanProperties, ReplaceChildrenOptions, SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt};

use crate::block_cache::{CacheKey, block_shift};
use crate::operators::WHOLE_VIEW;
use crate::view_exec::{ScannedWindow, ViewScanExec};

/// Replaces each partial aggregate over a view's scan with a [`WindowPartialsExec`], when
/// every step between them is row by row and its result depends only on the row.
#[derive(Debug, Default)]
pub struct CacheWindowPartials;

impl PhysicalOptimizerRule for CacheWindowPartials {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_down(|node| match cached(&node)? {
            Some(exec) => Ok(Transformed::new(exec, true, TreeNodeRecursion::Jump)),
            None => Ok(Transformed::no(node)),
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "cache_window_partials"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `plan` with its partial aggregation cached, when it is an aggregate over a view's scan
/// with settled windows. The ad-hoc session plans in one partition, where DataFusion
/// merges the partial and final steps into one (`Single`): that is split again.
fn cached(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(aggregate) = plan.downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
    match aggregate.mode() {
        AggregateMode::Partial => Ok(
            WindowPartialsExec::over(plan)?.map(|exec| Arc::new(exec) as Arc<dyn ExecutionPlan>)
        ),
        AggregateMode::Single if aggregate.limit_options().is_none() => {
            let partial: Arc<dyn ExecutionPlan> = Arc::new(AggregateExec::try_new(
                AggregateMode::Partial,
                aggregate.group_expr().clone(),
                aggregate.aggr_expr().to_vec(),
                aggregate.filter_expr().to_vec(),
                Arc::clone(aggregate.input()),
                aggregate.input_schema(),
            )?);
            let Some(exec) = WindowPartialsExec::over(&partial)? else {
                return Ok(None);
            };
            let Some(partial) = partial.downcast_ref::<AggregateExec>() else {
                return internal_err!("a partial aggregate that is not an AggregateExec");
            };
            let merged = AggregateExec::try_new(
                AggregateMode::Final,
                partial.group_expr().as_final(),
                partial.aggr_expr().to_vec(),
                partial.filter_expr().to_vec(),
                Arc::new(exec),
                aggregate.input_schema(),
            )?;
            Ok(Some(Arc::new(merged)))
        }
        _ => Ok(None),
    }
}

/// The scan under `plan`, when each node from `plan` down to it has one child, works row
/// by row, and computes only from the row ([`pure`]).
fn scan_under(plan: &Arc<dyn ExecutionPlan>) -> Option<&ViewScanExec> {
    let mut node = plan;
    loop {
        if let Some(scan) = node.downcast_ref::<ViewScanExec>() {
            return Some(scan);
        }
        let row_by_row = match node.downcast_ref::<RepartitionExec>() {
            Some(r) => matches!(r.partitioning(), Partitioning::RoundRobinBatch(_)),
            None => {
                node.is::<ProjectionExec>()
                    || node.is::<FilterExec>()
                    || node.is::<CooperativeExec>()
            }
        };
        let mut pure_expressions = true;
        let _ = node.apply_expressions(&mut |e| {
            pure_expressions &= pure(e);
            Ok(TreeNodeRecursion::Continue)
        });
        let children = node.children();
        if !row_by_row || !pure_expressions || children.len() != 1 {
            return None;
        }
        node = children[0];
    }
}

/// Whether `expr` gives the same value for the same row in any query: made only of columns,
/// literals, operators and immutable functions (no subqueries, no `random()`, no session
/// settings).
fn pure(expr: &Arc<dyn PhysicalExpr>) -> bool {
    let mut pure = true;
    let _ = expr.apply(|e| {
        let node: &dyn PhysicalExpr = e.as_ref();
        pure &= node.is::<Column>()
            || node.is::<Literal>()
            || node.is::<BinaryExpr>()
            || node.is::<CastExpr>()
            || node.is::<TryCastExpr>()
            || node.is::<NotExpr>()
            || node.is::<NegativeExpr>()
            || node.is::<IsNullExpr>()
            || node.is::<IsNotNullExpr>()
            || node.is::<CaseExpr>()
            || node.is::<InListExpr>()
            || node.is::<LikeExpr>()
            || node
                .downcast_ref::<ScalarFunctionExpr>()
                .is_some_and(|f| f.fun().signature().volatility == Volatility::Immutable);
        Ok(if pure {
            TreeNodeRecursion::Continue
        } else {
            TreeNodeRecursion::Stop
        })
    });
    pure
}

/// A partial aggregate over a view's scan, whose settled windows' states come from the
/// view's [`BlockCache`](crate::block_cache::BlockCache).
///
/// At planning, the scan's cacheable windows (settled, read unfiltered) are grouped into
/// blocks by window start, and the rest are left to the partial aggregate as DataFusion
/// planned it. When run, each block's states are taken from the cache if the block's
/// windows (by version) are those they were computed from; otherwise the partial aggregate
/// runs over the block's rows alone, in one partition, and its states are cached. The
/// states of all blocks, then those of the rest, go to the final aggregate, which merges
/// them as it merges the states of DataFusion's own partitions: the result is the same as
/// without the cache, up to the order floating-point sums are added in.
pub struct WindowPartialsExec {
    /// The partial aggregate as planned, over the whole scan.
    partial: Arc<dyn ExecutionPlan>,
    /// The scan, without windows: blocks' scans are made from it.
    scan: Arc<ViewScanExec>,
    /// The partial aggregate over the windows that are not cached.
    rest: Arc<dyn ExecutionPlan>,
    blocks: Vec<Block>,
    /// What the cache knows the partial aggregate by: the plan from it down to the scan,
    /// printed, which names every expression and literal but not the scan's windows.
    plan_key: CacheKey,
    properties: Arc<PlanProperties>,
}

#[derive(Clone)]
struct Block {
    id: i64,
    windows: Vec<ScannedWindow>,
}

impl WindowPartialsExec {
    /// The cached form of `plan`, when it is a partial aggregate over a view's scan with
    /// settled windows.
    fn over(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<Self>> {
        let Some(aggregate) = plan.downcast_ref::<AggregateExec>() else {
            return Ok(None);
        };
        if *aggregate.mode() != AggregateMode::Partial
            || aggregate.limit_options().is_some()
            || !aggregate.group_expr().expr().iter().all(|(e, _)| pure(e))
            || !aggregate
                .aggr_expr()
                .iter()
                .all(|a| a.expressions().iter().all(pure))
            || !aggregate.filter_expr().iter().flatten().all(pure)
        {
            return Ok(None);
        }
        let Some(scan) = scan_under(aggregate.input()) else {
            return Ok(None);
        };
        let (cacheable, rest): (Vec<_>, Vec<_>) = scan
            .windows()
            .iter()
            .cloned()
            .partition(|w| w.cacheable() && w.key != WHOLE_VIEW);
        let Some(shift) = block_shift(cacheable.iter().map(|w| w.key)) else {
            return Ok(None);
        };
        let mut blocks: BTreeMap<i64, Vec<ScannedWindow>> = BTreeMap::new();
        for window in cacheable {
            blocks.entry(window.key >> shift).or_default().push(window);
        }
        let blocks = blocks
            .into_iter()
            .map(|(id, windows)| Block { id, windows })
            .collect();
        let partitions = plan.output_partitioning().partition_count();
        let rest = with_scan(plan, Arc::new(scan.with_windows(rest)), false)?;
        let scan = Arc::new(scan.with_windows(Vec::new()));
        Ok(Some(WindowPartialsExec {
            partial: Arc::clone(plan),
            // The parts of the aggregate that decide its states, and the plan under it
            // (whose scan prints no windows); not its metrics or runtime filters.
            plan_key: CacheKey::new(format!(
                "{:?}|{:?}|{:?}|{:?}",
                aggregate.group_expr(),
                aggregate.aggr_expr(),
                aggregate.filter_expr(),
                aggregate.input()
            )),
            properties: Arc::new(PlanProperties::new(
                EquivalenceProperties::new(plan.schema()),
                Partitioning::UnknownPartitioning(partitions),
                EmissionType::Final,
                Boundedness::Bounded,
            )),
            scan,
            rest,
            blocks,
        }))
    }

    /// The states of `block`, from the cache or computed (and then cached).
    async fn block_states(
        block: &Block,
        partial: &Arc<dyn ExecutionPlan>,
        scan: &ViewScanExec,
        plan_key: &CacheKey,
        ctx: Arc<TaskContext>,
    ) -> Result<Vec<RecordBatch>> {
        let cache = scan.table().partials();
        let members: Vec<u64> = block.windows.iter().map(|w| w.window.version).collect();
        if let Some(states) = cache.get(plan_key, block.id, &members) {
            return Ok(states);
        }
        let plan = with_scan(
            partial,
            Arc::new(scan.with_windows(block.windows.clone())),
            true,
        )?;
        let batches = datafusion::physical_plan::collect(plan, ctx).await?;
        // One batch per block: the final aggregate's cost per batch is paid once.
        let states = match batches.len() {
            0 | 1 => batches,
            _ => vec![concat_batches(&partial.schema(), &batches)?],
        };
        cache.put(plan_key, block.id, members, states.clone());
        Ok(states)
    }
}

/// `plan` (a chain of one-child nodes down to a view's scan) over `scan` instead; in one
/// partition when `single`, its round-robin repartitions left out.
fn with_scan(
    plan: &Arc<dyn ExecutionPlan>,
    scan: Arc<dyn ExecutionPlan>,
    single: bool,
) -> Result<Arc<dyn ExecutionPlan>> {
    if plan.is::<ViewScanExec>() {
        return Ok(scan);
    }
    let [child] = plan.children()[..] else {
        return internal_err!("a cached partial aggregate's input has several children");
    };
    let child = with_scan(child, scan, single)?;
    if single && plan.is::<RepartitionExec>() {
        return Ok(child);
    }
    Arc::clone(plan).replace_children(
        vec![child],
        ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
    )
}

impl fmt::Debug for WindowPartialsExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WindowPartialsExec({:?})", self.partial)
    }
}

impl DisplayAs for WindowPartialsExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let windows: usize = self.blocks.iter().map(|b| b.windows.len()).sum();
        write!(
            f,
            "WindowPartialsExec: blocks={}, cached_windows={windows}",
            self.blocks.len()
        )
    }
}

impl ExecutionPlan for WindowPartialsExec {
    fn name(&self) -> &'static str {
        "WindowPartialsExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    /// The partial aggregate over the windows not cached: what EXPLAIN ANALYZE shows and
    /// what a rule after this one may rewrite.
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.rest]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (Some(rest), true) = (children.pop(), children.is_empty()) else {
            return internal_err!("WindowPartialsExec has one child");
        };
        Ok(Arc::new(WindowPartialsExec {
            partial: Arc::clone(&self.partial),
            scan: Arc::clone(&self.scan),
            rest,
            blocks: self.blocks.clone(),
            plan_key: self.plan_key.clone(),
            properties: Arc::clone(&self.properties),
        }))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    /// Partition `p` gives the states of every n-th block from the p-th, then partition
    /// `p` of the rest.
    fn execute(
        &self,
        partition: usize,
        ctx: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let partitions = self.properties.partitioning.partition_count();
        let rest = self.rest.execute(partition, Arc::clone(&ctx))?;
        let blocks: Vec<Block> = self
            .blocks
            .iter()
            .skip(partition)
            .step_by(partitions.max(1))
            .cloned()
            .collect();
        let partial = Arc::clone(&self.partial);
        let scan = Arc::clone(&self.scan);
        let plan_key = self.plan_key.clone();
        let states = futures::stream::iter(blocks)
            .then(move |block| {
                let (partial, scan, plan_key, ctx) = (
                    Arc::clone(&partial),
                    Arc::clone(&scan),
                    plan_key.clone(),
                    Arc::clone(&ctx),
                );
                async move {
                    let states =
                        Self::block_states(&block, &partial, &scan, &plan_key, ctx).await?;
                    Ok::<_, DataFusionError>(futures::stream::iter(states.into_iter().map(Ok)))
                }
            })
            .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            states.chain(rest),
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use datafusion::arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;
    use datafusion::physical_plan::displayable;
    use datafusion::prelude::SessionContext;

    use super::*;
    use crate::operators::{Change, PartitionKey};
    use crate::view_scan::ViewProvider;
    use crate::view_table::{ReadOrder, ViewTable};

    const MINUTE: i64 = 60_000_000;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("username", DataType::Utf8, true),
            Field::new(
                "window_start",
                DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
                false,
            ),
            Field::new("requests", DataType::Int64, true),
        ]))
    }

    /// Window `w`'s rows in round `round`: users of a few names, some counts NULL.
    fn window(w: i64, round: i64) -> RecordBatch {
        let n = 3 + (w * 7 + round) % 5;
        let users: Vec<Option<String>> = (0..n)
            .map(|i| (i != 2).then(|| format!("u{}", (w + i * 3 + round) % 9)))
            .collect();
        let requests: Vec<Option<i64>> = (0..n)
            .map(|i| ((w + i + round) % 4 != 0).then_some(w * 10 + i + round))
            .collect();
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringArray::from(users)),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![w * MINUTE; n as usize])
                        .with_timezone("+00:00"),
                ),
                Arc::new(Int64Array::from(requests)),
            ],
        )
        .expect("rows")
    }

    fn replace(table: &ViewTable, windows: &[(i64, RecordBatch)]) {
        let changes = windows
            .iter()
            .map(|(w, b)| Change::Replace {
                partition: (w * MINUTE) as PartitionKey,
                old: None,
                new: Some(b.clone()),
            })
            .collect();
        table.apply(changes).expect("stored");
    }

    async fn rows(ctx: &SessionContext, sql: &str) -> (String, String) {
        let df = ctx.sql(sql).await.expect("planned");
        let plan = df.clone().create_physical_plan().await.expect("physical");
        let plan = displayable(plan.as_ref()).indent(true).to_string();
        let batches = df.collect().await.expect("ran");
        let text = pretty_format_batches(&batches).expect("text").to_string();
        (text, plan)
    }

    /// Queries, and whether their partial states are cached.
    const QUERIES: [(&str, bool); 8] = [
        (
            "SELECT window_start, COUNT(*), SUM(requests), MIN(requests), MAX(username), \
             AVG(requests) FROM {t} GROUP BY window_start ORDER BY window_start",
            true,
        ),
        (
            "SELECT username, SUM(requests) AS r, COUNT(requests) FROM {t} \
             WHERE window_start BETWEEN '1970-01-01T00:05:00Z' AND '1970-01-01T01:10:00Z' \
             GROUP BY username ORDER BY r DESC NULLS LAST, username LIMIT 4",
            true,
        ),
        (
            "SELECT date_bin(INTERVAL '5 minutes', window_start) AS t, \
             SUM(CASE WHEN requests > 100 THEN 1 ELSE 0 END) FROM {t} GROUP BY 1 ORDER BY 1",
            true,
        ),
        (
            "SELECT SUM(requests), COUNT(DISTINCT username) FROM {t}",
            true,
        ),
        (
            "SELECT username, COUNT(*) FROM {t} WHERE requests % 3 = 1 GROUP BY username \
             ORDER BY username",
            true,
        ),
        (
            "SELECT COUNT(*) FILTER (WHERE username LIKE 'u1%'), MAX(requests) FROM {t} \
             WHERE window_start >= '1970-01-01T00:40:00Z'",
            true,
        ),
        // The aggregate's input is sorted first: not row by row.
        (
            "SELECT username, array_agg(requests ORDER BY requests) FROM {t} \
             WHERE username IN ('u1', 'u2') GROUP BY username ORDER BY username",
            false,
        ),
        // random() is not pure.
        ("SELECT COUNT(*) FROM {t} WHERE random() < 2.0", false),
    ];

    /// Every query gives what DataFusion gives over the same rows, before and after the
    /// states are cached and after windows change; the second run of each reads its
    /// blocks from the cache.
    #[tokio::test]
    async fn cached_states_give_the_oracle_rows() {
        let table =
            Arc::new(ViewTable::new(schema(), ReadOrder::Any).settled_after(Duration::ZERO));
        let mut current: BTreeMap<i64, RecordBatch> = (0..90).map(|w| (w, window(w, 0))).collect();
        replace(
            &table,
            &current
                .iter()
                .map(|(w, b)| (*w, b.clone()))
                .collect::<Vec<_>>(),
        );
        let ctx = crate::query::query_session(palisade_sql::planner::new_session());
        ctx.register_table("v", Arc::new(ViewProvider(Arc::clone(&table))))
            .expect("registered");
        for round in 0..3 {
            if round > 0 {
                // A few windows change, one appears.
                let changed: Vec<(i64, RecordBatch)> = [3, 40, 41, 89, 90 + round]
                    .iter()
                    .map(|w| (*w, window(*w, round)))
                    .collect();
                replace(&table, &changed);
                current.extend(changed);
            }
            let oracle = MemTable::try_new(schema(), vec![current.values().cloned().collect()])
                .expect("memtable");
            ctx.deregister_table("oracle").expect("deregistered");
            ctx.register_table("oracle", Arc::new(oracle))
                .expect("registered");
            for (query, cacheable) in QUERIES {
                for run in 0..2 {
                    let (hits, _) = table.partials().hits_and_misses();
                    let (merged, _) = table.merged_rows().hits_and_misses();
                    let (got, plan) = rows(&ctx, &query.replace("{t}", "v AS t")).await;
                    let (want, _) = rows(&ctx, &query.replace("{t}", "oracle AS t")).await;
                    assert_eq!(got, want, "round {round}, run {run}: {query}\n{plan}");
                    assert_eq!(
                        plan.contains("WindowPartialsExec"),
                        cacheable,
                        "{query}\n{plan}"
                    );
                    let (after, _) = table.partials().hits_and_misses();
                    if run == 1 && cacheable {
                        assert!(after > hits, "no block came from the cache: {query}");
                    }
                    let (merged_after, _) = table.merged_rows().hits_and_misses();
                    if run == 1 && !cacheable {
                        // Small settled windows: a scan reads them merged, from the cache.
                        assert!(merged_after > merged, "no merged rows: {query}");
                    }
                }
            }
        }
    }
}
