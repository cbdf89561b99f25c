import type { HandlerRecord, HttpMessageRecord } from "../record/record.ts";
import { recordToJSON } from "../record/record.ts";
import {
  DEFAULT_REDACTED_HEADERS,
  DEFAULT_REDACTED_QUERY,
  type Redaction,
  redactRecord,
} from "../record/redaction.ts";
import type { Recorder } from "./recorder.ts";
import { captureBudget } from "../record/capture_budget.ts";
import { DialError } from "../net/dial.ts";

/** How a service's `recorder.service.handler` entry wants records (its `metadata`). */
export interface CaptureOptions {
  /** Secrets replaced in records (`redact`, `redact.headers`, `redact.query`); null = off. */
  redaction: Redaction | null;
  /** Record request/response bodies and WebSocket payloads (`http.body`). */
  body: boolean;
  /** Bytes kept per body or frame (`http.maxBodySize`, default 1 MiB as the seed says). */
  maxBodySize: number;
}

/** What sniffers need of the capture options: whether and how much of each body to keep. */
export type BodyCaptureOptions = Pick<CaptureOptions, "body" | "maxBodySize">;

export const DEFAULT_CAPTURE: CaptureOptions = {
  body: false,
  maxBodySize: 1024 * 1024,
  redaction: {
    headers: new Set(DEFAULT_REDACTED_HEADERS),
    query: new Set(DEFAULT_REDACTED_QUERY),
  },
};

/** The name under which bodies left out for the capture budget are counted as limit hits. */
export const CAPTURE_BUDGET = "capture-budget";

/** The length of a record's bodies and payload as they are in its JSON (base64). */
function bodyLength(record: HandlerRecord): number {
  const http = record.http;
  return (http?.request.body?.length ?? 0) + (http?.response.body?.length ?? 0) +
    (record.websocket?.payload?.length ?? 0) + (record.sse?.data?.length ?? 0);
}

/**
 * Leaves a record's bodies and WebSocket payload out, marking each that was there (a body
 * already cut at capture is counted then); returns whether there was any.
 */
function leaveOutBodies(record: HandlerRecord): boolean {
  let any = false;
  const message = (m: HttpMessageRecord) => {
    if (m.body === null) return;
    m.body = null;
    m.bodyTruncated = "capture-budget";
    any = true;
  };
  if (record.http) {
    message(record.http.request);
    message(record.http.response);
  }
  const sse = record.sse;
  if (sse && sse.data !== null) {
    sse.data = null;
    sse.dataTruncated = "capture-budget";
    any = true;
  }
  const ws = record.websocket;
  if (ws && ws.payload !== null) {
    ws.payload = null;
    ws.payloadTruncated = "capture-budget";
    any = true;
  }
  return any;
}

/**
 * What one service reports, and to whom: the first recorder for each record name (GOST
 * uses the first match too). Handlers call these; each call only queues.
 */
export class RecordSink {
  /** What this service reported: records, bytes, and records per sniffed protocol. */
  readonly counters = {
    records: 0,
    inputBytes: 0,
    outputBytes: 0,
    errors: 0,
    byProto: new Map<string, number>(),
    /** Limits hit (connection caps, header sizes, deadlines, the egress list), by name. */
    limits: new Map<string, number>(),
  };

  constructor(
    readonly handler?: Recorder,
    readonly capture: CaptureOptions = DEFAULT_CAPTURE,
    readonly clientAddress?: Recorder,
    readonly dialAddress?: Recorder,
    readonly dialAddressError?: Recorder,
  ) {}

  static readonly none = new RecordSink();

  get recording(): boolean {
    return this.handler !== undefined;
  }

  emit(record: HandlerRecord): void {
    const c = this.counters;
    c.records++;
    c.inputBytes += record.inputBytes;
    c.outputBytes += record.outputBytes;
    if (record.err) c.errors++;
    const proto = record.websocket ? "websocket" : record.proto ?? "";
    c.byProto.set(proto, (c.byProto.get(proto) ?? 0) + 1);
    const http = record.http;
    if (http && (http.request.bodyTruncated || http.response.bodyTruncated)) {
      this.limited(CAPTURE_BUDGET);
    }
    // A recorder's filter: a record it does not want is never made into JSON.
    if (this.handler?.accepts && !this.handler.accepts(record)) {
      captureBudget.releasePending();
      return;
    }
    const redaction = this.capture.redaction;
    // Bodies charged while they were captured; the queue takes the charge over.
    const charged = captureBudget.pending;
    this.handler?.record((withoutBodies) => {
      // A record whose uncharged bodies (WebSocket payloads) exceed what is left of the
      // budget goes without them at once, rather than being made whole, refused by its
      // queue and made again.
      const uncharged = bodyLength(record) - charged;
      if (withoutBodies || uncharged > captureBudget.limit - captureBudget.used) {
        if (leaveOutBodies(record)) this.limited(CAPTURE_BUDGET);
      }
      return recordToJSON(redaction ? redactRecord(record, redaction) : record);
    });
    // What the recorder did not claim (no recorder, or the record dropped) is free again.
    captureBudget.releasePending();
  }

  /** Counts a limit that refused or cut something (the record, if any, says what). */
  limited(name: string): void {
    this.counters.limits.set(name, (this.counters.limits.get(name) ?? 0) + 1);
  }

  clientIP(ip: string): void {
    if (ip) this.clientAddress?.record(ip);
  }

  dial(host: string): void {
    if (host) this.dialAddress?.record(host);
  }

  /** A dial failed; a deadline or the egress list refusing it also counts as a limit. */
  dialError(host: string, error: unknown): void {
    if (error instanceof DialError && error.limit) this.limited(error.limit);
    if (host) this.dialAddressError?.record(host);
  }
}
