//! Catching a view created late up with its source: datagen rows regenerated, a Kafka log
//! read again, lateness judged again, all before the view subscribes.

use datafusion::arrow::record_batch::RecordBatch;
use palisade_connectors::{Opened, Replay, open_source};

use crate::database::SourceDef;
use crate::dataflow::{Dataflow, LogState};
use crate::error::{EngineError, Result};
use crate::operators::{Change, Time};
use crate::source_runner::BATCH_ROWS;
use crate::watermark::SourceWatermark;

/// Regenerates rows [0, delivered) of a source for a view created after it started, so every
/// view sees the source from its first event. Connectors are pure functions of position,
/// so the rows are the ones the other views saw.
pub(crate) fn backfill_from_source(
    flow: &mut Dataflow,
    view: &str,
    source: &SourceDef,
    delivered: u64,
) -> Result<()> {
    let Opened::Positional(mut reader) = open_source(
        &source.name,
        &source.spec,
        source.created_at,
        &palisade_connectors::Offsets::new(),
    )?
    else {
        return Ok(());
    };
    let mut late = Rejudge::new(flow, &source.name);
    let mut position = 0u64;
    while position < delivered {
        let want = (delivered - position).min(BATCH_ROWS as u64) as usize;
        let batch = reader.read_range(position, want)?;
        if batch.num_rows() == 0 {
            break;
        }
        position += batch.num_rows() as u64;
        late.feed(flow, view, batch, &[], &[])?;
    }
    Ok(())
}

/// A late view's replay judges lateness again, as the source did for its other views.
struct Rejudge(Option<SourceWatermark>);

impl Rejudge {
    fn new(flow: &Dataflow, source: &str) -> Self {
        let now = flow.clock.now_micros();
        Rejudge(flow.sources.get(source).and_then(|s| {
            let w = s.watermark.as_ref()?;
            Some(SourceWatermark::new(
                w.spec.clone(),
                Default::default(),
                now,
            ))
        }))
    }

    fn feed(
        &mut self,
        flow: &mut Dataflow,
        view: &str,
        batch: RecordBatch,
        partitions: &[i32],
        expected: &[crate::watermark::Expected],
    ) -> Result<()> {
        let now = flow.clock.now_micros();
        let (batch, watermark) = match &mut self.0 {
            Some(w) => (w.split(batch, partitions, expected, now)?, w.watermark()),
            None => (batch, None),
        };
        flow.push(view, vec![Change::Insert(batch)]);
        flow.advance(view, Time { watermark, now });
        Ok(())
    }
}

/// Reads a log source again from where this run started up to the offsets its views hold,
/// for a view created after it started, so every view sees the same records. Dead letters
/// were counted the first time and are passed over.
pub(crate) fn replay_log(
    flow: &mut Dataflow,
    view: &str,
    source: &SourceDef,
    log: &LogState,
) -> Result<()> {
    let behind = log
        .offsets
        .iter()
        .any(|(p, end)| log.start.get(p).is_none_or(|from| from < end));
    if !behind {
        return Ok(());
    }
    let mut replay = Replay::open(&source.name, &source.spec, &log.start, log.offsets.clone())?;
    let mut late = Rejudge::new(flow, &source.name);
    let mut progress_at = std::time::Instant::now();
    while !replay.done() {
        let polled = replay
            .reader()
            .poll(BATCH_ROWS, std::time::Duration::from_millis(100));
        if polled.batch.num_rows() > 0 || !polled.dead_letters.is_empty() {
            progress_at = std::time::Instant::now();
        }
        if polled.batch.num_rows() > 0 {
            let expected = crate::dataflow::expected_partitions(Some(log));
            late.feed(flow, view, polled.batch, &polled.partitions, &expected)?;
        } else if progress_at.elapsed() > REPLAY_PATIENCE {
            return Err(EngineError::Connector(
                palisade_connectors::ConnectorError::Unavailable {
                    system: format!("source \"{}\"", source.name),
                    message: format!(
                        "could not read its records again for the new view within {} s{}",
                        REPLAY_PATIENCE.as_secs(),
                        polled.fault.map(|f| format!(": {f}")).unwrap_or_default()
                    ),
                },
            ));
        }
    }
    Ok(())
}

/// How long a view's replay of a log may go without a record before it gives up.
const REPLAY_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);
