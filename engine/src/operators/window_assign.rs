//! TUMBLE and HOP: the window columns of each event.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, UInt32Array, make_array};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use palisade_sql::window::WindowKind;

use super::{Change, Operator, map_rows};
use crate::error::{EngineError, Result};

/// Appends `window_start` and `window_end` to every event, as `date_bin(size, ts)` would.
///
/// TUMBLE: one window per event, `start = ts - (ts mod size)` (floor division, so times
/// before 1970 land in the window that contains them), computed over the raw i64 values of the
/// batch in one pass.
///
/// HOP: an event at `ts` belongs to the windows starting at `floor(ts, slide) - k * slide`
/// for every `k` with `ts < start + size`; the batch is expanded with one `take` of the
/// repeated row indices, so the cost is per batch, not per event. Events without a time
/// belong to no hopping window and are dropped, exactly as the `date_bin` SQL of the oracle
/// does; a tumbling window of a NULL time is NULL, also as in that SQL.
pub struct WindowAssign {
    kind: WindowKind,
    time_column: usize,
    /// Window size and slide in the time column's own unit.
    size: i64,
    slide: i64,
    time_type: DataType,
    schema: SchemaRef,
}

impl WindowAssign {
    /// `schema` is the input schema plus the two window columns.
    pub fn new(
        kind: WindowKind,
        time_column: usize,
        time_type: DataType,
        schema: SchemaRef,
    ) -> Result<Self> {
        let DataType::Timestamp(unit, _) = &time_type else {
            return Err(EngineError::plan(
                palisade_sql::PlanErrorKind::DatatypeMismatch,
                format!("window time column must be a TIMESTAMP, not {time_type}"),
            ));
        };
        let to_unit = |micros: i64| -> Result<i64> {
            let v = match unit {
                TimeUnit::Second if micros % 1_000_000 == 0 => micros / 1_000_000,
                TimeUnit::Millisecond if micros % 1_000 == 0 => micros / 1_000,
                TimeUnit::Microsecond => micros,
                TimeUnit::Nanosecond => micros * 1_000,
                _ => {
                    return Err(EngineError::unsupported(
                        "a window size finer than the time column's precision",
                    ));
                }
            };
            Ok(v)
        };
        let (size, slide) = match kind {
            WindowKind::Tumble { size_micros } => (to_unit(size_micros)?, to_unit(size_micros)?),
            WindowKind::Hop {
                slide_micros,
                size_micros,
            } => (to_unit(size_micros)?, to_unit(slide_micros)?),
        };
        Ok(WindowAssign {
            kind,
            time_column,
            size,
            slide,
            time_type,
            schema,
        })
    }

    fn timestamps(
        &self,
        values: Vec<i64>,
        nulls: Option<datafusion::arrow::buffer::NullBuffer>,
    ) -> Result<ArrayRef> {
        let data = Int64Array::new(values.into(), nulls)
            .into_data()
            .into_builder()
            .data_type(self.time_type.clone())
            .build()?;
        Ok(make_array(data))
    }

    pub fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let ts = batch.column(self.time_column);
        let data = ts.to_data();
        let values: &[i64] = data.buffer::<i64>(0);
        let mut columns: Vec<ArrayRef>;
        match self.kind {
            WindowKind::Tumble { .. } => {
                let starts: Vec<i64> = values.iter().map(|t| t - t.rem_euclid(self.size)).collect();
                let ends: Vec<i64> = starts.iter().map(|s| s.saturating_add(self.size)).collect();
                columns = batch.columns().to_vec();
                columns.push(self.timestamps(starts, ts.nulls().cloned())?);
                columns.push(self.timestamps(ends, ts.nulls().cloned())?);
            }
            WindowKind::Hop { .. } => {
                let per_event = ((self.size + self.slide - 1) / self.slide) as usize;
                let mut rows = Vec::with_capacity(values.len() * per_event);
                let mut starts = Vec::with_capacity(values.len() * per_event);
                for (i, &t) in values.iter().enumerate() {
                    if ts.is_null(i) {
                        continue;
                    }
                    let base = t - t.rem_euclid(self.slide);
                    for k in 0..per_event as i64 {
                        let s = base.saturating_sub(k * self.slide);
                        if t < s.saturating_add(self.size) {
                            rows.push(i as u32);
                            starts.push(s);
                        }
                    }
                }
                let indices = UInt32Array::from(rows);
                columns = batch
                    .columns()
                    .iter()
                    .map(|c| take(c.as_ref(), &indices, None))
                    .collect::<std::result::Result<_, _>>()?;
                let ends: Vec<i64> = starts.iter().map(|s| s.saturating_add(self.size)).collect();
                columns.push(self.timestamps(starts, None)?);
                columns.push(self.timestamps(ends, None)?);
            }
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }
}

impl Operator for WindowAssign {
    fn name(&self) -> &'static str {
        match self.kind {
            WindowKind::Tumble { .. } => "TumbleWindow",
            WindowKind::Hop { .. } => "HopWindow",
        }
    }

    fn process(&mut self, input: Vec<Change>) -> Result<Vec<Change>> {
        map_rows(input, |b| self.apply(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::TimestampMicrosecondArray;
    use datafusion::arrow::datatypes::{Field, Schema};

    fn assign(kind: WindowKind, ts: Vec<Option<i64>>) -> RecordBatch {
        let t = DataType::Timestamp(TimeUnit::Microsecond, None);
        let input = Arc::new(Schema::new(vec![Field::new("ts", t.clone(), true)]));
        let output = Arc::new(Schema::new(vec![
            Field::new("ts", t.clone(), true),
            Field::new("window_start", t.clone(), true),
            Field::new("window_end", t.clone(), true),
        ]));
        let batch =
            RecordBatch::try_new(input, vec![Arc::new(TimestampMicrosecondArray::from(ts))])
                .unwrap();
        WindowAssign::new(kind, 0, t, output)
            .unwrap()
            .apply(&batch)
            .unwrap()
    }

    fn col(b: &RecordBatch, i: usize) -> Vec<Option<i64>> {
        let a = b
            .column(i)
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        a.iter().collect()
    }

    #[test]
    fn tumble_floors_including_before_epoch() {
        let b = assign(
            WindowKind::Tumble { size_micros: 60 },
            vec![Some(0), Some(59), Some(60), Some(-1), None],
        );
        assert_eq!(
            col(&b, 1),
            vec![Some(0), Some(0), Some(60), Some(-60), None]
        );
        assert_eq!(
            col(&b, 2),
            vec![Some(60), Some(60), Some(120), Some(0), None]
        );
    }

    #[test]
    fn hop_repeats_each_event_per_covering_window() {
        let b = assign(
            WindowKind::Hop {
                slide_micros: 10,
                size_micros: 30,
            },
            vec![Some(25), None],
        );
        assert_eq!(col(&b, 0), vec![Some(25), Some(25), Some(25)]);
        assert_eq!(col(&b, 1), vec![Some(20), Some(10), Some(0)]);
        // a size that is not a multiple of the slide covers fewer windows near the edge
        let b = assign(
            WindowKind::Hop {
                slide_micros: 10,
                size_micros: 25,
            },
            vec![Some(29)],
        );
        assert_eq!(col(&b, 1), vec![Some(20), Some(10)]);
    }
}
