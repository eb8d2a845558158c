//! The catalog as the Postgres-facing tables see it, published after every DDL.

use std::sync::Arc;

use palisade_sql::Statement;

use crate::database::{Catalog, Database};

impl Database {
    /// Replaces what the Postgres catalogs show with `catalog`'s objects.
    pub(crate) fn publish_catalog(&self, catalog: &Catalog) {
        use crate::pg::snapshot::{RelationKind, system_relation, user_relation};
        let mut relations = vec![];
        {
            let flow = self.dataflow();
            for name in &catalog.order {
                if let (Some(def), Some(s)) = (catalog.sources.get(name), flow.sources.get(name)) {
                    let mut relation =
                        user_relation(def.id, name, RelationKind::Source, &s.schema, None);
                    relation.declared = declared_types(&def.sql);
                    relations.push(relation);
                } else if let (Some(def), Some(v)) = (catalog.views.get(name), flow.views.get(name))
                {
                    // Postgres' pg_get_viewdef: indented over lines, a leading space, a `;`.
                    let definition = format!(" {:#};", def.query);
                    relations.push(user_relation(
                        def.id,
                        name,
                        RelationKind::MaterializedView,
                        &v.table.schema(),
                        Some(definition),
                    ));
                }
            }
        }
        for (i, (name, schema)) in crate::system_tables::relations().into_iter().enumerate() {
            relations.push(system_relation(i, name, &schema));
        }
        let database = if self.inner.options.database.is_empty() {
            "dev".to_string()
        } else {
            self.inner.options.database.clone()
        };
        let snapshot = Arc::new(crate::pg::snapshot::PgSnapshot {
            database,
            relations,
        });
        *self.inner.pg.write().unwrap_or_else(|p| p.into_inner()) = snapshot;
    }
}

/// The type OIDs a source's columns were declared with, where the Arrow type forgets them:
/// VARCHAR (Utf8, like TEXT).
fn declared_types(create_source_sql: &str) -> Vec<Option<u32>> {
    let Ok(mut statements) = palisade_sql::parse_statements(create_source_sql) else {
        return vec![];
    };
    let Some(Statement::CreateSource(source)) = statements.pop().map(|s| s.statement) else {
        return vec![];
    };
    source
        .columns
        .iter()
        .map(|c| {
            let t = c.sql_type.to_ascii_uppercase();
            (t.starts_with("VARCHAR") || t.starts_with("CHARACTER VARYING"))
                .then_some(crate::pg::types::VARCHAR.oid)
        })
        .collect()
}
