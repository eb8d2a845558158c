//! What Postgres clients write that DataFusion does not plan, rewritten into what it does,
//! before an ad-hoc query is planned. psql's describe queries and Grafana's pickers are
//! fixed texts we cannot change, so the engine meets them:
//!
//! - `OPERATOR(pg_catalog.~)` becomes the plain operator; `COLLATE pg_catalog.default` goes
//!   (Palisade compares text bytewise, which is what the C collation does anyway).
//! - `pg_catalog.f(...)` calls lose the schema: DataFusion's functions have no schemas.
//! - Unqualified catalog tables (`FROM pg_class`) get `pg_catalog.`, which Postgres always
//!   searches first.
//! - Casts to `regclass`, `regnamespace`, `regtype`, `oid` and the `pg_catalog.`-qualified
//!   type names: a literal name becomes its OID, an OID expression becomes a CASE over the
//!   catalog's names (so the answer is exact without a correlated lookup DataFusion cannot
//!   plan).
//! - Functions whose answer belongs to the session or the catalog (`current_setting`,
//!   `set_config`, `current_user`, `version()`, `pg_get_viewdef`, `pg_get_userbyid`, ...)
//!   become literals or CASEs.
//! - A subquery that reads only catalog tables Palisade keeps empty (`pg_attrdef`,
//!   `pg_inherits`, `pg_publication`, ...) has a known answer: no rows. It becomes NULL,
//!   false or an empty array. psql's describe queries are full of such correlated
//!   subqueries, which DataFusion cannot decorrelate.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, CaseWhen, DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    Ident, ObjectName, ObjectNamePart, Query, SelectItem, SetExpr, TableFactor, TableWithJoins,
    Value, VisitMut, VisitorMut,
};

use crate::error::{PlanErrorKind, Result, SqlError};

/// What the rewrite needs to know about the session and the catalog.
pub trait PgContext {
    /// A setting's current value; `None` for a name Palisade does not know.
    fn setting(&self, name: &str) -> Option<String>;
    /// `set_config(name, value, is_local)`: applies it and returns the new value.
    fn set_config(&mut self, name: &str, value: &str, local: bool) -> Result<String>;
    /// The session's user.
    fn user(&self) -> String;
    /// The database the session opened.
    fn database(&self) -> String;
    /// What `version()` returns.
    fn version(&self) -> String;
    /// Every relation's OID and name, catalog tables included, for `::regclass`.
    fn relations(&self) -> Vec<(u32, String)>;
    /// Every schema's OID and name, for `::regnamespace`.
    fn namespaces(&self) -> Vec<(u32, String)>;
    /// Every type's OID and name, for `::regtype`.
    fn types(&self) -> Vec<(u32, String)>;
    /// Every role's OID and name, for `pg_get_userbyid`.
    fn roles(&self) -> Vec<(u32, String)>;
    /// Every view's OID and definition, for `pg_get_viewdef`.
    fn view_definitions(&self) -> Vec<(u32, String)>;
    /// Whether `pg_catalog.name` is a catalog table Palisade keeps empty.
    fn is_empty_catalog_table(&self, name: &str) -> bool;
    /// Whether `name` is a table of the pg_catalog schema.
    fn is_catalog_table(&self, name: &str) -> bool;
    /// Whether `name` is an array column of a catalog table that is always NULL
    /// (`reloptions`): unnesting it yields no rows.
    fn is_null_array_column(&self, name: &str) -> bool;
}

