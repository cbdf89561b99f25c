/**
 * Records appended and not yet indexed (pending): every query finds them as it finds indexed
 * ones, retention counts them, and a damaged chunk costs only its own records.
 */
import assert from "node:assert/strict";
import { RecordStore } from "../../src/store/record_store.ts";
import { WRITER_GATE_BYTES } from "../../src/store/writer_gate.ts";
import type { RecordFilter } from "../../src/store/filter.ts";
import { StoreRecorder } from "../../src/recorder/store_recorder.ts";
import { Logger } from "../../src/util/log.ts";
import { sampleRecord } from "../helpers/records.ts";
import { until } from "../helpers/harness.ts";
import { renderMetrics } from "../../src/web/metrics.ts";

/** 300 records of several hosts, methods and statuses; some with a word in their body. */
function records(): string[] {
  return Array.from({ length: 300 }, (_, i) =>
    sampleRecord(i, {
      host: `h${i % 3}.example.com:443`,
      http: {
        method: i % 4 ? "GET" : "POST",
        statusCode: [200, 404, 500][i % 3],
        uri: `/item/${i}`,
        response: {
          contentLength: 5,
          header: { "X-Seq": [`seq-${i}`] },
          body: btoa(i % 10 ? "plain" : `zebra ${i}`),
        },
      },
    }));
}

const FILTERS: RecordFilter[] = [
  {},
  { host: "h1.example.com:443" },
  { method: "POST", status: "5xx" },
  { q: "seq-12" },
  { expr: "~b zebra" },
  { expr: "~m POST & ~c 404" },
  { errors: true },
];

/** Every answer a store gives, for comparing a store with pending records to an indexed one. */
function answers(store: RecordStore) {
  const out: unknown[] = [];
  for (const f of FILTERS) {
    out.push(store.listSync(f, 7));
    const first = store.listSync(f, 7);
    if (first.next !== null) out.push(store.listSync(f, 7, first.next));
    out.push(store.fullSync(f, 5).map((r) => r.id));
    out.push(store.statsSync(f));
  }
  out.push(store.getSync(1), store.getSync(150), store.getSync(300), store.getSync(301));
  out.push(store.bySidSync(JSON.parse(sampleRecord(3)).sid).length);
  out.push(store.count());
  return out;
}

/** A store recorder on a file in `dir`, with no retention. */
function fileRecorder(dir: string, name = "store", queueSize = 10_000): StoreRecorder {
  return new StoreRecorder(
    name,
    queueSize,
    `${dir}/r.db`,
    { maxAgeMs: 0, maxRecords: 0 },
    new Logger("test"),
  );
}

/** The nice value of each of this process's threads, by thread id. */
function niceByThread(): Map<string, number> {
  const out = new Map<string, number>();
  for (const { name } of Deno.readDirSync("/proc/self/task")) {
    const stat = Deno.readTextFileSync(`/proc/self/task/${name}/stat`);
    out.set(name, Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]));
  }
  return out;
}

/** How many of this process's threads run at nice `n`. */
const threadsAtNice = (n: number) => [...niceByThread().values()].filter((v) => v === n).length;

