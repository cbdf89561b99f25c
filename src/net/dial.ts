import { lookup } from "node:dns/promises";
import { formatIP, numericAddress, splitHostPort } from "./address.ts";
import { EgressDenied, type EgressGuard } from "./egress_guard.ts";

/** snoop's own listeners (net/self_addresses.ts), as the dial asks about them. */
export interface SelfCheck {
  /** Whether a connection to `ip` (4 or 16 bytes) at `port` reaches snoop itself. */
  reaches(ip: Uint8Array, port: number): boolean;
}

/**
 * What a dial must refuse. Every dial takes one, so a handler cannot dial without saying
 * which checks apply: a destination a client chose gets both (`self` is the handler's
 * `deps.self`); only a target snoop's own configuration names for snoop's own use (a
 * recorder's address) passes `CONFIGURED_TARGET`.
 */
export interface DialGuard {
  /** snoop's listeners: a destination reaching one is refused. Null: not checked. */
  self: SelfCheck | null;
  /** The service's `egress.deny`/`egress.allow`, when set. */
  egress?: EgressGuard;
}

/** For addresses snoop's configuration gives it for its own use (recorders): no checks. */
export const CONFIGURED_TARGET: DialGuard = Object.freeze({ self: null });

/** A destination that would reach one of snoop's own listeners. */
export class SelfTarget extends Error {
  constructor(readonly host: string, readonly address: string) {
    super("the target is snoop itself");
    this.name = "SelfTarget";
  }
}

