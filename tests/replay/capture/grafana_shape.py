"""Runs every statement of tests/replay/grafana.sql as a simple query against a real
PostgreSQL (database dev, built from pg_schema.sql) and writes tests/replay/grafana.shape.

Usage: PGPORT=55432 python3 grafana_shape.py   (needs psycopg 3)
"""
import os

import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
conn = psycopg.connect(host="127.0.0.1", port=int(os.environ.get("PGPORT", "55432")), dbname="dev", user="root", autocommit=True)
TYPES = {}
def tname(oid):
    if oid not in TYPES:
        TYPES[oid] = conn.execute("select format_type(%s, null)", (oid,)).fetchone()[0]
    return TYPES[oid]
text = open(os.path.join(HERE, "..", "grafana.sql")).read()
assert text.endswith("\n")
blocks = text[:-1].split("\n-- next\n")
lines = ["# grafana.sql statements run one by one as simple queries against PostgreSQL 15.18 (database dev)",
         "# status: what the server ended the statement with; columns name:oid(type); rows: row count; first rows shown (at most 3)"]
STAT = {0: "EMPTY_QUERY", 1: "COMMAND_OK", 2: "TUPLES_OK", 7: "FATAL_ERROR"}
for i, b in enumerate(blocks):
    desc, stmt = b.split("\n", 1)
    r = conn.pgconn.exec_(stmt.encode())
    lines.append(f"-- statement {i+1}: {desc[3:70]}...")
    lines.append("status " + STAT.get(r.status, str(r.status)))
    if r.error_message:
        lines.append("error " + r.error_message.decode().strip().replace("\n", " | "))
        continue
    if r.status == 2:
        lines.append("columns " + ", ".join(f"{r.fname(c).decode()}:{r.ftype(c)}({tname(r.ftype(c))})" for c in range(r.nfields)))
        lines.append(f"rows {r.ntuples}")
        for t in range(min(3, r.ntuples)):
            vals = ["\\N" if r.get_value(t, c) is None else r.get_value(t, c).decode() for c in range(r.nfields)]
            lines.append("row " + "\t".join(vals))
open(os.path.join(HERE, "..", "grafana.shape"), "w").write("\n".join(lines) + "\n")
