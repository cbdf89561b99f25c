import { lookup } from "node:dns/promises";
import type { AuthConfig, ChainConfig, ChainNodeConfig } from "../../config/types.ts";
import { numericAddress, splitHostPort } from "../address.ts";
import {
  CONFIGURED_TARGET,
  DialError,
  type DialGuard,
  dialTcp,
  resolveDestination,
  ResolveTimeout,
  withTimeout,
} from "../dial.ts";
import { EgressDenied } from "../egress_guard.ts";
import { closeQuietly } from "../stream.ts";
import { httpConnect, socks5Connect } from "./connectors.ts";
import type { Dialer } from "./dialer.ts";

/** What a chain asks of a bypass (bypass/bypass.ts's `Bypass`, which lives a layer up). */
export interface TargetBypass {
  /** True when `addr` (`host:port`) goes around the hop or node. */
  contains(addr: string): boolean;
}

interface Hop {
  name: string;
  bypass?: TargetBypass;
  nodes: { config: ChainNodeConfig; bypass?: TargetBypass }[];
  /** Round robin: the node the next connection starts with. */
  next: number;
}

interface PathNode {
  hop: string;
  node: ChainNodeConfig;
}

const CONNECT: Record<
  ChainNodeConfig["connector"]["type"],
  (conn: Deno.TcpConn, target: string, auth?: AuthConfig) => Promise<void>
> = {
  http: httpConnect,
  socks5: socks5Connect,
};

/**
 * GOST's chain: a connection to a target goes through one node of each hop in order. The
 * first node is dialled over TCP, each next node is reached by asking the previous one to
 * CONNECT to it, and the last one is asked for the target. A hop whose `bypass` contains
 * the target cuts the chain there (the hops before it still carry the connection, none
 * at all means straight to the target), as GOST's router does; a node whose `bypass`
 * contains it is left out, and a hop with no node left cuts the chain too.
 *
 * Nodes of a hop take turns (round robin); when the first hop's node cannot be reached,
 * the next one is tried within the same deadline. A failure further in (an upstream that
 * refuses) fails the dial: the tunnel so far cannot be reused.
 *
 * The checks on the target (snoop itself, `egress.deny`) still apply through a chain; see
 * `checkTarget`. The upstream proxies' own addresses come from snoop's configuration and are
 * not checked: the operator chose them.
 */
export class ChainDialer implements Dialer {
  readonly #hops: Hop[];
  readonly #routes = new WeakMap<Deno.Conn, string>();

