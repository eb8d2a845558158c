//! The decoder as it was before the fast path: a straightforward tokenizer into per-record
//! slots, then Arrow builders. The property tests hold the fast decoder to it byte for byte
//! (batches, reasons, `coerced`), so keep it as it is.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float32Builder, Float64Builder, Int16Builder, Int32Builder,
    Int64Builder, RecordBatch, RecordBatchOptions, StringBuilder, TimestampMicrosecondBuilder,
};
use chrono::NaiveDate;

use super::{Column, Decoded, Kind, Rejected};
use crate::error::{ConnectorError, Result};

/// Decodes `payloads` as `JsonDecoder::decode` did.
pub(super) fn decode(decoder: &super::JsonDecoder, payloads: &[&[u8]]) -> Result<Decoded> {
    let columns = &decoder.columns;
    let n = columns.len();
    let mut state = State {
        slots: vec![Slot::Null; n],
        coerced: vec![false; n],
        ..State::default()
    };
    let mut builders: Vec<Builder> = columns
        .iter()
        .map(|c| Builder::new(c, payloads.len()))
        .collect();
    let mut rejected = Vec::new();
    let mut coerced = 0u64;
    let mut rows = 0usize;
    for (index, payload) in payloads.iter().enumerate() {
        let outcome = parse_record(columns, &mut state, payload)
            .and_then(|text| check_not_null(columns, &state).map(|()| text));
        match outcome {
            Ok(text) => {
                coerced += state.coerced.iter().filter(|c| **c).count() as u64;
                for (builder, slot) in builders.iter_mut().zip(&state.slots) {
                    builder.append(*slot, text, &state.text)?;
                }
                rows += 1;
            }
            Err(reason) => rejected.push(Rejected { index, reason }),
        }
    }
    let arrays: Vec<ArrayRef> = builders.into_iter().map(Builder::finish).collect();
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    let batch = RecordBatch::try_new_with_options(decoder.schema.clone(), arrays, &options)?;
    Ok(Decoded {
        batch,
        rejected,
        coerced,
    })
}

fn check_not_null(columns: &[Column], state: &State) -> std::result::Result<(), String> {
    for (column, slot) in columns.iter().zip(&state.slots) {
        if !column.nullable && matches!(slot, Slot::Null) {
            return Err(format!(
                "column {}: missing or null, but the column is NOT NULL",
                column.name
            ));
        }
    }
    Ok(())
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

type Reject = String;

/// Parses one payload into `state.slots`; returns the payload as text (slots index into it).
fn parse_record<'a>(
    columns: &[Column],
    state: &mut State,
    payload: &'a [u8],
) -> std::result::Result<&'a str, Reject> {
    let s = std::str::from_utf8(payload)
        .map_err(|e| format!("not JSON: invalid UTF-8 at byte {}", e.valid_up_to()))?;
    state.slots.fill(Slot::Null);
    state.coerced.fill(false);
    state.text.clear();
    let mut p = Parser {
        s,
        b: payload,
        i: 0,
    };
    p.ws();
    match p.peek() {
        Some(b'{') => p.i += 1,
        None => return Err("not JSON: empty payload".to_string()),
        Some(c) => {
            let what = match c {
                b'[' => "an array",
                b'"' => "a string",
                b'-' | b'0'..=b'9' => "a number",
                _ if p.b[p.i..].starts_with(b"true") || p.b[p.i..].starts_with(b"false") => {
                    "a boolean"
                }
                _ if p.b[p.i..].starts_with(b"null") => "null",
                _ => return Err(p.syntax("expected a JSON object")),
            };
            return Err(format!("not a JSON object: the payload is {what}"));
        }
    }
    p.ws();
    if p.peek() == Some(b'}') {
        p.i += 1;
    } else {
        // Fields usually come in column order: try the column after the last match first.
        let mut hint = 0;
        loop {
            p.ws();
            match p.peek() {
                Some(b'"') => {}
                None => return Err(p.eof()),
                Some(_) => return Err(p.syntax("expected a field name")),
            }
            let mark = state.text.len();
            let key = p.string(&mut state.text)?;
            let key = key.get(s, &state.text);
            let col = match columns.get(hint) {
                Some(c) if c.name == key => Some(hint),
                _ => columns.iter().position(|c| c.name == key),
            };
            state.text.truncate(mark);
            p.ws();
            p.expect(b':', "expected ':' after a field name")?;
            p.ws();
            match col {
                Some(c) => {
                    hint = c + 1;
                    let column = &columns[c];
                    let (slot, coerced) = p.value(column, &mut state.text)?;
                    state.slots[c] = slot;
                    state.coerced[c] = coerced;
                }
                None => p.skip_value(&mut state.text, &mut state.stack)?,
            }
            p.ws();
            match p.peek() {
                Some(b',') => p.i += 1,
                Some(b'}') => {
                    p.i += 1;
                    break;
                }
                None => return Err(p.eof()),
                Some(_) => return Err(p.syntax("expected ',' or '}'")),
            }
        }
    }
    p.ws();
    if p.i != p.b.len() {
        return Err(p.syntax("trailing data after the object"));
    }
    Ok(s)
}

