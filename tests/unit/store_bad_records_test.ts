import assert from "node:assert/strict";
import { RecordStore } from "../../src/store/record_store.ts";
import { sampleRecord } from "../helpers/records.ts";

Deno.test("record store: a record that cannot be stored is left out alone, its batch is stored", async () => {
  const dir = await Deno.makeTempDir();
  const store = new RecordStore(`${dir}/r.db`);
  try {
    // A byte count that is no number becomes NULL in a NOT NULL column; a header value that
    // is not a list cannot be made searchable; `null` is no record at all.
    const notANumber = sampleRecord(1, { inputBytes: "many" });
    const notAList = sampleRecord(2, {
      http: { request: { contentLength: 0, header: { X: "v" }, body: null } },
    });
    const batch = [sampleRecord(0), notANumber, notAList, "null", "{nope", sampleRecord(3)];
    assert.equal(store.insertBatch(batch), 2);
    assert.equal(store.count(), 2);
    assert.deepEqual(store.listSync({}).records.map((r) => r.uri), ["/item/3", "/item/0"]);
    // The rollups took in exactly the stored ones.
    assert.equal(store.statsSync({}).total, 2);
    assert.equal(store.insertBatch([sampleRecord(4)]), 1);
    assert.equal(store.count(), 3);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
