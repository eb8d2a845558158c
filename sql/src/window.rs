//! `TUMBLE(relation, time_col, size)` and `HOP(relation, time_col, slide, size)` in FROM.
//!
//! Two rewrites of the same AST:
//! - [`rewrite_for_streaming`] replaces each call with a placeholder table that the engine
//!   registers with the relation's columns plus `window_start` and `window_end`; the engine's
//!   window-assignment operator fills them event by event.
//! - [`rewrite_for_batch`] replaces each call with plain SQL over `date_bin`, so DataFusion can
//!   run the view's query in batch over stored events: the oracle the tests compare against.

use std::ops::ControlFlow;

use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::Expr as DfExpr;
use datafusion::prelude::SessionContext;
use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, Ident, ObjectName, Query, TableAlias, TableFactor,
    VisitMut, VisitorMut,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::error::{PlanErrorKind, Position, Result, SqlError};
use crate::parser::{normalize, position};

/// Prefix of placeholder table names; users cannot create objects starting with it.
pub const PLACEHOLDER_PREFIX: &str = "__palisade_window_";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowKind {
    /// Each event belongs to the one window `[floor(ts, size), +size)`.
    Tumble { size_micros: i64 },
    /// Each event belongs to every window `[s, s + size)` with `s` a multiple of `slide`
    /// and `s <= ts < s + size`.
    Hop { slide_micros: i64, size_micros: i64 },
}

/// One TUMBLE or HOP call found in a query.
#[derive(Debug, Clone)]
pub struct WindowCall {
    pub kind: WindowKind,
    /// The source or view windowed over.
    pub relation: String,
    pub time_column: String,
    /// Name of the placeholder table that replaced the call (streaming rewrite only).
    pub placeholder: String,
    pub position: Option<Position>,
}

/// Replaces every TUMBLE/HOP with a placeholder table and returns the calls in order.
pub fn rewrite_for_streaming(query: &mut Query) -> Result<Vec<WindowCall>> {
    let mut v = Rewriter {
        calls: Vec::new(),
        batch: None,
        error: None,
    };
    let _ = query.visit(&mut v);
    match v.error {
        Some(e) => Err(e),
        None => Ok(v.calls),
    }
}

/// Replaces every TUMBLE/HOP with a `date_bin` subquery; `columns(relation)` lists the
/// relation's columns, needed to hide HOP's helper column.
pub fn rewrite_for_batch(
    query: &mut Query,
    columns: &dyn Fn(&str) -> Option<Vec<String>>,
) -> Result<()> {
    let mut v = Rewriter {
        calls: Vec::new(),
        batch: Some(columns),
        error: None,
    };
    let _ = query.visit(&mut v);
    match v.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Lists a relation's columns, or None when there is no such relation.
type ColumnsOf<'a> = &'a dyn Fn(&str) -> Option<Vec<String>>;

struct Rewriter<'a> {
    calls: Vec<WindowCall>,
    /// Some: rewrite into batch SQL (columns of each relation); None: placeholders.
    batch: Option<ColumnsOf<'a>>,
    error: Option<SqlError>,
}

impl VisitorMut for Rewriter<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        match self.rewrite(factor) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                self.error = Some(e);
                ControlFlow::Break(())
            }
        }
    }
}

