//! Incremental aggregate functions over many groups at once, behind [`GroupAccumulator`].
//!
//! DataFusion's `GroupsAccumulator` is the model, but it cannot serve a view: its `evaluate`
//! consumes the state, it has no retraction, and it keeps raw values for exact percentiles.
//! These keep state that stays valid after every read, take a signed weight per row (so a
//! view over an updating view can retract rows), and keep value -> count for the functions
//! that need the values (MIN/MAX under retraction, COUNT DISTINCT, percentiles).

pub mod count;
pub mod count_distinct;
pub mod min_max;
pub mod ordered_counts;
pub mod percentile;
pub mod sum;
pub mod value_counts;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray};
use datafusion::arrow::datatypes::DataType;

use crate::error::{EngineError, Result};
use crate::state::{StateReader, StateWriter};

/// The rows of one batch as an accumulator sees them.
pub struct Rows<'a> {
    /// The group of each row.
    pub groups: &'a [u32],
    /// How many times each row counts (once when None; negative retracts).
    pub weights: Option<&'a [i64]>,
    /// FILTER (WHERE ...): rows where it is false or NULL are skipped.
    pub filter: Option<&'a BooleanArray>,
    /// Groups that exist after this batch; state vectors grow to this length.
    pub num_groups: usize,
}

impl Rows<'_> {
    /// Calls `f(row, group, weight)` for every row that counts: selected by the filter and
    /// non-NULL in `values` (when given).
    #[inline]
    pub fn for_each(&self, values: Option<&dyn Array>, mut f: impl FnMut(usize, usize, i64)) {
        let nulls = values.and_then(|v| v.logical_nulls());
        for (i, &g) in self.groups.iter().enumerate() {
            if let Some(m) = self.filter
                && !(m.is_valid(i) && m.value(i))
            {
                continue;
            }
            if let Some(nb) = &nulls
                && nb.is_null(i)
            {
                continue;
            }
            f(i, g as usize, self.weights.map_or(1, |w| w[i]));
        }
    }
}

/// Rows without a filter, for the accumulators' unit tests.
#[cfg(test)]
pub(crate) fn test_rows<'a>(
    groups: &'a [u32],
    weights: Option<&'a [i64]>,
    num_groups: usize,
) -> Rows<'a> {
    Rows {
        groups,
        weights,
        filter: None,
        num_groups,
    }
}

/// State of one aggregate function for every group of a view.
pub trait GroupAccumulator: Send {
    /// Folds the batch's argument columns `args` into the groups of `rows`.
    fn update(&mut self, args: &[ArrayRef], rows: &Rows) -> Result<()>;

    /// The current result of each group in `groups`, in that order. State is unchanged.
    fn evaluate(&self, groups: &[u32]) -> Result<ArrayRef>;

    /// Returns `groups` to their state before any row, freeing what they held: their window
    /// is final or expired, and the ids will be reused for new groups.
    fn reset(&mut self, groups: &[u32]);

    /// Writes every group's state, for a checkpoint.
    fn save(&self, out: &mut StateWriter) -> Result<()>;

    /// Replaces every group's state with what [`GroupAccumulator::save`] wrote.
    fn load(&mut self, input: &mut StateReader) -> Result<()>;
}

/// What the planner knows about one aggregate call.
#[derive(Debug, Clone)]
pub struct AggregateCall {
    /// DataFusion's function name (`count`, `sum`, ...).
    pub function: String,
    pub distinct: bool,
    pub arg_types: Vec<DataType>,
    pub output_type: DataType,
    /// PERCENTILE_*: the fraction and whether WITHIN GROUP orders descending.
    pub fraction: Option<f64>,
    pub descending: bool,
    /// The aggregate's input can retract rows (it reads a view that replaces windows);
    /// false for a view over a source, whose events only arrive.
    pub retractable: bool,
}

/// The one place aggregate names map to implementations.
pub fn create(call: &AggregateCall) -> Result<Box<dyn GroupAccumulator>> {
    use self::count::Count;
    use self::count_distinct::CountDistinct;
    use self::min_max::{Extreme, MinMax};
    use self::percentile::{Percentile, PercentileMode};
    use self::sum::{Average, Sum};
    let arg = call.arg_types.first().cloned().unwrap_or(DataType::Null);
    let f = call.function.as_str();
    if call.distinct && f != "count" && f != "min" && f != "max" {
        return Err(EngineError::unsupported(format!(
            "{}(DISTINCT ...) in a materialized view",
            f.to_uppercase()
        )));
    }
    Ok(match f {
        "count" if call.distinct => Box::new(CountDistinct::new(arg)?),
        "count" => Box::new(Count::default()),
        "sum" => Box::new(Sum::new(call.output_type.clone())?),
        "avg" | "mean" => Box::new(Average::new(call.output_type.clone())?),
        "min" => Box::new(MinMax::new(arg, Extreme::Min, call.retractable)?),
        "max" => Box::new(MinMax::new(arg, Extreme::Max, call.retractable)?),
        "percentile_cont" | "percentile_disc" => {
            let mode = if f == "percentile_cont" {
                PercentileMode::Cont
            } else {
                PercentileMode::Disc
            };
            let fraction = call
                .fraction
                .ok_or_else(|| EngineError::Internal("percentile without a fraction".into()))?;
            Box::new(Percentile::new(arg, mode, fraction, call.descending)?)
        }
        other => {
            return Err(EngineError::unsupported(format!(
                "aggregate function {}() in a materialized view (supported: COUNT, COUNT(DISTINCT), \
                 SUM, AVG, MIN, MAX, PERCENTILE_CONT, PERCENTILE_DISC)",
                other.to_uppercase()
            )));
        }
    })
}
