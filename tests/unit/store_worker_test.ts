import assert from "node:assert/strict";
import { Logger } from "../../src/util/log.ts";
import { StoreRecorder } from "../../src/recorder/store_recorder.ts";
import { RECORD_SLACK, type RecordSummary } from "../../src/store/record_store.ts";
import { sampleRecord } from "../helpers/records.ts";
import { until } from "../helpers/harness.ts";

/** A store recorder on a file in a fresh directory, removed with `close`. */
async function fileStoreRecorder(
  retention = { maxAgeMs: 0, maxRecords: 0 },
  workerIdleMs?: number,
  listen = true,
) {
  const dir = await Deno.makeTempDir({ prefix: "snoop-store-writer-" });
  const recorder = new StoreRecorder(
    "store",
    10_000,
    `${dir}/r.db`,
    retention,
    new Logger("test"),
    workerIdleMs,
  );
  const heard: RecordSummary[] = [];
  if (listen) recorder.store.subscribe((s) => heard.push(s));
  return {
    recorder,
    heard,
    async close() {
      await recorder.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("store recorder: a file-backed store is written and queried by its worker, and heard here", async () => {
  const { recorder, heard, close } = await fileStoreRecorder();
  try {
    for (let i = 0; i < 1_200; i++) recorder.record(sampleRecord(i));
    await until(() => recorder.stats().written === 1_200, "1,200 records written");
    // Stored by the worker's connection, visible to this one.
    assert.equal(recorder.store.count(), 1_200);
    assert.equal(recorder.store.written, 1_200);
    // Listeners (the web UI's live list) hear every record, with the id the worker gave it.
    assert.equal(heard.length, 1_200);
    assert.deepEqual(heard.map((s) => s.id), Array.from({ length: 1_200 }, (_, i) => i + 1));
    assert.equal(recorder.store.getSync(heard[7].id)?.http.uri, "/item/7");
    assert.deepEqual(recorder.stats().dropped, {});
    // The queries the web UI and the API make, answered by the worker.
    const { queries } = recorder;
    const newest = await queries.list({}, 3);
    assert.deepEqual(newest.records.map((r) => r.uri), ["/item/1199", "/item/1198", "/item/1197"]);
    const older = await queries.list({}, 2, heard[10].id);
    assert.deepEqual(older.records.map((r) => r.uri), ["/item/9", "/item/8"]);
    assert.equal((await queries.get(heard[7].id))?.http.uri, "/item/7");
    assert.equal((await queries.full({ host: "api.example.com:443" }, 5)).length, 5);
    assert.equal((await queries.bySid(heard[0].sid)).length, 60); // sids repeat every 20
    assert.equal(((await queries.stats({})) as { total: number }).total, 1_200);
  } finally {
    await close();
  }
});

Deno.test("store recorder: the worker applies retention after a batch", async () => {
  // The sample records are from 2026-11-27 10:00 on: older than an hour by the time this runs.
  const { recorder, heard, close } = await fileStoreRecorder({
    maxAgeMs: 3_600_000,
    maxRecords: 0,
  });
  try {
    // The first batch is due a retention run (then not again for a minute).
    recorder.record(sampleRecord(0));
    await until(() => recorder.stats().written === 1, "the record written");
    assert.equal(heard.length, 1); // stored, then removed once indexed
    await until(() => recorder.store.count() === 0, "the record past maxAge removed");
  } finally {
    await close();
  }
});

Deno.test("store recorder: the worker keeps the store within RECORD_SLACK of maxRecords after every batch", async () => {
  const maxRecords = 1_000;
  const { recorder, close } = await fileStoreRecorder({ maxAgeMs: 0, maxRecords });
  try {
    const counts: number[] = [];
    for (let wave = 0; wave < 8; wave++) {
      for (let i = 0; i < 400; i++) recorder.record(sampleRecord(wave * 400 + i));
      await until(() => recorder.stats().written === (wave + 1) * 400, `wave ${wave} written`);
      counts.push(recorder.store.count());
    }
    // Retention's minute is not up after the first batch: the cap holds batch by batch.
    const ceiling = maxRecords * (1 + RECORD_SLACK);
    assert.ok(counts.every((n) => n <= ceiling), `kept ${counts}, at most ${ceiling} each time`);
    assert.ok(counts[counts.length - 1] >= maxRecords, `kept ${counts}: never fewer than the cap`);
    // The newest are the ones kept, their JSON still readable.
    const newest = await recorder.queries.list({}, 1);
    assert.equal(newest.records[0].uri, "/item/3199");
    assert.equal((await recorder.queries.get(newest.records[0].id))?.http.uri, "/item/3199");
  } finally {
    await close();
  }
});

Deno.test("store recorder: with nobody listening only the count crosses from the worker", async () => {
  const { recorder, heard, close } = await fileStoreRecorder(undefined, undefined, false);
  try {
    for (let i = 0; i < 700; i++) recorder.record(sampleRecord(i));
    await until(() => recorder.stats().written === 700, "700 records written");
    assert.equal(recorder.store.written, 700);
    assert.equal(heard.length, 0);
    // Someone starts listening: the next records reach them.
    recorder.store.subscribe((s) => heard.push(s));
    recorder.record(sampleRecord(700));
    await until(() => heard.length === 1, "the listener hears the next record");
    assert.equal(heard[0].uri, "/item/700");
    assert.equal(heard[0].id, 701);
  } finally {
    await close();
  }
});

Deno.test("store recorder: a batch the worker cannot store is dropped and counted, and the next one stored", async () => {
  const { recorder, close } = await fileStoreRecorder();
  try {
    recorder.record(sampleRecord(0));
    await until(() => recorder.stats().written === 1, "the first record written");
    // The table the worker appends to refuses rows: its transaction fails.
    recorder.store.db.exec(
      "CREATE TRIGGER refuse BEFORE INSERT ON record_chunks BEGIN SELECT RAISE(ABORT, 'no'); END",
    );
    recorder.record(sampleRecord(1));
    await until(() => recorder.stats().dropped.error === 1, "the failed batch counted");
    recorder.store.db.exec("DROP TRIGGER refuse");
    recorder.record(sampleRecord(2));
    await until(() => recorder.stats().written === 2, "the next record written");
    assert.deepEqual(recorder.store.listSync({}, 10).records.map((r) => r.uri), [
      "/item/2",
      "/item/0",
    ]);
  } finally {
    await close();
  }
});

Deno.test("store recorder: a worker with nothing to do ends, and the next batch starts another", async () => {
  const { recorder, close } = await fileStoreRecorder(undefined, 200);
  try {
    assert.equal(recorder.working, false); // none before the first batch
    recorder.record(sampleRecord(0));
    await until(() => recorder.stats().written === 1, "the first record written");
    assert.equal(recorder.working, true);
    await until(() => !recorder.working, "the idle worker ended");
    recorder.record(sampleRecord(1));
    await until(() => recorder.stats().written === 2, "the next record written");
    assert.equal(recorder.store.count(), 2);
    // A query alone starts one too.
    await until(() => !recorder.working, "the idle worker ended again");
    assert.equal((await recorder.queries.list({}, 5)).records.length, 2);
    assert.equal(recorder.working, true);
  } finally {
    await close();
  }
});

/** A logger that keeps its warnings. */
class WarningsKept extends Logger {
  readonly warnings: string[] = [];
  override warn(msg: string, _fields?: Record<string, unknown>) {
    this.warnings.push(msg);
  }
}

Deno.test("store recorder: retention that fails after a stored batch is logged, the batch still written", async () => {
  const dir = await Deno.makeTempDir({ prefix: "snoop-store-retention-" });
  const log = new WarningsKept("test");
  const recorder = new StoreRecorder("store", 10_000, `${dir}/r.db`, {
    maxAgeMs: 0,
    maxRecords: 10,
  }, log);
  try {
    // Retention cannot move the indexed mark (past pending records, here all of them);
    // appending a batch does not touch it.
    recorder.store.db.exec(
      "CREATE TRIGGER refuse BEFORE UPDATE ON store_meta WHEN old.key = 'indexed_to'" +
        " BEGIN SELECT RAISE(ABORT, 'no'); END",
    );
    for (let i = 0; i < 50; i++) recorder.record(sampleRecord(i));
    await until(() => recorder.stats().written === 50, "the batch counted as written");
    assert.deepEqual(recorder.stats().dropped, {});
    assert.equal(recorder.store.count(), 50); // not trimmed: retention failed
    assert.ok(log.warnings.some((w) => /retention failed/.test(w)), `${log.warnings}`);
    // With the mark free again, the next batch's retention trims the store to its cap.
    recorder.store.db.exec("DROP TRIGGER refuse");
    recorder.record(sampleRecord(50));
    await until(() => recorder.store.count() === 10, "trimmed to maxRecords");
  } finally {
    await recorder.close();
    await Deno.remove(dir, { recursive: true });
  }
});
