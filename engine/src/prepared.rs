//! Statements with parameters (`$1`, `$2`, ...): what the Postgres extended query protocol
//! needs. `prepare` says what a statement takes and returns without running it (Describe);
//! `execute_with_params` runs it with bound values (Bind + Execute).

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::ScalarValue;
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
        self.prepare_in(&mut Session::default(), sql).await
    }

    /// [`Database::prepare`] in a client's session.
    pub async fn prepare_in(&self, session: &mut Session, sql: &str) -> Result<Option<Prepared>> {
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
                let types = plan.get_parameter_types()?;
                let mut params = vec![None; parameter_count(types.keys())?];
                for (name, data_type) in types {
                    params[parameter_index(&name)?] = data_type;
                }
                Prepared {
                    params,
                    schema: Some(crate::database::renamed(
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
