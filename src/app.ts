import { Bypass } from "./bypass/bypass.ts";
import type { Config } from "./config/types.ts";
import type { Logger } from "./log.ts";
import { createRecorder } from "./recorder/mod.ts";
import type { Recorder } from "./recorder/recorder.ts";
import { Service } from "./service/service.ts";

/** Everything a configuration starts: recorders, bypasses and the services using them. */
export class App {
  private constructor(
    readonly services: Service[],
    readonly recorders: Map<string, Recorder>,
    readonly log: Logger,
  ) {}

  /** Builds every component and binds the listeners. */
  static async start(config: Config, log: Logger): Promise<App> {
    const app = await App.build(config, log);
    try {
      for (const s of app.services) await s.listen();
    } catch (e) {
      await app.stop(0);
      throw e;
    }
    return app;
  }

  /** Builds every component without listening: every configuration error surfaces here. */
  static async build(config: Config, log: Logger): Promise<App> {
    const bypasses = new Map(config.bypasses.map((b) => [b.name, Bypass.fromConfig(b)]));
    const recorders = new Map(config.recorders.map((r) => [r.name, createRecorder(r, log)]));
    const services: Service[] = [];
    for (const s of config.services) {
      services.push(await Service.create(s, recorders, bypasses, log));
    }
    return new App(services, recorders, log);
  }

  service(name: string): Service {
    const s = this.services.find((s) => s.config.name === name);
    if (!s) throw new Error(`no service ${name}`);
    return s;
  }

  /** Graceful stop: listeners close, connections get `graceMs`, recorders flush. */
  async stop(graceMs = 10_000): Promise<void> {
    await Promise.all(this.services.map((s) => s.stop(graceMs)));
    await Promise.all([...this.recorders.values()].map((r) => r.close(Math.max(graceMs, 1000))));
  }
}
