//! `WHERE window_start > NOW() - INTERVAL '...'`: RisingWave's temporal filter, as retention.

use datafusion::arrow::array::{Array, BooleanArray};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::TimeUnit;
use datafusion::arrow::record_batch::RecordBatch;

use super::{Change, Operator, Time, in_unit, map_rows};
use crate::error::Result;

/// How long a view keeps a window: while `window_start > now - bound` (`>=` when
/// `inclusive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub bound_micros: i64,
    pub inclusive: bool,
}

impl Retention {
    /// The latest window start (in `unit`) that has expired at `now` (microseconds).
    pub fn last_expired(&self, now: i64, unit: &TimeUnit) -> i64 {
        let cutoff = now.saturating_sub(self.bound_micros);
        // `start >= cutoff` keeps the cutoff itself, so only what is strictly before it goes.
        in_unit(cutoff - i64::from(self.inclusive), unit)
    }
}

/// Drops rows of windows the view no longer keeps.
///
/// Evaluated per event, `NOW()` would be frozen at planning time, so the planner takes the
/// conjunct out of the view's WHERE and puts this operator in its place: rows pass when their
/// `window_start` is after the cutoff of the last [`Operator::advance`] (NULL never passes,
/// as in SQL). The aggregate above drops the state and rows of windows as they fall behind
/// the same cutoff, so between the two the view holds exactly the windows the filter admits.
pub struct TemporalFilter {
    /// Index of `window_start` in the input.
    column: usize,
    retention: Retention,
    unit: TimeUnit,
    /// Rows need `window_start` above this (in `unit`); None before the first advance.
    last_expired: Option<i64>,
}

impl TemporalFilter {
    pub fn new(column: usize, retention: Retention, unit: TimeUnit) -> Self {
        TemporalFilter {
            column,
            retention,
            unit,
            last_expired: None,
        }
    }

    fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let Some(last) = self.last_expired else {
            return Ok(batch.clone());
        };
        let column = batch.column(self.column);
        let data = column.to_data();
        let values: &[i64] = data.buffer::<i64>(0);
        let keep: BooleanArray = (0..batch.num_rows())
            .map(|i| Some(column.is_valid(i) && values[i] > last))
            .collect();
        if keep.true_count() == batch.num_rows() {
            return Ok(batch.clone());
        }
        Ok(filter_record_batch(batch, &keep)?)
    }
}

impl Operator for TemporalFilter {
    fn name(&self) -> &'static str {
        "TemporalFilter"
    }

    fn process(&mut self, input: Vec<Change>) -> Result<Vec<Change>> {
        map_rows(input, |b| self.apply(b))
    }

    fn advance(&mut self, time: Time) -> Result<Vec<Change>> {
        self.last_expired = Some(self.retention.last_expired(time.now, &self.unit));
        Ok(vec![])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_and_inclusive_bounds_in_every_unit() {
        let hour = 3_600_000_000;
        let strict = Retention {
            bound_micros: hour,
            inclusive: false,
        };
        let inclusive = Retention {
            inclusive: true,
            ..strict
        };
        let now = 10 * hour;
        // window_start > now - 1h: a window starting exactly at 9h has expired.
        assert_eq!(strict.last_expired(now, &TimeUnit::Microsecond), 9 * hour);
        // window_start >= now - 1h: it has not, one microsecond before it has.
        assert_eq!(
            inclusive.last_expired(now, &TimeUnit::Microsecond),
            9 * hour - 1
        );
        assert_eq!(strict.last_expired(now, &TimeUnit::Second), 9 * 3600);
        assert_eq!(inclusive.last_expired(now, &TimeUnit::Second), 9 * 3600 - 1);
        assert_eq!(
            strict.last_expired(now, &TimeUnit::Nanosecond),
            9 * hour * 1000
        );
    }
}
