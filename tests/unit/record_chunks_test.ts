import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  CHUNK_RECORDS,
  CHUNK_TEXT_BYTES,
  chunkRuns,
  oneLine,
  packChunk,
  packChunks,
  RecordChunks,
  unpackChunk,
} from "../../src/store/record_chunks.ts";
import { RecordStore } from "../../src/store/record_store.ts";
import { sampleRecord } from "../helpers/records.ts";

Deno.test("chunks: runs break at a gap in the ids, at CHUNK_RECORDS and at CHUNK_TEXT_BYTES", () => {
  const rows = (ids: number[], text = "{}") => ids.map((id) => ({ id, text }));
  const ids = (runs: { id: number }[][]) => runs.map((r) => r.map((x) => x.id));
  assert.deepEqual(ids(chunkRuns(rows([1, 2, 3, 5, 6, 9]))), [[1, 2, 3], [5, 6], [9]]);
  const many = chunkRuns(rows(Array.from({ length: CHUNK_RECORDS * 2 + 1 }, (_, i) => i + 1)));
  assert.deepEqual(many.map((r) => r.length), [CHUNK_RECORDS, CHUNK_RECORDS, 1]);
  // A record longer than the limit is a chunk of its own; the next one starts another.
  const big = "x".repeat(CHUNK_TEXT_BYTES + 1);
  const sized = chunkRuns([
    { id: 1, text: "{}" },
    { id: 2, text: big },
    { id: 3, text: "{}" },
  ]);
  assert.deepEqual(ids(sized), [[1], [2], [3]]);
  assert.deepEqual(chunkRuns([]), []);
});

Deno.test("chunks: texts come back as written; a chunk with another count is refused", () => {
  const texts = ['{"a":"line one"}', '{"b":"é \\n ☃"}', "{}"];
  const data = packChunk(texts);
  assert.deepEqual(unpackChunk(data, 3, 1 << 20), texts);
  assert.throws(() => unpackChunk(data, 2, 1 << 20), /holds 3 records, not 2/);
  // More text than the chunk may hold is not decompressed.
  assert.throws(() => unpackChunk(packChunk(["x".repeat(10_000)]), 1, 1000));
  // JSON's whitespace is the only place a raw newline can be: such a text is written again.
  const pretty = JSON.stringify({ a: [1, 2] }, null, 2);
  assert.equal(oneLine(pretty, JSON.parse(pretty)), '{"a":[1,2]}');
  assert.equal(oneLine('{"a":1}', { a: 1 }), '{"a":1}');
});

Deno.test("chunks: a record is read from its chunk, with neighbours and gaps around it", () => {
  const db = new DatabaseSync(":memory:");
  try {
    const chunks = new RecordChunks(db);
    assert.equal(chunks.insertPacked(1, packChunks(["one", "two"])), 2);
    assert.equal(chunks.insertPacked(4, packChunks(["four"])), 4);
    assert.equal(chunks.text(1), "one");
    assert.equal(chunks.text(2), "two");
    assert.equal(chunks.text(3), null);
    assert.equal(chunks.text(4), "four");
    assert.equal(chunks.text(5), null);
    assert.equal(
      (db.prepare("SELECT COUNT(*) AS n FROM record_chunks").get() as { n: number }).n,
      2,
    );
    chunks.dropBelow(3);
    assert.equal(chunks.text(1), null);
    assert.equal(chunks.text(4), "four");
  } finally {
    db.close();
  }
});

