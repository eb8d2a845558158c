//! MIN and MAX over any orderable type.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;

use super::value_counts::{Key, Ordinals, ValueCounts};
use super::{GroupAccumulator, Rows};
use crate::error::{EngineError, Result};
use crate::state::{StateReader, StateWriter};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extreme {
    Min,
    Max,
}

/// The smallest or largest value of each group.
///
/// Over input that can retract rows (a view over an updating view), each group keeps its
/// values with counts, so the extreme survives a retraction: the answer is the first or last
/// key of the group's ordered multiset. Over a source's events, which only arrive, numbers
/// and timestamps keep just the extreme so far, as an order-preserving `u64` key per group:
/// one comparison per event, no map. Either way a checkpoint holds the multiset format, the
/// running extreme as a one-value multiset.
pub struct MinMax {
    extreme: Extreme,
    state: State,
}

enum State {
    Multiset(ValueCounts),
    Running {
        data_type: DataType,
        kind: Ordinals,
        /// Each group's extreme so far; None before its first non-NULL value.
        current: Vec<Option<u64>>,
        /// The batch's keys, reused across batches.
        scratch: Vec<u64>,
    },
}

impl MinMax {
    pub fn new(data_type: DataType, extreme: Extreme, retractable: bool) -> Result<Self> {
        let state = match Ordinals::of(&data_type) {
            Some(kind) if !retractable => State::Running {
                data_type,
                kind,
                current: Vec::new(),
                scratch: Vec::new(),
            },
            _ => State::Multiset(ValueCounts::new(data_type)?),
        };
        Ok(MinMax { extreme, state })
    }
}

/// The running extremes as a multiset holding each group's one value, the form checkpoints
/// keep.
fn as_multiset(
    data_type: &DataType,
    kind: Ordinals,
    current: &[Option<u64>],
) -> Result<ValueCounts> {
    let mut multiset = ValueCounts::new(data_type.clone())?;
    let values = kind.decode(current, data_type)?;
    let groups: Vec<u32> = (0..current.len() as u32).collect();
    multiset.update(
        &values,
        &Rows {
            groups: &groups,
            weights: None,
            filter: None,
            num_groups: current.len(),
        },
    )?;
    Ok(multiset)
}

impl GroupAccumulator for MinMax {
    fn update(&mut self, args: &[ArrayRef], rows: &Rows) -> Result<()> {
        match &mut self.state {
            State::Multiset(values) => values.update(&args[0], rows),
            State::Running {
                current, scratch, ..
            } => {
                if rows.weights.is_some_and(|w| w.iter().any(|w| *w < 0)) {
                    return Err(EngineError::Internal(
                        "a retraction reached MIN/MAX planned for append-only input".into(),
                    ));
                }
                current.resize(rows.num_groups.max(current.len()), None);
                Ordinals::keys(args[0].as_ref(), scratch)?;
                let keys = &*scratch;
                match self.extreme {
                    Extreme::Min => rows.for_each(Some(args[0].as_ref()), |i, g, _| {
                        let k = keys[i];
                        current[g] = Some(current[g].map_or(k, |c| c.min(k)));
                    }),
                    Extreme::Max => rows.for_each(Some(args[0].as_ref()), |i, g, _| {
                        let k = keys[i];
                        current[g] = Some(current[g].map_or(k, |c| c.max(k)));
                    }),
                }
                Ok(())
            }
        }
    }

    fn evaluate(&self, groups: &[u32]) -> Result<ArrayRef> {
        match &self.state {
            State::Multiset(values) => {
                let last = self.extreme == Extreme::Max;
                let picks: Vec<Option<Key<'_>>> =
                    groups.iter().map(|&g| values.extreme(g, last)).collect();
                values.decode(&picks)
            }
            State::Running {
                data_type,
                kind,
                current,
                ..
            } => {
                let keys: Vec<Option<u64>> = groups
                    .iter()
                    .map(|&g| current.get(g as usize).copied().flatten())
                    .collect();
                kind.decode(&keys, data_type)
            }
        }
    }

