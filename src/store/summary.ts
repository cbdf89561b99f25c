/**
 * What every store keeps beside a record's JSON: the columns that filters, lists and
 * aggregates use, derived the same way whatever the database.
 */
import type { ParsedRecord } from "../record/parsed_record.ts";
import { fingerprintHex } from "../protocol/tls/fingerprint.ts";

/** A record as the list shows it, without headers and bodies. */
export interface RecordSummary {
  id: number;
  time: string;
  timeMs: number;
  service: string;
  client: string;
  host: string;
  proto: string;
  kind: string;
  method: string;
  uri: string;
  status: number;
  httpProto: string;
  inputBytes: number;
  outputBytes: number;
  durationMs: number;
  err: string;
  sid: string;
  /** The ClientHello's JA3 (MD5 hex) and JA4; null for records without one. */
  ja3: string | null;
  ja4: string | null;
}

/** Aggregates over the filtered records, as `/api/stats` answers them. */
export type RecordStats = Record<string, unknown>;

/** What kind of record this is, for the list: websocket, dns, http, tls, connect or tcp. */
function kindOf(r: ParsedRecord): string {
  if (r.websocket) return "websocket";
  if (r.dns) return "dns";
  if (r.http && r.http.method !== "CONNECT") return "http";
  if (r.tls) return "tls";
  return r.http ? "connect" : "tcp";
}

/** Header names and values as one text, for free-text search. */
function headerText(h: Record<string, string[]> | null | undefined): string {
  if (!h) return "";
  return Object.entries(h).map(([k, v]) => `${k}: ${v.join(", ")}`).join("\n");
}

const JA3 = /^[0-9a-f]{32}$/;
const JA4 = /^[a-z0-9]{10}_[0-9a-f]{12}_[0-9a-f]{12}$/;

/**
 * JA3 and JA4 of a record's ClientHello: computed from `tls.clientHello` when it holds one
 * (records from a GOST through the collector have the bytes but no fingerprints), else the
 * record's own `tls.ja3`/`tls.ja4` when they have the fingerprints' form.
 */
function fingerprintsOf(tls: ParsedRecord): { ja3: string | null; ja4: string | null } {
  if (!tls || typeof tls !== "object") return { ja3: null, ja4: null };
  const f = fingerprintHex(tls.clientHello);
  if (f) return { ja3: f.ja3, ja4: f.ja4 };
  return {
    ja3: typeof tls.ja3 === "string" && JA3.test(tls.ja3) ? tls.ja3 : null,
    ja4: typeof tls.ja4 === "string" && JA4.test(tls.ja4) ? tls.ja4 : null,
  };
}

/** The summary columns and the free-text search column of a parsed record. */
export function summarize(r: ParsedRecord): { summary: RecordSummary; search: string } {
  const timeMs = Date.parse(r.time) || Date.now();
  const http = r.http ?? {};
  const { ja3, ja4 } = fingerprintsOf(r.tls);
  const summary: RecordSummary = {
    id: 0,
    time: String(r.time ?? new Date(timeMs).toISOString()),
    timeMs,
    service: String(r.service ?? ""),
    client: String(r.clientIP || (r.remote ?? "")),
    host: String(r.host ?? ""),
    proto: String(r.proto ?? ""),
    kind: kindOf(r),
    method: String(http.method ?? (r.dns ? r.dns.type : "")),
    uri: String(http.uri ?? (r.dns ? r.dns.name : r.tls?.serverName ?? "")),
    status: Number(http.statusCode ?? 0),
    httpProto: String(http.proto ?? ""),
    inputBytes: Number(r.inputBytes ?? 0),
    outputBytes: Number(r.outputBytes ?? 0),
    durationMs: Number(r.duration ?? 0) / 1e6,
    err: String(r.err ?? ""),
    sid: String(r.sid ?? ""),
    ja3,
    ja4,
  };
  const search = `${summary.uri}\n${http.host ?? ""}\n${headerText(http.request?.header)}\n${
    headerText(http.response?.header)
  }`;
  return { summary, search };
}

/** The stored columns, in the order `columnValues` gives them. */
export const STORED_COLUMNS = [
  "time_ms",
  "time",
  "service",
  "client_ip",
  "host",
  "proto",
  "kind",
  "method",
  "uri",
  "status",
  "http_proto",
  "input_bytes",
  "output_bytes",
  "duration_ns",
  "err",
  "sid",
  "search",
  "json",
  "ja3",
  "ja4",
] as const;

/** One record's values for `STORED_COLUMNS`; `json` is the record's text as received. */
export function columnValues(
  summary: RecordSummary,
  search: string,
  json: string,
): (string | number | null)[] {
  return [
    summary.timeMs,
    summary.time,
    summary.service,
    summary.client,
    summary.host,
    summary.proto,
    summary.kind,
    summary.method,
    summary.uri,
    summary.status,
    summary.httpProto,
    summary.inputBytes,
    summary.outputBytes,
    Math.round(summary.durationMs * 1e6),
    summary.err,
    summary.sid,
    search,
    json,
    summary.ja3,
    summary.ja4,
  ];
}

/** Queries a UI or collector runs, whichever database answers them. */
export interface RecordQueries {
  list(
    filter: import("./filter.ts").RecordFilter,
    limit: number,
    before?: number,
  ): Promise<{ records: RecordSummary[]; next: number | null }>;
  full(
    filter: import("./filter.ts").RecordFilter,
    limit?: number,
  ): Promise<{ id: number; json: ParsedRecord }[]>;
  get(id: number): Promise<ParsedRecord | null>;
  bySid(sid: string): Promise<ParsedRecord[]>;
  stats(filter: import("./filter.ts").RecordFilter): Promise<RecordStats>;
  subscribe(fn: (r: RecordSummary) => void): () => void;
}
