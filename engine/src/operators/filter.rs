//! WHERE and HAVING below the aggregate, as DataFusion physical expressions.

use std::sync::Arc;

use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_expr::PhysicalExpr;

use super::{Change, Operator, map_rows};
use crate::error::{EngineError, Result};

/// Keeps the rows whose predicate is true. Stateless: each batch is filtered on its own with
/// one vectorised evaluation of the predicate; NULL counts as false, as in SQL.
pub struct Filter {
    predicate: Arc<dyn PhysicalExpr>,
}

impl Filter {
    pub fn new(predicate: Arc<dyn PhysicalExpr>) -> Self {
        Filter { predicate }
    }

    pub fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let mask = self
            .predicate
            .evaluate(batch)
            .and_then(|v| v.into_array(batch.num_rows()))
            .map_err(EngineError::from_execution)?;
        let Some(mask) = mask.as_any().downcast_ref::<BooleanArray>() else {
            return Err(EngineError::Internal(
                "filter predicate is not boolean".into(),
            ));
        };
        Ok(filter_record_batch(batch, mask)?)
    }
}

impl Operator for Filter {
    fn name(&self) -> &'static str {
        "Filter"
    }

    fn process(&mut self, input: Vec<Change>) -> Result<Vec<Change>> {
        map_rows(input, |b| self.apply(b))
    }
}
