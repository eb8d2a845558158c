//! The running views: where an ingested batch goes, view by view.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use palisade_connectors::{DeadLetter, Offsets};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::error::{EngineError, Result};
use crate::operators::{Change, Operator, Time};
use crate::view_table::ViewTable;
use crate::watermark::{Expected, SourceWatermark};

/// How far a source's delivery has come; FLUSH waits on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Rows ingested into every view reading the source.
    pub delivered: u64,
    /// The source will deliver no more rows (bounded and done, stopped, or failed).
    pub done: bool,
    /// The last FLUSH request of a log source that has been answered: everything up to the
    /// partitions' ends at the time of the request is delivered, or the request failed.
    pub flushed: u64,
}

/// How many dead letters a source keeps for `palisade.dead_letters`: the newest ones. The
/// counter counts every one.
pub const DEAD_LETTERS_KEPT: usize = 10_000;

/// A dead letter as the engine keeps it: when it arrived, too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDeadLetter {
    pub letter: DeadLetter,
    pub received_at: DateTime<Utc>,
}

/// A log source's position and accounting, changed only together with its deliveries.
#[derive(Debug, Clone, Default)]
pub struct LogState {
    /// Where this run of the source started, per partition (a late view replays from here).
    pub start: Offsets,
    /// The next offset per partition once what the views hold is counted: the position
    /// checkpoints will store.
    pub offsets: Offsets,
    /// The partitions' high watermarks as last reported, for lag.
    pub high_watermarks: Offsets,
    /// Records that could not be decoded, all of them.
    pub dead_lettered: u64,
    /// Values of delivered records converted from JSON strings to numbers.
    pub coerced: u64,
    /// The newest [`DEAD_LETTERS_KEPT`] dead letters.
    pub dead_letters: VecDeque<StoredDeadLetter>,
    /// Whether the broker answers: during an outage no partition counts as idle.
    pub reachable: bool,
}

impl LogState {
    pub fn new(start: Offsets) -> Self {
        LogState {
            offsets: start.clone(),
            start,
            reachable: true,
            ..LogState::default()
        }
    }

    pub fn keep(&mut self, letters: Vec<DeadLetter>, received_at: DateTime<Utc>) {
        self.dead_lettered += letters.len() as u64;
        for letter in letters {
            if self.dead_letters.len() == DEAD_LETTERS_KEPT {
                self.dead_letters.pop_front();
            }
            self.dead_letters.push_back(StoredDeadLetter {
                letter,
                received_at,
            });
        }
    }
}

pub struct SourceFlow {
    /// The catalog's id of the source (checkpoints are matched by it).
    pub id: u64,
    pub schema: SchemaRef,
    /// Views reading this source directly, in creation order.
    pub subscribers: Vec<String>,
    pub progress: watch::Sender<Progress>,
    /// Every batch ingested, when the database records inputs for the oracle.
    pub recorded: Option<Vec<RecordBatch>>,
    /// Offsets and bad records, for sources that read a log (Kafka).
    pub log: Option<LogState>,
    /// Event time and late events, for sources with a WATERMARK.
    pub watermark: Option<SourceWatermark>,
}

pub struct ViewFlow {
    /// The catalog's id of the view.
    pub id: u64,
    pub operators: Vec<Box<dyn Operator>>,
    pub table: Arc<ViewTable>,
    /// Views reading this view, in creation order.
    pub subscribers: Vec<String>,
    /// Batches this view could not process (their error is in `last_error`).
    pub errors: u64,
    pub last_error: Option<String>,
}

/// All pipelines, behind one lock taken per batch (never per event). Ingest order is the
/// order batches are pushed, so every view sees the same sequence.
#[derive(Default)]
pub struct Dataflow {
    pub sources: BTreeMap<String, SourceFlow>,
    pub views: BTreeMap<String, ViewFlow>,
    pub clock: Clock,
}

impl Dataflow {
    /// Runs `batch` of `source` through every view that reads it.
    pub fn ingest(&mut self, source: &str, batch: RecordBatch) -> Result<()> {
        self.ingest_partitioned(source, batch, &[])
    }

