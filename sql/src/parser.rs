//! Text to [`Located`] statements, in RisingWave's dialect.
//!
//! sqlparser's PostgreSQL dialect parses the queries; the statements it does not know
//! (`CREATE SOURCE`, `FLUSH`, `SHOW MATERIALIZED VIEWS`, ...) are read here with its
//! tokenizer and parser helpers, so every error still carries a line and column.

use std::collections::BTreeMap;

use datafusion::arrow::datatypes::DataType;
use sqlparser::ast::{BinaryOperator, Expr, Ident, ObjectName};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan};

use crate::error::{PlanErrorKind, Position, Result, SqlError};
use crate::statement::{
    ClockStep, ColumnDecl, CreateMaterializedView, CreateSource, DropObject, Insert, Located,
    ObjectKind, ShowObjects, Statement, WatermarkDecl,
};
use crate::types::arrow_type;
use crate::window::described_interval_micros;

/// Parses every statement of `sql` (separated by `;`).
pub fn parse_statements(sql: &str) -> Result<Vec<Located>> {
    let dialect = PostgreSqlDialect {};
    let mut parser = Parser::new(&dialect).try_with_sql(sql)?;
    let lines = LineIndex::new(sql);
    let mut out = Vec::new();
    loop {
        while parser.consume_token(&Token::SemiColon) {}
        let first = parser.peek_token();
        if first.token == Token::EOF {
            break;
        }
        let statement = parse_one(&mut parser)?;
        let next = parser.peek_token();
        let end = match &next.token {
            Token::EOF => sql.len(),
            Token::SemiColon => lines.offset(next.span.start),
            _ => {
                return Err(syntax(
                    format!("expected end of statement, found {}", next.token),
                    &next,
                ));
            }
        };
        let start = lines.offset(first.span.start);
        out.push(Located {
            statement,
            position: position(first.span.start),
            text: sql.get(start..end).unwrap_or_default().trim().to_string(),
        });
    }
    Ok(out)
}

fn parse_one(p: &mut Parser) -> Result<Statement> {
    let first = p.peek_token();
    if word_is(&first, "CREATE") {
        let second = p.peek_nth_token(1);
        if word_is(&second, "SOURCE") {
            p.next_token();
            p.next_token();
            return parse_create_source(p);
        }
        if word_is(&second, "MATERIALIZED") {
            p.next_token();
            p.next_token();
            expect_word(p, "VIEW")?;
            return parse_create_view(p);
        }
        return Err(unsupported_here(p, 2));
    }
    if word_is(&first, "DROP") {
        p.next_token();
        let kind = if p.parse_keyword(Keyword::SOURCE) {
            ObjectKind::Source
        } else if p.parse_keywords(&[Keyword::MATERIALIZED, Keyword::VIEW]) {
            ObjectKind::MaterializedView
        } else {
            p.prev_token();
            return Err(unsupported_here(p, 2));
        };
        let if_exists = p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
        let name = object_name(p)?;
        if p.peek_keyword(Keyword::CASCADE) || p.peek_keyword(Keyword::RESTRICT) {
            return Err(unsupported_here(p, 1));
        }
        return Ok(Statement::Drop(DropObject {
            kind,
            name,
            if_exists,
        }));
    }
    if word_is(&first, "SHOW") {
        let second = p.peek_nth_token(1);
        if word_is(&second, "SOURCES") {
            p.next_token();
            p.next_token();
            return Ok(Statement::Show(ShowObjects::Sources));
        }
        if word_is(&second, "MATERIALIZED") && word_is(&p.peek_nth_token(2), "VIEWS") {
            for _ in 0..3 {
                p.next_token();
            }
            return Ok(Statement::Show(ShowObjects::MaterializedViews));
        }
    }
    if let Some(statement) = crate::session_parser::parse_session_statement(p)? {
        return Ok(statement);
    }
    if word_is(&first, "ADVANCE") {
        p.next_token();
        expect_word(p, "CLOCK")?;
        let at = p.peek_token();
        if p.parse_keyword(Keyword::TO) {
            let text = p.parse_literal_string()?;
            return Ok(Statement::AdvanceClock(ClockStep::To(text)));
        }
        if p.parse_keyword(Keyword::BY) {
            let at = p.peek_token();
            let step = p.parse_expr()?;
            let micros =
                described_interval_micros("clock step", &step, Some(position(at.span.start)))?;
            return Ok(Statement::AdvanceClock(ClockStep::By(micros)));
        }
        return Err(syntax(
            format!(
                "expected TO '<timestamp>' or BY INTERVAL '...', found {}",
                at.token
            ),
            &at,
        ));
    }
    if word_is(&first, "FLUSH") {
        p.next_token();
        return Ok(Statement::Flush);
    }
    if word_is(&first, "INSERT") {
        let statement = p.parse_statement()?;
        let sqlparser::ast::Statement::Insert(insert) = &statement else {
            return Err(syntax("expected INSERT INTO".into(), &first));
        };
        let sqlparser::ast::TableObject::TableName(name) = &insert.table else {
            return Err(SqlError::unsupported(
                "INSERT INTO a table function",
                Some(position(first.span.start)),
            ));
        };
        let source = match name.0.last().and_then(|p| p.as_ident()) {
            Some(ident) => normalize(ident),
            None => return Err(syntax("expected a source name".into(), &first)),
        };
        return Ok(Statement::Insert(Insert {
            source,
            statement: Box::new(statement),
        }));
    }
    let starts_query = word_is(&first, "SELECT")
        || word_is(&first, "WITH")
        || word_is(&first, "VALUES")
        || first.token == Token::LParen;
    if starts_query {
        return Ok(Statement::Query(p.parse_query()?));
    }
    Err(unsupported_here(p, 1))
}

