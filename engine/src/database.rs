//! [`Database`]: SQL text in, Arrow results out. The server wraps exactly this.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use palisade_connectors::{Opened, SourceSpec, open_source};
use palisade_sql::statement::{
    CreateMaterializedView, CreateSource, DropObject, Insert, ObjectKind, ShowObjects,
};
use palisade_sql::{PlanErrorKind, Statement, parse_statements};
use sqlparser::ast::Query;
use tokio::sync::watch;

use crate::catalog_store::CatalogStore;
use crate::catch_up::{backfill_from_source, replay_log};
use crate::checkpoint::CheckpointFiles;
use crate::clock::Clock;
use crate::dataflow::{Dataflow, LogState, Progress, SourceFlow, ViewFlow};
use crate::durable::Restore;
use crate::error::{EngineError, Result};
use crate::operators::{Change, Time};
use crate::planner::{ViewContext, plan_view, windowed_schema};
use crate::schema_table::SchemaTable;
use crate::session::Session;
use crate::source_runner::{FlushWait, SourceRunner};
use crate::view_scan::ViewProvider;
use crate::view_table::ViewTable;
use crate::watermark::{SourceWatermark, WatermarkSpec};

/// What one statement returns.
#[derive(Debug, Clone)]
pub enum StatementResult {
    Rows {
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    },
    /// A command without rows; `tag` is its command tag, `rows` the rows it affected for
    /// commands that report a count (INSERT).
    Done {
        tag: &'static str,
        rows: Option<u64>,
    },
}

impl StatementResult {
    pub fn done(tag: &'static str) -> Self {
        StatementResult::Done { tag, rows: None }
    }
}

#[derive(Debug, Clone, Default)]
pub struct DatabaseOptions {
    /// Keep every ingested batch per source, so tests can run the batch oracle over them.
    pub record_inputs: bool,
    /// Wall-clock time sources treat as "now" at creation (tests pin it); None: the clock.
    pub now: Option<DateTime<Utc>>,
    /// Where the catalog persists (`--data-dir`); None keeps everything in memory.
    pub data_dir: Option<std::path::PathBuf>,
    /// How often a checkpoint is written to the data directory; zero: only when asked
    /// ([`Database::checkpoint`]).
    pub checkpoint_interval: std::time::Duration,
    /// A test clock: it starts at `now` (or the epoch) and moves only by `ADVANCE CLOCK`,
    /// which also closes and expires windows then; no clock thread runs.
    pub test_clock: bool,
    /// The database name clients open (`current_database()`); empty means `dev`.
    pub database: String,
}

/// A source as created.
#[derive(Debug, Clone)]
pub struct SourceDef {
    pub name: String,
    /// Never reused: see [`StoredObject::id`].
    pub id: u64,
    pub spec: SourceSpec,
    pub created_at: DateTime<Utc>,
    pub sql: String,
}

/// A materialized view as created.
#[derive(Debug, Clone)]
pub struct ViewDef {
    pub name: String,
    pub id: u64,
    pub created_at: DateTime<Utc>,
    /// The query as the user wrote it (before TUMBLE/HOP rewriting).
    pub query: Query,
    pub upstream: String,
    pub sql: String,
    /// Recomputed whole on each change, because no window bounds its window functions or
    /// ORDER BY (shown by SHOW MATERIALIZED VIEWS).
    pub whole_view: bool,
    /// Publishes window replacements (an aggregate or a view over one), not appends.
    pub replaces: bool,
}

/// Sources and views in creation order.
#[derive(Debug, Clone, Default)]
pub struct Definitions {
    pub sources: Vec<SourceDef>,
    pub views: Vec<ViewDef>,
}

#[derive(Default)]
pub(crate) struct Catalog {
    pub(crate) sources: BTreeMap<String, SourceDef>,
    pub(crate) views: BTreeMap<String, ViewDef>,
    pub(crate) runners: BTreeMap<String, SourceRunner>,
    /// Creation order of every object, for SHOW and the oracle.
    pub(crate) order: Vec<String>,
    /// The id the next new object gets.
    pub(crate) next_id: u64,
}