/** A dial that failed, with whether it was the deadline (for 504 vs 502). */
export class DialError extends Error {
  constructor(
    readonly target: string,
    override readonly cause: unknown,
    readonly timedOut: boolean,
    /** Refused (the egress deny list, or the target is snoop itself), not tried. */
    readonly denied = false,
  ) {
    super(
      // The self refusal reads the same on every path, whatever the target's spelling.
      cause instanceof SelfTarget
        ? cause.message
        : timedOut
        ? `dial ${target}: timeout`
        : `dial ${target}: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
    this.name = "DialError";
  }

  /** The limit this failure counts against, if it was one (`snoop_limit_hits_total`). */
  get limit(): "egress-denied" | "dial-timeout" | undefined {
    if (this.cause instanceof EgressDenied) return "egress-denied";
    return this.timedOut ? "dial-timeout" : undefined;
  }
}

/** All the addresses a name resolves to, in the resolver's order. */
export type Lookup = (name: string) => Promise<string[]>;

const systemLookup: Lookup = async (name) =>
  (await lookup(name, { all: true })).map((a) => a.address);

/**
 * The addresses to dial for `host` at `port`, in order, each one checked: the one place
 * that decides what a destination is. A numeric host is read as the OS would read it
 * (`127.1`, `2130706433`, `0x7f000001`, `0`, `[::ffff:127.0.0.1]`: see `numericAddress`),
 * anything else is resolved here, once; then every address is checked against snoop's own
 * listeners and the egress list, and the survivors come back as numeric text. The dial
 * connects to exactly these, so no second lookup can answer differently (DNS rebinding).
 * Throws SelfTarget or EgressDenied (for the first address refused) when none survive.
 */
export async function resolveDestination(
  host: string,
  port: number,
  guard: DialGuard,
  resolve: Lookup = systemLookup,
): Promise<string[]> {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  const literal = numericAddress(host);
  let found: { ip: Uint8Array; text: string }[];
  if (literal) found = [{ ip: literal, text: dialText(literal, bare) }];
  else {
    found = [];
    for (const a of await resolve(bare)) {
      const ip = numericAddress(a);
      if (ip) found.push({ ip, text: dialText(ip, a) });
    }
  }
  if (found.length === 0) throw new Error(`${host}: no address`);
  const allowed: string[] = [];
  let refused: Error | undefined;
  for (const { ip, text } of found) {
    if (guard.self?.reaches(ip, port)) {
      refused ??= new SelfTarget(bare, text);
      continue;
    }
    const range = guard.egress?.deniedAddress(ip);
    if (range) {
      refused ??= new EgressDenied(bare, text, range);
      continue;
    }
    allowed.push(text);
  }
  if (allowed.length === 0) throw refused!;
  return allowed;
}

/** The canonical text of an address, keeping an IPv6 zone written in `original`. */
function dialText(ip: Uint8Array, original: string): string {
  const zone = ip.length === 16 ? /%([A-Za-z0-9_.-]+)$/.exec(original)?.[1] : undefined;
  return zone ? `${formatIP(ip)}%${zone}` : formatIP(ip);
}

/** How long a dial's lookup and TCP connect took (ms), for the records' `timings`. */
export interface DialTimings {
  dns: number;
  connect: number;
}

const dialTimings = new WeakMap<Deno.Conn, DialTimings>();

/** The lookup and connect times of a connection `dialTcp` opened (undefined otherwise). */
export function dialTimingsOf(conn: Deno.Conn): DialTimings | undefined {
  return dialTimings.get(conn);
}

/**
 * Opens a TCP connection to `host:port` within `timeoutMs` (which covers the lookup too),
 * to an address `resolveDestination` returned and the guard allowed: the next one is
 * tried when a connect fails. The deadline is a race, not `ConnectOptions.signal`: that
 * signal also closes the connection after it is established.
 */
export async function dialTcp(
  target: string,
  timeoutMs: number,
  guard: DialGuard,
): Promise<Deno.TcpConn> {
  const { host, port } = splitHostPort(target);
  if (!host || Number.isNaN(port)) throw new DialError(target, new Error("invalid address"), false);
  const started = performance.now();
  const deadline = started + timeoutMs;
  let addresses: string[];
  try {
    addresses = await resolveWithin(host, port, guard, timeoutMs);
  } catch (e) {
    throw new DialError(target, e, e instanceof ResolveTimeout, isRefusal(e));
  }
  const resolved = performance.now();
  let last: unknown;
  for (const hostname of addresses) {
    const left = timeoutMs > 0 ? deadline - performance.now() : 0;
    if (timeoutMs > 0 && left <= 0) throw new DialError(target, new Error("timeout"), true);
    try {
      const conn = await connectOnce(hostname, port, left);
      dialTimings.set(conn, { dns: resolved - started, connect: performance.now() - resolved });
      return conn;
    } catch (e) {
      if (e === TIMED_OUT) throw new DialError(target, new Error("timeout"), true);
      last = e;
    }
  }
  throw new DialError(target, last, false);
}

/** `resolveDestination` with a deadline (0: none); a late answer is ignored. */
export function resolveWithin(
  host: string,
  port: number,
  guard: DialGuard,
  timeoutMs: number,
): Promise<string[]> {
  return withTimeout(resolveDestination(host, port, guard), timeoutMs, `resolve ${host}`);
}

/** Whether an error from `resolveDestination` is a refusal (not a failure to resolve). */
export function isRefusal(e: unknown): boolean {
  return e instanceof EgressDenied || e instanceof SelfTarget;
}

const TIMED_OUT = Symbol("timeout");

/** One connect to a numeric address; rejects with TIMED_OUT after `timeoutMs` (0: none). */
async function connectOnce(hostname: string, port: number, timeoutMs: number) {
  // Small writes (a response head, then its body) must not wait for delayed ACKs: no Nagle.
  const connecting = Deno.connect({ hostname, port, transport: "tcp" }).then((c) => {
    c.setNoDelay(true);
    return c;
  });
  if (!(timeoutMs > 0)) return await connecting;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), timeoutMs);
  });
  try {
    const winner = await Promise.race([connecting, deadline]);
    if (winner === TIMED_OUT) {
      // A late success must not leak a socket.
      connecting.then((c) => c.close(), () => {});
      throw TIMED_OUT;
    }
    return winner;
  } finally {
    clearTimeout(timer);
  }
}

/** A lookup or check that did not finish within its deadline (a dial timeout, 504). */
export class ResolveTimeout extends Error {}

/** `p`, or a ResolveTimeout after `ms` (none when `ms` is 0). */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  if (!(ms > 0)) return await p;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ResolveTimeout(`${what}: timeout`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
