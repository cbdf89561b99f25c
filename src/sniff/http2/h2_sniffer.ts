import type { BodyCaptureOptions } from "../../recorder/sink.ts";
import { endExchange, type HttpExchange, newExchange } from "../exchange.ts";
import { H2_PREFACE } from "../detect.ts";
import { Flag, framePayloadData, FrameType, type H2Frame, H2FrameReader } from "./frame_reader.ts";
import { HpackDecoder } from "./hpack_decoder.ts";
import { SniffLimitError } from "../limit_error.ts";

interface StreamState {
  ex: HttpExchange;
  requestDone: boolean;
  startedMs: number;
}

/**
 * Limits that keep a hostile peer from making the sniffer grow (reliability-limits §0, §6.3).
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
  ) {}

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
      throw new Error("expected CONTINUATION");
    }
    switch (f.type) {
      case FrameType.HEADERS: {
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
        if (!pending || pending.streamId !== f.streamId) throw new Error("unexpected CONTINUATION");
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
        // Decode the promised request headers to keep the server's HPACK table in step.
        let p = framePayloadData({ ...f, type: FrameType.DATA });
        p = p.subarray(4);
        if (f.flags & Flag.END_HEADERS) this.#serverHpack.decode(p);
        else throw new Error("PUSH_PROMISE with CONTINUATION is not followed");
        break;
      }
      case FrameType.DATA: {
        const s = this.#streams.get(f.streamId);
        if (!s) break;
        const data = framePayloadData(f);
        if (side === "client") {
          s.ex.requestBody.add(data);
          s.ex.inputBytes += f.payload.length + 9;
          if (f.flags & Flag.END_STREAM) s.requestDone = true;
        } else {
          s.ex.responseBody.add(data);
          s.ex.outputBytes += f.payload.length + 9;
          if (f.flags & Flag.END_STREAM) this.#complete(f.streamId);
        }
        break;
      }
      case FrameType.RST_STREAM: {
        const s = this.#streams.get(f.streamId);
        if (!s) break;
        const code = f.payload.length >= 4
          ? ((f.payload[0] << 24) | (f.payload[1] << 16) | (f.payload[2] << 8) | f.payload[3]) >>> 0
          : -1;
        this.#streams.delete(f.streamId);
        this.onExchange(endExchange(s.ex, `stream reset by ${side} (code ${code})`));
        if (performance.now() - s.startedMs < H2_SNIFF_LIMITS.rapidResetWindowMs) {
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
        break;
      }
      case FrameType.SETTINGS: {
        if (f.flags & Flag.ACK) break;
        // Entries of identifier(2) value(4); 0x1 is SETTINGS_HEADER_TABLE_SIZE, which bounds
        // the table of the *other* direction's encoder.
        for (let i = 0; i + 6 <= f.payload.length; i += 6) {
          const id = (f.payload[i] << 8) | f.payload[i + 1];
          const value =
            ((f.payload[i + 2] << 24) | (f.payload[i + 3] << 16) | (f.payload[i + 4] << 8) |
              f.payload[i + 5]) >>> 0;
          if (id === 1) {
            (side === "client" ? this.#serverHpack : this.#clientHpack).allowTableSize(value);
          }
        }
        break;
      }
      case FrameType.GOAWAY:
      case FrameType.PING:
      case FrameType.PRIORITY:
      case FrameType.WINDOW_UPDATE:
      default:
        break;
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
        // Request trailers.
        existing.ex.inputBytes += wire;
        if (endStream) existing.requestDone = true;
        return;
      }
      this.#streamsSeen++;
      if (this.#streams.size >= H2_SNIFF_LIMITS.maxTrackedStreams) return;
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
      this.#streams.set(streamId, { ex, requestDone: endStream, startedMs: performance.now() });
      return;
    }
    const s = this.#streams.get(streamId);
    if (!s) return;
    s.ex.outputBytes += wire;
    const status = Number(fields.find(([n]) => n === ":status")?.[1] ?? 0);
    if (status >= 100 && status < 200) return; // interim response
    if (s.ex.responseHeaders === null) {
      s.ex.status = status;
      s.ex.responseHeaders = fields.filter(([n]) => !n.startsWith(":"));
    }
    if (endStream) this.#complete(streamId);
  }

  #complete(streamId: number) {
    const s = this.#streams.get(streamId);
    if (!s) return;
    this.#streams.delete(streamId);
    this.onExchange(endExchange(s.ex));
  }
}

interface PendingBlock {
  streamId: number;
  parts: Uint8Array[];
  /** Bytes in `parts`, kept as they arrive (summing per frame made 1-byte frames quadratic). */
  size: number;
  endStream: boolean;
  wire: number;
}
