//! Query shapes Postgres clients send that DataFusion plans only once reshaped: functions
//! in FROM, sorts by subqueries, IN subqueries in projections, and the columns of a SELECT
//! that has no rows.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident,
    ObjectNamePart, Query, SelectItem, SetExpr, TableFactor, Value,
};

use super::names::postgres_column_names;
use super::{custom_type_name, plain_type};

/// A function in FROM, as Postgres reads it: a scalar function (`string_to_array(...) s`)
/// is a one-row relation whose one column is named by the alias, and so is a set-returning
/// one (`generate_series(1, 3) AS i`, whose column DataFusion calls `value`). Both become a
/// derived table DataFusion plans.
pub(super) fn function_relation(factor: &TableFactor) -> Option<TableFactor> {
    let TableFactor::Table {
        name,
        alias: Some(alias),
        args: Some(args),
        ..
    } = factor
    else {
        return None;
    };
    if !alias.columns.is_empty() {
        return None;
    }
    let function = match name.0.last() {
        Some(ObjectNamePart::Identifier(i)) => i.value.to_ascii_lowercase(),
        _ => return None,
    };
    let call = format!(
        "{function}({})",
        args.args
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let column = &alias.name;
    let select = match function.as_str() {
        "generate_series" | "range" => format!("SELECT value AS {column} FROM {call}"),
        // unnest keeps its own column naming; DataFusion plans it as written.
        "unnest" => return None,
        _ => format!("SELECT {call} AS {column}"),
    };
    let sql = format!("SELECT * FROM ({select}) AS {column}");
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let mut statements = sqlparser::parser::Parser::parse_sql(&dialect, &sql).ok()?;
    let sqlparser::ast::Statement::Query(query) = statements.pop()? else {
        return None;
    };
    let SetExpr::Select(select) = *query.body else {
        return None;
    };
    select.from.into_iter().next().map(|t| t.relation)
}

/// What stands for `e` in a SELECT that has no rows: a column of an (empty) table plans as
/// it is and keeps its type; a comparison is a boolean NULL, a cast a NULL of its type, and
/// anything else a text NULL.
pub(super) fn typed_null(e: &Expr) -> Expr {
    let null = Expr::Value(Value::Null.into());
    let cast = |data_type: DataType| Expr::Cast {
        kind: sqlparser::ast::CastKind::Cast,
        expr: Box::new(null.clone()),
        data_type,
        array: false,
        format: None,
    };
    match e {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => e.clone(),
        Expr::Nested(inner) => typed_null(inner),
        Expr::BinaryOp {
            op:
                BinaryOperator::Eq
                | BinaryOperator::NotEq
                | BinaryOperator::Lt
                | BinaryOperator::LtEq
                | BinaryOperator::Gt
                | BinaryOperator::GtEq
                | BinaryOperator::And
                | BinaryOperator::Or,
            ..
        } => cast(DataType::Boolean),
        Expr::AnyOp { .. }
        | Expr::AllOp { .. }
        | Expr::IsNull(_)
        | Expr::IsNotNull(_)
        | Expr::InList { .. }
        | Expr::Exists { .. } => cast(DataType::Boolean),
        Expr::Cast { data_type, .. } => match plain_type(data_type) {
            Some(t) => cast(t),
            None if custom_type_name(data_type).is_none() => cast(data_type.clone()),
            None => null,
        },
        _ => null,
    }
}

/// `x IN (SELECT v ...)` in a projection as `array_has((SELECT array_agg(v) ...), x)`:
/// DataFusion runs IN subqueries only in filters, scalar subqueries also in projections.
pub(super) fn membership_test(e: &Expr) -> Option<Expr> {
    let Expr::InSubquery {
        expr,
        subquery,
        negated,
    } = e
    else {
        return None;
    };
    let SetExpr::Select(select) = subquery.body.as_ref() else {
        return None;
    };
    let [item] = select.projection.as_slice() else {
        return None;
    };
    let value = match item {
        SelectItem::UnnamedExpr(v) | SelectItem::ExprWithAlias { expr: v, .. } => v.clone(),
        _ => return None,
    };
    let mut values = (**subquery).clone();
    if let SetExpr::Select(select) = values.body.as_mut() {
        select.projection = vec![SelectItem::ExprWithAlias {
            expr: value,
            alias: Ident::new("__palisade_member"),
        }];
    }
    let sql = format!(
        "SELECT coalesce(array_has((SELECT array_agg(__palisade_member) FROM ({values}) AS __palisade_members), 1), false)"
    );
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let mut statements = sqlparser::parser::Parser::parse_sql(&dialect, &sql).ok()?;
    let sqlparser::ast::Statement::Query(query) = statements.pop()? else {
        return None;
    };
    let SetExpr::Select(select) = *query.body else {
        return None;
    };
    let SelectItem::UnnamedExpr(mut test) = select.projection.into_iter().next()? else {
        return None;
    };
    // The placeholder `1` becomes the tested value.
    let _ = sqlparser::ast::visit_expressions_mut(&mut test, |e: &mut Expr| {
        if let Expr::Function(f) = e
            && matches!(f.name.0.last(), Some(ObjectNamePart::Identifier(i)) if i.value == "array_has")
            && let FunctionArguments::List(list) = &mut f.args
            && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(second))) = list.args.get_mut(1)
        {
            *second = (**expr).clone();
        }
        ControlFlow::<()>::Continue(())
    });
    Some(if *negated {
        Expr::UnaryOp {
            op: sqlparser::ast::UnaryOperator::Not,
            expr: Box::new(Expr::Nested(Box::new(test))),
        }
    } else {
        test
    })
}

