//! COUNT(x) and COUNT(*).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array};

use super::{GroupAccumulator, for_each_row};
use crate::error::Result;

/// Non-NULL rows per group: one i64 per group, `+= weight` per row. COUNT(*) arrives as
/// COUNT(1), whose argument is never NULL.
#[derive(Default)]
pub struct Count {
    counts: Vec<i64>,
}

impl GroupAccumulator for Count {
    fn update(
        &mut self,
        args: &[ArrayRef],
        groups: &[u32],
        weights: Option<&[i64]>,
        filter: Option<&BooleanArray>,
        num_groups: usize,
    ) -> Result<()> {
        self.counts.resize(num_groups, 0);
        let values = args.first().map(|a| a.as_ref());
        let counts = &mut self.counts;
        for_each_row(groups.len(), groups, weights, filter, values, |_, g, w| {
            counts[g] += w;
        });
        Ok(())
    }

    fn evaluate(&self, groups: &[u32]) -> Result<ArrayRef> {
        Ok(Arc::new(Int64Array::from_iter_values(groups.iter().map(
            |&g| self.counts.get(g as usize).copied().unwrap_or(0),
        ))))
    }
}
