import type { BodyCaptureOptions } from "../../recorder/sink.ts";
import { endExchange, type HttpExchange, newExchange } from "../exchange.ts";
import { H2_PREFACE } from "../../protocol/detect.ts";
import {
  Flag,
  framePayloadData,
  FrameType,
  type H2Frame,
  H2FrameReader,
} from "../../protocol/http2/frame_reader.ts";
import { HpackDecoder } from "../../protocol/http2/hpack_decoder.ts";
import { SniffLimitError } from "../../protocol/limit_error.ts";
import { declaredLength, malformedSection } from "../../protocol/http2/field_rules.ts";
import { monotonicMs } from "../../record/time.ts";

interface StreamState {
  ex: HttpExchange;
  requestDone: boolean;
  startedMs: number;
  /** The final (non-1xx) response head has been seen: a later HEADERS is trailers. */
  responseHead: boolean;
}

export interface H2ResponseHooks {
  head?(ex: HttpExchange): void;
  data?(ex: HttpExchange, data: Uint8Array): void;
}

/** A connection error (RFC 9113 §5.4.1): the peer will send GOAWAY; sniffing stops here. */
class H2ProtocolError extends Error {}

const DEFAULT_MAX_FRAME = 16384;
const SETTINGS_ENABLE_PUSH = 2, SETTINGS_INITIAL_WINDOW = 4, SETTINGS_MAX_FRAME = 5;

/**
 * Limits that keep a hostile peer from making the sniffer grow (streams, header lists, frames).
 * The sniffer is passive: hitting one stops sniffing this connection (the bytes still flow,
 * the endpoints enforce their own limits) and the open streams are recorded with why.
 */
export const H2_SNIFF_LIMITS = {
  /** Streams tracked at once (MAX_CONCURRENT_STREAMS 100, with room); more are not recorded. */
  maxTrackedStreams: 256,
  /** Decoded header list, name + value + 32 per field (RFC 9113 §6.5.2). */
  maxHeaderListBytes: 64 * 1024,
  /** A header block over CONTINUATION frames: twice the list budget (CVE-2023-45288 class). */
  maxHeaderBlockBytes: 128 * 1024,
  /** Rapid reset (CVE-2023-44487): after this many streams, more than half of them reset… */
  rapidResetMinStreams: 500,
  /** …within this long of their start. */
  rapidResetWindowMs: 1000,
};

/**
 * Reads both directions of an HTTP/2 connection (cleartext prior knowledge, or decrypted
 * after MITM) and reports one exchange per stream when the response ends, the stream is
 * reset or the connection closes. It only reads a copy: it never answers frames.
 */
export class H2Sniffer {
  readonly #client = new H2FrameReader(H2_PREFACE.length);
  readonly #server = new H2FrameReader();
  readonly #clientHpack = new HpackDecoder(H2_SNIFF_LIMITS.maxHeaderListBytes);
  readonly #serverHpack = new HpackDecoder(H2_SNIFF_LIMITS.maxHeaderListBytes);
  #streamsSeen = 0;
  #earlyResets = 0;
  /** Largest frame each side may send: the SETTINGS_MAX_FRAME_SIZE the other side announced. */
  #maxFrame = { client: DEFAULT_MAX_FRAME, server: DEFAULT_MAX_FRAME };
  /** Highest stream the client opened: later ones must be higher; DATA above it is idle. */
  #lastClientStream = 0;
  /** Some stream went untracked (over the limit): a HEADERS on an old id may be its trailers. */
  #untrackedOpen = false;
  readonly #streams = new Map<number, StreamState>();
  /** A header block split over CONTINUATION frames, per direction. */
  #pendingBlock: { client?: PendingBlock; server?: PendingBlock } = {};
  failed: string | undefined;
  /** Sniffing stopped at one of H2_SNIFF_LIMITS. */
  limitHit = false;

