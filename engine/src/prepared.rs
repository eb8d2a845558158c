//! Statements with parameters (`$1`, `$2`, ...): what the Postgres extended query protocol
//! needs. `prepare` says what a statement takes and returns without running it (Describe);
//! `execute_with_params` runs it with bound values (Bind + Execute).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::expr::Placeholder;
use datafusion::logical_expr::{Cast, Expr, LogicalPlan, TryCast};
use palisade_sql::{PlanErrorKind, Statement, parse_statements};

use crate::database::{Database, StatementResult};
use crate::error::{EngineError, Result};
use crate::session::Session;

/// What one statement takes and returns.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Parameter `$n` at index n-1; `None` where nothing in the statement fixes its type.
    pub params: Vec<Option<DataType>>,
    /// The columns it returns, `None` for a command without rows.
    pub schema: Option<SchemaRef>,
}

impl Database {
    /// Parses and plans one statement without running it; `None` for a text that holds no
    /// statement (only comments or semicolons).
    pub async fn prepare(&self, sql: &str) -> Result<Option<Prepared>> {
        self.prepare_in(&mut Session::default(), sql, &[]).await
    }

    /// [`Database::prepare`] in a client's session, with the types the client gave
    /// parameters at Parse: `declared[n]` for `$n+1`, `None` where it left the type open. As
    /// in PostgreSQL, a declared type applies to a parameter the statement does not type
    /// itself (`SELECT $1`), so the columns described are those the statement will return
    /// once bound.
    pub async fn prepare_in(
        &self,
        session: &mut Session,
        sql: &str,
        declared: &[Option<DataType>],
    ) -> Result<Option<Prepared>> {
        let mut statements = parse_statements(sql)?;
        if statements.len() > 1 {
            return Err(EngineError::Sql(palisade_sql::SqlError::Syntax {
                message: "cannot insert multiple commands into a prepared statement".into(),
                position: statements[1].position,
            }));
        }
        let Some(located) = statements.pop() else {
            return Ok(None);
        };
        let at = located.position;
        let prepared = match located.statement {
            Statement::Query(query) => {
                let (plan, names) = self
                    .plan_select(*query, session)
                    .await
                    .map_err(|e| e.or_position(at))?;
                let plan = type_open_parameters(plan, declared)?;
                let types = plan.get_parameter_types()?;
                let mut params = vec![None; parameter_count(types.keys())?];
                for (name, data_type) in types {
                    params[parameter_index(&name)?] = data_type;
                }
                Prepared {
                    params,
                    schema: Some(crate::query::renamed(
                        std::sync::Arc::new(plan.schema().as_arrow().clone()),
                        names.as_deref(),
                    )),
                }
            }
            // SHOW has no side effects: its result carries its columns.
            Statement::Show(_) | Statement::ShowVariable(_) => {
                match self.execute_one(located, &mut session.clone()).await? {
                    StatementResult::Rows { schema, .. } => Prepared {
                        params: vec![],
                        schema: Some(schema),
                    },
                    StatementResult::Done { .. } => Prepared {
                        params: vec![],
                        schema: None,
                    },
                }
            }
            _ => Prepared {
                params: vec![],
                schema: None,
            },
        };
        Ok(Some(prepared))
    }

    /// Runs one statement with `params` bound to `$1`, `$2`, ... in order. Values are cast
    /// to the type the statement gives each parameter.
    pub async fn execute_with_params(
        &self,
        sql: &str,
        params: Vec<ScalarValue>,
    ) -> Result<Vec<StatementResult>> {
        self.execute_with_params_in(&mut Session::default(), sql, params)
            .await
    }

    /// [`Database::execute_with_params`] in a client's session.
    pub async fn execute_with_params_in(
        &self,
        session: &mut Session,
        sql: &str,
        params: Vec<ScalarValue>,
    ) -> Result<Vec<StatementResult>> {
        if params.is_empty() {
            let (results, error) = self.execute_each_in(session, sql).await;
            return match error {
                Some(e) => Err(e),
                None => Ok(results),
            };
        }
        let mut statements = parse_statements(sql)?;
        let located = match (statements.pop(), statements.is_empty()) {
            (Some(located), true) => located,
            _ => {
                return Err(EngineError::plan(
                    PlanErrorKind::Other,
                    "parameters need exactly one statement",
                ));
            }
        };
        let at = located.position;
        let Statement::Query(query) = located.statement else {
            return Err(EngineError::unsupported("parameters outside SELECT").or_position(at));
        };
        let (plan, names) = self
            .plan_select(*query, session)
            .await
            .map_err(|e| e.or_position(at))?;
        let types = plan.get_parameter_types()?;
        let expected = parameter_count(types.keys())?;
        if params.len() != expected {
            return Err(EngineError::plan(
                PlanErrorKind::InvalidParameter,
                format!(
                    "the statement takes {expected} parameters but {} were given",
                    params.len()
                ),
            ));
        }
        let mut values = params;
        for (name, data_type) in types {
            let i = parameter_index(&name)?;
            if let Some(target) = data_type
                && values[i].data_type() != target
            {
                values[i] = values[i]
                    .cast_to(&target)
                    .map_err(|e| EngineError::Data(format!("parameter ${}: {e}", i + 1)))?;
            }
        }
        let plan = plan.with_param_values(values)?;
        Ok(vec![self.run_select(plan, names.as_deref()).await?])
    }
}

