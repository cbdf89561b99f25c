/**
 * TLS client fingerprints from a ClientHello's raw bytes: JA3 (Salesforce) and JA4 (FoxIO).
 *
 * The input is what snoop keeps as `tls.clientHello`: the TLS records that carried the hello
 *   type(1)=22 | legacy_version(2) | length(2) | fragment      (repeated)
 * whose fragments concatenate into the handshake message
 *   msg_type(1)=1 | length(3) | ClientHello body
 * (a bare handshake message, starting with msg_type 1, is taken too). The body (RFC 8446
 * §4.1.2) is
 *   legacy_version(2) random(32) session_id<0..32> cipher_suites<2..2^16-2>
 *   compression_methods<1..2^8-1> extensions<0..2^16-1>
 * and each extension is type(2) | length(2) | data.
 *
 * JA3 = "SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats": decimal
 * values joined by "-", GREASE values (RFC 8701) left out, and its MD5 in hex.
 *
 * JA4 = a_b_c with
 *   a: "t" (TLS over TCP) + version ("13", "12", …: the highest supported_versions entry,
 *      else legacy_version) + "d" (an SNI) or "i" (none) + two-digit cipher count +
 *      two-digit extension count (GREASE left out, at most 99) + the first and last
 *      character of the first ALPN value ("00" when none; the hex digits when either end
 *      is not an ASCII letter or digit)
 *   b: the first 12 hex of SHA-256 over the ciphers as 4-digit hex, sorted, ","-joined
 *   c: the first 12 hex of SHA-256 over the extensions as 4-digit hex, sorted, without SNI
 *      (0000) and ALPN (0010), then "_" and the signature_algorithms in their order (the
 *      "_" and list only when there are some)
 * b or c is "000000000000" when its list is empty.
 */

import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { isGrease, MAX_HELLO_BYTES } from "./hello.ts";
import { wholeString } from "../../util/text.ts";

export interface TlsFingerprint {
  /** JA3's MD5, 32 hex digits. */
  ja3: string;
  /** The JA3 string the MD5 is taken of. */
  ja3String: string;
  /** JA4, e.g. `t13d1516h2_8daaf6152771_e5627efa2ab1`. */
  ja4: string;
  /** JA4 with the lists in clear (JA4_r), for explaining a fingerprint. */
  ja4Raw: string;
}

interface HelloFields {
  legacyVersion: number;
  ciphers: number[];
  /** Extension types in the order sent, GREASE included. */
  extensions: number[];
  groups: number[];
  pointFormats: number[];
  signatureAlgorithms: number[];
  supportedVersions: number[];
  /** The first ALPN protocol's bytes, or null when there is no ALPN list. */
  firstAlpn: Uint8Array | null;
}

class Reader {
  off = 0;
  constructor(readonly b: Uint8Array) {}
  need(n: number) {
    if (this.off + n > this.b.length) throw new RangeError("ClientHello field past its end");
  }
  u8(): number {
    this.need(1);
    return this.b[this.off++];
  }
  u16(): number {
    this.need(2);
    const v = (this.b[this.off] << 8) | this.b[this.off + 1];
    this.off += 2;
    return v;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    return this.b.subarray(this.off, this.off += n);
  }
  get left() {
    return this.b.length - this.off;
  }
}

/** The handshake message the records carry (or the input itself when it is one). */
function handshakeBytes(raw: Uint8Array): Uint8Array {
  if (raw[0] === 1) return raw;
  if (raw[0] !== 22) throw new RangeError("not a TLS handshake record");
  const out = new Uint8Array(raw.length);
  let len = 0;
  const r = new Reader(raw);
  while (r.left >= 5) {
    if (r.u8() !== 22) break; // the hello ended; what follows is not ours
    r.u16();
    const frag = r.bytes(Math.min(r.u16(), r.left));
    out.set(frag, len);
    len += frag.length;
  }
  return out.subarray(0, len);
}

function u16List(d: Reader, lengthBytes: 1 | 2): number[] {
  const list = new Reader(d.bytes(lengthBytes === 1 ? d.u8() : d.u16()));
  const out: number[] = [];
  while (list.left >= 2) out.push(list.u16());
  return out;
}

