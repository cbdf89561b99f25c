import { splitHostPort } from "../net/address.ts";
import { VERSION } from "../util/version.ts";
import type { ParsedRecord } from "../record/parsed_record.ts";

/**
 * HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/) from GOST records: one entry per
 * HTTP request record (CONNECT tunnels, TLS, DNS and WebSocket frames have no HAR form).
 */
const pairs = (h: Record<string, string[]> | null | undefined) =>
  Object.entries(h ?? {}).flatMap(([name, values]) => values.map((value) => ({ name, value })));

function firstHeader(h: Record<string, string[]> | null | undefined, name: string): string {
  const key = Object.keys(h ?? {}).find((k) => k.toLowerCase() === name);
  return key ? h![key][0] : "";
}

/** The request URL: the absolute URI as sent, else scheme://host + path. */
export function requestUrl(r: ParsedRecord): string {
  const http = r.http;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(http.uri)) return http.uri;
  const scheme = http.scheme || (r.proto === "tls" ? "https" : "http");
  return `${scheme}://${http.host || r.host}${http.uri}`;
}

/** The number of bytes a base64 string holds. */
function base64Bytes(b64: string): number {
  const pad = b64.endsWith("==") ? 2 : b64.endsWith("=") ? 1 : 0;
  return (b64.length / 4) * 3 - pad;
}

/**
 * What HAR says of a captured body: its size is the message's real one; when the capture kept
 * less (`http.maxBodySize`, the capture budget), `comment` and `_truncated` say so, since HAR
 * has no field for a cut body and a reader would otherwise take the text for the whole.
 */
function bodyNote(msg: ParsedRecord["http"]["request"]): { comment?: string; truncated: boolean } {
  const size = msg?.contentLength ?? 0;
  const kept = msg?.body ? base64Bytes(msg.body) : 0;
  // A body the capture budget left out is null like one that was never captured: only the
  // mark tells them apart.
  const budget = msg?.bodyTruncated === "capture-budget" ? " (capture budget spent)" : "";
  if (kept >= size || (!msg?.body && !budget)) return { truncated: false };
  return { comment: `body truncated: ${kept} of ${size} bytes captured${budget}`, truncated: true };
}

/**
 * The origin's address for HAR's `serverIPAddress`: the record's `dst` without its port,
 * left out when there is none (a dial that failed) rather than given as "".
 */
function serverIP(r: ParsedRecord): { serverIPAddress?: string } {
  const ip = splitHostPort(String(r.dst ?? "")).host;
  return ip ? { serverIPAddress: ip } : {};
}

/** A record's `timings` when they have the form snoop writes (numbers, none negative). */
function timingsOf(t: unknown): Record<string, number> | null {
  if (!t || typeof t !== "object") return null;
  const o = t as Record<string, unknown>;
  const keys = ["dns", "connect", "tls", "ttfb", "transfer"];
  const ok = keys.every((k) => typeof o[k] === "number" && Number.isFinite(o[k]) && o[k] >= 0);
  return ok ? o as Record<string, number> : null;
}

/**
 * HAR's phases from snoop's: `connect` includes the TLS handshake (`ssl`), as HAR counts it;
 * `wait` is the time to the response head, `receive` the transfer, and `blocked` what is left
 * of the entry's time (reading the request, before the upstream) so that the phases add up to
 * it, or -1 when the connection's phases came before the request (an intercepted tunnel's
 * first request). Without timings (records from before them, or from elsewhere), all the
 * time is `wait`.
 */
function harTimings(t: unknown, timeMs: number): {
  blocked?: number;
  dns?: number;
  connect?: number;
  ssl?: number;
  send: number;
  wait: number;
  receive: number;
} {
  const v = timingsOf(t);
  if (!v) return { send: 0, wait: timeMs, receive: 0 };
  const phases = { dns: v.dns, connect: v.connect + v.tls, ssl: v.tls };
  const rest = timeMs - (v.dns + v.connect + v.tls + v.ttfb + v.transfer);
  return {
    blocked: rest >= 0 ? Math.round(rest * 1000) / 1000 : -1,
    ...phases,
    send: 0,
    wait: v.ttfb,
    receive: v.transfer,
  };
}

