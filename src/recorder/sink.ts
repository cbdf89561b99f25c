import type { HandlerRecord } from "../record/record.ts";
import { recordToJSON } from "../record/record.ts";
import type { Recorder } from "./recorder.ts";

/** How a service's `recorder.service.handler` entry wants records (its `metadata`). */
export interface CaptureOptions {
  /** Record request/response bodies and WebSocket payloads (`http.body`). */
  body: boolean;
  /** Bytes kept per body or frame (`http.maxBodySize`, default 1 MiB as the seed says). */
  maxBodySize: number;
}

export const DEFAULT_CAPTURE: CaptureOptions = { body: false, maxBodySize: 1024 * 1024 };

/**
 * What one service reports, and to whom: the first recorder for each record name (GOST
 * uses the first match too). Handlers call these; each call only queues.
 */
export class RecordSink {
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
    this.handler?.record(recordToJSON(record));
  }

  clientIP(ip: string): void {
    if (ip) this.clientAddress?.record(ip);
  }

  dial(host: string): void {
    if (host) this.dialAddress?.record(host);
  }

  dialError(host: string): void {
    if (host) this.dialAddressError?.record(host);
  }
}
