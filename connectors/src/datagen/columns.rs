//! Declared columns → datagen fields → Arrow arrays of the declared type.
//!
//! The user's `CREATE SOURCE` decides names and types; datagen fills the columns it knows and
//! converts where the conversion is lossless or obvious (numbers to wider numbers or text,
//! timestamps to any unit or to text). Everything else is rejected up front, so reading never
//! fails on a type question.

use std::fmt::Write;
use std::net::Ipv4Addr;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float32Array, Float64Array, Int32Array, Int64Array, StringBuilder,
    TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
    TimestampSecondArray, new_null_array,
};
use arrow::datatypes::{DataType, Field, TimeUnit};
use chrono::DateTime;

use super::event::{Event, Url};
use crate::error::{ConnectorError, Result};

/// The columns datagen knows how to fill (matched case-insensitively).
pub const DATAGEN_COLUMNS: [&str; 12] = [
    "request_timestamp",
    "ip_address",
    "user_agent",
    "url",
    "http_method",
    "status_code",
    "response_time",
    "referrer",
    "user_id",
    "username",
    "user_action",
    "security_level",
];

/// One of [`DATAGEN_COLUMNS`], in the same order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Known {
    RequestTimestamp,
    IpAddress,
    UserAgent,
    Url,
    HttpMethod,
    StatusCode,
    ResponseTime,
    Referrer,
    UserId,
    Username,
    UserAction,
    SecurityLevel,
}

const KNOWN_ORDER: [Known; 12] = [
    Known::RequestTimestamp,
    Known::IpAddress,
    Known::UserAgent,
    Known::Url,
    Known::HttpMethod,
    Known::StatusCode,
    Known::ResponseTime,
    Known::Referrer,
    Known::UserId,
    Known::Username,
    Known::UserAction,
    Known::SecurityLevel,
];

impl Known {
    fn from_name(name: &str) -> Option<Self> {
        DATAGEN_COLUMNS
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
            .map(|i| KNOWN_ORDER[i])
    }

    /// Typical text length, to size string buffers once per batch.
    fn typical_len(self) -> usize {
        match self {
            Known::RequestTimestamp => 26,
            Known::IpAddress => 14,
            Known::UserAgent => 110,
            Known::Url => 16,
            Known::Referrer => 22,
            Known::UserAction => 11,
            Known::Username => 10,
            Known::UserId => 6,
            Known::HttpMethod | Known::StatusCode | Known::ResponseTime | Known::SecurityLevel => 4,
        }
    }

    /// Which declared types this field converts to, for the error message.
    fn accepted_types(self) -> &'static str {
        match self {
            Known::RequestTimestamp => "TIMESTAMP, TIMESTAMPTZ or VARCHAR",
            Known::StatusCode | Known::ResponseTime => {
                "INTEGER, BIGINT, REAL, DOUBLE PRECISION or VARCHAR"
            }
            Known::UserId => "VARCHAR, INTEGER or BIGINT",
            _ => "VARCHAR",
        }
    }

    fn number(self, e: &Event) -> i64 {
        match self {
            Known::StatusCode => i64::from(e.status),
            Known::ResponseTime => i64::from(e.response_ms),
            Known::UserId => i64::from(e.user),
            // `resolve` admits numeric outputs only for the three fields above.
            _ => 0,
        }
    }

    /// The text of fields that are a fixed string, without formatting.
    fn static_text(self, e: &Event) -> Option<&'static str> {
        match self {
            Known::UserAgent => Some(e.user_agent),
            Known::HttpMethod => Some(e.method),
            Known::Referrer => Some(e.referrer),
            Known::UserAction => Some(e.action.as_str()),
            Known::SecurityLevel => Some(e.security.as_str()),
            Known::Url => match e.url {
                Url::Path(p) => Some(p),
                _ => None,
            },
            _ => None,
        }
    }

    /// Appends this field's text for `e` as the builder's next value.
    fn append_text(self, e: &Event, b: &mut StringBuilder) -> Result<()> {
        if let Some(s) = self.static_text(e) {
            b.append_value(s);
            return Ok(());
        }
        match self {
            Known::RequestTimestamp => match DateTime::from_timestamp_micros(e.micros) {
                Some(t) => write!(b, "{}", t.format("%Y-%m-%d %H:%M:%S%.6f"))?,
                None => {
                    b.append_null();
                    return Ok(());
                }
            },
            Known::IpAddress => write!(b, "{}", Ipv4Addr::from_bits(e.ip))?,
            Known::Url => write!(b, "{}", e.url)?,
            Known::StatusCode => write!(b, "{}", e.status)?,
            Known::ResponseTime => write!(b, "{}", e.response_ms)?,
            Known::UserId => write!(b, "u{:05}", e.user)?,
            Known::Username => write!(b, "user_{:05}", e.user)?,
            Known::UserAgent
            | Known::HttpMethod
            | Known::Referrer
            | Known::UserAction
            | Known::SecurityLevel => {}
        }
        // Finishes the value accumulated by `write!` above.
        b.append_value("");
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Output {
    Text,
    Int32,
    Int64,
    Float32,
    Float64,
    Timestamp(TimeUnit, Option<Arc<str>>),
}

/// How one declared column is produced.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ColumnPlan {
    /// A name datagen does not know: all NULL.
    Null(DataType),
    Known(Known, Output),
}

