//! A view's DataFusion logical plan to a streaming pipeline.
//!
//! The plan is split in three: the per-event part (scan, window assignment, WHERE,
//! projections) becomes row-wise operators; the aggregate becomes [`GroupAggregate`]; the part
//! above it (window functions, HAVING, ORDER BY) stays a DataFusion plan run per window by
//! [`WindowLocal`]. A plan without aggregate is an append-only view: per-event part only.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::datasource::provider_as_source;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::expr::{AggregateFunction, WindowFunction};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{
    BinaryExpr, Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder, Operator as BinaryOp,
    SortExpr,
};
use datafusion::physical_expr::execution_props::ExecutionProps;
use datafusion::physical_expr::{PhysicalExpr, create_physical_expr};
use palisade_sql::PlanErrorKind;
use palisade_sql::window::{PLACEHOLDER_PREFIX, WindowCall, WindowKind, interval_value_micros};

use crate::accumulators::AggregateCall;
use crate::error::{EngineError, Result};
use crate::operators::aggregate::{AggregateInput, GroupAggregate, WindowLifecycle};
use crate::operators::filter::Filter;
use crate::operators::post_aggregate::WindowLocal;
use crate::operators::project::Project;
use crate::operators::temporal_filter::{Retention, TemporalFilter};
use crate::operators::window_assign::WindowAssign;
use crate::operators::{Operator, in_unit};
use crate::slot::SlotTable;
use crate::view_table::ReadOrder;

/// The name window columns must have for a view to be split by window.
pub const WINDOW_START: &str = "window_start";

/// What feeds a view: a source's events or another view's changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream(pub String);

pub struct StreamingPlan {
    pub upstream: Upstream,
    pub operators: Vec<Box<dyn Operator>>,
    pub schema: SchemaRef,
    pub order: ReadOrder,
    /// True when the view recomputes all its rows on every change (no usable window).
    pub whole_view: bool,
    /// True when the view aggregates (its changes are window replacements).
    pub aggregate: bool,
    /// True when the view's windows close on its source's watermark.
    pub closes_windows: bool,
}

/// What planning a view needs to know besides its query.
pub struct ViewContext<'a> {
    /// Each source's watermark column, by source name.
    pub watermark_columns: &'a BTreeMap<String, String>,
    /// The view was created with EMIT ON WINDOW CLOSE.
    pub emit_on_window_close: bool,
    /// Every source's name: a view reading one sees only appended events, never a
    /// retraction.
    pub sources: &'a BTreeSet<String>,
}

/// What the per-event part of a view learned about its window and retention.
#[derive(Default)]
struct Chain {
    /// The unit of the window columns and, when windows close on the source's watermark,
    /// the window length in that unit.
    window: Option<(TimeUnit, Option<i64>)>,
    retention: Option<Retention>,
}

/// Builds the pipeline for `plan`. `windows` are the TUMBLE/HOP calls the sql crate replaced
/// with placeholder tables.
pub async fn plan_view(
    plan: &LogicalPlan,
    windows: &[WindowCall],
    state: &SessionState,
    context: &ViewContext<'_>,
) -> Result<StreamingPlan> {
    let uses_of_now = count_now(plan)?;
    // Walk down through the part above the aggregate.
    let mut upper = Vec::new();
    let mut node = plan;
    loop {
        match node {
            LogicalPlan::Aggregate(_) | LogicalPlan::TableScan(_) => break,
            LogicalPlan::Projection(_)
            | LogicalPlan::Filter(_)
            | LogicalPlan::Window(_)
            | LogicalPlan::SubqueryAlias(_) => {}
            LogicalPlan::Sort(s) if s.fetch.is_none() => {}
            other => return Err(unsupported_node(other)),
        }
        upper.push(node);
        node = single_input(node)?;
    }
    let (streaming, chain) = match node {
        LogicalPlan::Aggregate(agg) => {
            plan_aggregate(plan, &upper, agg, windows, state, context).await?
        }
        _ => plan_append_only(plan, &upper, windows)?,
    };
    if uses_of_now > usize::from(chain.retention.is_some()) {
        return Err(EngineError::unsupported(
            "NOW() in a materialized view, except as a temporal filter in WHERE: \
             window_start > NOW() - INTERVAL '...'",
        ));
    }
    if context.emit_on_window_close && !streaming.closes_windows {
        return Err(EngineError::unsupported(
            "EMIT ON WINDOW CLOSE here: it needs a view grouped by window_start over TUMBLE or \
             HOP of a source whose WATERMARK is on the window's time column",
        ));
    }
    Ok(streaming)
}