/// Gives a type to every parameter the planner left untyped, as PostgreSQL would: the type
/// the client declared for it, else the type of a cast it sits under (`$1::timestamp`).
/// DataFusion infers parameter types from comparisons, BETWEEN, IN and LIKE only, so without
/// this `SELECT $1::timestamp` describes `$1` as TEXT (asyncpg then refuses to send a
/// datetime, and a text value with an offset is shifted to UTC by the cast) and `SELECT $1`
/// describes a TEXT column whatever type the value bound later has.
fn type_open_parameters(plan: LogicalPlan, declared: &[Option<DataType>]) -> Result<LogicalPlan> {
    let mut cast_to: HashMap<String, DataType> = HashMap::new();
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) = e
                    && let Expr::Placeholder(Placeholder { id, field: None }) = expr.as_ref()
                {
                    cast_to
                        .entry(id.clone())
                        .or_insert_with(|| field.data_type().clone());
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })?;
    let type_of = |id: &str| {
        parameter_index(id)
            .ok()
            .and_then(|i| declared.get(i).cloned().flatten())
            .or_else(|| cast_to.get(id).cloned())
    };
    let open = plan
        .get_parameter_types()?
        .into_iter()
        .any(|(id, t)| t.is_none() && type_of(&id).is_some());
    if !open {
        return Ok(plan);
    }
    // Bottom up, so each node's schema is recomputed over its inputs' new schemas.
    let typed = plan.transform_up_with_subqueries(|node| {
        node.map_expressions(|expr| {
            expr.transform(|e| match e {
                Expr::Placeholder(Placeholder { id, field: None }) => Ok(match type_of(&id) {
                    Some(t) => Transformed::yes(Expr::Placeholder(Placeholder::new_with_field(
                        id,
                        Some(Arc::new(Field::new("", t, true))),
                    ))),
                    None => {
                        Transformed::no(Expr::Placeholder(Placeholder::new_with_field(id, None)))
                    }
                }),
                other => Ok(Transformed::no(other)),
            })
        })?
        .map_data(LogicalPlan::recompute_schema)
    })?;
    Ok(typed.data)
}

/// `$3` is parameter index 2.
fn parameter_index(name: &str) -> Result<usize> {
    name.strip_prefix('$')
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| *n >= 1)
        .map(|n| n - 1)
        .ok_or_else(|| EngineError::unsupported(format!("parameter {name} (use $1, $2, ...)")))
}

/// Parameters run from $1 to the highest one used, as in PostgreSQL.
fn parameter_count<'a>(names: impl Iterator<Item = &'a String>) -> Result<usize> {
    let mut count = 0;
    for name in names {
        count = count.max(parameter_index(name)? + 1);
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::{DataType, TimeUnit};

    use crate::{Database, DatabaseOptions};

    const TIMESTAMP: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);

    #[tokio::test]
    async fn a_cast_types_its_parameter() {
        let db = Database::new(DatabaseOptions::default());
        let prepared = db
            .prepare("SELECT $1::timestamp AS t, $2 AS open")
            .await
            .expect("plans")
            .expect("a statement");
        // DataFusion's TIMESTAMP is in nanoseconds; both are Postgres' TIMESTAMP.
        let timestamp = DataType::Timestamp(TimeUnit::Nanosecond, None);
        assert_eq!(prepared.params, [Some(timestamp.clone()), None]);
        let schema = prepared.schema.expect("rows");
        assert_eq!(schema.field(0).data_type(), &timestamp);
    }

    #[tokio::test]
    async fn a_declared_type_types_an_open_parameter_and_its_column() {
        let db = Database::new(DatabaseOptions::default());
        let prepared = db
            .prepare_in(
                &mut crate::session::Session::default(),
                "SELECT $1 AS t, $2 AS n",
                &[Some(TIMESTAMP), Some(DataType::Int16)],
            )
            .await
            .expect("plans")
            .expect("a statement");
        assert_eq!(prepared.params, [Some(TIMESTAMP), Some(DataType::Int16)]);
        let schema = prepared.schema.expect("rows");
        assert_eq!(schema.field(0).data_type(), &TIMESTAMP);
        assert_eq!(schema.field(1).data_type(), &DataType::Int16);
    }
}
