//! The sql crate's one error type.

use std::fmt;

/// A position in the statement text, 1-based, as editors show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: u64,
    pub column: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// What an unresolved name or a planning failure is about; the server maps it to a SQLSTATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanErrorKind {
    UndefinedTable,
    UndefinedColumn,
    UndefinedFunction,
    /// A setting, schema, type or role that does not exist.
    UndefinedObject,
    DatatypeMismatch,
    DuplicateObject,
    DependentObjects,
    InvalidParameter,
    Other,
}

/// Errors of the SQL front end, grouped by who is at fault.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// User SQL: the text does not parse.
    #[error("syntax error at {position}: {message}")]
    Syntax { message: String, position: Position },
    /// User SQL: valid SQL that Palisade does not run (yet).
    #[error("{construct} is not supported{}", at(position))]
    Unsupported {
        construct: String,
        position: Option<Position>,
    },
    /// User SQL: names that do not resolve, types that do not fit, bad options.
    #[error("{message}{}", at(position))]
    Plan {
        message: String,
        kind: PlanErrorKind,
        position: Option<Position>,
    },
    /// Palisade's own fault.
    #[error("internal error: {0}")]
    Internal(String),
}

fn at(position: &Option<Position>) -> String {
    match position {
        Some(p) => format!(" (at {p})"),
        None => String::new(),
    }
}

pub type Result<T> = std::result::Result<T, SqlError>;

impl SqlError {
    /// Sets the position where the error has none (DataFusion's type checks carry no
    /// span): the statement's start is better than nothing.
    pub fn or_position(self, fallback: Position) -> Self {
        match self {
            SqlError::Unsupported {
                construct,
                position: None,
            } => SqlError::Unsupported {
                construct,
                position: Some(fallback),
            },
            SqlError::Plan {
                message,
                kind,
                position: None,
            } => SqlError::Plan {
                message,
                kind,
                position: Some(fallback),
            },
            other => other,
        }
    }

    pub fn unsupported(construct: impl Into<String>, position: Option<Position>) -> Self {
        SqlError::Unsupported {
            construct: construct.into(),
            position,
        }
    }

    pub fn plan(
        kind: PlanErrorKind,
        message: impl Into<String>,
        position: Option<Position>,
    ) -> Self {
        SqlError::Plan {
            message: message.into(),
            kind,
            position,
        }
    }

    /// Where in the text the error is, when known.
    pub fn position(&self) -> Option<Position> {
        match self {
            SqlError::Syntax { position, .. } => Some(*position),
            SqlError::Unsupported { position, .. } | SqlError::Plan { position, .. } => *position,
            SqlError::Internal(_) => None,
        }
    }
}

impl From<sqlparser::parser::ParserError> for SqlError {
    fn from(e: sqlparser::parser::ParserError) -> Self {
        let text = match e {
            sqlparser::parser::ParserError::TokenizerError(s)
            | sqlparser::parser::ParserError::ParserError(s) => s,
            sqlparser::parser::ParserError::RecursionLimitExceeded => {
                "statement nests too deeply".to_string()
            }
        };
        // sqlparser appends " at Line: L, Column: C"; lift it into a structured position.
        let (message, position) = match text.rfind(" at Line: ") {
            Some(i) => {
                let tail = &text[i + " at Line: ".len()..];
                let mut parts = tail.split(", Column: ");
                let line = parts.next().and_then(|s| s.trim().parse().ok());
                let column = parts.next().and_then(|s| s.trim().parse().ok());
                match (line, column) {
                    (Some(line), Some(column)) => {
                        (text[..i].to_string(), Position { line, column })
                    }
                    _ => (text.clone(), Position { line: 1, column: 1 }),
                }
            }
            None => (text, Position { line: 1, column: 1 }),
        };
        SqlError::Syntax { message, position }
    }
}

