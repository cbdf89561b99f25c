import type { Logger } from "../util/log.ts";
import { DialError } from "../net/dial.ts";
import { HttpPoster } from "../recorder/http_client.ts";
import { EndpointUnreachable, QueuedRecorder } from "../recorder/queued_recorder.ts";
import type { ParsedRecord } from "../record/parsed_record.ts";

/**
 * Pushes records to Grafana Loki the way gost-plugins' recorder does
 * (POST /loki/api/v1/push, JSON): one stream per service (label `service_name`, plus `node`
 * when set), each record one line with structured metadata, `X-Scope-OrgId` set to the id.
 */
/** Go's `time.Duration.String()`: `275.290907ms`, `1.5s`, `2m3.5s`, `1h0m0s`. */
export function goDuration(ns: number): string {
  if (ns === 0) return "0s";
  const neg = ns < 0 ? "-" : "";
  ns = Math.abs(ns);
  const trim = (v: string) => v.replace(/\.?0+$/, "");
  if (ns < 1e3) return `${neg}${ns}ns`;
  if (ns < 1e6) return `${neg}${trim((ns / 1e3).toFixed(3))}µs`;
  if (ns < 1e9) return `${neg}${trim((ns / 1e6).toFixed(6))}ms`;
  const h = Math.floor(ns / 3.6e12), m = Math.floor((ns % 3.6e12) / 6e10);
  const s = trim(((ns % 6e10) / 1e9).toFixed(9));
  if (h) return `${neg}${h}h${m}m${s}s`;
  if (m) return `${neg}${m}m${s}s`;
  return `${neg}${s}s`;
}

const OPCODES: Record<number, string> = {
  0: "continuation",
  1: "text",
  2: "binary",
  8: "close",
  9: "ping",
  10: "pong",
};

/**
 * Loki takes only strings as label and metadata values (a number fails the whole push), and
 * a record from a peer may hold anything: everything that becomes a value goes through here.
 */
const str = (v: unknown): string =>
  v === undefined || v === null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);

/** HTTP/1 wire text of a header map (`Name: value` lines). */
function headerText(h: unknown): string {
  if (h === null || typeof h !== "object") return "";
  return Object.entries(h).flatMap(([k, vs]) =>
    (Array.isArray(vs) ? vs : [vs]).map((v) => `${k}: ${str(v)}\r\n`)
  ).join("");
}

/** The log line gost-plugins writes for a record. */
export function lokiLine(r: ParsedRecord): string {
  let line = `${r.client || "-"} ${r.host || "-"}`;
  if (r.tls) {
    line += ` ${r.tls.version || "-"} ${r.tls.proto || "-"} ${r.inputBytes ?? 0} ${
      r.outputBytes ?? 0
    }`;
  }
  if (r.websocket && r.http) {
    const w = r.websocket;
    line += ` ${r.http.method} ${r.http.host} ${r.http.uri} websocket ${w.from} ${
      w.fin ? "fin" : "fragment"
    } ${OPCODES[w.opcode] ?? "-"} ${w.masked ? "mask" : "unmask"} ${w.length}`;
  } else if (r.http) {
    line += ` ${r.http.method} ${r.http.host} ${r.http.uri} ${r.http.proto} ${r.http.statusCode} ${
      r.http.request?.contentLength ?? 0
    } ${r.http.response?.contentLength ?? 0}`;
  }
  if (r.dns) line += ` ${String(r.dns.name).replace(/\.$/, "")} ${r.dns.class} ${r.dns.type}`;
  if (!r.tls && !r.http) line += ` ${r.inputBytes ?? 0} ${r.outputBytes ?? 0}`;
  line += ` ${goDuration(Number(r.duration ?? 0))}`;
  if (r.err) line += ` ${r.err}`;
  return line;
}

/** Structured metadata (every value a string; empty ones left out). */
export function lokiMetadata(r: ParsedRecord): Record<string, string> {
  const m: Record<string, string> = {
    node: str(r.node),
    network: str(r.network),
    remote: str(r.remote),
    client: str(r.client),
    host: str(r.host),
    uri: str(r.http?.uri),
    src: str(r.src),
    dst: str(r.dst),
    client_id: str(r.clientID),
    proto: str(r.proto),
    sid: str(r.sid),
    http_request_header: r.http ? headerText(r.http.request?.header) : "",
    http_response_header: r.http ? headerText(r.http.response?.header) : "",
    tls_cipher_suite: str(r.tls?.cipherSuite),
    tls_version: str(r.tls?.version),
    dns_question: str(r.dns?.question),
    dns_answer: str(r.dns?.answer),
    dns_cached: r.dns ? String(Boolean(r.dns.cached)) : "",
    route: str(r.route),
    error: r.err ? "true" : "",
    duration: str(r.duration ?? 0),
    ts: str(r.time),
  };
  for (const k of Object.keys(m)) if (m[k] === "") delete m[k];
  return m;
}

/** One stream of a Loki push: its labels, and its lines with their structured metadata. */
interface LokiStream {
  stream: Record<string, string>;
  values: [string, string, Record<string, string>][];
}

/**
 * The push body for a batch of records, and how many of them could not be put in it (a
 * record that is not a JSON object); one such record costs only itself, not the push.
 */
export function lokiPushBody(
  records: ParsedRecord[],
  nowNs: () => string,
): { streams: LokiStream[]; skipped: number } {
  const streams = new Map<string, LokiStream>();
  let skipped = 0;
  for (const r of records) {
    let labels: Record<string, string>, value: [string, string, Record<string, string>];
    try {
      if (r === null || typeof r !== "object") throw new TypeError("not a record");
      labels = { service_name: str(r.service) };
      if (r.node) labels.node = str(r.node);
      value = [nowNs(), lokiLine(r), lokiMetadata(r)];
    } catch {
      skipped++;
      continue;
    }
    const key = JSON.stringify(labels);
    let s = streams.get(key);
    if (!s) streams.set(key, s = { stream: labels, values: [] });
    s.values.push(value);
  }
  return { streams: [...streams.values()], skipped };
}

export class LokiPusher extends QueuedRecorder {
  readonly kind = "loki";
  readonly #poster: HttpPoster;

  constructor(url: string, tenant: string, timeoutMs: number, log: Logger) {
    super("loki", 10_000, log, 500);
    this.#poster = new HttpPoster(url, timeoutMs, tenant ? { "X-Scope-OrgId": tenant } : {});
  }

  protected async deliver(batch: string[]): Promise<number> {
    const records = batch.map((b) => {
      try {
        return JSON.parse(b);
      } catch {
        return null;
      }
    });
    const { streams, skipped } = lokiPushBody(records, () => `${BigInt(Date.now()) * 1_000_000n}`);
    if (streams.length === 0) return skipped;
    const status = await this.#poster.post(JSON.stringify({ streams })).catch((e) => {
      throw e instanceof DialError ? new EndpointUnreachable(0, e) : e;
    });
    if (status >= 300) throw new Error(`loki answered ${status}`);
    return skipped;
  }

  protected shutdown(): void {
    this.#poster.reset();
  }
}
