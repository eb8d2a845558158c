//! A source's event time and watermark: which events are late, and when windows close.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{Array, BooleanArray};
use datafusion::arrow::compute::{filter_record_batch, not};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::arrow::json::LineDelimitedWriter;
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::{EngineError, Result};
use crate::state::{StateReader, StateWriter};

/// How many late events a source keeps for `palisade.late_events`: the newest ones. The
/// counter counts every one.
pub const LATE_EVENTS_KEPT: usize = 10_000;

/// How long a source may go without events before its event time follows the wall clock,
/// unless `watermark.idle_timeout` says otherwise.
pub const DEFAULT_IDLE_TIMEOUT_MICROS: i64 = 10_000_000;

/// `WATERMARK FOR column AS column - delay`, resolved against the source's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatermarkSpec {
    pub column: String,
    /// The column's index in the source's schema.
    pub index: usize,
    pub unit: TimeUnit,
    pub delay_micros: i64,
    pub idle_timeout_micros: i64,
}

impl WatermarkSpec {
    /// The spec of `decl` over `schema`, with the idle timeout from the source's
    /// `watermark.idle_timeout` option (taken out of `options`, it is not the connector's).
    pub fn resolve(
        decl: Option<&palisade_sql::statement::WatermarkDecl>,
        schema: &datafusion::arrow::datatypes::Schema,
        options: &mut std::collections::BTreeMap<String, String>,
    ) -> Result<Option<Self>> {
        const IDLE: &str = "watermark.idle_timeout";
        let idle = options.remove(IDLE);
        let Some(decl) = decl else {
            return match idle {
                Some(_) => Err(EngineError::plan(
                    palisade_sql::PlanErrorKind::InvalidParameter,
                    format!("option {IDLE} needs a WATERMARK FOR clause in the column list"),
                )),
                None => Ok(None),
            };
        };
        let index = schema.index_of(&decl.column)?;
        let DataType::Timestamp(unit, _) = schema.field(index).data_type() else {
            return Err(EngineError::Internal(
                "the watermark column is not a timestamp".into(),
            ));
        };
        let idle_timeout_micros = match idle {
            Some(text) => palisade_sql::window::interval_text_micros(IDLE, &text)?,
            None => DEFAULT_IDLE_TIMEOUT_MICROS,
        };
        Ok(Some(WatermarkSpec {
            column: decl.column.clone(),
            index,
            unit: *unit,
            delay_micros: decl.delay_micros,
            idle_timeout_micros,
        }))
    }
}

/// An event set aside because its time was below the watermark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateEvent {
    /// Microseconds since the epoch.
    pub event_time: i64,
    /// The watermark it was compared with.
    pub watermark: i64,
    /// The event as a JSON object.
    pub event: String,
    pub received_at: DateTime<Utc>,
}

/// What a checkpoint keeps of a source's event time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatermarkState {
    /// The source's event time (microseconds): never decreasing; the watermark is this
    /// minus the delay.
    pub event_time: Option<i64>,
    /// The largest event time per partition (one partition, 0, for sources without them).
    pub partitions: BTreeMap<i32, i64>,
    /// Late events, all of them.
    pub late: u64,
    /// The newest [`LATE_EVENTS_KEPT`] late events.
    pub late_events: VecDeque<LateEvent>,
}

/// A source's watermark as events arrive.
///
/// The source's event time is the smallest of its partitions' largest event times (a Kafka
/// topic's partitions are read at different paces; a partition behind must not make the
/// others' events late), never decreasing; the watermark is that minus the delay. Until
/// every partition has sent an event or gone idle there is no watermark. Sources without
/// partitions are one partition.
///
/// Events are judged one by one in ingest order: an event is late when its time is below
/// the watermark left by the events before it, so the verdict does not depend on how events
/// are cut into batches; one pass per batch, and a batch without late events is passed on
/// untouched. Late events go to the late-event list (and counter), never into views, which
/// is what lets a window below the watermark be final. An event without a time is never
/// late (its window is NULL).
///
/// A partition without events for the idle timeout no longer holds the event time back;
/// when all are idle, the event time moves on with the wall clock from the last event's
/// time (as if the source were still sending), so windows close while an attacker pauses.
#[derive(Debug, Clone)]
pub struct SourceWatermark {
    pub spec: WatermarkSpec,
    pub state: WatermarkState,
    /// Wall time (microseconds) of each partition's last event, and of the source's start
    /// for partitions without one. Not checkpointed: a restart does not count its downtime
    /// as idleness.
    last_event_at: BTreeMap<i32, i64>,
    started_at: i64,
}

