//! Grafana's PostgreSQL data source macros (`$__timeFilter`, `$__timeGroupAlias`, ...),
//! expanded as Grafana expands them before a query reaches the server, so tests can send a
//! dashboard's panel SQL exactly as Grafana would.

use std::time::Duration;

use chrono::{DateTime, Months, TimeDelta, Utc};

/// `sql` as Grafana's PostgreSQL data source sends it for a query over `from..to` with
/// `$__interval` = `interval`, TimescaleDB off (as `grafana/`'s data source is provisioned).
/// Errors carry Grafana's message for the same mistake.
///
/// Written from Grafana's source (`pkg/tsdb/grafana-postgresql-datasource/macros.go` and
/// `sqleng/sql_engine.go`, `backend/gtime` of grafana-plugin-sdk-go), in two passes as there:
///
/// 1. Plain replacements everywhere: `$__interval_ms` (milliseconds), then `$__interval`
///    (`10m`, `1s`, `200ms`: the largest whole unit), `$__unixEpochFrom()`, `$__unixEpochTo()`
///    (Unix seconds).
/// 2. Every `$name(args)` (name of ASCII letters, digits and `_`; args up to the first `)`,
///    split at commas, spaces trimmed), left to right:
///    - `$__time(c)` → `c AS "time"`; `$__timeEpoch(c)` → `extract(epoch from c) as "time"`;
///    - `$__timeFilter(c)` → `c BETWEEN 'FROM' AND 'TO'`, times in RFC 3339 with nanoseconds
///      as Go prints them in UTC (`2024-01-25T00:00:30.5Z`: no trailing zeros, `Z`);
///      `$__timeFrom()` / `$__timeTo()` → `'FROM'` / `'TO'`;
///    - `$__timeGroup(c, '5m'[, fill])` → `floor(extract(epoch from c)/300)*300`, the seconds as
///      Go's `%v` prints a float (`0.02`, `3600`, `1.0368e+06`); followed directly by a comma,
///      it gets ` AS "time"` as `$__timeGroupAlias` always does (Grafana's pre-5.3 form);
///    - `$__unixEpochFilter(c)` → `c >= FROM AND c <= TO` in seconds,
///      `$__unixEpochNanoFilter(c)` the same in nanoseconds, `$__unixEpochNanoFrom()` /
///      `$__unixEpochNanoTo()` the bounds alone;
///    - `$__unixEpochGroup(c, '5m')` → `floor((c)/300)*300`, `…Alias` adds ` AS "time"`;
///    - any other name is an error (`unknown macro "__x"`), so `$1` and `$__x` without
///      parentheses stay as they are.
///
/// The fill argument of `$__timeGroup` (`NULL`, `previous` or a number) only tells Grafana to
/// fill gaps after the query; it is checked and otherwise ignored here. Not modelled: the
/// `d`, `w`, `M`, `y` units of an interval are calendar steps from now in UTC (as Grafana's),
/// except that a year from 29 February ends on 28 February here and on 1 March in Go; and
/// Grafana 12's newest releases drop SQL comments before expanding macros.
pub fn expand_macros(
    sql: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    interval: Duration,
) -> Result<String, String> {
    let sql = sql
        .replace("$__interval_ms", &interval.as_millis().to_string())
        .replace("$__interval", &format_interval(interval))
        .replace("$__unixEpochFrom()", &from.timestamp().to_string())
        .replace("$__unixEpochTo()", &to.timestamp().to_string());
    let range = TimeRange { from, to };
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let Some((name, args, end)) = macro_call_at(&sql, i) else {
            i += 1;
            continue;
        };
        let mut name = name;
        if name == "__timeGroup" {
            // Grafana looks for the first occurrence of the whole call in the query and adds
            // the alias when a comma follows it.
            let call = &sql[i..end];
            let first = sql.find(call).expect("the call is in the query") + call.len();
            if bytes.get(first) == Some(&b',') {
                name = "__timeGroupAlias";
            }
        }
        let args: Vec<&str> = args.split(',').map(|a| a.trim_matches(' ')).collect();
        out.push_str(&sql[copied..i]);
        out.push_str(&evaluate_macro(name, &args, &range)?);
        copied = end;
        i = end;
    }
    out.push_str(&sql[copied..]);
    Ok(out)
}

