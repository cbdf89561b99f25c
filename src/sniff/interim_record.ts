import type { HandlerRecord, HttpMessageRecord } from "../record/record.ts";
import { monotonicMs } from "../record/time.ts";

/**
 * An interim copy of a record that is still open (`sniffing.interval`): the bytes so far,
 * the time so far, and `interim: true`; the record itself goes on being filled in for its
 * final report, which has the same `sid` and no `interim`.
 */
export function interimRecord(
  rec: HandlerRecord,
  startMs: number,
  inputBytes: number,
  outputBytes: number,
): HandlerRecord {
  const { startMs: _s, ...base } = rec as HandlerRecord & { startMs?: number };
  return {
    ...base,
    inputBytes,
    outputBytes,
    interim: true,
    duration: Math.round((monotonicMs() - startMs) * 1e6),
  };
}

/**
 * A copy of a request's record that is still being filled in (the records made inside it:
 * events, interim reports): its `http` section is copied, without bodies, and no `err` yet.
 */
export function withoutBodies(rec: HandlerRecord): HandlerRecord {
  const { startMs: _s, ...base } = rec as HandlerRecord & { startMs?: number };
  const http = base.http;
  const message = (m: HttpMessageRecord): HttpMessageRecord => ({
    contentLength: m.contentLength,
    header: m.header,
    body: null,
  });
  return {
    ...base,
    err: undefined,
    http: http && { ...http, request: message(http.request), response: message(http.response) },
  };
}
