import { splitHostPort } from "./address.ts";
import { EgressDenied, type EgressGuard } from "./egress_guard.ts";

/** A dial that failed, with whether it was the deadline (for 504 vs 502). */
export class DialError extends Error {
  constructor(
    readonly target: string,
    override readonly cause: unknown,
    readonly timedOut: boolean,
    /** Refused by the egress deny list, not tried. */
    readonly denied = false,
  ) {
    super(
      timedOut
        ? `dial ${target}: timeout`
        : `dial ${target}: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
    this.name = "DialError";
  }

  /** The limit this failure counts against, if it was one (`snoop_limit_hits_total`). */
  get limit(): "egress-denied" | "dial-timeout" | undefined {
    return this.denied ? "egress-denied" : this.timedOut ? "dial-timeout" : undefined;
  }
}

/**
 * Opens a TCP connection to `host:port` within `timeoutMs`. The deadline is a race, not
 * `ConnectOptions.signal`: that signal also closes the connection after it is established.
 */
export async function dialTcp(
  target: string,
  timeoutMs: number,
  egress?: EgressGuard,
): Promise<Deno.TcpConn> {
  const { host, port } = splitHostPort(target);
  if (!host || Number.isNaN(port)) throw new DialError(target, new Error("invalid address"), false);
  let hostname = host;
  if (egress) {
    try {
      // The deadline covers the lookup too.
      hostname = await withTimeout(egress.resolve(host), timeoutMs, `resolve ${host}`);
    } catch (e) {
      const timedOut = e instanceof ResolveTimeout;
      throw new DialError(target, e, timedOut, e instanceof EgressDenied);
    }
  }
  // Small writes (a response head, then its body) must not wait for delayed ACKs: no Nagle.
  const connecting = Deno.connect({ hostname, port, transport: "tcp" }).then((c) => {
    c.setNoDelay(true);
    return c;
  });
  if (!(timeoutMs > 0)) {
    try {
      return await connecting;
    } catch (e) {
      throw new DialError(target, e, false);
    }
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  try {
    const winner = await Promise.race([connecting, deadline]);
    if (winner === "timeout") {
      // A late success must not leak a socket.
      connecting.then((c) => c.close(), () => {});
      throw new DialError(target, new Error("timeout"), true);
    }
    return winner;
  } catch (e) {
    if (e instanceof DialError) throw e;
    throw new DialError(target, e, false);
  } finally {
    clearTimeout(timer);
  }
}

class ResolveTimeout extends Error {}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
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
