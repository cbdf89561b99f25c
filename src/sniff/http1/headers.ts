import type { HeaderMap } from "../../record/record.ts";

/**
 * Go's `textproto.CanonicalMIMEHeaderKey`: upper-case the first letter and every letter
 * after a hyphen, lower-case the rest (`content-type` → `Content-Type`, `ETag` → `Etag`).
 * Names with characters outside the token set are returned unchanged, as Go does.
 */
export function canonicalHeaderName(name: string): string {
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
 * keys, so the map is built in sorted order.
 */
export function headerMap(fields: [string, string][], dropHost = false): HeaderMap {
  const grouped = new Map<string, string[]>();
  for (const [name, value] of fields) {
    const key = canonicalHeaderName(name);
    if (dropHost && key === "Host") continue;
    const list = grouped.get(key);
    if (list) list.push(value);
    else grouped.set(key, [value]);
  }
  const out: HeaderMap = {};
  for (const key of [...grouped.keys()].sort()) out[key] = grouped.get(key)!;
  return out;
}

/** Hop-by-hop fields (RFC 9110 §7.6.1) plus the proxy ones clients send. */
const HOP_BY_HOP = new Set([
  "connection",
  "proxy-connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/**
 * Removes hop-by-hop fields and those named in `Connection`, for forwarding. Keeps
 * `Transfer-Encoding` when `keepFraming` (the body is forwarded verbatim, chunked as it
 * came) and keeps `Upgrade`/`Connection: upgrade` when the request asks to switch protocols.
 */
export function stripHopByHop(
  fields: [string, string][],
  opts: { keepFraming: boolean; keepUpgrade: boolean },
): [string, string][] {
  const named = new Set<string>();
  for (const [n, v] of fields) {
    const lower = n.toLowerCase();
    if (lower === "connection" || lower === "proxy-connection") {
      for (const t of v.split(",")) named.add(t.trim().toLowerCase());
    }
  }
  const out: [string, string][] = [];
  for (const [n, v] of fields) {
    const lower = n.toLowerCase();
    if (lower === "transfer-encoding" && opts.keepFraming) {
      out.push([n, v]);
      continue;
    }
    if (lower === "upgrade" && opts.keepUpgrade) {
      out.push([n, v]);
      continue;
    }
    if (HOP_BY_HOP.has(lower) || named.has(lower)) continue;
    out.push([n, v]);
  }
  if (opts.keepUpgrade) out.push(["Connection", "Upgrade"]);
  return out;
}

const encoder = new TextEncoder();

/** Serializes a start line and fields into a message head. */
export function serializeHead(startLine: string, fields: [string, string][]): Uint8Array {
  let s = startLine + "\r\n";
  for (const [n, v] of fields) s += `${n}: ${v}\r\n`;
  return encoder.encode(s + "\r\n");
}
