//! The wall clock the engine reads, or a test clock that only `ADVANCE CLOCK` moves.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use palisade_sql::statement::ClockStep;

use crate::database::{Database, StatementResult};
use crate::dataflow::Dataflow;
use crate::error::{EngineError, Result};

/// Time for idle sources, retention (`NOW()`) and late-event stamps. Tests use a manual
/// clock so that windows close and expire at exact, repeatable moments without sleeping.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Microseconds since the epoch of a manual clock; None: the wall clock.
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    pub fn manual(start: DateTime<Utc>) -> Self {
        Clock {
            manual: Some(Arc::new(AtomicI64::new(start.timestamp_micros()))),
        }
    }

    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    /// Microseconds since the epoch.
    pub fn now_micros(&self) -> i64 {
        match &self.manual {
            Some(t) => t.load(Ordering::SeqCst),
            None => Utc::now().timestamp_micros(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.now_micros()).unwrap_or_default()
    }

    /// Moves a manual clock to `micros`; never backwards.
    pub fn set(&self, micros: i64) -> Result<()> {
        let Some(t) = &self.manual else {
            return Err(EngineError::plan(
                palisade_sql::PlanErrorKind::Other,
                "ADVANCE CLOCK needs the test clock (start the server with --test-clock); \
                 this one follows the wall clock",
            ));
        };
        let now = t.load(Ordering::SeqCst);
        if micros < now {
            return Err(EngineError::plan(
                palisade_sql::PlanErrorKind::InvalidParameter,
                format!(
                    "the clock only moves forward: it is at {}",
                    DateTime::from_timestamp_micros(now).unwrap_or_default()
                ),
            ));
        }
        t.store(micros, Ordering::SeqCst);
        Ok(())
    }
}

/// How often the clock thread lets time pass for idle sources and retention.
const TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// Ticks the dataflow every [`TICK`] on a thread of its own, until the database is gone.
pub(crate) fn start_ticker(dataflow: Weak<Mutex<Dataflow>>) {
    let spawned = std::thread::Builder::new()
        .name("palisade-clock".into())
        .spawn(move || {
            loop {
                std::thread::sleep(TICK);
                let Some(dataflow) = dataflow.upgrade() else {
                    return;
                };
                dataflow.lock().unwrap_or_else(|p| p.into_inner()).tick();
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "no clock thread: idle sources and retention will not advance");
    }
}

impl Database {
    /// `ADVANCE CLOCK`: moves the test clock, then lets time pass for every view.
    pub(crate) fn advance_clock(&self, step: ClockStep) -> Result<StatementResult> {
        let clock = &self.inner.clock;
        let target = match step {
            ClockStep::By(micros) => clock.now_micros().saturating_add(micros),
            ClockStep::To(text) => {
                let parsed = ScalarValue::Utf8(Some(text.clone()))
                    .cast_to(&DataType::Timestamp(TimeUnit::Microsecond, None));
                match parsed {
                    Ok(ScalarValue::TimestampMicrosecond(Some(t), _)) => t,
                    _ => {
                        return Err(EngineError::plan(
                            palisade_sql::PlanErrorKind::InvalidParameter,
                            format!("ADVANCE CLOCK TO '{text}': not a timestamp"),
                        ));
                    }
                }
            }
        };
        clock.set(target)?;
        self.dataflow().tick();
        Ok(StatementResult::done("ADVANCE_CLOCK"))
    }
}