/// Rewrites `query` in place; see the module documentation for what changes.
pub fn rewrite_for_postgres_clients(query: &mut Query, context: &mut dyn PgContext) -> Result<()> {
    let mut rewriter = Rewriter {
        context,
        error: None,
    };
    let _ = query.visit(&mut rewriter);
    match rewriter.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

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

fn figure_column_name(e: &Expr) -> String {
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

/// Whether `query` uses anything [`rewrite_for_postgres_clients`] would change, so plain
/// queries over views skip building its context.
pub fn needs_postgres_rewrite(query: &Query) -> bool {
    let text = query.to_string().to_ascii_lowercase();
    [
        "pg_",
        "operator(",
        "collate",
        "regclass",
        "regnamespace",
        "regtype",
        "regproc",
        "current_",
        "session_user",
        "user",
        "set_config",
        "version",
        "::oid",
        " oid",
        "information_schema",
        "::name",
        "::\"char\"",
        "array(",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

struct Rewriter<'a> {
    context: &'a mut dyn PgContext,
    error: Option<SqlError>,
}

impl VisitorMut for Rewriter<'_> {
    type Break = ();

    fn post_visit_relation(&mut self, relation: &mut ObjectName) -> ControlFlow<()> {
        if let [ObjectNamePart::Identifier(name)] = relation.0.as_slice()
            && self.context.is_catalog_table(&name.value)
        {
            relation
                .0
                .insert(0, ObjectNamePart::Identifier(Ident::new("pg_catalog")));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let Some(derived) = function_relation(factor) {
            *factor = derived;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &mut sqlparser::ast::Select) -> ControlFlow<()> {
        for item in select.projection.iter_mut() {
            let _ = sqlparser::ast::visit_expressions_mut(item, |e: &mut Expr| {
                if let Some(membership) = membership_test(e) {
                    *e = membership;
                }
                ControlFlow::<()>::Continue(())
            });
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        // A SELECT over an empty catalog has no rows; its expressions (array compares,
        // correlated ARRAY subqueries) need not plan, only its columns must stay.
        if let Some(wrapped) = sort_outside(query) {
            *query = wrapped;
        }
        let blanked = self.blank_if_empty(query.body.as_mut());
        if blanked && matches!(query.body.as_ref(), SetExpr::Select(_)) {
            query.order_by = None;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        // Before descending: the subquery's own text is what DataFusion cannot plan.
        if let Some(known) = self.empty_subquery_value(expr) {
            *expr = known;
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match self.rewrite(expr) {
            Ok(Some(new)) => *expr = new,
            Ok(None) => {}
            Err(e) => {
                self.error = Some(e);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }
}

impl Rewriter<'_> {
    fn rewrite(&mut self, expr: &Expr) -> Result<Option<Expr>> {
        Ok(Some(match expr {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::PGCustomBinaryOperator(parts),
                right,
            } => {
                let Some(op) = builtin_operator(parts) else {
                    return Err(SqlError::unsupported(
                        format!("OPERATOR({})", parts.join(".")),
                        None,
                    ));
                };
                Expr::BinaryOp {
                    left: left.clone(),
                    op,
                    right: right.clone(),
                }
            }
            Expr::Collate { expr, .. } => (**expr).clone(),
            Expr::Cast {
                kind,
                expr: inner,
                data_type,
                array,
                format,
            } => match self.cast(inner, data_type)? {
                Some(new) => new,
                None => match plain_type(data_type) {
                    Some(data_type) => Expr::Cast {
                        kind: kind.clone(),
                        expr: inner.clone(),
                        data_type,
                        array: *array,
                        format: format.clone(),
                    },
                    None => return Ok(None),
                },
            },
            Expr::Function(f) => return self.function(f),
            Expr::Identifier(ident) => match ident.value.to_ascii_lowercase().as_str() {
                // Keywords Postgres treats as functions without parentheses.
                "current_user" | "session_user" | "user" | "current_role"
                    if ident.quote_style.is_none() =>
                {
                    string(&self.context.user())
                }
                "current_catalog" if ident.quote_style.is_none() => {
                    string(&self.context.database())
                }
                "current_schema" if ident.quote_style.is_none() => string("public"),
                _ => return Ok(None),
            },
            _ => return Ok(None),
        }))
    }

    /// A cast Palisade answers itself: `regclass` and friends, which name catalog rows.
    fn cast(&mut self, inner: &Expr, data_type: &DataType) -> Result<Option<Expr>> {
        let Some(name) = custom_type_name(data_type) else {
            return Ok(None);
        };
        let table = match name.as_str() {
            "regclass" => self.context.relations(),
            "regnamespace" => self.context.namespaces(),
            "regtype" => self.context.types(),
            "regrole" => self.context.roles(),
            "regproc" | "regprocedure" => vec![],
            _ => return Ok(None),
        };
        if let Some(text) = string_literal(inner) {
            // 'name'::regclass: the OID, or Postgres' error for a name that is not there.
            let wanted = text.rsplit('.').next().unwrap_or(text).trim_matches('"');
            if let Ok(oid) = wanted.parse::<u32>() {
                return Ok(Some(number(oid)));
            }
            return match table.iter().find(|(_, n)| n == wanted) {
                Some((oid, _)) => Ok(Some(number(*oid))),
                None => Err(SqlError::plan(
                    if name == "regclass" {
                        PlanErrorKind::UndefinedTable
                    } else {
                        PlanErrorKind::UndefinedObject
                    },
                    format!("{} \"{text}\" does not exist", describe_reg(&name)),
                    None,
                )),
            };
        }
        // An OID expression: its name where there is one, else the number as text, as
        // Postgres prints an OID it cannot resolve.
        Ok(Some(case_lookup(inner, &table, fallback_text(inner))))
    }

    fn function(&mut self, f: &sqlparser::ast::Function) -> Result<Option<Expr>> {
        let name = match f.name.0.last() {
            Some(ObjectNamePart::Identifier(i)) => i.value.to_ascii_lowercase(),
            _ => return Ok(None),
        };
        let qualified = f.name.0.len() > 1;
        let args = plain_args(&f.args);
        let replaced = match (name.as_str(), args.as_slice()) {
            ("current_setting", [setting, rest @ ..]) => {
                let Some(setting) = string_literal(setting) else {
                    return Err(SqlError::unsupported(
                        "current_setting of a name that is not a constant",
                        None,
                    ));
                };
                let missing_ok =
                    matches!(rest.first(), Some(Expr::Value(v)) if v.value == Value::Boolean(true));
                match self.context.setting(&setting.to_ascii_lowercase()) {
                    Some(value) => string(&value),
                    None if missing_ok => Expr::Value(Value::Null.into()),
                    None => return Err(unknown_setting(setting)),
                }
            }
            ("set_config", [setting, value, local]) => {
                let (Some(setting), Some(value)) = (string_literal(setting), string_literal(value))
                else {
                    return Err(SqlError::unsupported(
                        "set_config with arguments that are not constants",
                        None,
                    ));
                };
                let local = matches!(local, Expr::Value(v) if v.value == Value::Boolean(true));
                string(
                    &self
                        .context
                        .set_config(&setting.to_ascii_lowercase(), value, local)?,
                )
            }
            ("current_user" | "session_user" | "user" | "current_role", []) => {
                string(&self.context.user())
            }
            ("current_database" | "current_catalog", []) => string(&self.context.database()),
            ("current_schema", []) => string("public"),
            ("current_schemas", [_]) => Expr::Array(sqlparser::ast::Array {
                elem: vec![string("pg_catalog"), string("public")],
                named: true,
            }),
            ("version", []) => string(&self.context.version()),
            ("pg_get_userbyid", [oid]) => {
                case_lookup(oid, &self.context.roles(), unknown_oid_text(oid))
            }
            ("pg_get_viewdef", [target, ..]) => {
                let definitions = self.context.view_definitions();
                match string_literal(target) {
                    Some(name) if name.parse::<u32>().is_err() => {
                        let oid = self
                            .context
                            .relations()
                            .into_iter()
                            .find(|(_, n)| n == name);
                        match oid.and_then(|(oid, _)| definitions.iter().find(|(o, _)| *o == oid)) {
                            Some((_, sql)) => string(sql),
                            None => Expr::Value(Value::Null.into()),
                        }
                    }
                    _ => case_lookup(target, &definitions, Expr::Value(Value::Null.into())),
                }
            }
            // Function names DataFusion knows, under the schema Postgres keeps them in.
            _ if qualified => {
                let mut f = f.clone();
                f.name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]);
                Expr::Function(f)
            }
            _ => return Ok(None),
        };
        Ok(Some(replaced))
    }

    /// Replaces each SELECT (of a UNION too) that yields no rows by `SELECT NULL AS name,
    /// ... FROM <same>` without WHERE; true when the body itself was one.
    fn blank_if_empty(&self, body: &mut SetExpr) -> bool {
        match body {
            SetExpr::SetOperation { left, right, .. } => {
                self.blank_if_empty(left);
                self.blank_if_empty(right);
                false
            }
            SetExpr::Select(select) => {
                let grouped = !matches!(&select.group_by, sqlparser::ast::GroupByExpr::Expressions(e, _) if e.is_empty());
                let empty = !grouped
                    && !select.projection.iter().any(has_aggregate)
                    && select.from.iter().any(|t| self.from_is_empty(t));
                if !empty {
                    return false;
                }
                let mut used = std::collections::HashSet::new();
                for item in select.projection.iter_mut() {
                    let name = match &*item {
                        SelectItem::ExprWithAlias { alias, .. } => alias.value.clone(),
                        SelectItem::UnnamedExpr(e) => figure_column_name(e),
                        _ => continue,
                    };
                    // DataFusion wants distinct names; the result is renamed back to
                    // Postgres' names after planning.
                    let mut unique = name.clone();
                    let mut n = 1;
                    while !used.insert(unique.clone()) {
                        n += 1;
                        unique = format!("{name}_{n}");
                    }
                    let original = match &*item {
                        SelectItem::ExprWithAlias { expr, .. } | SelectItem::UnnamedExpr(expr) => {
                            expr.clone()
                        }
                        _ => continue,
                    };
                    *item = SelectItem::ExprWithAlias {
                        expr: typed_null(&original),
                        alias: Ident::with_quote('"', unique),
                    };
                }
                select.selection = None;
                true
            }
            _ => false,
        }
    }

    /// NULL, false or `[]` for a subquery whose FROM reads only catalog tables Palisade
    /// keeps empty, so it has no rows.
    fn empty_subquery_value(&self, expr: &Expr) -> Option<Expr> {
        match expr {
            Expr::Subquery(q) if self.yields_no_rows(q) => Some(Expr::Value(Value::Null.into())),
            Expr::Exists { subquery, negated } if self.yields_no_rows(subquery) => {
                Some(Expr::Value(Value::Boolean(*negated).into()))
            }
            Expr::InSubquery {
                subquery, negated, ..
            } if self.yields_no_rows(subquery) => {
                Some(Expr::Value(Value::Boolean(*negated).into()))
            }
            Expr::Function(f)
                if matches!(f.name.0.last(), Some(ObjectNamePart::Identifier(i)) if i.value.eq_ignore_ascii_case("array"))
                    && matches!(&f.args, FunctionArguments::Subquery(q) if self.yields_no_rows(q)) =>
            {
                Some(Expr::Function(sqlparser::ast::Function {
                    name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new("make_array"))]),
                    uses_odbc_syntax: false,
                    parameters: FunctionArguments::None,
                    args: FunctionArguments::List(sqlparser::ast::FunctionArgumentList {
                        duplicate_treatment: None,
                        args: vec![],
                        clauses: vec![],
                    }),
                    filter: None,
                    null_treatment: None,
                    over: None,
                    within_group: vec![],
                }))
            }
            _ => None,
        }
    }

    /// Whether `query` certainly returns no rows: a plain SELECT, without aggregates (which
    /// answer even over nothing), whose FROM has an empty factor every row must come from.
    fn yields_no_rows(&self, query: &Query) -> bool {
        let SetExpr::Select(select) = query.body.as_ref() else {
            return false;
        };
        let grouped = !matches!(&select.group_by, sqlparser::ast::GroupByExpr::Expressions(e, _) if e.is_empty());
        if grouped || select.projection.iter().any(has_aggregate) {
            return false;
        }
        select.from.iter().any(|t| self.from_is_empty(t))
    }

    fn from_is_empty(&self, from: &TableWithJoins) -> bool {
        use sqlparser::ast::JoinOperator as J;
        let base_empty = self.factor_is_empty(&from.relation);
        let mut empty = base_empty;
        for join in &from.joins {
            let keeps_left_only = matches!(
                join.join_operator,
                J::Left(_) | J::LeftOuter(_) | J::LeftSemi(_) | J::LeftAnti(_) | J::Anti(_)
            );
            let needs_both = matches!(
                join.join_operator,
                J::Join(_) | J::Inner(_) | J::CrossJoin(_) | J::Semi(_)
            );
            if needs_both && self.factor_is_empty(&join.relation) {
                empty = true;
            } else if !(needs_both || keeps_left_only) {
                // A right or full join can produce rows from its right side alone.
                return false;
            }
        }
        empty
    }

    fn factor_is_empty(&self, factor: &TableFactor) -> bool {
        match factor {
            TableFactor::Table { name, args, .. } => {
                let parts: Vec<String> = name
                    .0
                    .iter()
                    .filter_map(|p| p.as_ident().map(|i| i.value.to_ascii_lowercase()))
                    .collect();
                match (parts.as_slice(), args) {
                    // unnest(c.reloptions): an array column that is always NULL.
                    ([.., f], Some(args)) if f == "unnest" => args.args.iter().any(|a| {
                        matches!(a, FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) if self.is_null_array(e))
                    }),
                    ([schema, table], None) if schema == "pg_catalog" => {
                        self.context.is_empty_catalog_table(table)
                    }
                    ([table], None) => self.context.is_empty_catalog_table(table),
                    _ => false,
                }
            }
            TableFactor::Function { name, args, .. }
                if matches!(name.0.last(), Some(ObjectNamePart::Identifier(i)) if i.value.eq_ignore_ascii_case("unnest")) =>
            {
                args.iter().any(|a| {
                    matches!(a, FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) if self.is_null_array(e))
                })
            }
            _ => false,
        }
    }

    fn is_null_array(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Identifier(i) => self.context.is_null_array_column(&i.value),
            Expr::CompoundIdentifier(parts) => parts
                .last()
                .is_some_and(|i| self.context.is_null_array_column(&i.value)),
            _ => false,
        }
    }
}