/// A partition a source reads, and whether it may count as idle: a partition known to have
/// records not yet read, or on a broker that cannot be reached, is behind, not idle.
pub type Expected = (i32, bool);

/// The partition of rows of sources without partitions.
const ONLY_PARTITION: [Expected; 1] = [(0, true)];

impl SourceWatermark {
    pub fn new(spec: WatermarkSpec, state: WatermarkState, now: i64) -> Self {
        SourceWatermark {
            spec,
            state,
            last_event_at: BTreeMap::new(),
            started_at: now,
        }
    }

    fn idle_at(&self, (partition, may_idle): Expected, now: i64) -> bool {
        if !may_idle {
            return false;
        }
        let last = self
            .last_event_at
            .get(&partition)
            .copied()
            .unwrap_or(self.started_at);
        now.saturating_sub(last) >= self.spec.idle_timeout_micros
    }

    /// What the partitions allow the event time to be at `now`: the smallest largest time
    /// of the partitions not idle; None while one of them has sent nothing; when all are
    /// idle, the wall clock's advance since the last event. Linear in the partitions, which
    /// are few; called per batch and when the smallest partition moves.
    fn allowed(&self, expected: &[Expected], now: i64) -> Option<i64> {
        let mut smallest: Option<i64> = None;
        for &e in expected {
            if self.idle_at(e, now) {
                continue;
            }
            let t = *self.state.partitions.get(&e.0)?;
            smallest = Some(smallest.map_or(t, |s| s.min(t)));
        }
        smallest.or_else(|| {
            let last = self
                .last_event_at
                .values()
                .copied()
                .max()
                .unwrap_or(self.started_at);
            let seen = self.state.partitions.values().copied().max()?;
            Some(seen.saturating_add(now.saturating_sub(last)))
        })
    }

    fn raise(&mut self, to: Option<i64>) {
        if let Some(t) = to
            && self.state.event_time.is_none_or(|e| e < t)
        {
            self.state.event_time = Some(t);
        }
    }

    /// The watermark in microseconds; None before the first event.
    pub fn watermark(&self) -> Option<i64> {
        self.state
            .event_time
            .map(|t| t.saturating_sub(self.spec.delay_micros))
    }

    fn micros(&self, v: i64) -> i64 {
        match self.spec.unit {
            TimeUnit::Second => v.saturating_mul(1_000_000),
            TimeUnit::Millisecond => v.saturating_mul(1_000),
            TimeUnit::Microsecond => v,
            TimeUnit::Nanosecond => v.div_euclid(1_000),
        }
    }

    /// Judges `batch` against the watermark, advancing it; returns the events in time and
    /// keeps the late ones. `partitions` gives each row's partition (empty: the source has
    /// none), `expected` the source's partitions; `now` is the wall clock in microseconds.
    pub fn split(
        &mut self,
        batch: RecordBatch,
        partitions: &[i32],
        expected: &[Expected],
        now: i64,
    ) -> Result<RecordBatch> {
        if batch.num_rows() == 0 {
            return Ok(batch);
        }
        // Rows with partitions but no list of them (not a reader's batch): the partitions
        // they name are the ones there are.
        let named: Vec<Expected>;
        let expected = if partitions.is_empty() {
            &ONLY_PARTITION[..]
        } else if expected.is_empty() {
            let mut ids: Vec<i32> = self.state.partitions.keys().copied().collect();
            ids.extend_from_slice(partitions);
            ids.sort_unstable();
            ids.dedup();
            named = ids.into_iter().map(|p| (p, true)).collect();
            &named
        } else {
            expected
        };
        let column = batch.column(self.spec.index);
        if !matches!(column.data_type(), DataType::Timestamp(_, _)) {
            return Err(EngineError::Internal(
                "the watermark column is not a timestamp".into(),
            ));
        }
        let data = column.to_data();
        let values: &[i64] = data.buffer::<i64>(0);
        let mut late_marks: Option<Vec<bool>> = None;
        let mut watermarks = Vec::new();
        let mut allowed = self.allowed(expected, now);
        let mut alive = None;
        for (i, &v) in values.iter().enumerate().take(batch.num_rows()) {
            let partition = partitions.get(i).copied().unwrap_or(0);
            // Even an event that is late or has no time shows its partition is alive. Rows
            // of one partition come in runs, so the map is touched once per run.
            if alive != Some(partition) {
                self.last_event_at.insert(partition, now);
                alive = Some(partition);
            }
            if column.is_null(i) {
                continue;
            }
            let t = self.micros(v);
            if let Some(w) = self.watermark()
                && t < w
            {
                late_marks.get_or_insert_with(|| vec![false; batch.num_rows()])[i] = true;
                watermarks.push(w);
                continue;
            }
            let before = self.state.partitions.get(&partition).copied();
            if before.is_some_and(|b| b >= t) {
                continue;
            }
            self.state.partitions.insert(partition, t);
            // Only the partition holding the event time back can move it.
            if allowed.is_none_or(|a| before.is_none_or(|b| b <= a)) {
                allowed = self.allowed(expected, now);
                self.raise(allowed);
            }
        }
        let Some(marks) = late_marks else {
            return Ok(batch);
        };
        let late = BooleanArray::from(marks);
        let late_rows = filter_record_batch(&batch, &late)?;
        self.keep(&late_rows, &watermarks, now)?;
        Ok(filter_record_batch(&batch, &not(&late)?)?)
    }

