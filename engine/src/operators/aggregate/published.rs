//! A grouped aggregate's last published rows per window, patched with the groups a batch
//! changed instead of re-evaluating every group of the window.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::compute::interleave;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};

use crate::error::Result;
use crate::operators::PartitionKey;

/// The rows a window was last published with, and the group each row is.
struct Published {
    groups: Vec<u32>,
    batch: RecordBatch,
}

/// How a group stands in [`PublishedWindows::patch`]'s scratch marks.
const UNCHANGED: u32 = 0;
const GONE: u32 = u32::MAX;

/// Per window, the rows last published and their groups.
///
/// A small batch touches few of a big window's groups (a few hundred users out of thousands
/// in a minute), yet the window is republished whole. Re-evaluating every group (key
/// decoding, a percentile per group) made the cost of a batch the size of its windows, not
/// of the batch. Instead, the groups a batch changed are evaluated, and the window's new
/// rows are gathered from them and from the last published rows (one copy per cell, no
/// evaluation). The rows come out in the same order as a full evaluation's (the window's
/// groups in order of first appearance, those with rows), so the two are interchangeable;
/// this is not state a checkpoint keeps: after a restart a window is evaluated whole once.
#[derive(Default)]
pub struct PublishedWindows {
    windows: HashMap<PartitionKey, Published>,
    /// Scratch, by group id: [`UNCHANGED`], [`GONE`] (changed, and has no rows now), or
    /// 1 + the group's row among the re-evaluated rows. Back to all [`UNCHANGED`] between
    /// calls.
    marks: Vec<u32>,
    /// Publications that were patches, for tests to see that patching happens.
    patches: u64,
}

impl PublishedWindows {
    /// Whether `window` was published and patching it beats evaluating it whole: gathering
    /// a row costs much less than evaluating a group, but not nothing.
    pub fn worth_patching(&self, window: PartitionKey, changed: usize, groups: usize) -> bool {
        self.windows.contains_key(&window) && changed * 2 <= groups
    }

    /// Keeps `batch` (the rows of `groups`, in that order) as `window`'s published rows.
    pub fn record(&mut self, window: PartitionKey, groups: Vec<u32>, batch: RecordBatch) {
        self.windows.insert(window, Published { groups, batch });
    }

    /// How many publications were patches.
    #[cfg(test)]
    pub fn patches(&self) -> u64 {
        self.patches
    }

    /// Forgets `window`'s rows (it closed, expired, or has no rows).
    pub fn forget(&mut self, window: PartitionKey) {
        self.windows.remove(&window);
    }

    /// `window`'s new rows: `order` is the window's groups in order of first appearance,
    /// `changed` the groups changed since its last publication, and `fresh` the rows of
    /// `fresh_groups` (those of `changed` that have rows), in that order. Returns None when
    /// no group has rows, and records the result as the window's published rows.
    ///
    /// The caller checks [`PublishedWindows::worth_patching`] first.
    pub fn patch(
        &mut self,
        window: PartitionKey,
        order: &[u32],
        changed: &[u32],
        fresh_groups: &[u32],
        fresh: Option<RecordBatch>,
    ) -> Result<Option<RecordBatch>> {
        let Some(last) = self.windows.remove(&window) else {
            return Err(crate::error::EngineError::Internal(
                "a window was patched that was never published".into(),
            ));
        };
        self.patches += 1;
        let needed = order.iter().map(|&g| g as usize + 1).max().unwrap_or(0);
        if self.marks.len() < needed {
            self.marks.resize(needed, UNCHANGED);
        }
        for &g in changed {
            self.marks[g as usize] = GONE;
        }
        for (row, &g) in fresh_groups.iter().enumerate() {
            self.marks[g as usize] = row as u32 + 1;
        }
        // The last published groups are a subsequence of `order` (a window's group list only
        // grows), so one walk finds each group's last row.
        let mut indices = Vec::with_capacity(last.groups.len() + fresh_groups.len());
        let mut groups = Vec::with_capacity(indices.capacity());
        let mut at = 0;
        for &g in order {
            let was_published = last.groups.get(at) == Some(&g);
            if was_published {
                at += 1;
            }
            match self.marks[g as usize] {
                UNCHANGED if was_published => {
                    indices.push((0, at - 1));
                    groups.push(g);
                }
                UNCHANGED | GONE => {}
                row => {
                    indices.push((1, row as usize - 1));
                    groups.push(g);
                }
            }
        }
        for &g in changed {
            self.marks[g as usize] = UNCHANGED;
        }
        if groups.is_empty() {
            return Ok(None);
        }
        let fresh = fresh.unwrap_or_else(|| last.batch.slice(0, 0));
        let columns = (0..last.batch.num_columns())
            .map(|c| {
                let sources: [&dyn Array; 2] = [last.batch.column(c), fresh.column(c)];
                interleave(&sources, &indices)
            })
            .collect::<std::result::Result<Vec<ArrayRef>, _>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(groups.len()));
        let batch = RecordBatch::try_new_with_options(last.batch.schema(), columns, &options)?;
        self.record(window, groups, batch.clone());
        Ok(Some(batch))
    }
}