fn parse_create_source(p: &mut Parser) -> Result<Statement> {
    let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = object_name(p)?;
    p.expect_token(&Token::LParen)?;
    let mut columns = Vec::new();
    let mut watermark: Option<WatermarkDecl> = None;
    loop {
        let at = p.peek_token();
        if word_is(&at, "WATERMARK") {
            if watermark.is_some() {
                return Err(SqlError::unsupported(
                    "more than one WATERMARK in a source",
                    Some(position(at.span.start)),
                ));
            }
            watermark = Some(parse_watermark(p)?);
            if !p.consume_token(&Token::Comma) {
                break;
            }
            continue;
        }
        let column = p.parse_identifier()?;
        let type_at = p.peek_token();
        let sql_type = p.parse_data_type()?;
        let data_type = arrow_type(&sql_type, Some(position(type_at.span.start)))?;
        let next = p.peek_token();
        if !matches!(next.token, Token::Comma | Token::RParen) {
            return Err(SqlError::unsupported(
                format!("column constraint {}", next.token),
                Some(position(next.span.start)),
            ));
        }
        let name = normalize(&column);
        if columns.iter().any(|c: &ColumnDecl| c.name == name) {
            return Err(SqlError::plan(
                PlanErrorKind::DuplicateObject,
                format!("column \"{name}\" specified more than once"),
                Some(position(at.span.start)),
            ));
        }
        columns.push(ColumnDecl {
            name,
            data_type,
            sql_type: sql_type.to_string(),
        });
        if !p.consume_token(&Token::Comma) {
            break;
        }
    }
    p.expect_token(&Token::RParen)?;
    if let Some(w) = &watermark {
        check_watermark_column(w, &columns)?;
    }
    let with_at = p.peek_token();
    if !p.parse_keyword(Keyword::WITH) {
        return Err(syntax(
            "expected WITH (connector = '...') after the column list".into(),
            &with_at,
        ));
    }
    let mut options = parse_options(p)?;
    let connector = options.remove("connector").ok_or_else(|| {
        SqlError::plan(
            PlanErrorKind::InvalidParameter,
            "CREATE SOURCE needs a connector option, e.g. WITH (connector = 'datagen')",
            Some(position(with_at.span.start)),
        )
    })?;
    let mut format = None;
    if word_is(&p.peek_token(), "FORMAT") {
        p.next_token();
        let f = p.parse_identifier()?;
        let enc_at = p.peek_token();
        if !word_is(&enc_at, "ENCODE") {
            return Err(syntax("expected ENCODE after FORMAT".into(), &enc_at));
        }
        p.next_token();
        let e = p.parse_identifier()?;
        let pair = (f.value.to_ascii_lowercase(), e.value.to_ascii_lowercase());
        if pair != ("plain".to_string(), "json".to_string()) {
            return Err(SqlError::unsupported(
                format!(
                    "FORMAT {} ENCODE {} (only FORMAT PLAIN ENCODE JSON)",
                    f.value, e.value
                ),
                Some(position(f.span.start)),
            ));
        }
        format = Some(pair);
    }
    Ok(Statement::CreateSource(CreateSource {
        name,
        if_not_exists,
        columns,
        connector: connector.to_ascii_lowercase(),
        options,
        format,
        watermark,
    }))
}