/// An in-process Palisade: a catalog of sources and materialized views kept up to date
/// as events arrive, queried with SQL.
#[derive(Clone)]
pub struct Database {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// DDL runs one statement at a time; ingest never waits on it except while a view is
    /// attached.
    pub(crate) catalog: tokio::sync::Mutex<Catalog>,
    dataflow: Arc<Mutex<Dataflow>>,
    /// Where SELECTs run: every view registered as a table.
    pub(crate) query: SessionContext,
    pub(crate) options: DatabaseOptions,
    /// The data directory, when the catalog persists.
    pub(crate) store: Option<CatalogStore>,
    /// Its checkpoint files, and the last sequence number written or read.
    pub(crate) checkpoints: Option<CheckpointFiles>,
    pub(crate) sequence: std::sync::atomic::AtomicU64,
    /// One checkpoint at a time (the timer's and a final one on shutdown).
    pub(crate) checkpointing: Mutex<()>,
    /// Objects brought back from the data directory at open.
    pub(crate) restored: usize,
    pub(crate) clock: Clock,
    /// What `pg_catalog` and `information_schema` show, replaced after every DDL.
    pub(crate) pg: crate::pg::snapshot::SharedSnapshot,
}

impl Default for Database {
    fn default() -> Self {
        Self::new(DatabaseOptions::default())
    }
}

impl Database {
    /// An in-memory database (`options.data_dir` is not read; see [`Database::open`]).
    pub fn new(options: DatabaseOptions) -> Self {
        Self::with_store(options, None, 0)
    }

    fn with_store(options: DatabaseOptions, store: Option<CatalogStore>, restored: usize) -> Self {
        Self::with_files(options, store, None, 0, restored)
    }

    pub(crate) fn with_files(
        options: DatabaseOptions,
        store: Option<CatalogStore>,
        checkpoints: Option<CheckpointFiles>,
        sequence: u64,
        restored: usize,
    ) -> Self {
        let clock = if options.test_clock {
            Clock::manual(options.now.unwrap_or_default())
        } else {
            Clock::default()
        };
        let dataflow = Arc::new(Mutex::new(Dataflow {
            clock: clock.clone(),
            ..Dataflow::default()
        }));
        if !clock.is_manual() {
            crate::clock::start_ticker(Arc::downgrade(&dataflow));
        }
        let query = crate::query::query_session(palisade_sql::planner::new_session());
        if let Err(e) = crate::system_tables::register(&query, &dataflow) {
            tracing::error!(error = %e, "the palisade system tables are unavailable");
        }
        let pg: crate::pg::snapshot::SharedSnapshot = Default::default();
        if let Err(e) = crate::pg::register(&query, &pg) {
            tracing::error!(error = %e, "pg_catalog and information_schema are unavailable");
        }
        let db = Database {
            inner: Arc::new(Inner {
                catalog: tokio::sync::Mutex::new(Catalog::default()),
                dataflow,
                query,
                options,
                store,
                checkpoints,
                sequence: std::sync::atomic::AtomicU64::new(sequence),
                checkpointing: Mutex::new(()),
                restored,
                clock,
                pg,
            }),
        };
        db.publish_catalog(&Catalog::default());
        db
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        if self.inner.clock.is_manual() {
            return self.inner.clock.now();
        }
        self.inner.options.now.unwrap_or_else(Utc::now)
    }

    pub(crate) fn dataflow(&self) -> MutexGuard<'_, Dataflow> {
        // Ingest holds this lock per batch; a panic there leaves views at a batch boundary.
        self.inner
            .dataflow
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Runs every statement of `sql` in order, stopping at the first error.
    pub async fn execute(&self, sql: &str) -> Result<Vec<StatementResult>> {
        let (results, error) = self.execute_each(sql).await;
        match error {
            Some(e) => Err(e),
            None => Ok(results),
        }
    }

    /// Runs every statement of `sql` in order and returns the results of those that ran
    /// before the first error, and that error: PostgreSQL's simple query protocol answers
    /// each statement that completed, then the error.
    pub async fn execute_each(&self, sql: &str) -> (Vec<StatementResult>, Option<EngineError>) {
        self.execute_each_in(&mut Session::default(), sql).await
    }

    /// [`Database::execute_each`] in a client's session: SET changes it, SHOW and
    /// `current_setting` read it.
    pub async fn execute_each_in(
        &self,
        session: &mut Session,
        sql: &str,
    ) -> (Vec<StatementResult>, Option<EngineError>) {
        let statements = match parse_statements(sql) {
            Ok(s) => s,
            Err(e) => return (vec![], Some(e.into())),
        };
        let mut results = Vec::with_capacity(statements.len());
        for located in statements {
            let at = located.position;
            match self.execute_one(located, session).await {
                Ok(result) => results.push(result),
                Err(e) => return (results, Some(e.or_position(at))),
            }
        }
        (results, None)
    }

