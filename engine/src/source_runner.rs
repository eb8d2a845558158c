//! Drives a connector's reader on its own thread, paced, into the dataflow.

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
}

pub struct SourceRunner {
    pub state: Arc<RunnerState>,
    /// Some for bounded readers delivering as fast as they can: FLUSH waits for all rows.
    pub eager_total: Option<u64>,
    thread: Option<JoinHandle<()>>,
}

impl SourceRunner {
    pub fn start(
        name: String,
        mut reader: Box<dyn SourceReader>,
        dataflow: Arc<Mutex<Dataflow>>,
    ) -> Self {
        let state = Arc::new(RunnerState::default());
        let eager_total = match (reader.total_rows(), reader.rows_per_second()) {
            (Some(total), None) => Some(total),
            _ => None,
        };
        let shared = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name(format!("source-{name}"))
            .spawn(move || run(&name, reader.as_mut(), &shared, &dataflow))
            .ok();
        SourceRunner {
            state,
            eager_total,
            thread,
        }
    }

    pub fn attach(&self) {
        self.state.attached.store(true, Ordering::SeqCst);
        if let Some(t) = &self.thread {
            t.thread().unpark();
        }
    }

    /// The row count FLUSH must see delivered.
    pub fn flush_target(&self) -> u64 {
        if !self.state.attached.load(Ordering::SeqCst) {
            return 0;
        }
        self.eager_total
            .unwrap_or_else(|| self.state.accepted.load(Ordering::SeqCst))
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

fn run(name: &str, reader: &mut dyn SourceReader, state: &RunnerState, dataflow: &Mutex<Dataflow>) {
    while !state.attached.load(Ordering::SeqCst) {
        if state.stop.load(Ordering::SeqCst) {
            return;
        }
        std::thread::park_timeout(Duration::from_millis(200));
    }
    let started = Instant::now();
    let rate = reader.rows_per_second();
    let total = reader.total_rows();
    let mut position = 0u64;
    let finish = |failure: Option<String>| {
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
    };
    loop {
        if state.stop.load(Ordering::SeqCst) {
            return finish(None);
        }
        let want = match rate {
            None => BATCH_ROWS as u64,
            Some(r) => {
                let due = (started.elapsed().as_secs_f64() * r) as u64;
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