fn is_now(e: &Expr) -> bool {
    matches!(e, Expr::ScalarFunction(f) if f.func.name() == "now")
}

fn count_now(plan: &LogicalPlan) -> Result<usize> {
    let mut n = 0;
    plan.apply(|node| {
        node.apply_expressions(|e| {
            e.apply(|e| {
                if is_now(e) {
                    n += 1;
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })?;
    Ok(n)
}

fn strip_casts(e: &Expr) -> &Expr {
    match e {
        Expr::Cast(c) => strip_casts(&c.expr),
        Expr::TryCast(c) => strip_casts(&c.expr),
        Expr::Alias(a) => strip_casts(&a.expr),
        other => other,
    }
}

/// `window_start > NOW() - INTERVAL 'b'` (or `>=`, or mirrored) as a retention bound.
fn temporal_filter(e: &Expr) -> Result<Option<Retention>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = e else {
        return Ok(None);
    };
    let (column, op, bound) = match op {
        BinaryOp::Gt | BinaryOp::GtEq => (left, *op, right),
        BinaryOp::Lt => (right, BinaryOp::Gt, left),
        BinaryOp::LtEq => (right, BinaryOp::GtEq, left),
        _ => return Ok(None),
    };
    if !is_window_start(strip_casts(column)) {
        return Ok(None);
    }
    let Expr::BinaryExpr(BinaryExpr {
        left: now,
        op: BinaryOp::Minus,
        right: interval,
    }) = strip_casts(bound)
    else {
        return Ok(None);
    };
    if !is_now(strip_casts(now)) {
        return Ok(None);
    }
    let Expr::Literal(value, _) = strip_casts(interval) else {
        return Err(EngineError::unsupported(
            "a temporal filter whose interval is not a constant",
        ));
    };
    let bound_micros = interval_value_micros(value).map_err(|why| {
        EngineError::plan(
            PlanErrorKind::InvalidParameter,
            format!("temporal filter interval {value}: {why}"),
        )
    })?;
    Ok(Some(Retention {
        bound_micros,
        inclusive: op == BinaryOp::GtEq,
    }))
}

fn single_input(node: &LogicalPlan) -> Result<&LogicalPlan> {
    match node.inputs().as_slice() {
        [one] => Ok(one),
        _ => Err(unsupported_node(node)),
    }
}

fn unsupported_node(node: &LogicalPlan) -> EngineError {
    let what = match node {
        LogicalPlan::Join(_) => "JOIN in a materialized view".to_string(),
        LogicalPlan::Limit(_) => "LIMIT in a materialized view".to_string(),
        LogicalPlan::Sort(_) => "ORDER BY ... LIMIT in a materialized view".to_string(),
        LogicalPlan::Distinct(_) => {
            "SELECT DISTINCT in a materialized view (use GROUP BY)".to_string()
        }
        LogicalPlan::Union(_) => "UNION in a materialized view".to_string(),
        LogicalPlan::Aggregate(_) => {
            "more than one level of GROUP BY in a materialized view".to_string()
        }
        LogicalPlan::Window(_) => {
            "window functions over events that are not aggregated".to_string()
        }
        LogicalPlan::EmptyRelation(_) | LogicalPlan::Values(_) => {
            "a materialized view that reads no source".to_string()
        }
        LogicalPlan::Subquery(_) => "subqueries in a materialized view".to_string(),
        other => format!("{} in a materialized view", other.display()),
    };
    EngineError::unsupported(what)
}

fn physical(expr: &Expr, schema: &DFSchema) -> Result<Arc<dyn PhysicalExpr>> {
    let expr = short_in_lists_as_comparisons(expr.clone())?;
    Ok(create_physical_expr(
        &expr,
        schema,
        &ExecutionProps::new(),
        &PhysicalPlanningContext::default(),
    )?)
}

/// The most literals an IN list may have to be evaluated as comparisons.
const SHORT_IN_LIST: usize = 4;

/// `x IN (a, b)` as `x = a OR x = b`, and `x NOT IN (a, b)` as `x <> a AND x <> b`, for
/// lists of up to [`SHORT_IN_LIST`] literals: SQL defines IN this way, NULLs included, so
/// the results are the same. Why: DataFusion evaluates IN by hashing every row's value
/// into a set, while a comparison with a literal is a tight vectorised kernel; for the
/// short lists views use (`user_action IN ('login', 'logout')`) the comparisons cost a
/// fraction of the hashing.
fn short_in_lists_as_comparisons(expr: Expr) -> Result<Expr> {
    Ok(expr
        .transform_up(|e| {
            let Expr::InList(list) = &e else {
                return Ok(Transformed::no(e));
            };
            if list.list.is_empty()
                || list.list.len() > SHORT_IN_LIST
                || !list.list.iter().all(|i| matches!(i, Expr::Literal(..)))
            {
                return Ok(Transformed::no(e));
            }
            let value = *list.expr.clone();
            let mut terms = list.list.iter().map(|item| {
                if list.negated {
                    value.clone().not_eq(item.clone())
                } else {
                    value.clone().eq(item.clone())
                }
            });
            let first = terms.next().expect("the list is not empty");
            let combined = terms.fold(
                first,
                |acc, t| {
                    if list.negated { acc.and(t) } else { acc.or(t) }
                },
            );
            Ok(Transformed::yes(combined))
        })?
        .data)
}

fn arrow_schema(schema: &DFSchema) -> SchemaRef {
    Arc::new(schema.as_arrow().clone())
}

/// Row-wise operators for the chain from the scan up to (not including) `top`'s input end;
/// returns the upstream relation. `chain` is ordered from the top down.
fn plan_chain(
    chain: &[&LogicalPlan],
    scan: &LogicalPlan,
    windows: &[WindowCall],
    watermark_columns: &BTreeMap<String, String>,
) -> Result<(Upstream, Vec<Box<dyn Operator>>, Chain)> {
    let mut found = Chain::default();
    let LogicalPlan::TableScan(scan) = scan else {
        return Err(unsupported_node(scan));
    };
    let table = scan.table_name.table().to_string();
    let mut ops: Vec<Box<dyn Operator>> = Vec::new();
    let upstream = if let Some(call) = table
        .strip_prefix(PLACEHOLDER_PREFIX)
        .and_then(|_| windows.iter().find(|w| w.placeholder == table))
    {
        let full = scan.source.schema();
        let time_index = full
            .index_of(&call.time_column)
            .map_err(|_| missing_time_column(call))?;
        let time_type = full.field(time_index).data_type().clone();
        if let DataType::Timestamp(unit, _) = &time_type {
            let closes = watermark_columns.get(&call.relation) == Some(&call.time_column);
            let size_micros = match call.kind {
                WindowKind::Tumble { size_micros } | WindowKind::Hop { size_micros, .. } => {
                    size_micros
                }
            };
            found.window = Some((*unit, closes.then(|| in_unit(size_micros, unit))));
        }
        ops.push(Box::new(WindowAssign::new(
            call.kind.clone(),
            time_index,
            time_type,
            full,
        )?));
        Upstream(call.relation.clone())
    } else {
        Upstream(table)
    };
    if let Some(p) = &scan.projection {
        let full = scan.source.schema();
        let exprs = p
            .iter()
            .map(|&i| -> Arc<dyn PhysicalExpr> {
                Arc::new(datafusion::physical_expr::expressions::Column::new(
                    full.field(i).name(),
                    i,
                ))
            })
            .collect();
        ops.push(Box::new(Project::new(
            exprs,
            arrow_schema(&scan.projected_schema),
        )));
    }
    for node in chain.iter().rev() {
        match node {
            LogicalPlan::Projection(p) => {
                let input = p.input.schema();
                let exprs = p
                    .expr
                    .iter()
                    .map(|e| physical(e, input))
                    .collect::<Result<Vec<_>>>()?;
                ops.push(Box::new(Project::new(exprs, arrow_schema(&p.schema))));
            }
            LogicalPlan::Filter(f) => {
                let mut rest = Vec::new();
                for conjunct in split_conjunction(&f.predicate) {
                    match temporal_filter(conjunct)? {
                        Some(retention) if found.retention.is_none() => {
                            let schema = f.input.schema();
                            let index = schema.index_of_column_by_name(None, WINDOW_START);
                            let unit = index.map(|i| schema.field(i).data_type());
                            let (Some(index), Some(DataType::Timestamp(unit, _))) = (index, unit)
                            else {
                                return Err(EngineError::unsupported(
                                    "a temporal filter on a window_start that is not a TIMESTAMP",
                                ));
                            };
                            ops.push(Box::new(TemporalFilter::new(index, retention, *unit)));
                            found.retention = Some(retention);
                        }
                        Some(_) => {
                            return Err(EngineError::unsupported(
                                "more than one temporal filter in a materialized view",
                            ));
                        }
                        None => rest.push(conjunct.clone()),
                    }
                }
                if let Some(predicate) = conjunction(rest) {
                    ops.push(Box::new(Filter::new(physical(
                        &predicate,
                        f.input.schema(),
                    )?)));
                }
            }
            LogicalPlan::SubqueryAlias(_) | LogicalPlan::Sort(_) => {}
            other => return Err(unsupported_node(other)),
        }
    }
    Ok((upstream, ops, found))
}

/// Collects the nodes between `from` (exclusive) and the scan, top down.
fn chain_to_scan(from: &LogicalPlan) -> Result<(Vec<&LogicalPlan>, &LogicalPlan)> {
    let mut chain = Vec::new();
    let mut node = from;
    loop {
        match node {
            LogicalPlan::TableScan(_) => return Ok((chain, node)),
            LogicalPlan::Projection(_) | LogicalPlan::Filter(_) | LogicalPlan::SubqueryAlias(_) => {
                chain.push(node);
                node = single_input(node)?;
            }
            other => return Err(unsupported_node(other)),
        }
    }
}

fn plan_append_only(
    plan: &LogicalPlan,
    upper: &[&LogicalPlan],
    windows: &[WindowCall],
) -> Result<(StreamingPlan, Chain)> {
    let scan = match upper.last() {
        Some(last) => single_input(last)?,
        None => plan,
    };
    if upper.iter().any(|n| matches!(n, LogicalPlan::Window(_))) {
        return Err(EngineError::unsupported(
            "window functions over events that are not aggregated",
        ));
    }
    let (upstream, operators, chain) = plan_chain(upper, scan, windows, &BTreeMap::new())?;
    if chain.retention.is_some() {
        return Err(EngineError::unsupported(
            "a temporal filter in a view without GROUP BY window_start",
        ));
    }
    let schema = arrow_schema(plan.schema());
    let order = match find_sort(upper)? {
        None => ReadOrder::Any,
        Some(sort) => ReadOrder::Columns(sort_columns(&sort.expr, &schema).ok_or_else(|| {
            EngineError::unsupported(
                "ORDER BY an expression that is not an output column, in a view without GROUP BY",
            )
        })?),
    };
    Ok((
        StreamingPlan {
            upstream,
            operators,
            schema,
            order,
            whole_view: false,
            aggregate: false,
            closes_windows: false,
        },
        chain,
    ))
}

/// The topmost Sort above which only projections and aliases sit.
fn find_sort<'a>(upper: &[&'a LogicalPlan]) -> Result<Option<&'a datafusion::logical_expr::Sort>> {
    for (i, node) in upper.iter().enumerate() {
        match node {
            LogicalPlan::Sort(s) => return Ok(Some(s)),
            LogicalPlan::Projection(_) | LogicalPlan::SubqueryAlias(_) => {}
            _ => {
                if upper[i..].iter().any(|n| matches!(n, LogicalPlan::Sort(_))) {
                    return Err(EngineError::unsupported(
                        "ORDER BY inside a subquery of a materialized view",
                    ));
                }
                return Ok(None);
            }
        }
    }
    Ok(None)
}

fn sort_columns(exprs: &[SortExpr], schema: &Schema) -> Option<Vec<(usize, SortOptions)>> {
    exprs
        .iter()
        .map(|s| match &s.expr {
            Expr::Column(c) => schema.index_of(&c.name).ok().map(|i| {
                (
                    i,
                    SortOptions {
                        descending: !s.asc,
                        nulls_first: s.nulls_first,
                    },
                )
            }),
            _ => None,
        })
        .collect()
}

fn is_window_start(e: &Expr) -> bool {
    matches!(e, Expr::Column(c) if c.name == WINDOW_START)
}

fn strip_alias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => strip_alias(&a.expr),
        other => other,
    }
}

