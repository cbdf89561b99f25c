import assert from "node:assert/strict";
import pg from "pg";
import { Collector } from "../../src/collector/collector.ts";
import { Logger } from "../../src/util/log.ts";
import { PgRecordStore } from "../../src/store/pg_store.ts";
import { PgRecorder } from "../../src/recorder/pg_recorder.ts";
import { RECORD_SLACK } from "../../src/store/record_store.ts";
import { createWebApp } from "../../src/web/web_app.ts";
import { curl, needs, startOrigin, startSnoop, until } from "../helpers/harness.ts";
import { BASE_TIME, sampleRecord } from "../helpers/records.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/**
 * A real PostgreSQL server: `.ci/run` starts Debian's cluster with role and database
 * `snoop`/`snoop_test`; SNOOP_TEST_POSTGRES points elsewhere. By hand, without one, these
 * tests are ignored with the reason; under CI=true they run (and fail loudly).
 */
const URL_ = Deno.env.get("SNOOP_TEST_POSTGRES") ??
  "postgres://snoop:snoop@127.0.0.1:5432/snoop_test";

async function reachable(): Promise<string | null> {
  const client = new pg.Client({ connectionString: URL_, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return null;
  } catch (e) {
    return (e as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}

const unreachable = await reachable();
const ignore = needs("psql") || (unreachable !== null && Deno.env.get("CI") !== "true");
if (unreachable && ignore) console.warn(`ignored: no PostgreSQL at ${URL_} (${unreachable})`);

async function freshStore(retention = { maxAgeMs: 0, maxRecords: 0 }): Promise<PgRecordStore> {
  const client = new pg.Client({ connectionString: URL_ });
  await client.connect();
  await client.query("DROP TABLE IF EXISTS snoop_records");
  await client.end();
  return await PgRecordStore.connect(URL_, retention);
}

Deno.test({
  name: "postgres store: the query API filters, pages, aggregates and exports as on SQLite",
  ignore,
  async fn() {
    const store = await freshStore();
    const api = createWebApp({ store, access: { hosts: new Set(["x"]), token: null } });
    const get = async (path: string) => await (await api(new Request(`http://x${path}`))).json();
    try {
      await store.insertBatch([
        sampleRecord(0),
        sampleRecord(1, { http: { statusCode: 404 } }),
        sampleRecord(2, {
          host: "cdn.other.org:443",
          http: { host: "cdn.other.org", method: "POST", statusCode: 503 },
        }),
        sampleRecord(3, { err: "dial timeout", http: { statusCode: 0 } }),
        sampleRecord(4, {
          http: { request: { contentLength: 0, header: { "X-Trace": ["needle-42"] }, body: null } },
        }),
      ]);
      const uris = async (q: string) =>
        (await get(`/api/records?${q}`)).records.map((r: Json) => r.uri);
      assert.deepEqual(await uris(""), ["/item/4", "/item/3", "/item/2", "/item/1", "/item/0"]);
      assert.deepEqual(await uris("host=*.example.com"), [
        "/item/4",
        "/item/3",
        "/item/1",
        "/item/0",
      ]);
      assert.deepEqual(await uris("status=4xx"), ["/item/1"]);
      assert.deepEqual(await uris("method=post"), ["/item/2"]);
      assert.deepEqual(await uris("errors=1"), ["/item/3", "/item/2"]);
      assert.deepEqual(await uris("q=needle-42"), ["/item/4"]);
      assert.deepEqual(await uris(`since=${BASE_TIME + 60_000}&until=${BASE_TIME + 90_000}`), [
        "/item/3",
        "/item/2",
      ]);
      const page = await get("/api/records?limit=2");
      assert.equal(page.records.length, 2);
      const rest = await get(`/api/records?limit=10&before=${page.next}`);
      assert.deepEqual(rest.records.map((r: Json) => r.uri), ["/item/2", "/item/1", "/item/0"]);
      const one = await get(`/api/records/${page.records[0].id}`);
      assert.equal(one.http.uri, "/item/4");
      const stats = await get("/api/stats");
      assert.equal(stats.total, 5);
      assert.equal(stats.errors, 2);
      assert.deepEqual(stats.topHostsByCount[0], { host: "api.example.com:443", count: 4 });
      assert.equal(stats.perMinute.reduce((n: number, m: Json) => n + m.total, 0), 5);
      const har = await get("/api/har?status=2xx");
      assert.equal(har.log.entries.length, 2);
      const keep = await PgRecordStore.connect(URL_, { maxAgeMs: 0, maxRecords: 2 });
      assert.equal(await keep.enforceRetention(), 3);
      assert.equal(await keep.count(), 2);
      await keep.close();
    } finally {
      await store.close();
    }
  },
});

Deno.test({
  name: "postgres collector: fed by snoop's http recorder, queried through its API",
  ignore: ignore || needs("curl"),
  async fn() {
    (await freshStore()).close();
    const collector = await Collector.start({
      addr: "127.0.0.1:0",
      storePath: "",
      postgresUrl: URL_,
      lokiId: "gost",
      maxAgeMs: 0,
      maxRecords: 0,
    }, new Logger("test"));
    const origin = await startOrigin();
    const snoop = await startSnoop(`
services:
  - name: edge-pg
    addr: 127.0.0.1:0
    recorders: [{ name: central }]
    handler: { type: http }
recorders: [{ name: central, http: { url: "http://127.0.0.1:${collector.addr.port}/" } }]
`);
    try {
      await curl("-x", `127.0.0.1:${snoop.port()}`, `${origin.url}/x`, `${origin.url}/y`);
      let records: Json[] = [];
      await until(async () => {
        records = (await (await fetch(
          `http://127.0.0.1:${collector.addr.port}/api/records?service=edge-pg`,
          { headers: { authorization: `Bearer ${collector.uiToken}` } },
        )).json()).records;
        return records.length === 2;
      }, "two records in PostgreSQL");
      assert.deepEqual(records.map((r) => r.uri).sort(), [`${origin.url}/x`, `${origin.url}/y`]);
    } finally {
      await snoop.stop(0);
      await origin.close();
      await collector.stop();
    }
  },
});

Deno.test({
  name:
    "postgres store: U+0000 and lone surrogates kept as U+FFFD, numbers clamped; a refused record left out alone",
  ignore,
  async fn() {
    const store = await freshStore();
    try {
      // Neither TEXT nor JSONB takes U+0000: kept as U+FFFD, in the columns and the JSON.
      const nul = sampleRecord(1, {
        service: "edge\u0000one",
        http: {
          request: { contentLength: 0, header: { "X-Nul\u0000": ["a\u0000b"] }, body: null },
        },
      });
      // JSONB refuses a lone surrogate's escape; a pair is kept whole.
      const surrogate = sampleRecord(3, { service: "lone \ud800 pair \ud83d\ude00" });
      // Columns are INTEGER and BIGINT: a status beyond INTEGER is clamped to it.
      const numbers = sampleRecord(4, { http: { statusCode: 1e12 } });
      // A number beyond PostgreSQL's numeric, spliced as sent: the batch's one INSERT fails
      // and each record is then tried alone.
      const overflow = sampleRecord(5).replace(/^\{/, '{"huge":1e1000000,');
      const seen: number[] = [];
      store.subscribe((r) => seen.push(r.id));
      assert.equal(
        await store.insertBatch([
          sampleRecord(0),
          nul,
          "null",
          surrogate,
          numbers,
          overflow,
          sampleRecord(2),
        ]),
        5,
      );
      assert.equal(await store.count(), 5);
      const { records } = await store.list({}, 10);
      assert.deepEqual(records.map((r) => r.uri), [
        "/item/2",
        "/item/4",
        "/item/3",
        "/item/1",
        "/item/0",
      ]);
      assert.deepEqual(seen, records.map((r) => r.id).reverse());
      const kept = await store.get(records[3].id);
      assert.equal(kept?.service, "edge\uFFFDone");
      assert.deepEqual(kept?.http.request.header, { "X-Nul\uFFFD": ["a\uFFFDb"] });
      assert.equal(records[3].service, "edge\uFFFDone");
      assert.equal((await store.get(records[2].id))?.service, "lone \uFFFD pair \ud83d\ude00");
      assert.equal(records[1].status, 2 ** 31 - 1);
    } finally {
      await store.close();
    }
  },
});

Deno.test({
  name:
    "postgres collector: one record of the wrong shape is refused by its path, the good ones of its POST are stored",
  ignore: ignore || needs("curl"),
  async fn() {
    (await freshStore()).close();
    const collector = await Collector.start({
      addr: "127.0.0.1:0",
      storePath: "",
      postgresUrl: URL_,
      lokiId: "gost",
      maxAgeMs: 0,
      maxRecords: 0,
    }, new Logger("test"));
    try {
      const bad = sampleRecord(1, { inputBytes: "12" });
      const r = await curl(
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        `[${sampleRecord(0)},${bad},${sampleRecord(2)}]`,
        "-w",
        "\n%{http_code}",
        `http://127.0.0.1:${collector.addr.port}/`,
      );
      const [text, status] = r.stdout.split("\n");
      assert.equal(status, "400", text);
      assert.deepEqual(JSON.parse(text), {
        error: "records[1].inputBytes: expected a number",
        stored: 2,
        rejected: 1,
        ignored: 0,
      });
      let records: Json[] = [];
      await until(async () => {
        records = (await (await fetch(`http://127.0.0.1:${collector.addr.port}/api/records`, {
          headers: { authorization: `Bearer ${collector.uiToken}` },
        })).json()).records;
        return records.length === 2;
      }, "two records in PostgreSQL");
      assert.deepEqual(records.map((r) => r.uri), ["/item/2", "/item/0"]);
    } finally {
      await collector.stop();
    }
  },
});

Deno.test({
  name: "postgres recorder: the store stays within RECORD_SLACK of maxRecords as it fills",
  ignore,
  async fn() {
    const maxRecords = 1_000;
    const store = await freshStore({ maxAgeMs: 0, maxRecords });
    const recorder = new PgRecorder(store, 10_000, new Logger("test"));
    try {
      const counts: number[] = [];
      for (let wave = 0; wave < 6; wave++) {
        for (let i = 0; i < 400; i++) recorder.record(sampleRecord(wave * 400 + i));
        await until(() => recorder.stats().written === (wave + 1) * 400, `wave ${wave}`);
        counts.push(await store.count());
      }
      const ceiling = maxRecords * (1 + RECORD_SLACK);
      assert.ok(counts.every((n) => n <= ceiling), `kept ${counts}, at most ${ceiling} each time`);
      assert.ok(counts[counts.length - 1] >= maxRecords, `kept ${counts}`);
      const { records } = await store.list({}, 1);
      assert.equal(records[0].uri, "/item/2399");
    } finally {
      await recorder.close();
    }
  },
});
