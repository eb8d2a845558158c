//! Queries to DataFusion logical plans.

use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use sqlparser::ast::{Query, Statement as SqlStatement};

use crate::error::Result;

/// A DataFusion session set up the way Palisade plans and runs SQL: Palisade's functions,
/// source positions in errors, one partition (view state is small and already in memory).
pub fn new_session() -> SessionContext {
    let mut config = SessionConfig::new()
        .with_target_partitions(1)
        .with_information_schema(false);
    config.options_mut().sql_parser.collect_spans = true;
    let ctx = SessionContext::new_with_config(config);
    crate::functions::register(&ctx);
    ctx
}

/// Plans `query` against the tables registered in `ctx` and runs DataFusion's analyzer
/// (type coercion) but not its optimizer, whose rewrites (e.g. of COUNT DISTINCT into two
/// aggregates) would hide the query's shape from the streaming planner.
pub async fn plan_query(ctx: &SessionContext, query: &Query) -> Result<LogicalPlan> {
    let state = ctx.state();
    let statement = DfStatement::Statement(Box::new(SqlStatement::Query(Box::new(query.clone()))));
    let plan = state.statement_to_plan(statement).await?;
    let analyzed = state
        .analyzer()
        .execute_and_check(plan, state.config_options(), |_, _| {})?;
    Ok(analyzed)
}
