/**
 * `deno task bench collect`: `snoop collect` fed by an edge snoop at full rate, and on its own
 * by pre-built batches, on loopback. Issue #21's target: the collector keeps up with one edge
 * (≥ 50,000 records/s into SQLite with batched POSTs, ≥ 30,000/s into PostgreSQL) and never
 * acknowledges a record it does not store.
 *
 *   deno task bench collect [--seconds 10] [--mode both|edge|direct] [--pg URL] [--no-pin]
 *                           [--posters 4] [--batch 100]
 *
 * Two turns per store, each with a fresh collector (`snoop collect --store` a temporary SQLite
 * file; then, with `--pg URL` or `$SNOOP_PG_URL`, `--postgres` that database, whose
 * `snoop_records` table is emptied before each turn, as `bench store` does):
 *
 * - edge: wrk (`-t1 -c50`, absolute-URI GETs of 1 KiB from nginx) through an edge snoop run
 *   from examples/edge-to-collector.yaml with its ports and collector URL changed (sniffing, the
 *   `http` recorder with `batch: 100`). Two cores: the collector alone on CPU 1, and the edge,
 *   nginx and wrk sharing CPU 0, so the edge serves less than it would alone: what it sends is
 *   what one edge sends when it shares its core with its traffic.
 * - direct: this process posts pre-built arrays of `--batch` records (a real edge record,
 *   captured first, varied by time, URI and port) from `--posters` concurrent connections, on
 *   CPU 0; a 503 is sent again after 100 ms, as the edge's queue does. The collector's own
 *   ceiling, without an edge in the way.
 *
 * After the load, the turn waits until the collector's stored count (in its SQLite file, rows
 * and records not yet indexed; PostgreSQL: `/api/stats` total) has
 * held still for 3 s (the edge's queue retries every 2 s at most), then stops the edge with
 * SIGTERM (it logs what its recorder wrote and dropped) and the collector (it logs what it
 * acknowledged, refused and answered 503). Stored records per second count from the start of
 * the load to the last record stored; collector CPU (its worker included) is per record stored.
 * `--pin` is on by default (`--no-pin` turns it off); without taskset or a second CPU it runs
 * unpinned and says so.
 */
import { parseArgs } from "node:util";
import pg from "pg";
import { parse as parseYaml } from "yaml";
import { startNginx } from "./lib/nginx_origin.ts";
import {
  cpuSeconds,
  freePort,
  machine,
  output,
  type Proc,
  setAffinity,
  spawn,
  waitForPort,
  withPeakRss,
} from "./lib/processes.ts";
import { storeRecordCount } from "./lib/store_count.ts";
import { SNOOP_V8_FLAGS } from "./lib/v8_flags.ts";
import { wrk, type WrkLoad } from "./lib/wrk.ts";

