//! The session statements Postgres clients send around their queries: `SET`, `RESET`,
//! `SHOW name`, `BEGIN`/`COMMIT`/`ROLLBACK`, `DISCARD ALL`. Read here rather than through
//! sqlparser's own statements so names and values arrive exactly as written (`SET TIME ZONE
//! 'UTC'`, `SET search_path = a, b`) and every error keeps its line and column.

use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use crate::error::{Result, SqlError};
use crate::parser::{position, syntax, word_is};
use crate::statement::{SetVariable, Statement, TransactionStep};

/// The session statement starting at the parser's next token, if it starts one.
pub(crate) fn parse_session_statement(p: &mut Parser) -> Result<Option<Statement>> {
    let first = p.peek_token();
    if word_is(&first, "SET") {
        p.next_token();
        return parse_set(p).map(Some);
    }
    if word_is(&first, "RESET") {
        p.next_token();
        if p.parse_keyword(Keyword::ALL) {
            return Ok(Some(Statement::Reset(None)));
        }
        return Ok(Some(Statement::Reset(Some(setting_name(p)?))));
    }
    if word_is(&first, "SHOW") {
        p.next_token();
        if p.parse_keyword(Keyword::ALL) {
            return Ok(Some(Statement::ShowVariable("all".into())));
        }
        return Ok(Some(Statement::ShowVariable(setting_name(p)?)));
    }
    if word_is(&first, "DISCARD") {
        p.next_token();
        let at = p.peek_token();
        if p.parse_keyword(Keyword::ALL) {
            return Ok(Some(Statement::Reset(None)));
        }
        return Err(SqlError::unsupported(
            format!("DISCARD {} (only DISCARD ALL)", at.token),
            Some(position(at.span.start)),
        ));
    }
    let step = if word_is(&first, "BEGIN") || word_is(&first, "START") {
        TransactionStep::Begin
    } else if word_is(&first, "COMMIT") || word_is(&first, "END") {
        TransactionStep::Commit
    } else if word_is(&first, "ROLLBACK") || word_is(&first, "ABORT") {
        TransactionStep::Rollback
    } else {
        return Ok(None);
    };
    p.next_token();
    if word_is(&first, "START") && !p.parse_keyword(Keyword::TRANSACTION) {
        return Err(syntax(
            "expected TRANSACTION after START".into(),
            &p.peek_token(),
        ));
    }
    // Isolation levels, READ ONLY, AND NO CHAIN...: every query already reads a consistent
    // snapshot of each view and nothing is written, so the modes change nothing.
    while !matches!(p.peek_token().token, Token::EOF | Token::SemiColon) {
        p.next_token();
    }
    Ok(Some(Statement::Transaction(step)))
}

/// `SET [SESSION | LOCAL] name {TO | =} value [, ...] | DEFAULT`, and `SET TIME ZONE v`.
fn parse_set(p: &mut Parser) -> Result<Statement> {
    let local = p.parse_keyword(Keyword::LOCAL);
    if !local {
        let _ = p.parse_keyword(Keyword::SESSION);
    }
    let name = if p.parse_keywords(&[Keyword::TIME, Keyword::ZONE]) {
        "timezone".to_string()
    } else {
        let name = setting_name(p)?;
        let at = p.peek_token();
        if !(p.parse_keyword(Keyword::TO) || p.consume_token(&Token::Eq)) {
            return Err(syntax(
                format!("expected TO or = after SET {name}, found {}", at.token),
                &at,
            ));
        }
        name
    };
    if p.parse_keyword(Keyword::DEFAULT) || (name == "timezone" && p.parse_keyword(Keyword::LOCAL))
    {
        return Ok(Statement::Set(SetVariable {
            name,
            value: None,
            local,
        }));
    }
    let mut values = vec![];
    loop {
        let at = p.next_token();
        let value = match &at.token {
            Token::SingleQuotedString(s) => s.clone(),
            Token::Word(w) => w.value.clone(),
            Token::Number(n, _) => n.clone(),
            Token::Minus => match p.next_token().token {
                Token::Number(n, _) => format!("-{n}"),
                other => return Err(syntax(format!("expected a number, found {other}"), &at)),
            },
            other => {
                return Err(syntax(
                    format!("expected a value for {name}, found {other}"),
                    &at,
                ));
            }
        };
        values.push(value);
        if !p.consume_token(&Token::Comma) {
            break;
        }
    }
    Ok(Statement::Set(SetVariable {
        name,
        value: Some(values.join(", ")),
        local,
    }))
}