/// A macro call `$name(args)` starting at byte `at`: its name, the text between the
/// parentheses and the byte after the `)`. None when `at` does not start one.
fn macro_call_at(sql: &str, at: usize) -> Option<(&str, &str, usize)> {
    let bytes = sql.as_bytes();
    if bytes[at] != b'$' {
        return None;
    }
    let name_start = at + 1;
    let name_end = name_start
        + bytes[name_start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
    if name_end == name_start || bytes.get(name_end) != Some(&b'(') {
        return None;
    }
    let args_start = name_end + 1;
    let close = args_start + sql[args_start..].find(')')?;
    Some((
        &sql[name_start..name_end],
        &sql[args_start..close],
        close + 1,
    ))
}

struct TimeRange {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

fn evaluate_macro(name: &str, args: &[&str], range: &TimeRange) -> Result<String, String> {
    let column = args[0];
    let (from, to) = (range.from, range.to);
    Ok(match name {
        "__time" => format!("{column} AS \"time\""),
        "__timeEpoch" => format!("extract(epoch from {column}) as \"time\""),
        "__timeFilter" => format!(
            "{column} BETWEEN '{}' AND '{}'",
            rfc3339_nano(from),
            rfc3339_nano(to)
        ),
        "__timeFrom" => format!("'{}'", rfc3339_nano(from)),
        "__timeTo" => format!("'{}'", rfc3339_nano(to)),
        "__timeGroup" => {
            let seconds = group_seconds(name, args)?;
            format!("floor(extract(epoch from {column})/{seconds})*{seconds}")
        }
        "__timeGroupAlias" => format!(
            "{} AS \"time\"",
            evaluate_macro("__timeGroup", args, range)?
        ),
        "__unixEpochFilter" => format!(
            "{column} >= {} AND {column} <= {}",
            from.timestamp(),
            to.timestamp()
        ),
        "__unixEpochNanoFilter" => format!(
            "{column} >= {} AND {column} <= {}",
            unix_nanos(from),
            unix_nanos(to)
        ),
        "__unixEpochNanoFrom" => unix_nanos(from).to_string(),
        "__unixEpochNanoTo" => unix_nanos(to).to_string(),
        "__unixEpochGroup" => {
            let seconds = group_seconds(name, args)?;
            format!("floor(({column})/{seconds})*{seconds}")
        }
        "__unixEpochGroupAlias" => format!(
            "{} AS \"time\"",
            evaluate_macro("__unixEpochGroup", args, range)?
        ),
        _ => return Err(format!("unknown macro {name:?}")),
    })
}

/// The interval argument of a grouping macro in seconds, as Go's `%v` prints it; checks the
/// optional fill argument as Grafana does.
fn group_seconds(name: &str, args: &[&str]) -> Result<String, String> {
    if args.len() < 2 {
        return Err(format!(
            "macro {name} needs time column and interval and optional fill value"
        ));
    }
    let interval = parse_interval(args[1].trim_matches('\''), Utc::now())
        .ok_or_else(|| format!("error parsing interval {}", args[1]))?;
    if let Some(fill) = args.get(2)
        && *fill != "NULL"
        && *fill != "previous"
        && fill.parse::<f64>().is_err()
    {
        return Err(format!("error parsing fill value {fill}"));
    }
    Ok(go_float(seconds(interval)))
}

/// Nanoseconds as a signed count, as Go's `time.Duration` holds them.
type Nanos = i128;

/// Go's `Duration.Seconds()`: whole seconds plus the remainder, as a float.
fn seconds(nanos: Nanos) -> f64 {
    (nanos / 1_000_000_000) as f64 + (nanos % 1_000_000_000) as f64 / 1e9
}

/// gtime's `ParseInterval`: `<digits>d|w|M|y` as calendar steps from `now` (UTC), anything
/// else as a Go duration.
fn parse_interval(text: &str, now: DateTime<Utc>) -> Option<Nanos> {
    let unit = text.chars().last()?;
    let digits = &text[..text.len() - unit.len_utf8()];
    if matches!(unit, 'd' | 'w' | 'M' | 'y')
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        let n: u32 = digits.parse().ok()?;
        let later = match unit {
            'd' => now + TimeDelta::days(i64::from(n)),
            'w' => now + TimeDelta::days(7 * i64::from(n)),
            'M' => now.checked_add_months(Months::new(n))?,
            _ => now.checked_add_months(Months::new(n.checked_mul(12)?))?,
        };
        return Some(Nanos::from((later - now).num_nanoseconds()?));
    }
    parse_go_duration(text)
}

/// Go's `time.ParseDuration`: an optional sign, then one or more decimal numbers each with a
/// unit (`ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`), or a bare `0`.
fn parse_go_duration(text: &str) -> Option<Nanos> {
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: Nanos = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int: Nanos = if int_len == 0 {
            0
        } else {
            rest[..int_len].parse().ok()?
        };
        rest = &rest[int_len..];
        let mut fraction = 0.0;
        let mut fraction_len = 0;
        if let Some(after_dot) = rest.strip_prefix('.') {
            fraction_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            if fraction_len > 0 {
                fraction = format!("0.{}", &after_dot[..fraction_len]).parse().ok()?;
            }
            rest = &after_dot[fraction_len..];
        }
        if int_len == 0 && fraction_len == 0 {
            return None;
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let unit: Nanos = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += int * unit + (fraction * unit as f64) as Nanos;
    }
    Some(if negative { -total } else { total })
}

/// gtime's `FormatInterval`: the largest unit of which the interval holds one or more, whole
/// (`1y`, `2d`, `3h`, `10m`, `1s`, `200ms`), and `1ms` below a millisecond.
fn format_interval(interval: Duration) -> String {
    const MINUTE: u128 = 60_000;
    const HOUR: u128 = 60 * MINUTE;
    const DAY: u128 = 24 * HOUR;
    const YEAR: u128 = 365 * DAY;
    let ms = interval.as_millis();
    for (size, unit) in [
        (YEAR, "y"),
        (DAY, "d"),
        (HOUR, "h"),
        (MINUTE, "m"),
        (1000, "s"),
        (1, "ms"),
    ] {
        if ms >= size {
            return format!("{}{unit}", ms / size);
        }
    }
    "1ms".into()
}

/// Go's `%v` of a float64: the shortest digits that read back the same, in exponent form
/// (`1e+06`, `5e-05`) when the decimal exponent is below -4 or 6 and above.
fn go_float(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("Rust's {:e} has an exponent");
    let exponent: i32 = exponent.parse().expect("the exponent is a number");
    if (-4..6).contains(&exponent) {
        format!("{value}")
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

/// Go's `t.UTC().Format(time.RFC3339Nano)`: the fraction without trailing zeros (none when
/// zero), `Z` for UTC.
fn rfc3339_nano(t: DateTime<Utc>) -> String {
    let mut out = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

fn unix_nanos(t: DateTime<Utc>) -> i128 {
    i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos())
}

// ---------------------------------------------------------------------------------------------
// The dashboard and the data source files
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    /// 2018-04-12 18:00 to 18:05, the range of Grafana's own macro tests.
    fn expand(sql: &str) -> Result<String, String> {
        let from = at(2018, 4, 12, 18, 0, 0);
        expand_macros(
            sql,
            from,
            from + TimeDelta::seconds(300),
            Duration::from_secs(600),
        )
    }

    #[test]
    fn time_filter_is_between_rfc3339_bounds_in_utc() {
        assert_eq!(
            expand("WHERE $__timeFilter(time_column)").unwrap(),
            "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'"
        );
        let from = at(2024, 1, 25, 0, 0, 30) + TimeDelta::milliseconds(500);
        let to = at(2024, 1, 25, 0, 4, 0);
        let interval = Duration::from_millis(200);
        assert_eq!(
            expand_macros("$__timeFilter(window_start)", from, to, interval).unwrap(),
            "window_start BETWEEN '2024-01-25T00:00:30.5Z' AND '2024-01-25T00:04:00Z'"
        );
        let odd = at(1960, 2, 1, 7, 0, 0) + TimeDelta::nanoseconds(123_456_780);
        assert_eq!(rfc3339_nano(odd), "1960-02-01T07:00:00.12345678Z");
        assert_eq!(expand("$__timeFrom()").unwrap(), "'2018-04-12T18:00:00Z'");
        assert_eq!(expand("$__timeTo()").unwrap(), "'2018-04-12T18:05:00Z'");
    }

    #[test]
    fn time_columns() {
        assert_eq!(
            expand("select $__time(time_column)").unwrap(),
            "select time_column AS \"time\""
        );
        assert_eq!(
            expand("select min($__time(time_column))").unwrap(),
            "select min(time_column AS \"time\")"
        );
        assert_eq!(
            expand("select $__timeEpoch(t)").unwrap(),
            "select extract(epoch from t) as \"time\""
        );
    }

    #[test]
    fn time_group_floors_epoch_seconds() {
        assert_eq!(
            expand("SELECT $__timeGroup(time_column,'5m')").unwrap(),
            "SELECT floor(extract(epoch from time_column)/300)*300"
        );
        assert_eq!(
            expand("SELECT $__timeGroupAlias(time_column,'5m')").unwrap(),
            "SELECT floor(extract(epoch from time_column)/300)*300 AS \"time\""
        );
        assert_eq!(
            expand("$__timeGroupAlias(window_start, '1m')").unwrap(),
            "floor(extract(epoch from window_start)/60)*60 AS \"time\""
        );
        assert_eq!(
            expand("$__timeGroup(time_column , '5m')").unwrap(),
            "floor(extract(epoch from time_column)/300)*300"
        );
        // Seconds as Go's %v prints them.
        assert_eq!(
            expand("$__timeGroup(t, '20ms')").unwrap(),
            "floor(extract(epoch from t)/0.02)*0.02"
        );
        assert_eq!(
            expand("$__timeGroup(t, '1h30m')").unwrap(),
            "floor(extract(epoch from t)/5400)*5400"
        );
        assert_eq!(
            expand("$__timeGroup(t, '1d')").unwrap(),
            "floor(extract(epoch from t)/86400)*86400"
        );
        assert_eq!(
            expand("$__timeGroup(t, '12d')").unwrap(),
            "floor(extract(epoch from t)/1.0368e+06)*1.0368e+06"
        );
        assert_eq!(
            expand("$__timeGroup(t, '50us')").unwrap(),
            "floor(extract(epoch from t)/5e-05)*5e-05"
        );
        // A fill value is Grafana's business after the query.
        assert_eq!(
            expand("$__timeGroup(t, '5m', previous)").unwrap(),
            "floor(extract(epoch from t)/300)*300"
        );
        assert_eq!(
            expand("$__timeGroup(t, '5m', 0)").unwrap(),
            "floor(extract(epoch from t)/300)*300"
        );
    }

    #[test]
    fn time_group_followed_by_a_comma_is_aliased() {
        assert_eq!(
            expand("SELECT $__timeGroup(time_column,'5m'), value").unwrap(),
            "SELECT floor(extract(epoch from time_column)/300)*300 AS \"time\", value"
        );
        assert_eq!(
            expand("SELECT $__timeGroup(time_column,'5m') as time, value").unwrap(),
            "SELECT floor(extract(epoch from time_column)/300)*300 as time, value"
        );
    }

    #[test]
    fn unix_epoch_macros() {
        assert_eq!(
            expand("select $__unixEpochFilter(time)").unwrap(),
            "select time >= 1523556000 AND time <= 1523556300"
        );
        assert_eq!(
            expand("select $__unixEpochNanoFilter(time)").unwrap(),
            "select time >= 1523556000000000000 AND time <= 1523556300000000000"
        );
        assert_eq!(
            expand("select $__unixEpochNanoFrom(), $__unixEpochNanoTo()").unwrap(),
            "select 1523556000000000000, 1523556300000000000"
        );
        assert_eq!(
            expand("select $__unixEpochFrom(), $__unixEpochTo()").unwrap(),
            "select 1523556000, 1523556300"
        );
        assert_eq!(
            expand("SELECT $__unixEpochGroup(time_column+time_adjustment,'5m')").unwrap(),
            "SELECT floor((time_column+time_adjustment)/300)*300"
        );
        assert_eq!(
            expand("SELECT $__unixEpochGroupAlias(time_column+time_adjustment,'5m')").unwrap(),
            "SELECT floor((time_column+time_adjustment)/300)*300 AS \"time\""
        );
        let before_1970 = at(1960, 2, 1, 7, 0, 0);
        assert_eq!(
            expand_macros(
                "$__unixEpochFilter(t)",
                before_1970,
                at(1965, 2, 3, 8, 0, 0),
                Duration::from_millis(200)
            )
            .unwrap(),
            "t >= -312915600 AND t <= -154886400"
        );
    }

    #[test]
    fn interval_variables() {
        assert_eq!(
            expand("SELECT $__interval, $__interval_ms").unwrap(),
            "SELECT 10m, 600000"
        );
        assert_eq!(format_interval(Duration::from_millis(1500)), "1s");
        assert_eq!(format_interval(Duration::from_millis(200)), "200ms");
        assert_eq!(format_interval(Duration::from_micros(10)), "1ms");
        assert_eq!(format_interval(Duration::from_secs(2 * 86_400 + 5)), "2d");
        assert_eq!(format_interval(Duration::from_secs(400 * 86_400)), "1y");
    }

    #[test]
    fn macros_expand_left_to_right_and_leave_other_dollars() {
        assert_eq!(
            expand("SELECT $1, $name, $__x FROM t WHERE $__timeFilter(a) AND $__timeFilter(b)")
                .unwrap(),
            "SELECT $1, $name, $__x FROM t WHERE \
             a BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z' AND \
             b BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'"
        );
        assert_eq!(
            expand("SELECT '$__timeFilter(").unwrap(),
            "SELECT '$__timeFilter("
        );
    }

    #[test]
    fn macro_errors() {
        assert_eq!(
            expand("$__nope(x)").unwrap_err(),
            "unknown macro \"__nope\""
        );
        assert_eq!(
            expand("$__timeGroup(t)").unwrap_err(),
            "macro __timeGroup needs time column and interval and optional fill value"
        );
        assert_eq!(
            expand("$__timeGroup(t, 'soon')").unwrap_err(),
            "error parsing interval 'soon'"
        );
        assert_eq!(
            expand("$__timeGroup(t, '5m', lots)").unwrap_err(),
            "error parsing fill value lots"
        );
    }

    #[test]
    fn durations_parse_as_go_parses_them() {
        assert_eq!(parse_go_duration("1m"), Some(60_000_000_000));
        assert_eq!(parse_go_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(parse_go_duration("2h45m0.5s"), Some(9_900_500_000_000));
        assert_eq!(parse_go_duration("300ms"), Some(300_000_000));
        assert_eq!(parse_go_duration("-1µs"), Some(-1_000));
        assert_eq!(parse_go_duration("0"), Some(0));
        assert_eq!(parse_go_duration("5"), None);
        assert_eq!(parse_go_duration("m"), None);
        assert_eq!(parse_go_duration(""), None);
        let leap = at(2024, 2, 1, 0, 0, 0);
        assert_eq!(
            parse_interval("1M", leap),
            Some(29 * 86_400 * 1_000_000_000)
        );
        assert_eq!(
            parse_interval("2w", leap),
            Some(14 * 86_400 * 1_000_000_000)
        );
        assert_eq!(go_float(60.0), "60");
        assert_eq!(go_float(123_456.0), "123456");
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(1e-21), "1e-21");
    }
}
