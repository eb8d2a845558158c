//! The `datagen.*` options: parsing, validation and their defaults.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime};

use crate::error::{ConnectorError, Result};

/// Seed for every generated value (u64, default 0).
pub const OPT_SEED: &str = "datagen.seed";
/// Wall-clock pacing in rows per second (f64 > 0).
pub const OPT_ROWS_PER_SECOND: &str = "datagen.rows.per.second";
/// Stop after this many rows (u64).
pub const OPT_ROWS_TOTAL: &str = "datagen.rows.total";
/// Simulated event time of row 0 (`YYYY-MM-DD HH:MM:SS[.ffffff]`, taken as UTC, or RFC 3339).
pub const OPT_EVENT_TIME_START: &str = "datagen.event.time.start";
/// Events per simulated second (f64 > 0); required together with the start.
pub const OPT_EVENT_TIME_RATE: &str = "datagen.event.time.rate";

/// Every option datagen accepts.
pub const DATAGEN_OPTIONS: [&str; 5] = [
    OPT_SEED,
    OPT_ROWS_PER_SECOND,
    OPT_ROWS_TOTAL,
    OPT_EVENT_TIME_START,
    OPT_EVENT_TIME_RATE,
];

/// Pace of an unbounded source with no explicit rate, so a demo source does not flood the engine.
pub const DEFAULT_ROWS_PER_SECOND: f64 = 10.0;

/// Rates are capped so the exact rational arithmetic in [`Rate::offset_micros`] cannot overflow.
const MAX_RATE: f64 = 1e12;
/// Rates keep at most this many decimal places (exactly; more are truncated).
const RATE_DECIMALS: u32 = 9;

/// A positive rate in rows per second, kept as an exact fraction `num / den` so that
/// "row i happens i / rate seconds after row 0" is computed with integers and never drifts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rate {
    num: u128,
    den: u128,
    value: f64,
}

impl Rate {
    /// One row per microsecond: the spacing for sources delivered as fast as possible.
    pub(crate) const PER_MICROSECOND: Rate = Rate {
        num: 1_000_000,
        den: 1,
        value: 1e6,
    };

    /// [`DEFAULT_ROWS_PER_SECOND`] as a rate.
    pub(crate) const DEFAULT_PACE: Rate = Rate {
        num: DEFAULT_ROWS_PER_SECOND as u128,
        den: 1,
        value: DEFAULT_ROWS_PER_SECOND,
    };

    pub(crate) fn value(self) -> f64 {
        self.value
    }

    /// Microseconds from row 0 to row `row`: floor(row * 1e6 / rate), saturating.
    pub(crate) fn offset_micros(self, row: u64) -> i64 {
        let micros = u128::from(row) * 1_000_000 * self.den / self.num;
        i64::try_from(micros).unwrap_or(i64::MAX)
    }

    fn parse(option: &str, text: &str) -> Result<Rate> {
        let expected = || {
            ConnectorError::bad_option(
                option,
                format!("expected a positive number of rows per second, got '{text}'"),
            )
        };
        let text = text.trim();
        let value: f64 = text.parse().map_err(|_| expected())?;
        if !value.is_finite() || value <= 0.0 {
            return Err(expected());
        }
        if value > MAX_RATE {
            return Err(ConnectorError::bad_option(
                option,
                format!("rate {text} is too large (at most {MAX_RATE:e})"),
            ));
        }
        let (num, den) = exact_decimal(text).unwrap_or_else(|| {
            // Exponent notation and the like: fall back to RATE_DECIMALS places of the f64.
            let den = 10u128.pow(RATE_DECIMALS);
            ((value * den as f64) as u128, den)
        });
        if num == 0 {
            return Err(ConnectorError::bad_option(
                option,
                format!("rate {text} is too small (at least 1e-{RATE_DECIMALS})"),
            ));
        }
        Ok(Rate { num, den, value })
    }
}