/// `WATERMARK FOR col AS col [- INTERVAL '...']`, the WATERMARK word not yet consumed.
fn parse_watermark(p: &mut Parser) -> Result<WatermarkDecl> {
    let at = p.next_token();
    expect_word(p, "FOR")?;
    let column = normalize(&p.parse_identifier()?);
    expect_word(p, "AS")?;
    let expr_at = p.peek_token();
    let expr = p.parse_expr()?;
    let is_column = |e: &Expr| matches!(e, Expr::Identifier(i) if normalize(i) == column);
    let delay_micros = match &expr {
        e if is_column(e) => 0,
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Minus,
            right,
        } if is_column(left) => {
            described_interval_micros("watermark delay", right, Some(position(expr_at.span.start)))?
        }
        _ => {
            return Err(SqlError::unsupported(
                format!(
                    "watermark expression {expr} (write WATERMARK FOR {column} AS {column} - INTERVAL '5 SECONDS')"
                ),
                Some(position(expr_at.span.start)),
            ));
        }
    };
    Ok(WatermarkDecl {
        column,
        delay_micros,
        position: position(at.span.start),
    })
}

fn check_watermark_column(w: &WatermarkDecl, columns: &[ColumnDecl]) -> Result<()> {
    match columns.iter().find(|c| c.name == w.column) {
        None => Err(SqlError::plan(
            PlanErrorKind::UndefinedColumn,
            format!(
                "watermark column \"{}\" is not a column of the source",
                w.column
            ),
            Some(w.position),
        )),
        Some(c) if !matches!(c.data_type, DataType::Timestamp(_, _)) => Err(SqlError::plan(
            PlanErrorKind::DatatypeMismatch,
            format!(
                "watermark column \"{}\" must be a TIMESTAMP, not {}",
                w.column, c.sql_type
            ),
            Some(w.position),
        )),
        Some(_) => Ok(()),
    }
}

/// `( key = value, ... )` where a key may be dotted (`properties.bootstrap.server`).
fn parse_options(p: &mut Parser) -> Result<BTreeMap<String, String>> {
    p.expect_token(&Token::LParen)?;
    let mut options = BTreeMap::new();
    if p.consume_token(&Token::RParen) {
        return Ok(options);
    }
    loop {
        let key_at = p.peek_token();
        let mut key = p.parse_identifier()?.value.to_ascii_lowercase();
        while p.consume_token(&Token::Period) {
            key.push('.');
            key.push_str(&p.parse_identifier()?.value.to_ascii_lowercase());
        }
        p.expect_token(&Token::Eq)?;
        let value_at = p.next_token();
        let value = match &value_at.token {
            Token::SingleQuotedString(s) => s.clone(),
            Token::Number(n, _) => n.clone(),
            Token::Word(w) => w.value.clone(),
            Token::Minus => match p.next_token().token {
                Token::Number(n, _) => format!("-{n}"),
                other => {
                    return Err(syntax(
                        format!("expected an option value, found {other}"),
                        &value_at,
                    ));
                }
            },
            other => {
                return Err(syntax(
                    format!("expected an option value, found {other}"),
                    &value_at,
                ));
            }
        };
        if options.insert(key.clone(), value).is_some() {
            return Err(SqlError::plan(
                PlanErrorKind::InvalidParameter,
                format!("option {key} given twice"),
                Some(position(key_at.span.start)),
            ));
        }
        if !p.consume_token(&Token::Comma) {
            break;
        }
    }
    p.expect_token(&Token::RParen)?;
    Ok(options)
}

fn parse_create_view(p: &mut Parser) -> Result<Statement> {
    let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = object_name(p)?;
    let next = p.peek_token();
    if p.parse_keyword(Keyword::AS) {
        // the ordinary form
    } else if word_is(&next, "WITH") && p.peek_nth_token(1).token == Token::LParen {
        return Err(SqlError::unsupported(
            "materialized view options WITH (...)",
            Some(position(next.span.start)),
        ));
    } else if !(word_is(&next, "WITH") || word_is(&next, "SELECT")) {
        return Err(syntax(format!("expected AS, found {}", next.token), &next));
    }
    // Seed 003 writes `CREATE MATERIALIZED VIEW v WITH cte AS (...) SELECT ...` without AS;
    // RisingWave accepts it, so do we.
    let query = p.parse_query()?;
    let emit_on_window_close = if word_is(&p.peek_token(), "EMIT") {
        p.next_token();
        for word in ["ON", "WINDOW", "CLOSE"] {
            expect_word(p, word)?;
        }
        true
    } else {
        false
    };
    Ok(Statement::CreateMaterializedView(CreateMaterializedView {
        name,
        if_not_exists,
        query,
        emit_on_window_close,
    }))
}

