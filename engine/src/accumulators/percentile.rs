//! Exact PERCENTILE_CONT and PERCENTILE_DISC.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use palisade_sql::functions::percentile::{check_fraction, cont_ranks, disc_rank, interpolate};

use super::ordered_counts::OrderedCounts;
use super::value_counts::ValueCounts;
use super::{GroupAccumulator, Rows};
use crate::error::Result;
use crate::state::{StateReader, StateWriter};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PercentileMode {
    Cont,
    Disc,
}

/// The exact percentile of each group from value -> count state, never a list of events.
///
/// Reading walks the group's ordered multiset to the rank PostgreSQL defines (DISC: the first
/// value whose cumulative count reaches `p * n`; CONT: the values at ranks `floor` and `ceil`
/// of `p * (n - 1)`, interpolated), so a read costs the group's distinct values, and an
/// update one map operation per event. CONT runs over Float64 (DataFusion casts the argument)
/// and keys values by their total-order bits, so NaN sorts last as in PostgreSQL; DISC
/// works over any orderable type through [`ValueCounts`].
pub struct Percentile {
    mode: PercentileMode,
    fraction: f64,
    descending: bool,
    /// DISC state.
    values: Option<ValueCounts>,
    /// CONT state: total-order key of the f64 -> count.
    floats: Vec<OrderedCounts>,
    /// Non-NULL inputs per group.
    totals: Vec<i64>,
}

fn order_key(v: f64) -> u64 {
    let b = v.to_bits();
    if b >> 63 == 1 { !b } else { b | (1 << 63) }
}

fn from_order_key(k: u64) -> f64 {
    let b = if k >> 63 == 1 { k & !(1 << 63) } else { !k };
    f64::from_bits(b)
}

impl Percentile {
    pub fn new(
        data_type: DataType,
        mode: PercentileMode,
        fraction: f64,
        descending: bool,
    ) -> Result<Self> {
        let fraction = check_fraction(fraction)?;
        Ok(Percentile {
            mode,
            fraction,
            descending,
            values: match mode {
                PercentileMode::Disc => Some(ValueCounts::new(data_type)?),
                PercentileMode::Cont => None,
            },
            floats: Vec::new(),
            totals: Vec::new(),
        })
    }
}

impl GroupAccumulator for Percentile {
    fn update(&mut self, args: &[ArrayRef], rows: &Rows) -> Result<()> {
        self.totals.resize(rows.num_groups, 0);
        let totals = &mut self.totals;
        rows.for_each(Some(args[0].as_ref()), |_, g, w| totals[g] += w);
        match &mut self.values {
            Some(v) => v.update(&args[0], rows),
            None => {
                if self.floats.len() < rows.num_groups {
                    self.floats
                        .resize_with(rows.num_groups, OrderedCounts::default);
                }
                let values = cast(&args[0], &DataType::Float64)?;
                let v = values.as_primitive::<Float64Type>().values();
                let maps = &mut self.floats;
                rows.for_each(Some(values.as_ref()), |i, g, w| {
                    maps[g].add(order_key(v[i]), w)
                });
                Ok(())
            }
        }
    }

    fn evaluate(&self, groups: &[u32]) -> Result<ArrayRef> {
        let total = |g: u32| self.totals.get(g as usize).copied().unwrap_or(0).max(0) as u64;
        match (&self.values, self.mode) {
            (Some(values), _) => {
                let picks: Vec<_> = groups
                    .iter()
                    .map(|&g| {
                        let n = total(g);
                        if n == 0 {
                            return None;
                        }
                        let rank = disc_rank(self.fraction, n) - 1;
                        values.nth(g, rank, self.descending)
                    })
                    .collect();
                values.decode(&picks)
            }
            (None, _) => {
                let out: Float64Array = groups
                    .iter()
                    .map(|&g| {
                        let n = total(g);
                        let map = self.floats.get(g as usize)?;
                        if n == 0 {
                            return None;
                        }
                        let (lo, hi, w) = cont_ranks(self.fraction, n);
                        let a = from_order_key(map.nth(lo, self.descending)?);
                        let b = from_order_key(map.nth(hi, self.descending)?);
                        Some(interpolate(a, b, w))
                    })
                    .collect();
                Ok(Arc::new(out))
            }
        }
    }

