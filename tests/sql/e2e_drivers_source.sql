-- Run by `palisade serve -f` (and in-process) in tests/e2e_clients/drivers.rs, before the
-- five seed views (pgwire-server/demo/website_security_views.sql): the demo's source,
-- bounded and seeded so its events and every view over them are the same on every run.
-- 37 events per simulated second put the events 27027.027 µs apart, so event times carry
-- microseconds; 4000 of them span about 108 s, three one-minute windows.

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
    datagen.seed = '6',
    datagen.rows.total = '4000',
    datagen.event.time.start = '2024-01-25 11:59:30',
    datagen.event.time.rate = '37'
) FORMAT PLAIN ENCODE JSON;
