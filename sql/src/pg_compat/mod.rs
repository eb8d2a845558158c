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

mod names;
mod reshape;
#[cfg(test)]
mod tests;

use names::figure_column_name;
pub use names::postgres_column_names;
use reshape::{function_relation, membership_test, sort_outside, typed_null};

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
                    && select.from.iter().any(|t| self.joined_is_empty(t));
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
        select.from.iter().any(|t| self.joined_is_empty(t))
    }

    fn joined_is_empty(&self, from: &TableWithJoins) -> bool {
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
pub(super) fn custom_type_name(data_type: &DataType) -> Option<String> {
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
pub(super) fn plain_type(data_type: &DataType) -> Option<DataType> {
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
