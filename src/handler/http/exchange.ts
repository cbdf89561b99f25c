import { type BufferedConn, withDeadline } from "../../net/buffered_conn.ts";
import { closeQuietly } from "../../net/stream.ts";
import type { MessageReader } from "../../protocol/http1/message_reader.ts";
import type { BodyFraming, Http1Event, Http1Head } from "../../protocol/http1/parser.ts";
import { BodyCapture } from "../../record/body_capture.ts";
import type { BodyCaptureOptions } from "../../recorder/sink.ts";
import { type ConnContext, upstreamAddrs } from "../../tunnel/conn_context.ts";
import type { DialTimings } from "../../net/dial.ts";
import type { TimingsRecord } from "../../record/record.ts";
import { monotonicMs } from "../../record/time.ts";

/** A connection's record as a handler fills it in. */
export type Rec = ReturnType<ConnContext["newRecord"]>;

/** A request head as the client connection's reader gave it, before anything is sent. */
export interface RequestHead {
  head: Http1Head;
  framing: BodyFraming;
  /** The body's length as parsed, and as its Content-Length declared it (null: none). */
  bodyLength: { length: number; declared: number | null };
  /** Wire bytes of the head. */
  headBytes: number;
  /** The record this request replays (a replay sent by the web UI). */
  replayOf?: number;
}

/**
 * One forwarded request and its response: what forward.ts starts (the record, the request
 * body's copy to the upstream) and response.ts finishes (the response, the record's bodies,
 * whether either connection can carry another request).
 */
export class ForwardExchange {
  readonly reqBody: BodyCapture;
  readonly respBody: BodyCapture;
  /** The request body's copy to the upstream: settles when it is all sent, or fails. */
  bodyDone: Promise<void> = Promise.resolve();
  /** The whole request body was read (at once for a request without one). */
  bodyFinished: boolean;
  /** The upstream connection's lookup and connect (ms; 0 for a pooled connection). */
  dial: DialTimings = { dns: 0, connect: 0 };
  /** When the request started upstream, its connection in hand (monotonic ms). */
  sentMs = 0;
  /** When the response's first head arrived (monotonic ms; 0: not yet). */
  firstByteMs = 0;

  constructor(
    readonly ctx: ConnContext,
    readonly client: BufferedConn,
    /** The client connection's reader: the next request, and bytes after an upgrade. */
    readonly clientReader: MessageReader,
    readonly rec: Rec,
    /** `host:port` of the origin: the upstream pool's key. */
    readonly target: string,
    readonly clientWantsClose: boolean,
    framing: BodyFraming,
    capture: BodyCaptureOptions,
  ) {
    this.reqBody = new BodyCapture(capture.body, capture.maxBodySize);
    this.respBody = new BodyCapture(capture.body, capture.maxBodySize);
    this.bodyFinished = framing === "none";
  }

  /** The record's `timings`, as the response ends now. */
  timings(): TimingsRecord {
    const now = monotonicMs();
    const first = this.firstByteMs || now;
    return {
      dns: ms(this.dial.dns),
      connect: ms(this.dial.connect),
      tls: 0,
      ttfb: ms(first - (this.sentMs || this.rec.startMs)),
      transfer: ms(now - first),
    };
  }
}

/** Milliseconds to the microsecond, never negative. */
export const ms = (v: number) => Math.max(0, Math.round(v * 1000) / 1000);

/**
 * An upstream connection with its response reader and its addresses as records show them
 * (formatted once: the pool hands the connection to request after request).
 */
export class PooledUpstream {
  readonly src: string;
  readonly dst: string;

  constructor(readonly conn: Deno.TcpConn, readonly reader: MessageReader) {
    ({ src: this.src, dst: this.dst } = upstreamAddrs(conn));
  }

  /** The next upstream event within `timeoutMs` (`readTimeout`); past it the connection closes. */
  readWithin(timeoutMs: number): Promise<Http1Event | null> {
    return withDeadline(
      timeoutMs,
      "upstream response header",
      () => this.reader.next(),
      () => closeQuietly(this.conn),
    );
  }

  close(): void {
    closeQuietly(this.conn);
  }
}
