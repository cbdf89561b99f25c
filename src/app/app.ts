import { Bypass } from "../bypass/bypass.ts";
import type { Config } from "../config/types.ts";
import type { Logger } from "../util/log.ts";
import { createRecorder } from "../recorder/mod.ts";
import type { Recorder } from "../recorder/recorder.ts";
import { Service } from "../service/service.ts";
import { SelfAddresses } from "../net/self_addresses.ts";
import type { StoreRecorder } from "../recorder/store_recorder.ts";
import { splitHostPort } from "../net/address.ts";
import { ConfigError } from "../config/config_error.ts";
import { renderMetrics } from "../web/metrics.ts";
import { serveHttp } from "../web/serve.ts";
import { captureBudget, DEFAULT_CAPTURE_BUDGET } from "../record/capture_budget.ts";

/** Everything a configuration starts: recorders, bypasses and the services using them. */
export class App {
  #ui:
    | {
      server: Deno.HttpServer;
      abort: AbortController;
      addr: Deno.NetAddr;
      token: string | null;
      url: string;
    }
    | undefined;

  private constructor(
    readonly config: Config,
    readonly services: Service[],
    readonly recorders: Map<string, Recorder>,
    readonly log: Logger,
    readonly self: SelfAddresses,
  ) {}

  /** Where the web UI listens, when configured. */
  get uiAddr(): Deno.NetAddr | undefined {
    return this.#ui?.addr;
  }

  /** The web UI's access token (null when turned off), for tests and the main job. */
  get uiToken(): string | null | undefined {
    return this.#ui?.token;
  }

  /** The address printed at start: with `?token=` when snoop made the token up. */
  get uiUrl(): string | undefined {
    return this.#ui?.url;
  }

  /** Builds every component and binds the listeners. */
  static async start(config: Config, log: Logger): Promise<App> {
    const app = await App.build(config, log);
    try {
      for (const s of app.services) await s.listen();
      if (config.ui) await app.#startUi(config.ui);
    } catch (e) {
      await app.stop(0);
      throw e;
    }
    return app;
  }

  /** Builds every component without listening: every configuration error surfaces here. */
  static async build(config: Config, log: Logger): Promise<App> {
    captureBudget.limit = config.limits?.captureBudget ?? DEFAULT_CAPTURE_BUDGET;
    const bypasses = new Map(config.bypasses.map((b) => [b.name, Bypass.fromConfig(b)]));
    const recorders = new Map(
      await Promise.all(
        config.recorders.map(async (r) => [r.name, await createRecorder(r, log)] as const),
      ),
    );
    const self = new SelfAddresses();
    const services: Service[] = [];
    for (const s of config.services) {
      services.push(await Service.create(s, recorders, bypasses, log, self));
    }
    return new App(config, services, recorders, log, self);
  }

  async #startUi(ui: NonNullable<Config["ui"]>): Promise<void> {
    const recorder = this.recorders.get(ui.store);
    if (recorder?.kind !== "store") throw new Error(`recorder ${ui.store} is not a store`);
    const { queries } = recorder as StoreRecorder;
    const { host, port } = splitHostPort(ui.addr);
    const hostname = host || "0.0.0.0";
    const loopback = hostname === "localhost" || hostname === "::1" || hostname.startsWith("127.");
    if (ui.token === "off" && !loopback) {
      throw new ConfigError(
        { ...ui.where, path: "ui.token" },
        `token: off is allowed only when the UI listens on loopback (127.0.0.1, ::1, ` +
          `localhost); it listens on ${ui.addr}: remove "token: off" (a random token is ` +
          `printed at start) or set a token`,
      );
    }
    const abort = new AbortController();
    // Loaded here: a proxy without the UI does not carry it (or node:zlib) in its RSS.
    const { createWebApp } = await import("../web/web_app.ts");
    (await import("../web/body_decoder.ts")).decodeDefaults.maxBytes = ui.maxDecodedBody;
    const { boundHosts, startToken, startUrl } = await import("../web/access_policy.ts");
    const { token, generated } = startToken(ui.token || undefined);
    const access = { hosts: new Set(ui.hosts), token };
    const handler = createWebApp({
      store: queries,
      access,
      caFile: ui.caFile || undefined,
      metrics: () => renderMetrics(this.services, this.recorders),
      importRecords: (jsons) => (recorder as StoreRecorder).importBatch(jsons),
      // Replays go through these listeners, as a client on this host would connect.
      replayProxies: () =>
        this.services.map((s) => ({
          name: s.config.name,
          type: s.config.handler.type,
          hostname: /^(0\.0\.0\.0|::)$/.test(s.addr.hostname) ? "127.0.0.1" : s.addr.hostname,
          port: s.addr.port,
          caCertFile: s.config.handler.metadata.string(["mitm.certFile", "mitm.caCertFile"]) ||
            undefined,
        })),
    });
    const { server, addr } = await serveHttp(hostname, port, abort.signal, handler);
    for (const h of boundHosts(addr)) access.hosts.add(h);
    const url = startUrl(addr, token, generated);
    this.#ui = { server, abort, addr, token, url };
    this.self.add(addr);
    // The token appears here only when snoop made it up: this line is how the user learns it.
    this.log.info("web UI listening", {
      url,
      ...(token === null ? { token: "off" } : generated ? {} : { token: "as configured" }),
    });
  }

  service(name: string): Service {
    const s = this.services.find((s) => s.config.name === name);
    if (!s) throw new Error(`no service ${name}`);
    return s;
  }

  /** Graceful stop: listeners close, connections get `graceMs`, recorders flush. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.#ui) {
      this.#ui.abort.abort();
      await this.#ui.server.finished;
      this.#ui = undefined;
      (await import("../web/body_decoder.ts")).bodyDecoder.close();
    }
    await Promise.all(this.services.map((s) => s.stop(graceMs)));
    await Promise.all([...this.recorders.values()].map((r) => r.close(Math.max(graceMs, 1000))));
  }
}
