/**
 * Builds TLS ClientHellos field by field (RFC 8446 §4.1.2), so catalogue tests can break
 * one field at a time. Defaults give a valid TLS 1.3 hello for example.com offering h2.
 */

export interface HelloParts {
  recordVersion?: number;
  legacyVersion?: number;
  sessionId?: Uint8Array;
  suites?: number[];
  /** Overrides the cipher_suites length prefix (for odd or mismatched lengths). */
  suitesLength?: number;
  compression?: number[];
  /** null: no extensions block at all (TLS 1.0 style). */
  extensions?: [number, Uint8Array][] | null;
  /** Bytes after the extensions block, inside the handshake message. */
  trailing?: Uint8Array;
  /** Largest fragment per TLS record. */
  fragment?: number;
}

const u16 = (n: number) => [n >> 8 & 0xff, n & 0xff];
const u24 = (n: number) => [n >> 16 & 0xff, n >> 8 & 0xff, n & 0xff];
const bytes = (s: string) => [...new TextEncoder().encode(s)];

/** server_name extension data with one host_name entry per name (raw bytes allowed). */
export function sniData(...names: (string | number[])[]): Uint8Array {
  const entries = names.flatMap((n) => {
    const b = typeof n === "string" ? bytes(n) : n;
    return [0, ...u16(b.length), ...b];
  });
  return Uint8Array.from([...u16(entries.length), ...entries]);
}

/** ALPN extension data. */
export function alpnData(...protocols: (string | number[])[]): Uint8Array {
  const list = protocols.flatMap((p) => {
    const b = typeof p === "string" ? bytes(p) : p;
    return [b.length, ...b];
  });
  return Uint8Array.from([...u16(list.length), ...list]);
}

/** supported_versions extension data (ClientHello form: a one-byte length). */
export function versionsData(...versions: number[]): Uint8Array {
  return Uint8Array.from([versions.length * 2, ...versions.flatMap(u16)]);
}

export const defaultExtensions = (): [number, Uint8Array][] => [
  [0, sniData("example.com")],
  [16, alpnData("h2", "http/1.1")],
  [43, versionsData(0x0304, 0x0303)],
];

export function clientHelloRecords(parts: HelloParts = {}): Uint8Array {
  const sessionId = parts.sessionId ?? new Uint8Array(32).fill(7);
  const suites = parts.suites ?? [0x1301, 0x1302, 0xc02f];
  const compression = parts.compression ?? [0];
  const extensions = parts.extensions === undefined ? defaultExtensions() : parts.extensions;
  const body = [
    ...u16(parts.legacyVersion ?? 0x0303),
    ...new Uint8Array(32).fill(1),
    sessionId.length,
    ...sessionId,
    ...u16(parts.suitesLength ?? suites.length * 2),
    ...suites.flatMap(u16),
    compression.length,
    ...compression,
  ];
  if (extensions) {
    const block = extensions.flatMap((
      [type, data],
    ) => [...u16(type), ...u16(data.length), ...data]);
    body.push(...u16(block.length), ...block);
  }
  if (parts.trailing) body.push(...parts.trailing);
  const handshake = [1, ...u24(body.length), ...body];
  return records(handshake, parts.recordVersion ?? 0x0301, parts.fragment ?? 16384);
}

/** Wraps handshake bytes in handshake records (type 22) of at most `fragment` bytes each. */
export function records(handshake: number[], version = 0x0301, fragment = 16384): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < handshake.length; i += fragment) {
    const part = handshake.slice(i, i + fragment);
    out.push(22, ...u16(version), ...u16(part.length), ...part);
  }
  return Uint8Array.from(out);
}
