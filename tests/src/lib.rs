//! Palisade's test harness, shared by the sqllogictest runner, the property tests and the
//! benchmarks.
//!
//! # Layout
//! - [`oracle`]: runs a view's SQL in batch with DataFusion over every recorded input and
//!   compares it with the maintained view.
//! - [`format`]: Arrow values to the text sqllogictest files and comparisons use.
//! - [`harness`]: [`harness::Slt`], the sqllogictest database over either way of running
//!   SQL, with the harness commands `\i FILE` and `CHECK ORACLE [view]`.
//! - [`slt`]: SQL in-process, straight into the engine.
//! - [`wire`]: SQL over the Postgres wire, through `palisade_server::serve`.
//! - [`pg_cells`]: Postgres result values as the same text [`format`] gives Arrow values.
//! - [`server_process`]: the real `palisade` binary as a child process, for end-to-end tests.
//! - [`simple_client`]: simple queries with the column type OIDs, as Grafana and psql read
//!   answers.
//! - [`grafana_macros`]: Grafana's `$__` macros expanded as Grafana does.
//! - [`events`]: seed-003-shaped events for property tests and benchmarks.
//! - [`broker`]: a real Kafka-compatible broker (Tansu) as a child process, killed and
//!   restarted by end-to-end tests; topic creation and high watermarks.
//! - [`kafka_workload`]: the Kafka tests' JSON messages (good, coerced and bad records) and
//!   a producer that reports where each landed.
//! - [`bench`]: what the benchmarks share: CPU time, datagen events as JSON lines, pushing
//!   them in batches.
//! - [`view_check`]: a server's Kafka source counters, dead letters and views over the wire
//!   against the same events pushed in-process, for the end-to-end Kafka tests.

pub mod bench;
pub mod broker;
pub mod events;
pub mod format;
pub mod grafana_macros;
pub mod harness;
pub mod kafka_workload;
pub mod oracle;
pub mod pg_cells;
pub mod server_process;
pub mod simple_client;
pub mod slt;
pub mod view_check;
pub mod wire;

use std::path::PathBuf;

use palisade_engine::Database;

/// The workspace's `tests/` directory.
pub fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The five views of the website-security workload, as users write them.
pub fn website_security_views() -> String {
    palisade_server::demo::VIEWS.to_string()
}

/// The demo's source (`palisade demo`), bounded and seeded instead of paced by the wall
/// clock: `rows` events from `seed`, event time from `start` at `rate` per simulated second,
/// so a test knows every event and window in advance.
pub fn seeded_demo_source(seed: u64, rows: u64, start: &str, rate: u64) -> String {
    palisade_server::demo::SOURCE.replace(
        "datagen.rows.per.second = '500'",
        &format!(
            "datagen.seed = '{seed}',\n    datagen.rows.total = '{rows}',\n    \
             datagen.event.time.start = '{start}',\n    datagen.event.time.rate = '{rate}'"
        ),
    )
}

/// Creates the in-process source ([`events::SOURCE_DDL`]) and the five website-security views.
pub async fn create_website_security(db: &Database) {
    db.execute(events::SOURCE_DDL).await.expect("source");
    db.execute(&website_security_views())
        .await
        .expect("seed views");
}

/// Every view's rows as text (cells joined by `|`), sorted, by view name in creation order:
/// two databases hold the same views exactly when these are equal.
pub async fn sorted_views(db: &Database) -> Vec<(String, Vec<String>)> {
    let mut out = vec![];
    for view in db.definitions().await.views {
        let batches = db
            .query_batches(&format!("SELECT * FROM \"{}\"", view.name))
            .await
            .expect("view reads");
        let mut rows: Vec<String> = format::rendered(&batches)
            .into_iter()
            .map(|cells| cells.join("|"))
            .collect();
        rows.sort();
        out.push((view.name, rows));
    }
    out
}
