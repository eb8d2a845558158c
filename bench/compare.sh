#!/usr/bin/env bash
# Palisade against DuckDB on the same events, side by side in one run: generates the events,
# has DuckDB compute the five website-security views in batch and Palisade maintain them
# incrementally, checks that the two agree row for row, and prints events per CPU-second of
# each and their ratio.
#
#   bench/compare.sh [EVENTS [ROUNDS]]        # defaults: 1000000 events, 3 rounds
#
# Each round runs DuckDB, then Palisade, on the same file; the best round of each counts, so
# a burst of load from another process on the machine does not decide the ratio. CPU time is
# every thread's (DuckDB's process_time, Palisade's getrusage), so the figures do not depend
# on how many cores either engine used. DuckDB is installed from PyPI (bench/requirements.txt)
# into a venv outside the clone; the work directory is kept for inspection.
# PALISADE_BENCH_BUILD=debug uses a debug build: for a quick check that the outputs agree (CI),
# not for figures.
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS="${1:-1000000}"
ROUNDS="${2:-3}"
WORK="${PALISADE_BENCH_WORK:-$(mktemp -d -t palisade-compare.XXXXXX)}"
VENV="${PALISADE_BENCH_VENV:-$HOME/.cache/palisade-tools/bench-venv}"
mkdir -p "$WORK"

WANT_DUCKDB="$(sed -n 's/^duckdb==//p' bench/requirements.txt)"
if [ "$("$VENV/bin/python" -c 'import duckdb; print(duckdb.__version__)' 2>/dev/null || true)" != "$WANT_DUCKDB" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt
fi

if [ "${PALISADE_BENCH_BUILD:-release}" = debug ]; then
    cargo build --quiet -p palisade-bench
    BENCH="${CARGO_TARGET_DIR:-target}/debug/palisade-bench"
else
    cargo build --release --quiet -p palisade-bench
    BENCH="${CARGO_TARGET_DIR:-target}/release/palisade-bench"
fi

"$BENCH" generate --events "$EVENTS" --out "$WORK/events.jsonl" >/dev/null
echo "events: $EVENTS in $WORK/events.jsonl ($(du -h "$WORK/events.jsonl" | cut -f1))"

for round in $(seq 1 "$ROUNDS"); do
    "$VENV/bin/python" bench/duckdb_views.py --events "$WORK/events.jsonl" \
        --out "$WORK/duckdb" >"$WORK/duckdb-$round.json"
    "$BENCH" ingest --file "$WORK/events.jsonl" --dump "$WORK/palisade" \
        --report "$WORK/palisade-$round.json" >/dev/null
    python3 - "$WORK/duckdb-$round.json" "$WORK/palisade-$round.json" <<'PY'
import json, sys
duck = json.load(open(sys.argv[1]))
pal = json.load(open(sys.argv[2]))
print(f"round: duckdb {duck['events_per_cpu_second']:,.0f}, "
      f"palisade {pal['events_per_cpu_second']:,.0f} events per CPU-second")
PY
done

echo "== the two agree?"
python3 bench/compare_views.py "$WORK/palisade" "$WORK/duckdb"

python3 - "$WORK" "$ROUNDS" <<'PY'
import json, sys
work, rounds = sys.argv[1], int(sys.argv[2])
load = lambda name: [json.load(open(f"{work}/{name}-{r}.json")) for r in range(1, rounds + 1)]
duck = max(r["events_per_cpu_second"] for r in load("duckdb"))
runs = load("palisade")
pal = max(r["events_per_cpu_second"] for r in runs)
machine = runs[0]["machine"]
print(f"machine: {machine['cpus']} cpus, {machine['cpu_model']}, "
      f"load average {machine['load_average_1m']} at the first round's start")
print(f"duckdb   (batch, best of {rounds}): {duck:,.0f} events per CPU-second")
print(f"palisade (incremental, best of {rounds}): {pal:,.0f} events per CPU-second")
print(f"ratio palisade/duckdb: {pal / duck:.2f}")
PY
