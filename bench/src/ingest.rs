//! Scenario (a): JSON lines already in memory, decoded by the Kafka source's own decoder
//! and pushed through the five views on this thread, as fast as they go.

use std::time::Instant;

use palisade_connectors::JsonDecoder;
use palisade_engine::Database;

use crate::measure::{Latencies, process_cpu_seconds, thread_cpu_seconds};
use crate::workload::{Lines, SOURCE_NAME};

/// What one pass over the lines did and cost.
#[derive(Debug, Default)]
pub struct Ingested {
    pub events: u64,
    /// Lines the decoder refused; they reach no view (and the report says how many).
    pub rejected: u64,
    pub cpu_seconds: f64,
    pub wall_seconds: f64,
    /// This thread's CPU time in the decoder, and in the views (`push_batch`).
    pub decode_cpu_seconds: f64,
    pub views_cpu_seconds: f64,
    /// Per batch: from its lines handed to the decoder to its events visible to a SELECT.
    pub freshness: Latencies,
}

/// Decodes `lines` `batch` at a time and pushes each batch into the five views.
pub fn run(db: &Database, lines: &[u8], batch: usize) -> Result<Ingested, String> {
    let schema = db
        .relation_schema(SOURCE_NAME)
        .ok_or("the benchmark's source is missing")?;
    let mut decoder = JsonDecoder::new(schema).map_err(|e| e.to_string())?;
    let mut lines = Lines::new(lines);
    let mut payloads = Vec::with_capacity(batch);
    let mut out = Ingested::default();
    let cpu0 = process_cpu_seconds();
    let wall0 = Instant::now();
    loop {
        let started = Instant::now();
        lines.next_batch(batch, &mut payloads);
        if payloads.is_empty() {
            break;
        }
        let t0 = thread_cpu_seconds();
        let decoded = decoder.decode(&payloads).map_err(|e| e.to_string())?;
        let t1 = thread_cpu_seconds();
        out.rejected += decoded.rejected.len() as u64;
        out.events += decoded.batch.num_rows() as u64;
        db.push_batch(SOURCE_NAME, decoded.batch)
            .map_err(|e| e.to_string())?;
        let t2 = thread_cpu_seconds();
        out.decode_cpu_seconds += t1 - t0;
        out.views_cpu_seconds += t2 - t1;
        out.freshness.push(started.elapsed());
    }
    out.cpu_seconds = process_cpu_seconds() - cpu0;
    out.wall_seconds = wall0.elapsed().as_secs_f64();
    Ok(out)
}