  constructor(
    readonly capture: BodyCaptureOptions,
    readonly onExchange: (ex: HttpExchange) => void,
    readonly defaultScheme = "http",
    /** Told of each final response head, and of the response body's bytes as they come. */
    readonly hooks: H2ResponseHooks = {},
  ) {}

  /** The exchanges of the streams still open. */
  get open(): HttpExchange[] {
    return [...this.#streams.values()].map((s) => s.ex);
  }

  client(chunk: Uint8Array): void {
    this.#guard(() => this.#client.push(chunk, (f) => this.#onFrame("client", f)));
  }

  server(chunk: Uint8Array): void {
    this.#guard(() => this.#server.push(chunk, (f) => this.#onFrame("server", f)));
  }

  /** The connection ended: streams still open are reported with why. */
  finish(reason = "connection closed before the response ended"): void {
    for (const [id, s] of this.#streams) {
      this.#streams.delete(id);
      this.onExchange(endExchange(s.ex, this.failed ?? reason));
    }
  }

  #guard(fn: () => void) {
    if (this.failed) return;
    try {
      fn();
    } catch (e) {
      this.failed = `http2: ${(e as Error).message}`;
      this.limitHit = e instanceof SniffLimitError;
    }
  }

  #onFrame(side: "client" | "server", f: H2Frame) {
    const pending = this.#pendingBlock[side];
    if (pending && f.type !== FrameType.CONTINUATION) {
      throw new H2ProtocolError("expected CONTINUATION");
    }
    checkFrame(side, f, this.#maxFrame[side]);
    switch (f.type) {
      case FrameType.HEADERS: {
        if (side === "client" && !this.#streams.has(f.streamId)) this.#checkNewStream(f.streamId);
        const block = framePayloadData(f);
        if (f.flags & Flag.END_HEADERS) {
          this.#onHeaders(side, f.streamId, block, (f.flags & Flag.END_STREAM) !== 0, f);
        } else {
          this.#pendingBlock[side] = {
            streamId: f.streamId,
            parts: [block.slice()],
            size: block.length,
            endStream: (f.flags & Flag.END_STREAM) !== 0,
            wire: f.payload.length + 9,
          };
        }
        break;
      }
      case FrameType.CONTINUATION: {
        if (!pending || pending.streamId !== f.streamId) {
          throw new H2ProtocolError("unexpected CONTINUATION");
        }
        pending.parts.push(f.payload.slice());
        pending.wire += f.payload.length + 9;
        pending.size += f.payload.length;
        const size = pending.size;
        if (size > H2_SNIFF_LIMITS.maxHeaderBlockBytes) {
          throw new SniffLimitError("header block too large");
        }
        if (f.flags & Flag.END_HEADERS) {
          this.#pendingBlock[side] = undefined;
          const block = new Uint8Array(size);
          let off = 0;
          for (const p of pending.parts) {
            block.set(p, off);
            off += p.length;
          }
          this.#onHeaders(side, f.streamId, block, pending.endStream, {
            ...f,
            payload: new Uint8Array(pending.wire - 9),
          });
        }
        break;
      }
      case FrameType.PUSH_PROMISE: {
        if (side === "client") throw new H2ProtocolError("PUSH_PROMISE from the client");
        // Decode the promised request headers to keep the server's HPACK table in step.
        let p = framePayloadData({ ...f, type: FrameType.DATA });
        p = p.subarray(4);
        if (f.flags & Flag.END_HEADERS) this.#serverHpack.decode(p);
        else throw new Error("PUSH_PROMISE with CONTINUATION is not followed");
        break;
      }
      case FrameType.DATA: {
        if (f.streamId > this.#lastClientStream && f.streamId % 2 === 1) {
          throw new H2ProtocolError(`DATA on idle stream ${f.streamId}`);
        }
        const s = this.#streams.get(f.streamId);
        if (!s) break;
        const data = framePayloadData(f);
        if (side === "client") {
          s.ex.requestBody.add(data);
          s.ex.inputBytes += f.payload.length + 9;
          if (f.flags & Flag.END_STREAM) this.#requestEnded(f.streamId, s);
        } else {
          s.ex.responseBody.add(data);
          s.ex.outputBytes += f.payload.length + 9;
          this.hooks.data?.(s.ex, data);
          if (f.flags & Flag.END_STREAM) this.#complete(f.streamId);
        }
        break;
      }
      case FrameType.RST_STREAM: {
        if (f.streamId > this.#lastClientStream && f.streamId % 2 === 1) {
          throw new H2ProtocolError(`RST_STREAM on idle stream ${f.streamId}`);
        }
        const s = this.#streams.get(f.streamId);
        if (!s) break;
        this.#streams.delete(f.streamId);
        this.onExchange(endExchange(s.ex, `stream reset by ${side} (code ${u32(f.payload, 0)})`));
        this.#countEarlyEnd(s);
        break;
      }
      case FrameType.SETTINGS: {
        if (f.flags & Flag.ACK) break;
        const other = side === "client" ? "server" : "client";
        // Entries of identifier(2) value(4); 0x1 is SETTINGS_HEADER_TABLE_SIZE, which bounds
        // the table of the *other* direction's encoder; 0x5 bounds the other side's frames.
        for (let i = 0; i + 6 <= f.payload.length; i += 6) {
          const id = (f.payload[i] << 8) | f.payload[i + 1];
          const value = u32(f.payload, i + 2);
          if (id === 1) {
            (side === "client" ? this.#serverHpack : this.#clientHpack).allowTableSize(value);
          } else if (id === SETTINGS_ENABLE_PUSH && value > 1) {
            throw new H2ProtocolError(`SETTINGS_ENABLE_PUSH ${value}`);
          } else if (id === SETTINGS_INITIAL_WINDOW && value > 0x7fffffff) {
            throw new H2ProtocolError(`SETTINGS_INITIAL_WINDOW_SIZE ${value} (flow control)`);
          } else if (id === SETTINGS_MAX_FRAME) {
            if (value < DEFAULT_MAX_FRAME || value > 0xffffff) {
              throw new H2ProtocolError(`SETTINGS_MAX_FRAME_SIZE ${value}`);
            }
            this.#maxFrame[other] = value;
          }
        }
        break;
      }
      case FrameType.WINDOW_UPDATE: {
        if (f.streamId > this.#lastClientStream && f.streamId % 2 === 1) {
          throw new H2ProtocolError(`WINDOW_UPDATE on idle stream ${f.streamId}`);
        }
        const s = this.#streams.get(f.streamId);
        if (s && (u32(f.payload, 0) & 0x7fffffff) === 0) {
          this.#malformed(f.streamId, s, `stream: ${side} WINDOW_UPDATE with increment 0`);
        }
        break;
      }
      case FrameType.PRIORITY: {
        // A stream that depends on itself is a stream error (RFC 9113 §5.3.1).
        const s = this.#streams.get(f.streamId);
        if (s && (u32(f.payload, 0) & 0x7fffffff) === f.streamId) {
          this.#malformed(f.streamId, s, `stream: ${side} PRIORITY depends on itself`);
        }
        break;
      }
      case FrameType.GOAWAY:
      case FrameType.PING:
      default:
        break;
    }
  }

  /** A client HEADERS that opens a stream: odd, and above every stream it opened before. */
  #checkNewStream(streamId: number) {
    if (streamId % 2 === 0) throw new H2ProtocolError(`client opened even stream ${streamId}`);
    if (streamId <= this.#lastClientStream && !this.#untrackedOpen) {
      throw new H2ProtocolError(`stream ${streamId} opened after ${this.#lastClientStream}`);
    }
    this.#lastClientStream = Math.max(this.#lastClientStream, streamId);
  }

  /** A stream that ends (reset, or found malformed) soon after it began counts toward rapid reset. */
  #countEarlyEnd(s: StreamState) {
    if (performance.now() - s.startedMs >= H2_SNIFF_LIMITS.rapidResetWindowMs) return;
    this.#earlyResets++;
    if (
      this.#streamsSeen >= H2_SNIFF_LIMITS.rapidResetMinStreams &&
      this.#earlyResets * 2 > this.#streamsSeen
    ) {
      throw new SniffLimitError(
        `rapid reset: ${this.#earlyResets} of ${this.#streamsSeen} streams reset within ${H2_SNIFF_LIMITS.rapidResetWindowMs} ms`,
      );
    }
  }

  /**
   * A malformed stream (RFC 9113 §8.1.1): its peer must reset it, so it is recorded now with
   * why, and no longer followed. It counts toward rapid reset like a reset does (Envoy's
   * advisory: local resets are as cheap a flood as client resets).
   */
  #malformed(streamId: number, s: StreamState, why: string) {
    this.#streams.delete(streamId);
    this.onExchange(endExchange(s.ex, `http2: malformed ${why}`));
    this.#countEarlyEnd(s);
  }

  /** The request's END_STREAM: its DATA must add up to its content-length (§8.1.1). */
  #requestEnded(streamId: number, s: StreamState) {
    s.requestDone = true;
    const declared = declaredLength(s.ex.requestHeaders);
    const got = s.ex.requestBody.total;
    if (declared !== undefined && declared !== got) {
      this.#malformed(streamId, s, `request: content-length ${declared} but ${got} bytes of DATA`);
    }
  }

  #onHeaders(
    side: "client" | "server",
    streamId: number,
    block: Uint8Array,
    endStream: boolean,
    f: H2Frame,
  ) {
    const fields = (side === "client" ? this.#clientHpack : this.#serverHpack).decode(block);
    const wire = f.payload.length + 9;
    if (side === "client") {
      const existing = this.#streams.get(streamId);
      if (existing) {
        // Request trailers: they end the stream and carry no pseudo-headers.
        existing.ex.inputBytes += wire;
        const problem = !endStream
          ? "request: second HEADERS without END_STREAM"
          : malformedSection(fields, "trailers");
        if (!endStream) this.#malformed(streamId, existing, problem!);
        else if (problem) this.#malformed(streamId, existing, `request trailers: ${problem}`);
        else this.#requestEnded(streamId, existing);
        return;
      }
      this.#streamsSeen++;
      if (this.#streams.size >= H2_SNIFF_LIMITS.maxTrackedStreams) {
        this.#untrackedOpen = true;
        return;
      }
      const pseudo = (name: string) => fields.find(([n]) => n === name)?.[1] ?? "";
      const ex = newExchange(this.capture, {
        proto: "HTTP/2.0",
        method: pseudo(":method"),
        uri: pseudo(":path"),
        scheme: pseudo(":scheme") || this.defaultScheme,
        authority: pseudo(":authority") || fields.find(([n]) => n === "host")?.[1] || "",
        requestHeaders: fields.filter(([n]) => !n.startsWith(":")),
      });
      ex.inputBytes += wire;
      const s: StreamState = {
        ex,
        requestDone: false,
        startedMs: performance.now(),
        responseHead: false,
      };
      this.#streams.set(streamId, s);
      const problem = malformedSection(fields, "request");
      if (problem) this.#malformed(streamId, s, `request: ${problem}`);
      else if (endStream) this.#requestEnded(streamId, s);
      return;
    }
    const s = this.#streams.get(streamId);
    if (!s) return;
    s.ex.outputBytes += wire;
    if (s.responseHead) {
      // Response trailers.
      const problem = malformedSection(fields, "trailers");
      if (!endStream) this.#malformed(streamId, s, "response: second HEADERS without END_STREAM");
      else if (problem) this.#malformed(streamId, s, `response trailers: ${problem}`);
      else {
        s.ex.responseTrailers = fields;
        this.#complete(streamId);
      }
      return;
    }
    const problem = malformedSection(fields, "response");
    if (problem) return this.#malformed(streamId, s, `response: ${problem}`);
    const status = Number(fields.find(([n]) => n === ":status")?.[1] ?? 0);
    s.ex.responseMs ||= monotonicMs();
    if (status >= 100 && status < 200) return; // interim response
    s.responseHead = true;
    s.ex.status = status;
    s.ex.responseHeaders = fields.filter(([n]) => !n.startsWith(":"));
    this.hooks.head?.(s.ex);
    if (endStream) this.#complete(streamId);
  }

  /** The response's END_STREAM: the exchange is recorded. */
  #complete(streamId: number) {
    const s = this.#streams.get(streamId);
    if (!s) return;
    const declared = declaredLength(s.ex.responseHeaders ?? []);
    const bodiless = s.ex.method === "HEAD" || s.ex.status === 204 || s.ex.status === 304;
    const got = s.ex.responseBody.total;
    if (declared !== undefined && !bodiless && declared !== got) {
      return this.#malformed(
        streamId,
        s,
        `response: content-length ${declared} but ${got} bytes of DATA`,
      );
    }
    this.#streams.delete(streamId);
    this.onExchange(endExchange(s.ex));
  }
}