const { values } = parseArgs({
  args: Deno.args.filter((a) => a !== "collect"),
  options: {
    seconds: { type: "string", default: "10" },
    mode: { type: "string", default: "both" },
    pg: { type: "string" },
    pin: { type: "boolean", default: true },
    "no-pin": { type: "boolean", default: false },
    posters: { type: "string", default: "4" },
    batch: { type: "string", default: "100" },
  },
  strict: true,
});
const SECONDS = Number(values.seconds);
const POSTERS = Number(values.posters);
const BATCH = Number(values.batch);
for (const [flag, n] of [["seconds", SECONDS], ["posters", POSTERS], ["batch", BATCH]] as const) {
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${flag} wants a whole number ≥ 1`);
    Deno.exit(2);
  }
}
if (!["both", "edge", "direct"].includes(values.mode!)) {
  console.error("--mode is both, edge or direct");
  Deno.exit(2);
}
const MODES = values.mode === "both" ? ["edge", "direct"] as const : [values.mode as Mode];
type Mode = "edge" | "direct";
const PG_URL = values.pg ?? Deno.env.get("SNOOP_PG_URL") ?? "";
const hasTaskset = await new Deno.Command("taskset", { args: ["-V"], stdout: "null" }).output()
  .then((o) => o.success, () => false);
const PIN = values.pin && !values["no-pin"] && hasTaskset && navigator.hardwareConcurrency >= 2;
const EDGE_CPU = "0", COLLECTOR_CPU = "1";
const PIN_NOTE = PIN
  ? "collector on CPU 1 (all its threads); edge, nginx and wrk (or the direct poster) on CPU 0"
  : `unpinned (${
    values["no-pin"] || !values.pin
      ? "--no-pin"
      : hasTaskset
      ? "fewer than 2 CPUs"
      : "taskset is missing"
  }): everything shares the machine`;
const LOAD: WrkLoad = { threads: 1, connections: 50, cpus: PIN ? EDGE_CPU : undefined };
const UI_TOKEN = crypto.randomUUID();
const mod = new URL("../mod.ts", import.meta.url).pathname;
const example = new URL("../examples/edge-to-collector.yaml", import.meta.url).pathname;

const dir = await Deno.makeTempDir({ prefix: "snoop-collect-" });
await Deno.chmod(dir, 0o777); // nginx's worker runs unprivileged
const procs: Proc[] = [];

function spawnSnoop(args: string[]): Proc {
  const proc = spawn(Deno.execPath(), [
    "run",
    "--allow-all",
    `--v8-flags=${SNOOP_V8_FLAGS}`,
    mod,
    ...args,
  ]);
  procs.push(proc);
  return proc;
}

async function stopProc(p: Proc) {
  const i = procs.indexOf(p);
  if (i >= 0) procs.splice(i, 1);
  await p.stop();
}

/**
 * SIGTERM (bash `exec`s, so the pid is snoop's), then waits up to `ms` for `line` in its log:
 * the totals snoop logs once it has stopped.
 */
async function terminate(p: Proc, line: string, ms = 20_000): Promise<string> {
  try {
    Deno.kill(p.pid, "SIGTERM");
  } catch { /* gone */ }
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && !p.log().includes(line)) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const log = p.log();
  await stopProc(p);
  return log.slice(log.lastIndexOf(line));
}

/** A `key=value` of snoop's log line: a number, or a JSON value the logger quoted. */
function logValue(line: string, key: string): unknown {
  const m = new RegExp(`\\b${key}=("(?:[^"\\\\]|\\\\.)*"|\\S+)`).exec(line);
  if (!m) return undefined;
  let v: unknown = m[1].startsWith('"') ? JSON.parse(m[1]) : m[1];
  if (typeof v === "string") {
    try {
      v = JSON.parse(v);
    } catch { /* a word */ }
  }
  return v;
}

interface Collector {
  proc: Proc;
  port: number;
  /** Its SQLite store file (none for PostgreSQL). */
  db?: string;
}

async function startCollector(store: "sqlite" | "postgres", turn: string): Promise<Collector> {
  const port = freePort();
  const proc = spawnSnoop([
    "collect",
    "--addr",
    `127.0.0.1:${port}`,
    ...(store === "sqlite" ? ["--store", `${dir}/${turn}.db`] : ["--postgres", PG_URL]),
    "--ui-token",
    UI_TOKEN,
  ]);
  await waitForPort(port, proc.log);
  if (PIN) await setAffinity(proc, COLLECTOR_CPU);
  return { proc, port, ...(store === "sqlite" ? { db: `${dir}/${turn}.db` } : {}) };
}

/**
 * Records the collector has stored: in its SQLite file (rows and records not yet indexed),
 * else by its API (`/api/stats` total).
 */
async function storedRecords(c: Collector): Promise<number> {
  if (c.db) return storeRecordCount(c.db);
  const res = await fetch(`http://127.0.0.1:${c.port}/api/stats`, {
    headers: { authorization: `Bearer ${UI_TOKEN}` },
    signal: AbortSignal.timeout(60_000),
  });
  const body = await res.text();
  if (!res.ok) throw new Error(`/api/stats: ${res.status} ${body.slice(0, 200)}`);
  return Number(JSON.parse(body).total);
}

/**
 * Polls the stored count every 500 ms until it has held still for `stillMs` (or `ms` passed):
 * the count and when it last grew.
 */
async function settled(c: Collector, stillMs = 3000, ms = 180_000) {
  const t0 = Date.now();
  let count = await storedRecords(c), grewAt = performance.now(), stillSince = Date.now();
  while (Date.now() - t0 < ms && Date.now() - stillSince < stillMs) {
    await new Promise((r) => setTimeout(r, 500));
    const now = await storedRecords(c);
    if (now !== count) {
      count = now;
      grewAt = performance.now();
      stillSince = Date.now();
    }
  }
  return { count, grewAt, settled: Date.now() - stillSince >= stillMs };
}

