//! The figures a run reports: printed for people, written as JSON for tools (`--report`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::measure::Summary;

/// The machine a run was measured on, and how busy it was when the run started.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    /// /proc/loadavg's 1-minute figure when the run started: what else was running.
    pub load_average_1m: Option<f64>,
}

impl Machine {
    pub fn read() -> Self {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let load_average_1m = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok());
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model,
            load_average_1m,
        }
    }
}

/// One scenario's results.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    /// The scenario's settings, as given or defaulted.
    pub settings: BTreeMap<&'static str, serde_json::Value>,
    pub machine: Machine,
    pub events: u64,
    /// Records the decoder refused (dead letters): counted, never in a view.
    pub rejected: u64,
    pub cpu_seconds: f64,
    pub wall_seconds: f64,
    pub events_per_cpu_second: f64,
    pub events_per_wall_second: f64,
    /// Where the CPU time went, by stage (scenario a: `decode`, `views`; b: by thread,
    /// `source`, `librdkafka`, `probe`, `other`; c: `decode`, `views`, `queries`, `other`),
    /// in seconds.
    pub stages: BTreeMap<&'static str, f64>,
    /// From an event's append (to memory or to the topic) to a SELECT that sees it.
    pub freshness: Summary,
    /// Panel queries run while ingesting (scenario c).
    pub panel_queries: Option<Summary>,
    /// The same by panel title (scenario c).
    pub panels: BTreeMap<String, Summary>,
    pub peak_rss_bytes: Option<u64>,
    /// The views' state at the end: aggregate state as a checkpoint writes it, and rows.
    pub state_bytes: u64,
    /// What panel queries keep computed from settled windows (partial aggregate states,
    /// merged rows) at the end.
    pub query_cache_bytes: u64,
    pub view_rows: BTreeMap<String, u64>,
    /// Whether every view was compared with the batch oracle (`--check`) and agreed.
    pub checked: bool,
}

impl Report {
    /// The figures as lines for a terminal.
    pub fn print(&self) {
        let m = &self.machine;
        println!(
            "scenario {}: {} cpus ({}), load average {} at start",
            self.scenario,
            m.cpus,
            m.cpu_model,
            m.load_average_1m
                .map_or("unknown".into(), |l| format!("{l:.2}"))
        );
        println!(
            "  {} events ({} rejected) in {:.2} CPU-s, {:.2} s wall",
            self.events, self.rejected, self.cpu_seconds, self.wall_seconds
        );
        println!(
            "  {:.0} events per CPU-second, {:.0} events per second",
            self.events_per_cpu_second, self.events_per_wall_second
        );
        if !self.stages.is_empty() {
            let per_event: Vec<String> = self
                .stages
                .iter()
                .map(|(stage, s)| format!("{stage} {:.0} ns", s * 1e9 / self.events.max(1) as f64))
                .collect();
            println!("  CPU per event: {}", per_event.join(", "));
        }
        let f = &self.freshness;
        println!(
            "  freshness p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
            f.p50_ms, f.p99_ms, f.max_ms, f.count
        );
        if let Some(q) = &self.panel_queries {
            println!(
                "  panel queries p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} queries)",
                q.p50_ms, q.p99_ms, q.max_ms, q.count
            );
        }
        for (panel, q) in &self.panels {
            println!(
                "    p50 {:>8.2} ms, p99 {:>8.2} ms, max {:>8.2} ms ({:>4}): {panel}",
                q.p50_ms, q.p99_ms, q.max_ms, q.count
            );
        }
        println!(
            "  peak RSS {}, state {}, query cache {}",
            self.peak_rss_bytes
                .map_or("unknown".into(), |b| format!("{:.1} MB", b as f64 / 1e6)),
            format_args!("{:.1} MB", self.state_bytes as f64 / 1e6),
            format_args!("{:.1} MB", self.query_cache_bytes as f64 / 1e6)
        );
        let rows: Vec<String> = self
            .view_rows
            .iter()
            .map(|(v, n)| format!("{v} {n}"))
            .collect();
        println!("  view rows: {}", rows.join(", "));
        if self.checked {
            println!("  every view equals the batch oracle");
        }
    }

    pub fn write(&self, path: &Path) -> Result<(), String> {
        let json = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(path, json + "\n").map_err(|e| format!("writing {}: {e}", path.display()))
    }
}
