"""Checks that two runs of the benchmark computed the same five views.

    python bench/compare_views.py DIR_A DIR_B

Each directory holds <view>.jsonl, one JSON object per row (as bench/duckdb_views.py and
Palisade's arrow-json writer produce them). Per view, the two files must hold the same rows
as multisets, row order aside. A key missing from an object is NULL (Arrow's writer omits
NULL fields); numbers are equal within a relative 1e-9 (absolute 1e-9 near zero), so 3 and
3.0 match; timestamp strings match whatever the separator (T or space), a trailing Z, or
trailing zeros of the fraction. Prints one line per view and exits 0 when all agree, else
shows the first rows that differ and exits 1.
"""

import json
import math
import os
import re
import sys

VIEWS = [
    "website_user_metrics",
    "top_user_actions",
    "referrer_activity_summary",
    "status_code_analysis_summary",
    "security_level_analysis_summary",
]
SHOWN = 5
# Rows left unmatched by the sorted pass are paired up by brute force, quadratic, so only
# while there are few of them.
MAX_LEFTOVER = 2000

TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z?$")


class Problem(Exception):
    pass


def normalise(value):
    if isinstance(value, str):
        m = TIMESTAMP.match(value)
        if m:
            fraction = (m.group(3) or "").rstrip("0")
            return f"{m.group(1)}T{m.group(2)}" + (f".{fraction}" if fraction else "")
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def sort_key(row, columns):
    # Kinds rank apart so that None, numbers and strings never compare with each other;
    # floats are rounded so that values within tolerance usually sort together.
    key = []
    for c in columns:
        v = row.get(c)
        if v is None:
            key.append((0, 0))
        elif is_number(v):
            key.append((1, float(f"{float(v):.6g}")))
        elif isinstance(v, bool):
            key.append((2, v))
        else:
            key.append((3, v))
    return tuple(key)


def values_equal(a, b):
    if is_number(a) and is_number(b):
        if isinstance(a, int) and isinstance(b, int):
            return a == b
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if is_number(a) or is_number(b):
        return False
    return a == b


def rows_equal(a, b, columns):
    return all(values_equal(a.get(c), b.get(c)) for c in columns)


def read_rows(path):
    if not os.path.exists(path):
        raise Problem(f"missing file {path}")
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise Problem(f"{path}:{number}: not JSON: {e}") from None
            if not isinstance(record, dict):
                raise Problem(f"{path}:{number}: not a JSON object")
            rows.append({k: normalise(v) for k, v in record.items() if v is not None})
    return rows


def compare_rows(rows_a, rows_b):
    """The rows only in A and only in B (as multisets), each list in sorted order."""
    columns = sorted({c for r in rows_a + rows_b for c in r})
    a = sorted(rows_a, key=lambda r: sort_key(r, columns))
    b = sorted(rows_b, key=lambda r: sort_key(r, columns))
    # Walk both sorted lists; rows that do not pair up here are kept for a second chance.
    only_a, only_b = [], []
    i = j = 0
    while i < len(a) and j < len(b):
        if rows_equal(a[i], b[j], columns):
            i += 1
            j += 1
        elif sort_key(a[i], columns) <= sort_key(b[j], columns):
            only_a.append(a[i])
            i += 1
        else:
            only_b.append(b[j])
            j += 1
    only_a += a[i:]
    only_b += b[j:]
    # Values straddling a rounding boundary can sort apart though they are within tolerance.
    if only_a and only_b and len(only_a) + len(only_b) <= MAX_LEFTOVER:
        rest_b = list(only_b)
        unmatched_a = []
        for row in only_a:
            match = next((k for k, r in enumerate(rest_b) if rows_equal(row, r, columns)), None)
            if match is None:
                unmatched_a.append(row)
            else:
                rest_b.pop(match)
        only_a, only_b = unmatched_a, rest_b
    return only_a, only_b


def compare_view(dir_a, dir_b, view, out):
    """Prints the verdict on one view; returns whether it agrees."""
    try:
        rows_a = read_rows(os.path.join(dir_a, f"{view}.jsonl"))
        rows_b = read_rows(os.path.join(dir_b, f"{view}.jsonl"))
    except Problem as e:
        print(f"{view}: FAIL: {e}", file=out)
        return False
    only_a, only_b = compare_rows(rows_a, rows_b)
    if not only_a and not only_b:
        print(f"{view}: {len(rows_a)} rows agree", file=out)
        return True
    counts = (
        f"row counts differ: {len(rows_a)} in A, {len(rows_b)} in B"
        if len(rows_a) != len(rows_b)
        else f"{len(rows_a)} rows on each side"
    )
    print(f"{view}: FAIL: {counts}; {len(only_a)} rows only in A, {len(only_b)} only in B",
          file=out)
    # Every column shown, NULLs too, so two rows read side by side.
    columns = sorted({c for r in rows_a + rows_b for c in r})
    for side, rows in (("A", only_a), ("B", only_b)):
        for row in rows[:SHOWN]:
            shown = json.dumps({c: row.get(c) for c in columns})
            print(f"  only in {side}: {shown}", file=out)
        if len(rows) > SHOWN:
            print(f"  ... and {len(rows) - SHOWN} more only in {side}", file=out)
    return False


def compare_dirs(dir_a, dir_b, out=sys.stdout):
    """Whether all five views agree; prints a verdict per view."""
    results = [compare_view(dir_a, dir_b, view, out) for view in VIEWS]
    return all(results)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(f"A = {sys.argv[1]}\nB = {sys.argv[2]}")
    sys.exit(0 if compare_dirs(sys.argv[1], sys.argv[2]) else 1)


if __name__ == "__main__":
    main()
