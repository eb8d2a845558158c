//! `information_schema`'s tables Grafana and drivers read: schemata, tables, columns, views.
//! Sources and views alike are VIEWs here: Postgres leaves materialized views out of
//! information_schema, and Grafana's table picker reads only this.

use super::catalog::DATABASE_OWNER_ROLE;
use super::rows::{Col, NULL, Rows, int4, text};
use super::snapshot::{NAMESPACES, PgSnapshot};
use crate::error::Result;

pub(super) fn table(name: &str, snapshot: &PgSnapshot) -> Result<Option<Rows>> {
    use Col::*;
    let catalog = snapshot.database.as_str();
    Ok(Some(match name {
        "schemata" => {
            let mut rows = Rows::new(&[
                ("catalog_name", Text),
                ("schema_name", Text),
                ("schema_owner", Text),
                ("default_character_set_catalog", Text),
                ("default_character_set_schema", Text),
                ("default_character_set_name", Text),
                ("sql_path", Text),
            ]);
            for (_, n) in NAMESPACES {
                let owner = if *n == "public" {
                    DATABASE_OWNER_ROLE.1
                } else {
                    "root"
                };
                rows.push(vec![text(catalog), text(n), text(owner)]);
            }
            rows
        }
        // Sources and views alike are VIEWs here: Postgres leaves materialized views out
        // of information_schema, and Grafana's table picker reads only this.
        "tables" => {
            let mut rows = Rows::new(&[
                ("table_catalog", Text),
                ("table_schema", Text),
                ("table_name", Text),
                ("table_type", Text),
                ("self_referencing_column_name", Text),
                ("reference_generation", Text),
                ("user_defined_type_catalog", Text),
                ("user_defined_type_schema", Text),
                ("user_defined_type_name", Text),
                ("is_insertable_into", Text),
                ("is_typed", Text),
                ("commit_action", Text),
            ]);
            for r in &snapshot.relations {
                rows.push(vec![
                    text(catalog),
                    text(r.schema),
                    text(&r.name),
                    text("VIEW"),
                    NULL,
                    NULL,
                    NULL,
                    NULL,
                    NULL,
                    text("NO"),
                    text("NO"),
                    NULL,
                ]);
            }
            rows
        }
        "views" => {
            let mut rows = Rows::new(&[
                ("table_catalog", Text),
                ("table_schema", Text),
                ("table_name", Text),
                ("view_definition", Text),
                ("check_option", Text),
                ("is_updatable", Text),
                ("is_insertable_into", Text),
                ("is_trigger_updatable", Text),
                ("is_trigger_deletable", Text),
                ("is_trigger_insertable_into", Text),
            ]);
            for r in &snapshot.relations {
                rows.push(vec![
                    text(catalog),
                    text(r.schema),
                    text(&r.name),
                    r.definition.as_deref().map_or(NULL, text),
                    text("NONE"),
                    text("NO"),
                    text("NO"),
                    text("NO"),
                    text("NO"),
                    text("NO"),
                ]);
            }
            rows
        }
        "columns" => {
            let mut rows = Rows::new(&[
                ("table_catalog", Text),
                ("table_schema", Text),
                ("table_name", Text),
                ("column_name", Text),
                ("ordinal_position", Int4),
                ("column_default", Text),
                ("is_nullable", Text),
                ("data_type", Text),
                ("character_maximum_length", Int4),
                ("character_octet_length", Int4),
                ("numeric_precision", Int4),
                ("numeric_precision_radix", Int4),
                ("numeric_scale", Int4),
                ("datetime_precision", Int4),
                ("udt_catalog", Text),
                ("udt_schema", Text),
                ("udt_name", Text),
                ("is_updatable", Text),
            ]);
            for r in &snapshot.relations {
                for (i, f) in r.columns.iter().enumerate() {
                    let t = r.column_type(i);
                    let (precision, radix, scale) = numeric_facts(f.data_type());
                    let datetime = matches!(t.category, "D").then_some(6);
                    rows.push(vec![
                        text(catalog),
                        text(r.schema),
                        text(&r.name),
                        text(f.name()),
                        int4(i32::try_from(i + 1).unwrap_or(i32::MAX)),
                        NULL,
                        text("YES"),
                        text(t.sql_name),
                        NULL,
                        if t.category == "S" {
                            int4(1_073_741_824)
                        } else {
                            NULL
                        },
                        precision.map_or(NULL, int4),
                        radix.map_or(NULL, int4),
                        scale.map_or(NULL, int4),
                        datetime.map_or(NULL, int4),
                        text(catalog),
                        text("pg_catalog"),
                        text(t.name),
                        text("NO"),
                    ]);
                }
            }
            rows
        }
        _ => return Ok(None),
    }))
}

/// `numeric_precision`, `numeric_precision_radix`, `numeric_scale` as Postgres gives them.
fn numeric_facts(
    data_type: &datafusion::arrow::datatypes::DataType,
) -> (Option<i32>, Option<i32>, Option<i32>) {
    use datafusion::arrow::datatypes::DataType as D;
    match data_type {
        D::Int8 | D::Int16 | D::UInt8 => (Some(16), Some(2), Some(0)),
        D::Int32 | D::UInt16 => (Some(32), Some(2), Some(0)),
        D::Int64 => (Some(64), Some(2), Some(0)),
        D::Float16 | D::Float32 => (Some(24), Some(2), None),
        D::Float64 => (Some(53), Some(2), None),
        D::Decimal128(p, s) => (Some(i32::from(*p)), Some(10), Some(i32::from(*s))),
        _ => (None, None, None),
    }
}
