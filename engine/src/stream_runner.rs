//! Polls a log source (Kafka) on its own thread into the dataflow, keeping its offsets, dead
//! letters and counters with the rows they account for, answering FLUSH requests, and
//! reporting a broker outage once when it starts and once when it ends.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use palisade_connectors::{Offsets, StreamReader};

use crate::dataflow::Dataflow;
use crate::source_runner::{BATCH_ROWS, RunnerState, SourceRunner, finish, wait_until_attached};

/// How long one poll waits for a first record: the longest a FLUSH request or a stop waits
/// to be noticed while the topic is quiet.
const POLL_WAIT: Duration = Duration::from_millis(100);
/// How long a broker question (the partitions' ends) may take before it counts as failed.
const BROKER_TIMEOUT: Duration = Duration::from_secs(2);
/// How often an unreachable broker is asked again.
const RETRY_EVERY: Duration = Duration::from_secs(2);
/// How long a FLUSH keeps trying to learn the partitions' ends, counted from the request or
/// from the broker's last return, whichever is later, before it fails.
const FLUSH_PATIENCE: Duration = Duration::from_secs(60);
/// How often the high watermarks are copied for SHOW SOURCES while nothing arrives.
const WATERMARKS_EVERY: Duration = Duration::from_secs(1);
/// How often the broker is asked for the partitions' ends, for lag. librdkafka's statistics
/// also carry them, but not every Kafka-compatible broker fills them in.
const ASK_ENDS_EVERY: Duration = Duration::from_secs(5);

impl SourceRunner {
    /// Starts polling `reader` for source `name` once a view reads it.
    pub fn start_stream(
        name: String,
        mut reader: Box<dyn StreamReader>,
        dataflow: Arc<Mutex<Dataflow>>,
    ) -> Self {
        let state = Arc::new(RunnerState::default());
        let shared = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name(format!("source-{name}"))
            .spawn(move || {
                if wait_until_attached(&shared) {
                    StreamLoop::new(&name, &shared, &dataflow).run(reader.as_mut());
                }
            })
            .ok();
        SourceRunner {
            state,
            eager_total: None,
            log: true,
            thread,
        }
    }
}

/// Whether the broker answers, as far as the source can tell.
enum Link {
    Up,
    /// Unreachable since `since`; last asked at `asked`.
    Down {
        since: Instant,
        asked: Instant,
    },
}

/// A FLUSH request being answered: done once every partition is read up to `ends`.
struct PendingFlush {
    request: u64,
    /// None until the broker has told.
    ends: Option<Offsets>,
    /// When the request was taken up.
    since: Instant,
}

struct StreamLoop<'a> {
    name: &'a str,
    state: &'a RunnerState,
    dataflow: &'a Mutex<Dataflow>,
    link: Link,
    /// The FLUSH request being answered, if any.
    flush: Option<PendingFlush>,
    /// The last FLUSH request answered.
    answered: u64,
    watermarks_copied: Instant,
    /// The partitions' ends as last asked of the broker.
    ends: Offsets,
    ends_asked: Option<Instant>,
}

impl<'a> StreamLoop<'a> {
    fn new(name: &'a str, state: &'a RunnerState, dataflow: &'a Mutex<Dataflow>) -> Self {
        StreamLoop {
            name,
            state,
            dataflow,
            link: Link::Up,
            flush: None,
            answered: 0,
            watermarks_copied: Instant::now(),
            ends: Offsets::new(),
            ends_asked: None,
        }
    }

    fn run(&mut self, reader: &mut dyn StreamReader) {
        loop {
            if self.state.stop.load(Ordering::SeqCst) {
                return finish(self.name, self.state, self.dataflow, None);
            }
            self.take_flush_request(reader);
            let polled = reader.poll(BATCH_ROWS, POLL_WAIT);
            let arrived = polled.batch.num_rows() + polled.dead_letters.len();
            self.track_link(reader, polled.fault, arrived > 0);
            if arrived > 0 || self.watermarks_copied.elapsed() >= WATERMARKS_EVERY {
                let high_watermarks = self.high_watermarks(reader);
                let result = match self.dataflow.lock() {
                    Ok(mut flow) => {
                        let result = if polled.batch.num_rows() > 0 {
                            flow.ingest_partitioned(self.name, polled.batch, &polled.partitions)
                        } else {
                            Ok(())
                        };
                        // Under the same lock as the rows, so offsets, counters and views
                        // always agree.
                        if let Some(log) =
                            flow.sources.get_mut(self.name).and_then(|s| s.log.as_mut())
                        {
                            log.offsets.clone_from(reader.offsets());
                            log.high_watermarks = high_watermarks;
                            log.reachable = matches!(self.link, Link::Up);
                            log.coerced += polled.coerced;
                            if !polled.dead_letters.is_empty() {
                                log.keep(polled.dead_letters, Utc::now());
                            }
                        }
                        result
                    }
                    Err(_) => Err(crate::EngineError::Internal(
                        "dataflow lock poisoned".into(),
                    )),
                };
                self.watermarks_copied = Instant::now();
                if let Err(e) = result {
                    // A source dropped mid-batch is gone from the dataflow: not a failure.
                    if self.state.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    return finish(self.name, self.state, self.dataflow, Some(e.to_string()));
                }
            }
            self.answer_flush(reader.offsets());
        }
    }