    fn keep(&mut self, rows: &RecordBatch, watermarks: &[i64], now: i64) -> Result<()> {
        self.state.late += rows.num_rows() as u64;
        let mut json = Vec::new();
        {
            let mut writer = LineDelimitedWriter::new(&mut json);
            writer.write(rows)?;
            writer.finish()?;
        }
        let text = String::from_utf8_lossy(&json);
        let times = rows.column(self.spec.index).to_data();
        let times: &[i64] = times.buffer::<i64>(0);
        let received_at = DateTime::from_timestamp_micros(now).unwrap_or_default();
        for ((line, &watermark), &t) in text.lines().zip(watermarks).zip(times) {
            if self.state.late_events.len() == LATE_EVENTS_KEPT {
                self.state.late_events.pop_front();
            }
            self.state.late_events.push_back(LateEvent {
                event_time: self.micros(t),
                watermark,
                event: line.to_string(),
                received_at,
            });
        }
        Ok(())
    }

    /// Lets idle partitions stop holding the event time back, and moves it on with the
    /// wall clock when all are idle. `expected` as for [`SourceWatermark::split`].
    pub fn idle(&mut self, expected: &[Expected], now: i64) {
        let expected = if expected.is_empty() {
            &ONLY_PARTITION[..]
        } else {
            expected
        };
        let allowed = self.allowed(expected, now);
        self.raise(allowed);
    }
}

impl WatermarkState {
    pub fn save(&self, out: &mut StateWriter) {
        out.tag("watermark");
        out.bool(self.event_time.is_some());
        out.i64(self.event_time.unwrap_or_default());
        out.len(self.partitions.len());
        for (p, t) in &self.partitions {
            out.i64(i64::from(*p));
            out.i64(*t);
        }
        out.u64(self.late);
        out.len(self.late_events.len());
        for e in &self.late_events {
            out.i64(e.event_time);
            out.i64(e.watermark);
            out.bytes(e.event.as_bytes());
            out.i64(e.received_at.timestamp_micros());
        }
    }