function readHello(raw: Uint8Array): HelloFields {
  const hs = new Reader(handshakeBytes(raw));
  if (hs.u8() !== 1) throw new RangeError("not a ClientHello");
  const len = (hs.u8() << 16) | hs.u16();
  const c = new Reader(hs.bytes(Math.min(len, hs.left)));
  const f: HelloFields = {
    legacyVersion: c.u16(),
    ciphers: [],
    extensions: [],
    groups: [],
    pointFormats: [],
    signatureAlgorithms: [],
    supportedVersions: [],
    firstAlpn: null,
  };
  c.bytes(32);
  c.bytes(c.u8());
  const suites = new Reader(c.bytes(c.u16()));
  while (suites.left >= 2) f.ciphers.push(suites.u16());
  c.bytes(c.u8());
  if (c.left < 2) return f; // no extensions block (SSL 3.0, TLS 1.0 era hellos)
  const exts = new Reader(c.bytes(c.u16()));
  while (exts.left >= 4) {
    const type = exts.u16();
    const d = new Reader(exts.bytes(exts.u16()));
    f.extensions.push(type);
    try {
      if (type === 10) f.groups = u16List(d, 2);
      else if (type === 11) f.pointFormats = [...d.bytes(d.u8())];
      else if (type === 13) f.signatureAlgorithms = u16List(d, 2);
      else if (type === 43) f.supportedVersions = u16List(d, 1);
      else if (type === 16) {
        const list = new Reader(d.bytes(d.u16()));
        f.firstAlpn = list.left > 0 ? list.bytes(list.u8()) : new Uint8Array(0);
      }
    } catch {
      // A malformed extension body: its type still counts; its values are left out.
    }
  }
  return f;
}

const hex4 = (v: number) => v.toString(16).padStart(4, "0");
const sha12 = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 12);
const count2 = (n: number) => String(Math.min(n, 99)).padStart(2, "0");
const noGrease = (list: number[]) => list.filter((v) => !isGrease(v));

const VERSIONS: Record<number, string> = {
  0x0304: "13",
  0x0303: "12",
  0x0302: "11",
  0x0301: "10",
  0x0300: "s3",
  0x0002: "s2",
  0xfeff: "d1",
  0xfefd: "d2",
  0xfefc: "d3",
};

const isAlnum = (b: number) =>
  (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);

/** JA4's two ALPN characters from the first protocol's bytes. */
function alpnChars(p: Uint8Array | null): string {
  if (!p || p.length === 0) return "00";
  const first = p[0], last = p[p.length - 1];
  if (isAlnum(first) && isAlnum(last)) return String.fromCharCode(first, last);
  return first.toString(16).padStart(2, "0")[0] + last.toString(16).padStart(2, "0")[1];
}

/** JA3 and JA4 of a ClientHello; throws RangeError when the bytes are not one. */
export function fingerprint(raw: Uint8Array): TlsFingerprint {
  const f = readHello(raw);
  const ciphers = noGrease(f.ciphers);
  const extensions = noGrease(f.extensions);

  const ja3String = [
    String(f.legacyVersion),
    ciphers.join("-"),
    extensions.join("-"),
    noGrease(f.groups).join("-"),
    f.pointFormats.join("-"),
  ].join(",");

  const versions = noGrease(f.supportedVersions);
  const version = versions.length ? Math.max(...versions) : f.legacyVersion;
  const a = `t${VERSIONS[version] ?? "00"}${extensions.includes(0) ? "d" : "i"}${
    count2(ciphers.length)
  }${count2(extensions.length)}${alpnChars(f.firstAlpn)}`;
  const cipherList = ciphers.map(hex4).sort().join(",");
  const extList = extensions.filter((e) => e !== 0 && e !== 16).map(hex4).sort().join(",");
  const sigs = noGrease(f.signatureAlgorithms).map(hex4).join(",");
  const cText = sigs ? `${extList}_${sigs}` : extList;
  return {
    ja3: createHash("md5").update(ja3String).digest("hex"),
    ja3String,
    ja4: `${a}_${cipherList ? sha12(cipherList) : "000000000000"}_${
      extList ? sha12(cText) : "000000000000"
    }`,
    ja4Raw: `${a}_${cipherList}_${cText}`,
  };
}

/**
 * The fingerprint of a record's `tls.clientHello` hex, or null when it is empty, too long,
 * not hex, or not a ClientHello (a record from elsewhere may carry anything).
 */
export function fingerprintHex(hex: unknown): TlsFingerprint | null {
  if (typeof hex !== "string" || hex.length < 10 || hex.length > MAX_HELLO_BYTES * 2) return null;
  if (hex.length % 2 || !/^[0-9a-fA-F]+$/.test(hex)) return null;
  try {
    return fingerprint(Uint8Array.from(Buffer.from(hex, "hex")));
  } catch {
    return null;
  }
}

/** The fields snoop adds to a record's `tls` object for a ClientHello. */
export function fingerprintFields(
  raw: Uint8Array,
): { ja3: string; ja3String: string; ja4: string } | Record<string, never> {
  try {
    const { ja3, ja3String, ja4 } = fingerprint(raw);
    // Built by concatenation: flat strings keep the record on JSON.stringify's fast path.
    return { ja3, ja3String: wholeString(ja3String), ja4: wholeString(ja4) };
  } catch {
    return {};
  }
}