fn literal_fraction(e: &Expr) -> Result<f64> {
    let value = match strip_alias(e) {
        Expr::Literal(v, _) => v.clone(),
        Expr::Cast(c) => match strip_alias(&c.expr) {
            Expr::Literal(v, _) => v.cast_to(c.field.data_type())?,
            _ => {
                return Err(EngineError::unsupported(
                    "a percentile fraction that is not a constant",
                ));
            }
        },
        _ => {
            return Err(EngineError::unsupported(
                "a percentile fraction that is not a constant",
            ));
        }
    };
    match value.cast_to(&datafusion::arrow::datatypes::DataType::Float64)? {
        ScalarValue::Float64(Some(v)) => Ok(v),
        _ => Err(EngineError::unsupported("a NULL percentile fraction")),
    }
}

async fn plan_aggregate(
    plan: &LogicalPlan,
    upper: &[&LogicalPlan],
    agg: &datafusion::logical_expr::Aggregate,
    windows: &[WindowCall],
    state: &SessionState,
    context: &ViewContext<'_>,
) -> Result<(StreamingPlan, Chain)> {
    let (chain, scan) = chain_to_scan(&agg.input)?;
    let (upstream, mut operators, found) =
        plan_chain(&chain, scan, windows, context.watermark_columns)?;
    let input = agg.input.schema();

    if agg
        .group_expr
        .iter()
        .any(|e| matches!(e, Expr::GroupingSet(_)))
    {
        return Err(EngineError::unsupported(
            "GROUPING SETS, CUBE and ROLLUP in a materialized view",
        ));
    }
    let group_exprs = agg
        .group_expr
        .iter()
        .map(|e| physical(e, input))
        .collect::<Result<Vec<_>>>()?;
    let group_types = agg
        .group_expr
        .iter()
        .map(|e| Ok(e.get_type(input)?))
        .collect::<Result<Vec<_>>>()?;
    // Only a timestamp window_start can key windows (its values are the partition keys).
    let mut window_key = agg
        .group_expr
        .iter()
        .position(is_window_start)
        .filter(|&i| {
            matches!(
                group_types[i],
                datafusion::arrow::datatypes::DataType::Timestamp(_, _)
            )
        });

    let mut inputs = Vec::new();
    for (i, e) in agg.aggr_expr.iter().enumerate() {
        let Expr::AggregateFunction(AggregateFunction { func, params }) = strip_alias(e) else {
            return Err(EngineError::unsupported(format!(
                "aggregate expression {e}"
            )));
        };
        let name = func.name().to_string();
        let percentile = name.starts_with("percentile_");
        let (value_args, fraction, descending) = if percentile {
            let fraction = params.args.get(1).map(literal_fraction).transpose()?;
            let desc = params.order_by.first().is_some_and(|s| !s.asc);
            (&params.args[..1], fraction, desc)
        } else {
            if !params.order_by.is_empty() {
                return Err(EngineError::unsupported(format!(
                    "ORDER BY inside {}()",
                    name.to_uppercase()
                )));
            }
            (&params.args[..], None, false)
        };
        let args = value_args
            .iter()
            .map(|a| physical(a, input))
            .collect::<Result<Vec<_>>>()?;
        let arg_types = value_args
            .iter()
            .map(|a| Ok(a.get_type(input)?))
            .collect::<Result<Vec<_>>>()?;
        let filter = params
            .filter
            .as_ref()
            .map(|f| physical(f, input))
            .transpose()?;
        let output_type = agg
            .schema
            .field(agg.group_expr.len() + i)
            .data_type()
            .clone();
        inputs.push(AggregateInput {
            call: AggregateCall {
                function: name,
                distinct: params.distinct,
                arg_types,
                output_type,
                fraction,
                descending,
                retractable: !context.sources.contains(&upstream.0),
            },
            args,
            filter,
        });
    }

    // Window functions must stay inside one window for per-window recomputation.
    let window_local = upper.iter().all(|n| match n {
        LogicalPlan::Window(w) => w.window_expr.iter().all(|e| match strip_alias(e) {
            Expr::WindowFunction(wf) => {
                let WindowFunction { params, .. } = wf.as_ref();
                params.partition_by.iter().any(is_window_start)
            }
            _ => false,
        }),
        _ => true,
    });
    if !window_local {
        window_key = None;
    }

    // ORDER BY: by window first, or by output columns at read time, or the whole view.
    let final_schema = arrow_schema(plan.schema());
    let order = match find_sort(upper)? {
        None => ReadOrder::Any,
        Some(_) if window_key.is_none() => ReadOrder::Any,
        Some(sort) if sort.expr.first().is_some_and(|s| is_window_start(&s.expr)) => {
            ReadOrder::Windows {
                descending: !sort.expr[0].asc,
            }
        }
        Some(sort) => match sort_columns(&sort.expr, &final_schema) {
            Some(cols) => ReadOrder::Columns(cols),
            None => {
                window_key = None;
                ReadOrder::Any
            }
        },
    };

    if found.retention.is_some() && window_key.is_none() {
        return Err(EngineError::unsupported(
            "a temporal filter in a view whose rows are not kept by window_start (group by \
             window_start, with window functions partitioned by it and ORDER BY window_start \
             first, if any)",
        ));
    }
    // Windows keyed by a window_start of another unit than the window call's (a view that
    // re-derives window_start) neither close nor expire.
    let lifecycle = match (window_key, found.window) {
        (Some(k), Some((unit, close_after))) if matches!(&group_types[k], DataType::Timestamp(u, _) if *u == unit) => {
            Some(WindowLifecycle {
                unit,
                close_after,
                retention: found.retention,
                emit_on_close: context.emit_on_window_close,
            })
        }
        (Some(k), None) if found.retention.is_some() => match &group_types[k] {
            DataType::Timestamp(unit, _) => Some(WindowLifecycle {
                unit: *unit,
                close_after: None,
                retention: found.retention,
                emit_on_close: false,
            }),
            _ => None,
        },
        _ => None,
    };
    let closes_windows = lifecycle.as_ref().is_some_and(|l| l.close_after.is_some());
    let agg_schema = arrow_schema(&agg.schema);
    operators.push(Box::new(GroupAggregate::new(
        group_exprs,
        group_types,
        inputs,
        window_key,
        lifecycle,
        Arc::clone(&agg_schema),
    )?));

    // The part above: a DataFusion plan over a slot holding one window's aggregated rows.
    let slot = Arc::new(Mutex::new(None));
    let slot_fields: Vec<Field> = agg_schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| Field::new(format!("c{i}"), f.data_type().clone(), true))
        .collect();
    let slot_schema = Arc::new(Schema::new(slot_fields));
    let provider = Arc::new(SlotTable::new(Arc::clone(&slot_schema), Arc::clone(&slot)));
    let scan = LogicalPlanBuilder::scan("__palisade_slot", provider_as_source(provider), None)?;
    let renames: Vec<Expr> = agg
        .schema
        .iter()
        .enumerate()
        .map(|(i, (qualifier, field))| {
            Expr::Column(Column::new(Some("__palisade_slot"), format!("c{i}")))
                .alias_qualified(qualifier.cloned(), field.name())
        })
        .collect();
    let replacement = scan.project(renames)?.build()?;
    let upper_plan = plan
        .clone()
        .transform_down(|n| {
            if matches!(n, LogicalPlan::Aggregate(_)) {
                Ok(Transformed::new(
                    replacement.clone(),
                    true,
                    TreeNodeRecursion::Jump,
                ))
            } else {
                Ok(Transformed::no(n))
            }
        })?
        .data;
    let physical_plan = state.create_physical_plan(&upper_plan).await?;
    let schema = physical_plan.schema();
    operators.push(Box::new(WindowLocal::new(
        physical_plan,
        slot,
        state.task_ctx(),
    )));
    Ok((
        StreamingPlan {
            upstream,
            operators,
            schema,
            order,
            whole_view: window_key.is_none(),
            aggregate: true,
            closes_windows,
        },
        found,
    ))
}

