import { ConfigError } from "../config/config_error.ts";
import { splitHostPort } from "../net/address.ts";
import type { DialGuard } from "../net/dial.ts";
import { dialUpstream } from "../net/chain/dialer.ts";
import { closeQuietly } from "../net/stream.ts";
import { wholeString } from "../util/text.ts";
import type { ConnContext } from "../tunnel/conn_context.ts";
import type { Handler, HandlerDeps } from "./handler.ts";
import { runTunnel } from "./tunnel.ts";
import { readTunnelOptions, type TunnelOptions } from "../tunnel/tunnel_options.ts";

/**
 * TCP port forwarding (`tcp://:2222/127.0.0.1:22`, or `forwarder.nodes`): every
 * connection goes to the targets in turn (round robin), the next one tried when a dial
 * fails. With sniffing, what the tunnel carries is recorded as for proxy tunnels.
 */
export class ForwardHandler implements Handler {
  readonly opts: TunnelOptions;
  readonly targets: string[];
  /**
   * The targets are configured, but a forward to one of snoop's own listeners would still
   * loop (or open the UI to whoever reaches this port): the dial refuses those.
   */
  readonly guard: DialGuard;
  #next = 0;

  constructor(readonly deps: HandlerDeps) {
    this.opts = readTunnelOptions(deps.config.handler.metadata, deps.mitm);
    this.guard = { self: deps.self, egress: this.opts.egress };
    // Whole strings, for the records (YAML's are slices of the file; see `wholeString`).
    this.targets = deps.config.forwarder.nodes.map((n) => wholeString(n.addr));
    if (this.targets.length === 0) {
      throw new ConfigError(
        { ...deps.config.where, path: `${deps.config.where.path}.forwarder.nodes` },
        "the tcp handler needs at least one target (forwarder.nodes, or tcp://:port/host:port)",
      );
    }
  }

  async handle(conn: Deno.Conn, ctx: ConnContext): Promise<void> {
    const rec = ctx.newRecord();
    const start = this.#next++ % this.targets.length;
    let lastError = "";
    for (let i = 0; i < this.targets.length; i++) {
      const target = this.targets[(start + i) % this.targets.length];
      rec.host = target;
      rec.route = target;
      if (this.deps.bypass?.contains(target)) {
        lastError = "bypass";
        continue;
      }
      let upstream: Deno.TcpConn;
      try {
        upstream = await dialUpstream(this.deps, target, this.opts.dialTimeoutMs, this.guard, rec);
      } catch (e) {
        this.deps.sink.dialError(splitHostPort(target).host, e);
        lastError = (e as Error).message;
        continue;
      }
      return runTunnel(ctx, conn, upstream, rec, this.opts);
    }
    rec.err = lastError;
    ctx.emit(rec);
    closeQuietly(conn);
  }
}

export const forwardHandler = (deps: HandlerDeps): Handler => new ForwardHandler(deps);
