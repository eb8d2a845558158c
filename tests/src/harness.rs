//! What every sqllogictest database of the harness shares: the harness commands (`\i FILE`
//! and `CHECK ORACLE [view]`, which are not Palisade SQL) and the error type.
//!
//! A database only says how it runs SQL ([`SltTarget`]); [`Slt`] makes it a sqllogictest
//! database and handles the harness commands around it, so the in-process and the wire
//! runner cannot drift apart.

use std::fmt;

use async_trait::async_trait;
use palisade_engine::Database;
use sqllogictest::{DBOutput, DefaultColumnType};

/// A failed record: the message `statement error <regex>` is matched against and, over the
/// wire, the SQLSTATE the server sent.
#[derive(Debug)]
pub struct SltError {
    pub message: String,
    pub sqlstate: Option<String>,
}

impl SltError {
    pub fn new(message: impl Into<String>) -> Self {
        SltError {
            message: message.into(),
            sqlstate: None,
        }
    }
}

impl fmt::Display for SltError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SltError {}

/// A sqllogictest database: how it runs Palisade SQL, and the engine behind it.
#[async_trait]
pub trait SltTarget: Send {
    /// The engine `CHECK ORACLE` reads recorded inputs and views from.
    fn database(&self) -> &Database;

    /// Runs a script of statements (`\i FILE`); results are discarded.
    async fn run_script(&mut self, sql: &str) -> Result<(), SltError>;

    /// Runs one record's SQL.
    async fn run_sql(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError>;
}

/// A [`SltTarget`] as a sqllogictest database: harness commands are handled here, SQL is
/// passed on.
pub struct Slt<T>(pub T);

#[async_trait]
impl<T: SltTarget> sqllogictest::AsyncDB for Slt<T> {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let target = &mut self.0;
        let trimmed = sql.trim();
        if let Some(path) = trimmed.strip_prefix("\\i ") {
            let text = std::fs::read_to_string(crate::tests_dir().join(path.trim()))
                .map_err(|e| SltError::new(format!("\\i {path}: {e}")))?;
            target.run_script(&text).await?;
            return Ok(DBOutput::StatementComplete(0));
        }
        if let Some(rest) = trimmed.strip_prefix("CHECK ORACLE") {
            let view = rest.trim();
            let result = if view.is_empty() {
                crate::oracle::check_all(target.database()).await
            } else {
                crate::oracle::check_view(target.database(), view).await
            };
            result.map_err(SltError::new)?;
            return Ok(DBOutput::StatementComplete(0));
        }
        target.run_sql(sql).await
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "palisade"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }

    fn error_sql_state(err: &SltError) -> Option<String> {
        err.sqlstate.clone()
    }
}
