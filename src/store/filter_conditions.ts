/**
 * A parsed filter expression lowered to conditions over the stored columns, the one form
 * that both the SQL (`filter_sql.ts`) and the record predicate (`filter_match.ts`) are made
 * from: a queried row and a live row are judged by the same conditions.
 *
 * Most operators lower to exact column tests (`eq`, `like`, `ge`, `notnull`). What the
 * columns cannot answer (headers of one side, bodies, a URL regex) lowers to a `js` test on
 * the whole record, with `pre`, a column condition that every matching record also meets
 * (a superset), for SQL to narrow the candidates the test then runs on.
 */
import { type FilterNode, parseFilter } from "./filter_language.ts";
import type { ParsedRecord } from "../record/parsed_record.ts";
import { bodyText, bodyWordsQuery, holdsFromWordStart, payloadText, WORDS } from "./body_text.ts";

/** The columns conditions read (the SQL column names; the predicate derives the same). */
export type Column =
  | "time_ms"
  | "service"
  | "client_ip"
  | "proto"
  | "sid"
  | "host"
  | "kind"
  | "method"
  | "status"
  | "status_class"
  | "uri"
  | "err"
  | "search"
  | "ja3"
  | "ja4";

/** Columns that are NULL when absent (JA3/JA4 only exist for TLS). */
export const NULLABLE: ReadonlySet<Column> = new Set(["ja3", "ja4"]);

export type Cond =
  | { k: "and" | "or"; items: Cond[] }
  | { k: "not"; item: Cond }
  | { k: "true" }
  /** Exact (binary) equality. */
  | { k: "eq"; col: Column; v: string | number }
  /** SQL LIKE with `\` as escape; ASCII letters compare without case (SQLite's LIKE). */
  | { k: "like"; col: Column; pattern: string }
  | { k: "ge" | "le"; col: Column; v: number }
  | { k: "notnull"; col: Column }
  /**
   * SQLite's word index: a superset of a `like` on `search` it is ANDed with. `bodies`: of
   * a body test (`~b`), and then records stored before bodies were indexed are in it too.
   */
  | { k: "fts"; query: string; bodies?: boolean }
  /**
   * A test on the whole record (and its columns, as `summarize` derives them); `pre` (if
   * any) holds for every record it accepts.
   */
  | {
    k: "js";
    test: (r: ParsedRecord, row: Record<Column, string | number | null>) => boolean;
    pre?: Cond;
    what: string;
  };

export interface CompiledFilter {
  source: string;
  ast: FilterNode;
  cond: Cond;
  /** No `js` condition: the SQL alone selects exactly the matching records. */
  exact: boolean;
}

/** `%`, `_` and `\` escaped for a LIKE pattern with `ESCAPE '\'`. */
export const likeEscape = (s: string) => s.replace(/[%_\\]/g, "\\$&");
/** Lower case for ASCII letters only, as SQLite's LIKE folds case. */
export const asciiLower = (s: string) => s.replace(/[A-Z]+/g, (m) => m.toLowerCase());

const and = (...items: Cond[]): Cond => ({ k: "and", items });
const or = (...items: Cond[]): Cond => ({ k: "or", items });
const contains = (col: Column, text: string): Cond => ({
  k: "like",
  col,
  pattern: `%${likeEscape(asciiLower(text))}%`,
});

/** Header names and values as one text per side: the text `~hq`/`~hs` search. */
function headerText(h: unknown): string {
  if (!h || typeof h !== "object") return "";
  return Object.entries(h as Record<string, unknown>).map(([k, v]) =>
    `${k}: ${Array.isArray(v) ? v.join(", ") : String(v)}`
  ).join("\n");
}

/** The longest header text a `~hq`/`~hs`/`~t` test reads. */
const MAX_HEADER_TEST_CHARS = 2 << 20;
/** ASCII-case-insensitive substring test on bounded text. */
const includesCI = (hay: string, needle: string) =>
  asciiLower(hay.slice(0, MAX_HEADER_TEST_CHARS)).includes(asciiLower(needle));

