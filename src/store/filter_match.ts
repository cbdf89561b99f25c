/**
 * Filter conditions (`filter_conditions.ts`) as a predicate over a record object (the GOST
 * record before it is sent, or as read back from its JSON). Each column test does what the
 * SQL does on the stored column: the columns come from `summarize`, the function that fills
 * them on insert, and `like` follows SQLite's LIKE (ASCII case folded, `%`, `_`, `\` escape).
 */
import { asciiLower, type Column, type CompiledFilter, type Cond } from "./filter_conditions.ts";
import { summarize } from "./summary.ts";
import type { ParsedRecord } from "../record/parsed_record.ts";

type Row = Record<Column, string | number | null>;

/** The stored columns of a record, as the store derives them. */
export function rowOf(r: ParsedRecord): Row | null {
  try {
    const { summary, search } = summarize(r);
    const status = summary.status;
    return {
      time_ms: summary.timeMs,
      service: summary.service,
      client_ip: summary.client,
      proto: summary.proto,
      sid: summary.sid,
      host: summary.host,
      kind: summary.kind,
      method: summary.method,
      status,
      // SQLite's status / 100: integer division for an integer, else real division.
      status_class: Number.isInteger(status) ? Math.trunc(status / 100) : status / 100,
      uri: summary.uri,
      err: summary.err,
      search,
      ja3: summary.ja3,
      ja4: summary.ja4,
    };
  } catch {
    return null; // a record the store would not keep either
  }
}

const likeCache = new Map<string, RegExp>();

/** A LIKE pattern (ESCAPE '\') as an anchored regex over ASCII-lowered text. */
function likeRegex(pattern: string): RegExp {
  let re = likeCache.get(pattern);
  if (re) return re;
  let src = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === "\\" && i + 1 < pattern.length) {
      src += escapeRegex(pattern[++i]);
    } else if (ch === "%") src += "[\\s\\S]*";
    else if (ch === "_") src += ".";
    else src += escapeRegex(ch);
  }
  // `u`: `_` is one code point, as SQLite's LIKE counts characters. No `i`: ASCII folding is
  // done on both sides beforehand.
  re = new RegExp(`^${src}$`, "su");
  if (likeCache.size > 1000) likeCache.clear();
  likeCache.set(pattern, re);
  return re;
}

const escapeRegex = (s: string) => s.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");

/** Whether `like` holds: `pattern` is already ASCII-lowered where it folds. */
export function likeMatches(value: string, pattern: string): boolean {
  return likeRegex(asciiLower(pattern)).test(asciiLower(value));
}

function evaluate(c: Cond, row: Row, r: ParsedRecord): boolean {
  switch (c.k) {
    case "true":
    case "fts":
      return true;
    case "and":
      return c.items.every((i) => evaluate(i, row, r));
    case "or":
      return c.items.some((i) => evaluate(i, row, r));
    case "not":
      return !evaluate(c.item, row, r);
    case "eq":
      return row[c.col] !== null && row[c.col] === c.v;
    case "ge":
      return typeof row[c.col] === "number" && (row[c.col] as number) >= c.v;
    case "le":
      return typeof row[c.col] === "number" && (row[c.col] as number) <= c.v;
    case "notnull":
      return row[c.col] !== null;
    case "like":
      return row[c.col] !== null && likeMatches(String(row[c.col]), c.pattern);
    case "js":
      return c.test(r, row);
  }
}

/** The predicate of a condition; a record the store could not keep matches nothing. */
export function condMatcher(cond: Cond): (r: ParsedRecord) => boolean {
  return (r) => {
    const row = rowOf(r);
    return row !== null && evaluate(cond, row, r);
  };
}

/** The predicate of a compiled expression. */
export const recordMatcher = (f: CompiledFilter) => condMatcher(f.cond);
