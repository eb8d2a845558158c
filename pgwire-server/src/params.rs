//! Bound parameters (Bind) to DataFusion values, and the Postgres types parameters are
//! described as.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use pgwire::api::Type;
use pgwire::api::portal::Portal;
use pgwire::error::PgWireResult;
use rust_decimal::Decimal;

use crate::encode::pg_type;
use crate::errors::user_error;

/// The type a parameter is described as: what the statement fixed, else TEXT (the client
/// then sends text and the engine coerces it where it is used).
pub fn described_type(data_type: Option<&DataType>) -> Type {
    data_type.map_or(Type::TEXT, pg_type)
}

/// The Arrow type of a parameter the client declared as `ty` at Parse, for the types whose
/// values [`values`] decodes; `None` for the others (and UNKNOWN), which leave the type to
/// the statement.
pub fn declared_data_type(ty: &Type) -> Option<DataType> {
    Some(match *ty {
        Type::BOOL => DataType::Boolean,
        Type::INT2 => DataType::Int16,
        Type::INT4 => DataType::Int32,
        Type::INT8 => DataType::Int64,
        Type::FLOAT4 => DataType::Float32,
        Type::FLOAT8 => DataType::Float64,
        Type::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
        Type::TIMESTAMPTZ => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        Type::DATE => DataType::Date32,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DataType::Utf8,
        _ => return None,
    })
}

/// The value of every parameter of `portal`, decoded by its type: the client's when it
/// named one at Parse, else the described one.
pub fn values<S: Clone>(portal: &Portal<S>, types: &[Type]) -> PgWireResult<Vec<ScalarValue>> {
    (0..portal.parameter_len())
        .map(|i| {
            let declared = portal
                .statement
                .parameter_types
                .get(i)
                .cloned()
                .flatten()
                .filter(|t| *t != Type::UNKNOWN);
            let ty = declared
                .or_else(|| types.get(i).cloned())
                .unwrap_or(Type::TEXT);
            value(portal, i, &ty)
        })
        .collect()
}

fn value<S: Clone>(portal: &Portal<S>, i: usize, ty: &Type) -> PgWireResult<ScalarValue> {
    let v = match *ty {
        Type::BOOL => ScalarValue::Boolean(portal.parameter::<bool>(i, ty)?),
        Type::INT2 => ScalarValue::Int16(portal.parameter::<i16>(i, ty)?),
        Type::INT4 => ScalarValue::Int32(portal.parameter::<i32>(i, ty)?),
        Type::INT8 => ScalarValue::Int64(portal.parameter::<i64>(i, ty)?),
        Type::FLOAT4 => ScalarValue::Float32(portal.parameter::<f32>(i, ty)?),
        Type::FLOAT8 => ScalarValue::Float64(portal.parameter::<f64>(i, ty)?),
        Type::NUMERIC => match portal.parameter::<Decimal>(i, ty)? {
            Some(d) => ScalarValue::Decimal128(Some(d.mantissa()), 38, d.scale().min(38) as i8),
            None => ScalarValue::Decimal128(None, 38, 0),
        },
        Type::TIMESTAMP => ScalarValue::TimestampMicrosecond(
            portal
                .parameter::<NaiveDateTime>(i, ty)?
                .map(|t| t.and_utc().timestamp_micros()),
            None,
        ),
        Type::TIMESTAMPTZ => ScalarValue::TimestampMicrosecond(
            portal
                .parameter::<DateTime<FixedOffset>>(i, ty)?
                .map(|t| t.timestamp_micros()),
            Some("+00:00".into()),
        ),
        Type::DATE => ScalarValue::Date32(
            portal
                .parameter::<NaiveDate>(i, ty)?
                .map(|d| (d - NaiveDate::default()).num_days() as i32),
        ),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            ScalarValue::Utf8(portal.parameter::<String>(i, ty)?)
        }
        _ => {
            return Err(user_error(
                "0A000",
                format!(
                    "parameter ${} of type {} is not supported",
                    i + 1,
                    ty.name()
                ),
            ));
        }
    };
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_map_back_to_the_types_they_are_described_as() {
        for ty in [
            Type::BOOL,
            Type::INT2,
            Type::INT4,
            Type::INT8,
            Type::FLOAT4,
            Type::FLOAT8,
            Type::TIMESTAMP,
            Type::TIMESTAMPTZ,
            Type::DATE,
            Type::TEXT,
        ] {
            let data_type = declared_data_type(&ty).expect("a decodable type");
            assert_eq!(described_type(Some(&data_type)), ty);
        }
        assert_eq!(declared_data_type(&Type::UNKNOWN), None);
        assert_eq!(declared_data_type(&Type::JSON), None);
    }
}
