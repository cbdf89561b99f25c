import type { DatabaseSync } from "node:sqlite";
import { buildWhere, type RecordFilter } from "./filter.ts";
import type { RecordSummary } from "./summary.ts";

/**
 * Rollups: counts per time bucket kept beside the records, so that aggregates over a million
 * records read thousands of rows instead of scanning them all (the UI's charts, /api/stats).
 *
 * - `stat_minute`: per minute × service × kind × proto × status class: requests, errors, bytes.
 * - `host_hour` and `host_day`: the same per host, by hour and by day (top hosts).
 *
 * Records are added to the rollups with one `INSERT … SELECT … GROUP BY` per table over a
 * range of ids (SQLite aggregates them natively), every ROLLUP_EVERY records rather than every
 * batch: one upsert per key then covers many batches, which kept ingest above 20,000 records/s
 * (`deno task bench store`). `rollup_state.upto` is the last id added; queries read the
 * records above it raw. Retention first catches up, then subtracts what it deletes. A query
 * is cut into whole buckets, read from the rollups, and ragged edges, read from the raw
 * records, so answers stay exact.
 */

const MINUTE = 60_000, HOUR = 3_600_000, DAY = 86_400_000;

/** Dimensions every rollup keeps, named as the `records` columns they come from. */
const DIMS = "service, kind, proto, status_class";

interface RollupTable {
  name: string;
  /** Bucket width in ms. */
  size: number;
  /** Extra dimension beyond DIMS. */
  host: boolean;
}

const STAT_MINUTE: RollupTable = { name: "stat_minute", size: MINUTE, host: false };
const HOST_HOUR: RollupTable = { name: "host_hour", size: HOUR, host: true };
const HOST_DAY: RollupTable = { name: "host_day", size: DAY, host: true };
const TABLES = [STAT_MINUTE, HOST_HOUR, HOST_DAY];

/** Records inserted before the rollups catch up with them. */
export const ROLLUP_EVERY = 5_000;

function keyColumns(t: RollupTable): string {
  return `bucket, ${DIMS}${t.host ? ", host" : ""}`;
}

export const ROLLUP_SCHEMA = `CREATE TABLE IF NOT EXISTS rollup_state (upto INTEGER NOT NULL);
` + TABLES.map((t) => `
CREATE TABLE IF NOT EXISTS ${t.name} (
  bucket INTEGER NOT NULL, service TEXT NOT NULL, kind TEXT NOT NULL, proto TEXT NOT NULL,
  status_class INTEGER NOT NULL,${t.host ? " host TEXT NOT NULL," : ""}
  total INTEGER NOT NULL, errors INTEGER NOT NULL, bytes INTEGER NOT NULL,
  PRIMARY KEY (${keyColumns(t)})
) WITHOUT ROWID;`).join("\n");

/** The records' contribution to one table, as rows of its shape, times `sign`. */
function contributionSql(t: RollupTable, where: string, sign: 1 | -1): string {
  return `SELECT (time_ms / ${t.size}) * ${t.size} AS bucket, ${DIMS}${t.host ? ", host" : ""},
      ${sign} * COUNT(*), ${sign} * SUM(err != '' OR status >= 500),
      ${sign} * SUM(input_bytes + output_bytes)
    FROM records WHERE ${where} GROUP BY ${keyColumns(t)}`;
}

/**
 * Adds (`sign` 1) or subtracts (-1) the records matching `where` to every rollup. Runs inside
 * the caller's transaction, before a delete or after an insert.
 */
export function applyToRollups(
  db: DatabaseSync,
  where: string,
  params: (string | number)[],
  sign: 1 | -1,
): void {
  for (const t of TABLES) {
    db.prepare(
      `INSERT INTO ${t.name} ${contributionSql(t, where, sign)}
       ON CONFLICT (${keyColumns(t)}) DO UPDATE SET total = total + excluded.total,
         errors = errors + excluded.errors, bytes = bytes + excluded.bytes`,
    ).run(...params);
    if (sign < 0) db.exec(`DELETE FROM ${t.name} WHERE total <= 0`);
  }
}

/** Rebuilds every rollup from the records (a store written before rollups existed). */
export function rebuildRollups(db: DatabaseSync): void {
  for (const t of TABLES) db.exec(`DELETE FROM ${t.name}`);
  db.exec("DELETE FROM rollup_state");
  const last = db.prepare("SELECT COALESCE(MAX(id), 0) AS id FROM records").get() as { id: number };
  applyToRollups(db, "id <= ?", [last.id], 1);
  db.prepare("INSERT INTO rollup_state (upto) VALUES (?)").run(last.id);
}

/** The last record id the rollups include. */
export function rolledUpTo(db: DatabaseSync): number {
  return (db.prepare("SELECT upto FROM rollup_state").get() as { upto: number }).upto;
}

