import { isAscii } from "../util/text.ts";
import type { HandlerRecord, HeaderMap } from "./record.ts";

/**
 * Secrets kept out of records: header values and query-parameter values replaced by
 * `REDACTED`. On by default (GOST records `Proxy-Authorization` verbatim; Chrome's sanitized
 * HAR and APM agents do not).
 */
export interface Redaction {
  /** Lower-case header names. */
  headers: Set<string>;
  /** Lower-case query parameter names. */
  query: Set<string>;
}

export const REDACTED = "REDACTED";

export const DEFAULT_REDACTED_HEADERS = [
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-api-key",
];

export const DEFAULT_REDACTED_QUERY = [
  "access_token",
  "id_token",
  "refresh_token",
  "token",
  "api_key",
  "apikey",
  "password",
  "secret",
  "signature",
];

/**
 * The lengths of the redacted names, when they are all ASCII: a header name of another length
 * cannot match one (ASCII lower-cases char for char), so most names need no lower-case copy.
 * Null when some name is not ASCII (every key is then lower-cased).
 */
const nameLengths = new WeakMap<Set<string>, Set<number> | null>();

function lengthsOf(names: Set<string>): Set<number> | null {
  let lengths = nameLengths.get(names);
  if (lengths === undefined) {
    const all = [...names];
    lengths = all.every(isAscii) ? new Set(all.map((n) => n.length)) : null;
    nameLengths.set(names, lengths);
  }
  return lengths;
}

function redactHeaders(h: HeaderMap | null, names: Set<string>): HeaderMap | null {
  if (!h) return h;
  const lengths = lengthsOf(names);
  let out: HeaderMap | null = null;
  for (const key of Object.keys(h)) {
    if (lengths?.has(key.length) === false || !names.has(key.toLowerCase())) continue;
    out ??= { ...h };
    out[key] = h[key].map(() => REDACTED);
  }
  return out ?? h;
}

/** A URI (origin or absolute form) with the listed parameters' values replaced. */
export function redactUri(uri: string, names: Set<string>): string {
  const q = uri.indexOf("?");
  if (q < 0 || names.size === 0) return uri;
  const hash = uri.indexOf("#", q);
  const query = uri.slice(q + 1, hash < 0 ? undefined : hash);
  let changed = false;
  const parts = query.split("&").map((part) => {
    const eq = part.indexOf("=");
    const name = eq < 0 ? part : part.slice(0, eq);
    let decoded = name;
    try {
      decoded = decodeURIComponent(name.replace(/\+/g, " "));
    } catch { /* keep the raw name */ }
    if (eq < 0 || !names.has(decoded.toLowerCase())) return part;
    changed = true;
    return `${name}=${REDACTED}`;
  });
  if (!changed) return uri;
  return [uri.slice(0, q + 1), parts.join("&"), hash < 0 ? "" : uri.slice(hash)].join("");
}

/** The record with secrets replaced (a copy where something changed; never mutates). */
export function redactRecord(r: HandlerRecord, redaction: Redaction): HandlerRecord {
  if (!r.http) return r;
  const http = r.http;
  const reqHeader = redactHeaders(http.request.header, redaction.headers);
  const respHeader = redactHeaders(http.response.header, redaction.headers);
  const uri = redactUri(http.uri, redaction.query);
  if (
    reqHeader === http.request.header && respHeader === http.response.header && uri === http.uri
  ) return r;
  return {
    ...r,
    http: {
      ...http,
      uri,
      request: { ...http.request, header: reqHeader },
      response: { ...http.response, header: respHeader },
    },
  };
}