    pub(crate) async fn execute_one(
        &self,
        located: palisade_sql::Located,
        session: &mut Session,
    ) -> Result<StatementResult> {
        {
            let result = match located.statement {
                Statement::CreateSource(s) => self.create_source(s, &located.text, None).await?,
                Statement::CreateMaterializedView(v) => {
                    self.create_view(v, &located.text, None).await?
                }
                Statement::Drop(d) => self.drop_object(d).await?,
                Statement::Show(ShowObjects::Sources) => self.show_sources().await?,
                Statement::Show(ShowObjects::MaterializedViews) => self.show_views().await?,
                Statement::Flush => self.flush().await?,
                Statement::Query(q) => self.query(*q, session).await?,
                Statement::Insert(i) => self.insert(i).await?,
                Statement::AdvanceClock(step) => self.advance_clock(step)?,
                Statement::Set(set) => {
                    session.set(&set.name, set.value.as_deref(), set.local)?;
                    StatementResult::done("SET")
                }
                Statement::Reset(name) => {
                    session.reset(name.as_deref())?;
                    StatementResult::done("RESET")
                }
                Statement::ShowVariable(name) => crate::show::show_setting(session, &name)?,
                Statement::Transaction(step) => {
                    use palisade_sql::statement::TransactionStep;
                    match step {
                        TransactionStep::Begin => {
                            session.begin();
                            StatementResult::done("BEGIN")
                        }
                        TransactionStep::Commit => {
                            session.end(true);
                            StatementResult::done("COMMIT")
                        }
                        TransactionStep::Rollback => {
                            session.end(false);
                            StatementResult::done("ROLLBACK")
                        }
                    }
                }
            };
            Ok(result)
        }
    }

    /// Runs one query and returns its rows (convenience for tests and embedding).
    pub async fn query_batches(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let mut results = self.execute(sql).await?;
        match results.pop() {
            Some(StatementResult::Rows { batches, .. }) => Ok(batches),
            _ => Err(EngineError::plan(
                PlanErrorKind::Other,
                "statement returned no rows",
            )),
        }
    }

    /// Delivers `batch` to every view over `source`, as if its connector had read it. For
    /// `connector = 'embedded'` sources this is the only way events arrive.
    pub fn push_batch(&self, source: &str, batch: RecordBatch) -> Result<()> {
        let mut flow = self.dataflow();
        if !flow.sources.contains_key(source) {
            return Err(EngineError::plan(
                PlanErrorKind::UndefinedTable,
                format!("source \"{source}\" does not exist"),
            ));
        }
        flow.ingest(source, batch)
    }

    /// Every batch `source` ingested (empty unless [`DatabaseOptions::record_inputs`]).
    pub fn recorded_inputs(&self, source: &str) -> Vec<RecordBatch> {
        self.dataflow()
            .sources
            .get(source)
            .and_then(|s| s.recorded.clone())
            .unwrap_or_default()
    }

    /// Sources and views in creation order.
    pub async fn definitions(&self) -> Definitions {
        let catalog = self.inner.catalog.lock().await;
        let mut d = Definitions::default();
        for name in &catalog.order {
            if let Some(s) = catalog.sources.get(name) {
                d.sources.push(s.clone());
            } else if let Some(v) = catalog.views.get(name) {
                d.views.push(v.clone());
            }
        }
        d
    }

    /// Rows each source has delivered to its views so far, by source name.
    pub fn rows_ingested(&self) -> Vec<(String, u64)> {
        self.dataflow()
            .sources
            .iter()
            .map(|(name, s)| (name.clone(), s.progress.borrow().delivered))
            .collect()
    }

    /// The schema of a source or view.
    pub fn relation_schema(&self, name: &str) -> Option<SchemaRef> {
        let flow = self.dataflow();
        flow.sources
            .get(name)
            .map(|s| Arc::clone(&s.schema))
            .or_else(|| flow.views.get(name).map(|v| v.table.schema()))
    }

