import { REDACTED } from "../record/redaction.ts";
import { REPLAY_FIELD } from "../record/replay_of.ts";
import { requestUrl } from "../store/har.ts";
import { concatBytes } from "../util/bytes.ts";

/**
 * Replay and edit-and-resend: a recorded HTTP request sent again *through snoop's own proxy*,
 * so that it is recorded like any request. The API connects to a proxy service of this
 * process as a client would: absolute-form for http, CONNECT then TLS (trusting the service's
 * MITM CA) for https, HTTP/2 over that TLS connection when the original was HTTP/2. The
 * request carries the `Snoop-Replay-Of` field (on the CONNECT for a tunnel), which the proxy
 * takes out and turns into the new record's `replayOf`.
 *
 * The recorded request is hostile input and so are the edits: method, header names and
 * values, and the URL are checked before anything is written to a socket, and the response
 * read back is bounded in bytes and time.
 */

// deno-lint-ignore no-explicit-any
type Json = any;

/** A proxy service of this process that a replay can go through. */
export interface ReplayProxy {
  name: string;
  /** Handler type: `http` and `auto` accept proxy requests. */
  type: string;
  hostname: string;
  port: number;
  /** The service's MITM CA certificate (PEM file), to trust the certificates it makes. */
  caCertFile?: string;
}

export interface ReplayRequest {
  method: string;
  /** Absolute http(s) URL, as recorded or edited (sent as it is, not re-encoded). */
  url: string;
  headers: [string, string][];
  body: Uint8Array | null;
  http2: boolean;
}

export interface ReplayResponse {
  status: number;
  headers: [string, string][];
  body: Uint8Array;
  /** The body was longer than `MAX_RESPONSE_BYTES`: only the start was kept. */
  truncated: boolean;
  proto: string;
}

/** A replay refused before it is sent: the status and why (and which values were redacted). */
export class ReplayRefused extends Error {
  constructor(readonly status: number, message: string, readonly redacted: string[] = []) {
    super(message);
  }
}

export const MAX_EDIT_BODY_BYTES = 8 << 20;
export const MAX_RESPONSE_BYTES = 4 << 20;
const MAX_HEAD_BYTES = 64 << 10;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Fields the proxy connection writes itself, or that only mean something hop by hop. */
const NOT_SENT = new Set([
  "connection",
  "proxy-connection",
  "keep-alive",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "proxy-authorization",
  "content-length",
  "host",
  "expect",
  "http2-settings",
  REPLAY_FIELD,
]);

function fromBase64(b64: string): Uint8Array {
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/** `s` as bytes, one per character (header values and targets are Latin-1 on the wire). */
function latin1(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** Whether every character is one byte (Latin-1) and none is CR, LF or NUL. */
function fieldText(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || c === 0 || c === 10 || c === 13) return false;
  }
  return true;
}

function checkHeader(name: string, value: string): void {
  if (!TOKEN.test(name)) {
    throw new ReplayRefused(400, `invalid header name ${JSON.stringify(name)}`);
  }
  // Field values are bytes: one Latin-1 character each, no line breaks or NUL.
  if (!fieldText(value)) {
    throw new ReplayRefused(400, `invalid value for header ${name}`);
  }
}

