//! The `palisade` schema: the engine's own state as tables one queries with SQL.
//!
//! - `palisade.dead_letters`: records a source could not decode (newest
//!   [`DEAD_LETTERS_KEPT`](crate::dataflow::DEAD_LETTERS_KEPT) per source);
//! - `palisade.source_partitions`: each log source partition's offset, high watermark and lag;
//! - `palisade.late_events`: events below their source's watermark (newest
//!   [`LATE_EVENTS_KEPT`](crate::watermark::LATE_EVENTS_KEPT) per source).
//!
//! Each scan copies the current state under the dataflow lock, so a query sees one moment.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, Int32Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{MemorySchemaProvider, Session};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

use crate::dataflow::Dataflow;
use crate::error::{EngineError, Result};

/// The schema holding the system tables.
pub const SCHEMA: &str = "palisade";

#[derive(Debug, Clone, Copy)]
enum Kind {
    DeadLetters,
    SourcePartitions,
    LateEvents,
}

/// One system table: its rows are computed from the dataflow at scan time.
struct SystemTable {
    kind: Kind,
    schema: SchemaRef,
    dataflow: Arc<Mutex<Dataflow>>,
}

impl std::fmt::Debug for SystemTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SystemTable({:?})", self.kind)
    }
}

/// Registers the `palisade` schema and its tables in `ctx`.
/// Each system table's name and columns, in name order, for the Postgres catalogs.
pub fn relations() -> Vec<(&'static str, SchemaRef)> {
    let mut all = vec![
        ("dead_letters", schema(Kind::DeadLetters)),
        ("late_events", schema(Kind::LateEvents)),
        ("source_partitions", schema(Kind::SourcePartitions)),
    ];
    all.sort_by_key(|(name, _)| *name);
    all
}

pub fn register(ctx: &SessionContext, dataflow: &Arc<Mutex<Dataflow>>) -> Result<()> {
    let catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| EngineError::Internal("no default catalog".into()))?;
    catalog.register_schema(SCHEMA, Arc::new(MemorySchemaProvider::new()))?;
    for (name, kind) in [
        ("dead_letters", Kind::DeadLetters),
        ("source_partitions", Kind::SourcePartitions),
        ("late_events", Kind::LateEvents),
    ] {
        let table = SystemTable {
            kind,
            schema: schema(kind),
            dataflow: Arc::clone(dataflow),
        };
        ctx.register_table(format!("{SCHEMA}.{name}").as_str(), Arc::new(table))?;
    }
    Ok(())
}

fn schema(kind: Kind) -> SchemaRef {
    let text = |n: &str| Field::new(n, DataType::Utf8, false);
    let time = |n: &str| Field::new(n, DataType::Timestamp(TimeUnit::Microsecond, None), false);
    let fields = match kind {
        Kind::DeadLetters => vec![
            text("source"),
            Field::new("kafka_partition", DataType::Int32, false),
            Field::new("kafka_offset", DataType::Int64, false),
            text("error"),
            text("payload"),
            Field::new("payload_bytes", DataType::Int64, false),
            Field::new(
                "received_at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
                false,
            ),
        ],
        Kind::SourcePartitions => vec![
            text("source"),
            Field::new("kafka_partition", DataType::Int32, false),
            Field::new("next_offset", DataType::Int64, false),
            Field::new("high_watermark", DataType::Int64, true),
            Field::new("lag", DataType::Int64, true),
        ],
        Kind::LateEvents => vec![
            text("source"),
            time("event_time"),
            time("watermark"),
            text("reason"),
            text("event"),
            Field::new(
                "received_at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
                false,
            ),
        ],
    };
    Arc::new(Schema::new(fields))
}

