//! The Postgres functions clients call that DataFusion lacks, as DataFusion scalar UDFs.
//! Functions whose answer depends on the session (`current_setting`, `current_user`, ...)
//! are not here: `palisade_sql::pg_compat` turns them into literals before planning.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListBuilder, StringArray, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, UInt32Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::SessionContext;

use super::snapshot::{SharedSnapshot, read};

type Body = Arc<dyn Fn(&[ArrayRef], usize) -> Result<ArrayRef> + Send + Sync>;

/// One function: a name, the argument lists it takes, what it returns, and its body over
/// whole argument arrays.
struct PgFunction {
    name: &'static str,
    signature: Signature,
    returns: DataType,
    body: Body,
}

impl std::fmt::Debug for PgFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgFunction({})", self.name)
    }
}

impl PartialEq for PgFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for PgFunction {}

impl std::hash::Hash for PgFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for PgFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self.returns.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(rows.max(1)))
            .collect::<Result<Vec<_>>>()?;
        let out = (self.body)(&arrays, rows.max(1))?;
        if scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(out))
    }
}

fn function(
    name: &'static str,
    arguments: Vec<Vec<DataType>>,
    returns: DataType,
    body: impl Fn(&[ArrayRef], usize) -> Result<ArrayRef> + Send + Sync + 'static,
) -> ScalarUDF {
    let signature = Signature::one_of(
        arguments.into_iter().map(TypeSignature::Exact).collect(),
        Volatility::Stable,
    );
    ScalarUDF::new_from_impl(PgFunction {
        name,
        signature,
        returns,
        body: Arc::new(body),
    })
}

/// A text column of `rows` NULLs: the answer of the functions about things Palisade does
/// not have (column defaults, comments, rules, extended statistics).
fn nulls(rows: usize) -> ArrayRef {
    Arc::new(StringArray::new_null(rows))
}

fn text_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

/// Registers every function in `ctx`.
pub fn register(ctx: &SessionContext, snapshot: &SharedSnapshot) {
    use DataType::{Boolean, Int32, Int64, UInt32, Utf8};
    let oid_typmod = vec![vec![UInt32, Int32]];
    ctx.register_udf(function("format_type", oid_typmod, Utf8, |a, _| {
        let (oids, mods) = (
            a[0].as_primitive::<UInt32Type>(),
            a[1].as_primitive::<Int32Type>(),
        );
        let mut out = StringBuilder::new();
        for i in 0..oids.len() {
            if oids.is_null(i) {
                out.append_null();
                continue;
            }
            let typmod = if mods.is_null(i) { -1 } else { mods.value(i) };
            match super::types::format_type(oids.value(i), typmod) {
                Some(name) => out.append_value(name),
                // Postgres prints an OID it does not know as ???.
                None => out.append_value("???"),
            }
        }
        Ok(Arc::new(out.finish()))
    }));
    for (name, arities) in [
        (
            "pg_get_expr",
            vec![vec![Utf8, UInt32], vec![Utf8, UInt32, Boolean]],
        ),
        ("col_description", vec![vec![UInt32, Int32]]),
        ("obj_description", vec![vec![UInt32], vec![UInt32, Utf8]]),
        ("shobj_description", vec![vec![UInt32, Utf8]]),
        ("pg_get_ruledef", vec![vec![UInt32], vec![UInt32, Boolean]]),
        ("pg_get_statisticsobjdef_columns", vec![vec![UInt32]]),
        (
            "pg_get_constraintdef",
            vec![vec![UInt32], vec![UInt32, Boolean]],
        ),
        (
            "pg_get_indexdef",
            vec![vec![UInt32], vec![UInt32, Int32, Boolean]],
        ),
    ] {
        ctx.register_udf(function(name, arities, Utf8, |_, rows| Ok(nulls(rows))));
    }
    // A view's size on disk: Palisade keeps views in memory and has no per-relation figure
    // to give, so the answer is unknown (NULL), which psql's `\dt+` prints as blank.
    for name in [
        "pg_table_size",
        "pg_relation_size",
        "pg_total_relation_size",
        "pg_indexes_size",
    ] {
        ctx.register_udf(function(name, vec![vec![UInt32]], Int64, |a, _| {
            Ok(Arc::new(Int64Array::new_null(a[0].len())))
        }));
    }
    ctx.register_udf(function(
        "pg_size_pretty",
        vec![vec![Int64]],
        Utf8,
        |a, _| {
            let sizes = a[0].as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            Ok(Arc::new(
                sizes
                    .iter()
                    .map(|b| b.map(size_pretty))
                    .collect::<StringArray>(),
            ))
        },
    ));
    ctx.register_udf(function(
        "pg_encoding_to_char",
        vec![vec![Int32]],
        Utf8,
        |a, _| {
            let codes = a[0].as_primitive::<Int32Type>();
            Ok(Arc::new(
                codes
                    .iter()
                    .map(|c| c.map(|c| if c == 6 { "UTF8" } else { "" }))
                    .collect::<StringArray>(),
            ))
        },
    ));
    // Palisade has no publications: nothing can be published.
    ctx.register_udf(function(
        "pg_relation_is_publishable",
        vec![vec![UInt32]],
        Boolean,
        |a, _| Ok(Arc::new(BooleanArray::from(vec![Some(false); a[0].len()]))),
    ));
    let shared = Arc::clone(snapshot);
    ctx.register_udf(function(
        "pg_table_is_visible",
        vec![vec![UInt32]],
        Boolean,
        move |a, _| {
            let snapshot = read(&shared);
            let oids = a[0].as_primitive::<UInt32Type>();
            Ok(Arc::new(
                oids.iter()
                    .map(|o| {
                        o.map(|o| {
                            // Catalog tables are always visible; ours when on the path.
                            snapshot.relation(o).is_none_or(|r| snapshot.visible(r))
                        })
                    })
                    .collect::<BooleanArray>(),
            ))
        },
    ));
    for name in [
        "has_table_privilege",
        "has_schema_privilege",
        "has_database_privilege",
        "has_column_privilege",
    ] {
        // One user who may read everything: every read privilege holds.
        ctx.register_udf(function(
            name,
            vec![vec![Utf8, Utf8], vec![UInt32, Utf8], vec![Utf8, Utf8, Utf8]],
            Boolean,
            |a, _| Ok(Arc::new(BooleanArray::from(vec![Some(true); a[0].len()]))),
        ));
    }
    ctx.register_udf(function("quote_ident", vec![vec![Utf8]], Utf8, |a, _| {
        let names = a[0].as_string::<i32>();
        Ok(Arc::new(
            names
                .iter()
                .map(|n| n.map(quote_ident))
                .collect::<StringArray>(),
        ))
    }));
    ctx.register_udf(function(
        "parse_ident",
        vec![vec![Utf8], vec![Utf8, Boolean]],
        text_list(),
        |a, _| {
            let names = a[0].as_string::<i32>();
            let mut out = ListBuilder::new(StringBuilder::new());
            for name in names.iter() {
                match name {
                    Some(n) => {
                        for part in parse_ident(n) {
                            out.values().append_value(part);
                        }
                        out.append(true);
                    }
                    None => out.append(false),
                }
            }
            Ok(Arc::new(out.finish()))
        },
    ));
    for (name, upper) in [("array_lower", false), ("array_upper", true)] {
        ctx.register_udf(function(
            name,
            vec![vec![text_list(), Int64]],
            // Postgres says int4; int8 is what generate_series, where clients pass the
            // bounds, takes in DataFusion.
            Int64,
            move |a, _| {
                let lists = a[0].as_list::<i32>();
                let dims = a[1].as_primitive::<datafusion::arrow::datatypes::Int64Type>();
                Ok(Arc::new(
                    (0..lists.len())
                        .map(|i| {
                            // One-dimensional arrays start at 1; empty ones have no bounds.
                            let len = if lists.is_null(i) {
                                0
                            } else {
                                lists.value(i).len()
                            };
                            let first_dim = !dims.is_null(i) && dims.value(i) == 1;
                            (first_dim && len > 0).then(|| {
                                if upper {
                                    i64::try_from(len).unwrap_or(i64::MAX)
                                } else {
                                    1
                                }
                            })
                        })
                        .collect::<Int64Array>(),
                ))
            },
        ));
    }
}

