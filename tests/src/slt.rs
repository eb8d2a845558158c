//! SQL in-process, straight into the engine's `execute`: the sqllogictest database
//! `Slt(InProcess::default())`.

use async_trait::async_trait;
use palisade_engine::session::Session;
use palisade_engine::{Database, DatabaseOptions, StatementResult};
use sqllogictest::{DBOutput, DefaultColumnType};

use crate::format::rendered;
use crate::harness::{SltError, SltTarget};

/// A fresh database per file, recording inputs so `CHECK ORACLE` can run, and one session
/// for the file, as a connection over the wire has.
pub struct InProcess {
    pub db: Database,
    session: Session,
}

impl Default for InProcess {
    fn default() -> Self {
        InProcess {
            db: Database::new(DatabaseOptions {
                record_inputs: true,
                test_clock: true,
                ..DatabaseOptions::default()
            }),
            session: Session::default(),
        }
    }
}

#[async_trait]
impl SltTarget for InProcess {
    fn database(&self) -> &Database {
        &self.db
    }

    async fn run_script(&mut self, sql: &str) -> Result<(), SltError> {
        self.run(sql).await?;
        Ok(())
    }

    async fn run_sql(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let mut results = self.run(sql).await?;
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
}

impl InProcess {
    async fn run(&mut self, sql: &str) -> Result<Vec<StatementResult>, SltError> {
        match self.db.execute_each_in(&mut self.session, sql).await {
            (results, None) => Ok(results),
            (_, Some(e)) => Err(SltError::new(e.to_string())),
        }
    }
}