/** The edge's config: the example with its own port and the collector's URL. */
async function edgeConfig(edgePort: number, collectorUrl: string): Promise<string> {
  const config = parseYaml(await Deno.readTextFile(example));
  config.services[0].addr = `127.0.0.1:${edgePort}`;
  const central = config.recorders.find((r: { name: string }) => r.name === "central");
  central.http.url = collectorUrl;
  const path = `${dir}/edge-${edgePort}.json`;
  await Deno.writeTextFile(path, JSON.stringify(config, null, 1));
  return path;
}

async function startEdge(collectorUrl: string): Promise<{ proc: Proc; port: number }> {
  const port = freePort();
  const proc = spawnSnoop(["-C", await edgeConfig(port, collectorUrl)]);
  await waitForPort(port, proc.log);
  if (PIN) await setAffinity(proc, EDGE_CPU);
  return { proc, port };
}

/**
 * One real record: an edge posts to a sink here while one GET of `url` goes through it; the
 * first record of the first POST is kept.
 */
async function captureRecord(url: string): Promise<Record<string, unknown>> {
  const ac = new AbortController();
  let got!: (r: Record<string, unknown>) => void;
  const first = new Promise<Record<string, unknown>>((r) => got = r);
  const sinkPort = freePort();
  const sink = Deno.serve({
    hostname: "127.0.0.1",
    port: sinkPort,
    signal: ac.signal,
    onListen() {},
  }, async (req) => {
    const body = await req.json();
    got(Array.isArray(body) ? body[0] : body);
    return Response.json({ stored: 1 });
  });
  const edge = await startEdge(`http://127.0.0.1:${sinkPort}/records`);
  try {
    const client = Deno.createHttpClient({ proxy: { url: `http://127.0.0.1:${edge.port}` } });
    const res = await fetch(url, { client });
    await res.arrayBuffer();
    client.close();
    let timer: ReturnType<typeof setTimeout> | undefined;
    return await Promise.race([
      first,
      new Promise<never>((_, reject) =>
        timer = setTimeout(() => reject(new Error("the edge posted no record in 10 s")), 10_000)
      ),
    ]).finally(() => clearTimeout(timer));
  } finally {
    await stopProc(edge.proc);
    ac.abort();
    await sink.finished;
  }
}

/**
 * `count` bodies of `BATCH` records each: the captured record with a time, URI, remote port
 * and sid of its own per record, so that the store's index and rollups see varied records.
 */
function buildBatches(template: Record<string, unknown>, count: number): Uint8Array<ArrayBuffer>[] {
  const encoder = new TextEncoder();
  const start = Date.now();
  const http = template.http as Record<string, unknown>;
  const bodies: Uint8Array<ArrayBuffer>[] = [];
  for (let b = 0; b < count; b++) {
    const records = [];
    for (let k = 0; k < BATCH; k++) {
      const i = b * BATCH + k;
      records.push({
        ...template,
        remote: `127.0.0.1:${10_000 + (i % 50_000)}`,
        sid: `bench${i.toString(36).padStart(15, "0")}`,
        time: new Date(start + i).toISOString(),
        http: { ...http, uri: `${http.uri}?n=${i}` },
      });
    }
    bodies.push(encoder.encode(JSON.stringify(records)));
  }
  return bodies;
}

interface PostResult {
  posts: number;
  acknowledged: number;
  answered503: number;
  failed: number;
}

/**
 * `POSTERS` loops posting `bodies` in turn until `seconds` are over; a 503 is posted again
 * after 100 ms (the records were not taken), until it is taken or 60 s after the load.
 */
async function postBatches(port: number, bodies: Uint8Array<ArrayBuffer>[], seconds: number) {
  const r: PostResult = { posts: 0, acknowledged: 0, answered503: 0, failed: 0 };
  const url = `http://127.0.0.1:${port}/records`;
  const end = performance.now() + seconds * 1000, giveUp = end + 60_000;
  let next = 0;
  await Promise.all(Array.from({ length: POSTERS }, async () => {
    while (performance.now() < end) {
      const body = bodies[next++ % bodies.length];
      for (;;) {
        const res = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
        });
        const answer = await res.json().catch(() => ({}));
        r.posts++;
        if (res.status === 503) {
          r.answered503++;
          r.acknowledged += answer.stored ?? 0;
          if (performance.now() > giveUp) break;
          await new Promise((ok) => setTimeout(ok, 100));
          continue;
        }
        if (res.status === 200) r.acknowledged += answer.stored;
        else r.failed++;
        break;
      }
    }
  }));
  return r;
}

