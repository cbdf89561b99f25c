import { type DialGuard, dialTcp } from "../dial.ts";

/**
 * How a handler reaches a client's target: straight (`dialTcp`) or through upstream proxies
 * (`ChainDialer`). Either way the result is a TCP connection whose other end speaks for the
 * target, so sniffing, interception (TLS to the origin inside the upstream's tunnel) and the
 * relay work on it unchanged.
 */
export interface Dialer {
  dial(target: string, timeoutMs: number, guard: DialGuard): Promise<Deno.TcpConn>;
  /**
   * The record's `route` for a connection this dialer opened, GOST's spelling:
   * `node-0@10.0.0.1:3128 > node-1@10.0.0.2:1080 > example.com:443`; undefined when it
   * went straight to the target (the record's route is then the target).
   */
  routeOf(conn: Deno.Conn): string | undefined;
}

/** Straight to the target. */
export const DIRECT: Dialer = Object.freeze({
  dial: dialTcp,
  routeOf: () => undefined,
});

/**
 * Dials `target` with the handler's dialer (`deps.dialer`, from `handler.chain`; straight
 * when it has none) and, when the connection went through a chain, writes its route into
 * the record.
 */
export async function dialUpstream(
  deps: { dialer?: Dialer },
  target: string,
  timeoutMs: number,
  guard: DialGuard,
  rec?: { route?: string },
): Promise<Deno.TcpConn> {
  const dialer = deps.dialer ?? DIRECT;
  const conn = await dialer.dial(target, timeoutMs, guard);
  const route = dialer.routeOf(conn);
  if (route && rec) rec.route = route;
  return conn;
}
