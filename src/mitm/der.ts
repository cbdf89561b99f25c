/**
 * The little DER (ITU-T X.690) a leaf certificate needs: reading the children of a
 * SEQUENCE, and writing TLVs, positive INTEGERs, times and ECDSA signatures.
 *
 *   tag(1) | length: < 0x80 in one byte, else 0x80|n then n big-endian bytes | value
 */

/** One element: where its value starts and ends in the buffer it was read from. */
export interface Tlv {
  tag: number;
  start: number;
  valueStart: number;
  end: number;
}

/** Reads the element at `at`. */
export function readTlv(b: Uint8Array, at: number): Tlv {
  const tag = b[at];
  let len = b[at + 1];
  let valueStart = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new RangeError("DER: unsupported length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[at + 2 + i];
    valueStart += n;
  }
  const end = valueStart + len;
  if (end > b.length) throw new RangeError("DER: element runs past the end");
  return { tag, start: at, valueStart, end };
}

/** The elements inside a constructed element (a SEQUENCE, a [n] wrapper). */
export function children(b: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.valueStart; at < parent.end;) {
    const t = readTlv(b, at);
    out.push(t);
    at = t.end;
  }
  return out;
}

export const bytesOf = (b: Uint8Array, t: Tlv) => b.subarray(t.start, t.end);

function lengthBytes(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}

export function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const len = parts.reduce((n, p) => n + p.length, 0);
  const head = [tag, ...lengthBytes(len)];
  const out = new Uint8Array(head.length + len);
  out.set(head);
  let at = head.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const sequence = (...parts: Uint8Array[]) => tlv(0x30, ...parts);

/** An unsigned big-endian number as a DER INTEGER: minimal, with a 0x00 if the top bit is set. */
export function positiveInteger(value: Uint8Array): Uint8Array {
  let i = 0;
  while (i < value.length - 1 && value[i] === 0) i++;
  const v = value.subarray(i);
  return v[0] & 0x80 ? tlv(0x02, Uint8Array.of(0), v) : tlv(0x02, v);
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, both to the second. */
export function time(ms: number): Uint8Array {
  const iso = new Date(ms).toISOString(); // 2026-11-27T19:34:48.123Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, "") + "Z"; // 20261127193448Z
  const year = Number(iso.slice(0, 4));
  return year < 2050
    ? tlv(0x17, new TextEncoder().encode(digits.slice(2)))
    : tlv(0x18, new TextEncoder().encode(digits));
}

/** WebCrypto's ECDSA signature (r || s, IEEE P1363) as X.509 wants it: SEQUENCE { r, s }. */
export function ecdsaSignatureToDer(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  return sequence(positiveInteger(raw.subarray(0, half)), positiveInteger(raw.subarray(half)));
}