/// A function in FROM, as Postgres reads it: a scalar function (`string_to_array(...) s`)
/// is a one-row relation whose one column is named by the alias, and so is a set-returning
/// one (`generate_series(1, 3) AS i`, whose column DataFusion calls `value`). Both become a
/// derived table DataFusion plans.
fn function_relation(factor: &TableFactor) -> Option<TableFactor> {
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
fn typed_null(e: &Expr) -> Expr {
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
        Expr::BinaryOp { op, .. }
            if matches!(
                op,
                BinaryOperator::Eq
                    | BinaryOperator::NotEq
                    | BinaryOperator::Lt
                    | BinaryOperator::LtEq
                    | BinaryOperator::Gt
                    | BinaryOperator::GtEq
                    | BinaryOperator::And
                    | BinaryOperator::Or
            ) =>
        {
            cast(DataType::Boolean)
        }
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
fn membership_test(e: &Expr) -> Option<Expr> {
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
fn sort_outside(query: &Query) -> Option<Query> {
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
        *subquery = Box::new(inner);
    }
    outer.order_by = Some(sqlparser::ast::OrderBy {
        kind: OrderByKind::Expressions(outer_keys),
        interpolate: None,
    });
    outer.limit_clause = query.limit_clause.clone();
    outer.fetch = query.fetch.clone();
    Some(*outer)
}

fn has_aggregate(item: &SelectItem) -> bool {
    const AGGREGATES: &[&str] = &[
        "count",
        "sum",
        "min",
        "max",
        "avg",
        "string_agg",
        "array_agg",
        "bool_and",
        "bool_or",
        "every",
        "json_agg",
        "jsonb_agg",
    ];
    // Aggregates inside a subquery belong to the subquery.
    let mut outer = item.clone();
    let _ = sqlparser::ast::visit_expressions_mut(&mut outer, |e: &mut Expr| {
        if matches!(
            e,
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }
        ) {
            *e = Expr::Value(Value::Null.into());
        }
        ControlFlow::<()>::Continue(())
    });
    let text = outer.to_string().to_ascii_lowercase();
    AGGREGATES.iter().any(|a| text.contains(&format!("{a}(")))
}

/// `pg_catalog.~` and friends: operators Postgres also spells without OPERATOR().
fn builtin_operator(parts: &[String]) -> Option<BinaryOperator> {
    let (schema, op) = match parts {
        [op] => (None, op),
        [schema, op] => (Some(schema), op),
        _ => return None,
    };
    if schema.is_some_and(|s| !s.eq_ignore_ascii_case("pg_catalog")) {
        return None;
    }
    Some(match op.as_str() {
        "~" => BinaryOperator::PGRegexMatch,
        "~*" => BinaryOperator::PGRegexIMatch,
        "!~" => BinaryOperator::PGRegexNotMatch,
        "!~*" => BinaryOperator::PGRegexNotIMatch,
        "~~" => BinaryOperator::PGLikeMatch,
        "~~*" => BinaryOperator::PGILikeMatch,
        "!~~" => BinaryOperator::PGNotLikeMatch,
        "!~~*" => BinaryOperator::PGNotILikeMatch,
        "=" => BinaryOperator::Eq,
        "<>" | "!=" => BinaryOperator::NotEq,
        "<" => BinaryOperator::Lt,
        "<=" => BinaryOperator::LtEq,
        ">" => BinaryOperator::Gt,
        ">=" => BinaryOperator::GtEq,
        "||" => BinaryOperator::StringConcat,
        _ => return None,
    })
}

/// The name of a type written as a custom name (`regclass`, `pg_catalog.text`), lower-cased
/// and without its schema.
fn custom_type_name(data_type: &DataType) -> Option<String> {
    let (name, modifiers) = match data_type {
        DataType::Custom(name, modifiers) => (name, modifiers),
        DataType::Regclass => return Some("regclass".into()),
        _ => return None,
    };
    if !modifiers.is_empty() {
        return None;
    }
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(t)] => Some(t.value.to_ascii_lowercase()),
        [ObjectNamePart::Identifier(s), ObjectNamePart::Identifier(t)]
            if s.value.eq_ignore_ascii_case("pg_catalog") =>
        {
            Some(t.value.to_ascii_lowercase())
        }
        _ => None,
    }
}

