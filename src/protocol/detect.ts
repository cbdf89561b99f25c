/**
 * Protocol detection from the first client bytes (what GOST's `sniffing.Sniff` does, plus
 * the whole HTTP/2 preface): answers null while it needs more bytes.
 *
 *   TLS      16 03 0x ..            handshake record, version 3.1–3.4 (TLS 1.0–1.3)
 *   HTTP/2   "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"   prior-knowledge preface (RFC 9113 §3.4)
 *   HTTP/1   METHOD SP ...          a known method followed by a space
 */
export type Protocol = "tls" | "http" | "h2" | "unknown";

export const H2_PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const METHODS = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "CONNECT",
  "OPTIONS",
  "TRACE",
  "PATCH",
  "PROPFIND",
  "PROPPATCH",
  "MKCOL",
  "COPY",
  "MOVE",
  "LOCK",
  "UNLOCK",
  "REPORT",
  "SEARCH",
]);
const MAX_METHOD = 10;

export function detectProtocol(b: Uint8Array): Protocol | null {
  if (b.length === 0) return null;
  if (b[0] === 0x16) {
    if (b.length < 3) return null;
    return b[1] === 0x03 && b[2] >= 0x01 && b[2] <= 0x04 ? "tls" : "unknown";
  }
  // The HTTP/2 preface starts like an HTTP/1 request ("PRI * HTTP/2.0"): check it first.
  const preface = Math.min(b.length, H2_PREFACE.length);
  let isPrefacePrefix = true;
  for (let i = 0; i < preface; i++) {
    if (b[i] !== H2_PREFACE.charCodeAt(i)) {
      isPrefacePrefix = false;
      break;
    }
  }
  if (isPrefacePrefix) return b.length >= H2_PREFACE.length ? "h2" : null;
  for (let i = 0; i < Math.min(b.length, MAX_METHOD + 1); i++) {
    const c = b[i];
    if (c === 0x20) {
      return METHODS.has(String.fromCharCode(...b.subarray(0, i))) ? "http" : "unknown";
    }
    if (c < 0x41 || c > 0x5a) return "unknown";
  }
  return b.length > MAX_METHOD ? "unknown" : null;
}
