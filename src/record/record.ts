import { formatRFC3339Nano } from "./time.ts";
import { wholeString } from "../util/text.ts";

/**
 * The record snoop reports per request or connection: GOST's `HandlerRecorderObject`,
 * field for field (names, types, order, which keys are always present), so that anything
 * that consumes GOST records (gost-plugins, Loki pipelines, scripts) reads snoop's too.
 */

/** Header map as Go's `http.Header` marshals it: canonical names, sorted, value lists. */
export type HeaderMap = Record<string, string[]>;

export interface HttpMessageRecord {
  /** Body bytes actually transferred (not truncated by capture). */
  contentLength: number;
  header: HeaderMap | null;
  /** Captured body as standard base64, or null when capture is off or the body is empty. */
  body: string | null;
  /**
   * snoop's, not GOST's: set when the process's capture budget (`limits.captureBudget`) was
   * spent, so `body` holds less than `http.maxBodySize` would have kept (or is null).
   */
  bodyTruncated?: "capture-budget";
  /** snoop's: the message's trailer fields (HTTP/2 HEADERS after DATA), when it had any. */
  trailer?: HeaderMap;
}

export interface HttpRecord {
  host: string;
  method: string;
  proto: string;
  scheme: string;
  uri: string;
  statusCode: number;
  request: HttpMessageRecord;
  response: HttpMessageRecord;
}

export interface WebsocketRecord {
  from: "client" | "server";
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
  /** The 4 mask bytes read little-endian, as GOST does. */
  maskKey: number;
  length: number;
  payload: string | null;
  /** snoop's: the payload was left out because the capture budget was spent. */
  payloadTruncated?: "capture-budget";
}

/** snoop's (GOST has none): one Server-Sent Event of a `text/event-stream` response. */
export interface SseRecord {
  /** The `event` field ("" = none, a client's `message`). */
  event: string;
  /** The `id` field, or null when the event had none. */
  id: string | null;
  /** The `data` lines joined with LF; null unless bodies are captured (`http.body`). */
  data: string | null;
  /** The `retry` field (milliseconds), or null. */
  retry: number | null;
  /** Comment lines of the event, joined with LF (only with `http.body`). */
  comment?: string;
  /** Set when the event was longer than `http.maxBodySize` and was cut there. */
  truncated?: boolean;
  /** snoop's: the data was left out because the capture budget was spent. */
  dataTruncated?: "capture-budget";
}

/** snoop's: the outcome of a gRPC call, from its trailers (or a trailers-only response). */
export interface GrpcRecord {
  /** `grpc-status` (0 = OK), or null when the response carried none. */
  status: number | null;
  message: string;
}

/**
 * snoop's: where a request's time went, in milliseconds (fractions kept to the microsecond).
 * `dns` and `connect` are the lookup and TCP connect of the upstream connection, `tls` its
 * handshake and `tlsClient` the client's handshake with snoop (MITM only); each is 0 for a
 * request that reused a connection or had no such step. `ttfb` runs from the request going
 * upstream (its connection in hand) to the response head, `transfer` from there to the
 * response's end; a tunnel's record (not a request's) has neither.
 */
export interface TimingsRecord {
  dns: number;
  connect: number;
  tls: number;
  tlsClient?: number;
  ttfb?: number;
  transfer?: number;
}

export interface TlsRecord {
  serverName: string;
  cipherSuite: string;
  compressionMethod: number;
  proto: string;
  version: string;
  clientHello: string;
  serverHello: string;
  /** Set (true) only when the client offered Encrypted Client Hello: serverName is the outer SNI. */
  ech?: boolean;
  /** snoop's: the ClientHello's JA3 (MD5 hex), its JA3 string and its JA4 fingerprint. */
  ja3?: string;
  ja3String?: string;
  ja4?: string;
}

export interface DnsRecord {
  id: number;
  name: string;
  class: string;
  type: string;
  question: string;
  answer: string;
  cached?: boolean;
}

export interface HandlerRecord {
  service: string;
  network: string;
  remote: string;
  local: string;
  client: string;
  src: string;
  dst: string;
  host: string;
  proto?: string;
  clientIP: string;
  clientID?: string;
  http?: HttpRecord;
  websocket?: WebsocketRecord;
  tls?: TlsRecord;
  dns?: DnsRecord;
  /** snoop's: one Server-Sent Event (a record per event, like WebSocket frames). */
  sse?: SseRecord;
  /** snoop's: a gRPC call's status from its trailers. */
  grpc?: GrpcRecord;
  /** snoop's: where the time of a request went. */
  timings?: TimingsRecord;
  route?: string;
  /** snoop's: the id of the record this request replays (sent again from the web UI). */
  replayOf?: number;
  inputBytes: number;
  outputBytes: number;
  err?: string;
  /**
   * snoop's: a record of a tunnel or stream still open (`sniffing.interval`), with the bytes
   * so far; the final record, without it, comes when it ends. Same `sid`.
   */
  interim?: boolean;
  sid: string;
  /** Nanoseconds. */
  duration: number;
  /** Start time, nanoseconds since the epoch. Serialized as RFC 3339. */
  time: bigint;
}

/** Go's `encoding/json` escapes these in strings; so do we, to match byte for byte. */
const HTML_UNSAFE = /[<>&\u2028\u2029]/g;
const HAS_HTML_UNSAFE = /[<>&\u2028\u2029]/;
const ESCAPES: Record<string, string> = {
  "<": "\\u003c",
  ">": "\\u003e",
  "&": "\\u0026",
  "\u2028": "\\u2028",
  "\u2029": "\\u2029",
};

/**
 * Serializes a record exactly as GOST would (key order, omitempty, escaping). The strings a
 * record carries are whole where they are made (see `wholeString`), so that this takes
 * `JSON.stringify`'s fast path; the rare fields are made whole here.
 */
export function recordToJSON(r: HandlerRecord): string {
  const o: Record<string, unknown> = {
    service: r.service,
    network: r.network,
    remote: r.remote,
    local: r.local,
    client: r.client,
    src: r.src,
    dst: r.dst,
    host: r.host,
  };
  if (r.proto) o.proto = r.proto;
  o.clientIP = r.clientIP;
  if (r.clientID) o.clientID = wholeString(r.clientID);
  if (r.http) o.http = r.http;
  if (r.websocket) o.websocket = r.websocket;
  if (r.tls) o.tls = r.tls;
  if (r.dns) o.dns = r.dns;
  if (r.sse) o.sse = r.sse;
  if (r.grpc) o.grpc = r.grpc;
  if (r.timings) o.timings = r.timings;
  if (r.route) o.route = r.route;
  if (r.replayOf) o.replayOf = r.replayOf;
  o.inputBytes = r.inputBytes;
  o.outputBytes = r.outputBytes;
  if (r.err) o.err = wholeString(r.err);
  if (r.interim) o.interim = true;
  o.sid = r.sid;
  o.duration = r.duration;
  o.time = formatRFC3339Nano(r.time);
  const json = JSON.stringify(o);
  return HAS_HTML_UNSAFE.test(json) ? json.replace(HTML_UNSAFE, (c) => ESCAPES[c]) : json;
}