    pub fn load(input: &mut StateReader) -> Result<Self> {
        input.tag("watermark")?;
        let present = input.bool()?;
        let event_time = Some(input.i64()?).filter(|_| present);
        let mut partitions = BTreeMap::new();
        for _ in 0..input.len()? {
            let p = i32::try_from(input.i64()?)
                .map_err(|_| EngineError::Storage("checkpoint: a bad partition".into()))?;
            partitions.insert(p, input.i64()?);
        }
        let late = input.u64()?;
        let mut late_events = VecDeque::new();
        for _ in 0..input.len()? {
            let event_time = input.i64()?;
            let watermark = input.i64()?;
            let event = String::from_utf8(input.bytes()?.to_vec())
                .map_err(|_| EngineError::Storage("checkpoint: a late event is not text".into()))?;
            let received_at = DateTime::from_timestamp_micros(input.i64()?)
                .ok_or_else(|| EngineError::Storage("checkpoint: a bad time".into()))?;
            late_events.push_back(LateEvent {
                event_time,
                watermark,
                event,
                received_at,
            });
        }
        Ok(WatermarkState {
            event_time,
            partitions,
            late,
            late_events,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int32Array, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    fn batch(times: Vec<Option<i64>>) -> RecordBatch {
        let n = times.len() as i32;
        let schema = Arc::new(Schema::new(vec![
            Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
            Field::new("id", DataType::Int32, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(TimestampMicrosecondArray::from(times)),
                Arc::new(Int32Array::from_iter_values(0..n)),
            ],
        )
        .unwrap()
    }

    fn source(delay: i64) -> SourceWatermark {
        let spec = WatermarkSpec {
            column: "ts".into(),
            index: 0,
            unit: TimeUnit::Microsecond,
            delay_micros: delay,
            idle_timeout_micros: 100,
        };
        SourceWatermark::new(spec, WatermarkState::default(), 0)
    }

    fn ids(b: &RecordBatch) -> Vec<i32> {
        let a = b.column(1).as_any().downcast_ref::<Int32Array>().unwrap();
        a.values().to_vec()
    }

    #[test]
    fn verdicts_do_not_depend_on_batch_boundaries() {
        let times = vec![
            Some(10),
            Some(30),
            Some(24),
            Some(25),
            None,
            Some(40),
            Some(29),
        ];
        let mut whole = source(5);
        let accepted = whole.split(batch(times.clone()), &[], &[], 0).unwrap();
        // 24 is below 30 - 5; 29 below 40 - 5; the NULL time is never late.
        assert_eq!(ids(&accepted), vec![0, 1, 3, 4, 5]);
        assert_eq!(whole.state.late, 2);
        assert_eq!(whole.watermark(), Some(35));
        let late = &whole.state.late_events;
        assert_eq!((late[0].event_time, late[0].watermark), (24, 25));
        assert_eq!(
            late[0].event,
            r#"{"ts":"1970-01-01T00:00:00.000024","id":2}"#
        );
        let mut split = source(5);
        let mut late = 0;
        for t in times {
            split.split(batch(vec![t]), &[], &[], 0).unwrap();
            late = split.state.late;
        }
        assert_eq!(late, 2);
        assert_eq!(split.state.event_time, whole.state.event_time);
    }

    #[test]
    fn idle_source_follows_the_wall_clock_after_the_timeout() {
        let mut s = source(5);
        s.idle(&[], 1_000);
        assert_eq!(s.watermark(), None, "no event yet: nothing to move on from");
        s.split(batch(vec![Some(1_000)]), &[], &[], 500).unwrap();
        s.idle(&[], 599);
        assert_eq!(s.watermark(), Some(1_000 - 5));
        s.idle(&[], 600);
        assert_eq!(s.watermark(), Some(1_000 + 100 - 5));
        // an event later than the moved-on time moves it further; an earlier one is late
        // only when below the watermark.
        let kept = s
            .split(batch(vec![Some(1_096), Some(1_094)]), &[], &[], 650)
            .unwrap();
        assert_eq!(ids(&kept), vec![0]);
        let mut out = StateWriter::default();
        s.state.save(&mut out);
        let bytes = out.into_bytes();
        let back = WatermarkState::load(&mut StateReader::new(&bytes)).unwrap();
        assert_eq!(back, s.state);
    }

    #[test]
    fn a_partition_with_records_left_to_read_is_never_idle() {
        let mut s = source(5);
        s.split(
            batch(vec![Some(1_000), Some(10)]),
            &[0, 1],
            &[(0, true), (1, true)],
            0,
        )
        .unwrap();
        assert_eq!(s.watermark(), Some(5));
        // Partition 1 is behind (or its broker is gone): silence is not idleness.
        s.idle(&[(0, true), (1, false)], 1_000);
        assert_eq!(s.watermark(), Some(5));
        s.idle(&[(0, true), (1, true)], 1_000);
        assert!(s.watermark() > Some(5));
    }

    #[test]
    fn a_partition_behind_holds_the_watermark_back_until_it_goes_idle() {
        let mut s = source(5);
        let expected = [(0, true), (1, true)];
        // Partition 0 runs ahead; partition 1 has sent nothing: no watermark, nothing late.
        s.split(batch(vec![Some(1_000), Some(2_000)]), &[0, 0], &expected, 0)
            .unwrap();
        assert_eq!(s.watermark(), None);
        // Partition 1's old events are in time: the event time is the slower partition's,
        // which 500 moves to 500, so 20 (from either partition) is then late.
        let kept = s
            .split(
                batch(vec![Some(10), Some(500), Some(20)]),
                &[1, 1, 0],
                &expected,
                0,
            )
            .unwrap();
        assert_eq!(ids(&kept), vec![0, 1]);
        assert_eq!(s.watermark(), Some(495));
        // Below the slower partition's watermark is late, whichever partition it comes from.
        let kept = s
            .split(batch(vec![Some(400), Some(490)]), &[0, 1], &expected, 10)
            .unwrap();
        assert_eq!(ids(&kept), Vec::<i32>::new());
        assert_eq!(s.state.late, 3);
        // Partition 1 falls silent: after the idle timeout partition 0 alone sets the pace.
        s.split(batch(vec![Some(3_000)]), &[0], &expected, 100)
            .unwrap();
        assert_eq!(s.watermark(), Some(495));
        s.idle(&expected, 109);
        assert_eq!(s.watermark(), Some(495));
        s.idle(&expected, 110);
        assert_eq!(s.watermark(), Some(2_995));
    }
}