/// The DataFusion-known type for a Postgres type name DataFusion does not parse: `oid`,
/// `name`, `"char"`, `pg_catalog.int4`, ...
fn plain_type(data_type: &DataType) -> Option<DataType> {
    let name = custom_type_name(data_type)?;
    Some(match name.as_str() {
        "oid" | "regproc" | "xid" | "cid" => DataType::IntUnsigned(None),
        "text" | "name" | "char" | "varchar" | "bpchar" => DataType::Text,
        "int2" | "smallint" => DataType::SmallInt(None),
        "int4" | "integer" | "int" => DataType::Int(None),
        "int8" | "bigint" => DataType::BigInt(None),
        "float4" | "real" => DataType::Real,
        "float8" => DataType::DoublePrecision,
        "bool" | "boolean" => DataType::Boolean,
        "numeric" => DataType::Numeric(sqlparser::ast::ExactNumberInfo::None),
        "timestamp" => DataType::Timestamp(None, sqlparser::ast::TimezoneInfo::None),
        "timestamptz" => DataType::Timestamp(None, sqlparser::ast::TimezoneInfo::Tz),
        "date" => DataType::Date,
        _ => return None,
    })
}

fn describe_reg(name: &str) -> &'static str {
    match name {
        "regclass" => "relation",
        "regnamespace" => "schema",
        "regtype" => "type",
        "regrole" => "role",
        _ => "function",
    }
}