/// `digits[.digits]` as an exact fraction, truncated to RATE_DECIMALS places; None for any other
/// spelling.
fn exact_decimal(text: &str) -> Option<(u128, u128)> {
    let (int_part, frac_part) = text.split_once('.').unwrap_or((text, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int_part.is_empty() && frac_part.is_empty()
        || !all_digits(int_part)
        || !all_digits(frac_part)
    {
        return None;
    }
    let frac_part = &frac_part[..frac_part.len().min(RATE_DECIMALS as usize)];
    let den = 10u128.pow(frac_part.len() as u32);
    let int: u128 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().ok()?
    };
    let frac: u128 = if frac_part.is_empty() {
        0
    } else {
        frac_part.parse().ok()?
    };
    Some((int.checked_mul(den)?.checked_add(frac)?, den))
}

/// Simulated event time: row i happens at `start + i / rate`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct EventTime {
    pub(crate) start_micros: i64,
    pub(crate) rate: Rate,
}

/// Validated datagen options.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DatagenOptions {
    pub(crate) seed: u64,
    /// None = deliver as fast as possible.
    pub(crate) rows_per_second: Option<Rate>,
    pub(crate) total_rows: Option<u64>,
    /// None = wall-clock mode: event time follows delivery.
    pub(crate) event_time: Option<EventTime>,
}

impl DatagenOptions {
    pub(crate) fn parse(options: &BTreeMap<String, String>) -> Result<Self> {
        for key in options.keys() {
            if key != "connector" && !DATAGEN_OPTIONS.contains(&key.as_str()) {
                return Err(ConnectorError::bad_option(
                    key,
                    format!(
                        "unknown datagen option; known options: {}",
                        DATAGEN_OPTIONS.join(", ")
                    ),
                ));
            }
        }
        let get = |key: &str| options.get(key).map(String::as_str);

        let seed = get(OPT_SEED)
            .map(|v| parse_u64(OPT_SEED, v))
            .transpose()?
            .unwrap_or(0);
        let total_rows = get(OPT_ROWS_TOTAL)
            .map(|v| parse_u64(OPT_ROWS_TOTAL, v))
            .transpose()?;
        let explicit_rate = get(OPT_ROWS_PER_SECOND)
            .map(|v| Rate::parse(OPT_ROWS_PER_SECOND, v))
            .transpose()?;
        let rows_per_second = match (explicit_rate, total_rows) {
            (Some(rate), _) => Some(rate),
            (None, Some(_)) => None,
            (None, None) => Some(Rate::DEFAULT_PACE),
        };

        let event_time = match (get(OPT_EVENT_TIME_START), get(OPT_EVENT_TIME_RATE)) {
            (None, None) => None,
            (Some(start), Some(rate)) => Some(EventTime {
                start_micros: parse_timestamp(OPT_EVENT_TIME_START, start)?,
                rate: Rate::parse(OPT_EVENT_TIME_RATE, rate)?,
            }),
            (Some(_), None) => {
                return Err(ConnectorError::bad_option(
                    OPT_EVENT_TIME_RATE,
                    format!("required when {OPT_EVENT_TIME_START} is given"),
                ));
            }
            (None, Some(_)) => {
                return Err(ConnectorError::bad_option(
                    OPT_EVENT_TIME_START,
                    format!("required when {OPT_EVENT_TIME_RATE} is given"),
                ));
            }
        };

        Ok(Self {
            seed,
            rows_per_second,
            total_rows,
            event_time,
        })
    }
}

fn parse_u64(option: &str, text: &str) -> Result<u64> {
    text.trim().parse().map_err(|_| {
        ConnectorError::bad_option(
            option,
            format!("expected an unsigned 64-bit integer, got '{text}'"),
        )
    })
}

