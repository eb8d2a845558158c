//! Arrow values as text: what sqllogictest compares and what the oracle compares.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

/// Timestamps as the harness prints them: like PostgreSQL (a space, no `T`, a fraction only
/// when non-zero), but the fraction in whole milli-, micro- or nanoseconds (`.250`, where
/// PostgreSQL writes `.25`).
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.f";
/// Timestamps with a time zone: [`TIMESTAMP_FORMAT`] and the offset.
pub const TIMESTAMP_TZ_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.f%:z";

/// One cell, typed enough to compare floats with a tolerance.
#[derive(Debug, Clone)]
pub enum Cell {
    Null,
    Float(f64),
    Text(String),
}

impl PartialEq for Cell {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Cell::Null, Cell::Null) => true,
            (Cell::Text(a), Cell::Text(b)) => a == b,
            (Cell::Float(a), Cell::Float(b)) => floats_equal(*a, *b),
            _ => false,
        }
    }
}

/// Equal within 1e-9 relative (the oracle's bar for sums computed in another order).
pub fn floats_equal(a: f64, b: f64) -> bool {
    if a == b || (a.is_nan() && b.is_nan()) {
        return true;
    }
    let scale = a.abs().max(b.abs()).max(1e-300);
    (a - b).abs() / scale <= 1e-9
}

impl Cell {
    /// Text for sorting and for sqllogictest: floats with at most 6 decimals.
    pub fn render(&self) -> String {
        match self {
            Cell::Null => "NULL".into(),
            Cell::Text(s) if s.is_empty() => "(empty)".into(),
            Cell::Text(s) => s.clone(),
            Cell::Float(f) => render_float(*f),
        }
    }
}

pub fn render_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let s = format!("{f:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

/// Rows of `batches` as cells; timestamps as PostgreSQL prints them (a space, no `T`).
pub fn rows(batches: &[RecordBatch]) -> Vec<Vec<Cell>> {
    let options = FormatOptions::default()
        .with_null("NULL")
        .with_timestamp_format(Some(TIMESTAMP_FORMAT))
        .with_timestamp_tz_format(Some(TIMESTAMP_TZ_FORMAT));
    let mut out = Vec::new();
    for batch in batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("formattable column"))
            .collect();
        for row in 0..batch.num_rows() {
            let cells = batch
                .columns()
                .iter()
                .zip(&formatters)
                .map(|(col, fmt)| {
                    if col.is_null(row) {
                        return Cell::Null;
                    }
                    match col.data_type() {
                        DataType::Float64 => {
                            Cell::Float(col.as_primitive::<Float64Type>().value(row))
                        }
                        DataType::Float32 => {
                            Cell::Float(col.as_primitive::<Float32Type>().value(row) as f64)
                        }
                        _ => Cell::Text(fmt.value(row).to_string()),
                    }
                })
                .collect();
            out.push(cells);
        }
    }
    out
}

/// Rows rendered as text, as sqllogictest expects them.
pub fn rendered(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    rows(batches)
        .into_iter()
        .map(|r| r.iter().map(Cell::render).collect())
        .collect()
}
