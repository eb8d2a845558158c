//! Ingest benchmark: N pre-generated events as JSON lines, decoded with arrow-json and pushed
//! through the five website-security views in-process. Prints events per CPU-second, and the
//! same events run through the same five queries by DataFusion in batch (the peer), measured
//! in the same run.
//!
//! `cargo bench -p palisade-tests --bench seed_views -- [EVENTS]` (default 1,000,000).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use palisade_connectors::{DatagenReader, SourceReader, SourceSpec};
use palisade_engine::{Database, DatabaseOptions};
use palisade_tests::events::{SOURCE_DDL, schema};

/// Process CPU time (user + system) in seconds, from /proc: counts every thread.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line, 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn json_lines(events: usize) -> Vec<u8> {
    let mut options = BTreeMap::new();
    options.insert("datagen.seed".to_string(), "1".to_string());
    options.insert("datagen.rows.total".to_string(), events.to_string());
    options.insert(
        "datagen.event.time.start".to_string(),
        "2024-01-25 12:00:00".to_string(),
    );
    options.insert("datagen.event.time.rate".to_string(), "1000".to_string());
    let spec = SourceSpec {
        connector: "datagen".into(),
        options,
        schema: schema(),
    };
    let mut reader = DatagenReader::new(&spec, chrono::Utc::now()).expect("datagen reader");
    let mut out = Vec::with_capacity(events * 400);
    let mut writer = arrow_json::LineDelimitedWriter::new(&mut out);
    let mut position = 0u64;
    while (position as usize) < events {
        let batch = reader.read_range(position, 8192).expect("rows");
        if batch.num_rows() == 0 {
            break;
        }
        position += batch.num_rows() as u64;
        writer.write(&batch).expect("json");
    }
    writer.finish().expect("json");
    drop(writer);
    out
}

fn main() {
    let events: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let lines = json_lines(events);
    println!(
        "machine: {} cores; {events} events, {} MB of JSON lines",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        lines.len() / 1_000_000
    );

    let db = Database::new(DatabaseOptions::default());
    runtime.block_on(async {
        db.execute(SOURCE_DDL).await.expect("source");
        db.execute(&palisade_tests::website_security_views())
            .await
            .expect("views");
    });

    let cpu0 = cpu_seconds();
    let wall0 = Instant::now();
    let mut decoder = arrow_json::ReaderBuilder::new(schema())
        .with_batch_size(8192)
        .build_decoder()
        .expect("decoder");
    let mut rest = &lines[..];
    let mut ingested = 0usize;
    while !rest.is_empty() {
        let used = decoder.decode(rest).expect("decode");
        rest = &rest[used..];
        if let Some(batch) = decoder.flush().expect("flush") {
            ingested += batch.num_rows();
            db.push_batch("website_logs_source", batch).expect("push");
        }
    }
    if let Some(batch) = decoder.flush().expect("flush") {
        ingested += batch.num_rows();
        db.push_batch("website_logs_source", batch).expect("push");
    }
    let cpu = cpu_seconds() - cpu0;
    let wall = wall0.elapsed().as_secs_f64();
    assert_eq!(ingested, events, "every event ingested");
    let rate = events as f64 / cpu.max(1e-9);
    println!(
        "palisade incremental: {ingested} events, {cpu:.2} CPU-s, {wall:.2} s wall: {rate:.0} events per CPU-second"
    );

    // The peer: DataFusion computing the same five views in batch over the same events.
    let batches: Vec<_> = {
        let mut decoder = arrow_json::ReaderBuilder::new(schema())
            .with_batch_size(8192)
            .build_decoder()
            .expect("decoder");
        let mut out = vec![];
        let mut rest = &lines[..];
        while !rest.is_empty() {
            let used = decoder.decode(rest).expect("decode");
            rest = &rest[used..];
            if let Some(b) = decoder.flush().expect("flush") {
                out.push(b);
            }
        }
        out
    };
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
    let mut decoder = arrow_json::ReaderBuilder::new(schema())
        .with_batch_size(8192)
        .build_decoder()
        .expect("decoder");
    let mut rest = lines;
    while !rest.is_empty() {
        let used = decoder.decode(rest).expect("decode");
        rest = &rest[used..];
        let _ = decoder.flush().expect("flush");
    }
    cpu_seconds() - cpu0
}
