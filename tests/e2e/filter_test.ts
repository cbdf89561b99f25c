import assert from "node:assert/strict";
import pg from "pg";
import { curl, needs, startOrigin, startSnoop, until } from "../helpers/harness.ts";
import { CASES, records } from "../helpers/filter_cases.ts";
import { filterMatcher } from "../../src/store/filter.ts";
import { PgRecordStore } from "../../src/store/pg_store.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/** Reads server-sent `record` events from a response into `into`, until it is cancelled. */
async function collectEvents(res: Response, into: Json[]) {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let end;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const data = /^data: (.*)$/m.exec(block);
        if (block.startsWith("event: record") && data) into.push(JSON.parse(data[1]));
      }
    }
  } catch {
    // cancelled
  }
}

Deno.test({
  name:
    "filter language over real traffic: f= on records, stats, HAR and the live list; a recorder's filter",
  ignore: needs("curl"),
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "snoop-filter-" });
    const origin = await startOrigin((req, body) => {
      const path = new URL(req.url).pathname;
      if (path === "/fail") return new Response("down", { status: 503 });
      return new Response(`ok ${body}`, { headers: { "content-type": "text/plain" } });
    });
    const snoop = await startSnoop(`
services:
  - name: proxy
    addr: 127.0.0.1:0
    recorders:
      - { name: store, metadata: { http.body: true } }
    handler: { type: http, metadata: { sniffing: true } }
  - name: proxy2
    addr: 127.0.0.1:0
    recorders:
      - { name: picky, metadata: { http.body: true } }
    handler: { type: http, metadata: { sniffing: true } }
recorders:
  - name: store
    store: { path: "${home}/records.db" }
  - name: picky
    filter: "~c 5xx | ~hq 'x-keep: yes'"
    file: { path: "${home}/picky.jsonl", sep: "\\n" }
ui: { addr: "127.0.0.1:0", store: store }
`);
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`http://127.0.0.1:${snoop.uiAddr!.port}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${snoop.uiToken}` },
      });
    const events: Json[] = [];
    const stopLive = new AbortController();
    const live = await api(`/api/events?f=${encodeURIComponent("~c 5xx | ~bq needle")}`, {
      signal: stopLive.signal,
    });
    assert.equal(live.status, 200);
    const reading = collectEvents(live, events);
    try {
      for (const port of [snoop.port("proxy"), snoop.port("proxy2")]) {
        const proxy = `127.0.0.1:${port}`;
        await curl("-s", "-x", proxy, `${origin.url}/ok`);
        await curl("-s", "-x", proxy, `${origin.url}/fail`);
        await curl("-s", "-x", proxy, "-H", "X-Keep: yes", `${origin.url}/kept`);
        await curl("-s", "-x", proxy, "-d", "a needle here", `${origin.url}/post`);
      }
      await until(
        async () => (await (await api("/api/records")).json()).records.length === 4,
        "four stored records",
      );

      const uris = async (expr: string) => {
        const res = await api(`/api/records?f=${encodeURIComponent(expr)}`);
        assert.equal(res.status, 200, `${expr}: ${res.status}`);
        return (await res.json()).records.map((r: Json) => new URL(r.uri).pathname).sort();
      };
      assert.deepEqual(await uris("~c 5xx"), ["/fail"]);
      assert.deepEqual(await uris("~m POST & ~b needle"), ["/post"]);
      assert.deepEqual(await uris("~bs 'ok a needle'"), ["/post"]);
      assert.deepEqual(await uris("~hq x-keep & !~c 5xx"), ["/kept"]);
      assert.deepEqual(await uris("~u '/(ok|kept)$'"), ["/kept", "/ok"]);
      assert.deepEqual(await uris("~h 127.0.0.1 & ~t text/plain & !~m POST & ~c 2xx"), [
        "/kept",
        "/ok",
      ]);
      // The shorthand fields and an expression together.
      const both = await api(`/api/records?method=GET&f=${encodeURIComponent("!~c 2xx")}`);
      assert.deepEqual((await both.json()).records.map((r: Json) => r.status), [503]);

      const bad = await api(`/api/records?f=${encodeURIComponent("~c 4xz")}`);
      assert.equal(bad.status, 400);
      assert.equal((await bad.json()).error, "filter: column 4: expected a status code or class");

      const stats = await (await api(`/api/stats?f=${encodeURIComponent("~b needle | ~c 503")}`))
        .json();
      assert.equal(stats.total, 2);
      assert.equal(stats.errors, 1);
      const har = await (await api(`/api/har?f=${encodeURIComponent("~m POST")}`)).json();
      assert.deepEqual(har.log.entries.map((e: Json) => e.request.method), ["POST"]);

      // The live list saw what the same expression queries: /fail and the needle POST.
      await until(() => events.length >= 2, "two live records");
      const queried = (await (await api(
        `/api/records?f=${encodeURIComponent("~c 5xx | ~bq needle")}`,
      )).json()).records.map((r: Json) => r.id).sort();
      assert.deepEqual(events.map((r) => r.id).sort(), queried);

      // The recorder's filter: only the 5xx and the X-Keep records reached the file.
      await until(async () => {
        try {
          return (await Deno.readTextFile(`${home}/picky.jsonl`)).trim().split("\n").length >= 2;
        } catch {
          return false;
        }
      }, "two filtered records in the file");
      await new Promise((r) => setTimeout(r, 300));
      const kept = (await Deno.readTextFile(`${home}/picky.jsonl`)).trim().split("\n")
        .map((l) => JSON.parse(l).http.uri).map((u: string) => new URL(u).pathname).sort();
      assert.deepEqual(kept, ["/fail", "/kept"]);
    } finally {
      stopLive.abort();
      await reading;
      await snoop.stop(0);
      await origin.close();
      await Deno.remove(home, { recursive: true });
    }
  },
});

