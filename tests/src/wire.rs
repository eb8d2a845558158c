//! SQL over the Postgres wire: the sqllogictest database `Slt(Wire::start().await?)` runs
//! the same `.slt` files as [`crate::slt::InProcess`], sent by tokio-postgres to
//! `palisade_server::serve` on a local port.
//!
//! Statements go over the simple query protocol, queries over the extended protocol with
//! binary results, so both protocols and the binary encoding of every result type the files
//! use are exercised. `CHECK ORACLE` runs on the server's own `Database` handle, after the
//! statements it checks went over the wire.

use async_trait::async_trait;
use palisade_engine::{Database, DatabaseOptions};
use palisade_server::{ServerOptions, serve};
use sqllogictest::{DBOutput, DefaultColumnType};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use crate::format::Cell;
use crate::harness::{SltError, SltTarget};
use crate::pg_cells::{decodes_binary, rendered_binary, text_cell};

/// A fresh database per file behind its own server, and one client connected to it.
pub struct Wire {
    db: Database,
    client: Client,
    /// The accept loop; aborted on drop so a finished file leaves no server behind.
    server: JoinHandle<std::io::Result<()>>,
}

impl Wire {
    /// Starts a server on a free local port and connects to it.
    pub async fn start() -> Result<Wire, SltError> {
        let db = Database::new(DatabaseOptions {
            record_inputs: true,
            test_clock: true,
            ..DatabaseOptions::default()
        });
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| SltError::new(format!("bind 127.0.0.1:0: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| SltError::new(format!("listener address: {e}")))?
            .port();
        let server = tokio::spawn(serve(listener, db.clone(), ServerOptions::default()));
        let (client, connection) = tokio_postgres::connect(
            &format!("host=127.0.0.1 port={port} user=root dbname=dev"),
            NoTls,
        )
        .await
        .map_err(|e| SltError::new(format!("connect to port {port}: {e}")))?;
        // The connection task ends when `client` is dropped.
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("wire connection: {e}");
            }
        });
        Ok(Wire { db, client, server })
    }

    /// Extended protocol: Parse/Describe (for the column types, also of an empty result),
    /// then Bind/Execute with binary results.
    async fn query(&self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let statement = self.client.prepare(sql).await.map_err(wire_error)?;
        let columns = statement.columns();
        if !columns.iter().all(|c| decodes_binary(c.type_())) {
            let types = columns.iter().map(|c| c.type_().clone()).collect();
            return self.query_as_text(sql, types).await;
        }
        let rows = self
            .client
            .query(&statement, &[])
            .await
            .map_err(wire_error)?;
        let rows = rendered_binary(&rows)
            .map_err(|e| SltError::new(format!("decoding a row of {sql}: {e}")))?;
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Any; columns.len()],
            rows,
        })
    }

    /// The simple protocol's text results, for column `types` without a binary decoder here.
    async fn query_as_text(
        &self,
        sql: &str,
        types: Vec<Type>,
    ) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let messages = self.client.simple_query(sql).await.map_err(wire_error)?;
        let rows = messages
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some(
                    types
                        .iter()
                        .enumerate()
                        .map(|(i, ty)| text_cell(ty, row.get(i)))
                        .map(|c: Cell| c.render())
                        .collect(),
                ),
                _ => None,
            })
            .collect();
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Any; types.len()],
            rows,
        })
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The server's error message alone (what the in-process runner reports for the same
/// statement), with its SQLSTATE; client-side failures as tokio-postgres words them.
fn wire_error(e: tokio_postgres::Error) -> SltError {
    match e.as_db_error() {
        Some(db) => SltError {
            message: db.message().to_string(),
            sqlstate: Some(db.code().code().to_string()),
        },
        None => SltError::new(e.to_string()),
    }
}

/// Whether `sql` is a query (sent over the extended protocol) rather than a statement:
/// its first keyword after comments and parentheses.
fn is_query(sql: &str) -> bool {
    let mut rest = sql;
    loop {
        rest = rest.trim_start().trim_start_matches('(');
        if let Some(comment) = rest.strip_prefix("--") {
            rest = comment.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(comment) = rest.strip_prefix("/*") {
            rest = comment.split_once("*/").map_or("", |(_, after)| after);
        } else {
            break;
        }
    }
    let keyword: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    ["SELECT", "WITH", "VALUES", "SHOW"]
        .iter()
        .any(|k| keyword.eq_ignore_ascii_case(k))
}

#[async_trait]
impl SltTarget for Wire {
    fn database(&self) -> &Database {
        &self.db
    }

    async fn run_script(&mut self, sql: &str) -> Result<(), SltError> {
        self.client.simple_query(sql).await.map_err(wire_error)?;
        Ok(())
    }

    async fn run_sql(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        if is_query(sql) {
            return self.query(sql).await;
        }
        self.run_script(sql).await?;
        Ok(DBOutput::StatementComplete(0))
    }
}

#[cfg(test)]
mod tests {
    use super::is_query;

    #[test]
    fn queries_are_told_from_statements_by_their_first_keyword() {
        assert!(is_query("SELECT 1"));
        assert!(is_query(
            "  -- why\n/* a comment */ with t AS (SELECT 1) SELECT * FROM t"
        ));
        assert!(is_query("(SELECT 1)"));
        assert!(is_query("show sources"));
        assert!(!is_query("SELECTED"));
        assert!(!is_query("CREATE MATERIALIZED VIEW v AS SELECT 1"));
        assert!(!is_query("-- SELECT\nFLUSH"));
        assert!(!is_query(""));
    }
}
