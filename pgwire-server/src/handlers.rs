//! pgwire's handler hooks over a [`Database`]: the simple query protocol (several
//! statements per message), the extended protocol (Parse/Bind/Describe/Execute with
//! parameters), and CancelRequest through pgwire's connection manager.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use futures::{Sink, stream};
use palisade_engine::session::Session;
use palisade_engine::{Database, StatementResult};
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{
    ClientInfo, ClientPortalStore, ConnectionManager, METADATA_DATABASE, METADATA_USER,
    PgWireServerHandlers, Type,
};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;

use crate::encode;
use crate::errors::{error_response, to_pgwire, user_error};
use crate::params;
use crate::server::ServerOptions;
use crate::startup::{Startup, ensure_admitted};

/// Everything a connection needs; one per server, shared by all connections.
pub struct Handlers {
    queries: Arc<Queries>,
    startup: Arc<Startup>,
    cancel: Arc<DefaultCancelHandler>,
}

impl Handlers {
    pub fn new(db: Database, options: ServerOptions) -> Self {
        let connections = Arc::new(ConnectionManager::new());
        Handlers {
            queries: Arc::new(Queries {
                parser: Arc::new(Parser { db: db.clone() }),
                db,
            }),
            startup: Arc::new(Startup::new(Arc::new(options), Arc::clone(&connections))),
            cancel: Arc::new(DefaultCancelHandler::new(connections)),
        }
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::clone(&self.queries)
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::clone(&self.queries)
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        Arc::clone(&self.startup)
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        Arc::clone(&self.cancel)
    }
}

pub struct Queries {
    db: Database,
    parser: Arc<Parser>,
}

/// A statement after Parse: its text, and what Describe reports for it.
#[derive(Debug, Clone)]
pub struct PreparedStatement {
    sql: String,
    params: Vec<Type>,
    schema: Option<SchemaRef>,
}

pub struct Parser {
    db: Database,
}

/// Runs `work` on its own task and waits for it. A panic there becomes an internal-error
/// response: a bug in one statement must not close the client's connection, let alone the
/// server. When the wait is dropped (pgwire drops it on CancelRequest), the task is
/// aborted, so the client gets its answer at once and the query stops at its next yield
/// (DataFusion yields between batches of its scans).
async fn detached<T: Send + 'static>(
    work: impl Future<Output = T> + Send + 'static,
) -> PgWireResult<T> {
    struct AbortOnDrop(tokio::task::AbortHandle);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let task = tokio::spawn(work);
    let _abort = AbortOnDrop(task.abort_handle());
    match task.await {
        Ok(v) => Ok(v),
        Err(e) if e.is_panic() => {
            let panic = e.into_panic();
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!(panic = %what, "statement panicked");
            Err(user_error("XX000", format!("internal error: {what}")))
        }
        Err(_) => Err(PgWireError::QueryCanceled),
    }
}

