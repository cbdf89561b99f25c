import { formatIP, isHostNameText, isIPv6, joinHostPort, splitHostPort } from "../net/address.ts";
import { BufferedConn, ReadTimeout, withDeadline } from "../net/buffered_conn.ts";
import type { DialGuard } from "../net/dial.ts";
import { dialUpstream } from "../net/chain/dialer.ts";
import { closeQuietly, writeAll } from "../net/stream.ts";
import type { ConnContext } from "../tunnel/conn_context.ts";
import type { Handler, HandlerDeps } from "./handler.ts";
import { runTunnel } from "./tunnel.ts";
import { readTunnelOptions, type TunnelOptions } from "../tunnel/tunnel_options.ts";

const GRANTED = 90, REJECTED = 91;
const MAX_FIELD = 255;

/**
 * SOCKS4 and SOCKS4a CONNECT:
 *   VN=4 | CD=1 | DSTPORT(2) | DSTIP(4) | USERID | 0  [ | DOMAIN | 0 when DSTIP = 0.0.0.x ]
 * Reply: 0 | 90 (granted) or 91 (rejected) | port(2) | ip(4). With auth configured, the
 * USERID must be the username (SOCKS4 has no password), as in GOST.
 */
export class Socks4Handler implements Handler {
  readonly opts: TunnelOptions;
  readonly handshakeTimeoutMs: number;
  /** The dial refuses snoop's own listeners and what the egress list denies. */
  readonly guard: DialGuard;

  constructor(readonly deps: HandlerDeps) {
    this.opts = readTunnelOptions(deps.config.handler.metadata, deps.mitm);
    this.guard = { self: deps.self, egress: this.opts.egress };
    // Shared with the SOCKS5 handler (the auto handler builds both from one metadata map).
    this.handshakeTimeoutMs = deps.config.handler.metadata.duration("handshakeTimeout", 10_000);
  }

  handle(conn: Deno.Conn, ctx: ConnContext): Promise<void> {
    return this.serve(new BufferedConn(conn), ctx);
  }

  async serve(conn: BufferedConn, ctx: ConnContext): Promise<void> {
    const rec = ctx.newRecord();
    const fail = async (why: string) => {
      await writeAll(conn, Uint8Array.of(0, REJECTED, 0, 0, 0, 0, 0, 0)).catch(() => {});
      rec.err = `socks4: ${why}`;
      ctx.emit(rec);
      closeQuietly(conn);
    };
    let target: string, userid: string;
    try {
      [target, userid] = await withDeadline(this.handshakeTimeoutMs, "SOCKS4 request", async () => {
        const head = await conn.readExact(8, "request");
        if (head[0] !== 4) throw new Error(`bad version ${head[0]}`);
        if (head[1] !== 1) throw new Error(`command ${head[1]} not supported`);
        const port = (head[2] << 8) | head[3];
        const ip = head.subarray(4, 8);
        const user = await readNulTerminated(conn, "userid");
        // SOCKS4a: 0.0.0.x with x != 0 means "a domain name follows".
        const isSocks4a = ip[0] === 0 && ip[1] === 0 && ip[2] === 0 && ip[3] !== 0;
        const host = isSocks4a ? await readNulTerminated(conn, "domain") : formatIP(ip);
        // A name goes to the resolver: nothing in it that could change its meaning there
        // or in a log line (NUL, `%`, spaces, 8-bit bytes). An IPv6 literal is an address.
        if (isSocks4a && !isHostNameText(host) && !isIPv6(host)) {
          throw new Error("domain name with a byte outside [A-Za-z0-9._-]");
        }
        rec.inputBytes += 8 + user.length + 1 + (isSocks4a ? host.length + 1 : 0);
        return [joinHostPort(host, port), user];
      }, () => conn.close());
    } catch (e) {
      if (e instanceof ReadTimeout) ctx.sink.limited("handshake-timeout");
      return fail((e as Error).message);
    }
    rec.host = target;
    rec.route = target;
    if (this.deps.auth) {
      if (!(await this.deps.auth.verify(userid, ""))) return fail("authentication failed");
      rec.clientID = userid;
    }
    if (this.deps.bypass?.contains(target)) return fail("bypass");
    let upstream: Deno.TcpConn;
    try {
      upstream = await dialUpstream(this.deps, target, this.opts.dialTimeoutMs, this.guard, rec);
    } catch (e) {
      this.deps.sink.dialError(splitHostPort(target).host, e);
      return fail((e as Error).message);
    }
    const granted = Uint8Array.of(0, GRANTED, 0, 0, 0, 0, 0, 0);
    try {
      await writeAll(conn, granted);
    } catch (e) {
      closeQuietly(upstream);
      return fail((e as Error).message);
    }
    rec.outputBytes += granted.length;
    await runTunnel(ctx, conn, upstream, rec, this.opts);
  }
}

async function readNulTerminated(conn: BufferedConn, what: string): Promise<string> {
  for (let n = 1;; n++) {
    const view = await conn.peek(n, what);
    if (view[n - 1] === 0) {
      const bytes = await conn.readExact(n, what);
      return new TextDecoder().decode(bytes.subarray(0, n - 1));
    }
    if (n > MAX_FIELD) throw new Error(`${what} too long`);
  }
}

export const socks4Handler = (deps: HandlerDeps): Handler => new Socks4Handler(deps);
