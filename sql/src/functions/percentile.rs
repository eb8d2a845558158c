//! `PERCENTILE_CONT(p) WITHIN GROUP (ORDER BY x)` and `PERCENTILE_DISC(...)`, exact, with
//! PostgreSQL's definitions.
//!
//! DataFusion has no PERCENTILE_DISC, and its PERCENTILE_CONT rounds the interpolation weight
//! to six decimals; these batch versions serve ad-hoc queries and the oracle, and the rank
//! arithmetic below is shared with the engine's incremental percentile state.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, ListArray};
use datafusion::arrow::compute::{SortOptions, concat, sort};
use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::ColumnarValue;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};

/// 1-based rank of PERCENTILE_DISC(p) among `n` ordered values: the first value whose
/// cumulative share reaches `p`.
pub fn disc_rank(p: f64, n: u64) -> u64 {
    ((p * n as f64).ceil() as u64).clamp(1, n)
}

/// 0-based ranks around PERCENTILE_CONT(p) of `n` values and the weight of the upper one.
pub fn cont_ranks(p: f64, n: u64) -> (u64, u64, f64) {
    let pos = p * (n - 1) as f64;
    let lo = pos.floor();
    (lo as u64, pos.ceil() as u64, pos - lo)
}

/// PostgreSQL's interpolation between the two values around the percentile.
pub fn interpolate(lo: f64, hi: f64, weight: f64) -> f64 {
    if weight == 0.0 {
        lo
    } else {
        lo + (hi - lo) * weight
    }
}

