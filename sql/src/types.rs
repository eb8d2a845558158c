//! SQL column types of CREATE SOURCE, mapped to the Arrow types events are decoded into.

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use sqlparser::ast::DataType as SqlType;

use crate::error::{Position, Result, SqlError};

/// Timestamps keep PostgreSQL's precision, microseconds.
pub const TIMESTAMP_UNIT: TimeUnit = TimeUnit::Microsecond;

/// The zone TIMESTAMPTZ values are kept in.
pub const UTC: &str = "+00:00";

pub fn arrow_type(sql: &SqlType, position: Option<Position>) -> Result<DataType> {
    use sqlparser::ast::TimezoneInfo;
    Ok(match sql {
        SqlType::Timestamp(_, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone) => {
            DataType::Timestamp(TIMESTAMP_UNIT, None)
        }
        SqlType::Timestamp(_, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz) => {
            DataType::Timestamp(TIMESTAMP_UNIT, Some(UTC.into()))
        }
        SqlType::Varchar(_) | SqlType::CharacterVarying(_) | SqlType::Text | SqlType::String(_) => {
            DataType::Utf8
        }
        SqlType::Int(_) | SqlType::Integer(_) | SqlType::Int4(_) => DataType::Int32,
        SqlType::SmallInt(_) | SqlType::Int2(_) => DataType::Int16,
        SqlType::BigInt(_) | SqlType::Int8(_) => DataType::Int64,
        SqlType::DoublePrecision | SqlType::Float8 | SqlType::Double(_) => DataType::Float64,
        SqlType::Real | SqlType::Float4 => DataType::Float32,
        SqlType::Boolean | SqlType::Bool => DataType::Boolean,
        other => {
            return Err(SqlError::unsupported(
                format!("column type {other}"),
                position,
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_the_declared_types() {
        let cases = [
            ("TIMESTAMP", DataType::Timestamp(TIMESTAMP_UNIT, None)),
            (
                "TIMESTAMPTZ",
                DataType::Timestamp(TIMESTAMP_UNIT, Some(UTC.into())),
            ),
            (
                "TIMESTAMP WITH TIME ZONE",
                DataType::Timestamp(TIMESTAMP_UNIT, Some(UTC.into())),
            ),
            ("VARCHAR", DataType::Utf8),
            ("TEXT", DataType::Utf8),
            ("INT", DataType::Int32),
            ("INTEGER", DataType::Int32),
            ("BIGINT", DataType::Int64),
            ("DOUBLE PRECISION", DataType::Float64),
            ("REAL", DataType::Float32),
            ("BOOLEAN", DataType::Boolean),
        ];
        let dialect = sqlparser::dialect::PostgreSqlDialect {};
        for (text, want) in cases {
            let mut p = sqlparser::parser::Parser::new(&dialect)
                .try_with_sql(text)
                .unwrap();
            let t = p.parse_data_type().unwrap();
            assert_eq!(arrow_type(&t, None).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn refuses_other_types_by_name() {
        let dialect = sqlparser::dialect::PostgreSqlDialect {};
        let mut p = sqlparser::parser::Parser::new(&dialect)
            .try_with_sql("BYTEA")
            .unwrap();
        let t = p.parse_data_type().unwrap();
        let e = arrow_type(&t, None).unwrap_err().to_string();
        assert!(e.contains("BYTEA"), "{e}");
    }
}
