//! Window functions, HAVING and ORDER BY over the aggregated rows of one window at a time.

use std::sync::Arc;

use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::execution_plan::reset_plan_states;
use datafusion::physical_plan::{ExecutionPlan, collect};

use super::{Change, Operator};
use crate::error::{EngineError, Result};
use crate::slot::Slot;

/// Recomputes the query above the aggregate for each window a batch touched.
///
/// The planner only builds this when every window function partitions by `window_start`
/// (or the view is a single partition), so the rows of one window are all the part above the
/// aggregate ever needs: ROW_NUMBER top-N, running sums and totals are recomputed from the
/// window's aggregated rows by the DataFusion plan made at CREATE time, and no other window
/// is read. Output replaces the window's previous rows.
pub struct WindowLocal {
    plan: Arc<dyn ExecutionPlan>,
    slot: Slot,
    task: Arc<TaskContext>,
}

impl WindowLocal {
    pub fn new(plan: Arc<dyn ExecutionPlan>, slot: Slot, task: Arc<TaskContext>) -> Self {
        WindowLocal { plan, slot, task }
    }

    fn run(&self, rows: RecordBatch) -> Result<Option<RecordBatch>> {
        *self
            .slot
            .lock()
            .map_err(|_| EngineError::Internal("slot lock poisoned".into()))? = Some(rows);
        // The plan is CPU-only over one in-memory partition, so it is driven to completion
        // right here. `unconstrained`: when this runs on a tokio worker, DataFusion's streams
        // must not consult that task's cooperative budget, whose exhaustion would park a
        // future nobody but tokio can wake.
        // Each run gets a fresh copy of the plan's state: an executed plan keeps appending
        // metrics (about 4.5 KB per run), which grew memory with every window touched.
        let plan = reset_plan_states(Arc::clone(&self.plan))?;
        let run = tokio::task::coop::unconstrained(collect(plan, Arc::clone(&self.task)));
        let batches = futures::executor::block_on(run).map_err(EngineError::from_execution)?;
        let out = concat_batches(&self.plan.schema(), &batches)?;
        Ok((out.num_rows() > 0).then_some(out))
    }
}

impl Operator for WindowLocal {
    fn name(&self) -> &'static str {
        "WindowLocal"
    }

    fn process(&mut self, input: Vec<Change>) -> Result<Vec<Change>> {
        let mut out = Vec::with_capacity(input.len());
        for change in input {
            match change {
                Change::Replace { partition, new, .. } => {
                    let new = match new {
                        Some(rows) => self.run(rows)?,
                        None => None,
                    };
                    out.push(Change::Replace {
                        partition,
                        old: None,
                        new,
                    });
                }
                Change::Insert(_) => {
                    return Err(EngineError::Internal(
                        "the part above an aggregate received raw rows".into(),
                    ));
                }
            }
        }
        Ok(out)
    }
}