    pub(crate) async fn create_source(
        &self,
        stmt: CreateSource,
        sql: &str,
        restore: Option<Restore>,
    ) -> Result<StatementResult> {
        let restoring = restore.is_some();
        let mut catalog = self.inner.catalog.lock().await;
        if exists(&catalog, &stmt.name, stmt.if_not_exists)? {
            return Ok(StatementResult::done("CREATE_SOURCE"));
        }
        let schema = Arc::new(Schema::new(
            stmt.columns
                .iter()
                .map(|c| Field::new(&c.name, c.data_type.clone(), true))
                .collect::<Vec<_>>(),
        ));
        let mut options = stmt.options.clone();
        let watermark = WatermarkSpec::resolve(stmt.watermark.as_ref(), &schema, &mut options)?;
        let spec = SourceSpec {
            connector: stmt.connector.clone(),
            options,
            schema: Arc::clone(&schema),
        };
        let (id, created_at, start_offsets, position) = match restore {
            Some(r) => (r.id, r.created_at, r.start_offsets, r.position),
            None => (
                catalog.next_id,
                self.now(),
                palisade_connectors::Offsets::new(),
                None,
            ),
        };
        catalog.next_id = catalog.next_id.max(id + 1);
        let resume = position
            .as_ref()
            .and_then(|p| p.offsets.clone())
            .unwrap_or_else(|| start_offsets.clone());
        let delivered = position.as_ref().map_or(0, |p| p.delivered);
        // Opening may wait on the network (a Kafka broker): not on a runtime thread.
        let opened = {
            let (name, spec) = (stmt.name.clone(), spec.clone());
            tokio::task::spawn_blocking(move || open_source(&name, &spec, created_at, &resume))
                .await
                .map_err(|e| EngineError::Internal(format!("opening the source: {e}")))??
        };
        let log = match &opened {
            Opened::Stream(reader) => {
                // Partitions added since the source was created start where it found them.
                let mut start = reader.offsets().clone();
                start.extend(start_offsets);
                let mut log = LogState::new(start);
                log.offsets = reader.offsets().clone();
                if let Some(p) = &position {
                    log.dead_lettered = p.dead_lettered;
                    log.coerced = p.coerced;
                    log.dead_letters = p.dead_letters.iter().cloned().collect();
                }
                Some(log)
            }
            _ => None,
        };
        let (progress, _) = watch::channel(Progress {
            delivered,
            ..Progress::default()
        });
        self.dataflow().sources.insert(
            stmt.name.clone(),
            SourceFlow {
                id,
                schema: Arc::clone(&schema),
                subscribers: vec![],
                progress,
                recorded: self.inner.options.record_inputs.then(Vec::new),
                log,
                watermark: watermark.map(|spec| {
                    let state = position
                        .as_ref()
                        .and_then(|p| p.watermark.clone())
                        .unwrap_or_default();
                    SourceWatermark::new(spec, state, self.inner.clock.now_micros())
                }),
            },
        );
        self.inner.query.register_table(
            stmt.name.as_str(),
            Arc::new(SchemaTable {
                name: stmt.name.clone(),
                schema,
            }),
        )?;
        let dataflow = Arc::clone(&self.inner.dataflow);
        let runner = match opened {
            Opened::Positional(reader) => Some(SourceRunner::start(
                stmt.name.clone(),
                reader,
                dataflow,
                delivered,
            )),
            Opened::Stream(reader) => Some(SourceRunner::start_stream(
                stmt.name.clone(),
                reader,
                dataflow,
            )),
            Opened::Embedded => None,
        };
        if let Some(runner) = runner {
            catalog.runners.insert(stmt.name.clone(), runner);
        }
        tracing::info!(source = %stmt.name, connector = %stmt.connector, "created source");
        catalog.order.push(stmt.name.clone());
        catalog.sources.insert(
            stmt.name.clone(),
            SourceDef {
                id,
                name: stmt.name,
                spec,
                created_at,
                sql: sql.to_string(),
            },
        );
        self.publish_catalog(&catalog);
        if !restoring {
            self.persist(&catalog)?;
        }
        Ok(StatementResult::done("CREATE_SOURCE"))
    }

