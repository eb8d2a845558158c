"""Re-captures tests/replay/psql15/: runs each psql 15 describe command against a real
PostgreSQL (database dev, built from pg_schema.sql), splits psql -E's echo into the hidden
statements and the printed answer, and records each statement's result shape.

Usage: PGPORT=55432 python3 capture_psql.py   (needs psql 15 on PATH and psycopg 3)
"""
import os
import subprocess

import psycopg

PORT = os.environ.get("PGPORT", "55432")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "psql15")
BASE = ["psql", "-X", "-h", "127.0.0.1", "-p", PORT, "-U", "root", "-d", "dev"]
CMDS = [("d", r"\d"), ("dt", r"\dt"), ("dv", r"\dv"), ("dm", r"\dm"),
        ("d_source", r"\d website_logs_source"), ("d_view", r"\d website_user_metrics"),
        ("d_plus_view", r"\d+ website_user_metrics"), ("l", r"\l"), ("dn", r"\dn")]
OPEN, CLOSE = "********* QUERY **********\n", "**************************\n\n"
conn = psycopg.connect(host="127.0.0.1", port=int(PORT), dbname="dev", user="root", autocommit=True)
TYPES = {}
def tname(oid):
    if oid not in TYPES:
        TYPES[oid] = conn.execute("select format_type(%s, null)", (oid,)).fetchone()[0]
    return TYPES[oid]
def shape(q):
    r = conn.pgconn.exec_(q.encode())
    if r.error_message:
        return ["ERROR " + r.error_message.decode().strip()]
    cols = [f"{r.fname(i).decode()}:{r.ftype(i)}({tname(r.ftype(i))})" for i in range(r.nfields)]
    return ["columns " + ", ".join(cols), f"rows {r.ntuples}"], r
env = dict(os.environ, PAGER="cat", COLUMNS="200", LC_ALL="C.UTF-8")
for name, cmd in CMDS:
    e = subprocess.run(BASE + ["-E", "-c", cmd], capture_output=True, text=True, env=env)
    plain = subprocess.run(BASE + ["-c", cmd], capture_output=True, text=True, env=env)
    s = e.stdout
    queries = []
    while s.startswith(OPEN):
        end = s.index(CLOSE)
        q = s[len(OPEN):end]
        assert q.endswith("\n"); queries.append(q[:-1])
        s = s[end + len(CLOSE):]
    assert s == plain.stdout, (name, s, plain.stdout)
    assert e.stderr == plain.stderr, (e.stderr, plain.stderr)
    if plain.stderr:
        with open(f"{OUT}/{name}.err", "w") as f: f.write(plain.stderr)
    with open(f"{OUT}/{name}.out", "w") as f: f.write(plain.stdout)
    # find the OID psql learned in the first statement (if it is a \d NAME lookup)
    oid = None
    if name in ("d_source", "d_view", "d_plus_view"):
        r = conn.pgconn.exec_(queries[0].encode())
        oid = r.get_value(0, 0).decode()
    sql_parts, shape_lines = [], []
    for i, q in enumerate(queries):
        res = shape(q)
        lines, r = res
        shape_lines.append(f"-- statement {i+1}")
        shape_lines += lines
        # rows in full (small), tab separated, NULL as \N
        for t in range(r.ntuples):
            vals = []
            for c in range(r.nfields):
                v = r.get_value(t, c)
                vals.append("\\N" if v is None else v.decode().replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t"))
            shape_lines.append("row " + "\t".join(vals))
        if oid is not None:
            # placeholder only inside quoted literals like '16384'
            n = q.count(f"'{oid}'")
            assert q.count(oid) == n, (name, i, q)
            q = q.replace(f"'{oid}'", "'{oid}'")
        sql_parts.append(q)
    with open(f"{OUT}/{name}.sql", "w") as f:
        f.write("\n-- next\n".join(sql_parts) + "\n")
    with open(f"{OUT}/{name}.shape", "w") as f:
        f.write(f"# psql 15.18 {cmd} against PostgreSQL 15.18; statements: {len(queries)}\n")
        if oid: f.write(f"# {{oid}} was {oid} at capture time\n")
        f.write("\n".join(shape_lines) + "\n")
    print(name, len(queries), "oid", oid)
