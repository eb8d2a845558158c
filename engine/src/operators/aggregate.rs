//! GROUP BY with incremental aggregate state.

mod published;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray};
use datafusion::arrow::datatypes::{SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::physical_expr::PhysicalExpr;

use super::temporal_filter::Retention;
use super::{Change, Operator, PartitionKey, Time, WHOLE_VIEW, in_unit};
use crate::accumulators::{AggregateCall, GroupAccumulator, Rows, create};
use crate::error::{EngineError, Result};
use crate::group_keys::GroupKeys;
use crate::state::{StateReader, StateWriter};
use published::PublishedWindows;

/// The window of rows whose `window_start` is NULL (a NULL event time under TUMBLE).
pub const NULL_WINDOW: PartitionKey = i64::MIN + 1;

/// One aggregate call with its compiled argument and FILTER expressions.
pub struct AggregateInput {
    pub call: AggregateCall,
    pub args: Vec<Arc<dyn PhysicalExpr>>,
    pub filter: Option<Arc<dyn PhysicalExpr>>,
}

/// When a windowed view's windows end: on the source's watermark, by retention, or never.
#[derive(Debug, Clone)]
pub struct WindowLifecycle {
    /// The unit of `window_start`'s values (the partition keys).
    pub unit: TimeUnit,
    /// The window length in `unit`, when the view's windows close on its source's watermark
    /// (the window's time column is the source's watermark column).
    pub close_after: Option<i64>,
    /// The view's temporal filter.
    pub retention: Option<Retention>,
    /// EMIT ON WINDOW CLOSE: a window's rows are published once, when it closes.
    pub emit_on_close: bool,
}

/// Aggregate state per (group key, window), updated batch by batch.
///
/// Each batch: the GROUP BY expressions are evaluated over the whole batch, keys are interned
/// into dense group ids ([`GroupKeys`]), and every accumulator folds the batch into those ids
/// in one vectorised pass; each row carries a weight (+1 for appended events, -1/+1 for a
/// window an upstream view replaced). Groups are indexed by window (`window_start`, when the
/// key has it), so the output is, for every window the batch touched, that window's complete
/// aggregated rows; no other window is read. Only the groups the batch changed are
/// evaluated; the window's other rows are copied from its last publication
/// ([`PublishedWindows`]). A group whose row count returns to zero is left out of the
/// output, as SQL would not produce it.
///
/// Windows end (see [`WindowLifecycle`]): when the watermark passes a window's end, no event
/// can reach it any more (the source sets late events aside), so its groups' accumulators
/// (percentile and distinct values included) are reset and their ids released for reuse;
/// its rows stay in the view. Under EMIT ON WINDOW CLOSE the rows are published only then.
/// When retention passes a window's start, its state goes and its rows are withdrawn.
pub struct GroupAggregate {
    group_exprs: Vec<Arc<dyn PhysicalExpr>>,
    inputs: Vec<AggregateInput>,
    accumulators: Vec<Box<dyn GroupAccumulator>>,
    /// None for an aggregate without GROUP BY: one group that always exists.
    keys: Option<GroupKeys>,
    /// Index of `window_start` among the GROUP BY expressions.
    window_key: Option<usize>,
    /// Input rows per group, net of retractions.
    rows: Vec<i64>,
    /// Groups of each window, in order of first appearance.
    windows: BTreeMap<PartitionKey, Vec<u32>>,
    schema: SchemaRef,
    /// Scratch buffer for group ids, reused across batches.
    ids: Vec<u32>,
    /// Whether an aggregate without GROUP BY has published its one row yet (it exists
    /// before any event, as `SELECT COUNT(*) FROM empty` has one row).
    announced: bool,
    lifecycle: Option<WindowLifecycle>,
    /// Windows that closed (state released) and whose rows the view still holds.
    closed: BTreeSet<PartitionKey>,
    /// Each window's last published rows, patched with the groups a batch changed.
    published: PublishedWindows,
    /// By group id: changed by the batches being processed (scratch, all false between
    /// calls of `process`).
    changed: Vec<bool>,
    /// Whether windows are patched rather than evaluated whole; false only in tests that
    /// compare the two.
    patching: bool,
}

/// The groups each touched window had changed by the changes being processed.
type Touched = BTreeMap<PartitionKey, Vec<u32>>;

impl GroupAggregate {
    pub fn new(
        group_exprs: Vec<Arc<dyn PhysicalExpr>>,
        group_types: Vec<datafusion::arrow::datatypes::DataType>,
        inputs: Vec<AggregateInput>,
        window_key: Option<usize>,
        lifecycle: Option<WindowLifecycle>,
        schema: SchemaRef,
    ) -> Result<Self> {
        let accumulators = inputs
            .iter()
            .map(|i| create(&i.call))
            .collect::<Result<Vec<_>>>()?;
        let keys = if group_exprs.is_empty() {
            None
        } else {
            Some(GroupKeys::new(&group_types)?)
        };
        let mut windows = BTreeMap::new();
        let mut rows = Vec::new();
        if keys.is_none() {
            windows.insert(WHOLE_VIEW, vec![0]);
            rows.push(0);
        }
        Ok(GroupAggregate {
            group_exprs,
            inputs,
            accumulators,
            keys,
            window_key,
            rows,
            windows,
            schema,
            ids: Vec::new(),
            announced: false,
            lifecycle: window_key.and(lifecycle),
            closed: BTreeSet::new(),
            published: PublishedWindows::default(),
            changed: Vec::new(),
            patching: true,
        })
    }

    /// Frees the state of `window`'s groups; their ids go to new groups.
    fn release(&mut self, window: PartitionKey) {
        self.published.forget(window);
        let Some(groups) = self.windows.remove(&window) else {
            return;
        };
        for accumulator in &mut self.accumulators {
            accumulator.reset(&groups);
        }
        if let Some(keys) = &mut self.keys {
            keys.release(window);
        }
        for &g in &groups {
            self.rows[g as usize] = 0;
        }
    }

    /// Real windows (not the NULL window) whose start is at or before `last`.
    fn windows_through(&self, last: i64) -> Vec<PartitionKey> {
        self.windows
            .range(..=last)
            .map(|(w, _)| *w)
            .filter(|w| *w != NULL_WINDOW && *w != WHOLE_VIEW)
            .collect()
    }

    fn update(&mut self, batch: &RecordBatch, weight: i64, touched: &mut Touched) -> Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let eval = |e: &Arc<dyn PhysicalExpr>| -> Result<ArrayRef> {
            e.evaluate(batch)
                .and_then(|v| v.into_array(n))
                .map_err(EngineError::from_execution)
        };
        let key_columns = self
            .group_exprs
            .iter()
            .map(eval)
            .collect::<Result<Vec<_>>>()?;
        let mut ids = std::mem::take(&mut self.ids);
        match &mut self.keys {
            None => {
                ids.clear();
                ids.resize(n, 0);
                touched.entry(WHOLE_VIEW).or_default();
            }
            Some(keys) => {
                let window_column = self.window_key.map(|i| &key_columns[i]);
                // window_start is a timestamp: its values are i64 in the column's unit.
                let window_data = window_column.map(|c| c.to_data());
                let window_values: &[i64] =
                    window_data.as_ref().map_or(&[], |d| d.buffer::<i64>(0));
                let window_nulls = window_data.as_ref().and_then(|d| d.nulls());
                let partition = |row: usize| match window_column {
                    None => WHOLE_VIEW,
                    Some(_) if window_nulls.is_some_and(|n| n.is_null(row)) => NULL_WINDOW,
                    Some(_) => window_values[row],
                };
                let windows = &mut self.windows;
                keys.intern(&key_columns, partition, &mut ids, |id, row| {
                    windows.entry(partition(row)).or_default().push(id);
                })?;
                self.changed.resize(keys.len(), false);
                for (row, &id) in ids.iter().enumerate() {
                    let changed = &mut self.changed[id as usize];
                    if !*changed {
                        *changed = true;
                        touched.entry(partition(row)).or_default().push(id);
                    }
                }
            }
        }
        let num_groups = self.keys.as_ref().map_or(1, |k| k.len());
        self.rows.resize(num_groups, 0);
        for &g in &ids {
            self.rows[g as usize] += weight;
        }
        let weights = (weight != 1).then(|| vec![weight; n]);
        for (input, acc) in self.inputs.iter().zip(self.accumulators.iter_mut()) {
            let args = input.args.iter().map(eval).collect::<Result<Vec<_>>>()?;
            let filter = input.filter.as_ref().map(eval).transpose()?;
            let filter = match &filter {
                Some(f) => Some(
                    f.as_any()
                        .downcast_ref::<BooleanArray>()
                        .ok_or_else(|| EngineError::Internal("FILTER is not boolean".into()))?,
                ),
                None => None,
            };
            let rows = Rows {
                groups: &ids,
                weights: weights.as_deref(),
                filter,
                num_groups,
            };
            acc.update(&args, &rows)?;
        }
        self.ids = ids;
        Ok(())
    }

    /// The aggregated rows of one window, or None when it has none.
    fn window_rows(&self, window: PartitionKey) -> Result<Option<RecordBatch>> {
        let global = self.keys.is_none();
        let groups: Vec<u32> = match self.windows.get(&window) {
            Some(g) => g
                .iter()
                .copied()
                .filter(|&g| global || self.rows[g as usize] > 0)
                .collect(),
            None => vec![],
        };
        self.evaluate(&groups)
    }

    /// The rows of a window the changes touched, `changed` being its groups they changed:
    /// patched into its last published rows when that is cheaper, else evaluated whole.
    fn publish(&mut self, window: PartitionKey, changed: &[u32]) -> Result<Option<RecordBatch>> {
        let Some(order) = self.windows.get(&window).filter(|_| self.keys.is_some()) else {
            return self.window_rows(window);
        };
        let rows = &self.rows;
        let live = |g: &u32| rows[*g as usize] > 0;
        if self.patching
            && self
                .published
                .worth_patching(window, changed.len(), order.len())
        {
            let fresh_groups: Vec<u32> = changed.iter().copied().filter(live).collect();
            let fresh = self.evaluate(&fresh_groups)?;
            return self
                .published
                .patch(window, order, changed, &fresh_groups, fresh);
        }
        let groups: Vec<u32> = order.iter().copied().filter(live).collect();
        let batch = self.evaluate(&groups)?;
        match &batch {
            Some(b) => self.published.record(window, groups, b.clone()),
            None => self.published.forget(window),
        }
        Ok(batch)
    }

    /// The aggregated rows of `groups`, in that order, or None when there are none.
    fn evaluate(&self, groups: &[u32]) -> Result<Option<RecordBatch>> {
        if groups.is_empty() {
            return Ok(None);
        }
        let mut columns = match &self.keys {
            Some(keys) => keys.columns(groups)?,
            None => vec![],
        };
        for acc in &self.accumulators {
            columns.push(acc.evaluate(groups)?);
        }
        // The plan's schema may mark columns non-nullable that our arrays mark nullable.
        let columns = columns
            .into_iter()
            .zip(self.schema.fields())
            .map(|(c, f)| {
                if c.data_type() == f.data_type() {
                    Ok(c)
                } else {
                    datafusion::arrow::compute::cast(&c, f.data_type())
                }
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(groups.len()));
        Ok(Some(RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            columns,
            &options,
        )?))
    }
}