/// `SELECT a, b FROM t ORDER BY <expr with a subquery>` as
/// `SELECT "a", "b" FROM (SELECT a, b, <expr> AS __palisade_sort_1 FROM t) ORDER BY
/// __palisade_sort_1`: DataFusion runs subqueries in projections but not in sorts, and
/// Grafana's table picker sorts by whether a schema is on the search path.
pub(super) fn sort_outside(query: &Query) -> Option<Query> {
    use sqlparser::ast::OrderByKind;
    let order = query.order_by.as_ref()?;
    let OrderByKind::Expressions(keys) = &order.kind else {
        return None;
    };
    let has_subquery = |e: &Expr| {
        let mut found = false;
        let mut e = e.clone();
        let _ = sqlparser::ast::visit_expressions_mut(&mut e, |e: &mut Expr| {
            found |= matches!(
                e,
                Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }
            );
            ControlFlow::<()>::Continue(())
        });
        found
    };
    if !keys.iter().any(|k| has_subquery(&k.expr)) || query.with.is_some() {
        return None;
    }
    let names = postgres_column_names(query)?;
    if names.iter().collect::<std::collections::HashSet<_>>().len() != names.len() {
        return None;
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    if select.distinct.is_some() {
        return None;
    }
    let mut inner_select = select.clone();
    // Every output column under its Postgres name, then the sort keys that are not plain
    // positions or output names.
    for (item, name) in inner_select.projection.iter_mut().zip(&names) {
        if let SelectItem::UnnamedExpr(e) = item {
            *item = SelectItem::ExprWithAlias {
                expr: e.clone(),
                alias: Ident::with_quote('"', name.clone()),
            };
        }
    }
    let mut outer_keys = vec![];
    for (i, key) in keys.iter().enumerate() {
        let by_position_or_name = match &key.expr {
            Expr::Value(v) => matches!(v.value, Value::Number(..)),
            Expr::Identifier(id) => names.contains(&id.value),
            _ => false,
        };
        let mut outer = key.clone();
        if !by_position_or_name {
            let hidden = format!("__palisade_sort_{}", i + 1);
            inner_select.projection.push(SelectItem::ExprWithAlias {
                expr: key.expr.clone(),
                alias: Ident::new(&hidden),
            });
            outer.expr = Expr::Identifier(Ident::new(hidden));
        }
        outer_keys.push(outer);
    }
    let columns = names
        .iter()
        .map(|n| format!("\"{}\"", n.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("SELECT {columns} FROM (SELECT 1) AS __palisade_sorted");
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let mut statements = sqlparser::parser::Parser::parse_sql(&dialect, &sql).ok()?;
    let sqlparser::ast::Statement::Query(mut outer) = statements.pop()? else {
        return None;
    };
    let inner = Query {
        body: Box::new(SetExpr::Select(inner_select)),
        order_by: None,
        limit_clause: None,
        fetch: None,
        ..query.clone()
    };
    if let SetExpr::Select(outer_select) = outer.body.as_mut()
        && let Some(TableFactor::Derived { subquery, .. }) =
            outer_select.from.first_mut().map(|t| &mut t.relation)
    {
        **subquery = inner;
    }
    outer.order_by = Some(sqlparser::ast::OrderBy {
        kind: OrderByKind::Expressions(outer_keys),
        interpolate: None,
    });
    outer.limit_clause = query.limit_clause.clone();
    outer.fetch = query.fetch.clone();
    Some(*outer)
}
