//! Palisade over the Postgres wire protocol: psql, Grafana and Postgres drivers talk to a
//! [`palisade_engine::Database`] through the pgwire crate's handler hooks.
//!
//! # Layout
//! - [`server`]: the accept loop and [`ServerOptions`].
//! - [`startup`]: TLS-only and password checks, database check, ParameterStatus,
//!   CancelRequest registration.
//! - [`auth`]: users and passwords (password file, environment) as SCRAM-SHA-256 secrets.
//! - [`tls`]: the TLS acceptor from a PEM certificate and key.
//! - [`handlers`]: simple and extended query protocol over the engine.
//! - [`encode`]: Arrow types and values as Postgres types, text and binary.
//! - [`params`]: bound parameters to DataFusion values.
//! - [`errors`]: engine errors as ErrorResponses; the one SQLSTATE mapping; [`ServerError`],
//!   why the server cannot start as configured.
//! - [`demo`]: the source and views `palisade demo` starts with.

pub mod auth;
pub mod demo;
pub mod encode;
pub mod errors;
pub mod handlers;
pub mod params;
pub mod server;
pub mod startup;
pub mod tls;

pub use errors::ServerError;
pub use server::{ServerOptions, serve};
