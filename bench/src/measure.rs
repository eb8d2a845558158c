//! What the scenarios measure with: process CPU time (whole, and by thread name), peak
//! resident memory, and latency samples summarised as percentiles.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// CPU time of the whole process (every thread, user + system), in seconds: the figure
/// events per CPU-second divides by, so work moved to another thread is still counted.
pub fn process_cpu_seconds() -> f64 {
    palisade_tests::bench::process_cpu_seconds()
}

/// CPU time of the calling thread, in seconds: splits a run's cost between its stages.
pub fn thread_cpu_seconds() -> f64 {
    palisade_tests::bench::thread_cpu_seconds()
}

/// CPU time of this process's threads so far, in seconds, summed under the name `kind`
/// gives each thread's name (`/proc/self/task/*/comm`, at most 15 bytes). Threads run by
/// others (librdkafka's, the engine's source thread) cannot be timed from inside, so a
/// scenario splits its cost by reading this before and after ([`cpu_between`]). Empty
/// where /proc has no per-thread scheduler figures; a thread that ends between the two
/// readings drops out of the second, so only threads that live through a run are split.
pub fn threads_cpu_seconds(kind: impl Fn(&str) -> &'static str) -> BTreeMap<&'static str, f64> {
    let mut out = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let (Ok(name), Ok(stat)) = (
            std::fs::read_to_string(path.join("comm")),
            std::fs::read_to_string(path.join("schedstat")),
        ) else {
            continue;
        };
        // schedstat's first field: nanoseconds on a CPU, finer than stat's clock ticks.
        let Some(ns) = stat
            .split_whitespace()
            .next()
            .and_then(|f| f.parse::<u64>().ok())
        else {
            continue;
        };
        *out.entry(kind(name.trim_end())).or_insert(0.0) += ns as f64 * 1e-9;
    }
    out
}

/// What each kind of thread spent between two [`threads_cpu_seconds`] readings.
pub fn cpu_between(
    before: &BTreeMap<&'static str, f64>,
    after: &BTreeMap<&'static str, f64>,
) -> BTreeMap<&'static str, f64> {
    after
        .iter()
        .map(|(kind, s)| {
            (
                *kind,
                (s - before.get(kind).copied().unwrap_or(0.0)).max(0.0),
            )
        })
        .collect()
}

/// The process's peak resident set (VmHWM), in bytes; None where /proc does not say.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Latency samples of one kind (freshness, panel queries).
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    samples: Vec<Duration>,
}

/// Percentiles of [`Latencies`], in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latencies {
    pub fn push(&mut self, sample: Duration) {
        self.samples.push(sample);
    }

    /// Nearest-rank percentiles (the smallest sample with at least p% at or below it), so
    /// every figure is a latency that was actually seen.
    pub fn summary(&self) -> Summary {
        if self.samples.is_empty() {
            return Summary::default();
        }
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        let rank = |p: f64| {
            let k = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
            sorted[k.clamp(1, sorted.len()) - 1]
        };
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        Summary {
            count: sorted.len(),
            p50_ms: ms(rank(50.0)),
            p99_ms: ms(rank(99.0)),
            max_ms: ms(sorted[sorted.len() - 1]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut l = Latencies::default();
        for ms in 1..=200 {
            l.push(Duration::from_millis(ms));
        }
        let s = l.summary();
        assert_eq!(s.count, 200);
        assert_eq!(s.p50_ms, 100.0);
        assert_eq!(s.p99_ms, 198.0);
        assert_eq!(s.max_ms, 200.0);
        assert_eq!(Latencies::default().summary(), Summary::default());
    }

    #[test]
    fn this_thread_is_timed_by_name() {
        let before = threads_cpu_seconds(|_| "all");
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let spent = cpu_between(&before, &threads_cpu_seconds(|_| "all"));
        assert!(spent.get("all").is_some_and(|s| *s > 0.0), "{spent:?}");
    }

    #[test]
    fn peak_rss_is_read() {
        assert!(peak_rss_bytes().is_some_and(|b| b > 0));
    }
}
