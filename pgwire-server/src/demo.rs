//! `palisade demo`: a datagen source of website access events and the five
//! website-security views over it, created when the server starts.

/// Events at a pace a laptop shows comfortably, with event time on the wall clock, so every
/// query of a view sees the current minute's window grow.
pub const SOURCE: &str = "
CREATE SOURCE website_logs_source (
    request_timestamp TIMESTAMP,
    ip_address VARCHAR,
    user_agent TEXT,
    url TEXT,
    http_method VARCHAR,
    status_code INTEGER,
    response_time INTEGER,
    referrer TEXT,
    user_id VARCHAR,
    username VARCHAR,
    user_action VARCHAR,
    security_level VARCHAR
) WITH (
    connector = 'datagen',
    datagen.rows.per.second = '500'
) FORMAT PLAIN ENCODE JSON;
";

/// The five views: per-user metrics, top actions, referrer mix, status codes and security
/// levels, each over one-minute tumbling windows.
pub const VIEWS: &str = include_str!("../demo/website_security_views.sql");

/// What `palisade demo` prints once it listens.
pub fn banner(host: &str, port: u16, database: &str, user: &str) -> String {
    format!(
        "Palisade demo: 500 website access events per second into website_logs_source, \
         five materialized views over them.\n\
         \n\
         Connect with:\n    psql -h {host} -p {port} -d {database} -U {user}\n\
         \n\
         and try:\n    \
         SELECT * FROM website_user_metrics ORDER BY window_start DESC, total_requests DESC LIMIT 5;\n    \
         SELECT * FROM top_user_actions ORDER BY window_start DESC LIMIT 5;\n    \
         SELECT * FROM status_code_analysis_summary LIMIT 10;\n    \
         SHOW MATERIALIZED VIEWS;\n\
         \n\
         Ctrl-C stops the server.\n"
    )
}
