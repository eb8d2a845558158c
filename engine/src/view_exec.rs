//! The physical scan of a view: the windows a query reads, each still known by its key and
//! version, so that [`crate::window_partials`] can cache what is computed from them.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, Statistics, internal_err};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning,
    PlanProperties, ReplaceChildrenOptions, SendableRecordBatchStream,
};

use crate::operators::PartitionKey;
use crate::view_table::{StoredWindow, ViewTable};

/// One window as a scan reads it.
#[derive(Clone)]
pub struct ScannedWindow {
    pub key: PartitionKey,
    pub window: Arc<StoredWindow>,
    /// The rows a filter on the window column kept, when it was applied row by row;
    /// None: every stored row.
    pub filtered: Option<Vec<RecordBatch>>,
    /// Unchanged for [`crate::view_table::SETTLED_AFTER`].
    pub settled: bool,
}

impl ScannedWindow {
    pub fn batches(&self) -> &[RecordBatch] {
        self.filtered.as_deref().unwrap_or(&self.window.batches)
    }

    /// Whether what is computed from these rows alone may be cached under the window's
    /// version: its stored rows, unfiltered, and settled.
    pub fn cacheable(&self) -> bool {
        self.settled && self.filtered.is_none() && self.window.version != 0
    }
}

/// Reads a view's windows, taken when the query was planned, in one partition.
///
/// It reports only the row count as statistics: DataFusion's memory source computes every
/// column's statistics over every batch, which for a view of hundreds of windows cost a
/// large part of a small query's planning.
pub struct ViewScanExec {
    table: Arc<ViewTable>,
    windows: Vec<ScannedWindow>,
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl ViewScanExec {
    pub fn try_new(
        table: Arc<ViewTable>,
        windows: Vec<ScannedWindow>,
        projection: Option<Vec<usize>>,
    ) -> Result<Self> {
        let schema = match &projection {
            Some(p) => Arc::new(table.schema().project(p)?),
            None => table.schema(),
        };
        Ok(ViewScanExec {
            properties: Arc::new(PlanProperties::new(
                EquivalenceProperties::new(Arc::clone(&schema)),
                Partitioning::UnknownPartitioning(1),
                EmissionType::Incremental,
                Boundedness::Bounded,
            )),
            table,
            windows,
            projection,
            schema,
        })
    }

    pub fn table(&self) -> &Arc<ViewTable> {
        &self.table
    }

    pub fn windows(&self) -> &[ScannedWindow] {
        &self.windows
    }

    pub fn projection(&self) -> Option<&[usize]> {
        self.projection.as_deref()
    }

    /// The same scan over other windows.
    pub fn with_windows(&self, windows: Vec<ScannedWindow>) -> Self {
        ViewScanExec {
            table: Arc::clone(&self.table),
            windows,
            projection: self.projection.clone(),
            schema: Arc::clone(&self.schema),
            properties: Arc::clone(&self.properties),
        }
    }

    fn rows(&self) -> usize {
        self.windows
            .iter()
            .flat_map(|w| w.batches())
            .map(|b| b.num_rows())
            .sum()
    }
}

/// Names the scan's shape only, never its windows: [`crate::window_partials`] keys its
/// cache on the plan above a scan, printed with this.
impl fmt::Debug for ViewScanExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ViewScanExec {{ projection: {:?}, schema: {:?} }}",
            self.projection, self.schema
        )
    }
}

impl DisplayAs for ViewScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "ViewScanExec: windows={}, rows={}",
            self.windows.len(),
            self.rows()
        )?;
        if let Some(p) = &self.projection {
            write!(f, ", projection={p:?}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for ViewScanExec {
    fn name(&self) -> &'static str {
        "ViewScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        _: Vec<Arc<dyn ExecutionPlan>>,
        _: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    #[allow(deprecated)]
    fn partition_statistics(&self, _partition: Option<usize>) -> Result<Arc<Statistics>> {
        Ok(Arc::new(
            Statistics::new_unknown(&self.schema).with_num_rows(Precision::Exact(self.rows())),
        ))
    }

    fn execute(
        &self,
        partition: usize,
        _ctx: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return internal_err!("ViewScanExec has one partition, asked for {partition}");
        }
        let batches = self
            .windows
            .iter()
            .flat_map(|w| w.batches().iter().cloned())
            .collect();
        Ok(Box::pin(MemoryStream::try_new(
            batches,
            Arc::clone(&self.schema),
            self.projection.clone(),
        )?))
    }
}
