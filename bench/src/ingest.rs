//! Scenario (a): JSON lines already in memory, decoded by the Kafka source's own decoder
//! and pushed through the five views on this thread, as fast as they go. [`Pusher`] is that
//! decode-and-push step, which scenario (c) shares for its history and its live events.

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

/// Decodes batches of JSON lines with the source's decoder and pushes them into the views,
/// timing each batch on the calling thread.
pub struct Pusher<'a> {
    db: &'a Database,
    decoder: JsonDecoder,
    pub done: Ingested,
}

impl<'a> Pusher<'a> {
    pub fn new(db: &'a Database) -> Result<Self, String> {
        let schema = db
            .relation_schema(SOURCE_NAME)
            .ok_or("the benchmark's source is missing")?;
        Ok(Pusher {
            db,
            decoder: JsonDecoder::new(schema).map_err(|e| e.to_string())?,
            done: Ingested::default(),
        })
    }

    /// One batch: decoded, pushed, visible when this returns.
    pub fn push(&mut self, payloads: &[&[u8]]) -> Result<(), String> {
        let started = Instant::now();
        let t0 = thread_cpu_seconds();
        let decoded = self.decoder.decode(payloads).map_err(|e| e.to_string())?;
        let t1 = thread_cpu_seconds();
        let out = &mut self.done;
        out.rejected += decoded.rejected.len() as u64;
        out.events += decoded.batch.num_rows() as u64;
        self.db
            .push_batch(SOURCE_NAME, decoded.batch)
            .map_err(|e| e.to_string())?;
        let t2 = thread_cpu_seconds();
        out.decode_cpu_seconds += t1 - t0;
        out.views_cpu_seconds += t2 - t1;
        out.freshness.push(started.elapsed());
        Ok(())
    }
}

/// Decodes `lines` `batch` at a time and pushes each batch into the five views.
pub fn run(db: &Database, lines: &[u8], batch: usize) -> Result<Ingested, String> {
    let mut pusher = Pusher::new(db)?;
    let mut lines = Lines::new(lines);
    let mut payloads = Vec::with_capacity(batch);
    let cpu0 = process_cpu_seconds();
    let wall0 = Instant::now();
    loop {
        lines.next_batch(batch, &mut payloads);
        if payloads.is_empty() {
            break;
        }
        pusher.push(&payloads)?;
    }
    let mut out = pusher.done;
    out.cpu_seconds = process_cpu_seconds() - cpu0;
    out.wall_seconds = wall0.elapsed().as_secs_f64();
    Ok(out)
}
