//! Deterministic ROW_NUMBER: ties are broken by the query's GROUP BY keys.
//!
//! `ROW_NUMBER() OVER (PARTITION BY window ORDER BY count DESC)` leaves the order of equal
//! counts to the engine, so a top-N view could differ between two runs over the same events,
//! and no oracle could check it. Appending the GROUP BY keys to the ORDER BY makes the rank a
//! function of the data; it only chooses among orders the query already allowed.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, GroupByExpr, OrderByExpr, OrderByOptions, Query, Select, VisitMut, VisitorMut,
    WindowType, visit_expressions_mut,
};

/// Rewrites every ROW_NUMBER in `query` (and its subqueries) that orders its window.
pub fn break_row_number_ties(query: &mut Query) {
    let _ = query.visit(&mut TieBreaker);
}

struct TieBreaker;

impl VisitorMut for TieBreaker {
    type Break = ();

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        let GroupByExpr::Expressions(keys, _) = &select.group_by else {
            return ControlFlow::Continue(());
        };
        if keys.is_empty() {
            return ControlFlow::Continue(());
        }
        let keys = keys.clone();
        for item in select.projection.iter_mut() {
            let _ = visit_expressions_mut(item, |e: &mut Expr| {
                if let Expr::Function(f) = e
                    && f.name.to_string().eq_ignore_ascii_case("row_number")
                    && let Some(WindowType::WindowSpec(spec)) = &mut f.over
                    && !spec.order_by.is_empty()
                {
                    for k in &keys {
                        let text = k.to_string();
                        let present = spec.order_by.iter().any(|o| o.expr.to_string() == text)
                            || spec.partition_by.iter().any(|p| p.to_string() == text);
                        if !present {
                            spec.order_by.push(OrderByExpr {
                                expr: k.clone(),
                                options: OrderByOptions {
                                    asc: None,
                                    nulls_first: None,
                                },
                                with_fill: None,
                            });
                        }
                    }
                }
                ControlFlow::<()>::Continue(())
            });
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::parser::Parser;

    #[test]
    fn appends_missing_group_keys_only() {
        let mut q = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(
                "SELECT a, ROW_NUMBER() OVER (PARTITION BY w ORDER BY COUNT(a) DESC) AS r, \
                 SUM(COUNT(a)) OVER (PARTITION BY w ORDER BY a) AS s FROM t GROUP BY a, w",
            )
            .unwrap()
            .parse_query()
            .unwrap();
        break_row_number_ties(&mut q);
        let text = q.to_string();
        assert!(text.contains("ORDER BY COUNT(a) DESC, a)"), "{text}");
        // running sums keep their peer semantics
        assert!(text.contains("PARTITION BY w ORDER BY a) AS s"), "{text}");
    }
}
