//! Arrow to Postgres, in one place: the type a column is announced as, and its values as
//! Postgres text or binary.
//!
//! Written here rather than taken from arrow-pg: arrow-pg formats text through pgwire's
//! chrono and ryu formatting, which prints `12:30:00.000000` and `2.0` where PostgreSQL
//! prints `12:30:00` and `2`. psql users and Grafana see PostgreSQL's forms, so we write
//! them, and keep binary encoding beside the text so the two cannot disagree on a type.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, PrimitiveArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, IntervalMonthDayNanoType, IntervalUnit, Schema, TimeUnit, UInt32Type,
};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;

/// Microseconds from the Unix epoch to Postgres' epoch, 2000-01-01.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Days from 1970-01-01 to 2000-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;

/// The Postgres type a column of `data_type` is announced as. Types Postgres has no
/// counterpart for (lists, structs) go out as their text rendering, typed TEXT.
pub fn pg_type(data_type: &DataType) -> Type {
    // One mapping for the wire and the catalogs, so `\d` shows what queries announce.
    let oid = palisade_engine::pg::types::pg_type(data_type).oid;
    Type::from_oid(oid).unwrap_or(Type::TEXT)
}

/// RowDescription fields for `schema`, each in the format the client asked for.
pub fn fields(schema: &Schema, format: &Format) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            FieldInfo::new(
                f.name().clone(),
                None,
                None,
                pg_type(f.data_type()),
                format.format_for(i),
            )
        })
        .collect()
}

/// Every row of `batch` as DataRows in the formats `fields` name.
pub fn encode_batch(batch: &RecordBatch, fields: &[FieldInfo]) -> PgWireResult<Vec<DataRow>> {
    let columns = batch
        .columns()
        .iter()
        .zip(fields)
        .map(|(c, f)| Column::new(c, f.format()))
        .collect::<PgWireResult<Vec<_>>>()?;
    let mut rows = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let mut data = BytesMut::with_capacity(16 * columns.len());
        for column in &columns {
            let at = data.len();
            data.put_i32(-1);
            if column.write(row, &mut data)? {
                let len = i32::try_from(data.len() - at - 4)
                    .map_err(|_| internal("value longer than 2 GiB"))?;
                data[at..at + 4].copy_from_slice(&len.to_be_bytes());
            }
        }
        rows.push(DataRow::new(data, columns.len() as i16));
    }
    Ok(rows)
}

fn internal(message: &str) -> PgWireError {
    crate::errors::user_error("XX000", format!("internal error: {message}"))
}

/// One column, downcast once per batch so the per-row work is a match and a write.
struct Column {
    array: ArrayRef,
    kind: Kind,
    binary: bool,
    /// Arrow's display, for types written as text only.
    fallback: Option<Vec<String>>,
}

#[derive(Clone, Copy)]
enum Kind {
    Bool,
    Int2,
    Int4,
    Int8,
    /// Catalog OIDs: unsigned 32-bit, 4 bytes in binary.
    Oid,
    Float4,
    Float8,
    Numeric(i8),
    Text,
    /// Microseconds; `true` for TIMESTAMPTZ.
    Timestamp(bool),
    Date,
    Interval,
    Bytea,
    Fallback,
}