impl ColumnPlan {
    /// Checks the declared column against what datagen can produce for it.
    pub(crate) fn resolve(field: &Field) -> Result<Self> {
        let Some(known) = Known::from_name(field.name()) else {
            return Ok(ColumnPlan::Null(field.data_type().clone()));
        };
        let numeric = matches!(
            known,
            Known::StatusCode | Known::ResponseTime | Known::UserId
        );
        let fractional = matches!(known, Known::StatusCode | Known::ResponseTime);
        let output = match field.data_type() {
            DataType::Utf8 => Some(Output::Text),
            DataType::Timestamp(unit, tz) if known == Known::RequestTimestamp => {
                Some(Output::Timestamp(*unit, tz.clone()))
            }
            DataType::Int32 if numeric => Some(Output::Int32),
            DataType::Int64 if numeric => Some(Output::Int64),
            DataType::Float32 if fractional => Some(Output::Float32),
            DataType::Float64 if fractional => Some(Output::Float64),
            _ => None,
        };
        match output {
            Some(output) => Ok(ColumnPlan::Known(known, output)),
            None => Err(ConnectorError::bad_option(
                format!("column {}", field.name()),
                format!(
                    "datagen cannot produce {} values for column {}; declare it as {}",
                    field.data_type(),
                    field.name(),
                    known.accepted_types()
                ),
            )),
        }
    }

    /// The column may hold NULLs even if the user declared it NOT NULL.
    pub(crate) fn produces_nulls(&self) -> bool {
        matches!(self, ColumnPlan::Null(_))
    }

    pub(crate) fn build(&self, events: &[Event]) -> Result<ArrayRef> {
        let (known, output) = match self {
            ColumnPlan::Null(data_type) => return Ok(new_null_array(data_type, events.len())),
            ColumnPlan::Known(known, output) => (*known, output),
        };
        let number = |e: &Event| known.number(e);
        let array: ArrayRef = match output {
            Output::Text => {
                let mut b =
                    StringBuilder::with_capacity(events.len(), events.len() * known.typical_len());
                for e in events {
                    known.append_text(e, &mut b)?;
                }
                Arc::new(b.finish())
            }
            // Every numeric field fits in i32 (status < 600, latency capped at 60 s, user ids).
            Output::Int32 => Arc::new(Int32Array::from_iter_values(
                events.iter().map(|e| number(e) as i32),
            )),
            Output::Int64 => Arc::new(Int64Array::from_iter_values(events.iter().map(number))),
            Output::Float32 => Arc::new(Float32Array::from_iter_values(
                events.iter().map(|e| number(e) as f32),
            )),
            Output::Float64 => Arc::new(Float64Array::from_iter_values(
                events.iter().map(|e| number(e) as f64),
            )),
            Output::Timestamp(unit, tz) => timestamps(events, *unit, tz.clone()),
        };
        Ok(array)
    }
}

