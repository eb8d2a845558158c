-- health check for Save & test, Grafana 10.x-11.x (lib/pq driver: database/sql Ping sends ';'); pkg/tsdb/grafana-postgresql-datasource/sqleng/handler_checkhealth.go
;
-- next
-- health check for Save & test, Grafana 12.x with postgresDSUsePGX and later (pgxpool Ping sends '-- ping'; pgxpool also sends it before reusing a connection idle over 1s); pkg/tsdb/grafana-postgresql-datasource/pgx/handler_checkhealth.go
-- ping
-- next
-- version probe when a new data source is configured, Grafana 10-12; public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts getVersion, called from configuration/useAutoDetectFeatures.ts
SELECT current_setting('server_version_num')::int/100 as version
-- next
-- TimescaleDB probe (sent when the version answer is >= 906), Grafana 10-12; public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts getTimescaleDBVersion
SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'
-- next
-- query builder table picker, Grafana 10.0-11.3 (search_path schemas only); public/app/plugins/datasource/postgres/postgresMetaQuery.ts showTables
select quote_ident(table_name) as "table" from information_schema.tables
    where quote_ident(table_schema) not in ('information_schema',
                             'pg_catalog',
                             '_timescaledb_cache',
                             '_timescaledb_catalog',
                             '_timescaledb_internal',
                             '_timescaledb_config',
                             'timescaledb_information',
                             'timescaledb_experimental')
      and 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
-- next
-- query builder column picker for table website_user_metrics, Grafana 10.0-11.3; public/app/plugins/datasource/postgres/postgresMetaQuery.ts getSchema
select quote_ident(column_name) as "column", data_type as "type"
    from information_schema.columns
    where quote_ident(table_name) = 'website_user_metrics'
-- next
-- query builder column picker for table website_logs_source, Grafana 10.0-11.3 (real PostgreSQL lists only plain tables here); public/app/plugins/datasource/postgres/postgresMetaQuery.ts getSchema
select quote_ident(column_name) as "column", data_type as "type"
    from information_schema.columns
    where quote_ident(table_name) = 'website_logs_source'
-- next
-- query builder table picker, Grafana 11.4+ (PR #95636: every schema, search_path ones unqualified); public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts showTables()
SELECT
    CASE WHEN 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
      THEN quote_ident(table_name)
      ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
    END AS "table"
    FROM information_schema.tables
    WHERE quote_ident(table_schema) NOT IN ('information_schema',
                             'pg_catalog',
                             '_timescaledb_cache',
                             '_timescaledb_catalog',
                             '_timescaledb_internal',
                             '_timescaledb_config',
                             'timescaledb_information',
                             'timescaledb_experimental')
    ORDER BY CASE WHEN 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          ) THEN 0 ELSE 1 END, 1
-- next
-- query builder column picker for table website_user_metrics, Grafana 11.4+; public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts getSchema
SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident('website_user_metrics'),1) = 2
        THEN quote_ident(table_schema) = (parse_ident('website_user_metrics'))[1]
          AND quote_ident(table_name) = (parse_ident('website_user_metrics'))[2]
        ELSE quote_ident(table_name) = 'website_user_metrics'
          AND 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
      END
-- next
-- query builder schema (dataset) picker, Grafana main 2026 only, not in any 10/11 release; public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts showSchemas
SELECT schema_name AS "name"
    FROM information_schema.schemata
    WHERE schema_name NOT IN ('information_schema',
                              'pg_catalog',
                              'pg_toast',
                              '_timescaledb_cache',
                              '_timescaledb_catalog',
                              '_timescaledb_internal',
                              '_timescaledb_config',
                              'timescaledb_information',
                              'timescaledb_experimental')
    ORDER BY schema_name
-- next
-- query builder table picker once schema public is chosen, Grafana main 2026 only; public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts showTables(schema)
SELECT quote_ident(table_name) AS "table"
      FROM information_schema.tables
      WHERE quote_ident(table_schema) = 'public'
      ORDER BY 1
-- next
-- time series panel, code mode: $__timeGroupAlias(window_start, $__interval) with $__interval=1m and $__timeFilter(window_start) over 2024-01-01T00:00Z..06:00Z expanded; pkg/tsdb/grafana-postgresql-datasource/macros.go
SELECT
  floor(extract(epoch from window_start)/60)*60 AS "time",
  sum(total_requests) AS "total_requests"
