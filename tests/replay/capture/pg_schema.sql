-- Capture-only schema for real PostgreSQL 15 (database dev): the demo source as a plain table
-- with 200 sample rows, and the five demo views (pgwire-server/demo/website_security_views.sql)
-- rewritten for PostgreSQL. TUMBLE(src, ts, INTERVAL '1 MINUTES') becomes a subquery that adds
-- window_start = date_bin('1 minute', ts, '2000-01-01') and window_end = window_start + 1 minute.
-- Casts make every output column carry the type Palisade announces for it (text for VARCHAR
-- outputs, double precision for AVG and the percentage, bigint for the window sum, text for
-- PERCENTILE_DISC over VARCHAR). Not used by CI.

CREATE TABLE website_logs_source (
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
);

INSERT INTO website_logs_source
SELECT timestamp '2024-01-01 00:00:00' + (i * interval '7 seconds'),
       '10.0.0.' || (i % 7), 'agent', '/p/' || (i % 5),
       CASE WHEN i % 2 = 0 THEN 'GET' ELSE 'POST' END,
       (ARRAY[200,200,301,404,500])[1 + i % 5], 10 + (i * 37) % 400,
       (ARRAY['google','direct','bing'])[1 + i % 3],
       'u' || (i % 4), 'user_' || lpad((i % 4)::text, 5, '0'),
       (ARRAY['view_page','navigate_page','login','logout','submit_form','scroll_page'])[1 + i % 6],
       (ARRAY['low','medium','high'])[1 + i % 3]
FROM generate_series(0, 199) AS i;

CREATE MATERIALIZED VIEW website_user_metrics AS
WITH UserActivityStats AS (
    SELECT
        username::text AS username,
        COUNT(username) AS total_requests,
        window_start,
        window_end,
        MIN(response_time) AS min_response_time,
        MAX(response_time) AS max_response_time,
        AVG(response_time)::double precision AS avg_response_time,
        PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY response_time) AS median_response_time,
        SUM(CASE WHEN status_code >= 400 THEN 1 ELSE 0 END) AS total_errors,
        SUM(CASE WHEN user_action = 'login' THEN 1 ELSE 0 END) AS login_count,
        SUM(CASE WHEN user_action = 'logout' THEN 1 ELSE 0 END) AS logout_count,
        COUNT(DISTINCT ip_address) AS unique_ips
    FROM (SELECT s.*, date_bin('1 minute', s.request_timestamp, timestamp '2000-01-01') AS window_start,
                 date_bin('1 minute', s.request_timestamp, timestamp '2000-01-01') + interval '1 minute' AS window_end
          FROM website_logs_source s) AS tumble
    GROUP BY username, window_start, window_end
)
SELECT username, total_requests, min_response_time, max_response_time, avg_response_time,
       median_response_time, total_errors, login_count, logout_count, unique_ips,
       window_start, window_end
FROM UserActivityStats;

CREATE MATERIALIZED VIEW top_user_actions AS
WITH ranked_user_actions AS (
    SELECT
        user_action::text AS user_action,
        COUNT(user_action) AS count_user_activity,
        window_start,
        window_end,
        ROW_NUMBER() OVER (PARTITION BY window_start, window_end
                           ORDER BY COUNT(user_action) DESC) AS action_rank
    FROM (SELECT s.*, date_bin('1 minute', s.request_timestamp, timestamp '2000-01-01') AS window_start,
                 date_bin('1 minute', s.request_timestamp, timestamp '2000-01-01') + interval '1 minute' AS window_end
          FROM website_logs_source s) AS tumble
    GROUP BY user_action, window_start, window_end
)
SELECT user_action, count_user_activity, window_start, window_end
FROM ranked_user_actions
WHERE action_rank <= 5
ORDER BY window_start, action_rank;

CREATE MATERIALIZED VIEW referrer_activity_summary AS
SELECT
    referrer,
    COUNT(referrer) AS referrer_visit_count,
    SUM(CASE WHEN user_action IN ('view_page', 'navigate_page') THEN 1 ELSE 0 END) AS page_visits,
    SUM(CASE WHEN user_action IN ('submit_form', 'login', 'logout') THEN 1 ELSE 0 END) AS interactions,
    SUM(CASE WHEN user_action IN ('scroll_page', 'download_file', 'upload_file') THEN 1 ELSE 0 END)
        AS content_interactions,
    SUM(CASE WHEN user_action IN ('close_window', 'open_new_tab') THEN 1 ELSE 0 END) AS window_interactions,
    window_start,
    window_end
FROM (SELECT s.*, date_bin('1 minute', s.request_timestamp, timestamp '2000-01-01') AS window_start,
             date_bin('1 minute', s.request_timestamp, timestamp '2000-01-01') + interval '1 minute' AS window_end
      FROM website_logs_source s) AS tumble
GROUP BY referrer, window_start, window_end;

CREATE MATERIALIZED VIEW status_code_analysis_summary AS
WITH Status_Code_Analysis AS (
    SELECT
        status_code,
        COUNT(status_code) AS count_status_code,
        AVG(response_time)::double precision AS avg_response_time,
        SUM(COUNT(status_code)) OVER (PARTITION BY window_start, window_end
                                      ORDER BY status_code)::bigint AS cumulative_count,
        (100.0 * SUM(COUNT(status_code)) OVER (PARTITION BY window_start, window_end ORDER BY status_code)
            / SUM(COUNT(status_code)) OVER (PARTITION BY window_start, window_end))::double precision AS cumulative_percentage,
        window_start,
        window_end
    FROM (SELECT s.*, date_bin('1 minute', s.request_timestamp, timestamp '2000-01-01') AS window_start,
                 date_bin('1 minute', s.request_timestamp, timestamp '2000-01-01') + interval '1 minute' AS window_end
          FROM website_logs_source s) AS tumble
    GROUP BY status_code, window_start, window_end
)
SELECT status_code, count_status_code, avg_response_time, cumulative_count, cumulative_percentage,
       window_start, window_end
FROM Status_Code_Analysis
ORDER BY window_start DESC, status_code;

CREATE MATERIALIZED VIEW security_level_analysis_summary AS
WITH Security_Profiling AS (
    SELECT
        security_level::text AS security_level,
        COUNT(security_level) AS count_security_level,
        AVG(response_time)::double precision AS avg_response_time,
        (PERCENTILE_DISC (0.5) WITHIN GROUP (ORDER BY security_level))::text AS median_count_security_level,
        window_start,
        window_end
    FROM (SELECT s.*, date_bin('1 minute', s.request_timestamp, timestamp '2000-01-01') AS window_start,
                 date_bin('1 minute', s.request_timestamp, timestamp '2000-01-01') + interval '1 minute' AS window_end
          FROM website_logs_source s) AS tumble
    GROUP BY security_level, window_start, window_end
)
SELECT security_level, count_security_level, avg_response_time, median_count_security_level,
       window_start, window_end
FROM Security_Profiling
ORDER BY window_start DESC, median_count_security_level;
