import dgram from "node:dgram";
import type { Buffer } from "node:buffer";
import { Bypass } from "../bypass/bypass.ts";
import { ConfigError } from "../config/config_error.ts";
import { rejectUnread } from "../config/metadata.ts";
import type { ServiceConfig } from "../config/types.ts";
import { Authenticator } from "../handler/auth.ts";
import type { Handler } from "../handler/handler.ts";
import { GOST_HANDLERS_UNSUPPORTED, HANDLERS } from "../handler/mod.ts";
import type { Logger } from "../util/log.ts";
import type { MitmInterceptor } from "../mitm/interceptor.ts";
import { readMitmSettings } from "../mitm/mitm_settings.ts";
import { isIPv6, splitHostPort } from "../net/address.ts";
import { closeQuietly } from "../net/stream.ts";
import type { Recorder } from "../recorder/recorder.ts";
import { type CaptureOptions, DEFAULT_CAPTURE, RecordSink } from "../recorder/sink.ts";
import { ConnContext } from "../tunnel/conn_context.ts";
import { SelfAddresses } from "../net/self_addresses.ts";
import { ChainDialer } from "../net/chain/chain.ts";
import { Shutdown } from "../util/shutdown.ts";
import { wholeString } from "../util/text.ts";

/**
 * A service is a listener plus a handler (GOST's vocabulary), with the recorders and the
 * bypass it refers to. It accepts connections until stopped; one bad client only ever
 * ends its own connection.
 */
export class Service {
  #listener: Deno.TcpListener | null = null;
  #udp: dgram.Socket | null = null;
  readonly #active = new Set<Promise<void>>();
  readonly #shutdown = new Shutdown();
  #accepting: Promise<void> | null = null;
  connections = 0;
  /** Connections that ended in an unexpected exception (a bug: handlers answer bad input). */
  handlerFailures = 0;
  /** Connections open per client IP, for `maxConnectionsPerClient`. */
  readonly #perClient = new Map<string, number>();
  readonly maxConnections: number;
  readonly maxConnectionsPerClient: number;
  /** The name records carry, in one piece: YAML's strings are slices of the file. */
  readonly #recordName: string;

  private constructor(
    readonly config: ServiceConfig,
    readonly handler: Handler,
    readonly sink: RecordSink,
    readonly log: Logger,
    readonly mitm: MitmInterceptor | undefined,
    readonly self: SelfAddresses,
    limits: { maxConnections: number; maxConnectionsPerClient: number },
    /** The service's credentials check (it counts failures). */
    readonly auth?: Authenticator,
  ) {
    this.maxConnections = limits.maxConnections;
    this.maxConnectionsPerClient = limits.maxConnectionsPerClient;
    this.#recordName = wholeString(config.name);
  }

  /** Builds the handler and checks every option the service was given. */
  static async create(
    config: ServiceConfig,
    recorders: Map<string, Recorder>,
    bypasses: Map<string, Bypass>,
    log: Logger,
    self: SelfAddresses = new SelfAddresses(),
  ): Promise<Service> {
    const scoped = log.child(config.name);
    const sink = buildSink(config, recorders);
    const factory = HANDLERS[config.handler.type.toLowerCase()];
    if (!factory) {
      const unsupported = GOST_HANDLERS_UNSUPPORTED.includes(config.handler.type.toLowerCase());
      throw new ConfigError(
        config.handler.typeWhere,
        unsupported
          ? `handler type "${config.handler.type}" is not supported by snoop`
          : `unknown handler type "${config.handler.type}"; expected one of ${
            Object.keys(HANDLERS).join(", ")
          }`,
      );
    }
    const listenerType = config.listener.type.toLowerCase();
    if (!["tcp", "udp", "dns"].includes(listenerType)) {
      throw new ConfigError(
        config.listener.typeWhere,
        `listener type "${config.listener.type}" is not supported by snoop (tcp and udp are)`,
      );
    }
    const mitmSettings = readMitmSettings(config.handler.metadata);
    const mitm = mitmSettings
      ? await (await import("../mitm/interceptor.ts")).MitmInterceptor.fromSettings(
        mitmSettings,
        config.handler.metadata,
        bypasses,
        scoped,
      )
      : undefined;
    const auth = config.handler.auth ? await Authenticator.create(config.handler.auth) : undefined;
    const handler = await factory({
      config,
      bypass: config.bypass ? bypasses.get(config.bypass.name) : undefined,
      bypasses,
      auth,
      mitm,
      self,
      sink,
      log: scoped,
      dialer: config.handler.chain?.config
        ? new ChainDialer(config.handler.chain.config, bypasses)
        : undefined,
    });
    if (listenerType !== "tcp" && !handler.handleDatagram) {
      throw new ConfigError(
        config.listener.typeWhere,
        `the ${config.handler.type} handler does not take a udp listener`,
      );
    }
    // Connection caps (as Envoy's edge guide and smokescreen advise): 0 = none.
    const md = config.handler.metadata;
    const limits = {
      maxConnections: md.integer("maxConnections", 4096, 0),
      maxConnectionsPerClient: md.integer("maxConnectionsPerClient", 256, 0),
    };
    rejectUnread(config.handler.metadata, config.listener.metadata, config.metadata);
    const { port } = splitHostPort(config.addr);
    if (Number.isNaN(port)) {
      throw new ConfigError(
        { ...config.where, path: pathOf(config, "addr") },
        `"${config.addr}" is not an address with a port, such as ":8080" or "127.0.0.1:8080"`,
      );
    }
    return new Service(config, handler, sink, scoped, mitm, self, limits, auth);
  }

