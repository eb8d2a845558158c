-- Views of every other shape the engine maintains, over website_logs_source; the property
-- tests check each against the batch oracle after every batch.

-- HOP: requests and distinct users per IP over 5 minutes, sliding by 1.
CREATE MATERIALIZED VIEW ip_activity_5m AS
SELECT ip_address, COUNT(*) AS requests, COUNT(DISTINCT username) AS users,
       MAX(response_time) AS slowest, window_start, window_end
FROM HOP(website_logs_source, request_timestamp, INTERVAL '1 MINUTE', INTERVAL '5 MINUTES')
GROUP BY ip_address, window_start, window_end;

-- WHERE before the aggregate and HAVING after it: brute-force candidates.
CREATE MATERIALIZED VIEW denied_ips AS
SELECT ip_address, COUNT(*) AS denials, MIN(request_timestamp) AS first_seen, window_start
FROM TUMBLE(website_logs_source, request_timestamp, INTERVAL '1 MINUTE')
WHERE status_code IN (401, 403)
GROUP BY ip_address, window_start
HAVING COUNT(*) >= 2;

-- Append-only: every failed login.
CREATE MATERIALIZED VIEW failed_logins AS
SELECT request_timestamp, ip_address, username, status_code
FROM website_logs_source
WHERE user_action = 'login' AND status_code >= 400;

-- A window over an append-only view.
CREATE MATERIALIZED VIEW failed_logins_per_minute AS
SELECT ip_address, COUNT(*) AS attempts, COUNT(DISTINCT username) AS usernames, window_start
FROM TUMBLE(failed_logins, request_timestamp, INTERVAL '1 MINUTE')
GROUP BY ip_address, window_start;

-- An aggregate over an aggregating view: its windows retract and re-add rows.
CREATE MATERIALIZED VIEW minute_totals AS
SELECT window_start, SUM(total_requests) AS requests, MAX(max_response_time) AS slowest,
       MIN(min_response_time) AS fastest, COUNT(*) AS active_users,
       PERCENTILE_DISC(0.9) WITHIN GROUP (ORDER BY total_errors) AS p90_errors
FROM website_user_metrics
GROUP BY window_start;

-- A filter over an aggregating view.
CREATE MATERIALIZED VIEW users_with_errors AS
SELECT username, total_errors, window_start FROM website_user_metrics WHERE total_errors > 0;

-- No window at all: one running total per referrer.
CREATE MATERIALIZED VIEW referrer_totals AS
SELECT referrer, COUNT(*) AS visits, AVG(response_time) AS avg_response_time,
       PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY response_time DESC) AS p10_response_time
FROM website_logs_source
GROUP BY referrer;
