import hpack from "hpack.js";
import type { Buffer } from "node:buffer";
import { concat } from "./chunks.ts";

/** An HTTP/2 frame (RFC 9113 §4.1): length(24) type(8) flags(8) R|stream(31) payload. */
export function frame(
  type: number,
  flags: number,
  stream: number,
  payload: Uint8Array,
): Uint8Array {
  const h = Uint8Array.of(
    payload.length >> 16,
    (payload.length >> 8) & 0xff,
    payload.length & 0xff,
    type,
    flags,
    stream >>> 24,
    (stream >> 16) & 0xff,
    (stream >> 8) & 0xff,
    stream & 0xff,
  );
  return concat([h, payload]);
}

/** An HPACK encoder with its own dynamic table (hpack.js), for well-formed blocks. */
export function encoder() {
  const c = hpack.compressor.create({ table: { size: 4096 } });
  return (headers: [string, string][]) => {
    c.write(headers.map(([name, value]) => ({ name, value })));
    return new Uint8Array(c.read() as Buffer);
  };
}

/**
 * A header block of literal fields without indexing and without Huffman (RFC 7541 §6.2.2):
 * `0x00 | name length | name | value length | value`, names and values sent exactly as
 * given (uppercase, CR, NUL…), so malformed fields reach the decoder untouched.
 */
export function literalBlock(fields: [string, string][]): Uint8Array {
  const out: number[] = [];
  const str = (s: string) => {
    const b = [...s].map((c) => c.charCodeAt(0));
    if (b.length > 126) throw new Error("literalBlock: strings up to 126 bytes");
    out.push(b.length, ...b);
  };
  for (const [name, value] of fields) {
    out.push(0x00);
    str(name);
    str(value);
  }
  return Uint8Array.from(out);
}

export const GET = (path: string): [string, string][] => [
  [":method", "GET"],
  [":scheme", "http"],
  [":authority", "a.test"],
  [":path", path],
];

/** A header block as HEADERS + CONTINUATION frames of at most 16,384 bytes each. */
export function headerFrames(stream: number, block: Uint8Array, endStream = true): Uint8Array {
  const max = 16384;
  const parts: Uint8Array[] = [];
  for (let at = 0; at === 0 || at < block.length; at += max) {
    const last = at + max >= block.length;
    const flags = (last ? 0x4 : 0) | (at === 0 && endStream ? 0x1 : 0);
    parts.push(frame(at === 0 ? 1 : 9, flags, stream, block.subarray(at, at + max)));
  }
  return concat(parts);
}
