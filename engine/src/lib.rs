//! Palisade's engine: a catalog of sources and materialized views, each view an incremental
//! pipeline over Arrow batches, read through DataFusion.
//!
//! # Layout
//! - [`database`]: [`Database`], the entry point: executes SQL text, returns Arrow results;
//!   owns the catalog, source runners and the dataflow.
//! - [`catch_up`]: a view created after its source started, caught up with what the other
//!   views saw (datagen regenerated, Kafka read again).
//! - [`catalog_store`]: the data directory: the catalog saved after each DDL, and its lock.
//! - [`checkpoint`]: view state and source positions captured together, written to and read
//!   from checksummed files.
//! - [`clock`]: the wall clock or a test clock (`ADVANCE CLOCK`), and the thread that lets
//!   time pass for idle sources and retention.
//! - [`watermark`]: a source's event time: late events set aside, idle sources moved on.
//! - [`query`]: ad-hoc queries: rewritten for Postgres clients, planned, run, named as
//!   Postgres names columns.
//! - [`prepared`]: statements with `$n` parameters, described and run for the extended
//!   query protocol.
//! - [`planner`]: a view's DataFusion logical plan split into per-event operators, the
//!   aggregate, and the per-window part above it.
//! - [`operators`]: the pipeline stages behind the [`operators::Operator`] trait, one per
//!   file: window assignment, filter, temporal filter (retention), projection, grouped
//!   aggregate (which closes and expires windows), per-window post-step.
//! - [`accumulators`]: incremental aggregate functions behind
//!   [`accumulators::GroupAccumulator`], one per file.
//! - [`group_keys`]: GROUP BY keys to dense group ids; [`key_encoding`], the compact bytes
//!   they are hashed as.
//! - [`dataflow`]: routes ingested batches through every view and on to views over views.
//! - [`source_runner`]: drives a positional reader (datagen) on a thread, paced, into the
//!   dataflow; [`stream_runner`] polls a log (Kafka) with its offsets, dead letters, FLUSH
//!   requests and broker outages.
//! - [`session`]: a client's session: SET/SHOW settings, transaction blocks.
//! - [`pg`]: Postgres compatibility: `pg_catalog`, `information_schema`, stable OIDs, the
//!   functions psql, Grafana and drivers call.
//! - [`show`]: SHOW SOURCES and SHOW MATERIALIZED VIEWS; [`show::ViewSize`], what each
//!   view holds.
//! - [`system_tables`]: the `palisade` schema (`dead_letters`, `source_partitions`).
//! - [`state`]: view state as bytes for checkpoints ([`state::Stateful`]).
//! - [`view_table`]: a view's rows per window, and snapshots of them.
//! - [`view_scan`]: a view as a DataFusion table, whole windows kept or skipped by filters
//!   on `window_start`; [`view_exec`], the scan's physical plan, window by window.
//! - [`window_partials`]: partial aggregates of a view's settled windows, cached between
//!   queries (a physical optimizer rule of the query session); [`block_cache`], where such
//!   results are kept, block by block.
//! - [`slot`]: the swappable one-batch table the per-window DataFusion plans read.
//! - [`schema_table`]: sources and window placeholders as schema-only DataFusion tables.
//! - [`durable`]: opening a data directory, saving the catalog, writing checkpoints.
//! - [`error`]: [`EngineError`], by who is at fault.

pub mod accumulators;
pub mod block_cache;
pub mod catalog_store;
pub mod catch_up;
pub mod checkpoint;
pub mod clock;
pub mod database;
pub mod dataflow;
pub mod durable;
pub mod error;
pub mod group_keys;
pub mod key_encoding;
pub mod operators;
pub mod pg;
pub mod planner;
pub mod prepared;
pub mod query;
pub mod schema_table;
pub mod session;
pub mod show;
pub mod slot;
pub mod source_runner;
pub mod state;
pub mod stream_runner;
pub mod system_tables;
pub mod view_exec;
pub mod view_scan;
pub mod view_table;
pub mod watermark;
pub mod window_partials;

pub use database::{Database, DatabaseOptions, Definitions, SourceDef, StatementResult, ViewDef};
pub use error::{EngineError, Result};
pub use prepared::Prepared;
