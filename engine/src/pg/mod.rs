//! Postgres compatibility: what psql, Grafana and drivers read besides the views.
//!
//! # Layout
//! - [`snapshot`]: the catalog as one consistent value, swapped on every DDL; stable OIDs.
//! - [`types`]: Arrow types as Postgres types, for the wire and the catalogs alike.
//! - [`catalog`]: `pg_catalog`'s tables built from the snapshot, and the schema provider
//!   serving both catalogs.
//! - [`information_schema`]: `information_schema`'s tables.
//! - [`rows`]: building those small tables row by row.
//! - [`publish`]: the snapshot made from the catalog after each DDL.
//! - [`functions`]: `format_type`, `quote_ident`, `pg_table_is_visible`, ... as UDFs.
//!
//! The session-dependent part (`current_setting`, `::regclass`, `pg_get_viewdef`, ...) is
//! done by `palisade_sql::pg_compat` before planning, with [`QueryContext`] answering it.

pub mod catalog;
pub mod functions;
pub mod information_schema;
pub mod publish;
pub mod rows;
pub mod snapshot;
pub mod types;

use std::sync::Arc;

use datafusion::prelude::SessionContext;
use palisade_sql::Result as SqlResult;
use palisade_sql::pg_compat::PgContext;

use crate::error::{EngineError, Result};
use crate::session::Session;
use snapshot::{NAMESPACES, PgSnapshot, SharedSnapshot};

/// Registers `pg_catalog`, `information_schema` and the functions in `ctx`.
pub fn register(ctx: &SessionContext, snapshot: &SharedSnapshot) -> Result<()> {
    let catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| EngineError::Internal("no default catalog".into()))?;
    for (name, which) in [
        ("pg_catalog", catalog::Which::PgCatalog),
        ("information_schema", catalog::Which::InformationSchema),
    ] {
        catalog.register_schema(
            name,
            Arc::new(catalog::CatalogSchema {
                which,
                snapshot: Arc::clone(snapshot),
                settings: Session::defaults(),
            }),
        )?;
    }
    functions::register(ctx, snapshot);
    Ok(())
}

/// The session and the catalog, as `pg_compat`'s rewrite asks about them.
pub struct QueryContext<'a> {
    pub session: &'a mut Session,
    pub snapshot: &'a PgSnapshot,
}

impl PgContext for QueryContext<'_> {
    fn setting(&self, name: &str) -> Option<String> {
        self.session.setting(name)
    }

    fn set_config(&mut self, name: &str, value: &str, local: bool) -> SqlResult<String> {
        self.session
            .set(name, Some(value), local)
            .map_err(|e| match e {
                EngineError::Sql(e) => e,
                other => palisade_sql::SqlError::Internal(other.to_string()),
            })
    }

    fn user(&self) -> String {
        self.session.user.clone()
    }

    fn database(&self) -> String {
        self.session.database.clone()
    }

    fn version(&self) -> String {
        format!(
            "PostgreSQL {} on {}, compiled by rustc (Palisade is a streaming SQL engine that speaks the Postgres protocol)",
            crate::session::SERVER_VERSION,
            std::env::consts::ARCH
        )
    }

    fn relations(&self) -> Vec<(u32, String)> {
        self.snapshot
            .relations
            .iter()
            .map(|r| (r.oid, r.name.clone()))
            .collect()
    }

    fn namespaces(&self) -> Vec<(u32, String)> {
        NAMESPACES
            .iter()
            .map(|(o, n)| (*o, n.to_string()))
            .collect()
    }

    fn types(&self) -> Vec<(u32, String)> {
        types::BASE_TYPES
            .iter()
            .map(|t| (t.oid, t.sql_name.to_string()))
            .collect()
    }

    fn roles(&self) -> Vec<(u32, String)> {
        catalog::roles(&self.session.user)
    }

    fn view_definitions(&self) -> Vec<(u32, String)> {
        self.snapshot
            .relations
            .iter()
            .filter_map(|r| Some((r.oid, r.definition.clone()?)))
            .collect()
    }

    fn is_empty_catalog_table(&self, name: &str) -> bool {
        catalog::EMPTY_TABLES.contains(&name)
    }

    fn is_catalog_table(&self, name: &str) -> bool {
        catalog::is_catalog_table(name)
    }

    fn is_null_array_column(&self, name: &str) -> bool {
        catalog::NULL_ARRAY_COLUMNS.contains(&name)
    }
}