pub fn check_fraction(p: f64) -> Result<f64> {
    if !(0.0..=1.0).contains(&p) || p.is_nan() {
        return plan_err!("percentile value {p} is not between 0 and 1");
    }
    Ok(p)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PercentileKind {
    Cont,
    Disc,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Percentile {
    kind: PercentileKind,
    signature: Signature,
}

impl Percentile {
    pub fn cont() -> Self {
        Percentile {
            kind: PercentileKind::Cont,
            signature: Signature::exact(
                vec![DataType::Float64, DataType::Float64],
                Volatility::Immutable,
            ),
        }
    }

    pub fn disc() -> Self {
        Percentile {
            kind: PercentileKind::Disc,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for Percentile {
    fn name(&self) -> &str {
        match self.kind {
            PercentileKind::Cont => "percentile_cont",
            PercentileKind::Disc => "percentile_disc",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match self.kind {
            PercentileKind::Cont => Ok(DataType::Float64),
            PercentileKind::Disc => Ok(arg_types[0].clone()),
        }
    }

    fn supports_within_group_clause(&self) -> bool {
        true
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let item = Field::new_list_field(args.input_fields[0].data_type().clone(), true);
        Ok(vec![Arc::new(Field::new(
            format!("{}[values]", args.name),
            DataType::List(Arc::new(item)),
            true,
        ))])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        // The fraction is a constant: evaluating it needs no rows.
        let empty = RecordBatch::new_empty(Arc::new(Schema::empty()));
        let fraction = match args.exprs.get(1).map(|e| e.evaluate(&empty)) {
            Some(Ok(ColumnarValue::Scalar(v))) => v,
            _ => return plan_err!("{}: the fraction must be a constant", self.name()),
        };
        let p = match fraction {
            ScalarValue::Float64(Some(v)) => v,
            ScalarValue::Float32(Some(v)) => v as f64,
            ScalarValue::Int64(Some(v)) => v as f64,
            ScalarValue::Int32(Some(v)) => v as f64,
            other => {
                return plan_err!(
                    "{}: the fraction must be a number, not {other}",
                    self.name()
                );
            }
        };
        let descending = args.order_bys.first().is_some_and(|s| s.options.descending);
        Ok(Box::new(PercentileAccumulator {
            kind: self.kind,
            fraction: check_fraction(p)?,
            descending,
            data_type: args.expr_fields[0].data_type().clone(),
            values: Vec::new(),
        }))
    }
}

/// Batch accumulator: keeps every value and sorts at the end. The engine's incremental
/// version keeps value -> count instead.
#[derive(Debug)]
struct PercentileAccumulator {
    kind: PercentileKind,
    fraction: f64,
    descending: bool,
    data_type: DataType,
    values: Vec<ArrayRef>,
}

impl PercentileAccumulator {
    fn all_values(&self) -> Result<ArrayRef> {
        let parts: Vec<&dyn Array> = self.values.iter().map(|a| a.as_ref()).collect();
        if parts.is_empty() {
            return Ok(datafusion::arrow::array::new_empty_array(&self.data_type));
        }
        Ok(concat(&parts)?)
    }
}

impl Accumulator for PercentileAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.values.push(Arc::clone(&values[0]));
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let all = self.all_values()?;
        let sorted = sort(
            &all,
            Some(SortOptions {
                descending: self.descending,
                nulls_first: false,
            }),
        )?;
        let n = (sorted.len() - sorted.null_count()) as u64;
        let null = ScalarValue::try_from(match self.kind {
            PercentileKind::Cont => &DataType::Float64,
            PercentileKind::Disc => &self.data_type,
        })?;
        if n == 0 {
            return Ok(null);
        }
        match self.kind {
            PercentileKind::Disc => {
                ScalarValue::try_from_array(&sorted, (disc_rank(self.fraction, n) - 1) as usize)
            }
            PercentileKind::Cont => {
                let (lo, hi, w) = cont_ranks(self.fraction, n);
                let f = |i: u64| -> Result<f64> {
                    match ScalarValue::try_from_array(&sorted, i as usize)? {
                        ScalarValue::Float64(Some(v)) => Ok(v),
                        other => exec_err!("percentile_cont over {other:?}"),
                    }
                };
                Ok(ScalarValue::Float64(Some(interpolate(f(lo)?, f(hi)?, w))))
            }
        }
    }

    fn size(&self) -> usize {
        self.values
            .iter()
            .map(|a| a.get_array_memory_size())
            .sum::<usize>()
            + size_of::<Self>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let all = self.all_values()?;
        Ok(vec![ScalarValue::List(Arc::new(ListArray::new(
            Arc::new(Field::new_list_field(self.data_type.clone(), true)),
            datafusion::arrow::buffer::OffsetBuffer::from_lengths([all.len()]),
            all,
            None,
        )))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let Some(lists) = states[0].as_any().downcast_ref::<ListArray>() else {
            return exec_err!("percentile state is not a list");
        };
        for i in 0..lists.len() {
            if lists.is_valid(i) {
                self.values.push(lists.value(i));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_match_postgres() {
        // percentile_disc(0.5) of 1,2,3,4 is 2 in PostgreSQL; of 1,2,3 it is 2.
        assert_eq!(disc_rank(0.5, 4), 2);
        assert_eq!(disc_rank(0.5, 3), 2);
        assert_eq!(disc_rank(0.0, 3), 1);
        assert_eq!(disc_rank(1.0, 3), 3);
        // percentile_cont(0.5) of 1,2,3,4 is 2.5; (0.25) of 1..4 is 1.75.
        let (lo, hi, w) = cont_ranks(0.5, 4);
        assert_eq!((lo, hi), (1, 2));
        assert_eq!(interpolate(2.0, 3.0, w), 2.5);
        let (lo, hi, w) = cont_ranks(0.25, 4);
        assert_eq!((lo, hi), (0, 1));
        assert_eq!(interpolate(1.0, 2.0, w), 1.75);
        assert_eq!(cont_ranks(0.5, 1), (0, 0, 0.0));
    }

    #[tokio::test]
    async fn batch_functions_answer_like_postgres() {
        let ctx = datafusion::prelude::SessionContext::new();
        super::super::register(&ctx);
        let df = ctx
            .sql(
                "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) AS c, \
                 percentile_disc(0.5) WITHIN GROUP (ORDER BY s) AS d, \
                 percentile_disc(0.5) WITHIN GROUP (ORDER BY x DESC) AS e \
                 FROM (VALUES (1, 'b'), (2, 'a'), (3, 'd'), (4, 'c'), (NULL, NULL)) AS t(x, s)",
            )
            .await
            .unwrap();
        let batches = df.collect().await.unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        assert!(text.contains("| 2.5 | b | 3 |"), "{text}");
    }
}
