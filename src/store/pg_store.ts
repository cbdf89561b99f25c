import pg from "pg";
import {
  buildWhere,
  CANDIDATE_LIMIT,
  filterMatcher,
  isExact,
  type RecordFilter,
  SCAN_TIME_LIMIT_MS,
} from "./filter.ts";
import type { RetentionOptions } from "./record_store.ts";
import {
  columnValues,
  type RecordQueries,
  type RecordSummary,
  STORED_COLUMNS,
  summarize,
} from "./summary.ts";
import type { ParsedRecord } from "../record/parsed_record.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS snoop_records (
  id BIGSERIAL PRIMARY KEY,
  time_ms BIGINT NOT NULL,
  time TEXT NOT NULL,
  service TEXT NOT NULL,
  client_ip TEXT NOT NULL,
  host TEXT NOT NULL,
  proto TEXT NOT NULL,
  kind TEXT NOT NULL,
  method TEXT NOT NULL,
  uri TEXT NOT NULL,
  status INTEGER NOT NULL,
  http_proto TEXT NOT NULL,
  input_bytes BIGINT NOT NULL,
  output_bytes BIGINT NOT NULL,
  duration_ns BIGINT NOT NULL,
  err TEXT NOT NULL,
  sid TEXT NOT NULL,
  search TEXT NOT NULL,
  json JSONB NOT NULL,
  status_class INTEGER GENERATED ALWAYS AS (status / 100) STORED
);
CREATE INDEX IF NOT EXISTS snoop_records_time ON snoop_records (time_ms);
CREATE INDEX IF NOT EXISTS snoop_records_host ON snoop_records (host, time_ms);
CREATE INDEX IF NOT EXISTS snoop_records_status ON snoop_records (status, time_ms);
CREATE INDEX IF NOT EXISTS snoop_records_status_class ON snoop_records (status_class, id);
CREATE INDEX IF NOT EXISTS snoop_records_sid ON snoop_records (sid);
ALTER TABLE snoop_records ADD COLUMN IF NOT EXISTS ja3 TEXT;
ALTER TABLE snoop_records ADD COLUMN IF NOT EXISTS ja4 TEXT;
CREATE INDEX IF NOT EXISTS snoop_records_ja3 ON snoop_records (ja3) WHERE ja3 IS NOT NULL;
CREATE INDEX IF NOT EXISTS snoop_records_ja4 ON snoop_records (ja4) WHERE ja4 IS NOT NULL;
`;

/** PostgreSQL's type of each of `STORED_COLUMNS`, in its order. */
const COLUMN_TYPES: Record<(typeof STORED_COLUMNS)[number], string> = {
  time_ms: "bigint",
  time: "text",
  service: "text",
  client_ip: "text",
  host: "text",
  proto: "text",
  kind: "text",
  method: "text",
  uri: "text",
  status: "integer",
  http_proto: "text",
  input_bytes: "bigint",
  output_bytes: "bigint",
  duration_ns: "bigint",
  err: "text",
  sid: "text",
  search: "text",
  json: "jsonb",
  ja3: "text",
  ja4: "text",
};

const JSON_COLUMN = STORED_COLUMNS.indexOf("json");

const INSERT_SQL = `INSERT INTO snoop_records (${STORED_COLUMNS.join(", ")})
  SELECT ${STORED_COLUMNS.join(", ")} FROM jsonb_to_recordset($1::jsonb) AS r(${
  STORED_COLUMNS.map((c) => `${c} ${COLUMN_TYPES[c]}`).join(", ")
}) RETURNING id`;
const SUMMARY =
  `id, time, time_ms AS "timeMs", service, client_ip AS client, host, proto, kind, method,
  uri, status, http_proto AS "httpProto", input_bytes AS "inputBytes", output_bytes AS "outputBytes",
  duration_ns / 1e6 AS "durationMs", err, sid, ja3, ja4`;
const CANDIDATE_CHUNK = 500;

/** `value` with every U+0000 in its strings (keys too) replaced by U+FFFD. */
function withoutNul(value: unknown): unknown {
  const text = (s: string) => s.replaceAll("\0", "\uFFFD").toWellFormed();
  if (typeof value === "string") return text(value);
  if (Array.isArray(value)) return value.map(withoutNul);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [text(k), withoutNul(v)]));
  }
  return value;
}

/** What PostgreSQL's JSONB refuses in JSON text: U+0000 and a UTF-16 surrogate, escaped. */
const UNSTORABLE_ESCAPE = /\\u(0000|d[89a-f])/i;

/** The widest whole numbers each numeric column takes; a value beyond is clamped to it. */
const NUMBER_RANGE: Record<string, [number, number]> = {
  integer: [-(2 ** 31), 2 ** 31 - 1],
  bigint: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

/**
 * `values` (a row of `STORED_COLUMNS`) with whole numbers beyond their column's range clamped
 * to it. A fraction is left as it is (and refused): made whole, its column would select the
 * record where the record itself (what filters test) does not match.
 */
function storableNumbers(values: unknown[]): unknown[] {
  return values.map((v, k) => {
    const range = NUMBER_RANGE[COLUMN_TYPES[STORED_COLUMNS[k]]];
    if (!range || typeof v !== "number" || !Number.isInteger(v)) return v;
    return Math.min(Math.max(v, range[0]), range[1]);
  });
}

/**
 * The record store in PostgreSQL, for a collector that many proxies feed and that keeps
 * records long: the same columns and queries as the SQLite store, in table `snoop_records`.
 */
export class PgRecordStore implements RecordQueries {
  readonly #listeners = new Set<(r: RecordSummary) => void>();

  private constructor(readonly pool: pg.Pool, readonly retention: RetentionOptions) {}

  static async connect(url: string, retention: RetentionOptions): Promise<PgRecordStore> {
    const pool = new pg.Pool({
      connectionString: url,
      max: 4,
      connectionTimeoutMillis: 10_000,
      // BIGINT and NUMERIC as numbers: ids, times and byte counts stay far below 2^53.
      types: {
        getTypeParser: (oid: number, format?: string) =>
          oid === 20 || oid === 1700 ? Number : pg.types.getTypeParser(oid, format as "text"),
      },
    });
    pool.on("error", () => {}); // an idle client's error is reported by the next query
    await pool.query(SCHEMA);
    return new PgRecordStore(pool, retention);
  }

  /**
   * Stores records, in one INSERT; returns how many were stored. Neither TEXT nor JSONB takes
   * U+0000, which records can hold (a header value, a WebSocket frame's text): it is kept as
   * U+FFFD instead, so that a collector which acknowledged a record also keeps it. A record
   * PostgreSQL refuses otherwise costs only itself: the batch is then inserted again in one
   * transaction with each record under a savepoint of its own.
   */
  async insertBatch(jsonRecords: string[]): Promise<number> {
    const rows: { summary: RecordSummary; values: unknown[] }[] = [];
    for (const given of jsonRecords) {
      try {
        let record = JSON.parse(given), text = given;
        // JSON writes U+0000 and lone surrogates only as escapes (raw ones are not JSON);
        // a pair of surrogates is kept whole.
        if (UNSTORABLE_ESCAPE.test(given)) {
          record = withoutNul(record);
          text = JSON.stringify(record);
        }
        const { summary, search } = summarize(record);
        rows.push({ summary, values: storableNumbers(columnValues(summary, search, text)) });
      } catch {
        // not JSON, or not a record: nothing to store
      }
    }
    if (rows.length === 0) return 0;
    let stored = rows;
    try {
      const ids = await this.#insert(this.pool, rows);
      ids.forEach((id, i) => rows[i].summary.id = id);
    } catch {
      stored = await this.#insertEach(rows);
    }
    for (const { summary } of stored) for (const l of this.#listeners) l(summary);
    return stored.length;
  }

  /**
   * One INSERT of the rows, sent as one JSON array of objects (`jsonb_to_recordset`), each
   * record's text spliced in as it is: the statement is the same for every batch, so
   * PostgreSQL parses and plans it once per connection (a named statement), and the client
   * neither escapes every record into an array literal nor sends 20 parameters a row.
   */
  async #insert(
    db: pg.Pool | pg.PoolClient,
    rows: { values: unknown[] }[],
  ): Promise<number[]> {
    const body = rows.map((r) => {
      const o: Record<string, unknown> = {};
      STORED_COLUMNS.forEach((c, k) => {
        if (c !== "json") o[c] = r.values[k];
      });
      // The record's text was parsed once already (it is JSON): spliced in, not re-encoded.
      return `${JSON.stringify(o).slice(0, -1)},"json":${r.values[JSON_COLUMN]}}`;
    });
    const res = await db.query({
      name: "snoop_insert_records",
      text: INSERT_SQL,
      values: [`[${body.join(",")}]`],
    });
    return res.rows.map((row: { id: number }) => row.id);
  }

  /** Inserts each row under its own savepoint; returns the rows stored. */
  async #insertEach<T extends { summary: RecordSummary; values: unknown[] }>(
    rows: T[],
  ): Promise<T[]> {
    const client = await this.pool.connect();
    const stored: T[] = [];
    try {
      await client.query("BEGIN");
      for (const row of rows) {
        await client.query("SAVEPOINT one_record");
        try {
          [row.summary.id] = await this.#insert(client, [row]);
          await client.query("RELEASE SAVEPOINT one_record");
          stored.push(row);
        } catch {
          await client.query("ROLLBACK TO SAVEPOINT one_record");
        }
      }
      await client.query("COMMIT");
      return stored;
    } catch (e) {
      await client.query("ROLLBACK").catch(() => {});
      throw e;
    } finally {
      client.release();
    }
  }

  subscribe(fn: (r: RecordSummary) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /**
   * An inexact filter's records, newest first below `before`: candidates from the SQL, each
   * tested whole, until `limit` match or `CANDIDATE_LIMIT` were read (as the SQLite store).
   */
  async #scan(filter: RecordFilter, limit: number, before?: number) {
    const test = filterMatcher(filter);
    const rows: { id: number; json: ParsedRecord; summary: RecordSummary }[] = [];
    let cursor = before, scanned = 0;
    const deadline = performance.now() + SCAN_TIME_LIMIT_MS;
    for (;;) {
      const { sql, params } = buildWhere(filter, cursor, "postgres");
      const chunk = (await this.pool.query(
        `SELECT ${SUMMARY}, json FROM snoop_records ${sql} ORDER BY id DESC LIMIT $${
          params.length + 1
        }`,
        [...params, CANDIDATE_CHUNK],
      )).rows as (RecordSummary & { json: ParsedRecord })[];
      for (const { json, ...summary } of chunk) {
        scanned++;
        cursor = summary.id;
        if (test(json)) {
          rows.push({ id: summary.id, json, summary });
          if (rows.length > limit) return { rows, next: rows[limit - 1].id, partial: false };
        }
        if (performance.now() > deadline) return { rows, next: cursor, partial: true };
      }
      if (chunk.length < CANDIDATE_CHUNK) return { rows, next: null, partial: false };
      if (scanned >= CANDIDATE_LIMIT) return { rows, next: cursor ?? null, partial: true };
    }
  }

  async list(filter: RecordFilter, limit = 100, before?: number) {
    if (!isExact(filter)) {
      const scan = await this.#scan(filter, limit, before);
      const records = scan.rows.slice(0, limit).map((r) => r.summary);
      return scan.partial
        ? { records, next: scan.next, partial: true }
        : { records, next: scan.next };
    }
    const { sql, params } = buildWhere(filter, before, "postgres");
    const res = await this.pool.query(
      `SELECT ${SUMMARY} FROM snoop_records ${sql} ORDER BY id DESC LIMIT $${params.length + 1}`,
      [...params, limit + 1],
    );
    const more = res.rows.length > limit;
    const records = res.rows.slice(0, limit) as RecordSummary[];
    return { records, next: more ? records[records.length - 1].id : null };
  }

  async full(filter: RecordFilter, limit = 10_000) {
    if (!isExact(filter)) {
      const { rows } = await this.#scan(filter, limit);
      return rows.slice(0, limit).map(({ id, json }) => ({ id, json })).reverse();
    }
    const { sql, params } = buildWhere(filter, undefined, "postgres");
    const res = await this.pool.query(
      `SELECT id, json FROM snoop_records ${sql} ORDER BY id DESC LIMIT $${params.length + 1}`,
      [...params, limit],
    );
    return (res.rows as { id: number; json: ParsedRecord }[]).reverse();
  }

  async get(id: number): Promise<ParsedRecord | null> {
    const res = await this.pool.query("SELECT json FROM snoop_records WHERE id = $1", [id]);
    return res.rows[0]?.json ?? null;
  }

  async bySid(sid: string): Promise<ParsedRecord[]> {
    const res = await this.pool.query("SELECT json FROM snoop_records WHERE sid = $1 ORDER BY id", [
      sid,
    ]);
    return res.rows.map((r: { json: ParsedRecord }) => r.json);
  }

  async stats(filter: RecordFilter): Promise<Record<string, unknown>> {
    if (!isExact(filter)) {
      const { rows, partial } = await this.#scan(filter, CANDIDATE_LIMIT);
      const stats = await this.stats({ ids: rows.map((r) => r.id) });
      return partial ? { ...stats, partial } : stats;
    }
    const { sql, params } = buildWhere(filter, undefined, "postgres");
    const q = async (query: string) => (await this.pool.query(query, params)).rows;
    const count = (cond: string) => `COUNT(*) FILTER (WHERE ${cond})`;
    const [perMinute, topHostsByCount, topHostsByBytes, protocols, totals] = await Promise.all([
      q(`SELECT (time_ms / 60000) * 60000 AS minute, ${count("status BETWEEN 100 AND 199")} AS s1xx,
          ${count("status BETWEEN 200 AND 299")} AS s2xx, ${
        count("status BETWEEN 300 AND 399")
      } AS s3xx,
          ${count("status BETWEEN 400 AND 499")} AS s4xx, ${count("status >= 500")} AS s5xx,
          ${count("status = 0")} AS none, COUNT(*) AS total
        FROM snoop_records ${sql} GROUP BY minute ORDER BY minute`),
      q(`SELECT host, COUNT(*) AS count FROM snoop_records ${sql} GROUP BY host ORDER BY count DESC LIMIT 10`),
      q(`SELECT host, SUM(input_bytes + output_bytes) AS bytes FROM snoop_records ${sql}
        GROUP BY host ORDER BY bytes DESC LIMIT 10`),
      q(`SELECT kind, COUNT(*) AS count FROM snoop_records ${sql} GROUP BY kind ORDER BY count DESC`),
      q(`SELECT COUNT(*) AS total, ${
        count("err != '' OR status >= 500")
      } AS errors FROM snoop_records ${sql}`),
    ]);
    const total = Number(totals[0].total), errors = Number(totals[0].errors);
    return {
      total,
      errors,
      errorRate: total ? errors / total : 0,
      perMinute,
      topHostsByCount,
      topHostsByBytes,
      protocols,
    };
  }

  async enforceRetention(now = Date.now()): Promise<number> {
    let removed = 0;
    if (this.retention.maxAgeMs > 0) {
      removed += (await this.pool.query("DELETE FROM snoop_records WHERE time_ms < $1", [
        now - this.retention.maxAgeMs,
      ]))
        .rowCount ?? 0;
    }
    if (this.retention.maxRecords > 0) {
      removed += (await this.pool.query(
        "DELETE FROM snoop_records WHERE id <= (SELECT id FROM snoop_records ORDER BY id DESC OFFSET $1 LIMIT 1)",
        [this.retention.maxRecords],
      )).rowCount ?? 0;
    }
    return removed;
  }

  async count(): Promise<number> {
    return Number((await this.pool.query("SELECT COUNT(*) AS n FROM snoop_records")).rows[0].n);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    await this.pool.end();
  }
}
