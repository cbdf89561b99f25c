import { lookup } from "node:dns/promises";
import { ipBytes, isIP } from "./address.ts";

/**
 * An opt-in deny list for destinations (`egress.deny`, `egress.allow`): keeps a proxy that
 * others can reach from becoming a door into loopback, private networks or a cloud metadata
 * service. A name is resolved once, here, and the checked address is what gets dialled, so a
 * second lookup cannot answer differently (DNS rebinding).
 */

/** An address range as bytes (IPv4 4, IPv6 16) and a prefix length. */
interface Cidr {
  bytes: Uint8Array;
  bits: number;
  text: string;
}

/** Named ranges a user can put in `egress.deny`. */
export const NAMED_RANGES: Record<string, string[]> = {
  loopback: ["127.0.0.0/8", "::1/128"],
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
 * The address bytes of an IP literal (brackets allowed), with IPv4-mapped IPv6
 * (`::ffff:a.b.c.d`) as the IPv4 address it is, so IPv4 ranges catch it.
 */
export function addressBytes(ip: string): Uint8Array | null {
  const bytes = ipBytes(ip.replace(/^\[|\]$/g, ""));
  if (!bytes || bytes.length === 4) return bytes;
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff &&
    bytes[11] === 0xff;
  return mapped ? bytes.slice(12) : bytes;
}

export function parseCidr(text: string): Cidr | null {
  const [ip, prefix] = text.split("/");
  const bytes = addressBytes(ip);
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
    if (!ip) return null;
    if (this.allow.some((c) => contains(c, ip))) return null;
    return this.deny.find((c) => contains(c, ip))?.text ?? null;
  }

  /**
   * The address to dial for `host`: the host itself when it is an IP, else the first address
   * it resolves to that the list allows. Throws EgressDenied when none is allowed.
   */
  async resolve(host: string): Promise<string> {
    const bare = host.replace(/^\[|\]$/g, "");
    const addresses = isIP(bare)
      ? [bare]
      : (await lookup(bare, { all: true })).map((a) => a.address);
    let firstDenied: [string, string] | null = null;
    for (const address of addresses) {
      const range = this.deniedBy(address);
      if (!range) return address;
      firstDenied ??= [address, range];
    }
    if (!firstDenied) throw new Error(`${host}: no address`);
    throw new EgressDenied(bare, firstDenied[0], firstDenied[1]);
  }
}
