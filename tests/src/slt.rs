//! The in-process sqllogictest database.

use std::fmt;

use async_trait::async_trait;
use palisade_engine::{Database, DatabaseOptions, StatementResult};
use sqllogictest::{DBOutput, DefaultColumnType};

use crate::format::rendered;

/// A fresh database per file, recording inputs so `CHECK ORACLE` can run.
pub struct InProcess {
    pub db: Database,
}

impl Default for InProcess {
    fn default() -> Self {
        InProcess {
            db: Database::new(DatabaseOptions {
                record_inputs: true,
                now: None,
            }),
        }
    }
}

#[derive(Debug)]
pub struct SltError(pub String);

impl fmt::Display for SltError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltError {}

#[async_trait]
impl sqllogictest::AsyncDB for InProcess {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let trimmed = sql.trim();
        // Harness commands, not Palisade SQL.
        if let Some(path) = trimmed.strip_prefix("\\i ") {
            let text = std::fs::read_to_string(crate::tests_dir().join(path.trim()))
                .map_err(|e| SltError(format!("\\i {path}: {e}")))?;
            self.db
                .execute(&text)
                .await
                .map_err(|e| SltError(e.to_string()))?;
            return Ok(DBOutput::StatementComplete(0));
        }
        if let Some(rest) = trimmed.strip_prefix("CHECK ORACLE") {
            let view = rest.trim();
            let result = if view.is_empty() {
                crate::oracle::check_all(&self.db).await
            } else {
                crate::oracle::check_view(&self.db, view).await
            };
            result.map_err(SltError)?;
            return Ok(DBOutput::StatementComplete(0));
        }
        let mut results = self
            .db
            .execute(sql)
            .await
            .map_err(|e| SltError(e.to_string()))?;
        match results.pop() {
            Some(StatementResult::Rows { schema, batches }) => Ok(DBOutput::Rows {
                types: schema
                    .fields()
                    .iter()
                    .map(|_| DefaultColumnType::Any)
                    .collect(),
                rows: rendered(&batches),
            }),
            _ => Ok(DBOutput::StatementComplete(0)),
        }
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "palisade"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }
}
