//! Byte-level scanners for the parser: where a string's text ends, JSON number syntax, and
//! timestamp text.

/// The first byte at or after `from` that ends a run of plain string text (`"`, `\` or a
/// control character), or `b.len()` if there is none; and whether a non-ASCII byte came
/// before it (the caller then checks that stretch is UTF-8, see `Parser::string`).
#[inline]
pub(super) fn string_end(b: &[u8], from: usize) -> (usize, bool) {
    #[cfg(target_arch = "x86_64")]
    {
        sse2::string_end(b, from)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        swar::string_end(b, from)
    }
}

/// One byte at a time, for the last few bytes of a payload that a wide load would overrun.
#[inline]
fn string_end_bytes(b: &[u8], from: usize, mut high: bool) -> (usize, bool) {
    let mut i = from;
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            break;
        }
        high |= c >= 0x80;
        i += 1;
    }
    (i, high)
}

// x86_64 always has SSE2: 16 bytes per step instead of the 8 of a u64 word, and most of a
// record's bytes are in strings (user agents, URLs).
#[cfg(target_arch = "x86_64")]
mod sse2 {
    use core::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };

    #[inline]
    pub(super) fn string_end(b: &[u8], from: usize) -> (usize, bool) {
        let mut i = from;
        let mut high = false;
        while let Some(chunk) = b.get(i..i + 16) {
            // SAFETY: SSE2 is part of the x86_64 baseline, and the unaligned load reads the
            // 16 bytes of `chunk`, which are in bounds.
            let (special, top) = unsafe {
                let x = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
                let quote = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'"' as i8));
                let backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\\' as i8));
                // Unsigned x <= 0x1f exactly when max(x, 0x1f) is 0x1f.
                let limit = _mm_set1_epi8(0x1f);
                let control = _mm_cmpeq_epi8(_mm_max_epu8(x, limit), limit);
                let special = _mm_or_si128(_mm_or_si128(quote, backslash), control);
                (
                    _mm_movemask_epi8(special) as u32,
                    _mm_movemask_epi8(x) as u32,
                )
            };
            if special != 0 {
                let at = special.trailing_zeros();
                high |= top & ((1 << at) - 1) != 0;
                return (i + at as usize, high);
            }
            high |= top != 0;
            i += 16;
        }
        super::string_end_bytes(b, i, high)
    }
}

// Eight bytes at a time in a u64, for targets without the SSE2 path.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
mod swar {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;

    /// High bit set in each byte of `x` below `n` (n <= 0x80). A borrow can also mark a
    /// byte above a marked one, never below: the lowest mark is exact, which is all we use.
    #[inline]
    fn below(x: u64, n: u8) -> u64 {
        x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS
    }

    #[inline]
    pub(super) fn string_end(b: &[u8], from: usize) -> (usize, bool) {
        let mut i = from;
        let mut high = false;
        while let Some(chunk) = b.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let x = u64::from_le_bytes(word);
            let special = below(x ^ (ONES * u64::from(b'"')), 1)
                | below(x ^ (ONES * u64::from(b'\\')), 1)
                | below(x, 0x20);
            if special != 0 {
                let at = special.trailing_zeros() / 8;
                let before = (1u64 << (at * 8)) - 1;
                high |= x & HIGHS & before != 0;
                return (i + at as usize, high);
            }
            high |= x & HIGHS != 0;
            i += 8;
        }
        super::string_end_bytes(b, i, high)
    }
}

/// Scans a JSON number (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`) at the start of `b`.
/// Returns its length and whether it is integral syntax (no fraction, no exponent), or the
/// offset of the first bad byte.
pub(super) fn scan_number(b: &[u8]) -> std::result::Result<(usize, bool), usize> {
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

/// The value of integral number text (as `scan_number` accepted it) short enough that it
/// cannot overflow an i64, without going through `str::parse`.
#[inline]
pub(super) fn small_integer(v: &[u8]) -> Option<i64> {
    let (negative, digits) = match v.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, v),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut n = 0i64;
    for &d in digits {
        n = n * 10 + i64::from(d.wrapping_sub(b'0'));
    }
    Some(if negative { -n } else { n })
}

/// Parses `YYYY-MM-DD(T|t| )HH:MM:SS[.f{1,9}][Z|z|±HH:MM]` to micros since the epoch, UTC.
pub(super) fn parse_timestamp(b: &[u8]) -> Option<i64> {
    fn num(b: &[u8], at: usize, len: usize) -> Option<u32> {
        let digits = b.get(at..at + len)?;
        digits.iter().try_fold(0u32, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    }
    let head = b.get(..19)?;
    if !(head[4] == b'-' && head[7] == b'-' && head[13] == b':' && head[16] == b':') {
        return None;
    }
    if !matches!(head[10], b'T' | b't' | b' ') {
        return None;
    }
    let (year, month, day) = (num(head, 0, 4)?, num(head, 5, 2)?, num(head, 8, 2)?);
    let (hour, minute, second) = (num(head, 11, 2)?, num(head, 14, 2)?, num(head, 17, 2)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let seconds =
        days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    let mut micros = seconds * 1_000_000;
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

// Our own calendar arithmetic rather than chrono's NaiveDate: the fields are split and
// range-checked here already, and going through NaiveDate and NaiveDateTime only to read
// back seconds since the epoch checks them again. Years are 0..=9999 (four digits),
// proleptic Gregorian as in chrono; `calendar_agrees_with_chrono` holds the two together.
fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given date (Gregorian; negative before the epoch).
fn days_from_civil(year: u32, month: u32, day: u32) -> i64 {
    // Count from March 1 of year 0 shifted by 400-year eras, so the leap day ends a year.
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let m = i64::from(month);
    let day_of_year = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn string_end_agrees_with_a_byte_loop() {
        let mut text = Vec::new();
        for i in 0..200u32 {
            text.push(b"abcdef \xc3\xa9xyz"[i as usize % 12]);
        }
        for special in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
            for at in 0..text.len() {
                let mut b = text.clone();
                b[at] = special;
                for from in [0, 1, 7, 15, 16, 17, at.saturating_sub(3), at] {
                    let want = string_end_bytes(&b, from, false);
                    assert_eq!(string_end(&b, from), want, "{special} at {at} from {from}");
                    assert_eq!(
                        swar::string_end(&b, from),
                        want,
                        "{special} at {at} from {from}"
                    );
                }
            }
        }
        for len in 0..40 {
            let b = &text[..len];
            assert_eq!(string_end(b, 0), string_end_bytes(b, 0, false));
            assert_eq!(swar::string_end(b, 0), string_end_bytes(b, 0, false));
        }
    }

    #[test]
    fn calendar_agrees_with_chrono() {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        for year in (0..=9999)
            .step_by(7)
            .chain([0, 1900, 1970, 2000, 2024, 2100, 9999])
        {
            for month in 1..=12 {
                for day in 1..=31 {
                    let ours = (day <= days_in_month(year, month))
                        .then(|| days_from_civil(year, month, day));
                    let theirs = NaiveDate::from_ymd_opt(year as i32, month, day)
                        .map(|d| (d - epoch).num_days());
                    assert_eq!(ours, theirs, "{year}-{month}-{day}");
                }
            }
        }
    }
}
