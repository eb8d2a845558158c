//! `pg_catalog` and `information_schema` as DataFusion schemas, built from the
//! [`PgSnapshot`] on every read so they always list the sources and views that exist now.
//!
//! The column sets are Postgres 15's wherever psql 15, Grafana or a driver reads a column;
//! tables for features Palisade does not have (constraints, policies, publications,
//! inheritance, ...) are there and empty, which is the true answer.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::SchemaProvider;
use datafusion::datasource::TableProvider;

use super::rows::{Col, NULL, Rows, boolean, float4, int2, int4, oid, text};
use super::snapshot::{
    DATABASE_OID, NAMESPACES, OWNER_OID, PgSnapshot, RelationKind, SharedSnapshot, namespace_oid,
    read,
};
use super::types::{BASE_TYPES, type_modifier};
use crate::error::Result;

/// `public`'s owner in Postgres 15, as `\dn` shows it.
pub const DATABASE_OWNER_ROLE: (u32, &str) = (6171, "pg_database_owner");

/// pg_catalog tables Palisade lists and keeps empty: every subquery over one has no rows.
pub const EMPTY_TABLES: &[&str] = &[
    "pg_attrdef",
    "pg_collation",
    "pg_constraint",
    "pg_description",
    "pg_extension",
    "pg_foreign_table",
    "pg_index",
    "pg_inherits",
    "pg_partitioned_table",
    "pg_policy",
    "pg_proc",
    "pg_publication",
    "pg_publication_namespace",
    "pg_publication_rel",
    "pg_rewrite",
    "pg_sequence",
    "pg_statistic_ext",
    "pg_trigger",
];

/// Tables with rows, built from the snapshot.
const LIVE_TABLES: &[&str] = &[
    "pg_am",
    "pg_attribute",
    "pg_class",
    "pg_database",
    "pg_matviews",
    "pg_namespace",
    "pg_roles",
    "pg_settings",
    "pg_tables",
    "pg_tablespace",
    "pg_type",
    "pg_user",
    "pg_views",
];

/// Array columns of the catalogs, always NULL here.
pub const NULL_ARRAY_COLUMNS: &[&str] = &["reloptions", "relacl", "datacl", "nspacl", "attoptions"];

/// Whether `name` is a pg_catalog table.
pub fn is_catalog_table(name: &str) -> bool {
    EMPTY_TABLES.contains(&name) || LIVE_TABLES.contains(&name)
}

/// The role names the catalogs know: the session's user owns everything.
pub fn roles(user: &str) -> Vec<(u32, String)> {
    vec![
        (OWNER_OID, user.to_string()),
        (DATABASE_OWNER_ROLE.0, DATABASE_OWNER_ROLE.1.to_string()),
    ]
}

/// Which of the two schemas a [`CatalogSchema`] serves.
#[derive(Debug, Clone, Copy)]
pub enum Which {
    PgCatalog,
    InformationSchema,
}

/// A schema whose tables are computed from the snapshot when a query names them.
#[derive(Debug)]
pub struct CatalogSchema {
    pub which: Which,
    pub snapshot: SharedSnapshot,
    /// `pg_settings`' rows: name, default value, description.
    pub settings: Vec<(String, String, String)>,
}

