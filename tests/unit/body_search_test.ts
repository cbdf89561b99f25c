import assert from "node:assert/strict";
import zlib from "node:zlib";
import { Buffer } from "node:buffer";
import { RecordStore } from "../../src/store/record_store.ts";
import { recordMatcher } from "../../src/store/filter_match.ts";
import { compileFilter } from "../../src/store/filter_conditions.ts";
import { BODY_TEXT_MAX_BYTES } from "../../src/store/body_text.ts";
import { sampleRecord } from "../helpers/records.ts";
import { until } from "../helpers/harness.ts";
import { parseConfigText } from "../../src/config/load.ts";
import { StoreRecorder } from "../../src/recorder/store_recorder.ts";
import { Logger } from "../../src/util/log.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/** A record whose response body is `body` (bytes) with these headers. */
function withResponse(i: number, body: Uint8Array, header: Record<string, string[]>): string {
  return sampleRecord(i, {
    http: {
      uri: `/r/${i}`,
      response: {
        contentLength: body.length,
        header,
        body: Buffer.from(body).toString("base64"),
      },
    },
  });
}

const json = { "Content-Type": ["application/json"] };
const text = (s: string) => new TextEncoder().encode(s);

async function withStore(fn: (store: RecordStore, path: string) => Promise<void> | void) {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/records.db`;
  const store = new RecordStore(path);
  try {
    await fn(store, path);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const uris = (store: RecordStore, expr: string) =>
  store.listSync({ expr }, 100).records.map((r) => r.uri);

Deno.test("body search: ~b finds text in gzip, deflate, br and zstd bodies", async () => {
  await withStore((store) => {
    const body = text('{"status":"shipped","carrier":"Zebra Freight"}');
    store.insertBatch([
      withResponse(1, zlib.gzipSync(body), { ...json, "Content-Encoding": ["gzip"] }),
      withResponse(2, zlib.deflateSync(body), { ...json, "Content-Encoding": ["deflate"] }),
      withResponse(3, zlib.brotliCompressSync(body), { ...json, "Content-Encoding": ["br"] }),
      withResponse(4, zlib.zstdCompressSync(body), { ...json, "Content-Encoding": ["zstd"] }),
      withResponse(5, body, json),
      // Not text: an image's bytes are not searched, whatever they hold.
      withResponse(6, body, { "Content-Type": ["image/png"] }),
      withResponse(7, text("nothing to see"), json),
    ]);
    assert.deepEqual(uris(store, "~bs 'zebra freight'"), ["/r/5", "/r/4", "/r/3", "/r/2", "/r/1"]);
    assert.deepEqual(uris(store, "~b shipped & ~d example.com"), [
      "/r/5",
      "/r/4",
      "/r/3",
      "/r/2",
      "/r/1",
    ]);
    assert.deepEqual(uris(store, "~bq zebra"), []);
    // Free text finds bodies too, besides the URI and headers.
    assert.deepEqual(uris(store, "freight"), ["/r/5", "/r/4", "/r/3", "/r/2", "/r/1"]);
    assert.deepEqual(uris(store, "/r/7"), ["/r/7"]);
  });
});

Deno.test("body search: a body term matches from the start of a word", async () => {
  await withStore((store) => {
    store.insertBatch([
      withResponse(1, text("please reorder"), json),
      withResponse(2, text("re-order now"), json),
      withResponse(3, text("ORDERS: 3"), json),
    ]);
    assert.deepEqual(uris(store, "~b order"), ["/r/3", "/r/2"]);
    assert.deepEqual(uris(store, "~b '-order'"), ["/r/2"]);
  });
});

Deno.test("body search: a decompression bomb is searched in its first bytes only", () => {
  const big = Buffer.concat([
    Buffer.from("header-word "),
    Buffer.alloc(64 * 1024 * 1024, 32),
    Buffer.from(" tail-word"),
  ]);
  const r = JSON.parse(
    withResponse(1, zlib.gzipSync(big), { ...json, "Content-Encoding": ["gzip"] }),
  );
  assert.ok(BODY_TEXT_MAX_BYTES < big.length);
  assert.equal(recordMatcher(compileFilter("~b header-word"))(r), true);
  assert.equal(recordMatcher(compileFilter("~b tail-word"))(r), false);
});

Deno.test("body search: the word index narrows a body term past the candidate limit", async () => {
  await withStore((store) => {
    store.insertBatch([withResponse(0, text('{"note":"needle-in-haystack"}'), json)]);
    // 20,000 newer records with bodies, none holding the word: without the index a query
    // reads 10,000 candidates, stops and answers "partial" without the match.
    for (let i = 1; i <= 20_000; i += 1000) {
      store.insertBatch(
        Array.from({ length: 1000 }, (_, k) => withResponse(i + k, text(`{"n":${i + k}}`), json)),
      );
    }
    const page = store.listSync({ expr: "~b needle-in" }, 100);
    assert.deepEqual(page.records.map((r) => r.uri), ["/r/0"]);
    assert.equal(page.partial, undefined);
    assert.deepEqual(store.listSync({ expr: "haystack" }, 100).records.map((r) => r.uri), [
      "/r/0",
    ]);
  });
});

Deno.test("body search: a store from before body indexing finds its old bodies", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/records.db`;
  try {
    // A store as the versions before wrote it: no body words in the index, no mark.
    const old = new RecordStore(path, undefined, { indexBodies: false });
    old.insertBatch([withResponse(1, text("old needle"), json)]);
    old.db.exec("DROP TABLE store_meta; PRAGMA user_version = 1");
    old.close();
    const reopened = new RecordStore(path);
    try {
      reopened.insertBatch([withResponse(2, text("new needle"), json)]);
      assert.deepEqual(uris(reopened, "~b needle"), ["/r/2", "/r/1"]);
      // Paged one at a time, from the indexed records into the older ones.
      const first = reopened.listSync({ expr: "~b needle" }, 1);
      assert.deepEqual(first.records.map((r) => r.uri), ["/r/2"]);
      const second = reopened.listSync({ expr: "~b needle" }, 1, first.next!);
      assert.deepEqual(second.records.map((r) => r.uri), ["/r/1"]);
      assert.equal(second.next, null);
      // The old record is a candidate because it is old, not because the index has it.
      const fts = reopened.db.prepare(
        "SELECT rowid FROM records_fts WHERE records_fts MATCH 'needle'",
      ).all() as Json[];
      assert.deepEqual(fts.map((r) => r.rowid), [2]);
    } finally {
      reopened.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("body search: a store that does not index bodies still finds them", () => {
  const store = new RecordStore(":memory:", undefined, { indexBodies: false });
  try {
    store.insertBatch([withResponse(1, text("unindexed needle"), json)]);
    store.insertBatch([withResponse(2, text("second needle"), json)]);
    assert.deepEqual(uris(store, "~b needle"), ["/r/2", "/r/1"]);
  } finally {
    store.close();
  }
});

Deno.test("body search: store.indexBodies: false keeps bodies out of the worker's index, still found", async () => {
  const config = parseConfigText(
    "snoop.yaml",
    `services: []\nrecorders:\n  - name: s\n    store: { path: x.db, indexBodies: false }\n`,
  );
  const store = config.recorders.find((r) => r.kind === "store");
  assert.ok(store?.kind === "store" && store.store.indexBodies === false);
  const defaults = parseConfigText(
    "snoop.yaml",
    `services: []\nrecorders:\n  - name: s\n    store: { path: x.db }\n`,
  ).recorders[0];
  assert.ok(defaults.kind === "store" && defaults.store.indexBodies === true);

  for (const indexBodies of [false, true]) {
    const dir = await Deno.makeTempDir();
    const recorder = new StoreRecorder(
      "store",
      100,
      `${dir}/r.db`,
      { maxAgeMs: 0, maxRecords: 0 },
      new Logger("test"),
      undefined,
      { indexBodies },
    );
    try {
      recorder.record(withResponse(1, text("a zebra body"), json));
      await until(() => recorder.stats().written === 1, "the record written by the worker");
      await until(() => recorder.store.pendingCount() === 0, "the record indexed");
      const inIndex = recorder.store.db.prepare(
        "SELECT rowid FROM records_fts WHERE records_fts MATCH 'zebra'",
      ).all();
      assert.equal(inIndex.length, indexBodies ? 1 : 0);
      const found = await recorder.queries.list({ expr: "~b zebra" }, 10);
      assert.deepEqual(found.records.map((r) => r.uri), ["/r/1"]);
    } finally {
      await recorder.close();
      await Deno.remove(dir, { recursive: true });
    }
  }
});
