import assert from "node:assert/strict";
import zlib from "node:zlib";
import { Buffer } from "node:buffer";
import { RecordStore } from "../../src/store/record_store.ts";
import { createWebApp } from "../../src/web/web_app.ts";
import { BASE_TIME, sampleRecord } from "../helpers/records.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const base = BASE_TIME;
const rec = sampleRecord;

async function withStore(
  fn: (store: RecordStore, api: (path: string) => Promise<Response>) => Promise<void>,
) {
  const dir = await Deno.makeTempDir();
  const store = new RecordStore(`${dir}/sub/records.db`);
  const app = createWebApp({
    store,
    access: { hosts: new Set(["snoop"]), token: null },
    metrics: () => "snoop_up 1\n",
  });
  try {
    await fn(store, (path) => app(new Request(`http://snoop${path}`)));
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("store and query API: filters by host wildcard, status class, method, errors, text, time", async () => {
  await withStore(async (store, api) => {
    store.insertBatch([
      rec(0),
      rec(1, { http: { statusCode: 404 } }),
      rec(2, {
        host: "cdn.other.org:443",
        http: { host: "cdn.other.org", method: "POST", statusCode: 503 },
      }),
      rec(3, { err: "dial timeout", http: { statusCode: 0 } }),
      rec(4, {
        http: { request: { contentLength: 0, header: { "X-Trace": ["needle-42"] }, body: null } },
      }),
      rec(5, {
        dns: { id: 1, name: "a.test.", class: "IN", type: "A", question: "", answer: "" },
        http: undefined,
        proto: "dns",
        host: "udp://127.0.0.1:53",
      }),
    ]);
    const uris = async (q: string) =>
      (await (await api(`/api/records?${q}`)).json()).records.map((r: Json) => r.uri);
    assert.deepEqual(await uris(""), [
      "a.test.",
      "/item/4",
      "/item/3",
      "/item/2",
      "/item/1",
      "/item/0",
    ]);
    assert.deepEqual(await uris("host=*.example.com"), [
      "/item/4",
      "/item/3",
      "/item/1",
      "/item/0",
    ]);
    assert.deepEqual(await uris("host=cdn.other.org"), ["/item/2"]);
    assert.deepEqual(await uris("status=4xx"), ["/item/1"]);
    assert.deepEqual(await uris("status=503"), ["/item/2"]);
    assert.deepEqual(await uris("method=post"), ["/item/2"]);
    assert.deepEqual(await uris("errors=1"), ["/item/3", "/item/2"]);
    assert.deepEqual(await uris("q=needle-42"), ["/item/4"]);
    assert.deepEqual(await uris("proto=dns"), ["a.test."]);
    assert.deepEqual(await uris(`since=${base + 60_000}&until=${base + 90_000}`), [
      "/item/3",
      "/item/2",
    ]);
    assert.deepEqual(await uris("service=nope"), []);
    const bad = await api("/api/records?status=abc");
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).error, /status must be/);
  });
});

Deno.test("store and query API: paging, one record, a session, aggregates, retention", async () => {
  await withStore(async (store, api) => {
    store.insertBatch(
      Array.from(
        { length: 25 },
        (_, i) => rec(i, { http: { statusCode: i % 5 === 0 ? 500 : 200 } }),
      ),
    );
    const page1 = await (await api("/api/records?limit=10")).json();
    assert.equal(page1.records.length, 10);
    const page2 = await (await api(`/api/records?limit=10&before=${page1.next}`)).json();
    const page3 = await (await api(`/api/records?limit=10&before=${page2.next}`)).json();
    assert.equal(page3.records.length, 5);
    assert.equal(page3.next, null);
    const all = [...page1.records, ...page2.records, ...page3.records].map((r: Json) => r.id);
    assert.equal(new Set(all).size, 25);
    const one = await (await api(`/api/records/${all[0]}`)).json();
    assert.equal(one.http.uri, "/item/24");
    assert.equal((await api("/api/records/999999")).status, 404);
    const session = await (await api(`/api/sessions/${one.sid}`)).json();
    assert.ok(session.length >= 1 && session.every((r: Json) => r.sid === one.sid));
    const stats = await (await api("/api/stats")).json();
    assert.equal(stats.total, 25);
    assert.equal(stats.errors, 5);
    assert.equal(stats.errorRate, 0.2);
    // 25 records 30 s apart: 13 minutes, two records a minute but the last.
    assert.equal(stats.perMinute.length, 13);
    assert.equal(stats.perMinute.reduce((n: number, m: Json) => n + m.s5xx, 0), 5);
    assert.deepEqual(stats.topHostsByCount, [{ host: "api.example.com:443", count: 25 }]);
    assert.deepEqual(stats.topHostsByBytes, [{ host: "api.example.com:443", bytes: 25 * 300 }]);
    assert.deepEqual(stats.protocols, [{ kind: "http", count: 25 }]);
    const keep = new RecordStore(store.path, { maxAgeMs: 5 * 60_000, maxRecords: 7 });
    assert.equal(keep.enforceRetention(base + 24 * 30_000), 25 - 7);
    assert.equal(keep.count(), 7);
    keep.close();
  });
});

