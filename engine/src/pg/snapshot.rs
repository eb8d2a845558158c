//! What the catalogs describe, captured once per DDL: every relation with its OID, kind,
//! columns and definition. `pg_catalog`, `information_schema` and the reg-casts all read
//! the same snapshot, so one query never sees two versions of the catalog.

use std::sync::{Arc, RwLock};

use datafusion::arrow::datatypes::{FieldRef, SchemaRef};

/// Postgres gives user objects OIDs from here up; Palisade's are this plus the object's id,
/// which is never reused and survives restarts, so an OID a client cached stays right.
pub const FIRST_USER_OID: u32 = 16384;
/// The role that owns everything (Postgres' bootstrap superuser has OID 10 too).
pub const OWNER_OID: u32 = 10;
/// `pg_database.oid` of the one database.
pub const DATABASE_OID: u32 = 16383;
/// The `palisade` schema's system tables get OIDs from here (below user OIDs, like
/// Postgres' own catalogs).
const FIRST_SYSTEM_OID: u32 = 15000;

/// Schemas as `pg_namespace` lists them: OID, name.
pub const NAMESPACES: &[(u32, &str)] = &[
    (11, "pg_catalog"),
    (99, "pg_toast"),
    (2200, "public"),
    (13000, "information_schema"),
    (14000, "palisade"),
];

/// The OID of schema `name`.
pub fn namespace_oid(name: &str) -> u32 {
    NAMESPACES
        .iter()
        .find(|(_, n)| *n == name)
        .map_or(0, |(oid, _)| *oid)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    /// A source: listed as a table (`relkind` 'r'), since it has columns but is not
    /// computed from anything Palisade holds.
    Source,
    /// A materialized view (`relkind` 'm').
    MaterializedView,
    /// A table of the `palisade` schema (dead letters, late events): computed on read, so
    /// listed as a view.
    System,
}

impl RelationKind {
    /// `pg_class.relkind`.
    pub fn relkind(self) -> &'static str {
        match self {
            RelationKind::Source => "r",
            RelationKind::MaterializedView => "m",
            RelationKind::System => "v",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PgRelation {
    pub oid: u32,
    pub name: String,
    pub schema: &'static str,
    pub kind: RelationKind,
    pub columns: Vec<FieldRef>,
    /// Per column, the type OID its declaration names where that says more than its Arrow
    /// type (a source's VARCHAR column is Utf8 like TEXT, but `\d` shows what was declared).
    pub declared: Vec<Option<u32>>,
    /// A view's query as `pg_get_viewdef` returns it; None for sources and system tables.
    pub definition: Option<String>,
}

/// The catalog as the Postgres-facing tables and functions see it.
#[derive(Debug, Clone, Default)]
pub struct PgSnapshot {
    /// The database clients open (`current_database()`, `table_catalog`).
    pub database: String,
    pub relations: Vec<PgRelation>,
}

impl PgRelation {
    /// Column `i`'s Postgres type.
    pub fn column_type(&self, i: usize) -> super::types::PgType {
        let arrow = super::types::pg_type(self.columns[i].data_type());
        match self.declared.get(i).copied().flatten() {
            Some(oid) => super::types::BASE_TYPES
                .iter()
                .copied()
                .find(|t| t.oid == oid)
                .unwrap_or(arrow),
            None => arrow,
        }
    }
}

impl PgSnapshot {
    pub fn relation(&self, oid: u32) -> Option<&PgRelation> {
        self.relations.iter().find(|r| r.oid == oid)
    }

    /// Relations in schemas on the search path, which `pg_table_is_visible` is true for.
    pub fn visible(&self, relation: &PgRelation) -> bool {
        relation.schema == "public"
    }
}

/// The snapshot every reader shares, swapped whole on each DDL.
pub type SharedSnapshot = Arc<RwLock<Arc<PgSnapshot>>>;

pub fn read(shared: &SharedSnapshot) -> Arc<PgSnapshot> {
    Arc::clone(&shared.read().unwrap_or_else(|p| p.into_inner()))
}

/// A user object as the snapshot lists it.
pub fn user_relation(
    id: u64,
    name: &str,
    kind: RelationKind,
    schema: &SchemaRef,
    definition: Option<String>,
) -> PgRelation {
    PgRelation {
        oid: FIRST_USER_OID.saturating_add(u32::try_from(id).unwrap_or(u32::MAX - FIRST_USER_OID)),
        name: name.to_string(),
        schema: "public",
        kind,
        columns: schema.fields().iter().cloned().collect(),
        declared: vec![],
        definition,
    }
}

/// A `palisade` schema table, the `index`th in name order.
pub fn system_relation(index: usize, name: &str, schema: &SchemaRef) -> PgRelation {
    PgRelation {
        oid: FIRST_SYSTEM_OID + index as u32,
        name: name.to_string(),
        schema: "palisade",
        kind: RelationKind::System,
        columns: schema.fields().iter().cloned().collect(),
        declared: vec![],
        definition: None,
    }
}