/// Where a parsed string's text is: in the payload (no escapes) or in the unescape buffer.
#[derive(Debug, Clone, Copy)]
struct StrRef {
    unescaped: bool,
    start: usize,
    end: usize,
}

impl StrRef {
    fn get<'t>(self, payload: &'t str, text: &'t str) -> &'t str {
        if self.unescaped {
            &text[self.start..self.end]
        } else {
            &payload[self.start..self.end]
        }
    }

    fn slot(self) -> Slot {
        Slot::Str {
            unescaped: self.unescaped,
            start: self.start,
            end: self.end,
        }
    }
}

/// A cursor over one payload, already known to be valid UTF-8.
struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn eof(&self) -> Reject {
        format!("not JSON: truncated at byte {}", self.i)
    }

    fn syntax(&self, what: &str) -> Reject {
        if self.i >= self.b.len() {
            return self.eof();
        }
        format!("not JSON: {what} at byte {}", self.i)
    }

    fn expect(&mut self, c: u8, what: &str) -> std::result::Result<(), Reject> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.syntax(what))
        }
    }

    /// Parses the string starting at the current `"`. Without escapes the result points into
    /// the payload; with them, the unescaped text is appended to `text`.
    fn string(&mut self, text: &mut String) -> std::result::Result<StrRef, Reject> {
        self.i += 1;
        let start = self.i;
        let special = |c: &u8| *c == b'"' || *c == b'\\' || *c < 0x20;
        self.i += self.b[start..]
            .iter()
            .position(special)
            .unwrap_or(self.b.len() - start);
        match self.peek() {
            None => return Err(self.eof()),
            Some(b'"') => {
                self.i += 1;
                return Ok(StrRef {
                    unescaped: false,
                    start,
                    end: self.i - 1,
                });
            }
            Some(b'\\') => {}
            Some(_) => return Err(self.syntax("control character in a string")),
        }
        let out_start = text.len();
        text.push_str(&self.s[start..self.i]);
        loop {
            match self.peek() {
                None => return Err(self.eof()),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(StrRef {
                        unescaped: true,
                        start: out_start,
                        end: text.len(),
                    });
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = match self.peek() {
                        None => return Err(self.eof()),
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.i += 1;
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if !self.b[self.i..].starts_with(b"\\u") {
                                    return Err(self.syntax("unpaired surrogate in \\u escape"));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.syntax("unpaired surrogate in \\u escape"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            let c = char::from_u32(code)
                                .ok_or_else(|| self.syntax("unpaired surrogate in \\u escape"))?;
                            text.push(c);
                            continue;
                        }
                        Some(_) => return Err(self.syntax("invalid escape")),
                    };
                    self.i += 1;
                    text.push(c);
                }
                Some(c) if c < 0x20 => return Err(self.syntax("control character in a string")),
                Some(_) => {
                    // Copy the run up to the next quote or backslash in one go.
                    let run = self.i;
                    self.i += self.b[run..]
                        .iter()
                        .position(special)
                        .unwrap_or(self.b.len() - run);
                    text.push_str(&self.s[run..self.i]);
                }
            }
        }
    }

    fn hex4(&mut self) -> std::result::Result<u32, Reject> {
        let mut v = 0;
        for _ in 0..4 {
            let d = match self.peek() {
                None => return Err(self.eof()),
                Some(c) => (c as char)
                    .to_digit(16)
                    .ok_or_else(|| self.syntax("invalid \\u escape"))?,
            };
            v = v * 16 + d;
            self.i += 1;
        }
        Ok(v)
    }

    /// Scans the number at the current position; returns whether it has neither a fraction
    /// nor an exponent.
    fn number(&mut self) -> std::result::Result<bool, Reject> {
        match scan_number(&self.b[self.i..]) {
            Ok((len, integral)) => {
                self.i += len;
                Ok(integral)
            }
            Err(at) => {
                self.i += at;
                Err(self.syntax("invalid number"))
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> std::result::Result<(), Reject> {
        let rest = &self.b[self.i..];
        if rest.starts_with(word) {
            self.i += word.len();
            Ok(())
        } else if word.starts_with(rest) {
            self.i = self.b.len();
            Err(self.eof())
        } else {
            Err(self.syntax("invalid literal"))
        }
    }

    /// Parses the value at the current position into `column`'s slot; the flag is true if a
    /// string was taken as a number.
    fn value(
        &mut self,
        column: &Column,
        text: &mut String,
    ) -> std::result::Result<(Slot, bool), Reject> {
        let start = self.i;
        let kind = column.kind;
        match self.peek() {
            None => Err(self.eof()),
            Some(b'"') => {
                let r = self.string(text)?;
                match kind {
                    Kind::Utf8 => Ok((r.slot(), false)),
                    Kind::Timestamp => {
                        let v = r.get(self.s, text);
                        match parse_timestamp(v.as_bytes()) {
                            Some(ts) => Ok((Slot::Ts(ts), false)),
                            None => Err(self.mistyped(column, start, "is not a timestamp")),
                        }
                    }
                    Kind::Boolean => Err(self.mistyped(column, start, "is not a boolean")),
                    _ => {
                        let v = r.get(self.s, text);
                        match scan_number(v.as_bytes()) {
                            Ok((len, integral)) if len == v.len() => self
                                .numeric(column, v, integral, start)
                                .map(|slot| (slot, true)),
                            _ => Err(self.mistyped(column, start, not_a(kind))),
                        }
                    }
                }
            }
            Some(b'-' | b'0'..=b'9') => {
                let integral = self.number()?;
                let v = &self.s[start..self.i];
                match kind {
                    Kind::Utf8 => Ok((self.raw(start), false)),
                    Kind::Boolean | Kind::Timestamp => {
                        Err(self.mistyped(column, start, not_a(kind)))
                    }
                    _ => self
                        .numeric(column, v, integral, start)
                        .map(|slot| (slot, false)),
                }
            }
            Some(c @ (b't' | b'f')) => {
                self.literal(if c == b't' { b"true" } else { b"false" })?;
                match kind {
                    Kind::Boolean => Ok((Slot::Bool(c == b't'), false)),
                    Kind::Utf8 => Ok((self.raw(start), false)),
                    _ => Err(self.mistyped(column, start, not_a(kind))),
                }
            }
            Some(b'n') => {
                self.literal(b"null")?;
                Ok((Slot::Null, false))
            }
            Some(b'{') => Err(format!("column {}: an object {}", column.name, not_a(kind))),
            Some(b'[') => Err(format!("column {}: an array {}", column.name, not_a(kind))),
            Some(_) => Err(self.syntax("expected a value")),
        }
    }

    /// The payload bytes `start..self.i` as a string slot (numbers and booleans as text).
    fn raw(&self, start: usize) -> Slot {
        Slot::Str {
            unescaped: false,
            start,
            end: self.i,
        }
    }

    /// `column <name>: <the JSON value as written> <what>`, the value cut to 64 bytes.
    fn mistyped(&self, column: &Column, start: usize, what: &str) -> Reject {
        let mut end = self.i.min(start + 64);
        while !self.s.is_char_boundary(end) {
            end -= 1;
        }
        let cut = if end < self.i { "..." } else { "" };
        format!(
            "column {}: {}{cut} {what}",
            column.name,
            &self.s[start..end]
        )
    }

    /// Converts number text `v` (valid JSON number syntax) for a numeric column.
    fn numeric(
        &self,
        column: &Column,
        v: &str,
        integral: bool,
        start: usize,
    ) -> std::result::Result<Slot, Reject> {
        let kind = column.kind;
        let out_of_range = || {
            self.mistyped(
                column,
                start,
                &format!("is out of range for {}", kind.name()),
            )
        };
        match kind {
            Kind::Float64 => match v.parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(Slot::F64(f)),
                _ => Err(out_of_range()),
            },
            Kind::Float32 => match v.parse::<f32>() {
                Ok(f) if f.is_finite() => Ok(Slot::F32(f)),
                _ => Err(out_of_range()),
            },
            _ => {
                let n = if integral {
                    v.parse::<i64>().map_err(|_| out_of_range())?
                } else {
                    let f: f64 = v.parse().map_err(|_| out_of_range())?;
                    if f.fract() != 0.0 {
                        return Err(self.mistyped(column, start, "is not an integer"));
                    }
                    // Beyond 2^53 the f64 may not be the integer that was written.
                    if f.abs() > 9_007_199_254_740_992.0 {
                        return Err(self.mistyped(
                            column,
                            start,
                            "is not an exact integer (write it without fraction or exponent)",
                        ));
                    }
                    f as i64
                };
                let fits = match kind {
                    Kind::Int16 => i16::try_from(n).is_ok(),
                    Kind::Int32 => i32::try_from(n).is_ok(),
                    _ => true,
                };
                if fits {
                    Ok(Slot::Int(n))
                } else {
                    Err(out_of_range())
                }
            }
        }
    }

    /// Skips the value of an ignored field, checking that it is valid JSON.
    fn skip_value(
        &mut self,
        text: &mut String,
        stack: &mut Vec<u8>,
    ) -> std::result::Result<(), Reject> {
        stack.clear();
        let mark = text.len();
        loop {
            // A value is expected here.
            self.ws();
            match self.peek() {
                None => return Err(self.eof()),
                Some(open @ (b'{' | b'[')) => {
                    self.i += 1;
                    self.ws();
                    let close = if open == b'{' { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.i += 1;
                    } else {
                        stack.push(open);
                        if open == b'{' {
                            self.member_key(text, mark)?;
                        }
                        continue;
                    }
                }
                Some(b'"') => {
                    self.string(text)?;
                    text.truncate(mark);
                }
                Some(b'-' | b'0'..=b'9') => {
                    self.number()?;
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(_) => return Err(self.syntax("expected a value")),
            }
            // A value ended: close containers until one wants another element.
            loop {
                let Some(&open) = stack.last() else {
                    return Ok(());
                };
                self.ws();
                match (self.peek(), open) {
                    (Some(b','), _) => {
                        self.i += 1;
                        if open == b'{' {
                            self.member_key(text, mark)?;
                        }
                        break;
                    }
                    (Some(b'}'), b'{') | (Some(b']'), b'[') => {
                        self.i += 1;
                        stack.pop();
                    }
                    (None, _) => return Err(self.eof()),
                    (Some(_), b'{') => return Err(self.syntax("expected ',' or '}'")),
                    (Some(_), _) => return Err(self.syntax("expected ',' or ']'")),
                }
            }
        }
    }

    /// Parses `"key":` inside an object being skipped.
    fn member_key(&mut self, text: &mut String, mark: usize) -> std::result::Result<(), Reject> {
        self.ws();
        match self.peek() {
            Some(b'"') => {
                self.string(text)?;
                text.truncate(mark);
            }
            None => return Err(self.eof()),
            Some(_) => return Err(self.syntax("expected a field name")),
        }
        self.ws();
        self.expect(b':', "expected ':' after a field name")
    }
}

fn not_a(kind: Kind) -> &'static str {
    match kind {
        Kind::Boolean => "is not a boolean",
        Kind::Int16 | Kind::Int32 | Kind::Int64 => "is not an integer",
        Kind::Float32 | Kind::Float64 => "is not a number",
        Kind::Utf8 => "is not a string",
        Kind::Timestamp => "is not a timestamp (expected an RFC 3339 string)",
    }
}

/// Scans a JSON number (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`) at the start of `b`.
/// Returns its length and whether it is integral syntax (no fraction, no exponent), or the
/// offset of the first bad byte.
fn scan_number(b: &[u8]) -> std::result::Result<(usize, bool), usize> {
    let digits = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let mut i = usize::from(b.first() == Some(&b'-'));
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(i + 1),
        _ => return Err(i),
    }
    let mut integral = true;
    if b.get(i) == Some(&b'.') {
        integral = false;
        let end = digits(i + 1);
        if end == i + 1 {
            return Err(end);
        }
        i = end;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        integral = false;
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        let end = digits(i);
        if end == i {
            return Err(end);
        }
        i = end;
    }
    Ok((i, integral))
}