/// The connection's session, made on its first statement from what the client sent at
/// startup (user, database, `application_name`, `DateStyle`, ...).
fn session<C: ClientInfo>(client: &C) -> Arc<tokio::sync::Mutex<Session>> {
    client.session_extensions().get_or_insert_with(|| {
        let metadata = client.metadata();
        let user = metadata.get(METADATA_USER).map_or("", String::as_str);
        let database = metadata.get(METADATA_DATABASE).map_or(user, String::as_str);
        tokio::sync::Mutex::new(
            Session::new(user, database)
                .with_startup_settings(metadata.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        )
    })
}

/// The response for one statement's result, rows in `format`.
fn response(result: StatementResult, format: &Format) -> PgWireResult<Response> {
    match result {
        StatementResult::Done { tag, rows } => {
            if tag.starts_with("CREATE") || tag.starts_with("DROP") {
                tracing::info!(command = tag, "DDL done");
            } else {
                tracing::debug!(command = tag, "statement done");
            }
            // The engine's tags name commands with underscores; Postgres' use spaces.
            let command = Tag::new(&tag.replace('_', " "));
            // pgwire reports the transaction state in ReadyForQuery from these; drivers
            // (psycopg) check it after BEGIN.
            match tag {
                "BEGIN" => return Ok(Response::TransactionStart(command)),
                "COMMIT" | "ROLLBACK" => return Ok(Response::TransactionEnd(command)),
                _ => {}
            }
            // INSERT's tag carries an OID (always 0 since PostgreSQL 12) before its count.
            Ok(Response::Execution(match rows {
                Some(n) if tag == "INSERT" => command.with_oid(0).with_rows(n as usize),
                Some(n) => command.with_rows(n as usize),
                None => command,
            }))
        }
        StatementResult::Rows { schema, batches } => {
            let fields: Arc<Vec<FieldInfo>> = Arc::new(encode::fields(&schema, format));
            let mut rows = Vec::with_capacity(batches.iter().map(|b| b.num_rows()).sum());
            for batch in &batches {
                rows.extend(encode::encode_batch(batch, &fields)?.into_iter().map(Ok));
            }
            Ok(Response::Query(QueryResponse::new(
                fields,
                stream::iter(rows),
            )))
        }
    }
}

#[async_trait]
impl SimpleQueryHandler for Queries {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        ensure_admitted(client)?;
        let db = self.db.clone();
        let sql = query.to_string();
        let session = session(client);
        let (results, error) = detached(async move {
            let mut session = session.lock().await;
            db.execute_each_in(&mut session, &sql).await
        })
        .await?;
        let mut responses = Vec::with_capacity(results.len() + 1);
        for result in results {
            responses.push(response(result, &Format::UnifiedText)?);
        }
        match error {
            Some(e) => {
                tracing::debug!(error = %e, "statement failed");
                responses.push(Response::Error(Box::new(error_response(&e, query))));
            }
            // Only comments: Postgres answers EmptyQueryResponse.
            None if responses.is_empty() => responses.push(Response::EmptyQuery),
            None => {}
        }
        Ok(responses)
    }
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = PreparedStatement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<PreparedStatement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        ensure_admitted(client)?;
        let db = self.db.clone();
        let text = sql.to_string();
        let declared: Vec<_> = types
            .iter()
            .map(|t| t.as_ref().and_then(params::declared_data_type))
            .collect();
        let session = session(client);
        let prepared = detached(async move {
            let mut session = session.lock().await;
            db.prepare_in(&mut session, &text, &declared).await
        })
        .await?
        .map_err(|e| to_pgwire(&e, sql))?;
        // Only comments: stored as an empty statement, which executes to EmptyQueryResponse.
        let Some(prepared) = prepared else {
            return Ok(None);
        };
        // ParameterDescription repeats the types the client declared, as Postgres does: they
        // are the types its values arrive in (`params::values` decodes by them).
        let params = prepared
            .params
            .iter()
            .enumerate()
            .map(|(i, t)| match types.get(i).cloned().flatten() {
                Some(ty) if params::declared_data_type(&ty).is_some() => ty,
                _ => params::described_type(t.as_ref()),
            })
            .collect();
        Ok(Some(PreparedStatement {
            sql: sql.to_string(),
            params,
            schema: prepared.schema,
        }))
    }

    fn get_parameter_types(&self, stmt: &PreparedStatement) -> PgWireResult<Vec<Type>> {
        Ok(stmt.params.clone())
    }

    fn get_result_schema(
        &self,
        stmt: &PreparedStatement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        Ok(match &stmt.schema {
            Some(schema) => encode::fields(schema, column_format.unwrap_or(&Format::UnifiedText)),
            None => vec![],
        })
    }
}

#[async_trait]
impl ExtendedQueryHandler for Queries {
    type Statement = PreparedStatement;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        Arc::clone(&self.parser)
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<PreparedStatement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = PreparedStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        ensure_admitted(client)?;
        let statement = &portal.statement.statement;
        let values = params::values(portal, &statement.params)?;
        let db = self.db.clone();
        let sql = statement.sql.clone();
        let session = session(client);
        let mut results = detached(async move {
            let mut session = session.lock().await;
            db.execute_with_params_in(&mut session, &sql, values).await
        })
        .await?
        .map_err(|e| to_pgwire(&e, &statement.sql))?;
        match results.pop() {
            Some(result) => response(result, &portal.result_column_format),
            None => Ok(Response::EmptyQuery),
        }
    }
}
