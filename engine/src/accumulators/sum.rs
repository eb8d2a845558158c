//! SUM and AVG.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Float64Type, Int64Type, UInt64Type,
};

use super::{GroupAccumulator, Rows};
use crate::error::{EngineError, Result};
use crate::state::{StateReader, StateWriter};
use datafusion::arrow::buffer::{Buffer, ScalarBuffer};
use datafusion::arrow::datatypes::ToByteSlice;

/// Running totals per group in the result type DataFusion chose (Int64 for integers, UInt64
/// for unsigned, Float64 for floats), plus the count of non-NULL inputs so an all-NULL group
/// yields NULL. Integer sums wrap like DataFusion's rather than fail mid-stream.
pub enum Sum {
    Int(Totals<Int64Type>),
    UInt(Totals<UInt64Type>),
    Float(Totals<Float64Type>),
}

/// Totals of one native type and non-NULL counts, by group.
pub struct Totals<T: ArrowPrimitiveType> {
    sums: Vec<T::Native>,
    counts: Vec<i64>,
}

impl<T: ArrowPrimitiveType> Default for Totals<T> {
    fn default() -> Self {
        Totals {
            sums: vec![],
            counts: vec![],
        }
    }
}

impl<T: ArrowPrimitiveType> Totals<T> {
    /// Adds `weight * value` with `add`, after casting the column to `T`.
    fn add(
        &mut self,
        values: &ArrayRef,
        rows: &Rows,
        add: impl Fn(T::Native, T::Native, i64) -> T::Native,
    ) -> Result<()> {
        self.sums.resize(rows.num_groups, T::Native::default());
        self.counts.resize(rows.num_groups, 0);
        let values = cast(values, &T::DATA_TYPE)?;
        let v = values.as_primitive::<T>().values();
        let (sums, counts) = (&mut self.sums, &mut self.counts);
        rows.for_each(Some(values.as_ref()), |i, g, w| {
            sums[g] = add(sums[g], v[i], w);
            counts[g] += w;
        });
        Ok(())
    }

    fn reset(&mut self, groups: &[u32]) {
        for &g in groups {
            let g = g as usize;
            if g < self.counts.len() {
                self.sums[g] = T::Native::default();
                self.counts[g] = 0;
            }
        }
    }

    fn save(&self, tag: &str, out: &mut StateWriter) {
        out.tag(tag);
        out.bytes(self.sums.to_byte_slice());
        out.i64s(&self.counts);
    }

    fn load(&mut self, tag: &str, input: &mut StateReader) -> Result<()> {
        input.tag(tag)?;
        let bytes = input.bytes()?;
        let width = std::mem::size_of::<T::Native>();
        if bytes.len() % width != 0 {
            return Err(EngineError::Storage(format!(
                "checkpoint state is damaged: {} bytes of sums of {width} bytes each",
                bytes.len()
            )));
        }
        let buffer = Buffer::from_slice_ref(bytes);
        self.sums = ScalarBuffer::<T::Native>::new(buffer, 0, bytes.len() / width).to_vec();
        self.counts = input.i64s()?;
        Ok(())
    }

    fn live(&self, g: u32) -> Option<usize> {
        let g = g as usize;
        self.counts.get(g).is_some_and(|c| *c > 0).then_some(g)
    }

    fn evaluate(&self, groups: &[u32]) -> ArrayRef {
        Arc::new(
            groups
                .iter()
                .map(|&g| self.live(g).map(|g| self.sums[g]))
                .collect::<PrimitiveArray<T>>(),
        )
    }
}

impl Sum {
    pub fn new(output: DataType) -> Result<Self> {
        Ok(match output {
            DataType::Int64 => Sum::Int(Totals::default()),
            DataType::UInt64 => Sum::UInt(Totals::default()),
            DataType::Float64 => Sum::Float(Totals::default()),
            other => {
                return Err(EngineError::unsupported(format!(
                    "SUM returning {other} in a materialized view"
                )));
            }
        })
    }
}

impl GroupAccumulator for Sum {
    fn update(&mut self, args: &[ArrayRef], rows: &Rows) -> Result<()> {
        match self {
            Sum::Int(t) => t.add(&args[0], rows, |s, v, w| s.wrapping_add(v.wrapping_mul(w))),
            Sum::UInt(t) => t.add(&args[0], rows, |s, v, w| {
                s.wrapping_add(v.wrapping_mul(w as u64))
            }),
            Sum::Float(t) => t.add(&args[0], rows, |s, v, w| s + v * w as f64),
        }
    }

    fn evaluate(&self, groups: &[u32]) -> Result<ArrayRef> {
        Ok(match self {
            Sum::Int(t) => t.evaluate(groups),
            Sum::UInt(t) => t.evaluate(groups),
            Sum::Float(t) => t.evaluate(groups),
        })
    }

    fn reset(&mut self, groups: &[u32]) {
        match self {
            Sum::Int(t) => t.reset(groups),
            Sum::UInt(t) => t.reset(groups),
            Sum::Float(t) => t.reset(groups),
        }
    }

    fn save(&self, out: &mut StateWriter) -> Result<()> {
        match self {
            Sum::Int(t) => t.save("sum_int", out),
            Sum::UInt(t) => t.save("sum_uint", out),
            Sum::Float(t) => t.save("sum_float", out),
        }
        Ok(())
    }

    fn load(&mut self, input: &mut StateReader) -> Result<()> {
        match self {
            Sum::Int(t) => t.load("sum_int", input),
            Sum::UInt(t) => t.load("sum_uint", input),
            Sum::Float(t) => t.load("sum_float", input),
        }
    }
}

/// AVG as a Float64 sum and a count per group; NULL for a group without non-NULL inputs.
#[derive(Default)]
pub struct Average {
    totals: Totals<Float64Type>,
}

impl Average {
    pub fn new(output: DataType) -> Result<Self> {
        if output != DataType::Float64 {
            return Err(EngineError::unsupported(format!(
                "AVG returning {output} in a materialized view"
            )));
        }
        Ok(Average::default())
    }
}

impl GroupAccumulator for Average {
    fn update(&mut self, args: &[ArrayRef], rows: &Rows) -> Result<()> {
        if !args[0].data_type().is_numeric() {
            return Err(EngineError::unsupported(format!(
                "AVG over {}",
                args[0].data_type()
            )));
        }
        self.totals.add(&args[0], rows, |s, v, w| s + v * w as f64)
    }

    fn evaluate(&self, groups: &[u32]) -> Result<ArrayRef> {
        let t = &self.totals;
        Ok(Arc::new(
            groups
                .iter()
                .map(|&g| t.live(g).map(|g| t.sums[g] / t.counts[g] as f64))
                .collect::<PrimitiveArray<Float64Type>>(),
        ))
    }

    fn reset(&mut self, groups: &[u32]) {
        self.totals.reset(groups);
    }

    fn save(&self, out: &mut StateWriter) -> Result<()> {
        self.totals.save("avg", out);
        Ok(())
    }

    fn load(&mut self, input: &mut StateReader) -> Result<()> {
        self.totals.load("avg", input)
    }
}