fn missing_time_column(call: &WindowCall) -> EngineError {
    EngineError::Sql(palisade_sql::SqlError::plan(
        PlanErrorKind::UndefinedColumn,
        format!(
            "column \"{}\" does not exist in \"{}\"",
            call.time_column, call.relation
        ),
        call.position,
    ))
}

/// A relation's schema plus the window columns, for a placeholder table.
pub fn windowed_schema(relation: &Schema, call: &WindowCall) -> Result<SchemaRef> {
    let time = relation
        .field_with_name(&call.time_column)
        .map_err(|_| missing_time_column(call))?;
    if !matches!(
        time.data_type(),
        datafusion::arrow::datatypes::DataType::Timestamp(_, _)
    ) {
        return Err(EngineError::Sql(palisade_sql::SqlError::plan(
            PlanErrorKind::DatatypeMismatch,
            format!(
                "window time column \"{}\" must be a TIMESTAMP, not {}",
                call.time_column,
                time.data_type()
            ),
            call.position,
        )));
    }
    let mut fields: Vec<Field> = relation
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    for name in [WINDOW_START, "window_end"] {
        if relation.field_with_name(name).is_ok() {
            return Err(EngineError::plan(
                PlanErrorKind::DuplicateObject,
                format!("\"{}\" already has a column named {name}", call.relation),
            ));
        }
        fields.push(Field::new(name, time.data_type().clone(), true));
    }
    Ok(Arc::new(Schema::new(fields)))
}