/**
 * The longest subject a `~u` regex runs on: with at most two unbounded quantifiers (the
 * parser's rule) a match costs at worst on the order of its square in steps.
 */
const MAX_REGEX_SUBJECT = 2048;

/**
 * A `~u` regex as a LIKE pattern when it is one: literal ASCII characters, `\`-escaped
 * punctuation, `.` (any one character), and `^`/`$` anchors at its ends. Otherwise null.
 */
export function regexAsLike(source: string): string | null {
  let s = source, start = "%", end = "%";
  if (s.startsWith("^")) start = "", s = s.slice(1);
  if (s.endsWith("$") && !s.endsWith("\\$")) end = "", s = s.slice(0, -1);
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === "\\") {
      const next = s[i + 1];
      if (next === undefined || !/[!-\/:-@\[-`{-~]/.test(next)) return null;
      out += likeEscape(next);
      i++;
    } else if (ch === ".") out += "_";
    else if (/[\^$*+?()[\]{}|]/.test(ch)) return null;
    else if (ch.charCodeAt(0) > 0x7e || ch.charCodeAt(0) < 0x20) return null;
    else out += likeEscape(asciiLower(ch));
  }
  return start + out + end;
}

export function hostCond(v: string): Cond {
  if (v.includes("*")) {
    // `*` is any run of characters; with no port in the pattern, any port matches.
    const like = likeEscape(v).replaceAll("*", "%");
    return or({ k: "like", col: "host", pattern: like }, {
      k: "like",
      col: "host",
      pattern: `${like}:%`,
    });
  }
  if (v.includes(":") && !v.startsWith("[")) return { k: "eq", col: "host", v };
  return or({ k: "eq", col: "host", v }, { k: "like", col: "host", pattern: `${likeEscape(v)}:%` });
}

function domainCond(v: string): Cond {
  const d = likeEscape(asciiLower(v.replace(/^\*?\./, "")));
  return or(
    ...[d, `${d}:%`, `%.${d}`, `%.${d}:%`].map((pattern): Cond => ({
      k: "like",
      col: "host",
      pattern,
    })),
  );
}

/**
 * A body test: the request's or the response's body (or a WebSocket frame of that side) holds
 * the text from a word start. `pre`: the word index, which holds every body's words.
 */
function bodyCond(op: "b" | "bq" | "bs", v: string): Cond {
  const sides: ("request" | "response")[] = op === "b"
    ? ["request", "response"]
    : [op === "bq" ? "request" : "response"];
  const query = bodyWordsQuery(v);
  return {
    k: "js",
    what: `~${op} ${v}`,
    pre: query === null ? undefined : { k: "fts", query, bodies: true },
    test: (r) => {
      if (sides.some((s) => holdsFromWordStart(bodyText(r, s), v))) return true;
      const ws = r?.websocket;
      if (!ws || typeof ws !== "object") return false;
      if (op !== "b" && ws.from !== (op === "bq" ? "client" : "server")) return false;
      return holdsFromWordStart(payloadText(r), v);
    },
  };
}

/**
 * The free-text condition of `q`: a substring of `search` (URI, HTTP host, headers), and in
 * SQLite the word index first. The index narrows only where it finds a superset of the
 * substring matches: inner words are whole tokens and the last a token prefix (`*`), but a
 * first word may start mid-token ("eq-99" inside "req-999"), so it is left out when the text
 * starts with a letter or digit.
 */
export function freeTextCond(q: string): Cond {
  const words = q.match(WORDS) ?? [];
  const usable = /^[\p{L}\p{N}\p{Co}\p{Mn}]/u.test(q) ? words.slice(1) : words;
  const like = contains("search", q);
  if (usable.length === 0 || usable.some((w) => /[\uD800-\uDFFF]/.test(w))) return like;
  // detail=none keeps no positions, so no phrases: every word, the last as a prefix.
  const query = usable.map((w, i) => `"${w}"${i === usable.length - 1 ? " *" : ""}`).join(" AND ");
  return and({ k: "fts", query }, like);
}

/**
 * Free text in an expression: what `q` finds, or a body holding the text (`~b`). Both
 * narrow through the word index.
 */
function freeTextOrBody(q: string): Cond {
  return or(freeTextCond(q), bodyCond("b", q));
}

export function opCond(op: string, v: string): Cond {
  switch (op) {
    case "h":
      return hostCond(v);
    case "d":
      return domainCond(v);
    case "m":
      return { k: "eq", col: "method", v: v.toUpperCase() };
    case "c":
      if (/xx$/i.test(v)) return { k: "eq", col: "status_class", v: Number(v[0]) };
      // The class narrows through its index (SQLite has none on status alone).
      return and(
        { k: "eq", col: "status_class", v: Math.floor(Number(v) / 100) },
        { k: "eq", col: "status", v: Number(v) },
      );
    case "u": {
      const like = regexAsLike(v);
      if (like !== null) return { k: "like", col: "uri", pattern: like };
      const re = new RegExp(v, "is");
      return {
        k: "js",
        what: `~u ${v}`,
        // The URI column, as a plain-text `~u` reads it (for DNS the name, for TLS the SNI).
        test: (_, row) => re.test(String(row.uri ?? "").slice(0, MAX_REGEX_SUBJECT)),
      };
    }
    case "hq":
    case "hs": {
      const side = op === "hq" ? "request" : "response";
      return {
        k: "js",
        what: `~${op} ${v}`,
        pre: contains("search", v),
        test: (r) => includesCI(headerText(r?.http?.[side]?.header), v),
      };
    }
    case "t":
      return {
        k: "js",
        what: `~t ${v}`,
        pre: contains("search", v),
        test: (r) =>
          ["request", "response"].some((side) => {
            const h = r?.http?.[side]?.header;
            const ct = h && typeof h === "object" ? h["Content-Type"] ?? h["content-type"] : null;
            return Array.isArray(ct) && ct.some((x) => includesCI(String(x), v));
          }),
      };
    case "b":
    case "bq":
    case "bs":
      return bodyCond(op, v);
    case "ja3":
      return { k: "eq", col: "ja3", v: v.toLowerCase() };
    case "ja4":
      return v.includes("*")
        ? { k: "like", col: "ja4", pattern: likeEscape(v.toLowerCase()).replaceAll("*", "%") }
        : { k: "eq", col: "ja4", v: v.toLowerCase() };
    case "tls":
      return or({ k: "notnull", col: "ja4" }, { k: "eq", col: "kind", v: "tls" });
    case "ws":
      return { k: "eq", col: "kind", v: "websocket" };
    case "dns":
      return { k: "eq", col: "kind", v: "dns" };
    case "http":
      return { k: "eq", col: "kind", v: "http" };
    case "err":
      return or({ k: "not", item: { k: "eq", col: "err", v: "" } }, {
        k: "ge",
        col: "status",
        v: 500,
      });
  }
  throw new RangeError(`unknown operator ~${op}`);
}

function lower(n: FilterNode): Cond {
  switch (n.type) {
    case "and":
    case "or":
      return { k: n.type, items: [lower(n.left), lower(n.right)] };
    case "not":
      return { k: "not", item: lower(n.expr) };
    case "text":
      return freeTextOrBody(n.value);
    case "op":
      return opCond(n.op, n.value);
  }
}

function hasJs(c: Cond): boolean {
  if (c.k === "js") return true;
  if (c.k === "and" || c.k === "or") return c.items.some(hasJs);
  if (c.k === "not") return hasJs(c.item);
  return false;
}

/** Parses and lowers an expression; throws a `FilterSyntaxError` (RangeError) on bad input. */
export function compileFilter(source: string): CompiledFilter {
  const ast = parseFilter(source);
  const cond = lower(ast);
  return { source, ast, cond, exact: !hasJs(cond) };
}
