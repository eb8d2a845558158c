//! Results computed from blocks of a view's settled windows, kept between queries.
//!
//! A window that has not changed for a while ([`crate::view_table::SETTLED_AFTER`]) is
//! likely to stay so: its rows, and whatever a query computes from them alone, will be the
//! same at the next refresh of a dashboard. Settled windows are grouped in blocks by window
//! start, and a block's result is kept under the versions of its windows, so any change to
//! one of them, or a query range that cuts the block elsewhere, finds no entry instead of a
//! stale one. [`crate::window_partials`] keeps partial aggregate states here, and
//! [`crate::view_exec`] the rows of small windows merged into one batch per block.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use datafusion::arrow::record_batch::RecordBatch;

use crate::operators::PartitionKey;

/// Settled windows are grouped into blocks of about this many (by window start), and what
/// is computed from a block is cached as one entry: a panel over six hours of one-minute
/// windows merges the states of a dozen blocks.
const WINDOWS_PER_BLOCK: i64 = 32;

/// What one view's cache may hold; the least recently used entries go first.
const CACHE_BYTES: usize = 32 << 20;

/// What was computed from blocks of one view's settled windows, by what computed it (a
/// plan, printed) and the block of windows it covers.
#[derive(Default)]
pub struct BlockCache {
    entries: Mutex<Entries>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// What computed a cached result, hashed once: a partial aggregate's printed plan runs to
/// kilobytes, and each block a query reads is looked up under it.
#[derive(Clone)]
pub struct CacheKey {
    text: Arc<str>,
    hash: u64,
}

impl CacheKey {
    pub fn new(text: impl Into<Arc<str>>) -> Self {
        let text = text.into();
        // Fixed keys: the same text must hash the same in every query.
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(&text);
        CacheKey { text, hash }
    }
}

#[derive(Default)]
struct Entries {
    /// By the key's hash and the block; the entry holds the key's text, compared on lookup.
    by_block: HashMap<(u64, i64), Entry>,
    bytes: usize,
    tick: u64,
}

struct Entry {
    plan: Arc<str>,
    /// The versions of the windows the batches were computed from: a block whose windows
    /// changed, or which a query's range cuts differently, is another entry.
    members: Vec<u64>,
    batches: Vec<RecordBatch>,
    bytes: usize,
    used: u64,
}

impl BlockCache {
    fn lock(&self) -> MutexGuard<'_, Entries> {
        // Entries are inserted and removed whole: a poisoned lock's map is still sound.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, key: &CacheKey, block: i64, members: &[u64]) -> Option<Vec<RecordBatch>> {
        let mut entries = self.lock();
        entries.tick += 1;
        let tick = entries.tick;
        let found = match entries.by_block.get_mut(&(key.hash, block)) {
            Some(e) if e.members == members && e.plan == key.text => {
                e.used = tick;
                Some(e.batches.clone())
            }
            _ => None,
        };
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    pub fn put(&self, key: &CacheKey, block: i64, members: Vec<u64>, batches: Vec<RecordBatch>) {
        let bytes: usize = batches.iter().map(|b| b.get_array_memory_size()).sum();
        if bytes > CACHE_BYTES / 4 {
            return;
        }
        let mut entries = self.lock();
        entries.tick += 1;
        let entry = Entry {
            plan: Arc::clone(&key.text),
            members,
            batches,
            bytes,
            used: entries.tick,
        };
        if let Some(old) = entries.by_block.insert((key.hash, block), entry) {
            entries.bytes -= old.bytes;
        }
        entries.bytes += bytes;
        while entries.bytes > CACHE_BYTES {
            let Some(oldest) = entries
                .by_block
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| *k)
            else {
                break;
            };
            if let Some(e) = entries.by_block.remove(&oldest) {
                entries.bytes -= e.bytes;
            }
        }
    }

    /// The Arrow buffers held now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Lookups that found their block, and lookups that did not, since the view was created.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

/// How far to shift a window's start (µs, its key) right to get its block: blocks of about
/// [`WINDOWS_PER_BLOCK`] windows at the spacing of `keys`. None for fewer than two windows.
pub fn block_shift(keys: impl Iterator<Item = PartitionKey>) -> Option<u32> {
    let mut keys: Vec<i64> = keys.collect();
    keys.sort_unstable();
    let gap = keys
        .windows(2)
        .map(|k| k[1].saturating_sub(k[0]))
        .filter(|g| *g > 0)
        .min()?;
    let span = gap.saturating_mul(WINDOWS_PER_BLOCK).max(1) as u64;
    // The smallest power of two at least `span`, as a shift, kept within an i64.
    Some((64 - (span - 1).leading_zeros()).min(62))
}