impl Rewriter<'_> {
    fn rewrite(&mut self, factor: &mut TableFactor) -> Result<()> {
        let TableFactor::Table {
            name,
            args: args_slot,
            alias,
            ..
        } = factor
        else {
            return Ok(());
        };
        let Some(args) = args_slot.as_ref() else {
            return Ok(());
        };
        let Some(fname) = name.0.last().and_then(|p| p.as_ident()) else {
            return Ok(());
        };
        let fname_upper = fname.value.to_ascii_uppercase();
        let at = Some(position(fname.span.start));
        let hop = match fname_upper.as_str() {
            "TUMBLE" => false,
            "HOP" => true,
            _ => {
                return Err(SqlError::unsupported(
                    format!("table function {}", fname.value),
                    at,
                ));
            }
        };
        let exprs: Vec<&Expr> = args
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
                other => Err(SqlError::unsupported(
                    format!("{fname_upper} argument {other}"),
                    at,
                )),
            })
            .collect::<Result<_>>()?;
        let want = if hop { 4 } else { 3 };
        if exprs.len() != want {
            let usage = if hop {
                "HOP(relation, time_column, slide, size)"
            } else {
                "TUMBLE(relation, time_column, size)"
            };
            return Err(SqlError::plan(
                PlanErrorKind::InvalidParameter,
                format!("{fname_upper} takes {want} arguments: {usage}"),
                at,
            ));
        }
        let relation = ident_arg(exprs[0], "relation", at)?;
        let time_column = ident_arg(exprs[1], "time column", at)?;
        let kind = if hop {
            let slide = interval_micros(exprs[2], at)?;
            let size = interval_micros(exprs[3], at)?;
            if size < slide {
                return Err(SqlError::plan(
                    PlanErrorKind::InvalidParameter,
                    "HOP size must be at least its slide",
                    at,
                ));
            }
            WindowKind::Hop {
                slide_micros: slide,
                size_micros: size,
            }
        } else {
            WindowKind::Tumble {
                size_micros: interval_micros(exprs[2], at)?,
            }
        };
        let alias_ident = alias
            .as_ref()
            .map(|a| a.name.clone())
            .unwrap_or_else(|| Ident::new(relation.clone()));
        let placeholder = format!("{PLACEHOLDER_PREFIX}{}", self.calls.len());
        match self.batch {
            None => {
                *name = ObjectName::from(vec![Ident::with_quote('"', placeholder.clone())]);
                *args_slot = None;
                *alias = Some(table_alias(alias_ident));
            }
            Some(columns) => {
                let cols = columns(&relation).ok_or_else(|| {
                    SqlError::plan(
                        PlanErrorKind::UndefinedTable,
                        format!("relation \"{relation}\" does not exist"),
                        at,
                    )
                })?;
                let sql = batch_sql(&kind, &relation, &time_column, &cols, &exprs);
                let subquery = Parser::new(&PostgreSqlDialect {})
                    .try_with_sql(&sql)?
                    .parse_query()?;
                *factor = TableFactor::Derived {
                    lateral: false,
                    subquery,
                    alias: Some(table_alias(alias_ident)),
                    sample: None,
                };
            }
        }
        self.calls.push(WindowCall {
            kind,
            relation,
            time_column,
            placeholder,
            position: at,
        });
        Ok(())
    }
}

/// Plain SQL for one window call. TUMBLE keeps the user's interval text so the oracle
/// depends on DataFusion's interval parsing, not ours.
fn batch_sql(
    kind: &WindowKind,
    relation: &str,
    time: &str,
    cols: &[String],
    exprs: &[&Expr],
) -> String {
    let rel = quote(relation);
    let ts = quote(time);
    match kind {
        WindowKind::Tumble { .. } => {
            let size = exprs[2];
            format!(
                "SELECT *, date_bin({size}, {ts}) AS window_start, \
                 date_bin({size}, {ts}) + {size} AS window_end FROM {rel}"
            )
        }
        WindowKind::Hop {
            slide_micros,
            size_micros,
        } => {
            let (slide, size) = (exprs[2], exprs[3]);
            let n = (size_micros + slide_micros - 1) / slide_micros;
            let offsets: Vec<String> = (0..n)
                .map(|k| format!("(INTERVAL '{} microseconds')", k * slide_micros))
                .collect();
            let list: Vec<String> = cols.iter().map(|c| quote(c)).collect();
            format!(
                "SELECT {cols}, window_start, window_end FROM (\
                 SELECT r.*, date_bin({slide}, r.{ts}) - o.hop_offset AS window_start, \
                 date_bin({slide}, r.{ts}) - o.hop_offset + {size} AS window_end \
                 FROM {rel} AS r CROSS JOIN (VALUES {offsets}) AS o(hop_offset)) AS h \
                 WHERE {ts} < window_end",
                cols = list.join(", "),
                offsets = offsets.join(", "),
            )
        }
    }
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn table_alias(name: Ident) -> TableAlias {
    TableAlias {
        explicit: true,
        name,
        columns: vec![],
        at: None,
    }
}

fn ident_arg(e: &Expr, what: &str, at: Option<Position>) -> Result<String> {
    match e {
        Expr::Identifier(i) => Ok(normalize(i)),
        Expr::CompoundIdentifier(parts)
            if parts.len() == 2 && parts[0].value.eq_ignore_ascii_case("public") =>
        {
            Ok(normalize(&parts[1]))
        }
        other => Err(SqlError::plan(
            PlanErrorKind::InvalidParameter,
            format!("expected a {what} name, found {other}"),
            at,
        )),
    }
}

/// Evaluates an interval literal with DataFusion, so every spelling it accepts works here.
pub fn interval_micros(e: &Expr, at: Option<Position>) -> Result<i64> {
    described_interval_micros("window size", e, at)
}

/// [`interval_micros`] for an interval that is not a window size (`what` names it in errors).
pub fn described_interval_micros(what: &str, e: &Expr, at: Option<Position>) -> Result<i64> {
    let bad = |why: &str| {
        SqlError::plan(
            PlanErrorKind::InvalidParameter,
            format!("{what} {e}: {why}"),
            at,
        )
    };
    let ctx = SessionContext::new();
    let planned = ctx
        .state()
        .create_logical_expr(&e.to_string(), &DFSchema::empty())
        .map_err(|err| bad(&err.to_string()))?;
    let DfExpr::Literal(value, _) = planned else {
        return Err(bad(
            "expected an interval literal such as INTERVAL '1 MINUTE'",
        ));
    };
    interval_value_micros(&value).map_err(bad)
}

/// An option's interval text (`'30 seconds'`) in microseconds; `what` names it in errors.
pub fn interval_text_micros(what: &str, text: &str) -> Result<i64> {
    let quoted = text.replace('\'', "''");
    let expr = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&format!("INTERVAL '{quoted}'"))
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| {
            SqlError::plan(
                PlanErrorKind::InvalidParameter,
                format!("{what} '{text}': {e}"),
                None,
            )
        })?;
    described_interval_micros(what, &expr, None)
}