/**
 * Adds the records above the rollups' last id, when there are at least `atLeast` of them
 * (0: whatever there is). Runs inside the caller's transaction.
 */
export function catchUpRollups(db: DatabaseSync, lastId: number, atLeast = ROLLUP_EVERY): void {
  const upto = rolledUpTo(db);
  if (lastId <= upto || lastId - upto < atLeast) return;
  applyToRollups(db, "id > ? AND id <= ?", [upto, lastId], 1);
  db.prepare("UPDATE rollup_state SET upto = ?").run(lastId);
}

/** A half-open time range [from, to) in ms; ±Infinity for an open end. */
type Range = [number, number];

/**
 * Cuts [from, to) into whole buckets of the widest size that fits, then narrower sizes for the
 * edges; whatever no bucket covers is left for the raw records.
 */
export function splitRange(
  range: Range,
  sizes: number[],
): { buckets: { size: number; range: Range }[]; raw: Range[] } {
  const [from, to] = range;
  if (from >= to) return { buckets: [], raw: [] };
  if (sizes.length === 0) return { buckets: [], raw: [range] };
  const [size, ...narrower] = sizes;
  const start = Number.isFinite(from) ? Math.ceil(from / size) * size : from;
  const end = Number.isFinite(to) ? Math.floor(to / size) * size : to;
  if (start >= end) return splitRange(range, narrower);
  const left = splitRange([from, start], narrower);
  const right = splitRange([end, to], narrower);
  return {
    buckets: [...left.buckets, { size, range: [start, end] }, ...right.buckets],
    raw: [...left.raw, ...right.raw],
  };
}

/** Filters rollups can answer: time, service, proto or kind, and a status class. */
function rollupsCanAnswer(f: RecordFilter): boolean {
  return !f.host && !f.method && !f.client && !f.errors && !f.q && !f.sid && !f.expr && !f.ids &&
    (!f.status || /^[1-5]xx$/i.test(f.status));
}

/** Rows of one source (a rollup table or raw records) in the rollup shape. */
interface Source {
  sql: string;
  params: (string | number)[];
}

function rangeClauses(column: string, [from, to]: Range): [string[], number[]] {
  const clauses: string[] = [], params: number[] = [];
  if (Number.isFinite(from)) clauses.push(`${column} >= ?`), params.push(from);
  if (Number.isFinite(to)) clauses.push(`${column} < ?`), params.push(to);
  return [clauses, params];
}

/** The filter's non-time conditions, which rollups and records share column names for. */
function dimensionClauses(f: RecordFilter): [string[], (string | number)[]] {
  const { sql, params } = buildWhere({ service: f.service, proto: f.proto, status: f.status });
  return [sql ? [sql.replace(/^WHERE /, "")] : [], params];
}

function where(clauses: string[]): string {
  return clauses.length ? clauses.join(" AND ") : "1";
}

/** Raw records in the rollup shape, bucketed by `size`. */
function rawSource(size: number, host: boolean, whereSql: string, params: (string | number)[]) {
  return {
    sql: `SELECT (time_ms / ${size}) * ${size} AS bucket, status_class, kind,${
      host ? " host," : ""
    } 1 AS total, (err != '' OR status >= 500) AS errors, input_bytes + output_bytes AS bytes
      FROM records WHERE ${whereSql}`,
    params,
  };
}

/**
 * A record without a row in the aggregates: its time (epoch ms), status class, kind, host,
 * whether it counts as an error (1 or 0) and its bytes both ways.
 */
export type PendingStatsRow = [number, number, string, string, number, number];

/** A pending record's aggregate row, as its row's columns would give it. */
export function pendingStatsRow(s: RecordSummary): PendingStatsRow {
  const status = Number.isFinite(s.status) ? s.status : 0;
  return [
    Math.trunc(s.timeMs),
    // As SQLite divides the column: whole numbers to a whole class, others not.
    Number.isInteger(status) ? Math.trunc(status / 100) : status / 100,
    s.kind,
    s.host,
    s.err !== "" || status >= 500 ? 1 : 0,
    s.inputBytes + s.outputBytes,
  ];
}

/** Pending records in the rollup shape, bucketed by `size`: one JSON parameter, no table. */
function pendingSource(size: number, host: boolean, rows: PendingStatsRow[]): Source {
  const at = (i: number) => `json_extract(value, '$[${i}]')`;
  return {
    sql: `SELECT (${at(0)} / ${size}) * ${size} AS bucket, ${at(1)} AS status_class,
      ${at(2)} AS kind,${host ? ` ${at(3)} AS host,` : ""} 1 AS total, ${at(4)} AS errors,
      ${at(5)} AS bytes FROM json_each(?)`,
    params: [JSON.stringify(rows)],
  };
}

