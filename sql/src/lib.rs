//! Palisade's SQL front end: text in, statements and DataFusion logical plans out.
//!
//! # Layout
//! - [`parser`]: text to [`Located`] statements in RisingWave's dialect (CREATE SOURCE,
//!   CREATE MATERIALIZED VIEW, DROP, SHOW, FLUSH, SELECT), with line:column on every error.
//! - [`session_parser`]: SET, RESET, SHOW name, BEGIN/COMMIT/ROLLBACK: the session
//!   statements drivers and psql send.
//! - [`statement`]: the statement types the engine executes.
//! - [`types`]: CREATE SOURCE column types to Arrow types.
//! - [`window`]: TUMBLE/HOP in FROM, rewritten into placeholders (streaming) or plain
//!   `date_bin` SQL (the batch oracle).
//! - [`ties`]: makes ROW_NUMBER deterministic by breaking ties with the GROUP BY keys.
//! - [`functions`]: PERCENTILE_CONT/PERCENTILE_DISC with PostgreSQL semantics.
//! - [`pg_compat`]: what psql, Grafana and drivers write that DataFusion does not plan
//!   (`OPERATOR(pg_catalog.~)`, `::regclass`, `current_setting`, subqueries over empty
//!   catalogs), rewritten before planning.
//! - [`planner`]: the DataFusion session Palisade plans in, and query to logical plan.
//! - [`error`]: [`SqlError`], by who is at fault, with positions.

pub mod error;
pub mod functions;
pub mod parser;
pub mod pg_compat;
pub mod planner;
pub mod session_parser;
pub mod statement;
pub mod ties;
pub mod types;
pub mod window;

pub use error::{PlanErrorKind, Position, Result, SqlError};
pub use parser::parse_statements;
pub use statement::{Located, Statement};
