//! Drives a connector's reader on its own thread into the dataflow: here the readers of
//! rows by position (datagen), paced; `stream_runner.rs` polls logs (Kafka).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use palisade_connectors::SourceReader;

use crate::dataflow::Dataflow;

/// Rows read from a connector per batch: large enough to amortise per-batch work, small
/// enough to keep views fresh at demo rates.
pub const BATCH_ROWS: usize = 8192;

/// Shared between the runner thread and the database.
#[derive(Default)]
pub struct RunnerState {
    /// Set once a view reads the source: a source nobody reads does no work.
    pub attached: AtomicBool,
    pub stop: AtomicBool,
    /// Rows taken from the reader, delivered or about to be (FLUSH waits for these).
    pub accepted: AtomicU64,
    pub failure: Mutex<Option<String>>,
    /// The last FLUSH request a log source was asked to answer.
    pub flush_requested: AtomicU64,
    /// Why a FLUSH request failed, with its number.
    pub flush_failure: Mutex<Option<(u64, String)>>,
    /// Set while a log source cannot reach its broker: why.
    pub outage: Mutex<Option<String>>,
}

/// What a FLUSH waits for from one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushWait {
    /// This many rows delivered.
    Rows(u64),
    /// This FLUSH request answered (log sources).
    Request(u64),
}

pub struct SourceRunner {
    pub state: Arc<RunnerState>,
    /// Some for bounded readers delivering as fast as they can: FLUSH waits for all rows.
    pub eager_total: Option<u64>,
    /// A log: FLUSH asks the runner for the partitions' ends and waits to have read them.
    pub(crate) log: bool,
    pub(crate) thread: Option<JoinHandle<()>>,
}

impl SourceRunner {
    /// Starts reading `reader` from row `position` (0, or where a checkpoint left it) once
    /// a view reads the source.
    pub fn start(
        name: String,
        mut reader: Box<dyn SourceReader>,
        dataflow: Arc<Mutex<Dataflow>>,
        position: u64,
    ) -> Self {
        let state = Arc::new(RunnerState::default());
        // Rows before `position` were delivered by an earlier run: FLUSH counts from there.
        state.accepted.store(position, Ordering::SeqCst);
        let eager_total = match (reader.total_rows(), reader.rows_per_second()) {
            (Some(total), None) => Some(total),
            _ => None,
        };
        let shared = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name(format!("source-{name}"))
            .spawn(move || run(&name, reader.as_mut(), &shared, &dataflow, position))
            .ok();
        SourceRunner {
            state,
            eager_total,
            log: false,
            thread,
        }
    }

    pub fn attach(&self) {
        self.state.attached.store(true, Ordering::SeqCst);
        if let Some(t) = &self.thread {
            t.thread().unpark();
        }
    }

    /// What FLUSH must wait for; for a log, this files a request the runner answers.
    pub fn request_flush(&self) -> FlushWait {
        if !self.state.attached.load(Ordering::SeqCst) {
            return FlushWait::Rows(0);
        }
        if self.log {
            let request = self.state.flush_requested.fetch_add(1, Ordering::SeqCst) + 1;
            if let Some(t) = &self.thread {
                t.thread().unpark();
            }
            return FlushWait::Request(request);
        }
        FlushWait::Rows(
            self.eager_total
                .unwrap_or_else(|| self.state.accepted.load(Ordering::SeqCst)),
        )
    }

    /// Why FLUSH request `request` failed, if it did.
    pub fn flush_failure(&self, request: u64) -> Option<String> {
        let failure = self.state.flush_failure.lock().ok()?;
        failure
            .as_ref()
            .filter(|(r, _)| *r >= request)
            .map(|(_, why)| why.clone())
    }

    pub fn outage(&self) -> Option<String> {
        self.state.outage.lock().ok().and_then(|o| o.clone())
    }

    pub fn failure(&self) -> Option<String> {
        self.state.failure.lock().ok().and_then(|f| f.clone())
    }
}

impl Drop for SourceRunner {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            // The thread notices `stop` within one batch; not joined, so DROP SOURCE never
            // waits on a slow batch.
        }
    }
}

/// Parks until a view reads the source; false when the source is dropped first.
pub(crate) fn wait_until_attached(state: &RunnerState) -> bool {
    while !state.attached.load(Ordering::SeqCst) {
        if state.stop.load(Ordering::SeqCst) {
            return false;
        }
        std::thread::park_timeout(Duration::from_millis(200));
    }
    true
}

fn run(
    name: &str,
    reader: &mut dyn SourceReader,
    state: &RunnerState,
    dataflow: &Mutex<Dataflow>,
    start: u64,
) {
    if !wait_until_attached(state) {
        return;
    }
    let started = Instant::now();
    let rate = reader.rows_per_second();
    let total = reader.total_rows();
    let mut position = start;
    let finish = |failure: Option<String>| finish(name, state, dataflow, failure);
    loop {
        if state.stop.load(Ordering::SeqCst) {
            return finish(None);
        }
        let want = match rate {
            None => BATCH_ROWS as u64,
            Some(r) => {
                // Paced from where this run started, not from row 0.
                let due = start + (started.elapsed().as_secs_f64() * r) as u64;
                due.saturating_sub(position).min(BATCH_ROWS as u64)
            }
        };
        if want == 0 {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let batch = match reader.read_range(position, want as usize) {
            Ok(b) => b,
            Err(e) => return finish(Some(e.to_string())),
        };
        let rows = batch.num_rows() as u64;
        if rows == 0 {
            return finish(None);
        }
        state.accepted.fetch_add(rows, Ordering::SeqCst);
        position += rows;
        let last = total.is_some_and(|t| position >= t);
        let result = match dataflow.lock() {
            Ok(mut flow) => {
                let result = flow.ingest(name, batch);
                // Marked under the same lock, so FLUSH never sees the rows without the end.
                if last && let Some(s) = flow.sources.get_mut(name) {
                    s.progress.send_modify(|p| p.done = true);
                }
                result
            }
            Err(_) => return finish(Some("dataflow lock poisoned".into())),
        };
        if let Err(e) = result {
            // A source dropped mid-batch is gone from the dataflow: not a failure.
            if state.stop.load(Ordering::SeqCst) {
                return;
            }
            return finish(Some(e.to_string()));
        }
        if last {
            return finish(None);
        }
    }
}

/// Marks the source as delivering no more rows, recording why when it failed.
pub(crate) fn finish(
    name: &str,
    state: &RunnerState,
    dataflow: &Mutex<Dataflow>,
    failure: Option<String>,
) {
    if let Some(f) = failure {
        tracing::error!(source = name, error = %f, "source stopped");
        if let Ok(mut slot) = state.failure.lock() {
            *slot = Some(f);
        }
    }
    if let Ok(mut flow) = dataflow.lock()
        && let Some(s) = flow.sources.get_mut(name)
    {
        s.progress.send_modify(|p| p.done = true);
    }
}
