//! Postgres result values, as tokio-postgres decodes them, turned into the harness's
//! [`Cell`]s: the same text [`crate::format::rendered`] gives for the Arrow values the server
//! encoded, so one `.slt` file passes in-process and over the wire.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, Type};

use crate::format::{Cell, TIMESTAMP_FORMAT, TIMESTAMP_TZ_FORMAT};

/// Whether [`binary_cell`] can decode a column of type `ty` (binary format). Other types
/// (NUMERIC, for one, which needs a decimal crate) are read as text instead.
pub fn decodes_binary(ty: &Type) -> bool {
    [
        Type::BOOL,
        Type::INT2,
        Type::INT4,
        Type::INT8,
        Type::FLOAT4,
        Type::FLOAT8,
        Type::TEXT,
        Type::VARCHAR,
        Type::BPCHAR,
        Type::NAME,
        Type::TIMESTAMP,
        Type::TIMESTAMPTZ,
        Type::DATE,
    ]
    .contains(ty)
}

/// Column `i` of a binary-format row (from the extended protocol).
pub fn binary_cell(row: &Row, i: usize) -> Result<Cell, tokio_postgres::Error> {
    fn text<'a, T: FromSql<'a> + ToString>(
        row: &'a Row,
        i: usize,
    ) -> Result<Cell, tokio_postgres::Error> {
        Ok(row
            .try_get::<_, Option<T>>(i)?
            .map_or(Cell::Null, |v| Cell::Text(v.to_string())))
    }
    let ty = row.columns()[i].type_();
    match *ty {
        Type::BOOL => text::<bool>(row, i),
        Type::INT2 => text::<i16>(row, i),
        Type::INT4 => text::<i32>(row, i),
        Type::INT8 => text::<i64>(row, i),
        Type::FLOAT4 => Ok(row
            .try_get::<_, Option<f32>>(i)?
            .map_or(Cell::Null, |v| Cell::Float(f64::from(v)))),
        Type::FLOAT8 => Ok(row
            .try_get::<_, Option<f64>>(i)?
            .map_or(Cell::Null, Cell::Float)),
        Type::TIMESTAMP => Ok(row
            .try_get::<_, Option<NaiveDateTime>>(i)?
            .map_or(Cell::Null, |v| {
                Cell::Text(v.format(TIMESTAMP_FORMAT).to_string())
            })),
        Type::TIMESTAMPTZ => Ok(row
            .try_get::<_, Option<DateTime<Utc>>>(i)?
            .map_or(Cell::Null, |v| {
                Cell::Text(v.format(TIMESTAMP_TZ_FORMAT).to_string())
            })),
        // Arrow's Date32 display.
        Type::DATE => Ok(row
            .try_get::<_, Option<NaiveDate>>(i)?
            .map_or(Cell::Null, |v| Cell::Text(v.format("%Y-%m-%d").to_string()))),
        // Text types; and any other type fails to decode as String with the type named,
        // which is what a caller that skipped `decodes_binary` should see.
        _ => text::<String>(row, i),
    }
}

/// Binary-format rows rendered as sqllogictest compares them.
pub fn rendered_binary(rows: &[Row]) -> Result<Vec<Vec<String>>, tokio_postgres::Error> {
    rows.iter()
        .map(|row| {
            (0..row.len())
                .map(|i| binary_cell(row, i).map(|c| c.render()))
                .collect()
        })
        .collect()
}

/// A text-format value (simple protocol) of a column of type `ty`. Floats are parsed so
/// they render with the harness's precision rather than PostgreSQL's shortest form.
pub fn text_cell(ty: &Type, value: Option<&str>) -> Cell {
    let Some(value) = value else {
        return Cell::Null;
    };
    let float = *ty == Type::FLOAT4 || *ty == Type::FLOAT8;
    match value.parse::<f64>() {
        Ok(f) if float => Cell::Float(f),
        _ => Cell::Text(value.to_string()),
    }
}
