//! The stages of a view's pipeline, each behind [`Operator`].
//!
//! Data moves between stages as [`Change`]s: sources only append, and an aggregating view
//! republishes each window it touched as a whole (a partition replacement), which is what a
//! view over that view consumes.

pub mod aggregate;
pub mod filter;
pub mod post_aggregate;
pub mod project;
pub mod window_assign;

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

/// One stage of a view's pipeline. Called once per batch of changes, never per event, so the
/// dynamic dispatch is paid per batch.
pub trait Operator: Send {
    /// A short name for EXPLAIN-like output and errors.
    fn name(&self) -> &'static str;

    /// Consumes a batch of changes and returns what the next stage sees.
    fn process(&mut self, input: Vec<Change>) -> Result<Vec<Change>>;

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
