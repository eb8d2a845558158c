"""DuckDB's side of the Palisade-vs-DuckDB benchmark: the five website-security views,
computed in batch over a file of JSON-lines events.

    python bench/duckdb_views.py --events FILE.jsonl --out DIR [--threads N]

Loads the events into an in-memory table, materialises each view as a table, and times
that (process CPU time over all threads, and wall time) from before the load to after the
last view. Then, untimed, writes DIR/<view>.jsonl (one JSON object per row) for
bench/compare_views.py and prints one JSON summary line on stdout.

Needs duckdb from bench/requirements.txt.
"""

import argparse
import datetime
import json
import math
import os
import time

import duckdb

# Declared, not sampled, so every run reads the same types whatever the first lines hold;
# a key missing from an object reads as NULL.
EVENT_COLUMNS = {
    "request_timestamp": "TIMESTAMP",
    "ip_address": "VARCHAR",
    "user_agent": "VARCHAR",
    "url": "VARCHAR",
    "http_method": "VARCHAR",
    "status_code": "INTEGER",
    "response_time": "INTEGER",
    "referrer": "VARCHAR",
    "user_id": "VARCHAR",
    "username": "VARCHAR",
    "user_action": "VARCHAR",
    "security_level": "VARCHAR",
}

# The 1-minute tumbling window. A plain (inlined) view, so each query derives its windows
# from the raw events as Palisade's TUMBLE does. A NULL timestamp gives a NULL window, which
# GROUP BY and PARTITION BY keep as one group.
TUMBLE = """
CREATE VIEW tumble AS
SELECT *,
       date_trunc('minute', request_timestamp) AS window_start,
       date_trunc('minute', request_timestamp) + INTERVAL 1 MINUTE AS window_end
FROM events
"""

# quantile_cont interpolates as PostgreSQL's PERCENTILE_CONT; quantile_disc picks the first
# value whose cumulative distribution reaches the fraction, as PERCENTILE_DISC (both checked
# by hand on small groups). The conditional counts stay SUM(CASE ...) rather than count_if,
# which gives NULL, not 0, for a group whose conditions are all NULL.
VIEWS = {
    "website_user_metrics": """
        SELECT username,
               count(username) AS total_requests,
               min(response_time) AS min_response_time,
               max(response_time) AS max_response_time,
               avg(response_time) AS avg_response_time,
               quantile_cont(response_time, 0.5) AS median_response_time,
               sum(CASE WHEN status_code >= 400 THEN 1 ELSE 0 END) AS total_errors,
               sum(CASE WHEN user_action = 'login' THEN 1 ELSE 0 END) AS login_count,
               sum(CASE WHEN user_action = 'logout' THEN 1 ELSE 0 END) AS logout_count,
               count(DISTINCT ip_address) AS unique_ips,
               window_start, window_end
        FROM tumble
        GROUP BY username, window_start, window_end
    """,
    # The tie break on user_action makes the top five deterministic; PostgreSQL would leave
    # tied counts in any order.
    "top_user_actions": """
        SELECT user_action,
               count(user_action) AS count_user_activity,
               window_start, window_end
        FROM tumble
        GROUP BY user_action, window_start, window_end
        QUALIFY row_number() OVER (
                    PARTITION BY window_start, window_end
                    ORDER BY count(user_action) DESC, user_action ASC NULLS LAST) <= 5
    """,
    "referrer_activity_summary": """
        SELECT referrer,
               count(referrer) AS referrer_visit_count,
               sum(CASE WHEN user_action IN ('view_page', 'navigate_page')
                        THEN 1 ELSE 0 END) AS page_visits,
               sum(CASE WHEN user_action IN ('submit_form', 'login', 'logout')
                        THEN 1 ELSE 0 END) AS interactions,
               sum(CASE WHEN user_action IN ('scroll_page', 'download_file', 'upload_file')
                        THEN 1 ELSE 0 END) AS content_interactions,
               sum(CASE WHEN user_action IN ('close_window', 'open_new_tab')
                        THEN 1 ELSE 0 END) AS window_interactions,
               window_start, window_end
        FROM tumble
        GROUP BY referrer, window_start, window_end
    """,
    # The default frame with ORDER BY is RANGE ... CURRENT ROW, so peers count, as in
    # PostgreSQL; the NULL status code sorts last in both. A window whose status codes are all
    # NULL has a zero total: PostgreSQL raises division by zero and DuckDB would give NaN, so
    # the percentage is NULL there (Arrow's JSON writer also writes a NaN as null).
    "status_code_analysis_summary": """
        SELECT status_code,
               count(status_code) AS count_status_code,
               avg(response_time) AS avg_response_time,
               CAST(sum(count(status_code)) OVER running AS BIGINT) AS cumulative_count,
               100.0 * CAST(sum(count(status_code)) OVER running AS DOUBLE)
                   / CAST(nullif(sum(count(status_code)) OVER whole, 0) AS DOUBLE)
                   AS cumulative_percentage,
               window_start, window_end
        FROM tumble
        GROUP BY status_code, window_start, window_end
        WINDOW whole AS (PARTITION BY window_start, window_end),
               running AS (whole ORDER BY status_code ASC NULLS LAST)
    """,
    "security_level_analysis_summary": """
        SELECT security_level,
               count(security_level) AS count_security_level,
               avg(response_time) AS avg_response_time,
               quantile_disc(security_level, 0.5) AS median_count_security_level,
               window_start, window_end
        FROM tumble
        GROUP BY security_level, window_start, window_end
    """,
}


def compute(con, events_path):
    """Loads the events and materialises every view; this is what is timed."""
    con.execute(
        "CREATE TABLE events AS SELECT * FROM read_json(?, format = 'newline_delimited', "
        "auto_detect = false, columns = ?)",
        [events_path, EVENT_COLUMNS],
    )
    con.execute(TUMBLE)
    for name, sql in VIEWS.items():
        con.execute(f"CREATE TABLE {name} AS {sql}")


def json_value(value):
    if isinstance(value, datetime.datetime):
        # isoformat adds .ffffff only for a nonzero fraction, as arrow-json does.
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_view(con, name, path):
    """Writes the view's rows as JSON lines; returns how many."""
    cursor = con.execute(f"SELECT * FROM {name}")
    columns = [d[0] for d in cursor.description]
    rows = 0
    with open(path, "w", encoding="utf-8") as out:
        while batch := cursor.fetchmany(10_000):
            for row in batch:
                record = {c: json_value(v) for c, v in zip(columns, row)}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            rows += len(batch)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", required=True, help="JSON-lines events file")
    parser.add_argument("--out", required=True, help="directory for <view>.jsonl")
    parser.add_argument("--threads", type=int, help="DuckDB threads (default: DuckDB's)")
    args = parser.parse_args()

    con = duckdb.connect(":memory:")
    if args.threads is not None:
        con.execute(f"SET threads = {int(args.threads)}")
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]

    cpu0, wall0 = time.process_time(), time.perf_counter()
    compute(con, args.events)
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0

    events = con.execute("SELECT count(*) FROM events").fetchone()[0]
    os.makedirs(args.out, exist_ok=True)
    rows = {name: write_view(con, name, os.path.join(args.out, f"{name}.jsonl")) for name in VIEWS}
    print(json.dumps({
        "engine": "duckdb",
        "version": duckdb.__version__,
        "events": events,
        "cpu_seconds": round(cpu, 6),
        "wall_seconds": round(wall, 6),
        "events_per_cpu_second": round(events / cpu, 1) if cpu > 0 else None,
        "threads": threads,
        "rows": rows,
    }))


if __name__ == "__main__":
    main()
