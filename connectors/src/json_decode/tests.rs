use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{
    DataType, Field, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Schema, TimeUnit,
    TimestampMicrosecondType,
};
use chrono::{TimeZone, Utc};

use super::*;

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

fn tstz_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
}

fn decoder(fields: &[(&str, DataType)]) -> JsonDecoder {
    let fields: Vec<Field> = fields
        .iter()
        .map(|(n, t)| Field::new(*n, t.clone(), true))
        .collect();
    JsonDecoder::new(Arc::new(Schema::new(fields))).unwrap()
}

fn run(d: &mut JsonDecoder, payloads: &[&str]) -> Decoded {
    let raw: Vec<&[u8]> = payloads.iter().map(|p| p.as_bytes()).collect();
    d.decode(&raw).unwrap()
}

/// Decodes one payload into a one-column schema and returns the outcome.
fn one(t: DataType, payload: &str) -> Decoded {
    run(&mut decoder(&[("v", t)]), &[payload])
}

/// The reason a single payload was rejected.
fn reason(t: DataType, payload: &str) -> String {
    let d = one(t, payload);
    assert_eq!(d.batch.num_rows(), 0, "{payload} was accepted");
    assert_eq!(d.rejected.len(), 1);
    d.rejected[0].reason.clone()
}

fn micros(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
        .unwrap()
        .timestamp_micros()
}

