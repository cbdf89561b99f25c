import { BodyCapture } from "../record/body_capture.ts";
import { isIP, joinHostPort, splitHostPort } from "../net/address.ts";
import { headerMap } from "../protocol/http1/headers.ts";
import { trimOWS } from "../protocol/http1/parser.ts";
import type { HttpExchange } from "./exchange.ts";
import type { HandlerRecord, TimingsRecord } from "../record/record.ts";
import { wholeString } from "../util/text.ts";

/**
 * The client's IP as GOST shows it: the forwarding header that says one
 * (`CF-Connecting-IP`, the first `X-Forwarded-For` entry, `X-Real-Ip`, in GOST's order),
 * else the address the connection came from. The headers are the client's word, so only a
 * value that is an IP address (v4, or v6 without a zone) is taken: anything else would put
 * text of the client's choosing where the UI and queries expect an address.
 */
export function clientIPFrom(headers: [string, string][], fallback: string): string {
  const get = (name: string) => headers.find(([n]) => n.toLowerCase() === name)?.[1];
  const forwardedFor = get("x-forwarded-for");
  const comma = forwardedFor?.indexOf(",") ?? -1;
  for (
    const value of [
      get("cf-connecting-ip"),
      comma >= 0 ? forwardedFor!.slice(0, comma) : forwardedFor,
      get("x-real-ip"),
    ]
  ) {
    const ip = value === undefined ? "" : trimOWS(value);
    if (ip) return isAddress(ip) ? wholeString(ip) : fallback;
  }
  return fallback;
}

/** An IP literal of at most 45 characters (the longest IPv6 text), with no zone. */
function isAddress(text: string): boolean {
  return text.length <= 45 && !text.includes("%") && isIP(text);
}

/** `Host` as a record's `host`: with the scheme's default port when it has none. */
export function hostWithPort(authority: string, defaultPort: number): string {
  const { host, port } = splitHostPort(authority);
  return joinHostPort(host, Number.isNaN(port) ? defaultPort : port);
}

/**
 * The record of one sniffed request: the connection's record with the exchange's `http`
 * section, host, byte counts and timing (GOST copies the connection object per request).
 */
export function exchangeRecord(
  base: HandlerRecord,
  ex: HttpExchange,
  defaultPort: number,
): HandlerRecord {
  const { startMs: _unused, ...rest } = base as HandlerRecord & { startMs?: number };
  return {
    ...rest,
    host: ex.authority ? hostWithPort(ex.authority, defaultPort) : base.host,
    proto: base.proto === "tls" ? "tls" : "http",
    clientIP: clientIPFrom(ex.requestHeaders, base.clientIP),
    http: {
      host: wholeString(ex.authority),
      method: ex.method,
      proto: ex.proto,
      scheme: ex.scheme,
      uri: wholeString(ex.uri),
      statusCode: ex.status,
      request: ex.requestBody.fill({
        contentLength: 0,
        header: headerMap(ex.requestHeaders, true),
        body: null,
      }),
      response: ex.responseBody.fill({
        contentLength: 0,
        header: ex.responseHeaders ? headerMap(ex.responseHeaders) : null,
        body: null,
        ...(ex.responseTrailers?.length ? { trailer: headerMap(ex.responseTrailers) } : {}),
      }),
    },
    ...grpcOf(ex),
    timings: exchangeTimings(base.timings, ex),
    inputBytes: ex.inputBytes,
    outputBytes: ex.outputBytes,
    err: ex.error,
    time: ex.startNanos,
    duration: Math.round(((ex.endMs || ex.startMs) - ex.startMs) * 1e6),
  };
}

/**
 * Which request of a connection its timings went to (its start, as a key: an interim record
 * of the request, made from a copy of its exchange, counts as the same request).
 */
const timingsGiven = new WeakMap<TimingsRecord, string>();

/**
 * A sniffed request's timings: the connection's dial and handshakes (the first request
 * over it only; the others reused it), its time to the response head and the transfer.
 */
function exchangeTimings(conn: TimingsRecord | undefined, ex: HttpExchange): TimingsRecord {
  const key = `${ex.startMs}/${ex.startNanos}`;
  if (conn !== undefined && !timingsGiven.has(conn)) timingsGiven.set(conn, key);
  const first = conn !== undefined && timingsGiven.get(conn) === key;
  const end = ex.endMs || ex.startMs;
  const head = ex.responseMs || end;
  const ms = (v: number) => Math.max(0, Math.round(v * 1000) / 1000);
  return {
    dns: first ? conn.dns : 0,
    connect: first ? conn.connect : 0,
    tls: first ? conn.tls : 0,
    ...(conn?.tlsClient !== undefined ? { tlsClient: first ? conn.tlsClient : 0 } : {}),
    ttfb: ms(head - ex.startMs),
    transfer: ms(end - head),
  };
}

/** The longest `grpc-message` kept in a record, in characters. */
const MAX_GRPC_MESSAGE = 4096;

/**
 * A gRPC call's outcome (`content-type: application/grpc…`): `grpc-status` and
 * `grpc-message` from the trailers, or from the head of a trailers-only response (one
 * HEADERS with END_STREAM). The message is percent-encoded on the wire (gRPC's HTTP/2
 * protocol), decoded here when that is valid UTF-8.
 */
function grpcOf(ex: HttpExchange): Pick<HandlerRecord, "grpc"> {
  const type = ex.responseHeaders?.find(([n]) => n.toLowerCase() === "content-type")?.[1] ??
    ex.requestHeaders.find(([n]) => n.toLowerCase() === "content-type")?.[1];
  if (!type || !/^application\/grpc(?:[+;]|$)/i.test(type.trim())) return {};
  const fields = ex.responseTrailers ?? (ex.status ? ex.responseHeaders : null);
  const get = (name: string) => fields?.find(([n]) => n.toLowerCase() === name)?.[1];
  const status = get("grpc-status");
  const code = status !== undefined && /^[0-9]{1,9}$/.test(status.trim()) ? Number(status) : null;
  let message = get("grpc-message") ?? "";
  try {
    message = decodeURIComponent(message);
  } catch { /* not valid percent-encoding: kept as sent */ }
  return { grpc: { status: code, message: wholeString(message.slice(0, MAX_GRPC_MESSAGE)) } };
}

/** Traffic decrypted by MITM: HTTP inside TLS defaults to port 443 and scheme https. */
export function isDecrypted(tunnel: HandlerRecord): boolean {
  return tunnel.proto === "tls" && tunnel.tls !== undefined;
}

/** The record of one request sniffed inside a tunnel whose own record is `tunnel`. */
export function tunnelExchangeRecord(tunnel: HandlerRecord, ex: HttpExchange): HandlerRecord {
  const decrypted = isDecrypted(tunnel);
  if (decrypted && ex.scheme === "") ex.scheme = "https";
  return exchangeRecord(tunnel, ex, decrypted ? 443 : 80);
}

const NO_BODY = new BodyCapture(false, 0);

/**
 * The record of a request whose response is still arriving, for the records made inside it
 * (Server-Sent Events, interim records): its bodies are not taken from the exchange, which
 * goes on capturing them for the request's own record.
 */
export function openExchangeRecord(tunnel: HandlerRecord, ex: HttpExchange): HandlerRecord {
  const rec = tunnelExchangeRecord(tunnel, { ...ex, requestBody: NO_BODY, responseBody: NO_BODY });
  rec.http!.request.contentLength = ex.requestBody.total;
  rec.http!.response.contentLength = ex.responseBody.total;
  return rec;
}