export function toHar(records: ParsedRecord[]) {
  const entries = records.filter((r) => r.http && r.http.method !== "CONNECT" && !r.websocket).map(
    (r) => {
      const http = r.http;
      const url = requestUrl(r);
      let query: { name: string; value: string }[] = [];
      try {
        query = [...new URL(url).searchParams].map(([name, value]) => ({ name, value }));
      } catch { /* not a URL we can split: no query string */ }
      const reqType = firstHeader(http.request?.header, "content-type");
      const respType = firstHeader(http.response?.header, "content-type") ||
        "application/octet-stream";
      const timeMs = (r.duration ?? 0) / 1e6;
      const reqNote = bodyNote(http.request);
      const respNote = bodyNote(http.response);
      return {
        startedDateTime: new Date(Date.parse(r.time)).toISOString(),
        time: timeMs,
        request: {
          method: http.method,
          url,
          httpVersion: http.proto,
          cookies: [],
          headers: pairs(http.request?.header),
          queryString: query,
          ...(http.request?.body
            ? {
              postData: {
                mimeType: reqType,
                text: http.request.body,
                encoding: "base64",
                ...(reqNote.comment ? { comment: reqNote.comment } : {}),
              },
            }
            : {}),
          headersSize: -1,
          bodySize: http.request?.contentLength ?? -1,
          _truncated: reqNote.truncated,
        },
        response: {
          status: http.statusCode,
          statusText: "",
          httpVersion: http.proto,
          cookies: [],
          headers: pairs(http.response?.header),
          content: {
            size: http.response?.contentLength ?? 0,
            mimeType: respType,
            ...(http.response?.body ? { text: http.response.body, encoding: "base64" } : {}),
            ...(respNote.comment ? { comment: respNote.comment } : {}),
          },
          redirectURL: firstHeader(http.response?.header, "location"),
          headersSize: -1,
          bodySize: http.response?.contentLength ?? -1,
          _truncated: respNote.truncated,
        },
        cache: {},
        timings: harTimings(r.timings, timeMs),
        ...serverIP(r),
        connection: r.sid,
        ...(r.err ? { comment: r.err } : {}),
      };
    },
  );
  return {
    log: { version: "1.2", creator: { name: "snoop", version: VERSION }, pages: [], entries },
  };
}

// ---- import ----

/** The most entries one HAR import takes. */
export const MAX_HAR_ENTRIES = 100_000;

/** Go's canonical header name: `content-type` → `Content-Type`. */
function canonical(name: string): string {
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_, d, c) => d + c.toUpperCase());
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function utf8Base64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

class BadEntry extends Error {}

function str(v: unknown, what: string, optional = false): string {
  if (v === undefined && optional) return "";
  if (typeof v !== "string") throw new BadEntry(`${what}: expected a string`);
  return v;
}

function num(v: unknown, what: string, fallback?: number): number {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new BadEntry(`${what}: expected a number`);
  }
  return v;
}

/** HAR `headers` as a GOST header map; HTTP/2 pseudo-headers (`:path`…) are left out. */
function headerMapOf(v: unknown, what: string): Record<string, string[]> | null {
  if (v === undefined) return null;
  if (!Array.isArray(v)) throw new BadEntry(`${what}: expected a list`);
  const out: Record<string, string[]> = {};
  v.forEach((h, i) => {
    const name = str(h?.name, `${what}[${i}].name`);
    const value = str(h?.value, `${what}[${i}].value`);
    if (name.startsWith(":")) return;
    if (!TOKEN.test(name)) throw new BadEntry(`${what}[${i}].name: not a header name`);
    (out[canonical(name)] ??= []).push(value);
  });
  return Object.keys(out).length ? out : null;
}