impl Operator for GroupAggregate {
    fn name(&self) -> &'static str {
        "GroupAggregate"
    }

    fn save(&self, out: &mut StateWriter) -> Result<()> {
        out.tag("aggregate");
        out.bool(self.announced);
        out.i64s(&self.rows);
        out.len(self.windows.len());
        for (window, groups) in &self.windows {
            out.i64(*window);
            out.u32s(groups);
        }
        out.i64s(&self.closed.iter().copied().collect::<Vec<_>>());
        out.bool(self.keys.is_some());
        if let Some(keys) = &self.keys {
            keys.save(out)?;
        }
        for accumulator in &self.accumulators {
            accumulator.save(out)?;
        }
        Ok(())
    }

    fn load(&mut self, input: &mut StateReader) -> Result<()> {
        input.tag("aggregate")?;
        self.announced = input.bool()?;
        self.rows = input.i64s()?;
        let windows = input.len()?;
        self.windows = BTreeMap::new();
        for _ in 0..windows {
            let window = input.i64()?;
            self.windows.insert(window, input.u32s()?);
        }
        self.closed = input.i64s()?.into_iter().collect();
        self.published = PublishedWindows::default();
        let has_keys = input.bool()?;
        match (&mut self.keys, has_keys) {
            (Some(keys), true) => keys.load(input, &self.windows)?,
            (None, false) => {}
            _ => {
                return Err(EngineError::Storage(
                    "checkpoint state is damaged: an aggregate of another shape".into(),
                ));
            }
        }
        for accumulator in &mut self.accumulators {
            accumulator.load(input)?;
        }
        Ok(())
    }

    fn process(&mut self, input: Vec<Change>) -> Result<Vec<Change>> {
        let mut touched = Touched::new();
        if self.keys.is_none() && !self.announced {
            touched.insert(WHOLE_VIEW, vec![]);
            self.announced = true;
        }
        let updated = input.into_iter().try_for_each(|change| match change {
            Change::Insert(b) => self.update(&b, 1, &mut touched),
            Change::Replace { old, new, .. } => {
                if let Some(old) = old {
                    self.update(&old, -1, &mut touched)?;
                }
                match new {
                    Some(new) => self.update(&new, 1, &mut touched),
                    None => Ok(()),
                }
            }
        });
        // Cleared before anything can fail, so the next call starts from no changes.
        for &g in touched.values().flatten() {
            self.changed[g as usize] = false;
        }
        if let Err(e) = updated {
            // Some accumulators may have taken the batch: the next publication of these
            // windows evaluates them whole rather than trusting their last rows.
            for &w in touched.keys() {
                self.published.forget(w);
            }
            return Err(e);
        }
        let emit_on_close = self.lifecycle.as_ref().is_some_and(|l| l.emit_on_close);
        if emit_on_close {
            return Ok(vec![]);
        }
        touched
            .into_iter()
            .map(|(w, changed)| {
                Ok(Change::Replace {
                    partition: w,
                    old: None,
                    new: self.publish(w, &changed)?,
                })
            })
            .collect()
    }

    fn open_windows(&self) -> Option<usize> {
        self.window_key.map(|_| {
            self.windows
                .keys()
                .filter(|w| **w != NULL_WINDOW && **w != WHOLE_VIEW)
                .count()
        })
    }

    fn advance(&mut self, time: Time) -> Result<Vec<Change>> {
        let Some(lifecycle) = self.lifecycle.clone() else {
            return Ok(vec![]);
        };
        let mut out = Vec::new();
        if let (Some(size), Some(watermark)) = (lifecycle.close_after, time.watermark) {
            // A window [start, start + size) is final once the watermark reaches its end.
            let last = in_unit(watermark, &lifecycle.unit).saturating_sub(size);
            for window in self.windows_through(last) {
                if lifecycle.emit_on_close {
                    out.push(Change::Replace {
                        partition: window,
                        old: None,
                        new: self.window_rows(window)?,
                    });
                }
                self.release(window);
                self.closed.insert(window);
            }
        }
        if let Some(retention) = lifecycle.retention {
            let last = retention.last_expired(time.now, &lifecycle.unit);
            let mut expired = self.windows_through(last);
            let closed: Vec<PartitionKey> = self.closed.range(..=last).copied().collect();
            expired.extend(closed);
            for window in expired {
                self.release(window);
                self.closed.remove(&window);
                out.push(Change::Replace {
                    partition: window,
                    old: None,
                    new: None,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_expr::expressions::Column;

    use super::*;

    fn input_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("user", DataType::Utf8, true),
            Field::new(
                "window_start",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                true,
            ),
            Field::new("value", DataType::Int64, true),
        ]))
    }

    /// GROUP BY user, window_start with COUNT, PERCENTILE_CONT(0.5), COUNT(DISTINCT) and a
    /// retractable MIN of `value`.
    fn aggregate(patching: bool) -> GroupAggregate {
        let column =
            |name: &str, i: usize| -> Arc<dyn PhysicalExpr> { Arc::new(Column::new(name, i)) };
        let call = |function: &str, distinct: bool, output_type: DataType| AggregateCall {
            function: function.into(),
            distinct,
            arg_types: vec![DataType::Int64],
            output_type,
            fraction: (function == "percentile_cont").then_some(0.5),
            descending: false,
            retractable: true,
        };
        let inputs = [
            call("count", false, DataType::Int64),
            call("percentile_cont", false, DataType::Float64),
            call("count", true, DataType::Int64),
            call("min", false, DataType::Int64),
        ]
        .into_iter()
        .map(|call| AggregateInput {
            call,
            args: vec![column("value", 2)],
            filter: None,
        })
        .collect();
        let timestamp = DataType::Timestamp(TimeUnit::Microsecond, None);
        let schema = Arc::new(Schema::new(vec![
            Field::new("user", DataType::Utf8, true),
            Field::new("window_start", timestamp.clone(), true),
            Field::new("n", DataType::Int64, true),
            Field::new("median", DataType::Float64, true),
            Field::new("distinct", DataType::Int64, true),
            Field::new("least", DataType::Int64, true),
        ]));
        let mut aggregate = GroupAggregate::new(
            vec![column("user", 0), column("window_start", 1)],
            vec![DataType::Utf8, timestamp],
            inputs,
            Some(1),
            None,
            schema,
        )
        .expect("the aggregate");
        aggregate.patching = patching;
        aggregate
    }

    /// Random rows: users from a few dozen, three windows, NULL users and values now and
    /// then.
    fn rows(seed: &mut u64, n: usize) -> RecordBatch {
        let mut next = |m: u64| {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (*seed >> 33) % m
        };
        let mut users = Vec::new();
        let mut windows = Vec::new();
        let mut values = Vec::new();
        for _ in 0..n {
            let u = next(40);
            users.push((u != 0).then(|| format!("user{u}")));
            windows.push(Some(next(3) as i64 * 60_000_000));
            let v = next(50) as i64;
            values.push((v != 0).then_some(v));
        }
        RecordBatch::try_new(
            input_schema(),
            vec![
                Arc::new(StringArray::from(users)),
                Arc::new(TimestampMicrosecondArray::from(windows)),
                Arc::new(Int64Array::from(values)),
            ],
        )
        .expect("a batch")
    }

    /// Patched windows are exactly what evaluating them whole gives, row order included,
    /// through small and large batches, retractions that empty groups and bring them back,
    /// and a checkpoint restored mid-way.
    #[test]
    fn patched_windows_equal_whole_evaluation() {
        let mut patched = aggregate(true);
        let mut whole = aggregate(false);
        let mut seed = 7;
        let mut earlier: Vec<RecordBatch> = Vec::new();
        for step in 0..300 {
            let size = [1, 3, 8, 40, 200][step % 5];
            let change = match step % 7 {
                // Take back an earlier batch (as a view over a view sees a window replaced)
                // and add a new one.
                3 if !earlier.is_empty() => {
                    let old = earlier.swap_remove(step % earlier.len());
                    Change::Replace {
                        partition: 0,
                        old: Some(old),
                        new: Some(rows(&mut seed, size)),
                    }
                }
                // Take one back alone: its groups may drop to no rows.
                5 if !earlier.is_empty() => Change::Replace {
                    partition: 0,
                    old: Some(earlier.swap_remove(0)),
                    new: None,
                },
                _ => {
                    let batch = rows(&mut seed, size);
                    earlier.push(batch.clone());
                    Change::Insert(batch)
                }
            };
            if let Change::Replace { new: Some(new), .. } = &change {
                earlier.push(new.clone());
            }
            if step == 150 {
                let mut out = StateWriter::default();
                patched.save(&mut out).expect("saved");
                let bytes = out.into_bytes();
                patched = aggregate(true);
                patched.load(&mut StateReader::new(&bytes)).expect("loaded");
            }
            let got = patched.process(vec![change.clone()]).expect("patched");
            let want = whole.process(vec![change]).expect("whole");
            assert_eq!(got.len(), want.len(), "step {step}");
            for (g, w) in got.iter().zip(&want) {
                let (
                    Change::Replace {
                        partition: pg,
                        new: ng,
                        ..
                    },
                    Change::Replace {
                        partition: pw,
                        new: nw,
                        ..
                    },
                ) = (g, w)
                else {
                    panic!("an aggregate's output is window replacements");
                };
                assert_eq!((pg, ng), (pw, nw), "step {step}");
            }
        }
        // Most publications were patches, not whole evaluations.
        let patches = patched.published.patches();
        assert!(patches > 150, "{patches} patches");
    }
}