/** Where the per-minute rows and the per-host rows come from for this filter. */
function sourcesFor(
  db: DatabaseSync,
  f: RecordFilter,
  useRollups: boolean,
): { minutes: Source[]; hosts: Source[] } {
  if (!useRollups || !rollupsCanAnswer(f)) {
    const { sql, params } = buildWhere(f);
    const whereSql = sql ? sql.replace(/^WHERE /, "") : "1";
    return {
      minutes: [rawSource(MINUTE, false, whereSql, params)],
      hosts: [rawSource(MINUTE, true, whereSql, params)],
    };
  }
  // `until` is inclusive; ranges here are half-open.
  const range: Range = [f.since ?? -Infinity, f.until === undefined ? Infinity : f.until + 1];
  const [dims, dimParams] = dimensionClauses(f);
  // Raw reads cover what the rollups leave out: ragged edges up to `upto`, everything above.
  const upto = rolledUpTo(db);
  const fromTables = (plan: ReturnType<typeof splitRange>, tables: RollupTable[]) => {
    const out: Source[] = [];
    for (const b of plan.buckets) {
      const t = tables.find((t) => t.size === b.size)!;
      const [time, timeParams] = rangeClauses("bucket", b.range);
      out.push({
        sql: `SELECT bucket, status_class, kind,${t.host ? " host," : ""} total, errors, bytes
          FROM ${t.name} WHERE ${where([...time, ...dims])}`,
        params: [...timeParams, ...dimParams],
      });
    }
    for (const r of plan.raw) {
      const [time, timeParams] = rangeClauses("time_ms", r);
      out.push(rawSource(MINUTE, tables[0].host, where(["id <= ?", ...time, ...dims]), [
        upto,
        ...timeParams,
        ...dimParams,
      ]));
    }
    const [time, timeParams] = rangeClauses("time_ms", range);
    out.push(rawSource(MINUTE, tables[0].host, where(["id > ?", ...time, ...dims]), [
      upto,
      ...timeParams,
      ...dimParams,
    ]));
    return out;
  };
  return {
    minutes: fromTables(splitRange(range, [MINUTE]), [STAT_MINUTE]),
    hosts: fromTables(splitRange(range, [DAY, HOUR]), [HOST_DAY, HOST_HOUR]),
  };
}

function union(sources: Source[]): Source {
  return {
    sql: sources.map((s) => s.sql).join("\nUNION ALL\n"),
    params: sources.flatMap((s) => s.params),
  };
}

/**
 * Aggregates over the records a filter selects, from rollups where it can (`useRollups`
 * false reads only raw records: the reference the rollups are tested against).
 */
export function statsFromStore(
  db: DatabaseSync,
  f: RecordFilter,
  useRollups = true,
  /** Records without rows yet (a store's pending ones) that the filter selected. */
  pending: PendingStatsRow[] = [],
) {
  const { minutes, hosts } = sourcesFor(db, f, useRollups);
  if (pending.length > 0) {
    minutes.push(pendingSource(MINUTE, false, pending));
    hosts.push(pendingSource(MINUTE, true, pending));
  }
  const m = union(minutes), h = union(hosts);
  const all = (sql: string, s: Source) =>
    db.prepare(sql).all(...s.params) as Record<string, number | string>[];
  const perMinute = all(
    `SELECT bucket AS minute,
        SUM(CASE WHEN status_class = 1 THEN total ELSE 0 END) AS s1xx,
        SUM(CASE WHEN status_class = 2 THEN total ELSE 0 END) AS s2xx,
        SUM(CASE WHEN status_class = 3 THEN total ELSE 0 END) AS s3xx,
        SUM(CASE WHEN status_class = 4 THEN total ELSE 0 END) AS s4xx,
        SUM(CASE WHEN status_class >= 5 THEN total ELSE 0 END) AS s5xx,
        SUM(CASE WHEN status_class = 0 THEN total ELSE 0 END) AS none,
        SUM(total) AS total, SUM(errors) AS errors
      FROM (${m.sql}) GROUP BY bucket ORDER BY bucket`,
    m,
  );
  const protocols = all(
    `SELECT kind, SUM(total) AS count FROM (${m.sql}) GROUP BY kind ORDER BY count DESC, kind`,
    m,
  );
  const byHost = all(
    `SELECT host, SUM(total) AS count, SUM(bytes) AS bytes FROM (${h.sql}) GROUP BY host`,
    h,
  );
  const top = (key: "count" | "bytes") =>
    [...byHost].sort((a, b) =>
      Number(b[key]) - Number(a[key]) || String(a.host).localeCompare(String(b.host))
    )
      .slice(0, 10).map((r) => ({ host: r.host, [key]: Number(r[key]) }));
  let total = 0, errors = 0;
  for (const row of perMinute) {
    total += Number(row.total);
    errors += Number(row.errors);
    delete row.errors;
  }
  return {
    total,
    errors,
    errorRate: total ? errors / total : 0,
    perMinute,
    topHostsByCount: top("count"),
    topHostsByBytes: top("bytes"),
    protocols,
  };
}