fn ts_value(t: DataType, v: &str) -> i64 {
    let d = one(t, &format!(r#"{{"v": "{v}"}}"#));
    assert!(d.rejected.is_empty(), "{v}: {:?}", d.rejected);
    d.batch
        .column(0)
        .as_primitive::<TimestampMicrosecondType>()
        .value(0)
}

fn strings(d: &Decoded, col: usize) -> Vec<Option<String>> {
    d.batch
        .column(col)
        .as_string::<i32>()
        .iter()
        .map(|s| s.map(str::to_string))
        .collect()
}

#[test]
fn integers_from_numbers_with_exact_values() {
    let mut d = decoder(&[
        ("a", DataType::Int16),
        ("b", DataType::Int32),
        ("c", DataType::Int64),
    ]);
    let out = run(
        &mut d,
        &[
            r#"{"a": -32768, "b": 2147483647, "c": -9223372036854775808}"#,
            r#"{"a": 0, "b": -7, "c": 9223372036854775807}"#,
            r#"{"a": 4.0, "b": 1e3, "c": -2.5E1}"#.replace("-2.5E1", "-25E0").as_str(),
        ],
    );
    assert_eq!(out.rejected, vec![]);
    assert_eq!(out.coerced, 0);
    let a = out.batch.column(0).as_primitive::<Int16Type>();
    let b = out.batch.column(1).as_primitive::<Int32Type>();
    let c = out.batch.column(2).as_primitive::<Int64Type>();
    assert_eq!(a.values().to_vec(), vec![-32768, 0, 4]);
    assert_eq!(b.values().to_vec(), vec![2147483647, -7, 1000]);
    assert_eq!(c.values().to_vec(), vec![i64::MIN, i64::MAX, -25]);
}

#[test]
fn integer_rejections_name_the_column_and_value() {
    assert_eq!(
        reason(DataType::Int32, r#"{"v": 1.5}"#),
        "column v: 1.5 is not an integer"
    );
    assert_eq!(
        reason(DataType::Int16, r#"{"v": 32768}"#),
        "column v: 32768 is out of range for Int16"
    );
    assert_eq!(
        reason(DataType::Int32, r#"{"v": -2147483649}"#),
        "column v: -2147483649 is out of range for Int32"
    );
    assert_eq!(
        reason(DataType::Int64, r#"{"v": 9223372036854775808}"#),
        "column v: 9223372036854775808 is out of range for Int64"
    );
    assert_eq!(
        reason(DataType::Int64, r#"{"v": 1e30}"#),
        "column v: 1e30 is not an exact integer (write it without fraction or exponent)"
    );
    assert_eq!(
        reason(DataType::Int64, r#"{"v": "abc"}"#),
        r#"column v: "abc" is not an integer"#
    );
    assert_eq!(
        reason(DataType::Int64, r#"{"v": "1.5"}"#),
        r#"column v: "1.5" is not an integer"#
    );
    for bad in [
        r#""""#, r#"" 42""#, r#""42 ""#, r#""+1""#, "true", "[1]", "{}",
    ] {
        let r = reason(DataType::Int64, &format!(r#"{{"v": {bad}}}"#));
        assert!(r.starts_with("column v: "), "{bad}: {r}");
    }
}

#[test]
fn numeric_strings_are_coerced_and_counted() {
    let mut d = decoder(&[
        ("i", DataType::Int64),
        ("s", DataType::Int16),
        ("f", DataType::Float64),
        ("g", DataType::Float32),
    ]);
    let out = run(
        &mut d,
        &[
            r#"{"i": "42", "s": "-5", "f": "-1.5e3", "g": "0.25"}"#,
            r#"{"i": 1, "s": 2, "f": 3, "g": 4}"#,
            r#"{"i": "7", "s": "abc"}"#, // rejected: its "7" must not count
            r#"{"i": "8"}"#,
        ],
    );
    assert_eq!(out.batch.num_rows(), 3);
    assert_eq!(out.coerced, 5);
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(out.rejected[0].index, 2);
    let i = out.batch.column(0).as_primitive::<Int64Type>();
    assert_eq!(i.values().to_vec(), vec![42, 1, 8]);
    assert_eq!(out.batch.column(1).as_primitive::<Int16Type>().value(0), -5);
    assert_eq!(
        out.batch.column(2).as_primitive::<Float64Type>().value(0),
        -1500.0
    );
    assert_eq!(
        out.batch.column(3).as_primitive::<Float32Type>().value(0),
        0.25
    );
}

#[test]
fn floats_from_numbers() {
    let mut d = decoder(&[("f", DataType::Float64), ("g", DataType::Float32)]);
    let out = run(
        &mut d,
        &[
            r#"{"f": 1.5, "g": -0.1}"#,
            r#"{"f": -2e-3, "g": 3}"#,
            r#"{"f": 123456789012345678, "g": 1E2}"#,
        ],
    );
    assert_eq!(out.rejected, vec![]);
    let f = out.batch.column(0).as_primitive::<Float64Type>();
    let g = out.batch.column(1).as_primitive::<Float32Type>();
    assert_eq!(f.values().to_vec(), vec![1.5, -0.002, 123456789012345678.0]);
    assert_eq!(g.values().to_vec(), vec![-0.1f32, 3.0, 100.0]);
    assert_eq!(
        reason(DataType::Float64, r#"{"v": 1e400}"#),
        "column v: 1e400 is out of range for Float64"
    );
    assert_eq!(
        reason(DataType::Float32, r#"{"v": 1e39}"#),
        "column v: 1e39 is out of range for Float32"
    );
    assert_eq!(
        reason(DataType::Float64, r#"{"v": "NaN"}"#),
        r#"column v: "NaN" is not a number"#
    );
    assert_eq!(
        reason(DataType::Float64, r#"{"v": false}"#),
        "column v: false is not a number"
    );
}

#[test]
fn booleans_only_from_true_and_false() {
    let mut d = decoder(&[("b", DataType::Boolean)]);
    let out = run(
        &mut d,
        &[r#"{"b": true}"#, r#"{"b": false}"#, r#"{"b": null}"#],
    );
    let b = out.batch.column(0).as_boolean();
    assert_eq!(
        b.iter().collect::<Vec<_>>(),
        vec![Some(true), Some(false), None]
    );
    assert_eq!(
        reason(DataType::Boolean, r#"{"v": "true"}"#),
        r#"column v: "true" is not a boolean"#
    );
    assert_eq!(
        reason(DataType::Boolean, r#"{"v": 1}"#),
        "column v: 1 is not a boolean"
    );
}

#[test]
fn strings_unescaped_and_numbers_and_bools_kept_as_written() {
    let mut d = decoder(&[("s", DataType::Utf8)]);
    let out = run(
        &mut d,
        &[
            r#"{"s": "plain"}"#,
            r#"{"s": "a\"b\\c\/d\n\t\u00e9\ud83d\ude00"}"#,
            r#"{"s": 12345}"#,
            r#"{"s": 1.50}"#,
            r#"{"s": -2e5}"#,
            r#"{"s": true}"#,
            r#"{"s": false}"#,
            r#"{"s": ""}"#,
            "{\"s\": \"caf\u{e9} \u{1f600}\"}",
        ],
    );
    assert_eq!(out.rejected, vec![]);
    assert_eq!(
        out.coerced, 0,
        "text from numbers is not a numeric coercion"
    );
    let want = [
        "plain",
        "a\"b\\c/d\n\t\u{e9}\u{1f600}",
        "12345",
        "1.50",
        "-2e5",
        "true",
        "false",
        "",
        "caf\u{e9} \u{1f600}",
    ];
    assert_eq!(
        strings(&out, 0),
        want.iter().map(|s| Some(s.to_string())).collect::<Vec<_>>()
    );
    assert_eq!(
        reason(DataType::Utf8, r#"{"v": {"x": 1}}"#),
        "column v: an object is not a string"
    );
    assert_eq!(
        reason(DataType::Utf8, r#"{"v": [1]}"#),
        "column v: an array is not a string"
    );
}

#[test]
fn bad_escapes_and_control_characters_are_not_json() {
    for bad in [
        r#"{"v": "\x"}"#,
        r#"{"v": "\u12"}"#,
        r#"{"v": "\ud83d"}"#,
        r#"{"v": "\ude00"}"#,
        "{\"v\": \"a\nb\"}",
    ] {
        let r = reason(DataType::Utf8, bad);
        assert!(r.starts_with("not JSON: "), "{bad}: {r}");
    }
}

#[test]
fn rfc3339_timestamps_to_utc_micros() {
    let base = micros(2024, 1, 25, 12, 30, 45);
    assert_eq!(
        ts_value(ts_type(), "2024-01-25T12:30:45.678Z"),
        base + 678_000
    );
    assert_eq!(ts_value(ts_type(), "2024-01-25T12:30:45Z"), base);
    assert_eq!(ts_value(ts_type(), "2024-01-25t12:30:45z"), base);
    // An offset is converted: 14:30:45+02:00 is 12:30:45 UTC.
    assert_eq!(
        ts_value(ts_type(), "2024-01-25T14:30:45.678+02:00"),
        base + 678_000
    );
    assert_eq!(ts_value(ts_type(), "2024-01-25T07:00:45-05:30"), base);
    // Crossing midnight backwards.
    assert_eq!(
        ts_value(ts_type(), "2024-01-26T01:00:00+01:00"),
        micros(2024, 1, 26, 0, 0, 0)
    );
    // Nanosecond digits are truncated to micros.
    assert_eq!(
        ts_value(ts_type(), "2024-01-25T12:30:45.123456789Z"),
        base + 123_456
    );
    assert_eq!(
        ts_value(ts_type(), "1969-12-31T23:59:59.5Z"),
        -500_000,
        "before the epoch"
    );
}

#[test]
fn space_separated_timestamps_are_utc() {
    let base = micros(2024, 1, 25, 12, 30, 45);
    assert_eq!(ts_value(ts_type(), "2024-01-25 12:30:45"), base);
    assert_eq!(ts_value(ts_type(), "2024-01-25 12:30:45.5"), base + 500_000);
    assert_eq!(
        ts_value(ts_type(), "2024-01-25 12:30:45.678"),
        base + 678_000
    );
    assert_eq!(
        ts_value(ts_type(), "2024-01-25 12:30:45+02:00"),
        base - 7_200_000_000
    );
}

#[test]
fn timestamptz_columns_carry_the_utc_zone() {
    let d = one(tstz_type(), r#"{"v": "2024-01-25T14:30:45+02:00"}"#);
    assert_eq!(d.batch.column(0).data_type(), &tstz_type());
    assert_eq!(d.batch.schema().field(0).data_type(), &tstz_type());
    let v = d.batch.column(0).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(v.value(0), micros(2024, 1, 25, 12, 30, 45));
    let d = one(ts_type(), r#"{"v": "2024-01-25T14:30:45Z"}"#);
    assert_eq!(d.batch.column(0).data_type(), &ts_type());
}

#[test]
fn bad_timestamps_are_rejected() {
    for bad in [
        "2024-02-30T00:00:00Z",
        "2024-01-25",
        "2024-01-25T24:00:00Z",
        "2024-01-25T12:30:60Z",
        "2024-01-25T12:30:45.Z",
        "2024-01-25T12:30:45.1234567890Z",
        "2024-01-25T12:30:45+2:00",
        "2024-01-25T12:30:45+24:00",
        "2024-01-25T12:30:45Zjunk",
        "2024/01/25 12:30:45",
        "yesterday",
    ] {
        let r = reason(ts_type(), &format!(r#"{{"v": "{bad}"}}"#));
        assert_eq!(r, format!(r#"column v: "{bad}" is not a timestamp"#));
    }
    assert_eq!(
        reason(ts_type(), r#"{"v": 1706185845}"#),
        "column v: 1706185845 is not a timestamp (expected an RFC 3339 string)"
    );
}

#[test]
fn missing_fields_and_json_null_are_null() {
    let mut d = decoder(&[
        ("a", DataType::Int64),
        ("s", DataType::Utf8),
        ("t", ts_type()),
    ]);
    let out = run(
        &mut d,
        &[
            r#"{}"#,
            r#"{"a": null, "s": null, "t": null}"#,
            r#"{"s": "x"}"#,
        ],
    );
    assert_eq!(out.rejected, vec![]);
    assert_eq!(out.batch.num_rows(), 3);
    assert_eq!(out.batch.column(0).null_count(), 3);
    assert_eq!(strings(&out, 1), vec![None, None, Some("x".into())]);
    assert_eq!(out.batch.column(2).null_count(), 3);
}

#[test]
fn not_null_columns_reject_missing_values() {
    let schema = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("s", DataType::Utf8, true),
    ]);
    let mut d = JsonDecoder::new(Arc::new(schema)).unwrap();
    let out = run(
        &mut d,
        &[r#"{"id": 1}"#, r#"{"s": "x"}"#, r#"{"id": null}"#],
    );
    assert_eq!(out.batch.num_rows(), 1);
    let reasons: Vec<_> = out
        .rejected
        .iter()
        .map(|r| (r.index, r.reason.as_str()))
        .collect();
    let msg = "column id: missing or null, but the column is NOT NULL";
    assert_eq!(reasons, vec![(1, msg), (2, msg)]);
}

#[test]
fn extra_fields_are_ignored_but_must_be_json() {
    let mut d = decoder(&[("a", DataType::Int64)]);
    let out = run(
        &mut d,
        &[
            r#"{"x": 1, "a": 5, "y": "s\"}\\", "z": {"n": [1, {"m": null}, "]"], "e": {}}, "w": [], "v": true}"#,
            r#"{"nested": {"a": 99}, "a": 6}"#,
            r#"{"A": 7}"#,
        ],
    );
    assert_eq!(out.rejected, vec![]);
    let a = out.batch.column(0).as_primitive::<Int64Type>();
    assert_eq!(a.iter().collect::<Vec<_>>(), vec![Some(5), Some(6), None]);
    for bad in [
        r#"{"x": [1, 2, "a": 5}"#,
        r#"{"x": {"k" 1}, "a": 5}"#,
        r#"{"x": {1: 2}, "a": 5}"#,
        r#"{"x": [1,], "a": 5}"#,
        r#"{"x": tru, "a": 5}"#,
        r#"{"x": 01, "a": 5}"#,
        r#"{"x": [[[{"y": [}]]], "a": 5}"#,
    ] {
        let r = reason(DataType::Int64, bad);
        assert!(r.starts_with("not JSON: "), "{bad}: {r}");
    }
}

#[test]
fn field_names_match_exactly_and_the_last_duplicate_wins() {
    let mut d = decoder(&[("Status", DataType::Int64), ("status", DataType::Int64)]);
    let out = run(
        &mut d,
        &[
            r#"{"status": 1, "Status": 2, "STATUS": 3}"#,
            r#"{"status": 1, "status": 4}"#,
        ],
    );
    let upper = out.batch.column(0).as_primitive::<Int64Type>();
    let lower = out.batch.column(1).as_primitive::<Int64Type>();
    assert_eq!(upper.iter().collect::<Vec<_>>(), vec![Some(2), None]);
    assert_eq!(lower.iter().collect::<Vec<_>>(), vec![Some(1), Some(4)]);
    // An escaped key is compared after unescaping.
    let d = one(DataType::Int64, r#"{"\u0076": 9}"#);
    assert_eq!(d.batch.column(0).as_primitive::<Int64Type>().value(0), 9);
}

#[test]
fn a_mixed_batch_keeps_every_good_record_in_order() {
    let mut d = decoder(&[
        ("status_code", DataType::Int32),
        ("url", DataType::Utf8),
        ("ts", ts_type()),
    ]);
    let payloads = [
        r#"{"status_code": 200, "url": "/a", "ts": "2024-01-25T12:30:45Z"}"#,
        "this is not json",
        r#"{"a": 1"#,
        r#"{"status_code": "abc", "url": "/b"}"#,
        r#"{"status_code": "404", "url": "/c"}"#,
        r#"[{"status_code": 200}]"#,
        "42",
        "",
        "  \n ",
        r#"{"status_code": 1} {"status_code": 2}"#,
        r#"{"status_code": 500, "url": "/d"}"#,
        "{\"url\": \"\u{e9}\", \"status_code\": 201}",
    ];
    let mut raw: Vec<&[u8]> = payloads.iter().map(|p| p.as_bytes()).collect();
    let invalid_utf8: &[u8] = b"{\"url\": \"\xff\"}";
    raw.insert(11, invalid_utf8);
    let out = d.decode(&raw).unwrap();

    let codes = out.batch.column(0).as_primitive::<Int32Type>();
    assert_eq!(codes.values().to_vec(), vec![200, 404, 500, 201]);
    assert_eq!(
        strings(&out, 1),
        vec![
            Some("/a".into()),
            Some("/c".into()),
            Some("/d".into()),
            Some("\u{e9}".into())
        ]
    );
    let ts = out
        .batch
        .column(2)
        .as_primitive::<TimestampMicrosecondType>();
    assert_eq!(ts.value(0), micros(2024, 1, 25, 12, 30, 45));
    assert_eq!(ts.null_count(), 3);
    assert_eq!(out.coerced, 1);

    let rejected: Vec<(usize, &str)> = out
        .rejected
        .iter()
        .map(|r| (r.index, r.reason.as_str()))
        .collect();
    assert_eq!(
        rejected,
        vec![
            (1, "not JSON: expected a JSON object at byte 0"),
            (2, "not JSON: truncated at byte 7"),
            (3, r#"column status_code: "abc" is not an integer"#),
            (5, "not a JSON object: the payload is an array"),
            (6, "not a JSON object: the payload is a number"),
            (7, "not JSON: empty payload"),
            (8, "not JSON: empty payload"),
            (9, "not JSON: trailing data after the object at byte 19"),
            (11, "not JSON: invalid UTF-8 at byte 9"),
        ]
    );
}

#[test]
fn truncated_payloads_say_so() {
    for bad in [
        "{",
        r#"{"a"#,
        r#"{"a""#,
        r#"{"a":"#,
        r#"{"a": "x"#,
        r#"{"a": 1,"#,
        r#"{"a": tr"#,
        r#"{"b": [1, {"c": "#,
        r#"{"a": "\u00"#,
    ] {
        let r = reason(DataType::Utf8, &bad.replace("\"a\"", "\"v\""));
        assert!(r.starts_with("not JSON: truncated at byte "), "{bad}: {r}");
    }
}

#[test]
fn the_decoder_is_reusable_across_calls() {
    let mut d = decoder(&[("a", DataType::Int64), ("s", DataType::Utf8)]);
    let first = run(&mut d, &[r#"{"a": 1, "s": "x\ny"}"#, "bad"]);
    assert_eq!(first.batch.num_rows(), 1);
    let second = run(&mut d, &[r#"{"s": "z"}"#]);
    assert_eq!(second.rejected, vec![]);
    assert_eq!(
        second.batch.column(0).null_count(),
        1,
        "no value leaks from the last call"
    );
    assert_eq!(strings(&second, 1), vec![Some("z".into())]);
    let empty = d.decode(&[]).unwrap();
    assert_eq!(empty.batch.num_rows(), 0);
    assert_eq!(empty.batch.schema(), *d.schema());
}

#[test]
fn unsupported_column_types_are_refused_by_name() {
    for t in [
        DataType::Date32,
        DataType::Int8,
        DataType::UInt64,
        DataType::LargeUtf8,
        DataType::Timestamp(TimeUnit::Millisecond, None),
        DataType::Timestamp(TimeUnit::Microsecond, Some("+02:00".into())),
    ] {
        let schema = Schema::new(vec![
            Field::new("ok", DataType::Int64, true),
            Field::new("when", t.clone(), true),
        ]);
        let err = JsonDecoder::new(Arc::new(schema)).unwrap_err();
        match err {
            ConnectorError::BadOption { option, message } => {
                assert_eq!(option, "column when");
                assert!(message.contains(&t.to_string()), "{message}");
            }
            other => panic!("{t}: {other:?}"),
        }
    }
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    assert!(JsonDecoder::new(Arc::new(Schema::new(vec![Field::new("t", utc, true)]))).is_ok());
}

#[test]
fn long_values_are_cut_in_reasons() {
    let long = "x".repeat(200);
    let r = reason(DataType::Int64, &format!(r#"{{"v": "{long}"}}"#));
    assert_eq!(
        r,
        format!(r#"column v: "{}... is not an integer"#, &long[..63])
    );
}

/// Speed against arrow-json on a web-log shaped batch. Run with
/// `cargo test -p palisade-connectors --release -- --ignored --nocapture bench_against`.
#[test]
#[ignore]
fn bench_against_arrow_json() {
    use std::time::Instant;
    let fields = [
        ("request_timestamp", ts_type()),
        ("ip_address", DataType::Utf8),
        ("user_agent", DataType::Utf8),
        ("url", DataType::Utf8),
        ("http_method", DataType::Utf8),
        ("status_code", DataType::Int32),
        ("response_time", DataType::Float64),
        ("user_id", DataType::Int64),
    ];
    let records: Vec<String> = (0..100_000)
        .map(|i| {
            format!(
                r#"{{"request_timestamp": "2024-01-25T12:{:02}:{:02}.{:03}Z", "ip_address": "10.0.{}.{}", "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0", "url": "/products/{}?ref=home", "http_method": "GET", "status_code": {}, "response_time": {}.25, "user_id": {}, "session": "abc{}"}}"#,
                i / 60 % 60,
                i % 60,
                i % 1000,
                i % 256,
                i / 256 % 256,
                i % 977,
                [200, 404, 500][i % 3],
                i % 300,
                i * 7,
                i
            )
        })
        .collect();
    let payloads: Vec<&[u8]> = records.iter().map(|r| r.as_bytes()).collect();
    let bytes: usize = payloads.iter().map(|p| p.len()).sum();
    let mut d = decoder(&fields);
    let schema = d.schema().clone();
    for round in 0..5 {
        let start = Instant::now();
        let mut rows = 0;
        for chunk in payloads.chunks(1024) {
            rows += d.decode(chunk).unwrap().batch.num_rows();
        }
        let ours = start.elapsed();
        assert_eq!(rows, payloads.len());

        let start = Instant::now();
        let mut rows = 0;
        let mut arrow = arrow::json::ReaderBuilder::new(schema.clone())
            .with_batch_size(1024)
            .build_decoder()
            .unwrap();
        for chunk in payloads.chunks(1024) {
            for p in chunk {
                arrow.decode(p).unwrap();
            }
            rows += arrow.flush().unwrap().unwrap().num_rows();
        }
        let theirs = start.elapsed();
        assert_eq!(rows, payloads.len());
        let per_sec = |t: std::time::Duration| payloads.len() as f64 / t.as_secs_f64();
        println!(
            "round {round}: {} records, {} bytes: JsonDecoder {:.0} rec/s, arrow-json {:.0} rec/s",
            payloads.len(),
            bytes,
            per_sec(ours),
            per_sec(theirs)
        );
    }
}
