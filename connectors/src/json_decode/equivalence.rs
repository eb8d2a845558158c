//! The decoder against the straightforward one it replaced (`reference`), on random
//! payloads that are mostly almost right: same batch, same reasons, same `coerced`.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use proptest::prelude::*;

use super::{JsonDecoder, reference};

fn schema(not_null: bool) -> Arc<Schema> {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
    let tstz = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("ts", ts, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("i16", DataType::Int16, true),
        Field::new("i32", DataType::Int32, !not_null),
        Field::new("i64", DataType::Int64, true),
        Field::new("f32", DataType::Float32, true),
        Field::new("f64", DataType::Float64, true),
        Field::new("b", DataType::Boolean, true),
        Field::new("tz", tstz, true),
        Field::new("caf\u{e9}", DataType::Utf8, true),
        Field::new("q\"\\k", DataType::Utf8, true),
        Field::new("s", DataType::Int64, true),
    ]))
}

/// xorshift64*: the payloads come from one seed, so a failure names the seed to replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const KEYS: &[&str] = &[
    "ts",
    "s",
    "i16",
    "i32",
    "i64",
    "f32",
    "f64",
    "b",
    "tz",
    "caf\u{e9}",
    r#"q\"\\k"#,
    r#"\u0073"#,
    "S",
    "other",
    "",
    "t\\u0073",
];

const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "7",
    "-7",
    "42",
    "200",
    "32767",
    "32768",
    "-32769",
    "2147483647",
    "2147483648",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "123456789012345678",
    "1234567890123456789",
    "1.5",
    "4.0",
    "1e3",
    "-2.5E1",
    "1e400",
    "1e-400",
    "3.4e38",
    "3.5e38",
    "9007199254740993.0",
    "1e30",
    "0.1",
    "01",
    "-",
    "1.",
    "1e",
    "1e+",
    ".5",
    "+1",
    "2E-3",
    "-0.0",
];

const TIMESTAMPS: &[&str] = &[
    "2024-01-25T12:00:00",
    "2024-01-25T12:00:00.001",
    "2024-01-25 12:30:45.5",
    "2024-01-25t12:30:45z",
    "2024-01-25T12:30:45.123456789Z",
    "2024-01-25T12:30:45.1234567890Z",
    "2024-01-25T14:30:45.678+02:00",
    "2024-01-25T07:00:45-05:30",
    "2024-01-25T12:30:45+24:00",
    "2024-01-25T12:30:45+2:00",
    "2024-02-29T00:00:00Z",
    "2023-02-29T00:00:00Z",
    "2000-02-29T23:59:59",
    "1900-02-29T00:00:00",
    "0000-01-01T00:00:00",
    "9999-12-31T23:59:59.999999",
    "1969-12-31T23:59:59.5Z",
    "2024-01-25T24:00:00",
    "2024-01-25T12:60:00",
    "2024-01-25T12:30:60",
    "2024-13-01T00:00:00",
    "2024-00-10T00:00:00",
    "2024-04-31T00:00:00",
    "2024-01-25T12:30:45.",
    "2024-01-25T12:30:45Zjunk",
    "2024-01-25",
    "2024/01/25 12:30:45",
    "2024-01-25T12:30:4",
    "2024-01-25X12:30:45",
];

const STRINGS: &[&str] = &[
    "",
    "plain",
    "GET",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)",
    r#"a\"b\\c\/d\n\t"#,
    r#"\u00e9\ud83d\ude00"#,
    r#"\ud83d"#,
    r#"\ude00x"#,
    r#"\ud83d\u0041"#,
    r#"\u12"#,
    r#"\uZZZZ"#,
    r#"\x"#,
    "caf\u{e9} \u{1f600}",
    "tab\there",
    "nl\nhere",
    "42",
    "-1.5e3",
    " 42",
    "NaN",
    "true",
    "\u{7f}\u{80}\u{7ff}\u{800}\u{ffff}",
    "a long-ish string that goes past sixteen bytes \u{e9}\u{e9}\u{e9} and on and on and on \
     and on past sixty-four bytes for the cut in reasons",
];

fn string(r: &mut Rng, out: &mut String) {
    out.push('"');
    match r.below(4) {
        0 => out.push_str(r.pick(TIMESTAMPS)),
        1 => out.push_str(r.pick(NUMBERS)),
        _ => {
            for _ in 0..1 + r.below(3) {
                out.push_str(r.pick(STRINGS));
            }
        }
    }
    out.push('"');
}