    pub(crate) async fn create_view(
        &self,
        stmt: CreateMaterializedView,
        sql: &str,
        restore: Option<Restore>,
    ) -> Result<StatementResult> {
        let restoring = restore.is_some();
        let (restored_id, restored_at, saved_state) = match restore {
            Some(r) => (Some(r.id), Some(r.created_at), r.view_state),
            None => (None, None, None),
        };
        let mut catalog = self.inner.catalog.lock().await;
        let id = restored_id.unwrap_or(catalog.next_id);
        catalog.next_id = catalog.next_id.max(id + 1);
        if exists(&catalog, &stmt.name, stmt.if_not_exists)? {
            return Ok(StatementResult::done("CREATE_MATERIALIZED_VIEW"));
        }
        let mut query = (*stmt.query).clone();
        palisade_sql::ties::break_row_number_ties(&mut query);
        let windows = palisade_sql::window::rewrite_for_streaming(&mut query)?;

        // Plan in a session that knows every relation and this view's window placeholders.
        let session = palisade_sql::planner::new_session();
        {
            let flow = self.dataflow();
            for (name, s) in &flow.sources {
                session.register_table(
                    name.as_str(),
                    Arc::new(SchemaTable {
                        name: name.clone(),
                        schema: Arc::clone(&s.schema),
                    }),
                )?;
            }
            for (name, v) in &flow.views {
                session
                    .register_table(name.as_str(), Arc::new(ViewProvider(Arc::clone(&v.table))))?;
            }
            for call in &windows {
                let relation = flow
                    .sources
                    .get(&call.relation)
                    .map(|s| Arc::clone(&s.schema))
                    .or_else(|| flow.views.get(&call.relation).map(|v| v.table.schema()))
                    .ok_or_else(|| {
                        EngineError::Sql(palisade_sql::SqlError::plan(
                            PlanErrorKind::UndefinedTable,
                            format!("relation \"{}\" does not exist", call.relation),
                            call.position,
                        ))
                    })?;
                session.register_table(
                    call.placeholder.as_str(),
                    Arc::new(SchemaTable {
                        name: call.relation.clone(),
                        schema: windowed_schema(&relation, call)?,
                    }),
                )?;
            }
        }
        let watermark_columns: BTreeMap<String, String> = self
            .dataflow()
            .sources
            .iter()
            .filter_map(|(name, s)| Some((name.clone(), s.watermark.as_ref()?.spec.column.clone())))
            .collect();
        let sources: BTreeSet<String> = self.dataflow().sources.keys().cloned().collect();
        let context = ViewContext {
            watermark_columns: &watermark_columns,
            sources: &sources,
            emit_on_window_close: stmt.emit_on_window_close,
        };
        let logical = palisade_sql::planner::plan_query(&session, &query).await?;
        let plan = plan_view(&logical, &windows, &session.state(), &context).await?;
        let upstream = plan.upstream.0.clone();
        // Whether this view's changes are window replacements (an aggregate, or anything
        // over one) rather than appended rows.
        let upstream_replaces = catalog.views.get(&upstream).is_some_and(|v| v.replaces);
        let replaces = plan.aggregate || upstream_replaces;
        let mut names = std::collections::HashSet::new();
        for f in plan.schema.fields() {
            if !names.insert(f.name().clone()) {
                return Err(EngineError::plan(
                    PlanErrorKind::DuplicateObject,
                    format!(
                        "column \"{}\" appears twice in the view; give one an alias",
                        f.name()
                    ),
                ));
            }
        }
        let table = Arc::new(ViewTable::new(Arc::clone(&plan.schema), plan.order.clone()));

        {
            let mut operators = plan.operators;
            if let Some(state) = &saved_state {
                crate::checkpoint::load_view(state, &mut operators, &table)?;
            }
            let mut flow = self.dataflow();
            flow.views.insert(
                stmt.name.clone(),
                ViewFlow {
                    id,
                    operators,
                    table: Arc::clone(&table),
                    subscribers: vec![],
                    errors: 0,
                    last_error: None,
                },
            );
            // Catch up with what the upstream already delivered, then subscribe, under one
            // lock so no batch falls between.
            if let Some(source) = catalog.sources.get(&upstream) {
                let delivered = flow
                    .sources
                    .get(&upstream)
                    .map_or(0, |s| s.progress.borrow().delivered);
                let log = flow.sources.get(&upstream).and_then(|s| s.log.clone());
                let backfilled = match log {
                    // Restored from a checkpoint: already holds what was delivered.
                    _ if saved_state.is_some() => Ok(()),
                    Some(log) => replay_log(&mut flow, &stmt.name, source, &log),
                    None if delivered > 0 => {
                        backfill_from_source(&mut flow, &stmt.name, source, delivered)
                    }
                    None => Ok(()),
                };
                if let Err(e) = backfilled {
                    flow.views.remove(&stmt.name);
                    return Err(e);
                }
                if let Some(s) = flow.sources.get_mut(&upstream) {
                    s.subscribers.push(stmt.name.clone());
                }
            } else if let Some(up) = flow.views.get(&upstream) {
                let changes: Vec<Change> = up
                    .table
                    .partitions()?
                    .into_iter()
                    .map(|(partition, rows)| {
                        if !upstream_replaces {
                            Change::Insert(rows)
                        } else {
                            Change::Replace {
                                partition,
                                old: None,
                                new: Some(rows),
                            }
                        }
                    })
                    .collect();
                if !changes.is_empty() && saved_state.is_none() {
                    flow.push(&stmt.name, changes);
                }
                if let Some(up) = flow.views.get_mut(&upstream) {
                    up.subscribers.push(stmt.name.clone());
                }
            } else {
                flow.views.remove(&stmt.name);
                return Err(EngineError::plan(
                    PlanErrorKind::UndefinedTable,
                    format!("relation \"{upstream}\" does not exist"),
                ));
            }
            // Publishes the first rows of views that have some before any event, and brings
            // the view to the present: closed windows, retention.
            flow.push(&stmt.name, vec![]);
            let time = Time {
                watermark: flow
                    .sources
                    .get(&upstream)
                    .and_then(|s| s.watermark.as_ref()?.watermark()),
                now: flow.clock.now_micros(),
            };
            flow.advance(&stmt.name, time);
        }
        self.inner
            .query
            .register_table(stmt.name.as_str(), Arc::new(ViewProvider(table)))?;
        if let Some(runner) = catalog.runners.get(&upstream) {
            runner.attach();
        }
        tracing::info!(view = %stmt.name, upstream = %upstream, "created materialized view");
        catalog.order.push(stmt.name.clone());
        catalog.views.insert(
            stmt.name.clone(),
            ViewDef {
                id,
                name: stmt.name,
                query: (*stmt.query).clone(),
                upstream,
                sql: sql.to_string(),
                created_at: restored_at.unwrap_or_else(|| self.now()),
                whole_view: plan.whole_view,
                replaces,
            },
        );
        self.publish_catalog(&catalog);
        if !restoring {
            self.persist(&catalog)?;
        }
        Ok(StatementResult::done("CREATE_MATERIALIZED_VIEW"))
    }