/// An interval value in microseconds; the reason when it has no fixed positive length.
pub fn interval_value_micros(value: &ScalarValue) -> std::result::Result<i64, &'static str> {
    let micros = match value {
        ScalarValue::IntervalMonthDayNano(Some(v)) => {
            if v.months != 0 {
                return Err("months and years vary in length; use days");
            }
            if v.nanoseconds % 1000 != 0 {
                return Err("the smallest unit is a microsecond");
            }
            v.days as i64 * 86_400_000_000 + v.nanoseconds / 1000
        }
        ScalarValue::IntervalDayTime(Some(v)) => {
            v.days as i64 * 86_400_000_000 + v.milliseconds as i64 * 1000
        }
        ScalarValue::IntervalYearMonth(Some(_)) => {
            return Err("months and years vary in length; use days");
        }
        _ => return Err("expected an interval literal such as INTERVAL '1 MINUTE'"),
    };
    if micros <= 0 {
        return Err("must be positive");
    }
    Ok(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(sql: &str) -> Box<Query> {
        Parser::new(&PostgreSqlDialect {})
            .try_with_sql(sql)
            .unwrap()
            .parse_query()
            .unwrap()
    }

    #[test]
    fn tumble_becomes_placeholder_aliased_as_relation() {
        let mut q = query(
            "SELECT count(*) FROM TUMBLE (logs, ts, INTERVAL '1 MINUTES') GROUP BY window_start",
        );
        let calls = rewrite_for_streaming(&mut q).unwrap();
        assert_eq!(calls.len(), 1);
        assert_eq!(
            calls[0].kind,
            WindowKind::Tumble {
                size_micros: 60_000_000
            }
        );
        assert_eq!(calls[0].relation, "logs");
        assert_eq!(calls[0].time_column, "ts");
        let text = q.to_string();
        assert!(text.contains("\"__palisade_window_0\" AS logs"), "{text}");
    }

    #[test]
    fn hop_sizes_and_batch_sql() {
        let mut q =
            query("SELECT * FROM HOP(logs, ts, INTERVAL '1 minute', INTERVAL '5 minutes') AS h");
        let calls = rewrite_for_streaming(&mut q.clone()).unwrap();
        assert_eq!(
            calls[0].kind,
            WindowKind::Hop {
                slide_micros: 60_000_000,
                size_micros: 300_000_000
            }
        );
        rewrite_for_batch(&mut q, &|_| Some(vec!["ts".into(), "ip".into()])).unwrap();
        let text = q.to_string();
        assert!(text.contains("CROSS JOIN (VALUES"), "{text}");
        assert!(text.contains("AS h"), "{text}");
    }

    #[test]
    fn bad_window_arguments_are_named() {
        let mut q = query("SELECT * FROM TUMBLE(logs, ts)");
        let e = rewrite_for_streaming(&mut q).unwrap_err().to_string();
        assert!(e.contains("TUMBLE takes 3 arguments"), "{e}");
        let mut q = query("SELECT * FROM TUMBLE(logs, ts, INTERVAL '1 month')");
        let e = rewrite_for_streaming(&mut q).unwrap_err().to_string();
        assert!(e.contains("months"), "{e}");
        let mut q = query("SELECT * FROM generate_series(1, 3)");
        let e = rewrite_for_streaming(&mut q).unwrap_err().to_string();
        assert!(e.contains("table function generate_series"), "{e}");
    }
}