interface Turn {
  store: string;
  mode: Mode;
  /** Edge: requests wrk completed, and the edge's req/s. */
  served?: number;
  rps?: number;
  /** Records the edge's recorder wrote (delivered) and dropped, by reason. */
  sent: number;
  edgeDropped?: Record<string, number>;
  /** The collector's counts at its stop. */
  acknowledged: number;
  deferred: number;
  rejected: number;
  /** Direct: what the poster saw. */
  posted?: PostResult;
  stored: number;
  settled: boolean;
  ratePerS: number;
  cpuUsPerRecord: number;
  collectorRss: number;
  edgeRss?: number;
}

async function emptyPgTable() {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    await client.query(
      "DO $$ BEGIN IF to_regclass('snoop_records') IS NOT NULL THEN TRUNCATE snoop_records; END IF; END $$",
    );
  } finally {
    await client.end();
  }
}

async function runTurn(
  store: "sqlite" | "postgres",
  mode: Mode,
  url: string,
  bodies: Uint8Array<ArrayBuffer>[],
): Promise<Turn> {
  if (store === "postgres") await emptyPgTable();
  const collector = await startCollector(store, `${store}-${mode}`);
  await new Promise((r) => setTimeout(r, 500));
  const before = await storedRecords(collector);
  const cpu0 = cpuSeconds(collector.proc.pid);
  const edge = mode === "edge"
    ? await startEdge(`http://127.0.0.1:${collector.port}/records`)
    : undefined;
  const t0 = performance.now();
  const [[load, after], [collectorRss, edgeRss]] = await withPeakRss(
    [collector.proc.pid, ...(edge ? [edge.proc.pid] : [])],
    (async () => {
      const load = edge
        ? await wrk(url, SECONDS, dir, edge.port, LOAD)
        : await postBatches(collector.port, bodies, SECONDS);
      return [load, await settled(collector)] as const;
    })(),
  );
  const cpu = cpuSeconds(collector.proc.pid) - cpu0;
  const stored = after.count - before;
  let sent = 0, edgeDropped: Record<string, number> | undefined;
  if (edge) {
    const totals = await terminate(edge.proc, "recorder totals");
    sent = Number(logValue(totals, "written") ?? NaN);
    edgeDropped = (logValue(totals, "dropped") ?? {}) as Record<string, number>;
  }
  const counts = await terminate(collector.proc, "collector stopped");
  const posted = edge ? undefined : load as PostResult;
  const w = edge ? load as Awaited<ReturnType<typeof wrk>> : undefined;
  return {
    store,
    mode,
    served: w?.requests,
    rps: w?.rps,
    sent: edge ? sent : posted!.acknowledged,
    edgeDropped,
    acknowledged: Number(logValue(counts, "accepted") ?? NaN),
    deferred: Number(logValue(counts, "deferred") ?? NaN),
    rejected: Number(logValue(counts, "rejected") ?? NaN),
    posted,
    stored,
    settled: after.settled,
    ratePerS: stored / ((after.grewAt - t0) / 1000),
    cpuUsPerRecord: cpu * 1e6 / stored,
    collectorRss,
    edgeRss,
  };
}

const f0 = (x: number | undefined) =>
  x !== undefined && Number.isFinite(x)
    ? x.toLocaleString("en", { maximumFractionDigits: 0 })
    : "—";
const f1 = (x: number) => Number.isFinite(x) ? x.toFixed(1) : "—";
const dropped = (d: Record<string, number> | undefined) =>
  d && Object.keys(d).length ? Object.entries(d).map(([k, v]) => `${f0(v)} ${k}`).join(", ") : "0";

