//! The rewrite on the statements psql and Grafana send, in small.

use super::*;
use crate::parse_statements;
use crate::statement::Statement;

/// A catalog with one view (OID 16385) and empty pg_attrdef/pg_inherits.
struct Fixture {
    search_path: String,
}

impl PgContext for Fixture {
    fn setting(&self, name: &str) -> Option<String> {
        match name {
            "server_version_num" => Some("150000".into()),
            "search_path" => Some(self.search_path.clone()),
            _ => None,
        }
    }
    fn set_config(&mut self, name: &str, value: &str, _local: bool) -> Result<String> {
        if name != "search_path" {
            return Err(unknown_setting(name));
        }
        self.search_path = value.to_string();
        Ok(value.to_string())
    }
    fn user(&self) -> String {
        "root".into()
    }
    fn database(&self) -> String {
        "dev".into()
    }
    fn version(&self) -> String {
        "PostgreSQL 15.0 (Palisade)".into()
    }
    fn relations(&self) -> Vec<(u32, String)> {
        vec![(16385, "v".into())]
    }
    fn namespaces(&self) -> Vec<(u32, String)> {
        vec![(11, "pg_catalog".into()), (2200, "public".into())]
    }
    fn types(&self) -> Vec<(u32, String)> {
        vec![(25, "text".into())]
    }
    fn roles(&self) -> Vec<(u32, String)> {
        vec![(10, "root".into())]
    }
    fn view_definitions(&self) -> Vec<(u32, String)> {
        vec![(16385, " SELECT 1;".into())]
    }
    fn is_empty_catalog_table(&self, name: &str) -> bool {
        matches!(name, "pg_attrdef" | "pg_inherits")
    }
    fn is_catalog_table(&self, name: &str) -> bool {
        matches!(name, "pg_class" | "pg_attrdef" | "pg_inherits")
    }
    fn is_null_array_column(&self, name: &str) -> bool {
        name == "reloptions"
    }
}

fn rewritten(sql: &str) -> Result<String> {
    let mut fixture = Fixture {
        search_path: "public".into(),
    };
    let Statement::Query(mut q) = parse_statements(sql).expect(sql).remove(0).statement else {
        panic!("not a query: {sql}");
    };
    rewrite_for_postgres_clients(&mut q, &mut fixture)?;
    Ok(q.to_string())
}

#[test]
fn psql_operators_collations_and_qualified_functions() {
    assert_eq!(
        rewritten(
            "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname OPERATOR(pg_catalog.~) '^(v)$' COLLATE pg_catalog.default AND pg_catalog.pg_table_is_visible(c.oid)"
        )
        .unwrap(),
        "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname ~ '^(v)$' AND pg_table_is_visible(c.oid)"
    );
    assert_eq!(
        rewritten("SELECT relname FROM pg_class").unwrap(),
        "SELECT relname FROM pg_catalog.pg_class"
    );
}

#[test]
fn session_functions_become_the_session_values() {
    assert_eq!(
        rewritten("SELECT current_setting('server_version_num')::int/100 as version").unwrap(),
        "SELECT '150000'::INT / 100 AS version"
    );
    assert_eq!(
        rewritten("SELECT current_user, current_database(), version()").unwrap(),
        "SELECT 'root', 'dev', 'PostgreSQL 15.0 (Palisade)'"
    );
    let e = rewritten("SELECT current_setting('no_such_thing')").unwrap_err();
    assert_eq!(
        e.to_string(),
        "unrecognized configuration parameter \"no_such_thing\""
    );
    assert_eq!(
        rewritten("SELECT current_setting('no_such_thing', true)").unwrap(),
        "SELECT NULL"
    );
    assert_eq!(
        rewritten("SELECT set_config('search_path', 'x', false)").unwrap(),
        "SELECT 'x'"
    );
}

#[test]
fn columns_are_named_as_postgres_names_them() {
    let names = |sql: &str| {
        let Statement::Query(q) = parse_statements(sql).expect(sql).remove(0).statement else {
            panic!("not a query");
        };
        postgres_column_names(&q).expect("names")
    };
    assert_eq!(
        names(
            "SELECT count(*), a.relname, 1, x::regclass, CASE WHEN b THEN 1 ELSE c.reloftype::text END, (SELECT pg_get_expr(d) FROM t), trim(trailing ';' from r) AS trimmed"
        ),
        [
            "count",
            "relname",
            "?column?",
            "x",
            "reloftype",
            "pg_get_expr",
            "trimmed"
        ]
    );
    assert_eq!(
        names("SELECT pubname, NULL FROM p UNION SELECT x, y FROM q"),
        ["pubname", "?column?"]
    );
}

#[test]
fn reg_casts_name_catalog_rows() {
    assert_eq!(
        rewritten("SELECT 'public.v'::regclass").unwrap(),
        "SELECT 16385"
    );
    assert_eq!(
        rewritten("SELECT '16385'::pg_catalog.oid").unwrap(),
        "SELECT '16385'::INT UNSIGNED"
    );
    assert_eq!(
        rewritten("SELECT c.oid::pg_catalog.regclass FROM pg_class c").unwrap(),
        "SELECT CASE CAST(c.oid AS BIGINT) WHEN 16385 THEN 'v' ELSE CAST(c.oid AS TEXT) END FROM pg_catalog.pg_class c"
    );
    let e = rewritten("SELECT 'nope'::regclass").unwrap_err();
    assert_eq!(e.to_string(), "relation \"nope\" does not exist");
}

#[test]
fn subqueries_over_empty_catalogs_have_known_answers() {
    assert_eq!(
        rewritten(
            "SELECT (SELECT d.adbin FROM pg_catalog.pg_attrdef d WHERE d.adrelid = a.attrelid), \
             EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = a.attrelid), \
             array(select 'toast.' || x from pg_catalog.unnest(a.reloptions) x) FROM pg_class a"
        )
        .unwrap(),
        "SELECT NULL, false, make_array() FROM pg_catalog.pg_class a"
    );
    // An aggregate answers even over no rows: left alone.
    assert!(
        rewritten("SELECT (SELECT count(*) FROM pg_attrdef) FROM pg_class")
            .unwrap()
            .contains("count(*)")
    );
}