FROM website_user_metrics
WHERE
  window_start BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-01T06:00:00Z'
GROUP BY 1
ORDER BY 1
-- next
-- time series panel, long format with a metric column: $__time(window_start) and $__timeFilter(window_start) expanded; pkg/tsdb/grafana-postgresql-datasource/macros.go
SELECT
  window_start AS "time",
  username AS metric,
  total_requests
FROM website_user_metrics
WHERE
  window_start BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-01T06:00:00Z'
ORDER BY 1
-- next
-- time series panel written the pre-5.3 way: $__timeGroup(window_start,'5m') followed by a comma gets AS "time" added; pkg/tsdb/grafana-postgresql-datasource/macros.go
SELECT floor(extract(epoch from window_start)/300)*300 AS "time", avg(avg_response_time) AS avg_response_time FROM status_code_analysis_summary WHERE window_start BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-01T06:00:00Z' GROUP BY 1 ORDER BY 1
-- next
-- table panel, code mode: $__timeFrom() and $__timeTo() expanded for a range with milliseconds (RFC 3339, trailing zeros of the fraction dropped); pkg/tsdb/grafana-postgresql-datasource/macros.go
SELECT username, total_requests, avg_response_time, median_response_time, total_errors, window_start, window_end
FROM website_user_metrics
WHERE window_start >= '2024-01-01T00:00:00.123Z' AND window_end <= '2024-01-01T06:00:00.5Z'
ORDER BY total_requests DESC, username
LIMIT 20
-- next
-- table panel built by the query builder (columns username, total_requests, window_start, default limit 50); the generated SQL ends with a space; public/app/plugins/datasource/grafana-postgresql-datasource/sqlUtil.ts toRawSql
SELECT username, total_requests, window_start FROM website_user_metrics LIMIT 50 
-- next
-- query builder with an aggregation, GROUP BY and ORDER BY; generated SQL ends with a space; public/app/plugins/datasource/grafana-postgresql-datasource/sqlUtil.ts toRawSql
SELECT user_action, SUM(count_user_activity) FROM top_user_actions GROUP BY user_action ORDER BY user_action ASC LIMIT 50 
-- next
-- bar chart over top actions: $__timeFilter(window_start) expanded, ORDER BY an ordinal; pkg/tsdb/grafana-postgresql-datasource/macros.go
SELECT user_action, sum(count_user_activity) AS total
FROM top_user_actions
WHERE window_start BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-01T06:00:00Z'
GROUP BY user_action
ORDER BY 2 DESC, 1
-- next
-- unix-epoch panel: $__unixEpochGroupAlias(epoch_s,'1m') and $__unixEpochFilter(epoch_s) expanded (epoch seconds, integers); pkg/tsdb/grafana-postgresql-datasource/macros.go
SELECT
  floor((epoch_s)/60)*60 AS "time",
  referrer AS metric,
  sum(referrer_visit_count) AS visits
FROM (SELECT extract(epoch from window_start) AS epoch_s, referrer, referrer_visit_count FROM referrer_activity_summary) AS r
WHERE epoch_s >= 1704067200 AND epoch_s <= 1704088800
GROUP BY 1, 2
ORDER BY 1
-- next
-- stat panel: $__unixEpochFrom() and $__unixEpochTo() replaced by epoch seconds and $__interval_ms by 60000; pkg/tsdb/grafana-postgresql-datasource/sqleng/sql_engine.go Interpolate
SELECT count(*) AS windows, 60000 AS interval_ms
FROM security_level_analysis_summary
WHERE extract(epoch from window_start) BETWEEN 1704067200 AND 1704088800
-- next
-- this repository's grafana/dashboards/website_security.json, first panel, as Grafana sends it: $__timeGroupAlias(window_start, '1m') and $__timeFilter(window_start) expanded; pkg/tsdb/grafana-postgresql-datasource/macros.go
SELECT
  floor(extract(epoch from window_start)/60)*60 AS "time",
  SUM(total_requests) AS requests,
  SUM(total_errors) AS errors,
  SUM(login_count) AS logins,
  SUM(logout_count) AS logouts
FROM website_user_metrics
WHERE window_start BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-01T06:00:00Z'
GROUP BY 1
ORDER BY 1
-- next
-- dashboard variable query (metricFindQuery) with __text/__value columns; sent as written
SELECT DISTINCT username AS __text, username AS __value FROM website_user_metrics ORDER BY 1
