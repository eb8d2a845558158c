//! Sources and window placeholders as DataFusion tables: schema only, never scanned.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::plan_err;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

/// Lets the planner resolve a source's columns; reading it directly is refused, as sources
/// hold no rows (RisingWave's rule too): views are what one queries.
#[derive(Debug)]
pub struct SchemaTable {
    pub name: String,
    pub schema: SchemaRef,
}

#[async_trait]
impl TableProvider for SchemaTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        plan_err!(
            "source \"{}\" holds no rows; query a materialized view over it (CREATE MATERIALIZED VIEW ... AS SELECT ... FROM {})",
            self.name,
            self.name
        )
    }
}