Deno.test("query API: bodies decoded from gzip, deflate, br and zstd; HAR 1.2 export", async () => {
  await withStore(async (store, api) => {
    const json = '{"user":"alice","roles":["admin"]}';
    const encodings: [string, (b: Buffer) => Buffer][] = [
      ["gzip", zlib.gzipSync],
      ["deflate", zlib.deflateSync],
      ["br", zlib.brotliCompressSync],
      ["zstd", zlib.zstdCompressSync],
    ];
    store.insertBatch(encodings.map(([name, compress], i) =>
      rec(i, {
        http: {
          uri: `/api/user?enc=${name}`,
          response: {
            contentLength: 10,
            header: { "Content-Type": ["application/json"], "Content-Encoding": [name] },
            body: compress(Buffer.from(json)).toString("base64"),
          },
        },
      })
    ));
    const ids = (await (await api("/api/records")).json()).records.map((r: Json) => r.id).reverse();
    for (const [i, [name]] of encodings.entries()) {
      const res = await api(`/api/records/${ids[i]}/body/response`);
      assert.equal(res.headers.get("x-snoop-decoded"), name);
      assert.equal(res.headers.get("content-type"), "application/json");
      assert.equal(await res.text(), json);
    }
    const har = await (await api("/api/har")).json();
    assert.equal(har.log.version, "1.2");
    assert.equal(har.log.creator.name, "snoop");
    assert.equal(har.log.entries.length, 4);
    const e = har.log.entries[0];
    for (const key of ["startedDateTime", "time", "request", "response", "cache", "timings"]) {
      assert.ok(key in e, key);
    }
    // A sniffed origin-form request in a plain tunnel (proto http): the URL is http://Host/uri.
    assert.equal(e.request.url, "http://api.example.com/api/user?enc=gzip");
    assert.deepEqual(e.request.queryString, [{ name: "enc", value: "gzip" }]);
    assert.ok(Array.isArray(e.request.headers) && Array.isArray(e.response.headers));
    assert.equal(e.response.status, 200);
    assert.equal(e.response.content.encoding, "base64");
    assert.equal(e.request.headersSize, -1);
    assert.equal(typeof e.timings.wait, "number");
    assert.equal(await (await api("/metrics")).text(), "snoop_up 1\n");
  });
});

Deno.test("store free text keeps substring meaning with the word index: mid-word starts, punctuation", async () => {
  await withStore(async (store, api) => {
    store.insertBatch([
      sampleRecord(0, {
        http: {
          request: { contentLength: 0, header: { "X-Request-Id": ["req-999999"] }, body: null },
        },
      }),
      sampleRecord(1, { http: { uri: "/user/profile" } }),
    ]);
    const uris = async (q: string) =>
      (await (await api(`/api/records?q=${encodeURIComponent(q)}`)).json()).records.map((r: Json) =>
        r.uri
      );
    assert.deepEqual(await uris("req-999999"), ["/item/0"]);
    assert.deepEqual(await uris("eq-9999"), ["/item/0"], "a query starting mid-word");
    assert.deepEqual(await uris("/user"), ["/user/profile"], "not every User-Agent header");
    assert.deepEqual(
      await uris("user-agent: curl"),
      ["/user/profile"],
      "record 0 has no User-Agent",
    );
    assert.deepEqual(await uris("%"), []);
  });
});
