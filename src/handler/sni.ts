import { joinHostPort, splitHostPort } from "../net/address.ts";
import { BufferedConn, ReadTimeout, withDeadline } from "../net/buffered_conn.ts";
import type { DialGuard } from "../net/dial.ts";
import { dialUpstream } from "../net/chain/dialer.ts";
import { closeQuietly } from "../net/stream.ts";
import type { ConnContext } from "../tunnel/conn_context.ts";
import { detectProtocol } from "../protocol/detect.ts";
import { headerValue, Http1Parser } from "../protocol/http1/parser.ts";
import { newClientHelloReader } from "../protocol/tls/hello.ts";
import type { Handler, HandlerDeps } from "./handler.ts";
import { runTunnel } from "./tunnel.ts";
import { readTunnelOptions, type TunnelOptions } from "../tunnel/tunnel_options.ts";

/**
 * SNI proxy: routes each connection by what it starts with — the TLS ClientHello's
 * server name (to port 443) or the HTTP `Host` header (its port, else 80) — and always
 * sniffs. `targetPort` (snoop's option) sends TLS to another port than 443. Nothing read
 * is consumed: the bytes go upstream as they came.
 */
export class SniHandler implements Handler {
  readonly opts: TunnelOptions;
  readonly tlsPort: number;
  /** The dial refuses snoop's own listeners and what the egress list denies. */
  readonly guard: DialGuard;

  constructor(readonly deps: HandlerDeps) {
    const md = deps.config.handler.metadata;
    this.opts = { ...readTunnelOptions(md, deps.mitm), sniffing: true };
    this.guard = { self: deps.self, egress: this.opts.egress };
    md.claim("sniffing");
    this.tlsPort = md.integer("targetPort", 443, 1, 65535);
  }

  async handle(conn: Deno.Conn, ctx: ConnContext): Promise<void> {
    const client = new BufferedConn(conn);
    const rec = ctx.newRecord();
    let target: string;
    try {
      target = await withDeadline(
        this.opts.sniffTimeoutMs,
        "SNI or Host",
        () => this.#route(client),
        () => client.close(),
      );
    } catch (e) {
      if (e instanceof ReadTimeout) ctx.sink.limited("handshake-timeout");
      rec.err = `sni: ${(e as Error).message}`;
      ctx.emit(rec);
      closeQuietly(client);
      return;
    }
    rec.host = target;
    rec.route = target;
    if (this.deps.bypass?.contains(target)) {
      rec.err = "bypass";
      ctx.emit(rec);
      closeQuietly(client);
      return;
    }
    let upstream: Deno.TcpConn;
    try {
      upstream = await dialUpstream(this.deps, target, this.opts.dialTimeoutMs, this.guard, rec);
    } catch (e) {
      this.deps.sink.dialError(splitHostPort(target).host, e);
      rec.err = (e as Error).message;
      ctx.emit(rec);
      closeQuietly(client);
      return;
    }
    await runTunnel(ctx, client, upstream, rec, this.opts);
  }

  /** Reads (without consuming) until the target is known. */
  async #route(client: BufferedConn): Promise<string> {
    for (;;) {
      const seen = client.view();
      const proto = detectProtocol(seen);
      if (proto === "tls") {
        const r = newClientHelloReader().push(seen);
        if (r.status === "done") {
          if (!r.hello.serverName) throw new Error("ClientHello without a server name");
          return joinHostPort(r.hello.serverName, this.tlsPort);
        }
        if (r.status === "invalid") throw new Error(r.reason);
      } else if (proto === "http") {
        const parser = new Http1Parser("request");
        parser.push(seen);
        const ev = parser.next();
        if (ev?.type === "head") {
          const host = headerValue(ev.head, "host");
          if (!host) throw new Error("HTTP request without a Host header");
          const { host: name, port } = splitHostPort(host, 80);
          return joinHostPort(name, port);
        }
      } else if (proto !== null) {
        throw new Error("unknown traffic (neither TLS nor HTTP)");
      }
      if (!(await client.fill())) throw new Error("client closed before the target was known");
    }
  }
}

export const sniHandler = (deps: HandlerDeps): Handler => new SniHandler(deps);
