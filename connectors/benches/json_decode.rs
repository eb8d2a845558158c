//! `JsonDecoder::decode` alone on a JSON-lines file shaped as the web-log source's events
//! (`palisade-bench generate` makes one), in batches as the ingest benchmark uses.
//!
//! ```text
//! cargo bench -p palisade-connectors --bench json_decode -- FILE [ROUNDS] [BATCH]
//! ```

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use palisade_connectors::JsonDecoder;

/// This thread's CPU time: the machine is shared, so wall time says little.
fn thread_cpu_seconds() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill in.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let Some(path) = args.next() else {
        eprintln!("usage: json_decode FILE [ROUNDS] [BATCH]");
        return;
    };
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let batch: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(8192);
    let data = std::fs::read(&path).expect("read the file");
    let lines: Vec<&[u8]> = data
        .split(|c| *c == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let text = |n: &str| Field::new(n, DataType::Utf8, true);
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "request_timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        text("ip_address"),
        text("user_agent"),
        text("url"),
        text("http_method"),
        Field::new("status_code", DataType::Int32, true),
        Field::new("response_time", DataType::Int32, true),
        text("referrer"),
        text("user_id"),
        text("username"),
        text("user_action"),
        text("security_level"),
    ]));
    let mut decoder = JsonDecoder::new(schema).expect("a supported schema");
    for round in 0..rounds {
        let start = Instant::now();
        let cpu = thread_cpu_seconds();
        let mut rows = 0;
        for chunk in lines.chunks(batch) {
            rows += black_box(decoder.decode(chunk).expect("decodes"))
                .batch
                .num_rows();
        }
        let cpu = thread_cpu_seconds() - cpu;
        let wall = start.elapsed().as_secs_f64();
        let per = |s: f64| s * 1e9 / lines.len() as f64;
        println!(
            "round {round}: {rows} of {} records, {:.0} ns CPU per record ({:.0} ns wall)",
            lines.len(),
            per(cpu),
            per(wall)
        );
    }
}
