/** Host and port helpers that treat IPv6 literals the way `net.JoinHostPort` does. */

/**
 * Joins a host and port, bracketing IPv6 literals: `[::1]:8080`. Joined, not concatenated:
 * the result is one piece (see `wholeString`), as records want their addresses.
 */
export function joinHostPort(host: string, port: number | string): string {
  return (host.includes(":") ? ["[", host, "]:", port] : [host, ":", port]).join("");
}

/**
 * Splits `host:port`, `[v6]:port` or a bare host. A missing port yields `defaultPort`
 * (or NaN when none is given), so callers decide what "no port" means.
 */
export function splitHostPort(addr: string, defaultPort = NaN): { host: string; port: number } {
  if (addr.startsWith("[")) {
    const end = addr.indexOf("]");
    if (end < 0) return { host: addr, port: defaultPort };
    const host = addr.slice(1, end);
    const rest = addr.slice(end + 1);
    return {
      host,
      port: rest.startsWith(":") ? parsePort(rest.slice(1), defaultPort) : defaultPort,
    };
  }
  const colon = addr.lastIndexOf(":");
  // A bare IPv6 literal has more than one colon and no brackets: all of it is the host.
  if (colon < 0 || addr.indexOf(":") !== colon) return { host: addr, port: defaultPort };
  return { host: addr.slice(0, colon), port: parsePort(addr.slice(colon + 1), defaultPort) };
}

function parsePort(text: string, fallback: number): number {
  if (!/^\d{1,5}$/.test(text)) return fallback;
  const n = Number(text);
  return n <= 65535 ? n : fallback;
}

/** `Deno.Addr` as GOST prints `conn.RemoteAddr()`: `127.0.0.1:4000`, `[::1]:4000`. */
export function formatAddr(addr: Deno.Addr | undefined): string {
  if (!addr) return "";
  if (addr.transport === "tcp" || addr.transport === "udp") {
    return joinHostPort(addr.hostname, addr.port);
  }
  return "path" in addr ? addr.path : "";
}

/** The IP part of an address, without brackets or port. */
export function addrIP(addr: Deno.Addr | undefined): string {
  return addr && (addr.transport === "tcp" || addr.transport === "udp") ? addr.hostname : "";
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIPv4(host: string): boolean {
  return IPV4.test(host);
}

export function isIPv6(host: string): boolean {
  return host.includes(":") && parseIPv6(host) !== null;
}

export function isIP(host: string): boolean {
  return isIPv4(host) || isIPv6(host);
}

/** Parses an IPv6 literal (with optional zone or embedded IPv4) into 16 bytes, or null. */
export function parseIPv6(text: string): Uint8Array | null {
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
  const lastColon = text.lastIndexOf(":");
  const maybeV4 = text.slice(lastColon + 1);
  if (maybeV4.includes(".")) {
    // `::ffff:1.2.3.4`: rewrite the dotted tail as two hex groups and parse as usual.
    if (!isIPv4(maybeV4)) return null;
    const p = maybeV4.split(".").map(Number);
    const hi = ((p[0] << 8) | p[1]).toString(16), lo = ((p[2] << 8) | p[3]).toString(16);
    text = `${text.slice(0, lastColon + 1)}${hi}:${lo}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groupsOf = (s: string) => s === "" ? [] : s.split(":");
  const head = groupsOf(halves[0]);
  const tail = halves.length === 2 ? groupsOf(halves[1]) : [];
  if (![...head, ...tail].every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  });
  return out;
}

/** An IPv4 or IPv6 address as bytes (4 or 16), or null when `host` is not an IP literal. */
export function ipBytes(host: string): Uint8Array | null {
  if (isIPv4(host)) return new Uint8Array(host.split(".").map(Number));
  return host.includes(":") ? parseIPv6(host) : null;
}

/** Formats 4 or 16 address bytes as text (IPv6 compressed per RFC 5952). */
export function formatIP(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join(".");
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

/**
 * Whether a name from the wire (SNI, a SOCKS domain) is letters, digits, `-`, `.` and `_`
 * only (`_` is seen in the wild): nothing that could change meaning in a resolver, a file
 * path or a log line (NUL, `/`, `%`, spaces, 8-bit bytes).
 */
export function isHostNameText(text: string): boolean {
  return /^[A-Za-z0-9._-]+$/.test(text);
}
