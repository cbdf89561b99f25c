/** Ways to cut a fixture into chunks, so parsers are tested on every split. */

export function* everySplit(bytes: Uint8Array): Generator<Uint8Array[]> {
  yield [bytes];
  yield [...bytes].map((b) => Uint8Array.of(b));
  for (let i = 1; i < bytes.length; i++) yield [bytes.subarray(0, i), bytes.subarray(i)];
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** One byte per character (latin1), so "\x81" is the byte 0x81. */
export const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
export const text = (b: Uint8Array) => String.fromCharCode(...b);
