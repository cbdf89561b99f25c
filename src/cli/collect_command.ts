import { parseArgs } from "node:util";
import { Collector } from "../collector/collector.ts";
import { parseGoDuration } from "../config/metadata.ts";
import { log, Logger } from "../util/log.ts";
import { dataDir } from "../app/main_job.ts";
import { makeDataDirPrivate } from "../util/private_files.ts";
import { startLoggedIdleCollection } from "../util/idle_collection.ts";

export const COLLECT_USAGE =
  `snoop collect — store and show records from many proxies (snoop or GOST)

Usage:
  snoop collect [--addr 127.0.0.1:8000] [--store FILE | --postgres URL] [--token T] [--ui-token U]
                [--loki.url URL] [--loki.id gost] [--retention.maxAge 168h] [--retention.maxRecords N]

Point GOST's or snoop's http recorder at it:  recorders: [{ name: r, http: { url: http://HOST:8000 } }]
(snoop's recorder can add batch: 100 to send up to 100 records per POST as a JSON array).
Records POSTed to any path as Content-Type: application/json (up to 16 MiB and 10,000
records a POST) are stored (SQLite, default <data>/collector.db, 0600 in a 0700 directory,
or PostgreSQL with --postgres postgres://user:pass@host:5432/db) and, with
--loki.url, pushed to Loki as gost-plugins does. GET / serves the web UI and query API
behind a token of its own: --ui-token, else $SNOOP_UI_TOKEN, else a random one printed at
start as a ?token= address (the ingest token never reads records).
Beyond loopback, --token is required to post (Authorization: Bearer T; the recorder's
header: option).`;

export async function collectCommand(args: string[]): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args,
      options: {
        addr: { type: "string", default: "127.0.0.1:8000" },
        store: { type: "string" },
        postgres: { type: "string" },
        token: { type: "string" },
        "ui-token": { type: "string" },
        "loki.url": { type: "string" },
        "loki.id": { type: "string", default: "gost" },
        "retention.maxAge": { type: "string", default: "0" },
        "retention.maxRecords": { type: "string", default: "0" },
        D: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }).values;
  } catch (e) {
    console.error(`snoop collect: ${(e as Error).message}\n\n${COLLECT_USAGE}`);
    return 2;
  }
  if (v.help) {
    console.log(COLLECT_USAGE);
    return 0;
  }
  if (v.D) Logger.level = "debug";
  const maxAgeMs = parseGoDuration(v["retention.maxAge"]!);
  const maxRecords = Number(v["retention.maxRecords"]);
  if (maxAgeMs === null || !Number.isInteger(maxRecords) || maxRecords < 0) {
    console.error(
      "snoop collect: --retention.maxAge takes a duration (168h), --retention.maxRecords a count",
    );
    return 2;
  }
  let collector: Collector;
  try {
    if (!v.store && !v.postgres) {
      const wider = await makeDataDirPrivate(dataDir());
      if (wider !== null) {
        log.warn("the data directory was readable by others: made it private", {
          dir: dataDir(),
          was: wider.toString(8),
        });
      }
    }
    collector = await Collector.start({
      addr: v.addr!,
      storePath: v.store ?? `${dataDir()}/collector.db`,
      postgresUrl: v.postgres,
      token: v.token,
      uiToken: v["ui-token"],
      lokiUrl: v["loki.url"],
      lokiId: v["loki.id"]!,
      maxAgeMs,
      maxRecords,
    }, log);
  } catch (e) {
    console.error(`snoop collect: ${(e as Error).message}`);
    return 2;
  }
  const idle = startLoggedIdleCollection(log);
  await new Promise<void>((resolve) => {
    for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(sig, () => resolve());
  });
  idle.stop();
  await collector.stop();
  log.info("collector stopped", { ...collector.counts });
  return 0;
}
