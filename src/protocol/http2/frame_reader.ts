import { SniffLimitError } from "../limit_error.ts";

/**
 * HTTP/2 frame reader (RFC 9113 §4.1), incremental:
 *
 *   +-----------------------------------------------+
 *   |                 Length (24)                   |
 *   +---------------+---------------+---------------+
 *   |   Type (8)    |   Flags (8)   |
 *   +-+-------------+---------------+-------------------------------+
 *   |R|                 Stream Identifier (31)                      |
 *   +=+=============================================================+
 *   |                   Frame Payload (0...)                      ...
 */
export const FrameType = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 };

export interface H2Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Uint8Array;
}

/**
 * The largest frame the sniffer buffers. HTTP/2 allows up to 2^24-1 once a peer raises
 * SETTINGS_MAX_FRAME_SIZE from its 16 KiB default; 1 MiB covers the peers that do (Go reads
 * up to 1 MiB) and keeps a hostile length from costing 16 MiB per connection.
 */
export const MAX_SNIFFED_FRAME = 1024 * 1024;

export class H2FrameReader {
  #header = new Uint8Array(9);
  #headerLen = 0;
  #payload: Uint8Array | null = null;
  #filled = 0;
  #frame: Omit<H2Frame, "payload"> | null = null;
  #prefaceLeft: number;

  /** `skipPreface` bytes are dropped first (the client's 24-byte connection preface). */
  constructor(skipPreface = 0, readonly maxFrame = MAX_SNIFFED_FRAME) {
    this.#prefaceLeft = skipPreface;
  }

  push(chunk: Uint8Array, onFrame: (f: H2Frame) => void): void {
    let i = 0;
    if (this.#prefaceLeft > 0) {
      const skip = Math.min(this.#prefaceLeft, chunk.length);
      this.#prefaceLeft -= skip;
      i = skip;
    }
    while (i < chunk.length) {
      if (!this.#frame) {
        const take = Math.min(9 - this.#headerLen, chunk.length - i);
        this.#header.set(chunk.subarray(i, i + take), this.#headerLen);
        this.#headerLen += take;
        i += take;
        if (this.#headerLen < 9) return;
        const h = this.#header;
        const length = (h[0] << 16) | (h[1] << 8) | h[2];
        if (length > this.maxFrame) {
          throw new SniffLimitError(
            `frame of ${length} bytes is over the ${this.maxFrame} byte limit`,
          );
        }
        this.#frame = {
          type: h[3],
          flags: h[4],
          streamId: ((h[5] & 0x7f) << 24 | h[6] << 16 | h[7] << 8 | h[8]) >>> 0,
        };
        this.#payload = new Uint8Array(length);
        this.#filled = 0;
      }
      const payload = this.#payload!;
      const take = Math.min(payload.length - this.#filled, chunk.length - i);
      payload.set(chunk.subarray(i, i + take), this.#filled);
      this.#filled += take;
      i += take;
      if (this.#filled === payload.length) {
        const f = { ...this.#frame!, payload };
        this.#frame = null;
        this.#headerLen = 0;
        this.#payload = null;
        onFrame(f);
      }
    }
  }
}

/** Strips padding (and the priority block of HEADERS) from a frame payload. */
export function framePayloadData(f: H2Frame): Uint8Array {
  let p = f.payload;
  let pad = 0;
  if (f.flags & Flag.PADDED) {
    if (p.length < 1) throw new RangeError("padded frame without pad length");
    pad = p[0];
    p = p.subarray(1);
  }
  if (f.type === FrameType.HEADERS && f.flags & Flag.PRIORITY) p = p.subarray(5);
  if (pad > p.length) throw new RangeError("padding longer than the frame");
  return p.subarray(0, p.length - pad);
}
