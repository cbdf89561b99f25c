import { isLoopbackAddress, numericAddress, sameAddress } from "./address.ts";

/** A listener: its address (null for a wildcard, 0.0.0.0 or `::`) and its port. */
interface Bound {
  ip: Uint8Array | null;
  loopback: boolean;
  port: number;
}

/**
 * The addresses snoop itself listens on (every service, TCP or UDP, and the UI). A request
 * through the proxy to one of them would loop back into snoop — each hop opening another
 * connection until the process runs out of them — or reach its UI from outside: the dial
 * refuses such destinations (see `resolveDestination` in net/dial.ts).
 *
 * Addresses are compared, not spellings: the caller passes the address that will be
 * dialled (a name already resolved, `127.1` or `0x7f000001` already read as 127.0.0.1).
 * The port is compared whatever the transport: a datagram to the UI's TCP port is refused
 * too, which costs nothing and spares keeping two lists.
 */
export class SelfAddresses {
  readonly #bound: Bound[] = [];
  /** Overridable in tests; `Deno.networkInterfaces` needs `--allow-sys`. */
  localAddresses: () => Uint8Array[] = interfaceAddresses;

  add(addr: Deno.NetAddr): void {
    const ip = numericAddress(addr.hostname);
    const wildcard = !ip || ip.every((b) => b === 0);
    this.#bound.push({
      ip: wildcard ? null : ip,
      loopback: !!ip && isLoopbackAddress(ip),
      port: addr.port,
    });
  }

  /**
   * Whether a connection to `ip` (4 or 16 bytes, IPv4-mapped already unmapped) at `port`
   * reaches one of snoop's listeners. A listener on a loopback address is reached by every
   * loopback address (127/8, `::1`, 0.0.0.0/8, `::`); one on a wildcard address by those
   * and by every address of the machine's interfaces.
   */
  reaches(ip: Uint8Array, port: number): boolean {
    const candidates = this.#bound.filter((b) => b.port === port);
    if (candidates.length === 0) return false;
    const loopback = isLoopbackAddress(ip);
    for (const b of candidates) {
      if (b.ip && sameAddress(b.ip, ip)) return true;
      if ((b.loopback || !b.ip) && loopback) return true;
    }
    if (!candidates.some((b) => !b.ip)) return false;
    // Only for a port snoop listens on everywhere: is `ip` one of this machine's?
    let local: Uint8Array[];
    try {
      local = this.localAddresses();
    } catch {
      return true; // cannot tell (no permission): refuse rather than risk the loop
    }
    return local.some((a) => sameAddress(a, ip));
  }
}

function interfaceAddresses(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const i of Deno.networkInterfaces()) {
    const ip = numericAddress(i.address);
    if (ip) out.push(ip);
  }
  return out;
}
