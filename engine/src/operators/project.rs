//! SELECT lists and CASE expressions below the aggregate, as DataFusion physical expressions.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::physical_expr::PhysicalExpr;

use super::{Change, Operator, map_rows};
use crate::error::{EngineError, Result};

/// Computes one output column per expression. Stateless; a plain column reference costs an
/// `Arc` clone, not a copy.
pub struct Project {
    exprs: Vec<Arc<dyn PhysicalExpr>>,
    schema: SchemaRef,
}

impl Project {
    pub fn new(exprs: Vec<Arc<dyn PhysicalExpr>>, schema: SchemaRef) -> Self {
        Project { exprs, schema }
    }

    pub fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let n = batch.num_rows();
        let columns = self
            .exprs
            .iter()
            .map(|e| e.evaluate(batch).and_then(|v| v.into_array(n)))
            .collect::<datafusion::error::Result<Vec<_>>>()
            .map_err(EngineError::from_execution)?;
        let options = RecordBatchOptions::new().with_row_count(Some(n));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            columns,
            &options,
        )?)
    }
}

impl Operator for Project {
    fn name(&self) -> &'static str {
        "Project"
    }

    fn process(&mut self, input: Vec<Change>) -> Result<Vec<Change>> {
        map_rows(input, |b| self.apply(b))
    }
}
