import type { HeaderMap } from "../../record/record.ts";
import { type BodyFraming, trimOWS } from "./parser.ts";
import { isAscii, wholeString } from "../../util/text.ts";

/**
 * Go's `textproto.CanonicalMIMEHeaderKey`: upper-case the first letter and every letter
 * after a hyphen, lower-case the rest (`content-type` → `Content-Type`, `ETag` → `Etag`).
 * Names with characters outside the token set are returned unchanged, as Go does.
 */
export function canonicalHeaderName(name: string): string {
  return isCanonical(name) ? name : canonicalize(name);
}

/** Already canonical (most names on the wire are): nothing to build. */
function isCanonical(name: string): boolean {
  let upper = true;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x20 || c > 0x7e) return true; // returned unchanged anyway
    if (upper ? c >= 0x61 && c <= 0x7a : c >= 0x41 && c <= 0x5a) return false;
    upper = c === 0x2d;
  }
  return true;
}

function canonicalize(name: string): string {
  let out = "";
  let upper = true;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x20 || c > 0x7e) return name;
    const ch = name[i];
    out += upper ? ch.toUpperCase() : ch.toLowerCase();
    upper = ch === "-";
  }
  return out;
}

/**
 * Header fields as Go's `http.Header` after `ReadRequest`: canonical names, values grouped,
 * `Host` moved out (it is `http.host` in the record). `JSON.stringify` of Go's map sorts the
 * keys, so the map is built in sorted order: fields sorted by name (a stable sort keeps the
 * values of one name in their order), then grouped. The values are made whole: the parser's
 * are slices of the head (see `wholeString`).
 */
export function headerMap(fields: [string, string][], dropHost = false): HeaderMap {
  const named: [string, string][] = [];
  for (const [name, value] of fields) {
    const key = canonicalHeaderName(name);
    if (dropHost && key === "Host") continue;
    named.push([key, wholeString(value)]);
  }
  named.sort(byName);
  const out: HeaderMap = {};
  let last = "";
  let values: string[] = [];
  for (const [key, value] of named) {
    if (key === last) values.push(value);
    else out[last = key] = values = [value];
  }
  return out;
}

function byName(a: [string, string], b: [string, string]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/**
 * Fields never forwarded as they came: the hop-by-hop ones (RFC 9110 §7.6.1) plus the proxy
 * ones clients send, and Content-Length: the proxy writes the framing field it framed the
 * body by itself (`framingFields`).
 */
const HOP_BY_HOP = new Set([
  "connection",
  "proxy-connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "content-length",
  "upgrade",
]);

/**
 * Fields a `Connection` option never removes: the parser refuses a message whose
 * `Connection` names Content-Length, Transfer-Encoding or Host, and Upgrade goes or stays
 * by `keepUpgrade` alone, so a listed name cannot take away what frames or routes the
 * message.
 */
const NEVER_CONNECTION_OPTIONS = new Set([
  "content-length",
  "transfer-encoding",
  "host",
  "upgrade",
]);

/**
 * Removes hop-by-hop fields, the framing fields (Content-Length, Transfer-Encoding) and
 * those named in `Connection`, for forwarding; the caller appends `framingFields` for the
 * framing it parsed. Keeps `Upgrade`/`Connection: upgrade` when the request asks to switch
 * protocols.
 */
export function stripHopByHop(
  fields: [string, string][],
  opts: { keepUpgrade: boolean },
): [string, string][] {
  const lowerNames = fields.map(([n]) => n.toLowerCase());
  // Names listed in Connection; none usually, or only "keep-alive"/"close".
  let named: Set<string> | null = null;
  for (let i = 0; i < fields.length; i++) {
    const lower = lowerNames[i];
    if (lower === "connection" || lower === "proxy-connection") {
      for (const t of fields[i][1].split(",")) {
        const option = trimOWS(t).toLowerCase();
        if (!NEVER_CONNECTION_OPTIONS.has(option)) (named ??= new Set()).add(option);
      }
    }
  }
  const out: [string, string][] = [];
  for (let i = 0; i < fields.length; i++) {
    const lower = lowerNames[i];
    if (lower === "upgrade" && opts.keepUpgrade) {
      out.push(fields[i]);
      continue;
    }
    if (HOP_BY_HOP.has(lower) || named?.has(lower)) continue;
    out.push(fields[i]);
  }
  if (opts.keepUpgrade) out.push(["Connection", "Upgrade"]);
  return out;
}

/**
 * The framing field a proxy forwards, written from what it parsed and never copied from the
 * message: `Transfer-Encoding: chunked` for a chunked body (forwarded chunk by chunk as it
 * came), `Content-Length` with the length the body was read by, or the declared length of a
 * message without a body that still states one (a HEAD or 304 response, a `POST` with
 * `Content-Length: 0`). A close-delimited response has none. 1xx and 204 responses never
 * carry one (RFC 9110 §8.6).
 */
export function framingFields(
  framing: BodyFraming,
  length: number,
  declaredLength: number | null,
  status = 0,
): [string, string][] {
  switch (framing) {
    case "chunked":
      return [["Transfer-Encoding", "chunked"]];
    case "length":
      return [["Content-Length", String(length)]];
    case "close":
      return [];
    case "none":
      if (declaredLength === null || (status >= 100 && status < 200) || status === 204) {
        return [];
      }
      return [["Content-Length", String(declaredLength)]];
  }
}

const encoder = new TextEncoder();

/**
 * A message head as text: start line, fields, the empty line. Its characters are bytes:
 * the parser reads heads as Latin-1, so a field value's obs-text (0x80–0xFF) is one char.
 */
export function headText(startLine: string, fields: [string, string][]): string {
  let s = startLine + "\r\n";
  for (const [n, v] of fields) s += `${n}: ${v}\r\n`;
  return s + "\r\n";
}

/**
 * Writes `text` at `at` one byte per char (Latin-1), so header bytes leave as they came in;
 * UTF-8 would turn an 0xE9 in a value into C3 A9.
 */
export function writeLatin1(text: string, out: Uint8Array, at: number): void {
  if (isAscii(text)) {
    encoder.encodeInto(text, out.subarray(at, at + text.length));
    return;
  }
  for (let i = 0; i < text.length; i++) out[at + i] = text.charCodeAt(i);
}

/** Serializes a start line and fields into a message head. */
export function serializeHead(startLine: string, fields: [string, string][]): Uint8Array {
  return joinWire([headText(startLine, fields)]);
}

/**
 * Head text (Latin-1) and bytes, one after another in one new array: a response head and
 * the body bytes behind it cost one allocation (a new Uint8Array is costly: a backing store
 * and its sweeping).
 */
export function joinWire(parts: (string | Uint8Array)[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    if (typeof p === "string") writeLatin1(p, out, at);
    else out.set(p, at);
    at += p.length;
  }
  return out;
}
