#!/usr/bin/env python3
"""psycopg 3 and asyncpg reading Palisade's seed views, for tests/e2e_clients/drivers.rs.

Usage: check_views.py SPEC, where SPEC is JSON from the Rust test:
    {"host": ..., "port": ..., "views": [...], "since": "YYYY-MM-DD HH:MM:SS",
     "more_than": N, "roundtrip": ["YYYY-MM-DD HH:MM:SS[.ffffff]", ...]}

Prints one JSON object per line, {"check": NAME, "rows": [[cell, ...], ...]} or
{"check": NAME, "error": TEXT}, and exits 1 when any check failed. The Rust test compares
each check's rows with the engine's own answer, so this script only reads and renders:
cells are canonical text (integers and NUMERIC as digits, timestamps as
'YYYY-MM-DD HH:MM:SS[.ffffff]'), a float is {"number": repr(value)} (Python's shortest text
that reads back to the same double; the test parses and prints it again in its own form,
and a JSON number would go through a parser that may round) and NULL is null.

Checks, per driver: every view with SELECT * over the extended protocol in text and binary
result formats, a query with a timestamp and an integer parameter, and timestamps sent as
parameters and read back (SELECT $1::timestamp), microseconds included.
"""

import asyncio
import datetime
import decimal
import json
import sys
import traceback

import asyncpg
import psycopg

FAILED = False


def timestamp_text(t):
    text = t.strftime("%Y-%m-%d %H:%M:%S")
    return text + f".{t.microsecond:06d}" if t.microsecond else text


def canonical(value):
    if value is None:
        return None
    # bool before int: Python's bool is an int.
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return {"number": repr(value)}
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, str):
        return value
    if isinstance(value, datetime.datetime):
        # The seed views hold TIMESTAMP (no zone): an aware value means the type was
        # announced wrong.
        if value.tzinfo is not None:
            raise TypeError(f"timestamp with a zone where none was expected: {value!r}")
        return timestamp_text(value)
    raise TypeError(f"unexpected {type(value).__name__}: {value!r}")


def emit(check, rows):
    print(json.dumps({"check": check, "rows": [[canonical(v) for v in row] for row in rows]}))


def fail(check, error):
    global FAILED
    FAILED = True
    print(json.dumps({"check": check, "error": f"{type(error).__name__}: {error}"}))
    traceback.print_exc(file=sys.stderr)


def run(check, read):
    """Runs one check; a failure is reported and the next check still runs."""
    try:
        emit(check, read())
    except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the rest
        fail(check, e)


async def run_async(check, read):
    try:
        emit(check, await read())
    except Exception as e:  # noqa: BLE001
        fail(check, e)


def parse_timestamp(text):
    return datetime.datetime.fromisoformat(text)


def psycopg_checks(spec):
    # psycopg's default: a transaction block (BEGIN) before the first statement, committed
    # when the connection closes; Palisade accepts the block and reads the same views in it.
    conninfo = f"host={spec['host']} port={spec['port']} user=root dbname=dev"
    with psycopg.connect(conninfo) as conn:
        text = conn.cursor()
        binary = conn.cursor(binary=True)
        for view in spec["views"]:
            sql = f"SELECT * FROM {view}"
            # prepare=True: Parse/Bind/Execute with text results (without it psycopg sends a
            # parameterless text query over the simple protocol).
            run(f"psycopg text {view}", lambda: text.execute(sql, prepare=True).fetchall())
            run(f"psycopg binary {view}", lambda: binary.execute(sql).fetchall())

        sql = "SELECT * FROM website_user_metrics WHERE window_start >= %s AND total_requests > %s"
        args = (parse_timestamp(spec["since"]), spec["more_than"])
        run("psycopg params text", lambda: text.execute(sql, args).fetchall())
        run("psycopg params binary", lambda: binary.execute(sql, args).fetchall())

        def roundtrip(cursor):
            return [
                cursor.execute("SELECT %s::timestamp", (parse_timestamp(t),)).fetchone()
                for t in spec["roundtrip"]
            ]

        run("psycopg roundtrip text", lambda: roundtrip(text))
        run("psycopg roundtrip binary", lambda: roundtrip(binary))


async def asyncpg_checks(spec):
    # asyncpg prepares every statement (Parse, Describe) and reads results in binary.
    conn = await asyncpg.connect(host=spec["host"], port=spec["port"], user="root", database="dev")
    try:
        for view in spec["views"]:
            await run_async(f"asyncpg binary {view}", lambda: conn.fetch(f"SELECT * FROM {view}"))

        sql = "SELECT * FROM website_user_metrics WHERE window_start >= $1 AND total_requests > $2"
        since = parse_timestamp(spec["since"])
        await run_async(
            "asyncpg params binary", lambda: conn.fetch(sql, since, spec["more_than"])
        )

        async def roundtrip():
            return [
                await conn.fetchrow("SELECT $1::timestamp", parse_timestamp(t))
                for t in spec["roundtrip"]
            ]

        await run_async("asyncpg roundtrip binary", roundtrip)
    finally:
        await conn.close()


def main():
    spec = json.loads(sys.argv[1])
    drivers = spec.get("drivers", ["psycopg", "asyncpg"])
    if "psycopg" in drivers:
        try:
            psycopg_checks(spec)
        except Exception as e:  # noqa: BLE001 - a connection failure is one more failed check
            fail("psycopg connect", e)
    if "asyncpg" in drivers:
        try:
            asyncio.run(asyncpg_checks(spec))
        except Exception as e:  # noqa: BLE001
            fail("asyncpg connect", e)
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