  constructor(readonly config: ChainConfig, bypasses: Map<string, TargetBypass>) {
    this.#hops = config.hops.map((h) => ({
      name: h.name,
      bypass: h.bypass ? bypasses.get(h.bypass.name) : undefined,
      nodes: h.nodes.map((n) => ({
        config: n,
        bypass: n.bypass ? bypasses.get(n.bypass.name) : undefined,
      })),
      next: 0,
    }));
  }

  routeOf(conn: Deno.Conn): string | undefined {
    return this.#routes.get(conn);
  }

  /** For each hop the target goes through, its usable nodes in the order to try them. */
  select(target: string): { hop: string; nodes: ChainNodeConfig[] }[] {
    const out: { hop: string; nodes: ChainNodeConfig[] }[] = [];
    for (const hop of this.#hops) {
      if (hop.bypass?.contains(target)) break;
      const usable = hop.nodes.filter((n) => !n.bypass?.contains(target));
      if (usable.length === 0) break;
      const start = hop.next++ % usable.length;
      if (hop.next >= Number.MAX_SAFE_INTEGER) hop.next = 0;
      out.push({
        hop: hop.name,
        nodes: [...usable.slice(start), ...usable.slice(0, start)].map((n) => n.config),
      });
    }
    return out;
  }

  async dial(target: string, timeoutMs: number, guard: DialGuard): Promise<Deno.TcpConn> {
    const hops = this.select(target);
    if (hops.length === 0) return await dialTcp(target, timeoutMs, guard);
    const { host, port } = splitHostPort(target);
    if (!host || Number.isNaN(port)) {
      throw new DialError(target, new Error("invalid address"), false);
    }
    const started = performance.now();
    const left = () => timeoutMs > 0 ? Math.max(1, timeoutMs - (performance.now() - started)) : 0;
    try {
      await withTimeout(checkTarget(host, port, guard), timeoutMs, `check ${host}`);
    } catch (e) {
      if (e instanceof ResolveTimeout) throw new DialError(target, e, true);
      const denied = e instanceof EgressDenied || (e as Error).name === "SelfTarget";
      throw new DialError(target, e, false, denied);
    }

    // The first hop: its nodes in turn until one answers.
    let conn: Deno.TcpConn | undefined;
    let first: PathNode | undefined;
    let lastError: unknown;
    for (const node of hops[0].nodes) {
      try {
        conn = await dialTcp(node.addr, left(), CONFIGURED_TARGET);
        first = { hop: hops[0].hop, node };
        break;
      } catch (e) {
        lastError = e;
        if (e instanceof DialError && e.timedOut) break;
      }
    }
    if (!conn || !first) {
      const timedOut = lastError instanceof DialError && lastError.timedOut;
      throw new DialError(
        target,
        new Error(`${hops[0].hop}: ${(lastError as Error)?.message ?? "no node"}`),
        timedOut,
      );
    }
    const path = [first];
    let timedOut = false;
    const timer = timeoutMs > 0
      ? setTimeout(() => {
        timedOut = true;
        closeQuietly(conn);
      }, left())
      : undefined;
    try {
      for (let i = 1; i < hops.length; i++) {
        const node = hops[i].nodes[0];
        await this.#connect(conn, path[path.length - 1], node.addr);
        path.push({ hop: hops[i].hop, node });
      }
      await this.#connect(conn, path[path.length - 1], target);
    } catch (e) {
      closeQuietly(conn);
      throw new DialError(target, timedOut ? new Error("timeout") : e, timedOut);
    } finally {
      clearTimeout(timer);
    }
    this.#routes.set(
      conn,
      [...path.map((p) => `${p.node.name}@${p.node.addr}`), target].join(" > "),
    );
    return conn;
  }

  async #connect(conn: Deno.TcpConn, via: PathNode, to: string): Promise<void> {
    try {
      await CONNECT[via.node.connector.type](conn, to, via.node.connector.auth);
    } catch (e) {
      throw new Error(
        `${via.hop} ${via.node.name}@${via.node.addr} (${via.node.connector.type}): ${
          (e as Error).message
        }`,
      );
    }
  }
}

/** RFC 6761 §6.3: `localhost` and names under it are loopback, whatever DNS says. */
function isLocalhostName(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  return h === "localhost" || h.endsWith(".localhost");
}

/**
 * The target's checks when an upstream proxy will connect to it. The name goes to the
 * upstream unresolved (the upstream's DNS and policy decide where it leads: behind a
 * corporate proxy, outside names often resolve only there), and snoop checks what it can
 * know here:
 *
 * - an IP literal (any spelling a connect accepts) is checked as the address it is, against
 *   snoop's own listeners and `egress.deny`;
 * - `localhost` and `*.localhost` count as 127.0.0.1 and ::1;
 * - any other name is resolved here only when `egress.deny` is set (address rules need
 *   addresses), and refused if any of its addresses is denied, or if it cannot be resolved
 *   here: an egress rule that cannot be checked refuses rather than lets through.
 *
 * What the upstream then connects to is its own decision: a name that resolves differently
 * there is outside what snoop can check.
 */
export async function checkTarget(
  host: string,
  port: number,
  guard: DialGuard,
  resolve: (name: string) => Promise<string[]> = async (name) =>
    (await lookup(name, { all: true })).map((a) => a.address),
): Promise<void> {
  if (numericAddress(host)) {
    await resolveDestination(host, port, guard);
    return;
  }
  if (isLocalhostName(host)) {
    for (const loopback of ["127.0.0.1", "::1"]) await resolveDestination(loopback, port, guard);
    return;
  }
  const egress = guard.egress;
  if (!egress) return;
  let addresses: string[];
  try {
    addresses = await resolve(host.replace(/^\[(.*)\]$/, "$1"));
  } catch (e) {
    throw new EgressDenied(
      host,
      host,
      `not resolvable here to check it (${(e as Error).message})`,
    );
  }
  for (const a of addresses) {
    const range = egress.deniedBy(a);
    if (range) throw new EgressDenied(host, a, range);
  }
}
