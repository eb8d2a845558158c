// node-postgres (pg) reading Palisade's seed views, for tests/e2e_clients/drivers.rs.
//
// Usage: node check_views.mjs SPEC, where SPEC is JSON from the Rust test:
//   {"host": ..., "port": ..., "views": [...], "since": "YYYY-MM-DD HH:MM:SS",
//    "more_than": N, "roundtrip": ["YYYY-MM-DD HH:MM:SS[.ffffff]", ...]}
//
// Prints one JSON object per line, {"check": NAME, "rows": [[cell, ...], ...]} or
// {"check": NAME, "error": TEXT}, and exits 1 when any check failed. The Rust test compares
// each check's rows with the engine's own answer, so this script only reads and renders:
// cells are canonical text (timestamps as 'YYYY-MM-DD HH:MM:SS[.ffffff]'), a JavaScript
// number is {"number": String(value)} (the shortest text that reads back to the same double;
// the test parses and prints it again in its own form), INT8 and NUMERIC stay the strings pg
// gives, NULL is null.
//
// Values go through pg's own type parsers, as an application gets them; the one exception is
// the timestamp round trip, read as the raw string because pg's text parser makes a Date,
// which holds milliseconds only.
//
// Checks: every view with SELECT * over the extended protocol (queryMode 'extended': without
// parameters pg would use the simple protocol), a query with a Date and an integer parameter,
// a Date read back, and timestamps sent as parameters and read back. Text results only: pg 8.23 decodes every
// DataRow value as UTF-8 before its binary parsers see it, so `binary: true` returns corrupted
// values (node-postgres issue 3495, open; its maintainers call binary results unsupported).

import pg from 'pg'

const spec = JSON.parse(process.argv[2])
let failed = false

function pad(n, width) {
  return String(n).padStart(width, '0')
}

// pg builds a TIMESTAMP's Date in local time, so the local fields are the stored ones.
function dateText(d) {
  const micros = d.getMilliseconds() * 1000
  const text =
    `${pad(d.getFullYear(), 4)}-${pad(d.getMonth() + 1, 2)}-${pad(d.getDate(), 2)} ` +
    `${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}`
  return micros ? `${text}.${pad(micros, 6)}` : text
}

// Postgres' text timestamp (fraction trimmed of trailing zeros) to canonical form.
function timestampText(text) {
  const [whole, fraction] = text.split('.')
  return fraction ? `${whole}.${fraction.padEnd(6, '0')}` : whole
}

function canonical(v) {
  if (v === null) return null
  if (typeof v === 'boolean') return v ? 't' : 'f'
  if (typeof v === 'number') return { number: String(v) }
  if (typeof v === 'string') return v
  if (v instanceof Date) return dateText(v)
  throw new TypeError(`unexpected ${typeof v}: ${v}`)
}

async function run(check, read) {
  try {
    const rows = await read()
    console.log(JSON.stringify({ check, rows: rows.map((r) => r.map(canonical)) }))
  } catch (e) {
    failed = true
    console.log(JSON.stringify({ check, error: `${e.name}: ${e.message}` }))
    console.error(e)
  }
}

// A TIMESTAMP as the server wrote it, in canonical form.
const rawTimestamp = {
  getTypeParser(oid, format) {
    if (oid === pg.types.builtins.TIMESTAMP) return timestampText
    return pg.types.getTypeParser(oid, format)
  },
}

// `2024-01-25 12:00:00` as a Date at that local time: what an application holds.
function localDate(text) {
  const [date, time] = text.split(' ')
  const [y, mo, d] = date.split('-').map(Number)
  const [h, mi, s] = time.split(':').map(Number)
  return new Date(y, mo - 1, d, h, mi, Math.floor(s), Math.round((s % 1) * 1000))
}

const client = new pg.Client({
  host: spec.host,
  port: spec.port,
  user: 'root',
  database: 'dev',
})

try {
  await client.connect()
  for (const view of spec.views) {
    await run(`pg text ${view}`, async () => {
      const text = `SELECT * FROM ${view}`
      const result = await client.query({ text, rowMode: 'array', queryMode: 'extended' })
      return result.rows
    })
  }

  // pg sends a Date as text with the local offset (`2024-01-25T12:00:00.000+09:00`); a
  // TIMESTAMP parameter ignores the offset, as in Postgres.
  await run('pg params text', async () => {
    const text = 'SELECT * FROM website_user_metrics WHERE window_start >= $1 AND total_requests > $2'
    const values = [localDate(spec.since), spec.more_than]
    const result = await client.query({ text, values, rowMode: 'array' })
    return result.rows
  })

  // A Date under a cast: `$1::timestamp` types the parameter TIMESTAMP, so here too the
  // offset pg adds is ignored rather than applied by the cast.
  await run('pg date text', async () => {
    const text = 'SELECT $1::timestamp'
    const result = await client.query({ text, values: [localDate(spec.since)], rowMode: 'array' })
    return result.rows
  })

  // Sent as strings: a Date cannot carry microseconds.
  await run('pg roundtrip text', async () => {
    const rows = []
    for (const t of spec.roundtrip) {
      const text = 'SELECT $1::timestamp'
      const result = await client.query({ text, values: [t], rowMode: 'array', types: rawTimestamp })
      rows.push(...result.rows)
    }
    return rows
  })
} catch (e) {
  failed = true
  console.log(JSON.stringify({ check: 'pg connect', error: `${e.name}: ${e.message}` }))
  console.error(e)
} finally {
  await client.end().catch(() => {})
}
process.exit(failed ? 1 : 0)
