//! A materialized view's rows: kept per window, read as a snapshot.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::compute::{
    SortColumn, concat_batches, lexsort_to_indices, take_record_batch,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::error::Result;
use crate::operators::{Change, PartitionKey, WHOLE_VIEW};
use crate::state::{StateReader, StateWriter};

/// A view's rows by window.
pub type Partitions = BTreeMap<PartitionKey, Vec<RecordBatch>>;

/// The order `SELECT * FROM view` returns rows in, from the view's ORDER BY.
#[derive(Debug, Clone)]
pub enum ReadOrder {
    /// No ORDER BY: newest windows first (a monitoring read wants the latest), rows as
    /// computed.
    Any,
    /// ORDER BY window_start [DESC], ...: windows in that direction, each window's rows
    /// already sorted by the rest when it was computed.
    Windows { descending: bool },
    /// Any other ORDER BY over output columns: sorted when read.
    Columns(Vec<(usize, SortOptions)>),
}

/// Rows by window. A window's rows are replaced whole when it changes, so reading never
/// looks at events, only at rows: the cost of a read is the size of the view.
pub struct ViewTable {
    schema: SchemaRef,
    order: ReadOrder,
    rows: Mutex<BTreeMap<PartitionKey, Vec<RecordBatch>>>,
}

/// Appended batches of a view without windows are merged past this count, so a read
/// touches few batches.
const MAX_BATCHES_PER_WINDOW: usize = 32;

impl fmt::Debug for ViewTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ViewTable({:?})", self.schema)
    }
}

impl ViewTable {
    pub fn new(schema: SchemaRef, order: ReadOrder) -> Self {
        ViewTable {
            schema,
            order,
            rows: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<PartitionKey, Vec<RecordBatch>>> {
        // A panic while holding this lock cannot leave a window half-replaced (replacement
        // is one map insert), so a poisoned lock's data is still whole.
        self.rows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every window's rows, shared (batches are reference-counted): a cheap copy to encode
    /// with [`ViewTable::save_rows`] later, without the view's lock.
    pub fn partitions_shared(&self) -> Partitions {
        self.lock().clone()
    }

    /// Writes `rows` (a checkpoint's copy) as [`ViewTable::load`] reads them.
    pub fn save_rows(rows: &Partitions, out: &mut StateWriter) -> Result<()> {
        out.tag("view_table");
        out.len(rows.len());
        for (partition, batches) in rows.iter() {
            out.i64(*partition);
            out.batches(batches)?;
        }
        Ok(())
    }

    /// Replaces every window's rows with what [`ViewTable::save_rows`] wrote.
    pub fn load(&self, input: &mut StateReader) -> Result<()> {
        input.tag("view_table")?;
        let n = input.len()?;
        let mut loaded = BTreeMap::new();
        for _ in 0..n {
            let partition = input.i64()?;
            let batches = input.batches()?;
            if let Some(b) = batches.first()
                && b.schema().fields() != self.schema.fields()
            {
                return Err(crate::error::EngineError::Storage(
                    "checkpoint state is damaged: a view's rows have another schema".into(),
                ));
            }
            loaded.insert(partition, batches);
        }
        *self.lock() = loaded;
        Ok(())
    }

    /// Stores a pipeline's output and returns the changes views over this view receive,
    /// with each replaced window's previous rows filled in.
    pub fn apply(&self, changes: Vec<Change>) -> Result<Vec<Change>> {
        let mut rows = self.lock();
        let mut out = Vec::with_capacity(changes.len());
        for change in changes {
            match change {
                Change::Insert(batch) => {
                    if batch.num_rows() == 0 {
                        continue;
                    }
                    let window = rows.entry(WHOLE_VIEW).or_default();
                    window.push(batch.clone());
                    if window.len() > MAX_BATCHES_PER_WINDOW {
                        let merged = concat_batches(&self.schema, window.iter())?;
                        *window = vec![merged];
                    }
                    out.push(Change::Insert(batch));
                }
                Change::Replace { partition, new, .. } => {
                    let old = match rows.remove(&partition) {
                        Some(batches) => Some(concat_batches(&self.schema, batches.iter())?),
                        None => None,
                    };
                    if let Some(new) = &new {
                        rows.insert(partition, vec![new.clone()]);
                    }
                    out.push(Change::Replace {
                        partition,
                        old,
                        new,
                    });
                }
            }
        }
        Ok(out)
    }

    /// The view's rows now, in its read order.
    pub fn snapshot(&self) -> Result<Vec<RecordBatch>> {
        let batches: Vec<RecordBatch> = {
            let rows = self.lock();
            match self.order {
                ReadOrder::Windows { descending: true } | ReadOrder::Any => {
                    rows.values().rev().flatten().cloned().collect()
                }
                _ => rows.values().flatten().cloned().collect(),
            }
        };
        match &self.order {
            ReadOrder::Columns(keys) if !batches.is_empty() => {
                let all = concat_batches(&self.schema, batches.iter())?;
                let columns: Vec<SortColumn> = keys
                    .iter()
                    .map(|(i, o)| SortColumn {
                        values: Arc::clone(all.column(*i)),
                        options: Some(*o),
                    })
                    .collect();
                let indices = lexsort_to_indices(&columns, None)?;
                Ok(vec![take_record_batch(&all, &indices)?])
            }
            _ => Ok(batches),
        }
    }

    /// Each window's rows, merged into one batch per window.
    pub fn partitions(&self) -> Result<Vec<(PartitionKey, RecordBatch)>> {
        self.lock()
            .iter()
            .map(|(k, batches)| Ok((*k, concat_batches(&self.schema, batches.iter())?)))
            .collect()
    }

    pub fn row_count(&self) -> usize {
        self.lock().values().flatten().map(|b| b.num_rows()).sum()
    }
}

/// Serves a view to DataFusion queries from a snapshot taken at scan time.
#[derive(Debug)]
pub struct ViewProvider(pub Arc<ViewTable>);

#[async_trait]
impl TableProvider for ViewProvider {
    fn schema(&self) -> SchemaRef {
        self.0.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let snapshot = self
            .0
            .snapshot()
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        let exec =
            MemorySourceConfig::try_new_exec(&[snapshot], self.0.schema(), projection.cloned())?;
        Ok(exec)
    }
}
