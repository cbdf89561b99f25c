import type { Bypass } from "../bypass/bypass.ts";
import type { ServiceConfig } from "../config/types.ts";
import type { Logger } from "../util/log.ts";
import type { RecordSink } from "../recorder/sink.ts";
import type { ConnContext } from "../tunnel/conn_context.ts";
import type { MitmInterceptor } from "../mitm/interceptor.ts";
import type { SelfAddresses } from "../net/self_addresses.ts";
import type { Authenticator } from "./auth.ts";
import type { Dialer } from "../net/chain/dialer.ts";

/** Serves one accepted connection. Never throws for a bad peer: it records and closes. */
export interface Handler {
  handle(conn: Deno.Conn, ctx: ConnContext): Promise<void>;
  /** Datagram handlers (UDP listeners): one message in, `reply` for each answer. */
  handleDatagram?(
    data: Uint8Array,
    ctx: ConnContext,
    reply: (b: Uint8Array) => void,
  ): Promise<void>;
  /** Called at shutdown, after listeners close. */
  close?(): void;
}

/** What a handler is built from: its service's config and the shared objects it refers to. */
export interface HandlerDeps {
  config: ServiceConfig;
  bypass?: Bypass;
  /** Named bypasses, for options that refer to one (`mitm.bypass`). */
  bypasses: Map<string, Bypass>;
  auth?: Authenticator;
  /** TLS interception, when `mitm.certFile`/`mitm.keyFile` are set. */
  mitm?: MitmInterceptor;
  sink: RecordSink;
  log: Logger;
  /** snoop's own listeners: targets that would loop back into it are refused. */
  self: SelfAddresses;
  /** The upstream proxies of `handler.chain`; none: targets are dialled straight. */
  dialer?: Dialer;
}

export type HandlerFactory = (deps: HandlerDeps) => Handler | Promise<Handler>;
