//! COUNT(DISTINCT x).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array};
use datafusion::arrow::datatypes::DataType;

use super::value_counts::ValueCounts;
use super::{GroupAccumulator, Rows};
use crate::error::Result;
use crate::state::{StateReader, StateWriter};

/// Distinct non-NULL values per group, as value -> count (not a list of events), so the
/// answer is the number of keys and a retraction removes a value only at count zero.
pub struct CountDistinct {
    values: ValueCounts,
}

impl CountDistinct {
    pub fn new(data_type: DataType) -> Result<Self> {
        Ok(CountDistinct {
            values: ValueCounts::new(data_type)?,
        })
    }
}

impl GroupAccumulator for CountDistinct {
    fn update(&mut self, args: &[ArrayRef], rows: &Rows) -> Result<()> {
        self.values.update(&args[0], rows)
    }

    fn evaluate(&self, groups: &[u32]) -> Result<ArrayRef> {
        Ok(Arc::new(Int64Array::from_iter_values(
            groups.iter().map(|&g| self.values.distinct(g) as i64),
        )))
    }

    fn reset(&mut self, groups: &[u32]) {
        self.values.reset(groups);
    }

    fn save(&self, out: &mut StateWriter) -> Result<()> {
        self.values.save(out)
    }

    fn load(&mut self, input: &mut StateReader) -> Result<()> {
        self.values.load(input)
    }
}