const u32 = (b: Uint8Array, at: number) =>
  b.length >= at + 4
    ? ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0
    : -1;

/**
 * Frame-level rules (RFC 9113 §6) that make a connection error whatever the stream state:
 * sizes over the receiver's SETTINGS_MAX_FRAME_SIZE, fixed-length frames of the wrong
 * length, frames on the wrong stream.
 */
function checkFrame(side: "client" | "server", f: H2Frame, maxFrame: number): void {
  const len = f.payload.length;
  const fail = (why: string) => {
    throw new H2ProtocolError(`${side} ${FRAME_NAMES[f.type] ?? `frame ${f.type}`} ${why}`);
  };
  if (len > maxFrame) fail(`of ${len} bytes over SETTINGS_MAX_FRAME_SIZE ${maxFrame}`);
  switch (f.type) {
    case FrameType.DATA:
    case FrameType.HEADERS:
    case FrameType.CONTINUATION:
    case FrameType.PUSH_PROMISE:
      if (f.streamId === 0) fail("on stream 0");
      break;
    case FrameType.PRIORITY:
      if (f.streamId === 0) fail("on stream 0");
      if (len !== 5) fail(`of length ${len}`);
      break;
    case FrameType.RST_STREAM:
      if (f.streamId === 0) fail("on stream 0");
      if (len !== 4) fail(`of length ${len}`);
      break;
    case FrameType.SETTINGS:
      if (f.streamId !== 0) fail(`on stream ${f.streamId}`);
      if (f.flags & Flag.ACK && len !== 0) fail("ACK with a payload");
      if (len % 6) fail(`of length ${len}`);
      break;
    case FrameType.PING:
      if (f.streamId !== 0) fail(`on stream ${f.streamId}`);
      if (len !== 8) fail(`of length ${len}`);
      break;
    case FrameType.GOAWAY:
      if (f.streamId !== 0) fail(`on stream ${f.streamId}`);
      if (len < 8) fail(`of length ${len}`);
      break;
    case FrameType.WINDOW_UPDATE:
      if (len !== 4) fail(`of length ${len}`);
      // On a stream this is a stream error (the sniffer's switch marks the stream).
      if (f.streamId === 0 && (u32(f.payload, 0) & 0x7fffffff) === 0) fail("with increment 0");
      break;
  }
}

const FRAME_NAMES: Record<number, string> = {
  0: "DATA",
  1: "HEADERS",
  2: "PRIORITY",
  3: "RST_STREAM",
  4: "SETTINGS",
  5: "PUSH_PROMISE",
  6: "PING",
  7: "GOAWAY",
  8: "WINDOW_UPDATE",
  9: "CONTINUATION",
};

interface PendingBlock {
  streamId: number;
  parts: Uint8Array[];
  /** Bytes in `parts`, kept as they arrive (summing per frame made 1-byte frames quadratic). */
  size: number;
  endStream: boolean;
  wire: number;
}
