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
use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use columns::Out;
use parse::{Record, parse_record};

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

/// Scratch space reused across records and calls.
#[derive(Debug, Default)]
struct State {
    /// Per column: this record's value is a string taken as a number.
    coerced: Vec<bool>,
    /// Per column: text bytes per row of the last batch, to size the next one's buffer.
    text_per_row: Vec<usize>,
    scratch: Vec<u8>,
    stack: Vec<u8>,
}

#[derive(Debug)]
struct Column {
    name: String,
    kind: Kind,
    nullable: bool,
    /// The zone of a TIMESTAMPTZ column, carried into the output array.
    tz: Option<Arc<str>>,
    /// The name and its closing quote, as a field name is in a payload without escapes.
    quoted_name: Vec<u8>,
    /// The name has no `"`, `\\` or control character, so a field name matches it exactly
    /// when the payload's bytes are the name's.
    plain: bool,
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
                quoted_name: [field.name().as_bytes(), b"\""].concat(),
                plain: !field
                    .name()
                    .bytes()
                    .any(|c| c == b'"' || c == b'\\' || c < 0x20),
            });
        }
        let n = columns.len();
        Ok(Self {
            any_not_null: columns.iter().any(|c| !c.nullable),
            schema,
            columns,
            state: State {
                coerced: vec![false; n],
                text_per_row: vec![16; n],
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
        let state = &mut self.state;
        let mut outs: Vec<Out> = self
            .columns
            .iter()
            .zip(&state.text_per_row)
            .map(|(c, per_row)| Out::new(c.kind, n, n * per_row))
            .collect();
        let mut rejected = Vec::new();
        let mut coerced = 0u64;
        let mut rows = 0usize;
        // Text offsets are i32: no column can outgrow the JSON it came from.
        let mut json_bytes = 0usize;
        let has_text = self.columns.iter().any(|c| c.kind == Kind::Utf8);
        for (index, payload) in payloads.iter().enumerate() {
            json_bytes += payload.len();
            if has_text && json_bytes > i32::MAX as usize {
                return Err(ConnectorError::Internal(
                    "json_decode: more than 2 GiB of JSON in one call; decode fewer payloads \
                     at a time"
                        .to_string(),
                ));
            }
            let mut record = Record {
                columns: &self.columns,
                outs: &mut outs,
                rows,
                coerced: &mut state.coerced,
                any_coerced: false,
                scratch: &mut state.scratch,
                stack: &mut state.stack,
            };
            let parsed = parse_record(&mut record, payload);
            let any_coerced = record.any_coerced;
            let outcome = parsed
                .and_then(|()| finish_record(&self.columns, &mut outs, rows, self.any_not_null));
            match outcome {
                Ok(()) => {
                    if any_coerced {
                        coerced += state.coerced.iter().filter(|c| **c).count() as u64;
                    }
                    rows += 1;
                }
                Err(reason) => {
                    for out in &mut outs {
                        out.truncate(rows);
                    }
                    // A payload that is not UTF-8 is rejected as such, whatever else is wrong.
                    let reason = match std::str::from_utf8(payload) {
                        Ok(_) => reason,
                        Err(e) => format!("not JSON: invalid UTF-8 at byte {}", e.valid_up_to()),
                    };
                    rejected.push(Rejected { index, reason });
                }
            }
            if any_coerced {
                state.coerced.fill(false);
            }
        }
        if rows > 0 {
            for (per_row, out) in state.text_per_row.iter_mut().zip(&outs) {
                *per_row = out.text_bytes().div_ceil(rows);
            }
        }
        let arrays = outs
            .into_iter()
            .zip(&self.columns)
            .map(|(out, column)| out.finish(column))
            .collect::<Vec<ArrayRef>>();
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        let batch = RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)?;
        Ok(Decoded {
            batch,
            rejected,
            coerced,
        })
    }
}

/// Gives every column the record did not set a NULL, then checks the NOT NULL columns.
fn finish_record(
    columns: &[Column],
    outs: &mut [Out],
    rows: usize,
    any_not_null: bool,
) -> std::result::Result<(), parse::Reject> {
    for out in outs.iter_mut() {
        if out.len() == rows {
            out.push_null();
        }
    }
    if any_not_null {
        for (column, out) in columns.iter().zip(outs.iter()) {
            if !column.nullable && out.valid.get(rows) != Some(&true) {
                return Err(format!(
                    "column {}: missing or null, but the column is NOT NULL",
                    column.name
                ));
            }
        }
    }
    Ok(())
}

mod columns;
#[cfg(test)]
mod equivalence;
mod parse;
#[cfg(test)]
mod reference;
mod scan;
#[cfg(test)]
mod tests;