  /** The address actually bound (useful with port 0). */
  get addr(): Deno.NetAddr {
    if (this.#udp) {
      const a = this.#udp.address();
      return { transport: "udp", hostname: a.address, port: a.port };
    }
    return this.#listener!.addr as Deno.NetAddr;
  }

  get #isUdp(): boolean {
    return this.config.listener.type.toLowerCase() !== "tcp";
  }

  /** Binds the listener and starts accepting. */
  async listen(): Promise<void> {
    const { host, port } = splitHostPort(this.config.addr);
    if (this.#isUdp) return await this.#listenUdp(host || "0.0.0.0", port);
    try {
      this.#listener = Deno.listen({ hostname: host || "0.0.0.0", port, transport: "tcp" });
    } catch (e) {
      throw new ConfigError(
        { ...this.config.where, path: pathOf(this.config, "addr") },
        `cannot listen on ${this.config.addr}: ${(e as Error).message}`,
      );
    }
    this.self.add(this.addr);
    this.log.info("listening", {
      addr: `${this.addr.hostname}:${this.addr.port}`,
      handler: this.config.handler.type,
    });
    this.#accepting = this.#acceptLoop();
  }

  async #listenUdp(host: string, port: number): Promise<void> {
    const socket = dgram.createSocket(isIPv6(host) ? "udp6" : "udp4");
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once("error", reject);
        socket.bind(port, host, () => resolve());
      });
    } catch (e) {
      socket.close();
      throw new ConfigError(
        { ...this.config.where, path: pathOf(this.config, "addr") },
        `cannot listen on udp ${this.config.addr}: ${(e as Error).message}`,
      );
    }
    this.#udp = socket;
    // A UDP listener (DNS) is snoop too: a SOCKS5 datagram to it would loop back in.
    this.self.add(this.addr);
    socket.on("error", (e) => this.log.warn("udp socket error", { error: e }));
    const local = this.addr;
    socket.on("message", (msg: Buffer, from: dgram.RemoteInfo) => {
      this.connections++;
      const remote: Deno.NetAddr = { transport: "udp", hostname: from.address, port: from.port };
      const ctx = new ConnContext(
        this.#recordName,
        "udp",
        remote,
        local,
        this.sink,
        this.log,
        this.#shutdown,
      );
      this.sink.clientIP(ctx.clientIP);
      const data = new Uint8Array(msg.buffer, msg.byteOffset, msg.length);
      const task = this.handler.handleDatagram!(data, ctx, (reply) => {
        if (this.#udp) socket.send(reply, from.port, from.address);
      }).catch((e) => this.log.error("datagram failed", { remote: ctx.remote, error: e }));
      this.#active.add(task);
      task.finally(() => this.#active.delete(task));
    });
    this.log.info("listening", {
      addr: `udp ${local.hostname}:${local.port}`,
      handler: this.config.handler.type,
    });
  }

  async #acceptLoop(): Promise<void> {
    const listener = this.#listener!;
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted) return;
        // Out of file descriptors and the like: wait a moment rather than spin.
        this.log.warn("accept failed", { error: e });
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      this.connections++;
      try {
        conn.setNoDelay(true);
      } catch { /* already reset by the peer */ }
      const ip = (conn.remoteAddr as Deno.NetAddr).hostname;
      const refused = this.#overLimit(ip);
      if (refused) {
        this.#refuse(conn, refused);
        continue;
      }
      this.#perClient.set(ip, (this.#perClient.get(ip) ?? 0) + 1);
      const task = this.#serve(conn).finally(() => {
        const left = (this.#perClient.get(ip) ?? 1) - 1;
        if (left > 0) this.#perClient.set(ip, left);
        else this.#perClient.delete(ip);
      });
      this.#active.add(task);
      task.finally(() => this.#active.delete(task));
    }
  }

  /** The cap a new connection from `ip` would exceed, if any. */
  #overLimit(ip: string): [string, string] | null {
    if (this.maxConnections > 0 && this.#active.size >= this.maxConnections) {
      return ["connections", `connection limit reached (maxConnections ${this.maxConnections})`];
    }
    const mine = this.#perClient.get(ip) ?? 0;
    if (this.maxConnectionsPerClient > 0 && mine >= this.maxConnectionsPerClient) {
      return [
        "connections-per-client",
        `connection limit for ${ip} reached (maxConnectionsPerClient ${this.maxConnectionsPerClient})`,
      ];
    }
    return null;
  }

  /** Closes a connection over a cap at once, counts it, and records why. */
  #refuse(conn: Deno.TcpConn, [limit, why]: [string, string]): void {
    this.sink.limited(limit);
    try {
      const ctx = this.#contextFor(conn);
      const rec = ctx.newRecord();
      rec.err = why;
      ctx.emit(rec);
    } catch { /* the peer is already gone: nothing to record */ }
    closeQuietly(conn);
  }

  /** Throws when the peer is already gone (its addresses cannot be read). */
  #contextFor(conn: Deno.TcpConn): ConnContext {
    return new ConnContext(
      this.#recordName,
      "tcp",
      conn.remoteAddr,
      conn.localAddr,
      this.sink,
      this.log,
      this.#shutdown,
    );
  }

  async #serve(conn: Deno.TcpConn): Promise<void> {
    let ctx: ConnContext;
    try {
      ctx = this.#contextFor(conn);
    } catch {
      closeQuietly(conn);
      return;
    }
    this.sink.clientIP(ctx.clientIP);
    try {
      await this.handler.handle(conn, ctx);
    } catch (e) {
      // A handler bug must not take the listener down: log it and drop this connection.
      this.handlerFailures++;
      this.log.error("connection failed", { sid: ctx.sid, remote: ctx.remote, error: e });
    } finally {
      closeQuietly(conn);
    }
  }

  /** Number of connections being served. */
  get active(): number {
    return this.#active.size;
  }

  /**
   * Stops accepting, lets open connections finish for up to `graceMs`, then closes them.
   */
  async stop(graceMs = 10_000): Promise<void> {
    closeQuietly(this.#listener);
    const udp = this.#udp;
    if (udp) {
      udp.removeAllListeners("message");
      await new Promise<void>((r) => udp.close(() => r()));
    }
    await this.#accepting;
    if (this.#active.size > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled([...this.#active]),
        new Promise((r) => timer = setTimeout(r, graceMs)),
      ]);
      clearTimeout(timer);
    }
    for (const error of this.#shutdown.trigger()) {
      this.log.warn("closing a connection at shutdown failed", { error });
    }
    // The shutdown closes every tunnel; handlers then finish within their own deadlines. A
    // last bound keeps shutdown from ever hanging on one that does not.
    const left = [...this.#active];
    if (left.length > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finished = await Promise.race([
        Promise.allSettled(left).then(() => true),
        new Promise<false>((r) => timer = setTimeout(() => r(false), 5000)),
      ]);
      clearTimeout(timer);
      if (!finished) {
        this.log.warn("connections still open after shutdown", { count: this.#active.size });
      }
    }
    this.#udp = null;
    this.handler.close?.();
  }
}

function pathOf(config: ServiceConfig, key: string): string {
  return config.where.path ? `${config.where.path}.${key}` : key;
}

/** The first recorder for each record name, and the capture options of the handler one. */
function buildSink(config: ServiceConfig, recorders: Map<string, Recorder>): RecordSink {
  const first = (record: string) => config.recorders.find((r) => r.record === record);
  const handlerRef = first("recorder.service.handler");
  let capture: CaptureOptions = DEFAULT_CAPTURE;
  for (const ref of config.recorders) {
    const md = ref.metadata;
    const redact = md.bool("redact", true);
    const extraHeaders = md.stringList("redact.headers").map((h) => h.toLowerCase());
    const extraQuery = md.stringList("redact.query").map((q) => q.toLowerCase());
    const opts: CaptureOptions = {
      body: md.bool("http.body", false),
      maxBodySize: md.integer("http.maxBodySize", DEFAULT_CAPTURE.maxBodySize, 1, 64 * 1024 * 1024),
      redaction: redact
        ? {
          headers: new Set([...DEFAULT_CAPTURE.redaction!.headers, ...extraHeaders]),
          query: new Set([...DEFAULT_CAPTURE.redaction!.query, ...extraQuery]),
        }
        : null,
    };
    rejectUnread(md);
    if (ref === handlerRef) capture = opts;
  }
  const get = (record: string) => {
    const ref = first(record);
    return ref ? recorders.get(ref.name) : undefined;
  };
  return new RecordSink(
    get("recorder.service.handler"),
    capture,
    get("recorder.service.client.address"),
    get("recorder.service.router.dial.address"),
    get("recorder.service.router.dial.address.error"),
  );
}

export { Bypass };
