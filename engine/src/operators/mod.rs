//! The stages of a view's pipeline, each behind [`Operator`].
//!
//! Data moves between stages as [`Change`]s: sources only append, and an aggregating view
//! republishes each window it touched as a whole (a partition replacement), which is what a
//! view over that view consumes.

pub mod aggregate;
pub mod filter;
pub mod post_aggregate;
pub mod project;
pub mod temporal_filter;
pub mod window_assign;

use datafusion::arrow::datatypes::TimeUnit;
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::Result;
use crate::state::{StateReader, StateWriter};

/// Identifies a partition of a view's rows: the window's start in microseconds for views
/// grouped by `window_start`, [`WHOLE_VIEW`] otherwise.
pub type PartitionKey = i64;

/// The partition of views that are not split by window.
pub const WHOLE_VIEW: PartitionKey = i64::MIN;

#[derive(Debug, Clone)]
pub enum Change {
    /// New rows, each counted once.
    Insert(RecordBatch),
    /// Partition `partition` now holds `new` instead of `old` (None: no rows).
    Replace {
        partition: PartitionKey,
        old: Option<RecordBatch>,
        new: Option<RecordBatch>,
    },
}

/// Where time stands when a view is advanced, in microseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time {
    /// The watermark of the source the view reads: no event below it will arrive. None
    /// when the source declares no watermark (or the view reads another view).
    pub watermark: Option<i64>,
    /// The wall clock (or the test clock), for retention by `NOW()`.
    pub now: i64,
}

/// `micros` in `unit`, rounded down, so that `v <= in_unit(m, unit)` holds exactly when
/// `v` (in `unit`) is at or before `m` microseconds.
pub fn in_unit(micros: i64, unit: &TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => micros.div_euclid(1_000_000),
        TimeUnit::Millisecond => micros.div_euclid(1_000),
        TimeUnit::Microsecond => micros,
        TimeUnit::Nanosecond => micros.saturating_mul(1_000),
    }
}

/// One stage of a view's pipeline. Called once per batch of changes, never per event, so the
/// dynamic dispatch is paid per batch.
pub trait Operator: Send {
    /// A short name for EXPLAIN-like output and errors.
    fn name(&self) -> &'static str;

    /// Consumes a batch of changes and returns what the next stage sees.
    fn process(&mut self, input: Vec<Change>) -> Result<Vec<Change>>;

    /// Lets time pass and returns what follows from it for the next stage (windows that
    /// closed or expired). Called after every batch of a source and on every clock tick.
    fn advance(&mut self, _time: Time) -> Result<Vec<Change>> {
        Ok(vec![])
    }

    /// How many windows hold aggregate state (not yet closed or expired), for stages that
    /// keep state by window.
    fn open_windows(&self) -> Option<usize> {
        None
    }

    /// Writes the state a checkpoint keeps; stages that keep none write nothing.
    fn save(&self, _out: &mut StateWriter) -> Result<()> {
        Ok(())
    }

    /// Replaces the state with what [`Operator::save`] wrote.
    fn load(&mut self, _input: &mut StateReader) -> Result<()> {
        Ok(())
    }
}

/// Applies a row-wise transformation to every batch of every change, keeping partitions.
pub(crate) fn map_rows(
    input: Vec<Change>,
    mut f: impl FnMut(&RecordBatch) -> Result<RecordBatch>,
) -> Result<Vec<Change>> {
    let mut out = Vec::with_capacity(input.len());
    for change in input {
        out.push(match change {
            Change::Insert(b) => Change::Insert(f(&b)?),
            Change::Replace {
                partition,
                old,
                new,
            } => Change::Replace {
                partition,
                old: old.as_ref().map(&mut f).transpose()?,
                new: new.as_ref().map(&mut f).transpose()?,
            },
        });
    }
    Ok(out)
}