fn timestamps(events: &[Event], unit: TimeUnit, tz: Option<Arc<str>>) -> ArrayRef {
    let micros = events.iter().map(|e| e.micros);
    match unit {
        TimeUnit::Second => Arc::new(
            TimestampSecondArray::from_iter_values(micros.map(|m| m.div_euclid(1_000_000)))
                .with_timezone_opt(tz),
        ),
        TimeUnit::Millisecond => Arc::new(
            TimestampMillisecondArray::from_iter_values(micros.map(|m| m.div_euclid(1_000)))
                .with_timezone_opt(tz),
        ),
        TimeUnit::Microsecond => {
            Arc::new(TimestampMicrosecondArray::from_iter_values(micros).with_timezone_opt(tz))
        }
        TimeUnit::Nanosecond => Arc::new(
            TimestampNanosecondArray::from_iter_values(micros.map(|m| m.saturating_mul(1_000)))
                .with_timezone_opt(tz),
        ),
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Int32Type, TimestampMicrosecondType};

    use super::super::tables::{Action, Security};
    use super::*;

    fn event() -> Event {
        Event {
            micros: 1_704_067_200_123_456,
            ip: u32::from(Ipv4Addr::new(203, 0, 113, 7)),
            user: 42,
            status: 404,
            response_ms: 87,
            user_agent: "curl/8.5.0",
            url: Url::Product(12),
            method: "GET",
            referrer: "",
            action: Action::ViewPage,
            security: Security::Medium,
        }
    }

    fn build(name: &str, data_type: DataType) -> Result<ArrayRef> {
        ColumnPlan::resolve(&Field::new(name, data_type, true))?.build(&[event()])
    }

    fn text(name: &str) -> String {
        build(name, DataType::Utf8)
            .unwrap()
            .as_string::<i32>()
            .value(0)
            .to_string()
    }

    #[test]
    fn text_renderings() {
        assert_eq!(text("request_timestamp"), "2024-01-01 00:00:00.123456");
        assert_eq!(text("ip_address"), "203.0.113.7");
        assert_eq!(text("url"), "/products/12");
        assert_eq!(text("status_code"), "404");
        assert_eq!(text("response_time"), "87");
        assert_eq!(text("user_id"), "u00042");
        assert_eq!(text("username"), "user_00042");
        assert_eq!(text("user_action"), "view_page");
        assert_eq!(text("security_level"), "medium");
        assert_eq!(text("referrer"), "");
        assert_eq!(text("User_Agent"), "curl/8.5.0");
    }

    #[test]
    fn numeric_conversions() {
        let a = build("status_code", DataType::Int32).unwrap();
        assert_eq!(a.as_primitive::<Int32Type>().value(0), 404);
        let a = build("STATUS_CODE", DataType::Int64).unwrap();
        assert_eq!(a.data_type(), &DataType::Int64);
        let a = build("response_time", DataType::Float64).unwrap();
        assert_eq!(
            a.as_any().downcast_ref::<Float64Array>().unwrap().value(0),
            87.0
        );
        let a = build("user_id", DataType::Int64).unwrap();
        assert_eq!(
            a.as_any().downcast_ref::<Int64Array>().unwrap().value(0),
            42
        );
    }

    #[test]
    fn timestamp_conversions() {
        let utc: Option<Arc<str>> = Some("+00:00".into());
        let a = build(
            "request_timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, utc.clone()),
        )
        .unwrap();
        assert_eq!(
            a.data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, utc)
        );
        assert_eq!(
            a.as_primitive::<TimestampMicrosecondType>().value(0),
            1_704_067_200_123_456
        );
        let a = build(
            "request_timestamp",
            DataType::Timestamp(TimeUnit::Millisecond, None),
        )
        .unwrap();
        let ms = a
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .unwrap();
        assert_eq!(ms.value(0), 1_704_067_200_123);
    }

    #[test]
    fn unconvertible_types_name_the_column_and_type() {
        for (name, data_type) in [
            ("request_timestamp", DataType::Boolean),
            ("request_timestamp", DataType::Int64),
            ("status_code", DataType::Boolean),
            ("user_id", DataType::Float64),
            ("url", DataType::Int32),
        ] {
            match build(name, data_type.clone()) {
                Err(ConnectorError::BadOption { option, message }) => {
                    assert_eq!(option, format!("column {name}"));
                    assert!(message.contains(&data_type.to_string()), "{message}");
                }
                other => panic!("{name} {data_type}: expected BadOption, got {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_columns_are_null_of_their_type() {
        let a = build("not_a_datagen_column", DataType::Boolean).unwrap();
        assert_eq!(a.data_type(), &DataType::Boolean);
        assert_eq!(a.null_count(), 1);
    }
}
