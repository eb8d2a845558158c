//! The names Postgres gives result columns (its FigureColname), which Palisade's answers
//! carry instead of DataFusion's display names.

use sqlparser::ast::{Expr, ObjectNamePart, Query, SelectItem, SetExpr, Value};

use super::custom_type_name;

/// The names Postgres gives the columns of `query`'s result: an alias, else a column's
/// or function's own name, else `?column?` (Postgres' FigureColname). DataFusion names an
/// unaliased `count(*)` "count(*)" and refuses two columns of one name, so the engine plans
/// with its own names and renames the result to these. `None` where the projection has a
/// wildcard (its names are the columns').
pub fn postgres_column_names(query: &Query) -> Option<Vec<String>> {
    // A UNION's columns are named by its first branch.
    let mut body = query.body.as_ref();
    while let SetExpr::SetOperation { left, .. } = body {
        body = left.as_ref();
    }
    let SetExpr::Select(select) = body else {
        return None;
    };
    select
        .projection
        .iter()
        .map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
            SelectItem::UnnamedExpr(e) => Some(figure_column_name(e)),
            _ => None,
        })
        .collect()
}

pub(super) fn figure_column_name(e: &Expr) -> String {
    named(e).map_or_else(|| "?column?".to_string(), |(name, _)| name)
}

/// Postgres' FigureColnameInternal: a name and its strength, 2 for names from columns,
/// functions and subqueries, 1 for the weaker ones (a cast's type, `case`), which a CASE
/// does not take from its ELSE.
fn named(e: &Expr) -> Option<(String, u8)> {
    let strong = |s: &str| Some((s.to_string(), 2));
    match e {
        Expr::Identifier(i) => strong(&i.value),
        Expr::CompoundIdentifier(parts) => parts.last().and_then(|i| strong(&i.value)),
        Expr::Function(f) => match f.name.0.last() {
            Some(ObjectNamePart::Identifier(i)) => strong(&i.value.to_ascii_lowercase()),
            _ => None,
        },
        Expr::Cast {
            expr, data_type, ..
        } => named(expr).or_else(|| {
            Some((
                custom_type_name(data_type)
                    .unwrap_or_else(|| data_type.to_string().to_ascii_lowercase()),
                1,
            ))
        }),
        Expr::Nested(inner) | Expr::Collate { expr: inner, .. } => named(inner),
        Expr::Case { else_result, .. } => match else_result.as_deref().and_then(named) {
            Some((name, 2)) => Some((name, 2)),
            _ => Some(("case".into(), 1)),
        },
        // A scalar subquery is named by its one column.
        Expr::Subquery(q) => postgres_column_names(q)
            .and_then(|n| n.into_iter().next())
            .filter(|n| n != "?column?")
            .map(|n| (n, 2)),
        Expr::Exists { .. } => strong("exists"),
        Expr::Array(_) => strong("array"),
        Expr::Trim { trim_where, .. } => match trim_where {
            Some(sqlparser::ast::TrimWhereField::Leading) => strong("ltrim"),
            Some(sqlparser::ast::TrimWhereField::Trailing) => strong("rtrim"),
            _ => strong("btrim"),
        },
        Expr::Extract { .. } => strong("extract"),
        Expr::Floor { .. } => strong("floor"),
        Expr::Ceil { .. } => strong("ceil"),
        Expr::Substring { .. } => strong("substring"),
        Expr::Position { .. } => strong("position"),
        Expr::Value(v) if matches!(v.value, Value::Boolean(_)) => Some(("bool".into(), 1)),
        _ => None,
    }
}