Deno.test("store: pending records answer every query as they do once indexed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snoop-pending-" });
  try {
    const indexed = new RecordStore(`${dir}/indexed.db`);
    const pending = new RecordStore(`${dir}/pending.db`);
    try {
      const texts = records();
      assert.equal(indexed.insertBatch(texts), 300);
      // Half indexed, half pending: queries cross from the pending records to the rows.
      assert.equal(pending.appendBatch(texts.slice(0, 150)), 150);
      while (pending.indexPending() !== null);
      assert.equal(pending.appendBatch(texts.slice(150)), 150);
      assert.equal(pending.pendingCount(), 150);
      assert.deepEqual(answers(pending), answers(indexed));
      // All pending.
      const fresh = new RecordStore(`${dir}/fresh.db`);
      try {
        fresh.appendBatch(texts);
        assert.equal(fresh.pendingCount(), 300);
        assert.deepEqual(answers(fresh), answers(indexed));
        // Indexed, the same answers again, from the rows now.
        while (fresh.indexPending() !== null);
        assert.equal(fresh.pendingCount(), 0);
        assert.deepEqual(answers(fresh), answers(indexed));
      } finally {
        fresh.close();
      }
    } finally {
      indexed.close();
      pending.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store: a record with megabytes of body is listed from its columns while pending", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snoop-pending-big-" });
  const store = new RecordStore(`${dir}/r.db`);
  try {
    const big = btoa("z".repeat(3 * 1024 * 1024));
    // A header value with an escaped quote: the text is still cut at bodies only.
    const text = sampleRecord(0, {
      http: {
        uri: '/big?q="quoted"',
        response: { contentLength: 1, header: { "X-Q": ['a"b'] }, body: big },
      },
    });
    store.appendBatch([text, sampleRecord(1)]);
    const listed = store.listSync({}, 10).records;
    assert.deepEqual(listed.map((r) => r.uri), ["/item/1", '/big?q="quoted"']);
    assert.equal(store.getSync(listed[1].id)?.http.response.body, big);
    // A body test reads the body: the big one is found by it.
    assert.deepEqual(store.listSync({ expr: "~b zzzz" }, 10).records.map((r) => r.id), [1]);
    assert.equal((store.statsSync({ host: "api.example.com:443" }) as { total: number }).total, 2);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store: retention counts pending records, and skips the oldest when they alone pass the cap", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snoop-pending-cap-" });
  const store = new RecordStore(`${dir}/r.db`, { maxAgeMs: 0, maxRecords: 100 });
  try {
    const texts = records();
    store.insertBatch(texts.slice(0, 50)); // 50 rows
    store.appendBatch(texts.slice(50, 300)); // 250 pending
    assert.equal(store.count(), 300);
    assert.equal(store.enforceRecordLimit(), 200);
    assert.equal(store.count(), 100);
    assert.equal(store.pendingCount(), 100);
    // The newest 100 are kept; the skipped ones are gone for every query.
    assert.equal(store.getSync(200), null);
    assert.equal(store.getSync(201)?.http.uri, "/item/200");
    assert.equal(store.listSync({}, 1000).records.length, 100);
    while (store.indexPending() !== null);
    assert.equal(store.count(), 100);
    assert.equal((store.statsSync({}) as { total: number }).total, 100);
    assert.deepEqual(
      store.listSync({}, 1000).records.map((r) => r.id),
      Array.from({ length: 100 }, (_, i) => 300 - i),
    );
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store: a damaged chunk costs its own records only; the ones after it are indexed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snoop-pending-damaged-" });
  const store = new RecordStore(`${dir}/r.db`);
  try {
    store.appendBatch([sampleRecord(0), sampleRecord(1)]);
    store.appendBatch([sampleRecord(2)]);
    store.db.exec("UPDATE record_chunks SET data = x'00112233' WHERE first_id = 1");
    assert.deepEqual(store.listSync({}, 10).records.map((r) => r.id), [3]);
    while (store.indexPending() !== null);
    assert.equal(store.pendingCount(), 0);
    assert.deepEqual(store.listSync({}, 10).records.map((r) => r.uri), ["/item/2"]);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store: two connections indexing at once index every record once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snoop-pending-two-" });
  const a = new RecordStore(`${dir}/r.db`);
  const b = new RecordStore(`${dir}/r.db`);
  try {
    const texts = records();
    for (let i = 0; i < 300; i += 10) a.appendBatch(texts.slice(i, i + 10));
    // Taking turns, each starting where it last looked: the second finds the first's rows.
    let steps = 0;
    for (let turn = 0; steps < 1000; turn++, steps++) {
      const stepped = (turn % 2 ? a : b).indexPending(1);
      if (stepped === null && a.indexPending(1) === null) break;
    }
    assert.equal(a.count(), 300);
    assert.equal((a.db.prepare("SELECT COUNT(*) AS n FROM records").get() as { n: number }).n, 300);
    assert.equal((a.statsSync({}) as { total: number }).total, 300);
  } finally {
    a.close();
    b.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store recorder: the indexer runs on a thread of nice 10 and leaves nothing pending", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snoop-pending-nice-" });
  const recorder = fileRecorder(dir);
  try {
    for (let i = 0; i < 2_000; i++) recorder.record(sampleRecord(i));
    await until(() => recorder.stats().written === 2_000, "2,000 records written");
    await until(() => recorder.pendingRecords() === 0, "every record indexed");
    assert.equal(niceByThread().get(String(Deno.pid)), 0, "the proxy's thread keeps its priority");
    assert.equal(threadsAtNice(10), 1, "one thread at nice 10");
    assert.equal(
      (recorder.store.db.prepare("SELECT COUNT(*) AS n FROM records").get() as { n: number }).n,
      2_000,
    );
  } finally {
    await recorder.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("metrics: a store recorder's pending records are a gauge", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snoop-pending-metric-" });
  const recorder = fileRecorder(dir, "main", 100);
  try {
    // Appended on this connection, no indexer asked: three pending.
    recorder.store.appendBatch([sampleRecord(0), sampleRecord(1), sampleRecord(2)]);
    const gauge = () =>
      /^snoop_store_pending_records\{recorder="main",kind="store"\} (\d+)$/m.exec(
        renderMetrics([], new Map([["main", recorder]])),
      )?.[1];
    assert.equal(gauge(), "3");
    while (recorder.store.indexPending() !== null);
    assert.equal(gauge(), "0");
  } finally {
    await recorder.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store: the indexer lets a waiting writer go first, and gives up its transaction for it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snoop-pending-gate-" });
  const writerGate = new SharedArrayBuffer(WRITER_GATE_BYTES);
  const writer = new RecordStore(`${dir}/r.db`, undefined, { writerGate });
  const indexer = new RecordStore(`${dir}/r.db`, undefined, { writerGate });
  try {
    const texts = records();
    for (let i = 0; i < 300; i += 100) writer.appendBatch(texts.slice(i, i + 100));
    assert.equal(indexer.indexPending(16, 60_000)?.length, 300, "the gate down: all in one go");
    for (let i = 0; i < 300; i += 100) writer.appendBatch(texts.slice(i, i + 100));
    // A writer waits (as the worker's would, for the write lock): the indexer waits for it as
    // long as it may, then gives its transaction up at the first row, however much time it
    // has, and says so.
    const gate = new Int32Array(writerGate);
    Atomics.add(gate, 0, 1);
    assert.deepEqual(indexer.indexPending(16, 60_000), []);
    assert.equal(indexer.writerWaited, true);
    assert.equal(indexer.pendingCount(), 300);
    assert.equal(Atomics.load(gate, 1), 0, "the indexer's mark is down after it");
    Atomics.sub(gate, 0, 1);
    assert.equal(indexer.indexPending(16, 60_000)?.length, 300);
    assert.equal(indexer.writerWaited, false);
    assert.equal(writer.count(), 600);
  } finally {
    writer.close();
    indexer.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store: ids go on past rows and chunks an older snoop wrote without the marks", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snoop-pending-older-" });
  const path = `${dir}/r.db`;
  try {
    const texts = records();
    let store = new RecordStore(path);
    store.insertBatch(texts.slice(0, 10)); // ids 1–10, both marks at 10
    // An older snoop on the same file gave ids 11–20 from the rows and left the marks alone.
    store.db.exec(
      "INSERT INTO records SELECT id + 10, time_ms, time, service, client_ip, host," +
        " proto, kind, method, uri, status, http_proto, input_bytes, output_bytes, duration_ns," +
        " err, sid, search, json, ja3, ja4 FROM records",
    );
    store.db.exec(
      "INSERT INTO record_chunks SELECT first_id + 10, last_id + 10, data" +
        " FROM record_chunks",
    );
    store.close();
    store = new RecordStore(path);
    try {
      assert.equal(store.pendingCount(), 0);
      assert.equal(store.appendBatch(texts.slice(20, 30)), 10);
      assert.equal(store.appendBatch(texts.slice(30, 40)), 10);
      while (store.indexPending() !== null);
      assert.equal(store.count(), 40);
      assert.deepEqual(store.listSync({}, 3).records.map((r) => r.id), [40, 39, 38]);
      assert.equal(store.getSync(40)?.http.uri, "/item/39");
    } finally {
      store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store: paging through pending records past the read bound skips none", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snoop-pending-paging-" });
  const store = new RecordStore(`${dir}/r.db`);
  try {
    // 48 records of ~1 MiB each: more than one answer reads.
    const body = btoa("x".repeat(780_000));
    store.appendBatch(
      Array.from(
        { length: 48 },
        (_, i) => sampleRecord(i, { http: { response: { contentLength: 1, header: {}, body } } }),
      ),
    );
    const seen: number[] = [];
    let before: number | undefined, partial = false;
    for (let page = 0; page < 10; page++) {
      const answer = store.listSync({}, 100, before);
      partial ||= answer.partial === true;
      seen.push(...answer.records.map((r) => r.id));
      if (answer.next === null) break;
      before = answer.next;
    }
    assert.ok(partial, "an answer was cut by the bound");
    assert.deepEqual(seen, Array.from({ length: 48 }, (_, i) => 48 - i));
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store recorder: closing ends the indexer and starts no other", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snoop-pending-close-" });
  const recorder = fileRecorder(dir, "store", 100_000);
  try {
    for (let i = 0; i < 20_000; i++) recorder.record(sampleRecord(i));
    await until(() => threadsAtNice(10) === 1, "the indexer at work");
    await recorder.close();
    // A run cut short by the close must not start another indexer behind it.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(threadsAtNice(10), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
