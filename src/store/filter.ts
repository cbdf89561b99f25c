/**
 * Record filters, as the query API and the UI's filter bar give them: the fixed fields
 * (`host=`, `status=`, …, shorthand kept from before the filter language) and an expression
 * (`f=`, `filter_language.ts`), turned into one condition (`filter_conditions.ts`) that is
 * both SQL and a record predicate. Every value is a bound parameter; only the shape of the
 * clause comes from here.
 */
import {
  type CompiledFilter,
  compileFilter,
  type Cond,
  freeTextCond,
  hostCond,
  opCond,
} from "./filter_conditions.ts";
import { type BodyRange, condToSql, type Dialect } from "./filter_sql.ts";
import { condMatcher } from "./filter_match.ts";
import type { ParsedRecord } from "../record/parsed_record.ts";

export interface RecordFilter {
  /** Epoch ms, inclusive. */
  since?: number;
  until?: number;
  service?: string;
  /** Exact host or `host:port`, or a wildcard: `*.example.com`, `api.*`. */
  host?: string;
  /** Record kind (http, tls, dns, websocket, connect, tcp) or sniffed `proto`. */
  proto?: string;
  method?: string;
  /** `404`, or a class: `4xx`. */
  status?: string;
  client?: string;
  /** Only records with an error (`err`, or status ≥ 500). */
  errors?: boolean;
  /** Free text over URI, HTTP host and headers. */
  q?: string;
  sid?: string;
  /**
   * A filter-language expression (`f=`), as text: a filter crosses to the store's worker
   * as a message, and compiled conditions hold functions.
   */
  expr?: string;
  /** Only these record ids (what a store resolved an inexact expression to). */
  ids?: number[];
}

/** Reads a filter from URL query parameters (the API's form). */
export function filterFromParams(p: URLSearchParams): RecordFilter {
  const time = (v: string | null) => {
    if (!v) return undefined;
    const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
    if (Number.isNaN(n)) throw new RangeError(`not a time: "${v}" (epoch ms or an ISO date)`);
    return n;
  };
  const status = p.get("status") ?? undefined;
  if (status && !/^([1-5]xx|\d{3})$/i.test(status)) {
    throw new RangeError(`status must be a code (404) or a class (4xx), got "${status}"`);
  }
  const expr = p.get("f")?.trim() || undefined;
  if (expr) {
    try {
      compiled(expr);
    } catch (e) {
      throw new RangeError(`filter: ${(e as Error).message}`);
    }
  }
  return {
    since: time(p.get("since")),
    until: time(p.get("until")),
    service: p.get("service") || undefined,
    host: p.get("host") || undefined,
    proto: p.get("proto") || undefined,
    method: p.get("method") || undefined,
    status,
    client: p.get("client") || undefined,
    errors: p.get("errors") === "1" || p.get("errors") === "true",
    q: p.get("q") || undefined,
    sid: p.get("sid") || undefined,
    expr,
  };
}

/**
 * An inexact expression (a header of one side, a body, a URL regex) is answered by reading
 * candidate records newest first and testing each: at most this many per list page or
 * export, and per stats query, so one query's cost is bounded whatever the store's size.
 * A page cut short says so (`partial`) and its `next` continues the scan.
 */
export const CANDIDATE_LIMIT = 10_000;
/** And for at most this long (ms): tests on hostile text may each be slow. */
export const SCAN_TIME_LIMIT_MS = 2000;

const cache = new Map<string, CompiledFilter>();

/** An expression compiled, from a small cache (the live list tests each record with one). */
export function compiled(expr: string): CompiledFilter {
  let c = cache.get(expr);
  if (!c) {
    c = compileFilter(expr);
    if (cache.size >= 64) cache.delete(cache.keys().next().value!);
    cache.set(expr, c);
  }
  return c;
}

/** The filter's record conditions (all but `ids`), ANDed. */
export function filterCond(f: RecordFilter): Cond {
  const items: Cond[] = [];
  if (f.since !== undefined) items.push({ k: "ge", col: "time_ms", v: f.since });
  if (f.until !== undefined) items.push({ k: "le", col: "time_ms", v: f.until });
  if (f.service) items.push({ k: "eq", col: "service", v: f.service });
  if (f.host) items.push(hostCond(f.host));
  if (f.proto) {
    items.push({
      k: "or",
      items: [{ k: "eq", col: "kind", v: f.proto }, { k: "eq", col: "proto", v: f.proto }],
    });
  }
  if (f.method) items.push(opCond("m", f.method));
  if (f.status) items.push(opCond("c", f.status));
  if (f.client) items.push({ k: "eq", col: "client_ip", v: f.client });
  if (f.errors) items.push(opCond("err", ""));
  if (f.q) items.push(freeTextCond(f.q));
  if (f.sid) items.push({ k: "eq", col: "sid", v: f.sid });
  if (f.expr) items.push(compiled(f.expr).cond);
  return items.length === 1 ? items[0] : { k: "and", items };
}

/** Whether the SQL alone selects exactly the filter's records (no test left to the predicate). */
export function isExact(f: RecordFilter): boolean {
  return !f.expr || compiled(f.expr).exact;
}

/** The filter as a predicate over a record (what the SQL selects, for one record in hand). */
export function filterMatcher(f: RecordFilter): (r: ParsedRecord) => boolean {
  return condMatcher(filterCond(f));
}

/**
 * `WHERE …` and its parameters; `before` restricts to ids below it (paging). For an inexact
 * expression, the SQL selects candidates: a superset that `filterMatcher` then decides on.
 *
 * SQLite: `?` placeholders, and free text narrowed by the `records_fts` word index before the
 * substring test. PostgreSQL: `$1, $2, …` and the substring test alone.
 */
export function buildWhere(
  f: RecordFilter,
  before?: number,
  dialect: Dialect = "sqlite",
  bodies: BodyRange = "mixed",
): { sql: string; params: (string | number)[] } {
  const numbered = dialect === "postgres";
  const clauses: string[] = [];
  const params: (string | number)[] = [];
  const cond = filterCond(f);
  if (cond.k !== "and" || cond.items.length > 0) {
    // Top-level ANDs stay separate clauses: SQLite's planner picks an index among them.
    for (const c of cond.k === "and" ? cond.items : [cond]) {
      const sql = condToSql(c, dialect, params, true, bodies);
      clauses.push(sql.startsWith("(") && c.k === "and" ? sql.slice(1, -1) : sql);
    }
  }
  if (f.ids) {
    if (numbered) {
      clauses.push("id = ANY(?::bigint[])");
      params.push(`{${f.ids.join(",")}}`);
    } else {
      clauses.push("id IN (SELECT value FROM json_each(?))");
      params.push(JSON.stringify(f.ids));
    }
  }
  if (before !== undefined) {
    clauses.push("id < ?");
    params.push(before);
  }
  let sql = clauses.length ? `WHERE ${clauses.join(" AND ")}` : "";
  if (numbered) {
    let n = 0;
    sql = sql.replace(/\?/g, () => `$${++n}`);
  }
  return { sql, params };
}