/// Microseconds since the Unix epoch. Zone-less text is taken as UTC, like Arrow's zone-less
/// timestamps; sub-microsecond digits are truncated.
fn parse_timestamp(option: &str, text: &str) -> Result<i64> {
    let trimmed = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(trimmed) {
        return Ok(t.timestamp_micros());
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(trimmed, format) {
            return Ok(t.and_utc().timestamp_micros());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(trimmed, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc().timestamp_micros());
    }
    Err(ConnectorError::bad_option(
        option,
        format!(
            "expected a timestamp like '2024-01-31 12:00:00[.ffffff]' or RFC 3339, got '{text}'"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> Result<DatagenOptions> {
        DatagenOptions::parse(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn bad_option_key(r: Result<DatagenOptions>) -> String {
        match r {
            Err(ConnectorError::BadOption { option, .. }) => option,
            other => panic!("expected BadOption, got {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let o = opts(&[]).unwrap();
        assert_eq!(o.seed, 0);
        assert_eq!(o.total_rows, None);
        assert_eq!(o.event_time, None);
        assert_eq!(
            o.rows_per_second.map(Rate::value),
            Some(DEFAULT_ROWS_PER_SECOND)
        );
    }

    #[test]
    fn bounded_without_rate_is_unpaced() {
        let o = opts(&[(OPT_ROWS_TOTAL, "100")]).unwrap();
        assert_eq!(o.total_rows, Some(100));
        assert_eq!(o.rows_per_second, None);
        let o = opts(&[(OPT_ROWS_TOTAL, "100"), (OPT_ROWS_PER_SECOND, "2.5")]).unwrap();
        assert_eq!(o.rows_per_second.map(Rate::value), Some(2.5));
    }

    #[test]
    fn unknown_option_is_named() {
        assert_eq!(bad_option_key(opts(&[("datagen.sed", "1")])), "datagen.sed");
        assert!(opts(&[("connector", "datagen")]).is_ok());
    }

    #[test]
    fn bad_values_are_named() {
        for (key, value) in [
            (OPT_SEED, "-1"),
            (OPT_SEED, "abc"),
            (OPT_ROWS_TOTAL, "1.5"),
            (OPT_ROWS_PER_SECOND, "0"),
            (OPT_ROWS_PER_SECOND, "-3"),
            (OPT_ROWS_PER_SECOND, "NaN"),
            (OPT_ROWS_PER_SECOND, "inf"),
            (OPT_ROWS_PER_SECOND, "1e300"),
            (OPT_ROWS_PER_SECOND, "1e-20"),
        ] {
            assert_eq!(bad_option_key(opts(&[(key, value)])), key, "{key}={value}");
        }
        let bad_start = opts(&[
            (OPT_EVENT_TIME_START, "yesterday"),
            (OPT_EVENT_TIME_RATE, "10"),
        ]);
        assert_eq!(bad_option_key(bad_start), OPT_EVENT_TIME_START);
    }

    #[test]
    fn event_time_needs_both_options() {
        let only_start = opts(&[(OPT_EVENT_TIME_START, "2024-01-01 00:00:00")]);
        assert_eq!(bad_option_key(only_start), OPT_EVENT_TIME_RATE);
        let only_rate = opts(&[(OPT_EVENT_TIME_RATE, "10")]);
        assert_eq!(bad_option_key(only_rate), OPT_EVENT_TIME_START);
    }

    #[test]
    fn timestamp_formats() {
        let base = parse_timestamp("o", "2024-01-01 00:00:00").unwrap();
        assert_eq!(base, 1_704_067_200_000_000);
        assert_eq!(
            parse_timestamp("o", "2024-01-01 00:00:00.25").unwrap(),
            base + 250_000
        );
        assert_eq!(parse_timestamp("o", "2024-01-01T00:00:00").unwrap(), base);
        assert_eq!(
            parse_timestamp("o", "2024-01-01T02:00:00+02:00").unwrap(),
            base
        );
        assert_eq!(parse_timestamp("o", "2024-01-01T00:00:00Z").unwrap(), base);
        assert_eq!(parse_timestamp("o", "2024-01-01").unwrap(), base);
    }

    #[test]
    fn rates_are_exact_fractions() {
        let r = Rate::parse("o", "3").unwrap();
        assert_eq!(r.offset_micros(1), 333_333);
        assert_eq!(r.offset_micros(3), 1_000_000);
        let r = Rate::parse("o", "0.1").unwrap();
        assert_eq!(r.offset_micros(1), 10_000_000);
        let r = Rate::parse("o", "1e3").unwrap();
        assert_eq!(r.offset_micros(1000), 1_000_000);
        let r = Rate::parse("o", "1000").unwrap();
        assert_eq!(r.offset_micros(123_456_789), 123_456_789_000);
        assert_eq!(r.offset_micros(u64::MAX), i64::MAX);
    }
}