/** A body as base64: HAR text is either base64 (`encoding`) or the text itself. */
function bodyOf(text: unknown, encoding: unknown, what: string): string | null {
  if (text === undefined || text === null || text === "") return null;
  const t = str(text, `${what}.text`);
  if (encoding === "base64") {
    const clean = t.replace(/\s+/g, "");
    try {
      atob(clean);
    } catch {
      throw new BadEntry(`${what}.text: not base64`);
    }
    return clean;
  }
  if (encoding !== undefined && encoding !== "") {
    throw new BadEntry(`${what}.encoding: only base64 is known`);
  }
  return utf8Base64(t);
}

/** `HTTP/1.1`, `http/2.0`, `h2`, `h3` as a record's `proto`. */
function protoOf(v: unknown): string {
  const s = typeof v === "string" ? v.trim().toUpperCase() : "";
  if (s === "H2" || s === "HTTP/2" || s === "HTTP/2.0") return "HTTP/2.0";
  if (s === "H3" || s === "HTTP/3" || s === "HTTP/3.0") return "HTTP/3.0";
  if (/^HTTP\/1\.[01]$/.test(s)) return s;
  return "HTTP/1.1";
}

const base64Length = (b64: string | null) => b64 ? base64Bytes(b64) : 0;

/**
 * One HAR 1.2 entry as a GOST record (service `import`): method, URL, headers, bodies
 * (base64), status, start time and duration. A HAR written by snoop keeps bodies as sent on
 * the wire (still compressed); other tools (browsers, mitmproxy, HTTP Toolkit) store the
 * decoded body, so their `Content-Encoding` is kept as `X-Har-Content-Encoding`: the body is
 * not compressed any more, and the UI must not try to decode it again.
 */
