//! The physical scan of a view: the windows a query reads, each still known by its key and
//! version, so that [`crate::window_partials`] can cache what is computed from them.

use std::fmt;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::compute::concat_batches;
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

use crate::block_cache::{CacheKey, block_shift};
use crate::operators::PartitionKey;
use crate::view_table::{StoredWindow, ViewTable};

/// Settled windows of fewer rows than this are read merged with their neighbours
/// ([`ViewScanExec`]); larger ones already amortise a query's cost per batch.
const SMALL_WINDOW: usize = 1024;

/// What merged runs are kept under in [`ViewTable::merged_rows`].
static MERGED_ROWS: LazyLock<CacheKey> = LazyLock::new(|| CacheKey::new("merged rows"));

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

    /// The scan's batches in order, each run of small settled windows of one block as one
    /// batch: a view of a few rows per window holds hundreds of windows for a dashboard's
    /// range, and every operator of a query pays a fixed cost per batch (a CASE, a sort
    /// run), which dwarfed the rows' own. A run is merged once, then kept in the view's
    /// [`ViewTable::merged_rows`].
    fn batches(&self) -> Result<Vec<RecordBatch>> {
        let windows = &self.windows;
        let mergeable = |w: &ScannedWindow| {
            w.cacheable() && w.batches().iter().map(|b| b.num_rows()).sum::<usize>() < SMALL_WINDOW
        };
        let shift = block_shift(windows.iter().filter(|w| w.cacheable()).map(|w| w.key));
        let mut out = Vec::new();
        let mut start = 0;
        while start < windows.len() {
            let mut end = start + 1;
            if let Some(shift) = shift
                && mergeable(&windows[start])
            {
                let block = windows[start].key >> shift;
                while end < windows.len()
                    && mergeable(&windows[end])
                    && windows[end].key >> shift == block
                {
                    end += 1;
                }
            }
            let run = &windows[start..end];
            if run.len() < 2 {
                out.extend(run.iter().flat_map(|w| w.batches().iter().cloned()));
            } else {
                let cache = self.table.merged_rows();
                let members: Vec<u64> = run.iter().map(|w| w.window.version).collect();
                // A run is known by its first window: two runs never start at one window.
                match cache.get(&MERGED_ROWS, run[0].key, &members) {
                    Some(merged) => out.extend(merged),
                    None => {
                        let merged = concat_batches(
                            &self.table.schema(),
                            run.iter().flat_map(|w| w.batches()),
                        )?;
                        cache.put(&MERGED_ROWS, run[0].key, members, vec![merged.clone()]);
                        out.push(merged);
                    }
                }
            }
            start = end;
        }
        Ok(out)
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
        Ok(Box::pin(MemoryStream::try_new(
            self.batches()?,
            Arc::clone(&self.schema),
            self.projection.clone(),
        )?))
    }
}
