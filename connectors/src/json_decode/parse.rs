//! The JSON tokenizer behind [`JsonDecoder`](super::JsonDecoder): one payload, one flat
//! object, values converted straight to their column's type and appended to its [`Out`]
//! (see the rules in the parent).
//!
//! UTF-8 is not validated up front: outside strings the grammar admits only ASCII, and
//! each string holding a non-ASCII byte is validated on its own, so a payload that parses
//! is valid UTF-8. A payload that does not is checked whole by the caller, whose
//! `invalid UTF-8` reason then takes precedence over the one returned here.

use super::columns::{Data, Out};
use super::scan::{parse_timestamp, scan_number, small_integer, string_end};
use super::{Column, Kind};

pub(super) type Reject = String;

/// Where the record being parsed writes: one [`Out`] per column.
pub(super) struct Record<'c> {
    pub(super) columns: &'c [Column],
    pub(super) outs: &'c mut [Out],
    /// Values each column had before this record; a longer column has this record's value.
    pub(super) rows: usize,
    /// Per column: whether this record's value is a string taken as a number.
    pub(super) coerced: &'c mut [bool],
    pub(super) any_coerced: bool,
    /// Unescaped text that goes to no column: field names, ignored values, numbers and
    /// timestamps written with escapes.
    pub(super) scratch: &'c mut Vec<u8>,
    /// Open containers while skipping an ignored field's value (`{` or `[`).
    pub(super) stack: &'c mut Vec<u8>,
}

