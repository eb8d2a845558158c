//! COUNT(x) and COUNT(*).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array};

use super::{GroupAccumulator, Rows};
use crate::error::Result;
use crate::state::{StateReader, StateWriter};

/// Non-NULL rows per group: one i64 per group, `+= weight` per row. COUNT(*) arrives as
/// COUNT(1), whose argument is never NULL.
#[derive(Default)]
pub struct Count {
    counts: Vec<i64>,
}

impl GroupAccumulator for Count {
    fn update(&mut self, args: &[ArrayRef], rows: &Rows) -> Result<()> {
        self.counts.resize(rows.num_groups, 0);
        let counts = &mut self.counts;
        rows.for_each(args.first().map(|a| a.as_ref()), |_, g, w| counts[g] += w);
        Ok(())
    }

    fn evaluate(&self, groups: &[u32]) -> Result<ArrayRef> {
        Ok(Arc::new(Int64Array::from_iter_values(groups.iter().map(
            |&g| self.counts.get(g as usize).copied().unwrap_or(0),
        ))))
    }

    fn reset(&mut self, groups: &[u32]) {
        for &g in groups {
            if let Some(c) = self.counts.get_mut(g as usize) {
                *c = 0;
            }
        }
    }

    fn save(&self, out: &mut StateWriter) -> Result<()> {
        out.tag("count");
        out.i64s(&self.counts);
        Ok(())
    }

    fn load(&mut self, input: &mut StateReader) -> Result<()> {
        input.tag("count")?;
        self.counts = input.i64s()?;
        Ok(())
    }
}
