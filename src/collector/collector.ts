import type { Logger } from "../util/log.ts";
import { splitHostPort } from "../net/address.ts";
import type { QueuedRecorder } from "../recorder/queued_recorder.ts";
import { StoreRecorder } from "../recorder/store_recorder.ts";
import { PgRecorder } from "../recorder/pg_recorder.ts";
import { PgRecordStore } from "../store/pg_store.ts";
import type { RecordQueries } from "../store/summary.ts";
import { createWebApp } from "../web/web_app.ts";
import { createIngest, type IngestCounts } from "./ingest.ts";
import { LokiPusher } from "./loki.ts";
import { serveHttp } from "../web/serve.ts";
import { boundHosts, startToken, startUrl } from "../web/access_policy.ts";

/**
 * The collector for many proxies (gost-plugins' `recorder` role): it accepts records as
 * GOST's (and snoop's) `http` recorder POSTs them — the record JSON as the body, any path —
 * stores them in SQLite, optionally pushes them to Loki, and serves the same query API and
 * web UI as the main job on the same port (GET requests).
 */
export interface CollectorOptions {
  addr: string;
  storePath: string;
  /** PostgreSQL instead of SQLite: `postgres://user:pass@host:5432/db`. */
  postgresUrl?: string;
  /** What recorders must send (`Authorization: Bearer …`) to POST records. */
  token?: string;
  /**
   * The query side's token, its own: a proxy allowed to post records must not read what the
   * others recorded. Empty: `$SNOOP_UI_TOKEN`, else random per start; `off` on loopback only.
   */
  uiToken?: string;
  lokiUrl?: string;
  lokiId: string;
  maxAgeMs: number;
  maxRecords: number;
}

export class Collector {
  private constructor(
    /** Records queued, refused as malformed or answered 503; requests refused. */
    readonly counts: IngestCounts,
    readonly store: QueuedRecorder,
    readonly loki: LokiPusher | undefined,
    readonly server: Deno.HttpServer,
    readonly abort: AbortController,
    readonly addr: Deno.NetAddr,
    /** The web UI's and query API's token (`--token`, else random). */
    readonly uiToken: string | null,
  ) {}

  static async start(opts: CollectorOptions, log: Logger): Promise<Collector> {
    const { host, port } = splitHostPort(opts.addr);
    const hostname = host || "0.0.0.0";
    const loopback = hostname === "localhost" || hostname === "::1" || hostname.startsWith("127.");
    if (!loopback && !opts.token) {
      throw new Error(`the collector listens on ${opts.addr}, beyond loopback: give it a --token`);
    }
    const retention = { maxAgeMs: opts.maxAgeMs, maxRecords: opts.maxRecords };
    let store: QueuedRecorder, queries: RecordQueries;
    if (opts.postgresUrl) {
      const pgStore = await PgRecordStore.connect(opts.postgresUrl, retention);
      store = new PgRecorder(pgStore, 100_000, log.child("postgres"));
      queries = pgStore;
    } else {
      const sqlite = new StoreRecorder(
        "collector",
        100_000,
        opts.storePath,
        retention,
        log.child("store"),
      );
      store = sqlite;
      queries = sqlite.queries;
    }
    const loki = opts.lokiUrl
      ? new LokiPusher(opts.lokiUrl, opts.lokiId, 10_000, log.child("loki"))
      : undefined;
    const ui = startToken(opts.uiToken);
    if (ui.token === null && !loopback) {
      throw new Error(
        `the collector listens on ${opts.addr}, beyond loopback: its UI needs a token`,
      );
    }
    const access = { hosts: new Set<string>(), token: ui.token };
    const web = createWebApp({ store: queries, access });
    const abort = new AbortController();
    const counts = { accepted: 0, rejected: 0, deferred: 0, refused: 0 };
    // On loopback only loopback names (DNS rebinding); beyond it, any name its peers use,
    // since the token is required there.
    const hosts = loopback ? new Set<string>() : null;
    const ingest = createIngest({ token: opts.token, hosts, store, loki, counts });
    const { server, addr } = await serveHttp(
      hostname,
      port,
      abort.signal,
      (req) => req.method === "POST" || req.method === "PUT" ? ingest(req) : web(req),
    );
    for (const h of boundHosts(addr)) access.hosts.add(h);
    const collector = new Collector(counts, store, loki, server, abort, addr, ui.token);
    log.info("collector listening", {
      ingest: `POST http://${addr.hostname}:${addr.port}/`,
      ui: startUrl(addr, ui.token, ui.generated),
      store: opts.postgresUrl ? opts.postgresUrl.replace(/:[^:@/]*@/, ":***@") : opts.storePath,
      loki: opts.lokiUrl,
    });
    return collector;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.server.finished;
    await Promise.all([this.store.close(5000), this.loki?.close(5000)]);
  }
}