    /// [`Dataflow::ingest`] for a source with partitions: `partitions` holds each row's.
    pub fn ingest_partitioned(
        &mut self,
        source: &str,
        batch: RecordBatch,
        partitions: &[i32],
    ) -> Result<()> {
        let flow = self
            .sources
            .get_mut(source)
            .ok_or_else(|| EngineError::Internal(format!("no source {source}")))?;
        if batch.schema().fields() != flow.schema.fields() {
            return Err(EngineError::Data(format!(
                "batch for source {source} has schema {:?}, expected {:?}",
                batch.schema(),
                flow.schema
            )));
        }
        // Late events count as delivered (they were read) but go to no view.
        let rows = batch.num_rows() as u64;
        let now = self.clock.now_micros();
        let (batch, watermark) = match &mut flow.watermark {
            Some(w) => {
                let expected = expected_partitions(flow.log.as_ref());
                (w.split(batch, partitions, &expected, now)?, w.watermark())
            }
            None => (batch, None),
        };
        if let Some(r) = &mut flow.recorded {
            r.push(batch.clone());
        }
        let subscribers = flow.subscribers.clone();
        let time = Time { watermark, now };
        for view in subscribers {
            if batch.num_rows() > 0 {
                self.push(&view, vec![Change::Insert(batch.clone())]);
            }
            self.advance(&view, time);
        }
        if let Some(flow) = self.sources.get(source) {
            flow.progress.send_modify(|p| p.delivered += rows);
        }
        Ok(())
    }

    /// Lets time pass for every view: idle sources' event time follows the clock, windows
    /// below a watermark close, windows past retention expire. Called by the clock thread
    /// every second and by `ADVANCE CLOCK`.
    pub fn tick(&mut self) {
        let now = self.clock.now_micros();
        let mut times = Vec::new();
        for flow in self.sources.values_mut() {
            let expected = expected_partitions(flow.log.as_ref());
            let watermark = flow.watermark.as_mut().and_then(|w| {
                w.idle(&expected, now);
                w.watermark()
            });
            times.push((flow.subscribers.clone(), Time { watermark, now }));
        }
        for (views, time) in times {
            for view in views {
                self.advance(&view, time);
            }
        }
    }

    /// Advances `view` to `time`, then the views over it (to the same wall time; a view's
    /// watermark does not pass on).
    pub fn advance(&mut self, view: &str, time: Time) {
        let Some(flow) = self.views.get_mut(view) else {
            return;
        };
        let mut run = || -> Result<Vec<Change>> {
            let mut changes = Vec::new();
            for op in flow.operators.iter_mut() {
                if !changes.is_empty() {
                    changes = op.process(changes)?;
                }
                changes.extend(op.advance(time)?);
            }
            if changes.is_empty() {
                return Ok(changes);
            }
            flow.table.apply(changes)
        };
        let out = match run() {
            Ok(out) => out,
            Err(e) => {
                flow.failed(view, e);
                return;
            }
        };
        let subscribers = flow.subscribers.clone();
        for sub in subscribers {
            if !out.is_empty() {
                self.push(&sub, out.clone());
            }
            self.advance(
                &sub,
                Time {
                    watermark: None,
                    now: time.now,
                },
            );
        }
    }

    /// Runs `changes` through `view` and on to the views over it. A failure is recorded on
    /// the view (SHOW MATERIALIZED VIEWS shows it) and does not stop other views.
    pub fn push(&mut self, view: &str, changes: Vec<Change>) {
        let Some(flow) = self.views.get_mut(view) else {
            return;
        };
        let mut result = Ok(changes);
        for op in flow.operators.iter_mut() {
            result = result.and_then(|c| op.process(c));
        }
        let out = result.and_then(|c| flow.table.apply(c));
        match out {
            Ok(out) => {
                let subscribers = flow.subscribers.clone();
                for sub in subscribers {
                    self.push(&sub, out.clone());
                }
            }
            Err(e) => flow.failed(view, e),
        }
    }
}

/// The partitions a source reads (none for sources without partitions), each with whether
/// it may count as idle: read up to its known end, on a broker that answers.
pub(crate) fn expected_partitions(log: Option<&LogState>) -> Vec<Expected> {
    let Some(log) = log else {
        return vec![];
    };
    log.offsets
        .iter()
        .map(|(p, at)| {
            let caught_up = log.high_watermarks.get(p).is_some_and(|hw| hw <= at);
            (*p, log.reachable && caught_up)
        })
        .collect()
}

impl ViewFlow {
    /// Records a failure for SHOW MATERIALIZED VIEWS; other views go on.
    fn failed(&mut self, view: &str, e: EngineError) {
        tracing::warn!(view, error = %e, "a batch failed in a materialized view");
        self.errors += 1;
        self.last_error = Some(e.to_string());
    }
}