/// `CASE e WHEN oid THEN 'name' ... ELSE fallback END`.
fn case_lookup(e: &Expr, table: &[(u32, String)], fallback: Expr) -> Expr {
    if table.is_empty() {
        return fallback;
    }
    Expr::Case {
        case_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
        end_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
        operand: Some(Box::new(Expr::Cast {
            kind: sqlparser::ast::CastKind::Cast,
            expr: Box::new(e.clone()),
            data_type: DataType::BigInt(None),
            array: false,
            format: None,
        })),
        conditions: table
            .iter()
            .map(|(oid, name)| CaseWhen {
                condition: number(*oid),
                result: string(name),
            })
            .collect(),
        else_result: Some(Box::new(fallback)),
    }
}

/// An OID Postgres cannot name prints as its number.
fn fallback_text(e: &Expr) -> Expr {
    Expr::Cast {
        kind: sqlparser::ast::CastKind::Cast,
        expr: Box::new(e.clone()),
        data_type: DataType::Text,
        array: false,
        format: None,
    }
}

/// `pg_get_userbyid` of an OID that is no role: `unknown (OID=n)`, as Postgres answers.
fn unknown_oid_text(e: &Expr) -> Expr {
    Expr::BinaryOp {
        left: Box::new(Expr::BinaryOp {
            left: Box::new(string("unknown (OID=")),
            op: BinaryOperator::StringConcat,
            right: Box::new(fallback_text(e)),
        }),
        op: BinaryOperator::StringConcat,
        right: Box::new(string(")")),
    }
}