/// Parses one payload, appending at most one value to each column (the last of duplicate
/// fields). On error, the caller truncates the columns back to `rows`.
pub(super) fn parse_record(r: &mut Record<'_>, payload: &[u8]) -> std::result::Result<(), Reject> {
    let mut p = Parser { b: payload, i: 0 };
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
            let col = p.field_name(r.columns, hint, r.scratch)?;
            p.ws();
            p.expect(b':', "expected ':' after a field name")?;
            p.ws();
            match col {
                Some(c) => {
                    hint = c + 1;
                    let out = &mut r.outs[c];
                    // The last of duplicate fields wins.
                    if out.len() > r.rows {
                        out.truncate(r.rows);
                    }
                    let coerced = p.value(&r.columns[c], out, r.scratch)?;
                    r.coerced[c] = coerced;
                    r.any_coerced |= coerced;
                }
                None => p.skip_value(r.scratch, r.stack)?,
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
    Ok(())
}

/// A cursor over one payload.
struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
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

    #[inline]
    fn expect(&mut self, c: u8, what: &str) -> std::result::Result<(), Reject> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.syntax(what))
        }
    }

    /// Parses the field name at the current `"`; returns its column, if any.
    #[inline]
    fn field_name(
        &mut self,
        columns: &[Column],
        hint: usize,
        scratch: &mut Vec<u8>,
    ) -> std::result::Result<Option<usize>, Reject> {
        if let Some(c) = columns.get(hint).filter(|c| c.plain) {
            // A name without quotes, backslashes or control characters is in the payload
            // as it is, so its bytes and the closing quote are the whole string.
            let from = self.i + 1;
            if let Some(rest) = self.b.get(from..)
                && starts_with(rest, &c.quoted_name)
            {
                self.i = from + c.quoted_name.len();
                return Ok(Some(hint));
            }
        }
        scratch.clear();
        let b = self.b;
        let key = match self.string(scratch)? {
            Some((start, end)) => &b[start..end],
            None => &scratch[..],
        };
        Ok(match columns.get(hint) {
            Some(c) if c.name.as_bytes() == key => Some(hint),
            _ => columns.iter().position(|c| c.name.as_bytes() == key),
        })
    }

    /// Parses the string starting at the current `"`. Without escapes, returns where its
    /// text is in the payload; with them, appends the unescaped text to `out` and returns
    /// None. A string with non-ASCII bytes is checked to be UTF-8 (see the module doc).
    #[inline]
    fn string(&mut self, out: &mut Vec<u8>) -> std::result::Result<Option<(usize, usize)>, Reject> {
        self.i += 1;
        let start = self.i;
        let (end, high) = string_end(self.b, start);
        self.i = end;
        match self.peek() {
            None => Err(self.eof()),
            Some(b'"') => {
                self.i += 1;
                if high {
                    self.utf8(start, end)?;
                }
                Ok(Some((start, end)))
            }
            Some(b'\\') => {
                out.extend_from_slice(&self.b[start..end]);
                self.escaped(start, high, out).map(|()| None)
            }
            Some(_) => Err(self.syntax("control character in a string")),
        }
    }

    /// The rest of a string from its first backslash; `start` is where its text began.
    #[cold]
    fn escaped(
        &mut self,
        start: usize,
        mut high: bool,
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), Reject> {
        loop {
            match self.peek() {
                None => return Err(self.eof()),
                Some(b'"') => {
                    self.i += 1;
                    if high {
                        self.utf8(start, self.i - 1)?;
                    }
                    return Ok(());
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = match self.peek() {
                        None => return Err(self.eof()),
                        Some(b'"') => b'"',
                        Some(b'\\') => b'\\',
                        Some(b'/') => b'/',
                        Some(b'b') => 8,
                        Some(b'f') => 12,
                        Some(b'n') => b'\n',
                        Some(b'r') => b'\r',
                        Some(b't') => b'\t',
                        Some(b'u') => {
                            self.i += 1;
                            let c = self.unicode_escape()?;
                            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                            continue;
                        }
                        Some(_) => return Err(self.syntax("invalid escape")),
                    };
                    self.i += 1;
                    out.push(c);
                }
                Some(c) if c < 0x20 => return Err(self.syntax("control character in a string")),
                Some(_) => {
                    // Copy the run up to the next quote or backslash in one go.
                    let run = self.i;
                    let (end, run_high) = string_end(self.b, run);
                    high |= run_high;
                    self.i = end;
                    out.extend_from_slice(&self.b[run..end]);
                }
            }
        }
    }

    /// The character of a `\u` escape whose four hex digits start at the cursor, reading
    /// the low half of a surrogate pair too.
    fn unicode_escape(&mut self) -> std::result::Result<char, Reject> {
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
        char::from_u32(code).ok_or_else(|| self.syntax("unpaired surrogate in \\u escape"))
    }

    /// Checks that the string text `start..end` is UTF-8. The reason given when it is not
    /// is never seen: the caller reports the payload's invalid UTF-8 instead.
    #[cold]
    fn utf8(&self, start: usize, end: usize) -> std::result::Result<(), Reject> {
        match std::str::from_utf8(&self.b[start..end]) {
            Ok(_) => Ok(()),
            Err(_) => Err("not JSON: invalid UTF-8".to_string()),
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
    #[inline]
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

    /// Parses the value at the current position and appends it to `out`, `column`'s values;
    /// returns true if it was a string taken as a number.
    #[inline]
    fn value(
        &mut self,
        column: &Column,
        out: &mut Out,
        scratch: &mut Vec<u8>,
    ) -> std::result::Result<bool, Reject> {
        let start = self.i;
        let kind = column.kind;
        let b = self.b;
        match self.peek() {
            None => Err(self.eof()),
            Some(b'"') => {
                if let Data::Utf8 { offsets, values } = &mut out.data {
                    if let Some((s, e)) = self.string(values)? {
                        values.extend_from_slice(&b[s..e]);
                    }
                    // The decoder keeps a batch's JSON under 2 GiB, so this fits.
                    offsets.push(values.len() as i32);
                    out.valid.push(true);
                    return Ok(false);
                }
                scratch.clear();
                let text = match self.string(scratch)? {
                    Some((s, e)) => &b[s..e],
                    None => &scratch[..],
                };
                match &mut out.data {
                    Data::Timestamp(v) => match parse_timestamp(text) {
                        Some(ts) => {
                            v.push(ts);
                            out.valid.push(true);
                            Ok(false)
                        }
                        None => Err(self.mistyped(column, start, "is not a timestamp")),
                    },
                    Data::Boolean(_) => Err(self.mistyped(column, start, "is not a boolean")),
                    _ => match scan_number(text) {
                        Ok((len, integral)) if len == text.len() => {
                            self.numeric(column, out, text, integral, start)?;
                            Ok(true)
                        }
                        _ => Err(self.mistyped(column, start, not_a(kind))),
                    },
                }
            }
            Some(b'-' | b'0'..=b'9') => {
                let integral = self.number()?;
                match kind {
                    Kind::Utf8 => {
                        self.raw(out, start);
                        Ok(false)
                    }
                    Kind::Boolean | Kind::Timestamp => {
                        Err(self.mistyped(column, start, not_a(kind)))
                    }
                    _ => {
                        self.numeric(column, out, &b[start..self.i], integral, start)?;
                        Ok(false)
                    }
                }
            }
            Some(c @ (b't' | b'f')) => {
                self.literal(if c == b't' { b"true" } else { b"false" })?;
                match &mut out.data {
                    Data::Boolean(v) => {
                        v.push(c == b't');
                        out.valid.push(true);
                        Ok(false)
                    }
                    Data::Utf8 { .. } => {
                        self.raw(out, start);
                        Ok(false)
                    }
                    _ => Err(self.mistyped(column, start, not_a(kind))),
                }
            }
            Some(b'n') => {
                self.literal(b"null")?;
                out.push_null();
                Ok(false)
            }
            Some(b'{') => Err(format!("column {}: an object {}", column.name, not_a(kind))),
            Some(b'[') => Err(format!("column {}: an array {}", column.name, not_a(kind))),
            Some(_) => Err(self.syntax("expected a value")),
        }
    }

    /// Appends the payload bytes `start..self.i` (a number or boolean as written) as text.
    fn raw(&self, out: &mut Out, start: usize) {
        if let Data::Utf8 { offsets, values } = &mut out.data {
            values.extend_from_slice(&self.b[start..self.i]);
            offsets.push(values.len() as i32);
            out.valid.push(true);
        }
    }

    /// `column <name>: <the JSON value as written> <what>`, the value cut to 64 bytes.
    #[cold]
    fn mistyped(&self, column: &Column, start: usize, what: &str) -> Reject {
        let mut end = self.i.min(start + 64);
        // Back to a character boundary: not a UTF-8 continuation byte.
        while end > start && self.b.get(end).is_some_and(|c| (*c as i8) < -0x40) {
            end -= 1;
        }
        let cut = if end < self.i { "..." } else { "" };
        format!(
            "column {}: {}{cut} {what}",
            column.name,
            String::from_utf8_lossy(&self.b[start..end])
        )
    }

    /// Converts number text `v` (valid JSON number syntax) for a numeric column and appends
    /// it to `out`.
    #[inline]
    fn numeric(
        &self,
        column: &Column,
        out: &mut Out,
        v: &[u8],
        integral: bool,
        start: usize,
    ) -> std::result::Result<(), Reject> {
        let out_of_range = || {
            self.mistyped(
                column,
                start,
                &format!("is out of range for {}", column.kind.name()),
            )
        };
        // Number syntax is ASCII, so this never fails.
        let text = || std::str::from_utf8(v).map_err(|_| out_of_range());
        let int = |kind_min: i64, kind_max: i64| {
            let small = if integral { small_integer(v) } else { None };
            let n = match small {
                Some(n) => n,
                None => self.integer(column, text()?, integral, start)?,
            };
            if (kind_min..=kind_max).contains(&n) {
                Ok(n)
            } else {
                Err(out_of_range())
            }
        };
        match &mut out.data {
            Data::Float64(values) => match text()?.parse::<f64>() {
                Ok(f) if f.is_finite() => values.push(f),
                _ => return Err(out_of_range()),
            },
            Data::Float32(values) => match text()?.parse::<f32>() {
                Ok(f) if f.is_finite() => values.push(f),
                _ => return Err(out_of_range()),
            },
            // The range checks make these casts exact.
            Data::Int16(values) => values.push(int(i16::MIN.into(), i16::MAX.into())? as i16),
            Data::Int32(values) => values.push(int(i32::MIN.into(), i32::MAX.into())? as i32),
            Data::Int64(values) => values.push(int(i64::MIN, i64::MAX)?),
            Data::Boolean(_) | Data::Timestamp(_) | Data::Utf8 { .. } => {
                return Err(self.mistyped(column, start, not_a(column.kind)));
            }
        }
        out.valid.push(true);
        Ok(())
    }

    /// The integer written as `v`, for text that `small_integer` does not take.
    #[cold]
    fn integer(
        &self,
        column: &Column,
        v: &str,
        integral: bool,
        start: usize,
    ) -> std::result::Result<i64, Reject> {
        let out_of_range = || {
            self.mistyped(
                column,
                start,
                &format!("is out of range for {}", column.kind.name()),
            )
        };
        if integral {
            return v.parse::<i64>().map_err(|_| out_of_range());
        }
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
        Ok(f as i64)
    }

    /// Skips the value of an ignored field, checking that it is valid JSON.
    fn skip_value(
        &mut self,
        scratch: &mut Vec<u8>,
        stack: &mut Vec<u8>,
    ) -> std::result::Result<(), Reject> {
        stack.clear();
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
                            self.member_key(scratch)?;
                        }
                        continue;
                    }
                }
                Some(b'"') => {
                    scratch.clear();
                    self.string(scratch)?;
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
                            self.member_key(scratch)?;
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
    fn member_key(&mut self, scratch: &mut Vec<u8>) -> std::result::Result<(), Reject> {
        self.ws();
        match self.peek() {
            Some(b'"') => {
                scratch.clear();
                self.string(scratch)?;
            }
            None => return Err(self.eof()),
            Some(_) => return Err(self.syntax("expected a field name")),
        }
        self.ws();
        self.expect(b':', "expected ':' after a field name")
    }
}

/// `hay.starts_with(needle)` in eight-byte words: field names are a few words long, and
/// slice equality calls `memcmp`, which was 5% of a profile of the benchmark.
#[inline]
fn starts_with(hay: &[u8], needle: &[u8]) -> bool {
    let word = |b: &[u8], at: usize| -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[at..at + 8]);
        u64::from_le_bytes(w)
    };
    let n = needle.len();
    if hay.len() < n {
        return false;
    }
    if n < 8 {
        return hay.iter().zip(needle).all(|(a, b)| a == b);
    }
    let mut at = 0;
    while at + 8 < n {
        if word(hay, at) != word(needle, at) {
            return false;
        }
        at += 8;
    }
    // The last word may overlap the one before.
    word(hay, n - 8) == word(needle, n - 8)
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