    async fn drop_object(&self, stmt: DropObject) -> Result<StatementResult> {
        let mut catalog = self.inner.catalog.lock().await;
        let tag = match stmt.kind {
            ObjectKind::Source => "DROP_SOURCE",
            ObjectKind::MaterializedView => "DROP_MATERIALIZED_VIEW",
        };
        let present = match stmt.kind {
            ObjectKind::Source => catalog.sources.contains_key(&stmt.name),
            ObjectKind::MaterializedView => catalog.views.contains_key(&stmt.name),
        };
        if !present {
            if stmt.if_exists {
                return Ok(StatementResult::done(tag));
            }
            let other =
                catalog.sources.contains_key(&stmt.name) || catalog.views.contains_key(&stmt.name);
            let hint = if other { " (it is not a " } else { "" };
            let message = if other {
                format!("\"{}\" exists{hint}{})", stmt.name, stmt.kind.describe())
            } else {
                format!("{} \"{}\" does not exist", stmt.kind.describe(), stmt.name)
            };
            return Err(EngineError::plan(PlanErrorKind::UndefinedTable, message));
        }
        if let Some(dependent) = catalog.views.values().find(|v| v.upstream == stmt.name) {
            return Err(EngineError::plan(
                PlanErrorKind::DependentObjects,
                format!(
                    "cannot drop {} \"{}\": materialized view \"{}\" depends on it",
                    stmt.kind.describe(),
                    stmt.name,
                    dependent.name
                ),
            ));
        }
        {
            let mut flow = self.dataflow();
            match stmt.kind {
                ObjectKind::Source => {
                    flow.sources.remove(&stmt.name);
                }
                ObjectKind::MaterializedView => {
                    flow.views.remove(&stmt.name);
                    for s in flow.sources.values_mut() {
                        s.subscribers.retain(|v| v != &stmt.name);
                    }
                    for v in flow.views.values_mut() {
                        v.subscribers.retain(|v| v != &stmt.name);
                    }
                }
            }
        }
        catalog.runners.remove(&stmt.name);
        catalog.sources.remove(&stmt.name);
        catalog.views.remove(&stmt.name);
        catalog.order.retain(|n| n != &stmt.name);
        self.inner.query.deregister_table(stmt.name.as_str())?;
        self.publish_catalog(&catalog);
        tracing::info!(name = %stmt.name, "dropped {}", stmt.kind.describe());
        self.persist(&catalog)?;
        Ok(StatementResult::done(tag))
    }

