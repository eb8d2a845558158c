//! Ingest benchmark: N pre-generated events as JSON lines, decoded with arrow-json and pushed
//! through the five website-security views in-process. Prints events per CPU-second, and the
//! same events run through the same five queries by DataFusion in batch (the peer), measured
//! in the same run.
//!
//! `cargo bench -p palisade-tests --bench seed_views -- [EVENTS]` (default 1,000,000).

use std::sync::Arc;
use std::time::Instant;

use palisade_engine::{Database, DatabaseOptions};
use palisade_tests::bench::{
    decode_json_lines, json_lines, process_cpu_seconds as cpu_seconds, push_json_lines,
};
use palisade_tests::events::{SOURCE_NAME, schema};

fn main() {
    let events: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let lines = json_lines(events, 1000);
    println!(
        "machine: {} cores; {events} events, {} MB of JSON lines",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        lines.len() / 1_000_000
    );

    let db = Database::new(DatabaseOptions::default());
    runtime.block_on(palisade_tests::create_website_security(&db));

    let cpu0 = cpu_seconds();
    let wall0 = Instant::now();
    let ingested = push_json_lines(&db, SOURCE_NAME, &lines).events;
    let cpu = cpu_seconds() - cpu0;
    let wall = wall0.elapsed().as_secs_f64();
    assert_eq!(ingested, events, "every event ingested");
    let rate = events as f64 / cpu.max(1e-9);
    println!(
        "palisade incremental: {ingested} events, {cpu:.2} CPU-s, {wall:.2} s wall: {rate:.0} events per CPU-second"
    );

    // The peer: DataFusion computing the same five views in batch over the same events.
    let mut batches = vec![];
    decode_json_lines(&lines, |b| batches.push(b));
    let peer_cpu = runtime.block_on(async {
        let ctx = palisade_sql::planner::new_session();
        let table =
            datafusion::datasource::MemTable::try_new(schema(), vec![batches]).expect("table");
        ctx.register_table("website_logs_source", Arc::new(table))
            .expect("register");
        let statements = palisade_sql::parse_statements(&palisade_tests::website_security_views())
            .expect("parse");
        let mut queries = vec![];
        for s in statements {
            if let palisade_sql::Statement::CreateMaterializedView(v) = s.statement {
                let mut q = *v.query;
                palisade_sql::ties::break_row_number_ties(&mut q);
                palisade_sql::window::rewrite_for_batch(&mut q, &|_| {
                    Some(schema().fields().iter().map(|f| f.name().clone()).collect())
                })
                .expect("rewrite");
                queries.push(q.to_string());
            }
        }
        let cpu0 = cpu_seconds();
        for q in &queries {
            let rows: usize = ctx
                .sql(q)
                .await
                .expect("plan")
                .collect()
                .await
                .expect("run")
                .iter()
                .map(|b| b.num_rows())
                .sum();
            assert!(rows > 0);
        }
        cpu_seconds() - cpu0 + lines_decode_cpu(&lines)
    });
    let peer_rate = events as f64 / peer_cpu.max(1e-9);
    println!(
        "datafusion batch (peer, same five queries once, incl. JSON decode): {peer_cpu:.2} CPU-s: {peer_rate:.0} events per CPU-second"
    );
    println!("ratio palisade/peer: {:.2}", rate / peer_rate);
}

/// CPU seconds to decode the JSON once, charged to the peer so both include decoding.
fn lines_decode_cpu(lines: &[u8]) -> f64 {
    let cpu0 = cpu_seconds();
    decode_json_lines(lines, drop);
    cpu_seconds() - cpu0
}