/** The request a replay sends: the record's, with `edits` applied; refused if not valid. */
export function replayRequest(record: Json, edits: Json): ReplayRequest {
  const http = record?.http;
  if (!http || typeof http.method !== "string" || http.method === "CONNECT" || record.websocket) {
    throw new ReplayRefused(400, "only HTTP request records can be replayed");
  }
  if (
    edits !== undefined && (edits === null || typeof edits !== "object" || Array.isArray(edits))
  ) {
    throw new ReplayRefused(400, "the edits must be a JSON object");
  }
  const e = edits ?? {};
  const method = e.method ?? http.method;
  if (typeof method !== "string" || !TOKEN.test(method) || method === "CONNECT") {
    throw new ReplayRefused(400, "invalid method");
  }
  // A fragment is the client's own: it never goes on the wire.
  const url = typeof e.url === "string" || e.url === undefined
    ? (e.url ?? requestUrl(record)).replace(/#.*$/s, "")
    : e.url;
  if (typeof url !== "string" || !fieldText(url) || /\s/.test(url)) {
    throw new ReplayRefused(400, "invalid URL: one line of Latin-1 text without spaces");
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ReplayRefused(400, "invalid URL");
  }
  if (!/^https?:$/.test(parsed.protocol) || !/^https?:\/\/[^/?#@]+/i.test(url)) {
    throw new ReplayRefused(400, "the URL must be http:// or https:// with a host");
  }
  let headers: [string, string][];
  if (e.headers !== undefined) {
    if (!Array.isArray(e.headers)) {
      throw new ReplayRefused(400, "headers must be a list of [name, value] pairs");
    }
    headers = e.headers.map((h: unknown) => {
      if (!Array.isArray(h) || h.length !== 2 || h.some((x) => typeof x !== "string")) {
        throw new ReplayRefused(400, "headers must be a list of [name, value] pairs");
      }
      return [h[0], h[1]] as [string, string];
    });
  } else {
    headers = Object.entries(http.request?.header ?? {}).flatMap(([name, values]) =>
      (Array.isArray(values) ? values : []).map((v) => [name, String(v)] as [string, string])
    );
  }
  headers = headers.filter(([name]) => !NOT_SENT.has(name.toLowerCase()));
  for (const [name, value] of headers) checkHeader(name, value);
  if (headers.length > 256) throw new ReplayRefused(400, "too many headers");

  let body: Uint8Array | null = null;
  if (e.body !== undefined && e.body !== null) {
    if (typeof e.body !== "string") throw new ReplayRefused(400, "body must be base64 text");
    try {
      body = fromBase64(e.body);
    } catch {
      throw new ReplayRefused(400, "body must be base64 text");
    }
    if (body.length > MAX_EDIT_BODY_BYTES) throw new ReplayRefused(413, "body too large");
  } else if (e.body === undefined) {
    const req = http.request ?? {};
    const size = Number(req.contentLength) || 0;
    if (typeof req.body === "string" && req.body) body = fromBase64(req.body);
    if ((body?.length ?? 0) < size) {
      throw new ReplayRefused(
        400,
        `the recorded body holds ${
          body?.length ?? 0
        } of its ${size} bytes: send the body in the edits`,
      );
    }
  }

  // Values snoop redacted are never sent as the word: the edits must supply them.
  const redacted = headers.filter(([, v]) => v === REDACTED).map(([n]) => `header ${n}`);
  for (const [name, value] of parsed.searchParams) {
    if (value === REDACTED) redacted.push(`query ${name}`);
  }
  if (redacted.length) {
    throw new ReplayRefused(
      400,
      `snoop redacted ${redacted.join(", ")}: supply the real values in the edits`,
      redacted,
    );
  }
  const proto = String(http.proto ?? "");
  return {
    method,
    url,
    headers,
    body,
    http2: proto.startsWith("HTTP/2") && parsed.protocol === "https:",
  };
}

/** The service to replay through: the one that recorded it if it is a proxy, else the first. */
export function pickProxy(proxies: ReplayProxy[], service: string): ReplayProxy | undefined {
  const usable = proxies.filter((p) => p.type === "http" || p.type === "auto");
  return usable.find((p) => p.name === service) ?? usable[0];
}

/** Reads `conn` to its end (or `max` bytes), within the deadline the caller set. */
async function readAll(conn: Deno.Conn, max: number): Promise<{ bytes: Uint8Array; cut: boolean }> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buf = new Uint8Array(32 * 1024);
  for (;;) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) break;
    chunks.push(buf.slice(0, n));
    total += n;
    if (total > max) return { bytes: concatBytes(chunks).subarray(0, max), cut: true };
  }
  return { bytes: concatBytes(chunks), cut: false };
}

