//! SUM and AVG.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, UInt64Array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, UInt64Type};

use super::{GroupAccumulator, for_each_row};
use crate::error::{EngineError, Result};

/// Running totals per group in the result type DataFusion chose (Int64 for integers, UInt64
/// for unsigned, Float64 for floats), plus the count of non-NULL inputs so an all-NULL group
/// yields NULL. Integer sums wrap like DataFusion's rather than fail mid-stream.
pub struct Sum {
    output: DataType,
    ints: Vec<i64>,
    uints: Vec<u64>,
    floats: Vec<f64>,
    counts: Vec<i64>,
}

impl Sum {
    pub fn new(output: DataType) -> Result<Self> {
        match output {
            DataType::Int64 | DataType::UInt64 | DataType::Float64 => Ok(Sum {
                output,
                ints: vec![],
                uints: vec![],
                floats: vec![],
                counts: vec![],
            }),
            other => Err(EngineError::unsupported(format!(
                "SUM returning {other} in a materialized view"
            ))),
        }
    }

    fn add(
        &mut self,
        values: &ArrayRef,
        groups: &[u32],
        weights: Option<&[i64]>,
        filter: Option<&BooleanArray>,
        n: usize,
    ) -> Result<()> {
        self.counts.resize(n, 0);
        let values = cast(values, &self.output)?;
        let counts = &mut self.counts;
        match self.output {
            DataType::Int64 => {
                self.ints.resize(n, 0);
                let v = values.as_primitive::<Int64Type>().values();
                let sums = &mut self.ints;
                for_each_row(
                    groups.len(),
                    groups,
                    weights,
                    filter,
                    Some(values.as_ref()),
                    |i, g, w| {
                        sums[g] = sums[g].wrapping_add(v[i].wrapping_mul(w));
                        counts[g] += w;
                    },
                );
            }
            DataType::UInt64 => {
                self.uints.resize(n, 0);
                let v = values.as_primitive::<UInt64Type>().values();
                let sums = &mut self.uints;
                for_each_row(
                    groups.len(),
                    groups,
                    weights,
                    filter,
                    Some(values.as_ref()),
                    |i, g, w| {
                        sums[g] = sums[g].wrapping_add(v[i].wrapping_mul(w as u64));
                        counts[g] += w;
                    },
                );
            }
            _ => {
                self.floats.resize(n, 0.0);
                let v = values.as_primitive::<Float64Type>().values();
                let sums = &mut self.floats;
                for_each_row(
                    groups.len(),
                    groups,
                    weights,
                    filter,
                    Some(values.as_ref()),
                    |i, g, w| {
                        sums[g] += v[i] * w as f64;
                        counts[g] += w;
                    },
                );
            }
        }
        Ok(())
    }

    fn live(&self, g: u32) -> bool {
        self.counts.get(g as usize).is_some_and(|c| *c > 0)
    }
}

impl GroupAccumulator for Sum {
    fn update(
        &mut self,
        args: &[ArrayRef],
        groups: &[u32],
        weights: Option<&[i64]>,
        filter: Option<&BooleanArray>,
        n: usize,
    ) -> Result<()> {
        self.add(&args[0], groups, weights, filter, n)
    }

    fn evaluate(&self, groups: &[u32]) -> Result<ArrayRef> {
        let pick = |g: &u32| self.live(*g).then_some(*g as usize);
        Ok(match self.output {
            DataType::Int64 => Arc::new(
                groups
                    .iter()
                    .map(|g| pick(g).map(|g| self.ints[g]))
                    .collect::<Int64Array>(),
            ),
            DataType::UInt64 => Arc::new(
                groups
                    .iter()
                    .map(|g| pick(g).map(|g| self.uints[g]))
                    .collect::<UInt64Array>(),
            ),
            _ => Arc::new(
                groups
                    .iter()
                    .map(|g| pick(g).map(|g| self.floats[g]))
                    .collect::<Float64Array>(),
            ),
        })
    }
}

/// AVG as a Float64 sum and a count per group; NULL for a group without non-NULL inputs.
pub struct Average {
    sum: Sum,
}

impl Average {
    pub fn new(output: DataType) -> Result<Self> {
        if output != DataType::Float64 {
            return Err(EngineError::unsupported(format!(
                "AVG returning {output} in a materialized view"
            )));
        }
        Ok(Average {
            sum: Sum::new(DataType::Float64)?,
        })
    }
}

impl GroupAccumulator for Average {
    fn update(
        &mut self,
        args: &[ArrayRef],
        groups: &[u32],
        weights: Option<&[i64]>,
        filter: Option<&BooleanArray>,
        n: usize,
    ) -> Result<()> {
        if !args[0].data_type().is_numeric() {
            return Err(EngineError::unsupported(format!(
                "AVG over {}",
                args[0].data_type()
            )));
        }
        self.sum.add(&args[0], groups, weights, filter, n)
    }

    fn evaluate(&self, groups: &[u32]) -> Result<ArrayRef> {
        Ok(Arc::new(
            groups
                .iter()
                .map(|&g| {
                    self.sum
                        .live(g)
                        .then(|| self.sum.floats[g as usize] / self.sum.counts[g as usize] as f64)
                })
                .collect::<Float64Array>(),
        ))
    }
}