/// Parses `YYYY-MM-DD(T|t| )HH:MM:SS[.f{1,9}][Z|z|±HH:MM]` to micros since the epoch, UTC.
fn parse_timestamp(b: &[u8]) -> Option<i64> {
    fn num(b: &[u8], at: usize, len: usize) -> Option<u32> {
        let digits = b.get(at..at + len)?;
        digits.iter().try_fold(0u32, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    }
    let sep = |at: usize, c: u8| b.get(at) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(b, 0, 4)? as i32, num(b, 5, 2)?, num(b, 8, 2)?)?;
    let time = date.and_hms_opt(num(b, 11, 2)?, num(b, 14, 2)?, num(b, 17, 2)?)?;
    let mut micros = time.and_utc().timestamp() * 1_000_000;
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let n = i - start;
        if n == 0 || n > 9 {
            return None;
        }
        let mut frac = 0i64;
        for k in 0..6 {
            let d = if k < n {
                i64::from(b[start + k] - b'0')
            } else {
                0
            };
            frac = frac * 10 + d;
        }
        micros += frac;
    }
    match b.get(i) {
        None => {}
        Some(b'Z' | b'z') if i + 1 == b.len() => {}
        Some(s @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let (h, m) = (num(b, i + 1, 2)?, num(b, i + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let offset = i64::from(h * 3600 + m * 60) * 1_000_000;
            // Local time = UTC + offset, so UTC = local - offset.
            micros += if *s == b'+' { -offset } else { offset };
        }
        Some(_) => return None,
    }
    Some(micros)
}