impl SystemTable {
    fn rows(&self) -> Result<RecordBatch> {
        let flow = self
            .dataflow
            .lock()
            .map_err(|_| EngineError::Internal("dataflow lock poisoned".into()))?;
        let logs = flow
            .sources
            .iter()
            .filter_map(|(name, s)| s.log.as_ref().map(|l| (name, l)));
        let mut source = StringBuilder::new();
        let mut partition = Int32Builder::new();
        let columns: Vec<ArrayRef> = match self.kind {
            Kind::DeadLetters => {
                let (mut offset, mut error, mut payload, mut bytes, mut at) = (
                    Int64Builder::new(),
                    StringBuilder::new(),
                    StringBuilder::new(),
                    Int64Builder::new(),
                    TimestampMicrosecondBuilder::new().with_timezone("+00:00"),
                );
                for (name, log) in logs {
                    for d in &log.dead_letters {
                        source.append_value(name);
                        partition.append_value(d.letter.partition);
                        offset.append_value(d.letter.offset);
                        error.append_value(&d.letter.error);
                        payload.append_value(&d.letter.payload);
                        bytes.append_value(d.letter.payload_bytes as i64);
                        at.append_value(d.received_at.timestamp_micros());
                    }
                }
                vec![
                    Arc::new(source.finish()),
                    Arc::new(partition.finish()),
                    Arc::new(offset.finish()),
                    Arc::new(error.finish()),
                    Arc::new(payload.finish()),
                    Arc::new(bytes.finish()),
                    Arc::new(at.finish()),
                ]
            }
            Kind::SourcePartitions => {
                let (mut next, mut high, mut lag) = (
                    Int64Builder::new(),
                    Int64Builder::new(),
                    Int64Builder::new(),
                );
                for (name, log) in logs {
                    for (&p, &at) in &log.offsets {
                        let hw = log.high_watermarks.get(&p).copied();
                        source.append_value(name);
                        partition.append_value(p);
                        next.append_value(at);
                        high.append_option(hw);
                        lag.append_option(hw.map(|h| (h - at).max(0)));
                    }
                }
                vec![
                    Arc::new(source.finish()),
                    Arc::new(partition.finish()),
                    Arc::new(next.finish()),
                    Arc::new(high.finish()),
                    Arc::new(lag.finish()),
                ]
            }
            Kind::LateEvents => {
                let (mut event_time, mut watermark, mut reason, mut event, mut at) = (
                    TimestampMicrosecondBuilder::new(),
                    TimestampMicrosecondBuilder::new(),
                    StringBuilder::new(),
                    StringBuilder::new(),
                    TimestampMicrosecondBuilder::new().with_timezone("+00:00"),
                );
                for (name, s) in &flow.sources {
                    let Some(w) = &s.watermark else { continue };
                    for e in &w.state.late_events {
                        source.append_value(name);
                        event_time.append_value(e.event_time);
                        watermark.append_value(e.watermark);
                        reason.append_value(format!(
                            "{} behind the watermark (WATERMARK FOR {} AS {} - {})",
                            seconds(e.watermark - e.event_time),
                            w.spec.column,
                            w.spec.column,
                            seconds(w.spec.delay_micros)
                        ));
                        event.append_value(&e.event);
                        at.append_value(e.received_at.timestamp_micros());
                    }
                }
                vec![
                    Arc::new(source.finish()),
                    Arc::new(event_time.finish()),
                    Arc::new(watermark.finish()),
                    Arc::new(reason.finish()),
                    Arc::new(event.finish()),
                    Arc::new(at.finish()),
                ]
            }
        };
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }
}

/// A duration as seconds, `4s` or `0.25s`.
fn seconds(micros: i64) -> String {
    if micros % 1_000_000 == 0 {
        return format!("{}s", micros / 1_000_000);
    }
    let text = format!("{:.6}", micros as f64 / 1e6);
    format!("{}s", text.trim_end_matches('0'))
}

#[async_trait]
impl TableProvider for SystemTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let rows = self
            .rows()
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        MemorySourceConfig::try_new_exec(&[vec![rows]], self.schema(), projection.cloned())
            .map(|exec| exec as Arc<dyn ExecutionPlan>)
    }
}
