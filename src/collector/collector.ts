import type { Logger } from "../log.ts";
import { splitHostPort } from "../net/address.ts";
import type { Recorder } from "../recorder/recorder.ts";
import { StoreRecorder } from "../recorder/store_recorder.ts";
import { PgRecorder, PgRecordStore } from "../store/pg_store.ts";
import type { RecordQueries } from "../store/summary.ts";
import { createWebApp } from "../web/web_app.ts";
import { LokiPusher } from "./loki.ts";
import { serveHttp } from "../web/serve.ts";

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
  token?: string;
  lokiUrl?: string;
  lokiId: string;
  maxAgeMs: number;
  maxRecords: number;
}

/** Largest POST body accepted: a record with two 1 MiB bodies in base64 fits easily. */
const MAX_BODY = 16 * 1024 * 1024;

const reply = (status: number, error?: string) =>
  new Response(error ? JSON.stringify({ error }) : null, {
    status,
    headers: error ? { "content-type": "application/json" } : {},
  });

export class Collector {
  private constructor(
    /** Records accepted, and requests refused as malformed. */
    readonly counts: { accepted: number; rejected: number },
    readonly store: Recorder,
    readonly loki: LokiPusher | undefined,
    readonly server: Deno.HttpServer,
    readonly abort: AbortController,
    readonly addr: Deno.NetAddr,
  ) {}

  static async start(opts: CollectorOptions, log: Logger): Promise<Collector> {
    const { host, port } = splitHostPort(opts.addr);
    const hostname = host || "0.0.0.0";
    const loopback = hostname === "localhost" || hostname === "::1" || hostname.startsWith("127.");
    if (!loopback && !opts.token) {
      throw new Error(`the collector listens on ${opts.addr}, beyond loopback: give it a --token`);
    }
    const retention = { maxAgeMs: opts.maxAgeMs, maxRecords: opts.maxRecords };
    let store: Recorder, queries: RecordQueries;
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
    const web = createWebApp({ store: queries, token: opts.token });
    const abort = new AbortController();
    const counts = { accepted: 0, rejected: 0 };
    const ingest = async (req: Request): Promise<Response> => {
      if (opts.token && req.headers.get("authorization") !== `Bearer ${opts.token}`) {
        return reply(401, "a token is required (Authorization: Bearer)");
      }
      const len = Number(req.headers.get("content-length") ?? 0);
      if (len > MAX_BODY) return reply(413, `body larger than ${MAX_BODY} bytes`);
      const text = await req.text();
      if (text.length > MAX_BODY) return reply(413, `body larger than ${MAX_BODY} bytes`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (e) {
        counts.rejected++;
        return reply(400, `not JSON: ${(e as Error).message}`);
      }
      const records = Array.isArray(parsed) ? parsed : [parsed];
      if (!records.every((r) => r !== null && typeof r === "object" && !Array.isArray(r))) {
        counts.rejected++;
        return reply(400, "expected a record object (or a list of them)");
      }
      for (const r of records as Record<string, unknown>[]) {
        // Tunnel entrypoint redirects are not traffic (gost-plugins skips them too).
        if (r.redirect) continue;
        const json = JSON.stringify(r);
        store.record(json);
        loki?.record(json);
        counts.accepted++;
      }
      return reply(200);
    };
    const { server, addr } = await serveHttp(
      hostname,
      port,
      abort.signal,
      (req) => req.method === "POST" || req.method === "PUT" ? ingest(req) : web(req),
    );
    const collector = new Collector(counts, store, loki, server, abort, addr);
    log.info("collector listening", {
      ingest: `POST http://${addr.hostname}:${addr.port}/`,
      ui: `http://${addr.hostname}:${addr.port}/`,
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