impl Column {
    fn new(array: &ArrayRef, format: FieldFormat) -> PgWireResult<Self> {
        let data_type = array.data_type();
        // Normalise the few physical variants to one array type per Postgres type.
        let (array, kind) = match data_type {
            DataType::Boolean => (Arc::clone(array), Kind::Bool),
            DataType::Int8 | DataType::Int16 | DataType::UInt8 => {
                (cast_to(array, &DataType::Int16)?, Kind::Int2)
            }
            DataType::Int32 | DataType::UInt16 => (cast_to(array, &DataType::Int32)?, Kind::Int4),
            DataType::Int64 => (cast_to(array, &DataType::Int64)?, Kind::Int8),
            DataType::UInt32 => (Arc::clone(array), Kind::Oid),
            DataType::Float16 | DataType::Float32 => {
                (cast_to(array, &DataType::Float32)?, Kind::Float4)
            }
            DataType::Float64 => (Arc::clone(array), Kind::Float8),
            DataType::Decimal128(_, scale) => (Arc::clone(array), Kind::Numeric(*scale)),
            DataType::UInt64 => (
                cast_to(array, &DataType::Decimal128(20, 0))?,
                Kind::Numeric(0),
            ),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                (cast_to(array, &DataType::Utf8)?, Kind::Text)
            }
            // The unit changes; a zone stays, so values remain UTC instants.
            DataType::Timestamp(_, tz) => (
                cast_to(
                    array,
                    &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
                )?,
                Kind::Timestamp(tz.is_some()),
            ),
            DataType::Date32 | DataType::Date64 => (cast_to(array, &DataType::Date32)?, Kind::Date),
            DataType::Interval(IntervalUnit::MonthDayNano) => (Arc::clone(array), Kind::Interval),
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
                (cast_to(array, &DataType::Binary)?, Kind::Bytea)
            }
            DataType::Dictionary(_, value) => {
                let plain = cast_to(array, value)?;
                return Column::new(&plain, format);
            }
            _ => (Arc::clone(array), Kind::Fallback),
        };
        let fallback = match kind {
            Kind::Fallback => {
                let options = FormatOptions::default();
                let formatter = ArrayFormatter::try_new(array.as_ref(), &options)
                    .map_err(|e| internal(&e.to_string()))?;
                Some(
                    (0..array.len())
                        .map(|i| formatter.value(i).to_string())
                        .collect(),
                )
            }
            _ => None,
        };
        Ok(Column {
            array,
            kind,
            binary: format == FieldFormat::Binary,
            fallback,
        })
    }

    /// Appends the value at `row`; false for NULL (nothing written).
    fn write(&self, row: usize, out: &mut BytesMut) -> PgWireResult<bool> {
        if self.array.is_null(row) {
            return Ok(false);
        }
        let a = &self.array;
        let binary = self.binary;
        match self.kind {
            Kind::Bool => {
                let v = a
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .map(|b| b.value(row));
                let v = v.ok_or_else(|| internal("boolean column"))?;
                if binary {
                    out.put_u8(v as u8);
                } else {
                    out.put_slice(if v { b"t" } else { b"f" });
                }
            }
            Kind::Int2 => put_integer::<Int16Type>(a, row, binary, out, BytesMut::put_i16)?,
            Kind::Int4 => put_integer::<Int32Type>(a, row, binary, out, BytesMut::put_i32)?,
            Kind::Int8 => put_integer::<Int64Type>(a, row, binary, out, BytesMut::put_i64)?,
            Kind::Oid => put_integer::<UInt32Type>(a, row, binary, out, BytesMut::put_u32)?,
            Kind::Float4 => {
                let v = value::<Float32Type>(a, row)?;
                if binary {
                    out.put_f32(v);
                } else {
                    out.put_slice(float_text(v as f64, 6).as_bytes());
                }
            }
            Kind::Float8 => {
                let v = value::<Float64Type>(a, row)?;
                if binary {
                    out.put_f64(v);
                } else {
                    out.put_slice(float_text(v, 15).as_bytes());
                }
            }
            Kind::Numeric(scale) => {
                let v = a
                    .as_any()
                    .downcast_ref::<Decimal128Array>()
                    .ok_or_else(|| internal("decimal column"))?
                    .value(row);
                if binary {
                    numeric_binary(v, scale, out);
                } else {
                    out.put_slice(numeric_text(v, scale).as_bytes());
                }
            }
            Kind::Text => out.put_slice(a.as_string::<i32>().value(row).as_bytes()),
            Kind::Bytea => {
                let v = a.as_binary::<i32>().value(row);
                if binary {
                    out.put_slice(v);
                } else {
                    out.put_slice(b"\\x");
                    for b in v {
                        put_display(out, format_args!("{b:02x}"));
                    }
                }
            }
            Kind::Timestamp(with_zone) => {
                let micros = a
                    .as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>()
                    .value(row);
                if binary {
                    out.put_i64(micros - PG_EPOCH_MICROS);
                } else {
                    let t = DateTime::from_timestamp_micros(micros)
                        .ok_or_else(|| internal("timestamp out of range"))?
                        .naive_utc();
                    put_timestamp(out, t);
                    if with_zone {
                        // Sessions run in UTC (the TimeZone parameter says so).
                        out.put_slice(b"+00");
                    }
                }
            }
            Kind::Date => {
                let days = value::<Date32Type>(a, row)?;
                if binary {
                    out.put_i32(days - PG_EPOCH_DAYS);
                } else {
                    let date = NaiveDate::from_num_days_from_ce_opt(days + 719_163)
                        .ok_or_else(|| internal("date out of range"))?;
                    put_display(out, date.format("%Y-%m-%d"));
                }
            }
            Kind::Interval => {
                let v = value::<IntervalMonthDayNanoType>(a, row)?;
                if binary {
                    out.put_i64(v.nanoseconds / 1000);
                    out.put_i32(v.days);
                    out.put_i32(v.months);
                } else {
                    out.put_slice(interval_text(v.months, v.days, v.nanoseconds / 1000).as_bytes());
                }
            }
            Kind::Fallback => {
                let text = self
                    .fallback
                    .as_ref()
                    .and_then(|f| f.get(row))
                    .ok_or_else(|| internal("fallback column"))?;
                out.put_slice(text.as_bytes());
            }
        }
        Ok(true)
    }
}