Deno.test("a recorder's filter with an error names the file, line, key and column", async () => {
  await assert.rejects(
    () =>
      startSnoop(`
services:
  - name: proxy
    addr: 127.0.0.1:0
    recorders: [{ name: picky }]
    handler: { type: http }
recorders:
  - name: picky
    filter: "~m GET & ~c 4xz"
    file: { path: "/dev/null" }
`),
    (e: Error) => {
      assert.match(
        e.message,
        /^test\.yaml:9:\d+: recorders\[0\]\.filter: filter column 13: expected a status code or class$/,
      );
      return true;
    },
  );
});

const PG_URL = Deno.env.get("SNOOP_TEST_POSTGRES") ??
  "postgres://snoop:snoop@127.0.0.1:5432/snoop_test";

async function pgProblem(): Promise<string | null> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    // A schema of this test's own: the postgres tests drop snoop_records in theirs.
    await client.query("DROP SCHEMA IF EXISTS snoop_filter_test CASCADE");
    await client.query("CREATE SCHEMA snoop_filter_test");
    return null;
  } catch (e) {
    return (e as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}
const pgMissing = await pgProblem();

Deno.test({
  name: "filter on PostgreSQL: the SQL selects what the record predicate does",
  ignore: pgMissing !== null && Deno.env.get("CI") !== "true",
  async fn() {
    assert.equal(pgMissing, null);
    const url = new URL(PG_URL);
    url.searchParams.set("options", "-c search_path=snoop_filter_test");
    const store = await PgRecordStore.connect(url.href, { maxAgeMs: 0, maxRecords: 0 });
    try {
      // PostgreSQL refuses the record whose status is not a whole number (an INTEGER
      // column); the others are compared by their index in `records` (their times differ).
      assert.equal(await store.insertBatch(records), records.length - 1);
      const indexOf = new Map(records.map((r, i) => [JSON.parse(r).time, i + 1]));
      const stored = (await store.full({})).map((r) => ({
        n: indexOf.get(r.json.time)!,
        json: r.json,
      }));
      const byId = new Map((await store.full({})).map((r) => [r.id, indexOf.get(r.json.time)!]));
      const missing = records.length * (records.length + 1) / 2 -
        stored.reduce((sum, r) => sum + r.n, 0);
      for (const [expr, expected] of CASES) {
        const f = { expr };
        const queried = (await store.list(f, 100)).records.map((r) => byId.get(r.id)!)
          .sort((a, b) => a - b);
        const test = filterMatcher(f);
        const matched = stored.filter((r) => test(r.json)).map((r) => r.n).sort((a, b) => a - b);
        assert.deepEqual(queried, matched, `${expr}: SQL ${queried} vs predicate ${matched}`);
        assert.deepEqual(matched, expected.filter((n) => n !== missing), expr);
      }
      const stats = await store.stats({ expr: "~b needle" }) as { total: number };
      assert.equal(stats.total, 3);
    } finally {
      await store.close();
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query("DROP SCHEMA IF EXISTS snoop_filter_test CASCADE");
      await client.end();
    }
  },
});
