//! Arrow types as Postgres types: the one mapping both the wire (RowDescription) and the
//! catalogs (`pg_attribute.atttypid`, `information_schema.columns`) use, so what psql's
//! `\d` shows is what a query's columns are announced as.

use datafusion::arrow::datatypes::{DataType, IntervalUnit};

/// A Postgres type as the catalogs describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgType {
    pub oid: u32,
    /// `pg_type.typname`.
    pub name: &'static str,
    /// What `format_type` and `information_schema.columns.data_type` say.
    pub sql_name: &'static str,
    /// `pg_type.typlen`: bytes, or -1 for variable length.
    pub len: i16,
    /// `pg_type.typcategory`.
    pub category: &'static str,
    /// The OID of the array type over it, 0 for none.
    pub array_oid: u32,
}

const fn t(
    oid: u32,
    name: &'static str,
    sql_name: &'static str,
    len: i16,
    category: &'static str,
    array_oid: u32,
) -> PgType {
    PgType {
        oid,
        name,
        sql_name,
        len,
        category,
        array_oid,
    }
}

pub const BOOL: PgType = t(16, "bool", "boolean", 1, "B", 1000);
pub const BYTEA: PgType = t(17, "bytea", "bytea", -1, "U", 1001);
pub const CHAR: PgType = t(18, "char", "\"char\"", 1, "Z", 1002);
pub const NAME: PgType = t(19, "name", "name", 64, "S", 1003);
pub const INT8: PgType = t(20, "int8", "bigint", 8, "N", 1016);
pub const INT2: PgType = t(21, "int2", "smallint", 2, "N", 1005);
pub const INT4: PgType = t(23, "int4", "integer", 4, "N", 1007);
pub const TEXT: PgType = t(25, "text", "text", -1, "S", 1009);
pub const OID: PgType = t(26, "oid", "oid", 4, "N", 1028);
pub const JSON: PgType = t(114, "json", "json", -1, "U", 199);
pub const FLOAT4: PgType = t(700, "float4", "real", 4, "N", 1021);
pub const FLOAT8: PgType = t(701, "float8", "double precision", 8, "N", 1022);
pub const UNKNOWN: PgType = t(705, "unknown", "unknown", -2, "X", 0);
pub const BPCHAR: PgType = t(1042, "bpchar", "character", -1, "S", 1014);
pub const VARCHAR: PgType = t(1043, "varchar", "character varying", -1, "S", 1015);
pub const DATE: PgType = t(1082, "date", "date", 4, "D", 1182);
pub const TIME: PgType = t(1083, "time", "time without time zone", 8, "D", 1183);
pub const TIMESTAMP: PgType = t(
    1114,
    "timestamp",
    "timestamp without time zone",
    8,
    "D",
    1115,
);
pub const TIMESTAMPTZ: PgType = t(
    1184,
    "timestamptz",
    "timestamp with time zone",
    8,
    "D",
    1185,
);
pub const INTERVAL: PgType = t(1186, "interval", "interval", 16, "T", 1187);
pub const NUMERIC: PgType = t(1700, "numeric", "numeric", -1, "N", 1231);
pub const REGCLASS: PgType = t(2205, "regclass", "regclass", 4, "N", 2210);
pub const UUID: PgType = t(2950, "uuid", "uuid", 16, "U", 2951);
pub const JSONB: PgType = t(3802, "jsonb", "jsonb", -1, "U", 3807);

/// Every base type `pg_type` lists (their array types are derived from these).
pub const BASE_TYPES: &[PgType] = &[
    BOOL,
    BYTEA,
    CHAR,
    NAME,
    INT8,
    INT2,
    INT4,
    TEXT,
    OID,
    JSON,
    FLOAT4,
    FLOAT8,
    UNKNOWN,
    BPCHAR,
    VARCHAR,
    DATE,
    TIME,
    TIMESTAMP,
    TIMESTAMPTZ,
    INTERVAL,
    NUMERIC,
    REGCLASS,
    UUID,
    JSONB,
];

/// The Postgres type a column of `data_type` is announced as. Types Postgres has no
/// counterpart for (lists, structs) go out as their text rendering, typed TEXT.
pub fn pg_type(data_type: &DataType) -> PgType {
    match data_type {
        DataType::Boolean => BOOL,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => INT2,
        DataType::Int32 | DataType::UInt16 => INT4,
        DataType::Int64 => INT8,
        // The catalogs' OID columns are the only UInt32 columns Palisade makes.
        DataType::UInt32 => OID,
        DataType::UInt64 | DataType::Decimal128(_, _) => NUMERIC,
        DataType::Float16 | DataType::Float32 => FLOAT4,
        DataType::Float64 => FLOAT8,
        DataType::Timestamp(_, None) => TIMESTAMP,
        DataType::Timestamp(_, Some(_)) => TIMESTAMPTZ,
        DataType::Date32 | DataType::Date64 => DATE,
        DataType::Time64(_) | DataType::Time32(_) => TIME,
        DataType::Interval(IntervalUnit::MonthDayNano) => INTERVAL,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => BYTEA,
        DataType::Dictionary(_, value) => pg_type(value),
        _ => TEXT,
    }
}

/// `atttypmod`: a NUMERIC's precision and scale packed as Postgres packs them, else -1.
pub fn type_modifier(data_type: &DataType) -> i32 {
    match data_type {
        DataType::Decimal128(p, s) => ((i32::from(*p) << 16) | (i32::from(*s) & 0xffff)) + 4,
        _ => -1,
    }
}

/// What `format_type(oid, typmod)` prints: `numeric(10,2)`, `timestamp without time zone`.
pub fn format_type(oid: u32, typmod: i32) -> Option<String> {
    if let Some(base) = BASE_TYPES.iter().find(|t| t.oid == oid) {
        if base.oid == NUMERIC.oid && typmod >= 4 {
            let packed = typmod - 4;
            return Some(format!("numeric({},{})", packed >> 16, packed & 0xffff));
        }
        return Some(base.sql_name.to_string());
    }
    BASE_TYPES
        .iter()
        .find(|t| t.array_oid == oid && oid != 0)
        .map(|t| format!("{}[]", t.sql_name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::TimeUnit;

    #[test]
    fn wire_and_catalog_agree_on_names() {
        let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
        assert_eq!(pg_type(&ts).oid, 1114);
        assert_eq!(
            format_type(pg_type(&ts).oid, -1).as_deref(),
            Some("timestamp without time zone")
        );
        let money = DataType::Decimal128(10, 2);
        assert_eq!(
            format_type(pg_type(&money).oid, type_modifier(&money)).as_deref(),
            Some("numeric(10,2)")
        );
        assert_eq!(format_type(1009, -1).as_deref(), Some("text[]"));
        assert_eq!(format_type(424242, -1), None);
    }
}
