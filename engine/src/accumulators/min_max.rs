//! MIN and MAX over any orderable type.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;

use super::value_counts::ValueCounts;
use super::{GroupAccumulator, Rows};
use crate::error::Result;
use crate::state::{StateReader, StateWriter};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extreme {
    Min,
    Max,
}

/// Keeps each group's values with counts, so the extreme survives retractions (a view over an
/// updating view): the answer is the first or last key of the group's ordered multiset.
pub struct MinMax {
    values: ValueCounts,
    extreme: Extreme,
}

impl MinMax {
    pub fn new(data_type: DataType, extreme: Extreme) -> Result<Self> {
        Ok(MinMax {
            values: ValueCounts::new(data_type)?,
            extreme,
        })
    }
}

impl GroupAccumulator for MinMax {
    fn update(&mut self, args: &[ArrayRef], rows: &Rows) -> Result<()> {
        self.values.update(&args[0], rows)
    }

    fn evaluate(&self, groups: &[u32]) -> Result<ArrayRef> {
        let last = self.extreme == Extreme::Max;
        let picks: Vec<_> = groups
            .iter()
            .map(|&g| self.values.extreme(g, last))
            .collect();
        self.values.decode(&picks)
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