function recordOfEntry(e: ParsedRecord, fromSnoop: boolean, newSid: () => string): ParsedRecord {
  if (!e || typeof e !== "object") throw new BadEntry("not an object");
  const req = e.request, res = e.response;
  if (!req || typeof req !== "object") throw new BadEntry("request: missing");
  if (!res || typeof res !== "object") throw new BadEntry("response: missing");
  const method = str(req.method, "request.method");
  if (!TOKEN.test(method)) throw new BadEntry("request.method: not a method");
  const urlText = str(req.url, "request.url");
  let url: URL;
  try {
    url = new URL(urlText);
  } catch {
    throw new BadEntry("request.url: not a URL");
  }
  if (!/^(https?|wss?):$/.test(url.protocol)) throw new BadEntry("request.url: not http(s)");
  const started = Date.parse(str(e.startedDateTime, "startedDateTime"));
  if (Number.isNaN(started)) throw new BadEntry("startedDateTime: not a date");
  const timeMs = Math.max(0, num(e.time, "time", 0));
  const https = url.protocol === "https:" || url.protocol === "wss:";
  const port = url.port || (https ? "443" : "80");
  const host = `${url.hostname}:${port}`;
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*([^#]*)/i.exec(urlText);
  const uri = m && m[1] ? m[1] : "/";
  const reqHeader = headerMapOf(req.headers, "request.headers");
  const respHeader = headerMapOf(res.headers, "response.headers");
  const reqBody = bodyOf(req.postData?.text, req.postData?.encoding, "request.postData");
  const respBody = bodyOf(res.content?.text, res.content?.encoding, "response.content");
  if (!fromSnoop && respBody && respHeader?.["Content-Encoding"]) {
    respHeader["X-Har-Content-Encoding"] = respHeader["Content-Encoding"];
    delete respHeader["Content-Encoding"];
  }
  const reqSize = num(req.bodySize, "request.bodySize", -1);
  const respSize = num(res.bodySize, "response.bodySize", -1);
  const contentSize = num(res.content?.size, "response.content.size", -1);
  const reqLength = reqSize >= 0 ? reqSize : base64Length(reqBody);
  const respLength = fromSnoop && respSize >= 0
    ? respSize
    : Math.max(contentSize, base64Length(respBody), 0);
  const headersSize = (v: unknown) => typeof v === "number" && v > 0 ? v : 0;
  const ip = typeof e.serverIPAddress === "string" ? e.serverIPAddress.replace(/^\[|\]$/g, "") : "";
  const sid = typeof e.connection === "string" && /^[0-9a-v]{20}$/.test(e.connection)
    ? e.connection
    : newSid();
  const record: ParsedRecord = {
    service: "import",
    network: "tcp",
    remote: "",
    local: "",
    client: "",
    src: "",
    dst: ip ? (ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`) : "",
    host,
    proto: https ? "tls" : "http",
    clientIP: "",
    http: {
      host: url.host,
      method,
      proto: protoOf(req.httpVersion || res.httpVersion),
      scheme: https ? "https" : "http",
      uri,
      statusCode: Math.max(0, Math.trunc(num(res.status, "response.status", 0))),
      request: { contentLength: reqLength, header: reqHeader, body: reqBody },
      response: { contentLength: respLength, header: respHeader, body: respBody },
    },
    inputBytes: headersSize(req.headersSize) + Math.max(reqLength, 0),
    outputBytes: headersSize(res.headersSize) + Math.max(respLength, 0),
    sid,
    duration: Math.round(timeMs * 1e6),
    time: new Date(started).toISOString(),
  };
  if (fromSnoop && typeof e.comment === "string" && e.comment) record.err = e.comment;
  const timings = timingsOfHar(e.timings);
  if (timings) record.timings = timings;
  return record;
}

/**
 * snoop's `timings` from an entry's HAR phases, when it has the connection's (`dns` or
 * `connect`: a HAR with only send/wait/receive says nothing about where the time went). HAR's
 * -1 (does not apply) is 0; its `connect` includes `ssl`; sending and waiting are the time to
 * the response head. Anything but finite numbers: no timings (the entry is kept).
 */
function timingsOfHar(t: unknown): ParsedRecord | null {
  if (!t || typeof t !== "object") return null;
  const o = t as Record<string, unknown>;
  if (!("dns" in o) && !("connect" in o)) return null;
  const keys = ["dns", "connect", "ssl", "send", "wait", "receive"];
  if (keys.some((k) => o[k] !== undefined && !(typeof o[k] === "number" && isFinite(o[k])))) {
    return null;
  }
  const v = (k: string) => Math.max(0, Math.min(Number(o[k] ?? 0), 1e9));
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return {
    dns: round(v("dns")),
    connect: round(Math.max(0, v("connect") - v("ssl"))),
    tls: round(v("ssl")),
    ttfb: round(v("send") + v("wait")),
    transfer: round(v("receive")),
  };
}

/**
 * HAR 1.2 (browser devtools, mitmproxy, HTTP Toolkit, snoop) as GOST records, as JSON text
 * for the store. An entry that does not fit costs only itself: `errors` says which and why.
 */
export function recordsFromHar(
  har: ParsedRecord,
  newSid: () => string,
): { records: string[]; errors: string[] } {
  const log = har?.log;
  if (!log || typeof log !== "object" || !Array.isArray(log.entries)) {
    throw new RangeError("not a HAR file: no log.entries list");
  }
  if (log.entries.length > MAX_HAR_ENTRIES) {
    throw new RangeError(`too many entries: ${log.entries.length} (at most ${MAX_HAR_ENTRIES})`);
  }
  const fromSnoop = log.creator?.name === "snoop";
  const records: string[] = [];
  const errors: string[] = [];
  log.entries.forEach((e: ParsedRecord, i: number) => {
    try {
      records.push(JSON.stringify(recordOfEntry(e, fromSnoop, newSid)));
    } catch (err) {
      if (!(err instanceof BadEntry)) throw err;
      errors.push(`entries[${i}]: ${err.message}`);
    }
  });
  return { records, errors };
}
