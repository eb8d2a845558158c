//! The engine crate's one error type.

use palisade_sql::{PlanErrorKind, Position, SqlError};

/// Engine errors, grouped by who is at fault.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// User SQL: parse, plan and name-resolution errors from the sql crate.
    #[error(transparent)]
    Sql(#[from] SqlError),
    /// User SQL: a connector option or a source definition the connector refuses.
    #[error("{0}")]
    Connector(#[from] palisade_connectors::ConnectorError),
    /// User data: a value that cannot be processed (division by zero, overflow, bad cast).
    #[error("data error: {0}")]
    Data(String),
    /// The environment: the data directory cannot be read, written or locked, or its files
    /// were damaged by something other than Palisade.
    #[error("{0}")]
    Storage(String),
    /// Palisade's own fault.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, EngineError>;

impl EngineError {
    pub fn plan(kind: PlanErrorKind, message: impl Into<String>) -> Self {
        EngineError::Sql(SqlError::plan(kind, message, None))
    }

    pub fn unsupported(construct: impl Into<String>) -> Self {
        EngineError::Sql(SqlError::unsupported(construct, None))
    }

    /// An execution-time DataFusion error: data at fault unless DataFusion says otherwise.
    pub fn from_execution(e: datafusion::error::DataFusionError) -> Self {
        use datafusion::error::DataFusionError as D;
        match e.find_root() {
            D::ArrowError(a, _) => EngineError::Data(a.to_string()),
            D::Execution(m) => EngineError::Data(m.clone()),
            D::Internal(m) => EngineError::Internal(m.clone()),
            _ => EngineError::Sql(SqlError::from(e)),
        }
    }

    /// Places an error that carries no position at `fallback` (the statement's start).
    pub fn or_position(self, fallback: Position) -> Self {
        match self {
            EngineError::Sql(e) => EngineError::Sql(e.or_position(fallback)),
            other => other,
        }
    }

    pub fn position(&self) -> Option<Position> {
        match self {
            EngineError::Sql(e) => e.position(),
            _ => None,
        }
    }
}

impl From<datafusion::error::DataFusionError> for EngineError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        EngineError::Sql(SqlError::from(e))
    }
}

impl From<datafusion::arrow::error::ArrowError> for EngineError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        EngineError::Data(e.to_string())
    }
}
