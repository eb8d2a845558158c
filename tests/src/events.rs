//! Seed-003-shaped events from small domains, so random tests hit shared groups, ties,
//! NULLs and window edges often.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int32Array, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;

/// The name of the source [`SOURCE_DDL`] creates.
pub const SOURCE_NAME: &str = "website_logs_source";

/// The source DDL the tests use, fed in-process.
pub const SOURCE_DDL: &str = "CREATE SOURCE website_logs_source (
    request_timestamp TIMESTAMP, ip_address VARCHAR, user_agent TEXT, url TEXT,
    http_method VARCHAR, status_code INTEGER, response_time INTEGER, referrer TEXT,
    user_id VARCHAR, username VARCHAR, user_action VARCHAR, security_level VARCHAR
) WITH (connector = 'embedded') FORMAT PLAIN ENCODE JSON";

/// The ten user actions of the workload, as datagen emits them.
pub use palisade_connectors::datagen::USER_ACTIONS as ACTIONS;
const STATUS: [i32; 7] = [200, 301, 304, 401, 403, 404, 500];
const REFERRERS: [&str; 4] = ["google", "", "bing", "twitter"];
const LEVELS: [&str; 3] = ["low", "medium", "high"];

/// 2024-01-25 12:00:00 UTC in microseconds.
pub const BASE_MICROS: i64 = 1_706_184_000_000_000;

/// One event as small indexes into the domains above; None is a NULL field.
#[derive(Debug, Clone)]
pub struct Event {
    /// Microseconds after [`BASE_MICROS`].
    pub offset_micros: i64,
    pub user: Option<u8>,
    pub ip: u8,
    pub action: Option<u8>,
    pub status: Option<u8>,
    pub response_time: Option<i32>,
    pub referrer: Option<u8>,
    pub level: Option<u8>,
}

pub fn schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
    let text = |n: &str| Field::new(n, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        Field::new("request_timestamp", ts, true),
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
    ]))
}

pub fn batch(events: &[Event]) -> RecordBatch {
    let ts: TimestampMicrosecondArray = events
        .iter()
        .map(|e| Some(BASE_MICROS + e.offset_micros))
        .collect();
    let ip: StringArray = events
        .iter()
        .map(|e| Some(format!("10.0.0.{}", e.ip)))
        .collect();
    let agent: StringArray = events.iter().map(|_| Some("Mozilla/5.0")).collect();
    let url: StringArray = events
        .iter()
        .map(|e| Some(if e.ip % 2 == 0 { "/" } else { "/login" }))
        .collect();
    let method: StringArray = events.iter().map(|_| Some("GET")).collect();
    let status: Int32Array = events
        .iter()
        .map(|e| e.status.map(|s| STATUS[s as usize % STATUS.len()]))
        .collect();
    let rt: Int32Array = events.iter().map(|e| e.response_time).collect();
    let referrer: StringArray = events
        .iter()
        .map(|e| e.referrer.map(|r| REFERRERS[r as usize % REFERRERS.len()]))
        .collect();
    let user_id: StringArray = events
        .iter()
        .map(|e| e.user.map(|u| format!("{u}")))
        .collect();
    let username: StringArray = events
        .iter()
        .map(|e| e.user.map(|u| format!("user_{u}")))
        .collect();
    let action: StringArray = events
        .iter()
        .map(|e| e.action.map(|a| ACTIONS[a as usize % ACTIONS.len()]))
        .collect();
    let level: StringArray = events
        .iter()
        .map(|e| e.level.map(|l| LEVELS[l as usize % LEVELS.len()]))
        .collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(ts),
        Arc::new(ip),
        Arc::new(agent),
        Arc::new(url),
        Arc::new(method),
        Arc::new(status),
        Arc::new(rt),
        Arc::new(referrer),
        Arc::new(user_id),
        Arc::new(username),
        Arc::new(action),
        Arc::new(level),
    ];
    RecordBatch::try_new(schema(), columns).expect("events batch")
}