impl From<datafusion::error::DataFusionError> for SqlError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        use datafusion::error::DataFusionError as D;
        let position = e.diagnostic().and_then(|d| d.span).map(|s| Position {
            line: s.start.line,
            column: s.start.column,
        });
        let root = e.find_root();
        if let D::SQL(p, _) = root {
            return SqlError::from(sqlparser::parser::ParserError::ParserError(p.to_string()));
        }
        if let D::NotImplemented(m) = root {
            return SqlError::Unsupported {
                construct: m.clone(),
                position,
            };
        }
        if let D::Internal(m) = root {
            return SqlError::Internal(m.clone());
        }
        let message = match root {
            D::SchemaError(s, _) => match s.as_ref() {
                datafusion::common::SchemaError::FieldNotFound { field, .. } => {
                    format!("column \"{}\" does not exist", field.name)
                }
                other => other.to_string(),
            },
            D::Plan(m) | D::Execution(m) => function_message(m).unwrap_or_else(|| m.clone()),
            other => other.to_string(),
        };
        // Classified by DataFusion's wording, before it is replaced by PostgreSQL's.
        let kind = match root {
            D::Plan(m) | D::Execution(m) => classify(root, m),
            _ => classify(root, &message),
        };
        // DataFusion puts hints on further lines; a client shows one line best.
        let message = message.lines().map(str::trim).collect::<Vec<_>>().join(" ");
        let message = match kind {
            PlanErrorKind::UndefinedTable => relation_message(&message),
            _ => message,
        };
        SqlError::Plan {
            message,
            kind,
            position,
        }
    }
}

/// PostgreSQL's wording for DataFusion's "Invalid function 'f'.\nDid you mean 'g'?".
fn function_message(message: &str) -> Option<String> {
    let rest = message.strip_prefix("Invalid function '")?;
    let (name, tail) = rest.split_once('\'')?;
    let hint = tail
        .split_once("Did you mean '")
        .and_then(|(_, h)| h.split_once('\''))
        .map(|(h, _)| format!(" (did you mean {h}?)"))
        .unwrap_or_default();
    Some(format!("function {name}() does not exist{hint}"))
}

/// PostgreSQL's wording for DataFusion's "table 'datafusion.public.x' not found".
fn relation_message(message: &str) -> String {
    let quoted = message.split('\'').nth(1);
    match quoted {
        Some(name) => {
            let name = name.strip_prefix("datafusion.public.").unwrap_or(name);
            format!("relation \"{name}\" does not exist")
        }
        None => message.to_string(),
    }
}

/// DataFusion reports most planning failures as text; this is the one place that reads them.
fn classify(e: &datafusion::error::DataFusionError, message: &str) -> PlanErrorKind {
    use datafusion::common::SchemaError;
    use datafusion::error::DataFusionError as D;
    if let D::SchemaError(s, _) = e {
        return match s.as_ref() {
            SchemaError::FieldNotFound { .. } => PlanErrorKind::UndefinedColumn,
            SchemaError::AmbiguousReference { .. } => PlanErrorKind::UndefinedColumn,
            _ => PlanErrorKind::Other,
        };
    }
    let m = message.to_ascii_lowercase();
    if m.contains("table") && m.contains("not found") {
        PlanErrorKind::UndefinedTable
    } else if m.contains("invalid function") || m.contains("function") && m.contains("not found") {
        PlanErrorKind::UndefinedFunction
    } else if m.contains("cannot coerce")
        || m.contains("cannot infer common")
        || m.contains("no function matches")
        || m.contains("failed to coerce")
        || m.contains("type")
            && (m.contains("mismatch") || m.contains("not supported for") || m.contains("coercion"))
    {
        PlanErrorKind::DatatypeMismatch
    } else {
        PlanErrorKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_functions_are_undefined_function_in_postgres_words() {
        let e = datafusion::error::DataFusionError::Plan(
            "Invalid function 'no_such_fn'.\nDid you mean 'to_char'?".into(),
        );
        match SqlError::from(e) {
            SqlError::Plan { message, kind, .. } => {
                assert_eq!(kind, PlanErrorKind::UndefinedFunction);
                assert_eq!(
                    message,
                    "function no_such_fn() does not exist (did you mean to_char?)"
                );
            }
            other => panic!("expected a plan error, got {other:?}"),
        }
    }
}
