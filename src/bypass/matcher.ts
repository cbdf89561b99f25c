import { ipBytes, numericAddress, splitHostPort } from "../net/address.ts";

/**
 * One bypass pattern, classified as GOST does, first match wins:
 *   `10.0.0.0/8`, `2001:db8::/32`          CIDR (any port)
 *   `*.example.com`, `api?.x.io:443`        wildcard: `*` spans dots, not the bare domain
 *   `1.2.3.4`, `1.2.3.4-1.2.3.9`            IP or IP range (any port)
 *   `example.com`, `.example.com:80-90`     host (a leading dot adds every subdomain),
 *                                           with an optional port or port range
 * Hosts compare case-insensitively. A target that is a number is read as the address it
 * dials (`127.1`, `0x7f000001`, `2130706433`, `[::ffff:127.0.0.1]` are 127.0.0.1), so CIDR
 * and IP patterns cannot be slipped past with another spelling of the same address.
 */
export interface Matcher {
  readonly pattern: string;
  matches(host: string, port: number): boolean;
}

interface PortRange {
  min: number;
  max: number;
}

/** `:443` or `:80-90` at the end of a pattern; an unparsable port means any port (GOST). */
function splitPortSpec(pattern: string): { host: string; ports: PortRange | null } {
  const m = /^(.*?):(\d{1,5})(?:-(\d{1,5}))?$/.exec(pattern);
  if (!m || m[1].includes(":") && !m[1].startsWith("[")) return { host: pattern, ports: null };
  const host = m[1].replace(/^\[(.*)\]$/, "$1");
  const min = Number(m[2]);
  const max = m[3] === undefined ? min : Number(m[3]);
  if (min > 65535 || max > 65535 || min > max) return { host, ports: null };
  return { host, ports: { min, max } };
}

const portOk = (ports: PortRange | null, port: number) =>
  ports === null || Number.isNaN(port) || (port >= ports.min && port <= ports.max);

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

class CidrMatcher implements Matcher {
  constructor(readonly pattern: string, readonly net: Uint8Array, readonly bits: number) {}
  matches(host: string): boolean {
    const ip = numericAddress(host);
    if (!ip || ip.length !== this.net.length) return false;
    let bits = this.bits;
    for (let i = 0; bits > 0; i++, bits -= 8) {
      const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
      if ((ip[i] & mask) !== (this.net[i] & mask)) return false;
    }
    return true;
  }
}

class IpRangeMatcher implements Matcher {
  constructor(readonly pattern: string, readonly from: Uint8Array, readonly to: Uint8Array) {}
  matches(host: string): boolean {
    const ip = numericAddress(host);
    if (!ip || ip.length !== this.from.length) return false;
    return compareBytes(ip, this.from) >= 0 && compareBytes(ip, this.to) <= 0;
  }
}

class HostMatcher implements Matcher {
  readonly #host: string;
  readonly #withSubdomains: boolean;
  constructor(readonly pattern: string, host: string, readonly ports: PortRange | null) {
    this.#withSubdomains = host.startsWith(".");
    this.#host = (this.#withSubdomains ? host.slice(1) : host).toLowerCase();
  }
  matches(host: string, port: number): boolean {
    if (!portOk(this.ports, port)) return false;
    const h = host.toLowerCase().replace(/\.$/, "");
    if (h === this.#host) return true;
    return this.#withSubdomains && h.endsWith("." + this.#host);
  }
}

class WildcardMatcher implements Matcher {
  readonly #re: RegExp;
  constructor(readonly pattern: string, glob: string, readonly ports: PortRange | null) {
    const body = glob.toLowerCase().replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")
      .replace(/\?/g, ".");
    this.#re = new RegExp(`^${body}$`);
  }
  matches(host: string, port: number): boolean {
    return portOk(this.ports, port) && this.#re.test(host.toLowerCase().replace(/\.$/, ""));
  }
}

/** Classifies a pattern; throws `TypeError` for one that cannot mean anything. */
export function compileMatcher(pattern: string): Matcher {
  const p = pattern.trim();
  if (!p) throw new TypeError("empty pattern");
  const cidr = /^(.+)\/(\d{1,3})$/.exec(p);
  if (cidr) {
    const net = ipBytes(cidr[1]);
    const bits = Number(cidr[2]);
    if (!net || bits > net.length * 8) throw new TypeError(`invalid CIDR "${p}"`);
    return new CidrMatcher(p, net, bits);
  }
  if (p.includes("*") || p.includes("?")) {
    const { host, ports } = splitPortSpec(p);
    return new WildcardMatcher(p, host, ports);
  }
  const range = /^([^-]+)-([^-]+)$/.exec(p);
  if (range) {
    const from = ipBytes(range[1]), to = ipBytes(range[2]);
    if (from && to && from.length === to.length) {
      if (compareBytes(from, to) > 0) throw new TypeError(`IP range "${p}" runs backwards`);
      return new IpRangeMatcher(p, from, to);
    }
  }
  const ip = ipBytes(p.replace(/^\[(.*)\]$/, "$1"));
  if (ip) return new IpRangeMatcher(p, ip, ip);
  const { host, ports } = splitPortSpec(p);
  return new HostMatcher(p, host, ports);
}

/** Splits an address for matching: `host:port`, `[v6]:port`, or a bare host. */
export function addressForMatch(addr: string): { host: string; port: number } {
  return splitHostPort(addr);
}
