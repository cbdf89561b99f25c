/**
 * The capture budget under load: many exchanges of 1 MiB up and 1 MiB down through a child
 * snoop that records bodies into its store. Every proxied byte must arrive; what the
 * budget cannot hold is left out of the records, counted, and snoop's peak RSS stays bounded.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { freePort, until } from "../helpers/harness.ts";
import { startSnoopProcess } from "../helpers/snoop_process.ts";

const MiB = 1024 * 1024;
const BUDGET = 64 * MiB;
const EXCHANGES = 512;
const AT_ONCE = 64;
const TOKEN = "budget-test-token";
/**
 * snoop's peak RSS bound: what the same load costs with bodies not recorded (64 exchanges in
 * flight with their read buffers, the store's worker: under 200 MiB), plus the budget
 * in each of the forms a kept body takes on its way into the store before V8 and malloc
 * collect it: the captured chunks, their concatenation, the base64 text, the record's JSON,
 * its copy to the store's writer, its compressed chunk, then in the indexer (a third
 * isolate, with garbage of its own) the chunk decompressed, its parse and SQLite's UTF-8 of
 * it (10 forms, about 4/3 of the budget each but not all alive at once). Without a budget
 * every body is kept and queued, gigabytes of them.
 */
const PEAK_BOUND = 200 * MiB + 10 * BUDGET;

/** 1 MiB bodies that differ, so that a mixed-up or short body shows. */
const PATTERNS = Array.from({ length: 17 }, (_, seed) => {
  const b = new Uint8Array(MiB);
  for (let i = 0; i < b.length; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
});
const pattern = (n: number) => PATTERNS[n % PATTERNS.length];

const equal = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;

/** Answers `POST /n` whose body is `pattern(n)` with `pattern(n + 1)`; anything else: 400. */
function startEchoOrigin(port: number) {
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port, signal: ac.signal, onListen: () => {} },
    async (req) => {
      const n = Number(new URL(req.url).pathname.slice(1));
      const body = new Uint8Array(await req.arrayBuffer());
      if (!equal(body, pattern(n))) return new Response("bad upload", { status: 400 });
      return new Response(pattern(n + 1), {
        headers: { "content-type": "application/octet-stream" },
      });
    },
  );
  return { close: async () => (ac.abort(), await server.finished) };
}

Deno.test({
  name: "capture budget bounds snoop's memory under concurrent 1 MiB exchanges, relays all",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "snoop-budget-" });
  const [proxyPort, uiPort, originPort] = [freePort(), freePort(), freePort()];
  const origin = startEchoOrigin(originPort);
  const snoop = await startSnoopProcess(
    dir,
    `
services:
- name: proxy
  addr: 127.0.0.1:${proxyPort}
  handler: { type: http }
  recorders: [{ name: store, metadata: { http.body: true } }]
recorders:
- name: store
  store: { path: ${dir}/records.db }
ui: { addr: "127.0.0.1:${uiPort}", store: store, token: ${TOKEN} }
limits: { captureBudget: 64MiB }
log: { level: warn }
`,
    [proxyPort, uiPort],
  );
  const client = Deno.createHttpClient({ proxy: { url: `http://127.0.0.1:${proxyPort}` } });
  const ui = (path: string) =>
    fetch(`http://127.0.0.1:${uiPort}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  try {
    const failures: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < EXCHANGES) {
        const n = next++;
        const res = await fetch(`http://127.0.0.1:${originPort}/${n}`, {
          client,
          method: "POST",
          body: pattern(n),
        });
        const body = new Uint8Array(await res.arrayBuffer());
        if (res.status !== 200 || !equal(body, pattern(n + 1))) {
          failures.push(`${n}: ${res.status}, ${body.length} bytes`);
        }
      }
    };
    await Promise.all(Array.from({ length: AT_ONCE }, worker));
    assert.deepEqual(failures, [], "every proxied exchange arrives whole");

    const metric = async () => {
      const text = await (await ui("/metrics")).text();
      const hits = /^snoop_limit_hits_total\{[^}]*limit="capture-budget"\} (\d+)$/m.exec(text);
      return hits ? Number(hits[1]) : 0;
    };
    const hits = await metric();
    assert.ok(hits > 0, "the budget was hit and counted");
    // Every exchange has its record: the budget costs bodies, not records.
    let ids: number[] = [];
    await until(
      async () => {
        // One record per exchange, by its path (a connection the client opened and closed
        // unused may have a record of its own).
        const { records } = await (await ui("/api/records?limit=1000")).json();
        const byPath = new Map<string, number>();
        for (const r of records as { id: number; uri: string }[]) {
          const path = /^http:\/\/[^/]+(\/\d+)$/.exec(r.uri)?.[1];
          if (path) byPath.set(path, r.id);
        }
        ids = [...byPath.values()];
        return ids.length === EXCHANGES;
      },
      "every exchange's record stored",
      40_000,
    ).catch(async (e) => {
      // What the recorder did with the missing ones, and what snoop said.
      const counts = (await (await ui("/metrics")).text()).split("\n")
        .filter((l) => /^snoop_(recorder|capture_budget)/.test(l));
      throw new Error(`${e.message}: ${ids.length} stored\n${counts.join("\n")}\n${snoop.log()}`);
    });
    // Everything delivered gave its budget back.
    await until(
      async () => {
        const text = await (await ui("/metrics")).text();
        return /^snoop_capture_budget_used_bytes 0$/m.test(text);
      },
      "the budget given back",
      10_000,
    );
    const peak = snoop.peakRss();
    assert.ok(peak < PEAK_BOUND, `snoop's peak RSS ${Math.round(peak / MiB)} MiB`);
    // Among them, records with both bodies and records that say the budget left them out.
    let whole = 0, cut = 0;
    for (const id of ids) {
      const { http } = await (await ui(`/api/records/${id}`)).json();
      for (const m of [http.request, http.response]) {
        assert.equal(m.contentLength, MiB);
        if (m.bodyTruncated === "capture-budget") {
          assert.ok((m.body?.length ?? 0) < Math.ceil(MiB / 3) * 4, "a cut body is shorter");
          cut++;
        } else if (m.body?.length === Math.ceil(MiB / 3) * 4) whole++;
      }
      if (whole > 0 && cut > 0) break;
    }
    assert.ok(whole > 0 && cut > 0, `bodies kept ${whole}, left out ${cut}`);
  } finally {
    client.close();
    await snoop.stop();
    await origin.close();
    await Deno.remove(dir, { recursive: true });
  }
});
