/**
 * WebSocket frame reader for the sniffer (RFC 6455 §5.2), incremental over a copy of
 * the stream:
 *
 *    0                   1                   2                   3
 *   |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
 *   |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
 *   |N|V|V|V|       |S|             |   (if payload len==126/127)   |
 *   | |1|2|3|       |K|             |                               |
 *   |     Masking-key (0 or 4 bytes)     |     Payload Data ...     |
 *
 * Payload bytes are kept as sent (still masked, as GOST records them), up to `maxPayload`.
 */
export interface WsFrame {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
  /** The 4 mask bytes read little-endian (GOST's `maskKey`). */
  maskKey: number;
  length: number;
  /** Header plus payload bytes on the wire. */
  wireLength: number;
  payload: Uint8Array;
}

export class WsFrameParser {
  #header = new Uint8Array(14);
  #headerLen = 0;
  #frame: WsFrame | null = null;
  #remaining = 0;
  #parts: Uint8Array[] = [];
  #kept = 0;

  constructor(readonly maxPayload: number) {}

  /** Feeds bytes; calls `onFrame` for every frame completed by them. */
  push(chunk: Uint8Array, onFrame: (f: WsFrame) => void): void {
    let i = 0;
    while (i < chunk.length) {
      if (!this.#frame) {
        this.#header[this.#headerLen++] = chunk[i++];
        const need = this.#neededHeader();
        if (need === null || this.#headerLen < need) continue;
        this.#startFrame(need);
        if (this.#remaining === 0) this.#finish(onFrame);
        continue;
      }
      const n = Math.min(this.#remaining, chunk.length - i);
      if (this.#kept < this.maxPayload) {
        const take = Math.min(n, this.maxPayload - this.#kept);
        this.#parts.push(chunk.slice(i, i + take));
        this.#kept += take;
      }
      i += n;
      this.#remaining -= n;
      if (this.#remaining === 0) this.#finish(onFrame);
    }
  }

  /** Header size once the second byte is known, else null. */
  #neededHeader(): number | null {
    if (this.#headerLen < 2) return null;
    const len7 = this.#header[1] & 0x7f;
    const masked = (this.#header[1] & 0x80) !== 0;
    return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
  }

  #startFrame(headerSize: number) {
    const h = this.#header;
    const masked = (h[1] & 0x80) !== 0;
    let length = h[1] & 0x7f;
    let off = 2;
    if (length === 126) {
      length = (h[2] << 8) | h[3];
      off = 4;
    } else if (length === 127) {
      length = 0;
      for (let k = 2; k < 10; k++) length = length * 256 + h[k];
      off = 10;
    }
    const maskKey = masked
      ? (h[off] | (h[off + 1] << 8) | (h[off + 2] << 16) | (h[off + 3] << 24)) >>> 0
      : 0;
    this.#frame = {
      fin: (h[0] & 0x80) !== 0,
      rsv1: (h[0] & 0x40) !== 0,
      rsv2: (h[0] & 0x20) !== 0,
      rsv3: (h[0] & 0x10) !== 0,
      opcode: h[0] & 0x0f,
      masked,
      maskKey,
      length,
      wireLength: headerSize + length,
      payload: new Uint8Array(0),
    };
    this.#remaining = length;
  }

  #finish(onFrame: (f: WsFrame) => void) {
    const f = this.#frame!;
    if (this.#parts.length === 1) f.payload = this.#parts[0];
    else if (this.#parts.length > 1) {
      f.payload = new Uint8Array(this.#kept);
      let off = 0;
      for (const p of this.#parts) {
        f.payload.set(p, off);
        off += p.length;
      }
    }
    this.#frame = null;
    this.#headerLen = 0;
    this.#parts = [];
    this.#kept = 0;
    onFrame(f);
  }
}

/**
 * Per-direction token bucket (GOST's sample rate): `rate` frames per second, burst
 * ⌊rate⌋ but at least 1 (GOST's burst of 0 for rates under 1 never records anything).
 * A negative rate records every frame.
 */
export class FrameSampler {
  #tokens: number;
  #last = performance.now();
  readonly #burst: number;

  constructor(readonly rate: number) {
    this.#burst = Math.max(1, Math.floor(rate));
    this.#tokens = this.#burst;
  }

  allow(): boolean {
    if (this.rate < 0) return true;
    const now = performance.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.rate);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
