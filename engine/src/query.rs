//! Ad-hoc queries: the Postgres clients' idioms rewritten, planned over views and
//! catalogs in the shared session, run, and answered under Postgres' column names.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use sqlparser::ast::{Query, Statement as SqlStatement};

use crate::database::{Database, StatementResult};
use crate::error::{EngineError, Result};
use crate::session::Session;
use crate::window_partials::CacheWindowPartials;

impl Database {
    pub(crate) async fn query(
        &self,
        query: Query,
        session: &mut Session,
    ) -> Result<StatementResult> {
        let (plan, names) = self.plan_select(query, session).await?;
        self.run_select(plan, names.as_deref()).await
    }

    /// Plans an ad-hoc query over sources and views, the catalogs included, after the
    /// rewrite of the Postgres idioms clients send ([`palisade_sql::pg_compat`]).
    /// Also returns the result's column names as Postgres gives them, when they differ from
    /// DataFusion's ([`palisade_sql::pg_compat::postgres_column_names`]).
    pub(crate) async fn plan_select(
        &self,
        mut query: Query,
        session: &mut Session,
    ) -> Result<(LogicalPlan, Option<Vec<String>>)> {
        let names = palisade_sql::pg_compat::postgres_column_names(&query);
        if palisade_sql::pg_compat::needs_postgres_rewrite(&query) {
            let snapshot = crate::pg::snapshot::read(&self.inner.pg);
            let mut context = crate::pg::QueryContext {
                session,
                snapshot: &snapshot,
            };
            palisade_sql::pg_compat::rewrite_for_postgres_clients(&mut query, &mut context)?;
        }
        let state = self.inner.query.state();
        let statement = DfStatement::Statement(Box::new(SqlStatement::Query(Box::new(query))));
        let plan = state.statement_to_plan(statement).await?;
        Ok((plan, names))
    }

    pub(crate) async fn run_select(
        &self,
        plan: LogicalPlan,
        names: Option<&[String]>,
    ) -> Result<StatementResult> {
        let df = self.inner.query.execute_logical_plan(plan).await?;
        let schema = renamed(Arc::new(df.schema().as_arrow().clone()), names);
        let batches = df
            .collect()
            .await
            .map_err(EngineError::from_execution)?
            .into_iter()
            .map(|b| RecordBatch::try_new(renamed(b.schema(), names), b.columns().to_vec()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(StatementResult::Rows { schema, batches })
    }
}

/// The ad-hoc query session: with [`CacheWindowPartials`] last among the physical
/// optimizer's rules, and without DataFusion's common-subexpression rule: it hoists a
/// subquery repeated in a projection (Grafana's table picker sorts by the same
/// `schema IN (search path)` it shows) into a form its physical planner then refuses.
/// Repeated expressions in ad-hoc queries are small; computing them twice costs little.
pub(crate) fn query_session(ctx: SessionContext) -> SessionContext {
    let state = ctx.state();
    let rules = state
        .optimizers()
        .iter()
        .filter(|r| r.name() != "common_sub_expression_eliminate")
        .cloned()
        .collect();
    let state = datafusion::execution::SessionStateBuilder::new_from_existing(state)
        .with_optimizer_rules(rules)
        .with_physical_optimizer_rule(Arc::new(CacheWindowPartials))
        .build();
    SessionContext::new_with_state(state)
}

/// `schema` with its columns named `names` (when there is one name per column).
pub(crate) fn renamed(schema: SchemaRef, names: Option<&[String]>) -> SchemaRef {
    match names {
        Some(names) if names.len() == schema.fields().len() => {
            let fields: Vec<Field> = schema
                .fields()
                .iter()
                .zip(names)
                .map(|(f, n)| f.as_ref().clone().with_name(n))
                .collect();
            Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
        }
        _ => schema,
    }
}