fn ws(r: &mut Rng, out: &mut String) {
    if r.chance(20) {
        out.push_str(r.pick(&[" ", "\n", "\t ", "\r\n  "]));
    }
}

fn value(r: &mut Rng, out: &mut String, depth: usize) {
    match r.below(if depth > 2 { 6 } else { 8 }) {
        0 | 1 => string(r, out),
        2 => out.push_str(r.pick(NUMBERS)),
        3 => out.push_str(r.pick(&["true", "false", "null", "tru", "nul", "fals", "nulll"])),
        4 => {
            out.push('"');
            out.push_str(r.pick(TIMESTAMPS));
            out.push('"');
        }
        5 => out.push_str(r.pick(&["null", "1", "\"x\""])),
        6 => {
            out.push('[');
            for k in 0..r.below(4) {
                if k > 0 {
                    out.push(',');
                }
                ws(r, out);
                value(r, out, depth + 1);
                ws(r, out);
            }
            out.push(']');
        }
        _ => object(r, out, depth + 1),
    }
}

fn object(r: &mut Rng, out: &mut String, depth: usize) {
    out.push('{');
    for k in 0..r.below(14) {
        if k > 0 {
            out.push(',');
        }
        ws(r, out);
        out.push('"');
        out.push_str(r.pick(KEYS));
        out.push('"');
        ws(r, out);
        out.push(':');
        ws(r, out);
        value(r, out, depth);
        ws(r, out);
    }
    out.push('}');
}

/// A payload: usually an object of known and unknown fields, sometimes broken a little.
fn payload(r: &mut Rng) -> Vec<u8> {
    let mut text = String::new();
    ws(r, &mut text);
    if r.chance(95) {
        object(r, &mut text, 0);
    } else {
        value(r, &mut text, 0);
    }
    ws(r, &mut text);
    let mut b = text.into_bytes();
    if r.chance(30) && !b.is_empty() {
        let at = r.below(b.len());
        match r.below(6) {
            0 => b.truncate(at),
            1 => {
                b[at] = r
                    .pick(&["\"", "\\", ",", "}", "]", ":", "\u{1}", "x", "\n"])
                    .as_bytes()[0]
            }
            2 => b.insert(at, [0xff, 0xc3, 0x80, 0xe2, b'"', b'{'][r.below(6)]),
            3 => {
                b.remove(at);
            }
            4 => b.extend_from_slice(r.pick(&["}", " x", "{}", "\u{e9}"]).as_bytes()),
            _ => b.splice(at..at, [0xe9, 0x80]).for_each(drop),
        }
    }
    b
}

fn check(seed: u64) {
    let mut r = Rng(seed | 1);
    let payloads: Vec<Vec<u8>> = (0..1 + r.below(12)).map(|_| payload(&mut r)).collect();
    let raw: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
    let mut decoder = JsonDecoder::new(schema(seed.is_multiple_of(4))).unwrap();
    let want = reference::decode(&decoder, &raw).unwrap();
    // Twice, so the second call runs with buffers sized from the first.
    for _ in 0..2 {
        let got = decoder.decode(&raw).unwrap();
        let show = || {
            raw.iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(got.rejected, want.rejected, "seed {seed}:\n{}", show());
        assert_eq!(got.coerced, want.coerced, "seed {seed}:\n{}", show());
        assert_eq!(got.batch, want.batch, "seed {seed}:\n{}", show());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decodes_as_the_reference_does(seed in any::<u64>()) {
        check(seed);
    }
}

#[test]
fn decodes_as_the_reference_does_on_bench_shaped_records() {
    let decoder_schema = schema(true);
    let mut decoder = JsonDecoder::new(decoder_schema).unwrap();
    let records: Vec<String> = (0..300)
        .map(|i| {
            format!(
                r#"{{"ts":"2024-01-25T12:00:00.{:03}","s":"u{i:05}","i16":{},"i32":{},"i64":"{}","f32":{}.5,"f64":-{}e-3,"b":{},"tz":"2024-01-25T12:00:00+01:00","café":"x","q\"\\k":"y"}}"#,
                i % 1000,
                i % 300,
                200 + i,
                i * 1_000_003,
                i,
                i,
                i % 2 == 0
            )
        })
        .collect();
    let raw: Vec<&[u8]> = records.iter().map(|r| r.as_bytes()).collect();
    let want = reference::decode(&decoder, &raw).unwrap();
    let got = decoder.decode(&raw).unwrap();
    assert_eq!(got.rejected, vec![]);
    assert_eq!(got.rejected, want.rejected);
    assert_eq!(got.coerced, want.coerced);
    assert_eq!(got.batch, want.batch);
}