#[async_trait]
impl SchemaProvider for CatalogSchema {
    fn table_names(&self) -> Vec<String> {
        match self.which {
            Which::PgCatalog => EMPTY_TABLES
                .iter()
                .chain(LIVE_TABLES)
                .map(|s| s.to_string())
                .collect(),
            Which::InformationSchema => ["schemata", "tables", "columns", "views"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }

    async fn table(
        &self,
        name: &str,
    ) -> datafusion::common::Result<Option<Arc<dyn TableProvider>>> {
        let snapshot = read(&self.snapshot);
        let built = match self.which {
            Which::PgCatalog => pg_table(name, &snapshot, &self.settings),
            Which::InformationSchema => super::information_schema::table(name, &snapshot),
        };
        match built {
            Ok(Some(rows)) => Ok(Some(
                rows.into_table()
                    .map_err(|e| datafusion::error::DataFusionError::Internal(e.to_string()))?
                    as Arc<dyn TableProvider>,
            )),
            Ok(None) => Ok(None),
            Err(e) => Err(datafusion::error::DataFusionError::Internal(e.to_string())),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.table_names().iter().any(|n| n == name)
    }
}

fn pg_table(
    name: &str,
    snapshot: &PgSnapshot,
    settings: &[(String, String, String)],
) -> Result<Option<Rows>> {
    use Col::*;
    let owner = || oid(OWNER_OID);
    Ok(Some(match name {
        "pg_namespace" => {
            let mut rows = Rows::new(&[
                ("oid", Oid),
                ("nspname", Text),
                ("nspowner", Oid),
                ("nspacl", TextArray),
            ]);
            for (o, n) in NAMESPACES {
                let owner = if *n == "public" {
                    DATABASE_OWNER_ROLE.0
                } else {
                    OWNER_OID
                };
                rows.push(vec![oid(*o), text(n), oid(owner)]);
            }
            rows
        }
        "pg_class" => {
            let mut rows = Rows::new(&[
                ("oid", Oid),
                ("relname", Text),
                ("relnamespace", Oid),
                ("reltype", Oid),
                ("reloftype", Oid),
                ("relowner", Oid),
                ("relam", Oid),
                ("relfilenode", Oid),
                ("reltablespace", Oid),
                ("relpages", Int4),
                ("reltuples", Float4),
                ("relallvisible", Int4),
                ("reltoastrelid", Oid),
                ("relhasindex", Bool),
                ("relisshared", Bool),
                ("relpersistence", Text),
                ("relkind", Text),
                ("relnatts", Int2),
                ("relchecks", Int2),
                ("relhasrules", Bool),
                ("relhastriggers", Bool),
                ("relhassubclass", Bool),
                ("relrowsecurity", Bool),
                ("relforcerowsecurity", Bool),
                ("relispopulated", Bool),
                ("relreplident", Text),
                ("relispartition", Bool),
                ("relrewrite", Oid),
                ("relfrozenxid", Oid),
                ("relminmxid", Oid),
                ("relacl", TextArray),
                ("reloptions", TextArray),
                ("relpartbound", Text),
            ]);
            for r in &snapshot.relations {
                // Views have no storage, so no access method (Postgres: relam 0); sources
                // and materialized views are heap-like (2).
                let am = if r.kind == RelationKind::System { 0 } else { 2 };
                rows.push(vec![
                    oid(r.oid),
                    text(&r.name),
                    oid(namespace_oid(r.schema)),
                    oid(0),
                    oid(0),
                    owner(),
                    oid(am),
                    oid(0),
                    oid(0),
                    int4(0),
                    float4(-1.0),
                    int4(0),
                    oid(0),
                    boolean(false),
                    boolean(false),
                    text("p"),
                    text(r.kind.relkind()),
                    int2(r.columns.len().min(i16::MAX as usize) as i16),
                    int2(0),
                    // A view's query is its rule in Postgres (materialized ones too);
                    // psql asks for other rules only when this is set, and finds none.
                    boolean(r.kind != RelationKind::Source),
                    boolean(false),
                    boolean(false),
                    boolean(false),
                    boolean(false),
                    boolean(true),
                    // Postgres' defaults: tables and materialized views 'd', views 'n'.
                    text(if r.kind == RelationKind::System {
                        "n"
                    } else {
                        "d"
                    }),
                    boolean(false),
                    oid(0),
                    oid(0),
                    oid(0),
                ]);
            }
            rows
        }
        "pg_attribute" => {
            let mut rows = Rows::new(&[
                ("attrelid", Oid),
                ("attname", Text),
                ("atttypid", Oid),
                ("attstattarget", Int4),
                ("attlen", Int2),
                ("attnum", Int2),
                ("attndims", Int4),
                ("attcacheoff", Int4),
                ("atttypmod", Int4),
                ("attbyval", Bool),
                ("attalign", Text),
                ("attstorage", Text),
                ("attcompression", Text),
                ("attnotnull", Bool),
                ("atthasdef", Bool),
                ("atthasmissing", Bool),
                ("attidentity", Text),
                ("attgenerated", Text),
                ("attisdropped", Bool),
                ("attislocal", Bool),
                ("attinhcount", Int4),
                ("attcollation", Oid),
                ("attacl", TextArray),
                ("attoptions", TextArray),
                ("attfdwoptions", TextArray),
            ]);
            for r in &snapshot.relations {
                for (i, f) in r.columns.iter().enumerate() {
                    let t = r.column_type(i);
                    let variable = t.len < 0;
                    rows.push(vec![
                        oid(r.oid),
                        text(f.name()),
                        oid(t.oid),
                        int4(-1),
                        int2(t.len),
                        int2(i16::try_from(i + 1).unwrap_or(i16::MAX)),
                        int4(0),
                        int4(-1),
                        int4(type_modifier(f.data_type())),
                        boolean(!variable && t.len <= 8),
                        text(if variable { "i" } else { "d" }),
                        text(if variable { "x" } else { "p" }),
                        text(""),
                        boolean(false),
                        boolean(false),
                        boolean(false),
                        text(""),
                        text(""),
                        boolean(false),
                        boolean(true),
                        int4(0),
                        oid(if t.category == "S" { 100 } else { 0 }),
                    ]);
                }
            }
            rows
        }
        "pg_type" => {
            let mut rows = Rows::new(&[
                ("oid", Oid),
                ("typname", Text),
                ("typnamespace", Oid),
                ("typowner", Oid),
                ("typlen", Int2),
                ("typbyval", Bool),
                ("typtype", Text),
                ("typcategory", Text),
                ("typispreferred", Bool),
                ("typisdefined", Bool),
                ("typdelim", Text),
                ("typrelid", Oid),
                ("typsubscript", Oid),
                ("typelem", Oid),
                ("typarray", Oid),
                ("typinput", Text),
                ("typoutput", Text),
                ("typreceive", Text),
                ("typsend", Text),
                ("typnotnull", Bool),
                ("typbasetype", Oid),
                ("typtypmod", Int4),
                ("typndims", Int4),
                ("typcollation", Oid),
                ("typdefault", Text),
            ]);
            for t in BASE_TYPES {
                let collation = if t.category == "S" { 100 } else { 0 };
                let byval = t.len > 0 && t.len <= 8;
                rows.push(vec![
                    oid(t.oid),
                    text(t.name),
                    oid(11),
                    owner(),
                    int2(t.len),
                    boolean(byval),
                    text("b"),
                    text(t.category),
                    boolean(false),
                    boolean(true),
                    text(","),
                    oid(0),
                    oid(0),
                    oid(0),
                    oid(t.array_oid),
                    text(&format!("{}in", t.name)),
                    text(&format!("{}out", t.name)),
                    text(&format!("{}recv", t.name)),
                    text(&format!("{}send", t.name)),
                    boolean(false),
                    oid(0),
                    int4(-1),
                    int4(0),
                    oid(collation),
                ]);
                if t.array_oid != 0 {
                    rows.push(vec![
                        oid(t.array_oid),
                        text(&format!("_{}", t.name)),
                        oid(11),
                        owner(),
                        int2(-1),
                        boolean(false),
                        text("b"),
                        text("A"),
                        boolean(false),
                        boolean(true),
                        text(","),
                        oid(0),
                        oid(0),
                        oid(t.oid),
                        oid(0),
                        text("array_in"),
                        text("array_out"),
                        text("array_recv"),
                        text("array_send"),
                        boolean(false),
                        oid(0),
                        int4(-1),
                        int4(0),
                        oid(collation),
                    ]);
                }
            }
            rows
        }
        "pg_database" => {
            let mut rows = Rows::new(&[
                ("oid", Oid),
                ("datname", Text),
                ("datdba", Oid),
                ("encoding", Int4),
                ("datlocprovider", Text),
                ("datistemplate", Bool),
                ("datallowconn", Bool),
                ("datconnlimit", Int4),
                ("datfrozenxid", Oid),
                ("datminmxid", Oid),
                ("dattablespace", Oid),
                ("datcollate", Text),
                ("datctype", Text),
                ("daticulocale", Text),
                ("datcollversion", Text),
                ("datacl", TextArray),
            ]);
            rows.push(vec![
                oid(DATABASE_OID),
                text(&snapshot.database),
                owner(),
                int4(6),
                text("c"),
                boolean(false),
                boolean(true),
                int4(-1),
                oid(0),
                oid(0),
                oid(1663),
                text("C.UTF-8"),
                text("C.UTF-8"),
            ]);
            rows
        }
        "pg_roles" | "pg_user" => {
            let mut rows = Rows::new(&[
                ("oid", Oid),
                ("rolname", Text),
                ("rolsuper", Bool),
                ("rolinherit", Bool),
                ("rolcreaterole", Bool),
                ("rolcreatedb", Bool),
                ("rolcanlogin", Bool),
                ("rolreplication", Bool),
                ("rolconnlimit", Int4),
                ("rolpassword", Text),
                ("rolvaliduntil", Timestamp),
                ("rolbypassrls", Bool),
                ("rolconfig", TextArray),
                // pg_user's spellings of the same.
                ("usename", Text),
                ("usesysid", Oid),
                ("usesuper", Bool),
            ]);
            // The owner's name is per session ([`roles`]); the table shows the one role
            // Palisade runs as and the role Postgres 15 makes public's owner.
            for (o, name, login) in [
                (OWNER_OID, "root", true),
                (DATABASE_OWNER_ROLE.0, DATABASE_OWNER_ROLE.1, false),
            ] {
                rows.push(vec![
                    oid(o),
                    text(name),
                    boolean(login),
                    boolean(true),
                    boolean(login),
                    boolean(login),
                    boolean(login),
                    boolean(false),
                    int4(-1),
                    text("********"),
                    NULL,
                    boolean(login),
                    NULL,
                    text(name),
                    oid(o),
                    boolean(login),
                ]);
            }
            rows
        }
        "pg_am" => {
            let mut rows = Rows::new(&[
                ("oid", Oid),
                ("amname", Text),
                ("amhandler", Text),
                ("amtype", Text),
            ]);
            rows.push(vec![
                oid(2),
                text("heap"),
                text("heap_tableam_handler"),
                text("t"),
            ]);
            rows.push(vec![oid(403), text("btree"), text("bthandler"), text("i")]);
            rows
        }
        "pg_tablespace" => {
            let mut rows = Rows::new(&[
                ("oid", Oid),
                ("spcname", Text),
                ("spcowner", Oid),
                ("spcacl", TextArray),
                ("spcoptions", TextArray),
            ]);
            rows.push(vec![oid(1663), text("pg_default"), owner()]);
            rows.push(vec![oid(1664), text("pg_global"), owner()]);
            rows
        }
        "pg_settings" => {
            let mut rows = Rows::new(&[
                ("name", Text),
                ("setting", Text),
                ("unit", Text),
                ("category", Text),
                ("short_desc", Text),
                ("extra_desc", Text),
                ("context", Text),
                ("vartype", Text),
                ("source", Text),
                ("min_val", Text),
                ("max_val", Text),
                ("enumvals", TextArray),
                ("boot_val", Text),
                ("reset_val", Text),
                ("sourcefile", Text),
                ("sourceline", Int4),
                ("pending_restart", Bool),
            ]);
            for (name, value, description) in settings {
                rows.push(vec![
                    text(name),
                    text(value),
                    NULL,
                    text("Palisade"),
                    text(description),
                    NULL,
                    text("user"),
                    text("string"),
                    text("default"),
                    NULL,
                    NULL,
                    NULL,
                    text(value),
                    text(value),
                    NULL,
                    NULL,
                    boolean(false),
                ]);
            }
            rows
        }
        "pg_views" | "pg_matviews" | "pg_tables" => {
            let kind = match name {
                "pg_views" => RelationKind::System,
                "pg_matviews" => RelationKind::MaterializedView,
                _ => RelationKind::Source,
            };
            let mut rows = Rows::new(&[
                ("schemaname", Text),
                (
                    match kind {
                        RelationKind::System => "viewname",
                        RelationKind::MaterializedView => "matviewname",
                        RelationKind::Source => "tablename",
                    },
                    Text,
                ),
                (
                    match kind {
                        RelationKind::System => "viewowner",
                        RelationKind::MaterializedView => "matviewowner",
                        RelationKind::Source => "tableowner",
                    },
                    Text,
                ),
                ("tablespace", Text),
                ("hasindexes", Bool),
                ("ispopulated", Bool),
                ("definition", Text),
                ("hasrules", Bool),
                ("hastriggers", Bool),
                ("rowsecurity", Bool),
            ]);
            for r in snapshot.relations.iter().filter(|r| r.kind == kind) {
                rows.push(vec![
                    text(r.schema),
                    text(&r.name),
                    text("root"),
                    NULL,
                    boolean(false),
                    boolean(true),
                    r.definition.as_deref().map_or(NULL, text),
                    boolean(false),
                    boolean(false),
                    boolean(false),
                ]);
            }
            rows
        }
        _ if EMPTY_TABLES.contains(&name) => empty_table(name),
        _ => return Ok(None),
    }))
}

/// The columns clients read of the catalogs Palisade keeps empty.
fn empty_table(name: &str) -> Rows {
    use Col::*;
    let columns: &[(&str, Col)] = match name {
        "pg_attrdef" => &[
            ("oid", Oid),
            ("adrelid", Oid),
            ("adnum", Int2),
            ("adbin", Text),
        ],
        "pg_collation" => &[
            ("oid", Oid),
            ("collname", Text),
            ("collnamespace", Oid),
            ("collprovider", Text),
        ],
        "pg_constraint" => &[
            ("oid", Oid),
            ("conname", Text),
            ("connamespace", Oid),
            ("contype", Text),
            ("conrelid", Oid),
            ("confrelid", Oid),
            ("conindid", Oid),
            ("conkey", OidArray),
            ("confkey", OidArray),
            ("conparentid", Oid),
            ("convalidated", Bool),
        ],
        "pg_description" => &[
            ("objoid", Oid),
            ("classoid", Oid),
            ("objsubid", Int4),
            ("description", Text),
        ],
        "pg_extension" => &[
            ("oid", Oid),
            ("extname", Text),
            ("extowner", Oid),
            ("extnamespace", Oid),
            ("extrelocatable", Bool),
            ("extversion", Text),
        ],
        "pg_foreign_table" => &[
            ("ftrelid", Oid),
            ("ftserver", Oid),
            ("ftoptions", TextArray),
        ],
        "pg_index" => &[
            ("indexrelid", Oid),
            ("indrelid", Oid),
            ("indnatts", Int2),
            ("indisunique", Bool),
            ("indisprimary", Bool),
            ("indisclustered", Bool),
            ("indisvalid", Bool),
            ("indkey", OidArray),
        ],
        "pg_inherits" => &[
            ("inhrelid", Oid),
            ("inhparent", Oid),
            ("inhseqno", Int4),
            ("inhdetachpending", Bool),
        ],
        "pg_partitioned_table" => &[("partrelid", Oid), ("partstrat", Text)],
        "pg_policy" => &[
            ("oid", Oid),
            ("polname", Text),
            ("polrelid", Oid),
            ("polcmd", Text),
            ("polpermissive", Bool),
            ("polroles", OidArray),
            ("polqual", Text),
            ("polwithcheck", Text),
        ],
        "pg_proc" => &[
            ("oid", Oid),
            ("proname", Text),
            ("pronamespace", Oid),
            ("proowner", Oid),
            ("prokind", Text),
            ("prorettype", Oid),
        ],
        "pg_publication" => &[
            ("oid", Oid),
            ("pubname", Text),
            ("pubowner", Oid),
            ("puballtables", Bool),
            ("pubinsert", Bool),
            ("pubupdate", Bool),
            ("pubdelete", Bool),
            ("pubtruncate", Bool),
            ("pubviaroot", Bool),
        ],
        "pg_publication_namespace" => &[("oid", Oid), ("pnpubid", Oid), ("pnnspid", Oid)],
        "pg_publication_rel" => &[
            ("oid", Oid),
            ("prpubid", Oid),
            ("prrelid", Oid),
            ("prqual", Text),
            ("prattrs", OidArray),
        ],
        "pg_rewrite" => &[
            ("oid", Oid),
            ("rulename", Text),
            ("ev_class", Oid),
            ("ev_type", Text),
            ("is_instead", Bool),
        ],
        "pg_sequence" => &[("seqrelid", Oid), ("seqtypid", Oid)],
        "pg_statistic_ext" => &[
            ("oid", Oid),
            ("stxrelid", Oid),
            ("stxname", Text),
            ("stxnamespace", Oid),
            ("stxowner", Oid),
            ("stxstattarget", Int4),
            ("stxkeys", OidArray),
            ("stxkind", TextArray),
        ],
        "pg_trigger" => &[
            ("oid", Oid),
            ("tgrelid", Oid),
            ("tgname", Text),
            ("tgenabled", Text),
            ("tgisinternal", Bool),
        ],
        _ => &[("oid", Oid)],
    };
    Rows::new(columns)
}