Deno.test("store: records are kept in chunks, read back whole, and dropped with retention", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snoop-chunks-" });
  try {
    const path = `${dir}/records.db`;
    const store = new RecordStore(path, { maxAgeMs: 0, maxRecords: 130 });
    const texts = Array.from({ length: 200 }, (_, i) => sampleRecord(i));
    // A pretty-printed record (a collector can be sent one) is kept as one line.
    texts[10] = JSON.stringify(JSON.parse(texts[10]), null, 2);
    assert.equal(store.insertBatch(texts), 200);
    const inline = store.db.prepare("SELECT COUNT(*) AS n FROM records WHERE json != ''")
      .get() as { n: number };
    assert.equal(inline.n, 0, "no record keeps its JSON in its row");
    for (const id of [1, 11, 64, 65, 200]) {
      assert.deepEqual(store.getSync(id), JSON.parse(texts[id - 1]), `record ${id}`);
    }
    // Records i, i+20, i+40 … share a sid: their chunks are read in turn.
    const sid = JSON.parse(texts[5]).sid;
    assert.deepEqual(
      store.bySidSync(sid),
      texts.filter((_, i) => i % 20 === 5).map((t) => JSON.parse(t)),
    );
    assert.deepEqual(
      store.fullSync({}).map((r) => r.id),
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
    assert.equal(store.enforceRetention(), 70);
    assert.equal(store.getSync(70), null);
    assert.deepEqual(store.getSync(71), JSON.parse(texts[70]));
    // The chunk of records 1–64 is gone with them; 65–128 stays for 71 … 128.
    const firsts =
      (store.db.prepare("SELECT first_id AS f FROM record_chunks ORDER BY 1").all() as {
        f: number;
      }[]).map((r) => r.f);
    assert.deepEqual(firsts, [65, 129, 193]);
    store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store: rows from before chunks keep their inline JSON and are read beside chunked ones", () => {
  const store = new RecordStore(":memory:");
  try {
    store.insertBatch([sampleRecord(0)]);
    // A row as stores before chunks wrote it: the JSON inline, no chunk.
    const old = JSON.parse(sampleRecord(1));
    store.db.exec("DELETE FROM record_chunks");
    store.db.prepare("UPDATE records SET json = ? WHERE id = 1").run(JSON.stringify(old));
    store.insertBatch([sampleRecord(2)]);
    assert.deepEqual(store.getSync(1), old);
    assert.deepEqual(store.getSync(2), JSON.parse(sampleRecord(2)));
    assert.deepEqual(store.fullSync({}).map((r) => r.json), [old, JSON.parse(sampleRecord(2))]);
  } finally {
    store.close();
  }
});

Deno.test("store: the WAL is checkpointed and cut back at 16 MiB; the word index merges deletes at half", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snoop-store-pragmas-" });
  const store = new RecordStore(`${dir}/records.db`);
  try {
    const one = (sql: string) => Object.values(store.db.prepare(sql).get()!)[0];
    assert.equal(one("PRAGMA wal_autocheckpoint"), 4096);
    assert.equal(one("PRAGMA journal_size_limit"), 16 * 1024 * 1024);
    assert.equal(one("SELECT v FROM records_fts_config WHERE k = 'deletemerge'"), 50);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** A sample record dated `agoMs` before now, with its URI. */
function recordAt(uri: string, agoMs: number): string {
  return sampleRecord(0, {
    time: new Date(Date.now() - agoMs).toISOString(),
    http: { uri },
  });
}

const uriOf = (r: { http?: { uri?: string } } | null) => r?.http?.uri;

Deno.test("store: ids are given out once: records after deleted ones never take their ids", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snoop-chunks-ids-" });
  const hour = 3_600_000;
  try {
    const store = new RecordStore(`${dir}/records.db`, { maxAgeMs: hour, maxRecords: 0 });
    try {
      // A long connection's record is dated by its start: the newest row, already too old.
      store.insertBatch([
        ...["/a1", "/a2", "/a3"].map((u) => recordAt(u, 0)),
        recordAt("/old-4", 2 * hour),
      ]);
      store.insertBatch([recordAt("/old-5-secret", 2 * hour), recordAt("/old-6", 2 * hour)]);
      assert.equal(store.enforceRetention(), 3); // ids 4, 5 and 6
      assert.equal(store.insertBatch(["/b7", "/b8"].map((u) => recordAt(u, 0))), 2);
      assert.equal(store.insertBatch([recordAt("/b9", 0)]), 1);
      const ids = store.listSync({}, 10).records.map((r) => r.id);
      assert.deepEqual(ids, [9, 8, 7, 3, 2, 1]);
      assert.deepEqual(ids.map((id) => uriOf(store.getSync(id))), [
        "/b9",
        "/b8",
        "/b7",
        "/a3",
        "/a2",
        "/a1",
      ]);
      for (const id of [4, 5, 6]) assert.equal(store.getSync(id), null, `deleted ${id}`);
    } finally {
      store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store: a chunk read before another connection wrote is not read again after", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snoop-chunks-conn-" });
  const path = `${dir}/records.db`;
  const worker = new RecordStore(path, { maxAgeMs: 0, maxRecords: 2 });
  const other = new RecordStore(path);
  try {
    worker.insertBatch([recordAt("/a1", 0), recordAt("/a2", 0), recordAt("/a3", 0)]);
    assert.equal(worker.enforceRetention(), 1);
    assert.equal(uriOf(worker.getSync(2)), "/a2"); // its chunk, 1–3, is now in the cache
    // Another connection deletes record 2 and appends record 4 (pending, read from its chunk).
    other.db.exec("DELETE FROM records WHERE id = 2");
    other.appendBatch([recordAt("/appended-4", 0)]);
    assert.equal(worker.getSync(2), null);
    assert.equal(uriOf(worker.getSync(4)), "/appended-4");
  } finally {
    worker.close();
    other.close();
    await Deno.remove(dir, { recursive: true });
  }
});