    /// The highest end known per partition: from librdkafka's statistics, or from asking
    /// the broker every [`ASK_ENDS_EVERY`] while it answers.
    fn high_watermarks(&mut self, reader: &mut dyn StreamReader) -> Offsets {
        if matches!(self.link, Link::Up)
            && self
                .ends_asked
                .is_none_or(|at| at.elapsed() >= ASK_ENDS_EVERY)
        {
            self.ends_asked = Some(Instant::now());
            if let Ok(ends) = reader.end_offsets(BROKER_TIMEOUT) {
                self.ends = ends;
            }
        }
        let mut marks = reader.high_watermarks();
        for (&p, &end) in &self.ends {
            let mark = marks.entry(p).or_insert(end);
            *mark = (*mark).max(end);
        }
        marks
    }

    /// Takes up a FLUSH request made since the last one answered, and learns the
    /// partitions' ends for it. Requests made meanwhile wait for the next round, whose ends
    /// are learnt after they were made.
    fn take_flush_request(&mut self, reader: &mut dyn StreamReader) {
        let requested = self.state.flush_requested.load(Ordering::SeqCst);
        if self.flush.is_none() && requested > self.answered {
            self.flush = Some(PendingFlush {
                request: requested,
                ends: None,
                since: Instant::now(),
            });
        }
        let Some(pending) = &mut self.flush else {
            return;
        };
        if pending.ends.is_some() {
            return;
        }
        match reader.end_offsets(BROKER_TIMEOUT) {
            Ok(ends) => {
                self.ends.clone_from(&ends);
                pending.ends = Some(ends);
            }
            Err(e) if pending.since.elapsed() >= FLUSH_PATIENCE => {
                let request = pending.request;
                let why = format!(
                    "source \"{}\" could not learn where its partitions end within {} s: {e}",
                    self.name,
                    FLUSH_PATIENCE.as_secs()
                );
                if let Ok(mut failure) = self.state.flush_failure.lock() {
                    *failure = Some((request, why));
                }
                self.publish_flushed(request, None);
            }
            Err(_) => {}
        }
    }

    /// Answers the pending FLUSH once every partition has been read up to its end.
    fn answer_flush(&mut self, offsets: &Offsets) {
        let Some(PendingFlush {
            request,
            ends: Some(ends),
            ..
        }) = &self.flush
        else {
            return;
        };
        if ends
            .iter()
            .all(|(p, end)| offsets.get(p).is_some_and(|at| at >= end))
        {
            let (request, ends) = (*request, ends.clone());
            self.publish_flushed(request, Some(&ends));
        }
    }

    /// Marks FLUSH `request` answered. `ends`, the partitions' ends it waited for, count
    /// as high watermarks too: a FLUSH answered before the loop first copied them (just
    /// after a restart with nothing left to read) would otherwise leave SHOW SOURCES
    /// without a lag for a second.
    fn publish_flushed(&mut self, request: u64, ends: Option<&Offsets>) {
        self.flush = None;
        self.answered = request;
        if let Ok(mut flow) = self.dataflow.lock()
            && let Some(s) = flow.sources.get_mut(self.name)
        {
            if let (Some(ends), Some(log)) = (ends, s.log.as_mut()) {
                for (&p, &end) in ends {
                    let mark = log.high_watermarks.entry(p).or_insert(end);
                    *mark = (*mark).max(end);
                }
            }
            s.progress
                .send_modify(|p| p.flushed = p.flushed.max(request));
        }
    }

    /// Follows the broker's reachability from poll faults, logging each change once.
    fn track_link(&mut self, reader: &mut dyn StreamReader, fault: Option<String>, arrived: bool) {
        match self.link {
            Link::Up => {
                let Some(fault) = fault else {
                    return;
                };
                // librdkafka also reports connections it closes and reopens by itself; only
                // a broker that does not answer a question is an outage.
                if reader.end_offsets(BROKER_TIMEOUT).is_ok() {
                    tracing::debug!(source = self.name, %fault, "transient Kafka client error");
                    return;
                }
                tracing::warn!(
                    source = self.name,
                    error = %fault,
                    "source {} lost its Kafka broker; retrying every {} s from its own offsets",
                    self.name,
                    RETRY_EVERY.as_secs()
                );
                if let Ok(mut outage) = self.state.outage.lock() {
                    *outage = Some(fault);
                }
                let now = Instant::now();
                self.link = Link::Down {
                    since: now,
                    asked: now,
                };
            }
            Link::Down { since, asked } => {
                let back = arrived
                    || (asked.elapsed() >= RETRY_EVERY && {
                        self.link = Link::Down {
                            since,
                            asked: Instant::now(),
                        };
                        reader.end_offsets(BROKER_TIMEOUT).is_ok()
                    });
                if !back {
                    if let Some(fault) = fault
                        && let Ok(mut outage) = self.state.outage.lock()
                    {
                        *outage = Some(fault);
                    }
                    return;
                }
                tracing::info!(
                    source = self.name,
                    "source {} reconnected to its Kafka broker after {:.1} s",
                    self.name,
                    since.elapsed().as_secs_f64()
                );
                if let Ok(mut outage) = self.state.outage.lock() {
                    *outage = None;
                }
                self.link = Link::Up;
                // A FLUSH waiting for the partitions' ends gets its full patience again.
                if let Some(pending) = &mut self.flush {
                    pending.since = Instant::now();
                }
            }
        }
    }
}