const decodeLatin1 = (b: Uint8Array) => {
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) {
    s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  }
  return s;
};

/** Index just past the `\r\n\r\n` that ends a head, or -1. */
function headEnd(b: Uint8Array): number {
  for (let i = 3; i < b.length; i++) {
    if (b[i] === 10 && b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13) return i + 1;
  }
  return -1;
}

/** An HTTP/1.1 response read to the connection's end (the request said `Connection: close`). */
function parseResponse(
  raw: Uint8Array,
  cut: boolean,
  method: string,
): ReplayResponse {
  const end = headEnd(raw);
  if (end < 0) throw new Error("the proxy closed before a whole response head");
  const lines = decodeLatin1(raw.subarray(0, end - 4)).split("\r\n");
  const m = /^HTTP\/(\d\.\d) (\d{3})/.exec(lines[0]);
  if (!m) throw new Error("not an HTTP response");
  const status = Number(m[2]);
  const headers = lines.slice(1).map((l) => {
    const i = l.indexOf(":");
    return [l.slice(0, i).trim(), l.slice(i + 1).trim()] as [string, string];
  });
  const field = (n: string) => headers.find(([k]) => k.toLowerCase() === n)?.[1];
  let body = raw.subarray(end);
  if (method === "HEAD" || status === 204 || status === 304 || status < 200) {
    body = new Uint8Array(0);
  } else if (/chunked/i.test(field("transfer-encoding") ?? "")) {
    body = dechunk(body);
  } else if (field("content-length") !== undefined) {
    body = body.subarray(0, Number(field("content-length")) || 0);
  }
  return { status, headers, body, truncated: cut, proto: `HTTP/${m[1]}` };
}

/** A chunked body's data (as far as it goes: a cut read keeps what arrived). */
function dechunk(b: Uint8Array): Uint8Array {
  const out: Uint8Array[] = [];
  let pos = 0;
  while (pos < b.length) {
    let lf = pos;
    while (lf < b.length && b[lf] !== 10) lf++;
    const size = parseInt(decodeLatin1(b.subarray(pos, lf)), 16);
    if (!(size > 0)) break;
    out.push(b.subarray(lf + 1, Math.min(lf + 1 + size, b.length)));
    pos = lf + 1 + size + 2;
  }
  return concatBytes(out);
}

function head(start: string, fields: [string, string][]): Uint8Array {
  return latin1(`${start}\r\n${fields.map(([n, v]) => `${n}: ${v}\r\n`).join("")}\r\n`);
}

/** The request's fields on the wire: Host first, the edits' fields, framing, close. */
function wireFields(req: ReplayRequest, authority: string): [string, string][] {
  const fields: [string, string][] = [["Host", authority], ...req.headers];
  if (req.body || /^(POST|PUT|PATCH)$/.test(req.method)) {
    fields.push(["Content-Length", String(req.body?.length ?? 0)]);
  }
  fields.push(["Connection", "close"]);
  return fields;
}

async function writeAll(conn: Deno.Conn, ...parts: (Uint8Array | null)[]): Promise<void> {
  for (const p of parts) {
    if (!p) continue;
    for (let off = 0; off < p.length;) off += await conn.write(p.subarray(off));
  }
}