    fn reset(&mut self, groups: &[u32]) {
        match &mut self.state {
            State::Multiset(values) => values.reset(groups),
            State::Running { current, .. } => {
                for &g in groups {
                    if let Some(c) = current.get_mut(g as usize) {
                        *c = None;
                    }
                }
            }
        }
    }

    fn save(&self, out: &mut StateWriter) -> Result<()> {
        match &self.state {
            State::Multiset(values) => values.save(out),
            State::Running {
                data_type,
                kind,
                current,
                ..
            } => as_multiset(data_type, *kind, current)?.save(out),
        }
    }

    fn load(&mut self, input: &mut StateReader) -> Result<()> {
        let extreme = self.extreme;
        match &mut self.state {
            State::Multiset(values) => values.load(input),
            State::Running {
                data_type,
                current,
                scratch,
                ..
            } => {
                let mut multiset = ValueCounts::new(data_type.clone())?;
                multiset.load(input)?;
                let groups = multiset.groups();
                let picks: Vec<Option<Key<'_>>> = (0..groups as u32)
                    .map(|g| multiset.extreme(g, extreme == Extreme::Max))
                    .collect();
                // One value per group, NULL where the group had none.
                let values = multiset.decode(&picks)?;
                Ordinals::keys(values.as_ref(), scratch)?;
                *current = scratch
                    .iter()
                    .zip(&picks)
                    .map(|(k, pick)| pick.map(|_| *k))
                    .collect();
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, AsArray, Int32Array};
    use datafusion::arrow::datatypes::Int32Type;

    use super::*;

    fn rows(groups: &[u32]) -> Rows<'_> {
        Rows {
            groups,
            weights: None,
            filter: None,
            num_groups: 3,
        }
    }

    #[test]
    fn running_and_multiset_agree_and_survive_a_checkpoint() {
        let values: ArrayRef = Arc::new(Int32Array::from(vec![
            Some(5),
            Some(-3),
            None,
            Some(7),
            Some(2),
        ]));
        let groups = [0, 0, 1, 0, 2];
        for extreme in [Extreme::Min, Extreme::Max] {
            let mut running = MinMax::new(DataType::Int32, extreme, false).unwrap();
            let mut multiset = MinMax::new(DataType::Int32, extreme, true).unwrap();
            assert!(matches!(running.state, State::Running { .. }));
            for m in [&mut running, &mut multiset] {
                m.update(std::slice::from_ref(&values), &rows(&groups))
                    .unwrap();
            }
            let expected = match extreme {
                Extreme::Min => [Some(-3), None, Some(2)],
                Extreme::Max => [Some(7), None, Some(2)],
            };
            for m in [&running, &multiset] {
                let out = m.evaluate(&[0, 1, 2]).unwrap();
                let out = out.as_primitive::<Int32Type>();
                let got: Vec<Option<i32>> = (0..3)
                    .map(|i| out.is_valid(i).then(|| out.value(i)))
                    .collect();
                assert_eq!(got, expected);
            }
            // The two write the same checkpoint, and each reads it back.
            let mut a = StateWriter::default();
            running.save(&mut a).unwrap();
            let mut b = StateWriter::default();
            multiset.save(&mut b).unwrap();
            let (a, b) = (a.into_bytes(), b.into_bytes());
            if extreme == Extreme::Min {
                // Group 0's multiset also holds 5 and 7; the running one only -3.
                assert_ne!(a, b);
            }
            for bytes in [&a, &b] {
                let mut restored = MinMax::new(DataType::Int32, extreme, false).unwrap();
                restored.load(&mut StateReader::new(bytes)).unwrap();
                assert_eq!(
                    restored.evaluate(&[0, 1, 2]).unwrap().as_ref(),
                    running.evaluate(&[0, 1, 2]).unwrap().as_ref()
                );
            }
            running.reset(&[0]);
            assert!(running.evaluate(&[0]).unwrap().is_null(0));
        }
    }
}
