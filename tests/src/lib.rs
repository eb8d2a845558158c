//! Palisade's test harness, shared by the sqllogictest runner, the property tests and the
//! benchmark.
//!
//! # Layout
//! - [`oracle`]: runs a view's SQL in batch with DataFusion over every recorded input and
//!   compares it with the maintained view.
//! - [`format`]: Arrow values to the text sqllogictest files and comparisons use.
//! - [`slt`]: the in-process sqllogictest database, with the harness commands `\i FILE`
//!   and `CHECK ORACLE [view]`.
//! - [`events`]: seed-003-shaped events for property tests and benchmarks.

pub mod events;
pub mod format;
pub mod oracle;
pub mod slt;

use std::path::PathBuf;

/// The workspace's `tests/` directory.
pub fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The five views of the website-security workload, as users write them.
pub fn website_security_views() -> String {
    std::fs::read_to_string(tests_dir().join("sql/website_security_views.sql"))
        .unwrap_or_else(|e| panic!("tests/sql/website_security_views.sql: {e}"))
}