function report(turns: Turn[]) {
  console.log(
    `\n### collect: ${SECONDS} s of load per turn, a fresh collector each; ${PIN_NOTE}\n`,
  );
  console.log(
    "edge: wrk -t1 -c50 GETs of 1 KiB from nginx through an edge snoop " +
      "(examples/edge-to-collector.yaml: sniffing, http recorder, batch: 100); direct: " +
      `${POSTERS} connections POSTing pre-built arrays of ${BATCH} records (a captured edge record, varied)\n`,
  );
  console.log(
    "| store | feed | requests served (edge req/s) | records sent | edge dropped | acknowledged | answered 503 (records) | stored | lost (sent − stored) | stored/s | collector CPU µs/record | peak RSS collector / edge MiB |",
  );
  console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const t of turns) {
    console.log(
      `| ${t.store} | ${t.mode} | ${t.mode === "edge" ? `${f0(t.served)} (${f0(t.rps)})` : "—"} | ${
        t.mode === "edge" ? f0(t.sent) : `${f0(t.posted!.acknowledged)} (acked to the poster)`
      } | ${t.mode === "edge" ? dropped(t.edgeDropped) : "—"} | ${f0(t.acknowledged)} | ${
        f0(t.deferred)
      }${t.posted ? ` (${f0(t.posted.answered503)} POSTs)` : ""} | ${f0(t.stored)}${
        t.settled ? "" : " (still growing)"
      } | ${f0(t.sent - t.stored)} | ${f0(t.ratePerS)} | ${f1(t.cpuUsPerRecord)} | ${
        f0(t.collectorRss)
      } / ${t.edgeRss === undefined ? "—" : f0(t.edgeRss)} |`,
    );
  }
  const target = (store: string) => store === "sqlite" ? 50_000 : 30_000;
  console.log("\nissue #21's collector targets:\n");
  console.log("| target | measured | |\n|---|---:|---|");
  for (const t of turns) {
    console.log(
      `| ${t.store}, ${t.mode}: ≥ ${f0(target(t.store))} records/s stored | ${f0(t.ratePerS)} | ${
        t.ratePerS >= target(t.store) ? "met" : "**not met**"
      } |`,
    );
  }
  for (const t of turns) {
    const acked = t.acknowledged, lost = acked - t.stored;
    console.log(
      `| ${t.store}, ${t.mode}: 0 acknowledged but not stored | ${f0(lost)} | ${
        lost === 0 ? "met" : "**not met**"
      } |`,
    );
  }
  console.log(
    "\n(records/s stored: from the start of the load to the last record stored, the backlog " +
      "included. The edge's rate is what it serves sharing CPU 0 with nginx and wrk.)",
  );
}

const stopAll = async () => {
  for (const p of procs.reverse()) await p.stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
};
const onSignal = () => void stopAll().finally(() => Deno.exit(130));
for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(sig, onSignal);
const unpin = async () => {
  if (PIN) await output("taskset", ["-a", "-p", "-c", "0-1", String(Deno.pid)]).catch(() => {});
};
try {
  // Through `deno task bench collect`, bench.ts has printed this line.
  if (import.meta.main) {
    console.log(`## snoop bench — ${new Date().toISOString().slice(0, 10)} — ${machine()}`);
  }
  const origin = await startNginx(dir, { tls: false, name: "origin" });
  procs.push(origin.proc);
  if (PIN) await setAffinity(origin.proc, EDGE_CPU);
  const url = `http://127.0.0.1:${origin.http}/1k`;
  const bodies = MODES.includes("direct" as never)
    ? buildBatches(await captureRecord(url), 200)
    : [];
  const turns: Turn[] = [];
  for (const store of PG_URL ? ["sqlite", "postgres"] as const : ["sqlite"] as const) {
    for (const mode of MODES) {
      // The poster is this process: on the edge's CPU while it posts.
      if (PIN && mode === "direct") {
        await output("taskset", ["-a", "-p", "-c", EDGE_CPU, String(Deno.pid)]);
      }
      try {
        turns.push(await runTurn(store, mode, url, bodies));
      } finally {
        if (mode === "direct") await unpin();
      }
    }
  }
  report(turns);
  console.log(
    PG_URL
      ? "\n(PostgreSQL's server is not pinned: it runs on either CPU, next to the collector or the edge.)"
      : "\n(PostgreSQL skipped: give --pg URL or $SNOOP_PG_URL)",
  );
} finally {
  await stopAll();
  for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.removeSignalListener(sig, onSignal);
}