fn object_name(p: &mut Parser) -> Result<String> {
    let at = p.peek_token();
    let name: ObjectName = p.parse_object_name(false)?;
    let parts: Vec<&Ident> = name.0.iter().filter_map(|part| part.as_ident()).collect();
    match parts.as_slice() {
        [one] => Ok(normalize(one)),
        // `public.x` and `dev.public.x` name the only schema there is.
        [schema, one] if schema.value.eq_ignore_ascii_case("public") => Ok(normalize(one)),
        _ => Err(SqlError::unsupported(
            format!("qualified name {name}"),
            Some(position(at.span.start)),
        )),
    }
}

/// PostgreSQL folds unquoted names to lower case.
pub fn normalize(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_ascii_lowercase(),
    }
}

pub(crate) fn word_is(t: &TokenWithSpan, word: &str) -> bool {
    matches!(&t.token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

fn expect_word(p: &mut Parser, word: &str) -> Result<()> {
    let t = p.next_token();
    if word_is(&t, word) {
        Ok(())
    } else {
        Err(syntax(format!("expected {word}, found {}", t.token), &t))
    }
}

/// An error naming the statement's first `words` words as the unsupported construct.
fn unsupported_here(p: &mut Parser, words: usize) -> SqlError {
    let first = p.peek_token();
    let mut construct = Vec::new();
    for i in 0..words {
        match p.peek_nth_token(i).token {
            Token::Word(w) => construct.push(w.value.to_ascii_uppercase()),
            _ => break,
        }
    }
    if construct.is_empty() {
        return syntax(format!("unexpected {}", first.token), &first);
    }
    SqlError::unsupported(construct.join(" "), Some(position(first.span.start)))
}

pub(crate) fn syntax(message: String, at: &TokenWithSpan) -> SqlError {
    SqlError::Syntax {
        message,
        position: position(at.span.start),
    }
}

pub(crate) fn position(l: Location) -> Position {
    Position {
        line: l.line.max(1),
        column: l.column.max(1),
    }
}

/// Maps sqlparser's (line, column) back to byte offsets, to cut out each statement's text.
struct LineIndex {
    starts: Vec<usize>,
    text: String,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                starts.push(i + 1);
            }
        }
        LineIndex {
            starts,
            text: text.to_string(),
        }
    }

    fn offset(&self, l: Location) -> usize {
        let line = (l.line.max(1) - 1) as usize;
        let Some(&start) = self.starts.get(line) else {
            return self.text.len();
        };
        let col = (l.column.max(1) - 1) as usize;
        // columns count characters, not bytes
        self.text[start..]
            .char_indices()
            .nth(col)
            .map(|(i, _)| start + i)
            .unwrap_or(self.text.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str) -> Statement {
        let mut v = parse_statements(sql).unwrap();
        assert_eq!(v.len(), 1);
        v.remove(0).statement
    }

    #[test]
    fn create_source_with_dotted_options() {
        let s = one(
            "CREATE SOURCE s (ts TIMESTAMP, ip VARCHAR, code INTEGER) WITH (connector='datagen', \
             datagen.rows.total = 10, datagen.seed = '7') FORMAT PLAIN ENCODE JSON;",
        );
        let Statement::CreateSource(c) = s else {
            panic!()
        };
        assert_eq!(c.name, "s");
        assert_eq!(c.columns.len(), 3);
        assert_eq!(c.connector, "datagen");
        assert_eq!(c.options["datagen.rows.total"], "10");
        assert_eq!(c.options["datagen.seed"], "7");
        assert_eq!(c.format, Some(("plain".into(), "json".into())));
    }

    #[test]
    fn watermark_clause_and_its_errors() {
        let s = one(
            "CREATE SOURCE s (ts TIMESTAMP, ip VARCHAR, WATERMARK FOR ts AS ts - INTERVAL '5 SECONDS') \
             WITH (connector = 'embedded')",
        );
        let Statement::CreateSource(c) = s else {
            panic!()
        };
        let w = c.watermark.unwrap();
        assert_eq!((w.column.as_str(), w.delay_micros), ("ts", 5_000_000));
        assert_eq!(c.columns.len(), 2);
        let s = one(
            "CREATE SOURCE s (WATERMARK FOR ts AS ts, ts TIMESTAMP) WITH (connector = 'embedded')",
        );
        let Statement::CreateSource(c) = s else {
            panic!()
        };
        assert_eq!(c.watermark.unwrap().delay_micros, 0);
        for (sql, message) in [
            (
                "CREATE SOURCE s (ts TIMESTAMP, WATERMARK FOR t AS t) WITH (connector = 'x')",
                "is not a column",
            ),
            (
                "CREATE SOURCE s (ip TEXT, WATERMARK FOR ip AS ip) WITH (connector = 'x')",
                "must be a TIMESTAMP",
            ),
            (
                "CREATE SOURCE s (ts TIMESTAMP, WATERMARK FOR ts AS ts + INTERVAL '1 SECOND') WITH (connector = 'x')",
                "watermark expression",
            ),
            (
                "CREATE SOURCE s (ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1 MONTH') WITH (connector = 'x')",
                "watermark delay",
            ),
        ] {
            let e = parse_statements(sql).unwrap_err();
            assert!(e.to_string().contains(message), "{sql}: {e}");
            assert!(e.position().is_some(), "{sql}");
        }
    }

    #[test]
    fn emit_on_window_close_and_advance_clock() {
        let s = one(
            "CREATE MATERIALIZED VIEW v AS SELECT count(*) FROM t GROUP BY window_start EMIT ON WINDOW CLOSE",
        );
        assert!(matches!(s, Statement::CreateMaterializedView(v) if v.emit_on_window_close));
        let s = one("CREATE MATERIALIZED VIEW v AS SELECT count(*) FROM t");
        assert!(matches!(s, Statement::CreateMaterializedView(v) if !v.emit_on_window_close));
        assert!(matches!(
            one("ADVANCE CLOCK TO '2024-01-25 12:00:00'"),
            Statement::AdvanceClock(ClockStep::To(t)) if t == "2024-01-25 12:00:00"
        ));
        assert!(matches!(
            one("ADVANCE CLOCK BY INTERVAL '1 MINUTE'"),
            Statement::AdvanceClock(ClockStep::By(60_000_000))
        ));
        assert!(parse_statements("ADVANCE CLOCK 5").is_err());
    }

    #[test]
    fn view_without_as_before_with() {
        let s = one("CREATE MATERIALIZED VIEW v WITH c AS (SELECT 1 AS x) SELECT x FROM c");
        assert!(matches!(s, Statement::CreateMaterializedView(v) if v.name == "v"));
    }

    #[test]
    fn several_statements_keep_their_text_and_position() {
        let v = parse_statements("FLUSH;\n  SHOW SOURCES ;SELECT 1").unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[1].text, "SHOW SOURCES");
        assert_eq!(v[1].position, Position { line: 2, column: 3 });
        assert_eq!(v[2].text, "SELECT 1");
    }

    #[test]
    fn unknown_statement_names_construct_and_position() {
        let e = parse_statements("FLUSH;\nCREATE TABLE t (a INT)").unwrap_err();
        let m = e.to_string();
        assert!(m.contains("CREATE TABLE"), "{m}");
        assert_eq!(e.position(), Some(Position { line: 2, column: 1 }));
    }

    #[test]
    fn syntax_error_has_position() {
        let e = parse_statements("SELECT * FROM").unwrap_err();
        assert!(matches!(e, SqlError::Syntax { .. }), "{e:?}");
        assert!(e.position().is_some());
    }

    #[test]
    fn drop_and_show() {
        assert!(matches!(
            one("DROP MATERIALIZED VIEW IF EXISTS v"),
            Statement::Drop(DropObject {
                kind: ObjectKind::MaterializedView,
                if_exists: true,
                ..
            })
        ));
        assert!(matches!(
            one("drop source s"),
            Statement::Drop(DropObject {
                kind: ObjectKind::Source,
                ..
            })
        ));
        assert!(matches!(
            one("SHOW MATERIALIZED VIEWS"),
            Statement::Show(ShowObjects::MaterializedViews)
        ));
    }
}