fn unknown_setting(name: &str) -> SqlError {
    SqlError::plan(
        PlanErrorKind::UndefinedObject,
        format!("unrecognized configuration parameter \"{name}\""),
        None,
    )
}

fn plain_args(args: &FunctionArguments) -> Vec<Expr> {
    match args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                _ => None,
            })
            .collect(),
        _ => vec![],
    }
}

/// The text of a string literal, looking through casts to text types (`'x'::text`).
fn string_literal(e: &Expr) -> Option<&str> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => Some(s),
            _ => None,
        },
        Expr::Cast { expr, .. } | Expr::Nested(expr) => string_literal(expr),
        _ => None,
    }
}

fn string(s: &str) -> Expr {
    Expr::Value(Value::SingleQuotedString(s.to_string()).into())
}

fn number(n: u32) -> Expr {
    Expr::Value(Value::Number(n.to_string(), false).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_statements;
    use crate::statement::Statement;

    /// A catalog with one view (OID 16385) and empty pg_attrdef/pg_inherits.
    struct Fixture {
        search_path: String,
    }

    impl PgContext for Fixture {
        fn setting(&self, name: &str) -> Option<String> {
            match name {
                "server_version_num" => Some("150000".into()),
                "search_path" => Some(self.search_path.clone()),
                _ => None,
            }
        }
        fn set_config(&mut self, name: &str, value: &str, _local: bool) -> Result<String> {
            if name != "search_path" {
                return Err(unknown_setting(name));
            }
            self.search_path = value.to_string();
            Ok(value.to_string())
        }
        fn user(&self) -> String {
            "root".into()
        }
        fn database(&self) -> String {
            "dev".into()
        }
        fn version(&self) -> String {
            "PostgreSQL 15.0 (Palisade)".into()
        }
        fn relations(&self) -> Vec<(u32, String)> {
            vec![(16385, "v".into())]
        }
        fn namespaces(&self) -> Vec<(u32, String)> {
            vec![(11, "pg_catalog".into()), (2200, "public".into())]
        }
        fn types(&self) -> Vec<(u32, String)> {
            vec![(25, "text".into())]
        }
        fn roles(&self) -> Vec<(u32, String)> {
            vec![(10, "root".into())]
        }
        fn view_definitions(&self) -> Vec<(u32, String)> {
            vec![(16385, " SELECT 1;".into())]
        }
        fn is_empty_catalog_table(&self, name: &str) -> bool {
            matches!(name, "pg_attrdef" | "pg_inherits")
        }
        fn is_catalog_table(&self, name: &str) -> bool {
            matches!(name, "pg_class" | "pg_attrdef" | "pg_inherits")
        }
        fn is_null_array_column(&self, name: &str) -> bool {
            name == "reloptions"
        }
    }

    fn rewritten(sql: &str) -> Result<String> {
        let mut fixture = Fixture {
            search_path: "public".into(),
        };
        let Statement::Query(mut q) = parse_statements(sql).expect(sql).remove(0).statement else {
            panic!("not a query: {sql}");
        };
        rewrite_for_postgres_clients(&mut q, &mut fixture)?;
        Ok(q.to_string())
    }

    #[test]
    fn psql_operators_collations_and_qualified_functions() {
        assert_eq!(
            rewritten(
                "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname OPERATOR(pg_catalog.~) '^(v)$' COLLATE pg_catalog.default AND pg_catalog.pg_table_is_visible(c.oid)"
            )
            .unwrap(),
            "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname ~ '^(v)$' AND pg_table_is_visible(c.oid)"
        );
        assert_eq!(
            rewritten("SELECT relname FROM pg_class").unwrap(),
            "SELECT relname FROM pg_catalog.pg_class"
        );
    }

    #[test]
    fn session_functions_become_the_session_values() {
        assert_eq!(
            rewritten("SELECT current_setting('server_version_num')::int/100 as version").unwrap(),
            "SELECT '150000'::INT / 100 AS version"
        );
        assert_eq!(
            rewritten("SELECT current_user, current_database(), version()").unwrap(),
            "SELECT 'root', 'dev', 'PostgreSQL 15.0 (Palisade)'"
        );
        let e = rewritten("SELECT current_setting('no_such_thing')").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unrecognized configuration parameter \"no_such_thing\""
        );
        assert_eq!(
            rewritten("SELECT current_setting('no_such_thing', true)").unwrap(),
            "SELECT NULL"
        );
        assert_eq!(
            rewritten("SELECT set_config('search_path', 'x', false)").unwrap(),
            "SELECT 'x'"
        );
    }

    #[test]
    fn columns_are_named_as_postgres_names_them() {
        let names = |sql: &str| {
            let Statement::Query(q) = parse_statements(sql).expect(sql).remove(0).statement else {
                panic!("not a query");
            };
            postgres_column_names(&q).expect("names")
        };
        assert_eq!(
            names(
                "SELECT count(*), a.relname, 1, x::regclass, CASE WHEN b THEN 1 ELSE c.reloftype::text END, (SELECT pg_get_expr(d) FROM t), trim(trailing ';' from r) AS trimmed"
            ),
            [
                "count",
                "relname",
                "?column?",
                "x",
                "reloftype",
                "pg_get_expr",
                "trimmed"
            ]
        );
        assert_eq!(
            names("SELECT pubname, NULL FROM p UNION SELECT x, y FROM q"),
            ["pubname", "?column?"]
        );
    }

    #[test]
    fn reg_casts_name_catalog_rows() {
        assert_eq!(
            rewritten("SELECT 'public.v'::regclass").unwrap(),
            "SELECT 16385"
        );
        assert_eq!(
            rewritten("SELECT '16385'::pg_catalog.oid").unwrap(),
            "SELECT '16385'::INT UNSIGNED"
        );
        assert_eq!(
            rewritten("SELECT c.oid::pg_catalog.regclass FROM pg_class c").unwrap(),
            "SELECT CASE CAST(c.oid AS BIGINT) WHEN 16385 THEN 'v' ELSE CAST(c.oid AS TEXT) END FROM pg_catalog.pg_class c"
        );
        let e = rewritten("SELECT 'nope'::regclass").unwrap_err();
        assert_eq!(e.to_string(), "relation \"nope\" does not exist");
    }

    #[test]
    fn subqueries_over_empty_catalogs_have_known_answers() {
        assert_eq!(
            rewritten(
                "SELECT (SELECT d.adbin FROM pg_catalog.pg_attrdef d WHERE d.adrelid = a.attrelid), \
                 EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = a.attrelid), \
                 array(select 'toast.' || x from pg_catalog.unnest(a.reloptions) x) FROM pg_class a"
            )
            .unwrap(),
            "SELECT NULL, false, make_array() FROM pg_catalog.pg_class a"
        );
        // An aggregate answers even over no rows: left alone.
        assert!(
            rewritten("SELECT (SELECT count(*) FROM pg_attrdef) FROM pg_class")
                .unwrap()
                .contains("count(*)")
        );
    }
}
