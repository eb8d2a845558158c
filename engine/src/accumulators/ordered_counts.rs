//! One group's multiset of `u64` keys, in key order.

use std::collections::BTreeMap;

/// How many distinct keys stay in the sorted vector before moving to a B-tree.
const SMALL: usize = 32;

/// key -> count for one group, ordered by key; a key whose count drops to zero is removed.
///
/// Most groups of a windowed view hold a few dozen values (one user's response times in a
/// minute), so the keys live in a sorted vector: an insert is a binary search and a short
/// move, a read walks contiguous memory, and an empty group allocates nothing. A group that
/// passes [`SMALL`] distinct keys moves to a `BTreeMap`, so a large group never pays a
/// quadratic cost. Why not a `BTreeMap` always: its first insert allocates a node of eleven
/// entries, and every lookup chases pointers, for groups that mostly stay tiny.
#[derive(Debug, Clone, Default)]
pub enum OrderedCounts {
    Small(Vec<(u64, i64)>),
    Large(BTreeMap<u64, i64>),
    #[default]
    Empty,
}

impl OrderedCounts {
    /// Adds `w` occurrences of `key` (negative: removes them).
    #[inline]
    pub fn add(&mut self, key: u64, w: i64) {
        match self {
            OrderedCounts::Empty => {
                if w != 0 {
                    *self = OrderedCounts::Small(vec![(key, w)]);
                }
            }
            OrderedCounts::Small(entries) => match entries.binary_search_by_key(&key, |e| e.0) {
                Ok(i) => {
                    entries[i].1 += w;
                    if entries[i].1 == 0 {
                        entries.remove(i);
                    }
                }
                Err(_) if w == 0 => {}
                Err(i) if entries.len() < SMALL => entries.insert(i, (key, w)),
                Err(_) => {
                    let mut map: BTreeMap<u64, i64> = entries.drain(..).collect();
                    map.insert(key, w);
                    *self = OrderedCounts::Large(map);
                }
            },
            OrderedCounts::Large(map) => {
                use std::collections::btree_map::Entry;
                match map.entry(key) {
                    Entry::Occupied(mut e) => {
                        *e.get_mut() += w;
                        if *e.get() == 0 {
                            e.remove();
                        }
                    }
                    Entry::Vacant(e) => {
                        if w != 0 {
                            e.insert(w);
                        }
                    }
                }
            }
        }
    }

    /// Distinct keys held.
    pub fn len(&self) -> usize {
        match self {
            OrderedCounts::Empty => 0,
            OrderedCounts::Small(entries) => entries.len(),
            OrderedCounts::Large(map) => map.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (key, count) in ascending key order.
    pub fn iter(&self) -> Box<dyn DoubleEndedIterator<Item = (u64, i64)> + '_> {
        match self {
            OrderedCounts::Empty => Box::new(std::iter::empty()),
            OrderedCounts::Small(entries) => Box::new(entries.iter().copied()),
            OrderedCounts::Large(map) => Box::new(map.iter().map(|(k, c)| (*k, *c))),
        }
    }

    /// The smallest key, or the largest when `last`.
    pub fn extreme(&self, last: bool) -> Option<u64> {
        match self {
            OrderedCounts::Empty => None,
            OrderedCounts::Small(entries) => if last {
                entries.last()
            } else {
                entries.first()
            }
            .map(|e| e.0),
            OrderedCounts::Large(map) => if last {
                map.last_key_value()
            } else {
                map.first_key_value()
            }
            .map(|(k, _)| *k),
        }
    }

    /// The key at 0-based `rank` with every key counted as often as it occurs, in ascending
    /// order (descending when `descending`).
    pub fn nth(&self, rank: u64, descending: bool) -> Option<u64> {
        fn walk(entries: impl Iterator<Item = (u64, i64)>, rank: u64) -> Option<u64> {
            let mut seen = 0u64;
            for (k, c) in entries {
                seen += c.max(0) as u64;
                if seen > rank {
                    return Some(k);
                }
            }
            None
        }
        match self {
            OrderedCounts::Empty => None,
            OrderedCounts::Small(entries) if descending => {
                walk(entries.iter().rev().copied(), rank)
            }
            OrderedCounts::Small(entries) => walk(entries.iter().copied(), rank),
            OrderedCounts::Large(map) if descending => {
                walk(map.iter().rev().map(|(k, c)| (*k, *c)), rank)
            }
            OrderedCounts::Large(map) => walk(map.iter().map(|(k, c)| (*k, *c)), rank),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a BTreeMap, through the move from vector to tree and back down to empty.
    #[test]
    fn behaves_like_an_ordered_map_at_every_size() {
        let mut counts = OrderedCounts::default();
        let mut model = BTreeMap::new();
        let mut x = 12345u64;
        for step in 0..4000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = (x >> 33) % 80;
            // Mostly adds early, mostly removals late.
            let w = if (x >> 20) % 100 < (90 - step / 50).max(10) {
                1
            } else {
                -1
            };
            if w < 0 && !model.contains_key(&key) {
                continue;
            }
            counts.add(key, w);
            let c = model.entry(key).or_insert(0i64);
            *c += w;
            if *c == 0 {
                model.remove(&key);
            }
            assert_eq!(counts.len(), model.len());
            let total: i64 = model.values().sum();
            for rank in [0, total as u64 / 2, (total as u64).saturating_sub(1)] {
                for descending in [false, true] {
                    let mut seen = 0;
                    let mut walk: Vec<(&u64, &i64)> = model.iter().collect();
                    if descending {
                        walk.reverse();
                    }
                    let expected = walk.into_iter().find_map(|(k, c)| {
                        seen += *c as u64;
                        (seen > rank).then_some(*k)
                    });
                    assert_eq!(counts.nth(rank, descending), expected);
                }
            }
            assert_eq!(counts.extreme(false), model.keys().next().copied());
            assert_eq!(counts.extreme(true), model.keys().next_back().copied());
        }
        let all: Vec<(u64, i64)> = counts.iter().collect();
        let expected: Vec<(u64, i64)> = model.into_iter().collect();
        assert_eq!(all, expected);
        assert!(matches!(counts, OrderedCounts::Large(_)));
    }
}