/// A setting's name: a word, possibly dotted (`palisade.x`), lower-cased as Postgres does;
/// `TIME ZONE` and `TRANSACTION ISOLATION LEVEL` are the spellings of two of them.
fn setting_name(p: &mut Parser) -> Result<String> {
    if p.parse_keywords(&[Keyword::TIME, Keyword::ZONE]) {
        return Ok("timezone".into());
    }
    if p.parse_keywords(&[Keyword::TRANSACTION, Keyword::ISOLATION, Keyword::LEVEL]) {
        return Ok("transaction_isolation".into());
    }
    let at = p.next_token();
    let Token::Word(w) = &at.token else {
        return Err(syntax(
            format!("expected a setting name, found {}", at.token),
            &at,
        ));
    };
    let mut name = w.value.to_ascii_lowercase();
    while p.consume_token(&Token::Period) {
        let part = p.next_token();
        let Token::Word(w) = &part.token else {
            return Err(syntax(
                format!("expected a setting name, found {}", part.token),
                &part,
            ));
        };
        name.push('.');
        name.push_str(&w.value.to_ascii_lowercase());
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use crate::parse_statements;
    use crate::statement::{SetVariable, Statement, TransactionStep};

    fn one(sql: &str) -> Statement {
        let mut s = parse_statements(sql).expect(sql);
        assert_eq!(s.len(), 1, "{sql}");
        s.remove(0).statement
    }

    fn set(name: &str, value: Option<&str>) -> SetVariable {
        SetVariable {
            name: name.into(),
            value: value.map(str::to_string),
            local: false,
        }
    }

    #[test]
    fn set_spellings() {
        for (sql, expected) in [
            (
                "SET search_path TO public",
                set("search_path", Some("public")),
            ),
            (
                "SET search_path = \"$user\", public",
                set("search_path", Some("$user, public")),
            ),
            (
                "set SESSION DateStyle = 'ISO, MDY'",
                set("datestyle", Some("ISO, MDY")),
            ),
            ("SET TIME ZONE 'UTC'", set("timezone", Some("UTC"))),
            (
                "SET extra_float_digits = 3",
                set("extra_float_digits", Some("3")),
            ),
            (
                "SET statement_timeout = -1",
                set("statement_timeout", Some("-1")),
            ),
            (
                "SET application_name TO DEFAULT",
                set("application_name", None),
            ),
        ] {
            match one(sql) {
                Statement::Set(s) => assert_eq!(s, expected, "{sql}"),
                other => panic!("{sql}: {other:?}"),
            }
        }
    }

    #[test]
    fn show_reset_and_transactions() {
        assert!(matches!(one("SHOW TimeZone"), Statement::ShowVariable(n) if n == "timezone"));
        assert!(matches!(one("SHOW ALL"), Statement::ShowVariable(n) if n == "all"));
        assert!(
            matches!(one("SHOW TRANSACTION ISOLATION LEVEL"), Statement::ShowVariable(n) if n == "transaction_isolation")
        );
        assert!(matches!(one("RESET ALL"), Statement::Reset(None)));
        assert!(matches!(one("DISCARD ALL"), Statement::Reset(None)));
        assert!(
            matches!(one("RESET search_path"), Statement::Reset(Some(n)) if n == "search_path")
        );
        for (sql, step) in [
            ("BEGIN", TransactionStep::Begin),
            (
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                TransactionStep::Begin,
            ),
            ("START TRANSACTION", TransactionStep::Begin),
            ("COMMIT", TransactionStep::Commit),
            ("END", TransactionStep::Commit),
            ("ROLLBACK", TransactionStep::Rollback),
        ] {
            assert!(
                matches!(one(sql), Statement::Transaction(s) if s == step),
                "{sql}"
            );
        }
    }

    #[test]
    fn a_set_without_a_value_says_where() {
        let e = parse_statements("SET search_path").unwrap_err();
        assert!(e.to_string().contains("expected TO or ="), "{e}");
    }
}