/** The authority of an absolute URL as written (no re-encoding), and the target after it. */
function splitUrl(url: string): { authority: string; target: string } {
  const m = /^https?:\/\/([^/?#]+)(.*)$/is.exec(url)!;
  const target = m[2] === "" ? "/" : m[2].startsWith("/") ? m[2] : `/${m[2]}`;
  return { authority: m[1], target: target.replace(/#.*$/s, "") };
}

/** Opens a CONNECT tunnel to `authority` through the proxy; the proxy's refusal is thrown. */
async function connectTunnel(conn: Deno.Conn, authority: string, mark: string): Promise<void> {
  await writeAll(
    conn,
    head(`CONNECT ${authority} HTTP/1.1`, [["Host", authority], ["Snoop-Replay-Of", mark]]),
  );
  const got: Uint8Array[] = [];
  let total = 0;
  const buf = new Uint8Array(4096);
  for (;;) {
    // One byte at a time past the first read is not needed: the proxy sends nothing after
    // its answer until the client speaks (TLS: the client's hello comes first).
    const n = await conn.read(buf);
    if (n === null) throw new Error("the proxy closed the CONNECT");
    got.push(buf.slice(0, n));
    total += n;
    const all = concatBytes(got);
    const end = headEnd(all);
    if (end >= 0) {
      const line = decodeLatin1(all.subarray(0, all.indexOf(13)));
      if (!/^HTTP\/1\.[01] 200/.test(line)) {
        throw new ReplayRefused(502, `the proxy refused the tunnel: ${line.slice(0, 200)}`);
      }
      if (end !== all.length) throw new Error("the proxy sent bytes after its CONNECT answer");
      return;
    }
    if (total > MAX_HEAD_BYTES) throw new Error("the proxy's CONNECT answer is too long");
  }
}

/** `authority` with the scheme's port when it has none (CONNECT needs host:port). */
function withPort(authority: string, https: boolean): string {
  return /:\d+$/.test(authority) ? authority : `${authority}:${https ? 443 : 80}`;
}

function hostName(authority: string): string {
  const m = /^(\[[^\]]*\]|[^:]*)/.exec(authority);
  return (m?.[1] ?? authority).replace(/^\[(.*)\]$/, "$1");
}

/**
 * Sends `req` through `proxy`, marked with `mark` (`replayMark(id)`), and returns the
 * response; bounded by `timeoutMs` overall.
 */
export async function sendReplay(
  req: ReplayRequest,
  proxy: ReplayProxy,
  mark: string,
  timeoutMs = 30_000,
): Promise<ReplayResponse> {
  const https = req.url.toLowerCase().startsWith("https:");
  const { authority, target } = splitUrl(req.url);
  const tunnel = withPort(authority, https);
  if (https && req.http2) return await sendHttp2(req, proxy, mark, authority, target, timeoutMs);
  const conn = await Deno.connect({ hostname: proxy.hostname, port: proxy.port });
  let stream: Deno.Conn = conn;
  const timer = setTimeout(() => {
    try {
      stream.close();
    } catch { /* closed */ }
  }, timeoutMs);
  try {
    if (!https) {
      const fields = wireFields(req, authority);
      fields.splice(1, 0, ["Snoop-Replay-Of", mark]);
      await writeAll(conn, head(`${req.method} ${req.url} HTTP/1.1`, fields), req.body);
    } else {
      await connectTunnel(conn, tunnel, mark);
      const caCerts = proxy.caCertFile ? [await Deno.readTextFile(proxy.caCertFile)] : undefined;
      stream = await Deno.startTls(conn, {
        hostname: hostName(authority),
        caCerts,
        alpnProtocols: ["http/1.1"],
      });
      await writeAll(
        stream,
        head(`${req.method} ${target} HTTP/1.1`, wireFields(req, authority)),
        req.body,
      );
    }
    const { bytes, cut } = await readAll(stream, MAX_RESPONSE_BYTES + MAX_HEAD_BYTES);
    return parseResponse(bytes, cut, req.method);
  } finally {
    clearTimeout(timer);
    try {
      stream.close();
    } catch { /* closed */ }
  }
}

/** HTTP/2 over a CONNECT tunnel: node:net for the tunnel, node:tls, node:http2 on top. */
async function sendHttp2(
  req: ReplayRequest,
  proxy: ReplayProxy,
  mark: string,
  authority: string,
  target: string,
  timeoutMs: number,
): Promise<ReplayResponse> {
  const [net, tls, http2, { Buffer }] = await Promise.all([
    import("node:net"),
    import("node:tls"),
    import("node:http2"),
    import("node:buffer"),
  ]);
  const tunnel = withPort(authority, true);
  const ca = proxy.caCertFile ? await Deno.readTextFile(proxy.caCertFile) : undefined;
  const socket = net.connect({ host: proxy.hostname, port: proxy.port });
  // deno-lint-ignore no-explicit-any
  let session: any;
  const timer = setTimeout(() => {
    socket.destroy(new Error("replay timed out"));
    session?.destroy();
  }, timeoutMs);
  try {
    await new Promise<void>((resolve, reject) => {
      let got = Buffer.alloc(0);
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.write(
          head(`CONNECT ${tunnel} HTTP/1.1`, [["Host", tunnel], ["Snoop-Replay-Of", mark]]),
        );
      });
      const onData = (chunk: Uint8Array) => {
        got = Buffer.concat([got, chunk]);
        const end = headEnd(got);
        if (end < 0) {
          if (got.length > MAX_HEAD_BYTES) reject(new Error("the CONNECT answer is too long"));
          return;
        }
        socket.off("data", onData);
        socket.pause();
        const line = decodeLatin1(got.subarray(0, got.indexOf(13)));
        if (!/^HTTP\/1\.[01] 200/.test(line)) {
          reject(new ReplayRefused(502, `the proxy refused the tunnel: ${line.slice(0, 200)}`));
        } else resolve();
      };
      socket.on("data", onData);
      socket.once("end", () => reject(new Error("the proxy closed the CONNECT")));
    });
    const host = hostName(authority);
    const secure = tls.connect({
      socket,
      servername: net.isIP(host) ? undefined : host,
      ca,
      ALPNProtocols: ["h2"],
    });
    await new Promise<void>((resolve, reject) => {
      secure.once("secureConnect", () => resolve());
      secure.once("error", reject);
    });
    if (secure.alpnProtocol !== "h2") {
      throw new ReplayRefused(502, "the intercepted connection did not agree on HTTP/2");
    }
    session = http2.connect(`https://${authority}`, { createConnection: () => secure });
    session.on("error", () => {});
    const headers: Record<string, string | string[]> = {
      ":method": req.method,
      ":path": target,
      ":scheme": "https",
      ":authority": authority,
    };
    for (const [n, v] of req.headers) {
      const k = n.toLowerCase();
      const prev = headers[k];
      headers[k] = prev === undefined ? v : [...(Array.isArray(prev) ? prev : [prev]), v];
    }
    if (req.body) headers["content-length"] = String(req.body.length);
    const stream = session.request(headers, { endStream: !req.body });
    if (req.body) stream.end(Buffer.from(req.body));
    return await new Promise<ReplayResponse>((resolve, reject) => {
      // deno-lint-ignore no-explicit-any
      let resHeaders: Record<string, any> = {};
      const chunks: Uint8Array[] = [];
      let total = 0, truncated = false;
      stream.on("response", (h: Record<string, unknown>) => resHeaders = h);
      stream.on("data", (c: Uint8Array) => {
        if (total + c.length > MAX_RESPONSE_BYTES) {
          truncated = true;
          chunks.push(c.subarray(0, MAX_RESPONSE_BYTES - total));
          total = MAX_RESPONSE_BYTES;
          stream.close();
          return;
        }
        chunks.push(c);
        total += c.length;
      });
      const done = () =>
        resolve({
          status: Number(resHeaders[":status"]) || 0,
          headers: Object.entries(resHeaders).filter(([k]) => !k.startsWith(":")).flatMap((
            [k, v],
          ) => (Array.isArray(v) ? v : [v]).map((x) => [k, String(x)] as [string, string])),
          body: concatBytes(chunks),
          truncated,
          proto: "HTTP/2.0",
        });
      stream.on("end", done);
      stream.on("close", done);
      stream.on("error", reject);
    });
  } finally {
    clearTimeout(timer);
    session?.close();
    socket.destroy();
  }
}
