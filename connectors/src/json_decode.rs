//! JSON payloads (one object per message, as Kafka carries them) → one Arrow [`RecordBatch`].
//!
//! [`JsonDecoder::decode`] takes a slice of raw payloads and returns the records it could decode,
//! in input order, plus a [`Rejected`] entry (index and reason) for every one it could not: no
//! record is ever dropped silently.
//!
//! # Rules
//!
//! - A payload must be exactly one JSON object (surrounding whitespace allowed). Anything else
//!   (invalid JSON, truncated input, invalid UTF-8, an array, a scalar, trailing data) is
//!   rejected with a reason starting `not JSON:` or `not a JSON object:`.
//! - Field names match column names exactly (case-sensitive). Fields that are not columns are
//!   ignored (but must still be valid JSON). If a field appears twice, the last one wins.
//! - A missing field or JSON `null` is NULL; for a non-nullable column that rejects the record.
//! - `Int16`/`Int32`/`Int64`: JSON numbers with an integral value (`42`, `-7`, `4.0`, `1e3`).
//!   A non-integral number (`1.5`) or one out of the column's range rejects the record, as does
//!   a fractional-syntax number beyond ±2^53 (it could not be converted exactly).
//! - `Float32`/`Float64`: any JSON number; one that overflows the type (`1e400`) is rejected.
//! - Numeric columns also take a string holding exactly a JSON number (`"42"`, `"-1.5e3"`; no
//!   spaces, no `""`, no `"NaN"`); every such value of an accepted record is counted in
//!   [`Decoded::coerced`].
//! - `Boolean`: only `true` and `false` (not strings, not numbers).
//! - `Utf8`: strings; numbers and booleans are also accepted and stored as their JSON text,
//!   exactly as written (`12345` → `"12345"`, `1.50` → `"1.50"`, `true` → `"true"`), because
//!   producers disagree on whether ids and codes are numbers and the text loses nothing. These
//!   are not counted in `coerced` (which counts strings made into numbers only). Objects and
//!   arrays are rejected.
//! - `Timestamp(Microsecond, None)` (TIMESTAMP, holding UTC) and
//!   `Timestamp(Microsecond, Some("+00:00"))` (TIMESTAMPTZ; `"UTC"` and `"Z"` are taken as the
//!   same zone): strings `YYYY-MM-DDTHH:MM:SS[.f]` with a zone `Z` or `±HH:MM` (RFC 3339, `T`
//!   or `t`), or `YYYY-MM-DD HH:MM:SS[.f]`; a zone is converted to UTC, no zone means UTC. Up
//!   to 9 fractional digits, truncated to microseconds. Numbers are rejected (epoch values are
//!   ambiguous about their unit), as are leap seconds (`:60`).
//! - Any other column type is refused by [`JsonDecoder::new`] with
//!   [`ConnectorError::BadOption`] naming the column.

// Why our own parser rather than arrow-json's `ReaderBuilder::build_decoder` (59.3): its
// behaviour differs from the rules above where it matters, and fixing that up would cost a
// second pass over every payload. (1) An integer column given `1.5` silently stores `1`: it
// parses the text as an integer, falls back to f64 and truncates with `NumCast`. (2) It turns
// `"42"` into 42 for numeric columns but cannot say it did, so `coerced` could only be counted
// by scanning the raw JSON again, with a tokenizer as complex as this one. (3) It interprets
// numbers in timestamp columns as raw epoch units and accepts date-only strings. (4) A bad
// value fails the whole batch without saying which record, forcing a re-decode one by one.
// Parsing flat objects straight into column builders does all of it in one pass with no
// per-record allocation; see `bench_against_arrow_json` in the tests for the speed comparison.

use std::sync::Arc;

use crate::error::{ConnectorError, Result};
use arrow::array::{
    ArrayRef, BooleanBuilder, Float32Builder, Float64Builder, Int16Builder, Int32Builder,
    Int64Builder, RecordBatch, RecordBatchOptions, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use parse::parse_record;

/// The result of decoding one slice of payloads.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The good records, in input order, with the decoder's schema.
    pub batch: RecordBatch,
    /// Every record that could not be decoded, in input order.
    pub rejected: Vec<Rejected>,
    /// Values of the good records taken from a JSON string into a numeric column (`"42"` → 42).
    pub coerced: u64,
}

