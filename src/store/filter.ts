/**
 * Record filters, as the query API and the UI's filter bar give them, turned into SQL.
 * Every value is a bound parameter; only the shape of the clause comes from here.
 */
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
  };
}

/**
 * `WHERE …` and its parameters; `before` restricts to ids below it (paging).
 *
 * SQLite: `?` placeholders, and free text narrowed by the `records_fts` word index before the
 * substring test. PostgreSQL: `$1, $2, …` and the substring test alone.
 */
export function buildWhere(
  f: RecordFilter,
  before?: number,
  dialect: "sqlite" | "postgres" = "sqlite",
): { sql: string; params: (string | number)[] } {
  const numbered = dialect === "postgres";
  const clauses: string[] = [];
  const params: (string | number)[] = [];
  const add = (clause: string, ...values: (string | number)[]) => {
    let n = params.length;
    clauses.push(numbered ? clause.replace(/\?/g, () => `$${++n}`) : clause);
    params.push(...values);
  };
  if (f.since !== undefined) add("time_ms >= ?", f.since);
  if (f.until !== undefined) add("time_ms <= ?", f.until);
  if (f.service) add("service = ?", f.service);
  if (f.host) {
    if (f.host.includes("*")) {
      // `*` is any run of characters; with no port in the pattern, any port matches.
      const like = f.host.replace(/[%_\\]/g, "\\$&").replaceAll("*", "%");
      add("(host LIKE ? ESCAPE '\\' OR host LIKE ? ESCAPE '\\')", like, `${like}:%`);
    } else if (f.host.includes(":") && !f.host.startsWith("[")) add("host = ?", f.host);
    else add("(host = ? OR host LIKE ?)", f.host, `${f.host.replace(/[%_]/g, "")}:%`);
  }
  if (f.proto) add("(kind = ? OR proto = ?)", f.proto, f.proto);
  if (f.method) add("method = ?", f.method.toUpperCase());
  if (f.status) {
    if (/^[1-5]xx$/i.test(f.status)) add("status_class = ?", Number(f.status[0]));
    // The class narrows through its index (SQLite has none on status alone).
    else {add(
        "status_class = ? AND status = ?",
        Math.floor(Number(f.status) / 100),
        Number(f.status),
      );}
  }
  if (f.client) add("client_ip = ?", f.client);
  if (f.errors) add("(err != '' OR status >= 500)");
  if (f.q) {
    // The word index narrows candidates only where it finds a superset of the substring
    // matches: inner words are whole tokens and the last is a token prefix (`*`), but a first
    // word may start mid-token ("eq-99" inside "req-999"), so it is left out when `q` starts
    // with a letter or digit. The substring test then keeps the meaning exact.
    const words = f.q.match(/[\p{L}\p{N}]+/gu) ?? [];
    const usable = /^[\p{L}\p{N}]/u.test(f.q) ? words.slice(1) : words;
    if (!numbered && usable.length > 0) {
      add(
        "id IN (SELECT rowid FROM records_fts WHERE records_fts MATCH ?)",
        // detail=none keeps no positions, so no phrases: every word, the last as a prefix.
        usable.map((w, i) => `"${w}"${i === usable.length - 1 ? " *" : ""}`).join(" AND "),
      );
    }
    add("search LIKE ? ESCAPE '\\'", `%${f.q.replace(/[%_\\]/g, "\\$&")}%`);
  }
  if (f.sid) add("sid = ?", f.sid);
  if (before !== undefined) add("id < ?", before);
  return { sql: clauses.length ? `WHERE ${clauses.join(" AND ")}` : "", params };
}
