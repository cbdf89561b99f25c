import { ipBytes, numericAddress, unmapIPv4 } from "./address.ts";

/**
 * An opt-in deny list for destinations (`egress.deny`, `egress.allow`): keeps a proxy that
 * others can reach from becoming a door into loopback, private networks or a cloud metadata
 * service. It judges addresses only: `resolveDestination` (net/dial.ts) resolves a name
 * once and dials the very address checked here, so a second lookup cannot answer
 * differently (DNS rebinding).
 */

/** An address range as bytes (IPv4 4, IPv6 16) and a prefix length. */
interface Cidr {
  bytes: Uint8Array;
  bits: number;
  text: string;
}

/** Named ranges a user can put in `egress.deny`. */
export const NAMED_RANGES: Record<string, string[]> = {
  // 0.0.0.0/8 and `::` too: a connect to an unspecified address reaches this machine
  // (Linux sends 0.0.0.0 to 127.0.0.1 and `::` to `::1`), so a loopback deny without them
  // let `0.0.0.0:port` through to a local service. They stay in `unspecified` as well.
  loopback: ["127.0.0.0/8", "::1/128", "0.0.0.0/8", "::/128"],
  private: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"],
  "link-local": ["169.254.0.0/16", "fe80::/10"],
  // AWS, GCP and Azure answer on 169.254.169.254 (inside link-local too), AWS also on IPv6;
  // Alibaba Cloud on 100.100.100.200.
  metadata: ["169.254.169.254/32", "fd00:ec2::254/128", "100.100.100.200/32"],
  unspecified: ["0.0.0.0/8", "::/128"],
  multicast: ["224.0.0.0/4", "ff00::/8"],
};
NAMED_RANGES.internal = Object.values(NAMED_RANGES).flat();

/**
 * The address bytes of an IP literal in any spelling a connect accepts (brackets allowed,
 * `127.1`, `0x7f000001`), with IPv4-mapped IPv6 (`::ffff:a.b.c.d`) as the IPv4 address it
 * is, so IPv4 ranges catch it. See `numericAddress`.
 */
export function addressBytes(ip: string): Uint8Array | null {
  return numericAddress(ip);
}

/**
 * A range from the configuration, written strictly (`10.0.0.0/8`): the short forms a
 * connect accepts would make `10/8` mean 0.0.0.10/8.
 */
export function parseCidr(text: string): Cidr | null {
  const [ip, prefix] = text.split("/");
  const strict = ipBytes(ip.replace(/^\[(.*)\]$/, "$1"));
  const bytes = strict && (unmapIPv4(strict) ?? strict);
  if (!bytes) return null;
  const max = bytes.length * 8;
  const bits = prefix === undefined ? max : Number(prefix);
  if (!Number.isInteger(bits) || bits < 0 || bits > max) return null;
  return { bytes, bits, text };
}

function contains(c: Cidr, ip: Uint8Array): boolean {
  if (c.bytes.length !== ip.length) return false;
  for (let bit = 0; bit < c.bits; bit += 8) {
    const i = bit >> 3;
    const n = Math.min(8, c.bits - bit);
    const mask = (0xff << (8 - n)) & 0xff;
    if ((c.bytes[i] & mask) !== (ip[i] & mask)) return false;
  }
  return true;
}

/** A destination the deny list refused. */
export class EgressDenied extends Error {
  constructor(readonly host: string, readonly address: string, readonly range: string) {
    super(
      host === address
        ? `destination ${address} is denied (egress.deny ${range})`
        : `destination ${host} resolves to ${address}, which is denied (egress.deny ${range})`,
    );
    this.name = "EgressDenied";
  }
}

export class EgressGuard {
  private constructor(readonly deny: Cidr[], readonly allow: Cidr[]) {}

  /**
   * From the option values; returns an error message for an entry that is neither a range
   * name nor a CIDR.
   */
  static create(deny: string[], allow: string[]): EgressGuard | string {
    const parse = (entries: string[], names: boolean): Cidr[] | string => {
      const out: Cidr[] = [];
      for (const entry of entries) {
        const named = names ? NAMED_RANGES[entry.toLowerCase()] : undefined;
        for (const text of named ?? [entry]) {
          const c = parseCidr(text);
          if (!c) {
            return `"${entry}" is not ${
              names ? "a range name (" + Object.keys(NAMED_RANGES).join(", ") + ") or " : ""
            }an IP or CIDR`;
          }
          out.push(named ? { ...c, text: `${entry}: ${text}` } : c);
        }
      }
      return out;
    };
    const d = parse(deny, true);
    if (typeof d === "string") return d;
    const a = parse(allow, false);
    if (typeof a === "string") return a;
    return new EgressGuard(d, a);
  }

  /** The deny range an address falls in (and no allow range does), or null. */
  deniedBy(address: string): string | null {
    const ip = addressBytes(address);
    return ip ? this.deniedAddress(ip) : null;
  }

  /** As `deniedBy`, for address bytes (IPv4-mapped already unmapped). */
  deniedAddress(ip: Uint8Array): string | null {
    if (this.allow.some((c) => contains(c, ip))) return null;
    return this.deny.find((c) => contains(c, ip))?.text ?? null;
  }
}