/// One payload that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Index into the `payloads` slice given to [`JsonDecoder::decode`].
    pub index: usize,
    /// Why, e.g. `not JSON: truncated at byte 7` or `column status_code: "abc" is not an integer`.
    pub reason: String,
}

/// Decodes JSON object payloads into record batches of one declared schema.
#[derive(Debug)]
pub struct JsonDecoder {
    schema: SchemaRef,
    columns: Vec<Column>,
    any_not_null: bool,
    state: State,
}

#[derive(Debug)]
struct Column {
    name: String,
    kind: Kind,
    nullable: bool,
    /// The zone of a TIMESTAMPTZ column, carried into the output array.
    tz: Option<Arc<str>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Boolean,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Utf8,
    Timestamp,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Boolean => "Boolean",
            Kind::Int16 => "Int16",
            Kind::Int32 => "Int32",
            Kind::Int64 => "Int64",
            Kind::Float32 => "Float32",
            Kind::Float64 => "Float64",
            Kind::Utf8 => "Utf8",
            Kind::Timestamp => "Timestamp",
        }
    }
}

/// One column's value in the record being parsed, already converted to the column's type.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Null,
    Bool(bool),
    Int(i64),
    F32(f32),
    F64(f64),
    /// Micros since the epoch, UTC.
    Ts(i64),
    /// Bytes `start..end` of the payload, or of `State::text` (an unescaped string).
    Str {
        unescaped: bool,
        start: usize,
        end: usize,
    },
}

/// Per-record scratch space, reused across records and calls.
#[derive(Debug, Default)]
struct State {
    slots: Vec<Slot>,
    coerced: Vec<bool>,
    /// Unescaped strings of the current record.
    text: String,
    /// Open containers while skipping an ignored field's value (`{` or `[`).
    stack: Vec<u8>,
}

impl JsonDecoder {
    /// A decoder for `schema`; fails with [`ConnectorError::BadOption`] (option `column <name>`)
    /// for a column whose type it cannot decode.
    pub fn new(schema: SchemaRef) -> Result<Self> {
        let mut columns = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let (kind, tz) = match field.data_type() {
                DataType::Boolean => (Kind::Boolean, None),
                DataType::Int16 => (Kind::Int16, None),
                DataType::Int32 => (Kind::Int32, None),
                DataType::Int64 => (Kind::Int64, None),
                DataType::Float32 => (Kind::Float32, None),
                DataType::Float64 => (Kind::Float64, None),
                DataType::Utf8 => (Kind::Utf8, None),
                DataType::Timestamp(TimeUnit::Microsecond, None) => (Kind::Timestamp, None),
                DataType::Timestamp(TimeUnit::Microsecond, Some(tz))
                    if matches!(tz.as_ref(), "+00:00" | "UTC" | "Z") =>
                {
                    (Kind::Timestamp, Some(tz.clone()))
                }
                other => {
                    return Err(ConnectorError::bad_option(
                        format!("column {}", field.name()),
                        format!(
                            "JSON decoding does not support type {other}; supported: Boolean, \
                             Int16, Int32, Int64, Float32, Float64, Utf8, \
                             Timestamp(Microsecond) without a zone or with +00:00"
                        ),
                    ));
                }
            };
            columns.push(Column {
                name: field.name().clone(),
                kind,
                nullable: field.is_nullable(),
                tz,
            });
        }
        let n = columns.len();
        Ok(Self {
            any_not_null: columns.iter().any(|c| !c.nullable),
            schema,
            columns,
            state: State {
                slots: vec![Slot::Null; n],
                coerced: vec![false; n],
                ..State::default()
            },
        })
    }

    /// The schema every decoded batch has.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Decodes `payloads`, one JSON object each, into one batch of the good records; every
    /// other record is listed in [`Decoded::rejected`]. Errors only on an internal bug.
    pub fn decode(&mut self, payloads: &[&[u8]]) -> Result<Decoded> {
        let n = payloads.len();
        let mut builders: Vec<Builder> = self.columns.iter().map(|c| Builder::new(c, n)).collect();
        let mut rejected = Vec::new();
        let mut coerced = 0u64;
        let mut rows = 0usize;
        for (index, payload) in payloads.iter().enumerate() {
            let outcome = parse_record(&self.columns, &mut self.state, payload)
                .and_then(|text| self.check_not_null().map(|()| text));
            match outcome {
                Ok(text) => {
                    coerced += self.state.coerced.iter().filter(|c| **c).count() as u64;
                    for (builder, slot) in builders.iter_mut().zip(&self.state.slots) {
                        builder.append(*slot, text, &self.state.text)?;
                    }
                    rows += 1;
                }
                Err(reason) => rejected.push(Rejected { index, reason }),
            }
        }
        let arrays: Vec<ArrayRef> = builders.into_iter().map(Builder::finish).collect();
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        let batch = RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)?;
        Ok(Decoded {
            batch,
            rejected,
            coerced,
        })
    }

    fn check_not_null(&self) -> std::result::Result<(), String> {
        if !self.any_not_null {
            return Ok(());
        }
        for (column, slot) in self.columns.iter().zip(&self.state.slots) {
            if !column.nullable && matches!(slot, Slot::Null) {
                return Err(format!(
                    "column {}: missing or null, but the column is NOT NULL",
                    column.name
                ));
            }
        }
        Ok(())
    }
}

