-- Run by `palisade serve -f` in tests/e2e_server.rs: a bounded, seeded datagen source, so
-- its 5000 events and every view over them are the same on every run, and two views.

CREATE SOURCE web (request_timestamp TIMESTAMP, status_code INT, http_method VARCHAR,
                   response_time INT, username VARCHAR)
WITH (connector = 'datagen', datagen.seed = '42', datagen.rows.total = '5000',
      datagen.event.time.start = '2024-01-25 00:00:00', datagen.event.time.rate = '50');

CREATE MATERIALIZED VIEW status_mix AS
SELECT status_code, COUNT(*) AS requests, AVG(response_time) AS avg_rt
FROM web
GROUP BY status_code;

CREATE MATERIALIZED VIEW per_minute AS
SELECT window_start, COUNT(*) AS requests, COUNT(DISTINCT username) AS users
FROM TUMBLE(web, request_timestamp, INTERVAL '1 MINUTE')
GROUP BY window_start;