    /// Waits until every row each source had accepted is reflected in every view; for a
    /// log source, every record below the partitions' ends when FLUSH ran.
    async fn flush(&self) -> Result<StatementResult> {
        let waits: Vec<(String, FlushWait, watch::Receiver<Progress>)> = {
            let catalog = self.inner.catalog.lock().await;
            let flow = self.dataflow();
            catalog
                .runners
                .iter()
                .filter_map(|(name, runner)| {
                    flow.sources
                        .get(name)
                        .map(|s| (name.clone(), runner.request_flush(), s.progress.subscribe()))
                })
                .collect()
        };
        for (name, wait, mut rx) in waits {
            // A dropped source closes its channel: nothing left to wait for.
            let _ = rx
                .wait_for(|p| {
                    p.done
                        || match wait {
                            FlushWait::Rows(rows) => p.delivered >= rows,
                            FlushWait::Request(request) => p.flushed >= request,
                        }
                })
                .await;
            if let FlushWait::Request(request) = wait {
                let catalog = self.inner.catalog.lock().await;
                if let Some(why) = catalog
                    .runners
                    .get(&name)
                    .and_then(|r| r.flush_failure(request))
                {
                    return Err(EngineError::Connector(
                        palisade_connectors::ConnectorError::Unavailable {
                            system: format!("source \"{name}\""),
                            message: why,
                        },
                    ));
                }
            }
        }
        Ok(StatementResult::done("FLUSH"))
    }

    /// INSERT into an embedded source: DataFusion plans the VALUES against the source's
    /// columns (casts, column lists, defaults to NULL) into a scratch table; the rows are
    /// then pushed like any batch.
    async fn insert(&self, stmt: Insert) -> Result<StatementResult> {
        let schema = {
            let catalog = self.inner.catalog.lock().await;
            let Some(def) = catalog.sources.get(&stmt.source) else {
                let message = if catalog.views.contains_key(&stmt.source) {
                    format!("cannot INSERT into materialized view \"{}\"", stmt.source)
                } else {
                    format!("source \"{}\" does not exist", stmt.source)
                };
                return Err(EngineError::plan(PlanErrorKind::UndefinedTable, message));
            };
            if def.spec.connector != "embedded" {
                return Err(EngineError::unsupported(format!(
                    "INSERT into a source read by connector '{}' (only connector = 'embedded' accepts rows from SQL)",
                    def.spec.connector
                )));
            }
            Arc::clone(&def.spec.schema)
        };
        let session = palisade_sql::planner::new_session();
        let scratch = Arc::new(MemTable::try_new(Arc::clone(&schema), vec![vec![]])?);
        session.register_table(
            stmt.source.as_str(),
            Arc::clone(&scratch) as Arc<dyn TableProvider>,
        )?;
        let plan = session
            .state()
            .statement_to_plan(DfStatement::Statement(stmt.statement))
            .await?;
        session
            .execute_logical_plan(plan)
            .await?
            .collect()
            .await
            .map_err(EngineError::from_execution)?;
        let batches = scratch.batches[0].read().await.clone();
        let inserted = batches.iter().map(|b| b.num_rows() as u64).sum();
        for batch in batches {
            let batch = RecordBatch::try_new(Arc::clone(&schema), batch.columns().to_vec())?;
            self.push_batch(&stmt.source, batch)?;
        }
        Ok(StatementResult::Done {
            tag: "INSERT",
            rows: Some(inserted),
        })
    }
}

fn exists(catalog: &Catalog, name: &str, if_not_exists: bool) -> Result<bool> {
    if name.starts_with("__palisade") {
        return Err(EngineError::plan(
            PlanErrorKind::InvalidParameter,
            format!("names starting with __palisade are reserved: \"{name}\""),
        ));
    }
    let kind = if catalog.sources.contains_key(name) {
        "source"
    } else if catalog.views.contains_key(name) {
        "materialized view"
    } else {
        return Ok(false);
    };
    if if_not_exists {
        return Ok(true);
    }
    Err(EngineError::plan(
        PlanErrorKind::DuplicateObject,
        format!("{kind} \"{name}\" already exists"),
    ))
}