    fn reset(&mut self, groups: &[u32]) {
        for &g in groups {
            let g = g as usize;
            if let Some(t) = self.totals.get_mut(g) {
                *t = 0;
            }
            if let Some(m) = self.floats.get_mut(g) {
                *m = OrderedCounts::default();
            }
        }
        if let Some(v) = &mut self.values {
            v.reset(groups);
        }
    }

    fn save(&self, out: &mut StateWriter) -> Result<()> {
        out.tag("percentile");
        out.i64s(&self.totals);
        out.bool(self.values.is_some());
        if let Some(values) = &self.values {
            values.save(out)?;
        }
        out.len(self.floats.len());
        for map in &self.floats {
            out.len(map.len());
            for (key, count) in map.iter() {
                out.u64(key);
                out.i64(count);
            }
        }
        Ok(())
    }

    fn load(&mut self, input: &mut StateReader) -> Result<()> {
        input.tag("percentile")?;
        self.totals = input.i64s()?;
        let has_values = input.bool()?;
        match (&mut self.values, has_values) {
            (Some(values), true) => values.load(input)?,
            (None, false) => {}
            _ => {
                return Err(crate::error::EngineError::Storage(
                    "checkpoint state is damaged: a percentile of another kind".into(),
                ));
            }
        }
        let groups = input.len()?;
        self.floats = Vec::with_capacity(groups);
        for _ in 0..groups {
            let mut map = OrderedCounts::default();
            for _ in 0..input.len()? {
                let key = input.u64()?;
                map.add(key, input.i64()?);
            }
            self.floats.push(map);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accumulators::test_rows as rows;
    use datafusion::arrow::array::{Array, Int32Array, StringArray};

    #[test]
    fn order_key_round_trips_and_orders() {
        let vals = [-1e300, -2.5, -0.0, 0.0, 1.0, 3.5, f64::INFINITY];
        for w in vals.windows(2) {
            assert!(order_key(w[0]) <= order_key(w[1]));
        }
        for v in vals {
            assert_eq!(from_order_key(order_key(v)).to_bits(), v.to_bits());
        }
    }

    #[test]
    fn median_and_disc_with_retraction() {
        let mut cont =
            Percentile::new(DataType::Float64, PercentileMode::Cont, 0.5, false).unwrap();
        let vals: ArrayRef = Arc::new(Int32Array::from(vec![
            Some(1),
            Some(2),
            Some(3),
            Some(4),
            None,
        ]));
        cont.update(
            std::slice::from_ref(&vals),
            &rows(&[0, 0, 0, 0, 0], None, 1),
        )
        .unwrap();
        let r = cont.evaluate(&[0]).unwrap();
        assert_eq!(r.as_primitive::<Float64Type>().value(0), 2.5);
        // retract the 4: median of 1,2,3 is 2
        let four: ArrayRef = Arc::new(Int32Array::from(vec![4]));
        cont.update(&[four], &rows(&[0], Some(&[-1]), 1)).unwrap();
        assert_eq!(
            cont.evaluate(&[0])
                .unwrap()
                .as_primitive::<Float64Type>()
                .value(0),
            2.0
        );

        let mut disc = Percentile::new(DataType::Utf8, PercentileMode::Disc, 0.5, false).unwrap();
        let s: ArrayRef = Arc::new(StringArray::from(vec!["low", "high", "medium", "low"]));
        disc.update(&[s], &rows(&[0, 0, 0, 1], None, 3)).unwrap();
        let r = disc.evaluate(&[0, 1, 2]).unwrap();
        let r = r.as_string::<i32>();
        assert_eq!(r.value(0), "low"); // high, low, medium -> rank ceil(1.5) = 2
        assert_eq!(r.value(1), "low");
        assert!(r.is_null(2));
    }
}
