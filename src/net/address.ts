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

/** Longest host text taken as a number: a DNS name is at most 253 characters. */
const MAX_NUMERIC_HOST = 253;

/**
 * IPv4 as `inet_aton(3)` reads it, and so as getaddrinfo and `Deno.connect` do: one to
 * four parts separated by dots, each decimal, octal (a leading `0`) or hex (`0x`, at least
 * one digit); the last part fills the bytes left (`127.1` is 127.0.0.1, `10.1.2` is
 * 10.1.0.2, `2130706433` and `0x7f000001` are 127.0.0.1, `0` is 0.0.0.0). Anything else —
 * an empty part, a trailing dot, a part too large for its bytes, five parts — is a name,
 * not an address: null.
 */
export function parseIPv4Loose(text: string): Uint8Array | null {
  if (text.length === 0 || text.length > MAX_NUMERIC_HOST) return null;
  const parts = text.split(".");
  if (parts.length > 4) return null;
  const values: number[] = [];
  for (const part of parts) {
    let v: number;
    if (/^0[xX][0-9a-fA-F]+$/.test(part)) v = parseInt(part.slice(2), 16);
    else if (/^0[0-7]*$/.test(part)) v = part.length === 1 ? 0 : parseInt(part.slice(1), 8);
    else if (/^[1-9][0-9]*$/.test(part)) v = parseInt(part, 10);
    else return null;
    // Huge digit strings parse to large (or infinite) numbers: the bounds below refuse them.
    values.push(v);
  }
  const last = values.pop()!;
  if (values.some((v) => v > 0xff)) return null;
  const lastBytes = 4 - values.length;
  if (!(last <= 2 ** (8 * lastBytes) - 1)) return null;
  const out = new Uint8Array(4);
  values.forEach((v, i) => out[i] = v);
  for (let i = 3, v = last; i >= values.length; i--, v = Math.floor(v / 256)) out[i] = v % 256;
  return out;
}

/** An IPv6 address embedding an IPv4 one (`::ffff:a.b.c.d`): the IPv4 bytes, else null. */
export function unmapIPv4(bytes: Uint8Array): Uint8Array | null {
  if (bytes.length !== 16) return null;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return null;
  return bytes[10] === 0xff && bytes[11] === 0xff ? bytes.slice(12) : null;
}

/**
 * The address a host denotes without asking DNS, as the bytes a connect would use: an
 * IPv4 literal in any form `inet_aton` takes (see `parseIPv4Loose`), or an IPv6 literal,
 * bracketed or not, with an IPv4-mapped one (`::ffff:127.0.0.1`, `::ffff:7f00:1`) as the
 * IPv4 address it reaches. A zone (`fe80::1%eth0`) is ignored here. Null for a name.
 */
export function numericAddress(host: string): Uint8Array | null {
  if (host.length > MAX_NUMERIC_HOST + 2) return null;
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (!bare.includes(":")) return bare === host ? parseIPv4Loose(bare) : null;
  const v6 = parseIPv6(bare);
  if (!v6) return null;
  return unmapIPv4(v6) ?? v6;
}

/**
 * Whether an address (bytes from `numericAddress`) reaches this machine's loopback: all of
 * 127.0.0.0/8 and `::1`, and the unspecified addresses, which a connect sends to the
 * machine itself (0.0.0.0/8, where Linux takes 0.0.0.0 as 127.0.0.1, and `::`).
 */
export function isLoopbackAddress(bytes: Uint8Array): boolean {
  if (bytes.length === 4) return bytes[0] === 127 || bytes[0] === 0;
  for (let i = 0; i < 15; i++) if (bytes[i] !== 0) return false;
  return bytes[15] === 1 || bytes[15] === 0;
}

/** Whether two addresses (4 or 16 bytes each) are the same. */
export function sameAddress(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