/// Postgres' pg_size_pretty: bytes below 10 kB, then the first unit under 20 of the next,
/// rounding halves away from zero; each step shifts the unrounded value, as Postgres does.
pub fn size_pretty(bytes: i64) -> String {
    const LIMIT: i64 = 10 * 1024;
    const LIMIT2: i64 = LIMIT * 2 - 1;
    if bytes.abs() < LIMIT {
        return format!("{bytes} bytes");
    }
    let half_rounded = |x: i64| (x + if x < 0 { -1 } else { 1 }) / 2;
    // Half-kilobytes: one extra bit kept for the rounding.
    let mut size = bytes >> 9;
    for unit in ["kB", "MB", "GB"] {
        if size.abs() < LIMIT2 {
            return format!("{} {unit}", half_rounded(size));
        }
        size >>= 10;
    }
    format!("{} TB", half_rounded(size))
}

/// Postgres' quote_ident: quotes unless the name is lower-case letters, digits and `_` not
/// starting with a digit (and not a reserved word; the few that matter here are checked).
pub fn quote_ident(name: &str) -> String {
    const RESERVED: &[&str] = &[
        "all", "and", "as", "select", "from", "where", "table", "user", "order", "group", "limit",
        "window", "end", "case", "when", "then", "else", "null", "true", "false",
    ];
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED.contains(&name);
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// Postgres' parse_ident: dotted parts, quoted ones kept as written, others lower-cased.
pub fn parse_ident(text: &str) -> Vec<String> {
    let mut parts = vec![];
    let mut chars = text.trim().chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        part.push('"');
                    } else {
                        break;
                    }
                } else {
                    part.push(c);
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                part.push(c.to_ascii_lowercase());
                chars.next();
            }
        }
        parts.push(part.trim().to_string());
        match chars.next() {
            Some('.') => continue,
            _ => break,
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_as_postgres_prints_them() {
        assert_eq!(size_pretty(8192), "8192 bytes");
        assert_eq!(size_pretty(10 * 1024), "10 kB");
        assert_eq!(size_pretty(1_000_000), "977 kB");
        assert_eq!(size_pretty(123_456_789), "118 MB");
    }

    #[test]
    fn identifiers_quote_and_parse_as_in_postgres() {
        assert_eq!(quote_ident("window_start"), "window_start");
        assert_eq!(quote_ident("Time"), "\"Time\"");
        assert_eq!(quote_ident("user"), "\"user\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(parse_ident("public.Metrics"), vec!["public", "metrics"]);
        assert_eq!(parse_ident("\"My.Schema\".t"), vec!["My.Schema", "t"]);
    }
}
