import { splitHostPort } from "../net/address.ts";

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|::1|0\.0\.0\.0|::)$/i;
const WILDCARD = new Set(["0.0.0.0", "::", ""]);

/**
 * The addresses snoop itself listens on (services and the UI). A request through the proxy
 * to one of them would loop back into snoop — each hop opening another connection until the
 * process runs out of them — or reach its UI from outside: handlers refuse such targets.
 * Names are compared as written (a hostname that only resolves to this machine is not caught).
 */
export class SelfAddresses {
  readonly #bound: { host: string; port: number }[] = [];

  add(addr: Deno.NetAddr): void {
    this.#bound.push({ host: addr.hostname.toLowerCase(), port: addr.port });
  }

  /** True when `target` (`host:port`) is one of snoop's own listeners. */
  isSelf(target: string): boolean {
    const { host, port } = splitHostPort(target);
    const h = host.toLowerCase();
    return this.#bound.some((b) => {
      if (b.port !== port) return false;
      if (h === b.host) return true;
      // A wildcard or loopback listener is reached by any loopback name.
      return (WILDCARD.has(b.host) || LOOPBACK.test(b.host)) && LOOPBACK.test(h);
    });
  }
}