fn cast_to(array: &ArrayRef, to: &DataType) -> PgWireResult<ArrayRef> {
    if array.data_type() == to {
        return Ok(Arc::clone(array));
    }
    cast(array, to).map_err(|e| internal(&e.to_string()))
}

fn value<T: ArrowPrimitiveType>(array: &ArrayRef, row: usize) -> PgWireResult<T::Native> {
    array
        .as_any()
        .downcast_ref::<PrimitiveArray<T>>()
        .map(|a| a.value(row))
        .ok_or_else(|| internal("column type changed while encoding"))
}

/// An integer: big-endian in binary, decimal digits in text.
fn put_integer<T: ArrowPrimitiveType>(
    array: &ArrayRef,
    row: usize,
    binary: bool,
    out: &mut BytesMut,
    big_endian: fn(&mut BytesMut, T::Native),
) -> PgWireResult<()>
where
    T::Native: std::fmt::Display,
{
    let v = value::<T>(array, row)?;
    if binary {
        big_endian(out, v);
    } else {
        put_display(out, v);
    }
    Ok(())
}

fn put_display(out: &mut BytesMut, v: impl std::fmt::Display) {
    use std::fmt::Write;
    struct Bytes<'a>(&'a mut BytesMut);
    impl Write for Bytes<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.put_slice(s.as_bytes());
            Ok(())
        }
    }
    let _ = write!(Bytes(out), "{v}");
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]`, fraction trimmed of trailing zeros, as PostgreSQL.
fn put_timestamp(out: &mut BytesMut, t: NaiveDateTime) {
    if (0..=9999).contains(&t.year()) {
        // Digit by digit: chrono's formatter interprets its pattern for every value, which
        // was most of the time spent sending a panel's timestamps.
        let mut text = *b"0000-00-00 00:00:00";
        let fields = [
            (0, 4, t.year() as u32),
            (5, 2, t.month()),
            (8, 2, t.day()),
            (11, 2, t.hour()),
            (14, 2, t.minute()),
            (17, 2, t.second()),
        ];
        for (at, width, mut value) in fields {
            for digit in text[at..at + width].iter_mut().rev() {
                *digit = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
        out.put_slice(&text);
    } else {
        put_display(out, t.format("%Y-%m-%d %H:%M:%S"));
    }
    let mut fraction = t.nanosecond() / 1000;
    if fraction != 0 {
        let mut digits = 6;
        while fraction % 10 == 0 {
            fraction /= 10;
            digits -= 1;
        }
        put_display(out, format_args!(".{fraction:0digits$}"));
    }
}

/// PostgreSQL 12+'s float output (extra_float_digits = 1): the shortest text that reads
/// back to the same value, in fixed notation for decimal exponents from -4 up to
/// `precision` (15 for float8, 6 for float4) and `1.5e+20` style beyond.
pub fn float_text(v: f64, precision: i32) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // Rust's `{:e}` is the shortest round-trip digits; float4 values need their own
    // shortest digits, not those of the widened f64.
    let sci = if precision == 6 {
        format!("{:e}", v as f32)
    } else {
        format!("{v:e}")
    };
    let Some((mantissa, exponent)) = sci.split_once('e') else {
        return sci;
    };
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..precision).contains(&exponent) {
        if precision == 6 {
            format!("{}", v as f32)
        } else {
            format!("{v}")
        }
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

fn numeric_text(v: i128, scale: i8) -> String {
    if scale <= 0 {
        let zeros = "0".repeat((-scale) as usize);
        return format!("{v}{zeros}");
    }
    let digits = v.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    let sign = if v < 0 { "-" } else { "" };
    format!("{sign}{int}.{frac}")
}

/// NUMERIC's binary form: base-10000 digits with a weight, a sign and a display scale.
fn numeric_binary(v: i128, scale: i8, out: &mut BytesMut) {
    let dscale = scale.max(0) as usize;
    let text = numeric_text(v, scale);
    let unsigned = text.trim_start_matches('-');
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    // Pad the integer part on the left and the fraction on the right to whole groups.
    let int = format!("{int:0>width$}", width = int.len().div_ceil(4) * 4);
    let frac = format!("{frac:0<width$}", width = frac.len().div_ceil(4) * 4);
    let mut groups: Vec<i16> = int
        .as_bytes()
        .chunks(4)
        .chain(frac.as_bytes().chunks(4))
        .map(|c| c.iter().fold(0i16, |acc, d| acc * 10 + (d - b'0') as i16))
        .collect();
    let mut weight = (int.len() / 4) as i16 - 1;
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    out.put_i16(groups.len() as i16);
    out.put_i16(weight);
    out.put_u16(if v < 0 { 0x4000 } else { 0 });
    out.put_u16(dscale as u16);
    for g in groups {
        out.put_i16(g);
    }
}

/// PostgreSQL's default IntervalStyle: `1 year 2 mons 3 days 04:05:06.5`.
fn interval_text(months: i32, days: i32, micros: i64) -> String {
    let mut parts = Vec::new();
    let (years, months) = (months / 12, months % 12);
    let unit = |n: i64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    if years != 0 {
        parts.push(unit(years as i64, "year", "years"));
    }
    if months != 0 {
        parts.push(unit(months as i64, "mon", "mons"));
    }
    if days != 0 {
        parts.push(unit(days as i64, "day", "days"));
    }
    if micros != 0 || parts.is_empty() {
        let sign = if micros < 0 { "-" } else { "" };
        let m = micros.unsigned_abs();
        let (h, rest) = (m / 3_600_000_000, m % 3_600_000_000);
        let (min, rest) = (rest / 60_000_000, rest % 60_000_000);
        let (s, frac) = (rest / 1_000_000, rest % 1_000_000);
        let mut time = format!("{sign}{h:02}:{min:02}:{s:02}");
        if frac != 0 {
            let f = format!("{frac:06}");
            time.push('.');
            time.push_str(f.trim_end_matches('0'));
        }
        parts.push(time);
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, StringArray, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::Field;

    #[test]
    fn floats_as_postgres_prints_them() {
        assert_eq!(float_text(2.0, 15), "2");
        assert_eq!(float_text(0.1, 15), "0.1");
        assert_eq!(float_text(1.0 / 3.0, 15), "0.3333333333333333");
        assert_eq!(float_text(1e15, 15), "1e+15");
        assert_eq!(float_text(123456789012345.0, 15), "123456789012345");
        assert_eq!(float_text(0.0001, 15), "0.0001");
        assert_eq!(float_text(0.00001, 15), "1e-05");
        assert_eq!(float_text(-1.5e-7, 15), "-1.5e-07");
        assert_eq!(float_text(f64::INFINITY, 15), "Infinity");
        assert_eq!(float_text(f64::NAN, 15), "NaN");
        assert_eq!(float_text(1e6, 6), "1e+06");
        assert_eq!(float_text(123456.0, 6), "123456");
        assert_eq!(float_text(0.1f32 as f64, 6), "0.1");
    }

    #[test]
    fn numerics_in_text_and_binary() {
        assert_eq!(numeric_text(12345, 2), "123.45");
        assert_eq!(numeric_text(-5, 3), "-0.005");
        assert_eq!(numeric_text(7, -2), "700");
        let mut out = BytesMut::new();
        numeric_binary(123450, 2, &mut out); // 1234.50
        // ndigits 2, weight 0, positive, dscale 2, digits [1234, 5000]
        assert_eq!(&out[..], &[0, 2, 0, 0, 0, 0, 0, 2, 0x04, 0xD2, 0x13, 0x88]);
    }

    #[test]
    fn intervals_as_postgres_prints_them() {
        assert_eq!(interval_text(0, 0, 300_000_000), "00:05:00");
        assert_eq!(
            interval_text(14, 1, 1_500_000),
            "1 year 2 mons 1 day 00:00:01.5"
        );
        assert_eq!(interval_text(0, 0, 0), "00:00:00");
    }

    fn text_row(batch: &RecordBatch, format: &Format) -> Vec<Option<Vec<u8>>> {
        let fields = fields(&batch.schema(), format);
        let rows = encode_batch(batch, &fields).expect("encodes");
        let mut data = &rows[0].data[..];
        let mut values = vec![];
        for _ in 0..rows[0].field_count {
            let len = i32::from_be_bytes(data[..4].try_into().expect("4 bytes"));
            data = &data[4..];
            if len < 0 {
                values.push(None);
            } else {
                values.push(Some(data[..len as usize].to_vec()));
                data = &data[len as usize..];
            }
        }
        values
    }

    #[test]
    fn rows_in_text_and_binary() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
            Field::new(
                "tz",
                DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
                true,
            ),
            Field::new("f", DataType::Float64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        // 2024-01-25 12:30:45.678 UTC
        let micros = 1_706_185_845_678_000i64;
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(TimestampMicrosecondArray::from(vec![Some(micros)])),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![Some(micros - 678_000)])
                        .with_timezone("+00:00"),
                ),
                Arc::new(Float64Array::from(vec![Some(2.0)])),
                Arc::new(StringArray::from(vec![None::<&str>])),
            ],
        )
        .expect("batch");
        let text = text_row(&batch, &Format::UnifiedText);
        assert_eq!(text[0].as_deref(), Some(&b"2024-01-25 12:30:45.678"[..]));
        let mut out = BytesMut::new();
        let t = DateTime::from_timestamp_micros(micros - 678_000 + 5).expect("in range");
        put_timestamp(&mut out, t.naive_utc());
        assert_eq!(&out[..], b"2024-01-25 12:30:45.000005");
        // Zero-padded digits; years past four digits as chrono prints them.
        for (text, want) in [
            ("0987-03-04 05:06:07", "0987-03-04 05:06:07"),
            ("9999-12-31 23:59:59", "9999-12-31 23:59:59"),
            ("+12345-01-01 00:00:00", "+12345-01-01 00:00:00"),
        ] {
            let t = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").expect(text);
            let mut out = BytesMut::new();
            put_timestamp(&mut out, t);
            assert_eq!(std::str::from_utf8(&out), Ok(want));
        }
        assert_eq!(text[1].as_deref(), Some(&b"2024-01-25 12:30:45+00"[..]));
        assert_eq!(text[2].as_deref(), Some(&b"2"[..]));
        assert_eq!(text[3], None);
        let binary = text_row(&batch, &Format::UnifiedBinary);
        assert_eq!(
            binary[0].as_deref(),
            Some(&(micros - PG_EPOCH_MICROS).to_be_bytes()[..])
        );
        assert_eq!(binary[2].as_deref(), Some(&2.0f64.to_be_bytes()[..]));
    }
}
