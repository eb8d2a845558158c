//! A materialized view's rows: kept per window, read as a snapshot.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use datafusion::arrow::array::Array;
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::compute::{
    SortColumn, concat_batches, lexsort_to_indices, take_record_batch,
};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;

use crate::block_cache::BlockCache;
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
/// looks at events, only at rows: the cost of a read is the size of the view, or of the
/// windows a filter on `window_start` keeps ([`crate::view_scan`]).
pub struct ViewTable {
    schema: SchemaRef,
    order: ReadOrder,
    /// The `window_start` column, when the view has a timestamp column of that name.
    window_column: Option<usize>,
    rows: Mutex<BTreeMap<PartitionKey, Arc<StoredWindow>>>,
    /// [`SETTLED_AFTER`], but for tests.
    settled_after: Duration,
    /// Partial aggregate states of blocks of settled windows ([`crate::window_partials`]).
    partials: BlockCache,
    /// Small settled windows' rows, merged block by block ([`crate::view_exec`]).
    merged_rows: BlockCache,
}

/// One window's rows as stored: replaced whole when the window changes, never modified,
/// so a scan shares it instead of copying its batch list.
pub struct StoredWindow {
    pub batches: Vec<RecordBatch>,
    /// When the window is one non-empty batch whose rows all hold one value in the window
    /// column (checked as it is stored), that value (None for NULL): a filter on that column
    /// alone keeps or drops such a window whole.
    pub uniform_start: Option<Option<i64>>,
    /// Unique to this content of this window in this process: what results computed from
    /// the window's rows are cached under.
    pub version: u64,
    changed_at: Instant,
}

impl StoredWindow {
    /// Rows that belong to no one window (a view's rows sorted across windows), never
    /// cached.
    pub fn unversioned(batches: Vec<RecordBatch>) -> Self {
        StoredWindow {
            batches,
            uniform_start: None,
            version: 0,
            changed_at: Instant::now(),
        }
    }
}

/// One window, as a scan sees it.
pub struct WindowRows {
    pub key: PartitionKey,
    /// Unchanged for [`SETTLED_AFTER`]: worth caching what is computed from it.
    pub settled: bool,
    pub window: Arc<StoredWindow>,
}

/// Appended batches of a view without windows are merged past this count, so a read
/// touches few batches.
const MAX_BATCHES_PER_WINDOW: usize = 32;

/// How long a window must go unchanged before queries cache what they compute from it: the
/// windows still receiving events change every few milliseconds, and caching those would
/// only churn the cache.
pub const SETTLED_AFTER: Duration = Duration::from_secs(1);

/// Versions are unique across views, so a result cached under one cannot be mistaken for
/// another's.
static NEXT_VERSION: AtomicU64 = AtomicU64::new(1);

impl fmt::Debug for ViewTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ViewTable({:?})", self.schema)
    }
}

impl ViewTable {
    pub fn new(schema: SchemaRef, order: ReadOrder) -> Self {
        let window_column = schema
            .index_of(crate::planner::WINDOW_START)
            .ok()
            .filter(|&i| matches!(schema.field(i).data_type(), DataType::Timestamp(_, _)));
        ViewTable {
            schema,
            order,
            window_column,
            rows: Mutex::new(BTreeMap::new()),
            settled_after: SETTLED_AFTER,
            partials: BlockCache::default(),
            merged_rows: BlockCache::default(),
        }
    }

    /// The table with windows settled this long after they change.
    pub fn settled_after(mut self, wait: Duration) -> Self {
        self.settled_after = wait;
        self
    }

    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// The column a window's rows may share one value of: `window_start`.
    pub fn window_column(&self) -> Option<usize> {
        self.window_column
    }

    pub fn partials(&self) -> &BlockCache {
        &self.partials
    }

    pub fn merged_rows(&self) -> &BlockCache {
        &self.merged_rows
    }

    /// A window holding `batches`, with its start when every row holds the same.
    fn window(&self, key: PartitionKey, batches: Vec<RecordBatch>) -> Arc<StoredWindow> {
        let uniform_start = match (self.window_column, batches.as_slice()) {
            (Some(column), [batch]) if key != WHOLE_VIEW => {
                let data = batch.column(column).to_data();
                let nulls = data.null_count();
                // A timestamp's values are i64 whatever its unit.
                let values = &data.buffer::<i64>(0)[data.offset()..data.offset() + data.len()];
                match values.first() {
                    Some(_) if nulls == values.len() => Some(None),
                    Some(first) if nulls == 0 && values.iter().all(|v| v == first) => {
                        Some(Some(*first))
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        Arc::new(StoredWindow {
            batches,
            uniform_start,
            version: NEXT_VERSION.fetch_add(1, Ordering::Relaxed),
            changed_at: Instant::now(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<PartitionKey, Arc<StoredWindow>>> {
        // A panic while holding this lock cannot leave a window half-replaced (replacement
        // is one map insert), so a poisoned lock's data is still whole.
        self.rows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every window's rows, shared (batches are reference-counted): a cheap copy to encode
    /// with [`ViewTable::save_rows`] later, without the view's lock.
    pub fn partitions_shared(&self) -> Partitions {
        self.lock()
            .iter()
            .map(|(k, w)| (*k, w.batches.clone()))
            .collect()
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
            loaded.insert(partition, self.window(partition, batches));
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
                    let mut batches = rows
                        .remove(&WHOLE_VIEW)
                        .map(|w| w.batches.clone())
                        .unwrap_or_default();
                    batches.push(batch.clone());
                    if batches.len() > MAX_BATCHES_PER_WINDOW {
                        batches = vec![concat_batches(&self.schema, batches.iter())?];
                    }
                    rows.insert(WHOLE_VIEW, self.window(WHOLE_VIEW, batches));
                    out.push(Change::Insert(batch));
                }
                Change::Replace { partition, new, .. } => {
                    let old = match rows.remove(&partition) {
                        Some(w) => Some(concat_batches(&self.schema, w.batches.iter())?),
                        None => None,
                    };
                    if let Some(new) = &new {
                        rows.insert(partition, self.window(partition, vec![new.clone()]));
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
        let batches = self
            .windows()
            .into_iter()
            .flat_map(|w| w.window.batches.clone())
            .collect();
        self.in_read_order(batches)
    }

    /// Every window's rows now (shared, not copied), in the view's window order.
    pub fn windows(&self) -> Vec<WindowRows> {
        let stored = self.lock();
        let now = Instant::now();
        let window = |(k, w): (&PartitionKey, &Arc<StoredWindow>)| WindowRows {
            key: *k,
            settled: now.saturating_duration_since(w.changed_at) >= self.settled_after,
            window: Arc::clone(w),
        };
        match self.order {
            ReadOrder::Windows { descending: true } | ReadOrder::Any => {
                stored.iter().rev().map(window).collect()
            }
            _ => stored.iter().map(window).collect(),
        }
    }

    /// Whether [`ViewTable::in_read_order`] sorts rows across windows.
    pub fn sorts_when_read(&self) -> bool {
        matches!(self.order, ReadOrder::Columns(_))
    }

    /// `batches`, taken from [`ViewTable::windows`] in their order, sorted as the view
    /// reads when its ORDER BY is not by window.
    pub fn in_read_order(&self, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
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
            .map(|(k, w)| Ok((*k, concat_batches(&self.schema, w.batches.iter())?)))
            .collect()
    }

    pub fn row_count(&self) -> usize {
        self.lock()
            .values()
            .flat_map(|w| &w.batches)
            .map(|b| b.num_rows())
            .sum()
    }
}
