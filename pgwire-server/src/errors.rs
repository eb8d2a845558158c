//! Engine errors as Postgres ErrorResponses: the one place SQLSTATEs are chosen; and
//! [`ServerError`], why the server cannot start as configured.

use std::path::PathBuf;

use palisade_connectors::ConnectorError;
use palisade_engine::EngineError;
use palisade_sql::{PlanErrorKind, Position, SqlError};
use pgwire::error::{ErrorInfo, PgWireError};

/// Why the server refuses to start with its configuration (passwords, TLS): each names the
/// file and, for a password file, the line to fix.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A line of a password file that is not `NAME:PASSWORD` or `NAME = PASSWORD`.
    #[error("{}, line {line}: {message}", path.display())]
    PasswordFile {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// Users and passwords that contradict each other or are missing.
    #[error("{0}")]
    Users(String),
    /// A certificate or key that rustls cannot use; `path` is the file at fault when one is.
    #[error("{}: {message}", path.display())]
    Tls { path: PathBuf, message: String },
}

/// The SQLSTATE a client sees for `error`, by who is at fault and what about.
pub fn sqlstate(error: &EngineError) -> &'static str {
    match error {
        EngineError::Sql(SqlError::Syntax { .. }) => "42601",
        EngineError::Sql(SqlError::Unsupported { .. }) => "0A000",
        EngineError::Sql(SqlError::Plan { kind, .. }) => match kind {
            PlanErrorKind::UndefinedTable => "42P01",
            PlanErrorKind::UndefinedColumn => "42703",
            PlanErrorKind::UndefinedFunction => "42883",
            PlanErrorKind::UndefinedObject => "42704",
            PlanErrorKind::DatatypeMismatch => "42804",
            PlanErrorKind::DuplicateObject => "42P07",
            PlanErrorKind::DependentObjects => "2BP01",
            PlanErrorKind::InvalidParameter => "22023",
            PlanErrorKind::Other => "42000",
        },
        EngineError::Sql(SqlError::Internal(_)) => "XX000",
        EngineError::Connector(ConnectorError::UnknownConnector { .. }) => "42704",
        EngineError::Connector(ConnectorError::BadOption { .. }) => "22023",
        EngineError::Connector(ConnectorError::Internal(_)) => "XX000",
        EngineError::Connector(ConnectorError::Unavailable { .. }) => "08001",
        EngineError::Data(message) => data_sqlstate(message),
        // io_error: the data directory could not be written or read.
        EngineError::Storage(_) => "58030",
        EngineError::Internal(_) => "XX000",
    }
}

/// Data errors arrive as Arrow/DataFusion text; the class 22 subcodes clients act on.
fn data_sqlstate(message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    if m.contains("divide by zero") || m.contains("division by zero") {
        "22012"
    } else if m.contains("overflow") {
        "22003"
    } else if m.contains("cast") || m.contains("parse") {
        "22P02"
    } else {
        "22000"
    }
}

/// An ErrorResponse for `error` raised by the statement text `query`: the message is the
/// engine's own (which names the line and column), and the position is also sent as
/// Postgres' character offset so psql can underline it.
pub fn error_response(error: &EngineError, query: &str) -> ErrorInfo {
    let mut info = ErrorInfo::new("ERROR".into(), sqlstate(error).into(), error.to_string());
    info.position = error
        .position()
        .and_then(|p| char_offset(query, p))
        .map(|offset| offset.to_string());
    info
}

pub fn to_pgwire(error: &EngineError, query: &str) -> PgWireError {
    PgWireError::UserError(Box::new(error_response(error, query)))
}

/// A protocol-level user error with a SQLSTATE and no engine error behind it.
pub fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        message.into(),
    )))
}

/// The 1-based character offset of a 1-based line and column in `text`.
fn char_offset(text: &str, position: Position) -> Option<usize> {
    let mut offset = 0usize;
    for (i, line) in text.split('\n').enumerate() {
        if i as u64 + 1 == position.line {
            let column = usize::try_from(position.column).ok()?;
            return Some(offset + column.min(line.chars().count() + 1));
        }
        offset += line.chars().count() + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_count_characters_across_lines() {
        let text = "SELECT 1;\nSELECT é, nope";
        let p = Position {
            line: 2,
            column: 11,
        };
        assert_eq!(char_offset(text, p), Some(21));
        assert_eq!(text.chars().nth(20), Some('n'));
        assert_eq!(char_offset(text, Position { line: 3, column: 1 }), None);
    }

    #[test]
    fn sqlstates_by_fault() {
        let undefined = EngineError::Sql(SqlError::plan(
            PlanErrorKind::UndefinedTable,
            "relation \"x\" does not exist",
            Some(Position {
                line: 1,
                column: 15,
            }),
        ));
        assert_eq!(sqlstate(&undefined), "42P01");
        let info = error_response(&undefined, "SELECT * FROM x");
        assert_eq!(info.position.as_deref(), Some("15"));
        assert_eq!(
            sqlstate(&EngineError::Data("Divide by zero error".into())),
            "22012"
        );
        assert_eq!(
            sqlstate(&EngineError::Sql(SqlError::unsupported(
                "CREATE TABLE",
                None
            ))),
            "0A000"
        );
    }
}