/// An Arrow builder for one column.
enum Builder {
    Boolean(BooleanBuilder),
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Utf8(StringBuilder),
    Timestamp(TimestampMicrosecondBuilder),
}

impl Builder {
    fn new(column: &Column, n: usize) -> Self {
        match column.kind {
            Kind::Boolean => Builder::Boolean(BooleanBuilder::with_capacity(n)),
            Kind::Int16 => Builder::Int16(Int16Builder::with_capacity(n)),
            Kind::Int32 => Builder::Int32(Int32Builder::with_capacity(n)),
            Kind::Int64 => Builder::Int64(Int64Builder::with_capacity(n)),
            Kind::Float32 => Builder::Float32(Float32Builder::with_capacity(n)),
            Kind::Float64 => Builder::Float64(Float64Builder::with_capacity(n)),
            Kind::Utf8 => Builder::Utf8(StringBuilder::with_capacity(n, n * 16)),
            Kind::Timestamp => Builder::Timestamp(
                TimestampMicrosecondBuilder::with_capacity(n).with_timezone_opt(column.tz.clone()),
            ),
        }
    }

    /// Appends a slot that `parse_record` produced for this builder's column kind.
    fn append(&mut self, slot: Slot, payload: &str, text: &str) -> Result<()> {
        match (self, slot) {
            (Builder::Boolean(b), Slot::Null) => b.append_null(),
            (Builder::Int16(b), Slot::Null) => b.append_null(),
            (Builder::Int32(b), Slot::Null) => b.append_null(),
            (Builder::Int64(b), Slot::Null) => b.append_null(),
            (Builder::Float32(b), Slot::Null) => b.append_null(),
            (Builder::Float64(b), Slot::Null) => b.append_null(),
            (Builder::Utf8(b), Slot::Null) => b.append_null(),
            (Builder::Timestamp(b), Slot::Null) => b.append_null(),
            (Builder::Boolean(b), Slot::Bool(v)) => b.append_value(v),
            // parse_record range-checked these for the column's width.
            (Builder::Int16(b), Slot::Int(v)) => b.append_value(v as i16),
            (Builder::Int32(b), Slot::Int(v)) => b.append_value(v as i32),
            (Builder::Int64(b), Slot::Int(v)) => b.append_value(v),
            (Builder::Float32(b), Slot::F32(v)) => b.append_value(v),
            (Builder::Float64(b), Slot::F64(v)) => b.append_value(v),
            (Builder::Timestamp(b), Slot::Ts(v)) => b.append_value(v),
            (
                Builder::Utf8(b),
                Slot::Str {
                    unescaped,
                    start,
                    end,
                },
            ) => b.append_value(if unescaped {
                &text[start..end]
            } else {
                &payload[start..end]
            }),
            (_, slot) => {
                return Err(ConnectorError::Internal(format!(
                    "json_decode: slot {slot:?} does not fit its column's builder"
                )));
            }
        }
        Ok(())
    }

    fn finish(self) -> ArrayRef {
        match self {
            Builder::Boolean(mut b) => Arc::new(b.finish()),
            Builder::Int16(mut b) => Arc::new(b.finish()),
            Builder::Int32(mut b) => Arc::new(b.finish()),
            Builder::Int64(mut b) => Arc::new(b.finish()),
            Builder::Float32(mut b) => Arc::new(b.finish()),
            Builder::Float64(mut b) => Arc::new(b.finish()),
            Builder::Utf8(mut b) => Arc::new(b.finish()),
            Builder::Timestamp(mut b) => Arc::new(b.finish()),
        }
    }
}

mod parse;
#[cfg(test)]
mod tests;
