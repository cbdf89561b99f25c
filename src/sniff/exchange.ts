import { BodyCapture } from "../record/body_capture.ts";
import { monotonicMs, nowNanos } from "../record/time.ts";
import type { BodyCaptureOptions } from "../recorder/sink.ts";

/** One request and its response as a sniffer saw them, in any HTTP version. */
export interface HttpExchange {
  proto: string;
  method: string;
  /** Request target as sent (`/path?q`, or the absolute URI). */
  uri: string;
  /** "" for HTTP/1 origin-form, else the scheme (`:scheme` in HTTP/2). */
  scheme: string;
  /** `Host` header, or `:authority`. */
  authority: string;
  requestHeaders: [string, string][];
  responseHeaders: [string, string][] | null;
  /** Trailer fields after the response body (HTTP/2 HEADERS after DATA), or null. */
  responseTrailers: [string, string][] | null;
  status: number;
  requestBody: BodyCapture;
  responseBody: BodyCapture;
  /** Wire bytes of the request (client → server) and response. */
  inputBytes: number;
  outputBytes: number;
  startMs: number;
  startNanos: bigint;
  /** When the last request byte was seen (0 while the request is still arriving). */
  requestEndMs: number;
  /** When the response's first head was seen (0 while none has). */
  responseMs: number;
  endMs: number;
  error?: string;
}

export function newExchange(
  capture: BodyCaptureOptions,
  fields: Pick<
    HttpExchange,
    "proto" | "method" | "uri" | "scheme" | "authority" | "requestHeaders"
  >,
): HttpExchange {
  return {
    ...fields,
    responseHeaders: null,
    responseTrailers: null,
    status: 0,
    requestBody: new BodyCapture(capture.body, capture.maxBodySize),
    responseBody: new BodyCapture(capture.body, capture.maxBodySize),
    inputBytes: 0,
    outputBytes: 0,
    startMs: monotonicMs(),
    startNanos: nowNanos(),
    requestEndMs: 0,
    responseMs: 0,
    endMs: 0,
  };
}

export function endExchange(ex: HttpExchange, error?: string): HttpExchange {
  ex.endMs = monotonicMs();
  if (error && !ex.error) ex.error = error;
  return ex;
}
